//! The long tail at this scale: a table at PostgreSQL's 1,600-column limit, and a
//! database of 5,000 tables (small tables share chunks, and each reader transaction stays
//! within the server's lock table).

use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float32Type, Int16Type, Int32Type};
use snapex::ExportConfig;
use snapex::pipeline::{Quiet, run_export};
use snapex_tests::{TestDb, read_manifest, read_table, temp_dir};

const WIDE_COLUMNS: usize = 1600;
const WIDE_ROWS: i32 = 2_000;

/// Column `k` (1-based, after `id`) cycles through five types; its value in row `g` is a
/// function of `g` and `k` so every cell can be checked.
fn wide_column(k: usize) -> (String, &'static str, String) {
    let name = format!("c{k:04}");
    match k % 5 {
        0 => (name, "int2", format!("((g + {k}) % 30000)::int2")),
        1 => (name, "boolean", format!("((g + {k}) % 3 = 0)")),
        2 => (name, "int4", format!("g * {k}")),
        3 => (
            name,
            "text",
            format!("CASE WHEN g % 7 = 0 THEN NULL ELSE 'r' || g || 'c{k}' END"),
        ),
        _ => (name, "real", format!("(g::real / {k})")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_at_the_1600_column_limit_exports_every_cell() {
    let db = TestDb::create("wide").await;
    let cols: Vec<_> = (1..WIDE_COLUMNS).map(wide_column).collect();
    let defs: Vec<String> = cols.iter().map(|(n, t, _)| format!("{n} {t}")).collect();
    let exprs: Vec<String> = cols.iter().map(|(_, _, e)| e.clone()).collect();
    db.exec(&format!(
        "CREATE TABLE wide (id int4 PRIMARY KEY, {});
         INSERT INTO wide SELECT g, {} FROM generate_series(1, {WIDE_ROWS}) g;",
        defs.join(", "),
        exprs.join(", ")
    ))
    .await;

    let dest = temp_dir("wide");
    let mut cfg = ExportConfig::new(&db.url, dest.to_str().unwrap()).unwrap();
    cfg.export_id = Some("e".into());
    run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    let root = dest.join("e");
    let batch = read_table(&root, "public", "wide");
    assert_eq!(batch.num_columns(), WIDE_COLUMNS);
    assert_eq!(batch.num_rows(), WIDE_ROWS as usize);
    assert_eq!(read_manifest(&root).tables[0].columns.len(), WIDE_COLUMNS);

    let ids = batch.column(0).as_primitive::<Int32Type>();
    for (k, (name, _, _)) in cols.iter().enumerate().map(|(i, c)| (i + 1, c)) {
        let col = batch.column_by_name(name).unwrap();
        for row in 0..batch.num_rows() {
            let g = ids.value(row);
            match k % 5 {
                0 => assert_eq!(
                    col.as_primitive::<Int16Type>().value(row) as i32,
                    (g + k as i32) % 30000
                ),
                1 => assert_eq!(col.as_boolean().value(row), (g + k as i32) % 3 == 0),
                2 => assert_eq!(col.as_primitive::<Int32Type>().value(row), g * k as i32),
                3 if g % 7 == 0 => assert!(col.is_null(row)),
                3 => assert_eq!(col.as_string::<i32>().value(row), format!("r{g}c{k}")),
                _ => assert_eq!(
                    col.as_primitive::<Float32Type>().value(row),
                    g as f32 / k as f32
                ),
            }
        }
    }
}

const MANY_TABLES: usize = 5_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_tables_export_into_few_chunks() {
    let db = TestDb::create("many").await;
    // Created in batches: one transaction creating thousands of tables would itself exhaust
    // the lock table.
    for start in (0..MANY_TABLES).step_by(500) {
        db.exec(&format!(
            "DO $$ BEGIN FOR i IN {} .. {} LOOP
               EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, v text)', 'tbl_' || i);
               EXECUTE format('INSERT INTO %I VALUES (1, %L), (2, NULL)', 'tbl_' || i, 'value ' || i);
             END LOOP; END $$;",
            start,
            start + 499
        ))
        .await;
    }
    // One table with no columns and one partitioned table: listed, never silently dropped.
    db.exec(
        "CREATE TABLE no_columns ();
         CREATE TABLE events (id int8, at date NOT NULL) PARTITION BY RANGE (at);
         CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
         -- Attached with its columns in another order: leaves are read by column name.
         CREATE TABLE events_2025 (at date NOT NULL, id int8);
         ALTER TABLE events ATTACH PARTITION events_2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
         INSERT INTO events VALUES (1, '2024-05-01'), (2, '2025-05-01'), (3, '2025-06-01');",
    )
    .await;

    let dest = temp_dir("many");
    let mut cfg = ExportConfig::new(&db.url, dest.to_str().unwrap()).unwrap();
    cfg.export_id = Some("e".into());
    let summary = run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    let root = dest.join("e");
    let manifest = read_manifest(&root);

    assert_eq!(
        manifest.tables.len(),
        MANY_TABLES + 1,
        "5000 tables and the partitioned parent"
    );
    assert_eq!(summary.totals.rows as usize, MANY_TABLES * 2 + 3);
    // Each leaf partition is a piece of its own, written into the parent's folder.
    assert_eq!(summary.totals.files as usize, MANY_TABLES + 2);
    let events_files: Vec<&str> = manifest
        .tables
        .iter()
        .find(|t| t.name == "events")
        .unwrap()
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(
        events_files,
        [
            "public/events/part-of-public.events_2024.parquet",
            "public/events/part-of-public.events_2025.parquet"
        ]
    );
    let skipped: Vec<(String, &str)> = manifest
        .skipped
        .iter()
        .map(|s| (s.name.name.clone(), s.reason.as_str()))
        .collect();
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert!(
        skipped
            .iter()
            .any(|(n, r)| n == "no_columns" && r.contains("no columns"))
    );
    assert!(
        skipped
            .iter()
            .any(|(n, r)| n == "events_2024" && r.contains("partition"))
    );

    for i in [0, 1, 2499, 4999] {
        let t = read_table(&root, "public", &format!("tbl_{i}"));
        let v = t.column_by_name("v").unwrap().as_string::<i32>();
        let ids = t.column_by_name("id").unwrap().as_primitive::<Int32Type>();
        let mut got: Vec<(i32, Option<&str>)> = (0..t.num_rows())
            .map(|r| (ids.value(r), v.is_valid(r).then(|| v.value(r))))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![(1, Some(format!("value {i}").as_str())), (2, None)]
        );
    }
    let events = read_table(&root, "public", "events");
    let ids = events
        .column_by_name("id")
        .unwrap()
        .as_primitive::<arrow::datatypes::Int64Type>();
    let days = events
        .column_by_name("at")
        .unwrap()
        .as_primitive::<arrow::datatypes::Date32Type>();
    let mut got: Vec<(i64, i32)> = (0..events.num_rows())
        .map(|r| (ids.value(r), days.value(r)))
        .collect();
    got.sort();
    // 2024-05-01, 2025-05-01 and 2025-06-01 as days since 1970-01-01.
    assert_eq!(got, vec![(1, 19844), (2, 20209), (3, 20240)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columns_added_and_dropped_over_the_years_export_as_they_are_now() {
    let db = TestDb::create("altered").await;
    // Hundreds of ALTER TABLE ADD COLUMN, every third later dropped: PostgreSQL keeps the
    // dropped ones as holes in the attribute numbers.
    let mut sql = String::from("CREATE TABLE grown (id int4 PRIMARY KEY);");
    for k in 1..=300 {
        sql.push_str(&format!(
            "ALTER TABLE grown ADD COLUMN c{k} int4 DEFAULT {k};"
        ));
    }
    for k in (3..=300).step_by(3) {
        sql.push_str(&format!("ALTER TABLE grown DROP COLUMN c{k};"));
    }
    sql.push_str(
        "INSERT INTO grown (id) SELECT g FROM generate_series(1, 50) g; UPDATE grown SET c1 = id;",
    );
    db.exec(&sql).await;

    let dest = temp_dir("altered");
    let mut cfg = ExportConfig::new(&db.url, dest.to_str().unwrap()).unwrap();
    cfg.export_id = Some("e".into());
    run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    let batch = read_table(&dest.join("e"), "public", "grown");
    assert_eq!(
        batch.num_columns(),
        1 + 200,
        "id and the 200 columns still there"
    );
    assert_eq!(batch.num_rows(), 50);
    assert!(batch.column_by_name("c3").is_none() && batch.column_by_name("c300").is_none());
    let ids = batch
        .column_by_name("id")
        .unwrap()
        .as_primitive::<Int32Type>();
    let c1 = batch
        .column_by_name("c1")
        .unwrap()
        .as_primitive::<Int32Type>();
    let c299 = batch
        .column_by_name("c299")
        .unwrap()
        .as_primitive::<Int32Type>();
    for r in 0..batch.num_rows() {
        assert_eq!(c1.value(r), ids.value(r));
        assert_eq!(c299.value(r), 299, "the default of a column added later");
    }
}
