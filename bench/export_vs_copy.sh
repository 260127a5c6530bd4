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

BENCH_PG="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
BENCH_DB="${BENCH_DB:-snapex_bench}"
ROWS="${ROWS:-5000000}"
ROWS="${ROWS//_/}"
RUNS="${RUNS:-2}"
SNAPEX_J1="${SNAPEX_J1:-1}"
TABLE="public.bench_rows"
# Bump when the table definition below changes, so existing tables are rebuilt.
DATA_VERSION="snapex-bench v1"

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
"${PSQL[@]}" "$ADMIN_URL" -Atc "select 1" >/dev/null || die "cannot connect to $ADMIN_URL"
if [[ -z "$("${PSQL[@]}" "$ADMIN_URL" -Atc "select 1 from pg_database where datname = '$BENCH_DB'")" ]]; then
    log "creating database $BENCH_DB"
    "${PSQL[@]}" "$ADMIN_URL" -c "CREATE DATABASE $BENCH_DB"
fi

expected_comment="$DATA_VERSION rows=$ROWS"
current_comment="$("${PSQL[@]}" "$DB_URL" -Atc \
    "select coalesce(obj_description(to_regclass('$TABLE'), 'pg_class'), '')")"
current_rows=-1
if [[ "$current_comment" == "$expected_comment" ]]; then
    current_rows="$("${PSQL[@]}" "$DB_URL" -Atc "select count(*) from $TABLE")"
fi
if [[ "$current_rows" == "$ROWS" ]]; then
    log "reusing $TABLE ($ROWS rows)"
else
    log "(re)creating $TABLE with $ROWS rows (this takes a while once)"
    t0=$EPOCHREALTIME
    "${PSQL[@]}" "$DB_URL" <<SQL
BEGIN;
DROP TABLE IF EXISTS $TABLE;
CREATE TABLE $TABLE (
    id          int8          NOT NULL,
    qty         int4          NOT NULL,
    label       text          NOT NULL,
    amount      numeric(12,2) NOT NULL,
    score       float8        NOT NULL,
    active      boolean       NOT NULL,
    created_at  timestamptz   NOT NULL,
    day         date          NOT NULL,
    ref         uuid          NOT NULL,
    attrs       jsonb         NOT NULL,
    note        text
);
-- Deterministic values, so every rebuild produces the same data (and the same Parquet sizes).
INSERT INTO $TABLE
SELECT
    g,
    ((g * 7919) % 2000001 - 1000000)::int4,
    substr(md5(g::text) || md5((g + 1)::text), 1, 10 + (g * 13 % 31)::int),   -- 10..40 chars
    ((g * 104729) % 10000000000) / 100.0,                                       -- < 1e8, 2 decimals
    sin(g::float8) * 1000.0,
    g % 3 = 0,
    timestamptz '2020-01-01 00:00:00+00' + g * interval '17 seconds',
    date '2000-01-01' + (g % 10000)::int,
    md5(g::text || ':uuid')::uuid,
    jsonb_build_object('k', g % 100, 'tag', 't' || (g % 7), 'ok', g % 2 = 0),
    CASE WHEN g % 10 = 7 THEN NULL ELSE 'note ' || (g % 9973) END               -- 10% NULL
FROM generate_series(1::int8, ${ROWS}::int8) AS g;
ALTER TABLE $TABLE ADD PRIMARY KEY (id);
COMMIT;
VACUUM (ANALYZE) $TABLE;
COMMENT ON TABLE $TABLE IS '$expected_comment';
SQL
    log "table built in $(elapsed "$t0" 1) s"
fi

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
