#!/usr/bin/env bash
# Peak memory of exporting the corpus's widest tables with 20,000 rows each: PostgreSQL's
# wide_1600 (1,600 columns) and MariaDB's wide_1010 (1,010 columns). Builds the corpus in two
# databases of its own (snapex_corpus_rss_<pid>, dropped at the end), grows the wide tables, exports each alone with the
# release binary under /usr/bin/time -v and prints the maximum resident set size.
#   tests/corpus/rss.sh            (needs cargo build --release -p snapex --bin snapex)
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${CARGO_TARGET_DIR:-target}/release/snapex"
db=snapex_corpus_rss_$$
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $db"
psql -h 127.0.0.1 -U postgres -d $db -v ON_ERROR_STOP=1 -qf tests/corpus/postgres.sql
psql -h 127.0.0.1 -U postgres -d $db -v ON_ERROR_STOP=1 -qc "
  INSERT INTO wide_1600
  SELECT r.*
    FROM wide_1600 w, generate_series(1, 99) k,
         LATERAL jsonb_populate_record(NULL::wide_1600, to_jsonb(w) || jsonb_build_object('id', w.id + 200 * k)) r;
  ANALYZE wide_1600;"

mysql -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db CHARACTER SET utf8mb4"
mysql -h 127.0.0.1 -u root $db < tests/corpus/mysql.sql > /dev/null
mysql -h 127.0.0.1 -u root $db -e "
  SET SESSION group_concat_max_len = 1000000;
  SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION) INTO @cols FROM information_schema.COLUMNS
   WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'wide_1010' AND COLUMN_NAME <> 'id';
  CREATE TEMPORARY TABLE k (k INT PRIMARY KEY);
  INSERT INTO k WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < 99) SELECT k FROM s;
  SET @dml = CONCAT('INSERT INTO wide_1010 SELECT id + 200 * k, ', @cols, ' FROM wide_1010, k');
  PREPARE st FROM @dml; EXECUTE st;
  ANALYZE TABLE wide_1010;" > /dev/null

measure() {
  local label=$1 source=$2 table=$3
  /usr/bin/time -v "$bin" export --no-progress --source "$source" --include "$table" \
    --dest "$out/$label" 2> "$out/$label.time" > /dev/null
  local rows kb
  rows=$(grep -o '"rows": *[0-9]*' "$out/$label"/*/manifest.json | head -1 | grep -o '[0-9]*$')
  kb=$(grep 'Maximum resident set size' "$out/$label.time" | grep -o '[0-9]*$')
  echo "$label $table: $rows rows, peak RSS $((kb / 1024)) MiB ($(grep 'Elapsed (wall' "$out/$label.time" | awk '{print $NF}') wall)"
}
measure postgres "postgres://postgres@127.0.0.1:5432/$db" wide_1600
measure mariadb "mysql://root@127.0.0.1:3306/$db" wide_1010

psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE $db"
mysql -h 127.0.0.1 -u root -e "DROP DATABASE $db"
