//! The long-tail acceptance corpus (`tests/corpus/`): skewed, composite, text, uuid and date
//! keys, tables without keys, partitioned and inheritance tables, views, materialized, foreign,
//! unlogged and temporary tables, 1,600 and 1,010 columns, thousands of tables, hostile
//! identifiers and hundreds of added and dropped columns, on PostgreSQL and on MariaDB.
//!
//! For every exported table: `count(*)` in the database = the manifest's rows = the rows read
//! back from its Parquet files, and for every column an order-independent checksum computed in
//! SQL equals the same checksum computed from the Arrow arrays read back. Every relation the
//! corpus created is either exported or listed as skipped with its reason, and the table the
//! injection-shaped names aim at still holds its rows.
//!
//! The checksum of a column is (number of non-NULL values, sum over those values of the first 60
//! bits of md5 of a canonical text). Both sides produce the same text per value:
//! integers in decimal; decimals as plain text at the column's scale; strings as they are;
//! booleans `1`/`0`; dates as days since 1970-01-01; timestamps as microseconds since the epoch
//! (UTC instant for `timestamptz` / MySQL `TIMESTAMP`, the wall-clock reading otherwise); binary
//! as lowercase hex. The corpus uses no other kinds (the per-type tests cover those), and a
//! column of any other kind fails the test rather than being left unchecked.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Decimal128Type, TimeUnit};
use md5::{Digest, Md5};
use mysql_async::prelude::Queryable;
use snapex::ExportConfig;
use snapex::manifest::{ColumnManifest, Manifest, TableManifest};
use snapex::pipeline::{Quiet, run_export};
use snapex_tests::{MyDb, TestDb, read_manifest, read_parquet_file, temp_dir};

const PG_CORPUS: &str = include_str!("../corpus/postgres.sql");
const MYSQL_CORPUS: &str = include_str!("../corpus/mysql.sql");
const MYSQL_CASE_CORPUS: &str = include_str!("../corpus/mysql_case.sql");

/// Columns per checksum query: PostgreSQL allows 1,664 result columns and each column takes two.
const COLUMNS_PER_QUERY: usize = 400;

/// A config that splits the corpus's bigger tables (over ~52 KB of source) into several key or
/// block ranges while the thousands of small ones are packed together.
fn splitting_config(url: &str, dest: &Path) -> ExportConfig {
    let mut cfg = ExportConfig::new(url, dest.to_str().unwrap()).unwrap();
    cfg.export_id = Some("e".into());
    cfg.plan.target_file_bytes = 1024 * 1024;
    cfg.plan.source_bytes_per_file_byte = 0.05;
    cfg.plan.max_ranges_per_table = 8;
    cfg.batch.rows = 1_000;
    cfg.concurrency = 2;
    cfg
}

/// One column's checksum: how many values are not NULL, and the sum of their hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Sum {
    non_null: u64,
    hashes: u128,
}

/// The first 60 bits of md5(`text`): what `('x' || substr(md5(t), 1, 15))::bit(60)::int8`
/// and `CONV(SUBSTR(MD5(t), 1, 15), 16, 10)` compute.
fn md5_60(text: &[u8]) -> u128 {
    let d = Md5::digest(text);
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    u128::from(u64::from_be_bytes(first) >> 4)
}

