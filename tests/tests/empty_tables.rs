//! Tables with no rows: each still has one Parquet file with no rows and the table's columns,
//! so readers pointed at the table's folder (DuckDB, pyarrow, and Athena through the Glue
//! definition) read 0 rows with the right columns instead of failing on an empty folder. The
//! same from the command line, the serverless steps, and a resumed run; and key ranges of
//! tables that do have rows still write no file when empty.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use snapex::ExportConfig;
use snapex::manifest::{Manifest, TableManifest};
use snapex::partitioning::PartitionRule;
use snapex::pipeline::{Quiet, chunk_step, finalize_step, plan_step, run_export};
use snapex::source::SourceUrl;
use snapex_tests::faults::DroppingProxy;
use snapex_tests::{
    MyDb, TestDb, duckdb, files_under, manifest_table, pyarrow_dataset, read_manifest, run_snapex,
    temp_dir,
};

const PG_SQL: &str = "
CREATE TABLE public.nothing (id int8 PRIMARY KEY, note text, at timestamptz, amount numeric(12,2), d date);
CREATE TABLE public.events (id int8 PRIMARY KEY, created_at timestamptz, v text);
CREATE TABLE public.orders (id int8 PRIMARY KEY, v text);
CREATE TABLE public.leafy (id int8, at date, v text) PARTITION BY RANGE (at);
CREATE TABLE public.leafy_2024 PARTITION OF public.leafy FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE public.leafy_2025 PARTITION OF public.leafy FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
-- Rows at both ends of a wide key span and none between, about 12 MB (a pad short enough to
-- stay uncompressed in the row): without statistics the span is cut evenly, in at least three
-- ranges, and those in the hole hold no rows.
CREATE TABLE public.holey (id int8 PRIMARY KEY, pad text) WITH (autovacuum_enabled = false);
INSERT INTO public.holey SELECT g, repeat(md5(g::text), 55) FROM generate_series(1, 3000) g;
INSERT INTO public.holey SELECT g, repeat(md5(g::text), 55) FROM generate_series(1000000, 1003000) g;
";

const PG_RULES: [&str; 2] = [
    "public.events=created_at:day",
    "public.orders=key:buckets:100",
];

/// Columns a reader should see for each empty table: DuckDB's types, pyarrow's types.
fn pg_columns(table: &str) -> (Vec<&'static str>, Vec<(&'static str, &'static str)>) {
    match table {
        "nothing" => (
            vec![
                "id BIGINT",
                "note VARCHAR",
                "at TIMESTAMP WITH TIME ZONE",
                "amount DECIMAL(12,2)",
                "d DATE",
            ],
            vec![
                ("id", "int64"),
                ("note", "string"),
                ("at", "timestamp[us, tz=+00:00]"),
                ("amount", "decimal128(12, 2)"),
                ("d", "date32[day]"),
            ],
        ),
        "events" => (
            vec![
                "id BIGINT",
                "created_at TIMESTAMP WITH TIME ZONE",
                "v VARCHAR",
                "created_at_day VARCHAR",
            ],
            vec![
                ("id", "int64"),
                ("created_at", "timestamp[us, tz=+00:00]"),
                ("v", "string"),
                ("created_at_day", "string"),
            ],
        ),
        "orders" => (
            vec!["id BIGINT", "v VARCHAR", "id_bucket VARCHAR"],
            vec![("id", "int64"), ("v", "string"), ("id_bucket", "int64")],
        ),
        "leafy" => (
            vec!["id BIGINT", "at DATE", "v VARCHAR"],
            vec![("id", "int64"), ("at", "date32[day]"), ("v", "string")],
        ),
        other => panic!("no columns for {other}"),
    }
}

/// The file each empty table gets, relative to the export's folder.
fn pg_zero_row_file(table: &str) -> &'static str {
    match table {
        "nothing" => "public/nothing/part-all.parquet",
        "events" => "public/events/created_at_day=__HIVE_DEFAULT_PARTITION__/part-all.parquet",
        "orders" => "public/orders/id_bucket=__HIVE_DEFAULT_PARTITION__/part-all.parquet",
        // The first leaf's piece: the file it writes when it has rows.
        "leafy" => "public/leafy/part-of-public.leafy_2024.parquet",
        other => panic!("no file for {other}"),
    }
}

