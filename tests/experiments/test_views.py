"""The researcher's pages, rendered and posted through the Django test client."""

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from experiments.models import StimulusImport, Study
from tests.experiments.builders import add_ratings, manifest_zip, upload
from tests.factories import StimulusFactory, StudyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client: Client, researcher: Any) -> Client:
    client.force_login(researcher)
    return client


def edit_payload(study: Study, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": study.title,
        "description": study.description,
        "instructions": study.instructions,
        "consent_text": study.consent_text,
        "target_ratings": study.target_ratings,
        "stimuli_per_session": study.stimuli_per_session,
        "break_every": study.break_every,
        "min_viewing_ms": study.min_viewing_ms,
        "allocation_mode": study.allocation_mode,
        "precision_min_ratings": study.precision_min_ratings,
        "precision_max_ratings": study.precision_max_ratings,
        "training_count": study.training_count,
        "session_expiry_minutes": study.session_expiry_minutes,
        "scale_kind": study.scale_kind,
        "scale_min": study.scale_min,
        "scale_max": study.scale_max,
        "scale_labels": "\n".join(study.scale_labels),
        "gold_per_session": 0,
        "repeats_per_session": 0,
        "traps_per_session": 0,
        "check_straightlining": "on",
        "qc_action": study.qc_action,
        "panel": study.panel,
        "completion_code": "",
        "screenout_code": "",
        "completion_url": "",
        "device_policy": study.device_policy,
        "languages": study.languages,
        "translations": json.dumps(study.translations),
    }
    perspectives = list(study.perspectives.order_by("order"))
    data.update(
        {
            "p-TOTAL_FORMS": len(perspectives) + 1,
            "p-INITIAL_FORMS": len(perspectives),
            "p-MIN_NUM_FORMS": 0,
            "p-MAX_NUM_FORMS": 1000,
            "q-TOTAL_FORMS": 0,
            "q-INITIAL_FORMS": 0,
            "q-MIN_NUM_FORMS": 0,
            "q-MAX_NUM_FORMS": 1000,
        }
    )
    for i, p in enumerate(perspectives):
        data.update(
            {
                f"p-{i}-key": p.key,
                f"p-{i}-label": p.label,
                f"p-{i}-question": p.question,
                f"p-{i}-level_descriptions": "\n".join(p.level_descriptions),
                f"p-{i}-ORDER": i + 1,
            }
        )
    data.update(changes)
    return data


def test_create_a_study_in_the_browser_form(logged_in: Client, researcher: Any) -> None:
    response = logged_in.post(reverse("experiments:study-create"), {"title": "My first study"})

    study = Study.objects.get(title="My first study")
    assert response.status_code == 302
    assert response["Location"] == reverse("experiments:study-edit", args=[study.slug])
    assert study.owner == researcher
    assert study.perspectives.count() == 3


def test_edit_settings_and_add_a_perspective(logged_in: Client, researcher: Any) -> None:
    study = StudyFactory(owner=researcher)
    payload = edit_payload(
        study,
        stimuli_per_session=30,
        **{
            "p-3-key": "aesthetics",
            "p-3-label": "Aesthetics",
            "p-3-question": "How pleasing?",
            "p-3-ORDER": 4,
            "p-1-DELETE": "on",
        },
    )

    response = logged_in.post(reverse("experiments:study-edit", args=[study.slug]), payload)

    assert response.status_code == 302, response.content.decode()[:3000]
    study.refresh_from_db()
    assert study.stimuli_per_session == 30
    assert [p.key for p in study.perspectives.order_by("order")] == [
        "quality",
        "correspondence",
        "aesthetics",
    ]


def test_precision_mode_in_the_settings_form_needs_a_target_on_every_perspective(
    logged_in: Client, researcher: Any
) -> None:
    study = StudyFactory(owner=researcher)
    url = reverse("experiments:study-edit", args=[study.slug])
    precise = {"allocation_mode": "precision", "precision_min_ratings": 4, "precision_max_ratings": 30}

    refused = logged_in.post(url, edit_payload(study, **precise, **{"p-0-target_half_width": "0.3"}))
    targets = {f"p-{i}-target_half_width": "0.3" for i in range(3)}
    saved = logged_in.post(url, edit_payload(study, **precise, **targets))

    assert refused.status_code == 400
    assert "needs a target half-width on every perspective" in refused.content.decode()
    assert saved.status_code == 302
    study.refresh_from_db()
    assert (study.allocation_mode, study.precision_min_ratings, study.precision_max_ratings) == (
        "precision",
        4,
        30,
    )
    assert list(study.perspectives.values_list("target_half_width", flat=True)) == [0.3, 0.3, 0.3]


def test_edit_of_a_rated_study_shows_design_fields_disabled_and_keeps_the_design(
    logged_in: Client, researcher: Any
) -> None:
    study = StudyFactory(owner=researcher)
    add_ratings(study, StimulusFactory(study=study), 1)
    url = reverse("experiments:study-edit", args=[study.slug])

    page = logged_in.get(url).content.decode()
    response = logged_in.post(url, edit_payload(study, scale_max=7, title="Renamed"))

    assert 'name="scale_max" value="5" required disabled' in page or (
        'name="scale_max"' in page and "disabled" in page.split('name="scale_max"')[1].split(">")[0]
    )
    assert "Locked: the study has ratings" in page
    assert response.status_code == 302
    study.refresh_from_db()
    assert study.scale_max == 5
    assert study.title == "Renamed"


