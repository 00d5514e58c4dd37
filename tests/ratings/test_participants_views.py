"""The participants page's forms: filters, decision override, forgetting (server side)."""

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from experiments.models import Study
from ratings.models import Participant, Rating
from tests.factories import UserFactory
from tests.ratings.conftest import make_study
from tests.ratings.flow import constant, take_part

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # The allocation's "counters ensured" flag is cached per study id, and a flushed test
    # database hands out the same ids again: start every test with an empty cache.
    cache.clear()


@pytest.fixture
def study() -> Study:
    study = make_study(tests=8, gold=2, stimuli_per_session=4, gold_per_session=1, target_ratings=3)
    take_part(study, "good-1")
    take_part(study, "bad-1", constant(study, 1))
    return study


@pytest.fixture
def owner(study: Study) -> Client:
    client = Client()
    client.force_login(study.owner)
    return client


def list_url(study: Study) -> str:
    return reverse("participants:list", args=[study.slug])


def code_of(pid: str) -> str:
    return Participant.objects.get(external_id=pid).code


def test_the_page_lists_filters_and_ignores_unknown_filter_values(owner: Client, study: Study) -> None:
    everyone = owner.get(list_url(study)).content.decode()
    rejected = owner.get(list_url(study), {"decision": "reject"}).content.decode()
    odd = owner.get(list_url(study), {"status": "<script>", "sort": "x", "decision": "?"})

    assert "good-1" in everyone
    assert "bad-1" in everyone
    assert "bad-1" in rejected
    assert "good-1" not in rejected
    assert odd.status_code == 200
    assert "2 participants shown" in odd.content.decode()


def test_a_decision_is_saved_and_the_filters_come_back(owner: Client, study: Study) -> None:
    url = reverse("participants:decide", args=[study.slug, code_of("bad-1")])

    response = owner.post(
        url,
        {
            "decision": "approve",
            "message": "ok",
            "back_decision": "reject",
            "back_q": "bad",
            "back_next": "//evil",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == f"{list_url(study)}?decision=reject&q=bad"
    assert Participant.objects.get(external_id="bad-1").decision == "approve"


def test_a_rejection_without_a_message_is_refused_with_a_message_on_the_page(
    owner: Client, study: Study
) -> None:
    url = reverse("participants:decide", args=[study.slug, code_of("good-1")])

    page = owner.post(url, {"decision": "reject", "message": ""}, follow=True).content.decode()

    assert "needs a message" in page
    assert Participant.objects.get(external_id="good-1").decision == ""


def test_the_owner_forgets_a_participant_with_their_ratings_after_confirming(
    owner: Client, study: Study
) -> None:
    code = code_of("bad-1")
    url = reverse("participants:forget", args=[study.slug, code])

    unconfirmed = owner.post(url, {"delete_ratings": "on"})
    done = owner.post(url, {"confirm": "on", "delete_ratings": "on"}, follow=True)

    assert unconfirmed.status_code == 400
    assert "deleted" in done.content.decode()
    assert not Participant.objects.filter(code=code).exists()
    assert not Rating.objects.filter(session__participant__code=code).exists()
    assert Rating.objects.filter(session__study=study).exists()


def test_a_collaborator_sees_the_page_but_may_not_forget(study: Study) -> None:
    helper = UserFactory(username="helper")
    study.collaborators.add(helper)
    client = Client()
    client.force_login(helper)
    url = reverse("participants:forget", args=[study.slug, code_of("good-1")])

    page = client.get(list_url(study)).content.decode()
    refused = client.post(url, {"confirm": "on"})

    assert "good-1" in page
    assert "Forget…" not in page
    assert refused.status_code == 403
    assert Participant.objects.get(code=code_of("good-1")).external_id == "good-1"
