#!/usr/bin/env bash
# Analysis job benchmark: an AIGCIQA2023-sized study (2,400 images, 3 perspectives, 20 ratings
# each = 144,000 ratings) analysed as a Celery job by a real worker, then its results page.
# Starts a private PostgreSQL and Redis in var/bench-analysis (stopped at the end) and runs
# bench/analysis/job.py, which prints the figures. Not a test.
#
#     bench/analysis/job.sh
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT"
T="$ROOT/var/bench-analysis"
cleanup() {
  stop_started
  stop_postgres "$T/pg"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
stop_postgres "$T/pg"
rm -rf "$T" && mkdir -p "$T/media"
PG_PORT="$(free_port)"
REDIS_PORT="$(free_port)"
PG_FSYNC=off start_postgres "$T/pg" "$PG_PORT" || die "could not start PostgreSQL"
start_redis "$T/redis" "$REDIS_PORT" || die "could not start Redis"
export DJANGO_SETTINGS_MODULE=config.settings.test
export DJANGO_READ_DOT_ENV=false
export DJANGO_SECRET_KEY="bench-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
export DATABASE_URL="postgres://app:app@127.0.0.1:$PG_PORT/app"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export DJANGO_MEDIA_ROOT="$T/media"
export DJANGO_ALLOW_ASYNC_UNSAFE=true
"$PY" manage.py migrate -v0
"$PY" bench/analysis/job.py --worker-log "$T/worker.log"
