#!/usr/bin/env bash
# Benchmark: what Hive partitioning (`--partition-by`) costs and which files it produces.
# Exports public.bench_rows (the table of export_vs_copy.sh) six ways in one run:
#
#   unpartitioned      the baseline every other layout's wall time is divided by
#   month              --partition-by public.bench_rows=created_at:month
#   day                --partition-by public.bench_rows=created_at:day
#   key_buckets        --partition-by public.bench_rows=key:buckets   (default width)
#   month_16MiB        month again with --target-file-size 16MiB
#   month_4MiB         and with 4MiB
#
# All but the last use the default --target-file-size 128MiB. A month of this table is about
# 10 MiB of Parquet, so 16MiB still gives one file per month; at 4MiB the planner must cut each
# month into several files, which is the case the 4MiB line is there to show.
#
# and prints, per layout: wall time, its ratio to the unpartitioned export, peak RSS, partition
# folders, files, bytes, the file-size distribution and files per partition. Every export's
# manifest must count ROWS rows, or the script fails.
#
#   bench/partition_sizes.sh                  # 5,000,000 rows, 2 runs each
#   RUNS=1 bench/partition_sizes.sh
#
# Environment:
#   BENCH_PG    server URL without database   (default postgres://postgres@127.0.0.1:5432)
#   BENCH_DB    database to create/use        (default snapex_bench)
#   ROWS        rows in public.bench_rows     (default 5000000; underscores allowed)
#   RUNS        runs per layout; the fastest is kept (default 2)
#   CARGO_TARGET_DIR   honoured when locating the binary (default ./target)
#   TMPDIR      where the temporary export folder is made (default /tmp)
#
# The table is reused when export_vs_copy.sh (or an earlier run of this script) built it for the
# same ROWS, and built otherwise (bench/pg_bench_table.sh). See bench/README.md.
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
TABLE="public.bench_rows"

# The layouts: name | --target-file-size | rule after "$TABLE=" (empty: no partitioning).
# The first one is the baseline of the time ratio.
LAYOUTS=(
    "unpartitioned|128MiB|"
    "month|128MiB|created_at:month"
    "day|128MiB|created_at:day"
    "key_buckets|128MiB|key:buckets"
    "month_16MiB|16MiB|created_at:month"
    "month_4MiB|4MiB|created_at:month"
)

bench_preflight
command -v psql >/dev/null || die "psql not found"

split_server_url "$BENCH_PG"
ADMIN_URL="${URL_SCHEME}://${URL_AUTHORITY}/${BENCH_ADMIN_DB:-postgres}${URL_QUERY}"
DB_URL="${URL_SCHEME}://${URL_AUTHORITY}/${BENCH_DB}${URL_QUERY}"
PSQL=(psql -X -q -v ON_ERROR_STOP=1)

# --- 1. Build and data ------------------------------------------------------------------------
bench_build
# What was built: HEAD at build time, plus a note if the sources differed from it.
BUILD_COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
if ! git -C "$ROOT" diff --quiet HEAD -- Cargo.toml Cargo.lock shared 2>/dev/null; then
    BUILD_COMMIT="$BUILD_COMMIT+uncommitted-changes"
fi
pg_bench_table

make_work snapex-partitions
TABLE_DIR_REL="bench/${TABLE%%.*}/${TABLE#*.}"   # <export-id>/<schema>/<table> under the dest

# --- 2. Helpers ---------------------------------------------------------------------------------

# min p10 median p90 max of the numbers on stdin, nearest-rank (each is one of the values, no
# interpolation: with 2 files the p10 is the smaller and the p90 the larger), scaled by $1.
distribution() { # divisor, printf format
    sort -n | awk -v d="$1" -v f="$2" '
        { v[NR] = $1 }
        function rank(p,   i) { i = int(p * NR + 0.999999); return v[i < 1 ? 1 : i] / d }
        END { printf f " " f " " f " " f " " f "\n", v[1] / d, rank(0.1), rank(0.5), rank(0.9), v[NR] / d }'
}

