#!/usr/bin/env bash
# Where the server's core goes, in microseconds per request: the release server pinned
# to core 0 with one worker thread, wrk on core 1 loading one endpoint for DURATION while
# `perf record` samples the server, then bench/profile_share.py sorts the samples into
# parts (kernel network, HTTP, the signature, …) and shares out the core's time per
# request, measured in a run of the same length without perf.
#   bash bench/profile.sh [token|introspection|discovery]     (default: token)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need wrk "apt-get install wrk"
need perf "apt-get install linux-perf"
cd "$BENCH_DIR/.."
kind=${1:-token}
[ -n "${BENCH_BIN:-}" ] || cargo build --release --quiet
port=18950
trap stop_sesame EXIT
start_sesame "$port"
S="http://127.0.0.1:$port"
export WRK_BASIC
WRK_BASIC=$(printf '%s' "bench-service:bench-service-secret-0123456789" | base64 -w0)
case "$kind" in
  token) url="$S/token" script="$BENCH_DIR/wrk/post_form.lua" body="grant_type=client_credentials" ;;
  introspection)
    body="token=$(curl -s -u "bench-service:bench-service-secret-0123456789" -d grant_type=client_credentials "$S/token" |
      sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')"
    url="$S/introspect" script="$BENCH_DIR/wrk/post_form.lua" ;;
  discovery) url="$S/.well-known/openid-configuration" script="" body="" ;;
  *) echo "bench: unknown request type $kind" >&2; exit 2 ;;
esac
export WRK_BODY=$body
# Warm up (connections, caches); then a run without perf gives the cost of a request
# (perf's sampling slows the server), and a run under perf how it divides.
taskset -c "$LOAD_CORE" wrk -t1 "-c$CONNECTIONS" -d2s ${script:+-s "$script"} "$url" >/dev/null
before=$(server_ticks)
out=$(taskset -c "$LOAD_CORE" wrk -t1 "-c$CONNECTIONS" "-d$DURATION" ${script:+-s "$script"} "$url")
after=$(server_ticks)
requests=$(awk '/requests in/ {print $1}' <<<"$out")
rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
cpu=$(awk -v b="$before" -v a="$after" -v hz="$(getconf CLK_TCK)" 'BEGIN { print (a - b) / hz }')
echo "$kind: $rps req/s, $requests requests, server CPU ${cpu} s"
data=$(mktemp -d)
perf record -q -F 4999 -p "$SESAME_PID" -o "$data/perf.data" -- sleep "${DURATION%s}" 2>/dev/null &
recorder=$!
taskset -c "$LOAD_CORE" wrk -t1 "-c$CONNECTIONS" "-d$DURATION" ${script:+-s "$script"} "$url" >/dev/null
wait "$recorder" || true
perf report -i "$data/perf.data" --no-children --sort dso,symbol --stdio -g none --percent-limit 0 2>/dev/null |
  python3 "$BENCH_DIR/profile_share.py" --requests "$requests" --cpu-seconds "$cpu"
[ -n "${PROFILE_KEEP:-}" ] && cp "$data/perf.data" "$PROFILE_KEEP"
rm -rf "$data"
