#!/usr/bin/env bash
# Acceptance check: a skewed key still gives files of similar row counts, on both engines.
#
#   bench/skew.sh                      # 5,000,000 rows, PostgreSQL and MariaDB, local servers
#   ROWS=500000 ENGINES=mysql bench/skew.sh
#
# Each table has ROWS rows; 99% of them have keys 1..0.99*ROWS and the other 1% are spread
# 10^10 apart above them (up to ~5*10^14 for 5,000,000 rows), so 1% of the key range holds 99%
# of the rows. The script exports each table with a target file size that gives about FILES
# files, reads the manifest and prints the distribution of rows per file: files, min,
# median, max and max/min, PASS when max/min <= 2.
#
# Tables (rebuilt only when missing or built for another ROWS):
#   PostgreSQL  <BENCH_DB>: public.skew_rows (id int8 PRIMARY KEY, v int8, pad text)
#   MariaDB     <BENCH_DB>: skew_rows (id BIGINT PRIMARY KEY, ...), and skew_composite with
#               PRIMARY KEY (tenant INT, name VARCHAR(40)): 99% of the rows in tenant 1, the
#               rest in tenants 40,000 apart; split on tuples of the key.
#
# Environment:
#   BENCH_PG     PostgreSQL server URL without database (default postgres://postgres@127.0.0.1:5432)
#   BENCH_MYSQL  MariaDB/MySQL server URL without database (default mysql://root@127.0.0.1:3306)
#   BENCH_DB     database to create/use on both       (default snapex_bench_skew)
#   ROWS         rows per table                       (default 5000000; underscores allowed)
#   FILES        files to aim for                     (default 30)
#   ENGINES      which to run: "postgres mysql", or one of them (default both)
#   CARGO_TARGET_DIR   honoured when locating the binary (default ./target)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

BENCH_PG="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
BENCH_MYSQL="${BENCH_MYSQL:-mysql://root@127.0.0.1:3306}"
BENCH_DB="${BENCH_DB:-snapex_bench_skew}"
ROWS="${ROWS:-5000000}"
ROWS="${ROWS//_/}"
RUNS=1
FILES="${FILES:-30}"
ENGINES="${ENGINES:-postgres mysql}"
DATA_VERSION="snapex-skew v1"

bench_preflight
[[ "$FILES" =~ ^[1-9][0-9]*$ ]] || die "FILES must be a positive integer, got '$FILES'"
((ROWS >= 100)) || die "ROWS must be at least 100"
DENSE=$((ROWS * 99 / 100))
SPARSE=$((ROWS - DENSE))
GAP=10000000000

bench_build
BUILD_COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
if ! git -C "$ROOT" diff --quiet HEAD -- Cargo.toml Cargo.lock shared 2>/dev/null; then
    BUILD_COMMIT="$BUILD_COMMIT+uncommitted-changes"
fi
make_work snapex-skew
: >"$WORK/report"

