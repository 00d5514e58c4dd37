"""`/healthz`: is the database reachable, is the broker reachable."""

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse


def _database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "down"; the message says which
        return False, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return True, "ok"


def _broker_ok() -> tuple[bool, str]:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return True, "no broker: jobs run in the web process"
    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # any failure means "down"
        return False, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return True, "ok"


def healthz(request: HttpRequest) -> JsonResponse:
    db_ok, db_msg = _database_ok()
    broker_ok, broker_msg = _broker_ok()
    body = {
        "status": "ok" if db_ok and broker_ok else "unavailable",
        "database": {"ok": db_ok, "detail": db_msg},
        "broker": {"ok": broker_ok, "detail": broker_msg},
    }
    return JsonResponse(body, status=200 if db_ok and broker_ok else 503)
