"""The dashboard's finishing figures: valid ratings per perspective after the latest real analysis,
stalled sessions apart from active ones, participants still needed, and the cost to finish.
Participants take part through the real services."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from analysis import services as analysis_services
from experiments.dashboard import study_dashboard
from experiments.models import Study
from ratings.models import RatingSession
from tests.factories import UserFactory
from tests.ratings.conftest import make_study
from tests.ratings.flow import constant, take_part

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # The allocation's "counters ensured" flag is cached per study id, and a flushed test
    # database hands out the same ids again: start every test with an empty cache.
    cache.clear()


def small_study(**fields: object) -> Study:
    """Eight test images, four per session plus one gold image; three valid ratings each wanted."""
    return make_study(tests=8, gold=2, stimuli_per_session=4, gold_per_session=1, target_ratings=3, **fields)


def test_valid_ratings_per_perspective_follow_the_latest_real_analysis() -> None:
    # given every participant rates all four test images; one fails the gold check
    study = make_study(tests=4, gold=1, stimuli_per_session=4, gold_per_session=1, target_ratings=4)
    for pid in ("a", "b", "c"):
        take_part(study, pid)
    take_part(study, "failer", constant(study, 1))
    before = study_dashboard(study=study)

    # when the real analysis excludes the failer
    run = analysis_services.analysis_run_start(study=study, method="mos", enqueue=False)
    analysis_services.analysis_run_execute(run_id=run.id)
    after = study_dashboard(study=study)

    # then the failer's ratings no longer count, from every perspective, and one more rater is needed
    keys = list(study.perspectives.order_by("order").values_list("key", flat=True))
    assert [p.key for p in after.perspectives] == keys
    assert {(p.valid_ratings, p.stimuli_at_target, p.ratings_needed) for p in before.perspectives} == {
        (16, 4, 0)
    }
    assert (before.latest_analysis, before.participants_needed) == (None, 0)
    assert [
        (p.valid_ratings, p.stimuli_at_target, p.fewest, p.ratings_needed) for p in after.perspectives
    ] == [(12, 0, 3, 4)] * len(keys)
    assert after.latest_analysis is not None
    assert (after.latest_analysis["id"], after.latest_analysis["rejected"]) == (run.id, 0)
    assert after.participants_needed == 1


def test_stalled_sessions_are_counted_apart_from_active_ones() -> None:
    study = small_study(session_expiry_minutes=60)
    take_part(study, "active", answer=1)
    idle = take_part(study, "idle", answer=1)
    # the idle participant's last request was 20 minutes ago
    RatingSession.objects.filter(pk=idle.pk).update(last_seen_at=timezone.now() - timedelta(minutes=20))

    d = study_dashboard(study=study)

    assert (d.sessions_in_progress, d.sessions_stalled) == (1, 1)


def test_participants_still_needed_to_recruit_and_the_cost_to_finish() -> None:
    # given 8 images x 3 ratings over sessions of 4 images; three finished, one of them failed gold
    study = small_study()
    study.pay_per_participant = Decimal("2.50")
    study.save()
    take_part(study, "p1")
    take_part(study, "p2")
    take_part(study, "p3", constant(study, 1))

    d = study_dashboard(study=study)

    # then 24 - 12 ratings still needed = 3 participants; 2 of 3 finished ones usable -> recruit 5
    assert {p.ratings_needed for p in d.perspectives} == {12}
    assert d.participants_needed == 3
    assert d.usable_share == pytest.approx(2 / 3)
    assert d.participants_to_recruit == 5
    assert d.cost_to_finish == 12.5
    assert d.as_dict()["cost_text"] == "12.50"


def test_an_active_session_counts_towards_the_participants_needed() -> None:
    study = small_study()
    take_part(study, "p1")
    assert study_dashboard(study=study).participants_needed == 5

    take_part(study, "p2", answer=0)

    d = study_dashboard(study=study)
    assert (d.sessions_in_progress, d.participants_needed) == (1, 4)
    assert d.cost_to_finish is None
    assert "pay per participant" in d.cost_text


def test_the_pay_per_participant_is_saved_from_the_dashboard() -> None:
    owner = UserFactory(username="payer")
    study = small_study(owner=owner)
    take_part(study, "p1")
    client = Client()
    client.force_login(owner)
    url = reverse("experiments:study-pay", args=[study.slug])

    refused = client.post(url, {"pay_per_participant": "-3"}, follow=True)
    saved = client.post(url, {"pay_per_participant": "4.20"}, follow=True)

    assert "must be a number of at least 0" in refused.content.decode()
    assert "Pay per participant saved" in saved.content.decode()
    study.refresh_from_db()
    assert study.pay_per_participant == Decimal("4.20")
    body = client.get(reverse("experiments:study-dashboard-json", args=[study.slug])).json()
    assert (body["participants_to_recruit"], body["cost_text"]) == (5, "21.00")


def test_a_stranger_cannot_set_the_pay() -> None:
    study = small_study()
    client = Client()
    client.force_login(UserFactory(username="stranger"))

    response = client.post(reverse("experiments:study-pay", args=[study.slug]), {"pay_per_participant": "1"})

    assert response.status_code == 404
    study.refresh_from_db()
    assert study.pay_per_participant is None
