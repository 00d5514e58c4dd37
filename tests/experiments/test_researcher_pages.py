"""Sharing, duplication, the launch checklist, panel links, the archive and the settings errors."""

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from experiments import selectors, services
from experiments.models import Stimulus, Study
from tests.experiments.builders import add_ratings
from tests.experiments.test_views import edit_payload
from tests.factories import StimulusFactory, StudyFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client: Client, researcher: Any) -> Client:
    client.force_login(researcher)
    return client


# --- sharing ----------------------------------------------------------------------------------
def test_a_viewer_sees_the_study_but_may_not_change_it(client: Client, researcher: Any) -> None:
    # given a study shared read-only with another researcher
    study = StudyFactory(owner=researcher)
    viewer = UserFactory(username="viewer")
    services.study_share(study=study, user=viewer, role="viewer")
    client.force_login(viewer)

    # when they open it and try to change it
    listed = client.get(reverse("experiments:study-list")).content.decode()
    detail = client.get(reverse("experiments:study-detail", args=[study.slug]))
    edit = client.get(reverse("experiments:study-edit", args=[study.slug]))
    launch = client.post(reverse("experiments:study-launch", args=[study.slug]), {"confirm": "on"})
    api = client.patch(
        reverse("experiments-api:study-detail", args=[study.slug]),
        {"title": "x"},
        content_type="application/json",
    )

    # then
    assert study.title in listed
    assert detail.status_code == 200
    assert "shared with you as viewer" in detail.content.decode()
    assert edit.status_code == 403
    assert launch.status_code == 403
    assert api.status_code == 403


def test_a_viewer_may_not_start_pilots_analyses_or_panel_decisions(client: Client, researcher: Any) -> None:
    # given a study shared read-only
    study = StudyFactory(owner=researcher)
    viewer = UserFactory(username="viewer")
    services.study_share(study=study, user=viewer, role="viewer")
    client.force_login(viewer)

    # when they try the writes outside the settings pages
    pilot_page = client.get(reverse("pilot:list", args=[study.slug]))
    pilot_start = client.post(reverse("pilot:list", args=[study.slug]), {"raters": 4})
    pilot_remove = client.post(reverse("pilot:remove", args=[study.slug]))
    analysis = client.post(
        reverse("analysis-api:study-runs", args=[study.slug]),
        {"method": "mos"},
        content_type="application/json",
    )
    decision = client.post(
        reverse("participants:decide", args=[study.slug, "nobody"]), {"decision": "approve"}
    )
    decision_api = client.post(
        reverse("ratings-api:participant-decision", args=[study.slug, "nobody"]),
        {"decision": "approve"},
        content_type="application/json",
    )

    # then reading is allowed and every write is refused
    assert pilot_page.status_code == 200
    assert [pilot_start.status_code, pilot_remove.status_code, analysis.status_code] == [403, 403, 403]
    assert [decision.status_code, decision_api.status_code] == [403, 403]
    assert not study.analysis_runs.exists()


def test_sharing_page_shares_as_editor_and_changes_the_role(logged_in: Client, researcher: Any) -> None:
    study = StudyFactory(owner=researcher)
    ana = UserFactory(username="ana")
    url = reverse("experiments:study-sharing", args=[study.slug])

    logged_in.post(url, {"username": "ana", "role": "viewer"})
    logged_in.post(url, {"username": "ana", "role": "editor"})

    assert list(study.collaborators.all()) == [ana]
    assert not study.viewers.exists()
    assert selectors.study_role(user=ana, study=study) == "editor"
    assert selectors.study_get_for_user(user=ana, slug=study.slug, change=True) == study


def test_sharing_with_an_unknown_name_says_so_next_to_the_field(logged_in: Client, researcher: Any) -> None:
    study = StudyFactory(owner=researcher)

    response = logged_in.post(
        reverse("experiments:study-sharing", args=[study.slug]), {"username": "nobody", "role": "viewer"}
    )

    assert response.status_code == 400
    assert "No researcher is called nobody." in response.content.decode()


def test_removing_a_share_takes_the_study_away(logged_in: Client, researcher: Any) -> None:
    study = StudyFactory(owner=researcher)
    ana = UserFactory(username="ana")
    services.study_share(study=study, user=ana, role="editor")

    logged_in.post(reverse("experiments:study-unshare", args=[study.slug, ana.pk]))

    assert not selectors.study_list_for_user(user=ana).filter(pk=study.pk).exists()


