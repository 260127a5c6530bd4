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

BENCH_PG="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
BENCH_DB="${BENCH_DB:-snapex_bench}"
ROWS="${ROWS:-5000000}"
ROWS="${ROWS//_/}"
RUNS="${RUNS:-2}"
SNAPEX_J1="${SNAPEX_J1:-1}"
TABLE="public.bench_rows"
# Bump when the table definition below changes, so existing tables are rebuilt.
DATA_VERSION="snapex-bench v1"

die() { echo "error: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

[[ "$ROWS" =~ ^[1-9][0-9]*$ ]] || die "ROWS must be a positive integer, got '$ROWS'"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, got '$RUNS'"
[[ "$BENCH_DB" =~ ^[a-z_][a-z0-9_]*$ ]] || die "BENCH_DB must be a plain lower-case identifier"
command -v psql >/dev/null || die "psql not found"
command -v cargo >/dev/null || die "cargo not found"
if ! command -v jq >/dev/null && ! command -v python3 >/dev/null; then
    die "need jq or python3 to read the manifest"
fi
if [[ ! -x /usr/bin/time ]]; then
    log "/usr/bin/time missing; installing the 'time' package"
    if [[ $(id -u) -eq 0 ]]; then
        apt-get install -y time >/dev/null || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }
    else
        sudo apt-get install -y time >/dev/null
    fi
    [[ -x /usr/bin/time ]] || die "could not install /usr/bin/time"
fi

# --- URLs: BENCH_PG may carry a database path and/or a query string; replace the database. ---
base="${BENCH_PG%/}"
query=""
if [[ "$base" == *\?* ]]; then
    query="?${base#*\?}"
    base="${base%%\?*}"
fi
scheme="${base%%://*}"
rest="${base#*://}"
rest="${rest%%/*}"
base="${scheme}://${rest}"
ADMIN_URL="${base}/${BENCH_ADMIN_DB:-postgres}${query}"
DB_URL="${base}/${BENCH_DB}${query}"

PSQL=(psql -X -q -v ON_ERROR_STOP=1)

# --- 1. Build -----------------------------------------------------------------------------
log "building release binary"
cargo build --release -p snapex --bin snapex
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/release/snapex"
[[ -x "$BIN" ]] || die "binary not found at $BIN"

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
    log "table built in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}') s"
fi

# --- 3. Measurements ------------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/snapex-bench.XXXXXX")"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

# Results: one line per method in $WORK/results: label wall_s rss_kib parquet_bytes
: >"$WORK/results"

# rss_kib of a /usr/bin/time -v report
rss_of() { awk -F': ' '/Maximum resident set size/ {print $2}' "$1"; }

manifest_rows() {
    if command -v jq >/dev/null; then
        jq -r '.totals.rows' "$1"
    else
        python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["rows"])' "$1"
    fi
}

LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
log "load average before measuring: $LOAD_START"
log "measuring binary COPY stream size"
COPY_SQL="COPY $TABLE TO STDOUT (FORMAT binary)"
COPY_BYTES="$("${PSQL[@]}" "$DB_URL" -c "$COPY_SQL" | wc -c)"
COPY_BYTES="${COPY_BYTES// /}"
[[ "$COPY_BYTES" -gt 0 ]] || die "COPY produced no bytes"

best_copy=""
copy_rss=0
for ((r = 1; r <= RUNS; r++)); do
    t0=$EPOCHREALTIME
    /usr/bin/time -v -o "$WORK/time.copy" "${PSQL[@]}" "$DB_URL" -c "$COPY_SQL" >/dev/null
    t1=$EPOCHREALTIME
    wall="$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')"
    rss="$(rss_of "$WORK/time.copy")"
    log "COPY run $r: ${wall} s, psql peak RSS ${rss} KiB"
    if [[ -z "$best_copy" ]] || awk -v a="$wall" -v b="$best_copy" 'BEGIN{exit !(a<b)}'; then
        best_copy="$wall"
    fi
    if [[ "$rss" -gt "$copy_rss" ]]; then copy_rss="$rss"; fi
done
echo "copy_binary(psql) $best_copy $copy_rss -" >>"$WORK/results"

