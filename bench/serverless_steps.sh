#!/usr/bin/env bash
# Runs the serverless steps of one export of a many-table database one kind at a time, as the
# Lambdas would (Plan, then every ExportChunk, then Finalize; `shared/examples/serverless_steps.rs`
# makes the same calls as their handlers; then Finalize's cut of the Glue registration into
# batches and what one RegisterTables call reads, `functions/glue/examples/register_batches.rs`,
# without Glue's own calls), each in its own process under /usr/bin/time, and
# reports wall time and peak RSS against Lambda's limits (15 minutes, 10,240 MB). Issue 19
# asks for this on a plan of 1,000,000 tables.
#
#   bench/serverless_steps.sh                    # snapex_bench_tables_100000
#   TABLES=1000000 bench/serverless_steps.sh     # needs that database (bench/many_tables.sh builds it)
#
# Environment:
#   TABLES     which snapex_bench_tables_<N> database (100000)
#   BENCH_PG   server URL without a database (default postgres://postgres@127.0.0.1:5432)
#   AT_ONCE    chunk steps run at once, each with its own connection (2)
#   CALLS      Glue calls one registration batch may plan for (2250, as Finalize sets it)
#   TMPDIR     where the export goes: a local folder stands in for the bucket, so the figures
#              leave out S3's latency (every step's requests are to the local disk)
#
# The chunk steps run in one process, AT_ONCE at a time: its peak RSS is that of AT_ONCE
# concurrent chunk steps, an upper bound for one Lambda's.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

TABLES=${TABLES:-100000}
AT_ONCE=${AT_ONCE:-2}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
[[ "$TABLES" =~ ^[1-9][0-9]*$ ]] || die "TABLES must be a positive integer, got '$TABLES'"
[[ "$AT_ONCE" =~ ^[1-9][0-9]*$ ]] || die "AT_ONCE must be a positive integer, got '$AT_ONCE'"
SOURCE="${PG%/}/snapex_bench_tables_$TABLES"
psql -X -At "$SOURCE" -c "SELECT 1" >/dev/null 2>&1 ||
    die "no database snapex_bench_tables_$TABLES: build it with BUILD_ONLY=1 SIZES=$TABLES bench/many_tables.sh"

target=${CARGO_TARGET_DIR:-target}
log "building the serverless_steps example (release)"
cargo build --release --locked -q -p snapex --example serverless_steps
cargo build --release --locked -q -p snapex-glue --example register_batches
BIN="$target/release/examples/serverless_steps"
GLUE="$target/release/examples/register_batches"
# Finalize's batch size: half of RegisterTables' 900 s at 5 Glue calls a second
# (snapex::service::registration::spread(25, 900)).
CALLS=${CALLS:-2250}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/snapex-serverless-steps.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
DEST="$WORK/bucket"
ID=steps

# Runs "$@" under /usr/bin/time; prints its output line, then "wall_s rss_mib".
measured() {
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >"$WORK/out"
    cat "$WORK/out" >&2
    awk '{printf "%.1f %.0f\n", $1, $2 / 1024}' "$WORK/time"
}

log "plan of $TABLES tables"
read -r plan_s plan_mib < <(measured "$BIN" plan "$SOURCE" "$DEST" "$ID")
chunks=$(wc -l <"$DEST/$ID/_work/chunks.jsonl")
log "$chunks chunk steps, $AT_ONCE at a time"
read -r chunks_s chunks_mib < <(measured "$BIN" chunks "$SOURCE" "$DEST" "$ID" 0 "$chunks" "$AT_ONCE")
slowest=$(grep -o 'in [0-9.]* s$' "$WORK/out" | awk '{print $2}')
log "finalize"
read -r fin_s fin_mib < <(measured "$BIN" finalize "$DEST" "$ID")
log "finalize's registration batches ($CALLS Glue calls each at most)"
read -r bat_s bat_mib < <(measured "$GLUE" batches "$DEST/$ID" "$CALLS" "$WORK/batches.jsonl")
batches=$(wc -l <"$WORK/batches.jsonl")
log "reading the first and the last batch, as RegisterTables does before its Glue calls"
read -r read0_s read0_mib < <(measured "$GLUE" read "$DEST/$ID" "$WORK/batches.jsonl" 0)
read -r readn_s readn_mib < <(measured "$GLUE" read "$DEST/$ID" "$WORK/batches.jsonl" $((batches - 1)))

echo "serverless steps of snapex_bench_tables_$TABLES at $(git rev-parse --short HEAD), a local folder for the bucket"
printf '%-10s %8s %8s  %s\n' step wall_s RSS_MiB "Lambda limits: 900 s, 10240 MB"
printf '%-10s %8s %8s\n' plan "$plan_s" "$plan_mib"
printf '%-10s %8s %8s  %s\n' chunks "$chunks_s" "$chunks_mib" "$chunks steps, $AT_ONCE at a time; slowest step ${slowest} s"
printf '%-10s %8s %8s\n' finalize "$fin_s" "$fin_mib"
printf '%-10s %8s %8s  %s\n' batches "$bat_s" "$bat_mib" "Finalize's catalog check and $batches registration batches"
printf '%-10s %8s %8s  %s\n' read "$read0_s" "$read0_mib" "batch 0's files, before its Glue calls"
printf '%-10s %8s %8s  %s\n' read "$readn_s" "$readn_mib" "batch $((batches - 1))'s files"
