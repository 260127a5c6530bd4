#!/usr/bin/env bash
# Benchmark: `snapex export` against the plain client stream (the baseline) and against other
# tools that turn a PostgreSQL or MySQL table into Parquet (pg2parquet, DuckDB's postgres and
# mysql scanners, ConnectorX + pyarrow), all on the same 22-column table in one run.
#
#   bench/peers.sh                          # 5,000,000 rows, both engines, median of 3 runs
#   ROWS=1000000 RUNS=1 bench/peers.sh
#   ENGINES=pg bench/peers.sh
#
# Environment:
#   BENCH_PG     PostgreSQL server URL without database (default postgres://postgres@127.0.0.1:5432)
#   BENCH_MYSQL  MariaDB/MySQL server URL without database (default mysql://root@127.0.0.1:3306)
#   BENCH_DB     database to create/use on both servers   (default snapex_bench)
#   ROWS         rows in bench_wide                       (default 5000000; underscores allowed)
#   RUNS         runs per method; the table shows medians (default 3)
#   ENGINES      "pg mysql", "pg" or "mysql"              (default "pg mysql")
#   PEERS        which peers to run                       (default "pg2parquet duckdb connectorx")
#   CX_PARTITIONS  ConnectorX partitions on the key       (default: nproc)
#   TOOLS_DIR    where the peers are installed            (default $HOME/.cache/snapex-tools)
#   INSTALL_PEERS  1: install missing peers (pip into $TOOLS_DIR/peers-venv, and
#                `cargo install pg2parquet`, several minutes once); 0: use what is there (default 1)
#   CARGO_TARGET_DIR   honoured when locating the snapex binary (default ./target)
#   TMPDIR       where the temporary outputs are made      (default /tmp)
#
# See bench/README.md for what each line runs and how to read the figures.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/pg_wide_table.sh
source "$ROOT/bench/pg_wide_table.sh"
# shellcheck source=bench/mysql_wide_table.sh
source "$ROOT/bench/mysql_wide_table.sh"

BENCH_PG="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
BENCH_MYSQL="${BENCH_MYSQL:-mysql://root@127.0.0.1:3306}"
BENCH_DB="${BENCH_DB:-snapex_bench}"
ROWS="${ROWS:-5000000}"
ROWS="${ROWS//_/}"
RUNS="${RUNS:-3}"
ENGINES="${ENGINES:-pg mysql}"
PEERS="${PEERS:-pg2parquet duckdb connectorx}"
CX_PARTITIONS="${CX_PARTITIONS:-$(nproc)}"
TOOLS_DIR="${TOOLS_DIR:-$HOME/.cache/snapex-tools}"
INSTALL_PEERS="${INSTALL_PEERS:-1}"
VENV="$TOOLS_DIR/peers-venv"
PY="$VENV/bin/python"
PG2PARQUET="$TOOLS_DIR/cargo/bin/pg2parquet"
PEERS_PY="$ROOT/bench/peers.py"

bench_preflight
[[ "$CX_PARTITIONS" =~ ^[1-9][0-9]*$ ]] || die "CX_PARTITIONS must be a positive integer"
command -v psql >/dev/null || die "psql is needed even for ENGINES=mysql: the MariaDB table is loaded from PostgreSQL's"
has_engine() { [[ " $ENGINES " == *" $1 "* ]]; }
has_peer() { [[ " $PEERS " == *" $1 "* ]]; }

