//! Values the target types cannot hold, next to ordinary rows: each export still publishes, the
//! hostile value is NULL in the Parquet file, the manifest counts it under its documented lossy
//! rule for its column, and every other value is exact (design invariant 8).
//!
//! The manifest is read as plain JSON, with rules by their serialized names, so the file also
//! compiles against code that does not know the rules yet (how the tests were seen to fail).

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Date32Type, Int32Type, Int64Type, TimestampMicrosecondType};
use snapex::ExportConfig;
use snapex::pipeline::{Quiet, run_export};
use snapex_tests::{MyDb, TestDb, admin_url, cell, connect, read_table, temp_dir};

/// How often `rule` fired for `table.column`, as the manifest lists it; `None` if not listed.
fn fired(root: &Path, table: &str, column: &str, rule: &str) -> Option<u64> {
    let bytes = std::fs::read(root.join("manifest.json")).unwrap();
    let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let t = m["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == table)
        .unwrap_or_else(|| panic!("no table {table} in the manifest"));
    let c = t["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == column)
        .unwrap_or_else(|| panic!("no column {column} in {table}"));
    c["lossy"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rule"] == rule)
        .map(|l| l["count"].as_u64().unwrap())
}

/// Rows in order of the `id` column.
fn by_id(batch: RecordBatch) -> RecordBatch {
    let order =
        arrow::compute::sort_to_indices(batch.column_by_name("id").unwrap(), None, None).unwrap();
    arrow::compute::take_record_batch(&batch, &order).unwrap()
}

fn micros(batch: &RecordBatch, column: &str) -> Vec<Option<i64>> {
    let a = batch.column_by_name(column).unwrap();
    a.as_primitive::<TimestampMicrosecondType>()
        .iter()
        .collect()
}

async fn export(url: &str, tag: &str) -> (std::path::PathBuf, snapex::pipeline::ExportSummary) {
    let dest = temp_dir(tag);
    let mut cfg = ExportConfig::new(url, dest.to_str().unwrap()).unwrap();
    cfg.export_id = Some("e1".into());
    let summary = run_export(&cfg, Arc::new(Quiet))
        .await
        .unwrap_or_else(|e| panic!("the export failed: {e:#}"));
    (dest.join("e1"), summary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_timestamps_beyond_parquet_range_become_null_and_counted() {
    let db = TestDb::create("farts").await;
    db.exec(
        r#"
        CREATE TABLE far (
            id   int4 PRIMARY KEY,
            ts   timestamp,
            tstz timestamptz,
            a_ts timestamp[],
            d    date,
            iv   interval,
            note text
        );
        INSERT INTO far VALUES
          (1, '2024-05-06 07:08:09.123456', '2024-05-06 07:08:09.123456+00',
              '{"2024-01-01 00:00:00"}', '2024-05-06', '1 year 2 mons 3 days 00:00:01.5', 'plain'),
          (2, '294276-12-31 23:59:59.999999', '294276-12-31 23:59:59.999999+00',
              '{"294276-12-31 23:59:59.999999","1970-01-01 00:00:00"}', '5874897-12-31',
              '178000000 years 2147483647 days 2562047788:00:54.775807', 'PostgreSQL''s last'),
          (3, '294247-01-10 04:00:54.775807', '294247-01-10 04:00:54.775807+00', '{}',
              '4713-11-24 BC', '-178000000 years -2147483647 days -2562047788:00:54.775807',
              'Parquet''s last'),
          (4, '294247-01-10 04:00:54.775808', '4713-11-24 00:00:00+00 BC', NULL, NULL, NULL,
              'one past Parquet''s last');
        CREATE TABLE plain (id int4 PRIMARY KEY, s text);
        INSERT INTO plain VALUES (1, 'a'), (2, 'b');
        "#,
    )
    .await;
    let (root, summary) = export(&db.url, "farts").await;
    assert_eq!(summary.totals.rows, 6);

    let b = by_id(read_table(&root, "public", "far"));
    assert_eq!(
        micros(&b, "ts"),
        [Some(1_714_979_289_123_456), None, Some(i64::MAX), None]
    );
    assert_eq!(
        micros(&b, "tstz"),
        [
            Some(1_714_979_289_123_456),
            None,
            Some(i64::MAX),
            Some(-210_835_180_800_000_000)
        ]
    );
    let lists = b.column_by_name("a_ts").unwrap().as_list::<i32>();
    let list = |i: usize| -> Vec<Option<i64>> {
        lists
            .value(i)
            .as_primitive::<TimestampMicrosecondType>()
            .iter()
            .collect()
    };
    assert_eq!(list(0), [Some(1_704_067_200_000_000)]);
    assert_eq!(list(1), [None, Some(0)]);
    assert!(list(2).is_empty());
    assert!(lists.is_null(3));
    // PostgreSQL's date range fits Date32: its ends are exact, not lossy (the expected
    // numbers are PostgreSQL's own `date - '1970-01-01'`).
    let d: Vec<Option<i32>> = b
        .column_by_name("d")
        .unwrap()
        .as_primitive::<Date32Type>()
        .iter()
        .collect();
    assert_eq!(
        d,
        [Some(19_849), Some(2_145_042_905), Some(-2_440_222), None]
    );
    // Intervals keep PostgreSQL's three fields: even the extremes are exact.
    let iv = b.column_by_name("iv").unwrap().as_struct();
    let field = |n: usize| iv.column(n).clone();
    let months: Vec<i32> = field(0).as_primitive::<Int32Type>().values().to_vec();
    let days: Vec<i32> = field(1).as_primitive::<Int32Type>().values().to_vec();
    let us: Vec<i64> = field(2).as_primitive::<Int64Type>().values().to_vec();
    assert_eq!(&months[..3], [14, 2_136_000_000, -2_136_000_000]);
    assert_eq!(&days[..3], [3, i32::MAX, -i32::MAX]);
    assert_eq!(&us[..3], [1_500_000, i64::MAX, -i64::MAX]);
    assert!(iv.is_null(3));
    assert_eq!(
        (0..4).map(|i| cell(&b, "note", i)).collect::<Vec<_>>(),
        [
            "plain",
            "PostgreSQL's last",
            "Parquet's last",
            "one past Parquet's last"
        ]
    );
    let p = by_id(read_table(&root, "public", "plain"));
    assert_eq!(
        (0..2).map(|i| cell(&p, "s", i)).collect::<Vec<_>>(),
        ["a", "b"]
    );

    let rule = "out_of_range_to_null";
    assert_eq!(fired(&root, "far", "ts", rule), Some(2));
    assert_eq!(fired(&root, "far", "tstz", rule), Some(1));
    assert_eq!(fired(&root, "far", "a_ts", rule), Some(1));
    assert_eq!(fired(&root, "far", "d", rule), None);
    assert_eq!(fired(&root, "far", "ts", "infinite_to_null"), Some(0));
    assert_eq!(summary.lossy_values, 4);
}

/// A throwaway database in the `SQL_ASCII` encoding, which stores any bytes in text and sends
/// them unconverted.
async fn sql_ascii_db(tag: &str) -> TestDb {
    let db = TestDb::create(tag).await;
    let admin = connect(&admin_url()).await;
    let name = &db.name;
    for sql in [
        format!("DROP DATABASE {name}"),
        format!(
            "CREATE DATABASE {name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' \
             TEMPLATE template0"
        ),
    ] {
        admin.batch_execute(&sql).await.unwrap();
    }
    db
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_text_that_is_not_utf8_becomes_null_and_counted() {
    let db = sql_ascii_db("ascii").await;
    db.exec(
        r#"
        CREATE TYPE pair AS (x int4, y text);
        CREATE TABLE latin (
            id int4 PRIMARY KEY,
            s  text,
            v  varchar(20),
            j  jsonb,
            a  text[],
            p  pair
        );
        INSERT INTO latin VALUES
          (1, 'café ✓', 'plain', '{"k": "v"}', '{a,b}', ROW(1, 'x')),
          (2, E'caf\xe9', E'\xff\xfe', ('"caf' || E'\xe9' || '"')::jsonb,
              ARRAY[E'x\xff', 'ok'], ROW(2, E'\xe9')),
          (3, NULL, 'after', NULL, NULL, NULL);
        "#,
    )
    .await;
    let (root, summary) = export(&db.url, "ascii").await;
    assert_eq!(summary.totals.rows, 3);

    let b = by_id(read_table(&root, "public", "latin"));
    let col = |c: &str| (0..3).map(|i| cell(&b, c, i)).collect::<Vec<_>>();
    assert_eq!(col("s"), ["café ✓", "NULL", "NULL"]);
    assert_eq!(col("v"), ["plain", "NULL", "after"]);
    assert_eq!(col("j"), [r#"{"k": "v"}"#, "NULL", "NULL"]);
    assert_eq!(col("a"), ["[a, b]", "[NULL, ok]", "NULL"]);
    let a = b.column_by_name("a").unwrap().as_list::<i32>().value(1);
    assert!(a.is_null(0) && !a.is_null(1));
    // A composite is a struct: only its field that is not UTF-8 becomes NULL.
    assert_eq!(col("p"), ["{x: 1, y: x}", "{x: 2, y: NULL}", "NULL"]);

    let rule = "invalid_utf8_to_null";
    for c in ["s", "v", "j", "a", "p"] {
        assert_eq!(fired(&root, "latin", c, rule), Some(1), "column {c}");
    }
    assert_eq!(summary.lossy_values, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_edge_values_are_exact_or_null_and_counted() {
    let db = MyDb::create("edges").await;
    db.exec(
        "SET SESSION sql_mode = 'ALLOW_INVALID_DATES';
         CREATE TABLE edges (
             id   int PRIMARY KEY,
             t    time(6),
             d    date,
             dt   datetime(6),
             y    year,
             b64  bit(64),
             n38  decimal(38,0),
             note varchar(20)
         ) CHARACTER SET utf8mb4;
         INSERT INTO edges VALUES
           (1, '-838:59:59.000000', '0000-01-01', '9999-12-31 23:59:59.999999', 1901,
               b'1111111111111111111111111111111111111111111111111111111111111111',
               99999999999999999999999999999999999999, 'first'),
           (2, '838:59:59.000000', '2024-02-30', '2024-00-15 10:00:00', 2155, b'0',
               -99999999999999999999999999999999999999, 'second'),
           (3, '00:00:00', '0000-00-00', '0000-00-00 00:00:00', 0, NULL, 0, 'third');",
    )
    .await;
    let (root, summary) = export(&db.url, "edges").await;
    assert_eq!(summary.totals.rows, 3);

    let b = by_id(read_table(&root, &db.name, "edges"));
    let col = |c: &str| (0..3).map(|i| cell(&b, c, i)).collect::<Vec<_>>();
    assert_eq!(
        col("t"),
        ["-838:59:59.000000", "838:59:59.000000", "00:00:00.000000"]
    );
    assert_eq!(col("d"), ["0000-01-01", "NULL", "NULL"]);
    assert_eq!(col("dt"), ["9999-12-31T23:59:59.999999", "NULL", "NULL"]);
    assert_eq!(col("y"), ["1901", "2155", "0"]);
    assert_eq!(col("b64"), ["18446744073709551615", "0", "NULL"]);
    assert_eq!(
        col("n38"),
        [
            "99999999999999999999999999999999999999",
            "-99999999999999999999999999999999999999",
            "0"
        ]
    );
    assert_eq!(col("note"), ["first", "second", "third"]);
    assert_eq!(fired(&root, "edges", "d", "zero_date_to_null"), Some(2));
    assert_eq!(fired(&root, "edges", "dt", "zero_date_to_null"), Some(2));
    assert_eq!(summary.lossy_values, 4);
}

/// A table partitioned by a time column holding values beyond Parquet's range, or outside the
/// years 1 to 9999 that partitions are named for: the export publishes, those rows go to the
/// NULL partition, as `infinity` does (a timestamp beyond Parquet's range written as NULL, any
/// other value exact), and the other rows to their own years.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_time_partitions_put_far_values_with_the_nulls() {
    let db = TestDb::create("farpart").await;
    db.exec(
        r#"
        CREATE TABLE ev (id int4 PRIMARY KEY, ts timestamp, d date);
        INSERT INTO ev VALUES
          (1, '2024-05-06 07:08:09', '2024-05-06'),
          (2, '294276-12-31 23:59:59.999999', '5874897-12-31'),
          (3, 'infinity', 'infinity'),
          (4, '2025-01-01 00:00:00', '2025-01-01'),
          (5, '9999-12-31 23:59:59.999999', '9999-12-31'),
          (6, '10000-01-01 00:00:00', '10000-01-01'),
          (7, '0001-01-01 00:00:00', '0001-01-01'),
          (8, '0001-12-31 23:59:59 BC', '0001-12-31 BC');
        CREATE TABLE ev_d (id int4 PRIMARY KEY, d date);
        INSERT INTO ev_d SELECT id, d FROM ev;
        "#,
    )
    .await;
    let dest = temp_dir("farpart");
    let mut cfg = ExportConfig::new(&db.url, dest.to_str().unwrap()).unwrap();
    cfg.export_id = Some("e1".into());
    cfg.partition_rules = ["ev=ts:year", "ev_d=d:year"]
        .iter()
        .map(|r| snapex::partitioning::PartitionRule::parse(r).unwrap())
        .collect();
    let summary = run_export(&cfg, Arc::new(Quiet))
        .await
        .unwrap_or_else(|e| panic!("the export failed: {e:#}"));
    assert_eq!(summary.totals.rows, 16);
    let root = dest.join("e1");
    for (table, col) in [("ev", "ts"), ("ev_d", "d")] {
        let dir = root.join("public").join(table);
        let mut folders: Vec<String> = snapex_tests::files_under(&dir)
            .iter()
            .map(|f| {
                let folder = f.parent().unwrap().file_name().unwrap();
                folder.to_str().unwrap().to_string()
            })
            .collect();
        folders.sort();
        folders.dedup();
        assert_eq!(
            folders,
            [
                // The first and last years a partition is named for: four digits.
                format!("{col}_year=0001"),
                format!("{col}_year=2024"),
                format!("{col}_year=2025"),
                format!("{col}_year=9999"),
                format!("{col}_year=__HIVE_DEFAULT_PARTITION__"),
            ],
            "{table}"
        );
        let nulls = snapex_tests::read_parquet_dir(
            &dir.join(format!("{col}_year=__HIVE_DEFAULT_PARTITION__")),
        );
        let nulls = by_id(arrow::compute::concat_batches(&nulls[0].schema(), &nulls).unwrap());
        let ids: Vec<String> = (0..nulls.num_rows())
            .map(|i| cell(&nulls, "id", i))
            .collect();
        assert_eq!(ids, ["2", "3", "6", "8"], "{table}");
        // Beyond Parquet's range: NULL (counted); infinity: NULL; years 10000 and 1 BC, which
        // name no partition: exact (the numbers are PostgreSQL's own epoch arithmetic).
        if col == "ts" {
            assert_eq!(
                micros(&nulls, "ts"),
                [
                    None,
                    None,
                    Some(253_402_300_800_000_000),
                    Some(-62_135_596_801_000_000)
                ]
            );
        } else {
            let d: Vec<Option<i32>> = nulls
                .column_by_name("d")
                .unwrap()
                .as_primitive::<Date32Type>()
                .iter()
                .collect();
            assert_eq!(
                d,
                [Some(2_145_042_905), None, Some(2_932_897), Some(-719_163)]
            );
        }
    }
    assert_eq!(fired(&root, "ev", "ts", "out_of_range_to_null"), Some(1));
    assert_eq!(fired(&root, "ev", "d", "out_of_range_to_null"), None);
}

/// A table of a `SQL_ASCII` database partitioned by the values of a text column holding bytes
/// that are not UTF-8: the export publishes, those rows go to the NULL partition with the value
/// NULL (counted), and every other value to its own partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_value_partitions_put_text_that_is_not_utf8_with_the_nulls() {
    let db = sql_ascii_db("asciipart").await;
    db.exec(
        r#"
        CREATE TABLE shops (id int4 PRIMARY KEY, region text);
        INSERT INTO shops VALUES
          (1, 'north'), (2, E'caf\xe9'), (3, NULL), (4, 'café'), (5, E'\xed\xa0\x80'), (6, 'north');
        "#,
    )
    .await;
    let dest = temp_dir("asciipart");
    let mut cfg = ExportConfig::new(&db.url, dest.to_str().unwrap()).unwrap();
    cfg.export_id = Some("e1".into());
    cfg.partition_rules =
        vec![snapex::partitioning::PartitionRule::parse("shops=region:value").unwrap()];
    let summary = run_export(&cfg, Arc::new(Quiet))
        .await
        .unwrap_or_else(|e| panic!("the export failed: {e:#}"));
    assert_eq!(summary.totals.rows, 6);
    let root = dest.join("e1");
    let dir = root.join("public").join("shops");
    let ids_in = |folder: &str| -> Vec<String> {
        let batches = snapex_tests::read_parquet_dir(&dir.join(folder));
        let b = by_id(arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap());
        (0..b.num_rows())
            .map(|i| format!("{}:{}", cell(&b, "id", i), cell(&b, "region", i)))
            .collect()
    };
    assert_eq!(ids_in("region_value=north"), ["1:north", "6:north"]);
    assert_eq!(ids_in("region_value=caf%C3%A9"), ["4:café"]);
    assert_eq!(
        ids_in("region_value=__HIVE_DEFAULT_PARTITION__"),
        ["2:NULL", "3:NULL", "5:NULL"]
    );
    assert_eq!(
        fired(&root, "shops", "region", "invalid_utf8_to_null"),
        Some(2)
    );
}
