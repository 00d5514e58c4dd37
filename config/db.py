"""Prepared statements for the few statements on the participant hot path.

Django binds parameters on the client (psycopg's ClientCursor) and never prepares: every
statement is parsed and planned by PostgreSQL each time, and its parameters are quoted into the
text by Python. For the rating path's two statements that was most of their cost (bench/load).
`execute_prepared` runs one statement with server-side binding, prepared once per connection
(psycopg keeps the 100 most recent; `DJANGO_DB_PREPARE=false` turns it off, e.g. behind a
PgBouncer older than 1.21 in transaction mode).

As through `connection.cursor()`: errors are Django's, the connection's execute wrappers run,
and the statement is logged where queries are (DEBUG, CaptureQueriesContext).
"""

import functools
import time
from collections.abc import Sequence
from typing import Any, cast

import psycopg
from django.conf import settings
from django.db import connection


def execute_prepared(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run `sql` (`%s` placeholders), a statement that returns rows, with `params` on the default
    connection; its rows. (Not `cursor.description`: it builds an object per column.)"""
    if not settings.DB_PREPARE or connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    connection.ensure_connection()
    rows: list[tuple[Any, ...]] = []

    def run(sql: str, params: Sequence[Any], many: bool, context: dict[str, Any]) -> None:
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(sql, params, prepare=True)
            rows.extend(cursor.fetchall())

    executor = run
    for wrapper in reversed(connection.execute_wrappers):
        executor = functools.partial(wrapper, executor)
    started = time.monotonic()
    try:
        with connection.wrap_database_errors:
            connection.validate_no_broken_transaction()
            executor(sql, params, False, {"connection": connection, "cursor": None})
    finally:
        if connection.queries_logged:
            shown = cast(Any, connection.ops).compose_sql(sql, params)  # the PostgreSQL backend's
            connection.queries_log.append({"sql": shown, "time": f"{time.monotonic() - started:.3f}"})
    return rows
