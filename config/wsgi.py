import gc
import logging
import os
import threading
import time

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
application = get_wsgi_application()

logger = logging.getLogger(__name__)

#: What a web worker's first participant page needs that it would otherwise load on that request:
#: every view module (the URLconf), the participant templates compiled, the translation catalogs.
#: Measured in bench/load, the first trial page of a fresh worker took 630 ms against 20-45 ms
#: after, and gunicorn replaces workers regularly (--max-requests, docs/deploy.md).
#: DJANGO_WARM_UP: "preload" (config/gunicorn.py, the app loaded in gunicorn's master) warms up
#: here, now, so that every forked worker starts warm; "1" (the default: a server that loads the
#: app in each worker) in a background thread a moment after the worker starts, its boot
#: unchanged; "0" not at all.
WARM_UP_DELAY_S = 1.0


def _warm_up_later() -> None:
    time.sleep(WARM_UP_DELAY_S)
    _warm_up()


def _warm_up() -> None:
    try:
        from django.conf import settings
        from django.template.loader import get_template
        from django.urls import get_resolver
        from django.utils import translation

        get_resolver().url_patterns  # noqa: B018 - imports every view module
        for directory in settings.TEMPLATES[0]["DIRS"]:  # type: ignore[attr-defined]
            for path in ["base.html", *sorted(_templates(directory, "ratings"))]:
                get_template(path)
        for code, _name in settings.LANGUAGES:
            with translation.override(code):
                translation.gettext("Image %(n)s of %(total)s")
    except Exception:  # a warm-up must never take a worker down
        logger.warning("web warm-up failed", exc_info=True)


def _templates(directory: object, folder: str) -> list[str]:
    from pathlib import Path

    base = Path(str(directory))
    return [p.relative_to(base).as_posix() for p in (base / folder).glob("*.html")]


_mode = os.environ.get("DJANGO_WARM_UP", "1")
if _mode == "preload":
    _warm_up()
    # Everything loaded so far lives as long as the workers: out of the collector's sight, so
    # that a worker's collections neither scan it nor write to its pages (which the fork shares).
    gc.freeze()
elif _mode == "1":
    threading.Thread(target=_warm_up_later, name="warm-up", daemon=True).start()