run_snapex() { # label, extra args...
    local label="$1"; shift
    local best="" max_rss=0 r t0 t1 wall rss out mrows pq mbytes nfiles
    for ((r = 1; r <= RUNS; r++)); do
        out="$WORK/out"
        rm -rf "$out"
        t0=$EPOCHREALTIME
        if ! /usr/bin/time -v -o "$WORK/time.snapex" "$BIN" export \
                --source "$DB_URL" --dest "$out" --export-id bench \
                --include "$TABLE" --no-progress "$@" \
                >"$WORK/snapex.stdout" 2>"$WORK/snapex.stderr"; then
            echo "---- snapex stderr ----" >&2; tail -n 50 "$WORK/snapex.stderr" >&2
            echo "---- snapex stdout ----" >&2; tail -n 20 "$WORK/snapex.stdout" >&2
            die "snapex export ($label) failed"
        fi
        t1=$EPOCHREALTIME
        wall="$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')"
        rss="$(rss_of "$WORK/time.snapex")"
        [[ -f "$out/bench/manifest.json" ]] || die "snapex ($label): no manifest at $out/bench/manifest.json"
        mrows="$(manifest_rows "$out/bench/manifest.json")"
        [[ "$mrows" == "$ROWS" ]] || die "snapex ($label): manifest totals.rows = $mrows, expected $ROWS"
        pq="$(find "$out" -type f -name '*.parquet' -printf '%s\n' | awk '{s+=$1} END{print s+0}')"
        mbytes="$(jq -r '.totals.bytes' "$out/bench/manifest.json" 2>/dev/null || echo '?')"
        nfiles="$(find "$out" -type f -name '*.parquet' | wc -l) files of $(find "$out" -type f -name '*.parquet' -printf '%s\n' | sort -n | awk '{printf "%s%.1f", (NR>1?"/":""), $1/1048576}') MiB"
        log "snapex $label run $r: ${wall} s, peak RSS ${rss} KiB, ${nfiles}, ${pq} Parquet bytes (manifest totals.bytes ${mbytes}), manifest rows OK"
        if [[ -s "$WORK/snapex.stderr" ]]; then
            log "snapex $label run $r wrote to stderr (last lines):"
            tail -n 5 "$WORK/snapex.stderr" | sed 's/^/    /' >&2
        fi
        rm -rf "$out"
        if [[ -z "$best" ]] || awk -v a="$wall" -v b="$best" 'BEGIN{exit !(a<b)}'; then
            best="$wall"
        fi
        if [[ "$rss" -gt "$max_rss" ]]; then max_rss="$rss"; fi
    done
    # Fastest wall time, but the highest peak RSS seen in any run (memory varies run to run).
    echo "$label $best $max_rss $pq" >>"$WORK/results"
}

run_snapex "snapex(default-j)"
if [[ "$SNAPEX_J1" == 1 ]]; then
    run_snapex "snapex(-j1)" -j 1
fi

# --- 4. Report ------------------------------------------------------------------------------
echo
echo "snapex export vs binary COPY: $TABLE, $ROWS rows, fastest of $RUNS run(s) each"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  host: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)  load avg before: $LOAD_START, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "server: $("${PSQL[@]}" "$DB_URL" -Atc 'show server_version')  snapex: $("$BIN" --version)  commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "COPY binary stream: $COPY_BYTES bytes ($(awk -v b="$COPY_BYTES" 'BEGIN{printf "%.1f", b/1e6}') MB); MB/s below = that size / wall time (MB = 10^6 bytes)"
echo
copy_wall="$(awk '$1 == "copy_binary(psql)" {print $2}' "$WORK/results")"
awk -v rows="$ROWS" -v bytes="$COPY_BYTES" -v cw="$copy_wall" '
BEGIN {
    printf "%-18s %10s %8s %11s %8s %9s %14s %10s %10s\n", "method", "rows", "wall_s", "rows/s", "MB/s", "RSS_MiB", "parquet_bytes", "time/COPY", "COPY/thru"
}
{
    wall = $2; rss = $3 / 1024; pq = $4
    if (pq == "-") pq = "-"
    printf "%-18s %10d %8.2f %11.0f %8.1f %9.1f %14s %10.2f %10.2f\n", $1, rows, wall, rows / wall, bytes / 1e6 / wall, rss, pq, wall / cw, (bytes / cw) / (bytes / wall)
}' "$WORK/results"
echo
echo "time/COPY = wall / COPY wall (lower is better); COPY/thru = COPY throughput / this throughput (same as time/COPY)."
echo "wall_s = fastest run; RSS_MiB = highest peak RSS of any run (for COPY it is psql's, not the server's)."
echo "The PostgreSQL server runs on the same machine and competes for the same cores."