# --- duplication ------------------------------------------------------------------------------
def test_duplicate_copies_settings_perspectives_texts_and_questionnaire_not_ratings(researcher: Any) -> None:
    # given a rated study with custom settings and a questionnaire
    study = StudyFactory(
        owner=researcher,
        instructions="Rate carefully.",
        consent_text="I agree.",
        stimuli_per_session=7,
        questionnaire=[{"key": "age", "label": "Age", "type": "number", "required": True}],
    )
    StimulusFactory(study=study, role=Stimulus.Role.TRAINING)
    add_ratings(study, StimulusFactory(study=study), 1)
    other = UserFactory(username="other")

    # when another researcher duplicates it, with and without stimuli
    bare = services.study_duplicate(study=study, owner=other, title="Second round")
    full = services.study_duplicate(study=study, owner=other, copy_stimuli=True)

    # then
    assert (bare.owner, bare.title, bare.status) == (other, "Second round", Study.Status.DRAFT)
    assert (bare.instructions, bare.consent_text, bare.stimuli_per_session) == (
        "Rate carefully.",
        "I agree.",
        7,
    )
    assert bare.questionnaire == study.questionnaire
    assert [p.key for p in bare.perspectives.order_by("order")] == [
        "quality",
        "authenticity",
        "correspondence",
    ]
    assert not bare.stimuli.exists()
    assert full.title == f"Copy of {study.title}"
    assert sorted(full.stimuli.values_list("role", "sha256")) == sorted(
        study.stimuli.values_list("role", "sha256")
    )
    assert full.stimuli.first().image.name == study.stimuli.first().image.name
    assert not selectors.study_has_ratings(study=full)


def test_duplicate_page_and_api_create_a_draft_of_the_caller(logged_in: Client, researcher: Any) -> None:
    study = StudyFactory(owner=UserFactory(username="owner"))
    services.study_share(study=study, user=researcher, role="viewer")

    page = logged_in.post(reverse("experiments:study-duplicate", args=[study.slug]), {"title": "Mine now"})
    api = logged_in.post(
        reverse("experiments-api:study-duplicate", args=[study.slug]), {}, content_type="application/json"
    )

    copy = Study.objects.get(title="Mine now")
    assert page.status_code == 302
    assert page["Location"] == copy.get_absolute_url()
    assert copy.owner == researcher
    assert api.status_code == 201
    assert api.json()["owner"] == researcher.username


# --- launch checklist -------------------------------------------------------------------------
def test_launch_checklist_warns_and_asks_for_confirmation(logged_in: Client, researcher: Any) -> None:
    # given a study with test stimuli but no training or gold images and no consent text
    study = StudyFactory(owner=researcher, training_count=2, gold_per_session=1, stimuli_per_session=1)
    StimulusFactory(study=study)
    url = reverse("experiments:study-launch", args=[study.slug])

    # when the researcher opens the launch page and launches without, then with, confirmation
    page = logged_in.get(url).content.decode()
    unconfirmed = logged_in.post(url)
    study.refresh_from_db()
    status_before = study.status
    confirmed = logged_in.post(url, {"confirm": "on"})

    # then
    assert "no training images" in page
    assert "no gold stimuli" in page
    assert "consent text is empty" in page
    assert unconfirmed.status_code == 400
    assert "Tick the box" in unconfirmed.content.decode()
    assert status_before == Study.Status.DRAFT
    assert confirmed.status_code == 302
    study.refresh_from_db()
    assert study.status == Study.Status.OPEN


def test_a_complete_study_launches_without_confirmation(logged_in: Client, researcher: Any) -> None:
    study = StudyFactory(
        owner=researcher, training_count=0, stimuli_per_session=1, consent_text="ok", instructions="ok"
    )
    StimulusFactory(study=study)

    logged_in.post(reverse("experiments:study-launch", args=[study.slug]))

    study.refresh_from_db()
    assert study.status == Study.Status.OPEN


# --- panel links and the foreign-panel warning ------------------------------------------------
def test_prolific_study_page_offers_the_url_with_placeholders_and_the_code(
    logged_in: Client, researcher: Any
) -> None:
    study = StudyFactory(owner=researcher, panel=Study.Panel.PROLIFIC, completion_code="C0DE42")

    html = logged_in.get(reverse("experiments:study-detail", args=[study.slug])).content.decode()

    assert (
        f"/s/{study.slug}/?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}&amp;STUDY_ID={{{{%STUDY_ID%}}}}"
        "&amp;SESSION_ID={{%SESSION_ID%}}" in html
    )
    assert 'value="C0DE42"' in html
    assert html.count('data-copy="') == 2