/// The canonical text of one value read back from Parquet, None for NULL.
fn canonical(array: &dyn Array, row: usize, what: &str) -> Option<String> {
    if array.is_null(row) {
        return None;
    }
    Some(match array.data_type() {
        DataType::Boolean => {
            if array.as_boolean().value(row) {
                "1".into()
            } else {
                "0".into()
            }
        }
        DataType::Int16 => array
            .as_primitive::<arrow::datatypes::Int16Type>()
            .value(row)
            .to_string(),
        DataType::Int32 => array
            .as_primitive::<arrow::datatypes::Int32Type>()
            .value(row)
            .to_string(),
        DataType::Int64 => array
            .as_primitive::<arrow::datatypes::Int64Type>()
            .value(row)
            .to_string(),
        DataType::Decimal128(_, _) => array.as_primitive::<Decimal128Type>().value_as_string(row),
        DataType::Date32 => array
            .as_primitive::<arrow::datatypes::Date32Type>()
            .value(row)
            .to_string(),
        DataType::Timestamp(TimeUnit::Microsecond, _) => array
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
            .value(row)
            .to_string(),
        DataType::Utf8 => array.as_string::<i32>().value(row).to_string(),
        DataType::Binary => array
            .as_binary::<i32>()
            .value(row)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        other => panic!("{what}: the corpus checksum does not cover {other:?}"),
    })
}

/// Row count and per-column checksums (by Parquet name) of one table's exported files, checking
/// each file's row count against the manifest.
fn parquet_sums(root: &Path, t: &TableManifest) -> (u64, Vec<Sum>) {
    let mut rows = 0;
    let mut sums = vec![Sum::default(); t.columns.len()];
    for f in &t.files {
        let batches: Vec<RecordBatch> =
            read_parquet_file(&std::fs::read(root.join(&f.path)).unwrap());
        let in_file: usize = batches.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(in_file as u64, f.rows, "{}: manifest row count", f.path);
        rows += f.rows;
        for b in &batches {
            for (c, sum) in t.columns.iter().zip(sums.iter_mut()) {
                let what = format!("{}.{} column {:?}", t.schema, t.name, c.name);
                let array = b
                    .column_by_name(&c.parquet_name)
                    .unwrap_or_else(|| panic!("{what}: no Parquet column {:?}", c.parquet_name));
                for i in 0..b.num_rows() {
                    if let Some(text) = canonical(array.as_ref(), i, &what) {
                        sum.non_null += 1;
                        sum.hashes += md5_60(text.as_bytes());
                    }
                }
            }
        }
    }
    (rows, sums)
}

/// The engine-specific SQL of the checksum queries.
trait Dialect {
    fn quote(&self, ident: &str) -> String;
    /// The canonical text of column `c` (quoted `q`) as an SQL expression.
    fn canonical(&self, q: &str, c: &ColumnManifest) -> String;
    fn count(&self, expr: &str) -> String;
    fn hash_sum(&self, expr: &str) -> String;
}

struct Pg;

impl Dialect for Pg {
    fn quote(&self, ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }
    fn canonical(&self, q: &str, c: &ColumnManifest) -> String {
        match c.parquet_type.as_str() {
            "BOOLEAN" => format!("CASE WHEN {q} THEN '1' WHEN NOT {q} THEN '0' END"),
            "INT32" | "INT64" | "INT32 (INT(16,true))" | "BYTE_ARRAY (STRING)" => {
                format!("{q}::text")
            }
            "INT32 (DATE)" => format!("({q} - DATE '1970-01-01')::text"),
            "BYTE_ARRAY" => format!("encode({q}, 'hex')"),
            t if t.starts_with("DECIMAL(") => format!("{q}::text"),
            t if t.starts_with("INT64 (TIMESTAMP(MICROS") => {
                format!("(extract(epoch FROM {q}) * 1000000)::numeric(30, 0)::text")
            }
            t => panic!(
                "column {:?}: the corpus checksum does not cover {t}",
                c.name
            ),
        }
    }
    fn count(&self, expr: &str) -> String {
        format!("count({expr})::text")
    }
    fn hash_sum(&self, expr: &str) -> String {
        format!("coalesce(sum(('x' || substr(md5({expr}), 1, 15))::bit(60)::int8), 0)::text")
    }
}

struct My;

