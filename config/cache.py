"""A Redis cache that fails open: when Redis is down, reads miss and writes are dropped.

The cache only ever holds hints (rate-limit counters, "ran recently" flags), so an outage must
cost a little efficiency, never a participant's request. Django's own Redis backend raises.
"""

import logging
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)
DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


class FailOpenRedisCache(RedisCache):
    _cache: RedisCacheClient  # Django's cached property, which the stubs do not declare

    def _down(self, op: str) -> None:
        logger.warning("cache unavailable (%s); carrying on without it", op)

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        try:
            return super().get(key, default, version)
        except DOWN:
            self._down("get")
            return default

    def add(self, key: Any, value: Any, timeout: Any = 300, version: int | None = None) -> bool:
        # True: the caller goes on as if it were first (runs its now-and-then job, counts 1).
        try:
            return super().add(key, value, timeout, version)
        except DOWN:
            self._down("add")
            return True

    def set(self, key: Any, value: Any, timeout: Any = 300, version: int | None = None) -> None:
        try:
            super().set(key, value, timeout, version)
        except DOWN:
            self._down("set")

    def delete(self, key: Any, version: int | None = None) -> bool:
        try:
            return super().delete(key, version)
        except DOWN:
            self._down("delete")
            return False

    def incr_window(self, key: Any, timeout: int, version: int | None = None) -> int:
        """Count one event in a fixed-window counter: INCR and EXPIRE in one round trip (the
        rate limiter's hot path; add + incr cost three). Redis down: 1, i.e. let it through."""
        key = self.make_and_validate_key(key, version=version)
        try:
            pipe = self._cache.get_client(key, write=True).pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, timeout)
            return int(pipe.execute()[0])
        except DOWN:
            self._down("incr_window")
            return 1

    def incr_windows(self, keys: list[Any], timeout: int, version: int | None = None) -> list[int]:
        """`incr_window` for several counters in one round trip (a request under two limits)."""
        made = [self.make_and_validate_key(key, version=version) for key in keys]
        try:
            pipe = self._cache.get_client(made[0], write=True).pipeline(transaction=False)  # type: ignore[attr-defined]
            for key in made:
                pipe.incr(key)
                pipe.expire(key, timeout)
            return [int(n) for n in pipe.execute()[::2]]
        except DOWN:
            self._down("incr_windows")
            return [1] * len(made)

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        try:
            return super().incr(key, delta, version)
        except DOWN:
            self._down("incr")
            return delta
