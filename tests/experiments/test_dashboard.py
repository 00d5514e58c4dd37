"""Dashboard figures from aggregate queries: counts, histogram, median time, QC, estimate."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from experiments.dashboard import study_dashboard
from ratings.models import RatingSession
from tests.experiments.builders import add_ratings
from tests.factories import ParticipantFactory, StimulusFactory, StudyFactory
from tests.ratings.conftest import (
    answer_all,
    answer_trials,
    enter,
    gold_and_straightlining_failure,
    make_study,
)

pytestmark = pytest.mark.django_db


def test_dashboard_counts_sessions_histogram_time_qc_and_estimate() -> None:
    # given: target 3; stimulus a has 3 valid ratings, b has 1, c none; one screened-out session
    study = StudyFactory(target_ratings=3)
    a, b, _c = (StimulusFactory(study=study) for _ in range(3))
    add_ratings(study, a, 2, response_ms=2000)
    add_ratings(study, a, 1, response_ms=4000)
    add_ratings(study, b, 1, response_ms=3000, status=RatingSession.Status.RATING)
    add_ratings(study, b, 1, status=RatingSession.Status.SCREENED_OUT)
    StimulusFactory(study=study, role="training")
    excluded = add_ratings(study, b, 1)[0].participant
    excluded.excluded_reason = "BT.500 screening"
    excluded.save()

    # when
    d = study_dashboard(study=study)

    # then
    assert (
        d.participants,
        d.sessions_started,
        d.sessions_completed,
        d.sessions_in_progress,
        d.sessions_screened_out,
    ) == (6, 6, 4, 1, 1)
    assert [(b.ratings, b.stimuli) for b in d.histogram] == [(0, 1), (1, 1), (2, 0), (3, 1)]
    assert (d.test_stimuli, d.stimuli_at_target, d.valid_ratings, d.ratings_needed) == (3, 1, 4, 5)
    assert d.median_response_ms == 3000
    assert (d.qc_failed_sessions, d.qc_failures) == (0, {})
    assert d.ratings_last_hour == 4
    assert d.eta_seconds == pytest.approx(5 / 4 * 3600)
    assert round(d.percent_complete, 1) == 44.4


def test_dashboard_counts_quality_control_failures_by_kind_as_the_submission_path_writes_them() -> None:
    # given two sessions that fail gold and straight-lining, one careful session, and a pilot that fails
    study = make_study(tests=6, gold=1, stimuli_per_session=5, gold_per_session=1, check_straightlining=True)
    gold_and_straightlining_failure(study)
    gold_and_straightlining_failure(study)
    careful = enter(study)
    answer_trials(
        careful, lambda t: {k: 4 if t.kind == "gold" else 1 + t.index % 5 for k in answer_all(study)}
    )
    pilot = gold_and_straightlining_failure(study)
    RatingSession.objects.filter(pk=pilot.pk).update(is_pilot=True)

    # when
    d = study_dashboard(study=study)

    # then each kind is counted once per failure, over the real sessions only
    assert (d.qc_failed_sessions, d.qc_failures) == (2, {"gold": 2, "straightlining": 2})


def test_empty_study_dashboard_has_no_estimate() -> None:
    study = StudyFactory()
    StimulusFactory(study=study)
    ParticipantFactory(study=study)

    d = study_dashboard(study=study)

    assert (d.participants, d.valid_ratings, d.ratings_needed, d.eta_seconds, d.median_response_ms) == (
        1,
        0,
        20,
        None,
        None,
    )
    assert "unknown" in d.eta_text


def _dashboard_queries(stimuli: int) -> int:
    study = StudyFactory()
    created = [StimulusFactory(study=study) for _ in range(stimuli)]
    for s in created[: stimuli // 2]:
        add_ratings(study, s, 1)
    with CaptureQueriesContext(connection) as ctx:
        study_dashboard(study=study)
    return len(ctx.captured_queries)


def test_dashboard_query_count_does_not_grow_with_stimuli() -> None:
    assert _dashboard_queries(2) == _dashboard_queries(12)


@pytest.mark.postgresql  # the PostgreSQL aggregates (FILTER, percentile_cont); SQLite takes more
def test_dashboard_takes_at_most_eleven_queries() -> None:
    assert _dashboard_queries(12) <= 11
