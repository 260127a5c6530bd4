#!/usr/bin/env bash
# Benchmark: `snapex export` of one table against a plain binary COPY of the same table.
#
#   bench/export_vs_copy.sh                 # 5,000,000 rows, local server
#   ROWS=1000000 RUNS=1 bench/export_vs_copy.sh
#
# Environment:
#   BENCH_PG    server URL without database   (default postgres://postgres@127.0.0.1:5432)
#   BENCH_DB    database to create/use        (default snapex_bench)
#   ROWS        rows in public.bench_rows     (default 5000000; underscores allowed)
#   RUNS        runs per measurement; the fastest is kept (default 2)
#   SNAPEX_J1   also measure `snapex -j 1`, 1 or 0 (default 1)
#   CARGO_TARGET_DIR   honoured when locating the binary (default ./target)
#   TMPDIR      where the temporary export folder is made (default /tmp)
#
# See bench/README.md for what is measured and how to read the figures.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/pg_bench_table.sh
source "$ROOT/bench/pg_bench_table.sh"

BENCH_PG="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
BENCH_DB="${BENCH_DB:-snapex_bench}"
ROWS="${ROWS:-5000000}"
ROWS="${ROWS//_/}"
RUNS="${RUNS:-2}"
SNAPEX_J1="${SNAPEX_J1:-1}"
TABLE="public.bench_rows"

bench_preflight
command -v psql >/dev/null || die "psql not found"

# --- URLs: BENCH_PG may carry a database path and/or a query string; replace the database. ---
split_server_url "$BENCH_PG"
ADMIN_URL="${URL_SCHEME}://${URL_AUTHORITY}/${BENCH_ADMIN_DB:-postgres}${URL_QUERY}"
DB_URL="${URL_SCHEME}://${URL_AUTHORITY}/${BENCH_DB}${URL_QUERY}"

PSQL=(psql -X -q -v ON_ERROR_STOP=1)

# --- 1. Build -----------------------------------------------------------------------------
bench_build

# --- 2. Data --------------------------------------------------------------------------------
# Reuse public.bench_rows if it is intact, else (re)build it (bench/pg_bench_table.sh).
pg_bench_table

# --- 3. Measurements ------------------------------------------------------------------------
make_work snapex-bench

note_load_start
log "measuring binary COPY stream size"
COPY_SQL="COPY $TABLE TO STDOUT (FORMAT binary)"
COPY_BYTES="$("${PSQL[@]}" "$DB_URL" -c "$COPY_SQL" | wc -c)"
COPY_BYTES="${COPY_BYTES// /}"
[[ "$COPY_BYTES" -gt 0 ]] || die "COPY produced no bytes"

run_baseline "copy_binary(psql)" COPY psql "${PSQL[@]}" "$DB_URL" -c "$COPY_SQL"

run_snapex "snapex(default-j)"
if [[ "$SNAPEX_J1" == 1 ]]; then
    run_snapex "snapex(-j1)" -j 1
fi

# --- 4. Report ------------------------------------------------------------------------------
echo
echo "snapex export vs binary COPY: $TABLE, $ROWS rows, fastest of $RUNS run(s) each"
report_host_line
echo "server: $("${PSQL[@]}" "$DB_URL" -Atc 'show server_version')  snapex: $("$BIN" --version)  commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "COPY binary stream: $COPY_BYTES bytes ($(awk -v b="$COPY_BYTES" 'BEGIN{printf "%.1f", b/1e6}') MB); MB/s below = that size / wall time (MB = 10^6 bytes)"
echo
report_table "copy_binary(psql)" "$COPY_BYTES" COPY
echo
echo "time/COPY = wall / COPY wall (lower is better); COPY/thru = COPY throughput / this throughput (same as time/COPY)."
echo "wall_s = fastest run; RSS_MiB = highest peak RSS of any run (for COPY it is psql's, not the server's)."
echo "The PostgreSQL server runs on the same machine and competes for the same cores."
