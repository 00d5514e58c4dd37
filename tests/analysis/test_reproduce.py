"""compute_mos on an exported raw_ratings.csv, with default options, gives the online run's files.

The ratings are made through the real rating path (participant_enter, rating_submit) with
training, gold, repeat and trap trials, a rater who fails a quality-control check, a pilot
participant and a test stimulus nobody rated; the run is executed by the real service; its
exported raw_ratings.csv and analysis.json are fed to ``compute_mos`` as a user would.
"""

import csv
import json
import uuid
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from django.core.files.storage import default_storage

from analysis import offline, services
from analysis.models import AnalysisRun
from analysis.stats import METHODS
from experiments.models import Study
from ratings.models import RatingSession, Trial
from ratings.panels import PanelEntry
from ratings.services import participant_enter, rating_submit
from tests.factories import StimulusFactory
from tests.ratings.conftest import make_study

pytestmark = pytest.mark.django_db

KEYS = ("quality", "authenticity", "correspondence")


def _answer_all(session: RatingSession, score_for) -> None:  # type: ignore[no-untyped-def]
    # The consent, display check and instructions pages are not under test here.
    RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.RATING)
    for trial in session.trials.select_related("stimulus").order_by("index"):
        rating_submit(
            token=session.token,
            trial_index=trial.index,
            scores=score_for(trial),
            idempotency_key=uuid.uuid4(),
            response_ms=1500,
        )


def _participant(study: Study, name: str, *, pilot: bool = False) -> RatingSession:
    entry = PanelEntry(panel=study.panel, external_id=name, data={"pid": name})
    return participant_enter(study=study, entry=entry, consent=True, pilot=pilot)


@pytest.fixture
def rated_study() -> Study:
    # given a study with every kind of trial, rated by 12 people, one of them careless on gold
    study = make_study(
        tests=10,
        prompts=5,
        training=1,
        gold=1,
        stimuli_per_session=7,
        gold_per_session=1,
        repeats_per_session=1,
        traps_per_session=1,
        qc_action=Study.QcAction.RECORD,
    )
    rng = np.random.default_rng(3)
    truth = {s.pk: 1 + (k * 7) % 5 for k, s in enumerate(study.stimuli.order_by("position"))}
    people = [f"p{k:02d}" for k in range(12)]
    for k, name in enumerate(people):
        bias = [-1, 0, 0, 1][k % 4]

        def score_for(trial: Trial, k: int = k, bias: int = bias) -> dict[str, int]:
            if trial.kind == "gold":
                return dict.fromkeys(KEYS, 1 if k == 1 else 5)  # participant 1 fails the gold check
            if trial.kind == "trap":
                return {"quality": 3, "authenticity": 3, "correspondence": 1}
            if k == 0:  # answers at random
                return {key: int(rng.integers(1, 6)) for key in KEYS}
            base = truth[trial.stimulus_id] + bias
            return {key: int(np.clip(base + rng.integers(-1, 2), 1, 5)) for key in KEYS}

        _answer_all(_participant(study, name), score_for)
    _answer_all(_participant(study, "pilot-1", pilot=True), lambda t: dict.fromkeys(KEYS, 3))
    # and a test stimulus added later, which nobody rated (its row must not shift the others)
    StimulusFactory(study=study, prompt="late prompt", name="late.png")
    return study


