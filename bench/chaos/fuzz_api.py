#!/usr/bin/env python
"""The long API fuzz run: `.venv/bin/python bench/chaos/fuzz_api.py [--examples N]`.

Starts the stack of bench/chaos (gunicorn, PostgreSQL, Redis, Celery) and fuzzes every operation
of /api/schema/ with schemathesis (schema-valid and schema-violating requests, random and real
path parameters), as the owner of a rated study. Prints the status counts and every finding:
a 5xx, or a 4xx without a message. The bounded version runs in the suite
(tests/security/test_api_fuzz.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.chaos.run import django_setup  # noqa: E402
from bench.chaos.stack import Stack  # noqa: E402

VAR = ROOT / "var" / "bench-fuzz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--examples", type=int, default=100, help="per operation, mode and path-parameter choice"
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="fixed seed (default: a new random run each time)"
    )
    args = parser.parse_args()
    stack = Stack(VAR)
    try:
        print("starting the stack in", VAR.relative_to(ROOT), flush=True)
        stack.start()
        django_setup(stack.env)
        from rest_framework.authtoken.models import Token

        from tests.security.fuzz import fuzz_api
        from tests.security.world import build_world

        world = build_world()
        token = Token.objects.create(user=world.users["owner"]).key
        ids = {
            "slug": world.study.slug,
            "run": world.run.pk,
            "import": world.stimulus_import.pk,
            "stimulus": world.stimulus.pk,
        }
        started = time.monotonic()
        report = fuzz_api(stack.url, token=token, ids=ids, examples=args.examples, seed=args.seed, log=print)
        seconds = time.monotonic() - started
    finally:
        stack.stop()
    result = {
        "requests": report.calls,
        "seconds": round(seconds, 1),
        "statuses": dict(sorted(report.statuses.items())),
        "findings": report.findings,
    }
    (VAR / "results.json").write_text(json.dumps(result, indent=2))
    print(f"\n== API fuzz: {report.summary()} in {seconds:.0f} s; status counts {result['statuses']}")
    print(f"findings (5xx, or 4xx without a message): {len(report.findings)}")
    for finding in report.findings[:50]:
        print("  " + finding)
    sys.exit(1 if report.findings else 0)


if __name__ == "__main__":
    main()
