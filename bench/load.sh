#!/usr/bin/env bash
# Load test of Sésame's endpoints: server pinned to one core, wrk to the other.
#   bash bench/load.sh            (DURATION=10s CONNECTIONS=32 by default)
# Needs wrk (apt-get install wrk) and curl. Prints requests per second and p99 latency.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need wrk "apt-get install wrk"
need curl "apt-get install curl"
cd "$BENCH_DIR/.."
cargo build --release --quiet
trap stop_sesame EXIT

PORT=${PORT:-18181}
ISSUER="http://127.0.0.1:$PORT"
start_sesame "$PORT"
export WRK_BASIC
WRK_BASIC=$(printf 'bench-service:bench-service-secret-0123456789' | base64 -w0)

service_token=$(curl -s -u bench-service:bench-service-secret-0123456789 -d grant_type=client_credentials "$ISSUER/token" |
  sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
user_token=$(login_access_token "$ISSUER" bench-web bench-web-secret-0123456789 https://bench.example/callback bench "load test phrase 1")
[ -n "$service_token" ] && [ -n "$user_token" ] || { echo "bench: could not get tokens" >&2; exit 1; }

echo "Sésame $(git rev-parse --short HEAD 2>/dev/null), server on core $SERVER_CORE (1 worker thread), wrk on core $LOAD_CORE, $CONNECTIONS connections, $DURATION each"
WRK_BODY="grant_type=client_credentials" run_wrk "token (client_cred.)" "$ISSUER/token" "$BENCH_DIR/wrk/post_form.lua"
WRK_BODY="token=$service_token" run_wrk "introspection" "$ISSUER/introspect" "$BENCH_DIR/wrk/post_form.lua"
WRK_TOKEN="$user_token" run_wrk "userinfo" "$ISSUER/userinfo" "$BENCH_DIR/wrk/bearer_get.lua"
run_wrk "discovery" "$ISSUER/.well-known/openid-configuration"
run_wrk "jwks" "$ISSUER/jwks"
