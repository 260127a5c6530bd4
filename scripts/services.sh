#!/usr/bin/env bash
# Starts what the tests and the demo need, if it is not already up: the local PostgreSQL and
# MariaDB,
# moto's S3-compatible server package (the tests start their own moto on a free port), and
# DuckDB and pyarrow for Python (independent Parquet readers the tests check our files with), and the
# strict IAM of the tests' moto: SAM's translator (template.yaml as deployed) and Principal
# Mapper (the evaluator of the functions' policies).
# Sourced by scripts/test.sh and scripts/demo.sh; safe to run more than once.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if ! pg_up; then
  echo "starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 60); do pg_up && break; sleep 0.5; done
  pg_up || { echo "PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }
fi

mysql_up() { mariadb-admin -uroot -h127.0.0.1 -P3306 ping >/dev/null 2>&1; }

if ! mysql_up; then
  echo "starting MariaDB" >&2
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  for _ in $(seq 1 60); do mysql_up && break; sleep 0.5; done
  mysql_up || { echo "MariaDB did not start on 127.0.0.1:3306" >&2; exit 1; }
fi

if ! command -v moto_server >/dev/null 2>&1; then
  echo "installing moto[server] (the S3-compatible server the tests run on loopback)" >&2
  python3 -m pip install --quiet 'moto[server]>=5,<6'
  hash -r
fi

if ! python3 -c 'import duckdb' >/dev/null 2>&1; then
  echo "installing duckdb for Python (the tests' independent Parquet reader)" >&2
  python3 -m pip install --quiet 'duckdb>=1.1'
fi

if ! python3 -c 'import pyarrow' >/dev/null 2>&1; then
  echo "installing pyarrow (the tests' second independent Parquet reader)" >&2
  python3 -m pip install --quiet 'pyarrow>=17'
fi

# Locales with other currency scales than C's 2 (yen: 0, Kuwaiti dinar: 3), for the money
# round trip under several lc_monetary settings. Made as folders, not in the locale archive:
# a running PostgreSQL finds a new folder, but not an archive made after it started.
for loc in ja_JP ar_KW; do
  if [ ! -d "/usr/lib/locale/$loc.utf8" ]; then
    echo "making the $loc.UTF-8 locale (money tests)" >&2
    localedef -i "$loc" -f UTF-8 --no-archive "$loc.UTF-8" >/dev/null 2>&1 || true
  fi
done

if ! python3 -c 'import samtranslator, principalmapper' >/dev/null 2>&1; then
  echo "installing aws-sam-translator and principalmapper (the tests' strict IAM)" >&2
  python3 -m pip install --quiet 'aws-sam-translator==1.110.0' 'principalmapper==1.1.5'
fi
