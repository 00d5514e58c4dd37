"""A process of the app starts without the heavy libraries: they load when a job first needs them.

Start-up speed is measured by bench/startup/run.py; what is imported is a behaviour, checked here
in a fresh interpreter (the test process has long imported everything).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
HEAVY = ["matplotlib", "openpyxl", "scipy.stats", "scipy.special", "pandas"]

# django.setup() as a gunicorn worker does, then every URLconf (hence every view and admin module)
# as the first request does. Then, as a Celery worker does at boot, every task module.
WEB = """
import json, sys
import django
django.setup()
from django.urls import URLResolver, get_resolver

def walk(resolver):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            walk(pattern)

walk(get_resolver())
web = sorted(name for name in HEAVY + ["celery"] if name in sys.modules)

from config.celery import app
app.loader.import_default_modules()
import analysis.tasks, experiments.tasks, ratings.tasks
from django.conf import settings
print(json.dumps({
    "web": web,
    "worker": sorted(name for name in HEAVY if name in sys.modules),
    "task_apps": sorted({t.app.main for t in (
        analysis.tasks.analysis_run_execute_task,
        experiments.tasks.stimulus_import_execute_task,
        ratings.tasks.expire_sessions_task,
    )}),
    "broker_is_ours": app.conf.broker_url == settings.CELERY_BROKER_URL,
}))
"""


# A Celery worker at boot: django.setup(), then the task modules (Celery's Django fix-up runs the
# system checks there unless CELERY_SKIP_CHECKS is set, which config.celery does).
WORKER = """
import json, os, sys
os.environ.pop("CELERY_SKIP_CHECKS", None)
import django
django.setup()
from config.celery import app
app.loader.import_default_modules()
print(json.dumps({
    "loaded": sorted(name for name in ["config.urls", "rest_framework.views", "experiments.views"]
                     if name in sys.modules),
    "skip_checks": os.environ.get("CELERY_SKIP_CHECKS"),
}))
"""


def _run(code: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{code}"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_web_and_worker_processes_start_without_plotting_spreadsheet_or_statistics_libraries() -> None:
    # when
    loaded = _run(WEB)

    # then: nothing heavy in the web process, not even Celery until a job is enqueued
    assert loaded["web"] == []
    assert loaded["worker"] == []
    # and the tasks, once imported, are bound to the project's Celery app and broker
    assert loaded["task_apps"] == ["aigciqa"]
    assert loaded["broker_is_ours"] is True


def test_a_celery_worker_boots_without_the_urlconf_views_or_drf() -> None:
    # when
    loaded = _run(WORKER)

    # then: the system checks (whose result Celery discards) did not import the URLconf
    assert loaded["skip_checks"] == "1"
    assert loaded["loaded"] == []


def test_the_heavy_libraries_load_where_they_are_used() -> None:
    # The other side of the same behaviour: the lazy imports still happen where they are used:
    # matplotlib when a plot is drawn, pandas when compute_mos reads a CSV, openpyxl when a prompt
    # sheet is read, scipy.stats when metrics are benchmarked, scipy.special when a precision
    # study computes a Student t half-width.
    loaded = _run(
        "import django, sys, json\ndjango.setup()\n"
        "from analysis import plots, offline\nplots._figure(1)\n"
        "offline._pandas_read(b'a\\n1\\n', ['a'], {'a': str})\n"
        "from experiments.imports.aigciqa2023 import read_prompt_sheet\nread_prompt_sheet(b'not xlsx', 'x')\n"
        "from analysis.benchmark import compute\n"
        "from ratings import precision\n"
        "h = precision.half_widths(precision.Sums.of_ratings([0, 0, 0], [1.0, 2.0, 4.0], 1))\n"
        "import statistics\n"
        "assert abs(float(h[0, 0]) - 4.3027 * statistics.stdev([1.0, 2.0, 4.0]) / 3**0.5) < 1e-3, h\n"
        "print(json.dumps({'loaded': sorted(n for n in HEAVY if n in sys.modules)}))"
    )

    assert loaded["loaded"] == sorted(HEAVY)


# A web worker as gunicorn loads it (config.wsgi), then its first request a few seconds later.
WSGI = """
import json, time
import config.wsgi
time.sleep(4)
from django.template import engines
loader = engines["django"].engine.template_loaders[0]
print(json.dumps({"cached": sorted(str(key) for key in loader.get_template_cache)}))
"""


def test_a_web_worker_compiles_the_participant_templates_before_its_first_request() -> None:
    # when a web worker has been up for a moment without a request
    cached = _run(WSGI)["cached"]

    # then the participant pages' templates are compiled already
    assert isinstance(cached, list)
    assert {"ratings/session_trials.html", "ratings/_trial.html", "base.html"} <= set(cached), cached


# gunicorn's master with config/gunicorn.py: the app is loaded there and warmed before the fork.
PRELOAD = """
import gc, json, os, threading
os.environ["DJANGO_WARM_UP"] = "preload"
import config.wsgi
from django.template import engines
loader = engines["django"].engine.template_loaders[0]
print(json.dumps({
    "cached": sorted(str(key) for key in loader.get_template_cache),
    "threads": sorted(t.name for t in threading.enumerate()),
    "frozen": gc.get_freeze_count(),
}))
"""


def test_a_preloading_master_has_the_participant_templates_compiled_when_the_import_returns() -> None:
    # when the app is imported as gunicorn's master does with config/gunicorn.py
    loaded = _run(PRELOAD)

    # then the templates are compiled already (no waiting, no thread left behind to fork without)
    assert {"ratings/session_trials.html", "ratings/_trial.html", "base.html"} <= set(loaded["cached"])  # type: ignore[arg-type]
    assert loaded["threads"] == ["MainThread"]
    # and what was loaded is frozen out of the collector's sight (the workers share its pages)
    assert int(loaded["frozen"]) > 50_000  # type: ignore[call-overload]
