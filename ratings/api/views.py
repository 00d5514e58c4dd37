"""Participant JSON endpoints, called by the trial page's own script (same origin, CSRF token).

The rating endpoint is the hot path: a plain Django view with a small hand-written parser (no DRF
serializer machinery), one service call, a few indexed queries.
"""

import json
import math
import uuid
from datetime import datetime
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.middleware.csrf import get_token
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from config.errors import ConflictError, DomainError
from config.ratelimit import Limit, ratelimit, ratelimits
from ratings.models import RatingSession
from ratings.selectors import session_get_by_token
from ratings.services import rating_submit, session_device_change

MAX_MS = 2**31 - 1


def _error(exc: DomainError) -> JsonResponse:
    status = 409 if isinstance(exc, ConflictError) else 400
    return JsonResponse({"detail": str(exc), "code": exc.code}, status=status)


def _body(request: HttpRequest) -> dict[str, Any]:
    # PostgreSQL refuses NUL in text and JSON: refuse it here, not with a database error.
    if b"\\u0000" in request.body:
        raise DomainError(_("The request body contains a NUL character."), code="bad_json")
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: absurdly deep nesting
        raise DomainError(_("The request body is not JSON."), code="bad_json") from None
    if not isinstance(data, dict):
        raise DomainError(_("The request body must be a JSON object."), code="bad_json")
    return data


def _int(value: Any, name: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)  # NaN / Infinity literals, 1e400
        or value != int(value)
        or value < 0
    ):
        raise DomainError(
            _("%(name)s must be a whole number of at least 0.") % {"name": name}, code="invalid"
        )
    return min(int(value), MAX_MS)


def _ms(value: Any) -> int | None:
    """A duration in ms, leniently: a timing never costs the participant an answer
    (negative = answered before the image was shown -> 0; not a number -> None)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return min(max(int(value), 0), MAX_MS)


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None


def _token(request: HttpRequest, token: str) -> str:
    return f"token:{token}"


def _pilot_session(request: HttpRequest, token: str) -> bool:
    """Simulated participants of a pilot run answer faster than people, from the server's address."""
    return RatingSession.objects.filter(token=token, is_pilot=True).exists()


@require_POST
@ratelimits(
    Limit("rating-ip", "RATELIMIT_RATING_IP_PER_MINUTE"),
    Limit("rating", "RATELIMIT_RATING_PER_MINUTE", key=_token),
    exempt=_pilot_session,
)
def rating_submit_api(request: HttpRequest, token: str) -> JsonResponse:
    """POST {index, stimulus, scores: {perspective key: score}, annotations: {task key: answer}
    (studies with annotation tasks; ratings.annotations), key: uuid, viewing_ms, response_ms,
    client_time} -> 201 stored (200 when the same key and answers were stored before)."""
    try:
        data = _body(request)
        try:
            key = uuid.UUID(str(data.get("key")))
        except ValueError:
            raise DomainError(_("key must be a UUID."), code="invalid") from None
        result = rating_submit(
            token=token,
            trial_index=_int(data.get("index"), "index") or 0,
            stimulus_id=_int(data.get("stimulus"), "stimulus", optional=True),
            scores=data.get("scores"),
            annotations=data.get("annotations"),
            idempotency_key=key,
            viewing_ms=_ms(data.get("viewing_ms")),
            response_ms=_ms(data.get("response_ms")),
            client_time=_time(data.get("client_time")),
        )
    except DomainError as exc:
        return _error(exc)
    return JsonResponse(
        {
            "stored": True,
            "created": result.created,
            "index": result.index,
            "next_index": result.next_index,
            "status": result.status,
            "next": result.next_trial,
        },
        status=201 if result.created else 200,
    )


@require_POST
@ratelimit("device", limit="RATELIMIT_RATING_PER_MINUTE", key=_token, exempt=_pilot_session)
def device_change_api(request: HttpRequest, token: str) -> JsonResponse:
    """POST the device as the page sees it now (after a zoom or resize): recorded with the session."""
    try:
        session = session_get_by_token(token=token)
        session_device_change(session=session, device=_body(request))
    except DomainError as exc:
        return _error(exc)
    return JsonResponse({"stored": True}, status=201)


@require_GET
@never_cache
def csrf_token_api(request: HttpRequest, token: str) -> JsonResponse:
    """GET -> {csrf}: a fresh CSRF token for the trial page, whose token expired (a login in another
    tab rotates it). Only for an existing session's page."""
    session_get_by_token(token=token)
    return JsonResponse({"csrf": get_token(request)})
