#!/usr/bin/env bash
# Benchmark: `snapex export` of one MySQL/MariaDB table against a plain
# `mariadb --quick -e 'SELECT * ...' > /dev/null` of the same table.
#
#   bench/mysql_export_vs_select.sh                 # 5,000,000 rows, local server
#   ROWS=1000000 RUNS=1 bench/mysql_export_vs_select.sh
#
# Environment:
#   BENCH_MYSQL server URL without database   (default mysql://root@127.0.0.1:3306)
#   BENCH_DB    database to create/use        (default snapex_bench)
#   ROWS        rows in <BENCH_DB>.bench_rows (default 5000000; underscores allowed)
#   RUNS        runs per measurement; the fastest is kept (default 2)
#   BATCH       rows per INSERT ... SELECT while building the table (default 1000000)
#   SNAPEX_J1   also measure `snapex -j 1`, 1 or 0 (default 1)
#   SNAPEX_ARGS extra arguments for every snapex run, e.g. "--mysql-consistency single"
#   CARGO_TARGET_DIR   honoured when locating the binary (default ./target)
#   TMPDIR      where the temporary export folder is made (default /tmp)
#
# See bench/README.md for what is measured and how to read the figures.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

BENCH_MYSQL="${BENCH_MYSQL:-mysql://root@127.0.0.1:3306}"
BENCH_DB="${BENCH_DB:-snapex_bench}"
ROWS="${ROWS:-5000000}"
ROWS="${ROWS//_/}"
RUNS="${RUNS:-2}"
BATCH="${BATCH:-1000000}"
BATCH="${BATCH//_/}"
SNAPEX_J1="${SNAPEX_J1:-1}"
read -r -a EXTRA_ARGS <<<"${SNAPEX_ARGS:-}"
TABLE_NAME="bench_rows"
TABLE="${BENCH_DB}.${TABLE_NAME}"
# Bump when the table definition below changes, so existing tables are rebuilt.
DATA_VERSION="snapex-bench-mysql v1"

[[ "$BATCH" =~ ^[1-9][0-9]*$ ]] || die "BATCH must be a positive integer, got '$BATCH'"
bench_preflight
if command -v mariadb >/dev/null; then
    CLIENT=mariadb
elif command -v mysql >/dev/null; then
    CLIENT=mysql
else
    die "neither mariadb nor mysql client found"
fi

# --- URLs: BENCH_MYSQL may carry a database path and/or a query string; replace the database.
# mysql://user[:password]@host[:port][/db][?query]; the client gets user/password/host/port.
split_server_url "$BENCH_MYSQL"
[[ "$URL_SCHEME" == mysql || "$URL_SCHEME" == mariadb ]] || die "BENCH_MYSQL must start with mysql:// or mariadb://"
DB_URL="${URL_SCHEME}://${URL_AUTHORITY}/${BENCH_DB}${URL_QUERY}"
userinfo=""
hostport="$URL_AUTHORITY"
if [[ "$URL_AUTHORITY" == *@* ]]; then
    userinfo="${URL_AUTHORITY%@*}"
    hostport="${URL_AUTHORITY##*@}"
