//! An export to a real S3-compatible server (moto on loopback), read back from the server only:
//! the manifest, the `_SUCCESS` marker and every Parquet file the manifest lists, compared value
//! by value with what was inserted. Once through the library, once through the `snapex` binary.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Decimal128Type, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType,
};
use futures::TryStreamExt;
use object_store::aws::AmazonS3;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use snapex::manifest::Manifest;
use snapex_tests::{S3Server, TestDb, fake_aws_env, read_parquet_file, snapex_bin};

const ROWS: i64 = 20_000;
const BUCKET: &str = "snapex-lake";

/// The source table. Every value is a function of `id`; [`expected`] is the same formula in Rust.
const SETUP_SQL: &str = r#"
CREATE TABLE public.events (
    id      int8 PRIMARY KEY,
    label   text,
    amount  numeric(20,4),
    at      timestamptz,
    payload bytea,
    tags    int4[]
);
INSERT INTO public.events
SELECT id,
       CASE WHEN id % 7 = 0 THEN NULL
            WHEN id % 7 = 1 THEN ''
            ELSE 'row ' || id || ' ü' || repeat('x', (id % 50)::int) END,
       CASE WHEN id % 11 = 0 THEN NULL
            WHEN id % 23 = 0 THEN -(id * 100000000000 + 0.0001)
            ELSE id * 1234.5678 - 5000000 END,
       CASE WHEN id % 13 = 0 THEN NULL
            ELSE timestamptz '2001-02-03 04:05:06.000007+00' + id * interval '61.000001 seconds' END,
       CASE WHEN id % 17 = 0 THEN NULL
            WHEN id % 5 = 0 THEN '\x'::bytea
            ELSE int8send(id) || '\x00ff'::bytea END,
       CASE WHEN id % 19 = 0 THEN NULL
            WHEN id % 3 = 0 THEN '{}'::int4[]
            ELSE ARRAY[id::int4, NULL, (-id)::int4] END
  FROM generate_series(1, 20000) AS id;
"#;

/// One row as inserted.
#[derive(Debug, PartialEq)]
struct Row {
    label: Option<String>,
    /// The numeric(20,4) value times 10^4.
    amount: Option<i128>,
    /// Microseconds since the Unix epoch.
    at: Option<i64>,
    payload: Option<Vec<u8>>,
    tags: Option<Vec<Option<i32>>>,
}

fn expected(id: i64) -> Row {
    let base = chrono::DateTime::parse_from_rfc3339("2001-02-03T04:05:06.000007Z")
        .unwrap()
        .timestamp_micros();
    Row {
        label: match id % 7 {
            0 => None,
            1 => Some(String::new()),
            _ => Some(format!("row {id} ü{}", "x".repeat((id % 50) as usize))),
        },
        amount: if id % 11 == 0 {
            None
        } else if id % 23 == 0 {
            Some(-(id as i128 * 100_000_000_000 * 10_000 + 1))
        } else {
            Some(id as i128 * 12_345_678 - 5_000_000 * 10_000)
        },
        at: (id % 13 != 0).then(|| base + id * 61_000_001),
        payload: if id % 17 == 0 {
            None
        } else if id % 5 == 0 {
            Some(vec![])
        } else {
            let mut b = id.to_be_bytes().to_vec();
            b.extend([0x00, 0xff]);
            Some(b)
        },
        tags: if id % 19 == 0 {
            None
        } else if id % 3 == 0 {
            Some(vec![])
        } else {
            Some(vec![Some(id as i32), None, Some(-id as i32)])
        },
    }
}

