# The MariaDB copy of public.bench_wide (bench/pg_wide_table.sh), used by peers.sh. Sourced,
# not run (after bench/lib.sh and bench/pg_wide_table.sh, once pg_wide_table has run).
# mysql_wide_table reads these globals, set by the calling script:
#   MYSQL (mariadb/mysql client command as an array), PSQL, DB_URL (the PostgreSQL database
#   holding public.bench_wide), BENCH_DB, ROWS
# shellcheck shell=bash disable=SC2154   # the globals above are assigned by the caller

MY_WIDE_TABLE_NAME="bench_wide"
# Bump when the table definition below (or the PostgreSQL data) changes.
MY_WIDE_VERSION="snapex-bench-wide-mysql v1"

# Makes sure database $BENCH_DB on the MariaDB server holds bench_wide with $ROWS rows, the same
# values as PostgreSQL's public.bench_wide: the PostgreSQL table's COPY text output (tab
# separated, \N for NULL, backslash escapes: the format LOAD DATA reads by default) is piped
# into `LOAD DATA LOCAL INFILE '/dev/stdin'`, in key order, into the empty table (MariaDB
# skips undo logging for a bulk insert into an empty table with unique_checks off).
# Types: jsonb -> JSON, uuid -> CHAR(36), timestamptz -> DATETIME(6) (UTC), boolean ->
# TINYINT(1), float4 -> FLOAT. Reuse rule as in pg_wide_table: table comment + count(*).
mysql_wide_table() {
    local name="$MY_WIDE_TABLE_NAME" expected_comment current_comment current_rows t0 got
    local -a q=("${MYSQL[@]}" -N -B)
    "${q[@]}" -e "CREATE DATABASE IF NOT EXISTS $BENCH_DB CHARACTER SET utf8mb4"
    expected_comment="$MY_WIDE_VERSION rows=$ROWS"
    current_comment="$("${q[@]}" -e "select TABLE_COMMENT from information_schema.TABLES
                          where TABLE_SCHEMA = '$BENCH_DB' and TABLE_NAME = '$name'")"
    current_rows=-1
    if [[ "$current_comment" == "$expected_comment" ]]; then
        current_rows="$("${q[@]}" -e "select count(*) from $BENCH_DB.$name")"
    fi
    if [[ "$current_rows" == "$ROWS" ]]; then
        log "reusing $BENCH_DB.$name on MariaDB ($ROWS rows)"
        return
    fi
    log "(re)creating $BENCH_DB.$name on MariaDB with $ROWS rows, loaded from PostgreSQL's COPY"
    t0=$EPOCHREALTIME
    "${MYSQL[@]}" -D "$BENCH_DB" <<SQL
DROP TABLE IF EXISTS $name;
CREATE TABLE $name (
    id          BIGINT         NOT NULL,
    tiny        SMALLINT       NOT NULL,
    qty         INT            NOT NULL,
    counter     INT            NOT NULL,
    big         BIGINT         NOT NULL,
    amount      DECIMAL(12,2)  NOT NULL,
    score       DOUBLE         NOT NULL,
    ratio       FLOAT          NOT NULL,
    label       VARCHAR(40)    NOT NULL,
    name        VARCHAR(64)    NOT NULL,
    status      VARCHAR(16)    NOT NULL,
    body        TEXT           NOT NULL,
    note        TEXT,
    active      TINYINT(1)     NOT NULL,
    flagged     TINYINT(1),
    created_at  DATETIME(6)    NOT NULL,
    updated_at  DATETIME(6)    NOT NULL,
    day         DATE           NOT NULL,
    attrs       JSON           NOT NULL,
    ref         CHAR(36)       NOT NULL,
    region      SMALLINT       NOT NULL,
    weight      DOUBLE,
    PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='incomplete';
SQL
    # Booleans as 0/1 and the timestamps as UTC wall-clock times, which is what the MariaDB
    # columns take; everything else is PostgreSQL's own text output.
    "${PSQL[@]}" "$DB_URL" -c "COPY (SELECT id, tiny, qty, counter, big, amount, score, ratio,
            label, name, status, body, note, active::int, flagged::int,
            created_at AT TIME ZONE 'UTC', updated_at AT TIME ZONE 'UTC', day, attrs, ref,
            region, weight
        FROM $PG_WIDE_TABLE ORDER BY id) TO STDOUT" \
    | "${MYSQL[@]}" --local-infile=1 -D "$BENCH_DB" -e "
        SET SESSION unique_checks = 0;
        SET SESSION foreign_key_checks = 0;
        SET SESSION sql_mode = 'STRICT_ALL_TABLES';
        LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE $name CHARACTER SET utf8mb4;
        SHOW WARNINGS LIMIT 5;"
    "${MYSQL[@]}" -D "$BENCH_DB" >/dev/null <<SQL
ANALYZE TABLE $name;
ALTER TABLE $name COMMENT = '$expected_comment';
SQL
    got="$("${q[@]}" -e "select count(*) from $BENCH_DB.$name")"
    [[ "$got" == "$ROWS" ]] || die "built $BENCH_DB.$name has $got rows, expected $ROWS"
    log "MariaDB table built in $(elapsed "$t0" 1) s ($("${q[@]}" -e "select round((DATA_LENGTH + INDEX_LENGTH) / 1048576) from information_schema.TABLES
        where TABLE_SCHEMA = '$BENCH_DB' and TABLE_NAME = '$name'") MiB of InnoDB data)"
}
