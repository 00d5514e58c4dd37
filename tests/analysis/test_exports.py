"""Result files: MATLAB columns as the public loaders read them, CSVs, JSON, streaming, zip."""

import csv
import io
import json
import tracemalloc
import zipfile

import numpy as np
import pandas as pd
import pytest
import scipy.io

from analysis import exports
from analysis.stats import Ratings, analyse

KEYS = ["quality", "authenticity"]


@pytest.fixture
def results():
    rng = np.random.default_rng(0)
    rater, stim = np.divmod(np.arange(6 * 5), 5)
    out = {}
    for k, key in enumerate(KEYS):
        score = rng.integers(1, 6, rater.size).astype(float)
        r = Ratings.from_arrays(rater=rater, stimulus=stim, score=score, n_stimuli=6)
        out[key] = analyse(r, "mos" if k else "bt500_zscore")
    return out


@pytest.fixture
def stimuli():
    return [
        {
            "position": k,
            "name": f"{k}.png" if k != 2 else "=cmd|' /C calc'!A0",
            "file": f"Image/allimg/{k}.png",
            "model": ["DALLE", "Glide"][k % 2],
            "prompt": "-a cat" if k == 1 else "a dog",
            "categories": {"challenge": "Basic", "scene": "@Arts" if k == 3 else "Indoor"},
        }
        for k in range(6)
    ]


def test_mat_files_load_like_the_public_loaders(tmp_path, results):
    exports.write_mat_files(tmp_path, results, KEYS)

    for d, key in enumerate(KEYS, start=1):
        labels = scipy.io.loadmat(tmp_path / "DATA" / "MOS" / f"mosz{d}.mat")["MOSz"]
        sd = scipy.io.loadmat(tmp_path / "DATA" / "STD" / f"SD{d}.mat")["SD"]
        assert labels.shape == (6, 1)
        assert labels.dtype == np.float64
        assert sd.shape == (6, 1)
        assert sd.dtype == np.float64
        for item in range(5):
            assert labels[item][0] == results[key].stimuli.mos[item]
            assert sd[item][0] == results[key].stimuli.sd_raw[item]
        assert np.isnan(labels[5][0])  # stimulus without ratings
        np.testing.assert_array_equal(labels.squeeze(-1), results[key].stimuli.mos)


def test_moz_txt_has_one_full_precision_value_per_line(tmp_path, results):
    exports.write_moz_txt(tmp_path, results, KEYS)

    lines = (tmp_path / "moz1.txt").read_text().splitlines()
    assert len(lines) == 6
    assert [float(x) for x in lines[:5]] == results["quality"].stimuli.mos[:5].tolist()
    assert lines[5] == "nan"
    np.testing.assert_array_equal(np.loadtxt(tmp_path / "moz2.txt"), results["authenticity"].stimuli.mos)


def test_mos_csv_columns_and_values(tmp_path, results, stimuli):
    path = exports.write_mos_csv(tmp_path / "mos.csv", results, KEYS, stimuli)

    frame = pd.read_csv(path)
    assert list(frame.columns[:7]) == [
        "position",
        "stimulus",
        "file",
        "model",
        "prompt",
        "challenge",
        "scene",
    ]
    assert list(frame.columns[7:13]) == [
        "quality_mos",
        "quality_sd_raw",
        "quality_sd",
        "quality_n",
        "quality_ci_low",
        "quality_ci_high",
    ]
    assert frame.columns[13] == "authenticity_mos"
    np.testing.assert_array_equal(frame["quality_mos"].to_numpy(), results["quality"].stimuli.mos)
    assert frame["quality_n"].tolist() == [6, 6, 6, 6, 6, 0]
    assert frame["model"].tolist()[:2] == ["DALLE", "Glide"]


def test_mos_csv_bytes_are_what_csv_writer_writes(tmp_path, results, stimuli):
    # mos.csv is assembled column by column (fast); the bytes must be csv.writer's, quoting
    # included: cells with commas, quotes, line breaks, a key with a comma, empty text.
    tricky = [dict(s) for s in stimuli]
    tricky[0]["prompt"] = 'a "cat", on a mat'
    tricky[1]["model"] = "two\nlines"
    tricky[3]["file"] = "cr\rhere"
    tricky[4]["prompt"] = ""
    keys = ["quality", "a,b"]
    both = {"quality": results["quality"], "a,b": results["authenticity"]}

    path = exports.write_mos_csv(tmp_path / "mos.csv", both, keys, tricky)

    expected = io.StringIO()
    writer = csv.writer(expected, lineterminator="\n")
    header = ["position", "stimulus", "file", "model", "prompt", "challenge", "scene"]
    fields = ["mos", "sd_raw", "sd", "n", "ci_low", "ci_high"]
    writer.writerow(header + [f"{k}_{f}" for k in keys for f in fields])
    for k, s in enumerate(tricky):
        row = [exports.neutralise(str(s.get(c, ""))) for c in ("position", "name", "file", "model", "prompt")]
        row += [exports.neutralise(s["categories"].get(c, "")) for c in ("challenge", "scene")]
        for key in keys:
            st = both[key].stimuli
            values = [float(getattr(st, f)[k]) for f in fields]
            row += [
                "" if v != v else (int(v) if f == "n" else v) for f, v in zip(fields, values, strict=True)
            ]
        writer.writerow(row)
    assert path.read_bytes() == expected.getvalue().encode("utf-8")
    rows = list(csv.reader(path.open(encoding="utf-8", newline="")))
    assert rows[1][4] == 'a "cat", on a mat'
    assert rows[2][3] == "two\nlines"


