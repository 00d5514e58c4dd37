"""Precision allocation through the app: configuration, running sums, session starts, concurrency."""

import uuid
from collections import Counter
from typing import Any

import pytest
from django.db.models import Count, F, Sum
from django.urls import reverse

from experiments.dashboard import study_dashboard
from experiments.exceptions import StudyError
from experiments.models import Study
from experiments.services import study_update
from ratings.exceptions import StudyFull
from ratings.models import Participant, Rating, RatingSession, StimulusLoad, StimulusSums, Trial
from ratings.services import (
    participants_exclude,
    rating_submit,
    session_withdraw,
    stimulus_loads_recount_all,
)
from tests.ratings.conftest import answer_all, answer_trials, at_once, enter, make_study, precision_study


def assigned_counts(study: Study) -> Counter[int]:
    return Counter(
        Trial.objects.filter(session__study=study, kind=Trial.Kind.TEST).values_list("stimulus_id", flat=True)
    )


def stored_sums(study: Study) -> dict[tuple[int, int], tuple[int, float, float]]:
    rows = StimulusSums.objects.filter(study=study, n__gt=0)
    return {(r.stimulus_id, r.perspective_id): (r.n, r.s1, r.s2) for r in rows}


def direct_sums(study: Study) -> dict[tuple[int, int], tuple[int, float, float]]:
    """The valid raw ratings aggregated straight from the Rating table."""
    valid = Rating.objects.filter(
        session__study=study,
        kind=Trial.Kind.TEST,
        session__is_pilot=False,
        session__participant__excluded_reason="",
    ).exclude(session__status=RatingSession.Status.SCREENED_OUT)
    rows = valid.values("stimulus_id", "perspective_id").annotate(
        n=Count("id"), s1=Sum("score"), s2=Sum(F("score") * F("score"))
    )
    return {(r["stimulus_id"], r["perspective_id"]): (r["n"], r["s1"], r["s2"]) for r in rows}


# --- Configuration -------------------------------------------------------------------------------
@pytest.mark.django_db
def test_precision_mode_needs_a_target_on_every_perspective_and_sane_bounds() -> None:
    with pytest.raises(StudyError, match="target half-width on every perspective"):
        precision_study(minimum=3, maximum=10, target=None)
    with pytest.raises(StudyError, match="at least 2"):
        precision_study(minimum=1, maximum=10)
    with pytest.raises(StudyError, match="at least the minimum"):
        precision_study(minimum=6, maximum=5)

    study = precision_study(minimum=3, maximum=10, target=0.4)

    assert study.allocation_mode == Study.AllocationMode.PRECISION
    assert set(study.perspectives.values_list("target_half_width", flat=True)) == {0.4}
    # A later edit that leaves the targets out keeps them.
    study_update(study=study, fields={"precision_max_ratings": 12})
    assert set(study.perspectives.values_list("target_half_width", flat=True)) == {0.4}


# --- Filling a study through the participant path ---------------------------------------------
@pytest.mark.django_db
def test_unanimous_images_retire_early_and_disputed_ones_get_up_to_the_maximum() -> None:
    # given 6 images everyone agrees on and 6 that split raters between 1 and 5
    study = precision_study(minimum=3, maximum=12, target=1.0, tests=12, prompts=6, stimuli_per_session=4)
    ids = sorted(study.stimuli.values_list("pk", flat=True))
    unanimous, disputed = set(ids[:6]), set(ids[6:])
    votes: Counter[int] = Counter()

    def score(trial: Trial) -> dict[str, Any]:
        votes[trial.stimulus_id] += 1
        if trial.stimulus_id in unanimous:
            return answer_all(study, 3)
        return answer_all(study, 1 if votes[trial.stimulus_id] % 2 else 5)

    # when participants keep coming until the study says it is full
    sessions = 0
    while sessions < 100:
        try:
            session = enter(study)
        except StudyFull:
            break
        sessions += 1
        answer_trials(session, score)
        assert stored_sums(study) == direct_sums(study)

    # then every image has between the minimum and the maximum of valid ratings ...
    counts = assigned_counts(study)
    assert set(counts) == set(ids)
    assert all(3 <= counts[pk] <= 12 for pk in ids), counts
    # ... the disputed ones got the maximum, the unanimous ones retired well before it
    assert {counts[pk] for pk in disputed} == {12}
    assert max(counts[pk] for pk in unanimous) < 12
    assert sum(counts.values()) < 12 * len(ids)
    loads = dict(StimulusLoad.objects.filter(study=study).values_list("stimulus_id", "load"))
    assert loads == dict(counts)
    assert sessions < 100

    # and the dashboard says so: nothing left to do, the unanimous images met the target
    board = study_dashboard(study=study).precision
    assert board is not None
    assert board["still_needed"] == 0
    assert board["states"] == {"below_minimum": 0, "open": 0, "retired": 6, "at_maximum": 6}
    assert sum(b["stimuli"] for b in board["ratio_bins"]) == 12
    assert sum(b["stimuli"] for b in board["ratio_bins"] if b["met"]) == 6
    assert [q["target"] for q in board["perspectives"]] == [1.0, 1.0, 1.0]
    assert all(q["p95"] > 1.0 for q in board["perspectives"])  # the disputed images stay wide


