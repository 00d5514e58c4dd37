"""The reference endpoint: plain Django, one INSERT of a rating-shaped row, nothing else.

Same middleware as the real endpoint (CSRF included), JSON in and out; no session lookup, no
validation, no allocation bookkeeping. The table is created by bench/load/run.py.
"""

import json
import uuid

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST

TABLE_SQL = """
CREATE TABLE IF NOT EXISTS bench_reference_rating (
    id bigserial PRIMARY KEY,
    session_id bigint NOT NULL, trial_id bigint NOT NULL, stimulus_id bigint NOT NULL,
    perspective_id bigint NOT NULL, score double precision NOT NULL, repetition smallint NOT NULL,
    kind varchar(10) NOT NULL, prompt_shown text NOT NULL, trial_index integer NOT NULL,
    viewing_ms integer, response_ms integer, client_time timestamptz,
    server_time timestamptz NOT NULL DEFAULT now(), idempotency_key uuid NOT NULL
);
CREATE INDEX IF NOT EXISTS bench_reference_stimulus_perspective ON bench_reference_rating (stimulus_id, perspective_id);
CREATE INDEX IF NOT EXISTS bench_reference_key ON bench_reference_rating (idempotency_key);
"""


@require_POST
def reference_insert(request: HttpRequest) -> JsonResponse:
    data = json.loads(request.body)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_reference_rating (session_id, trial_id, stimulus_id, perspective_id, score,"
            " repetition, kind, prompt_shown, trial_index, viewing_ms, response_ms, client_time, idempotency_key)"
            " VALUES (%s, %s, %s, %s, %s, 0, 'test', %s, %s, %s, %s, %s, %s) RETURNING id",
            [
                1,
                data["index"],
                data["stimulus"],
                1,
                data["scores"]["quality"],
                "a prompt",
                data["index"],
                data.get("viewing_ms"),
                data.get("response_ms"),
                data.get("client_time"),
                uuid.UUID(data["key"]),
            ],
        )
        row_id = cursor.fetchone()[0]
    return JsonResponse({"stored": True, "id": row_id}, status=201)
