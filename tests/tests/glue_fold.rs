//! Glue's quotas and folding, through the real `snapex` binary: an export that would put more
//! tables in one Glue database than the quota allows is refused while planning, before
//! anything is written, and accepted when `--fold-schemas` brings it under; a database of
//! 2,000 tenant schemas with the same three tables exports to three Glue tables partitioned by
//! schema, which DuckDB reads every row through, and the one schema whose table differs is
//! exported on its own and listed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use parquet::file::reader::{FileReader, SerializedFileReader};
use serde_json::Value;
use snapex::catalog::BatchCreatePartition;
use snapex::catalog::fold::{FoldedTable, Folding};
use snapex_tests::glue_check::{athena_resolve, check_type, parse_hive};
use snapex_tests::{
    S3Server, TestDb, assert_cli_error, duckdb, export_command, files_under, read_manifest,
    temp_dir,
};

/// `schemas` schemas `t0000`, `t0001`, ... each with `users` and `orders`, a few rows each.
fn tenants_sql(schemas: usize) -> String {
    format!(
        r#"
DO $$
BEGIN
  FOR i IN 0..{last} LOOP
    EXECUTE format('CREATE SCHEMA %I', 't' || lpad(i::text, 4, '0'));
    EXECUTE format('CREATE TABLE %I.users (id int4 PRIMARY KEY, name text)', 't' || lpad(i::text, 4, '0'));
    EXECUTE format('INSERT INTO %I.users VALUES (1, %L), (2, %L)', 't' || lpad(i::text, 4, '0'), 'a' || i, 'b' || i);
    EXECUTE format('CREATE TABLE %I.orders (id int8 PRIMARY KEY, amount numeric(12,2), at timestamptz)', 't' || lpad(i::text, 4, '0'));
    EXECUTE format('INSERT INTO %I.orders VALUES (1, 1.25, now()), (2, %s, now()), (3, NULL, NULL)', 't' || lpad(i::text, 4, '0'), i);
  END LOOP;
END $$;
"#,
        last = schemas - 1
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_over_the_database_quota_is_refused_and_folding_brings_it_under() {
    let db = TestDb::create("glue_quota").await;
    db.exec(&tenants_sql(10)).await;
    let work = temp_dir("glue-quota");
    let dest = work.join("lake");

    let out = export_command(
        &db.url,
        &dest,
        "q",
        &["--glue-max-tables-per-database", "10"],
    )
    .output()
    .unwrap();
    let o = snapex_tests::Outcome::from(out);
    assert_cli_error(
        &o,
        2,
        &[
            "20 tables",
            "quota of 10 tables per database",
            "--glue-max-tables-per-database",
            "--fold-schemas",
            "2 Glue tables here",
            "several Glue databases",
            "--glue-database",
        ],
    );
    assert!(files_under(&work).is_empty(), "{:?}", files_under(&work));

    let out = export_command(
        &db.url,
        &dest,
        "q",
        &["--glue-max-tables-per-database", "10", "--fold-schemas"],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest = snapex_tests::read_manifest(&dest.join("q"));
    let glue: std::collections::BTreeSet<&str> = manifest
        .tables
        .iter()
        .map(|t| t.glue_table.as_str())
        .collect();
    assert_eq!(glue, ["orders", "users"].into());
    std::fs::remove_dir_all(&work).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_quota_is_refused_too_and_a_config_file_sets_both() {
    let db = TestDb::create("glue_quota_file").await;
    db.exec(&tenants_sql(3)).await;
    let work = temp_dir("glue-quota-file");
    let config = work.join("snapex.toml");
    std::fs::write(
        &config,
        "glue_max_tables_per_account = 4\nfold_schemas = false\n",
    )
    .unwrap();
    let config = config.display().to_string();
    let out = export_command(&db.url, work.join("lake"), "a", &["--config", &config])
        .output()
        .unwrap();
    let o = snapex_tests::Outcome::from(out);
    assert_cli_error(
        &o,
        2,
        &[
            "6 tables",
            "quota of 4 tables per account",
            "--glue-max-tables-per-account",
            "--fold-schemas",
        ],
    );
    std::fs::write(
        work.join("snapex.toml"),
        "glue_max_tables_per_account = 4\nfold_schemas = true\n",
    )
    .unwrap();
    let out = export_command(&db.url, work.join("lake"), "a", &["--config", &config])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&work).unwrap();
}

/// Tenant schemas `t<first>` to `t<last>` (`t0000`, ...) with the same three tables (`users`,
/// 2 rows; `orders`, 3; `items`, 1). One transaction holds a lock per table it creates, so a
/// block makes a hundred schemas at most.
fn tenants_block(first: usize, last: usize) -> String {
    format!(
        r#"
DO $$
DECLARE s text;
BEGIN
  FOR i IN {first}..{last} LOOP
    s := 't' || lpad(i::text, 4, '0');
    EXECUTE format('CREATE SCHEMA %I', s);
    EXECUTE format('CREATE TABLE %I.users (id int4 PRIMARY KEY, name text)', s);
    EXECUTE format('INSERT INTO %I.users VALUES (1, %L), (2, NULL)', s, 'user of ' || s);
    EXECUTE format('CREATE TABLE %I.orders (id int8 PRIMARY KEY, amount numeric(12,2), at timestamptz)', s);
    EXECUTE format('INSERT INTO %I.orders VALUES (1, 1.25, %L), (2, %s, NULL), (3, NULL, NULL)', s, '2024-01-02 03:04:05+00', i);
    EXECUTE format('CREATE TABLE %I.items (id int4 PRIMARY KEY, tags text[])', s);
    EXECUTE format('INSERT INTO %I.items VALUES (%s, ARRAY[%L])', s, i, s);
  END LOOP;
END $$;
"#
    )
}

/// A schema `odd` with the tenants' `users` and `items`, and an `orders` with one more column.
const ODD_SQL: &str = r#"
CREATE SCHEMA odd;
CREATE TABLE odd.users (id int4 PRIMARY KEY, name text);
INSERT INTO odd.users VALUES (1, 'odd'), (2, NULL);
CREATE TABLE odd.orders (id int8 PRIMARY KEY, amount numeric(12,2), at timestamptz, note text);
INSERT INTO odd.orders VALUES (1, 9.99, NULL, 'the odd one');
CREATE TABLE odd.items (id int4 PRIMARY KEY, tags text[]);
INSERT INTO odd.items VALUES (-1, ARRAY['odd']);
"#;

/// A `file://` URL's path.
fn url_path(url: &str) -> PathBuf {
    PathBuf::from(
        url.strip_prefix("file://")
            .unwrap_or_else(|| panic!("{url}")),
    )
}

/// Every partition the partitions files of `table` in `catalog` register: (values, location).
fn partitions_of(catalog: &Path, table: &str) -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    for n in 1.. {
        let file = catalog.join(snapex::layout::partitions_file_name(table, n));
        let Ok(body) = std::fs::read(&file) else {
            break;
        };
        let request: BatchCreatePartition = serde_json::from_slice(&body).unwrap();
        assert_eq!(request.table_name, table);
        assert!(request.partition_input_list.len() <= 100);
        out.extend(
            request
                .partition_input_list
                .into_iter()
                .map(|p| (p.values, p.storage_descriptor.location)),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_tenant_schemas_fold_into_three_glue_tables_partitioned_by_schema() {
    const SCHEMAS: usize = 2000;
    let db = TestDb::create("glue_fold").await;
    for first in (0..SCHEMAS).step_by(100) {
        db.exec(&tenants_block(first, first + 99)).await;
    }
    db.exec(ODD_SQL).await;
    let work = temp_dir("glue-fold");
    let out = export_command(&db.url, work.join("lake"), "f", &["--fold-schemas"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = work.join("lake/f");
    let catalog = root.join("_catalog");

    // The manifest, the run report and the summary say what folded, and what did not.
    let manifest = read_manifest(&root);
    assert_eq!(manifest.tables.len(), 3 * SCHEMAS + 3);
    let folded = |table: &str, schemas: usize| FoldedTable {
        glue_table: table.into(),
        table: table.into(),
        schemas: schemas as u64,
    };
    let folding: &Folding = manifest
        .folding
        .as_ref()
        .expect("the manifest lists folding");
    assert_eq!(folding.partition_key, "source_schema");
    assert_eq!(
        folding.folded,
        [
            folded("items", SCHEMAS + 1),
            folded("orders", SCHEMAS),
            folded("users", SCHEMAS + 1)
        ]
    );
    let [odd] = &folding.not_folded[..] else {
        panic!("one table not folded: {:?}", folding.not_folded)
    };
    assert_eq!(
        (
            odd.schema.as_str(),
            odd.name.as_str(),
            odd.glue_table.as_str(),
            odd.folded_into.as_str()
        ),
        ("odd", "orders", "odd_orders", "orders")
    );
    assert!(
        odd.reason
            .contains("column 4 (\"note\" text) is not in the folded table"),
        "{}",
        odd.reason
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(root.join("report.json")).unwrap()).unwrap();
    assert_eq!(
        report["folding"],
        serde_json::to_value(folding).unwrap(),
        "the run report lists the same"
    );
    for line in [
        "folded 6,002 tables across schemas into 3 Glue tables (partitioned by source_schema)",
        "not folded into orders: odd.orders (Glue table odd_orders): its columns differ",
    ] {
        assert!(stdout.contains(line), "{line:?} in:\n{stdout}");
    }

    // The catalog: three folded tables with their partitions files, and the odd one alone.
    let listed: BTreeSet<String> = std::fs::read_dir(&catalog)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let tables: BTreeSet<&str> = listed
        .iter()
        .filter_map(|n| n.strip_suffix(".table.json"))
        .collect();
    assert_eq!(tables, ["items", "odd_orders", "orders", "users"].into());
    let partitions_files = listed.iter().filter(|n| n.contains(".partitions-")).count();
    assert_eq!(partitions_files, 21 + 20 + 21);

    // Glue (moto, through boto3's checks of the API model) takes the catalog files.
    let server = S3Server::start();
    let glue = server.boto3_script(
        concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/glue_register.py"),
        &catalog,
        "registering the catalog files in Glue",
    );
    let registered = glue["Tables"].as_object().unwrap();
    assert_eq!(registered.len(), 4);
    assert_eq!(
        registered["orders"]["PartitionKeys"],
        serde_json::json!([{
            "Name": "source_schema",
            "Type": "string",
            "Comment": "the source schema the rows come from (tables folded across schemas)",
        }])
    );
    assert_eq!(
        registered["odd_orders"]["PartitionKeys"],
        serde_json::json!([])
    );
    for (t, n) in [
        ("items", SCHEMAS + 1),
        ("orders", SCHEMAS),
        ("users", SCHEMAS + 1),
    ] {
        assert_eq!(glue["Partitions"][t].as_array().unwrap().len(), n, "{t}");
    }

    // Every member's files are in its schema's partition, and nowhere else.
    let by_table: BTreeMap<(String, String), &snapex::manifest::TableManifest> = manifest
        .tables
        .iter()
        .map(|t| ((t.schema.clone(), t.name.clone()), t))
        .collect();
    let mut rows_through_glue = 0u64;
    for table in ["items", "orders", "users"] {
        let input: Value = serde_json::from_slice(
            &std::fs::read(catalog.join(format!("{table}.table.json"))).unwrap(),
        )
        .unwrap();
        let columns = input["StorageDescriptor"]["Columns"]
            .as_array()
            .unwrap()
            .clone();
        let partitions = partitions_of(&catalog, table);
        let mut schemas = BTreeSet::new();
        let mut expected_rows = 0;
        for (values, location) in &partitions {
            let [schema] = &values[..] else {
                panic!("one value, the schema: {values:?}")
            };
            assert!(schemas.insert(schema.clone()), "{schema} twice");
            let member = by_table[&(schema.clone(), table.to_string())];
            assert_eq!(member.glue_table, table);
            assert_eq!(
                location,
                &format!(
                    "file://{}/",
                    root.join(&member.location)
                        .display()
                        .to_string()
                        .trim_end_matches('/')
                )
            );
            expected_rows += member.rows;
            // The strict type check: every Glue column finds its Parquet column, of the type
            // Athena reads as the Glue type, in every file of the partition.
            let dir = url_path(location);
            let files = files_under(&dir);
            assert_eq!(files.len(), member.files.len(), "{location}");
            for f in files {
                let reader = SerializedFileReader::new(std::fs::File::open(&f).unwrap()).unwrap();
                let parquet_schema = reader.metadata().file_metadata().schema();
                let fields = parquet_schema.get_fields();
                assert_eq!(fields.len(), columns.len(), "{}", f.display());
                for c in &columns {
                    let name = c["Name"].as_str().unwrap();
                    check_type(
                        &parse_hive(c["Type"].as_str().unwrap()),
                        athena_resolve(fields, name),
                        &format!("{}: {name}", f.display()),
                    );
                }
            }
        }
        let members = if table == "orders" {
            SCHEMAS
        } else {
            SCHEMAS + 1
        };
        assert_eq!(schemas.len(), members, "{table}");

        // DuckDB reads every row through the partitions, by the Glue column names, a few
        // hundred partitions a query (a query is one command-line argument).
        let names: Vec<String> = columns
            .iter()
            .map(|c| format!("\"{}\"", c["Name"].as_str().unwrap()))
            .collect();
        let mut rows = 0u64;
        let mut read_schemas = 0u64;
        for batch in partitions.chunks(400) {
            let globs: Vec<String> = batch
                .iter()
                .map(|(_, l)| format!("'{}*.parquet'", url_path(l).display()))
                .collect();
            let row = duckdb(&format!(
                "SELECT count(*), count(DISTINCT split_part(filename, '/', -3)), \
                        count({first}) FROM (SELECT {cols}, filename \
                   FROM read_parquet([{globs}], filename = true))",
                first = names[0],
                cols = names.join(", "),
                globs = globs.join(", "),
            ));
            rows += row[0].as_deref().unwrap().parse::<u64>().unwrap();
            read_schemas += row[1].as_deref().unwrap().parse::<u64>().unwrap();
            assert_eq!(row[0], row[2], "{table}: every row has its {}", names[0]);
        }
        assert_eq!(rows, expected_rows, "{table}");
        assert_eq!(read_schemas, members as u64, "{table}");
        rows_through_glue += rows;
    }
    let per_schema = 2 + 3 + 1;
    assert_eq!(rows_through_glue, (per_schema * SCHEMAS + 2 + 1) as u64);

    // The odd table is a table of its own, at its own folder.
    let odd_input: Value =
        serde_json::from_slice(&std::fs::read(catalog.join("odd_orders.table.json")).unwrap())
            .unwrap();
    assert_eq!(
        odd_input["StorageDescriptor"]["Columns"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let row = duckdb(&format!(
        "SELECT count(*), max(note) FROM read_parquet('{}/*.parquet')",
        url_path(odd_input["StorageDescriptor"]["Location"].as_str().unwrap())
            .display()
            .to_string()
            .trim_end_matches('/')
    ));
    assert_eq!(row, [Some("1".into()), Some("the odd one".into())]);
    let sql = std::fs::read_to_string(catalog.join("orders.sql")).unwrap();
    assert!(
        sql.contains("PARTITIONED BY (\n  `source_schema` string"),
        "{sql}"
    );
    assert!(
        sql.contains("file://orders.partitions-0020.json\n"),
        "{sql}"
    );
    std::fs::remove_dir_all(&work).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serverless_steps_refuse_at_plan_and_fold_at_finalize() {
    use snapex::pipeline::{Quiet, chunk_step, finalize_step, plan_step};
    let db = TestDb::create("glue_fold_steps").await;
    db.exec(&tenants_block(0, 4)).await;
    db.exec(ODD_SQL).await;
    let dest = temp_dir("glue-fold-steps");
    let d = dest.to_str().unwrap();
    let mut cfg = snapex::ExportConfig::new(&db.url, d).unwrap();
    cfg.export_id = Some("s".into());
    cfg.glue_quotas.tables_per_database = 10;

    // 18 tables over a quota of 10: the Plan step refuses, with a typed error.
    let e = plan_step(&cfg, std::sync::Arc::new(Quiet))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            snapex::Error::GlueQuota {
                tables: 18,
                folded: Some(4),
                quota: 10,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.class(), snapex::ErrorClass::InvalidInput);

    // Folded, 4 Glue tables: planned, each chunk run on its own, finalized.
    cfg.fold_schemas = true;
    let planned = plan_step(&cfg, std::sync::Arc::new(Quiet)).await.unwrap();
    let url = snapex::source::SourceUrl::parse(&db.url).unwrap();
    for chunk in 0..planned.chunks {
        chunk_step(&url, d, None, "s", chunk).await.unwrap();
    }
    finalize_step(d, None, "s", std::sync::Arc::new(Quiet))
        .await
        .unwrap();
    let root = dest.join("s");
    let manifest = read_manifest(&root);
    let folding = manifest.folding.expect("folding listed");
    let folded: Vec<(&str, u64)> = folding
        .folded
        .iter()
        .map(|f| (f.glue_table.as_str(), f.schemas))
        .collect();
    assert_eq!(folded, [("items", 6), ("orders", 5), ("users", 6)]);
    assert_eq!(folding.not_folded.len(), 1);
    assert_eq!(folding.not_folded[0].glue_table, "odd_orders");
    let partitions = partitions_of(&root.join("_catalog"), "orders");
    let schemas: Vec<&str> = partitions.iter().map(|(v, _)| v[0].as_str()).collect();
    assert_eq!(schemas, ["t0000", "t0001", "t0002", "t0003", "t0004"]);
    std::fs::remove_dir_all(&dest).unwrap();
}
