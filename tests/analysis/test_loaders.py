import numpy as np
import pytest

from analysis import loaders
from experiments.models import Stimulus
from ratings.models import Rating, RatingSession
from tests.factories import (
    ParticipantFactory,
    RatingSessionFactory,
    StimulusFactory,
    StudyFactory,
    rated_study_create,
    ratings_add,
)
from tests.ratings.conftest import (
    answer_all,
    answer_trials,
    enter,
    gold_and_straightlining_failure,
    make_study,
)

pytestmark = pytest.mark.django_db
KEYS = ("quality", "authenticity", "correspondence")


def _scores(items, value):  # every perspective gets `value`
    return {s: {"quality": value, "authenticity": value, "correspondence": value} for s in items}


def test_stimulus_index_follows_test_positions_when_sparse() -> None:
    # given test stimuli at sparse positions, created out of order, and a training stimulus between
    study = StudyFactory()
    by_pos = {p: StimulusFactory(study=study, position=p) for p in (10, 3, 20, 7)}
    StimulusFactory(study=study, position=5, role=Stimulus.Role.TRAINING)
    session = RatingSessionFactory(participant__study=study)
    ratings_add(session, {by_pos[p]: {"quality": float(p % 5 + 1)} for p in (3, 7, 10, 20)})

    # when
    data = loaders.study_ratings_load(study)

    # then index k is the k-th test stimulus by position, and each score sits at its stimulus
    assert [s["position"] for s in data.stimuli] == [3, 7, 10, 20]
    r = data.ratings["quality"]
    assert r.n_stimuli == 4
    by_index = dict(zip(r.stimulus.tolist(), r.score.tolist(), strict=False))
    assert by_index == {0: 4.0, 1: 3.0, 2: 1.0, 3: 1.0}


def test_only_test_trials_on_test_stimuli_count() -> None:
    study, items, people = rated_study_create(stimuli=3, raters=2)
    session = people[0].sessions.get()
    training = StimulusFactory(study=study, role=Stimulus.Role.TRAINING)
    ratings_add(session, _scores([training], 5.0), kind="training", start_index=10)
    ratings_add(session, _scores(items[:1], 5.0), kind="repeat", start_index=20, repetition=1)
    gold = StimulusFactory(study=study, role=Stimulus.Role.GOLD)
    ratings_add(session, _scores([gold], 5.0), kind="gold", start_index=30)

    data = loaders.study_ratings_load(study)

    # stimuli x raters x perspectives: training, repeat and gold trials left out
    assert data.n_ratings == 3 * 2 * 3
    assert Rating.objects.filter(session__study=study).count() == 3 * 2 * 3 + 9
    assert len(data.stimuli) == 3


def test_pilot_participants_are_left_out_unless_included() -> None:
    study, _items, people = rated_study_create(stimuli=3, raters=3)
    people[0].is_pilot = True
    people[0].save()

    without = loaders.study_ratings_load(study)
    with_pilot = loaders.study_ratings_load(study, include_pilot=True)

    assert people[0].code not in without.rater_codes
    assert len(without.rater_codes) == 2
    assert people[0].code in with_pilot.rater_codes
    assert without.fingerprint != with_pilot.fingerprint


def test_quality_control_failures_are_listed_and_excluded_by_default() -> None:
    # given two careful participants and one whose answers fail gold and straight-lining
    study = make_study(tests=6, gold=1, stimuli_per_session=5, gold_per_session=1, check_straightlining=True)
    for _ in range(2):
        answer_trials(enter(study), lambda t: {k: 4 if t.kind == "gold" else 1 + t.index % 5 for k in KEYS})
    failed = gold_and_straightlining_failure(study)
    gold = failed.trials.get(kind="gold").index
    line = failed.trial_count - 1  # straight-lining is found on the last trial

    # when
    excluded = loaders.study_ratings_load(study)
    kept = loaders.study_ratings_load(study, exclude_qc_failures=False)

    # then
    code = failed.participant.code
    assert code not in excluded.rater_codes
    [q] = excluded.qc_excluded
    assert q.code == code
    assert q.reason == f"quality control: gold (trial {gold}); straightlining (trial {line})"
    assert code in kept.rater_codes
    assert kept.qc_excluded == ()


