#!/usr/bin/env bash
# A local PostgreSQL for the Pulumi state of scoped-cd's end-to-end tests and bench, as a team's
# shared backend would be: Debian's PostgreSQL (hack/toolchain.sh step `postgres`), its own data
# dir under .local/, listening on 127.0.0.1 only, password (SCRAM) authentication for every
# connection, one non-superuser role owning one database.
#
#   hack/postgres.sh start    init (first time) and start; returns once it accepts connections
#   hack/postgres.sh stop     stop it (fast shutdown), if running
#   hack/postgres.sh status   running / stopped
#   hack/postgres.sh env      print exports: PGPASSFILE and SCOPED_CD_POSTGRES_URL (no password)
#
# One server per cluster instance (SCOPED_CD_CLUSTER): .local/postgres-<instance>/, port 15432 +
# the instance's port offset. The password never appears on a command line or in the URL: it sits
# in a pgpass file (0600), which libpq, Pulumi's Go driver (lib/pq) and node-postgres all read
# through PGPASSFILE. The backend URL file (0600) carries no password.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
instance="${SCOPED_CD_CLUSTER:-default}"
# The instance's port offset, from the one place that defines instances.
offset="$(bash "$repo/hack/cluster.sh" env | sed -n 's/^export SCOPED_CD_PORT_OFFSET=//p')"
[ -n "$offset" ] || { echo "postgres: no port offset for instance '$instance'" >&2; exit 2; }
dir="$repo/.local/postgres-$instance"
data="$dir/data" run="$dir/run"
PORT=$((15432 + offset))
DATABASE=pulumi ROLE=scoped_cd
PGPASS_FILE="$dir/pgpass"          # root-owned, 0600: the role's and the bootstrap superuser's lines
URL_FILE="$dir/backend-url"        # postgres://scoped_cd@127.0.0.1:<port>/pulumi?sslmode=disable
URL="postgres://$ROLE@127.0.0.1:$PORT/$DATABASE?sslmode=disable"
READY_TIMEOUT=${POSTGRES_READY_TIMEOUT:-60}

pg_bin() {
  local b
  b="$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)"
  [ -x "$b/postgres" ] || { echo "postgres: PostgreSQL is not installed; run: bash hack/toolchain.sh build postgres" >&2; exit 1; }
  echo "$b"
}
# The server refuses to run as root: every server-side command runs as Debian's `postgres` user.
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
running() { [ -f "$data/PG_VERSION" ] && BIN="$(pg_bin)" && as_postgres "$BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; }

init_cluster() {
  mkdir -p "$dir" "$run"; chmod 755 "$dir"
  # The server user must reach its data dir: traverse (not list) rights on .local/.
  chmod o+x "$repo/.local"
  umask 077
  [ "$(id -u)" = 0 ] && chown postgres: "$run"
  local admin_pw role_pw pwfile
  admin_pw="$(openssl rand -hex 24)" role_pw="$(openssl rand -hex 24)"
  pwfile="$run/initdb.pw"
  printf '%s\n' "$admin_pw" >"$pwfile"; [ "$(id -u)" = 0 ] && chown postgres: "$pwfile"
  rm -rf "$data"; mkdir -p "$data"; [ "$(id -u)" = 0 ] && chown postgres: "$data"
  # SCRAM for local and TCP connections alike: nothing is trusted by being on this machine.
  as_postgres "$BIN/initdb" -D "$data" -U postgres --auth=scram-sha-256 --pwfile="$pwfile" \
    --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; rm -f "$pwfile"; exit 1; }
  rm -f "$pwfile"
  {
    printf '127.0.0.1:%s:*:postgres:%s\n' "$PORT" "$admin_pw"
    printf '127.0.0.1:%s:%s:%s:%s\n' "$PORT" "$DATABASE" "$ROLE" "$role_pw"
  } >"$PGPASS_FILE.tmp"
  chmod 600 "$PGPASS_FILE.tmp"; mv "$PGPASS_FILE.tmp" "$PGPASS_FILE"
  start_server
  # The role and its database: the password travels in SQL on stdin, never on a command line.
  PGPASSFILE="$PGPASS_FILE" "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres <<SQL
CREATE ROLE $ROLE LOGIN PASSWORD '$role_pw';
CREATE DATABASE $DATABASE OWNER $ROLE;
REVOKE ALL ON DATABASE $DATABASE FROM PUBLIC;
SQL
  printf '%s\n' "$URL" >"$URL_FILE"; chmod 600 "$URL_FILE"
}

start_server() {
  as_postgres "$BIN/pg_ctl" -D "$data" -l "$run/postgres.log" -w -t "$READY_TIMEOUT" \
    -o "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$run" start >/dev/null \
    || { echo "postgres: did not start within ${READY_TIMEOUT}s; last lines of $run/postgres.log:" >&2; tail -n 20 "$run/postgres.log" >&2; exit 1; }
}

cmd_start() {
  BIN="$(pg_bin)"
  if [ ! -f "$data/PG_VERSION" ] || [ ! -f "$URL_FILE" ]; then init_cluster
  elif ! running; then start_server; fi
  # Ready = the role logs in with its password over TCP (what Pulumi will do).
  local deadline=$((SECONDS + READY_TIMEOUT))
  until PGPASSFILE="$PGPASS_FILE" "$BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U "$ROLE" -d "$DATABASE" -c 'select 1' >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { echo "postgres: 127.0.0.1:$PORT does not accept $ROLE after ${READY_TIMEOUT}s" >&2; exit 1; }
    sleep 0.5
  done
  echo "postgres: running on 127.0.0.1:$PORT (database $DATABASE, role $ROLE; password in $PGPASS_FILE)"
}

cmd_stop() {
  if running; then as_postgres "$BIN/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null; fi
  echo "postgres: stopped"
}

BIN=""
case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) if running; then echo "postgres: running on 127.0.0.1:$PORT"; else echo "postgres: stopped"; fi ;;
  env) echo "export PGPASSFILE=\"$PGPASS_FILE\""
    echo "export SCOPED_CD_POSTGRES_URL=\"$URL\""
    echo "export SCOPED_CD_POSTGRES_BIN=\"$(pg_bin)\"" ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
