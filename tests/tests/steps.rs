//! The serverless run's steps, run one at a time as the state machine runs them: plan, each
//! chunk on its own (standalone readers, no shared snapshot), finalize. Every row exactly
//! once; a chunk run twice changes nothing; a missing chunk stops publication; a failed chunk
//! leaves a record naming its error; a retryable failure is one attempt per step call (the
//! state machine retries), while the command line reads a failed chunk again in-process.

use std::sync::Arc;

use snapex::pipeline::{Quiet, chunk_step, finalize_step, first_failure, plan_step, run_export};
use snapex::source::SourceUrl;
use snapex::{ErrorClass, ExportConfig};
use snapex_tests::faults::DroppingProxy;
use snapex_tests::{TestDb, files_under, read_manifest, temp_dir};

async fn source() -> TestDb {
    let db = TestDb::create("steps").await;
    db.exec(
        "CREATE TABLE events (id int8 PRIMARY KEY, at timestamptz NOT NULL, v text);
         INSERT INTO events SELECT g, timestamptz '2026-01-01 00:00+00' + g * interval '1 hour',
                'v' || g FROM generate_series(0, 24 * 20 - 1) g;
         CREATE TABLE doomed (id int4 PRIMARY KEY); INSERT INTO doomed VALUES (1), (2), (3);
         CREATE TABLE plain (k text PRIMARY KEY); INSERT INTO plain SELECT 'k' || g FROM generate_series(1, 50) g;",
    )
    .await;
    db
}

