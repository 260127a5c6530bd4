# The PostgreSQL benchmark table public.bench_rows, shared by export_vs_copy.sh and
# partition_sizes.sh so both measure the same data. Sourced, not run (after bench/lib.sh).
# pg_bench_table reads these globals, set by the calling script:
#   PSQL (psql command as an array), ADMIN_URL, DB_URL, BENCH_DB, TABLE, ROWS
# shellcheck shell=bash disable=SC2154   # the globals above are assigned by the caller

# Bump when the table definition below changes, so existing tables are rebuilt.
DATA_VERSION="snapex-bench v1"

# Makes sure database $BENCH_DB holds $TABLE with $ROWS rows: reuses the table when its comment
# says it was built completely for this ROWS and DATA_VERSION and count(*) agrees; otherwise
# (re)creates it. Deterministic data, so every rebuild gives the same table.
pg_bench_table() {
    local expected_comment t0
    pg_ensure_bench_db
    expected_comment="$DATA_VERSION rows=$ROWS"
    if pg_table_is_built "$TABLE" "$expected_comment" "$ROWS"; then
        log "reusing $TABLE ($ROWS rows)"
        return
    fi
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
}
