"""Annotation tasks (issue 17): configured like perspectives, by service, API and settings page;
locked once the study has ratings (wording may still change)."""

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from experiments.exceptions import StudyError, TrialDesignLocked
from experiments.models import AnnotationTask, Study
from experiments.services import study_duplicate, study_update
from tests.experiments.builders import add_ratings
from tests.experiments.test_views import edit_payload
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


def task_forms(*tasks: dict[str, Any], initial: int = 0) -> dict[str, Any]:
    data: dict[str, Any] = {
        "a-TOTAL_FORMS": len(tasks),
        "a-INITIAL_FORMS": initial,
        "a-MIN_NUM_FORMS": 0,
        "a-MAX_NUM_FORMS": 2,
    }
    for i, task in enumerate(tasks):
        data.update({f"a-{i}-{name}": value for name, value in task.items()})
    return data


def test_the_settings_page_adds_and_removes_tasks(client: Client, researcher: Any) -> None:
    # given
    client.force_login(researcher)
    study = StudyFactory(owner=researcher)
    url = reverse("experiments:study-edit", args=[study.slug])

    # when
    page = client.get(url)
    added = client.post(
        url, edit_payload(study, **task_forms({**WORDS, "ORDER": 2}, {**REGIONS, "ORDER": 1}))
    )
    tasks_after_add = tasks_of(study)
    kept = client.post(url, edit_payload(study))  # a post without the task forms keeps them
    tasks_after_keep = tasks_of(study)
    removed = client.post(
        url, edit_payload(study, **task_forms({**REGIONS, "ORDER": 1}, {**WORDS, "DELETE": "on"}, initial=2))
    )

    # then
    assert page.status_code == 200
    assert 'id="add-task"' in page.content.decode()
    assert (added.status_code, kept.status_code, removed.status_code) == (302, 302, 302)
    assert [t[1] for t in tasks_after_add] == ["artefacts", "missing"]
    assert tasks_after_keep == tasks_after_add
    assert [t[1] for t in tasks_of(study)] == ["artefacts"]


def test_the_settings_page_refuses_two_tasks_of_a_kind_in_words(client: Client, researcher: Any) -> None:
    client.force_login(researcher)
    study = StudyFactory(owner=researcher)
    url = reverse("experiments:study-edit", args=[study.slug])

    response = client.post(url, edit_payload(study, **task_forms(REGIONS, {**WORDS, "kind": "regions"})))

    assert response.status_code == 400
    assert "at most one annotation task of each kind" in response.content.decode()
    assert not AnnotationTask.objects.filter(study=study).exists()


def test_the_settings_page_locks_the_task_list_of_a_rated_study(client: Client, researcher: Any) -> None:
    client.force_login(researcher)
    study = StudyFactory(owner=researcher)
    study_update(study=study, fields={}, annotation_tasks=[REGIONS])
    add_ratings(study, StimulusFactory(study=study), 1)
    url = reverse("experiments:study-edit", args=[study.slug])

    page = client.get(url).content.decode()
    # a disabled field keeps its initial value whatever is posted: only the wording changes
    response = client.post(
        url,
        edit_payload(study, **task_forms({**REGIONS, "kind": "words", "label": "Flaws"}, initial=1)),
    )

    assert 'id="add-task"' not in page
    assert re.search(r'<select name="a-0-kind"[^>]*disabled', page)
    assert response.status_code == 302
    assert tasks_of(study) == [(1, "artefacts", "regions", "Flaws", "Click them.")]
