#!/usr/bin/env bash
# A real export on a fresh machine: creates the sample database `snapex_demo` on the local
# PostgreSQL (a few tables, about 300,000 rows, several types, one table without a primary
# key), then exports it to ./lake with the release build of `snapex`.
#
#   scripts/demo.sh                 # export to ./lake
#   scripts/demo.sh s3://bucket/x   # or anywhere snapex can write
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

PG=${DEMO_PG:-postgres://postgres@127.0.0.1:5432}
DEST=${1:-./lake}

psql -q "$PG/postgres" -v ON_ERROR_STOP=1 <<'SQL'
SELECT 'CREATE DATABASE snapex_demo' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'snapex_demo')\gexec
SQL
PGOPTIONS="-c client_min_messages=warning" psql -q "$PG/snapex_demo" -v ON_ERROR_STOP=1 <<'SQL'
DROP SCHEMA IF EXISTS shop CASCADE;
CREATE SCHEMA shop;
CREATE TYPE shop.status AS ENUM ('new', 'paid', 'shipped', 'cancelled');
CREATE TABLE shop.customers (
    id         int8 PRIMARY KEY,
    name       text NOT NULL,
    email      text,
    country    char(2),
    created_at timestamptz NOT NULL
);
INSERT INTO shop.customers
SELECT g, 'Customer ' || g, CASE WHEN g % 10 <> 0 THEN 'c' || g || '@example.com' END,
       (ARRAY['DE','FR','US','JP','BR'])[1 + g % 5], timestamptz '2020-01-01' + g * interval '7 minutes'
  FROM generate_series(1, 50000) g;
CREATE TABLE shop.orders (
    id          int8 PRIMARY KEY,
    customer_id int8 NOT NULL REFERENCES shop.customers,
    status      shop.status NOT NULL,
    total       numeric(12,2) NOT NULL,
    items       text[] NOT NULL,
    placed_on   date NOT NULL,
    details     jsonb
);
INSERT INTO shop.orders
SELECT g, 1 + g % 50000, (enum_range(NULL::shop.status))[1 + g % 4], (g % 100000) / 100.0,
       ARRAY['sku-' || g % 97, 'sku-' || g % 13], date '2021-01-01' + g % 1000,
       jsonb_build_object('gift', g % 7 = 0, 'channel', (ARRAY['web','app','store'])[1 + g % 3])
  FROM generate_series(1, 250000) g;
-- No primary key: exported whole, as one piece.
CREATE TABLE shop.page_views (url text, viewed_at timestamp, ms int4);
INSERT INTO shop.page_views
SELECT '/p/' || g % 1000, timestamp '2024-01-01' + g * interval '1 second', g % 5000
  FROM generate_series(1, 20000) g;
ANALYZE;
SQL

cargo build --release -q -p snapex --bin snapex
BIN=${CARGO_TARGET_DIR:-target}/release/snapex
"$BIN" export --source "$PG/snapex_demo" --dest "$DEST" --include 'shop.*'
