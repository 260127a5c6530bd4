-- The long-tail acceptance corpus for PostgreSQL (see tests/corpus/README.md).
-- Run it in an empty database:  psql -v ON_ERROR_STOP=1 -d <db> -f tests/corpus/postgres.sql
-- Plain SQL and DO blocks, each statement in its own transaction as psql runs them (the DO block
-- that creates thousands of tables commits as it goes, so it must not run inside a transaction
-- block; tests/tests/corpus.rs sends the statements one by one). Every value is computed from generate_series: the same script gives the same data.

SET client_min_messages = warning;

-- 1. Keys ----------------------------------------------------------------------------------

-- 99% of the rows in the first 1% of the key span, then gaps of a billion; negative keys too.
CREATE TABLE skewed (id int8 PRIMARY KEY, v int4 NOT NULL, note text);
INSERT INTO skewed
SELECT CASE WHEN g <= 19800 THEN g ELSE (g - 19800)::int8 * 1000000000 END,
       g % 1000,
       CASE WHEN g % 7 = 0 THEN NULL ELSE repeat(chr(97 + g % 26), g % 40) END
  FROM generate_series(1, 20000) g;
INSERT INTO skewed VALUES (-9223372036854775808, -1, 'min'), (9223372036854775807, 1, 'max');

-- Keys that are not a single integer: read by heap block ranges (ctid).
CREATE TABLE composite_key (region text, day date, seq int4, amount numeric(12, 3), flag boolean,
                            PRIMARY KEY (region, day, seq));
INSERT INTO composite_key
SELECT 'r' || (g % 13), DATE '2020-01-01' + (g % 400), g, (g * 7.125)::numeric(12, 3) - 5000,
       CASE WHEN g % 5 = 0 THEN NULL ELSE g % 2 = 0 END
  FROM generate_series(1, 6000) g;

CREATE TABLE text_key (code text PRIMARY KEY, qty int2);
INSERT INTO text_key SELECT md5(g::text), (g % 30000)::int2 FROM generate_series(1, 3000) g;

CREATE TABLE uuid_key (id uuid PRIMARY KEY, created timestamptz, payload jsonb, raw json);
INSERT INTO uuid_key
SELECT md5('u' || g)::uuid, TIMESTAMPTZ '2021-03-04 05:06:07.123456+00' + g * INTERVAL '37 minutes 1.5 seconds',
       jsonb_build_object('g', g, 'tags', jsonb_build_array('a', g % 3)),
       ('{"b":  ' || g || ', "a": [1, 2]}')::json
  FROM generate_series(1, 3000) g;

CREATE TABLE date_key (day date PRIMARY KEY, local_time timestamp, blob bytea);
INSERT INTO date_key
SELECT DATE '1900-01-01' + g * 11, TIMESTAMP '1969-12-31 23:59:59.999999' + g * INTERVAL '1 day 1 microsecond',
       decode(md5(g::text), 'hex')
  FROM generate_series(1, 3000) g;

-- No primary key at all, with duplicate rows: every copy must be exported once.
CREATE TABLE no_pk (a int4, b text);
INSERT INTO no_pk SELECT g % 100, 'dup ' || (g % 100) FROM generate_series(1, 8000) g;

-- Declarative partitioning: one logical table, its leaves read as pieces; one leaf is itself
-- partitioned, one is the default partition.
CREATE TABLE measurements (id int8, at date NOT NULL, city text, reading int4) PARTITION BY RANGE (at);
CREATE TABLE measurements_2022 PARTITION OF measurements FOR VALUES FROM ('2022-01-01') TO ('2023-01-01');
CREATE TABLE measurements_2023 PARTITION OF measurements FOR VALUES FROM ('2023-01-01') TO ('2024-01-01')
  PARTITION BY LIST (city);
CREATE TABLE measurements_2023_north PARTITION OF measurements_2023 FOR VALUES IN ('oslo', 'tromso');
CREATE TABLE measurements_2023_rest PARTITION OF measurements_2023 DEFAULT;
CREATE TABLE measurements_other PARTITION OF measurements DEFAULT;
-- A leaf attached with its columns in another order.
CREATE TABLE measurements_2021 (reading int4, city text, at date NOT NULL, id int8);
ALTER TABLE measurements ATTACH PARTITION measurements_2021 FOR VALUES FROM ('2021-01-01') TO ('2022-01-01');
INSERT INTO measurements
SELECT g, DATE '2020-06-01' + (g % 1400), (ARRAY['oslo', 'lima', 'tromso', 'pune'])[1 + g % 4], g % 50
  FROM generate_series(1, 6000) g;