/// DuckDB's row count and columns (`name TYPE`) of every Parquet file under `dir`, read as a
/// reader pointed at the folder reads it (Hive partitions detected from the folder names).
fn duckdb_read(dir: &Path) -> (String, Vec<String>) {
    let glob = format!("{}/**/*.parquet", dir.display());
    let row = duckdb(&format!(
        "SELECT (SELECT count(*) FROM read_parquet('{glob}')),
                (SELECT string_agg(column_name || ' ' || column_type, ', ')
                   FROM (DESCRIBE SELECT * FROM read_parquet('{glob}')))"
    ));
    let columns = row[1].clone().unwrap();
    (
        row[0].clone().unwrap(),
        columns.split(", ").map(String::from).collect(),
    )
}

/// Athena's view through the generated Glue table: DuckDB reading the table's location with
/// the partition keys' Glue types (see `scripts/duckdb_glue_table.py`).
fn athena_count(export: &Path, t: &TableManifest) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/duckdb_glue_table.py");
    let table_json = export.join(format!("_catalog/{}.table.json", t.glue_table));
    let out = Command::new("python3")
        .arg(script)
        .arg(&table_json)
        .arg("SELECT count(*) FROM t")
        .output()
        .expect("running python3");
    assert!(
        out.status.success(),
        "{}: duckdb through the Glue table failed: {}",
        t.name,
        String::from_utf8_lossy(&out.stderr)
    );
    let row: Vec<Option<String>> = serde_json::from_slice(&out.stdout).unwrap();
    row[0].clone().unwrap()
}

