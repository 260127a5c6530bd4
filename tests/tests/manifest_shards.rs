//! The sharded manifest (format `snapex-manifest/2`) end to end, with shards of 10 entries: the
//! command line and the serverless steps write `manifest.json` with the first 10 tables inline
//! and `_manifest/shard-*.json` files with the rest, every table exactly once, totals the sum of
//! the tables, every row readable by DuckDB; the run report is sharded alike; an interrupted
//! sharded export resumes and publishes, replacing shards a failed attempt left; a format 1
//! manifest (every table inline, no shards) still reads.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use snapex::ExportConfig;
use snapex::model::Chunk;
use snapex::pipeline::{Progress, Quiet, chunk_step, finalize_step, plan_step, run_export};
use snapex::source::SourceUrl;
use snapex::stop::{Stop, Stopper};
use snapex_tests::{TestDb, duckdb, read_manifest, read_manifest_json, run_snapex, temp_dir};

/// Tables in the source, each `t<i>` with `i + 1` rows; with the left-out table, 26 entries.
const TABLES: usize = 25;
const PER_SHARD: usize = 10;

async fn source(tag: &str) -> TestDb {
    let db = TestDb::create(tag).await;
    let mut sql = String::from("CREATE TABLE no_columns ();");
    for i in 0..TABLES {
        sql.push_str(&format!(
            "CREATE TABLE t{i:02} (id int8 PRIMARY KEY, v text);
             INSERT INTO t{i:02} SELECT g, 'v' || g FROM generate_series(1, {}) g;",
            i + 1
        ));
    }
    db.exec(&sql).await;
    db
}