fn config(db: &TestDb, dest: &std::path::Path, export_id: &str) -> ExportConfig {
    let mut cfg = ExportConfig::new(&db.url, dest.to_str().unwrap()).unwrap();
    cfg.export_id = Some(export_id.into());
    cfg.plan.max_pieces_per_chunk = 1;
    cfg.partition_rules =
        vec![snapex::partitioning::PartitionRule::parse("public.events=at:day").unwrap()];
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_one_at_a_time_publish_what_one_export_would() {
    let db = source().await;
    let dest = temp_dir("steps");
    let cfg = config(&db, &dest, "stepwise");
    let url = SourceUrl::parse(&db.url).unwrap();
    let d = dest.to_str().unwrap();

    let planned = plan_step(&cfg, Arc::new(Quiet)).await.unwrap();
    assert_eq!(planned.tables, 3);
    // 20 days of events, one piece each, plus the two small tables: one piece per chunk.
    assert_eq!(planned.chunks, 22);
    let items = std::fs::read_to_string(dest.join(&planned.items_key)).unwrap();
    let ids: Vec<u64> = items
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["chunk"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        ids,
        (0..22).collect::<Vec<_>>(),
        "one line per chunk, in order"
    );
    assert!(planned.max_connections > 3);
    // The plan keeps no table a chunk reads: each travels in the descriptions of its chunks
    // (written as planned), so planning a million tables holds none of them at once.
    let work = dest.join("stepwise/_work");
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("plan.json")).unwrap()).unwrap();
    assert_eq!(plan["tables"], serde_json::json!([]));
    let mut described = std::collections::BTreeMap::new();
    for chunk in 0..planned.chunks {
        let spec: serde_json::Value = serde_json::from_slice(
            &std::fs::read(work.join(format!("chunks/{chunk}.json"))).unwrap(),
        )
        .unwrap();
        let (tables, order) = (spec["tables"].as_array().unwrap(), &spec["table_order"]);
        assert_eq!(
            order.as_array().unwrap().len(),
            tables.len(),
            "chunk {chunk}"
        );
        for (t, o) in tables.iter().zip(order.as_array().unwrap()) {
            described.insert(
                o.as_u64().unwrap(),
                t["name"]["name"].as_str().unwrap().to_string(),
            );
        }
    }
    assert_eq!(
        described.len(),
        3,
        "every table is described: {described:?}"
    );

    // Not published while a chunk is missing.
    for chunk in 0..planned.chunks - 1 {
        chunk_step(&url, d, None, "stepwise", chunk).await.unwrap();
    }
    let err = finalize_step(d, None, "stepwise", Arc::new(Quiet))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("chunk 21"), "{err}");
    assert!(!dest.join("stepwise/manifest.json").exists());

    let last = chunk_step(&url, d, None, "stepwise", 21).await.unwrap();
    // Run again (a retried Lambda): the same record, the same files, nothing rewritten.
    let file = last.results[0].file.as_ref().unwrap();
    let path = dest.join(&file.path);
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let again = chunk_step(&url, d, None, "stepwise", 21).await.unwrap();
    assert!(again.reused && !last.reused);
    assert_eq!((again.chunk, &again.results), (last.chunk, &last.results));
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );

    let summary = finalize_step(d, None, "stepwise", Arc::new(Quiet))
        .await
        .unwrap();
    assert_eq!(summary.totals.rows, 480 + 3 + 50);
    let manifest = read_manifest(&dest.join("stepwise"));
    assert_eq!(manifest.totals.files, 22);
    // Finalizing again (a retried Lambda) reports the same export.
    let again = finalize_step(d, None, "stepwise", Arc::new(Quiet))
        .await
        .unwrap();
    assert_eq!(again.totals, summary.totals);

    // The same export in one process gives the same tables, files and rows.
    let whole = temp_dir("steps-whole");
    run_export(&config(&db, &whole, "stepwise"), Arc::new(Quiet))
        .await
        .unwrap();
    let one = read_manifest(&whole.join("stepwise"));
    let shape = |m: &snapex::manifest::Manifest| {
        m.tables
            .iter()
            .map(|t| {
                let files: Vec<_> = t.files.iter().map(|f| (f.path.clone(), f.rows)).collect();
                (t.glue_table.clone(), t.rows, files)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(&manifest), shape(&one));
    let published = |root: &std::path::Path| {
        let mut v: Vec<String> = files_under(root)
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
            .filter(|p| !p.starts_with("_work/") && p != "manifest.json")
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        published(&dest.join("stepwise")),
        published(&whole.join("stepwise")),
        "the same files and catalog"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_chunk_leaves_a_record_of_its_error_until_it_succeeds() {
    let db = source().await;
    let dest = temp_dir("steps-fail");
    let cfg = config(&db, &dest, "failing");
    let url = SourceUrl::parse(&db.url).unwrap();
    let d = dest.to_str().unwrap();
    let planned = plan_step(&cfg, Arc::new(Quiet)).await.unwrap();
    assert!(first_failure(d, None, "failing").await.unwrap().is_none());

    db.exec("ALTER TABLE doomed RENAME TO gone").await;
    let mut failed = vec![];
    for chunk in 0..planned.chunks {
        if let Err(e) = chunk_step(&url, d, None, "failing", chunk).await {
            assert_eq!(e.class(), ErrorClass::InvalidInput, "{e}");
            failed.push(chunk);
        }
    }
    assert_eq!(
        failed.len(),
        1,
        "only the chunk reading the renamed table fails"
    );
    let record = first_failure(d, None, "failing").await.unwrap().unwrap();
    assert_eq!(record.chunk, failed[0]);
    assert_eq!(record.error, "InvalidInput");
    assert!(record.cause.contains("doomed"), "{}", record.cause);
    assert!(
        finalize_step(d, None, "failing", Arc::new(Quiet))
            .await
            .is_err()
    );

    // The table is back: the retried chunk succeeds and its failure record is gone.
    db.exec("ALTER TABLE gone RENAME TO doomed").await;
    chunk_step(&url, d, None, "failing", failed[0])
        .await
        .unwrap();
    assert!(first_failure(d, None, "failing").await.unwrap().is_none());
    let summary = finalize_step(d, None, "failing", Arc::new(Quiet))
        .await
        .unwrap();
    assert_eq!(summary.totals.rows, 533);
}

/// The serverless path retries a chunk in one layer, the state machine's: a chunk step whose
/// read fails with a retryable error (its connection closed as it opens) makes one attempt,
/// one connection, and fails with `Retryable`, leaving a failure record that counts the failed
/// calls; the call the state machine retries with finishes the chunk and counts them as its
/// retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retryable_chunk_failure_is_one_attempt_per_step_call() {
    let db = source().await;
    let dest = temp_dir("steps-once");
    let cfg = config(&db, &dest, "once");
    let d = dest.to_str().unwrap();
    let planned = plan_step(&cfg, Arc::new(Quiet)).await.unwrap();
    let (proxy, proxied) = DroppingProxy::before(&db.url);
    let through_proxy = SourceUrl::parse(&proxied).unwrap();
    proxy.drop_connections(1..=2);
    for call in 1..=2 {
        let e = chunk_step(&through_proxy, d, None, "once", 0)
            .await
            .unwrap_err();
        assert_eq!(e.class(), ErrorClass::Retryable, "{e}");
        assert_eq!(proxy.connections(), call, "one attempt per call");
        let failure = first_failure(d, None, "once").await.unwrap().unwrap();
        assert_eq!(
            (failure.chunk, failure.error.as_str(), failure.attempts),
            (0, "Retryable", call as u32)
        );
    }
    let record = chunk_step(&through_proxy, d, None, "once", 0)
        .await
        .unwrap();
    assert_eq!(proxy.connections(), 3);
    assert_eq!(record.retries, 2, "the two failed calls");
    assert!(first_failure(d, None, "once").await.unwrap().is_none());

    let url = SourceUrl::parse(&db.url).unwrap();
    for chunk in 1..planned.chunks {
        chunk_step(&url, d, None, "once", chunk).await.unwrap();
    }
    let summary = finalize_step(d, None, "once", Arc::new(Quiet))
        .await
        .unwrap();
    assert_eq!(summary.totals.rows, 533);
    assert_eq!(summary.report.retries, 2);
}

/// The command line keeps its retries in-process: the same failure (the reader's connection
/// closed as it opens) is read again within the run, on a new connection, and the export
/// completes with the retry counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_reads_a_failed_chunk_again_in_process() {
    let db = source().await;
    let (proxy, proxied) = DroppingProxy::before(&db.url);
    let run = |id: &'static str| {
        let dest = temp_dir(id);
        let mut cfg = config(&db, &dest, id);
        cfg.source = SourceUrl::parse(&proxied).unwrap();
        cfg.concurrency = 1;
        cfg.retry.min_delay = std::time::Duration::from_millis(10);
        async move { run_export(&cfg, Arc::new(Quiet)).await }
    };
    let default = ExportConfig::new(&db.url, "./unused").unwrap().retry;
    assert_eq!(default, snapex::retry::RetryPolicy::cli());
    assert!(default.attempts() > 1);
    let clean = run("cli-clean").await.unwrap();
    assert_eq!(clean.report.retries, 0);
    // With one reader, a run's last connection is its reader's.
    let per_run = proxy.connections();
    proxy.drop_connections([2 * per_run]);
    let retried = run("cli-retried").await.unwrap();
    assert_eq!(proxy.connections(), 2 * per_run + 1, "one more connection");
    assert_eq!(retried.report.retries, 1);
    assert_eq!(retried.totals.rows, 533);
}