# Describes the export in $1 (one layout's output) as one line of fields:
#   partitions files bytes min p10 med p90 max fpp_min fpp_med fpp_max   (sizes in MiB)
# Partition folders are the `key=value` folders under the table's folder; the unpartitioned
# export writes straight into the table's folder and gets "-" for them.
describe_files() { # out dir, partitioned (0/1)
    local dir="$1/$TABLE_DIR_REL" partitioned="$2" files bytes parts sizes fpp
    files="$(find "$dir" -type f -name '*.parquet' | wc -l)"
    [[ "$files" -gt 0 ]] || die "no Parquet files under $dir"
    bytes="$(find "$dir" -type f -name '*.parquet' -printf '%s\n' | awk '{s += $1} END {print s}')"
    sizes="$(find "$dir" -type f -name '*.parquet' -printf '%s\n' | distribution 1048576 '%.2f')"
    if [[ "$partitioned" == 1 ]]; then
        # Every file must sit in a partition folder, one level below the table's folder.
        if find "$dir" -maxdepth 1 -type f -name '*.parquet' | grep -q .; then
            die "partitioned export left files outside partition folders in $dir"
        fi
        parts="$(find "$dir" -mindepth 1 -maxdepth 1 -type d -name '*=*' | wc -l)"
        fpp="$(find "$dir" -type f -name '*.parquet' -printf '%h\n' | sort | uniq -c |
            awk '{print $1}' | distribution 1 '%d' | awk '{print $1, $3, $5}')"
    else
        parts="-"
        fpp="- - -"
    fi
    echo "$parts $files $bytes $sizes $fpp"
}

# Runs one export of layout $2 into a fresh folder, fails loudly unless the manifest counts ROWS
# rows (and as many files as are on disk), and appends "name wall_s rss_kib" to $WORK/runs.
# The first run of each layout also stores its file statistics in $WORK/files.<name>.
export_layout() { # run number, name, target size, rule
    local run="$1" name="$2" size="$3" rule="$4" out="$WORK/out" t0 wall rss manifest mrows mfiles files
    local args=(--target-file-size "$size")
    if [[ -n "$rule" ]]; then
        args+=(--partition-by "$TABLE=$rule")
    fi
    rm -rf "$out"
    t0=$EPOCHREALTIME
    if ! /usr/bin/time -v -o "$WORK/time.snapex" "$BIN" export \
            --source "$DB_URL" --dest "$out" --export-id bench \
            --include "$TABLE" --no-progress "${args[@]}" \
            >"$WORK/snapex.stdout" 2>"$WORK/snapex.stderr"; then
        echo "---- snapex stderr ----" >&2; tail -n 50 "$WORK/snapex.stderr" >&2
        die "snapex export ($name: ${args[*]}) failed"
    fi
    wall="$(elapsed "$t0")"
    rss="$(rss_of "$WORK/time.snapex")"
    manifest="$out/bench/manifest.json"
    [[ -f "$manifest" ]] || die "$name: no manifest at $manifest"
    mrows="$(manifest_rows "$manifest")"
    [[ "$mrows" == "$ROWS" ]] ||
        die "$name run $run: manifest totals.rows = $mrows, expected $ROWS: rows lost or duplicated"
    # The manifest and the disk must agree on the file count (the manifest is what readers use).
    mfiles="$(jq -r '.totals.files' "$manifest" 2>/dev/null ||
        python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["files"])' "$manifest")"
    files="$(find "$out" -type f -name '*.parquet' | wc -l)"
    [[ "$mfiles" == "$files" ]] || die "$name run $run: manifest totals.files = $mfiles, $files files on disk"
    if [[ "$run" == 1 ]]; then
        describe_files "$out" "$([[ -n "$rule" ]] && echo 1 || echo 0)" >"$WORK/files.$name"
        # Keep one folder name to show the partition key, and the bucket width for the profile below.
        find "$out/$TABLE_DIR_REL" -mindepth 1 -maxdepth 1 -type d -name '*=*' -printf '%f\n' |
            sort -V >"$WORK/folders.$name"
        log "$name: $files files, smallest $(find "$out/$TABLE_DIR_REL" -type f -name '*.parquet' -printf '%s\n' | sort -n | head -n 1) bytes; partition folders: $(awk 'NR == 1 {f = $0} {l = $0} END {print (NR ? NR " (" f " .. " l ")" : "none")}' "$WORK/folders.$name")"
    fi
    log "$name run $run: ${wall} s, peak RSS ${rss} KiB, rows OK ($mrows)"
    rm -rf "$out"
    echo "$name $wall $rss" >>"$WORK/runs"
}

# --- 3. Measurements ----------------------------------------------------------------------------
note_load_start
: >"$WORK/runs"
# Runs are interleaved (every layout once, then again) rather than grouped by layout, so a slow
# spell on this shared machine hits all layouts alike instead of skewing one ratio.
for ((r = 1; r <= RUNS; r++)); do
    for layout in "${LAYOUTS[@]}"; do
        IFS='|' read -r name size rule <<<"$layout"
        export_layout "$r" "$name" "$size" "$rule"
    done