fi
urldecode() { local s="${1//+/ }"; printf '%b' "${s//%/\\x}"; }
my_user="$(urldecode "${userinfo%%:*}")"
my_pass=""
if [[ "$userinfo" == *:* ]]; then my_pass="$(urldecode "${userinfo#*:}")"; fi
my_host="${hostport%%:*}"
my_port=3306
if [[ "$hostport" == *:* ]]; then my_port="${hostport##*:}"; fi
[[ -n "$my_host" ]] || die "no host in BENCH_MYSQL"
# The password goes through the environment, not the command line.
if [[ -n "$my_pass" ]]; then export MYSQL_PWD="$my_pass"; fi

# utf8mb4 on the wire, so the text baseline carries the labels as the server stores them.
MYSQL=("$CLIENT" --protocol=TCP -h "$my_host" -P "$my_port" --default-character-set=utf8mb4)
if [[ -n "$my_user" ]]; then MYSQL+=(-u "$my_user"); fi
# -N -B: plain values, no headers, for the script's own queries.
q() { "${MYSQL[@]}" -N -B -e "$1"; }

# --- 1. Build -----------------------------------------------------------------------------
bench_build
# What was built: HEAD at build time, plus a note if the sources differed from it.
BUILD_COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
if ! git -C "$ROOT" diff --quiet HEAD -- Cargo.toml Cargo.lock shared 2>/dev/null; then
    BUILD_COMMIT="$BUILD_COMMIT+uncommitted-changes"
fi

# --- 2. Data --------------------------------------------------------------------------------
q "select 1" >/dev/null || die "cannot connect to $my_host:$my_port as ${my_user:-<default user>}"
q "select 1 from information_schema.ENGINES where ENGINE = 'SEQUENCE' and SUPPORT in ('YES','DEFAULT')" \
    | grep -q 1 || die "the server has no SEQUENCE engine (MariaDB >= 10.0 needed for seq_1_to_N)"
q "CREATE DATABASE IF NOT EXISTS $BENCH_DB CHARACTER SET utf8mb4"

# The marker is the table comment, set only after the data is complete and analysed.
expected_comment="$DATA_VERSION rows=$ROWS"
current_comment="$(q "select TABLE_COMMENT from information_schema.TABLES
                      where TABLE_SCHEMA = '$BENCH_DB' and TABLE_NAME = '$TABLE_NAME'")"
current_rows=-1
if [[ "$current_comment" == "$expected_comment" ]]; then
    current_rows="$(q "select count(*) from $TABLE")"
fi
if [[ "$current_rows" == "$ROWS" ]]; then
    log "reusing $TABLE ($ROWS rows)"
else
    log "(re)creating $TABLE with $ROWS rows in batches of $BATCH (this takes a while once)"
    t0=$EPOCHREALTIME
    "${MYSQL[@]}" -D "$BENCH_DB" <<SQL
DROP TABLE IF EXISTS $TABLE_NAME;
CREATE TABLE $TABLE_NAME (
    id          BIGINT         NOT NULL,
    qty         INT            NOT NULL,
    label       VARCHAR(40)    CHARACTER SET utf8mb4 NOT NULL,
    amount      DECIMAL(12,2)  NOT NULL,
    score       DOUBLE         NOT NULL,
    active      TINYINT(1)     NOT NULL,
    created_at  DATETIME(6)    NOT NULL,
    updated_at  TIMESTAMP      NOT NULL DEFAULT '2000-01-01 00:00:00',
    day         DATE           NOT NULL,
    ref         CHAR(36)       NOT NULL,
    attrs       JSON           NOT NULL,
    note        TEXT,
    PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='incomplete';
SQL
    # Deterministic values, so every rebuild produces the same data (and the same Parquet
    # sizes). Rows go in primary-key order, one INSERT ... SELECT per BATCH rows (autocommit).
    for ((lo = 1; lo <= ROWS; lo += BATCH)); do
        hi=$((lo + BATCH - 1))
        if ((hi > ROWS)); then hi=$ROWS; fi
        "${MYSQL[@]}" -D "$BENCH_DB" <<SQL
SET SESSION time_zone = '+00:00';
SET SESSION unique_checks = 0;
SET SESSION foreign_key_checks = 0;
INSERT INTO $TABLE_NAME
SELECT
    g,
    (g * 7919) % 2000001 - 1000000,
    -- 10..40 characters; 3 rows in 8 start with 'Grüße-', '数据-' or an emoji (4-byte UTF-8)
    substr(concat(CASE g % 8 WHEN 0 THEN _utf8mb4 X'4772C3BCC39F652D'
                             WHEN 1 THEN _utf8mb4 X'E695B0E68DAE2D'
                             WHEN 2 THEN _utf8mb4 X'F09F99822D'
                             ELSE '' END,
                  md5(g), md5(g + 1)), 1, 10 + g * 13 % 31),
    ((g * 104729) % 10000000000) / 100,                                 -- < 1e8, 2 decimals
    sin(g) * 1000.0,
    g % 3 = 0,
    TIMESTAMP'2020-01-01 00:00:00' + INTERVAL g * 17 SECOND
                                   + INTERVAL (g * 7919) % 1000000 MICROSECOND,
    FROM_UNIXTIME(1609459200 + (g * 13) % 400000000),                   -- 2021..2033, UTC
    DATE'2000-01-01' + INTERVAL g % 10000 DAY,
    insert(insert(insert(insert(md5(concat(g, ':uuid')), 9, 0, '-'), 14, 0, '-'), 19, 0, '-'), 24, 0, '-'),
    concat('{"k": ', g % 100, ', "tag": "t', g % 7, '", "ok": ', if(g % 2 = 0, 'true', 'false'), '}'),
    CASE WHEN g % 10 = 7 THEN NULL ELSE concat('note ', g % 9973) END -- 10% NULL
FROM (SELECT CAST(seq AS SIGNED) AS g FROM seq_${lo}_to_${hi}) AS s;
SQL
        log "  inserted rows $lo..$hi ($(elapsed "$t0" 0) s so far)"
    done
    "${MYSQL[@]}" -D "$BENCH_DB" >/dev/null <<SQL
ANALYZE TABLE $TABLE_NAME;
ALTER TABLE $TABLE_NAME COMMENT = '$expected_comment';
SQL
    got="$(q "select count(*) from $TABLE")"
    [[ "$got" == "$ROWS" ]] || die "built $TABLE has $got rows, expected $ROWS"
    log "table built in $(elapsed "$t0" 1) s"
fi

# --- 3. Measurements ------------------------------------------------------------------------
make_work snapex-bench-mysql

note_load_start
log "measuring SELECT text stream size"
SELECT_SQL="SELECT * FROM $TABLE"
SELECT_BYTES="$("${MYSQL[@]}" --quick -e "$SELECT_SQL" | wc -c)"
SELECT_BYTES="${SELECT_BYTES// /}"
[[ "$SELECT_BYTES" -gt 0 ]] || die "SELECT produced no bytes"

BASE_LABEL="select($CLIENT)"
run_baseline "$BASE_LABEL" SELECT "$CLIENT" "${MYSQL[@]}" --quick -e "$SELECT_SQL"

run_snapex "snapex(default-j)" "${EXTRA_ARGS[@]}"
if [[ "$SNAPEX_J1" == 1 ]]; then
    run_snapex "snapex(-j1)" "${EXTRA_ARGS[@]}" -j 1
fi

# --- 4. Report ------------------------------------------------------------------------------
echo
echo "snapex export vs SELECT: $TABLE, $ROWS rows, fastest of $RUNS run(s) each"
report_host_line
echo "server: $(q 'select version()')  innodb_buffer_pool_size: $(q 'select @@innodb_buffer_pool_size DIV 1048576') MiB  snapex: $("$BIN" --version)  built from: $BUILD_COMMIT"
if [[ ${#EXTRA_ARGS[@]} -gt 0 ]]; then echo "extra snapex arguments: ${EXTRA_ARGS[*]}"; fi
echo "SELECT text stream ($CLIENT --quick, tab-separated): $SELECT_BYTES bytes ($(awk -v b="$SELECT_BYTES" 'BEGIN{printf "%.1f", b/1e6}') MB); MB/s below = that size / wall time (MB = 10^6 bytes)"
echo
report_table "$BASE_LABEL" "$SELECT_BYTES" SEL
echo
echo "time/SEL = wall / SELECT wall (lower is better); SEL/thru = SELECT throughput / this throughput (same as time/SEL)."
echo "wall_s = fastest run; RSS_MiB = highest peak RSS of any run (for SELECT it is the client's, not the server's)."
echo "The MariaDB server runs on the same machine and competes for the same cores."
