#!/usr/bin/env bash
# Fuzzes the administration API against its own OpenAPI document with schemathesis:
# no generated request may get a 500, and every answer must match the document
# (status, content type, headers, body schema). See fuzz/api/README.md.
#
#   bash fuzz/api/schemathesis.sh [extra `st run` options…]
#
# Environment (all optional):
#   SESAME_BIN            server binary (default target/release/sesame, built when missing)
#   SCHEMATHESIS_DIR      scratch dir: virtualenv, example database, last report
#                         (default ${TMPDIR:-/tmp}/sesame-schemathesis)
#   SCHEMATHESIS_SPEC     pip requirement (default 'schemathesis>=4,<5')
#   MAX_EXAMPLES          generated cases per operation and phase (default 100)
#   TIME_LIMIT            seconds for the whole schemathesis run (default 300)
#   WORKERS               concurrent schemathesis workers (default 4)
#   PHASES                default examples,coverage,fuzzing,stateful
#   SEED                  schemathesis --seed, to replay a run
#   STRICT=1              positive_data_acceptance with schemathesis's own statuses, where
#                         a 422 to a schema-valid body is a failure (default: 422 accepted,
#                         see README)
#   PROTECT_ADMIN=0       let the fuzzer lock the administrator whose token it uses (the
#                         API accepts it today, and the token dies mid-run; see README)
#
# Exit status: 0 when schemathesis reports no failure, non-zero otherwise (also when the
# administrator's token stopped working during the run, or the time limit was hit).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/fuzz/api"
SESAME_BIN="${SESAME_BIN:-$ROOT/target/release/sesame}"
SCRATCH="${SCHEMATHESIS_DIR:-${TMPDIR:-/tmp}/sesame-schemathesis}"
SPEC="${SCHEMATHESIS_SPEC:-schemathesis>=4,<5}"
MAX_EXAMPLES="${MAX_EXAMPLES:-100}"
TIME_LIMIT="${TIME_LIMIT:-300}"
WORKERS="${WORKERS:-4}"
PHASES="${PHASES:-examples,coverage,fuzzing,stateful}"
LOG_FILTER="${SESAME_LOG:-info}"

log() { printf '[schemathesis.sh] %s\n' "$*" >&2; }

# --- the server binary -------------------------------------------------------------
if [[ ! -x "$SESAME_BIN" ]]; then
    if [[ "$SESAME_BIN" == "$ROOT/target/release/sesame" ]]; then
        log "building $SESAME_BIN (cargo build --release)"
        (cd "$ROOT" && cargo build --release)
    else
        log "SESAME_BIN=$SESAME_BIN is not an executable file"
        exit 2
    fi
fi

# --- schemathesis in a private virtualenv ------------------------------------------
mkdir -p "$SCRATCH"
VENV="$SCRATCH/venv"
if [[ ! -x "$VENV/bin/st" ]]; then
    log "installing $SPEC into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet "$SPEC"
fi
log "$("$VENV/bin/st" --version)"

# --- a throwaway server ------------------------------------------------------------
RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/sesame-schemathesis-run.XXXXXX")"
REPORT_DIR="$SCRATCH/report"
rm -rf "$REPORT_DIR"
mkdir -p "$REPORT_DIR"
SERVER_PID=""