/// Finalizing verifies before it publishes: a file that is not a whole Parquet file, a record
/// whose row count or pieces disagree with the files or the plan, or a foreign object under
/// the export stops it, unpublished. A chunk step run again over a damaged file reads its
/// chunk again instead of trusting its record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_exports_are_not_published() {
    let db = source().await;
    let dest = temp_dir("steps-damage");
    let cfg = config(&db, &dest, "damaged");
    let url = SourceUrl::parse(&db.url).unwrap();
    let d = dest.to_str().unwrap();
    let planned = plan_step(&cfg, Arc::new(Quiet)).await.unwrap();
    let mut records = vec![];
    for chunk in 0..planned.chunks {
        records.push(chunk_step(&url, d, None, "damaged", chunk).await.unwrap());
    }
    let root = dest.join("damaged");
    let refused = async |what: &str| {
        let err = finalize_step(d, None, "damaged", Arc::new(Quiet))
            .await
            .unwrap_err();
        assert!(err.to_string().contains(what), "{what}: {err}");
        assert!(!root.join("manifest.json").exists(), "{what}");
        assert!(!root.join("_SUCCESS").exists(), "{what}");
    };

    // The same size, but not Parquet: the footer does not read back.
    let record = records
        .iter()
        .find(|r| r.results[0].file.is_some())
        .unwrap();
    let file = root
        .parent()
        .unwrap()
        .join(&record.results[0].file.as_ref().unwrap().path);
    let good = std::fs::read(&file).unwrap();
    std::fs::write(&file, vec![0u8; good.len()]).unwrap();
    refused("is not a whole Parquet file").await;
    // The chunk step does not trust its record over a damaged file: it reads the chunk again.
    let again = chunk_step(&url, d, None, "damaged", record.chunk)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), good);
    assert_eq!(again.results[0].file, record.results[0].file);

    // A record whose row count disagrees with its file's footer.
    let done = root.join(format!("_work/done/{}.json", record.chunk));
    let original = std::fs::read(&done).unwrap();
    let mut tampered: serde_json::Value = serde_json::from_slice(&original).unwrap();
    let rows = tampered["results"][0]["file"]["rows"].as_u64().unwrap();
    tampered["results"][0]["file"]["rows"] = (rows + 1).into();
    std::fs::write(&done, serde_json::to_vec(&tampered).unwrap()).unwrap();
    refused("rows").await;

    // A record that does not list the pieces its chunk planned.
    tampered["results"] = serde_json::json!([]);
    std::fs::write(&done, serde_json::to_vec(&tampered).unwrap()).unwrap();
    refused("does not list the pieces it planned").await;
    std::fs::write(&done, &original).unwrap();

    // An object snapex did not write, under a table's folder.
    let stray = file.parent().unwrap().join("notes.txt");
    std::fs::write(&stray, b"mine").unwrap();
    refused("did not write").await;
    std::fs::remove_file(&stray).unwrap();

    let summary = finalize_step(d, None, "damaged", Arc::new(Quiet))
        .await
        .unwrap();
    assert_eq!(summary.totals.rows, 533);
    assert!(root.join("_SUCCESS").exists());
    assert_eq!(summary.report.tables.len(), 3);
    assert_eq!(
        summary.report.tables.iter().map(|t| t.rows).sum::<u64>(),
        533
    );
}

