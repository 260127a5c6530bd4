//! Every MySQL/MariaDB type in the type map, exported and read back from the Parquet files.
//! Expected values are written out by hand: they are what the server holds (checked with the
//! `mariadb` client), in Arrow's own display form, or what docs/types.md's lossy rules say.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, TimeUnit};
use snapex::ExportConfig;
use snapex::model::LossyRule;
use snapex::pipeline::{Quiet, run_export};
use snapex_tests::{MyDb, cell, read_manifest, read_table, temp_dir};

/// Rows: 1 the low extremes, 2 the high extremes, 3 all NULL, 4 zeros, empty values and
/// all-zero dates, 5 ordinary values and partly-zero dates.
/// The session inserts at +02:00, so TIMESTAMP literals are two hours ahead of the UTC instants
/// the export must show. `sql_mode = ''` lets zero dates and the bad ENUM value in.
const SCHEMA: &str = r#"
SET SESSION sql_mode = '';
SET SESSION time_zone = '+02:00';
CREATE TABLE all_types (
    id      INT PRIMARY KEY,
    ti      TINYINT,
    si      SMALLINT,
    tiu     TINYINT UNSIGNED,
    bo      BOOL,
    siu     SMALLINT UNSIGNED,
    mi      MEDIUMINT,
    miu     MEDIUMINT UNSIGNED,
    i       INT,
    iu      INT UNSIGNED,
    bi      BIGINT,
    biu     BIGINT UNSIGNED,
    d65     DECIMAL(65,30),
    d38     DECIMAL(38,10),
    d52     DECIMAL(5,2),
    d380    DECIMAL(38,0),
    d39     DECIMAL(39,2),
    f       FLOAT,
    dbl     DOUBLE,
    b1      BIT(1),
    b5      BIT(5),
    b63     BIT(63),
    b64     BIT(64),
    y       YEAR,
    dt      DATE,
    dtm     DATETIME,
    dtm6    DATETIME(6),
    ts      TIMESTAMP NULL,
    ts6     TIMESTAMP(6) NULL,
    tm      TIME,
    tm3     TIME(3),
    tm6     TIME(6),
    c       CHAR(5),
    vc      VARCHAR(50),
    cb      VARCHAR(10) COLLATE utf8mb4_bin,
    tx      TEXT,
    mt      MEDIUMTEXT,
    emoji   VARCHAR(20) CHARACTER SET utf8mb4,
    lat     VARCHAR(20) CHARACTER SET latin1,
    u16     VARCHAR(20) CHARACTER SET utf16,
    bn      BINARY(4),
    vb      VARBINARY(10),
    bl      BLOB,
    lb      LONGBLOB,
    e       ENUM('sad', 'ok', 'happy', 'héllo😀'),
    st      SET('a', 'b', 'c'),
    j       JSON,
    g       GEOMETRY,
    pt      POINT,
    ls      LINESTRING,
    poly    POLYGON,
    gv      BIGINT AS (bi DIV 2) VIRTUAL,
    gs      VARCHAR(60) AS (CONCAT(vc, '!')) STORED,
    ip      INET6,
    uu      UUID,
    `Odd ``Name`` ü` VARCHAR(10)
) CHARACTER SET utf8mb4;
INSERT INTO all_types (id, ti, si, tiu, bo, siu, mi, miu, i, iu, bi, biu, d65, d38, d52, d380, d39,
    f, dbl, b1, b5, b63, b64, y, dt, dtm, dtm6, ts, ts6, tm, tm3, tm6, c, vc, cb, tx, mt, emoji, lat, u16,
    bn, vb, bl, lb, e, st, j, g, pt, ls, poly, ip, uu, `Odd ``Name`` ü`) VALUES