cleanup() {
    local status=$?
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    [[ -f "$RUN_DIR/server.log" ]] && cp "$RUN_DIR/server.log" "$REPORT_DIR/server.log"
    rm -rf "$RUN_DIR"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
ISSUER="http://127.0.0.1:$PORT"
API="$ISSUER/admin/api/v1"

# Only the settings below: nothing from the caller's SESAME_* variables (SESAME_BIN
# included: Sésame refuses an unknown SESAME_ key).
unset_sesame=()
for name in $(compgen -e); do
    if [[ "$name" == SESAME_* ]]; then unset_sesame+=(-u "$name"); fi
done
sesame() {
    env "${unset_sesame[@]}" \
        SESAME_LISTEN="127.0.0.1:$PORT" \
        SESAME_ISSUER="$ISSUER" \
        SESAME_DATA_DIR="$RUN_DIR/data" \
        SESAME_DEMO=false \
        SESAME_TWO_FACTOR__REQUIRED_FOR_ADMINS=false \
        SESAME_RATE_LIMITS__LOGIN_PER_IP_PER_MINUTE=1000 \
        SESAME_TOKENS__ACCESS_TOKEN_TTL=3600 \
        SESAME_MAIL__TRANSPORT=outbox \
        SESAME_SMS__PROVIDER=outbox \
        SESAME_LOG="$LOG_FILTER" \
        "$SESAME_BIN" "$@"
}

mkdir -p "$RUN_DIR/data"
log "importing tests/fixtures/office.toml into $RUN_DIR/data"
sesame import "$ROOT/tests/fixtures/office.toml" >"$RUN_DIR/import.log" 2>&1 || {
    cat "$RUN_DIR/import.log" >&2
    exit 2
}

log "starting $SESAME_BIN serve on $ISSUER"
sesame serve >"$RUN_DIR/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 150); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        log "the server exited:"
        cat "$RUN_DIR/server.log" >&2
        exit 2
    fi
    curl -fsS -o /dev/null "$API/openapi.json" 2>/dev/null && break
    sleep 0.2
done
curl -fsS -o /dev/null "$API/openapi.json" || { log "the server did not answer"; exit 2; }

# --- an administrator's token ------------------------------------------------------
TOKEN="$(python3 "$HERE/get_token.py" "$ISSUER")"
check_token() {
    curl -sS -o "$RUN_DIR/check.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$API/accounts/sonia"
}
status="$(check_token)"
if [[ "$status" != 200 ]]; then
    log "the administrator's token is refused before the run ($status):"
    cat "$RUN_DIR/check.json" >&2
    exit 2
fi
log "token obtained for sonia (scope sesame:admin)"

# --- schemathesis ------------------------------------------------------------------
# The administrator's token must live through the run: `POST /accounts/{username}/lock`
# on the administrator's own account ends it (the API does not refuse it), so, unless
# PROTECT_ADMIN=0, that one request is sent for a missing account instead (404).
if [[ "${PROTECT_ADMIN:-1}" != 0 ]]; then
    cat >"$RUN_DIR/hooks.py" <<'PY'
import os

import schemathesis

ADMIN = os.environ.get("FUZZ_ADMIN_USERNAME", "sonia").casefold()
GUARDED = {("POST", "/accounts/{username}/lock")}


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    name = (case.path_parameters or {}).get("username")
    if (case.method.upper(), case.operation.path) in GUARDED and isinstance(name, str):
        if name.strip().casefold() == ADMIN:
            case.path_parameters["username"] = "no-such-account-" + name.strip()
PY
    export SCHEMATHESIS_HOOKS="$RUN_DIR/hooks.py"
    export FUZZ_ADMIN_USERNAME=sonia
fi

# A 422 `invalid` answers a body that the schema allows but a rule refuses (an unknown
# application code, the password policy, archiving oneself): positive_data_acceptance
# accepts it unless STRICT=1. Every other check keeps schemathesis's defaults.
config_args=()
if [[ "${STRICT:-0}" == 0 ]]; then
    cat >"$RUN_DIR/schemathesis.toml" <<'TOML'
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "422"]
TOML
    config_args=(--config-file "$RUN_DIR/schemathesis.toml")
fi

args=(
    "${config_args[@]}"
    run "$API/openapi.json"
    --url "$API"
    --header "Authorization: Bearer $TOKEN"
    --checks all
    --phases "$PHASES"
    --max-examples "$MAX_EXAMPLES"
    --continue-on-failure
    --workers "$WORKERS"
    --request-timeout 20
    --generation-database "$SCRATCH/examples.db"
    --report junit,ndjson,har
    --report-dir "$REPORT_DIR"
    --output-sanitize false
    --no-color
)
if [[ -n "${SEED:-}" ]]; then args+=(--seed "$SEED"); fi
args+=("$@")

log "st ${args[*]/$TOKEN/TOKEN}"
set +e
# From the scratch run directory: schemathesis and hypothesis write nothing in the tree.
(cd "$RUN_DIR" && timeout --signal=INT --kill-after=30 "$TIME_LIMIT" "$VENV/bin/st" "${args[@]}") \
    2>&1 | tee "$REPORT_DIR/st-output.txt"
st_status=${PIPESTATUS[0]}
set -e

# --- after the run -----------------------------------------------------------------
final=$st_status
if [[ $st_status == 124 || $st_status == 130 ]]; then
    log "schemathesis did not finish within TIME_LIMIT=${TIME_LIMIT}s"
    final=3
fi

status="$(check_token)"
if [[ "$status" == 200 ]]; then
    log "the administrator's token still works; sonia after the run: $(python3 -c '
import json, sys
a = json.load(open(sys.argv[1]))
print({k: a.get(k) for k in ("archived", "account_admin", "locked_at", "locked_until")})' "$RUN_DIR/check.json")"
else
    log "WARNING: the administrator's token is refused after the run ($status): $(cat "$RUN_DIR/check.json")"
    log "WARNING: every request after that point was answered 401/403 and tested little"
    [[ $final == 0 ]] && final=4
fi

panics="$(grep -c -i 'panicked' "$RUN_DIR/server.log" || true)"
errors="$(grep -c 'admin API request failed' "$RUN_DIR/server.log" || true)"
log "server log: $panics panic(s), $errors 'admin API request failed' error(s) (copied to $REPORT_DIR/server.log)"
if [[ "$panics" != 0 || "$errors" != 0 ]]; then
    grep -i -E 'panicked|admin API request failed' "$RUN_DIR/server.log" | sort | uniq -c | sort -rn | head -20 >&2
    [[ $final == 0 ]] && final=5
fi

log "reports in $REPORT_DIR (st-output.txt, junit.xml, ndjson, har, server.log)"
if [[ $final == 0 ]]; then
    log "PASS: no failure"
else
    log "FAIL (exit $final)"
fi
exit "$final"
