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

# The end-to-end tests run the functions' real bootstraps: build them first with the very
# command (and profile settings) of scripts/static-checks.sh, so that after it this is a no-op
# and a developer never tests stale binaries. SNAPEX_SKIP_LAMBDA_BUILD=1 skips it (the tests
# then fail, one line each, on a missing or stale bootstrap). cargo-lambda comes from the
# static checks' tool venv, else from a venv of its own, at the static checks' pinned version.
if [[ "${SNAPEX_SKIP_LAMBDA_BUILD:-}" != 1 ]]; then
  tools=${SNAPEX_TOOLS_DIR:-$HOME/.cache/snapex-tools}
  pin=$(grep -o 'cargo-lambda==[0-9.]*' scripts/static-checks.sh | head -n 1)
  venv=$tools/venv
  if [[ ! -x $venv/bin/cargo-lambda ]] || ! grep -qF "$pin" "$venv/.pins" 2>/dev/null; then
    venv=$tools/cargo-lambda-venv
    if [[ "$(cat "$venv/.pins" 2>/dev/null)" != "$pin" ]]; then
      echo "installing $pin into $venv" >&2
      rm -rf "$venv"
      python3 -m venv "$venv"
      "$venv/bin/pip" install --quiet --disable-pip-version-check "$pin"
      echo "$pin" >"$venv/.pins"
    fi
  fi
  # The rust-cargolambda functions of template.yaml, as static-checks.sh lists them.
  mapfile -t bins < <(grep -A3 'BuildMethod: rust-cargolambda' template.yaml | sed -n 's/^ *Binary: *//p')
  bin_args=()
  for bin in "${bins[@]}"; do bin_args+=(--bin "$bin"); done
  echo "== cargo lambda build --release --x86-64 ${bin_args[*]}" >&2
  CARGO_PROFILE_RELEASE_LTO=${SNAPEX_LAMBDA_CHECK_LTO:-false} \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=${SNAPEX_LAMBDA_CHECK_CODEGEN_UNITS:-16} \
    PATH="$venv/bin:$PATH" cargo lambda build --release --locked --x86-64 "${bin_args[@]}"
fi

status=0
TMPDIR=$logs/tmp cargo test --workspace "${args[@]}" 2>&1 | tee "$log" || status=$?

if ! scripts/check-no-passwords.sh "$log" "$logs/tmp"; then
  status=1
fi
echo "test.sh: the log is $log" >&2
# What the tests left behind was only kept to be searched.
rm -rf "$logs/tmp"
exit "$status"
