# Shared by scripts/run and scripts/test: a virtualenv, PostgreSQL, Redis, Chromium.
# Everything lives under var/ (git-ignored). Sourced, not executed.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VAR="$ROOT/var"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
STARTED_PIDS=()
PG_STARTED_DIR=""

say()  { printf '\033[1m==> %s\033[0m\n' "$*"; }
warn() { printf '\n\033[1;33m!!! WARNING: %s\033[0m\n\n' "$*" >&2; }
die()  { printf '\033[1;31m!!! %s\033[0m\n' "$*" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_in_use() {
  python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
sys.exit(0)
EOF
}

apt_updated=""
apt_install() {
  # Install Debian packages when we may (root with apt-get); return non-zero otherwise.
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    return 1
  fi
  if [ -z "$apt_updated" ]; then
    say "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || true
    apt_updated=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
}

ensure_venv() {
  local reqs="$1" stamp
  if [ ! -x "$PY" ]; then
    say "creating virtualenv in .venv"
    python3 -m venv "$VENV" || die "python3 -m venv failed (apt-get install python3-venv?)"
  fi
  stamp="$VENV/.installed-$reqs-$(cat "$ROOT/requirements.txt" "$ROOT/$reqs" | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    say "installing $reqs"
    # The log keeps pip's notes out of the way; it is shown when the install fails.
    "$PY" -m pip install -q --disable-pip-version-check -r "$ROOT/$reqs" >"$VENV/pip.log" 2>&1 \
      || { grep -v "^WARNING: Location 'file:" "$VENV/pip.log" >&2; die "pip install failed"; }
    rm -f "$VENV/.installed-$reqs"-*
    touch "$stamp"
  fi
}

pg_bin() {
  # Debian keeps the server binaries off PATH.
  local b
  for b in $(command -v initdb 2>/dev/null) /usr/lib/postgresql/*/bin/initdb; do
    [ -x "$b" ] && { dirname "$b"; return 0; }
  done
  return 1
}

ensure_postgres_installed() {
  pg_bin >/dev/null || apt_install postgresql || true
  pg_bin >/dev/null
}

# start_postgres DIR PORT: a private cluster in DIR on 127.0.0.1:PORT with role/db app/app.
start_postgres() {
  local dir="$1" port="$2" bin run_as=()
  bin="$(pg_bin)" || return 1
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$dir" --shell /usr/sbin/nologin postgres
    run_as=(runuser -u postgres --)
    install -d -o postgres -g postgres -m 700 "$dir"
  else
    mkdir -p "$dir" && chmod 700 "$dir"
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    say "initialising PostgreSQL cluster in ${dir#$ROOT/}"
    "${run_as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; return 1; }
  fi
  if ! "${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    say "starting PostgreSQL on 127.0.0.1:$port"
    "${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -c listen_addresses=127.0.0.1 -k $dir -c fsync=${PG_FSYNC:-on}" start >/dev/null \
      || { tail -20 "$dir/server.log" >&2; return 1; }
    PG_STARTED_DIR="$dir"
  fi
  psql -h 127.0.0.1 -p "$port" -U postgres -tAc "select 1 from pg_roles where rolname='app'" | grep -q 1 \
    || psql -q -h 127.0.0.1 -p "$port" -U postgres -c "create role app login password 'app' createdb" >/dev/null
  psql -h 127.0.0.1 -p "$port" -U postgres -tAc "select 1 from pg_database where datname='app'" | grep -q 1 \
    || psql -q -h 127.0.0.1 -p "$port" -U postgres -c "create database app owner app" >/dev/null
}

postgres_running() {  # is the cluster in DIR running?
  local dir="$1" bin run_as=()
  bin="$(pg_bin)" || return 1
  [ "$(id -u)" = 0 ] && run_as=(runuser -u postgres --)
  "${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

stop_postgres() {
  local dir="$1" bin run_as=()
  bin="$(pg_bin)" || return 0
  [ "$(id -u)" = 0 ] && run_as=(runuser -u postgres --)
  "${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

ensure_redis_installed() {
  command -v redis-server >/dev/null || apt_install redis-server || true
  command -v redis-server >/dev/null
}

# start_redis DIR PORT: no persistence; PID appended to STARTED_PIDS.
start_redis() {
  local dir="$1" port="$2" i
  mkdir -p "$dir"
  say "starting Redis on 127.0.0.1:$port"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
    --logfile "$dir/redis.log" &
  STARTED_PIDS+=($!)
  for i in $(seq 1 50); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

ensure_chromium() {
  [ -x /usr/bin/chromium ] || apt_install chromium chromium-driver || true
  [ -x /usr/bin/chromium ]
}

stop_started() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  STARTED_PIDS=()
}