# --- URLs ---------------------------------------------------------------------------------
split_server_url "$BENCH_PG"
ADMIN_URL="${URL_SCHEME}://${URL_AUTHORITY}/${BENCH_ADMIN_DB:-postgres}${URL_QUERY}"
DB_URL="${URL_SCHEME}://${URL_AUTHORITY}/${BENCH_DB}${URL_QUERY}"
PG_DB_URL="$DB_URL"
PSQL=(psql -X -q -v ON_ERROR_STOP=1)
urldecode() { local s="${1//+/ }"; printf '%b' "${s//%/\\x}"; }
# user, password, host, port of a URL authority, into AUTH_USER/AUTH_PASS/AUTH_HOST/AUTH_PORT
split_authority() { # authority, default port
    local userinfo="" hostport="$1"
    if [[ "$1" == *@* ]]; then userinfo="${1%@*}"; hostport="${1##*@}"; fi
    AUTH_USER="$(urldecode "${userinfo%%:*}")"
    AUTH_PASS=""
    if [[ "$userinfo" == *:* ]]; then AUTH_PASS="$(urldecode "${userinfo#*:}")"; fi
    AUTH_HOST="${hostport%%:*}"
    AUTH_PORT="$2"
    if [[ "$hostport" == *:* ]]; then AUTH_PORT="${hostport##*:}"; fi
}
PG_AUTHORITY="$URL_AUTHORITY"
split_authority "$URL_AUTHORITY" 5432
PG_USER="$AUTH_USER" PG_HOST="$AUTH_HOST" PG_PORT="$AUTH_PORT"
if [[ -n "$AUTH_PASS" ]]; then export PGPASSWORD="$AUTH_PASS"; fi

split_server_url "$BENCH_MYSQL"
[[ "$URL_SCHEME" == mysql || "$URL_SCHEME" == mariadb ]] || die "BENCH_MYSQL must start with mysql:// or mariadb://"
MY_DB_URL="${URL_SCHEME}://${URL_AUTHORITY}/${BENCH_DB}${URL_QUERY}"
MY_CX_URL="mysql://${URL_AUTHORITY}/${BENCH_DB}"
split_authority "$URL_AUTHORITY" 3306
MY_USER="$AUTH_USER" MY_HOST="$AUTH_HOST" MY_PORT="$AUTH_PORT"
# The password reaches the mysql client and DuckDB's mysql scanner through the environment.
if [[ -n "$AUTH_PASS" ]]; then export MYSQL_PWD="$AUTH_PASS"; fi
if has_engine mysql; then
    if command -v mariadb >/dev/null; then CLIENT=mariadb; elif command -v mysql >/dev/null; then CLIENT=mysql
    else die "neither mariadb nor mysql client found"; fi
    MYSQL=("$CLIENT" --protocol=TCP -h "$MY_HOST" -P "$MY_PORT" --default-character-set=utf8mb4)
    if [[ -n "$MY_USER" ]]; then MYSQL+=(-u "$MY_USER"); fi
fi

# --- 1. Build snapex, find or install the peers ---------------------------------------------
bench_build
BUILD_COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
if ! git -C "$ROOT" diff --quiet HEAD -- Cargo.toml Cargo.lock shared functions 2>/dev/null; then
    BUILD_COMMIT="$BUILD_COMMIT+uncommitted-changes"
fi

make_work snapex-peers
: >"$WORK/runs"
: >"$WORK/notes"
PEER_VERSIONS=()

if has_peer duckdb || has_peer connectorx; then
    if [[ ! -x "$PY" ]] && [[ "$INSTALL_PEERS" == 1 ]]; then
        log "making $VENV"
        python3 -m venv "$VENV" || true
    fi
    if [[ -x "$PY" ]] && [[ "$INSTALL_PEERS" == 1 ]] \
        && ! "$PY" -c 'import duckdb, duckdb_extension_postgres, duckdb_extension_mysql, connectorx, pyarrow' 2>/dev/null; then
        log "pip install duckdb duckdb-extension-postgres duckdb-extension-mysql connectorx pyarrow"
        "$VENV/bin/pip" install -q duckdb duckdb-extension-postgres duckdb-extension-mysql connectorx pyarrow \
            >"$WORK/pip.log" 2>&1 || log "pip install failed: $(tail -n 1 "$WORK/pip.log")"
    fi
fi
# Usable Python peers, each either ready or noted as not available with the reason.
peer_ready() { # name for the notes, peers.py check argument
    local err
    if [[ ! -x "$PY" ]]; then note_method "$1: not available: no Python venv at $VENV"; return 1; fi
    if ! err="$("$PY" "$PEERS_PY" check "$2" 2>&1)"; then
        note_method "$1: not available: $(echo "$err" | tail -n 1 | cut -c1-200)"
        return 1
    fi
}
# The row counter for the peers' Parquet output (footers, read with pyarrow).
parquet_rows() { "$PY" "$PEERS_PY" count "$1"; }
snapex_rows() { manifest_rows "$1/bench/manifest.json"; }

if has_peer pg2parquet && has_engine pg && [[ ! -x "$PG2PARQUET" ]] && [[ "$INSTALL_PEERS" == 1 ]]; then
    log "cargo install pg2parquet (several minutes, once)"
    cargo install pg2parquet --locked --root "$TOOLS_DIR/cargo" >"$WORK/pg2parquet-install.log" 2>&1 \
        || log "cargo install pg2parquet failed: $(grep -m1 '^error' "$WORK/pg2parquet-install.log" || tail -n 1 "$WORK/pg2parquet-install.log")"
fi

# --- 2. Data -------------------------------------------------------------------------------
# Reuse bench_wide if intact, else (re)build it: PostgreSQL first, then MariaDB from its COPY.
DB_URL="$PG_DB_URL"
pg_wide_table
if has_engine mysql; then mysql_wide_table; fi

# --- 3. Measurements -----------------------------------------------------------------------
note_load_start
LOAD_START_ALL="$LOAD_START"
REPORT="$WORK/report"
: >"$REPORT"

if has_engine pg; then
    TABLE="$PG_WIDE_TABLE"
    COPY_SQL="COPY $TABLE TO STDOUT (FORMAT binary)"
    log "PostgreSQL: measuring the binary COPY stream size"
    PG_BYTES="$("${PSQL[@]}" "$PG_DB_URL" -c "$COPY_SQL" | wc -c)"
    PG_BYTES="${PG_BYTES// /}"
    [[ "$PG_BYTES" -gt 0 ]] || die "COPY produced no bytes"
    PG_LABELS=("copy_binary(psql)" "snapex")
    run_measured "copy_binary(psql)" - "${PSQL[@]}" "$PG_DB_URL" -c "$COPY_SQL"
    run_measured snapex snapex_rows "$BIN" export --source "$PG_DB_URL" --dest "$WORK/out" \
        --export-id bench --include "$TABLE" --no-progress
    if has_peer pg2parquet; then
        PG_LABELS+=(pg2parquet)
        if [[ -x "$PG2PARQUET" ]]; then
            PEER_VERSIONS+=("$("$PG2PARQUET" --version 2>/dev/null | head -n 1)")
            # pg2parquet asks for a password on the terminal when PGPASSWORD is unset, even
            # for a server that does not want one; under trust authentication any value does.
            run_measured pg2parquet parquet_rows env PGPASSWORD="${PGPASSWORD:-unused}" "$PG2PARQUET" export --host "$PG_HOST" --port "$PG_PORT" \
                --user "$PG_USER" --dbname "$BENCH_DB" --table "$TABLE" \
                --compression zstd --numeric-handling decimal --decimal-precision 12 --decimal-scale 2 \
                --quiet --output-file "$WORK/out/bench_wide.parquet"
        elif [[ -f "$WORK/pg2parquet-install.log" ]]; then
            note_method "pg2parquet: not available: cargo install failed: $(grep -m1 '^error' "$WORK/pg2parquet-install.log" || tail -n 1 "$WORK/pg2parquet-install.log")"
        else
            note_method "pg2parquet: not available: not installed at $PG2PARQUET (INSTALL_PEERS=0)"
        fi
    fi
    if has_peer duckdb && peer_ready "duckdb(postgres)" duckdb-pg; then
        PG_LABELS+=("duckdb(postgres)")
        run_measured "duckdb(postgres)" parquet_rows "$PY" "$PEERS_PY" duckdb-pg \
            "host=$PG_HOST port=$PG_PORT user=$PG_USER dbname=$BENCH_DB" "$TABLE" "$WORK/out/bench_wide.parquet"
    fi
    if has_peer connectorx && peer_ready "connectorx(postgres)" connectorx; then
        PG_LABELS+=("connectorx(postgres)")
        run_measured "connectorx(postgres)" parquet_rows "$PY" "$PEERS_PY" connectorx \
            "postgresql://$PG_AUTHORITY/$BENCH_DB" \
            "$TABLE" id "$CX_PARTITIONS" "$WORK/out/bench_wide.parquet"
    fi
    {
        echo "PostgreSQL: $TABLE, $ROWS rows, $("${PSQL[@]}" "$PG_DB_URL" -Atc "select pg_size_pretty(pg_total_relation_size('$TABLE'))") on disk; median of $RUNS run(s) each"
        echo "server: PostgreSQL $("${PSQL[@]}" "$PG_DB_URL" -Atc 'show server_version')"
        echo "COPY binary stream: $PG_BYTES bytes ($(awk -v b="$PG_BYTES" 'BEGIN{printf "%.1f", b/1e6}') MB); MB/s below = that size / wall time (MB = 10^6 bytes)"
        echo
        report_medians "copy_binary(psql)" "$PG_BYTES" COPY "${PG_LABELS[@]}"
        echo
    } >>"$REPORT"
    # The notes so far belong to this engine's table.
    if [[ -s "$WORK/notes" ]]; then cat "$WORK/notes" >>"$REPORT"; echo >>"$REPORT"; : >"$WORK/notes"; fi
fi

if has_engine mysql; then
    : >"$WORK/runs"   # the method labels repeat per engine
    TABLE="$BENCH_DB.$MY_WIDE_TABLE_NAME"
    SELECT_SQL="SELECT * FROM $TABLE"
    log "MariaDB: measuring the SELECT text stream size"
    MY_BYTES="$("${MYSQL[@]}" --quick -e "$SELECT_SQL" | wc -c)"
    MY_BYTES="${MY_BYTES// /}"
    [[ "$MY_BYTES" -gt 0 ]] || die "SELECT produced no bytes"
    BASE_LABEL="select($CLIENT)"
    MY_LABELS=("$BASE_LABEL" snapex)
    run_measured "$BASE_LABEL" - "${MYSQL[@]}" --quick -e "$SELECT_SQL"
    run_measured snapex snapex_rows "$BIN" export --source "$MY_DB_URL" --dest "$WORK/out" \
        --export-id bench --include "$TABLE" --no-progress
    if has_peer duckdb && peer_ready "duckdb(mysql)" duckdb-mysql; then
        MY_LABELS+=("duckdb(mysql)")
        run_measured "duckdb(mysql)" parquet_rows "$PY" "$PEERS_PY" duckdb-mysql \
            "host=$MY_HOST port=$MY_PORT user=$MY_USER database=$BENCH_DB" "$TABLE" "$WORK/out/bench_wide.parquet"
    fi
    if has_peer connectorx && peer_ready "connectorx(mysql)" connectorx; then
        MY_LABELS+=("connectorx(mysql)")
        run_measured "connectorx(mysql)" parquet_rows "$PY" "$PEERS_PY" connectorx \
            "$MY_CX_URL" "$TABLE" id "$CX_PARTITIONS" "$WORK/out/bench_wide.parquet"
    fi
    {
        echo "MariaDB/MySQL: $TABLE, $ROWS rows, $("${MYSQL[@]}" -N -B -e "select concat(round((DATA_LENGTH + INDEX_LENGTH) / 1048576), ' MiB') from information_schema.TABLES where TABLE_SCHEMA = '$BENCH_DB' and TABLE_NAME = '$MY_WIDE_TABLE_NAME'") of InnoDB data; median of $RUNS run(s) each"
        echo "server: $("${MYSQL[@]}" -N -B -e 'select version()')  innodb_buffer_pool_size: $("${MYSQL[@]}" -N -B -e 'select @@innodb_buffer_pool_size DIV 1048576') MiB"
        echo "SELECT text stream ($CLIENT --quick, tab-separated): $MY_BYTES bytes ($(awk -v b="$MY_BYTES" 'BEGIN{printf "%.1f", b/1e6}') MB); MB/s below = that size / wall time (MB = 10^6 bytes)"
        echo
        report_medians "$BASE_LABEL" "$MY_BYTES" SEL "${MY_LABELS[@]}"
        echo
    } >>"$REPORT"
    if [[ -s "$WORK/notes" ]]; then cat "$WORK/notes" >>"$REPORT"; echo >>"$REPORT"; fi
fi

# --- 4. Report -----------------------------------------------------------------------------
if [[ -x "$PY" ]]; then
    PEER_VERSIONS+=("$("$PY" -c 'import duckdb, connectorx, pyarrow; print(f"duckdb {duckdb.__version__}, connectorx {connectorx.__version__}, pyarrow {pyarrow.__version__}")' 2>/dev/null || echo 'python peers: ?')")
fi
LOAD_START="$LOAD_START_ALL"
echo
echo "snapex export against the baseline and peers: bench_wide (22 columns), $ROWS rows, median of $RUNS run(s) per method"
report_host_line
echo "snapex: $("$BIN" --version)  built from: $BUILD_COMMIT"
if [[ ${#PEER_VERSIONS[@]} -gt 0 ]]; then
    versions="$(IFS=';'; echo "${PEER_VERSIONS[*]}")"
    echo "peers: ${versions//;/; }"
fi
echo
cat "$REPORT"
echo "wall_s = median wall time; cpu_s = user+sys CPU of the measured process and its children (/usr/bin/time),"
echo "not the database server's; host_cpu = busy CPU seconds of the whole machine during the run (all cores:"
echo "the tool, the server, anything else). RSS_MiB = peak RSS of the measured process (for the baselines the"
echo "client's). out_bytes = Parquet bytes written (all zstd). time/<base> = wall / baseline wall (lower is better)."
echo "The database servers run on the same machine and compete for the same cores."
