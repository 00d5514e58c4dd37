"""gunicorn config for bench/startup: write when the worker was forked and when its app was loaded.

The times (time.time()) go to the file named by BENCH_STARTUP_HOOKS, one "event seconds" a line.
"""

import os
import time
from typing import Any


def _write(event: str) -> None:
    with open(os.environ["BENCH_STARTUP_HOOKS"], "a") as out:
        out.write(f"{event} {time.time():.6f}\n")


def post_fork(server: Any, worker: Any) -> None:
    _write("fork")


def post_worker_init(worker: Any) -> None:
    _write("app_loaded")
