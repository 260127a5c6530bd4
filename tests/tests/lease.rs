//! One writer per export: two `snapex export` runs of the same export id into the same
//! destination, in a local folder and in S3 (moto made as strict as S3 about conditional
//! writes), overlapping every way: the second started while the first runs, both started
//! together, the second started after the first published, and two `--resume` of an
//! interrupted export racing. Each time exactly one run publishes, its files are exactly its
//! manifest's and hold the source's rows as they were when it started (the tests change rows
//! after the first run starts), the other exits 2 with one line naming the run that holds
//! the lease, and no object of the published export changes afterwards (every object's bytes
//! are compared).
//!
//! The first run is held mid-export with SIGSTOP once it has written a chunk, so the overlap
//! does not depend on timing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use snapex_tests::{
    S3Server, TestDb, display_strings, error_line, export_command, read_parquet_file, temp_dir,
    with_test_s3_credentials,
};

const ROWS: i64 = 60_000;
const TABLE: &str = "CREATE TABLE t (id bigint PRIMARY KEY, v text);
    INSERT INTO t SELECT i, md5(i::text) || repeat('x', 60) FROM generate_series(1, 60000) i;
    ANALYZE t;";
/// Rows the tests change once the first run has its view of the source.
const CHANGE: &str = "UPDATE t SET v = 'changed' WHERE id % 100 = 0";

type Rows = Vec<(i64, String)>;

