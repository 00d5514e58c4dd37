"""Fixed-window rate limits kept in the cache (Redis in production), failing open.

A limiter that cannot reach its cache lets the request through: an outage of the cache must never
stop participants from rating. `RATELIMIT_ENABLED=false` turns every limit off (load benchmarks
that run many participants from one address); each limit is a setting read per request.
"""

import contextlib
import hashlib
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in settings.TRUSTED_PROXY_IPS)


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or, when that is one of our proxies (TRUSTED_PROXY_IPS),
    the nearest X-Forwarded-For hop that is not one of them (hops further left can be forged)."""
    remote = request.META.get("REMOTE_ADDR", "") or "unknown"
    if not settings.TRUSTED_PROXY_IPS or not _trusted(remote):
        return remote
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop):
            return hop
    return remote


def _key(scope: str, ident: str, window: int) -> str:
    digest = hashlib.sha256(ident.encode()).hexdigest()[:32]
    return f"rl:{scope}:{digest}:{int(time.time() // window)}"


def hit(scope: str, ident: str, *, limit: int, window: int) -> bool:
    """Count one event; True while the count in this window is within the limit."""
    key = _key(scope, ident, window)
    incr_window = getattr(cache, "incr_window", None)  # config.cache.FailOpenRedisCache: one round trip
    if incr_window is not None:
        return int(incr_window(key, window + 1)) <= limit
    try:
        if cache.add(key, 1, timeout=window + 1):
            return True
        return int(cache.incr(key)) <= limit
    except Exception:  # cache down: fail open, say so in the log
        logger.warning("rate limit cache unavailable; letting %s through", scope)
        return True


def hit_all(events: list[tuple[str, str, int]], *, window: int) -> list[bool]:
    """`hit` for several (scope, ident, limit) at once: one cache round trip with Redis."""
    incr_windows = getattr(cache, "incr_windows", None)
    if incr_windows is None:
        return [hit(scope, ident, limit=limit, window=window) for scope, ident, limit in events]
    counts = incr_windows([_key(scope, ident, window) for scope, ident, _limit in events], window + 1)
    return [int(n) <= limit for n, (_scope, _ident, limit) in zip(counts, events, strict=True)]


def count(scope: str, ident: str, *, window: int) -> int:
    try:
        return int(cache.get(_key(scope, ident, window), 0))
    except Exception:
        return 0


def reset(scope: str, ident: str, *, window: int) -> None:
    with contextlib.suppress(Exception):
        cache.delete(_key(scope, ident, window))


def too_many(request: HttpRequest, window: int) -> HttpResponse:
    """429 with a message: JSON for the API, a plain page for a browser."""
    message = _("Too many requests from your address; wait a minute and try again.")
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": message, "code": "rate_limited"}, status=429)
    else:
        response = HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(window)
    return response


def _limit_of(limit: int | str) -> int:
    return int(getattr(settings, limit)) if isinstance(limit, str) else limit


@dataclass(frozen=True)
class Limit:
    """One limit of `ratelimits`: `limit` requests (or the setting it names) per `key(request, ...)`
    (the client IP without a key) and window."""

    scope: str
    limit: int | str
    key: Callable[..., str] | None = None


def ratelimits(
    *limits: Limit, window: int = 60, exempt: Callable[..., bool] | None = None
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Several `ratelimit`s on one view, counted in one cache round trip (the rating hot path).

    Each limit counts every request; one over its limit refuses the request with a 429, unless
    `exempt(request, *args, **kwargs)` (asked only then) lets it through.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if settings.RATELIMIT_ENABLED:
                events = [
                    (
                        x.scope,
                        x.key(request, *args, **kwargs) if x.key else client_ip(request),
                        _limit_of(x.limit),
                    )
                    for x in limits
                ]
                if not all(hit_all(events, window=window)) and not (
                    exempt and exempt(request, *args, **kwargs)
                ):
                    return too_many(request, window)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def ratelimit(
    scope: str,
    *,
    limit: int | str,
    window: int = 60,
    key: Callable[..., str] | None = None,
    exempt: Callable[..., bool] | None = None,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Refuse more than `limit` requests per client IP (or per `key(request, *args, **kwargs)`)
    and `window` seconds with a 429. `limit` may name a setting, read on every request.

    `exempt(request, *args, **kwargs)` is asked only once the limit is reached (it may query):
    True lets the request through anyway (our own pilot runs' simulated participants).
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if settings.RATELIMIT_ENABLED:
                ident = key(request, *args, **kwargs) if key else client_ip(request)
                if not hit(scope, ident, limit=_limit_of(limit), window=window) and not (
                    exempt and exempt(request, *args, **kwargs)
                ):
                    return too_many(request, window)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
