"""Rich feedback in the analysis job (issue 17): the marks submitted through the real path end up,
exactly, in the rich/ files of the run, its zip, its summary and its results page."""

import csv
import io
import json
import uuid
import zipfile
from typing import Any

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from analysis import services
from analysis.models import AnalysisRun
from analysis.stats.rich import tokenize_prompt
from experiments.services import study_update
from ratings.models import Participant, RatingSession, Trial
from ratings.services import rating_submit
from tests.ratings.conftest import enter, make_study

pytestmark = pytest.mark.django_db

TASKS = [
    {"key": "artefacts", "kind": "regions", "label": "Broken areas", "instructions": "Click them."},
    {"key": "missing", "kind": "words", "label": "Missing words", "instructions": ""},
]


def marks_for(rater: int, trial: Trial) -> dict[str, Any]:
    """Rater k's answer on a stimulus: a point near a spot fixed per stimulus (rater 0 says
    "nothing" on the first image), and the word at position (stimulus position % 2), raters
    0 and 3 both words of the prompt."""
    pos = trial.stimulus.position
    if rater == 0 and pos == 0:
        regions: dict[str, Any] = {"points": [], "nothing": True}
    else:
        regions = {"points": [[0.2 + 0.1 * pos + 0.01 * rater, 0.7 - 0.01 * rater]], "nothing": False}
    assert len(tokenize_prompt(trial.prompt_shown)) == 2
    words = {"tokens": [pos % 2] if rater % 3 else [0, 1], "nothing": False}
    return {"artefacts": regions, "missing": words}


def scores_for(rater: int, trial: Trial, constant: bool) -> dict[str, int]:
    keys = trial.session.study.perspectives.values_list("key", flat=True)
    value = 3 if constant else 1 + (trial.stimulus.position + rater) % 5
    return dict.fromkeys(keys, value)


def participate(study, rater: int, *, constant: bool = False) -> RatingSession:
    session = enter(study, pid=f"rater-{rater}")
    RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.RATING)
    for trial in session.trials.select_related("stimulus", "session__study").order_by("index"):
        rating_submit(
            token=session.token,
            trial_index=trial.index,
            scores=scores_for(rater, trial, constant),
            annotations=marks_for(rater, trial),
            idempotency_key=uuid.uuid4(),
        )
    return session


@pytest.fixture
def tasked(db):
    # given 4 test images with the prompts "prompt 0".."prompt 3" (2 tokens), two tasks,
    # 6 raters who see every image, the last of whom gives one score throughout
    study = study_update(
        study=make_study(tests=4, prompts=4, stimuli_per_session=4), fields={}, annotation_tasks=TASKS
    )
    sessions = [participate(study, k, constant=(k == 5)) for k in range(6)]
    run = services.analysis_run_start(study=study, method="bt500_zscore", parameters={}, enqueue=False)

    # when
    assert services.analysis_run_execute(run_id=run.id) == "done"
    run.refresh_from_db()
    return study, sessions, run


def read(run: AnalysisRun, relative: str) -> bytes:
    with default_storage.open(f"{run.storage_dir}/{relative}", "rb") as fh:
        return fh.read()


def code(session: RatingSession) -> str:
    return Participant.objects.get(pk=session.participant_id).code


def test_the_run_writes_every_rich_file_into_its_folder_and_zip(tasked) -> None:
    _study, _sessions, run = tasked

    names = set(zipfile.ZipFile(io.BytesIO(read(run, run.zip_name))).namelist())

    expected = {"rich/heatmaps.npz", "rich/words.csv", "rich/richhf.json", "rich/raters.csv"}
    expected |= {f"rich/overlays/t{k}.png" for k in range(4)}
    assert expected <= names
    assert expected <= {f.removeprefix(run.storage_dir + "/") for f in run.files}


def test_richhf_json_holds_exactly_the_submitted_marks_of_the_kept_raters(tasked) -> None:
    _study, sessions, run = tasked

    doc = json.loads(read(run, "rich/richhf.json"))

    # then the constant scorer (zero variance, rejected by the scores' screening) is left out
    screened = code(sessions[5])
    assert doc["summary"]["screened_out_raters"] == [screened]
    for item in doc["images"]:
        position = int(item["filename"][1])
        trials = {
            code(s): Trial.objects.select_related("stimulus").get(session=s, stimulus__name=item["filename"])
            for s in sessions[:5]
        }
        expected = {c: marks_for(int(c_index), t) for c_index, (c, t) in enumerate(trials.items())}
        assert {p["rater"]: p["points"] for p in item["artifact_points"]} == {
            c: m["artefacts"]["points"] for c, m in expected.items()
        }
        got_words = {t["rater"]: np.flatnonzero(t["misaligned"]).tolist() for t in item["token_labels"]}
        assert got_words == {c: sorted(m["missing"]["tokens"]) for c, m in expected.items()}
        assert screened not in got_words
        assert item["tokens"] == ["prompt", str(position)]


