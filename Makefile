.PHONY: dev worker beat test lint migrations-check bench-analysis bench-load bench-chaos

dev:  ## install everything and run the app with the demo study
	./scripts/run

test:  ## the whole test suite against real PostgreSQL, Redis, Celery and Chromium
	./scripts/test

worker:  ## a Celery worker against the configured broker
	.venv/bin/celery -A config worker --concurrency=1 --without-mingle --without-gossip

beat:  ## Celery beat: the periodic sweeps (exactly one per deployment)
	.venv/bin/celery -A config beat --schedule var/celerybeat-schedule

lint:  ## ruff and mypy, as scripts/test runs them first
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	env DJANGO_SETTINGS_MODULE=config.settings.test DJANGO_READ_DOT_ENV=false DJANGO_SECRET_KEY=mypy \
	  DATABASE_URL=sqlite:///mypy.sqlite3 REDIS_URL=redis://127.0.0.1:1/0 .venv/bin/mypy
	env DJANGO_SETTINGS_MODULE=config.settings.test DJANGO_READ_DOT_ENV=false DJANGO_SECRET_KEY=mypy \
	  DATABASE_URL=sqlite:///mypy.sqlite3 REDIS_URL=redis://127.0.0.1:1/0 .venv/bin/mypy --strict analysis/stats

migrations-check:
	.venv/bin/python manage.py makemigrations --check --dry-run

bench-analysis:
	.venv/bin/python bench/analysis/run.py
