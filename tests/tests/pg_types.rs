//! Every PostgreSQL type in the type map, exported and read back from the Parquet files.
//! Expected values are written out by hand: they are what PostgreSQL holds, in Arrow's own
//! display form, or what docs/types.md's lossy rules say.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, TimeUnit};
use snapex::ExportConfig;
use snapex::model::LossyRule;
use snapex::pipeline::{Quiet, run_export};
use snapex_tests::{TestDb, cell, read_manifest, read_table, temp_dir};

const SCHEMA: &str = r#"
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
CREATE DOMAIN price AS numeric(10,2);
CREATE TABLE all_types (
    id       int4 PRIMARY KEY,
    i2       int2,
    i4       int4,
    i8       int8,
    n38      numeric(38,10),
    n_small  numeric(5,2),
    n_free   numeric,
    n_big    numeric(50,5),
    r        real,
    d        double precision,
    t        text,
    vc       varchar(20),
    c        char(5),
    nm       name,
    b        bytea,
    bo       boolean,
    dt       date,
    ts       timestamp,
    tstz     timestamptz,
    tm       time,
    tmtz     timetz,
    iv       interval,
    u        uuid,
    j        json,
    jb       jsonb,
    e        mood,
    dom      posint,
    dom_num  price,
    a_int    int4[],
    a_text   text[],
    a_num    numeric(10,2)[],
    a_inet   inet[],
    a_mood   mood[],
    ip       inet,
    o        oid,
    bits     bit(4),
    rng      int4range,
    "Odd ""Name"" ü" text
);
INSERT INTO all_types VALUES
(1, -32768, -2147483648, -9223372036854775808,
 '-9999999999999999999999999999.9999999999', -999.99, 'NaN',
 '-123456789012345678901234567890123456789012345.12345',
 '-Infinity', 'NaN', '', '', 'ab', 'x', '\x00ff', false,
 '0001-01-01', '1900-01-01 00:00:00.000001', '1960-06-15 12:00:00+05', '00:00:00', '23:59:59.999999+14',
 '-1 years -2 days -00:00:00.000001', '00000000-0000-0000-0000-000000000000', '[]', '{}', 'sad', 1, -0.01,
 '{}', '{"",NULL,"x,y"}', '{1.50,NULL}', '{10.0.0.1,::1}', '{sad,happy}',
 '10.0.0.0/8', 4294967295, B'1010', '[1,10)', 'ünï😀'),
(2, 32767, 2147483647, 9223372036854775807,
 '9999999999999999999999999999.9999999999', 999.99, '123.456000',
 '99999999999999999999999999999999999999999999.99999',
 3.25, 1.5e300, 'tab	and "quotes"', 'twenty chars exactly', 'abcde', 'name', '\x', true,
 '2999-12-31', '2200-12-31 23:59:59.999999', '2150-01-01 00:00:00+00', '23:59:59.999999', '12:00:00-03:30',
 '1 year 2 mons 3 days 04:05:06.000007', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2]}', '{"b": {"c": null}, "a": 1}', 'happy', 2147483647, 99999999.99,
 '{{1,2},{3,4}}', '{}', '{}', '{}', '{}',
 '::1', 0, B'0000', 'empty', ''),
