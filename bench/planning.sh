#!/usr/bin/env bash
# Times discovery + planning (`snapex plan`, no table data read) on a PostgreSQL database of
# many small tables, and reports its peak RSS. The database is built once and reused while it
# holds the asked-for number of tables (building 100,000 tables takes a few minutes).
#
#   bench/planning.sh                  # 100,000 tables
#   TABLES=1000000 bench/planning.sh   # the issue's million (hours to build, several GB of catalog)
set -euo pipefail
cd "$(dirname "$0")/.."

PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
TABLES=${TABLES:-100000}
RUNS=${RUNS:-2}
DB=snapex_bench_plan_${TABLES}
export PGOPTIONS="-c client_min_messages=warning"

[ -x /usr/bin/time ] || apt-get install -y -qq time >/dev/null
cargo build --release -q -p snapex --bin snapex
BIN=${CARGO_TARGET_DIR:-target}/release/snapex
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

have=$(psql -qAt "$PG/$DB" -c "SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace" 2>/dev/null || echo 0)
if [[ "$have" != "$TABLES" ]]; then
  echo "building $DB with $TABLES tables (500 per transaction: one would exhaust the lock table)" >&2
  psql -q "$PG/postgres" -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
  for ((start = 0; start < TABLES; start += 500)); do
    psql -q "$PG/$DB" -v ON_ERROR_STOP=1 -c "
      DO \$\$ BEGIN FOR i IN $start .. $((start + 499 < TABLES - 1 ? start + 499 : TABLES - 1)) LOOP
        EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, v text, at timestamptz)', 't_' || i);
      END LOOP; END \$\$;"
  done
  psql -q "$PG/$DB" -c "VACUUM ANALYZE" >/dev/null
fi

echo "snapex plan of $TABLES empty tables ($RUNS runs; $(nproc) cores; $(date -u +%FT%TZ))"
# The baseline: the same catalog rows (one per column, in table order) copied out by psql and
# thrown away. No planning, no JSON: the floor for any tool that reads the catalog.
baseline="COPY (SELECT c.oid, n.nspname, c.relname, c.relpages, c.reltuples, a.attname, a.atttypid, a.atttypmod
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relkind IN ('r', 'p') AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
 ORDER BY c.oid, a.attnum) TO STDOUT"
seconds() { awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$1"; }
for ((r = 1; r <= RUNS; r++)); do
  /usr/bin/time -v -o "$OUT/base" psql -X -q "$PG/$DB" -c "$baseline" >/dev/null
  /usr/bin/time -v -o "$OUT/time" "$BIN" plan --no-progress --source "$PG/$DB" --chunks "$OUT/chunks.jsonl" >"$OUT/log"
  base=$(seconds "$OUT/base")
  wall=$(seconds "$OUT/time")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2 / 1024}' "$OUT/time")
  echo "run $r: catalog_copy_s=$base snapex_plan_s=$wall ratio=$(awk -v a="$wall" -v b="$base" 'BEGIN {printf "%.2f", a / b}') peak_rss_mib=$rss chunks=$(wc -l <"$OUT/chunks.jsonl") chunk_list_bytes=$(stat -c %s "$OUT/chunks.jsonl")"
  echo "  $(cat "$OUT/log")"
done
