"""The experiments API: studies, status changes, stimuli, imports, dashboard and the schema."""

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from experiments.models import StimulusImport, Study
from tests.experiments.builders import add_ratings, manifest_zip, upload
from tests.factories import StimulusFactory, StudyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(researcher: Any) -> APIClient:
    client = APIClient()
    token = Token.objects.create(user=researcher)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def test_create_a_study_with_a_scale_and_perspectives_by_token(api: APIClient, researcher: Any) -> None:
    response = api.post(
        reverse("experiments-api:study-list"),
        {
            "title": "Slider study",
            "scale_kind": "continuous",
            "scale_min": 0,
            "scale_max": 100,
            "scale_labels": ["worst", "best"],
            "perspectives": [{"key": "overall", "label": "Overall", "question": "How good overall?"}],
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["title"], body["owner"], body["status"], body["scale_kind"]) == (
        "Slider study",
        "researcher",
        "draft",
        "continuous",
    )
    assert [p["key"] for p in body["perspectives"]] == ["overall"]
    assert Study.objects.get(slug=body["slug"]).owner == researcher


def test_patch_refuses_a_design_change_with_409_once_rated(api: APIClient, researcher: Any) -> None:
    study = StudyFactory(owner=researcher)
    add_ratings(study, StimulusFactory(study=study), 1)
    url = reverse("experiments-api:study-detail", args=[study.slug])

    refused = api.patch(url, {"min_viewing_ms": 0}, format="json")
    allowed = api.patch(url, {"description": "Clearer words"}, format="json")

    assert refused.status_code == 409
    assert refused.json()["code"] == "trial_design_locked"
    assert allowed.status_code == 200
    assert allowed.json()["description"] == "Clearer words"


def test_patch_rejects_bad_input_with_400(api: APIClient, researcher: Any) -> None:
    study = StudyFactory(owner=researcher)
    url = reverse("experiments-api:study-detail", args=[study.slug])

    assert api.patch(url, {"allocation_mode": "random"}, format="json").status_code == 400
    assert api.patch(url, {"perspectives": []}, format="json").status_code == 400
    assert api.patch(url, {"scale_max": 0}, format="json").status_code == 400
    study.refresh_from_db()
    assert (study.allocation_mode, study.scale_max, study.perspectives.count()) == ("balanced", 5, 3)


def test_precision_settings_by_api(api: APIClient, researcher: Any) -> None:
    study = StudyFactory(owner=researcher)
    url = reverse("experiments-api:study-detail", args=[study.slug])
    keys = list(study.perspectives.order_by("order").values_list("key", "label", "question"))
    perspectives = [{"key": k, "label": lab, "question": q, "target_half_width": 0.25} for k, lab, q in keys]

    missing = api.patch(url, {"allocation_mode": "precision"}, format="json")
    bounds = api.patch(
        url,
        {"precision_min_ratings": 8, "precision_max_ratings": 6, "perspectives": perspectives},
        format="json",
    )
    saved = api.patch(
        url,
        {"allocation_mode": "precision", "precision_max_ratings": 25, "perspectives": perspectives},
        format="json",
    )

    assert missing.status_code == 400
    assert "target half-width" in str(missing.json())
    assert bounds.status_code == 400
    assert "at least the minimum" in str(bounds.json())
    assert saved.status_code == 200, saved.json()
    body = saved.json()
    assert (body["allocation_mode"], body["precision_max_ratings"]) == ("precision", 25)
    assert [p["target_half_width"] for p in body["perspectives"]] == [0.25, 0.25, 0.25]


def test_launch_pause_close_by_api(api: APIClient, researcher: Any) -> None:
    study = StudyFactory(owner=researcher)
    launch = reverse("experiments-api:study-launch", args=[study.slug])

    assert api.post(launch).status_code == 400  # no stimuli yet
    StimulusFactory(study=study)
    assert api.post(launch).json()["status"] == "open"
    assert api.post(reverse("experiments-api:study-pause", args=[study.slug])).json()["status"] == "paused"
    assert api.post(reverse("experiments-api:study-close", args=[study.slug])).json()["status"] == "closed"
    assert api.post(launch).status_code == 409


def test_stimuli_list_and_detail(api: APIClient, researcher: Any) -> None:
    study = StudyFactory(owner=researcher)
    first = StimulusFactory(study=study, position=0)
    StimulusFactory(study=study, position=1, role="training")

    listed = api.get(reverse("experiments-api:stimulus-list", args=[study.slug]), {"role": "test"}).json()
    detail = api.get(reverse("experiments-api:stimulus-detail", args=[study.slug, first.pk])).json()

    assert listed["count"] == 1
    assert listed["results"][0]["id"] == first.pk
    assert detail["image_url"] == first.image_url
    assert detail["sha256"] == first.sha256
    assert api.get(reverse("experiments-api:stimulus-detail", args=[study.slug, 999999])).status_code == 404


def test_import_upload_is_queued_after_commit_and_reports_its_status(
    api: APIClient, researcher: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from experiments.tasks import stimulus_import_execute_task

    study = StudyFactory(owner=researcher)
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(
            reverse("experiments-api:import-create", args=[study.slug]),
            {"archive": upload(manifest_zip(2)), "kind": "manifest"},
            format="multipart",
        )
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    assert len(callbacks) == 1

    stimulus_import_execute_task(response.json()["id"])  # what the worker does
    stimulus_import_execute_task(response.json()["id"])  # a second delivery changes nothing

    status = api.get(
        reverse("experiments-api:import-detail", args=[study.slug, response.json()["id"]])
    ).json()
    assert (status["status"], status["imported_count"], status["problems"]) == ("done", 2, [])
    assert study.stimuli.count() == 2


def test_failed_import_status_lists_problems_with_rows(api: APIClient, researcher: Any) -> None:
    from experiments.tasks import stimulus_import_execute_task

    study = StudyFactory(owner=researcher)
    response = api.post(
        reverse("experiments-api:import-create", args=[study.slug]),
        {"archive": upload(manifest_zip(2, extra={"manifest.csv": b"file,prompt,model\nimages/0.png,,m\n"}))},
        format="multipart",
    )
    stimulus_import_execute_task(response.json()["id"])

    status = api.get(
        reverse("experiments-api:import-detail", args=[study.slug, response.json()["id"]])
    ).json()

    assert status["status"] == "failed"
    assert {"message": "the prompt is empty", "file": "images/0.png", "row": 2} in status["problems"]
    assert {
        "message": "this image has no row in the manifest",
        "file": "images/1.png",
        "row": None,
    } in status["problems"]
    assert StimulusImport.objects.get().imported_count == 0
    assert study.stimuli.count() == 0


def test_import_upload_requires_a_file(api: APIClient, researcher: Any) -> None:
    study = StudyFactory(owner=researcher)

    response = api.post(reverse("experiments-api:import-create", args=[study.slug]), {}, format="multipart")

    assert response.status_code == 400
    assert "archive" in response.json()


def test_dashboard_json(api: APIClient, researcher: Any) -> None:
    study = StudyFactory(owner=researcher, target_ratings=2)
    add_ratings(study, StimulusFactory(study=study), 1)

    body = api.get(reverse("experiments-api:study-dashboard", args=[study.slug])).json()

    assert (body["valid_ratings"], body["ratings_needed"], body["participants"]) == (1, 1, 1)
    assert [b["stimuli"] for b in body["histogram"]] == [0, 1, 0]


def test_openapi_schema_generates_without_warnings() -> None:
    out = io.StringIO()

    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)

    assert "/api/studies/{slug}/imports/" in out.getvalue()


def test_schema_and_docs_pages_are_served(client: Any, researcher: Any) -> None:
    client.force_login(researcher)

    assert client.get(reverse("schema")).status_code == 200
    assert client.get(reverse("api-docs")).status_code == 200


def test_create_with_a_bad_scale_is_400_and_leaves_no_study_behind(api: APIClient, researcher: Any) -> None:
    response = api.post(
        reverse("experiments-api:study-list"),
        {"title": "Upside down", "scale_min": 5, "scale_max": 1},
        format="json",
    )

    assert response.status_code == 400, response.json()
    assert "maximum must be above the minimum" in str(response.json())
    assert not Study.objects.exists()


def test_study_list_takes_the_same_queries_for_one_study_or_many(
    api: APIClient, researcher: Any, django_assert_max_num_queries: Any
) -> None:
    # given: studies with collaborators and perspectives (the preset's three)
    url = reverse("experiments-api:study-list")
    StudyFactory(owner=researcher).collaborators.add(StudyFactory().owner)

    # when / then: token, count, the studies with their owners, collaborators, viewers, perspectives
    # and annotation tasks
    with django_assert_max_num_queries(7) as one:
        assert api.get(url).json()["count"] == 1
    for _ in range(6):
        StudyFactory(owner=researcher).collaborators.add(StudyFactory().owner)
    with django_assert_max_num_queries(7) as many:
        body = api.get(url).json()["results"]

    assert len(body) == 7
    assert all(len(s["perspectives"]) == 3 and len(s["collaborators"]) == 1 for s in body)
    assert len(many.captured_queries) == len(one.captured_queries)