def test_mturk_study_page_offers_the_external_question_xml(logged_in: Client, researcher: Any) -> None:
    study = StudyFactory(owner=researcher, panel=Study.Panel.MTURK)

    html = logged_in.get(reverse("experiments:study-detail", args=[study.slug])).content.decode()

    assert "&lt;ExternalQuestion xmlns=" in html
    assert f"&lt;ExternalURL&gt;http://testserver/s/{study.slug}/&lt;/ExternalURL&gt;" in html


def test_generic_study_opened_from_prolific_is_recorded_and_shown(
    client: Client, logged_in: Client, researcher: Any
) -> None:
    # given an open generic-panel study
    study = StudyFactory(owner=researcher, panel=Study.Panel.GENERIC, stimuli_per_session=1)
    StimulusFactory(study=study)
    services.study_launch(study=study)

    # when a participant arrives with Prolific's parameters
    entry = Client().get(
        reverse("ratings:study-entry", args=[study.slug]), {"PROLIFIC_PID": "abc", "STUDY_ID": "s"}
    )

    # then the study records it and its page warns the researcher
    study.refresh_from_db()
    assert entry.status_code == 200
    assert study.foreign_panel_seen == Study.Panel.PROLIFIC
    html = logged_in.get(reverse("experiments:study-detail", args=[study.slug])).content.decode()
    assert 'id="foreign-panel-warning"' in html
    assert "opened from Prolific" in html


def test_a_plain_generic_link_records_nothing(researcher: Any) -> None:
    study = StudyFactory(owner=researcher, panel=Study.Panel.GENERIC, stimuli_per_session=1)
    StimulusFactory(study=study)
    services.study_launch(study=study)

    Client().get(reverse("ratings:study-entry", args=[study.slug]), {"pid": "p1"})

    study.refresh_from_db()
    assert study.foreign_panel_seen == ""


# --- study list -------------------------------------------------------------------------------
def test_study_list_shows_progress_and_hides_archived_studies(logged_in: Client, researcher: Any) -> None:
    # given a study half-way to its target and an archived one
    study = StudyFactory(owner=researcher, title="Half way", target_ratings=2)
    add_ratings(study, StimulusFactory(study=study), 1)
    old = StudyFactory(owner=researcher, title="Old pilot")
    logged_in.post(reverse("experiments:study-archive", args=[old.slug]), {"archived": "1"})

    # when the researcher lists studies, then asks for the archived ones
    current = logged_in.get(reverse("experiments:study-list")).content.decode()
    archived = logged_in.get(reverse("experiments:study-list"), {"archived": "1"}).content.decode()

    # then
    assert "Half way" in current
    assert 'value="50"' in current
    assert "Old pilot" not in current
    assert "Old pilot" in archived
    assert "Half way" not in archived


# --- settings errors --------------------------------------------------------------------------
def test_settings_errors_are_shown_next_to_their_field_in_words(logged_in: Client, researcher: Any) -> None:
    study = StudyFactory(owner=researcher)

    response = logged_in.post(
        reverse("experiments:study-edit", args=[study.slug]),
        edit_payload(study, scale_min=5, scale_max=3, stimuli_per_session="many"),
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert "The highest score must be above the lowest (5)." in html
    assert "Enter a whole number." in html
    assert "Images per session</a>: Enter a whole number." in html  # the summary names fields in words
    assert ">stimuli_per_session" not in html
    assert "scale_range_not_empty" not in html


def test_questionnaire_editor_saves_questions(logged_in: Client, researcher: Any) -> None:
    study = StudyFactory(owner=researcher)
    payload = edit_payload(
        study,
        **{
            "q-TOTAL_FORMS": 2,
            "q-0-key": "age",
            "q-0-label": "Your age range",
            "q-0-type": "choice",
            "q-0-choices": "18-29\n30+",
            "q-0-required": "on",
            "q-1-key": "",
            "q-1-label": "",
            "q-1-type": "choice",
            "q-1-choices": "",
            "q-1-required": "on",
        },
    )

    response = logged_in.post(reverse("experiments:study-edit", args=[study.slug]), payload)

    assert response.status_code == 302, response.content.decode()[:2000]
    study.refresh_from_db()
    assert study.questionnaire == [
        {
            "key": "age",
            "label": "Your age range",
            "type": "choice",
            "required": True,
            "choices": ["18-29", "30+"],
        }
    ]
