"""The participants list and panel decisions, with participants made through the real flow."""

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.utils import timezone

from analysis import services as analysis_services
from analysis.models import AnalysisRun
from experiments.models import Study
from ratings.decisions import (
    DecisionInvalid,
    decisions_export,
    participant_decision_set,
)
from ratings.models import Participant
from ratings.participants import NO_DECISION, ParticipantRow, ParticipantStatus, participant_rows
from ratings.privacy import participant_forget
from ratings.services import sessions_expire
from tests.ratings.conftest import make_study
from tests.ratings.flow import constant, take_part

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # The allocation's "counters ensured" flag is cached per study id, and a flushed test
    # database hands out the same ids again: start every test with an empty cache.
    cache.clear()


S = ParticipantStatus


def gold_study(**fields: object) -> Study:
    """Four test images and one gold image per session; quality control recorded for the analysis."""
    return make_study(tests=8, gold=2, stimuli_per_session=4, gold_per_session=1, target_ratings=3, **fields)


def by_pid(study: Study, **filters: Any) -> dict[str, ParticipantRow]:
    return {r.panel_id: r for r in participant_rows(study=study, **filters)}


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_each_outcome_gets_its_status_and_suggested_decision_with_a_reason() -> None:
    # given participants who complete, fail the gold check, abandon, decline, and are still rating
    study = gold_study()
    take_part(study, "honest")
    take_part(study, "gold-failer", constant(study, 1))
    take_part(study, "abandoner", answer=2)
    take_part(study, "decliner", consent=False)
    sessions_expire(study=study, now=timezone.now() + timedelta(minutes=study.session_expiry_minutes + 1))
    take_part(study, "rating-now", answer=1)

    # when
    rows = by_pid(study)

    # then
    assert {pid: (r.status, r.suggested_decision) for pid, r in rows.items()} == {
        "honest": (S.COMPLETED, "approve"),
        "gold-failer": (S.COMPLETED, "reject"),
        "abandoner": (S.EXPIRED, "reject"),
        "decliner": (S.DECLINED, NO_DECISION),
        "rating-now": (S.IN_PROGRESS, NO_DECISION),
    }
    assert rows["gold-failer"].qc_failures == ["gold"]
    assert "attention checks (gold)" in rows["gold-failer"].message
    assert rows["abandoner"].message == "Incomplete: rated 2 of 5 images before the session ended."
    assert "return the study" in rows["decliner"].message
    assert rows["honest"].completion_code == "DONE-123"
    assert rows["decliner"].completion_code == ""
    assert rows["honest"].trials_answered == rows["honest"].trials_total == 5


def test_an_idle_live_session_is_stalled_until_the_sweep_expires_it() -> None:
    study = gold_study(session_expiry_minutes=60)
    take_part(study, "idle", answer=1)
    now = timezone.now()

    assert by_pid(study, now=now + timedelta(minutes=2))["idle"].status == S.IN_PROGRESS
    assert by_pid(study, now=now + timedelta(minutes=11))["idle"].status == S.STALLED
    sessions_expire(study=study, now=now + timedelta(minutes=61))
    assert by_pid(study)["idle"].status == S.EXPIRED


def test_an_analysis_exclusion_is_suggested_as_a_rejection_with_its_reason() -> None:
    # given a completed rater whose gold failure the real analysis excludes
    study = gold_study()
    for pid in ("a", "b", "c"):
        take_part(study, pid)
    take_part(study, "failer", constant(study, 1))
    run = analysis_services.analysis_run_start(study=study, method="mos", enqueue=False)

    analysis_services.analysis_run_execute(run_id=run.id)

    rows = by_pid(study)
    assert Participant.objects.get(external_id="failer").excluded_reason.startswith("quality control")
    assert rows["failer"].decision == "reject"
    assert rows["failer"].message.startswith("Excluded from the analysis (quality control")
    assert {pid for pid, r in rows.items() if r.decision == "approve"} == {"a", "b", "c"}


def test_mos_files_never_carry_panel_ids() -> None:
    study = gold_study()
    for pid in ("PANEL-ID-ONE", "PANEL-ID-TWO", "PANEL-ID-THREE"):
        take_part(study, pid)
    run = analysis_services.analysis_run_start(study=study, method="mos", enqueue=False)

    analysis_services.analysis_run_execute(run_id=run.id)

    run.refresh_from_db()
    assert run.status == AnalysisRun.Status.DONE
    texts = [
        default_storage.open(name).read().decode("utf-8", "replace")
        for name in run.files
        if name.endswith((".csv", ".json", ".txt"))
    ]
    assert texts
    assert not any("PANEL-ID" in text for text in texts)


