# Shared helpers for the export benchmarks (export_vs_copy.sh, mysql_export_vs_select.sh).
# Sourced, not run. The functions below read these globals, set by the calling script:
#   ROOT, ROWS, RUNS, BENCH_DB            (before bench_preflight)
#   DB_URL, TABLE, WORK                   (before run_baseline / run_snapex)
# and set BIN (bench_build), LOAD_START (note_load_start).
# shellcheck shell=bash disable=SC2154   # the globals above are assigned by the caller

die() { echo "error: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# Seconds since $1 (an $EPOCHREALTIME), with $2 decimals (default 3).
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" -v d="${2:-3}" 'BEGIN{printf "%." d "f", b-a}'; }
# True if $1 < $2 as decimals (bash arithmetic is integer-only).
less_than() { awk -v a="$1" -v b="$2" 'BEGIN{exit !(a<b)}'; }

# Checks shared by both scripts: parameters, and the tools needed to build and measure.
bench_preflight() {
    [[ "$ROWS" =~ ^[1-9][0-9]*$ ]] || die "ROWS must be a positive integer, got '$ROWS'"
    [[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, got '$RUNS'"
    [[ "$BENCH_DB" =~ ^[a-z_][a-z0-9_]*$ ]] || die "BENCH_DB must be a plain lower-case identifier"
    command -v cargo >/dev/null || die "cargo not found"
    if ! command -v jq >/dev/null && ! command -v python3 >/dev/null; then
        die "need jq or python3 to read the manifest"
    fi
    # GNU time -v is what reports peak RSS; the shell keyword cannot.
    if [[ ! -x /usr/bin/time ]]; then
        log "/usr/bin/time missing; installing the 'time' package"
        if [[ $(id -u) -eq 0 ]]; then
            apt-get install -y time >/dev/null || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }
        else
            sudo apt-get install -y time >/dev/null
        fi
        [[ -x /usr/bin/time ]] || die "could not install /usr/bin/time"
    fi
}

# Splits a server URL scheme://authority[/db][?query] into URL_SCHEME, URL_AUTHORITY and
# URL_QUERY ("" or "?..."), dropping any database path so the script can put its own.
# shellcheck disable=SC2034   # the URL_* globals are read by the caller
split_server_url() {
    local base="${1%/}"
    URL_QUERY=""
    if [[ "$base" == *\?* ]]; then
        URL_QUERY="?${base#*\?}"
        base="${base%%\?*}"
    fi
    URL_SCHEME="${base%%://*}"
    URL_AUTHORITY="${base#*://}"
    URL_AUTHORITY="${URL_AUTHORITY%%/*}"
}

bench_build() {
    log "building release binary"
    cargo build --release -p snapex --bin snapex
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/snapex"
    [[ -x "$BIN" ]] || die "binary not found at $BIN"
}

# Makes the temporary folder $WORK (removed on exit) and the empty results file, which gets
# one line per method: label wall_s rss_kib parquet_bytes
make_work() { # mktemp prefix
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")"
    trap 'rm -rf "$WORK"' EXIT
    : >"$WORK/results"
}

# rss_kib of a /usr/bin/time -v report
rss_of() { awk -F': ' '/Maximum resident set size/ {print $2}' "$1"; }

manifest_rows() {
    if command -v jq >/dev/null; then
        jq -r '.totals.rows' "$1"
    else
        python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["rows"])' "$1"
    fi
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
note_load_start() {
    LOAD_START="$(loadavg)"
    log "load average before measuring: $LOAD_START"
}

# Times the client baseline RUNS times, output to /dev/null, and records it in the results.
run_baseline() { # label, name in the log, client name in the log, command...
    local label="$1" what="$2" client="$3"; shift 3
    local best="" max_rss=0 r t0 wall rss
    for ((r = 1; r <= RUNS; r++)); do
        t0=$EPOCHREALTIME
        /usr/bin/time -v -o "$WORK/time.baseline" "$@" >/dev/null
        wall="$(elapsed "$t0")"
        rss="$(rss_of "$WORK/time.baseline")"
        log "$what run $r: ${wall} s, $client peak RSS ${rss} KiB"
        if [[ -z "$best" ]] || less_than "$wall" "$best"; then best="$wall"; fi
        if [[ "$rss" -gt "$max_rss" ]]; then max_rss="$rss"; fi
    done
    echo "$label $best $max_rss -" >>"$WORK/results"
}

# Times `snapex export` of $TABLE RUNS times, checks the manifest's row count after each run,
# and records it in the results.
run_snapex() { # label, extra snapex args...
    local label="$1"; shift
    local best="" max_rss=0 r t0 wall rss out mrows pq mbytes nfiles
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
        wall="$(elapsed "$t0")"
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
        if [[ -z "$best" ]] || less_than "$wall" "$best"; then best="$wall"; fi
        if [[ "$rss" -gt "$max_rss" ]]; then max_rss="$rss"; fi
    done
    # Fastest wall time, but the highest peak RSS seen in any run (memory varies run to run).
    echo "$label $best $max_rss $pq" >>"$WORK/results"
}

report_host_line() {
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  host: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)  load avg before: $LOAD_START, after: $(loadavg)"
}

# The results table. Every MB/s figure divides the same baseline byte count, so they compare
# directly; the last two columns relate each line to the baseline's wall time.
report_table() { # baseline label, baseline stream bytes, short baseline name (COPY, SEL)
    local base_label="$1" bytes="$2" short="$3" base_wall
    base_wall="$(awk -v l="$base_label" '$1 == l {print $2}' "$WORK/results")"
    awk -v rows="$ROWS" -v bytes="$bytes" -v cw="$base_wall" -v s="$short" '
    BEGIN {
        printf "%-18s %10s %8s %11s %8s %9s %14s %10s %10s\n", "method", "rows", "wall_s", "rows/s", "MB/s", "RSS_MiB", "parquet_bytes", "time/" s, s "/thru"
    }
    {
        wall = $2; rss = $3 / 1024; pq = $4
        printf "%-18s %10d %8.2f %11.0f %8.1f %9.1f %14s %10.2f %10.2f\n", $1, rows, wall, rows / wall, bytes / 1e6 / wall, rss, pq, wall / cw, (bytes / cw) / (bytes / wall)
    }' "$WORK/results"
}

# ---- Per-run measurements with medians (peers.sh) ------------------------------------------
# run_measured appends one line per run to $WORK/runs:
#   label wall_s cpu_s host_busy_s rss_kib out_bytes
# and report_medians prints, per label in order of first appearance, the median of each column
# over the runs. A method that cannot run is noted in $WORK/notes instead.

# Busy CPU seconds of the whole host so far (all cores, /proc/stat: everything but idle and
# iowait), to see how much CPU the servers and everything else used during a run.
host_busy_s() {
    awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" {print ($2+$3+$4+$7+$8+$9) / hz; exit}' /proc/stat
}

# user + system CPU seconds of a /usr/bin/time -v report
cpu_of() {
    awk -F': ' '/User time \(seconds\)/ {u=$2} /System time \(seconds\)/ {s=$2} END {printf "%.2f", u+s}' "$1"
}

# Bytes of the Parquet files under $1 (0 if none).
parquet_bytes_under() { find "$1" -type f -name '*.parquet' -printf '%s\n' 2>/dev/null | awk '{s+=$1} END{print s+0}'; }

note_method() { echo "$1" >>"$WORK/notes"; log "$1"; }

# Runs a command RUNS times under /usr/bin/time -v, its stdout to /dev/null, with an empty folder
# $WORK/out made for it before every run. If the checker is not "-", it is called with that folder
# after each run and must print the row count it finds there, which has to equal ROWS or the
# script dies; the Parquet bytes in the folder are recorded as the output size. The folder is
# removed after every run.
# A failing command kills the script when it is snapex (a label starting with "snapex"); for a
# peer the failure is noted ("<label>: failed: <last stderr line>") and the remaining runs
# skipped, so one broken peer does not lose the others' figures.
run_measured() { # label, checker or "-", command... (the command may use $WORK/out)
    local label="$1" checker="$2"; shift 2
    local r t0 b0 wall busy cpu rss out="$WORK/out" got bytes=- reason
    for ((r = 1; r <= RUNS; r++)); do
        rm -rf "$out"
        mkdir -p "$out"
        b0="$(host_busy_s)"
        t0=$EPOCHREALTIME
        if ! /usr/bin/time -v -o "$WORK/time.run" "$@" >/dev/null 2>"$WORK/stderr.run"; then
            reason="$(grep -v '^\s*$' "$WORK/stderr.run" | tail -n 1 | cut -c1-200)"
            rm -rf "$out"
            if [[ "$label" == snapex* ]]; then
                tail -n 30 "$WORK/stderr.run" >&2
                die "$label failed: $reason"
            fi
            note_method "$label: failed: ${reason:-exit status $(awk -F': ' '/Exit status/ {print $2}' "$WORK/time.run")}"
            return 0
        fi
        wall="$(elapsed "$t0")"
        busy="$(awk -v a="$b0" -v b="$(host_busy_s)" 'BEGIN{printf "%.2f", b-a}')"
        cpu="$(cpu_of "$WORK/time.run")"
        rss="$(rss_of "$WORK/time.run")"
        if [[ "$checker" != - ]]; then
            got="$("$checker" "$out")" || die "$label: could not count the rows of its output"
            [[ "$got" == "$ROWS" ]] || die "$label: output holds $got rows, expected $ROWS"
            bytes="$(parquet_bytes_under "$out")"
        fi
        log "$label run $r: wall ${wall} s, cpu ${cpu} s, host busy ${busy} s, peak RSS ${rss} KiB, output ${bytes} bytes${got:+, $got rows OK}"
        rm -rf "$out"
        echo "$label $wall $cpu $busy $rss $bytes" >>"$WORK/runs"
    done
}

# The results table: per method the median of each column over its runs. Every MB/s figure
# divides the same baseline stream byte count, so they compare directly; time/<base> is the
# median wall time over the baseline's.
report_medians() { # baseline label, baseline stream bytes, short baseline name, labels...
    local base_label="$1" bytes="$2" short="$3"; shift 3
    local labels="$*"
    awk -v rows="$ROWS" -v bytes="$bytes" -v base="$base_label" -v s="$short" -v labels="$labels" '
    function median(list,    n, v, i, j, t) {
        n = split(list, v, " ")
        for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j-1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j-1]; v[j-1] = t }
        return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    { for (c = 2; c <= 6; c++) col[$1, c] = col[$1, c] " " $c; runs[$1]++ }
    END {
        printf "%-22s %4s %8s %7s %8s %10s %8s %8s %12s %7s\n", "method", "runs", "wall_s", "cpu_s", "host_cpu", "rows/s", "MB/s", "RSS_MiB", "out_bytes", "time/" s
        bw = median(col[base, 2])
        n = split(labels, order, " ")
        for (i = 1; i <= n; i++) {
            l = order[i]
            if (!(l in runs)) continue
            w = median(col[l, 2])
            ob = (col[l, 6] ~ /-/) ? "-" : sprintf("%.0f", median(col[l, 6]))
            printf "%-22s %4d %8.2f %7.2f %8.2f %10.0f %8.1f %8.1f %12s %7.2f\n", l, runs[l], w, median(col[l, 3]), median(col[l, 4]), rows / w, bytes / 1e6 / w, median(col[l, 5]) / 1024, ob, (bw > 0 ? w / bw : 0)
        }
    }' "$WORK/runs"
}

# Creates database $BENCH_DB on the server of $ADMIN_URL if it is missing (psql as $PSQL).
pg_ensure_bench_db() {
    "${PSQL[@]}" "$ADMIN_URL" -Atc "select 1" >/dev/null || die "cannot connect to $ADMIN_URL"
    if [[ -z "$("${PSQL[@]}" "$ADMIN_URL" -Atc "select 1 from pg_database where datname = '$BENCH_DB'")" ]]; then
        log "creating database $BENCH_DB"
        "${PSQL[@]}" "$ADMIN_URL" -c "CREATE DATABASE $BENCH_DB"
    fi
}

# True when table $1 of $DB_URL was built completely by an earlier run: it carries the
# comment $2 (written last by its builder) and count(*) is $3.
pg_table_is_built() { # table, comment, rows
    local comment rows=-1
    comment="$("${PSQL[@]}" "$DB_URL" -Atc \
        "select coalesce(obj_description(to_regclass('$1'), 'pg_class'), '')")"
    if [[ "$comment" == "$2" ]]; then
        rows="$("${PSQL[@]}" "$DB_URL" -Atc "select count(*) from $1")"
    fi
    [[ "$rows" == "$3" ]]
}