fn config(db: &TestDb, dest: &Path, export_id: &str) -> ExportConfig {
    let mut cfg = ExportConfig::new(&db.url, dest.to_str().unwrap()).unwrap();
    cfg.export_id = Some(export_id.into());
    cfg.manifest_shard_entries = PER_SHARD;
    cfg.plan.max_pieces_per_chunk = 1;
    cfg
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The files under the export's `_manifest/` folder, by name.
fn shard_files(root: &Path) -> BTreeSet<String> {
    std::fs::read_dir(root.join("_manifest"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Checks the published export under `root`: 10 entries inline, two shards (10 tables, then
/// 5 tables and the left-out one), every table once in catalog order, totals that add up, the
/// report sharded alike, and every row of every table read back by DuckDB.
fn assert_sharded_export(root: &Path) {
    let index = read_json(&root.join("manifest.json"));
    assert_eq!(index["format"], "snapex-manifest/2");
    assert_eq!(index["tables"].as_array().unwrap().len(), PER_SHARD);
    assert_eq!(index["skipped"], serde_json::json!([]));
    assert_eq!(
        index["shards"],
        serde_json::json!([
            {"path": "_manifest/shard-000002.json", "tables": 10, "skipped": 0},
            {"path": "_manifest/shard-000003.json", "tables": 5, "skipped": 1},
        ])
    );
    assert_eq!(
        shard_files(root),
        [
            "report-000002.json",
            "report-000003.json",
            "shard-000002.json",
            "shard-000003.json"
        ]
        .map(String::from)
        .into()
    );
    let last = read_json(&root.join("_manifest/shard-000003.json"));
    assert_eq!(last["format"], "snapex-manifest-shard/1");
    assert_eq!(last["shard"], 3);
    assert_eq!(last["skipped"][0]["name"]["name"], "no_columns");

    let whole = read_manifest(root);
    let names: Vec<&str> = whole.tables.iter().map(|t| t.name.as_str()).collect();
    let want: Vec<String> = (0..TABLES).map(|i| format!("t{i:02}")).collect();
    assert_eq!(names, want, "every table once, in catalog order");
    assert_eq!(whole.skipped.len(), 1);
    assert_eq!(whole.totals.tables, TABLES as u64);
    assert_eq!(whole.totals.skipped, 1);
    assert_eq!(
        whole.totals.rows,
        whole.tables.iter().map(|t| t.rows).sum::<u64>()
    );
    assert_eq!(whole.totals.rows, (1..=TABLES as u64).sum::<u64>());
    assert_eq!(
        whole.totals.files,
        whole
            .tables
            .iter()
            .map(|t| t.files.len() as u64)
            .sum::<u64>()
    );
    assert_eq!(
        whole.totals.bytes,
        whole.tables.iter().map(|t| t.bytes).sum::<u64>()
    );
    let folded = read_manifest_json(root);
    assert!(folded.get("shards").is_none());
    assert_eq!(folded["tables"].as_array().unwrap().len(), TABLES);

    // The report: 10 tables inline, the rest in its own shards, in the manifest's order.
    let report = read_json(&root.join("report.json"));
    assert_eq!(report["tables"].as_array().unwrap().len(), PER_SHARD);
    assert_eq!(report["shards"].as_array().unwrap().len(), 2);
    let mut parts = vec![report.clone()];
    for s in report["shards"].as_array().unwrap() {
        parts.push(read_json(&root.join(s["path"].as_str().unwrap())));
    }
    let reported: Vec<String> = parts
        .iter()
        .flat_map(|r| r["tables"].as_array().unwrap())
        .map(|t| t["table"].as_str().unwrap().to_string())
        .collect();
    let want_reported: Vec<String> = want.iter().map(|t| format!("public.{t}")).collect();
    assert_eq!(reported, want_reported);
    assert_eq!(report["totals"], index["totals"]);

    // DuckDB reads every row of every table, from the files the manifest lists.
    let columns: Vec<String> = whole
        .tables
        .iter()
        .map(|t| {
            let files: Vec<String> = t
                .files
                .iter()
                .map(|f| format!("'{}'", root.join(&f.path).display()))
                .collect();
            format!(
                "(SELECT count(*) || ':' || coalesce(sum(id), 0) FROM read_parquet([{}]))",
                files.join(", ")
            )
        })
        .collect();
    let read = duckdb(&format!("SELECT {}", columns.join(", ")));
    let want_read: Vec<Option<String>> = (1..=TABLES as u64)
        .map(|n| Some(format!("{n}:{}", n * (n + 1) / 2)))
        .collect();
    assert_eq!(read, want_read);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_writes_a_sharded_manifest() {
    let db = source("shards_cli").await;
    let dest = temp_dir("shards-cli");
    let out = run_snapex(
        &[
            "export",
            "--no-progress",
            "--source",
            &db.url,
            "--dest",
            dest.to_str().unwrap(),
            "--export-id",
            "cli",
            "--manifest-shard-entries",
            "10",
        ],
        &dest,
    );
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let root = dest.join("cli");
    assert_sharded_export(&root);
    // The summary lists at most the slowest 20 tables, and says where the rest are.
    assert!(
        out.stdout
            .contains("  ... and 5 tables more in report.json"),
        "{}",
        out.stdout
    );

    // Published: a second run of the export is refused and rewrites no shard.
    let shard = root.join("_manifest/shard-000002.json");
    let modified = std::fs::metadata(&shard).unwrap().modified().unwrap();
    let mut cfg = config(&db, &dest, "cli");
    cfg.concurrency = 1;
    let err = run_export(&cfg, Arc::new(Quiet)).await.unwrap_err();
    assert!(err.to_string().contains("already published"), "{err}");
    assert_eq!(
        std::fs::metadata(&shard).unwrap().modified().unwrap(),
        modified
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serverless_steps_write_a_sharded_manifest() {
    let db = source("shards_steps").await;
    let dest = temp_dir("shards-steps");
    let cfg = config(&db, &dest, "steps");
    let url = SourceUrl::parse(&db.url).unwrap();
    let d = dest.to_str().unwrap();
    let planned = plan_step(&cfg, Arc::new(Quiet)).await.unwrap();
    assert_eq!(planned.tables, TABLES);
    let plan = read_json(&dest.join("steps/_work/plan.json"));
    assert_eq!(plan["manifest_shard_entries"], PER_SHARD);
    for chunk in 0..planned.chunks {
        chunk_step(&url, d, None, "steps", chunk).await.unwrap();
    }
    let summary = finalize_step(d, None, "steps", Arc::new(Quiet))
        .await
        .unwrap();
    assert_eq!(summary.totals.tables, TABLES as u64);
    assert_eq!(summary.report.tables.len(), PER_SHARD);
    assert_sharded_export(&dest.join("steps"));
    // Finalizing again (a retried Lambda) reports the published export from its index.
    let again = finalize_step(d, None, "steps", Arc::new(Quiet))
        .await
        .unwrap();
    assert_eq!(again.totals, summary.totals);
}

/// Asks the run to stop once it has written `after` chunks.
struct StopAfter {
    stopper: Stopper,
    after: usize,
    done: std::sync::atomic::AtomicUsize,
}

impl Progress for StopAfter {
    fn chunk_done(&self, _chunk: &Chunk) {
        let done = self.done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if done >= self.after {
            self.stopper.stop();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_sharded_export_resumes_and_replaces_a_failed_attempts_shards() {
    let db = source("shards_resume").await;
    let dest = temp_dir("shards-resume");
    let root = dest.join("resumed");
    let (stopper, stop) = Stop::new();
    let mut cfg = config(&db, &dest, "resumed");
    cfg.concurrency = 1;
    cfg.stop = stop;
    let progress = Arc::new(StopAfter {
        stopper,
        after: 3,
        done: Default::default(),
    });
    let err = run_export(&cfg, progress).await.unwrap_err();
    assert!(matches!(err, snapex::Error::Interrupted { .. }), "{err:?}");
    assert!(!root.join("manifest.json").exists());
    // What a failed publishing attempt leaves: shards written, no manifest.json.
    std::fs::create_dir_all(root.join("_manifest")).unwrap();
    std::fs::write(root.join("_manifest/shard-000002.json"), b"{\"stale\": 1}").unwrap();
    std::fs::write(root.join("_manifest/shard-000009.json"), b"{}").unwrap();
    std::fs::write(root.join("_manifest/report-000004.json"), b"{}").unwrap();

    let mut cfg = config(&db, &dest, "resumed");
    cfg.resume = true;
    let summary = run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    assert!(summary.report.chunks_kept >= 3, "{:?}", summary.report);
    assert!(summary.report.chunks_kept < summary.report.chunks);
    assert_sharded_export(&root);
}

/// Asks the run to stop when it reports phase `at`.
struct StopAt {
    stopper: Stopper,
    at: &'static str,
}

impl Progress for StopAt {
    fn phase(&self, what: &str) {
        if what == self.at {
            self.stopper.stop();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_while_publishing_leaves_it_unpublished_for_a_resumed_run() {
    let db = source("shards_stop_publishing").await;
    let dest = temp_dir("shards-stop-publishing");
    let root = dest.join("stopped");
    // Every phase of publishing before the export is marked published: a stop there ends the
    // run at once, all chunks written, nothing published.
    for at in [
        "verifying files",
        "writing catalog metadata",
        "publishing manifest",
    ] {
        let (stopper, stop) = Stop::new();
        let mut cfg = config(&db, &dest, "stopped");
        cfg.resume = root.exists();
        cfg.stop = stop;
        let err = run_export(&cfg, Arc::new(StopAt { stopper, at }))
            .await
            .unwrap_err();
        let snapex::Error::Interrupted {
            chunks_done,
            chunks,
        } = err
        else {
            panic!("stopped at {at:?}: {err:?}")
        };
        assert!(chunks > 0 && chunks_done == chunks, "{at}: {err}");
        assert!(!root.join("manifest.json").exists(), "{at}");
        assert!(!root.join("_SUCCESS").exists(), "{at}");
    }
    let mut cfg = config(&db, &dest, "stopped");
    cfg.resume = true;
    let summary = run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    assert_eq!(summary.report.chunks_kept, summary.report.chunks);
    assert_sharded_export(&root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_format_one_manifest_still_reads() {
    let db = source("shards_v1").await;
    let dest = temp_dir("shards-v1");
    run_export(&config(&db, &dest, "v1"), Arc::new(Quiet))
        .await
        .unwrap();
    let root = dest.join("v1");
    // Rewritten as format 1 wrote it: every table inline, no shards.
    let mut v1 = read_manifest_json(&root);
    v1["format"] = "snapex-manifest/1".into();
    std::fs::write(
        root.join("manifest.json"),
        serde_json::to_vec_pretty(&v1).unwrap(),
    )
    .unwrap();
    std::fs::remove_dir_all(root.join("_manifest")).unwrap();

    let d = snapex::sink::Destination::open(dest.to_str().unwrap(), None).unwrap();
    let layout = snapex::layout::Layout::new(&d.root, "v1");
    let whole = snapex::published::read_whole_manifest(&d, &layout)
        .await
        .unwrap();
    assert_eq!(whole.tables.len(), TABLES);
    assert_eq!(whole.skipped.len(), 1);
    assert!(whole.shards.is_empty());
    assert_eq!(read_manifest(&root).tables.len(), TABLES);
}