def test_pages_render_for_the_demo_study(logged_in: Client, demo_study: Study) -> None:
    for name in [
        "study-detail",
        "study-edit",
        "stimulus-list",
        "study-preview",
        "import-create",
        "study-dashboard",
    ]:
        response = logged_in.get(reverse(f"experiments:{name}", args=[demo_study.slug]))
        assert response.status_code == 200, name
        assert demo_study.title in response.content.decode()
    gallery = logged_in.get(
        reverse("experiments:stimulus-list", args=[demo_study.slug]), {"role": "training"}
    ).content.decode()
    assert gallery.count('class="tile"') == 3
    preview = logged_in.get(reverse("experiments:study-preview", args=[demo_study.slug])).content.decode()
    first = demo_study.stimuli.order_by("position").first()
    assert first.image_url in preview
    assert first.prompt in preview


def test_upload_page_answers_the_script_with_json_and_the_status_url(
    logged_in: Client, researcher: Any, django_capture_on_commit_callbacks: Any
) -> None:
    study = StudyFactory(owner=researcher)
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post(
            reverse("experiments:import-create", args=[study.slug]),
            {"kind": "manifest", "archive": upload(manifest_zip(2))},
            HTTP_ACCEPT="application/json",
        )

    assert response.status_code == 202
    status = logged_in.get(response.json()["status_url"]).json()
    # CELERY_TASK_ALWAYS_EAGER is off: the task waits for a worker
    assert status["status"] == "pending"
    assert not status["finished"]
    assert StimulusImport.objects.get().original_name == "stimuli.zip"


def test_upload_without_a_file_is_a_400_with_the_error(logged_in: Client, researcher: Any) -> None:
    study = StudyFactory(owner=researcher)

    response = logged_in.post(
        reverse("experiments:import-create", args=[study.slug]),
        {"kind": "manifest"},
        HTTP_ACCEPT="application/json",
    )

    assert response.status_code == 400
    assert response.json()["errors"]


def test_launch_button_opens_the_study_and_refusals_are_shown(logged_in: Client, researcher: Any) -> None:
    study = StudyFactory(owner=researcher)
    url = reverse("experiments:study-launch", args=[study.slug])

    refused = logged_in.post(url, {"confirm": "on"}, follow=True)
    StimulusFactory(study=study)
    logged_in.post(url, {"confirm": "on"})

    assert "Import test stimuli before launching" in refused.content.decode()
    study.refresh_from_db()
    assert study.status == Study.Status.OPEN


def test_dashboard_json_carries_histogram_bars(logged_in: Client, researcher: Any) -> None:
    study = StudyFactory(owner=researcher, target_ratings=2)
    add_ratings(study, StimulusFactory(study=study), 2)

    data = json.loads(logged_in.get(reverse("experiments:study-dashboard-json", args=[study.slug])).content)

    assert [b["stimuli"] for b in data["bars"]] == [0, 0, 1]
    assert data["bars"][2]["h"] == 160
    assert data["eta_text"] == "target reached"


@pytest.fixture
def broker_unreachable(settings: Any) -> Any:
    """This process publishes to a port where no broker listens (a real refused connection)."""
    from tests.chaos.test_redis_outage import free_port, point_celery_at

    original = settings.CELERY_BROKER_URL
    point_celery_at(f"redis://127.0.0.1:{free_port()}/0")
    yield
    point_celery_at(original)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("as_json", [False, True], ids=["form", "upload-script"])
def test_an_upload_while_the_job_queue_is_down_answers_503_and_stays_pending(
    client: Client, researcher: Any, broker_unreachable: Any, as_json: bool
) -> None:
    # given a researcher's draft study, and no broker
    client.force_login(researcher)
    study = StudyFactory(owner=researcher)

    # when they upload an archive
    response = client.post(
        reverse("experiments:import-create", args=[study.slug]),
        {"archive": upload(manifest_zip(2)), "kind": "manifest"},
        headers={"Accept": "application/json"} if as_json else {},
    )

    # then the answer is 503 with a message saying the upload is kept and starts later
    assert response.status_code == 503
    text = " ".join(response.json()["errors"]) if as_json else response.content.decode()
    assert "job queue is unavailable" in text
    assert "starts automatically" in text
    saved = StimulusImport.objects.get(study=study)
    assert saved.status == StimulusImport.Status.PENDING
    assert saved.enqueued_at is None  # the sweep publishes it when the broker is back
    if as_json:
        assert response.json()["id"] == saved.pk


def test_questionnaire_translations_need_one_text_per_option(logged_in: Client, researcher: Any) -> None:
    study = StudyFactory(owner=researcher, languages=["en", "zh-hans"])
    study.questionnaire = [{"key": "age", "label": "Age", "type": "choice", "choices": ["young", "old"]}]
    study.save()
    url = reverse("experiments:study-edit", args=[study.slug])
    questions = {
        "q-TOTAL_FORMS": 1,
        "q-INITIAL_FORMS": 1,
        "q-0-key": "age",
        "q-0-label": "Age",
        "q-0-type": "choice",
        "q-0-choices": "young\nold",
        "q-0-required": "on",
    }

    def post(texts: dict[str, Any]) -> Any:
        translations = json.dumps({"zh-hans": {"questionnaire": {"age": texts}}})
        return logged_in.post(url, edit_payload(study, translations=translations, **questions))

    refused = post({"label": "年龄", "choices": ["年轻"]})
    saved = post({"label": "年龄", "choices": ["年轻", "年长"]})

    assert refused.status_code == 400
    assert "question age needs 2 options" in refused.content.decode()
    assert saved.status_code == 302, saved.content.decode()[:2000]
    study.refresh_from_db()
    assert study.translations["zh-hans"]["questionnaire"]["age"]["choices"] == ["年轻", "年长"]