/// Every Parquet file under the export's table folders, relative to `export`.
fn parquet_files(export: &Path) -> Vec<String> {
    files_under(export)
        .iter()
        .map(|p| {
            p.strip_prefix(export)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|p| p.ends_with(".parquet"))
        .collect()
}

/// Checks an export of the PostgreSQL source: the empty tables' files, what the readers see,
/// and that the non-empty table's empty ranges wrote nothing.
fn check_pg_export(export: &Path) {
    let manifest = read_manifest(export);
    for name in ["nothing", "events", "orders", "leafy"] {
        let t = manifest_table(&manifest, name);
        let listed: Vec<(&str, u64)> = t.files.iter().map(|f| (f.path.as_str(), f.rows)).collect();
        assert_eq!(
            listed,
            [(pg_zero_row_file(name), 0)],
            "{name}: one zero-row file"
        );
        assert_eq!(t.rows, 0, "{name}");
        assert!(t.files[0].bytes > 0);
        let dir = export.join(t.location.trim_end_matches('/'));
        let (rows, columns) = duckdb_read(&dir);
        let (want_duck, want_arrow) = pg_columns(name);
        assert_eq!(
            (rows.as_str(), columns),
            ("0", want_duck.iter().map(|c| c.to_string()).collect()),
            "{name}: DuckDB"
        );
        let keys: Vec<(&str, &str)> = t
            .partitioning
            .as_ref()
            .map(|p| {
                let arrow = if p.by == "buckets" { "int64" } else { "string" };
                vec![(p.key.as_str(), arrow)]
            })
            .unwrap_or_default();
        let (rows, columns) = pyarrow_dataset(&dir, &keys);
        let want: Vec<(String, String)> = want_arrow
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        assert_eq!((rows, columns), (0, want), "{name}: pyarrow");
        assert_eq!(athena_count(export, t), "0", "{name}: through Glue");
        // Its columns are the manifest's, under their Parquet names.
        let parquet: Vec<&str> = t.columns.iter().map(|c| c.parquet_name.as_str()).collect();
        assert_eq!(
            parquet,
            want_arrow
                .iter()
                .map(|c| c.0)
                .take(parquet.len())
                .collect::<Vec<_>>()
        );
    }
    // A table with rows writes no file for its empty ranges, zero-row or other.
    let holey = manifest_table(&manifest, "holey");
    assert_eq!(holey.rows, 3000 + 3001);
    assert!(
        !holey.empty_ranges.is_empty(),
        "the hole leaves empty ranges"
    );
    assert!(holey.files.len() >= 2);
    assert!(holey.files.iter().all(|f| f.rows > 0), "{:?}", holey.files);
    // The folders hold exactly the manifest's files.
    let mut listed: Vec<String> = manifest
        .tables
        .iter()
        .flat_map(|t| t.files.iter().map(|f| f.path.clone()))
        .collect();
    listed.sort();
    assert_eq!(parquet_files(export), listed);
    assert_eq!(
        manifest.totals.files,
        listed.len() as u64,
        "the totals count the zero-row files"
    );
    // The run report agrees with the manifest, table by table.
    let report: snapex::pipeline::report::RunReport =
        serde_json::from_slice(&std::fs::read(export.join("report.json")).unwrap()).unwrap();
    assert_eq!(report.totals, manifest.totals);
    for t in &manifest.tables {
        let r = report
            .tables
            .iter()
            .find(|r| r.table == format!("{}.{}", t.schema, t.name))
            .unwrap();
        assert_eq!(
            (r.files, r.rows, r.bytes),
            (t.files.len() as u64, t.rows, t.bytes),
            "{}",
            t.name
        );
    }
}

fn pg_config(url: &str, dest: &Path, export_id: &str) -> ExportConfig {
    let mut cfg = ExportConfig::new(url, dest.to_str().unwrap()).unwrap();
    cfg.export_id = Some(export_id.into());
    cfg.plan.target_file_bytes = 1024 * 1024;
    cfg.partition_rules = PG_RULES
        .iter()
        .map(|r| PartitionRule::parse(r).unwrap())
        .collect();
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_postgres_tables_read_back_as_zero_rows_from_the_cli_and_the_steps() {
    let db = TestDb::create("empty_pg").await;
    db.exec(PG_SQL).await;

    // The command line.
    let dest = temp_dir("empty-pg-cli");
    let mut args = vec![
        "export",
        "--source",
        &db.url,
        "--dest",
        ".",
        "--export-id",
        "e",
        "--no-progress",
        "--target-file-size",
        "1MiB",
    ];
    for r in &PG_RULES {
        args.extend(["--partition-by", r]);
    }
    let o = run_snapex(&args, &dest);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    check_pg_export(&dest.join("e"));

    // The serverless steps, one at a time.
    let steps = temp_dir("empty-pg-steps");
    let cfg = pg_config(&db.url, &steps, "s");
    let planned = plan_step(&cfg, Arc::new(Quiet)).await.unwrap();
    let url = SourceUrl::parse(&db.url).unwrap();
    let d = steps.to_str().unwrap();
    for chunk in 0..planned.chunks {
        chunk_step(&url, d, None, "s", chunk).await.unwrap();
    }
    finalize_step(d, None, "s", Arc::new(Quiet)).await.unwrap();
    check_pg_export(&steps.join("s"));
    // Finalizing again (a retried Lambda) changes nothing.
    let before = std::fs::read(steps.join("s/manifest.json")).unwrap();
    finalize_step(d, None, "s", Arc::new(Quiet)).await.unwrap();
    assert_eq!(
        std::fs::read(steps.join("s/manifest.json")).unwrap(),
        before
    );

    std::fs::remove_dir_all(&dest).unwrap();
    std::fs::remove_dir_all(&steps).unwrap();
}

/// An export that failed is resumed after a table that was empty got rows (the resumed run
/// reads in a new view): the zero-row files are those of the tables still empty, and the
/// report agrees with the manifest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_export_writes_the_zero_row_files_of_the_tables_still_empty() {
    let db = TestDb::create("empty_resume").await;
    db.exec(
        "CREATE TABLE public.stays (id int8 PRIMARY KEY, v text);
         CREATE TABLE public.fills (id int8 PRIMARY KEY, v text);
         CREATE TABLE public.full_t (id int8 PRIMARY KEY, v text);
         INSERT INTO public.full_t SELECT g, 'v' || g FROM generate_series(1, 100) g;",
    )
    .await;
    // A run's reader loses its connection: nothing is published.
    let (proxy, proxied) = DroppingProxy::before(&db.url);
    let config = |dest: &Path| {
        let mut cfg = ExportConfig::new(&proxied, dest.to_str().unwrap()).unwrap();
        cfg.export_id = Some("r".into());
        cfg.concurrency = 1;
        cfg.retry.retries = 0;
        cfg
    };
    let clean = temp_dir("empty-resume-clean");
    run_export(&config(&clean), Arc::new(Quiet)).await.unwrap();
    // With one reader, a run's last connection is its reader's.
    let per_run = proxy.connections();
    proxy.drop_connections([2 * per_run]);
    let dest = temp_dir("empty-resume");
    let mut cfg = config(&dest);
    run_export(&cfg, Arc::new(Quiet)).await.unwrap_err();
    assert!(!dest.join("r/manifest.json").exists());
    std::fs::remove_dir_all(&clean).unwrap();

    db.exec("INSERT INTO public.fills VALUES (1, 'late')").await;
    cfg.source = SourceUrl::parse(&db.url).unwrap();
    cfg.resume = true;
    let summary = run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    let export = dest.join("r");
    let manifest: Manifest = read_manifest(&export);
    let files = |name: &str| -> Vec<(String, u64)> {
        manifest_table(&manifest, name)
            .files
            .iter()
            .map(|f| (f.path.clone(), f.rows))
            .collect()
    };
    assert_eq!(
        files("stays"),
        [("public/stays/part-all.parquet".to_string(), 0)]
    );
    assert_eq!(
        files("fills"),
        [("public/fills/part-all.parquet".to_string(), 1)]
    );
    assert_eq!(
        files("full_t"),
        [("public/full_t/part-all.parquet".to_string(), 100)]
    );
    assert_eq!(summary.totals.files, 3);
    assert_eq!(summary.report.totals, manifest.totals);
    let stays = summary
        .report
        .tables
        .iter()
        .find(|t| t.table == "public.stays")
        .unwrap();
    assert_eq!((stays.files, stays.rows), (1, 0));
    let (rows, columns) = pyarrow_dataset(&export.join("public/stays"), &[]);
    assert_eq!(rows, 0);
    assert_eq!(
        columns,
        [("id".into(), "int64".into()), ("v".into(), "string".into())]
    );
    let mut on_disk = parquet_files(&export);
    on_disk.sort();
    assert_eq!(on_disk.len(), 3, "{on_disk:?}");
    std::fs::remove_dir_all(&dest).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_mysql_tables_read_back_as_zero_rows() {
    let db = MyDb::create("empty_my").await;
    db.exec(
        "CREATE TABLE nothing (id BIGINT PRIMARY KEY, note VARCHAR(20), at DATETIME(6), amount DECIMAL(12,2));
         CREATE TABLE keyless (note TEXT, n INT);
         CREATE TABLE shops (id BIGINT PRIMARY KEY, region VARCHAR(20));
         ANALYZE TABLE nothing, keyless, shops;",
    )
    .await;
    let dest = temp_dir("empty-my");
    let mut cfg = ExportConfig::new(&db.url, dest.to_str().unwrap()).unwrap();
    cfg.export_id = Some("e".into());
    cfg.partition_rules = vec![PartitionRule::parse("shops=region:value").unwrap()];
    run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    let export = dest.join("e");
    let manifest = read_manifest(&export);
    for (name, file, duck, arrow, keys) in [
        (
            "nothing",
            "part-all.parquet",
            vec![
                "id BIGINT",
                "note VARCHAR",
                "at TIMESTAMP",
                "amount DECIMAL(12,2)",
            ],
            vec![
                ("id", "int64"),
                ("note", "string"),
                ("at", "timestamp[us]"),
                ("amount", "decimal128(12, 2)"),
            ],
            vec![],
        ),
        (
            "keyless",
            "part-all.parquet",
            vec!["note VARCHAR", "n INTEGER"],
            vec![("note", "string"), ("n", "int32")],
            vec![],
        ),
        (
            "shops",
            "region_value=__HIVE_DEFAULT_PARTITION__/part-all.parquet",
            vec!["id BIGINT", "region VARCHAR", "region_value VARCHAR"],
            vec![
                ("id", "int64"),
                ("region", "string"),
                ("region_value", "string"),
            ],
            vec![("region_value", "string")],
        ),
    ] {
        let t = manifest_table(&manifest, name);
        let listed: Vec<(String, u64)> = t.files.iter().map(|f| (f.path.clone(), f.rows)).collect();
        assert_eq!(listed, [(format!("{}{file}", t.location), 0)], "{name}");
        let dir = export.join(t.location.trim_end_matches('/'));
        let (rows, columns) = duckdb_read(&dir);
        assert_eq!(rows, "0", "{name}");
        assert_eq!(columns, duck, "{name}: DuckDB");
        let (rows, columns) = pyarrow_dataset(&dir, &keys);
        assert_eq!(rows, 0, "{name}");
        let want: Vec<(String, String)> = arrow
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        assert_eq!(columns, want, "{name}: pyarrow");
        assert_eq!(athena_count(&export, t), "0", "{name}: through Glue");
    }
    let all: Vec<PathBuf> = files_under(&export)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    assert_eq!(all.len(), 3, "{all:?}");
    std::fs::remove_dir_all(&dest).unwrap();
}
