"""gunicorn's settings for the web hosts: `gunicorn -c config/gunicorn.py` (scripts/run, bench/load,
docs/deploy.md). Flags on the command line override them; WEB_WORKERS and WEB_THREADS size it.

The app is loaded once in the master and warmed there (views imported, participant templates
compiled, translation catalogs loaded: config/wsgi.py), and every worker is forked from it. A
worker then starts in milliseconds, not the 0.9 s of CPU an import of Django and the app costs.
That matters beyond the first start: gunicorn replaces each worker after about `max_requests`
requests (a guard against slow leaks), and bench/load measured those replacements as the cause of
the rating path's throughput falling from round to round (1.5 s of CPU each, counted per request
in the worker's parent: 4 -> 7 ms per answer). Nothing in the master opens a database, cache or
broker connection before the fork: Django and our clients connect on first use, in the worker.
"""

import os

wsgi_app = "config.wsgi:application"
worker_class = "gthread"
workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
preload_app = True
max_requests = 2000
max_requests_jitter = 200
timeout = 60
control_socket_disable = True

# config/wsgi.py warms the app up in the master, before the fork, instead of in each worker.
os.environ.setdefault("DJANGO_WARM_UP", "preload")
