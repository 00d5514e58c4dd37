"""Pilot mode: signed pilot links, the whole pilot with a real worker, removal, the pages."""

import time
import uuid
from typing import Any

import pytest
from django.core import signing
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from analysis.models import AnalysisRun
from config.errors import DomainError
from experiments.models import Study
from pilot import links, selectors, services
from pilot.models import PilotRun
from ratings.models import Participant, Rating, RatingSession, StimulusLoad, Trial
from ratings.services import rating_submit
from tests.factories import UserFactory
from tests.ratings.conftest import answer_all, enter, make_study


def draft_study(**fields: Any) -> Study:
    study = make_study(**fields)
    Study.objects.filter(pk=study.pk).update(status=Study.Status.DRAFT)
    study.refresh_from_db()
    return study


def running_pilot(study: Study) -> PilotRun:
    return PilotRun.objects.create(
        study=study, raters=1, base_url="http://testserver", status=PilotRun.Status.RUNNING
    )


def entry(study: Study, **query: str) -> str:
    return (
        reverse("ratings:study-entry", kwargs={"slug": study.slug})
        + "?"
        + "&".join(f"{k}={v}" for k, v in query.items())
    )


def consent(client: Client, study: Study, **fields: str) -> Any:
    return client.post(
        reverse("ratings:study-consent", kwargs={"slug": study.slug}), {"decision": "agree", **fields}
    )


# --- The signed pilot link --------------------------------------------------------------------
@pytest.mark.django_db
def test_a_signed_pilot_link_opens_a_draft_study_and_flags_the_participant(client: Client) -> None:
    study = draft_study()
    token = links.pilot_token_make(running_pilot(study))

    page = client.get(entry(study, pid="sim-1", pilot=token))
    response = consent(client, study, pid="sim-1", pilot=token)

    assert page.status_code == 200
    assert f'name="pilot" value="{token}"' in page.content.decode()
    assert response.status_code == 302
    participant = Participant.objects.get(study=study)
    assert participant.is_pilot
    assert participant.sessions.get().is_pilot
    assert "pilot" not in participant.panel_data


@pytest.mark.django_db
@pytest.mark.parametrize(
    "forge",
    [
        lambda study, run: "not-a-token",
        lambda study, run: signing.dumps({"study": study.pk, "run": run.pk}, salt="another-salt"),
        lambda study, run: signing.dumps(
            {"study": study.pk, "run": run.pk}, salt=links.TOKEN_SALT, key="guessed-key"
        ),
        lambda study, run: links.pilot_token_make(running_pilot(make_study())),  # another study's pilot
    ],
    ids=["garbage", "other-salt", "other-key", "other-study"],
)
def test_a_forged_pilot_link_is_refused_and_creates_nothing(client: Client, forge: Any) -> None:
    study = make_study()  # open: without the refusal, a forged link would start a (flagged) session
    token = forge(study, running_pilot(study))

    page = client.get(entry(study, pid="x", pilot=token))
    response = consent(client, study, pid="x", pilot=token)

    assert page.status_code == 403
    assert response.status_code == 403
    assert "pilot link is not valid" in response.content.decode()
    assert not Participant.objects.filter(study=study).exists()


@pytest.mark.django_db
def test_a_pilot_link_stops_working_when_its_pilot_is_over(client: Client) -> None:
    study = draft_study()
    run = running_pilot(study)
    token = links.pilot_token_make(run)
    PilotRun.objects.filter(pk=run.pk).update(status=PilotRun.Status.DONE)

    response = consent(client, study, pid="late", pilot=token)

    assert response.status_code == 403
    assert "This pilot has ended" in response.content.decode()
    assert not Participant.objects.exists()


@pytest.mark.django_db
def test_a_real_participant_still_cannot_enter_a_draft_study(client: Client) -> None:
    study = draft_study()

    page = client.get(entry(study, pid="real"))
    response = consent(client, study, pid="real")

    assert "not open" in page.content.decode()
    assert response.status_code == 400
    assert not Participant.objects.exists()


@pytest.mark.django_db
def test_a_pilot_link_never_resumes_a_real_participants_session(client: Client) -> None:
    study = make_study()
    enter(study, pid="shared-id")
    token = links.pilot_token_make(running_pilot(study))

    response = consent(client, study, pid="shared-id", pilot=token)

    assert response.status_code == 400
    assert "already in use" in response.content.decode()
    assert Participant.objects.get().is_pilot is False


