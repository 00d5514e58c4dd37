"""Participant pages: panel entry, consent, stages, completion and screen-out for each panel."""

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from experiments.models import Study
from ratings.models import Participant, RatingSession
from ratings.services import rating_submit
from tests.ratings.conftest import answer_all, make_study

pytestmark = pytest.mark.django_db


def entry_url(study: Study) -> str:
    return reverse("ratings:study-entry", kwargs={"slug": study.slug})


def consent(client: Client, study: Study, decision: str = "agree", **params: str):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("ratings:study-consent", kwargs={"slug": study.slug}), {"decision": decision, **params}
    )


def finish(session: RatingSession) -> None:
    RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.RATING)
    for index in range(session.trial_count):
        rating_submit(
            token=session.token,
            trial_index=index,
            scores=answer_all(session.study, 1 + index % 5),
            idempotency_key=uuid.uuid4(),
        )


def test_a_prolific_link_shows_the_consent_form_carrying_the_prolific_ids(client: Client) -> None:
    study = make_study(panel=Study.Panel.PROLIFIC)

    response = client.get(entry_url(study), {"PROLIFIC_PID": "abc123", "STUDY_ID": "s1", "SESSION_ID": "x9"})

    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="PROLIFIC_PID" value="abc123"' in html
    assert 'name="SESSION_ID" value="x9"' in html
    assert study.consent_text in html


def test_consenting_creates_a_participant_with_our_code_and_the_panel_id_apart(client: Client) -> None:
    study = make_study(panel=Study.Panel.PROLIFIC)

    response = consent(client, study, PROLIFIC_PID="abc123", STUDY_ID="s1", SESSION_ID="x9")

    participant = Participant.objects.get(study=study)
    session = participant.sessions.get()
    assert response.status_code == 302
    assert session.token in response["Location"]
    assert participant.external_id == "abc123"
    assert participant.code != "abc123"
    assert participant.panel_data == {"PROLIFIC_PID": "abc123", "STUDY_ID": "s1", "SESSION_ID": "x9"}
    assert session.consent_version == study.consent_version
    assert session.consented_at is not None


def test_a_returning_prolific_id_is_sent_to_its_session(client: Client) -> None:
    study = make_study(panel=Study.Panel.PROLIFIC)
    consent(client, study, PROLIFIC_PID="abc123")
    session = RatingSession.objects.get()

    response = Client().get(entry_url(study), {"PROLIFIC_PID": "abc123"})

    assert response.status_code == 302
    assert response["Location"].endswith(f"/t/{session.token}/")
    assert RatingSession.objects.count() == 1


def test_a_prolific_link_without_the_id_says_what_is_missing(client: Client) -> None:
    study = make_study(panel=Study.Panel.PROLIFIC)

    response = client.get(entry_url(study))

    assert response.status_code == 400
    assert "Prolific ID is missing" in response.content.decode()


def test_declining_ends_with_the_no_consent_code_not_the_screenout_code(client: Client) -> None:
    study = make_study(panel=Study.Panel.PROLIFIC, noconsent_code="NOCONSENT-9")

    response = consent(client, study, decision="decline", PROLIFIC_PID="p1")
    page = client.get(response["Location"])

    html = page.content.decode()
    assert RatingSession.objects.get().status == RatingSession.Status.DECLINED
    assert "https://app.prolific.com/submissions/complete?cc=NOCONSENT-9" in html
    assert "OUT-456" not in html


def test_declining_without_a_no_consent_code_asks_to_return_the_prolific_study(client: Client) -> None:
    study = make_study(panel=Study.Panel.PROLIFIC)

    response = consent(client, study, decision="decline", PROLIFIC_PID="p1")
    html = client.get(response["Location"]).content.decode()

    assert "Please return your submission on Prolific" in html
    assert "OUT-456" not in html
    assert "submissions/complete" not in html


def test_declining_an_mturk_hit_asks_to_return_it_and_submits_nothing(client: Client) -> None:
    study = make_study(panel=Study.Panel.MTURK)

    response = consent(
        client,
        study,
        decision="decline",
        workerId="W1",
        assignmentId="A1",
        hitId="H1",
        turkSubmitTo="https://www.mturk.com",
    )
    html = client.get(response["Location"]).content.decode()

    assert "Please return this HIT" in html
    assert "externalSubmit" not in html


def test_a_completed_prolific_session_shows_the_code_and_the_completion_redirect(client: Client) -> None:
    study = make_study(panel=Study.Panel.PROLIFIC)
    consent(client, study, PROLIFIC_PID="p1")
    session = RatingSession.objects.get()
    finish(session)

    html = client.get(
        reverse("ratings:session", kwargs={"slug": study.slug, "token": session.token})
    ).content.decode()

    assert "DONE-123" in html
    assert 'href="https://app.prolific.com/submissions/complete?cc=DONE-123"' in html