-- Inheritance: the parent's own rows with ONLY, each child a table of its own, two levels.
CREATE TABLE animals (id int8 PRIMARY KEY, name text NOT NULL);
CREATE TABLE dogs (id int8 PRIMARY KEY, bark text) INHERITS (animals);
CREATE TABLE puppies (id int8 PRIMARY KEY, age_weeks int2) INHERITS (dogs);
CREATE TABLE cats (id int8 PRIMARY KEY) INHERITS (animals);
INSERT INTO animals SELECT g, 'animal ' || g FROM generate_series(1, 3000) g;
INSERT INTO dogs SELECT g, 'dog ' || g, repeat('wo', g % 5) FROM generate_series(1, 2000) g;
INSERT INTO puppies SELECT g, 'pup ' || g, 'yip', (g % 20)::int2 FROM generate_series(1, 1000) g;
INSERT INTO cats SELECT g, 'cat ' || g FROM generate_series(5000, 6500) g;
-- An inheritance parent without a key (read by block ranges) and its child.
CREATE TABLE events (at timestamptz NOT NULL, msg text);
CREATE TABLE events_archive (archived boolean) INHERITS (events);
INSERT INTO events SELECT TIMESTAMPTZ '2024-01-01 00:00:00+00' + g * INTERVAL '1 second', 'live ' || g
  FROM generate_series(1, 6000) g;
INSERT INTO events_archive SELECT TIMESTAMPTZ '2010-01-01 00:00:00+00' + g * INTERVAL '1 minute', 'old ' || g, g % 3 = 0
  FROM generate_series(1, 6000) g;

-- Views, materialized views, unlogged tables, foreign tables.
CREATE VIEW skewed_small AS SELECT id, v FROM skewed WHERE id < 100;
CREATE MATERIALIZED VIEW skewed_summary AS SELECT v % 10 AS bucket, count(*) AS n FROM skewed GROUP BY 1;
CREATE MATERIALIZED VIEW never_refreshed AS SELECT id FROM skewed WITH NO DATA;
CREATE UNLOGGED TABLE scratch (id int4 PRIMARY KEY, note text);
INSERT INTO scratch SELECT g, 'scratch ' || g FROM generate_series(1, 500) g;
-- Foreign tables through file_fdw, if the server has it (reading /dev/null would give no rows;
-- the export never reads them anyway). One is a partition of a partitioned table.
CREATE TABLE readings (id int4, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE readings_local PARTITION OF readings FOR VALUES FROM ('2000-01-01') TO ('2030-01-01');
INSERT INTO readings SELECT g, DATE '2000-01-01' + g FROM generate_series(1, 400) g;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'file_fdw') THEN
    CREATE EXTENSION IF NOT EXISTS file_fdw;
    CREATE SERVER corpus_files FOREIGN DATA WRAPPER file_fdw;
    CREATE FOREIGN TABLE remote_prices (sku text, price numeric) SERVER corpus_files
      OPTIONS (filename '/dev/null', format 'csv');
    CREATE FOREIGN TABLE readings_remote PARTITION OF readings FOR VALUES FROM ('2030-01-01') TO ('2040-01-01')
      SERVER corpus_files OPTIONS (filename '/dev/null', format 'csv');
  END IF;
END $$;

-- 2. Width: PostgreSQL's limit of 1,600 columns. ---------------------------------------------

DO $$
DECLARE
  cols text;
  vals text;
BEGIN
  SELECT string_agg(format('c%s %s', i, CASE WHEN i % 10 = 0 THEN 'text' WHEN i % 3 = 0 THEN 'int2' ELSE 'int4' END), ', '),
         string_agg(CASE WHEN i % 10 = 0 THEN format('CASE WHEN (g + %s) %% 11 = 0 THEN NULL ELSE ''v'' || (g * %s) END', i, i)
                         WHEN i % 3 = 0 THEN format('((g * %s) %% 30000)::int2', i)
                         ELSE format('CASE WHEN (g + %s) %% 13 = 0 THEN NULL ELSE g * %s END', i, i) END, ', ')
    INTO cols, vals
    FROM generate_series(1, 1599) i;
  EXECUTE format('CREATE TABLE wide_1600 (id int8 PRIMARY KEY, %s)', cols);
  EXECUTE format('INSERT INTO wide_1600 SELECT g, %s FROM generate_series(1, 200) g', vals);
END $$;

-- 3. Many small tables. ---------------------------------------------------------------------

CREATE SCHEMA many;
DO $$
BEGIN
  FOR i IN 1..2000 LOOP
    EXECUTE format('CREATE TABLE many.t%s (id int4 PRIMARY KEY, v text)', lpad(i::text, 4, '0'));
    EXECUTE format('INSERT INTO many.t%s SELECT g, %L || g FROM generate_series(1, %s) g',
                   lpad(i::text, 4, '0'), 'row of ' || i || ': ', i % 4);
    -- A transaction locks every table it creates: commit now and then, or the server's lock
    -- table (max_locks_per_transaction) runs out.
    IF i % 100 = 0 THEN
      COMMIT;
    END IF;
  END LOOP;
END $$;

-- 4. Identifiers. ---------------------------------------------------------------------------

-- The injection target: it must still hold its three rows after the export.
CREATE TABLE y (id int4 PRIMARY KEY);
INSERT INTO y VALUES (1), (2), (3);
CREATE TABLE "x""; DROP TABLE y; --" ("a""); DROP TABLE y; --" int4, "'; DROP TABLE y; --" text);
INSERT INTO "x""; DROP TABLE y; --" VALUES (1, 'one'), (2, 'two''s'), (NULL, NULL);
CREATE SCHEMA "s""; DROP TABLE y; --";
CREATE TABLE "s""; DROP TABLE y; --".t (id int4);
INSERT INTO "s""; DROP TABLE y; --".t VALUES (42);