async fn source_db(tag: &str) -> TestDb {
    let db = TestDb::create(tag).await;
    db.exec(SETUP_SQL).await;
    let n: i64 = db
        .client()
        .await
        .query_one("SELECT count(*) FROM public.events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, ROWS);
    db
}

async fn get(store: &AmazonS3, path: &Path) -> bytes::Bytes {
    store
        .get(path)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .bytes()
        .await
        .unwrap()
}

/// Checks one table's rows against [`expected`]; returns the ids seen.
fn check_rows(
    batch: &RecordBatch,
    seen: &mut HashMap<i64, usize>,
    range: Option<snapex::model::KeyRange>,
) {
    let ids = batch
        .column_by_name("id")
        .unwrap()
        .as_primitive::<Int64Type>();
    let labels = batch.column_by_name("label").unwrap().as_string::<i32>();
    let amounts = batch
        .column_by_name("amount")
        .unwrap()
        .as_primitive::<Decimal128Type>();
    let ats = batch
        .column_by_name("at")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    let payloads = batch.column_by_name("payload").unwrap().as_binary::<i32>();
    let tags = batch.column_by_name("tags").unwrap().as_list::<i32>();
    assert_eq!(ids.null_count(), 0);
    for i in 0..batch.num_rows() {
        let id = ids.value(i);
        if let Some(r) = range {
            assert!(r.contains(id), "id {id} is in the file of range {r:?}");
        }
        *seen.entry(id).or_default() += 1;
        let got = Row {
            label: labels.is_valid(i).then(|| labels.value(i).to_string()),
            amount: amounts.is_valid(i).then(|| amounts.value(i)),
            at: ats.is_valid(i).then(|| ats.value(i)),
            payload: payloads.is_valid(i).then(|| payloads.value(i).to_vec()),
            tags: tags.is_valid(i).then(|| {
                let list = tags.value(i);
                let ints = list.as_primitive::<Int32Type>();
                (0..ints.len())
                    .map(|j| ints.is_valid(j).then(|| ints.value(j)))
                    .collect()
            }),
        };
        assert_eq!(got, expected(id), "row id {id}");
    }
}

/// Reads the export `export_id` under `s3://BUCKET/prefix` back from the server and checks
/// everything: manifest, marker, files, sizes, rows and values, and that nothing else is there.
async fn verify_s3_export(
    server: &S3Server,
    prefix: &str,
    export_id: &str,
    min_files: usize,
) -> Manifest {
    let store = server.reader(BUCKET);
    let root = format!("{prefix}/{export_id}");

    let manifest: Manifest =
        serde_json::from_slice(&get(&store, &Path::from(format!("{root}/manifest.json"))).await)
            .expect("manifest.json deserializes");
    assert_eq!(manifest.format, snapex::manifest::FORMAT);
    assert_eq!(manifest.export_id, export_id);
    assert_eq!(manifest.destination, format!("s3://{BUCKET}/{prefix}"));
    assert_eq!(manifest.source.engine, "postgresql");
    assert!(
        manifest
            .source
            .consistency
            .starts_with("pg_export_snapshot "),
        "{}",
        manifest.source.consistency
    );
    assert!(manifest.skipped.is_empty(), "{:?}", manifest.skipped);
    assert_eq!(manifest.tables.len(), 1);

    let table = &manifest.tables[0];
    assert_eq!(
        (table.schema.as_str(), table.name.as_str()),
        ("public", "events")
    );
    assert_eq!(table.location, "public/events/");
    assert_eq!(table.primary_key, vec!["id".to_string()]);
    assert_eq!(table.split_key.as_deref(), Some("id"));
    let glue: Vec<(&str, &str)> = table
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.glue_type.as_str()))
        .collect();
    assert_eq!(
        glue,
        vec![
            ("id", "bigint"),
            ("label", "string"),
            ("amount", "decimal(20,4)"),
            ("at", "timestamp"),
            ("payload", "binary"),
            ("tags", "array<int>"),
        ]
    );
    // Nothing in the data is infinite, NaN, multi-dimensional or off the default lower bound.
    for c in &table.columns {
        for l in &c.lossy {
            assert_eq!(l.count, 0, "column {} rule {:?} fired", c.name, l.rule);
        }
    }
    assert!(
        table.empty_ranges.is_empty(),
        "every key range holds rows: {:?}",
        table.empty_ranges
    );
    assert!(
        table.files.len() >= min_files,
        "{} files, expected at least {min_files}",
        table.files.len()
    );
    assert_eq!(manifest.totals.files, table.files.len() as u64);
    assert_eq!(manifest.totals.rows, ROWS as u64);
    assert_eq!(table.rows, ROWS as u64);
    assert_eq!(
        table.bytes,
        table.files.iter().map(|f| f.bytes).sum::<u64>()
    );
    assert_eq!(manifest.totals.bytes, table.bytes);

    let success = store
        .head(&Path::from(format!("{root}/_SUCCESS")))
        .await
        .expect("_SUCCESS exists");
    assert_eq!(success.size, 0);

    let mut seen: HashMap<i64, usize> = HashMap::new();
    let mut total_rows = 0u64;
    for f in &table.files {
        assert!(
            f.path.starts_with("public/events/part-") && f.path.ends_with(".parquet"),
            "{}",
            f.path
        );
        let key = Path::from(format!("{root}/{}", f.path));
        let head = store
            .head(&key)
            .await
            .unwrap_or_else(|e| panic!("HEAD {key}: {e}"));
        assert_eq!(head.size, f.bytes, "{key}: S3 size vs manifest");
        let body = get(&store, &key).await;
        assert_eq!(body.len() as u64, f.bytes, "{key}: bytes read vs manifest");
        let batches = read_parquet_file(&body);
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows as u64, f.rows, "{key}: rows in file vs manifest");
        assert!(f.rows > 0, "{key} is empty");
        total_rows += f.rows;
        let schema = batches[0].schema();
        assert_eq!(
            schema.field_with_name("amount").unwrap().data_type(),
            &DataType::Decimal128(20, 4)
        );
        // An instant (isAdjustedToUTC): the reader names the zone "UTC" or "+00:00".
        match schema.field_with_name("at").unwrap().data_type() {
            DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) => {
                assert!(
                    ["UTC", "+00:00"].contains(&tz.as_ref()),
                    "timestamptz zone {tz}"
                )
            }
            other => panic!("timestamptz read back as {other}"),
        }
        for b in &batches {
            check_rows(b, &mut seen, f.range);
        }
    }
    assert_eq!(total_rows, ROWS as u64);
    assert_eq!(seen.len(), ROWS as usize, "distinct ids");
    for id in 1..=ROWS {
        assert_eq!(seen.get(&id), Some(&1), "id {id} appears once");
    }
    if table.files.len() > 1 {
        // Ranges of a split table are contiguous and cover every key.
        let ranges: Vec<_> = table
            .files
            .iter()
            .map(|f| f.range.expect("split files have ranges"))
            .collect();
        assert_eq!(ranges.first().unwrap().lo, None);
        assert_eq!(ranges.last().unwrap().hi, None);
        for w in ranges.windows(2) {
            assert_eq!(w[0].hi, w[1].lo);
        }
    }

    // Exactly the files, the catalog, the manifest and the marker: no probe, no temporary, no
    // stray part.
    let listed: BTreeSet<String> = store
        .list(Some(&Path::from(prefix)))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    let mut wanted: BTreeSet<String> = table
        .files
        .iter()
        .map(|f| format!("{root}/{}", f.path))
        .collect();
    for catalog_file in ["database.json", "events.table.json", "events.sql"] {
        wanted.insert(format!("{root}/_catalog/{catalog_file}"));
    }
    wanted.insert(format!("{root}/manifest.json"));
    wanted.insert(format!("{root}/report.json"));
    wanted.insert(format!("{root}/_SUCCESS"));
    // The export's lease: taken (generation 1) and marked published (2). It stays, refusing
    // any later run of this export id.
    wanted.insert(format!("{root}/_work/lease/1.json"));
    wanted.insert(format!("{root}/_work/lease/2.json"));
    // Nothing else: no other record of the run (`_work/`) is left once it is published.
    assert_eq!(listed, wanted);
    manifest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_to_s3_splits_and_reads_back_every_value() {
    let db = source_db("s3lib").await;
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    fake_aws_env();

    let prefix = "some/prefix";
    let mut cfg = snapex::ExportConfig::new(&db.url, &format!("s3://{BUCKET}/{prefix}")).unwrap();
    cfg.endpoint = Some(server.endpoint.clone());
    cfg.export_id = Some("exp-1".into());
    cfg.concurrency = 2;
    // 1 MiB files at 0.01 source bytes per file byte: ~10 KiB of table per file, so the table
    // (megabytes) is split as far as max_ranges_per_table allows.
    cfg.plan.target_file_bytes = 1024 * 1024;
    cfg.plan.source_bytes_per_file_byte = 0.01;
    cfg.plan.max_ranges_per_table = 5;
    // Several batches per file.
    cfg.batch.rows = 1500;

    let summary = snapex::pipeline::run_export(&cfg, Arc::new(snapex::pipeline::Quiet))
        .await
        .expect("export succeeds");
    assert_eq!(summary.export_id, "exp-1");
    assert_eq!(
        summary.manifest,
        format!("s3://{BUCKET}/{prefix}/exp-1/manifest.json")
    );
    assert_eq!(summary.totals.rows, ROWS as u64);
    assert_eq!(summary.lossy_values, 0);

    let manifest = verify_s3_export(&server, prefix, "exp-1", 3).await;
    assert_eq!(
        manifest.tables[0].files.len(),
        5,
        "split into max_ranges_per_table files"
    );
    assert_eq!(summary.totals, manifest.totals);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_exports_to_s3_with_endpoint_flag() {
    let db = source_db("s3cli").await;
    let server = S3Server::start();
    server.create_bucket(BUCKET);

    let prefix = "cli/out";
    let out = Command::new(snapex_bin())
        .args([
            "export",
            "--source",
            &db.url,
            "--dest",
            &format!("s3://{BUCKET}/{prefix}"),
        ])
        .args([
            "--endpoint-url",
            &server.endpoint,
            "--export-id",
            "cli-1",
            "-j",
            "2",
            "--no-progress",
        ])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("SNAPEX_SOURCE")
        .env_remove("SNAPEX_LOG")
        .output()
        .expect("running snapex");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(
        stderr, "snapex: export cli-1\n",
        "no warnings or errors expected, only the export's name"
    );
    assert!(stdout.contains("exported 1 table (0 skipped)"), "{stdout}");
    assert!(stdout.contains("20,000 rows"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "manifest: s3://{BUCKET}/{prefix}/cli-1/manifest.json"
        )),
        "{stdout}"
    );

    verify_s3_export(&server, prefix, "cli-1", 1).await;
}
