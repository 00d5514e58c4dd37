"""The whole study loop on the real stack: simulated participants (honest, random, straight-lining)
fill a study over HTTP; an analysis run by the real worker excludes the bad ones; the study reopens
by itself for exactly the valid ratings now missing; more participants fill it; the final analysis
has the target of valid ratings for every stimulus and perspective. The larger version with
figures: bench/loop/run.py."""

import csv
import io
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.db.models import Max

from analysis.models import AnalysisRun
from analysis.selectors import analysis_run_file_name
from analysis.services import analysis_run_start
from analysis.stats import DEFAULT_METHOD
from experiments.dashboard import study_dashboard
from experiments.models import Study
from pilot import simulator
from ratings.models import RatingSession, StimulusLoad, Trial
from ratings.selectors import participants_excluded
from tests.ratings.conftest import make_study

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
TARGET = 4
MAX_ROUNDS = 6


def wait_until(condition: Callable[[], bool], timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def open_slots(study: Study) -> int:
    """Test trials the allocation would still hand out (what the study is open for)."""
    loads = StimulusLoad.objects.filter(study=study).values_list("load", flat=True)
    return sum(max(0, study.target_ratings - load) for load in loads)


def analyse(study: Study, worker: Any) -> AnalysisRun:
    """An analysis over real data, published to the real worker after commit."""
    run = analysis_run_start(study=study, method=DEFAULT_METHOD)
    assert wait_until(lambda: AnalysisRun.objects.get(pk=run.pk).is_finished), worker.log_tail()
    run.refresh_from_db()
    assert run.status == AnalysisRun.Status.DONE, (run.error, worker.log_tail())
    return run


def min_n_per_perspective(run: AnalysisRun) -> dict[str, float]:
    """The smallest number of ratings used by the MOS of any stimulus, per perspective (mos.csv)."""
    with default_storage.open(analysis_run_file_name(run=run, relative="mos.csv"), "rb") as fh:
        rows = list(csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8")))
    keys = [p["key"] for p in run.summary["perspectives"]]
    return {key: min(float(row[f"{key}_n"] or 0) for row in rows) for key in keys}


def test_the_study_loop_screens_tops_up_and_reaches_the_target_by_itself(
    live_server: Any, celery_worker: Any
) -> None:
    # given an open study: 6 test stimuli, each session rates all of them, target 4 ratings each,
    # with the straight-lining check and a correspondence trap per session
    study = make_study(
        tests=6,
        prompts=3,
        stimuli_per_session=6,
        target_ratings=TARGET,
        check_straightlining=True,
        traps_per_session=1,
    )
    # and a first round of exactly `target` people: 2 honest, 1 random, 1 straight-liner
    population = simulator.Population(
        seed=7, spammers=0.25, straightliners=0.25, abandoners=0.0, noise_min=0.2, noise_max=0.4
    )
    first = simulator.simulate(live_server.url, study.slug, TARGET, population=population, concurrency=TARGET)
    assert first.outcomes() == {"completed": TARGET}, first.summary()
    assert open_slots(study) == 0  # full: the next participant is told so

    # when the researcher analyses the real data
    run = analyse(study, celery_worker)

    # then the bad raters are excluded: the straight-liner always (quality control)
    excluded = set(participants_excluded(study=study).values_list("external_id", flat=True))
    line = {p.query["pid"] for p in first.participants if p.rater.kind == simulator.STRAIGHTLINER}
    assert line <= excluded, run.summary
    # and the study reopens by itself (the recount published after the analysis, run by the worker)
    # for exactly the valid ratings now missing
    needed = study_dashboard(study=study).ratings_needed
    assert needed == 6 * len(excluded)
    assert wait_until(lambda: open_slots(study) == needed), celery_worker.log_tail()

    rounds = [{"participants": TARGET, "needed_after": needed}]
    for round_no in range(2, MAX_ROUNDS + 1):
        if needed == 0:
            break
        # when more simulated people come (more than needed: the last ones find the study full)
        last_session = RatingSession.objects.aggregate(m=Max("pk"))["m"]
        people = TARGET + 2  # every session takes every stimulus still needed: at most TARGET sessions
        more = simulator.simulate(
            live_server.url,
            study.slug,
            people,
            population=simulator.Population(seed=round_no, spammers=0.2, straightliners=0.2, abandoners=0.0),
            concurrency=3,
        )
        # then they were given exactly the missing ratings, no more
        allocated = Trial.objects.filter(
            session__study=study, session__pk__gt=last_session, kind=Trial.Kind.TEST
        ).count()
        assert allocated == needed, (more.summary(), rounds)
        assert more.outcomes().get("full", 0) >= 1, more.summary()
        # and a new analysis screens them; the study reopens again if anyone new is excluded
        run = analyse(study, celery_worker)
        needed = study_dashboard(study=study).ratings_needed
        assert wait_until(lambda needed=needed: open_slots(study) == needed), celery_worker.log_tail()
        rounds.append({"participants": people, "needed_after": needed})

    # then the final analysis has at least the target of valid ratings for every stimulus and perspective
    assert needed == 0, rounds
    assert all(n >= TARGET for n in min_n_per_perspective(run).values()), (min_n_per_perspective(run), rounds)
    assert not run.pilot_included
