"""Annotation answers (issue 17): stored with the ratings, under their idempotency key, validated,
required on every trial of a study with annotation tasks; nothing stored on any error."""

import json
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from analysis.stats.rich import tokenize_prompt
from experiments.models import Study
from experiments.services import study_update
from ratings.exceptions import IdempotencyKeyReused, InvalidAnswers, TrialAlreadyAnswered
from ratings.models import Annotation, Rating, RatingSession, Trial
from ratings.services import rating_submit
from tests.ratings.conftest import answer_all, enter, make_study

pytestmark = pytest.mark.django_db

TASKS = [
    {"key": "artefacts", "kind": "regions", "label": "Broken areas", "instructions": "Click them."},
    {"key": "missing", "kind": "words", "label": "Missing words", "instructions": ""},
]
MARKS: dict[str, Any] = {
    "artefacts": {"points": [[0.25, 0.5], [1, 0]], "nothing": False},
    "missing": {"tokens": [1], "nothing": False},
}
NOTHING: dict[str, Any] = {
    "artefacts": {"points": [], "nothing": True},
    "missing": {"tokens": [], "nothing": True},
}


def tasked_study(**fields: Any) -> Study:
    """An open study with a regions and a words task, configured through the service."""
    study = make_study(**fields)
    return study_update(study=study, fields={}, annotation_tasks=TASKS)


def rating_ready(study: Study, status: str = RatingSession.Status.RATING) -> RatingSession:
    session = enter(study)
    RatingSession.objects.filter(pk=session.pk).update(status=status)
    session.refresh_from_db()
    return session


def submit(
    session: RatingSession, index: int, annotations: Any, key: uuid.UUID | None = None, scores: Any = None
) -> Any:
    return rating_submit(
        token=session.token,
        trial_index=index,
        scores=scores or answer_all(session.study, 4),
        annotations=annotations,
        idempotency_key=key or uuid.uuid4(),
    )


def stored(session: RatingSession) -> list[tuple[int, str, str, bool, Any, Any]]:
    return list(
        Annotation.objects.filter(session=session)
        .order_by("trial__index", "task__order")
        .values_list("trial__index", "task__key", "kind", "nothing", "points", "tokens")
    )


def assert_nothing_stored(session: RatingSession) -> None:
    assert not Annotation.objects.filter(session=session).exists()
    assert not Rating.objects.filter(session=session).exists()
    session.refresh_from_db()
    assert session.current_index == 0
    assert Trial.objects.get(session=session, index=0).answered_at is None


def test_annotations_are_stored_with_the_ratings_of_the_trial() -> None:
    # given
    study = tasked_study()
    session = rating_ready(study)
    trial = session.trials.get(index=0)

    # when
    result = submit(session, 0, MARKS)
    submit(session, 1, NOTHING)

    # then
    assert result.created
    assert stored(session) == [
        (0, "artefacts", "test", False, [[0.25, 0.5], [1.0, 0.0]], []),
        (0, "missing", "test", False, [], [1]),
        (1, "artefacts", "test", True, [], []),
        (1, "missing", "test", True, [], []),
    ]
    row = Annotation.objects.get(trial=trial, task__key="artefacts")
    assert (row.stimulus_id, row.session_id) == (trial.stimulus_id, session.pk)
    assert row.answered_at == Trial.objects.get(pk=trial.pk).answered_at
    assert Rating.objects.filter(session=session).count() == 6


def test_word_marks_are_stored_sorted_as_indices_into_the_shown_prompt() -> None:
    study = tasked_study()
    session = rating_ready(study)
    prompt = session.trials.get(index=0).prompt_shown

    submit(session, 0, {**MARKS, "missing": {"tokens": [1, 0], "nothing": False}})

    assert Annotation.objects.get(task__key="missing").tokens == [0, 1]
    assert len(tokenize_prompt(prompt)) == 2  # "prompt N": both words marked


def test_the_same_key_and_annotations_again_is_a_replay_that_stores_nothing_more() -> None:
    study = tasked_study()
    session = rating_ready(study)
    key = uuid.uuid4()
    submit(session, 0, MARKS, key)

    again = submit(session, 0, json.loads(json.dumps(MARKS)), key)

    assert not again.created
    assert again.next_index == 1
    assert Annotation.objects.filter(session=session).count() == 2
    assert Rating.objects.filter(session=session).count() == 3


@pytest.mark.parametrize(
    "other",
    [
        {**MARKS, "artefacts": {"points": [[0.25, 0.5]], "nothing": False}},  # a point fewer
        {**MARKS, "artefacts": {"points": [[0.25, 0.51], [1, 0]], "nothing": False}},  # moved
        {**MARKS, "missing": {"tokens": [0], "nothing": False}},  # another word
        NOTHING,
    ],
)
def test_the_same_key_with_other_annotations_is_refused_and_keeps_the_first(other: Any) -> None:
    study = tasked_study()
    session = rating_ready(study)
    key = uuid.uuid4()
    submit(session, 0, MARKS, key)

    with pytest.raises(IdempotencyKeyReused):
        submit(session, 0, other, key)

    assert stored(session) == [
        (0, "artefacts", "test", False, [[0.25, 0.5], [1.0, 0.0]], []),
        (0, "missing", "test", False, [], [1]),
    ]


def test_another_key_for_an_answered_trial_is_refused_and_keeps_the_first_annotations() -> None:
    study = tasked_study()
    session = rating_ready(study)
    submit(session, 0, MARKS)

    with pytest.raises(TrialAlreadyAnswered):
        submit(session, 0, NOTHING)

    assert Annotation.objects.filter(session=session, nothing=True).count() == 0


