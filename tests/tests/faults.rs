//! Faults injected into real processes and servers: a reader's connection killed mid-chunk
//! (PostgreSQL and MariaDB), the database restarted during an export, the S3-compatible
//! server failing requests, the export process killed with SIGKILL, interrupted with SIGINT
//! or SIGTERM, and resumed, a server that never answers, and a read that stalls. After each,
//! the export must hold every source row exactly once (compared row by row with the source),
//! and its folder exactly the files its manifest names: none partial, none twice.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use snapex::pipeline::report::RunReport;
use snapex_tests::faults::{FaultProxy, PrivatePostgres};
use snapex_tests::{
    MyDb, S3Server, TestDb, display_strings, export_command, files_under, read_manifest,
    read_parquet_file, snapex_bin, temp_dir, with_test_s3_credentials,
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
    let child = export_command(&db.url, &dest, "term", &["-j", "2"])
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
    let mut child = export_command(&db.url, &dest, "kill", &["-j", "1"])
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
    let record: snapex::work::ChunkRecord = serde_json::from_slice(
        &std::fs::read(root.join("_work/done/0.json")).expect("chunk 0 is read first"),
    )
    .unwrap();
    let damaged = dest.join(&record.results[0].file.as_ref().unwrap().path);
    let len = std::fs::metadata(&damaged).unwrap().len();
    std::fs::write(&damaged, vec![b'x'; len as usize]).unwrap();

    let stdout = run_ok(export_command(
        &db.url,
        &dest,
        "kill",
        &["-j", "1", "--resume"],
    ));
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
        export_command(&db.url, &dest, "kill", &["--resume"])
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
    let child = export_command(&url, &dest, "restart", &["-j", "1", "--retries", "3"])
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
    let error = snapex_tests::error_line(&stderr);
    assert!(
        error.contains("nothing was published") && error.contains("--resume --export-id restart"),
        "{stderr}"
    );
    assert!(!root.join("manifest.json").exists());

    let stdout = run_ok(export_command(
        &url,
        &dest,
        "restart",
        &["-j", "1", "--resume"],
    ));
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
    let mut c = export_command(&db.url, Path::new("s3://lake/x"), "s3", &["-j", "2"]);
    c.args(["--endpoint-url", &proxy.url]).current_dir(&cwd);
    with_test_s3_credentials(&mut c);
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
    let child = export_command(&db.url, dest, id, extra).spawn().unwrap();
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
    run_ok(export_command(
        &db.url,
        &dest,
        "locked",
        &["-j", "2", "--resume"],
    ));
    assert_local_export(&root, &source);
}

/// The files the completion records under `_work/done/` name, as paths under `dest`.
fn recorded_files(root: &Path, dest: &Path) -> BTreeSet<PathBuf> {
    let mut files = BTreeSet::new();
    for entry in std::fs::read_dir(root.join("_work/done")).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".json") {
            continue;
        }
        let record: snapex::work::ChunkRecord =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        files.extend(
            record
                .results
                .iter()
                .filter_map(|r| r.file.as_ref())
                .map(|f| dest.join(&f.path)),
        );
    }
    files
}