def test_a_participant_with_two_sessions_is_one_rater() -> None:
    study = StudyFactory()
    a, b = StimulusFactory(study=study), StimulusFactory(study=study)
    participant = ParticipantFactory(study=study)
    ratings_add(RatingSessionFactory(participant=participant, number=1), _scores([a], 2.0))
    ratings_add(RatingSessionFactory(participant=participant, number=2), _scores([b], 4.0))

    data = loaders.study_ratings_load(study)

    assert data.rater_codes == (participant.code,)
    assert data.ratings["quality"].rater.tolist() == [0, 0]


def test_ratings_after_the_snapshot_are_not_read() -> None:
    study, items, _people = rated_study_create(stimuli=3, raters=2)
    cutoff = Rating.objects.order_by("-id").values_list("id", flat=True).first()
    before = loaders.study_ratings_load(study, rating_id_max=cutoff)
    ratings_add(RatingSessionFactory(participant__study=study), _scores(items, 1.0))

    after = loaders.study_ratings_load(study, rating_id_max=cutoff)

    assert after.fingerprint == before.fingerprint
    assert loaders.study_ratings_load(study).n_ratings == before.n_ratings + 9


def test_fingerprint_changes_with_a_score() -> None:
    study, _items, _people = rated_study_create(stimuli=3, raters=2)
    first = loaders.study_ratings_load(study).fingerprint
    Rating.objects.filter(pk=Rating.objects.filter(session__study=study).first().pk).update(score=9)

    assert loaders.study_ratings_load(study).fingerprint != first


def test_a_study_without_ratings_cannot_be_loaded() -> None:
    study = StudyFactory()
    StimulusFactory(study=study)

    with pytest.raises(ValueError, match="no test ratings"):
        loaders.study_ratings_load(study)


def test_raw_rows_are_pseudonymous_unless_panel_ids_asked() -> None:
    study, _items, people = rated_study_create(stimuli=2, raters=1)
    training = StimulusFactory(study=study, role=Stimulus.Role.TRAINING, position=50)
    ratings_add(people[0].sessions.get(), {training: {"quality": 3.0}}, kind="training", start_index=5)

    rows = list(loaders.raw_rating_rows(study))
    with_ids = list(loaders.raw_rating_rows(study, include_panel_ids=True))

    assert len(rows) == 2 * 3 + 1
    assert {r[0] for r in rows} == {people[0].code}
    assert {r[0] for r in with_ids} == {f"generic:{people[0].external_id}"}
    assert rows[-1][2:10] == (50, training.name, "quality", 3.0, "training", False, False, False)
    assert all(r[7] for r in rows[:-1])  # the test ratings are the ones analysed
    assert np.all([r[1] == 1 for r in rows])


def test_raw_rows_give_timestamps_as_isoformat_of_the_stored_values() -> None:
    # given ratings submitted through the real path: no client time, a whole-second one, and one
    # with microseconds and another time zone (the database formats them for the export)
    import datetime as dt
    import uuid

    from ratings.services import rating_submit

    study = make_study(tests=3, prompts=3, stimuli_per_session=3)
    session = enter(study)
    RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.RATING)
    plus2 = dt.timezone(dt.timedelta(hours=2))
    client_times = [
        None,
        dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        dt.datetime(2026, 7, 8, 9, 10, 11, 120, tzinfo=plus2),
    ]
    for trial, client_time in zip(session.trials.order_by("index"), client_times, strict=True):
        rating_submit(
            token=session.token,
            trial_index=trial.index,
            scores=answer_all(study, 3),
            idempotency_key=uuid.uuid4(),
            client_time=client_time,
        )
    # one stored server time without microseconds, which isoformat leaves out
    first = Rating.objects.filter(session=session).order_by("id").first()
    assert first is not None
    Rating.objects.filter(pk=first.pk).update(server_time=dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC))

    # when
    rows = list(loaders.raw_rating_rows(study))

    # then each cell is what datetime.isoformat() gives for the value Django reads back
    stored = list(
        Rating.objects.filter(session=session).order_by("id").values_list("client_time", "server_time")
    )
    assert len(rows) == len(stored) == 3 * 3
    expected = [(c.isoformat() if c else None, s.isoformat()) for c, s in stored]
    assert [(r[13], r[14]) for r in rows] == expected
    assert rows[0][14] == "2026-01-01T12:00:00+00:00"
    assert {r[13] for r in rows} == {None, "2026-01-02T03:04:05+00:00", "2026-07-08T07:10:11.000120+00:00"}