done

# The planner's profile query on its own: the same aggregate snapex runs once per partitioned
# table before planning (shared/src/source/postgres/profile.rs), timed here through psql because
# snapex does not report its phases. It shows how much of a layout's extra time is that scan.
# Step: one level finer than the partition (a day for months, an hour for days); key buckets
# group by the bucket width, read off the folder names (id_bucket=<start>).
profile_sql() { # group expression
    echo "SELECT $1, count(*)::int8, min(id::int8), max(id::int8) FROM $TABLE GROUP BY 1"
}
time_expr() { # step in seconds
    echo "CASE WHEN isfinite(created_at) THEN (floor(extract(epoch FROM (created_at AT TIME ZONE 'UTC')) / $1::int8) * $1::int8)::int8 END"
}
bucket_width="$(sed 's/.*=//' "$WORK/folders.key_buckets" | awk 'NR == 2 {print $1 - p} {p = $1}')"
: >"$WORK/profiles"
for p in "month|$(time_expr 86400)" "day|$(time_expr 3600)" \
         "key_buckets|${bucket_width:+floor(id::numeric / ${bucket_width}::int8)::int8}"; do
    IFS='|' read -r name expr <<<"$p"
    [[ -n "$expr" ]] || { log "profile $name: one bucket only, width unknown; skipped"; continue; }
    best=""
    for ((r = 1; r <= RUNS; r++)); do
        t0=$EPOCHREALTIME
        groups="$("${PSQL[@]}" "$DB_URL" -Atc "$(profile_sql "$expr")" | wc -l)"
        wall="$(elapsed "$t0")"
        if [[ -z "$best" ]] || less_than "$wall" "$best"; then best="$wall"; fi
    done
    log "profile query for $name: $groups groups, fastest ${best} s"
    echo "$name $groups $best" >>"$WORK/profiles"
done

# --- 4. Report ----------------------------------------------------------------------------------
echo
echo "snapex export of $TABLE ($ROWS rows) by partition layout, fastest of $RUNS run(s) each"
report_host_line
echo "server: $("${PSQL[@]}" "$DB_URL" -Atc 'show server_version')  snapex: $("$BIN" --version)  built from: $BUILD_COMMIT"
echo
base_wall=""
printf '%-14s %-6s %-25s %5s %5s %9s %7s %6s %7s   %-38s   %s\n' \
    layout target "partition key (example)" parts files total_MiB wall_s xbase RSS_MiB \
    "file MiB: min / p10 / med / p90 / max" "files/part min/med/max"
for layout in "${LAYOUTS[@]}"; do
    IFS='|' read -r name size rule <<<"$layout"
    # Fastest wall time, highest peak RSS over the runs (as export_vs_copy.sh reports them).
    read -r wall rss < <(awk -v n="$name" '$1 == n {
        if (w == "" || $2 < w) w = $2; if ($3 > m) m = $3 } END {print w, m}' "$WORK/runs")
    base_wall="${base_wall:-$wall}"
    read -r parts files bytes smin sp10 smed sp90 smax fmin fmed fmax <"$WORK/files.$name"
    key="$(head -n 1 "$WORK/folders.$name")"
    printf '%-14s %-6s %-25s %5s %5s %9.1f %7.2f %6.2f %7.1f   %6s / %6s / %6s / %6s / %6s   %s / %s / %s\n' \
        "$name" "$size" "${key:--}" "$parts" "$files" "$(awk -v b="$bytes" 'BEGIN {print b / 1048576}')" \
        "$wall" "$(awk -v w="$wall" -v b="$base_wall" 'BEGIN {print w / b}')" \
        "$(awk -v k="$rss" 'BEGIN {print k / 1024}')" \
        "$smin" "$sp10" "$smed" "$sp90" "$smax" "$fmin" "$fmed" "$fmax"
done
echo
echo "Every export's manifest counted $ROWS rows (totals.rows) and as many files as are on disk."
echo "xbase = wall / unpartitioned wall; RSS_MiB = highest peak RSS of any run; MiB = 2^20 bytes."
echo "File sizes: nearest-rank percentiles over the layout's files; files/part: files per partition folder."
if [[ -s "$WORK/profiles" ]]; then
    echo
    echo "The planner's profile query alone (the same GROUP BY through psql, fastest of $RUNS):"
    awk '{printf "  %-12s %6d groups  %6.2f s\n", $1, $2, $3}' "$WORK/profiles"
fi