/// The serverless plan under a small per-chunk limit, set as a deployment sets it (the export
/// configuration's `max_chunk_size`, carried by the trigger's job): a PostgreSQL table without
/// a key, bigger than the limit, is planned in block ranges within it and its chunks export
/// every row once; a MySQL table that nothing can split fails the plan step, naming the
/// table, its size and the limit, and leaves no chunk list for the Map to run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_step_keeps_every_chunk_within_max_chunk_size() {
    use snapex::service::config::ServiceConfig;
    use snapex::service::events::{SnapshotCreated, SnapshotOrigin};
    use snapex::service::job::SnapshotKind;
    const LIMIT: u64 = 1 << 20;
    let service = ServiceConfig::parse(
        "destination = \"s3://lake/exports\"\nmax_chunk_size = \"1MiB\"\n\
         [[database]]\nsource = \"orders-db\"\ndatabase = \"shop\"\n",
        "snapex.toml",
    )
    .unwrap();
    let snapshot = SnapshotCreated {
        kind: SnapshotKind::Instance,
        origin: SnapshotOrigin::Manual,
        identifier: "before-upgrade".into(),
        arn: "arn:aws:rds:us-east-1:123456789012:snapshot:before-upgrade".into(),
        time: chrono::DateTime::parse_from_rfc3339("2026-12-01T03:10:00Z")
            .unwrap()
            .into(),
    };
    let job = snapex::service::decide::job(&service.databases[0], &snapshot);
    assert_eq!(job.max_chunk_bytes, Some(LIMIT));

    let db = TestDb::create("steps_limit").await;
    db.exec(
        "CREATE TABLE ledger (acct int8 NOT NULL, v text NOT NULL);
         INSERT INTO ledger SELECT g % 1000, repeat('l', 60) || g FROM generate_series(1, 60000) g;
         ANALYZE ledger;",
    )
    .await;
    let dest = temp_dir("steps-limit");
    let d = dest.to_str().unwrap();
    let mut cfg = job.export_config(&db.url).unwrap();
    assert_eq!(cfg.plan.max_chunk_bytes, Some(LIMIT));
    cfg.destination = d.to_string();
    let id = job.export_id.as_str();
    let planned = plan_step(&cfg, Arc::new(Quiet)).await.unwrap();
    assert!(planned.chunks >= 5, "{} chunks", planned.chunks);
    let work = dest.join(id).join("_work");
    for chunk in 0..planned.chunks {
        let spec: serde_json::Value = serde_json::from_slice(
            &std::fs::read(work.join(format!("chunks/{chunk}.json"))).unwrap(),
        )
        .unwrap();
        let estimated = spec["chunk"]["estimated_bytes"].as_u64().unwrap();
        assert!(estimated <= LIMIT, "chunk {chunk}: {estimated} bytes");
        assert!(spec["chunk"]["pieces"][0]["range"].is_object(), "{spec}");
    }
    let url = SourceUrl::parse(&db.url).unwrap();
    for chunk in 0..planned.chunks {
        chunk_step(&url, d, None, id, chunk).await.unwrap();
    }
    finalize_step(d, None, id, Arc::new(Quiet)).await.unwrap();
    let manifest = read_manifest(&dest.join(id));
    let ledger = &manifest.tables[0];
    assert_eq!(ledger.split_key.as_deref(), Some("ctid"));
    let mut got: Vec<String> = Vec::new();
    for f in &ledger.files {
        let batch = snapex_tests::file_batch(&dest.join(id), f).unwrap();
        got.extend(snapex_tests::display_strings(&batch, "v"));
    }
    got.sort();
    let client = db.client().await;
    let want: Vec<String> = client
        .query("SELECT v FROM ledger ORDER BY v", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(got.len(), 60_000);
    assert!(got == want, "every row exactly once");

    let my = snapex_tests::MyDb::create("steps_limit").await;
    my.create_unsplittable().await;
    let my_dest = temp_dir("steps-limit-my");
    let mut cfg = job.export_config(&my.url).unwrap();
    cfg.destination = my_dest.to_str().unwrap().to_string();
    let e = plan_step(&cfg, Arc::new(Quiet)).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidInput, "{e}");
    let shown = e.to_string();
    let snapex::Error::TooBig {
        estimated_bytes, ..
    } = e
    else {
        panic!("not a refusal: {shown}");
    };
    for says in [
        format!("{}.no_key", my.name),
        format!("{estimated_bytes} bytes"),
        format!("{LIMIT} bytes"),
    ] {
        assert!(shown.contains(&says), "{says:?} in {shown}");
    }
    let my_work = my_dest.join(id).join("_work");
    assert!(!my_work.join("chunks.jsonl").exists(), "no chunk list");
    assert!(!my_work.join("plan.json").exists(), "no plan");
    assert!(
        files_under(&my_dest)
            .iter()
            .all(|f| f.extension().is_none_or(|e| e != "parquet")),
        "no chunk ran"
    );
}
