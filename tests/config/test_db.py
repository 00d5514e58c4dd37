"""config.db.execute_prepared: the hot path's statements prepared on the server, and otherwise
behaving as statements through Django's cursor do."""

from typing import Any

import pytest
from django.db import IntegrityError, connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from config.db import execute_prepared

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

SQL = "SELECT %s::int + 1, %s::text"


def _prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_a_statement_is_prepared_once_per_connection_and_answers_as_it_would_unprepared() -> None:
    # given a connection that has prepared nothing yet
    connection.close()
    connection.ensure_connection()
    assert _prepared_statements() == []

    # when the same statement runs three times with other values
    answers = [execute_prepared(SQL, [n, f"run {n}"]) for n in (1, 2, 3)]

    # then each run answers with its own values, and the server holds the statement once,
    # with placeholders: parsed and planned there, not sent again as text with the values in it
    assert answers == [[(2, "run 1")], [(3, "run 2")], [(4, "run 3")]]
    assert _prepared_statements() == ["SELECT $1::int + 1, $2::text"]


def test_a_statement_is_logged_as_django_logs_queries_and_execute_wrappers_see_it() -> None:
    seen: list[str] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    # when a statement runs while queries are captured and an execute wrapper is installed
    with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(wrapper):
        execute_prepared(SQL, [41, "x"])

    # then both saw it: the log with its values, the wrapper with its placeholders
    assert [q["sql"] for q in captured.captured_queries] == ["SELECT 41::int + 1, 'x'::text"]
    assert seen == [SQL]


def test_a_refused_statement_raises_djangos_error_and_the_connection_goes_on() -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE prepared_probe (id int PRIMARY KEY)")
    insert = "INSERT INTO prepared_probe (id) VALUES (%s) RETURNING id"
    assert execute_prepared(insert, [1]) == [(1,)]

    # when the same row goes in again
    with pytest.raises(IntegrityError):
        execute_prepared(insert, [1])

    # then Django's IntegrityError said so (what the rating path catches), nothing was stored,
    # and the next statement on the connection runs
    assert execute_prepared("SELECT count(*) FROM prepared_probe", []) == [(1,)]


def test_with_prepared_statements_off_the_statement_runs_unprepared() -> None:
    # given DJANGO_DB_PREPARE=false (PgBouncer before 1.21 in transaction mode): a fresh connection
    connection.close()
    with override_settings(DB_PREPARE=False):
        connection.ensure_connection()

        # when a statement runs twice
        answers = [execute_prepared(SQL, [n, "off"]) for n in (5, 6)]

    # then it answered each time, and the server holds no prepared statement
    assert answers == [[(6, "off")], [(7, "off")]]
    assert _prepared_statements() == []
