"""Annotation tasks (issue 17): configured like perspectives, by service, API and settings page;
locked once the study has ratings (wording may still change)."""

from typing import Any

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from experiments.exceptions import StudyError, TrialDesignLocked
from experiments.models import AnnotationTask, Study
from experiments.services import study_duplicate, study_update
from tests.experiments.builders import add_ratings
from tests.factories import StimulusFactory, StudyFactory

pytestmark = pytest.mark.django_db

REGIONS = {"key": "artefacts", "kind": "regions", "label": "Broken areas", "instructions": "Click them."}
WORDS = {"key": "missing", "kind": "words", "label": "Missing words", "instructions": ""}


def tasks_of(study: Study) -> list[tuple[int, str, str, str, str]]:
    return list(
        AnnotationTask.objects.filter(study=study)
        .order_by("order")
        .values_list("order", "key", "kind", "label", "instructions")
    )


def test_tasks_can_be_added_reordered_and_removed_without_ratings() -> None:
    study = StudyFactory()

    study_update(study=study, fields={}, annotation_tasks=[REGIONS, WORDS])
    added = tasks_of(study)
    study_update(study=study, fields={}, annotation_tasks=[WORDS, REGIONS])
    reordered = tasks_of(study)
    study_update(study=study, fields={}, annotation_tasks=[WORDS])
    removed = tasks_of(study)
    study_update(study=study, fields={"title": "Other title"})  # None keeps the tasks

    assert added == [
        (1, "artefacts", "regions", "Broken areas", "Click them."),
        (2, "missing", "words", "Missing words", ""),
    ]
    assert [t[1] for t in reordered] == ["missing", "artefacts"]
    assert removed == [(1, "missing", "words", "Missing words", "")]
    assert tasks_of(study) == removed


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        ([REGIONS, {**WORDS, "kind": "regions"}], "at most one annotation task of each kind"),
        ([REGIONS, {**WORDS, "key": "artefacts"}], "keys must be unique"),
        ([{**REGIONS, "kind": "boxes"}], "Unknown annotation task kind"),
        ([{**REGIONS, "key": "not a slug"}], "Annotation task not a slug"),
        ([{**REGIONS, "label": ""}], "Annotation task artefacts"),
    ],
)
def test_bad_tasks_are_refused_in_words_and_change_nothing(tasks: list[dict[str, Any]], message: str) -> None:
    study = StudyFactory()
    study_update(study=study, fields={}, annotation_tasks=[WORDS])

    with pytest.raises(StudyError, match=message):
        study_update(study=study, fields={"title": "Changed"}, annotation_tasks=tasks)

    study.refresh_from_db()
    assert study.title != "Changed"
    assert [t[1] for t in tasks_of(study)] == ["missing"]


def test_the_task_list_is_locked_once_rated_but_its_wording_may_change() -> None:
    study = StudyFactory()
    study_update(study=study, fields={}, annotation_tasks=[REGIONS])
    add_ratings(study, StimulusFactory(study=study), 1)

    with pytest.raises(TrialDesignLocked, match="annotation tasks"):
        study_update(study=study, fields={}, annotation_tasks=[REGIONS, WORDS])
    with pytest.raises(TrialDesignLocked, match="annotation tasks"):
        study_update(study=study, fields={}, annotation_tasks=[])
    study_update(
        study=study, fields={}, annotation_tasks=[{**REGIONS, "label": "Flaws", "instructions": "Tap"}]
    )

    assert tasks_of(study) == [(1, "artefacts", "regions", "Flaws", "Tap")]


def test_a_duplicate_copies_the_tasks(researcher: Any) -> None:
    study = StudyFactory()
    study_update(study=study, fields={}, annotation_tasks=[WORDS, REGIONS])

    copy = study_duplicate(study=study, owner=researcher)

    assert tasks_of(copy) == tasks_of(study)


@pytest.fixture
def api(researcher: Any) -> APIClient:
    client = APIClient()
    token = Token.objects.create(user=researcher)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def test_the_api_creates_shows_and_replaces_tasks_and_refuses_bad_ones(
    api: APIClient, researcher: Any
) -> None:
    # given
    created = api.post(
        reverse("experiments-api:study-list"),
        {"title": "Rich", "annotation_tasks": [REGIONS, WORDS]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    url = reverse("experiments-api:study-detail", args=[created.json()["slug"]])

    # when
    unknown_kind = api.patch(url, {"annotation_tasks": [{**REGIONS, "kind": "boxes"}]}, format="json")
    two_of_a_kind = api.patch(
        url, {"annotation_tasks": [REGIONS, {**WORDS, "kind": "regions"}]}, format="json"
    )
    replaced = api.patch(url, {"annotation_tasks": [WORDS]}, format="json")

    # then
    assert created.json()["annotation_tasks"] == [REGIONS, WORDS]
    assert unknown_kind.status_code == 400
    assert "annotation_tasks" in unknown_kind.json()
    assert two_of_a_kind.status_code == 400
    assert "at most one annotation task of each kind" in str(two_of_a_kind.json())
    assert replaced.status_code == 200
    assert api.get(url).json()["annotation_tasks"] == [WORDS]


def test_the_api_refuses_a_task_change_of_a_rated_study_with_409(api: APIClient, researcher: Any) -> None:
    study = StudyFactory(owner=researcher)
    add_ratings(study, StimulusFactory(study=study), 1)
    url = reverse("experiments-api:study-detail", args=[study.slug])

    refused = api.patch(url, {"annotation_tasks": [REGIONS]}, format="json")

    assert refused.status_code == 409
    assert refused.json()["code"] == "trial_design_locked"
    assert not AnnotationTask.objects.filter(study=study).exists()
