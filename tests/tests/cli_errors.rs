//! Bad input through the real `snapex` binary: every case exits non-zero (2 for a request the
//! user must fix, 1 for a server that may come back), prints exactly one `snapex: error:` line
//! that names the problem, prints nothing on stdout, and publishes nothing.

use std::path::{Path, PathBuf};

use snapex_tests::{TestDb, admin_url, assert_cli_error, files_under, run_snapex, temp_dir};

/// Nothing was written under `work` (the run's working directory, holding its destination),
/// apart from the files listed in `except` that the test put there itself.
fn assert_nothing_published(work: &Path, except: &[PathBuf]) {
    let files: Vec<PathBuf> = files_under(work)
        .into_iter()
        .filter(|f| !except.contains(f))
        .collect();
    assert!(
        !files.iter().any(|f| f
            .file_name()
            .is_some_and(|n| n == "manifest.json" || n == "_SUCCESS")),
        "published: {files:?}"
    );
    assert!(files.is_empty(), "files written: {files:?}");
}

/// A URL to database `db` on the test server.
fn url_for_db(db: &str) -> String {
    let base = admin_url();
    let (server, _) = base
        .rsplit_once('/')
        .expect("SNAPEX_TEST_PG ends in /database");
    format!("{server}/{db}")
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn export_args<'a>(source: &'a str, dest: &'a str) -> Vec<&'a str> {
    vec![
        "export",
        "--source",
        source,
        "--dest",
        dest,
        "--export-id",
        "e1",
        "--no-progress",
    ]
}

#[test]
fn malformed_source_urls_are_invalid_input() {
    for (source, says) in [
        (
            "postgres://u:s3cret@h:notaport/db",
            "invalid PostgreSQL URL",
        ),
        ("mysql-ish://x", "invalid source URL"),
    ] {
        let work = temp_dir("cli-badurl");
        let dest = work.join("lake");
        let o = run_snapex(&export_args(source, dest.to_str().unwrap()), &work);
        assert_cli_error(&o, 2, &[says, "postgres://"]);
        assert!(
            !o.stderr.contains("s3cret"),
            "password leaked: {}",
            o.stderr
        );
        assert_nothing_published(&work, &[]);
        assert!(
            !dest.exists(),
            "the URL is checked before the destination is created"
        );
        std::fs::remove_dir_all(&work).unwrap();
    }
}

#[test]
fn unreachable_server_is_a_retryable_failure() {
    let port = closed_port();
    let source = format!("postgres://postgres:s3cret@127.0.0.1:{port}/test");
    let work = temp_dir("cli-unreachable");
    let dest = work.join("lake");
    let o = run_snapex(&export_args(&source, dest.to_str().unwrap()), &work);
    assert_cli_error(
        &o,
        1,
        &[
            &format!("cannot connect to the source database at 127.0.0.1:{port}/test"),
            "nothing was published",
        ],
    );
    assert!(
        !o.stderr.contains("s3cret"),
        "password leaked: {}",
        o.stderr
    );
    assert_nothing_published(&work, &[]);
    std::fs::remove_dir_all(&work).unwrap();
}

#[test]
fn missing_database_on_a_live_server_is_invalid_input() {
    let db = format!("snapex_no_such_db_{}", std::process::id());
    let source = url_for_db(&db);
    let work = temp_dir("cli-nodb");
    let dest = work.join("lake");
    let o = run_snapex(&export_args(&source, dest.to_str().unwrap()), &work);
    assert_cli_error(
        &o,
        2,
        &[
            "cannot connect to the source database",
            &format!("database \"{db}\" does not exist"),
        ],
    );
    assert_nothing_published(&work, &[]);
    std::fs::remove_dir_all(&work).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn include_pattern_matching_no_table_is_invalid_input() {
    let db = TestDb::create("cli_include").await;
    db.exec("CREATE TABLE public.orders (id int8 PRIMARY KEY, note text); INSERT INTO public.orders VALUES (1, 'a'), (2, 'b');")
        .await;
    let work = temp_dir("cli-include");
    let dest = work.join("lake");
    let mut args = export_args(&db.url, dest.to_str().unwrap());
    args.extend(["--include", "orders", "--include", "public.nosuch_table"]);
    let o = run_snapex(&args, &work);
    assert_cli_error(&o, 2, &["no table matches \"public.nosuch_table\""]);
    assert!(
        !o.stderr.contains("\"orders\""),
        "only the pattern that matched nothing is named: {}",
        o.stderr
    );
    assert_nothing_published(&work, &[]);

    // A plan that fails the same way leaves no chunk list, not even a partial one.
    let list = work.join("chunks.jsonl");
    let o = run_snapex(
        &[
            "plan",
            "--source",
            &db.url,
            "--no-progress",
            "--include",
            "public.nosuch_table",
            "--chunks",
            list.to_str().unwrap(),
        ],
        &work,
    );
    assert_cli_error(&o, 2, &["no table matches \"public.nosuch_table\""]);
    assert_nothing_published(&work, &[]);
    let o = run_snapex(
        &[
            "plan",
            "--source",
            &db.url,
            "--no-progress",
            "--chunks",
            list.to_str().unwrap(),
        ],
        &work,
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let lines = std::fs::read_to_string(&list).unwrap();
    assert_eq!(lines.lines().count(), 1, "one chunk for one table: {lines}");
    assert!(lines.contains("\"orders\""), "{lines}");
    std::fs::remove_file(&list).unwrap();

    // The same request without the bad pattern works, so the failure above is the pattern's.
    let ok_dest = work.join("ok");
    let o = run_snapex(
        &[
            "export",
            "--source",
            &db.url,
            "--dest",
            ok_dest.to_str().unwrap(),
            "--export-id",
            "e1",
            "--no-progress",
            "--include",
            "orders",
        ],
        &work,
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(ok_dest.join("e1").join("manifest.json").is_file());
    std::fs::remove_dir_all(&work).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_under_a_regular_file_is_invalid_input() {
    let db = TestDb::create("cli_unwritable").await;
    db.exec("CREATE TABLE public.t (id int8 PRIMARY KEY); INSERT INTO public.t SELECT generate_series(1, 10);").await;
    let work = temp_dir("cli-unwritable");
    let blocker = work.join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    let dest = blocker.join("lake");
    let o = run_snapex(&export_args(&db.url, dest.to_str().unwrap()), &work);
    assert_cli_error(
        &o,
        2,
        &[&format!(
            "destination {:?} cannot be created",
            dest.to_str().unwrap()
        )],
    );
    assert_nothing_published(&work, std::slice::from_ref(&blocker));
    assert_eq!(
        std::fs::read(&blocker).unwrap(),
        b"x",
        "the blocking file is untouched"
    );
    std::fs::remove_dir_all(&work).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_destination_scheme_is_invalid_input() {
    let db = TestDb::create("cli_scheme").await;
    db.exec("CREATE TABLE public.t (id int8 PRIMARY KEY); INSERT INTO public.t VALUES (1);")
        .await;
    let work = temp_dir("cli-scheme");
    let o = run_snapex(&export_args(&db.url, "gs://x"), &work);
    assert_cli_error(&o, 2, &["\"gs://x\"", "unsupported scheme"]);
    // Not taken for a relative folder named "gs:" either.
    assert_nothing_published(&work, &[]);
    assert_eq!(
        std::fs::read_dir(&work).unwrap().count(),
        0,
        "nothing created in the working directory"
    );
    std::fs::remove_dir_all(&work).unwrap();
}

#[test]
fn help_lists_the_main_flags() {
    let work = temp_dir("cli-help");
    let top = run_snapex(&["--help"], &work);
    assert_eq!(top.code, Some(0), "{}", top.stderr);
    assert!(top.stdout.contains("export"), "{}", top.stdout);

    let o = run_snapex(&["export", "--help"], &work);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.stderr.is_empty(), "{}", o.stderr);
    for flag in [
        "--source",
        "--dest",
        "--include",
        "--exclude",
        "--concurrency",
        "--endpoint-url",
        "--target-file-size",
    ] {
        assert!(
            o.stdout.contains(flag),
            "export --help should mention {flag}:\n{}",
            o.stdout
        );
    }
    assert_eq!(std::fs::read_dir(&work).unwrap().count(), 0);
    std::fs::remove_dir_all(&work).unwrap();
}