def test_a_key_used_for_another_trial_stores_no_annotations_for_the_second() -> None:
    study = tasked_study()
    session = rating_ready(study)
    key = uuid.uuid4()
    submit(session, 0, MARKS, key)

    with pytest.raises(IdempotencyKeyReused):
        submit(session, 1, MARKS, key)

    assert not Annotation.objects.filter(session=session, trial__index=1).exists()
    session.refresh_from_db()
    assert session.current_index == 1


@pytest.mark.parametrize(
    "annotations",
    [
        None,  # required when the study has tasks
        {},
        {"artefacts": MARKS["artefacts"]},  # a task missing
        {**MARKS, "beauty": {"points": [], "nothing": True}},  # an unknown task
        [MARKS["artefacts"], MARKS["missing"]],
        {**MARKS, "artefacts": {"points": [], "nothing": False}},  # silence is not an answer
        {**MARKS, "artefacts": {"points": []}},
        {**MARKS, "artefacts": {"points": [[0.5, 0.5]], "nothing": True}},  # both
        {**MARKS, "artefacts": {"points": [[1.01, 0.5]], "nothing": False}},  # off the image
        {**MARKS, "artefacts": {"points": [[0.5, -0.1]], "nothing": False}},
        {**MARKS, "artefacts": {"points": [[0.5]], "nothing": False}},
        {**MARKS, "artefacts": {"points": [[0.5, "0.5"]], "nothing": False}},
        {**MARKS, "artefacts": {"points": [[0.5, True]], "nothing": False}},
        {**MARKS, "artefacts": {"points": [[0.5, 0.5]] * 21, "nothing": False}},  # over 20
        {**MARKS, "artefacts": {"points": [[0.5, 0.5]], "nothing": "no"}},
        {**MARKS, "artefacts": {"points": [[0.5, 0.5]], "nothing": False, "boxes": []}},
        {**MARKS, "artefacts": {"tokens": [0], "nothing": False}},  # the other kind's shape
        {**MARKS, "missing": {"tokens": [2], "nothing": False}},  # "prompt N" has 2 words
        {**MARKS, "missing": {"tokens": [-1], "nothing": False}},
        {**MARKS, "missing": {"tokens": [0, 0], "nothing": False}},
        {**MARKS, "missing": {"tokens": [0.5], "nothing": False}},
        {**MARKS, "missing": {"tokens": ["0"], "nothing": False}},
        {**MARKS, "missing": {"tokens": [], "nothing": False}},
        {**MARKS, "missing": {"tokens": [0], "nothing": True}},
        {**MARKS, "missing": "all present"},
    ],
)
def test_annotations_that_do_not_fit_their_task_are_refused_and_nothing_is_stored(annotations: Any) -> None:
    study = tasked_study()
    session = rating_ready(study)

    with pytest.raises(InvalidAnswers):
        submit(session, 0, annotations)

    assert_nothing_stored(session)


def test_a_study_without_tasks_refuses_annotations_and_takes_none() -> None:
    study = make_study()
    session = rating_ready(study)

    with pytest.raises(InvalidAnswers):
        submit(session, 0, MARKS)
    assert_nothing_stored(session)

    assert submit(session, 0, None).created
    assert submit(session, 1, {}).created
    assert not Annotation.objects.exists()


def test_training_trials_need_annotations_too_and_store_them_as_training() -> None:
    study = tasked_study(training=1, stimuli_per_session=2)
    session = rating_ready(study, RatingSession.Status.TRAINING)

    with pytest.raises(InvalidAnswers):
        submit(session, 0, None)
    submit(session, 0, NOTHING)

    assert set(Annotation.objects.filter(session=session).values_list("kind", flat=True)) == {"training"}


def test_the_rating_endpoint_takes_annotations_and_answers_a_bad_one_with_a_400_in_words() -> None:
    # given
    study = tasked_study()
    session = rating_ready(study)
    client = Client()
    url = reverse("ratings-api:rating-submit", kwargs={"token": session.token})
    body = {"index": 0, "scores": answer_all(study, 3), "key": str(uuid.uuid4())}

    # when
    refused = client.post(
        url,
        {**body, "annotations": {**MARKS, "missing": {"tokens": [7], "nothing": False}}},
        content_type="application/json",
    )
    created = client.post(url, {**body, "annotations": MARKS}, content_type="application/json")
    replayed = client.post(url, {**body, "annotations": MARKS}, content_type="application/json")
    reused = client.post(url, {**body, "annotations": NOTHING}, content_type="application/json")

    # then
    assert refused.status_code == 400
    assert refused.json()["code"] == "invalid_answers"
    assert "word positions of the prompt, 0 to 1" in refused.json()["detail"]
    assert (created.status_code, replayed.status_code, reused.status_code) == (201, 200, 409)
    assert reused.json()["code"] == "key_reused"
    assert len(stored(session)) == 2


def test_the_trial_payload_carries_the_prompt_tokens() -> None:
    study = tasked_study()
    session = rating_ready(study)

    result = submit(session, 0, MARKS)

    assert result.next_trial is not None
    assert result.next_trial["tokens"] == tokenize_prompt(result.next_trial["prompt"])


@pytest.mark.postgresql  # the hot path's hand-written SQL; SQLite takes the ORM twin
def test_annotations_add_no_round_trip_to_a_submission(django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    study = tasked_study()
    session = rating_ready(study)
    scores = answer_all(study, 4)
    submit(session, 0, MARKS)

    with django_assert_max_num_queries(4) as captured:
        submit(session, 1, MARKS, scores=scores)

    # the read, then one guarded statement for the move, ratings, annotations and the trial
    statements = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 2, statements
    assert "INSERT INTO ratings_annotation" in statements[1]
    assert Annotation.objects.filter(session=session, trial__index=1).count() == 2