def test_mturk_preview_shows_the_description_and_no_trials(client: Client) -> None:
    study = make_study(panel=Study.Panel.MTURK, description="Rate pictures.")

    response = client.get(entry_url(study), {"assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE", "hitId": "H1"})

    html = response.content.decode()
    assert "Rate pictures." in html
    assert "Accept the HIT" in html
    assert "consent" not in html.lower()
    assert "frame-ancestors 'self' https://worker.mturk.com" in response["Content-Security-Policy"]
    assert "X-Frame-Options" not in response
    assert not Participant.objects.exists()


def test_a_completed_mturk_session_posts_to_external_submit_with_the_assignment(client: Client) -> None:
    study = make_study(panel=Study.Panel.MTURK)
    consent(
        client,
        study,
        assignmentId="A1",
        hitId="H1",
        workerId="W1",
        turkSubmitTo="https://workersandbox.mturk.com",
    )
    session = RatingSession.objects.get()
    finish(session)

    html = client.get(
        reverse("ratings:session", kwargs={"slug": study.slug, "token": session.token})
    ).content.decode()

    assert 'action="https://workersandbox.mturk.com/mturk/externalSubmit"' in html
    assert 'name="assignmentId" value="A1"' in html
    assert Participant.objects.get().external_id == "W1"


def test_mturk_submit_targets_other_than_mturk_are_ignored(client: Client) -> None:
    study = make_study(panel=Study.Panel.MTURK)
    consent(client, study, assignmentId="A1", workerId="W1", turkSubmitTo="https://evil.example")

    assert "turkSubmitTo" not in Participant.objects.get().panel_data


def test_lab_links_without_an_invite_make_a_new_participant_each_time() -> None:
    study = make_study(panel=Study.Panel.LAB)

    consent(Client(), study)
    consent(Client(), study)
    consent(Client(), study, invite="ROOM-7")
    consent(Client(), study, invite="ROOM-7")

    assert Participant.objects.filter(external_id__isnull=True).count() == 2
    assert Participant.objects.filter(external_id="ROOM-7").count() == 1


def test_a_closed_study_takes_no_new_participants(client: Client) -> None:
    study = make_study(status=Study.Status.CLOSED)
    Study.objects.filter(pk=study.pk).update(status=Study.Status.CLOSED)

    page = client.get(entry_url(study), {"pid": "x"})
    response = consent(client, study, pid="x")

    assert "not open" in page.content.decode()
    assert response.status_code == 400
    assert not Participant.objects.exists()


def test_a_full_study_says_so_politely(client: Client) -> None:
    study = make_study(tests=2, stimuli_per_session=2, target_ratings=1)
    consent(Client(), study, pid="first")

    response = consent(client, study, pid="second")

    assert response.status_code == 200
    assert "needs no more ratings" in response.content.decode()


def test_the_stages_run_questionnaire_display_check_instructions_then_training(client: Client) -> None:
    study = make_study(
        training=1,
        questionnaire=[
            {"key": "age", "label": "Age range", "type": "choice", "choices": ["18-29", "30-49", "50+"]},
            {"key": "vision", "label": "Do you wear glasses?", "type": "text", "required": False},
        ],
    )
    consent(client, study, pid="stages")
    session = RatingSession.objects.get()
    base = reverse("ratings:session", kwargs={"slug": study.slug, "token": session.token})
    assert session.status == "questionnaire"

    bad = client.post(base + "questionnaire/", {"age": "12"})
    assert bad.status_code == 400
    assert "choose one of the options" in bad.content.decode()
    client.post(base + "questionnaire/", {"age": "30-49"})
    session.refresh_from_db()
    assert session.status == "display_check"
    assert session.questionnaire["answers"] == {"age": "30-49"}

    assert "Display check" in client.get(base).content.decode()
    client.post(base + "display/", {"device": '{"fits": false, "dpr": 1}'})
    session.refresh_from_db()
    assert session.status == "display_check"  # a window too small does not pass
    client.post(
        base + "display/",
        {"device": '{"fits": true, "dpr": 2, "screen": {"width": 1440, "height": 900}, "user_agent": "UA"}'},
    )
    session.refresh_from_db()
    assert session.status == "instructions"
    assert session.device["dpr"] == 2
    assert session.device["user_agent"] == "UA"

    instructions = client.get(base).content.decode()
    for perspective in study.perspectives.all():
        assert perspective.question in instructions
    client.post(base + "instructions/")
    session.refresh_from_db()
    assert session.status == "training"
    assert 'id="trial-image"' in client.get(base).content.decode()


def test_an_unknown_token_or_another_studys_slug_is_404(client: Client) -> None:
    study = make_study()
    other = make_study()
    consent(client, study, pid="a")
    session = RatingSession.objects.get()

    assert (
        client.get(reverse("ratings:session", kwargs={"slug": study.slug, "token": "nope"})).status_code
        == 404
    )
    assert (
        client.get(
            reverse("ratings:session", kwargs={"slug": other.slug, "token": session.token})
        ).status_code
        == 404
    )
