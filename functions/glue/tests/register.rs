//! `snapex-glue register` against moto's Glue and S3 on loopback: exports of a real PostgreSQL
//! database are registered, then what Glue holds is read back with boto3 (an independent
//! client) and compared with the export's own catalog files and with the source's data.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path as FsPath;
use std::process::Command;
use std::sync::Arc;

use object_store::ObjectStoreExt;
use object_store::aws::AmazonS3;
use object_store::path::Path;
use serde_json::Value;
use snapex::ExportConfig;
use snapex::catalog::{BatchCreatePartition, TableInput};
use snapex::partitioning::PartitionRule;
use snapex::pipeline::{Quiet, run_export};
use snapex_glue::{Counts, ExportCatalog, Registrar, Report};
use snapex_tests::{S3Server, TestDb, fake_aws_env, get_object, temp_dir};

const BUCKET: &str = "snapex-register";

/// `events` has a row on each of 130 days from 2024-01-01, and NULL times: 131 partitions,
/// more than one BatchCreatePartition takes. `customers` is not partitioned.
const SETUP_SQL: &str = r#"
CREATE TABLE events (id int8 PRIMARY KEY, created_at timestamptz, v text);
INSERT INTO events
SELECT g,
       CASE WHEN g % 50 = 0 THEN NULL
            ELSE timestamptz '2024-01-01 12:00:00+00' + (g % 130) * interval '1 day' END,
       'v' || g
  FROM generate_series(1, 400) g;
CREATE TABLE customers (id int4 PRIMARY KEY, name text);
INSERT INTO customers VALUES (1, 'Ada'), (2, 'Grace');
"#;

/// Exports `db` to `s3://BUCKET/lake/<export_id>`, `events` partitioned by day.
async fn export(db: &TestDb, server: &S3Server, export_id: &str) {
    let mut cfg = ExportConfig::new(&db.url, &format!("s3://{BUCKET}/lake")).unwrap();
    cfg.endpoint = Some(server.endpoint.clone());
    cfg.export_id = Some(export_id.into());
    cfg.concurrency = 2;
    cfg.partition_rules = vec![PartitionRule::parse("events=created_at:day").unwrap()];
    run_export(&cfg, Arc::new(Quiet))
        .await
        .expect("export succeeds");
}

fn export_url(export_id: &str) -> String {
    format!("s3://{BUCKET}/lake/{export_id}")
}

/// The environment of a `snapex-glue` run: moto's fake credentials and nothing from the
/// machine's own AWS setup, and no instance-metadata lookups (no traffic off loopback).
fn glue_command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_snapex-glue"));
    c.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_GLUE")
        .env_remove("AWS_ENDPOINT_URL_S3");
    c
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(c: &mut Command) -> Run {
    let out = c.output().expect("running snapex-glue");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Registers `export_id` with the command line and returns its one-line summary.
fn register_cli(server: &S3Server, export_id: &str) -> String {
    let r = run(glue_command().args([
        "register",
        &export_url(export_id),
        "--endpoint-url",
        &server.endpoint,
    ]));
    assert_eq!(
        r.code,
        Some(0),
        "snapex-glue failed:\nstdout: {}\nstderr: {}",
        r.stdout,
        r.stderr
    );
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    r.stdout.trim_end().to_string()
}

/// What moto's Glue holds for `database`, read with boto3; `Value::Null` when it has no such
/// database.
fn glue_dump(server: &S3Server, database: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scripts/glue_dump.py");
    server.boto3_script(script, database, "reading Glue with boto3")
}

/// The export's own catalog files: its tables and, per table, its partitions by value.
async fn catalog_files(
    store: &AmazonS3,
    export_id: &str,
) -> (
    BTreeMap<String, TableInput>,
    BTreeMap<String, BTreeMap<String, String>>,
) {
    let mut tables = BTreeMap::new();
    for name in ["events", "customers"] {
        let body = get_object(
            store,
            &format!("lake/{export_id}/_catalog/{name}.table.json"),
        )
        .await;
        tables.insert(name.to_string(), serde_json::from_slice(&body).unwrap());
    }
    let mut partitions: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for n in 1.. {
        let path = Path::parse(format!(
            "lake/{export_id}/_catalog/events.partitions-{n:04}.json"
        ))
        .unwrap();
        let Ok(got) = store.get(&path).await else {
            break;
        };
        let request: BatchCreatePartition =
            serde_json::from_slice(&got.bytes().await.unwrap()).unwrap();
        for p in request.partition_input_list {
            partitions
                .entry(request.table_name.clone())
                .or_default()
                .insert(p.values[0].clone(), p.storage_descriptor.location);
        }
    }
    (tables, partitions)
}

/// The partition values the source's `events` rows fall into: their UTC days, and NULL.
async fn source_days(db: &TestDb) -> BTreeSet<String> {
    let rows = db
        .client()
        .await
        .query(
            "SELECT DISTINCT coalesce(to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), \
             '__HIVE_DEFAULT_PARTITION__') FROM events",
            &[],
        )
        .await
        .unwrap();
    rows.iter().map(|r| r.get::<_, String>(0)).collect()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("{v} is not a string"))
}

