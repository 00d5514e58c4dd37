"""Panel ids: kept out of exports by default, and erasable per participant without breaking the
analysis of the others (ratings.privacy, the admin action, the forget_participant command)."""

import io
import json
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from analysis import services as analysis_services
from analysis.models import AnalysisRun
from experiments.models import Study
from ratings.models import Participant, Rating, StimulusLoad
from ratings.privacy import participant_forget
from tests.factories import UserFactory, rated_study_create

pytestmark = pytest.mark.django_db


def with_panel_ids(people: list[Participant]) -> None:
    for i, p in enumerate(people):
        p.panel = Study.Panel.PROLIFIC
        p.external_id = f"PROLIFIC-{i:04d}"
        p.panel_data = {"PROLIFIC_PID": p.external_id, "STUDY_ID": "S1", "SESSION_ID": f"X{i}"}
        p.save()


def analyse(study: Study, **options: Any) -> AnalysisRun:
    run = analysis_services.analysis_run_start(study=study, method="bt500_zscore", enqueue=False, **options)
    analysis_services.analysis_run_execute(run_id=run.id)
    run.refresh_from_db()
    assert run.status == AnalysisRun.Status.DONE, run.error
    return run


def run_file(run: AnalysisRun, name: str) -> str:
    with default_storage.open(f"{run.storage_dir}/{name}", "rb") as fh:
        return fh.read().decode()


@pytest.fixture
def rated() -> tuple[Study, list[Participant]]:
    study, _items, people = rated_study_create(stimuli=4, raters=5)
    with_panel_ids(people)
    return study, people


def test_exports_name_raters_by_code_unless_panel_ids_are_asked_for(
    rated: tuple[Study, list[Participant]],
) -> None:
    study, people = rated

    default = run_file(analyse(study), "raw_ratings.csv")
    asked = run_file(analyse(study, include_panel_ids=True), "raw_ratings.csv")

    assert "PROLIFIC-" not in default
    assert all(p.code in default for p in people)
    assert all(p.external_id in asked for p in people)


def test_forgetting_erases_the_panel_id_and_keeps_the_pseudonymous_ratings(
    rated: tuple[Study, list[Participant]],
) -> None:
    # given
    study, people = rated
    target = people[0]
    ratings_before = Rating.objects.filter(session__participant=target).count()

    # when
    result = participant_forget(participant=target)

    # then
    target.refresh_from_db()
    assert result.had_panel_id
    assert result.ratings_deleted == 0
    assert target.external_id is None
    assert set(target.panel_data) == {"forgotten_at"}
    assert Rating.objects.filter(session__participant=target).count() == ratings_before
    stored = json.dumps(list(Participant.objects.values()), default=str)
    assert "PROLIFIC-0000" not in stored
    assert "X0" not in stored
    # the others are untouched
    assert Participant.objects.filter(external_id__startswith="PROLIFIC-").count() == len(people) - 1


def test_forgetting_changes_no_result_of_the_analysis(rated: tuple[Study, list[Participant]]) -> None:
    study, people = rated
    before = run_file(analyse(study), "mos.csv")

    participant_forget(participant=people[0])
    after = analyse(study, include_panel_ids=True)

    assert run_file(after, "mos.csv") == before
    raw = run_file(after, "raw_ratings.csv")
    assert people[0].code in raw
    assert "PROLIFIC-0000" not in raw


def test_forgetting_twice_changes_nothing_more(rated: tuple[Study, list[Participant]]) -> None:
    _study, people = rated
    participant_forget(participant=people[0])
    first = Participant.objects.get(pk=people[0].pk).panel_data

    again = participant_forget(participant=people[0])

    assert not again.had_panel_id
    assert Participant.objects.get(pk=people[0].pk).panel_data == first


def test_deleting_a_participant_removes_their_ratings_and_the_rest_still_analyses(
    rated: tuple[Study, list[Participant]],
) -> None:
    # given
    study, people = rated

    # when
    result = participant_forget(participant=people[0], delete_ratings=True)

    # then
    assert result.ratings_deleted == 4 * 3
    assert not Participant.objects.filter(pk=people[0].pk).exists()
    assert not Rating.objects.filter(session__participant_id=people[0].pk).exists()
    run = analyse(study)
    assert run.summary["counts"]["raters"] == len(people) - 1
    assert "PROLIFIC-0000" not in run_file(run, "raw_ratings.csv")
    loads_after = dict(StimulusLoad.objects.filter(study=study).values_list("stimulus_id", "load"))
    assert set(loads_after.values()) == {len(people) - 1}  # recounted: their stimuli are needed again


def test_the_command_forgets_by_panel_id_and_says_so(rated: tuple[Study, list[Participant]]) -> None:
    study, people = rated
    out = io.StringIO()

    call_command("forget_participant", study.slug, "PROLIFIC-0001", stdout=out)

    assert f"Erased the panel id of participant {people[1].code}" in out.getvalue()
    assert Participant.objects.get(pk=people[1].pk).external_id is None


def test_the_command_can_delete_by_our_code_and_refuses_unknown_ids(
    rated: tuple[Study, list[Participant]],
) -> None:
    study, people = rated
    out = io.StringIO()

    call_command("forget_participant", study.slug, people[2].code, "--delete-ratings", stdout=out)
    with pytest.raises(CommandError, match="0 participants"):
        call_command("forget_participant", study.slug, "no-such-id")
    with pytest.raises(CommandError):
        call_command("forget_participant", "no-such-study", "PROLIFIC-0003")

    assert "Deleted participant" in out.getvalue()
    assert Participant.objects.filter(study=study).count() == len(people) - 1


def test_the_admin_action_forgets_the_selected_participants_of_own_studies_only(
    rated: tuple[Study, list[Participant]],
) -> None:
    # given a staff researcher who owns the study, and another study's participant
    study, people = rated
    staff = UserFactory(username="staff-owner", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="ratings"))
    study.owner = staff
    study.save()
    _other_study, _i, strangers = rated_study_create(stimuli=2, raters=1)
    with_panel_ids(strangers)
    client = Client()
    client.force_login(staff)

    # when
    response = client.post(
        reverse("admin:ratings_participant_changelist"),
        {"action": "forget_panel_ids", "_selected_action": [people[0].pk, people[1].pk, strangers[0].pk]},
        follow=True,
    )

    # then
    assert "Erased the panel id of 2 participant(s)." in response.content.decode()
    assert Participant.objects.get(pk=people[0].pk).external_id is None
    assert Participant.objects.get(pk=people[1].pk).external_id is None
    assert Participant.objects.get(pk=strangers[0].pk).external_id == "PROLIFIC-0000"