impl Dialect for My {
    fn quote(&self, ident: &str) -> String {
        format!("`{}`", ident.replace('`', "``"))
    }
    fn canonical(&self, q: &str, c: &ColumnManifest) -> String {
        match c.parquet_type.as_str() {
            "BOOLEAN" => {
                format!("CASE WHEN {q} IS NULL THEN NULL WHEN {q} + 0 <> 0 THEN '1' ELSE '0' END")
            }
            "INT32" | "INT64" | "INT32 (INT(16,true))" => format!("CAST({q} AS CHAR)"),
            "BYTE_ARRAY (STRING)" => q.to_string(),
            "INT32 (DATE)" => format!("CAST(DATEDIFF({q}, '1970-01-01') AS CHAR)"),
            "BYTE_ARRAY" => format!("LOWER(HEX({q}))"),
            t if t.starts_with("DECIMAL(") => format!("CAST({q} AS CHAR)"),
            t if t.starts_with("INT64 (TIMESTAMP(MICROS") => {
                format!("CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {q}) AS CHAR)")
            }
            t => panic!(
                "column {:?}: the corpus checksum does not cover {t}",
                c.name
            ),
        }
    }
    fn count(&self, expr: &str) -> String {
        format!("CAST(COUNT({expr}) AS CHAR)")
    }
    fn hash_sum(&self, expr: &str) -> String {
        format!(
            "CAST(COALESCE(SUM(CAST(CONV(SUBSTR(MD5({expr}), 1, 15), 16, 10) AS UNSIGNED)), 0) AS CHAR)"
        )
    }
}

/// The checksum queries of one table: `count(*)` then two values per column, at most
/// [`COLUMNS_PER_QUERY`] columns per query.
fn sum_queries(d: &dyn Dialect, from: &str, t: &TableManifest) -> Vec<String> {
    t.columns
        .chunks(COLUMNS_PER_QUERY)
        .map(|cols| {
            let mut list = vec![d.count("*")];
            for c in cols {
                let e = d.canonical(&d.quote(&c.name), c);
                list.push(d.count(&e));
                list.push(d.hash_sum(&e));
            }
            format!("SELECT {} FROM {from}", list.join(", "))
        })
        .collect()
}

/// Folds the text results of [`sum_queries`] into a row count and per-column sums.
fn fold_results(t: &TableManifest, results: Vec<Vec<String>>) -> (u64, Vec<Sum>) {
    let mut rows = None;
    let mut sums = Vec::new();
    for r in results {
        let n: u64 = r[0].parse().unwrap();
        assert!(rows.is_none_or(|m| m == n), "{}: counts differ", t.name);
        rows = Some(n);
        for pair in r[1..].chunks(2) {
            sums.push(Sum {
                non_null: pair[0].parse().unwrap(),
                hashes: pair[1].parse().unwrap(),
            });
        }
    }
    (rows.unwrap_or(0), sums)
}

/// Compares one table's database side with its export.
fn check_table(root: &Path, t: &TableManifest, db_rows: u64, db_sums: &[Sum]) {
    let (rows, sums) = parquet_sums(root, t);
    let name = format!("{}.{}", t.schema, t.name);
    assert_eq!(db_rows, t.rows, "{name}: count(*) vs the manifest's rows");
    assert_eq!(
        rows, t.rows,
        "{name}: rows read back vs the manifest's rows"
    );
    assert_eq!(sums.len(), db_sums.len(), "{name}: columns");
    for ((c, got), want) in t.columns.iter().zip(&sums).zip(db_sums) {
        assert_eq!(
            got, want,
            "{name} column {:?} ({}): checksum",
            c.name, c.source_type
        );
    }
}