(1, -128, -32768, 0, 0, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0,
 '-99999999999999999999999999999999999.999999999999999999999999999999',
 '-9999999999999999999999999999.9999999999', -999.99,
 -99999999999999999999999999999999999999, -9999999999999999999999999999999999999.99,
 -0.5, -2.2250738585072014e-308, b'0', b'00000', b'0', b'0', 1901, '1000-01-01', '1000-01-01 00:00:00', '1000-01-01 00:00:00.000000',
 '1970-01-01 02:00:01', '1970-01-01 02:00:01.000001',
 '-838:59:59', '-838:59:59.000', '-838:59:59.000000',
 'ab   ', '', 'Ab', '', '', '😀', 'é ß ÿ', '', x'00', x'', x'', x'',
 'sad', '', '[]',
 ST_GeomFromText('POINT(0 0)'), ST_GeomFromText('POINT(1 2)'),
 ST_GeomFromText('LINESTRING(0 0, 1 1)'), ST_GeomFromText('POLYGON((0 0, 1 0, 1 1, 0 0))'),
 '::', '00000000-0000-0000-0000-000000000000', ''),
(2, 127, 32767, 255, 1, 65535, 8388607, 16777215, 2147483647, 4294967295,
 9223372036854775807, 18446744073709551615,
 '-12345678901234567890123456789012345.123456789012345678901234567890',
 '9999999999999999999999999999.9999999999', 999.99,
 99999999999999999999999999999999999999, 9999999999999999999999999999999999999.99, 3.25, 1.5e300,
 b'1', b'10101', b'111111111111111111111111111111111111111111111111111111111111111',
 b'1111111111111111111111111111111111111111111111111111111111111111',
 2155, '9999-12-31', '9999-12-31 23:59:59', '9999-12-31 23:59:59.999999',
 '2038-01-19 05:14:07', '2038-01-19 05:14:07.999999',
 '838:59:59', '838:59:59.999', '838:59:59',
 'abcde', 'tab	and "quotes"', '', 'line1\nline2', REPEAT('m', 70000), 'ünï 😀 𝄞', '€ Ü ÿ', 'ü😀',
 'ab', x'00ff', x'deadbeef', x'cafe',
 'happy', 'c,a', '{"a": [1, 2],  "b": null}',
 ST_GeomFromText('LINESTRING(0 0, 1 1)'), ST_GeomFromText('POINT(-1.5 1e10)'),
 ST_GeomFromText('LINESTRING(1 2, 3 4, 5 6)'),
 ST_GeomFromText('POLYGON((0 0, 4 0, 4 4, 0 4, 0 0), (1 1, 2 1, 2 2, 1 1))'),
 '2001:db8::ff00:42:8329', '123e4567-e89b-12d3-a456-426655440000', 'weird'),
(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL),
(4, 0, 0, 0, 127, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
 b'1', b'1', b'1', b'1', 0, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00.000000',
 '0000-00-00 00:00:00', '0000-00-00 00:00:00.000000',
 '25:00:00', '00:00:00.5', '-00:00:00.000001',
 '', 'x', 'aB', 'x', 'x', '', '', '', x'ffffffff', x'00', x'00', x'00',
 'nope', '', 'null',
 NULL, NULL, NULL, NULL,
 '::ffff:192.0.2.1', 'ffffffff-ffff-ffff-ffff-ffffffffffff', NULL),