# --- Start, validation, target arithmetic -----------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"raters": 0}, "between 1 and"),
        ({"raters": 5, "spammers": 0.8, "straightliners": 0.3}, "add up to 1"),
        ({"raters": 5, "base_url": "ftp://x"}, "server's address"),
    ],
)
def test_pilot_run_start_refuses_bad_options_and_creates_nothing(
    options: dict[str, Any], message: str
) -> None:
    study = draft_study()

    with pytest.raises(DomainError, match=message):
        services.pilot_run_start(study=study, **{"base_url": "http://127.0.0.1:1", **options}, enqueue=False)

    assert not PilotRun.objects.exists()


@pytest.mark.django_db
def test_pilot_run_start_refuses_a_closed_study_and_a_second_pilot() -> None:
    study = draft_study()
    services.pilot_run_start(study=study, raters=3, base_url="http://127.0.0.1:1", enqueue=False)

    with pytest.raises(DomainError, match="running"):
        services.pilot_run_start(study=study, raters=3, base_url="http://127.0.0.1:1", enqueue=False)
    Study.objects.filter(pk=study.pk).update(status=Study.Status.CLOSED)
    with pytest.raises(DomainError, match="closed"):
        services.pilot_run_start(study=study, raters=3, base_url="http://127.0.0.1:1", enqueue=False)


@pytest.mark.django_db
def test_participants_needed_is_the_ceiling_of_stimuli_times_target_over_session_size() -> None:
    study = draft_study(tests=25, stimuli_per_session=10, target_ratings=20)

    plan = selectors.participants_needed(study)

    assert (plan["test_stimuli"], plan["per_session"], plan["participants"]) == (25, 10, 50)
    study.stimuli_per_session = 30  # larger than the study: one session holds every image
    assert selectors.participants_needed(study)["participants"] == 20


# --- The whole pilot, with the real worker ----------------------------------------------------
def wait_finished(run: PilotRun, timeout: float = 120) -> PilotRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.is_finished:
            return run
        time.sleep(0.3)
    raise AssertionError(f"pilot still {run.status}: {run.progress_message}")


def real_participant_rates(study: Study) -> RatingSession:
    session = enter(study, pid=f"real-{uuid.uuid4().hex[:6]}")
    RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.RATING)
    for index in range(session.trial_count):
        rating_submit(
            token=session.token,
            trial_index=index,
            scores=answer_all(study, 1 + index % 5),
            idempotency_key=uuid.uuid4(),
        )
    return session


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_pilot_simulates_analyses_and_recovers_the_planted_truth_apart_from_real_data(
    live_server: Any, celery_worker: Any
) -> None:
    # given an open study with one real participant who rated already
    study = make_study(
        tests=12, prompts=6, stimuli_per_session=12, target_ratings=30, training=1, check_straightlining=True
    )
    real = real_participant_rates(study)
    real_ratings = set(Rating.objects.filter(session=real).values_list("pk", flat=True))
    loads_before = dict(StimulusLoad.objects.filter(study=study).values_list("stimulus_id", "load"))

    # when the researcher runs a pilot of 16 low-noise raters (2 random, 1 straight-liner)
    run = services.pilot_run_start(
        study=study,
        raters=16,
        base_url=live_server.url,
        seed=4,
        spammers=0.125,
        straightliners=0.0625,
        abandoners=0.0,
        noise=0.3,
    )
    run = wait_finished(run)

    # then the pilot's data is flagged, analysed on its own, and recovers the truth
    assert run.status == PilotRun.Status.DONE, run.error
    pilots = Participant.objects.filter(study=study, is_pilot=True)
    assert pilots.count() == 16
    assert not RatingSession.objects.filter(participant__in=pilots, is_pilot=False).exists()
    analysis = AnalysisRun.objects.get(pk=run.analysis_run_id)
    assert analysis.pilot_only
    assert analysis.status == AnalysisRun.Status.DONE
    counts = analysis.summary["counts"]
    assert counts["raters"] + counts["quality_control_excluded"] == 16  # the real participant is not in it
    for p in run.report["perspectives"]:
        assert p["n"] == 12, p
        assert p["pearson"] > 0.8, p
        assert p["spearman"] > 0.7, p
        assert p["rmse"] < 0.6, p
    screening = run.report["screening"]
    assert screening["kinds"]["spammer"]["planted"] == 2
    assert screening["kinds"]["straightliner"]["planted"] == 1
    assert screening["kinds"]["straightliner"]["caught"] == 1  # zero variance / straight-lining
    assert run.report["target"]["participants"] == 30  # ceil(12 * 30 / 12)
    assert default_storage.exists(run.plot)
    assert default_storage.open(run.plot).read(8) == b"\x89PNG\r\n\x1a\n"
    # and real data and real allocation are untouched
    assert set(Rating.objects.filter(session=real).values_list("pk", flat=True)) == real_ratings
    assert not Participant.objects.filter(pk=real.participant_id).exclude(excluded_reason="").exists()
    assert dict(StimulusLoad.objects.filter(study=study).values_list("stimulus_id", "load")) == loads_before

    # when the researcher removes the pilot data
    counts = services.pilot_data_remove(study=study)

    # then everything pilot is gone, and nothing real
    assert counts["participants"] == 16
    assert counts["analyses"] == 1
    assert counts["pilot_runs"] == 1
    assert not Participant.objects.filter(study=study, is_pilot=True).exists()
    assert not RatingSession.objects.filter(study=study, is_pilot=True).exists()
    assert not Trial.objects.filter(session__is_pilot=True).exists()
    assert not AnalysisRun.objects.filter(pk=analysis.pk).exists()
    assert not PilotRun.objects.exists()
    assert not default_storage.exists(run.plot)
    assert set(Rating.objects.filter(session__study=study).values_list("pk", flat=True)) == real_ratings
    assert dict(StimulusLoad.objects.filter(study=study).values_list("stimulus_id", "load")) == loads_before