/// `w` as one word for a POSIX shell: in single quotes unless every character is one no
/// shell treats specially.
fn shell_word(w: &str) -> String {
    if w.chars()
        .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c))
    {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

/// What an interrupted run printed last: chunks written, chunks planned, and the command it
/// says finishes the export.
fn interrupted_line(line: &str, id: &str) -> (usize, usize, String) {
    let rest = line
        .strip_prefix(&format!("snapex: interrupted export {id} with "))
        .unwrap_or_else(|| panic!("{line}"));
    let (done, rest) = rest.split_once(" of ").unwrap();
    let (planned, rest) = rest.split_once(" chunks written; ").unwrap();
    assert!(
        rest.starts_with("nothing was published. To finish it, run"),
        "{line}"
    );
    let command = rest.split_once(": ").unwrap().1.to_string();
    let count = |n: &str| n.replace(',', "").parse().unwrap();
    (count(done), count(planned), command)
}

/// Interrupts an export of the 300,000-row table from `source` with `sig` once it has written
/// a chunk, and checks how it ended: exit `code`, its name, then one line with the chunks
/// written and the exact command that finishes it; every file in the table's folder named by
/// a completion record (the abandoned chunk's files removed, its upload aborted); nothing
/// published. Runs that command, and returns the resumed run's report.
async fn interrupt_then_resume(
    source_url: &str,
    shown_url: &str,
    source: &Rows,
    id: &str,
    sig: &str,
    code: i32,
    extra: &[&str],
) -> RunReport {
    let dest = temp_dir(&format!("fault-{id}"));
    let root = dest.join(id);
    let child = export_command(source_url, &dest, id, extra)
        .spawn()
        .unwrap();
    wait_for("a chunk written", || {
        (done_records(&root) >= 1).then_some(())
    });
    signal(&child, sig);
    let signalled = Instant::now();
    let (exit, stdout, stderr) = tokio::task::spawn_blocking(|| finish(child)).await.unwrap();
    let ctx = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "stopped promptly: {:?}",
        signalled.elapsed()
    );
    assert_eq!(exit, Some(code), "{ctx}");
    assert!(stdout.is_empty(), "{ctx}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{ctx}");
    assert_eq!(lines[0], format!("snapex: export {id}"), "{ctx}");
    let (done, planned, command) = interrupted_line(lines[1], id);
    assert_eq!(done, done_records(&root), "{ctx}");
    assert!(done >= 1 && done < planned, "{ctx}");
    let mut expected = vec![
        snapex_bin().display().to_string(),
        "export".into(),
        "--no-progress".into(),
        "--dest".into(),
        dest.display().to_string(),
        "--source".into(),
        shown_url.into(),
        "--target-file-size".into(),
        "1MiB".into(),
    ];
    expected.extend(extra.iter().map(|s| s.to_string()));
    expected.extend(["--resume".into(), "--export-id".into(), id.into()]);
    let expected: Vec<String> = expected.iter().map(|w| shell_word(w)).collect();
    assert_eq!(command, expected.join(" "), "{ctx}");

    assert!(!root.join("manifest.json").exists());
    let work = root.join("_work");
    let on_disk: BTreeSet<PathBuf> = files_under(&root)
        .into_iter()
        .filter(|p| !p.starts_with(&work))
        .collect();
    assert_eq!(
        on_disk,
        recorded_files(&root, &dest),
        "only recorded chunks' files stay: no staging file, none of the abandoned chunk"
    );

    // The printed command, with the password back where the line says.
    let command = command.replace("****", snapex_tests::TEST_PASSWORD);
    let mut resume = Command::new("sh");
    resume
        .args(["-c", &command])
        .env_remove("SNAPEX_SOURCE")
        .env_remove("AWS_ENDPOINT_URL")
        .env("SNAPEX_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let stdout = run_ok(resume);
    assert!(stdout.contains("kept from the interrupted run"), "{stdout}");
    let report = assert_local_export(&root, source);
    assert_eq!(report.chunks_kept as usize, done, "{report:?}");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_mid_export_stops_cleanly_and_the_printed_command_finishes_it() {
    let db = TestDb::create("fault_int").await;
    db.exec(PG_TABLE).await;
    let source = pg_rows(&db.url).await;
    let shown = db.url.replace(snapex_tests::TEST_PASSWORD, "****");
    assert_ne!(
        shown, db.url,
        "the URL carries a password, which the line hides"
    );
    interrupt_then_resume(&db.url, &shown, &source, "int", "-INT", 130, &["-j", "1"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_mariadb_export_stops_cleanly_and_the_printed_command_finishes_it() {
    let db = MyDb::create("fault_term").await;
    db.exec(&format!(
        "SET SESSION max_recursive_iterations = 1000000; {MY_TABLE}"
    ))
    .await;
    let source = my_rows(&db).await;
    let report = interrupt_then_resume(
        &db.url,
        &db.url,
        &source,
        "sigterm",
        "-TERM",
        143,
        &["-j", "2"],
    )
    .await;
    assert!(report.chunks_kept < report.chunks, "{report:?}");
}

/// The backend of a `snapex` connection to `db` waiting for a lock, once there is one, other
/// than those in `except`.
async fn snapex_waiting_for_a_lock(admin: &tokio_postgres::Client, except: &[i32]) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = admin
            .query(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                 AND application_name = 'snapex' AND wait_event_type = 'Lock' \
                 AND pid <> ALL($1)",
                &[&except],
            )
            .await
            .unwrap();
        if let Some(r) = rows.first() {
            return r.get(0);
        }
        assert!(
            Instant::now() < deadline,
            "snapex never waited for the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Before its plan is recorded, an export has nothing to resume: interrupted then, it says
/// there is nothing to resume, and a retryable failure then does not suggest `--resume` (it
/// did whenever the export was named: `--resume` then fails with "has no plan").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_the_plan_is_recorded_there_is_nothing_to_resume() {
    let db = TestDb::create("fault_noplan").await;
    db.exec(PG_TABLE).await;
    // Planning waits on this lock: it reads the table's key bounds.
    let locker = db.client().await;
    locker
        .batch_execute("BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let admin = db.client().await;
    let dest = temp_dir("fault-noplan");

    let child = export_command(&db.url, &dest, "early", &[])
        .spawn()
        .unwrap();
    let first = snapex_waiting_for_a_lock(&admin, &[]).await;
    signal(&child, "-INT");
    let (code, stdout, stderr) = tokio::task::spawn_blocking(|| finish(child)).await.unwrap();
    assert_eq!(code, Some(130), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(
        stderr,
        "snapex: export early\nsnapex: interrupted export early before the export's plan was \
         recorded: there is nothing to resume (run the same command again to start over)\n"
    );
    assert!(files_under(&dest).is_empty(), "{:?}", files_under(&dest));

    let child = export_command(&db.url, &dest, "early", &[])
        .spawn()
        .unwrap();
    let pid = snapex_waiting_for_a_lock(&admin, &[first]).await;
    admin
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    let (code, stdout, stderr) = tokio::task::spawn_blocking(|| finish(child)).await.unwrap();
    assert_eq!(code, Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let error = snapex_tests::error_line(&stderr);
    assert!(error.contains("nothing was published"), "{stderr}");
    assert!(!error.contains("--resume"), "{stderr}");
    locker.batch_execute("ROLLBACK").await.unwrap();
}

/// Runs `snapex export` from `source`, which must fail within `within`; kills it otherwise.
fn export_failing_within(source: &str, within: Duration) -> (Duration, String) {
    let dest = temp_dir("fault-silent");
    let mut c = export_command(source, &dest, "silent", &[]);
    let started = Instant::now();
    let mut child = c.spawn().unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > within {
            child.kill().unwrap();
            panic!("{source}: still waiting after {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = started.elapsed();
    let (code, stdout, stderr) = finish(child);
    assert_eq!(code, Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(files_under(&dest).is_empty(), "{:?}", files_under(&dest));
    (elapsed, snapex_tests::error_line(&stderr).to_string())
}

/// A server that accepts the connection and never answers fails the export once the URL's
/// `connect_timeout` passes, for both engines, with a line naming the server and the limit.
#[test]
fn a_server_that_never_answers_fails_within_connect_timeout() {
    use snapex_tests::faults::SilentServer;
    let silent = SilentServer::start();
    let at = silent.addr;
    for source in [
        format!("postgres://postgres@{at}/app?connect_timeout=2"),
        format!("mysql://root@{at}/shop?connect_timeout=2"),
    ] {
        let (elapsed, error) = export_failing_within(&source, Duration::from_secs(20));
        assert!(
            elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(8),
            "{source}: {elapsed:?}"
        );
        let db = source
            .rsplit_once('/')
            .unwrap()
            .1
            .split('?')
            .next()
            .unwrap();
        assert!(
            error.contains(&format!(
                "cannot connect to the source database at {at}/{db}: no answer within 2s \
                 (connect_timeout"
            )) && error.contains("nothing was published"),
            "{error}"
        );
    }
}

/// A reader whose server stops sending mid-COPY fails once the URL's `read_timeout` passes,
/// with a line naming the table, the server and the limit, and the export can be resumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_postgres_read_fails_within_read_timeout_and_resumes() {
    use snapex_tests::faults::StallingProxy;
    let db = TestDb::create("fault_stall").await;
    db.exec(PG_TABLE).await;
    let source = pg_rows(&db.url).await;
    let (proxy, url) = StallingProxy::before(&format!("{}?read_timeout=2", db.url), 256 << 10);
    let dest = temp_dir("fault-stall");
    let c = export_command(&url, &dest, "stall", &["-j", "1", "--retries", "0"]);
    let started = Instant::now();
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        let mut c = c;
        finish(c.spawn().unwrap())
    })
    .await
    .unwrap();
    assert!(proxy.stalled(), "a reader stalled");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(code, Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let error = snapex_tests::error_line(&stderr);
    let endpoint = url.split_once('@').unwrap().1.split('?').next().unwrap();
    assert!(
        error.contains(&format!(
            "reading public.events from {endpoint}: no data for 2s (read_timeout"
        )) && error.contains("--resume --export-id stall"),
        "{stderr}"
    );

    // Through the same proxy (which stalls one connection only), with retries.
    let stdout = run_ok(export_command(
        &url,
        &dest,
        "stall",
        &["-j", "1", "--resume"],
    ));
    assert!(stdout.contains("exported 1 table"), "{stdout}");
    assert_local_export(&dest.join("stall"), &source);
}

/// A MySQL reader whose server stops sending mid-SELECT fails the chunk once `read_timeout`
/// passes, and the chunk is read again on a new connection in the same run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_mariadb_read_is_read_again() {
    use snapex_tests::faults::StallingProxy;
    let db = MyDb::create("fault_stall").await;
    db.exec(&format!(
        "SET SESSION max_recursive_iterations = 1000000; {MY_TABLE}"
    ))
    .await;
    let source = my_rows(&db).await;
    // Not over the server's Unix socket, which mysql_async prefers on this machine: through
    // the proxy.
    let (proxy, url) = StallingProxy::before(
        &format!("{}?read_timeout=2&prefer_socket=false", db.url),
        256 << 10,
    );
    let dest = temp_dir("fault-mystall");
    let c = export_command(
        &url,
        &dest,
        "mystall",
        &["-j", "1", "--mysql-consistency", "per-reader"],
    );
    let stdout = tokio::task::spawn_blocking(move || run_ok(c))
        .await
        .unwrap();
    assert!(proxy.stalled(), "a reader stalled");
    assert!(
        stdout.contains("read again after a retryable failure"),
        "{stdout}"
    );
    let report = assert_local_export(&dest.join("mystall"), &source);
    assert_eq!(report.retries, 1, "{report:?}");
}