(5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
 b'0', b'11111', b'100000000000000000000000000000000000000000000000000000000000000', b'1000000000000000000000000000000000000000000000000000000000000000',
 1970, '2024-00-15', '2024-05-00 10:00:00', '2024-02-29 12:34:56.123456',
 '2024-02-29 14:34:56', '2024-02-29 14:34:56.123456',
 '12:34:56', '12:34:56.789', '12:34:56.000001',
 ' a', 'ü', 'ü', 'ü', 'ü', 'x', 'x', 'x', x'01', x'01', x'01', x'01',
 'héllo😀', 'a,b,c', '{}',
 NULL, NULL, NULL, NULL,
 '::1', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'x');
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mysql_type_round_trips_or_follows_its_documented_rule() {
    let db = MyDb::create("mytypes").await;
    db.exec(SCHEMA).await;
    let dest = temp_dir("mytypes");
    let mut cfg = ExportConfig::new(&db.url, dest.to_str().unwrap()).unwrap();
    cfg.export_id = Some("e1".into());
    let summary = run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    assert_eq!(summary.totals.rows, 5);
    assert_eq!(summary.totals.tables, 1);

    let root = dest.join("e1");
    // Tables are named <database>.<table>, so the files are under <database>/<table>/.
    let batch = read_table(&root, &db.name, "all_types");
    // Row order inside a file is not promised; put rows in id order.
    let order =
        arrow::compute::sort_to_indices(batch.column_by_name("id").unwrap(), None, None).unwrap();
    let batch = arrow::compute::take_record_batch(&batch, &order).unwrap();
    assert_eq!(batch.num_rows(), 5);

    let expected: &[(&str, [&str; 5])] = &[
        ("id", ["1", "2", "3", "4", "5"]),
        ("ti", ["-128", "127", "NULL", "0", "1"]),
        ("si", ["-32768", "32767", "NULL", "0", "1"]),
        ("tiu", ["0", "255", "NULL", "0", "1"]),
        // BOOL is TINYINT(1): any TINYINT value fits, so it stays a number.
        ("bo", ["0", "1", "NULL", "127", "1"]),
        ("siu", ["0", "65535", "NULL", "0", "1"]),
        ("mi", ["-8388608", "8388607", "NULL", "0", "1"]),
        ("miu", ["0", "16777215", "NULL", "0", "1"]),
        ("i", ["-2147483648", "2147483647", "NULL", "0", "1"]),
        ("iu", ["0", "4294967295", "NULL", "0", "1"]),
        (
            "bi",
            [
                "-9223372036854775808",
                "9223372036854775807",
                "NULL",
                "0",
                "1",
            ],
        ),
        ("biu", ["0", "18446744073709551615", "NULL", "0", "1"]),
        // Wider than 38 digits: MySQL's exact text, trailing zeros of the scale included.
        (
            "d65",
            [
                "-99999999999999999999999999999999999.999999999999999999999999999999",
                "-12345678901234567890123456789012345.123456789012345678901234567890",
                "NULL",
                "0.000000000000000000000000000000",
                "1.000000000000000000000000000000",
            ],
        ),
        (
            "d38",
            [
                "-9999999999999999999999999999.9999999999",
                "9999999999999999999999999999.9999999999",
                "NULL",
                "0.0000000000",
                "1.0000000000",
            ],
        ),
        ("d52", ["-999.99", "999.99", "NULL", "0.00", "1.00"]),
        (
            "d380",
            [
                "-99999999999999999999999999999999999999",
                "99999999999999999999999999999999999999",
                "NULL",
                "0",
                "1",
            ],
        ),
        (
            "d39",
            [
                "-9999999999999999999999999999999999999.99",
                "9999999999999999999999999999999999999.99",
                "NULL",
                "0.00",
                "1.00",
            ],
        ),
        ("f", ["-0.5", "3.25", "NULL", "0.0", "1.0"]),
        (
            "dbl",
            ["-2.2250738585072014e-308", "1.5e300", "NULL", "0.0", "1.0"],
        ),
        ("b1", ["false", "true", "NULL", "true", "false"]),
        ("b5", ["0", "21", "NULL", "1", "31"]),
        (
            "b63",
            [
                "0",
                "9223372036854775807",
                "NULL",
                "1",
                "4611686018427387904",
            ],
        ),
        (
            "b64",
            [
                "0",
                "18446744073709551615",
                "NULL",
                "1",
                "9223372036854775808",
            ],
        ),
        ("y", ["1901", "2155", "NULL", "0", "1970"]),
        // Zero and partly-zero dates: NULL, counted in the manifest.
        ("dt", ["1000-01-01", "9999-12-31", "NULL", "NULL", "NULL"]),
        (
            "dtm",
            [
                "1000-01-01T00:00:00",
                "9999-12-31T23:59:59",
                "NULL",
                "NULL",
                "NULL",
            ],
        ),
        (
            "dtm6",
            [
                "1000-01-01T00:00:00",
                "9999-12-31T23:59:59.999999",
                "NULL",
                "NULL",
                "2024-02-29T12:34:56.123456",
            ],
        ),
        // The UTC instants, whatever the inserting session's time zone was.
        (
            "ts",
            [
                "1970-01-01T00:00:01Z",
                "2038-01-19T03:14:07Z",
                "NULL",
                "NULL",
                "2024-02-29T12:34:56Z",
            ],
        ),
        (
            "ts6",
            [
                "1970-01-01T00:00:01.000001Z",
                "2038-01-19T03:14:07.999999Z",
                "NULL",
                "NULL",
                "2024-02-29T12:34:56.123456Z",
            ],
        ),
        // TIME is a duration, not a time of day: MySQL's text, with the declared precision.
        (
            "tm",
            ["-838:59:59", "838:59:59", "NULL", "25:00:00", "12:34:56"],
        ),
        (
            "tm3",
            [
                "-838:59:59.000",
                "838:59:59.999",
                "NULL",
                "00:00:00.500",
                "12:34:56.789",
            ],
        ),
        (
            "tm6",
            [
                "-838:59:59.000000",
                "838:59:59.000000",
                "NULL",
                "-00:00:00.000001",
                "12:34:56.000001",
            ],
        ),
        // CHAR loses trailing spaces (MySQL's rule), never leading ones.
        ("c", ["ab", "abcde", "NULL", "", " a"]),
        ("vc", ["", "tab\tand \"quotes\"", "NULL", "x", "ü"]),
        // A binary collation is still text.
        ("cb", ["Ab", "", "NULL", "aB", "ü"]),
        ("tx", ["", "line1\nline2", "NULL", "x", "ü"]),
        ("emoji", ["😀", "ünï 😀 𝄞", "NULL", "", "x"]),
        // MySQL's latin1 is cp1252: '€' is one of its characters.
        ("lat", ["é ß ÿ", "€ Ü ÿ", "NULL", "", "x"]),
        ("u16", ["", "ü😀", "NULL", "", "x"]),
        // BINARY(n) is zero-padded.
        (
            "bn",
            ["00000000", "61620000", "NULL", "ffffffff", "01000000"],
        ),
        ("vb", ["", "00ff", "NULL", "00", "01"]),
        ("bl", ["", "deadbeef", "NULL", "00", "01"]),
        ("lb", ["", "cafe", "NULL", "00", "01"]),
        // An invalid ENUM value stored in a permissive mode is the empty string (index 0).
        ("e", ["sad", "happy", "NULL", "", "héllo😀"]),
        ("st", ["", "a,c", "NULL", "", "a,b,c"]),
        // MariaDB keeps JSON as text: exactly as inserted, spacing included.
        (
            "j",
            ["[]", "{\"a\": [1, 2],  \"b\": null}", "NULL", "null", "{}"],
        ),
        // Spatial values: the WKB of ST_AsBinary, without MySQL's SRID prefix.
        (
            "g",
            [
                "010100000000000000000000000000000000000000",
                "01020000000200000000000000000000000000000000000000000000000000f03f000000000000f03f",
                "NULL",
                "NULL",
                "NULL",
            ],
        ),
        (
            "pt",
            [
                "0101000000000000000000f03f0000000000000040",
                "0101000000000000000000f8bf000000205fa00242",
                "NULL",
                "NULL",
                "NULL",
            ],
        ),
        (
            "ls",
            [
                "01020000000200000000000000000000000000000000000000000000000000f03f000000000000f03f",
                "010200000003000000000000000000f03f00000000000000400000000000000840000000000000104000000000000014400000000000001840",
                "NULL",
                "NULL",
                "NULL",
            ],
        ),
        (
            "poly",
            [
                "0103000000010000000400000000000000000000000000000000000000000000000000f03f0000000000000000000000000000f03f000000000000f03f00000000000000000000000000000000",
                "01030000000200000005000000000000000000000000000000000000000000000000001040000000000000000000000000000010400000000000001040000000000000000000000000000010400000000000000000000000000000000004000000000000000000f03f000000000000f03f0000000000000040000000000000f03f00000000000000400000000000000040000000000000f03f000000000000f03f",
                "NULL",
                "NULL",
                "NULL",
            ],
        ),
        // Generated columns, virtual and stored, hold their computed values.
        (
            "gv",
            [
                "-4611686018427387904",
                "4611686018427387903",
                "NULL",
                "0",
                "0",
            ],
        ),
        ("gs", ["!", "tab\tand \"quotes\"!", "NULL", "x!", "ü!"]),
        (
            "ip",
            [
                "::",
                "2001:db8::ff00:42:8329",
                "NULL",
                "::ffff:192.0.2.1",
                "::1",
            ],
        ),
        (
            "uu",
            [
                "00000000-0000-0000-0000-000000000000",
                "123e4567-e89b-12d3-a456-426655440000",
                "NULL",
                "ffffffff-ffff-ffff-ffff-ffffffffffff",
                "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            ],
        ),
        ("Odd `Name` ü", ["", "weird", "NULL", "NULL", "x"]),
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
    // MEDIUMTEXT: 70000 characters, longer than any 16-bit length prefix.
    let mt = batch.column_by_name("mt").unwrap().as_string::<i32>();
    assert_eq!(mt.value(0), "");
    assert_eq!(mt.value(1), "m".repeat(70_000));
    assert!(mt.is_null(2));
    assert_eq!(mt.value(3), "x");
    assert_eq!(mt.value(4), "ü");
    assert_eq!(
        batch.num_columns(),
        expected.len() + 1,
        "every column is checked"
    );

    // Each column's Arrow type and the Glue type the manifest gives it.
    let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
    let tstz = DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()));
    let u64_decimal = DataType::Decimal128(20, 0);
    let types: &[(&str, DataType, &str)] = &[
        ("id", DataType::Int32, "int"),
        ("ti", DataType::Int16, "smallint"),
        ("si", DataType::Int16, "smallint"),
        ("tiu", DataType::Int16, "smallint"),
        ("bo", DataType::Int16, "smallint"),
        ("siu", DataType::Int32, "int"),
        ("mi", DataType::Int32, "int"),
        ("miu", DataType::Int32, "int"),
        ("i", DataType::Int32, "int"),
        ("iu", DataType::Int64, "bigint"),
        ("bi", DataType::Int64, "bigint"),
        ("biu", u64_decimal.clone(), "decimal(20,0)"),
        ("d65", DataType::Utf8, "string"),
        ("d38", DataType::Decimal128(38, 10), "decimal(38,10)"),
        ("d52", DataType::Decimal128(5, 2), "decimal(5,2)"),
        ("d380", DataType::Decimal128(38, 0), "decimal(38,0)"),
        ("d39", DataType::Utf8, "string"),
        ("f", DataType::Float32, "float"),
        ("dbl", DataType::Float64, "double"),
        ("b1", DataType::Boolean, "boolean"),
        ("b5", DataType::Int64, "bigint"),
        ("b63", DataType::Int64, "bigint"),
        ("b64", u64_decimal, "decimal(20,0)"),
        ("y", DataType::Int16, "smallint"),
        ("dt", DataType::Date32, "date"),
        ("dtm", ts.clone(), "timestamp"),
        ("dtm6", ts, "timestamp"),
        ("ts", tstz.clone(), "timestamp"),
        ("ts6", tstz, "timestamp"),
        ("tm", DataType::Utf8, "string"),
        ("tm3", DataType::Utf8, "string"),
        ("tm6", DataType::Utf8, "string"),
        ("c", DataType::Utf8, "string"),
        ("vc", DataType::Utf8, "string"),
        ("cb", DataType::Utf8, "string"),
        ("tx", DataType::Utf8, "string"),
        ("mt", DataType::Utf8, "string"),
        ("emoji", DataType::Utf8, "string"),
        ("lat", DataType::Utf8, "string"),
        ("u16", DataType::Utf8, "string"),
        ("bn", DataType::Binary, "binary"),
        ("vb", DataType::Binary, "binary"),
        ("bl", DataType::Binary, "binary"),
        ("lb", DataType::Binary, "binary"),
        ("e", DataType::Utf8, "string"),
        ("st", DataType::Utf8, "string"),
        ("j", DataType::Utf8, "string"),
        ("g", DataType::Binary, "binary"),
        ("pt", DataType::Binary, "binary"),
        ("ls", DataType::Binary, "binary"),
        ("poly", DataType::Binary, "binary"),
        ("gv", DataType::Int64, "bigint"),
        ("gs", DataType::Utf8, "string"),
        ("ip", DataType::Utf8, "string"),
        ("uu", DataType::Utf8, "string"),
        ("Odd `Name` ü", DataType::Utf8, "string"),
    ];
    assert_eq!(types.len(), batch.num_columns(), "every type is checked");
    let schema = batch.schema();
    let arrow_types: BTreeMap<&str, &DataType> = schema
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.data_type()))
        .collect();

    let manifest = read_manifest(&root);
    assert_eq!(manifest.tables.len(), 1);
    let table = &manifest.tables[0];
    assert_eq!(
        (table.schema.as_str(), table.name.as_str()),
        (db.name.as_str(), "all_types")
    );
    assert_eq!(table.primary_key, vec!["id".to_string()]);
    assert_eq!(table.rows, 5);
    let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    let declared: Vec<&str> = types.iter().map(|t| t.0).collect();
    assert_eq!(
        names, declared,
        "the manifest lists the columns in table order"
    );
    let fields: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(fields, declared, "the Parquet columns are in table order");
    let col = |n: &str| table.columns.iter().find(|c| c.name == n).unwrap();
    for (name, arrow_type, glue) in types {
        assert_eq!(arrow_types[name], arrow_type, "Arrow type of {name}");
        assert_eq!(col(name).glue_type, *glue, "Glue type of {name}");
    }

    // Zero dates are counted per column; YEAR 0000 is a real value, not a zero date.
    let fired = |n: &str, rule: LossyRule| {
        col(n)
            .lossy
            .iter()
            .find(|l| l.rule == rule)
            .map(|l| l.count)
    };
    assert_eq!(fired("dt", LossyRule::ZeroDateToNull), Some(2));
    assert_eq!(fired("dtm", LossyRule::ZeroDateToNull), Some(2));
    assert_eq!(fired("dtm6", LossyRule::ZeroDateToNull), Some(1));
    assert_eq!(fired("ts", LossyRule::ZeroDateToNull), Some(1));
    assert_eq!(fired("ts6", LossyRule::ZeroDateToNull), Some(1));
    assert_eq!(fired("y", LossyRule::ZeroDateToNull).unwrap_or(0), 0);
    assert_eq!(summary.lossy_values, 7);
    // The serde name the manifest file carries for the rule.
    let raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
    let dt = raw["tables"][0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "dt")
        .unwrap();
    let entry = dt["lossy"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rule"] == "zero_date_to_null")
        .unwrap_or_else(|| panic!("no zero_date_to_null entry: {dt}"));
    assert_eq!(entry["count"], 2, "{dt}");
}