def test_words_csv_counts_the_marks_of_the_kept_raters(tasked) -> None:
    _study, _sessions, run = tasked

    rows = list(csv.DictReader(io.StringIO(read(run, "rich/words.csv").decode())))

    by = {(r["image"], int(r["token_index"])): r for r in rows}
    for position in range(4):
        # raters 0..4 all mark token position % 2; only raters 0 and 3 the other one
        marked = by[(f"t{position}.png", position % 2)]
        other = by[(f"t{position}.png", 1 - position % 2)]
        assert (marked["marked"], marked["raters"], marked["rate"]) == ("5", "5", "1.0")
        assert (other["marked"], other["raters"], other["rate"]) == ("2", "5", "0.4")
    assert len(rows) == 8


def test_heatmap_peak_lies_at_the_raters_spot(tasked) -> None:
    _study, _sessions, run = tasked

    with np.load(io.BytesIO(read(run, "rich/heatmaps.npz"))) as maps:
        for position in range(4):
            hm = maps[f"t{position}.png"]
            r, c = np.unravel_index(np.argmax(hm), hm.shape)
            assert abs((c + 0.5) / hm.shape[1] - (0.22 + 0.1 * position)) < 0.05
            assert abs((r + 0.5) / hm.shape[0] - 0.68) < 0.05


def test_summary_and_results_page_show_overlays_and_word_counts(tasked, client) -> None:
    study, _sessions, run = tasked
    client.force_login(study.owner)

    page = client.get(reverse("analysis:run-detail", args=[run.pk]))
    overlay = client.get(reverse("analysis:run-file", args=[run.pk, "rich/overlays/t0.png"]))

    rich = run.summary["rich"]
    assert rich["images_total"] == 4
    assert rich["screened_out"] == [code(_sessions[5])]
    assert [w["marked"] for w in rich["images"][0]["words"]] == [5, 2]
    assert rich["images"][0]["top_word"] == 0
    html = page.content.decode()
    assert 'id="rich-feedback"' in html
    assert reverse("analysis:run-file", args=[run.pk, "rich/overlays/t3.png"]) in html
    assert "5/5" in html
    assert overlay.status_code == 200
    assert overlay["Content-Type"] == "image/png"
    assert "attachment" not in overlay.get("Content-Disposition", "")


def test_a_study_without_tasks_writes_no_rich_files(db) -> None:
    study = make_study(tests=4, prompts=4, stimuli_per_session=4)
    for k in range(3):
        session = enter(study, pid=f"plain-{k}")
        RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.RATING)
        for trial in session.trials.select_related("stimulus", "session__study").order_by("index"):
            rating_submit(
                token=session.token,
                trial_index=trial.index,
                scores=scores_for(k, trial, False),
                idempotency_key=uuid.uuid4(),
            )
    run = services.analysis_run_start(study=study, method="bt500_zscore", parameters={}, enqueue=False)

    assert services.analysis_run_execute(run_id=run.id) == "done"

    run.refresh_from_db()
    assert "rich" not in run.summary
    assert not [f for f in run.files if "/rich/" in f]


def test_a_run_reads_only_the_marks_stored_before_it_started(db) -> None:
    # given three raters, a run started, then a fourth rater
    study = study_update(
        study=make_study(tests=4, prompts=4, stimuli_per_session=4), fields={}, annotation_tasks=TASKS
    )
    early = [participate(study, k) for k in range(3)]
    run = services.analysis_run_start(study=study, method="mos", parameters={}, enqueue=False)
    late = participate(study, 3)

    # when the run executes
    assert services.analysis_run_execute(run_id=run.id) == "done"

    # then only the first three raters' marks are in it
    run.refresh_from_db()
    doc = json.loads(read(run, "rich/richhf.json"))
    raters = {p["rater"] for item in doc["images"] for p in item["artifact_points"]}
    assert raters == {code(s) for s in early}
    assert code(late) not in {t["rater"] for item in doc["images"] for t in item["token_labels"]}
