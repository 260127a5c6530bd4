//! The export read by an independent Parquet reader (DuckDB, through Python), compared with
//! the same aggregates computed by PostgreSQL on the source.

use std::sync::Arc;

use snapex::ExportConfig;
use snapex::pipeline::{Quiet, run_export};
use snapex_tests::{TestDb, duckdb, temp_dir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_reads_what_postgres_holds() {
    let db = TestDb::create("duckdb").await;
    db.exec(
        "CREATE TABLE m (
            id int8 PRIMARY KEY, small int2, amount numeric(38,10), price numeric(12,2), f float8,
            name text, at_utc timestamptz, wall timestamp, d date, tags int4[], flag boolean, raw bytea,
            span interval);
         INSERT INTO m SELECT g, (g % 32000)::int2 - 16000,
            (g * 1234567.0123456789)::numeric(38,10) - 99999999999, (g % 100000) / 100.0, g / 7.0,
            CASE WHEN g % 11 = 0 THEN NULL ELSE 'name ' || g END,
            timestamptz '1965-03-01 00:00:00+00' + g * interval '37 minutes 1.000001 seconds',
            timestamp '2101-01-01' - g * interval '1 hour', date '1901-01-01' + (g % 80000),
            CASE WHEN g % 5 = 0 THEN '{}'::int4[] ELSE ARRAY[g::int4, -g::int4, NULL] END,
            g % 3 = 0, decode(md5(g::text), 'hex'), make_interval(months => g % 13, days => g % 29, secs => g % 61)
         FROM generate_series(1, 30000) g;",
    )
    .await;
    let dest = temp_dir("duckdb");
    let mut cfg = ExportConfig::new(&db.url, dest.to_str().unwrap()).unwrap();
    cfg.export_id = Some("e".into());
    cfg.plan.target_file_bytes = 1024 * 1024;
    cfg.plan.source_bytes_per_file_byte = 0.5;
    run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    let files = dest.join("e/public/m/*.parquet");
    assert!(
        std::fs::read_dir(dest.join("e/public/m")).unwrap().count() >= 2,
        "several files"
    );

    // The same aggregates, phrased for each engine, rendered as text.
    let pg = db
        .client()
        .await
        .query_one(
            "SELECT count(*)::text, sum(small)::text, sum(amount)::text, sum(price)::text,
                    count(name)::text, sum(length(name))::text,
                    (extract(epoch FROM max(at_utc)) * 1000000)::int8::text,
                    (extract(epoch FROM min(wall)) * 1000000)::int8::text,
                    sum(d - date '1970-01-01')::text,
                    sum(cardinality(tags))::text, sum((SELECT count(*) FROM unnest(tags) x WHERE x IS NULL))::text,
                    sum(tags[2])::text, count(*) FILTER (WHERE flag)::text,
                    sum(get_byte(raw, 0))::text,
                    sum(extract(year FROM span) * 12 + extract(month FROM span))::int8::text,
                    sum(extract(day FROM span))::int8::text
               FROM m",
            &[],
        )
        .await
        .unwrap();
    let pg: Vec<Option<String>> = (0..pg.len()).map(|i| pg.get(i)).collect();
    let duck = duckdb(&format!(
        "SELECT count(*), sum(small), sum(amount), sum(price), count(name), sum(length(name)),
                epoch_us(max(at_utc)), epoch_us(min(wall)), sum(d - DATE '1970-01-01'),
                sum(len(tags)), sum(len(tags) - coalesce(list_aggregate(tags, 'count'), 0)), sum(tags[2]),
                count(*) FILTER (WHERE flag), sum(('0x' || substr(hex(raw), 1, 2))::INTEGER),
                sum(span.months), sum(span.days)
           FROM read_parquet('{}')",
        files.display()
    ));
    assert_eq!(
        duck, pg,
        "DuckDB's view of the Parquet files differs from PostgreSQL's view of the source"
    );
}
