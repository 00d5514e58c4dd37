"""What a process of the app imports before it does any work; run in a subprocess by bench/startup/run.py.

Sets Django up as a gunicorn worker does (models, admin), resolves every URL pattern as the first
request does, and imports every task module as a Celery worker does at boot. Prints one JSON line:
the seconds it took and which of the heavy modules got imported.
"""

from __future__ import annotations

import json
import os
import sys
import time

# Imported only when used (a plot, a workbook, an analysis): never at start-up.
HEAVY = ("matplotlib", "openpyxl", "scipy.stats", "pandas")


def load_everything() -> None:
    import django

    django.setup()
    from django.urls import URLResolver, get_resolver

    def walk(resolver: URLResolver) -> None:  # every included URLconf, hence every view module
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern)

    walk(get_resolver())

    from config.celery import app

    app.loader.import_default_modules()  # the task modules a worker imports (autodiscover_tasks)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    started = time.perf_counter()
    load_everything()
    seconds = time.perf_counter() - started
    heavy = [name for name in HEAVY if name in sys.modules]
    print(json.dumps({"seconds": round(seconds, 3), "heavy": heavy, "modules": len(sys.modules)}))


if __name__ == "__main__":
    main()
