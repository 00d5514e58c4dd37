"""The pilot on the demo study marks the planted artefacts and missing words through the real
participant flow, and its report shows how well the analysis recovers them (issue 17)."""

import json
import uuid
from collections import Counter
from typing import Any

import numpy as np
import pytest
from django.core.files.storage import default_storage

from analysis.models import AnalysisRun
from analysis.selectors import analysis_run_file_name
from analysis.services import analysis_run_execute, analysis_run_start
from experiments.models import Stimulus
from pilot import rich, services, simulator
from pilot.models import PilotRun
from ratings.models import Annotation, Participant, RatingSession
from ratings.selectors import trial_payload
from ratings.services import rating_submit
from tests.pilot.test_pilot import wait_finished
from tests.ratings.conftest import enter


def real_marker(study: Any) -> RatingSession:
    """A real participant answering every trial, scores and marks, through the real path."""
    annotate = rich.annotator(study, seed=1)
    assert annotate is not None
    session = enter(study, pid="real-marker")
    RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.RATING)
    keys = list(study.perspectives.values_list("key", flat=True))
    rater = simulator.Rater(99, simulator.HONEST, 0.0, 0.4, None, 0.5)
    for trial in session.trials.select_related("stimulus").order_by("index"):
        rating_submit(
            token=session.token,
            trial_index=trial.index,
            scores=dict.fromkeys(keys, 3 + trial.index % 2),
            annotations=annotate(rater, trial_payload(trial)),
            idempotency_key=uuid.uuid4(),
        )
    return session


def recovered_in(doc: dict[str, Any], study: Any) -> tuple[list[bool], list[bool]]:
    """Per planted image, independently of pilot/rich.py: is the heatmap peak inside the planted
    box, and is the missing word the one uniquely most-marked word?"""
    peaks, words = [], []
    for item in doc["images"]:
        planted = Stimulus.objects.get(study=study, name=item["filename"]).metadata.get("planted")
        if not planted:
            continue
        x0, y0, x1, y1 = planted["box"]
        x, y = item["peak"]
        peaks.append(x0 <= x <= x1 and y0 <= y <= y1)
        rates = item["misaligned_rate"]
        top = max(rates)
        words.append(rates.count(top) == 1 and rates.index(top) == planted["missing_token"])
    return peaks, words


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_pilot_of_the_demo_recovers_the_planted_artefacts_and_missing_words(
    live_server: Any, celery_worker: Any, rich_demo_study: Any
) -> None:
    # given the demo (30 test images, 10 per session, two annotation tasks, 5 with a planted truth)

    # when 30 simulated raters (3 marking at random) take part: 10 raters per image
    run = services.pilot_run_start(
        study=rich_demo_study,
        raters=30,
        base_url=live_server.url,
        seed=7,
        spammers=0.1,
        straightliners=0.0,
        abandoners=0.0,
        noise=0.4,
    )
    run = wait_finished(run, timeout=240)

    # then every answered test trial stored both annotations, and the report shows the recovery
    assert run.status == PilotRun.Status.DONE, run.error
    tests = Annotation.objects.filter(session__study=rich_demo_study, session__is_pilot=True, kind="test")
    assert tests.count() == 2 * 300
    report = run.report["rich"]
    assert report["artefact_images"] == 5
    assert report["missing_word_images"] == 5
    # 10 simulated raters marked every image; spammers the scores' screening catches are left out
    per_image = Counter(tests.filter(task__kind="regions").values_list("stimulus_id", flat=True))
    assert sorted(per_image.values()) == [10] * 30
    assert report["raters_per_image"]["median"] >= 9
    assert report["random_markers"]["spammers"] == 3
    analysis = AnalysisRun.objects.get(pk=run.analysis_run_id)
    name = analysis_run_file_name(run=analysis, relative="rich/richhf.json")
    doc = json.load(default_storage.open(name))
    # the report counts exactly the planted images the analysis file recovers
    peaks, words = recovered_in(doc, rich_demo_study)
    assert (report["peak_in_region"], report["missing_word_top"]) == (sum(peaks), sum(words))
    assert (len(peaks), len(words)) == (5, 5)
    # which raters meet which image depends on arrival order, so with 5 images one miss is chance
    # (per image ~3% for peaks, ~1-3% for words; the >= 90% bar is checked on ~190 planted images
    # x 5 seeds in tests/analysis/stats/test_rich_sim.py); 3 of 5 is far above random marking
    assert sum(peaks) >= 3, peaks
    assert sum(words) >= 3, words
    # and the analysis files hold the marks the simulated raters sent
    glitch = Stimulus.objects.get(study=rich_demo_study, metadata__variant="glitch", position=5)
    item = next(i for i in doc["images"] if i["filename"] == glitch.name)
    stored = {
        a.session.participant.code: a.points
        for a in Annotation.objects.filter(stimulus=glitch, task__kind="regions", kind="test").select_related(
            "session__participant"
        )
    }
    in_file = {p["rater"]: p["points"] for p in item["artifact_points"]}
    # exactly the stored marks of every rater the analysis kept; only screened-out raters are missing
    assert {code: stored[code] for code in in_file} == in_file
    assert len(stored) - 3 <= len(in_file) <= len(stored)
    pilot_codes = set(
        Participant.objects.filter(study=rich_demo_study, is_pilot=True).values_list("code", flat=True)
    )
    assert {p["rater"] for i in doc["images"] for p in i["artifact_points"]} <= pilot_codes

    # when a real participant marks their images and the researcher analyses the real data
    real = real_marker(rich_demo_study)
    real_run = analysis_run_start(study=rich_demo_study, method="mos", enqueue=False)
    assert analysis_run_execute(run_id=real_run.pk) == "done"
    real_run.refresh_from_db()
    name = analysis_run_file_name(run=real_run, relative="rich/richhf.json")
    real_doc = json.load(default_storage.open(name))
    # then the pilot's marks stay out of it
    raters = {p["rater"] for i in real_doc["images"] for p in i["artifact_points"]}
    assert raters == {real.participant.code}


def test_the_simulated_marks_follow_the_planted_truth() -> None:
    # given a planted box and missing word, an honest rater and a spammer
    meta = {"planted": {"box": [0.6, 0.1, 0.8, 0.3], "missing_token": 2}}
    box, missing = rich.planted_of(meta)
    honest = simulator.Rater(0, simulator.HONEST, 0.0, 0.3, None, 0.5)
    spammer = simulator.Rater(1, simulator.SPAMMER, 0.0, 0.3, None, 0.5)
    rng = np.random.default_rng(0)
    from analysis.stats import rich_sim

    # when each answers 200 images
    inside = hits = spam_inside = 0
    for _ in range(200):
        pts, marks = rich_sim.rater_answer(
            box, missing, 5, rng=rng, random_rater=honest.kind == simulator.SPAMMER
        )
        inside += any(0.55 <= x <= 0.85 and 0.05 <= y <= 0.35 for x, y in pts)
        hits += bool(marks[2])
        pts, _ = rich_sim.rater_answer(
            box, missing, 5, rng=rng, random_rater=spammer.kind == simulator.SPAMMER
        )
        spam_inside += any(0.6 <= x <= 0.8 and 0.1 <= y <= 0.3 for x, y in pts)

    # then the honest rater mostly marks the box and the word, the spammer rarely the box
    assert box == (0.6, 0.1, 0.8, 0.3)
    assert missing == 2
    assert inside > 140
    assert hits > 120
    assert spam_inside < 60
    assert rich.planted_of({"variant": "clean"}) == (None, -1)
