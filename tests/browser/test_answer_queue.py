"""The trial page's answer queue against the real server: what it drops, what it retries, what it
says. Headless Chromium; the network is only cut or altered in flight (page.route), the answers
are judged by the real rating endpoint and PostgreSQL."""

import json
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from ratings.models import Rating, RatingSession
from tests.browser.helpers import pump_until
from tests.browser.test_participant_journey import rate, through_the_stages
from tests.ratings.conftest import make_study

pytestmark = pytest.mark.browser
SUBMIT = "**/api/participant/*/ratings/"


def start(live_server: Any, page: Page, pid: str) -> RatingSession:
    study = make_study(tests=4, stimuli_per_session=2, min_viewing_ms=0)
    page.goto(f"{live_server.url}/s/{study.slug}/?pid={pid}")
    through_the_stages(page)
    return RatingSession.objects.get(participant__external_id=pid)


def test_an_answer_stored_whose_response_was_lost_is_sent_again_and_dropped_on_the_replay(
    live_server: Any, page: Page
) -> None:
    session = start(live_server, page, "replay-1")
    statuses: list[int] = []

    def lose_first_response(route: Route) -> None:
        response = route.fetch()  # the server stores the answer...
        statuses.append(response.status)
        if len(statuses) == 1:
            route.abort("connectionreset")  # ...and the page never hears of it
        else:
            route.fulfill(response=response)

    page.route(SUBMIT, lose_first_response)
    rate(page, 0, "234")
    pump_until(page, lambda: len(statuses) >= 2)
    expect(page.locator("#net-banner")).to_be_hidden()
    rate(page, 1)
    expect(page.locator("#completion-code")).to_be_visible()

    assert statuses[:2] == [201, 200]  # stored, then "stored before" for the same key and answers
    assert Rating.objects.filter(session=session, trial_index=0).count() == 3


def test_an_expired_csrf_token_is_refreshed_and_the_answer_sent_again(live_server: Any, page: Page) -> None:
    session = start(live_server, page, "csrf-1")
    statuses: list[int] = []
    page.on(
        "response",
        lambda r: statuses.append(r.status) if "/ratings/" in r.url and r.request.method == "POST" else None,
    )
    # the CSRF cookie disappears (a log-in in another tab rotates it; a privacy tool clears it)
    page.context.clear_cookies()

    rate(page, 0, "345")

    pump_until(page, lambda: Rating.objects.filter(session=session, trial_index=0).count() == 3)
    pump_until(page, lambda: len(statuses) >= 2)
    assert statuses[:2] == [403, 201]
    expect(page.locator("#net-banner")).to_be_hidden()


def test_an_answer_the_server_refuses_is_explained_and_the_image_asked_again(
    live_server: Any, page: Page
) -> None:
    session = start(live_server, page, "refused-1")

    def corrupt(route: Route) -> None:
        body = json.loads(route.request.post_data or "{}")
        body["scores"]["quality"] = 9  # what a broken or tampered page would send
        route.continue_(post_data=json.dumps(body))

    page.route(SUBMIT, corrupt)
    rate(page, 0, "234")

    banner = page.locator("#net-banner")
    expect(banner).to_contain_text(
        "This answer could not be saved: The answer to quality must be between 1 and 5."
    )
    assert not Rating.objects.filter(session=session).exists()
    page.unroute(SUBMIT)
    page.locator("#refused-reload").click()

    # the same image is asked again, and this time the answer is stored
    rate(page, 0, "234")
    rate(page, 1)
    expect(page.locator("#completion-code")).to_be_visible()
    assert sorted(Rating.objects.filter(session=session, trial_index=0).values_list("score", flat=True)) == [
        2,
        3,
        4,
    ]
