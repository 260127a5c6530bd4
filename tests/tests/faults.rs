//! Faults injected into real processes and servers: a reader's connection killed mid-chunk
//! (PostgreSQL and MariaDB), the database restarted during an export, the S3-compatible
//! server failing requests, and the export process killed with SIGKILL and resumed. After
//! each, the export must hold every source row exactly once (compared row by row with the
//! source), and its folder exactly the files its manifest names: none partial, none twice.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use snapex::report::RunReport;
use snapex_tests::faults::{FaultProxy, PrivatePostgres};
use snapex_tests::{
    MyDb, S3Server, TestDb, display_strings, files_under, read_manifest, read_parquet_file,
    snapex_bin, temp_dir,
};

/// Rows of the test table: id, then every other column in display form ("NULL" for NULL).
type Rows = Vec<Vec<String>>;

/// The table every test exports: a bigint key, a text column with NULLs, an integer.
const ROWS: i64 = 300_000;
const PG_TABLE: &str = "CREATE TABLE events (id bigint PRIMARY KEY, body text, n integer);
    INSERT INTO events
    SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE md5(i::text) || repeat('x', 40) END, (i * 37) % 1000
    FROM generate_series(1, 300000) i;
    ANALYZE events;";
const PG_ROWS: &str = "SELECT e.id::text, coalesce(e.body, 'NULL'), coalesce(e.n::text, 'NULL') \
    FROM events e ORDER BY e.id";

/// The export's rows, sorted by id, with the check that no id is there twice.
fn exported_rows(files: &[Vec<u8>]) -> Rows {
    let mut rows: Rows = Vec::new();
    for bytes in files {
        for batch in read_parquet_file(bytes) {
            let cols: Vec<Vec<String>> = ["id", "body", "n"]
                .iter()
                .map(|c| display_strings(&batch, c))
                .collect();
            for i in 0..batch.num_rows() {
                rows.push(cols.iter().map(|c| c[i].clone()).collect());
            }
        }
    }
    rows.sort_by_key(|r| r[0].parse::<i64>().unwrap());
    let ids: BTreeSet<&String> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(ids.len(), rows.len(), "a row was exported twice");
    rows
}

fn assert_same_rows(source: &Rows, exported: &Rows) {
    assert_eq!(source.len(), exported.len(), "row count");
    if let Some(i) = (0..source.len()).find(|&i| source[i] != exported[i]) {
        panic!("row {i}: source {:?}, export {:?}", source[i], exported[i]);
    }
}

async fn pg_rows(url: &str) -> Rows {
    let client = snapex_tests::connect(url).await;
    client
        .query(PG_ROWS, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (0..3).map(|i| r.get::<_, String>(i)).collect())
        .collect()
}

/// A private PostgreSQL server holding the test table in database `faults`: the server, the
/// database's URL and its rows.
async fn private_source(tag: &str) -> (PrivatePostgres, String, Rows) {
    let pg = PrivatePostgres::start(tag);
    pg.psql("postgres", "CREATE DATABASE faults");
    pg.psql("faults", PG_TABLE);
    let url = pg.url("faults");
    let source = pg_rows(&url).await;
    (pg, url, source)
}

/// Checks a published local export: every source row exactly once, and the table's folder
/// holding exactly the manifest's files (no staging file of an unfinished upload, no file
/// of a failed attempt), and no records left under `_work/` but the export's lease.
fn assert_local_export(root: &Path, source: &Rows) -> RunReport {
    let manifest = read_manifest(root);
    let t = snapex_tests::manifest_table(&manifest, "events");
    assert_eq!(t.rows, source.len() as u64);
    let listed: BTreeSet<PathBuf> = t.files.iter().map(|f| root.join(&f.path)).collect();
    let table_dir = root.join(&t.location);
    let on_disk: BTreeSet<PathBuf> = files_under(&table_dir).into_iter().collect();
    assert_eq!(
        on_disk, listed,
        "the table's folder holds exactly its files"
    );
    let everything = files_under(root);
    assert!(
        everything.iter().all(|p| !p.to_string_lossy().contains('#')
            && (!p.starts_with(root.join("_work")) || p.starts_with(root.join("_work/lease")))),
        "no staging or work file is left but the lease: {everything:?}"
    );
    let bytes: Vec<Vec<u8>> = listed.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert_same_rows(source, &exported_rows(&bytes));
    serde_json::from_slice(&std::fs::read(root.join("report.json")).unwrap()).unwrap()
}