-- Names differing only in case: tables and columns (README's ID, id, Id, id_2 example).
CREATE TABLE "MixedCase" ("ID" int4, "id" int4, "Id" text, "id_2" int8, "Order Date" date);
INSERT INTO "MixedCase" SELECT g, -g, 'Id ' || g, g::int8 * 1000000000, DATE '2000-02-29' + g FROM generate_series(1, 300) g;
CREATE TABLE mixedcase (id int4 PRIMARY KEY);
INSERT INTO mixedcase SELECT generate_series(1, 10);
CREATE TABLE "MIXEDCASE" (v text);
INSERT INTO "MIXEDCASE" VALUES ('upper');

-- Unicode, spaces, dots, quotes, reserved words.
CREATE SCHEMA "Ventes été";
CREATE TABLE "Ventes été"."Ünïcödé 表 😀" ("naïve café" text, "価格" numeric(10, 2), "😀" int4);
INSERT INTO "Ventes été"."Ünïcödé 表 😀" SELECT 'crème brûlée ' || g, g * 1.25, g FROM generate_series(1, 200) g;
CREATE SCHEMA "sch.ema";
CREATE TABLE "sch.ema"."a.b c" ("x.y" int4, "two words" text, " leading space" text, "trailing space " text);
INSERT INTO "sch.ema"."a.b c" SELECT g, 'w ' || g, ' l', 't ' FROM generate_series(1, 50) g;
CREATE TABLE "it's ""quoted""" ("""" text, "'" text, "`back`" text);
INSERT INTO "it's ""quoted""" VALUES ('dq', 'sq', 'bt'), ('"', '''', '`');
CREATE TABLE "select" ("from" int4, "where" text, "order" date, "group" boolean, "table" int8);
INSERT INTO "select" SELECT g, 'w' || g, DATE '2024-02-28' + g, g % 2 = 0, -g FROM generate_series(1, 100) g;
CREATE TABLE "user" ("limit" int4 PRIMARY KEY, "null" text);
INSERT INTO "user" VALUES (1, NULL), (2, 'NULL'), (3, '');

-- The longest names: 63 bytes, ASCII and two-byte characters (31 x 'é' + 'x' = 63 bytes).
CREATE TABLE "t23456789_123456789_123456789_123456789_123456789_123456789_123" (
  "c23456789_123456789_123456789_123456789_123456789_123456789_123" int4,
  "C23456789_123456789_123456789_123456789_123456789_123456789_123" int4);
INSERT INTO "t23456789_123456789_123456789_123456789_123456789_123456789_123" SELECT g, -g FROM generate_series(1, 20) g;
CREATE TABLE "éééééééééééééééééééééééééééééééx" ("ééééééééééééééééééééééééééééééé" text);
INSERT INTO "éééééééééééééééééééééééééééééééx" VALUES ('long'), ('names');

-- 5. Hundreds of ADD COLUMN, some later dropped (dropped attributes stay as holes). ----------

CREATE TABLE evolving (id int8 PRIMARY KEY, base text);
INSERT INTO evolving SELECT g, 'base ' || g FROM generate_series(1, 200) g;
DO $$
BEGIN
  FOR i IN 1..300 LOOP
    EXECUTE format('ALTER TABLE evolving ADD COLUMN a%s %s %s', i,
                   CASE i % 4 WHEN 0 THEN 'int4' WHEN 1 THEN 'text' WHEN 2 THEN 'date' ELSE 'numeric(9,2)' END,
                   CASE WHEN i % 5 = 0 THEN
                     'DEFAULT ' || CASE i % 4 WHEN 0 THEN i::text WHEN 1 THEN quote_literal('d' || i)
                                              WHEN 2 THEN quote_literal(DATE '2000-01-01' + i) ELSE (i / 4.0)::text END
                   ELSE '' END);
    IF i % 50 = 0 THEN
      -- More rows between the changes: older rows have no value stored for newer columns.
      EXECUTE format('INSERT INTO evolving (id, base, a%s) SELECT g, %L, %s FROM generate_series(%s, %s) g',
                     i - 1, 'after ' || i,
                     CASE (i - 1) % 4 WHEN 0 THEN 'g::int4' WHEN 1 THEN '''v'' || g' WHEN 2 THEN 'DATE ''2001-01-01'' + g::int4'
                                      ELSE '(g / 8.0)::numeric(9,2)' END,
                     1000 * i, 1000 * i + 99);
    END IF;
  END LOOP;
  FOR i IN 1..300 LOOP
    IF i % 7 = 0 OR i % 50 = 1 THEN
      EXECUTE format('ALTER TABLE evolving DROP COLUMN a%s', i);
    END IF;
  END LOOP;
END $$;
UPDATE evolving SET a2 = DATE '2020-01-01' + id::int4 WHERE id % 3 = 0;

ANALYZE;