# Exports one table with a target file size of (source bytes / 4 / FILES), so the planner's
# default ratio of 4 source bytes per Parquet byte asks for about FILES ranges, and appends
# the distribution of rows per file to the report.
export_and_report() { # engine label, source URL, table (for --include), source bytes
    local engine="$1" url="$2" table="$3" bytes="$4" target out t0 wall
    target=$((bytes / 4 / FILES))
    ((target >= 1024)) || target=1024
    out="$WORK/out"
    rm -rf "$out"
    log "$engine: exporting $table ($bytes source bytes) with --target-file-size $target"
    t0=$EPOCHREALTIME
    if ! "$BIN" export --source "$url" --dest "$out" --export-id skew --include "$table" \
            --target-file-size "$target" --no-progress >"$WORK/stdout" 2>"$WORK/stderr"; then
        tail -n 30 "$WORK/stderr" >&2
        die "snapex export of $table failed"
    fi
    wall="$(elapsed "$t0" 1)"
    jq -r --arg engine "$engine" --arg table "$table" --arg wall "$wall" '
        .tables[0] as $t
        | [$t.files[].rows] | sort as $r
        | ($r | length) as $n
        | (if $n % 2 == 1 then $r[($n - 1) / 2] else ($r[$n / 2 - 1] + $r[$n / 2]) / 2 end) as $median
        | [$engine, $table, ($t.split_key // "-"), ($r | add), $n, $r[0], $median, $r[-1],
           (if $r[0] > 0 then ($r[-1] / $r[0] * 100 | round / 100) else "inf" end),
           (if $r[0] > 0 and $r[-1] <= 2 * $r[0] then "PASS" else "FAIL" end), $wall]
        | @tsv' "$out/skew/manifest.json" >>"$WORK/report"
    jq -r '[.tables[0].files[].rows] | map(tostring) | join(" ")' "$out/skew/manifest.json" \
        >"$WORK/rows.$engine.${table//[^a-z_]/_}"
    rm -rf "$out"
}

# --- PostgreSQL ---------------------------------------------------------------------------
run_postgres() {
    command -v psql >/dev/null || die "psql not found"
    split_server_url "$BENCH_PG"
    local admin="${URL_SCHEME}://${URL_AUTHORITY}/postgres${URL_QUERY}"
    local url="${URL_SCHEME}://${URL_AUTHORITY}/${BENCH_DB}${URL_QUERY}"
    local psql=(psql -X -q -v ON_ERROR_STOP=1) want comment t0 bytes
    if [[ -z "$("${psql[@]}" "$admin" -Atc "select 1 from pg_database where datname = '$BENCH_DB'")" ]]; then
        "${psql[@]}" "$admin" -c "CREATE DATABASE $BENCH_DB"
    fi
    want="$DATA_VERSION rows=$ROWS"
    comment="$("${psql[@]}" "$url" -Atc \
        "select coalesce(obj_description(to_regclass('public.skew_rows'), 'pg_class'), '')")"
    if [[ "$comment" == "$want" ]]; then
        log "postgres: reusing public.skew_rows"
    else
        log "postgres: building public.skew_rows ($DENSE dense + $SPARSE sparse keys)"
        t0=$EPOCHREALTIME
        "${psql[@]}" "$url" <<SQL
DROP TABLE IF EXISTS public.skew_rows;
CREATE TABLE public.skew_rows (id int8 PRIMARY KEY, v int8 NOT NULL, pad text NOT NULL);
INSERT INTO public.skew_rows SELECT g, g * 7, md5(g::text) FROM generate_series(1, $DENSE) g;
INSERT INTO public.skew_rows
SELECT $DENSE + j * $GAP, j, md5(j::text) FROM generate_series(1, $SPARSE) j;
ANALYZE public.skew_rows;
COMMENT ON TABLE public.skew_rows IS '$want';
SQL
        log "postgres: built in $(elapsed "$t0" 1) s"
    fi
    bytes="$("${psql[@]}" "$url" -Atc "select pg_table_size('public.skew_rows')")"
    export_and_report postgres "$url" public.skew_rows "$bytes"
    PG_VERSION="$("${psql[@]}" "$url" -Atc 'show server_version')"
}

# --- MariaDB / MySQL ----------------------------------------------------------------------
run_mysql() {
    local client
    if command -v mariadb >/dev/null; then client=mariadb; else client=mysql; fi
    command -v "$client" >/dev/null || die "neither mariadb nor mysql client found"
    split_server_url "$BENCH_MYSQL"
    local url="${URL_SCHEME}://${URL_AUTHORITY}/${BENCH_DB}${URL_QUERY}"
    local userinfo="" hostport="$URL_AUTHORITY"
    if [[ "$URL_AUTHORITY" == *@* ]]; then
        userinfo="${URL_AUTHORITY%@*}"
        hostport="${URL_AUTHORITY##*@}"
    fi
    local user="${userinfo%%:*}" host="${hostport%%:*}" port=3306
    if [[ "$userinfo" == *:* ]]; then export MYSQL_PWD="${userinfo#*:}"; fi
    if [[ "$hostport" == *:* ]]; then port="${hostport##*:}"; fi
    MYSQL=("$client" --protocol=TCP -h "$host" -P "$port" --default-character-set=utf8mb4)
    if [[ -n "$user" ]]; then MYSQL+=(-u "$user"); fi
    q() { "${MYSQL[@]}" -N -B -e "$1"; }
    q "select 1 from information_schema.ENGINES where ENGINE = 'SEQUENCE' and SUPPORT in ('YES','DEFAULT')" \
        | grep -q 1 || die "the server has no SEQUENCE engine (MariaDB >= 10.0 needed for seq_1_to_N)"
    q "CREATE DATABASE IF NOT EXISTS $BENCH_DB CHARACTER SET utf8mb4"
    local want="$DATA_VERSION rows=$ROWS" t0 table bytes
    for table in skew_rows skew_composite; do
        if [[ "$(q "select TABLE_COMMENT from information_schema.TABLES
                    where TABLE_SCHEMA = '$BENCH_DB' and TABLE_NAME = '$table'")" == "$want" ]]; then
            log "mysql: reusing $table"
            continue
        fi
        log "mysql: building $table ($DENSE dense + $SPARSE sparse keys)"
        t0=$EPOCHREALTIME
        if [[ "$table" == skew_rows ]]; then
            "${MYSQL[@]}" -D "$BENCH_DB" <<SQL
DROP TABLE IF EXISTS skew_rows;
CREATE TABLE skew_rows (id BIGINT NOT NULL PRIMARY KEY, v BIGINT NOT NULL, pad CHAR(32) NOT NULL)
  ENGINE=InnoDB COMMENT='incomplete';
INSERT INTO skew_rows SELECT seq, seq * 7, md5(seq) FROM seq_1_to_$DENSE;
INSERT INTO skew_rows SELECT $DENSE + seq * $GAP, seq, md5(seq) FROM seq_1_to_$SPARSE;
SQL
        else
            "${MYSQL[@]}" -D "$BENCH_DB" <<SQL
DROP TABLE IF EXISTS skew_composite;
CREATE TABLE skew_composite (tenant INT NOT NULL, name VARCHAR(40) NOT NULL, v BIGINT NOT NULL,
                             pad CHAR(32) NOT NULL, PRIMARY KEY (tenant, name))
  ENGINE=InnoDB COMMENT='incomplete';
INSERT INTO skew_composite SELECT 1, concat('n', seq), seq, md5(seq) FROM seq_1_to_$DENSE;
INSERT INTO skew_composite SELECT seq * 40000, concat('n', seq), seq, md5(seq) FROM seq_1_to_$SPARSE;
SQL
        fi
        "${MYSQL[@]}" -D "$BENCH_DB" >/dev/null <<SQL
ANALYZE TABLE $table;
ALTER TABLE $table COMMENT = '$want';
SQL
        log "mysql: built $table in $(elapsed "$t0" 1) s"
    done
    for table in skew_rows skew_composite; do
        bytes="$(q "select DATA_LENGTH from information_schema.TABLES
                    where TABLE_SCHEMA = '$BENCH_DB' and TABLE_NAME = '$table'")"
        export_and_report mysql "$url" "$BENCH_DB.$table" "$bytes"
    done
    MY_VERSION="$(q 'select version()')"
}

PG_VERSION="-"
MY_VERSION="-"
for engine in $ENGINES; do
    case "$engine" in
        postgres) run_postgres ;;
        mysql) run_mysql ;;
        *) die "unknown engine '$engine' in ENGINES (postgres, mysql)" ;;
    esac
done

# --- Report ---------------------------------------------------------------------------------
echo
echo "skewed keys: $ROWS rows per table, $DENSE keys 1..$DENSE and $SPARSE keys $GAP apart above them; aiming at $FILES files"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  built from: $BUILD_COMMIT  postgres: $PG_VERSION  mysql: $MY_VERSION"
echo
{
    printf 'engine\ttable\tsplit_key\trows\tfiles\tmin\tmedian\tmax\tmax/min\t<=2x\twall_s\n'
    cat "$WORK/report"
} | column -t -s $'\t'
echo
for f in "$WORK"/rows.*; do
    echo "rows per file, ${f#"$WORK"/rows.}: $(cat "$f")"
done
if grep -q FAIL "$WORK/report"; then
    exit 1
fi
