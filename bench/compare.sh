#!/usr/bin/env bash
# Sésame against the reference provider oidc-provider (npm), same machine, same run,
# same load: each server in turn pinned to core 0, wrk on core 1. Prints requests per
# second and p99 for both and the ratio per endpoint.
#   bash bench/compare.sh          (DURATION=10s CONNECTIONS=32 by default)
# Needs wrk, curl, node and npm; installs oidc-provider into a scratch folder
# ($SCRATCH, default /tmp/sesame-bench-oidc-provider), never into the repository.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need wrk "apt-get install wrk"
need curl "apt-get install curl"
need node "apt-get install nodejs"
need npm "apt-get install npm"
cd "$BENCH_DIR/.."

SCRATCH=${SCRATCH:-/tmp/sesame-bench-oidc-provider}
mkdir -p "$SCRATCH"
if [ ! -d "$SCRATCH/node_modules/oidc-provider" ]; then
  echo "installing oidc-provider into $SCRATCH"
  (cd "$SCRATCH" && npm install --no-audit --no-fund --silent oidc-provider@9 >/dev/null)
fi
cp "$BENCH_DIR/oidc-provider/server.mjs" "$SCRATCH/server.mjs"
cargo build --release --quiet

REF_PID=
stop_ref() { if [ -n "$REF_PID" ]; then kill "$REF_PID" 2>/dev/null || true; wait "$REF_PID" 2>/dev/null || true; fi; REF_PID=; }
trap 'stop_sesame; stop_ref' EXIT
start_ref() { # FORMAT PORT
  FORMAT=$1 PORT=$2 taskset -c "$SERVER_CORE" node "$SCRATCH/server.mjs" >"$SCRATCH/server-$1.log" 2>&1 &
  REF_PID=$!
  SERVER_PID=$REF_PID
  wait_http "http://127.0.0.1:$2/.well-known/openid-configuration"
}
cc_token() { # ISSUER TOKEN_PATH
  curl -s -u bench-service:bench-service-secret-0123456789 -d grant_type=client_credentials -d scope=bench.api "$1$2" |
    sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'
}

export WRK_BASIC
WRK_BASIC=$(printf 'bench-service:bench-service-secret-0123456789' | base64 -w0)
RESULTS=$(mktemp)
export RESULTS
echo "server on core $SERVER_CORE, wrk on core $LOAD_CORE, $CONNECTIONS connections, $DURATION per endpoint"

echo "-- Sésame $(git rev-parse --short HEAD 2>/dev/null) (1 worker thread, SQLite, ES256 JWT access tokens)"
start_sesame 18181
S=http://127.0.0.1:18181
token=$(cc_token "$S" /token)
WRK_BODY="grant_type=client_credentials" run_wrk "sesame:token" "$S/token" "$BENCH_DIR/wrk/post_form.lua"
WRK_BODY="token=$token" run_wrk "sesame:introspection" "$S/introspect" "$BENCH_DIR/wrk/post_form.lua"
user_token=$(login_access_token "$S" bench-web bench-web-secret-0123456789 https://bench.example/callback bench "load test phrase 1")
WRK_TOKEN="$user_token" run_wrk "sesame:userinfo" "$S/userinfo" "$BENCH_DIR/wrk/bearer_get.lua"
run_wrk "sesame:discovery" "$S/.well-known/openid-configuration"
run_wrk "sesame:jwks" "$S/jwks"
stop_sesame

echo "-- Sésame without its caches (caches.sync_interval_ms = 0: every call reads the database)"
SESAME_CACHES__SYNC_INTERVAL_MS=0 start_sesame 18182
S=http://127.0.0.1:18182
token=$(cc_token "$S" /token)
WRK_BODY="token=$token" run_wrk "nocache:introspection" "$S/introspect" "$BENCH_DIR/wrk/post_form.lua"
user_token=$(login_access_token "$S" bench-web bench-web-secret-0123456789 https://bench.example/callback bench "load test phrase 1")
WRK_TOKEN="$user_token" run_wrk "nocache:userinfo" "$S/userinfo" "$BENCH_DIR/wrk/bearer_get.lua"
stop_sesame

echo "-- oidc-provider $(node -p "require('$SCRATCH/node_modules/oidc-provider/package.json').version"), ES256 JWT access tokens"
start_ref jwt 18282
R=http://127.0.0.1:18282
WRK_BODY="grant_type=client_credentials&scope=bench.api" run_wrk "ref:token" "$R/token" "$BENCH_DIR/wrk/post_form.lua"
run_wrk "ref:discovery" "$R/.well-known/openid-configuration"
run_wrk "ref:jwks" "$R/jwks"
stop_ref

echo "-- oidc-provider, opaque access tokens in memory (it cannot introspect JWTs)"
start_ref opaque 18283
R=http://127.0.0.1:18283
token=$(cc_token "$R" /token)
WRK_BODY="grant_type=client_credentials&scope=bench.api" run_wrk "ref-opaque:token" "$R/token" "$BENCH_DIR/wrk/post_form.lua"
WRK_BODY="token=$token" run_wrk "ref-opaque:introspection" "$R/token/introspection" "$BENCH_DIR/wrk/post_form.lua"
stop_ref

echo "-- ratio Sésame / oidc-provider (requests per second)"
awk '
  { rps[$1] = $2 }
  END {
    split("token:ref:token token-vs-opaque:ref-opaque:token introspection:ref-opaque:introspection discovery:ref:discovery jwks:ref:jwks introspection:nocache:introspection userinfo:nocache:userinfo", pairs, " ")
    for (i in pairs) {
      split(pairs[i], p, ":")
      mine = rps["sesame:" (p[1] == "token-vs-opaque" ? "token" : p[1])]
      theirs = rps[p[2] ":" p[3]]
      if (theirs > 0) printf "%-26s %6.1fx\n", p[1] " (vs " p[2] ")", mine / theirs
    }
  }' "$RESULTS" | sort
rm -f "$RESULTS"
