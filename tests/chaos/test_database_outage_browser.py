"""A database outage during a participant's session, in a real browser against the live server.

The outage is real for the server: its PostgreSQL sessions are terminated and the database
refuses new connections (what a restart looks like from the application), while this test keeps
its own session to watch. The page says it is reconnecting, keeps the answer, and the answer
arrives once when the database is back; the server recovers without a restart
(CONN_HEALTH_CHECKS). The full PostgreSQL restart under load: bench/chaos/run.py postgres.
"""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from django.db import connection
from playwright.sync_api import Page, expect

from ratings.models import Rating, RatingSession
from tests.ratings.conftest import enter, make_study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def wait_for(condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


@contextmanager
def database_down() -> Iterator[None]:
    """Refuse new connections to the test database and cut every session to it (this test's
    too), from a connection to the maintenance database."""
    params = connection.get_connection_params()
    name = connection.settings_dict["NAME"]
    quoted = connection.ops.quote_name(name)
    admin = psycopg.connect(**{**params, "dbname": "postgres"}, autocommit=True)
    try:
        admin.execute(f"ALTER DATABASE {quoted} WITH ALLOW_CONNECTIONS false")
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
        yield
    finally:
        admin.execute(f"ALTER DATABASE {quoted} WITH ALLOW_CONNECTIONS true")
        admin.close()
        connection.close()  # this test's own session was cut: reconnect on next use


def answer(page: Page, index: int) -> None:
    expect(page.locator(f'#trial[data-index="{index}"]')).to_be_visible()
    for key in "435":
        page.keyboard.press(key)
    page.keyboard.press("Enter")


def test_answers_given_while_the_database_is_down_arrive_once_when_it_is_back(
    live_server: Any, page: Page
) -> None:
    # given a participant at the trials, whose first answer is stored
    study = make_study(stimuli_per_session=3)
    session = enter(study)
    RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.RATING)
    page.goto(f"{live_server.url}/s/{study.slug}/t/{session.token}/")
    answer(page, 0)
    wait_for(lambda: Rating.objects.filter(session=session).count() == 3)

    # when the database goes away while they answer the next image
    with database_down():
        answer(page, 1)
        # then the page says it is reconnecting and keeps the answer; nothing more is stored
        expect(page.locator("#net-banner")).to_contain_text("Connection lost", timeout=15_000)
        time.sleep(1.0)  # a few more retries fail while it is down

    # and once it is back, the answer arrives exactly once and the participant carries on
    wait_for(lambda: Rating.objects.filter(session=session).count() == 6)
    expect(page.locator("#net-banner")).to_be_hidden(timeout=15_000)
    rows = list(
        Rating.objects.filter(session=session).values_list("trial_index", "perspective__key", "score")
    )
    assert len(rows) == len(set((i, k) for i, k, _ in rows)) == 6
    assert sorted(s for i, _, s in rows if i == 1) == [3.0, 4.0, 5.0]
    answer(page, 2)
    wait_for(lambda: Rating.objects.filter(session=session).count() == 9)