async fn source_rows(db: &TestDb) -> Rows {
    let c = db.client().await;
    c.query("SELECT id, v FROM t ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// Where the exports go: a local folder, or a bucket on moto.
enum Dest {
    Local(PathBuf),
    S3 { server: S3Server, prefix: String },
}

impl Dest {
    fn local() -> Dest {
        Dest::Local(temp_dir("lease"))
    }

    /// moto with S3's atomic conditional writes (`tests/aws/strict_s3.py`).
    fn s3() -> Dest {
        let server = S3Server::start_strict(&["strict_s3.py"]);
        server.create_bucket("lake");
        Dest::S3 {
            server,
            prefix: "exports".into(),
        }
    }

    fn url(&self) -> String {
        match self {
            Dest::Local(dir) => dir.to_str().unwrap().to_string(),
            Dest::S3 { prefix, .. } => format!("s3://lake/{prefix}"),
        }
    }

    fn command(&self, db: &TestDb, id: &str, extra: &[&str]) -> Command {
        let mut c = export_command(&db.url, self.url(), id, &["-j", "1"]);
        c.args(extra);
        if let Dest::S3 { server, .. } = self {
            c.args(["--endpoint-url", &server.endpoint]);
            with_test_s3_credentials(&mut c);
        }
        c
    }

    /// Every object under export `id`, by its path under the export's folder, with its bytes.
    async fn objects(&self, id: &str) -> BTreeMap<String, Vec<u8>> {
        match self {
            Dest::Local(dir) => {
                let root = dir.join(id);
                snapex_tests::files_under(&root)
                    .into_iter()
                    .map(|p| {
                        let rel = p
                            .strip_prefix(&root)
                            .unwrap()
                            .to_string_lossy()
                            .into_owned();
                        (rel, std::fs::read(&p).unwrap())
                    })
                    .collect()
            }
            Dest::S3 { server, prefix } => {
                let store = server.reader("lake");
                let root = format!("{prefix}/{id}");
                let listed: Vec<object_store::ObjectMeta> = store
                    .list(Some(&StorePath::from(root.as_str())))
                    .try_collect()
                    .await
                    .unwrap();
                let mut out = BTreeMap::new();
                for m in listed {
                    let key = m.location.to_string();
                    let bytes = snapex_tests::get_object(&store, &key).await;
                    out.insert(key[root.len() + 1..].to_string(), bytes);
                }
                out
            }
        }
    }

    /// Chunk completion records written so far (listed, not read).
    async fn records(&self, id: &str) -> usize {
        let done: Vec<String> = match self {
            Dest::Local(dir) => snapex_tests::files_under(&dir.join(id).join("_work/done"))
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect(),
            Dest::S3 { server, prefix } => server
                .reader("lake")
                .list(Some(&StorePath::from(format!("{prefix}/{id}/_work/done"))))
                .map_ok(|m| m.location.to_string())
                .try_collect()
                .await
                .unwrap(),
        };
        done.iter().filter(|k| k.ends_with(".json")).count()
    }
}

fn finish(child: Child) -> (Option<i32>, String, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal}");
}

/// Starts an export and waits until it has written a chunk's record: it holds the lease and
/// its files are being written.
async fn started(dest: &Dest, db: &TestDb, id: &str, extra: &[&str]) -> Child {
    let child = dest.command(db, id, extra).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while dest.records(id).await == 0 {
        assert!(Instant::now() < deadline, "the export wrote no chunk");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child
}

async fn finished(child: Child) -> (Option<i32>, String, String) {
    tokio::task::spawn_blocking(move || finish(child))
        .await
        .unwrap()
}

/// A run that lost: exit 2, nothing on stdout, one `snapex: error:` line saying who holds the
/// export's lease and since when.
fn assert_lease_refusal(outcome: &(Option<i32>, String, String), holder_pid: Option<u32>) {
    let (code, stdout, stderr) = outcome;
    let ctx = format!("exit {code:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(*code, Some(2), "{ctx}");
    assert!(stdout.is_empty(), "{ctx}");
    // One line, after at most the line that names the export.
    let line = error_line(stderr);
    assert!(line.starts_with("snapex: error: "), "{ctx}");
    assert!(
        line.contains("export \"x\" is being written by run "),
        "{ctx}"
    );
    assert!(line.contains(" since 20"), "{ctx}");
    if let Some(pid) = holder_pid {
        assert!(line.contains(&format!(", pid {pid})")), "{ctx}");
    }
}

/// The published export: its manifest's files are exactly the table's objects and hold
/// exactly `rows`; only the manifest, report, `_SUCCESS`, catalog files and the lease are
/// beside them.
fn assert_published(objects: &BTreeMap<String, Vec<u8>>, rows: &Rows) {
    let manifest: snapex::manifest::Manifest =
        serde_json::from_slice(objects.get("manifest.json").expect("published")).unwrap();
    assert!(objects.contains_key("_SUCCESS"));
    let t = snapex_tests::manifest_table(&manifest, "t");
    let listed: BTreeSet<&str> = t.files.iter().map(|f| f.path.as_str()).collect();
    let stored: BTreeSet<&str> = objects
        .keys()
        .map(String::as_str)
        .filter(|k| k.starts_with(&t.location))
        .collect();
    assert_eq!(stored, listed, "the table's folder holds exactly its files");
    for key in objects.keys() {
        let known = listed.contains(key.as_str())
            || ["manifest.json", "report.json", "_SUCCESS"].contains(&key.as_str())
            || key.starts_with("_catalog/")
            || key.starts_with("_work/lease/");
        assert!(known, "{key} is not part of the published export");
    }
    let mut exported: Rows = Vec::new();
    for f in &t.files {
        assert_eq!(objects[&f.path].len() as u64, f.bytes, "{}", f.path);
        for batch in read_parquet_file(&objects[&f.path]) {
            let ids = display_strings(&batch, "id");
            let vs = display_strings(&batch, "v");
            exported.extend(ids.iter().map(|i| i.parse::<i64>().unwrap()).zip(vs));
        }
    }
    exported.sort();
    assert_eq!(exported.len(), rows.len(), "rows");
    if let Some(i) = (0..rows.len()).find(|&i| rows[i] != exported[i]) {
        panic!("row {i}: source {:?}, export {:?}", rows[i], exported[i]);
    }
}

/// After the export is published, no later run, fresh or resumed, changes any of its objects.
async fn assert_later_runs_change_nothing(dest: &Dest, db: &TestDb, id: &str) {
    let before = dest.objects(id).await;
    db.exec("UPDATE t SET v = 'later' WHERE id % 7 = 0").await;
    for extra in [&[][..], &["--resume"][..]] {
        let (code, stdout, stderr) = finished(dest.command(db, id, extra).spawn().unwrap()).await;
        assert_eq!(code, Some(2), "{extra:?}: {stdout}{stderr}");
        assert!(
            error_line(&stderr).contains("already published"),
            "{stderr}"
        );
    }
    let after = dest.objects(id).await;
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (key, bytes) in &before {
        assert!(&after[key] == bytes, "{key} changed after publishing");
    }
}

/// The second run starts while the first holds the lease (stopped mid-export after the
/// source changed): it is refused at once, naming the first; the first then publishes the
/// rows of its own view.
async fn second_run_while_the_first_runs(dest: Dest) {
    let db = TestDb::create("lease_while").await;
    db.exec(TABLE).await;
    let rows = source_rows(&db).await;
    assert_eq!(rows.len() as i64, ROWS);
    let first = started(&dest, &db, "x", &[]).await;
    signal(&first, "-STOP");
    db.exec(CHANGE).await;
    let during = dest.objects("x").await;
    let second = finished(dest.command(&db, "x", &[]).spawn().unwrap()).await;
    assert_lease_refusal(&second, Some(first.id()));
    assert_eq!(
        dest.objects("x").await,
        during,
        "the refused run wrote nothing"
    );
    signal(&first, "-CONT");
    let (code, stdout, stderr) = finished(first).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_published(&dest.objects("x").await, &rows);
    assert_later_runs_change_nothing(&dest, &db, "x").await;
}

/// Two runs started at the same moment: exactly one publishes.
async fn two_runs_started_together(dest: Dest) {
    let db = TestDb::create("lease_together").await;
    db.exec(TABLE).await;
    let rows = source_rows(&db).await;
    let a = dest.command(&db, "x", &[]).spawn().unwrap();
    let b = dest.command(&db, "x", &[]).spawn().unwrap();
    let (a, b) = (finished(a).await, finished(b).await);
    let (won, lost) = match (a.0, b.0) {
        (Some(0), _) => (a, b),
        (_, Some(0)) => (b, a),
        _ => panic!("neither published:\n{a:?}\n{b:?}"),
    };
    assert!(won.1.contains("manifest"), "{won:?}");
    // Started together, the loser meets the winner's lease, unless the winner got through its
    // whole export before the loser finished planning (a loaded machine may delay a process
    // that long): then the loser is refused as already published. Either way it wrote nothing.
    if error_line(&lost.2).contains("already published") {
        assert_eq!(lost.0, Some(2), "{lost:?}");
    } else {
        assert_lease_refusal(&lost, None);
    }
    assert_published(&dest.objects("x").await, &rows);
    assert_later_runs_change_nothing(&dest, &db, "x").await;
}

/// An export killed mid-way, then two `--resume` started together: exactly one takes the
/// lease over and publishes.
async fn two_resumes_racing(dest: Dest) {
    let db = TestDb::create("lease_resume").await;
    db.exec(TABLE).await;
    let rows = source_rows(&db).await;
    let mut first = started(&dest, &db, "x", &[]).await;
    first.kill().unwrap(); // SIGKILL: the lease stays held by a process that is gone
    let _ = finished(first).await;
    // A fresh run does not take a held lease, even one whose holder is gone.
    let fresh = finished(dest.command(&db, "x", &[]).spawn().unwrap()).await;
    assert_lease_refusal(&fresh, None);
    assert!(fresh.2.contains("--resume --export-id x"), "{}", fresh.2);

    let a = dest.command(&db, "x", &["--resume"]).spawn().unwrap();
    let b = dest.command(&db, "x", &["--resume"]).spawn().unwrap();
    let (a, b) = (finished(a).await, finished(b).await);
    let (won, lost) = match (a.0, b.0) {
        (Some(0), _) => (a, b),
        (_, Some(0)) => (b, a),
        _ => panic!("neither published:\n{a:?}\n{b:?}"),
    };
    assert!(won.1.contains("kept from the interrupted run"), "{won:?}");
    assert_lease_refusal(&lost, None);
    assert_published(&dest.objects("x").await, &rows);
    assert_later_runs_change_nothing(&dest, &db, "x").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_second_run_while_the_first_runs_is_refused() {
    second_run_while_the_first_runs(Dest::local()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_second_run_while_the_first_runs_is_refused() {
    second_run_while_the_first_runs(Dest::s3()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_two_runs_started_together_publish_once() {
    two_runs_started_together(Dest::local()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_two_runs_started_together_publish_once() {
    two_runs_started_together(Dest::s3()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_two_resumes_racing_publish_once() {
    two_resumes_racing(Dest::local()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_two_resumes_racing_publish_once() {
    two_resumes_racing(Dest::s3()).await;
}

/// Creates of one key racing: how many succeed.
async fn racing_creates(server: &S3Server) -> usize {
    server.create_bucket("race");
    let store: Arc<dyn ObjectStore> = Arc::new(server.reader("race"));
    let path = StorePath::from("_work/lease/1.json");
    let tries = (0..8).map(|i| {
        let (store, path) = (store.clone(), path.clone());
        async move {
            let opts = PutOptions::from(PutMode::Create);
            store
                .put_opts(&path, PutPayload::from(format!("{i}")), opts)
                .await
        }
    });
    let results = futures::future::join_all(tries).await;
    for r in &results {
        if let Err(e) = r {
            assert!(
                matches!(e, object_store::Error::AlreadyExists { .. }),
                "a losing create fails with AlreadyExists: {e}"
            );
        }
    }
    let _ = store.get(&path).await.unwrap();
    results.iter().filter(|r| r.is_ok()).count()
}

/// moto checks `If-None-Match: *` and then writes, unlocked: with its writes slowed as a
/// loaded server's are, several racing creates of one key all succeed. The tests' hook makes
/// the check and the write one step, as S3 does: exactly one succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_creates_race_in_plain_moto_and_not_in_strict_moto() {
    let plain = S3Server::start_strict(&["strict_s3.py=atomic:off,delay:300"]);
    let won = racing_creates(&plain).await;
    assert!(won > 1, "plain moto let {won} of 8 racing creates win");
    let strict = S3Server::start_strict(&["strict_s3.py=delay:300"]);
    assert_eq!(racing_creates(&strict).await, 1);
}

/// Waits until `n` sessions of the database other than `watcher`'s wait for a lock.
async fn lock_waiters(watcher: &tokio_postgres::Client, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let row = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap();
        if row.get::<_, i64>(0) >= n {
            return;
        }
        assert!(Instant::now() < deadline, "no reader waits for the lock");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The serverless path: the Map retries an item while the attempt before is still running.
/// The first attempt holds its chunk's lease and waits for the table (locked by the test);
/// the second takes the lease over, then both go on. The first stops at its first write,
/// writing nothing; the second writes the chunk; two finalize steps at once publish once
/// (the later one takes the export over; the other waits for it and reports the same).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_attempts_of_one_serverless_chunk_and_two_finalizes() {
    use snapex::pipeline::{Quiet, chunk_step, finalize_step, plan_step};
    let db = TestDb::create("lease_attempts").await;
    db.exec(TABLE).await;
    let rows = source_rows(&db).await;
    let dest = Dest::local();
    let d = dest.url();
    let mut cfg = snapex::ExportConfig::new(&db.url, &d).unwrap();
    cfg.export_id = Some("s".into());
    cfg.plan.target_file_bytes = 1024 * 1024;
    let planned = plan_step(&cfg, Arc::new(Quiet)).await.unwrap();
    assert!(planned.chunks >= 2, "{} chunks", planned.chunks);
    let url = snapex::source::SourceUrl::parse(&db.url).unwrap();

    let admin = db.client().await;
    admin
        .batch_execute("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let attempt = |url: snapex::source::SourceUrl, d: String| {
        tokio::spawn(async move { chunk_step(&url, &d, None, "s", 0).await })
    };
    let first = attempt(url.clone(), d.clone());
    // Another session watches: pg_stat_activity holds still inside the locking transaction.
    let watcher = db.client().await;
    lock_waiters(&watcher, 1).await;
    let second = attempt(url.clone(), d.clone());
    lock_waiters(&watcher, 2).await;
    let leases = dest.objects("s").await;
    assert!(leases.contains_key("_work/attempts/0/2.json"), "{leases:?}");
    admin.batch_execute("COMMIT").await.unwrap();
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    let lost = first.expect_err("the attempt taken over stops");
    assert!(matches!(lost, snapex::Error::LeaseLost(_)), "{lost}");
    assert!(lost.to_string().contains("took its lease over"), "{lost}");
    let record = second.unwrap();
    let written: BTreeSet<String> = record
        .results
        .iter()
        .filter_map(|r| r.file.as_ref().map(|f| f.path.clone()))
        .collect();
    let on_disk: BTreeSet<String> = dest
        .objects("s")
        .await
        .into_keys()
        .filter(|k| k.ends_with(".parquet") || k.contains(".parquet#"))
        .map(|k| format!("s/{k}"))
        .collect();
    assert_eq!(on_disk, written, "only the second attempt's files");

    for chunk in 1..planned.chunks {
        chunk_step(&url, &d, None, "s", chunk).await.unwrap();
    }
    let (a, b) = tokio::join!(
        finalize_step(&d, None, "s", Arc::new(Quiet)),
        finalize_step(&d, None, "s", Arc::new(Quiet))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.totals, b.totals);
    assert_eq!(a.totals.rows, ROWS as u64);
    let objects = dest.objects("s").await;
    // The plan's generation, one taken by each finalize that got that far (the later one
    // wins), and the published one: one publishing, whichever attempt it was.
    let generations: Vec<(String, String)> = objects
        .iter()
        .filter(|(k, _)| k.starts_with("_work/lease/"))
        .map(|(k, v)| {
            let record: serde_json::Value = serde_json::from_slice(v).unwrap();
            (k.clone(), record["state"].as_str().unwrap().to_string())
        })
        .collect();
    let n = generations.len();
    assert!((3..=4).contains(&n), "{generations:?}");
    for (i, (key, state)) in generations.iter().enumerate() {
        assert_eq!(
            key,
            &format!("_work/lease/{}.json", i + 1),
            "{generations:?}"
        );
        let want = if i + 1 == n { "published" } else { "held" };
        assert_eq!(state, want, "{generations:?}");
    }
    let objects: BTreeMap<String, Vec<u8>> = objects
        .into_iter()
        .filter(|(k, _)| !k.starts_with("_work/") || k.starts_with("_work/lease/"))
        .collect();
    assert_published(&objects, &rows);
}