(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
(4, 0, 0, 0, 0, 'NaN', '0', 0, 0, 'Infinity', 'x', 'y', '', '', '\xdeadbeef', true,
 'infinity', '-infinity', 'infinity', '12:34:56', '00:00:00+00',
 '0', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'null', '[1, "two", 3.5]', 'ok', 42, 0,
 '[0:1]={7,8}', '{NULL}', '{-1.25}', '{NULL}', '{ok}',
 '192.168.0.1', 42, B'1111', '(,5]', '😀');
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_round_trips_or_follows_its_documented_rule() {
    let db = TestDb::create("types").await;
    db.exec(SCHEMA).await;
    let dest = temp_dir("types");
    let mut cfg = ExportConfig::new(&db.url, dest.to_str().unwrap()).unwrap();
    cfg.export_id = Some("e1".into());
    let summary = run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    assert_eq!(summary.totals.rows, 4);

    let root = dest.join("e1");
    let batch = read_table(&root, "public", "all_types");
    // Row order inside a file is not promised; put rows in id order.
    let order =
        arrow::compute::sort_to_indices(batch.column_by_name("id").unwrap(), None, None).unwrap();
    let batch = arrow::compute::take_record_batch(&batch, &order).unwrap();
    assert_eq!(batch.num_rows(), 4);

    let expected: &[(&str, [&str; 4])] = &[
        ("id", ["1", "2", "3", "4"]),
        ("i2", ["-32768", "32767", "NULL", "0"]),
        ("i4", ["-2147483648", "2147483647", "NULL", "0"]),
        (
            "i8",
            ["-9223372036854775808", "9223372036854775807", "NULL", "0"],
        ),
        (
            "n38",
            [
                "-9999999999999999999999999999.9999999999",
                "9999999999999999999999999999.9999999999",
                "NULL",
                "0.0000000000",
            ],
        ),
        // NaN has no Decimal128 form: NULL, counted in the manifest.
        ("n_small", ["-999.99", "999.99", "NULL", "NULL"]),
        // Unconstrained and wider than 38 digits: PostgreSQL's exact text.
        ("n_free", ["NaN", "123.456000", "NULL", "0"]),
        (
            "n_big",
            [
                "-123456789012345678901234567890123456789012345.12345",
                "99999999999999999999999999999999999999999999.99999",
                "NULL",
                "0.00000",
            ],
        ),
        ("r", ["-inf", "3.25", "NULL", "0.0"]),
        ("d", ["NaN", "1.5e300", "NULL", "inf"]),
        ("t", ["", "tab\tand \"quotes\"", "NULL", "x"]),
        ("vc", ["", "twenty chars exactly", "NULL", "y"]),
        ("c", ["ab   ", "abcde", "NULL", "     "]),
        ("nm", ["x", "name", "NULL", ""]),
        ("b", ["00ff", "", "NULL", "deadbeef"]),
        ("bo", ["false", "true", "NULL", "true"]),
        // Infinite dates and timestamps: NULL, counted.
        ("dt", ["0001-01-01", "2999-12-31", "NULL", "NULL"]),
        (
            "ts",
            [
                "1900-01-01T00:00:00.000001",
                "2200-12-31T23:59:59.999999",
                "NULL",
                "NULL",
            ],
        ),
        (
            "tstz",
            [
                "1960-06-15T07:00:00Z",
                "2150-01-01T00:00:00Z",
                "NULL",
                "NULL",
            ],
        ),
        ("tm", ["00:00:00", "23:59:59.999999", "NULL", "12:34:56"]),
        (
            "tmtz",
            [
                "23:59:59.999999+14",
                "12:00:00-03:30",
                "NULL",
                "00:00:00+00",
            ],
        ),
        (
            "iv",
            [
                "{months: -12, days: -2, microseconds: -1}",
                "{months: 14, days: 3, microseconds: 14706000007}",
                "NULL",
                "{months: 0, days: 0, microseconds: 0}",
            ],
        ),
        (
            "u",
            [
                "00000000-0000-0000-0000-000000000000",
                "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                "NULL",
                "ffffffff-ffff-ffff-ffff-ffffffffffff",
            ],
        ),
        ("j", ["[]", "{\"a\": [1, 2]}", "NULL", "null"]),
        (
            "jb",
            [
                "{}",
                "{\"a\": 1, \"b\": {\"c\": null}}",
                "NULL",
                "[1, \"two\", 3.5]",
            ],
        ),
        ("e", ["sad", "happy", "NULL", "ok"]),
        ("dom", ["1", "2147483647", "NULL", "42"]),
        ("dom_num", ["-0.01", "99999999.99", "NULL", "0.00"]),
        // A 2-D array is flattened; a lower bound other than 1 is dropped. Both counted.
        ("a_int", ["[]", "[1, 2, 3, 4]", "NULL", "[7, 8]"]),
        ("a_text", ["[, NULL, x,y]", "[]", "NULL", "[NULL]"]),
        ("a_num", ["[1.50, NULL]", "[]", "NULL", "[-1.25]"]),
        // inet/cidr go through PostgreSQL's text(inet) cast, which always shows the netmask.
        ("a_inet", ["[10.0.0.1/32, ::1/128]", "[]", "NULL", "[NULL]"]),
        ("a_mood", ["[sad, happy]", "[]", "NULL", "[ok]"]),
        ("ip", ["10.0.0.0/8", "::1/128", "NULL", "192.168.0.1/32"]),
        ("o", ["4294967295", "0", "NULL", "42"]),
        ("bits", ["1010", "0000", "NULL", "1111"]),
        ("rng", ["[1,10)", "empty", "NULL", "(,6)"]),
        ("Odd \"Name\" ü", ["ünï😀", "", "NULL", "😀"]),
    ];
    for (column, values) in expected {
        for (row, want) in values.iter().enumerate() {
            assert_eq!(
                cell(&batch, column, row),
                *want,
                "column {column}, id {}",
                row + 1
            );
        }
    }
    assert_eq!(
        batch.num_columns(),
        expected.len(),
        "every column is checked"
    );

    let schema = batch.schema();
    let types: BTreeMap<&str, &DataType> = schema
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.data_type()))
        .collect();
    assert_eq!(*types["i2"], DataType::Int16);
    assert_eq!(*types["i8"], DataType::Int64);
    assert_eq!(*types["n38"], DataType::Decimal128(38, 10));
    assert_eq!(*types["dom_num"], DataType::Decimal128(10, 2));
    assert_eq!(*types["n_free"], DataType::Utf8);
    assert_eq!(*types["n_big"], DataType::Utf8);
    assert_eq!(*types["r"], DataType::Float32);
    assert_eq!(*types["dt"], DataType::Date32);
    assert_eq!(
        *types["ts"],
        DataType::Timestamp(TimeUnit::Microsecond, None)
    );
    assert_eq!(
        *types["tstz"],
        DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
    );
    assert_eq!(*types["b"], DataType::Binary);
    assert_eq!(*types["o"], DataType::Int64);
    assert!(
        matches!(&types["a_num"], DataType::List(f) if f.data_type() == &DataType::Decimal128(10, 2))
    );

    // The manifest names each column's types and counts every value a lossy rule changed.
    let manifest = read_manifest(&root);
    let table = &manifest.tables[0];
    let col = |n: &str| table.columns.iter().find(|c| c.name == n).unwrap();
    let fired = |n: &str, rule: LossyRule| {
        col(n)
            .lossy
            .iter()
            .find(|l| l.rule == rule)
            .map(|l| l.count)
    };
    assert_eq!(fired("n_small", LossyRule::NumericSpecialToNull), Some(1));
    assert_eq!(fired("dt", LossyRule::InfiniteToNull), Some(1));
    assert_eq!(fired("ts", LossyRule::InfiniteToNull), Some(1));
    assert_eq!(fired("tstz", LossyRule::InfiniteToNull), Some(1));
    assert_eq!(fired("a_int", LossyRule::ArrayFlattened), Some(1));
    assert_eq!(fired("a_int", LossyRule::ArrayLowerBoundDropped), Some(1));
    assert_eq!(fired("a_text", LossyRule::ArrayFlattened), Some(0));
    assert_eq!(col("n38").glue_type, "decimal(38,10)");
    assert_eq!(
        col("iv").glue_type,
        "struct<months:int,days:int,microseconds:bigint>"
    );
    assert_eq!(col("a_inet").glue_type, "array<string>");
    assert_eq!(col("tstz").glue_type, "timestamp");
    assert_eq!(col("dom_num").source_type, "price");
    assert_eq!(summary.lossy_values, 6);
}
