#!/usr/bin/env bash
# Where `snapex export` spends its CPU: runs one export of a table under `perf record` (with
# DWARF call graphs) and prints the symbols that take at least PERCENT of the samples, self
# time only, then the same grouped by the crate or library they belong to (zstd, the decoder,
# parquet, arrow, the kernel's copies). The export's own figures (rows, wall time) come from
# its summary line.
#
#   bench/profile.sh                                  # public.bench_rows of snapex_bench, -j 1
#   TABLE=public.bench_wide JOBS=2 bench/profile.sh
#   SOURCE=mysql://root@127.0.0.1:3306/snapex_bench TABLE=snapex_bench.bench_rows bench/profile.sh
#
# Environment: SOURCE (default postgres://postgres@127.0.0.1:5432/snapex_bench), TABLE
# (default public.bench_rows; build it with bench/export_vs_copy.sh), JOBS (default 1: one
# reader, so the profile is of one pipeline), PERCENT (default 1), FREQ (samples per second,
# default 999), CARGO_TARGET_DIR (where the release binary is), TMPDIR. Needs `perf`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source bench/lib.sh

SOURCE=${SOURCE:-postgres://postgres@127.0.0.1:5432/snapex_bench}
TABLE=${TABLE:-public.bench_rows}
JOBS=${JOBS:-1}
PERCENT=${PERCENT:-1}
FREQ=${FREQ:-999}
command -v perf >/dev/null || die "perf is not installed (apt-get install linux-perf)"

bench_build
make_work snapex-profile
work=$WORK

log "profiling snapex export of $TABLE (-j $JOBS)"
perf record -q -F "$FREQ" -g --call-graph dwarf,16384 -o "$work/perf.data" -- \
    "$BIN" export --source "$SOURCE" --include "$TABLE" --dest "$work/out" \
    --no-progress -j "$JOBS" | head -n 1

echo
echo "self time by symbol (>= $PERCENT% of samples):"
perf report -i "$work/perf.data" --stdio --no-children --sort symbol -g none \
    --percent-limit "$PERCENT" 2>/dev/null | grep -E '^ +[0-9]' | sed 's/ *- *- *$//'

echo
echo "self time by library or crate:"
perf report -i "$work/perf.data" --stdio --no-children --sort symbol -g none 2>/dev/null |
    awk '/^ +[0-9.]+%/ {
        pct = $1; sub("%", "", pct); sym = $0; sub(/^ +[0-9.]+% +/, "", sym)
        group = "other"
        if (sym ~ /^\[k\]/) group = "kernel"
        else if (sym ~ /ZSTD|HUF_|HIST_|FSE_/) group = "zstd"
        else if (sym ~ /snapex::source/) group = "snapex decode"
        else if (sym ~ /snapex::/) group = "snapex other"
        else if (sym ~ /parquet::/) group = "parquet"
        else if (sym ~ /arrow/) group = "arrow"
        else if (sym ~ /mem(move|cpy|set)|malloc|free|realloc/) group = "memory (copies, allocation)"
        else if (sym ~ /tokio|mio/) group = "tokio"
        else if (sym ~ /postgres|mysql/) group = "driver"
        else if (sym ~ /from_utf8|core::str/) group = "utf-8 checks"
        total[group] += pct
    }
    END { for (g in total) printf "  %6.2f%%  %s\n", total[g], g }' | sort -rn
