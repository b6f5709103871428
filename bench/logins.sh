#!/usr/bin/env bash
# Whole browser logins per second (authorization request, login page, password, TOTP
# code, code redemption), each by another account, against the release server pinned to
# core 0; the browsers run on core 1. Beside it, the cost of one Argon2 verification
# alone, and the share of the rate it allows that logins reach.
#   bash bench/logins.sh     (LOGINS_SECONDS=15 LOGINS_CONCURRENCY=16 LOGINS_ACCOUNTS=2000)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$BENCH_DIR/.."
cargo build --release --quiet
cargo bench --no-run --quiet --bench logins
TARGET=${CARGO_TARGET_DIR:-target}
export BENCH_BIN=${BENCH_BIN:-$TARGET/release/sesame}
export SERVER_CORE
taskset -c "$LOAD_CORE" cargo bench --quiet --bench logins