def test_the_researchers_override_is_stored_and_wins_over_the_suggestion() -> None:
    study = gold_study()
    take_part(study, "failer", constant(study, 1))
    failer = Participant.objects.get(external_id="failer")

    participant_decision_set(
        participant=failer, decision="approve", message="Paid anyway: our gold was unclear."
    )

    row = by_pid(study)["failer"]
    assert (row.suggested_decision, row.decision, row.is_overridden) == ("reject", "approve", True)
    assert row.message == "Paid anyway: our gold was unclear."
    assert Participant.objects.get(pk=failer.pk).decided_at is not None

    participant_decision_set(participant=failer, decision="")

    assert by_pid(study)["failer"].decision == "reject"


def test_a_rejection_needs_a_message_and_the_decision_a_known_value() -> None:
    study = gold_study()
    take_part(study, "p1")
    p1 = Participant.objects.get(external_id="p1")

    with pytest.raises(DecisionInvalid, match="needs a message"):
        participant_decision_set(participant=p1, decision="reject", message="  ")
    with pytest.raises(DecisionInvalid, match="approve, reject or empty"):
        participant_decision_set(participant=p1, decision="pay-double")
    assert Participant.objects.get(pk=p1.pk).decision == ""


def test_filters_and_sorting() -> None:
    study = gold_study()
    take_part(study, "zz-honest")
    take_part(study, "aa-failer", constant(study, 1))
    take_part(study, "mm-decliner", consent=False)

    assert list(by_pid(study, decision="reject")) == ["aa-failer"]
    assert list(by_pid(study, status=S.DECLINED)) == ["mm-decliner"]
    assert list(by_pid(study, q="HONEST")) == ["zz-honest"]
    assert [r.panel_id for r in participant_rows(study=study, sort="panel_id")] == [
        "aa-failer",
        "mm-decliner",
        "zz-honest",
    ]
    assert [r.panel_id for r in participant_rows(study=study, sort="-panel_id")][0] == "zz-honest"


def test_prolific_exports_list_ids_to_approve_and_to_reject_with_messages() -> None:
    # given a Prolific study: one to approve, one to reject, one declined, one forgotten
    study = gold_study(panel=Study.Panel.PROLIFIC)
    take_part(study, "5f0aaa")
    take_part(study, "5f0bbb", constant(study, 1))
    take_part(study, "5f0ccc", consent=False)
    take_part(study, "5f0ddd")
    participant_forget(participant=Participant.objects.get(external_id="5f0ddd"))

    # when
    _, kind, approve = decisions_export(study=study, kind="prolific-approve")
    name, _, reject = decisions_export(study=study, kind="prolific-reject")

    # then
    assert kind == "text/plain"
    assert approve == "5f0aaa\n"
    assert name == f"{study.slug}-prolific-reject.csv"
    rows = csv_rows(reject)
    assert rows[0] == ["participant_id", "message"]
    assert [r[0] for r in rows[1:]] == ["5f0bbb"]
    assert "attention checks" in rows[1][1]


def test_the_mturk_batch_file_has_approve_and_reject_columns() -> None:
    study = gold_study(panel=Study.Panel.MTURK)
    take_part(study, "WGOOD")
    take_part(study, "WBAD", constant(study, 1))
    take_part(study, "WNOW", answer=1)  # still rating: not in the file

    _, _, text = decisions_export(study=study, kind="mturk")

    rows = csv_rows(text)
    assert rows[0] == ["AssignmentId", "WorkerId", "HITId", "Approve", "Reject"]
    body = {r[1]: r for r in rows[1:]}
    assert set(body) == {"WGOOD", "WBAD"}
    assert body["WGOOD"] == ["A-WGOOD", "WGOOD", "HIT-1", "x", ""]
    assert body["WBAD"][:4] == ["A-WBAD", "WBAD", "HIT-1", ""]
    assert body["WBAD"][4].startswith("Failed the attention checks")


def test_csv_cells_that_look_like_formulas_are_neutralised() -> None:
    # given a generic-panel id crafted as a spreadsheet formula, arriving through the study link
    study = gold_study()
    take_part(study, '=HYPERLINK("http://evil","x")')
    participant = Participant.objects.get()
    participant_decision_set(participant=participant, decision="reject", message="@SUM(A1:A9)")

    _, _, text = decisions_export(study=study, kind="csv")

    row = dict(zip(*csv_rows(text), strict=True))
    assert row["panel_id"] == '\'=HYPERLINK("http://evil","x")'
    assert row["message"] == "'@SUM(A1:A9)"
    assert row["participant_code"] == participant.code
    assert row["decision"] == "reject"
    assert row["overridden"] == "yes"


def test_an_unknown_export_is_refused_in_words() -> None:
    study = gold_study()

    with pytest.raises(DecisionInvalid, match="Unknown export"):
        decisions_export(study=study, kind="excel")


def test_pilot_participants_are_not_listed() -> None:
    from ratings.panels import PanelEntry
    from ratings.services import participant_enter

    study = gold_study()
    take_part(study, "real")
    participant_enter(
        study=study, entry=PanelEntry("generic", "sim-1", {"pid": "sim-1"}), consent=True, pilot=True
    )

    assert list(by_pid(study)) == ["real"]
