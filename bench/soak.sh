#!/usr/bin/env bash
# Fault-tolerance soak test of Sésame, in one command (loopback only, bounded in time):
#
#   bash bench/soak.sh
#
# PostgreSQL part: a private PostgreSQL cluster (initdb in a temporary folder, its own
# port on 127.0.0.1; the machine's PostgreSQL is never touched), two `sesame serve` nodes
# on it (same master key and issuer), accounts with two-factor required enrolled through
# the real pages, then DURATION seconds of mixed load from bench/soak/loadgen.py against
# both nodes at random: TOTP logins through the pages (some switching node at every
# request), code redemption (some codes redeemed twice, at both nodes, concurrently or
# one after the other), refresh rotation (rotated tokens presented again; the same token
# rotated at both nodes at once), client_credentials and introspection. Faults: node B
# is killed with SIGKILL at 25% of the run and restarted NODE_DOWN seconds later;
# PostgreSQL is stopped at 55% and started again PG_DOWN seconds later. Then it checks,
# from the load generator's records and from the database (psql):
#   - no authorization code redeemed twice; no refresh token accepted after its rotation
#     (tokens.refresh_token_reuse_grace = 0); a reused code or refresh token revokes its grant;
#   - no account, confirmed second factor or login.success audit row lost;
#   - every request answered or failed cleanly (refused/reset connection, 5xx) within
#     TIMEOUT seconds; no failure outside the fault windows;
#   - /readyz answers 503 on both nodes while PostgreSQL is down, and 200 after;
#   - service back by itself (a code redemption or refresh, and a TOTP login, on each
#     node) within SERVICE_BOUND seconds of PostgreSQL accepting connections again.
# SQLite part: one node on SQLite under a write-heavy load (logins, code redemptions,
# refreshes), killed with SIGKILL SQLITE_KILLS times during writes and restarted: after
# each kill, PRAGMA integrity_check of the files it left must say ok; at the end it
# serves a login again.
#
# Knobs (environment):
#   SESAME_BIN     server binary (default target/release/sesame, built with cargo if missing)
#   DURATION       seconds of mixed load on PostgreSQL (default 180, at least 60)
#   ACCOUNTS       accounts with two-factor (default 120; each logs in at most once per 30 s TOTP step)
#   WORKERS        load generator threads (default 6)
#   TIMEOUT        seconds a request may take before it counts as hung (default 10)
#   NODE_DOWN      seconds node B stays dead after SIGKILL (default 5)
#   PG_DOWN        seconds PostgreSQL stays down (default 10)
#   SERVICE_BOUND  seconds within which service must be back after PostgreSQL returns (default 15)
#   SQLITE_KILLS   SIGKILLs of the SQLite node (default 5; 0 skips the SQLite part)
#   SQLITE_ONLY=1  skip the PostgreSQL part
#   KEEP_LOGS=1    keep the logs and records (otherwise kept only when a check fails)
#   SESAME_LOG     the nodes' log filter (default info); their stderr goes to node-*.log
#
# Needs: PostgreSQL server binaries (initdb, pg_ctl under /usr/lib/postgresql/*/bin or on
# PATH; apt-get install postgresql), psql, python3 (3.11, standard library only), curl.
# Run as root, the private cluster runs as user postgres (initdb refuses root).
# Takes about DURATION + 1 minute (4 minutes by default). Exits non-zero, naming the check, if one fails.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SOAK=$ROOT/bench/soak
BIN=${SESAME_BIN:-$ROOT/target/release/sesame}
DURATION=${DURATION:-180}
ACCOUNTS=${ACCOUNTS:-120}
WORKERS=${WORKERS:-6}
TIMEOUT=${TIMEOUT:-10}
NODE_DOWN=${NODE_DOWN:-5}
PG_DOWN=${PG_DOWN:-10}
SERVICE_BOUND=${SERVICE_BOUND:-15}
SQLITE_KILLS=${SQLITE_KILLS:-5}
SQLITE_ACCOUNTS=${SQLITE_ACCOUNTS:-30}
SQLITE_ONLY=${SQLITE_ONLY:-0}
KEEP_LOGS=${KEEP_LOGS:-0}

