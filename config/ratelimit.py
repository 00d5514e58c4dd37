"""Fixed-window rate limits kept in the cache (Redis in production), failing open.

A limiter that cannot reach its cache lets the request through: an outage of the cache must never
stop participants from rating.
"""

import hashlib
import logging
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)


def client_ip(request: HttpRequest) -> str:
    # Behind the proxy, the first X-Forwarded-For hop is the client; trust only REMOTE_ADDR otherwise.
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _key(scope: str, ident: str, window: int) -> str:
    digest = hashlib.sha256(ident.encode()).hexdigest()[:32]
    return f"rl:{scope}:{digest}:{int(time.time() // window)}"


def hit(scope: str, ident: str, *, limit: int, window: int) -> bool:
    """Count one event; True while the count in this window is within the limit."""
    key = _key(scope, ident, window)
    try:
        if cache.add(key, 1, timeout=window + 1):
            return True
        return int(cache.incr(key)) <= limit
    except Exception:  # cache down: fail open, say so in the log
        logger.warning("rate limit cache unavailable; letting %s through", scope)
        return True


def count(scope: str, ident: str, *, window: int) -> int:
    try:
        return int(cache.get(_key(scope, ident, window), 0))
    except Exception:
        return 0


def reset(scope: str, ident: str, *, window: int) -> None:
    try:
        cache.delete(_key(scope, ident, window))
    except Exception:
        pass


def ratelimit(scope: str, *, limit: int, window: int = 60) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Refuse more than `limit` requests per client IP and `window` seconds with a 429."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not hit(scope, client_ip(request), limit=limit, window=window):
                response = JsonResponse(
                    {"detail": "Too many requests; wait a minute and try again.", "code": "rate_limited"},
                    status=429,
                )
                response["Retry-After"] = str(window)
                return response
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
