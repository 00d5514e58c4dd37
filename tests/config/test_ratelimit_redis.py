"""Several limits on one view counted in one Redis round trip (config.ratelimit.ratelimits), on the
real Redis of the test run, as production keeps its shared counters."""

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from config.ratelimit import Limit, ratelimits


@pytest.fixture
def redis_cache(settings: Any) -> Iterator[None]:
    settings.CACHES = {
        "default": {
            "BACKEND": "config.cache.FailOpenRedisCache",
            "LOCATION": os.environ["REDIS_URL"][:-1] + "3",
        }
    }
    settings.RATELIMIT_ENABLED = True
    settings.LIMIT_PER_TOKEN = 2
    cache.clear()
    yield
    cache.clear()


def view(request: HttpRequest, token: str) -> HttpResponse:
    return HttpResponse("ok")


def by_token(request: HttpRequest, token: str) -> str:
    return token


limited = ratelimits(Limit("per-ip", 5), Limit("per-token", "LIMIT_PER_TOKEN", key=by_token))(view)


def statuses(token: str, n: int, ip: str = "198.51.100.9") -> list[int]:
    return [limited(RequestFactory().post("/x", REMOTE_ADDR=ip), token).status_code for _ in range(n)]


def test_each_limit_counts_on_its_own_key_and_the_first_one_reached_refuses(redis_cache: None) -> None:
    assert hasattr(cache, "incr_windows")  # the one-round-trip path is the one under test

    # the token limit (2) is reached first; another token goes on until the address limit (5)
    assert statuses("a", 3) == [200, 200, 429]
    assert statuses("b", 3) == [200, 200, 429]
    # a third address is not limited by the first one's count
    assert statuses("c", 1, ip="198.51.100.10") == [200]


def test_counters_fail_open_when_redis_is_unreachable(settings: Any) -> None:
    settings.CACHES = {
        "default": {"BACKEND": "config.cache.FailOpenRedisCache", "LOCATION": "redis://127.0.0.1:9/0"}
    }
    settings.RATELIMIT_ENABLED = True
    settings.LIMIT_PER_TOKEN = 1

    assert statuses("a", 3) == [200, 200, 200]
