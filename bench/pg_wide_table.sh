# The 22-column benchmark table public.bench_wide (issue 8), used by peers.sh. Sourced, not
# run (after bench/lib.sh). pg_wide_table reads these globals, set by the calling script:
#   PSQL (psql command as an array), ADMIN_URL, DB_URL, BENCH_DB, ROWS
# and makes PG_WIDE_TABLE. The MariaDB copy of the same data is built by bench/mysql_wide_table.sh
# from this table's COPY output, so both engines hold identical values.
# shellcheck shell=bash disable=SC2154   # the globals above are assigned by the caller

PG_WIDE_TABLE="public.bench_wide"
# Bump when the table definition below changes, so existing tables are rebuilt.
PG_WIDE_VERSION="snapex-bench-wide v1"

# Makes sure database $BENCH_DB holds $PG_WIDE_TABLE with $ROWS rows: reuses the table when its
# comment says it was built completely for this ROWS and PG_WIDE_VERSION and count(*) agrees;
# otherwise (re)creates it. Deterministic data, so every rebuild gives the same table.
pg_wide_table() {
    local table="$PG_WIDE_TABLE" expected_comment t0
    pg_ensure_bench_db
    expected_comment="$PG_WIDE_VERSION rows=$ROWS"
    if pg_table_is_built "$table" "$expected_comment" "$ROWS"; then
        log "reusing $table ($ROWS rows)"
        return
    fi
    log "(re)creating $table with $ROWS rows (this takes a while once)"
    t0=$EPOCHREALTIME
    "${PSQL[@]}" "$DB_URL" <<SQL
BEGIN;
DROP TABLE IF EXISTS $table;
CREATE TABLE $table (
    id          int8          NOT NULL,
    tiny        int2          NOT NULL,
    qty         int4          NOT NULL,
    counter     int4          NOT NULL,
    big         int8          NOT NULL,
    amount      numeric(12,2) NOT NULL,
    score       float8        NOT NULL,
    ratio       float4        NOT NULL,
    label       varchar(40)   NOT NULL,
    name        varchar(64)   NOT NULL,
    status      varchar(16)   NOT NULL,
    body        text          NOT NULL,
    note        text,
    active      boolean       NOT NULL,
    flagged     boolean,
    created_at  timestamptz   NOT NULL,
    updated_at  timestamptz   NOT NULL,
    day         date          NOT NULL,
    attrs       jsonb         NOT NULL,
    ref         uuid          NOT NULL,
    region      int2          NOT NULL,
    weight      float8
);
-- Deterministic values (no random()), so every rebuild produces the same data and the same
-- Parquet sizes. Rows go in key order.
INSERT INTO $table
SELECT
    g,
    (g % 32749 - 16374)::int2,
    ((g * 7919) % 2000001 - 1000000)::int4,                                    -- scattered in ±1e6
    (g % 1000)::int4,
    (g * 2654435761) % 9000000000000000000,                                    -- large, scattered
    ((g * 104729) % 10000000000) / 100.0,                                      -- < 1e8, 2 decimals
    sin(g::float8) * 1000.0,
    (cos(g::float8) * 100.0)::float4,
    substr(md5(g::text) || md5((g + 1)::text), 1, 10 + (g * 13 % 31)::int),    -- 10..40 chars
    'customer ' || (g % 50000) || ' ' || substr(md5((g % 50000)::text), 1, 12),
    (ARRAY['new', 'open', 'pending', 'shipped', 'closed'])[1 + (g % 5)::int],
    substr(md5(g::text || 'a') || ' ' || md5(g::text || 'b') || ' ' || md5(g::text || 'c'),
           1, 40 + (g * 7 % 61)::int),                                         -- 40..100 chars
    CASE WHEN g % 10 = 7 THEN NULL ELSE 'note ' || (g % 9973) END,             -- 10% NULL
    g % 3 = 0,
    CASE WHEN g % 4 = 0 THEN NULL ELSE g % 5 = 0 END,                          -- 25% NULL
    timestamptz '2020-01-01 00:00:00+00' + g * interval '17 seconds',
    timestamptz '2021-01-01 00:00:00+00' + g * interval '13 seconds' + (g % 1000000) * interval '1 microsecond',
    date '2000-01-01' + (g % 10000)::int,
    jsonb_build_object('k', g % 100, 'tag', 't' || (g % 7), 'ok', g % 2 = 0, 'n', round((g % 1000) / 10.0, 1)),
    md5(g::text || ':uuid')::uuid,
    (g % 50)::int2,
    CASE WHEN g % 20 = 3 THEN NULL ELSE (g % 100000) / 7.0 END                 -- 5% NULL
FROM generate_series(1::int8, ${ROWS}::int8) AS g;
ALTER TABLE $table ADD PRIMARY KEY (id);
COMMIT;
VACUUM (ANALYZE) $table;
COMMENT ON TABLE $table IS '$expected_comment';
SQL
    log "table built in $(elapsed "$t0" 1) s ($("${PSQL[@]}" "$DB_URL" -Atc \
        "select pg_size_pretty(pg_total_relation_size('$table'))") with its key)"
}

# Defaults and URLs for the PostgreSQL-only scripts on this table (memory.sh, worker.sh):
# BENCH_PG, BENCH_DB and ROWS from the environment (RUNS must be set by the caller), then
# ADMIN_URL, DB_URL and PSQL.
pg_wide_env() {
    BENCH_PG="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
    BENCH_DB="${BENCH_DB:-snapex_bench}"
    ROWS="${ROWS:-5000000}"
    ROWS="${ROWS//_/}"
    bench_preflight
    split_server_url "$BENCH_PG"
    ADMIN_URL="${URL_SCHEME}://${URL_AUTHORITY}/${BENCH_ADMIN_DB:-postgres}${URL_QUERY}"
    DB_URL="${URL_SCHEME}://${URL_AUTHORITY}/${BENCH_DB}${URL_QUERY}"
    PSQL=(psql -X -q -v ON_ERROR_STOP=1)
}