/// Glue holds exactly the export's tables and partitions, with every field the catalog files
/// set, at this export's locations; the partitions are the source's days.
fn assert_glue_holds(
    glue: &Value,
    db_name: &str,
    export_id: &str,
    tables: &BTreeMap<String, TableInput>,
    partitions: &BTreeMap<String, BTreeMap<String, String>>,
    days: &BTreeSet<String>,
) {
    assert_eq!(s(&glue["Database"]["Name"]), db_name);
    let held: BTreeSet<&str> = glue["Tables"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(held, BTreeSet::from(["customers", "events"]));
    for (name, input) in tables {
        let t = &glue["Tables"][name];
        let sd = &t["StorageDescriptor"];
        let table_location = format!("s3://{BUCKET}/lake/{export_id}/public/{name}/");
        assert_eq!(input.storage_descriptor.location, table_location);
        assert_eq!(s(&sd["Location"]), table_location, "{name}");
        assert_eq!(s(&t["Description"]), input.description);
        assert_eq!(s(&t["TableType"]), "EXTERNAL_TABLE");
        assert_eq!(
            t["Parameters"],
            serde_json::to_value(&input.parameters).unwrap(),
            "{name}"
        );
        assert_eq!(s(&t["Parameters"]["snapex.export_id"]), export_id);
        let columns: Vec<(&str, &str)> = sd["Columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (s(&c["Name"]), s(&c["Type"])))
            .collect();
        let wanted: Vec<(&str, &str)> = input
            .storage_descriptor
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.glue_type.as_str()))
            .collect();
        assert_eq!(columns, wanted, "{name}");
        let keys: Vec<&str> = t["PartitionKeys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| s(&c["Name"]))
            .collect();
        let want_keys: Vec<&str> = input
            .partition_keys
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(keys, want_keys, "{name}");

        let held: BTreeMap<&str, &str> = t["Partitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let values = p["Values"].as_array().unwrap();
                assert_eq!(values.len(), 1);
                (s(&values[0]), s(&p["StorageDescriptor"]["Location"]))
            })
            .collect();
        let wanted: BTreeMap<&str, &str> = partitions
            .get(name)
            .map(|m| m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
            .unwrap_or_default();
        assert_eq!(held, wanted, "{name}: partitions");
        if name == "events" {
            let values: BTreeSet<String> = held.keys().map(|v| v.to_string()).collect();
            assert_eq!(&values, days, "one partition per day of the source's rows");
            for (value, location) in &held {
                assert_eq!(
                    *location,
                    format!("{table_location}created_at_day={value}/")
                );
            }
        } else {
            assert!(held.is_empty(), "{name} is not partitioned");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_converges_and_a_newer_export_replaces_the_older() {
    let db = TestDb::create("glue_register").await;
    db.exec(SETUP_SQL).await;
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    fake_aws_env();
    let store = server.reader(BUCKET);

    // First export: 130 days and the NULL partition.
    export(&db, &server, "e1").await;
    let days1 = source_days(&db).await;
    assert_eq!(days1.len(), 131);
    let summary = register_cli(&server, "e1");
    assert_eq!(
        summary,
        format!(
            "registered export e1 in Glue database {}: database created; tables: 2 created, 0 \
             updated, 0 unchanged; partitions: 131 created, 0 updated, 0 deleted, 0 unchanged",
            db.name
        )
    );
    let (tables1, partitions1) = catalog_files(&store, "e1").await;
    assert_eq!(partitions1["events"].len(), 131);
    let first = glue_dump(&server, &db.name);
    assert_glue_holds(&first, &db.name, "e1", &tables1, &partitions1, &days1);

    // Again: nothing to do, and Glue is exactly as it was (not even rewritten in place).
    let summary = register_cli(&server, "e1");
    assert_eq!(
        summary,
        format!(
            "registered export e1 in Glue database {}: database unchanged; tables: 0 created, 0 \
             updated, 2 unchanged; partitions: 0 created, 0 updated, 0 deleted, 131 unchanged",
            db.name
        )
    );
    assert_eq!(glue_dump(&server, &db.name), first);

    // A newer export with fewer days, no NULL time, one new day and one fewer customer,
    // registered through the library this time.
    db.exec(
        "DELETE FROM events WHERE created_at >= '2024-03-01' OR created_at IS NULL;
         INSERT INTO events VALUES (1000, '2024-06-01 08:00:00+00', 'late');
         DELETE FROM customers WHERE id = 2;",
    )
    .await;
    export(&db, &server, "e2").await;
    let days2 = source_days(&db).await;
    assert_eq!(days2.len(), 61);
    let catalog = ExportCatalog::open(&export_url("e2"), Some(&server.endpoint))
        .await
        .unwrap();
    assert_eq!(catalog.export_id, "e2");
    assert_eq!(catalog.partition_count(), 61);
    let client = snapex_glue::connect(Some(&server.endpoint), None)
        .await
        .unwrap();
    let report = snapex_glue::register(&catalog, &client).await.unwrap();
    assert_eq!(
        report.database,
        Counts {
            unchanged: 1,
            ..Counts::default()
        }
    );
    assert_eq!(
        report.tables,
        Counts {
            updated: 2,
            ..Counts::default()
        }
    );
    // 60 days moved to e2, 2024-06-01 new, 70 days and NULL gone: three BatchDeletePartition
    // calls of at most 25.
    assert_eq!(
        report.partitions,
        Counts {
            created: 1,
            updated: 60,
            deleted: 71,
            unchanged: 0
        }
    );
    let (tables2, partitions2) = catalog_files(&store, "e2").await;
    let second = glue_dump(&server, &db.name);
    assert_glue_holds(&second, &db.name, "e2", &tables2, &partitions2, &days2);
    // With no NULL partition any more, the table is projected now: its parameters changed too.
    assert_eq!(
        s(&second["Tables"]["events"]["Parameters"]["projection.enabled"]),
        "true"
    );
    assert!(first["Tables"]["events"]["Parameters"]["projection.enabled"].is_null());

    // And the newer export, registered again, is left alone.
    let again = snapex_glue::register(&catalog, &client).await.unwrap();
    assert!(again.is_unchanged(), "{again}");
    assert_eq!(again.partitions.unchanged, 61);
    assert_eq!(glue_dump(&server, &db.name), second);
}

/// One `snapex-glue: error:` line on stderr, nothing on stdout, exit `code`.
fn assert_error(r: &Run, code: i32, says: &[&str]) {
    let ctx = format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        r.code, r.stdout, r.stderr
    );
    assert_eq!(r.code, Some(code), "{ctx}");
    assert!(r.stdout.is_empty(), "{ctx}");
    assert_eq!(r.stderr.lines().count(), 1, "{ctx}");
    assert!(r.stderr.starts_with("snapex-glue: error: "), "{ctx}");
    for s in says {
        assert!(r.stderr.contains(s), "{s:?} missing: {ctx}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpublished_export_is_refused_before_glue_is_touched() {
    let db = TestDb::create("glue_unpublished").await;
    db.exec(SETUP_SQL).await;
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    fake_aws_env();
    export(&db, &server, "e1").await;
    // An export whose marker is gone looks like one that stopped before publishing.
    let store = server.reader(BUCKET);
    store
        .delete(&Path::parse("lake/e1/_SUCCESS").unwrap())
        .await
        .unwrap();

    let r = run(glue_command().args([
        "register",
        &export_url("e1"),
        "--endpoint-url",
        &server.endpoint,
    ]));
    assert_error(
        &r,
        2,
        &[
            "s3://snapex-register/lake/e1 is not a published export: it has no _SUCCESS",
            "<dest>/<export-id>",
        ],
    );
    assert!(!r.stderr.contains("manifest.json"), "{}", r.stderr);
    assert_eq!(glue_dump(&server, &db.name)["Database"], Value::Null);

    // The destination instead of an export's folder, and a local folder that holds nothing.
    let r = run(glue_command().args([
        "register",
        &format!("s3://{BUCKET}/lake"),
        "--endpoint-url",
        &server.endpoint,
    ]));
    assert_error(&r, 2, &["has no manifest.json and no _SUCCESS"]);
    let empty = temp_dir("glue-unpublished");
    let r = run(glue_command().args(["register", empty.to_str().unwrap()]));
    assert_error(&r, 2, &["is not a published export"]);
    let missing = empty.join("nothing-here");
    let r = run(glue_command().args(["register", missing.to_str().unwrap()]));
    assert_error(&r, 2, &["is not a folder"]);
    assert!(!FsPath::new(&missing).exists(), "reading creates nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_glue_endpoint_that_does_not_answer_is_a_retryable_failure() {
    let db = TestDb::create("glue_down").await;
    db.exec("CREATE TABLE t (id int4 PRIMARY KEY); INSERT INTO t VALUES (1);")
        .await;
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    fake_aws_env();
    let mut cfg = ExportConfig::new(&db.url, &format!("s3://{BUCKET}/lake")).unwrap();
    cfg.endpoint = Some(server.endpoint.clone());
    cfg.export_id = Some("e1".into());
    run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // S3 answers (the export is read), Glue's own endpoint does not: after the SDK's retries
    // the run fails with 1, not 2.
    let r = run(glue_command()
        .args(["register", &export_url("e1")])
        .env("AWS_ENDPOINT_URL", &server.endpoint)
        .env(
            "AWS_ENDPOINT_URL_GLUE",
            format!("http://127.0.0.1:{closed}"),
        ));
    assert_error(
        &r,
        1,
        &[
            "registering s3://snapex-register/lake/e1 in Glue: Glue GetDatabase database",
            "Connection refused",
        ],
    );
}

/// Copies the folder `from` to `to`, recursively.
fn copy_dir(from: &FsPath, to: &FsPath) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_export_registers_where_it_was_written_and_a_copy_is_refused() {
    let db = TestDb::create("glue_local").await;
    db.exec(SETUP_SQL).await;
    let server = S3Server::start();
    let work = temp_dir("glue-local");
    let mut cfg = ExportConfig::new(&db.url, work.join("lake").to_str().unwrap()).unwrap();
    cfg.export_id = Some("e1".into());
    cfg.partition_rules = vec![PartitionRule::parse("events=created_at:day").unwrap()];
    // One table a shard: manifest.json lists one table and `_manifest/shard-000002.json` the
    // other, so registering both reads the shard.
    cfg.manifest_shard_entries = 1;
    run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    assert!(work.join("lake/e1/_manifest/shard-000002.json").exists());

    // A relative path, from the folder holding the lake.
    let r = run(glue_command().current_dir(&work).args([
        "register",
        "./lake/e1",
        "--endpoint-url",
        &server.endpoint,
    ]));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout
            .ends_with("tables: 2 created, 0 updated, 0 unchanged; partitions: 131 created, 0 updated, 0 deleted, 0 unchanged\n"),
        "{}",
        r.stdout
    );
    let glue = glue_dump(&server, &db.name);
    let root = std::fs::canonicalize(&work).unwrap();
    let events = format!("file://{}/lake/e1/public/events/", root.display());
    assert_eq!(
        s(&glue["Tables"]["events"]["StorageDescriptor"]["Location"]),
        events
    );
    let partitions = glue["Tables"]["events"]["Partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 131);
    assert_eq!(
        s(&partitions[0]["StorageDescriptor"]["Location"]),
        format!("{events}created_at_day=2024-01-01/")
    );

    // A copy's catalog still names the original's folders: registering it would point Glue
    // at files that may be gone.
    copy_dir(&work.join("lake/e1"), &work.join("copy/e1"));
    let r = run(glue_command().args([
        "register",
        work.join("copy/e1").to_str().unwrap(),
        "--endpoint-url",
        &server.endpoint,
    ]));
    assert_error(
        &r,
        2,
        &[
            "table \"customers\" is at file://",
            "outside this export",
            "was the export moved or copied?",
        ],
    );

    // A manifest of a format newer than this version reads is refused, not half understood.
    let manifest = work.join("lake/e1/manifest.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    m["format"] = "snapex-manifest/99".into();
    std::fs::write(&manifest, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let r = run(glue_command().args([
        "register",
        work.join("lake/e1").to_str().unwrap(),
        "--endpoint-url",
        &server.endpoint,
    ]));
    assert_ne!(r.code, Some(0), "{}", r.stdout);
    assert!(
        r.stderr
            .contains("manifest format \"snapex-manifest/99\" is newer than this version"),
        "{}",
        r.stderr
    );
}

/// 200 unpartitioned tables `t000`..`t199` and 20 tables `p00`..`p19` with rows on 12 days
/// each (partitioned by day below): 220 tables and 240 partitions.
const MANY_TABLES_SQL: &str = r#"
DO $$
BEGIN
  FOR i IN 0..199 LOOP
    EXECUTE format('CREATE TABLE %I (id int4 PRIMARY KEY)', 't' || lpad(i::text, 3, '0'));
    EXECUTE format('INSERT INTO %I VALUES (1)', 't' || lpad(i::text, 3, '0'));
  END LOOP;
  FOR i IN 0..19 LOOP
    EXECUTE format('CREATE TABLE %I (id int4 PRIMARY KEY, created_at timestamptz)',
                   'p' || lpad(i::text, 2, '0'));
    EXECUTE format('INSERT INTO %I SELECT g, timestamptz ''2024-01-01 12:00:00+00'' + '
                   '(g %% 12) * interval ''1 day'' FROM generate_series(1, 24) g',
                   'p' || lpad(i::text, 2, '0'));
  END LOOP;
END $$;
"#;
const MANY_TABLES: usize = 220;
const MANY_PARTITIONS: usize = 240;

/// Exports `MANY_TABLES_SQL`'s tables to a local folder and reads the export's catalog back.
async fn export_many_tables(db: &TestDb, tag: &str) -> ExportCatalog {
    fake_aws_env();
    db.exec(MANY_TABLES_SQL).await;
    let work = temp_dir(tag);
    let mut cfg = ExportConfig::new(&db.url, work.join("lake").to_str().unwrap()).unwrap();
    cfg.export_id = Some("e1".into());
    cfg.partition_rules = vec![PartitionRule::parse("p*=created_at:day").unwrap()];
    run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    let url = work.join("lake/e1");
    let catalog = ExportCatalog::open(url.to_str().unwrap(), None)
        .await
        .unwrap();
    assert_eq!(catalog.tables.len(), MANY_TABLES);
    assert_eq!(catalog.partition_count(), MANY_PARTITIONS);
    catalog
}

/// Glue holds exactly `catalog`'s tables, each once at its location, and each table's
/// partitions exactly once each at theirs.
fn assert_glue_holds_catalog(glue: &Value, catalog: &ExportCatalog) {
    assert_eq!(s(&glue["Database"]["Name"]), catalog.database.name);
    let held: Vec<&str> = glue["Tables"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let wanted: Vec<&str> = catalog
        .tables
        .iter()
        .map(|t| t.input.name.as_str())
        .collect();
    assert_eq!(held, wanted);
    for t in &catalog.tables {
        let name = &t.input.name;
        let g = &glue["Tables"][name];
        assert_eq!(
            s(&g["StorageDescriptor"]["Location"]),
            t.input.storage_descriptor.location,
            "{name}"
        );
        // The dump lists every partition Glue holds (sorted by values): duplicates would show.
        let held: Vec<(Vec<String>, &str)> = g["Partitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let values = p["Values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| s(v).to_string())
                    .collect();
                (values, s(&p["StorageDescriptor"]["Location"]))
            })
            .collect();
        let mut wanted: Vec<(Vec<String>, &str)> = t
            .partitions
            .iter()
            .map(|p| (p.values.clone(), p.storage_descriptor.location.as_str()))
            .collect();
        wanted.sort();
        assert_eq!(held, wanted, "{name}: partitions");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_registration_registers_every_table_exactly_once() {
    let db = TestDb::create("glue_throttled").await;
    let catalog = export_many_tables(&db, "glue-throttled").await;
    // Every 25th distinct Glue request of the Rust SDK is refused 6 times in a row: one more
    // than the SDK's attempts per call (`GLUE_CALL_ATTEMPTS`), so only the registration's
    // own retry gets it through. boto3, which reads the result back, is not throttled.
    let server = S3Server::start_strict(&["strict_glue.py=throttle:25,times:6,agent:aws-sdk-rust"]);
    let client = snapex_glue::connect(Some(&server.endpoint), None)
        .await
        .unwrap();
    let report = snapex_glue::register(&catalog, &client).await.unwrap();
    assert_eq!(
        report.database,
        Counts {
            created: 1,
            ..Counts::default()
        }
    );
    assert_eq!(
        report.tables,
        Counts {
            created: MANY_TABLES as u64,
            ..Counts::default()
        }
    );
    assert_eq!(
        report.partitions,
        Counts {
            created: MANY_PARTITIONS as u64,
            ..Counts::default()
        }
    );
    let throttled = server.log().matches("strict_glue: throttled").count();
    assert!(throttled >= 6 * 10, "only {throttled} throttled answers");
    assert_glue_holds_catalog(&glue_dump(&server, &db.name), &catalog);
}

/// `v` without the times Glue stamps on what it creates (`CreateTime`, `UpdateTime`,
/// `CreationTime`, ...): two registrations of one export differ only in those.
fn without_times(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.ends_with("Time"))
                .map(|(k, v)| (k.clone(), without_times(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_times).collect()),
        v => v.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_in_batches_gives_the_catalog_of_one_call() {
    let db = TestDb::create("glue_batches").await;
    let whole = export_many_tables(&db, "glue-batches").await;
    let url = whole.url.clone();

    // One call, on one Glue.
    let one = S3Server::start();
    let client = snapex_glue::connect(Some(&one.endpoint), None)
        .await
        .unwrap();
    let report = snapex_glue::register(&whole, &client).await.unwrap();

    // The database step, then three batches (the last one's range past the end), on another.
    let batched = S3Server::start();
    let registrar = Registrar::new(
        snapex_glue::connect(Some(&batched.endpoint), None)
            .await
            .unwrap(),
    );
    let mut sum = Report {
        database: registrar.register_database(&whole.database).await.unwrap(),
        ..Report::default()
    };
    let mut tables = vec![];
    for range in [0..70, 70..150, 150..1000] {
        let batch = ExportCatalog::open_tables(&url, None, range.clone())
            .await
            .unwrap();
        assert_eq!(batch.table_count, MANY_TABLES);
        assert_eq!(batch.export_id, "e1");
        assert_eq!(
            batch.tables.len(),
            range.end.min(MANY_TABLES) - range.start,
            "{range:?}"
        );
        let r = registrar.register_tables(&batch).await.unwrap();
        assert_eq!(r.database, Counts::default(), "the database step is apart");
        sum.add(&r);
        tables.extend(batch.tables);
    }
    assert_eq!(
        tables, whole.tables,
        "the batches cover the tables once each"
    );
    // A range past the end reads no table.
    let none = ExportCatalog::open_tables(&url, None, MANY_TABLES..MANY_TABLES + 5)
        .await
        .unwrap();
    assert!(none.tables.is_empty());

    assert_eq!(sum.database, report.database);
    assert_eq!(sum.tables, report.tables);
    assert_eq!(sum.partitions, report.partitions);
    assert_eq!(report.tables.created, MANY_TABLES as u64);
    assert_eq!(report.partitions.created, MANY_PARTITIONS as u64);
    let glue = glue_dump(&batched, &db.name);
    assert_glue_holds_catalog(&glue, &whole);
    assert_eq!(
        without_times(&glue),
        without_times(&glue_dump(&one, &db.name))
    );

    // Registering a batch again changes nothing.
    let again = ExportCatalog::open_tables(&url, None, 70..150)
        .await
        .unwrap();
    let r = registrar.register_tables(&again).await.unwrap();
    assert!(r.is_unchanged(), "{r}");
    assert_eq!(r.tables.unchanged, 80);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_reads_its_own_tables_and_every_batch_checks_the_whole_listing() {
    let db = TestDb::create("glue_batch_read").await;
    db.exec(SETUP_SQL).await;
    let work = temp_dir("glue-batch-read");
    let mut cfg = ExportConfig::new(&db.url, work.join("lake").to_str().unwrap()).unwrap();
    cfg.export_id = Some("e1".into());
    cfg.partition_rules = vec![PartitionRule::parse("events=created_at:day").unwrap()];
    run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    let url = work.join("lake/e1");
    let url = url.to_str().unwrap();

    // Tables count in the order of their Glue names: customers, then events.
    let first = ExportCatalog::open_tables(url, None, 0..1).await.unwrap();
    let names: Vec<&str> = first.tables.iter().map(|t| t.input.name.as_str()).collect();
    assert_eq!(names, ["customers"]);
    assert_eq!((first.table_count, first.partition_count()), (2, 0));
    let second = ExportCatalog::open_tables(url, None, 1..2).await.unwrap();
    assert_eq!(second.tables[0].input.name, "events");
    assert_eq!(second.partition_count(), 131);
    // A backwards range reads nothing rather than failing.
    #[allow(clippy::reversed_empty_ranges)]
    let backwards = ExportCatalog::open_tables(url, None, 2..1).await.unwrap();
    assert!(backwards.tables.is_empty());

    // A partitions file of a table that has no table file belongs to no batch: every batch
    // refuses the export, not only the one it would sort into.
    std::fs::write(
        work.join("lake/e1/_catalog/ghost.partitions-0001.json"),
        "{}",
    )
    .unwrap();
    for range in [0..1, 1..2] {
        let e = ExportCatalog::open_tables(url, None, range)
            .await
            .unwrap_err();
        assert!(
            e.to_string().ends_with(
                "ghost.partitions-0001.json names table \"ghost\", which has no table file"
            ),
            "{e}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_batches_run_at_once_register_every_table_exactly_once() {
    // The serverless path: Finalize splits the registration by Glue calls, then the
    // RegisterTables Map runs the batches a few at a time, each reading only its own files.
    use futures::StreamExt;
    let db = TestDb::create("glue_map").await;
    let whole = export_many_tables(&db, "glue-map").await;
    let dest = snapex::sink::Destination::open(&whole.url, None).unwrap();
    let max_calls = 100;
    let (database, batches) = ExportCatalog::batches(&dest, max_calls).await.unwrap();
    assert_eq!(database, whole.database);
    assert!(batches.len() > 4, "{} batches", batches.len());
    let names: Vec<&str> = batches
        .iter()
        .flat_map(|b| b.tables.iter().map(|t| t.name.as_str()))
        .collect();
    let wanted: Vec<&str> = whole.tables.iter().map(|t| t.input.name.as_str()).collect();
    assert_eq!(
        names, wanted,
        "the batches cover the tables once each, in order"
    );
    for (n, b) in batches.iter().enumerate() {
        assert_eq!((b.batch, b.of), (n, MANY_TABLES));
        let calls: usize = b.tables.iter().map(|t| t.calls()).sum();
        assert!(
            calls <= max_calls || b.tables.len() == 1,
            "batch {n}: {calls} calls"
        );
        // The batch's partitions files are what the catalog lists for its tables.
        for t in &b.tables {
            let held = whole
                .tables
                .iter()
                .find(|w| w.input.name == t.name)
                .unwrap();
            assert_eq!(
                t.partitions_files,
                held.partitions.len().div_ceil(100),
                "{}",
                t.name
            );
        }
    }
    // The items survive the JSON Lines the Map reads.
    let line = serde_json::to_string(&batches[1]).unwrap();
    assert_eq!(
        serde_json::from_str::<snapex_glue::TableBatch>(&line).unwrap(),
        batches[1]
    );

    // Every 25th distinct Glue request of the Rust SDK is refused 6 times in a row (one
    // more than the SDK's own attempts); three batches at once, as the Map runs them.
    let server = S3Server::start_strict(&["strict_glue.py=throttle:25,times:6,agent:aws-sdk-rust"]);
    let registrar = Registrar::with_rate(
        snapex_glue::connect(Some(&server.endpoint), None)
            .await
            .unwrap(),
        40,
    );
    registrar.register_database(&database).await.unwrap();
    let read: Vec<(ExportCatalog, Report)> = futures::stream::iter(batches.clone())
        .map(|b| {
            let (dest, registrar) = (dest.clone(), registrar.clone());
            async move {
                let catalog = ExportCatalog::read_batch(&dest, &b).await.unwrap();
                let report = registrar.register_tables(&catalog).await.unwrap();
                (catalog, report)
            }
        })
        .buffered(3)
        .collect()
        .await;
    let mut sum = Report::default();
    let mut tables = vec![];
    for (catalog, report) in read {
        assert_eq!(
            (catalog.export_id.as_str(), catalog.table_count),
            ("e1", MANY_TABLES)
        );
        sum.add(&report);
        tables.extend(catalog.tables);
    }
    assert_eq!(tables, whole.tables, "each batch read its own tables whole");
    assert_eq!(sum.tables.created, MANY_TABLES as u64);
    assert_eq!(sum.partitions.created, MANY_PARTITIONS as u64);
    let throttled = server.log().matches("strict_glue: throttled").count();
    assert!(throttled >= 6 * 5, "only {throttled} throttled answers");
    // The batches were cut by an estimate of their Glue calls: every 25th distinct call was
    // refused 6 times, so the calls made number at least 25 per 6 refusals (and at most 24
    // more); the estimate must not be below them, or a batch could outrun its call's time.
    let made = throttled / 6 * 25;
    let estimated: usize = batches
        .iter()
        .flat_map(|b| &b.tables)
        .map(|t| t.calls())
        .sum();
    println!(
        "Glue calls: about {made} to {} made, {estimated} estimated, for {MANY_TABLES} tables \
         and {MANY_PARTITIONS} partitions",
        made + 24
    );
    assert!(
        made <= estimated,
        "{made} calls made, {estimated} estimated"
    );
    assert_glue_holds_catalog(&glue_dump(&server, &db.name), &whole);

    // A batch reads only its own files: one of another batch's gone, it still reads; the
    // batch that owns it does not.
    let gone = &batches[2].tables[0].name;
    let root = FsPath::new(&whole.url);
    std::fs::remove_file(root.join(format!("_catalog/{gone}.table.json"))).unwrap();
    let first = ExportCatalog::read_batch(&dest, &batches[0]).await.unwrap();
    assert_eq!(first.tables.len(), batches[0].tables.len());
    let e = ExportCatalog::read_batch(&dest, &batches[2])
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("{gone}.table.json disappeared")),
        "{e}"
    );
    // And Finalize's whole check sees it.
    let e = ExportCatalog::batches(&dest, max_calls).await.unwrap_err();
    assert!(e.to_string().contains("no table file for"), "{e}");
}
