#!/usr/bin/env bash
# The test command: starts what the tests need, then runs every test of the workspace against
# the real local PostgreSQL and a real S3-compatible server on loopback.
#
# Everything the run prints, the output of passing tests included, also goes to a log, and the
# tests' temporary folders go under one folder beside it (TMPDIR). After the tests both are
# searched for the tests' passwords (scripts/check-no-passwords.sh): the run fails if a log or
# an output of the suite shows one. SNAPEX_TEST_LOGS chooses the folder (default: a new one
# under the target directory's test-logs/); arguments are passed to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

target=${CARGO_TARGET_DIR:-target}
if [[ -z ${SNAPEX_TEST_LOGS:-} ]]; then
  # The five latest runs' logs are kept.
  mkdir -p "$target/test-logs"
  { ls -1dt "$target/test-logs"/*/ 2>/dev/null || true; } | tail -n +5 | xargs -r rm -rf
fi
logs=${SNAPEX_TEST_LOGS:-$target/test-logs/$(date -u +%Y%m%dT%H%M%SZ)-$$}
mkdir -p "$logs/tmp"
logs=$(cd "$logs" && pwd)
log=$logs/test.log

# The output of passing tests too: it is part of what must hold no password.
args=("$@")
separated=false
for a in "$@"; do [[ $a == -- ]] && separated=true; done
$separated || args+=(--)
args+=(--show-output)

status=0
TMPDIR=$logs/tmp cargo test --workspace "${args[@]}" 2>&1 | tee "$log" || status=$?

if ! scripts/check-no-passwords.sh "$log" "$logs/tmp"; then
  status=1
fi
echo "test.sh: the log is $log" >&2
# What the tests left behind was only kept to be searched.
rm -rf "$logs/tmp"
exit "$status"
