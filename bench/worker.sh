#!/usr/bin/env bash
# What one chunk worker does per core: the figures behind docs/performance.md's Lambda sizing table.
# On the 22-column table of peers.sh, in one run, median of RUNS:
#   copy      psql binary COPY into /dev/null (one backend, no decoding): what a source sends
#   1 core    snapex export -j 1 pinned to one CPU (taskset): decoding and encoding share it
#   2 cores   snapex export -j 1 unpinned: its reading and its encoding overlap
# The database runs on the same machine, so in the `2 cores` line it competes with snapex.
#
#   bench/worker.sh
#   ROWS=1000000 RUNS=1 bench/worker.sh
#
# Environment: BENCH_PG, BENCH_DB, ROWS, RUNS (default 3), CARGO_TARGET_DIR, TMPDIR.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/pg_wide_table.sh
source "$ROOT/bench/pg_wide_table.sh"

RUNS="${RUNS:-3}"
pg_wide_env
command -v taskset >/dev/null || die "taskset (util-linux) is needed"

bench_build
make_work snapex-worker
pg_wide_table
COPY_SQL="COPY $PG_WIDE_TABLE TO STDOUT (FORMAT binary)"
BYTES="$("${PSQL[@]}" "$DB_URL" -c "$COPY_SQL" | wc -c)"

# Wall seconds and peak RSS (KiB) of one command, appended to $WORK/<label>.
measure() { # label, command...
    local label=$1
    shift
    /usr/bin/time -f "%e %M" -o "$WORK/t" "$@" >/dev/null 2>"$WORK/err" ||
        { cat "$WORK/err"; die "$label failed"; }
    cat "$WORK/t" >>"$WORK/$label"
}

for _ in $(seq "$RUNS"); do
    measure copy "${PSQL[@]}" "$DB_URL" -c "$COPY_SQL"
    for label in 1core 2cores; do
        rm -rf "$WORK/out"
        pin=()
        if [[ $label == 1core ]]; then pin=(taskset -c 1); fi
        measure "$label" "${pin[@]}" "$BIN" export --no-progress -j 1 --source "$DB_URL" \
            --include "$PG_WIDE_TABLE" --dest "$WORK/out" --export-id w
    done
done

echo "one chunk worker, $PG_WIDE_TABLE, $ROWS rows, median of $RUNS; commit $(git rev-parse --short HEAD)"
echo "date: $(date -u +%FT%TZ)  host: $(nproc) cores  COPY stream: $BYTES bytes"
printf '%-8s %8s %9s %10s %8s %10s\n' line wall_s MB/s rows/s RSS_MiB time/COPY
copy_wall=$(sort -n "$WORK/copy" | awk '{w[NR]=$1} END {print w[int((NR+1)/2)]}')
for label in copy 1core 2cores; do
    sort -n "$WORK/$label" | awk -v l="$label" -v b="$BYTES" -v r="$ROWS" -v c="$copy_wall" '
        {w[NR]=$1; if ($2 > m) m = $2}
        END {x = w[int((NR+1)/2)];
             printf "%-8s %8.2f %9.1f %10.0f %8.1f %10.2f\n", l, x, b/x/1e6, r/x, m/1024, x/c}'
done