/// What every export must get right about names: lowercase unique Glue names for tables, and
/// within each table lowercase unique Glue and Parquet column names.
fn check_names(m: &Manifest) {
    let mut glue = HashSet::new();
    for t in &m.tables {
        assert!(
            !t.glue_table.is_empty()
                && t.glue_table
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{}.{}: Glue name {:?}",
            t.schema,
            t.name,
            t.glue_table
        );
        assert!(
            glue.insert(t.glue_table.clone()),
            "Glue name {:?} twice",
            t.glue_table
        );
        let mut cols = HashSet::new();
        let mut parquet = HashSet::new();
        for c in &t.columns {
            assert_eq!(
                c.glue_name,
                c.glue_name.to_lowercase(),
                "{}: {:?}",
                t.name,
                c.name
            );
            assert!(
                cols.insert(c.glue_name.clone()),
                "{}: {:?} twice",
                t.name,
                c.glue_name
            );
            assert!(
                parquet.insert(c.parquet_name.to_lowercase()),
                "{}: Parquet names {:?} differ only in case",
                t.name,
                c.parquet_name
            );
        }
    }
}

fn table<'a>(m: &'a Manifest, schema: &str, name: &str) -> &'a TableManifest {
    m.tables
        .iter()
        .find(|t| t.schema == schema && t.name == name)
        .unwrap_or_else(|| panic!("{schema}.{name} is not among the exported tables"))
}

fn skipped_reason<'a>(m: &'a Manifest, schema: &str, name: &str) -> &'a str {
    &m.skipped
        .iter()
        .find(|s| s.name.schema == schema && s.name.name == name)
        .unwrap_or_else(|| panic!("{schema}.{name} is not among the skipped tables"))
        .reason
}

