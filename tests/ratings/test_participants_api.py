"""/api/studies/<slug>/participants/: list, decision, export, forget (works, ownership, bad input, 404)."""

import csv
import io
from typing import Any

import pytest
from django.core.cache import cache
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from experiments.models import Study
from ratings.models import Participant
from tests.factories import UserFactory
from tests.ratings.conftest import make_study
from tests.ratings.flow import constant, take_part

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # The allocation's "counters ensured" flag is cached per study id, and a flushed test
    # database hands out the same ids again: start every test with an empty cache.
    cache.clear()


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def study() -> Study:
    """A Prolific study with one participant to approve and one to reject, made through the flow."""
    study = make_study(
        tests=8,
        gold=2,
        stimuli_per_session=4,
        gold_per_session=1,
        target_ratings=3,
        panel=Study.Panel.PROLIFIC,
    )
    take_part(study, "5fgood")
    take_part(study, "5fbad", constant(study, 1))
    return study


@pytest.fixture
def owner(study: Study) -> APIClient:
    return client_for(study.owner)


def list_url(study: Study) -> str:
    return reverse("ratings-api:participant-list", args=[study.slug])


def code_of(pid: str) -> str:
    return Participant.objects.get(external_id=pid).code


def test_the_owner_lists_participants_with_status_qc_and_suggestions(owner: APIClient, study: Study) -> None:
    response = owner.get(list_url(study), {"sort": "panel_id"})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    bad, good = body["results"]
    assert (bad["panel_id"], bad["status"], bad["decision"], bad["qc_failures"]) == (
        "5fbad",
        "completed",
        "reject",
        ["gold"],
    )
    assert "attention checks" in bad["message"]
    assert (good["panel_id"], good["decision"], good["completion_code"]) == ("5fgood", "approve", "DONE-123")
    assert good["time_spent_seconds"] >= 0
    assert good["trials_answered"] == good["trials_total"] == 5


def test_filters_narrow_the_list(owner: APIClient, study: Study) -> None:
    rejected = owner.get(list_url(study), {"decision": "reject"}).json()
    found = owner.get(list_url(study), {"q": "good"}).json()

    assert [r["panel_id"] for r in rejected["results"]] == ["5fbad"]
    assert [r["panel_id"] for r in found["results"]] == ["5fgood"]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"status": "paid"}, "status"), ({"decision": "maybe"}, "decision"), ({"sort": "shoe_size"}, "sort")],
)
def test_unknown_filter_values_are_refused_with_400(
    owner: APIClient, study: Study, params: dict[str, str], field: str
) -> None:
    response = owner.get(list_url(study), params)

    assert response.status_code == 400
    assert field in response.json()


def test_a_researcher_without_access_gets_404_and_anonymous_403(study: Study) -> None:
    stranger = client_for(UserFactory(username="stranger"))

    assert stranger.get(list_url(study)).status_code == 404
    assert APIClient().get(list_url(study)).status_code == 403
    url = reverse("ratings-api:participant-decision", args=[study.slug, code_of("5fbad")])
    assert stranger.post(url, {"decision": "approve"}, format="json").status_code == 404
    assert Participant.objects.get(external_id="5fbad").decision == ""


def test_the_decision_override_is_stored_and_returned(owner: APIClient, study: Study) -> None:
    url = reverse("ratings-api:participant-decision", args=[study.slug, code_of("5fbad")])

    response = owner.post(url, {"decision": "approve", "message": "Gold image was ambiguous."}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["decision"], body["suggested_decision"], body["is_overridden"]) == (
        "approve",
        "reject",
        True,
    )
    assert Participant.objects.get(external_id="5fbad").decision == "approve"


def test_a_rejection_without_a_message_is_refused_in_words(owner: APIClient, study: Study) -> None:
    url = reverse("ratings-api:participant-decision", args=[study.slug, code_of("5fgood")])

    response = owner.post(url, {"decision": "reject"}, format="json")
    bogus = owner.post(url, {"decision": "pay-twice"}, format="json")

    assert response.status_code == 400
    assert "needs a message" in response.json()["detail"]
    assert bogus.status_code == 400
    assert Participant.objects.get(external_id="5fgood").decision == ""


def test_unknown_participant_and_study_are_404(owner: APIClient, study: Study) -> None:
    decision = reverse("ratings-api:participant-decision", args=[study.slug, "NOSUCHCODE"])
    forget = reverse("ratings-api:participant-forget", args=[study.slug, "NOSUCHCODE"])

    assert owner.post(decision, {"decision": "approve"}, format="json").status_code == 404
    assert owner.post(forget, {}, format="json").status_code == 404
    assert owner.get(reverse("ratings-api:participant-list", args=["no-such-study"])).status_code == 404
    assert owner.get(reverse("ratings-api:participant-export", args=[study.slug, "excel"])).status_code == 404


def test_exports_are_downloads_with_the_panel_ids(owner: APIClient, study: Study) -> None:
    approve = owner.get(reverse("ratings-api:participant-export", args=[study.slug, "prolific-approve"]))
    reject = owner.get(reverse("ratings-api:participant-export", args=[study.slug, "prolific-reject"]))

    assert approve.status_code == 200
    assert approve["Content-Disposition"] == f'attachment; filename="{study.slug}-prolific-approve.txt"'
    assert approve.content.decode() == "5fgood\n"
    rows = list(csv.reader(io.StringIO(reject.content.decode())))
    assert [r[0] for r in rows] == ["participant_id", "5fbad"]
    assert reject["Cache-Control"] == "no-store"


def test_only_the_owner_may_forget_a_participant(owner: APIClient, study: Study) -> None:
    # given a collaborator who can see the study
    helper = UserFactory(username="helper")
    study.collaborators.add(helper)
    url = reverse("ratings-api:participant-forget", args=[study.slug, code_of("5fgood")])

    refused = client_for(helper).post(url, {}, format="json")
    done = owner.post(url, {}, format="json")

    assert refused.status_code == 403
    assert done.status_code == 200
    assert done.json()["had_panel_id"] is True
    assert not Participant.objects.filter(external_id="5fgood").exists()
    assert client_for(helper).get(list_url(study)).json()["count"] == 2


def test_forget_with_bad_input_is_400(owner: APIClient, study: Study) -> None:
    url = reverse("ratings-api:participant-forget", args=[study.slug, code_of("5fgood")])

    response = owner.post(url, {"delete_ratings": "perhaps"}, format="json")

    assert response.status_code == 400
    assert Participant.objects.filter(external_id="5fgood").exists()
