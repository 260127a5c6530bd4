#!/usr/bin/env bash
# Fails if any of the tests' passwords appears in the given files or folders (searched
# recursively, binary files included). scripts/test.sh runs it over the test suite's log and
# the temporary folders its tests leave: no log or output of the suite may show a password.
# The passwords are the `pub const ...PASSWORD: &str` of tests/src/lib.rs.
# Usage: scripts/check-no-passwords.sh PATH...
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
(( $# > 0 )) || { echo "usage: $0 PATH..." >&2; exit 2; }

mapfile -t passwords < <(sed -n 's/^pub const [A-Z_]*PASSWORD: &str = "\([^"]*\)";$/\1/p' \
  "$root/tests/src/lib.rs")
if (( ${#passwords[@]} == 0 )); then
  echo "check-no-passwords: no test password found in tests/src/lib.rs" >&2
  exit 1
fi
patterns=()
for p in "${passwords[@]}"; do patterns+=(-e "$p"); done

# Only the names of the files are printed, never the lines: they hold the password.
status=0
found=$(grep -r -a -l -F "${patterns[@]}" -- "$@") || status=$?
case $status in
  0)
    echo "check-no-passwords: a test password appears in:" >&2
    sed 's/^/  /' <<<"$found" >&2
    exit 1
    ;;
  1) echo "check-no-passwords: none of the ${#passwords[@]} test passwords in $*" ;;
  *) echo "check-no-passwords: grep failed ($status) on $*" >&2; exit 1 ;;
esac
