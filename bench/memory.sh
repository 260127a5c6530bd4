#!/usr/bin/env bash
# Peak memory (RSS) of one chunk worker: `snapex export -j 1` reads one chunk at a time on one
# connection, as one ExportChunk Lambda does. Measured on the 22-column table of peers.sh for
# several chunk sizes (--target-file-size) and row-group sizes (--row-group-size), and on a
# table at PostgreSQL's 1,600-column limit. The worker's memory should follow the row-group
# size and not the chunk size or the table's width.
#
#   bench/memory.sh
#   ROWS=1000000 WIDE_ROWS=20000 bench/memory.sh
#
# Environment: BENCH_PG (server URL, default postgres://postgres@127.0.0.1:5432), BENCH_DB
# (default snapex_bench), ROWS (rows of bench_wide, default 5000000), WIDE_ROWS (rows of the
# 1,600-column table, default 100000), CHUNKS (target file sizes, default "64MiB 256MiB 4GiB"),
# ROW_GROUPS (default "16MiB 32MiB 64MiB"), CARGO_TARGET_DIR, TMPDIR.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/pg_wide_table.sh
source "$ROOT/bench/pg_wide_table.sh"

WIDE_ROWS="${WIDE_ROWS:-100000}"
WIDE_ROWS="${WIDE_ROWS//_/}"
RUNS=1
CHUNKS="${CHUNKS:-64MiB 256MiB 4GiB}"
ROW_GROUPS="${ROW_GROUPS:-16MiB 32MiB 64MiB}"
pg_wide_env
export PGOPTIONS="-c client_min_messages=warning"

bench_build
make_work snapex-memory
pg_wide_table

# The 1,600-column table: 1 key + 1,599 columns cycling int4, text, real, boolean, int2 (a heap
# row must fit in 8 kB, so no 8-byte types). Reused when its comment matches.
COLS_TABLE="public.bench_1600"
cols_comment="snapex-bench-1600 v1 rows=$WIDE_ROWS"
if ! pg_table_is_built "$COLS_TABLE" "$cols_comment" "$WIDE_ROWS"; then
    log "(re)creating $COLS_TABLE with $WIDE_ROWS rows"
    cols="" vals=""
    for k in $(seq 1 1599); do
        case $((k % 5)) in
        0) cols+=", c$k int4" vals+=", g + $k" ;;
        1) cols+=", c$k text" vals+=", 'v' || g" ;;
        2) cols+=", c$k real" vals+=", g / $k.0" ;;
        3) cols+=", c$k boolean" vals+=", g % 2 = 0" ;;
        4) cols+=", c$k int2" vals+=", (g % 1000)::int2" ;;
        esac
    done
    "${PSQL[@]}" "$DB_URL" \
        -c "DROP TABLE IF EXISTS $COLS_TABLE" \
        -c "CREATE TABLE $COLS_TABLE (id int8 PRIMARY KEY $cols)" \
        -c "INSERT INTO $COLS_TABLE SELECT g $vals FROM generate_series(1, $WIDE_ROWS) g" \
        -c "VACUUM ANALYZE $COLS_TABLE" \
        -c "COMMENT ON TABLE $COLS_TABLE IS '$cols_comment'"
fi

# One export with -j 1; prints a row of the table.
run() { # table, target file size, row group size
    local out="$WORK/out" t="$WORK/time"
    rm -rf "$out"
    /usr/bin/time -v -o "$t" "$BIN" export --no-progress -j 1 --source "$DB_URL" \
        --include "$1" --target-file-size "$2" --row-group-size "$3" --dest "$out" \
        --export-id m >"$WORK/log" 2>&1 || { cat "$WORK/log"; die "export of $1 failed"; }
    python3 - "$out/m/manifest.json" "$t" "$1" "$2" "$3" <<'PY'
import json, re, sys
m = json.load(open(sys.argv[1]))
tv = open(sys.argv[2]).read()
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", tv).group(1)) / 1024
wall = re.search(r"Elapsed \(wall clock\) time .*: (\S+)", tv).group(1)
t = m["totals"]
print(f"{sys.argv[3]:<20} {sys.argv[4]:>8} {sys.argv[5]:>8} {t['files']:>6} {t['rows']:>9} "
      f"{t['bytes'] / 2**20:>10.1f} {wall:>8} {rss:>8.1f}")
PY
}

echo "peak RSS of one chunk worker (snapex export -j 1); commit $(git rev-parse --short HEAD)"
echo "date: $(date -u +%FT%TZ)  host: $(nproc) cores"
printf '%-20s %8s %8s %6s %9s %10s %8s %8s\n' table chunk rowgroup files rows out_MiB wall RSS_MiB
for rg in $ROW_GROUPS; do
    for chunk in $CHUNKS; do run "$PG_WIDE_TABLE" "$chunk" "$rg"; done
done
for rg in $ROW_GROUPS; do run "$COLS_TABLE" 4GiB "$rg"; done
