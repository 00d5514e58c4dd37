"""The offline benchmark (analysis.benchmark.offline and manage.py benchmark_metrics) on a planted
relation, and its one-line errors on bad input."""

import csv
import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image
from scipy import stats

from analysis.benchmark import compute, offline
from analysis.benchmark.inputs import BenchmarkInputError
from tests.analysis.benchmark import planted
from tests.analysis.benchmark.planted import independent_fit

OPTS = compute.Options(n_boot=200, seed=5)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return planted.write_run_folder(tmp_path_factory.mktemp("run") / "export")


@pytest.fixture(scope="module")
def preds(folder, tmp_path_factory):
    return planted.write_predictions(folder, tmp_path_factory.mktemp("p") / "preds.csv")


@pytest.fixture(scope="module")
def result(folder, preds, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    doc, files = offline.run(folder, preds, out, OPTS)
    return doc, files, out


def read_preds(path):
    by_metric = {}
    with path.open() as fh:
        for row in csv.DictReader(fh):
            by_metric.setdefault(row["metric"], []).append(float(row["score"]))
    return {m: np.array(v) for m, v in by_metric.items()}


def overall(doc, key, metric):
    (row,) = [
        r
        for r in doc["results"]
        if r["perspective"] == key and r["metric"] == metric and r["group_by"] == "all"
    ]
    return row


@pytest.mark.parametrize("key", planted.KEYS)
def test_planted_figures_equal_scipy_and_an_independent_fit(result, folder, preds, key):
    doc, _, _ = result
    mos = planted.mos_of(folder, key)
    for metric, x in read_preds(preds).items():
        row = overall(doc, key, metric)
        assert row["n"] == mos.size
        assert row["srcc"] == pytest.approx(stats.spearmanr(x, mos).statistic, abs=1e-12)
        assert row["krcc"] == pytest.approx(stats.kendalltau(x, mos).statistic, abs=1e-12)
        mapped = independent_fit(x, mos)
        assert row["plcc"] == pytest.approx(stats.pearsonr(mapped, mos).statistic, abs=1e-6), metric
        assert row["rmse"] == pytest.approx(np.sqrt(np.mean((mapped - mos) ** 2)), abs=1e-6), metric
        for col in ("srcc", "krcc", "plcc", "rmse"):
            assert row[f"{col}_low"] <= row[col] <= row[f"{col}_high"]


def test_the_least_noisy_metric_ranks_first_in_every_column(result):
    doc, _, out = result

    assert doc["best"] == {
        key: dict.fromkeys(("srcc", "krcc", "plcc", "rmse"), "sharp") for key in planted.KEYS
    }
    tex = (out / "results.tex").read_text()
    sharp_line = next(line for line in tex.splitlines() if line.startswith("sharp"))
    assert sharp_line.count(r"\textbf") == 8
    assert r"niqe\_like" in tex


def test_sharp_beats_rough_significantly_in_the_paired_test(result):
    doc, _, _ = result

    c = next(
        c
        for c in doc["comparisons"]
        if c["perspective"] == "quality" and {c["a"], c["b"]} == {"sharp", "rough"}
    )

    assert c["significant"]
    assert c["p_value"] < 0.01
    assert len([c for c in doc["comparisons"] if c["perspective"] == "quality"]) == 6


def test_figures_per_model_and_category_equal_scipy_on_the_subset(result, folder, preds):
    doc, _, _ = result
    mos = planted.mos_of(folder, "quality")
    x = read_preds(preds)["fair"]
    models = np.array([s["model"] for s in planted.stimuli()])

    rows = [
        r
        for r in doc["results"]
        if r["perspective"] == "quality" and r["metric"] == "fair" and r["group_by"] == "model"
    ]

    assert [r["group"] for r in rows] == sorted(planted.MODELS)
    for r in rows:
        sel = models == r["group"]
        assert r["srcc"] == pytest.approx(stats.spearmanr(x[sel], mos[sel]).statistic, abs=1e-12)
    assert {r["group_by"] for r in doc["results"]} == {"all", "model", "challenge", "scene"}


def test_every_file_is_written_and_the_csv_matches_the_json(result):
    doc, files, out = result

    names = sorted(p.relative_to(out).as_posix() for p in files)
    assert names == [
        "plots/scatter_1_quality.png",
        "plots/scatter_2_authenticity.png",
        "results.csv",
        "results.json",
        "results.tex",
        "splits.csv",
    ]
    with Image.open(out / "plots/scatter_1_quality.png") as im:
        assert im.size[0] > 400
    assert json.loads((out / "results.json").read_text())["best"] == doc["best"]
    with (out / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(doc["results"])
    assert float(rows[0]["srcc"]) == doc["results"][0]["srcc"]


def test_splits_keep_every_prompt_on_one_side_and_are_reproducible(result, folder, tmp_path):
    _, _, out = result

    again = offline.write_splits(folder, tmp_path, OPTS)

    assert again.read_bytes() == (out / "splits.csv").read_bytes()
    with again.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 10 * 144
    for s in range(10):
        sides = {}
        for r in rows:
            if r["split"] == str(s):
                sides.setdefault(r["prompt"], set()).add(r["set"])
        assert all(len(v) == 1 for v in sides.values())
        assert sum(v == {"test"} for v in sides.values()) == 2  # 20% of 12 prompts, rounded


def test_stimuli_given_by_position_give_the_same_figures(result, folder, tmp_path):
    doc, _, _ = result
    path = planted.write_predictions(folder, tmp_path / "by_position.csv", by="position")

    again, _ = offline.run(folder, path, tmp_path / "out", OPTS, plots=False)

    assert again["stimulus_column"] == "position"
    assert again["results"] == doc["results"]


def test_a_split_column_reports_the_median_over_splits(folder, tmp_path):
    # given predictions of one metric on the test side of each exported split
    splits = offline.write_splits(folder, tmp_path, OPTS)
    mos = planted.mos_of(folder, "quality")
    rng = np.random.default_rng(0)
    x = mos + rng.normal(0, 5, mos.size)
    path = tmp_path / "split_preds.csv"
    per_split = {}
    with splits.open() as fh, path.open("w", newline="") as out:
        w = csv.writer(out)
        w.writerow(["stimulus", "metric", "score", "split"])
        for r in csv.DictReader(fh):
            if r["set"] == "test":
                k = int(r["position"])
                w.writerow([r["stimulus"], "learned", repr(float(x[k])), r["split"]])
                per_split.setdefault(r["split"], []).append(k)

    # when it is benchmarked
    doc, _ = offline.run(folder, path, tmp_path / "out", OPTS, plots=False)

    # then SRCC is the median of the per-split SRCC, and the CI fields hold their range
    row = overall(doc, "quality", "learned")
    values = [stats.spearmanr(x[ks], mos[ks]).statistic for ks in per_split.values()]
    assert row["srcc"] == pytest.approx(np.median(values), abs=1e-12)
    assert row["srcc_low"] == pytest.approx(min(values))
    assert row["srcc_high"] == pytest.approx(max(values))
    assert row["n_splits"] == 10
    assert doc["with_splits"]
    assert doc["comparisons"] == []


def _write(tmp_path, text):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    return path


BAD = [
    ("stimulus,metric\n0.png,a\n", r"lacks column\(s\) score"),
    ("stimulus,metric,score\n", r"header but no rows"),
    (
        "stimulus,metric,score\nnope.png,a,1\n0.png,a,2\nzz.png,a,3\n",
        r"2 stimulus names .* not in the run's mos.csv: 'nope.png', 'zz.png'",
    ),
    (
        "stimulus,metric,score\n0.png,a,1\n1.png,a,nan\n2.png,a,x\n",
        r"2 score\(s\) are not finite numbers: line 3: 'nan'; line 4: 'x'",
    ),
    (
        "stimulus,metric,score\n0.png,a,1\n0.png,a,2\n",
        r"2 rows repeat .* lines 2, 3 all score '0.png' for metric 'a'",
    ),
    (
        "stimulus,metric,score\n0.png,a,1\n1.png,a,2\n",
        r"metric 'a' has no prediction for 142 of 144 stimuli with a MOS: '2.png', '3.png', .* \(132 more\)",
    ),
    (
        "stimulus,metric,score\n" + "".join(f"{k}.png,flat,3\n" for k in range(144)),
        r"metric 'flat' gives the same score \(3\) to all its 144 stimuli",
    ),
    ("stimulus,metric,score\n,a,1\n", r"empty stimulus: lines 2"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_predictions_are_refused_with_one_clear_line(folder, tmp_path, text, message):
    with pytest.raises(BenchmarkInputError, match=message) as info:
        offline.run(folder, _write(tmp_path, text), tmp_path / "out", OPTS)

    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_command_prints_the_table_and_writes_the_same_figures(folder, preds, result, tmp_path, capsys):
    doc, _, _ = result

    call_command(
        "benchmark_metrics",
        "--mos-dir",
        str(folder),
        "--predictions",
        str(preds),
        "--output-dir",
        str(tmp_path),
        "--bootstrap",
        "200",
        "--seed",
        "5",
    )

    printed = capsys.readouterr().out
    assert "quality:" in printed
    assert "sharp" in printed
    assert "*" in printed
    assert json.loads((tmp_path / "results.json").read_text())["results"] == doc["results"]


def test_command_turns_bad_input_into_one_line(folder, tmp_path):
    bad = _write(tmp_path, "stimulus,metric,score\nnope.png,a,1\n")

    with pytest.raises(
        CommandError, match=r"1 stimulus names of the predictions are not in the run's mos.csv: 'nope.png'"
    ):
        call_command(
            "benchmark_metrics",
            "--mos-dir",
            str(folder),
            "--predictions",
            str(bad),
            "--output-dir",
            str(tmp_path / "o"),
        )


def test_command_refuses_a_folder_without_mos_csv(tmp_path):
    with pytest.raises(CommandError, match="holds no mos.csv"):
        call_command(
            "benchmark_metrics",
            "--mos-dir",
            str(tmp_path),
            "--splits-only",
            "--output-dir",
            str(tmp_path / "o"),
        )