fn glue_columns(t: &TableManifest) -> Vec<(&str, &str)> {
    t.columns
        .iter()
        .map(|c| (c.name.as_str(), c.glue_name.as_str()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_corpus_every_table_every_row_every_column() {
    let db = TestDb::create("corpus").await;
    let started = std::time::Instant::now();
    let client = db.client().await;
    // One statement at a time, as psql sends them: each its own transaction.
    for s in pg_statements(PG_CORPUS) {
        client
            .batch_execute(&s)
            .await
            .unwrap_or_else(|e| panic!("{e:?} in\n{s}"));
    }
    let loaded = started.elapsed();

    // Another session's temporary table, alive during the export.
    let other = db.client().await;
    other
        .batch_execute("CREATE TEMP TABLE other_session_scratch (id int4); INSERT INTO other_session_scratch VALUES (1)")
        .await
        .unwrap();
    let temp_schema: String = other
        .query_one(
            "SELECT nspname::text FROM pg_namespace WHERE oid = pg_my_temp_schema()",
            &[],
        )
        .await
        .unwrap()
        .get(0);

    let dest = temp_dir("corpus-pg");
    let cfg = splitting_config(&db.url, &dest);
    let exported = std::time::Instant::now();
    run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    let export_time = exported.elapsed();
    let root = dest.join("e");
    let m = read_manifest(&root);

    // Every relation the corpus made is exported or skipped, and nothing else is listed.
    let relations: BTreeMap<(String, String), (String, bool)> = client
        .query(
            "SELECT n.nspname::text, c.relname::text, c.relkind::text, c.relispartition
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
                AND (c.relpersistence = 't' OR (n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'))",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get(3))))
        .collect();
    let exported_names: BTreeSet<(String, String)> = m
        .tables
        .iter()
        .map(|t| (t.schema.clone(), t.name.clone()))
        .collect();
    let skipped_names: BTreeSet<(String, String)> = m
        .skipped
        .iter()
        .map(|s| (s.name.schema.clone(), s.name.name.clone()))
        .collect();
    assert_eq!(
        exported_names.len(),
        m.tables.len(),
        "a table exported twice"
    );
    assert_eq!(
        skipped_names.len(),
        m.skipped.len(),
        "a table skipped twice"
    );
    assert!(exported_names.is_disjoint(&skipped_names));
    let listed: BTreeSet<_> = exported_names.union(&skipped_names).cloned().collect();
    let created: BTreeSet<_> = relations.keys().cloned().collect();
    assert_eq!(
        created.difference(&listed).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "relations neither exported nor skipped"
    );
    assert_eq!(
        listed.difference(&created).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "listed relations that do not exist"
    );
    assert!(m.tables.len() > 2000, "{} tables", m.tables.len());

    // The rule for each kind.
    for ((schema, name), (kind, partition)) in &relations {
        let exported = exported_names.contains(&(schema.clone(), name.clone()));
        let reason = || skipped_reason(&m, schema, name);
        match (kind.as_str(), partition) {
            (_, _) if *schema == temp_schema => {
                assert!(
                    reason().starts_with("temporary table of another session"),
                    "{name}"
                )
            }
            ("r" | "p", true) => assert!(reason().starts_with("partition:"), "{name}"),
            ("f", true) => assert!(reason().starts_with("foreign table partition:"), "{name}"),
            ("f", false) => assert!(reason().starts_with("foreign table:"), "{name}"),
            ("v", _) => assert_eq!(
                reason(),
                "view: no rows of its own; its base tables are exported"
            ),
            ("m", _) if name == "never_refreshed" => {
                assert!(reason().starts_with("materialized view never populated"))
            }
            ("r" | "p" | "m", false) => assert!(exported, "{schema}.{name} should be exported"),
            other => panic!("{schema}.{name}: unexpected {other:?}"),
        }
    }
    for (schema, name) in [
        (temp_schema.as_str(), "other_session_scratch"),
        ("public", "skewed_small"),
        ("public", "never_refreshed"),
        ("public", "measurements_2023"),
        ("public", "measurements_2023_north"),
    ] {
        skipped_reason(&m, schema, name);
    }
    let has_fdw = relations.values().any(|(k, _)| k == "f");
    if has_fdw {
        skipped_reason(&m, "public", "remote_prices");
        skipped_reason(&m, "public", "readings_remote");
    }
    for name in [
        "skewed_summary",
        "scratch",
        "animals",
        "dogs",
        "puppies",
        "cats",
        "events",
    ] {
        table(&m, "public", name);
    }

    // Every exported table: rows and every column's checksum.
    let mut columns = 0;
    for t in &m.tables {
        let relkind = &relations[&(t.schema.clone(), t.name.clone())].0;
        let quoted = format!("{}.{}", Pg.quote(&t.schema), Pg.quote(&t.name));
        let from = if relkind == "p" {
            quoted
        } else {
            format!("ONLY {quoted}")
        };
        let mut results = Vec::new();
        for sql in sum_queries(&Pg, &from, t) {
            let row = client
                .query_one(&sql, &[])
                .await
                .unwrap_or_else(|e| panic!("{e:?} in {sql}"));
            results.push((0..row.len()).map(|i| row.get::<_, String>(i)).collect());
        }
        let (db_rows, db_sums) = fold_results(t, results);
        check_table(&root, t, db_rows, &db_sums);
        columns += t.columns.len();
    }

    // Splitting happened where it should, and the inheritance parents hold only their own rows.
    assert!(table(&m, "public", "skewed").files.len() >= 4);
    for (name, key) in [
        ("composite_key", "ctid"),
        ("no_pk", "ctid"),
        ("events", "ctid"),
    ] {
        let t = table(&m, "public", name);
        assert_eq!(t.split_key.as_deref(), Some(key), "{name}");
        assert!(t.files.len() >= 2, "{name}: {} files", t.files.len());
    }
    for (parent, own, all) in [
        ("animals", 3000, 7501),
        ("dogs", 2000, 3000),
        ("events", 6000, 12000),
    ] {
        let n = |sql: String| {
            let client = &client;
            async move { client.query_one(&sql, &[]).await.unwrap().get::<_, i64>(0) as u64 }
        };
        assert_eq!(table(&m, "public", parent).rows, own, "{parent}");
        assert_eq!(n(format!("SELECT count(*) FROM ONLY {parent}")).await, own);
        assert_eq!(n(format!("SELECT count(*) FROM {parent}")).await, all);
    }
    assert_eq!(table(&m, "public", "measurements").rows, 6000);
    assert_eq!(table(&m, "public", "readings").rows, 400);
    assert_eq!(table(&m, "public", "wide_1600").columns.len(), 1600);

    // Dropped attributes leave no trace: the live columns, in order.
    let live: Vec<String> = client
        .query(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = 'evolving'::regclass
                AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let evolving = table(&m, "public", "evolving");
    let names: Vec<&str> = evolving.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, live);
    assert!(live.len() > 200 && live.len() < 302, "{}", live.len());

    // Names: lowercase and unique, docs/catalog.md's collision example, and the mapping listed.
    check_names(&m);
    let mixed = table(&m, "public", "MixedCase");
    assert_eq!(
        glue_columns(mixed),
        vec![
            ("ID", "id_3"),
            ("id", "id"),
            ("Id", "id_4"),
            ("id_2", "id_2"),
            ("Order Date", "order date")
        ]
    );
    assert_eq!(mixed.columns[4].parquet_name, "Order Date");
    assert_eq!(mixed.columns[0].parquet_name, "id_3");
    assert_eq!(table(&m, "public", "mixedcase").glue_table, "mixedcase");
    let mut variants: Vec<&str> = ["MixedCase", "MIXEDCASE"]
        .iter()
        .map(|n| table(&m, "public", n).glue_table.as_str())
        .collect();
    variants.sort();
    assert_eq!(variants, ["mixedcase_2", "mixedcase_3"]);
    let injection = table(&m, "public", "x\"; DROP TABLE y; --");
    assert_eq!(injection.glue_table, "x___drop_table_y____");
    assert_eq!(injection.rows, 3);
    assert_eq!(table(&m, "s\"; DROP TABLE y; --", "t").rows, 1);
    assert_eq!(
        table(
            &m,
            "public",
            "t23456789_123456789_123456789_123456789_123456789_123456789_123"
        )
        .columns[1]
            .glue_name,
        "c23456789_123456789_123456789_123456789_123456789_123456789_123_2"
    );
    table(&m, "Ventes été", "Ünïcödé 表 😀");
    table(&m, "sch.ema", "a.b c");

    // The injection target is untouched.
    let y: i64 = client
        .query_one("SELECT count(*) FROM y", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(y, 3);
    drop(other);
    eprintln!(
        "postgres corpus: loaded in {loaded:.1?}, exported in {export_time:.1?}: {} tables, \
         {} skipped, {} files, {} rows, {columns} columns checked",
        m.tables.len(),
        m.skipped.len(),
        m.totals.files,
        m.totals.rows
    );
}

/// The statements of an SQL script for psql, split at semicolons outside quotes, `$$` bodies
/// and `--` comments (the corpus uses no other quoting).
fn pg_statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let (mut single, mut double, mut dollar, mut comment) = (false, false, false, false);
    let mut chars = script.chars().peekable();
    while let Some(c) = chars.next() {
        current.push(c);
        match c {
            '\n' if comment => comment = false,
            _ if comment => {}
            '\'' if !double && !dollar => single = !single,
            '"' if !single && !dollar => double = !double,
            '$' if !single && !double && chars.peek() == Some(&'$') => {
                current.push(chars.next().unwrap());
                dollar = !dollar;
            }
            '-' if !single && !double && !dollar && chars.peek() == Some(&'-') => comment = true,
            ';' if !single && !double && !dollar => {
                out.push(std::mem::take(&mut current));
            }
            _ => {}
        }
    }
    assert!(
        !(single || double || dollar)
            && current
                .lines()
                .all(|l| l.trim().is_empty() || l.trim().starts_with("--")),
        "unterminated: {current}"
    );
    out
}

/// The statements of a script written for the mysql client, split as it splits them: at the
/// current delimiter at the end of a line, `DELIMITER x` changing it.
fn mysql_statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut delimiter = ";".to_string();
    let mut current = String::new();
    for line in script.lines() {
        if let Some(d) = line.trim().strip_prefix("DELIMITER ") {
            delimiter = d.trim().to_string();
            continue;
        }
        current.push_str(line);
        current.push('\n');
        let end = current.trim_end();
        if end.ends_with(delimiter.as_str()) {
            let statement = end[..end.len() - delimiter.len()].trim();
            if !statement
                .lines()
                .all(|l| l.trim().is_empty() || l.trim().starts_with("--"))
            {
                out.push(statement.to_string());
            }
            current.clear();
        }
    }
    assert!(
        current.trim().lines().all(|l| l.trim().starts_with("--")),
        "unterminated: {current}"
    );
    out
}

/// The corpus includes tables whose names differ only in case (`mysql_case.sql`), which
/// `information_schema` compares without regard to case: discovery must still list each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_corpus_every_table_every_row_every_column() {
    mysql_corpus(&[MYSQL_CORPUS, MYSQL_CASE_CORPUS]).await;
}

/// Loads `scripts` into a new MySQL database, exports it and checks every table and column.
async fn mysql_corpus(scripts: &[&str]) {
    let db = MyDb::create("corpus").await;
    let started = std::time::Instant::now();
    let mut conn = db.conn().await;
    for s in scripts.iter().flat_map(|s| mysql_statements(s)) {
        conn.query_drop(&s)
            .await
            .unwrap_or_else(|e| panic!("{e:?} in\n{s}"));
    }
    let loaded = started.elapsed();
    conn.query_drop("SET time_zone = '+00:00', NAMES utf8mb4")
        .await
        .unwrap();

    let dest = temp_dir("corpus-my");
    let cfg = splitting_config(&db.url, &dest);
    let exported = std::time::Instant::now();
    run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    let export_time = exported.elapsed();
    let root = dest.join("e");
    let m = read_manifest(&root);

    // Every base table is exported, every view listed as skipped, and nothing else is listed.
    let relations: Vec<(String, String)> = conn
        .exec(
            "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?",
            (db.name.as_str(),),
        )
        .await
        .unwrap();
    let exported_names: BTreeSet<&str> = m.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        exported_names.len(),
        m.tables.len(),
        "a table exported twice"
    );
    assert!(m.tables.iter().all(|t| t.schema == db.name));
    let mut base = 0;
    for (name, kind) in &relations {
        match kind.as_str() {
            "BASE TABLE" => {
                base += 1;
                assert!(
                    exported_names.contains(name.as_str()),
                    "{name} not exported"
                );
            }
            "VIEW" => {
                assert!(
                    !exported_names.contains(name.as_str()),
                    "view {name} exported"
                );
                let s = m.skipped.iter().find(|s| s.name.name == *name);
                assert_eq!(
                    s.map(|s| s.reason.as_str()),
                    Some("view: no rows of its own; its base tables are exported"),
                    "view {name}"
                );
            }
            other => panic!("{name}: unexpected table type {other}"),
        }
    }
    assert_eq!(base, m.tables.len(), "exported tables that do not exist");
    assert_eq!(
        relations.len() - base,
        m.skipped.len(),
        "skipped tables that are no views"
    );
    assert!(m.tables.len() > 1000, "{} tables", m.tables.len());

    // Every exported table: rows and every column's checksum.
    let mut columns = 0;
    for t in &m.tables {
        let from = format!("{}.{}", My.quote(&t.schema), My.quote(&t.name));
        let mut results = Vec::new();
        for sql in sum_queries(&My, &from, t) {
            let row: mysql_async::Row = conn
                .query_first(&sql)
                .await
                .unwrap_or_else(|e| panic!("{e:?} in {sql}"))
                .unwrap();
            results.push(
                (0..row.len())
                    .map(|i| row.get::<String, usize>(i).unwrap())
                    .collect(),
            );
        }
        let (db_rows, db_sums) = fold_results(t, results);
        check_table(&root, t, db_rows, &db_sums);
        columns += t.columns.len();
    }

    assert!(table(&m, &db.name, "skewed").files.len() >= 4);
    assert_eq!(table(&m, &db.name, "wide_1010").columns.len(), 1010);
    assert_eq!(table(&m, &db.name, "measurements").rows, 6000);
    let live: Vec<String> = conn
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? \
             AND TABLE_NAME = 'evolving' ORDER BY ORDINAL_POSITION",
            (db.name.as_str(),),
        )
        .await
        .unwrap();
    let evolving = table(&m, &db.name, "evolving");
    let names: Vec<&str> = evolving.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, live);
    assert!(live.len() > 200 && live.len() < 302, "{}", live.len());

    check_names(&m);
    if scripts.contains(&MYSQL_CASE_CORPUS) {
        assert_eq!(table(&m, &db.name, "mixedcase").glue_table, "mixedcase");
        let mut variants: Vec<&str> = ["MixedCase", "MIXEDCASE"]
            .iter()
            .map(|n| table(&m, &db.name, n).glue_table.as_str())
            .collect();
        variants.sort();
        assert_eq!(variants, ["mixedcase_2", "mixedcase_3"]);
    } else {
        assert_eq!(table(&m, &db.name, "MixedCase").glue_table, "mixedcase");
    }
    let mixed = table(&m, &db.name, "MixedCase");
    assert_eq!(
        glue_columns(mixed),
        vec![("ID", "id"), ("Order Date", "order date"), ("Name", "name")]
    );
    assert_eq!(mixed.columns[1].parquet_name, "Order Date");
    let injection = table(&m, &db.name, "x`; DROP TABLE y; --");
    assert_eq!(injection.glue_table, "x___drop_table_y____");
    assert_eq!(injection.rows, 3);
    table(&m, &db.name, "Ünïcödé 表");
    table(&m, &db.name, "a.b c");
    table(&m, &db.name, "it's \"quoted\"");

    let y: Option<i64> = conn.query_first("SELECT COUNT(*) FROM y").await.unwrap();
    assert_eq!(y, Some(3));
    conn.disconnect().await.unwrap();
    eprintln!(
        "mysql corpus: loaded in {loaded:.1?}, exported in {export_time:.1?}: {} tables, \
         {} skipped, {} files, {} rows, {columns} columns checked",
        m.tables.len(),
        m.skipped.len(),
        m.totals.files,
        m.totals.rows
    );
}

#[test]
fn mysql_scripts_split_like_the_mysql_client() {
    let s = mysql_statements(
        "-- c\nSET a = 1;\nCREATE TABLE t (a INT);\nDELIMITER //\nCREATE PROCEDURE p()\nBEGIN\n  SELECT 1;\nEND //\nDELIMITER ;\nCALL p();\n",
    );
    assert_eq!(
        s,
        vec![
            "-- c\nSET a = 1",
            "CREATE TABLE t (a INT)",
            "CREATE PROCEDURE p()\nBEGIN\n  SELECT 1;\nEND",
            "CALL p()"
        ]
    );
}

#[test]
fn psql_scripts_split_at_top_level_semicolons() {
    let s = pg_statements(
        "-- a; comment\nCREATE TABLE \"a;b\" (v text DEFAULT 'x;''y');\nDO $$ BEGIN PERFORM 1; END $$;\n-- end\n",
    );
    assert_eq!(
        s,
        vec![
            "-- a; comment\nCREATE TABLE \"a;b\" (v text DEFAULT 'x;''y');",
            "\nDO $$ BEGIN PERFORM 1; END $$;"
        ]
    );
}

#[test]
fn checksum_prefix_is_the_first_fifteen_hex_digits() {
    // md5('') = d41d8cd98f00b204e9800998ecf8427e
    assert_eq!(md5_60(b""), 0xd41d8cd98f00b20);
}
