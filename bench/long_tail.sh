#!/usr/bin/env bash
# Times `snapex export` on the long tail: a database of TABLES small tables (default 5,000,
# two rows each) and a table at PostgreSQL's 1,600-column limit (WIDE_ROWS rows, default
# 20,000). Prints wall time, peak RSS and the manifest's counts for each.
#
#   bench/long_tail.sh
#   TABLES=20000 WIDE_ROWS=100000 bench/long_tail.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
TABLES=${TABLES:-5000}
WIDE_ROWS=${WIDE_ROWS:-20000}
export PGOPTIONS="-c client_min_messages=warning"

[ -x /usr/bin/time ] || apt-get install -y -qq time >/dev/null
cargo build --release -q -p snapex --bin snapex
BIN=${CARGO_TARGET_DIR:-target}/release/snapex
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

recreate() {
  psql -q "$PG/postgres" -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"
}

# Many tables, created 500 per transaction (one transaction would exhaust the lock table).
recreate snapex_bench_many
for ((start = 0; start < TABLES; start += 500)); do
  psql -q "$PG/snapex_bench_many" -v ON_ERROR_STOP=1 -c "
    DO \$\$ BEGIN FOR i IN $start .. $((start + 499 < TABLES - 1 ? start + 499 : TABLES - 1)) LOOP
      EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, v text, at timestamptz)', 't_' || i);
      EXECUTE format('INSERT INTO %I VALUES (1, %L, now()), (2, NULL, NULL)', 't_' || i, 'value ' || i);
    END LOOP; END \$\$;"
done

# One table at the column limit: 1 key + 1,599 columns cycling int4, text, real, boolean, int2
# (a heap row must fit in 8 kB, so no 8-byte types).
recreate snapex_bench_wide
cols=$(for k in $(seq 1 1599); do case $((k % 5)) in
  0) echo -n ", c$k int4";; 1) echo -n ", c$k text";; 2) echo -n ", c$k real";; 3) echo -n ", c$k boolean";; 4) echo -n ", c$k int2";; esac; done)
vals=$(for k in $(seq 1 1599); do case $((k % 5)) in
  0) echo -n ", g + $k";; 1) echo -n ", 'v' || g";; 2) echo -n ", g / $k.0";; 3) echo -n ", g % 2 = 0";; 4) echo -n ", (g % 1000)::int2";; esac; done)
psql -q "$PG/snapex_bench_wide" -v ON_ERROR_STOP=1 \
  -c "CREATE TABLE wide (id int8 PRIMARY KEY $cols)" \
  -c "INSERT INTO wide SELECT g $vals FROM generate_series(1, $WIDE_ROWS) g" \
  -c "VACUUM ANALYZE wide"

run() {
  local name=$1 db=$2
  /usr/bin/time -v -o "$OUT/$name.time" "$BIN" export --no-progress --source "$PG/$db" --dest "$OUT/$name" --export-id e >"$OUT/$name.log"
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$OUT/$name.time")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2 / 1024}' "$OUT/$name.time")
  python3 - "$OUT/$name/e/manifest.json" "$name" "$wall" "$rss" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
t = m["totals"]
print(f"{sys.argv[2]:<6} tables={t['tables']:<6} files={t['files']:<6} rows={t['rows']:<9} "
      f"parquet_bytes={t['bytes']:<10} wall={sys.argv[3]} peak_rss_mib={sys.argv[4]}")
PY
}

echo "snapex $("$BIN" --version | cut -d' ' -f2) on $(nproc) cores; TABLES=$TABLES WIDE_ROWS=$WIDE_ROWS"
run many snapex_bench_many
run wide snapex_bench_wide
