# Helpers shared by the load scripts: pinning, wrk runs, a user login with curl.
# The server runs on core 0, the load generator on core 1 (2-core machines).

SERVER_CORE=${SERVER_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

need() { command -v "$1" >/dev/null || { echo "bench: $1 is needed ($2)" >&2; exit 1; }; }

wait_http() { # url
  for _ in $(seq 1 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "bench: nothing answers at $1" >&2; return 1
}

# run_wrk LABEL URL [LUA]: prints "LABEL requests/s p99" on one line.
run_wrk() {
  local label=$1 url=$2 script=${3:-}
  local args=(-t1 "-c$CONNECTIONS" "-d$DURATION" --latency)
  [ -n "$script" ] && args+=(-s "$script")
  local out before after cpu=""
  before=$(server_ticks)
  out=$(taskset -c "$LOAD_CORE" wrk "${args[@]}" "$url")
  after=$(server_ticks)
  if [ -n "$before" ] && [ -n "$after" ]; then
    # Share of the server's core used during the run: under 100% means the load
    # generator, not the server, was the limit.
    cpu=$(awk -v b="$before" -v a="$after" -v d="${DURATION%s}" -v hz="$(getconf CLK_TCK)" \
      'BEGIN { printf "server CPU %3.0f%%", (a - b) / hz / d * 100 }')
  fi
  local rps p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  printf '%-22s %10s req/s   p99 %-9s %s %s\n' "$label" "$rps" "$p99" "$cpu" "${errors:+($errors non-2xx!)}"
  echo "$label $rps" >>"${RESULTS:-/dev/null}"
}

# login_access_token ISSUER CLIENT_ID SECRET REDIRECT USERNAME PASSWORD: a user's access
# token through the real authorization code flow, driven with curl.
login_access_token() {
  local issuer=$1 client=$2 secret=$3 redirect=$4 user=$5 password=$6 jar
  jar=$(mktemp)
  local authorize="$issuer/authorize?client_id=$client&redirect_uri=$(jq_uri "$redirect")&response_type=code&scope=openid%20profile&state=s"
  local login page csrf tx callback code
  login=$(curl -s -o /dev/null -w '%{redirect_url}' -c "$jar" -b "$jar" "$authorize")
  page=$(curl -s -c "$jar" -b "$jar" "$login")
  csrf=$(grep -o 'name="csrf_token" value="[^"]*"' <<<"$page" | sed 's/.*value="//;s/"$//')
  tx=$(grep -o 'name="tx" value="[^"]*"' <<<"$page" | sed 's/.*value="//;s/"$//')
  callback=$(curl -s -o /dev/null -w '%{redirect_url}' -c "$jar" -b "$jar" --data-urlencode "csrf_token=$csrf" \
    --data-urlencode "tx=$tx" --data-urlencode "username=$user" --data-urlencode "password=$password" "$issuer/login")
  code=$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$callback")
  rm -f "$jar"
  curl -s -u "$client:$secret" -d grant_type=authorization_code -d "code=$code" \
    --data-urlencode "redirect_uri=$redirect" "$issuer/token" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'
}

# CPU ticks (user + system) used so far by SERVER_PID, if set.
server_ticks() {
  [ -n "${SERVER_PID:-}" ] && [ -r "/proc/$SERVER_PID/stat" ] || return 0
  awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"
}

jq_uri() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

# start_sesame PORT: builds nothing; starts target/release/sesame (or BENCH_BIN: another
# build to compare) pinned, with the bench data.
start_sesame() {
  local port=$1
  SESAME_WORK=$(mktemp -d)
  local root="$BENCH_DIR/.."
  local bin=${BENCH_BIN:-$root/target/release/sesame}
  export SESAME_LISTEN="127.0.0.1:$port" SESAME_ISSUER="http://127.0.0.1:$port" SESAME_DATA_DIR="$SESAME_WORK"
  export SESAME_DEMO=false SESAME_JANITOR__INTERVAL=0 SESAME_LOG=warn
  "$bin" import "$BENCH_DIR/bench-import.toml" >/dev/null
  TOKIO_WORKER_THREADS=1 taskset -c "$SERVER_CORE" "$bin" serve >"$SESAME_WORK/server.log" 2>&1 &
  SESAME_PID=$!
  SERVER_PID=$SESAME_PID
  wait_http "http://127.0.0.1:$port/healthz"
}

stop_sesame() {
  if [ -n "${SESAME_PID:-}" ]; then
    kill "$SESAME_PID" 2>/dev/null || true
    wait "$SESAME_PID" 2>/dev/null || true
  fi
  if [ -n "${SESAME_WORK:-}" ]; then rm -rf "$SESAME_WORK"; fi
  SESAME_PID= SESAME_WORK=
}