def _download(run: AnalysisRun, names: list[str], into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    for name in names:
        with default_storage.open(f"{run.storage_dir}/{name}", "rb") as fh:
            (into / Path(name).name).write_bytes(fh.read())


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _assert_same_table(online: Path, offline_path: Path, key_columns: tuple[str, ...]) -> None:
    a, b = _rows(online), _rows(offline_path)
    assert list(a[0]) == list(b[0])
    assert [[r[c] for c in key_columns] for r in a] == [[r[c] for c in key_columns] for r in b]
    for row_a, row_b in zip(a, b, strict=True):
        for column, value in row_a.items():
            other = row_b[column]
            if value == other:  # the same text (also a rater code such as "8E1234567890", which reads as inf)
                continue
            try:
                x, y = float(value), float(other)
            except ValueError:
                assert value == other, column
                continue
            assert (np.isnan(x) and np.isnan(y)) or abs(x - y) <= 1e-12 * max(1.0, abs(x)), column


def _assert_same_files(online: Path, offline_dir: Path, n_perspectives: int) -> None:
    for d in range(1, n_perspectives + 1):
        for rel, var in ((f"DATA/MOS/mosz{d}.mat", "MOSz"), (f"DATA/STD/SD{d}.mat", "SD")):
            x = scipy.io.loadmat(online / Path(rel).name)[var]
            y = scipy.io.loadmat(offline_dir / rel)[var]
            assert x.shape == y.shape
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)
        x = np.loadtxt(online / f"moz{d}.txt")
        y = np.loadtxt(offline_dir / f"moz{d}.txt")
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)
    _assert_same_table(online / "mos.csv", offline_dir / "mos.csv", ("position", "stimulus"))
    _assert_same_table(
        online / "raters.csv", offline_dir / "raters.csv", ("rater", "perspective", "rejected")
    )
    doc_a = json.loads((online / "analysis.json").read_text())
    doc_b = json.loads((offline_dir / "analysis.json").read_text())
    assert doc_a["rejected_raters"] == doc_b["rejected_raters"]
    assert doc_a["stimuli"] == doc_b["stimuli"]
    for key, rel in doc_a["reliability"].items():
        assert rel["split_half"]["mean_r"] == pytest.approx(
            doc_b["reliability"][key]["split_half"]["mean_r"], abs=1e-12
        )


def _reproduce(study: Study, tmp_path: Path, method: str, **options: bool) -> tuple[Path, Path]:
    run = services.analysis_run_start(study=study, method=method, enqueue=False, **options)
    services.analysis_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == AnalysisRun.Status.DONE, run.error
    files = [f"DATA/MOS/mosz{d}.mat" for d in (1, 2, 3)] + [f"DATA/STD/SD{d}.mat" for d in (1, 2, 3)]
    files += ["moz1.txt", "moz2.txt", "moz3.txt", "mos.csv", "raters.csv", "analysis.json", "raw_ratings.csv"]
    online = tmp_path / "online"
    _download(run, files, online)
    out = tmp_path / "offline"
    status = offline.main(
        ["--input", str(online / "raw_ratings.csv"), "--output-dir", str(out), "--method", method]
    )
    assert status == 0
    return online, out


@pytest.mark.parametrize("method", sorted(METHODS))
def test_compute_mos_on_the_export_gives_the_online_files(rated_study, tmp_path, method) -> None:
    # when the online run's export is scored offline with default options
    online, out = _reproduce(rated_study, tmp_path, method)

    # then every file holds the same values in the same rows, with the same rejections
    _assert_same_files(online, out, 3)
    mos = _rows(online / "mos.csv")
    assert len(mos) == 11
    assert mos[-1]["stimulus"] == "late.png"
    assert mos[-1]["quality_mos"] == ""


def test_the_export_says_which_rows_the_analysis_used(rated_study, tmp_path) -> None:
    online, _out = _reproduce(rated_study, tmp_path, "bt500_zscore")

    rows = _rows(online / "raw_ratings.csv")
    assert {r["role"] for r in rows} == {"test", "training", "gold", "repeat", "trap"}
    used = [r for r in rows if r["in_analysis"] == "true"]
    assert {r["role"] for r in used} == {"test"}
    failed = {r["rater"] for r in rows if r["qc_excluded"] == "true"}
    assert failed  # participant 1 failed the gold check (others may fail a repeat by chance)
    assert not any(r["rater"] in failed for r in used)
    assert all(r["pilot"] == "false" for r in rows)  # pilot data is not exported unless included
    doc = json.loads((online / "analysis.json").read_text())
    assert doc["scale"] == {"min": 1.0, "max": 5.0}
    assert doc["export"]["raw_ratings"] == "raw_ratings.csv"


def test_options_that_keep_qc_failures_and_pilot_data_reproduce_too(rated_study, tmp_path) -> None:
    online, out = _reproduce(
        rated_study, tmp_path, "bt500_zscore", include_pilot=True, exclude_qc_failures=False
    )

    _assert_same_files(online, out, 3)
    rows = _rows(online / "raw_ratings.csv")
    assert {r["pilot"] for r in rows if r["in_analysis"] == "true"} == {"true", "false"}
    assert any(r["qc_excluded"] == "true" and r["in_analysis"] == "true" for r in rows)