@pytest.mark.django_db
def test_the_dashboard_page_shows_the_precision_section_midway(client: Any) -> None:
    study = precision_study(minimum=3, maximum=8, tests=6, prompts=3, stimuli_per_session=3)
    for _ in range(4):
        answer_trials(enter(study), lambda trial: answer_all(study, 2 + trial.index % 3))
    client.force_login(study.owner)

    page = client.get(reverse("experiments:study-dashboard", kwargs={"slug": study.slug}))

    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="precision-histogram"' in html
    board = page.context["dashboard"].precision
    assert board["still_needed"] > 0
    assert f">{board['still_needed']}</strong>" in html


@pytest.mark.django_db
def test_running_sums_equal_the_valid_ratings_after_submissions_exclusions_and_withdrawals() -> None:
    study = precision_study(minimum=3, maximum=6, tests=8, prompts=4, stimuli_per_session=4)
    sessions = [enter(study) for _ in range(4)]
    for i, session in enumerate(sessions):
        answer_trials(session, lambda trial, i=i: answer_all(study, 1 + (i + trial.index) % 5))
    assert stored_sums(study) == direct_sums(study)
    assert sum(n for n, _s1, _s2 in stored_sums(study).values()) == 4 * 4 * 3

    # an analysis excludes one participant: the recount takes their ratings out
    excluded = sessions[0].participant_id
    participants_exclude(study=study, reasons={excluded: "screening"})
    stimulus_loads_recount_all(study_id=study.pk)
    assert stored_sums(study) == direct_sums(study)
    assert sum(n for n, _s1, _s2 in stored_sums(study).values()) == 3 * 4 * 3

    # a participant who withdraws half-way: their answers leave the sums at once
    late = enter(study)
    trials = list(late.trials.order_by("index"))
    RatingSession.objects.filter(pk=late.pk).update(status=RatingSession.Status.RATING)
    for trial in trials[:2]:
        rating_submit(
            token=late.token,
            trial_index=trial.index,
            scores=answer_all(study, 4),
            idempotency_key=uuid.uuid4(),
        )
    assert stored_sums(study) == direct_sums(study)
    session_withdraw(session=RatingSession.objects.get(pk=late.pk), reason="left")
    assert stored_sums(study) == direct_sums(study)

    # the exclusion is lifted: the recount brings the ratings back
    participants_exclude(study=study, reasons={})
    stimulus_loads_recount_all(study_id=study.pk)
    assert Participant.objects.filter(study=study).exclude(excluded_reason="").count() == 0
    assert stored_sums(study) == direct_sums(study)


@pytest.mark.django_db
def test_a_balanced_study_keeps_no_sums() -> None:
    study = make_study(tests=4, stimuli_per_session=2)
    answer_trials(enter(study), lambda trial: answer_all(study, 2))
    stimulus_loads_recount_all(study_id=study.pk)
    assert not StimulusSums.objects.filter(study=study).exists()


# --- Concurrency against the real PostgreSQL -----------------------------------------------------
@pytest.mark.postgresql  # concurrent writers: SQLite locks the whole database
@pytest.mark.django_db(transaction=True)
def test_concurrent_starts_never_allocate_an_image_past_the_maximum() -> None:
    # given 10 images with at most 3 ratings each (30 places) and 16 starts of 4 images at once
    study = precision_study(minimum=2, maximum=3, tests=10, prompts=5, stimuli_per_session=4)
    count = 16
    results = at_once(count, lambda i: enter(study, pid=f"precise-{i}"))

    # then exactly the 30 places went out, no image beyond 3, and the late starts found it full
    errors = [r for r in results if isinstance(r, Exception)]
    assert all(isinstance(e, StudyFull) for e in errors), errors
    counts = assigned_counts(study)
    assert counts == Counter(dict.fromkeys(study.stimuli.values_list("pk", flat=True), 3))
    loads = dict(StimulusLoad.objects.filter(study=study).values_list("stimulus_id", "load"))
    assert loads == dict(counts)
    for session in results:
        if isinstance(session, RatingSession):
            ids = list(Trial.objects.filter(session=session).values_list("stimulus_id", flat=True))
            assert 1 <= len(ids) <= 4
            assert len(set(ids)) == len(ids)
    assert count - len(errors) >= 8  # 30 places in sessions of at most 4
    with pytest.raises(StudyFull):
        enter(study)
