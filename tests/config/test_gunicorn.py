"""The web server as scripts/run and docs/deploy.md start it: gunicorn -c config/gunicorn.py."""

import http.client
import os
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    return response.status, response.getheader("X-Served-By", "")


def test_workers_forked_from_the_preloaded_master_serve_and_are_replaced_quickly() -> None:
    port = _free_port()
    log = ROOT / "var" / f"test-gunicorn-{port}.log"
    log.parent.mkdir(exist_ok=True)
    # given gunicorn with the project's settings, one worker replaced after every 5 requests
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "--config", "config/gunicorn.py"]
            + ["--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "2"]
            + ["--max-requests", "5", "--max-requests-jitter", "0", "--log-level", "info"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                _get(port, "/accounts/login/")
                break
            except OSError:
                time.sleep(0.2)

        # when 30 pages are asked for in a row (the worker is replaced five times meanwhile)
        started = time.monotonic()
        statuses = [_get(port, "/accounts/login/")[0] for _ in range(30)]
        took = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = log.read_text()

    # then every page was served, the app was loaded once (in the master: "preload"), and the
    # replacements cost no app import each: 30 pages and 6 workers in well under the 6 x 0.9 s
    # that importing the app in each worker would take
    assert statuses == [200] * 30, text[-2000:]
    assert text.count("Booting worker") >= 6, text[-2000:]
    assert took < 4.5, (took, text[-2000:])