@pytest.mark.django_db(transaction=True)
def test_the_pilot_command_runs_a_pilot_on_a_draft_study_and_prints_the_figures(
    live_server: Any, capsys: Any
) -> None:
    study = draft_study(tests=8, prompts=4, stimuli_per_session=8, target_ratings=10)

    call_command(
        "pilot",
        study.slug,
        "--raters",
        "6",
        "--seed",
        "2",
        "--base-url",
        live_server.url,
        "--spammers",
        "0",
        "--straightliners",
        "0",
        "--abandoners",
        "0",
    )

    out = capsys.readouterr().out
    run = PilotRun.objects.get(study=study)
    assert run.status == PilotRun.Status.DONE
    assert "Pearson" in out
    assert "recruit" in out
    assert Participant.objects.filter(study=study, is_pilot=True).count() == 6
    study.refresh_from_db()
    assert study.status == Study.Status.DRAFT
    # pilot ratings do not lock the design of the draft study
    from experiments.selectors import study_has_ratings

    assert Rating.objects.filter(session__study=study).exists()
    assert not study_has_ratings(study=study)
    # the allocation counters were recounted without the pilot's sessions
    assert set(StimulusLoad.objects.filter(study=study).values_list("load", flat=True)) == {0}


# --- Pages ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_pilot_pages_are_only_for_the_studys_researchers(client: Client) -> None:
    study = draft_study()
    run = running_pilot(study)
    client.force_login(UserFactory())  # not the owner

    for url in (
        reverse("pilot:list", args=[study.slug]),
        reverse("pilot:detail", args=[study.slug, run.pk]),
        reverse("pilot:status", args=[study.slug, run.pk]),
        reverse("pilot:plot", args=[study.slug, run.pk]),
    ):
        assert client.get(url).status_code == 404
    assert client.post(reverse("pilot:remove", args=[study.slug])).status_code == 404
    assert PilotRun.objects.filter(pk=run.pk).exists()


@pytest.mark.django_db
def test_the_pilot_page_starts_a_pilot_from_the_form(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    study = draft_study()
    client.force_login(study.owner)

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            reverse("pilot:list", args=[study.slug]),
            {
                "raters": 7,
                "spammers": 10,
                "straightliners": 5,
                "abandoners": 0,
                "noise": 0.4,
                "seed": 9,
            },
        )

    run = PilotRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("pilot:detail", args=[study.slug, run.pk])
    assert (run.raters, run.seed, run.spammers, run.base_url) == (7, 9, 0.1, "http://testserver")
    assert len(callbacks) == 1  # the job is enqueued after commit


@pytest.mark.django_db
def test_the_pilot_form_refuses_too_many_bad_raters(client: Client) -> None:
    study = draft_study()
    client.force_login(study.owner)

    response = client.post(
        reverse("pilot:list", args=[study.slug]),
        {
            "raters": 7,
            "spammers": 80,
            "straightliners": 30,
            "abandoners": 0,
            "noise": 0.4,
        },
    )

    assert response.status_code == 400
    assert "100% at most" in response.content.decode()
    assert not PilotRun.objects.exists()