say() { printf '\n== %s\n' "$*"; }
die() { echo "soak: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || die "$1 is needed ($2)"; }
stamp() { date +%s.%N; }

LOG_FILTER=${SESAME_LOG:-info}
# Sésame refuses unknown SESAME_* variables: start the nodes with only the ones set here.
for var in $(compgen -e | grep '^SESAME_' || true); do unset "$var"; done

need python3 "apt-get install python3"
need psql "apt-get install postgresql-client"
need curl "apt-get install curl"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
[ -n "$PGBIN" ] || PGBIN=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")
[ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/pg_ctl" ] || die "PostgreSQL server binaries (initdb, pg_ctl) are needed (apt-get install postgresql)"
[ "$DURATION" -ge 60 ] || die "DURATION must be at least 60 seconds"
if [ ! -x "$BIN" ]; then
  [ "$BIN" = "$ROOT/target/release/sesame" ] || die "SESAME_BIN=$BIN is not an executable"
  echo "soak: building $BIN (cargo build --release)"
  (cd "$ROOT" && cargo build --release --quiet)
fi

T_BEGIN=$(date +%s)
WORK=$(mktemp -d /tmp/sesame-soak.XXXXXX)
chmod 755 "$WORK"
EVENTS=$WORK/events.txt
: >"$EVENTS"
declare -A PIDS=()
LOAD_PID=
PG_STARTED=0
FAILED=0
RESULT_LINES=()

ev() { echo "$(stamp) $1" >>"$EVENTS"; }
free_ports() { python3 -c 'import socket
s=[socket.socket() for _ in range(int(__import__("sys").argv[1]))]
[x.bind(("127.0.0.1",0)) for x in s]; print(" ".join(str(x.getsockname()[1]) for x in s))' "$1"; }
sleep_until() { # epoch seconds (float)
  local left
  left=$(awk -v t="$1" -v n="$(stamp)" 'BEGIN { d = t - n; if (d < 0) d = 0; printf "%.3f", d }')
  nap "$left"
}
nap() { sleep "$1" & wait $!; }  # a sleep that a signal interrupts at once
wait_http() { # URL SECONDS: 0 once it answers 200
  local deadline=$(($(date +%s) + $2))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    curl -fs -m 2 -o /dev/null "$1" && return 0
    sleep 0.1
  done
  return 1
}

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_ctl_() { as_pg "$PGBIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/postgres.log" "$@"; }

# start_node NAME PORT ISSUER DATA_DIR [DATABASE_URL]: `sesame serve` in the background.
start_node() {
  local name=$1 port=$2 issuer=$3 dir=$4 url=${5:-}
  mkdir -p "$dir"
  env SESAME_LISTEN="127.0.0.1:$port" SESAME_ISSUER="$issuer" SESAME_DATA_DIR="$dir" \
    ${url:+SESAME_DATABASE_URL="$url"} SESAME_MASTER_KEY="$MASTER_KEY" SESAME_DEMO=false \
    SESAME_JANITOR__INTERVAL=0 SESAME_TRUSTED_PROXIES='["127.0.0.1"]' \
    SESAME_TOKENS__REFRESH_TOKEN_REUSE_GRACE=0 SESAME_LOG="$LOG_FILTER" \
    "$BIN" serve >>"$WORK/node-$name.log" 2>&1 &
  PIDS[$name]=$!
}
stop_node() { # NAME: SIGTERM, then SIGKILL after 10 s
  local pid=${PIDS[$1]:-}
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  PIDS[$1]=
}
sesame_cli() { # DATA_DIR DATABASE_URL ARGS…: a CLI command with the nodes' settings
  local dir=$1 url=$2
  shift 2
  env SESAME_DATA_DIR="$dir" ${url:+SESAME_DATABASE_URL="$url"} SESAME_MASTER_KEY="$MASTER_KEY" \
    SESAME_DEMO=false SESAME_LOG=warn "$BIN" "$@"
}

cleanup() {
  local status=$?
  set +e
  [ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null && wait "$LOAD_PID" 2>/dev/null
  for name in "${!PIDS[@]}"; do stop_node "$name"; done
  [ "$PG_STARTED" = 1 ] && pg_ctl_ -m immediate stop >/dev/null 2>&1
  if [ "$KEEP_LOGS" = 1 ] || [ "$FAILED" != 0 ] || [ "$status" != 0 ]; then
    local keep=/tmp/sesame-soak-logs-$(date +%Y%m%d-%H%M%S)
    mkdir -p "$keep"
    cp "$WORK"/*.log "$WORK"/*.json "$WORK"/*.txt "$keep"/ 2>/dev/null
    cp "$WORK/pg/postgres.log" "$keep/postgres.log" 2>/dev/null
    echo "soak: logs and records kept in $keep"
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

MASTER_KEY=$(python3 -c 'import os, base64; print(base64.b64encode(os.urandom(32)).decode())')
LOADGEN=(python3 "$SOAK/loadgen.py")
echo "soak: Sésame binary $BIN; work folder $WORK"

# ------------------------------------------------------------------------ PostgreSQL
if [ "$SQLITE_ONLY" != 1 ]; then
  read -r PGPORT PORT_A PORT_B <<<"$(free_ports 3)"
  say "private PostgreSQL cluster on 127.0.0.1:$PGPORT ($("$PGBIN/postgres" --version))"
  mkdir -p "$WORK/pg"
  [ "$(id -u)" = 0 ] && chown postgres: "$WORK/pg"
  as_pg "$PGBIN/initdb" -D "$WORK/pg/data" -A trust -U postgres -E UTF8 --no-sync >"$WORK/initdb.log" 2>&1 ||
    { cat "$WORK/initdb.log"; die "initdb failed"; }
  cat >>"$WORK/pg/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$WORK/pg'
max_connections = 200
shared_buffers = 64MB
EOF
  pg_ctl_ -w -t 30 start >/dev/null || die "PostgreSQL did not start"
  PG_STARTED=1
  PGURL="postgresql://postgres@127.0.0.1:$PGPORT/sesame"
  psql "postgresql://postgres@127.0.0.1:$PGPORT/postgres" -X -q -c "create database sesame" >/dev/null

  say "import: application, client soak-web, $ACCOUNTS accounts with two-factor required"
  "${LOADGEN[@]}" import-file --accounts "$ACCOUNTS" --out "$WORK/import.toml" --accounts-file "$WORK/accounts.json"
  sesame_cli "$WORK/cli" "$PGURL" import "$WORK/import.toml"

  ISSUER="http://127.0.0.1:$PORT_A"
  say "two nodes on PostgreSQL: A 127.0.0.1:$PORT_A, B 127.0.0.1:$PORT_B (issuer $ISSUER)"
  start_node A "$PORT_A" "$ISSUER" "$WORK/node-a" "$PGURL"
  wait_http "http://127.0.0.1:$PORT_A/readyz" 60 || { tail -20 "$WORK/node-A.log"; die "node A did not start"; }
  start_node B "$PORT_B" "$ISSUER" "$WORK/node-b" "$PGURL"
  wait_http "http://127.0.0.1:$PORT_B/readyz" 60 || { tail -20 "$WORK/node-B.log"; die "node B did not start"; }
  NODES="A=http://127.0.0.1:$PORT_A,B=http://127.0.0.1:$PORT_B"

  say "enrolling $ACCOUNTS authenticators through the login pages"
  "${LOADGEN[@]}" setup --nodes "$NODES" --accounts-file "$WORK/accounts.json" --workers 8 \
    --timeout "$TIMEOUT" --out "$WORK/setup.json" || die "enrollment failed"

  T0=$(stamp)
  KILL_AT=$(awk -v t="$T0" -v d="$DURATION" 'BEGIN { printf "%.3f", t + d * 0.25 }')
  PG_AT=$(awk -v t="$T0" -v d="$DURATION" 'BEGIN { printf "%.3f", t + d * 0.55 }')
  say "mixed load for ${DURATION}s; SIGKILL of node B at +$((DURATION / 4))s, PostgreSQL restart at +$((DURATION * 55 / 100))s"
  ev load_start
  "${LOADGEN[@]}" run --nodes "$NODES" --accounts-file "$WORK/accounts.json" --duration "$DURATION" \
    --workers "$WORKERS" --timeout "$TIMEOUT" --out "$WORK/records.json" &
  LOAD_PID=$!

  sleep_until "$KILL_AT"
  kill -KILL "${PIDS[B]}"
  ev kill_B
  wait "${PIDS[B]}" 2>/dev/null || true
  echo "soak: $(date +%T) node B killed (SIGKILL)"
  nap "$NODE_DOWN"
  echo "--- restart after SIGKILL ---" >>"$WORK/node-B.log"
  ev start_B
  start_node B "$PORT_B" "$ISSUER" "$WORK/node-b" "$PGURL"
  if wait_http "http://127.0.0.1:$PORT_B/healthz" 60; then
    ev ready_B
    echo "soak: $(date +%T) node B restarted and healthy"
  else
    echo "soak: node B did not come back after its restart"
    FAILED=1
  fi

  sleep_until "$PG_AT"
  ev pg_stop
  pg_ctl_ -m fast -w stop >/dev/null
  ev pg_down
  echo "soak: $(date +%T) PostgreSQL stopped (fast); down for ${PG_DOWN}s"
  nap "$PG_DOWN"
  ev pg_start
  pg_ctl_ -w -t 60 start >/dev/null || die "PostgreSQL did not restart"
  until "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT"; do sleep 0.05; done
  ev pg_ready
  echo "soak: $(date +%T) PostgreSQL accepting connections again"

  wait "$LOAD_PID" || die "the load generator failed"
  LOAD_PID=

  for name in A B; do
    if ! kill -0 "${PIDS[$name]}" 2>/dev/null; then
      echo "soak: node $name is no longer running (see $WORK/node-$name.log)"
      tail -20 "$WORK/node-$name.log"
      FAILED=1
    fi
  done
  "${LOADGEN[@]}" check --records "$WORK/records.json" --setup "$WORK/setup.json" --events "$EVENTS" \
    --psql-url "$PGURL" --accounts "$ACCOUNTS" --service-bound "$SERVICE_BOUND" \
    --summary "$WORK/summary.json" || FAILED=1
  echo
  echo "server log lines at ERROR or WARN level: node A $(grep -cE ' (ERROR|WARN) ' "$WORK/node-A.log" || true)," \
    "node B $(grep -cE ' (ERROR|WARN) ' "$WORK/node-B.log" || true)"
  grep -hE ' (ERROR|WARN) ' "$WORK/node-A.log" "$WORK/node-B.log" | sed -E 's/^[^ ]+ +//' |
    cut -c1-160 | sort | uniq -c | sort -rn | head -8 || true
  stop_node A
  stop_node B
  pg_ctl_ -m fast stop >/dev/null 2>&1 || true
  PG_STARTED=0
fi

# ------------------------------------------------------------------------ SQLite
if [ "$SQLITE_KILLS" -gt 0 ]; then
  read -r PORT_S <<<"$(free_ports 1)"
  SQDIR=$WORK/sqlite
  DB=$SQDIR/sesame.db
  say "SQLite: one node on 127.0.0.1:$PORT_S, write-heavy load, $SQLITE_KILLS SIGKILLs during writes"
  "${LOADGEN[@]}" import-file --accounts "$SQLITE_ACCOUNTS" --prefix soaklite --no-two-factor \
    --out "$WORK/import-sqlite.toml" --accounts-file "$WORK/accounts-sqlite.json"
  sesame_cli "$SQDIR" "" import "$WORK/import-sqlite.toml"
  SQ_ISSUER="http://127.0.0.1:$PORT_S"
  start_node S "$PORT_S" "$SQ_ISSUER" "$SQDIR"
  wait_http "$SQ_ISSUER/readyz" 60 || { tail -20 "$WORK/node-S.log"; die "the SQLite node did not start"; }
  rm -f "$WORK/sqlite.stop"
  "${LOADGEN[@]}" sqlite-load --nodes "S=$SQ_ISSUER" --accounts-file "$WORK/accounts-sqlite.json" \
    --workers 4 --timeout "$TIMEOUT" --stop-file "$WORK/sqlite.stop" --out "$WORK/sqlite-load.json" &
  LOAD_PID=$!
  SQ_OK=0
  for i in $(seq 1 "$SQLITE_KILLS"); do
    nap "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 2 + (r % 200) / 100 }')"
    kill -KILL "${PIDS[S]}"
    wait "${PIDS[S]}" 2>/dev/null || true
    wal=$(stat -c %s "$DB-wal" 2>/dev/null || echo 0)
    if line=$("${LOADGEN[@]}" sqlite-check --db "$DB" --accounts "$SQLITE_ACCOUNTS"); then
      SQ_OK=$((SQ_OK + 1))
      verdict=ok
    else
      verdict=FAILED
      FAILED=1
    fi
    echo "--- restart after SIGKILL $i ---" >>"$WORK/node-S.log"
    t_start=$(stamp)
    start_node S "$PORT_S" "$SQ_ISSUER" "$SQDIR"
    if wait_http "$SQ_ISSUER/readyz" 60; then
      back=$(awk -v a="$t_start" -v b="$(stamp)" 'BEGIN { printf "%.2f", b - a }')
    else
      back=never
      FAILED=1
    fi
    echo "soak: SIGKILL $i (WAL $wal bytes): $verdict — $line; ready again ${back}s after restart"
    RESULT_LINES+=("SIGKILL $i: integrity $verdict, ready ${back}s after restart")
  done
  sleep 2
  touch "$WORK/sqlite.stop"
  wait "$LOAD_PID" || { echo "soak: the SQLite load generator failed"; FAILED=1; }
  LOAD_PID=
  if "${LOADGEN[@]}" login-once --nodes "S=$SQ_ISSUER" --accounts-file "$WORK/accounts-sqlite.json"; then
    SQ_LOGIN=ok
  else
    SQ_LOGIN=FAILED
    FAILED=1
  fi
  stop_node S
  if final=$("${LOADGEN[@]}" sqlite-check --db "$DB" --accounts "$SQLITE_ACCOUNTS"); then :; else FAILED=1; fi
  unclean=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["unclean"]))' "$WORK/sqlite-load.json" ||
    echo "unknown (no records)")
  [ "$unclean" = 0 ] || FAILED=1
  echo
  echo "=============================================================================="
  echo "SOAK SUMMARY (SQLite, one node, $SQLITE_KILLS × SIGKILL during writes)"
  echo "=============================================================================="
  printf '  %s\n' "${RESULT_LINES[@]}"
  echo "  integrity after each kill: $SQ_OK/$SQLITE_KILLS ok; after the final stop (SIGTERM): $final"
  echo "  $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("load:", d["requests"], "requests;", ", ".join(f"{k} {v}" for k, v in sorted(d["counts"].items())))' "$WORK/sqlite-load.json" || true)"
  echo "  requests neither answered nor failed cleanly: $unclean"
  echo "  login after the last restart: $SQ_LOGIN"
  echo "server log lines at ERROR level: $(grep -c ' ERROR ' "$WORK/node-S.log" || true)"
fi

echo
echo "soak: total run time $(($(date +%s) - T_BEGIN))s"
if [ "$FAILED" != 0 ]; then
  echo "soak: FAILED (see the checks above)"
  exit 1
fi
echo "soak: PASSED"