def test_csv_injection_is_neutralised_but_negative_numbers_are_not(tmp_path, results, stimuli):
    path = exports.write_mos_csv(tmp_path / "mos.csv", results, KEYS, stimuli)

    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert rows[2]["stimulus"] == "'=cmd|' /C calc'!A0"
    assert rows[1]["prompt"] == "'-a cat"
    assert rows[3]["scene"] == "'@Arts"
    assert rows[0]["prompt"] == "a dog"

    # negative numbers start with "-" too, and stay numbers: written as they are, no quote prefix
    rater, stim = np.divmod(np.arange(6 * 5), 5)
    score = -1.0 - np.arange(rater.size) % 5  # -1 .. -5
    negative = Ratings.from_arrays(rater=rater, stimulus=stim, score=score, n_stimuli=6)
    below_zero = {key: analyse(negative, "mos") for key in KEYS}
    path = exports.write_mos_csv(tmp_path / "negative.csv", below_zero, KEYS, stimuli)
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    expected = below_zero["quality"].stimuli
    for k in range(5):
        mos, low = rows[k]["quality_mos"], rows[k]["quality_ci_low"]
        assert mos.startswith("-"), mos
        assert low.startswith("-"), low
        assert (float(mos), float(low)) == (expected.mos[k], expected.ci_low[k])


def test_negative_numbers_stay_numbers_in_raters_csv(tmp_path):
    r = Ratings.from_arrays(rater=[0, 0, 1, 1], stimulus=[0, 1, 0, 1], score=[-5.0, -1.0, -4.0, 0.0])
    res = {"q": analyse(r, "mle")}

    path = exports.write_raters_csv(tmp_path / "raters.csv", res, ["q"], ["-r1", "r2"])

    text = path.read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["rater"] == "'-r1"
    assert float(rows[0]["mean"]) == -3.0
    assert rows[0]["mean"] == "-3.0"
    assert float(rows[0]["bias"]) < 0


def test_raters_csv_has_one_row_per_rater_and_perspective(tmp_path, results):
    path = exports.write_raters_csv(tmp_path / "raters.csv", results, KEYS, [f"p{i}" for i in range(6)])

    frame = pd.read_csv(path, keep_default_na=False)
    assert list(frame.columns) == list(exports.RATER_COLUMNS)
    assert len(frame) == 12
    assert frame["perspective"].tolist() == ["quality"] * 6 + ["authenticity"] * 6
    assert frame["rejected"].dtype == bool
    assert set(frame["reason"]) <= {
        "",
        "screening",
        "zero_variance",
        "too_few_ratings",
        "no_ratings",
    }


def test_raw_ratings_writer_accepts_dicts_and_tuples(tmp_path):
    rows = [
        {"rater": "p1", "session": 7, "stimulus": "0.png", "perspective": "quality", "score": 4,
         "response_ms": 1200, "server_time": "2024-01-01T00:00:00Z", "extra": "ignored"},
        ("p2", 8, 3, "=1+1", "quality", -1.5, "test", True, False, False, 4, 500, 900, None,
         "2024-01-01T00:00:01Z", "zh-hans", "1440x900", "1440x900", 1, 0, "Chrome 131 / Windows (computer)"),
    ]  # fmt: skip

    count = exports.write_raw_ratings(tmp_path / "raw.csv", iter(rows))

    assert count == 2
    out = list(csv.reader((tmp_path / "raw.csv").open(encoding="utf-8")))
    assert out[0] == list(exports.RAW_COLUMNS)
    row = dict(zip(out[0], out[1], strict=True))
    assert row == {**dict.fromkeys(exports.RAW_COLUMNS, ""), "rater": "p1", "session": "7", "stimulus": "0.png",
                   "perspective": "quality", "score": "4", "response_ms": "1200",
                   "server_time": "2024-01-01T00:00:00Z"}  # fmt: skip
    second = dict(zip(out[0], out[2], strict=True))
    assert second["stimulus_name"] == "'=1+1"
    assert second["score"] == "-1.5"
    assert (second["role"], second["in_analysis"], second["qc_excluded"], second["pilot"]) == (
        "test", "true", "false", "false")  # fmt: skip
    assert [second[c] for c in ("language", "viewport", "screen", "dpr", "zoom_changes", "ua_family")] == [
        "zh-hans", "1440x900", "1440x900", "1", "0", "Chrome 131 / Windows (computer)"]  # fmt: skip