fn export_cmd(source: &str, dest: &Path, id: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(snapex_bin());
    c.args(["export", "--no-progress", "--export-id", id, "--dest"])
        .arg(dest)
        .args(["--source", source, "--target-file-size", "1MiB"])
        .args(extra)
        .env_remove("SNAPEX_SOURCE")
        .env_remove("AWS_ENDPOINT_URL")
        // Retries are logged as warnings; the tests read the one error line.
        .env("SNAPEX_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn finish(child: Child) -> (Option<i32>, String, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run_ok(mut c: Command) -> String {
    let (code, stdout, stderr) = finish(c.spawn().unwrap());
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    stdout
}

/// Sends `signal` (`-STOP`, `-CONT`) to the process.
fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal}");
}

/// Polls `probe` every 5 ms until it returns `Some`, for at most a minute.
fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Completion records written so far (not counting a record's staging file, `N.json#M`).
fn done_records(root: &Path) -> usize {
    std::fs::read_dir(root.join("_work/done")).map_or(0, |d| {
        d.filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".json"))
        })
        .count()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_reader_terminated_mid_chunk_is_read_again() {
    let db = TestDb::create("fault_term").await;
    db.exec(PG_TABLE).await;
    let source = pg_rows(&db.url).await;
    let dest = temp_dir("fault-term");
    let child = export_cmd(&db.url, &dest, "term", &["-j", "2"])
        .spawn()
        .unwrap();

    // End a reader's connection while it is inside a COPY.
    let admin = db.client().await;
    let killed = {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let rows = admin
                .query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid() \
                       AND state = 'active' AND query LIKE 'COPY%'",
                    &[],
                )
                .await
                .unwrap();
            if rows.iter().any(|r| r.get::<_, bool>(0)) {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    assert!(killed, "no reader was caught inside a COPY");
    let (code, stdout, stderr) = tokio::task::spawn_blocking(|| finish(child)).await.unwrap();
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("read again after a retryable failure"),
        "{stdout}"
    );
    let report = assert_local_export(&dest.join("term"), &source);
    assert!(report.retries >= 1, "{report:?}");
    assert_eq!(report.chunks_kept, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_killed_with_sigkill_is_resumed() {
    let db = TestDb::create("fault_kill").await;
    db.exec(PG_TABLE).await;
    let source = pg_rows(&db.url).await;
    let dest = temp_dir("fault-kill");
    let root = dest.join("kill");
    let mut child = export_cmd(&db.url, &dest, "kill", &["-j", "1"])
        .spawn()
        .unwrap();
    wait_for("two chunks written", || {
        (done_records(&root) >= 2).then_some(())
    });
    child.kill().unwrap(); // SIGKILL
    let (code, ..) = finish(child);
    assert_eq!(code, None, "killed by a signal");
    assert!(!root.join("manifest.json").exists());
    assert!(!root.join("_SUCCESS").exists());
    let recorded = done_records(&root);
    // Damage the file of one recorded chunk: the resumed run must not trust its record.
    let record: snapex::pipeline::ChunkRecord = serde_json::from_slice(
        &std::fs::read(root.join("_work/done/0.json")).expect("chunk 0 is read first"),
    )
    .unwrap();
    let damaged = dest.join(&record.results[0].file.as_ref().unwrap().path);
    let len = std::fs::metadata(&damaged).unwrap().len();
    std::fs::write(&damaged, vec![b'x'; len as usize]).unwrap();

    let stdout = run_ok(export_cmd(&db.url, &dest, "kill", &["-j", "1", "--resume"]));
    assert!(stdout.contains("kept from the interrupted run"), "{stdout}");
    let report = assert_local_export(&root, &source);
    assert_eq!(
        report.chunks_kept as usize,
        recorded - 1,
        "every recorded chunk is kept but the damaged one: {report:?}"
    );
    assert!(report.chunks_kept < report.chunks, "{report:?}");

    // Resuming a published export is refused, and changes nothing.
    let (code, _, stderr) = finish(
        export_cmd(&db.url, &dest, "kill", &["--resume"])
            .spawn()
            .unwrap(),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("already published"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_server_restarted_mid_export_fails_visibly_then_resumes() {
    let (pg, url, source) = private_source("restart").await;
    let dest = temp_dir("fault-restart");
    let root = dest.join("restart");
    let child = export_cmd(&url, &dest, "restart", &["-j", "1", "--retries", "3"])
        .spawn()
        .unwrap();
    wait_for("a chunk written", || {
        (done_records(&root) >= 1).then_some(())
    });
    // Paused while the server restarts, so the restart lands mid-export however fast it runs.
    signal(&child, "-STOP");
    pg.restart();
    signal(&child, "-CONT");
    let (code, stdout, stderr) = finish(child);
    // The snapshot every reader shares died with the server: nothing is published, and the
    // error says how to finish.
    assert_eq!(code, Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("nothing was published") && stderr.contains("--resume --export-id restart"),
        "{stderr}"
    );
    assert!(!root.join("manifest.json").exists());

    let stdout = run_ok(export_cmd(&url, &dest, "restart", &["-j", "1", "--resume"]));
    assert!(stdout.contains("kept from the interrupted run"), "{stdout}");
    let report = assert_local_export(&root, &source);
    assert!(report.chunks_kept >= 1, "{report:?}");
    let manifest = read_manifest(&root);
    assert!(
        manifest.source.consistency.contains("resumed"),
        "{}",
        manifest.source.consistency
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_errors_and_dropped_connections_are_retried() {
    let db = TestDb::create("fault_s3").await;
    db.exec(PG_TABLE).await;
    let source = pg_rows(&db.url).await;
    let s3 = S3Server::start();
    s3.create_bucket("lake");
    let upstream = s3.endpoint.trim_start_matches("http://").parse().unwrap();
    // Every 5th request fails: a 503, a connection dropped before the request reached the
    // server, or one dropped after the server handled it, in turn.
    let proxy = FaultProxy::start(upstream, 5);
    let cwd = temp_dir("fault-s3");
    let mut c = export_cmd(&db.url, Path::new("s3://lake/x"), "s3", &["-j", "2"]);
    c.args(["--endpoint-url", &proxy.url])
        .current_dir(&cwd)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1");
    run_ok(c);
    assert!(
        proxy.faults() >= 5,
        "{} faults in {} requests",
        proxy.faults(),
        proxy.requests()
    );

    // Read back past the proxy.
    use futures::TryStreamExt;
    use object_store::{ObjectStore, ObjectStoreExt, path::Path as StorePath};
    let store = s3.reader("lake");
    let root = "x/s3";
    let manifest: snapex::manifest::Manifest = serde_json::from_slice(
        &snapex_tests::get_object(&store, &format!("{root}/manifest.json")).await,
    )
    .unwrap();
    let t = snapex_tests::manifest_table(&manifest, "events");
    let listed: BTreeSet<String> = t
        .files
        .iter()
        .map(|f| format!("{root}/{}", f.path))
        .collect();
    let prefix = StorePath::from(format!("{root}/{}", t.location.trim_end_matches('/')));
    let stored: BTreeSet<String> = store
        .list(Some(&prefix))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(stored, listed, "the table's prefix holds exactly its files");
    let work: Vec<object_store::ObjectMeta> = store
        .list(Some(&StorePath::from(format!("{root}/_work"))))
        .try_collect()
        .await
        .unwrap();
    assert!(
        work.iter().all(|m| m
            .location
            .as_ref()
            .starts_with(&format!("{root}/_work/lease/"))),
        "records removed once published, but the lease: {work:?}"
    );
    let mut files = Vec::new();
    for key in &listed {
        let got = store.get(&StorePath::from(key.as_str())).await.unwrap();
        files.push(got.bytes().await.unwrap().to_vec());
    }
    assert_same_rows(&source, &exported_rows(&files));
}

/// The serverless chunk step reads in a transaction of its own (the instance is a restored
/// snapshot nothing writes to) and makes one attempt per call: while the database is down it
/// fails with `Retryable`, and the call the state machine retries with, once the server is
/// back, finishes its chunk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serverless_chunk_step_fails_retryably_while_the_server_is_down() {
    use snapex::pipeline::{Quiet, chunk_step, finalize_step, plan_step};
    let (pg, url, source) = private_source("steps").await;
    let dest = temp_dir("fault-steps");
    let d = dest.to_str().unwrap().to_string();
    let mut cfg = snapex::ExportConfig::new(&url, &d).unwrap();
    cfg.export_id = Some("steps".into());
    cfg.plan.target_file_bytes = 4 << 20;
    let planned = plan_step(&cfg, std::sync::Arc::new(Quiet)).await.unwrap();
    assert!(planned.chunks > 1);

    pg.stop();
    let e = chunk_step(&cfg.source, &d, None, "steps", 0)
        .await
        .unwrap_err();
    assert_eq!(e.class(), snapex::ErrorClass::Retryable, "{e}");
    pg.start_again();
    let record = chunk_step(&cfg.source, &d, None, "steps", 0).await.unwrap();
    assert_eq!(record.retries, 1, "{record:?}");
    for chunk in 1..planned.chunks {
        chunk_step(&cfg.source, &d, None, "steps", chunk)
            .await
            .unwrap();
    }
    let summary = finalize_step(&d, None, "steps", std::sync::Arc::new(Quiet))
        .await
        .unwrap();
    assert_eq!(summary.report.retries, 1, "{:?}", summary.report);
    let root = dest.join("steps");
    let manifest = read_manifest(&root);
    let t = snapex_tests::manifest_table(&manifest, "events");
    let bytes: Vec<Vec<u8>> = t
        .files
        .iter()
        .map(|f| std::fs::read(root.join(&f.path)).unwrap())
        .collect();
    assert_same_rows(&source, &exported_rows(&bytes));
}

const MY_TABLE: &str = "CREATE TABLE events (id bigint PRIMARY KEY, body text, n int);
    INSERT INTO events
    WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < 300000)
    SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE CONCAT(MD5(i), REPEAT('x', 40)) END,
           (i * 37) % 1000
    FROM seq;
    ANALYZE TABLE events;";

async fn my_rows(db: &MyDb) -> Rows {
    use mysql_async::prelude::Queryable;
    let mut c = db.conn().await;
    let rows: Vec<(String, String, String)> = c
        .query(
            "SELECT CAST(e.id AS CHAR), COALESCE(e.body, 'NULL'), COALESCE(CAST(e.n AS CHAR), 'NULL') \
             FROM events e ORDER BY e.id",
        )
        .await
        .unwrap();
    rows.into_iter().map(|(a, b, c)| vec![a, b, c]).collect()
}

/// Kills, with `KILL`, a connection of `db` other than ours that is reading the table's rows
/// (its SELECT names every column; the planner's queries name only the key); true if one
/// was found.
async fn kill_a_mysql_reader(db: &MyDb) -> bool {
    use mysql_async::prelude::Queryable;
    let mut c = db.conn().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let ids: Vec<u64> = c
            .exec(
                "SELECT id FROM information_schema.processlist \
                 WHERE db = ? AND id <> CONNECTION_ID() AND info LIKE 'SELECT%`body`%FROM%events%'",
                (db.name.as_str(),),
            )
            .await
            .unwrap();
        if let Some(id) = ids.first() {
            c.exec_drop("KILL ?", (id,)).await.unwrap();
            return true;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    false
}

/// Runs an export of `db` as `id` and kills one of its readers mid-read; how it ended.
async fn export_killing_a_reader(
    db: &MyDb,
    dest: &Path,
    id: &str,
    extra: &[&str],
) -> (Option<i32>, String, String) {
    let child = export_cmd(&db.url, dest, id, extra).spawn().unwrap();
    assert!(
        kill_a_mysql_reader(db).await,
        "no reader was caught in a SELECT"
    );
    tokio::task::spawn_blocking(|| finish(child)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_reader_killed_mid_chunk() {
    let db = MyDb::create("fault_kill").await;
    db.exec(&format!(
        "SET SESSION max_recursive_iterations = 1000000; {MY_TABLE}"
    ))
    .await;
    let source = my_rows(&db).await;
    assert_eq!(source.len() as i64, ROWS);

    // Readers that each take their own snapshot (an idle source): the killed reader's chunk
    // is read again on a new connection, in the same process.
    let dest = temp_dir("fault-mykill");
    let (code, stdout, stderr) = export_killing_a_reader(
        &db,
        &dest,
        "per-reader",
        &["-j", "2", "--mysql-consistency", "per-reader"],
    )
    .await;
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let report = assert_local_export(&dest.join("per-reader"), &source);
    assert!(report.retries >= 1, "{report:?}");

    // Readers lined up on one instant (the default): a lost reader cannot rejoin it, so the
    // export stops unpublished and says how to finish; the resumed run reads the rest.
    let (code, stdout, stderr) = export_killing_a_reader(&db, &dest, "locked", &["-j", "2"]).await;
    assert_eq!(code, Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains("consistent view of the source is gone")
            && stderr.contains("--resume --export-id locked"),
        "{stderr}"
    );
    let root = dest.join("locked");
    assert!(!root.join("manifest.json").exists());
    run_ok(export_cmd(
        &db.url,
        &dest,
        "locked",
        &["-j", "2", "--resume"],
    ));
    assert_local_export(&root, &source);
}