def test_raw_ratings_writer_rejects_short_tuples(tmp_path):
    with pytest.raises(ValueError, match="row 0 has 2 values, expected 21"):
        exports.write_raw_ratings(tmp_path / "raw.csv", [("a", "b")])


def test_raw_ratings_writer_streams_in_constant_memory(tmp_path):
    def rows(n):
        for k in range(n):
            yield (k % 97, k // 10, k % 2400, f"{k % 2400}.png", "quality", k % 5 + 1, "test", True, False,
                   False, k % 40, 3000, 1500, "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", "en", "1440x900",
                   "1440x900", 1, 0, "Chrome 131 / Linux (computer)")  # fmt: skip

    tracemalloc.start()
    count = exports.write_raw_ratings(tmp_path / "raw.csv", rows(100_000))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert count == 100_000
    assert peak < 2_000_000  # 100k rows are ~8 MB of CSV; a list of them would be far more
    with (tmp_path / "raw.csv").open() as fh:
        assert sum(1 for _ in fh) == 100_001


def test_analysis_json_records_provenance(tmp_path, results):
    path = exports.write_analysis_json(
        tmp_path / "analysis.json",
        results=results,
        perspectives=KEYS,
        rater_ids=[f"p{i}" for i in range(6)],
        code_version="abc123",
        input_fingerprint="sha256:00",
        timings={"analyse": 0.01},
        reliability={"quality": {"mean_r": float("nan")}},
    )

    doc = json.loads(path.read_text())
    assert doc["method"] == "bt500_zscore"
    assert doc["parameters"]["screen_on"] == "raw"
    assert doc["code_version"] == "abc123"
    assert doc["input_fingerprint"] == "sha256:00"
    assert doc["timings"] == {"analyse": 0.01}
    assert doc["reliability"]["quality"] == {"mean_r": None}
    assert [p["key"] for p in doc["perspectives"]] == KEYS
    assert doc["perspectives"][1]["method"] == "mos"
    assert doc["perspectives"][0]["counts"]["ratings"] == 30
    assert doc["perspectives"][0]["counts"]["stimuli_with_score"] == 5


def test_write_results_and_zip(tmp_path, results, stimuli):
    out = tmp_path / "out"
    paths = exports.write_results(
        out,
        results=results,
        perspectives=KEYS,
        stimuli=stimuli,
        rater_ids=list(range(6)),
        code_version="x",
        input_fingerprint="y",
        timings={},
    )

    names = sorted(p.relative_to(out).as_posix() for p in paths)
    assert names == sorted([
        "DATA/MOS/mosz1.mat", "DATA/MOS/mosz2.mat", "DATA/STD/SD1.mat", "DATA/STD/SD2.mat",
        "moz1.txt", "moz2.txt", "mos.csv", "raters.csv", "analysis.json",
    ])  # fmt: skip
    zpath = exports.zip_directory(out, out / "results.zip")
    with zipfile.ZipFile(zpath) as zf:
        assert sorted(zf.namelist()) == names


def test_metadata_length_must_match_results(tmp_path, results, stimuli):
    with pytest.raises(ValueError, match="has 6 stimuli, metadata has 5"):
        exports.write_mos_csv(tmp_path / "mos.csv", results, KEYS, stimuli[:5])


def test_plots_are_written_as_png(tmp_path, results, stimuli):
    from analysis import plots

    paths = plots.write_plots(tmp_path, results, KEYS, stimuli)

    names = sorted(p.name for p in paths)
    assert names == [
        "mos_by_model.csv",
        "mos_by_model.png",
        "mos_ci.png",
        "mos_histogram.png",
        "screening.png",
    ]
    for p in paths:
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    by_model = list(csv.DictReader((tmp_path / "plots" / "mos_by_model.csv").open(encoding="utf-8")))
    assert {r["perspective"] for r in by_model} == set(KEYS)


def test_model_means_have_a_student_t_interval(results) -> None:
    from scipy import stats

    from analysis import plots

    res = results[KEYS[0]]
    models = ["a", "b", "a", "b", "a", "b"]
    rows = plots.model_means(res, models)

    values = res.stimuli.mos[[0, 2, 4]]
    values = values[np.isfinite(values)]
    low, high = stats.t.interval(0.95, values.size - 1, loc=values.mean(), scale=stats.sem(values))
    assert rows[0]["model"] == "a"
    assert rows[0]["mean"] == pytest.approx(values.mean())
    assert (rows[0]["ci_low"], rows[0]["ci_high"]) == pytest.approx((low, high))


def test_streaming_iterator_yields_the_same_bytes_in_chunks(tmp_path):
    rows = [(k, 1, k, f"{k}.png", "quality", k * 0.5, "test", True, False, False, k, "", "", "", "", "en", "", "", "", 0, "")
            for k in range(5000)]  # fmt: skip
    exports.write_raw_ratings(tmp_path / "raw.csv", rows)

    chunks = list(exports.iter_raw_ratings_csv(iter(rows)))

    assert len(chunks) > 1
    assert "".join(chunks) == (tmp_path / "raw.csv").read_text()
