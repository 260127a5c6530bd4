//! Bad input through the real `snapex` binary: every case exits non-zero (2 for a request the
//! user must fix, 1 for a server that may come back or a failure that is not the request's),
//! prints exactly one `snapex: error:` line that names the problem, prints nothing on stdout,
//! publishes nothing, and never shows a password (every source URL here carries one).

use std::path::{Path, PathBuf};
use std::process::Command;

use snapex_tests::{
    MYSQL_TEST_PASSWORD, MyDb, Outcome, S3Server, TEST_PASSWORD, TEST_PASSWORDS, TestDb,
    WRONG_PASSWORD, admin_url, assert_cli_error, files_under, mysql_admin_url, run_snapex,
    snapex_bin, temp_dir, with_test_password,
};

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

/// No test password in anything the run printed. The message shows where, not the password.
fn assert_no_password(o: &Outcome) {
    for pw in TEST_PASSWORDS {
        for (stream, text) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
            assert!(
                !text.contains(pw),
                "a password leaked into {stream}: {}",
                text.replace(pw, "<PASSWORD>")
            );
        }
    }
}

/// A URL to database `db` on the test server, carrying the test password.
fn url_for_db(db: &str) -> String {
    let base = admin_url();
    let (server, _) = base
        .rsplit_once('/')
        .expect("SNAPEX_TEST_PG ends in /database");
    with_test_password(&format!("{server}/{db}"))
}

/// The test server's host and port (`127.0.0.1:5432`), from `SNAPEX_TEST_PG` or MySQL's URL.
fn server_of(url: &str) -> String {
    let rest = url.split_once("://").expect("a URL").1;
    let hostpath = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    hostpath.split('/').next().unwrap().to_string()
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
            format!("postgres://u:{TEST_PASSWORD}@h:notaport/db"),
            "invalid PostgreSQL URL",
        ),
        (
            format!("mysql-ish://u:{TEST_PASSWORD}@x"),
            "invalid source URL",
        ),
    ] {
        let work = temp_dir("cli-badurl");
        let dest = work.join("lake");
        let o = run_snapex(&export_args(&source, dest.to_str().unwrap()), &work);
        assert_cli_error(&o, 2, &[says, "postgres://"]);
        assert_no_password(&o);
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
    let source = format!("postgres://postgres:{TEST_PASSWORD}@127.0.0.1:{port}/test");
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
    assert_no_password(&o);
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
    assert_no_password(&o);
    assert_nothing_published(&work, &[]);
    std::fs::remove_dir_all(&work).unwrap();
}

/// An `--exclude` that leaves nothing to export is a mistake like an `--include` that matches
/// nothing: an empty export would look like a successful one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclude_patterns_leaving_no_table_are_invalid_input() {
    let db = TestDb::create("cli_exclude").await;
    db.exec("CREATE TABLE public.orders (id int8 PRIMARY KEY); CREATE TABLE public.items (id int8 PRIMARY KEY); INSERT INTO public.orders VALUES (1);")
        .await;
    let work = temp_dir("cli-exclude");
    let dest = work.join("lake");
    let mut args = export_args(&db.url, dest.to_str().unwrap());
    args.extend(["--exclude", "public.orders", "--exclude", "public.it*"]);
    let o = run_snapex(&args, &work);
    assert_cli_error(
        &o,
        2,
        &["--exclude leaves no table to export", "2 table(s)"],
    );
    assert_no_password(&o);
    assert_nothing_published(&work, &[]);

    // One table left: the export goes on.
    let mut args = export_args(&db.url, dest.to_str().unwrap());
    args.extend(["--exclude", "public.it*"]);
    let o = run_snapex(&args, &work);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
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
    assert_no_password(&o);
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
    assert_no_password(&o);
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
    assert_no_password(&o);
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
    assert_no_password(&o);
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
    assert_no_password(&o);
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
fn row_group_size_out_of_range_is_invalid_input() {
    // Checked before connecting: the source's port is closed, so reaching it would exit 1.
    let source = format!("postgres://postgres@127.0.0.1:{}/test", closed_port());
    for size in ["512KiB", "2GiB"] {
        let work = temp_dir("cli-rowgroup");
        let dest = work.join("lake");
        let mut args = export_args(&source, dest.to_str().unwrap());
        args.extend(["--row-group-size", size]);
        let o = run_snapex(&args, &work);
        assert_cli_error(&o, 2, &["--row-group-size must be between 1MiB and 1GiB"]);
        assert_nothing_published(&work, &[]);
        std::fs::remove_dir_all(&work).unwrap();
    }
}

/// `snapex export ... | head -n 1`: the reader of stdout goes away before the summary is
/// printed. The export is already published, so snapex must exit 0 without a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_does_not_fail_a_finished_export() {
    let db = TestDb::create("cli_pipe").await;
    db.exec("CREATE TABLE public.orders (id int8 PRIMARY KEY, note text); INSERT INTO public.orders SELECT g, 'n' || g FROM generate_series(1, 1000) g;")
        .await;
    let work = temp_dir("cli-pipe");
    let dest = work.join("lake");
    let mut child = Command::new(snapex_bin())
        .args(export_args(&db.url, dest.to_str().unwrap()))
        .current_dir(&work)
        .env_remove("SNAPEX_SOURCE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end at once: every line snapex prints meets a broken pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dest.join("e1").join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["totals"]["rows"], 1000);
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
        "--row-group-size",
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

// --- The --config file ------------------------------------------------------------------------

#[test]
fn malformed_config_file_is_invalid_input() {
    let work = temp_dir("cli-config");
    let dest = work.join("lake");
    let mut written = Vec::new();
    for (name, text, says) in [
        (
            "syntax.toml",
            "[[partition]\ntable = \"events\"\n",
            &["unclosed array table, expected `]`"][..],
        ),
        (
            "unknown-key.toml",
            "[[partitions]]\ntable = \"events\"\ncolumn = \"created_at\"\nby = \"day\"\n",
            &["unknown field `partitions`", "expected one of `partition`"][..],
        ),
        (
            "missing-field.toml",
            "[[partition]]\ntable = \"events\"\nby = \"day\"\n",
            &["missing field `column`"][..],
        ),
        (
            "wrong-type.toml",
            "[[partition]]\ntable = \"orders\"\ncolumn = \"key\"\nby = \"buckets\"\nwidth = \"wide\"\n",
            &["invalid type: string \"wide\""][..],
        ),
        (
            "bad-kind.toml",
            "[[partition]]\ntable = \"events\"\ncolumn = \"created_at\"\nby = \"fortnight\"\n",
            &[
                "partition #1: unknown kind \"fortnight\"",
                "use year, month, day, hour, value or buckets",
            ][..],
        ),
        (
            "bad-width.toml",
            "[[partition]]\ntable = \"events\"\ncolumn = \"created_at\"\nby = \"day\"\nwidth = 10\n",
            &["partition #1: a width is only for 'buckets'"][..],
        ),
        (
            "bad-pattern.toml",
            "[[partition]]\ntable = \"public.[events\"\ncolumn = \"created_at\"\nby = \"day\"\n",
            &["partition #1: table pattern \"public.[events\""][..],
        ),
    ] {
        let file = work.join(name);
        std::fs::write(&file, text).unwrap();
        written.push(file.clone());
        // A live source: the file is what is wrong.
        let source = url_for_db("test");
        let mut args = export_args(&source, dest.to_str().unwrap());
        args.extend(["--config", file.to_str().unwrap()]);
        let o = run_snapex(&args, &work);
        // Named as "config file <path>: ..." or "<path>: partition #N: ...".
        let file_named = format!("{}: ", file.display());
        let mut all = vec![file_named.as_str()];
        all.extend_from_slice(says);
        assert_cli_error(&o, 2, &all);
        assert_no_password(&o);
        assert!(!dest.exists(), "{name}: the config file is read first");
    }
    let missing = work.join("no-such.toml");
    let source = url_for_db("test");
    let mut args = export_args(&source, dest.to_str().unwrap());
    args.extend(["--config", missing.to_str().unwrap()]);
    let o = run_snapex(&args, &work);
    assert_cli_error(
        &o,
        2,
        &[
            &format!("cannot read config file {}", missing.display()),
            "No such file or directory",
        ],
    );
    assert_no_password(&o);
    assert_nothing_published(&work, &written);
    std::fs::remove_dir_all(&work).unwrap();
}

// --- Wrong credentials ------------------------------------------------------------------------

#[test]
fn unknown_postgres_role_is_invalid_input() {
    // The server trusts every local connection, so a password cannot be wrong: a role that does
    // not exist is what it refuses.
    let role = format!("snapex_no_such_role_{}", std::process::id());
    let server = server_of(&admin_url());
    let source = format!("postgres://{role}:{WRONG_PASSWORD}@{server}/test");
    let work = temp_dir("cli-norole");
    let dest = work.join("lake");
    let o = run_snapex(&export_args(&source, dest.to_str().unwrap()), &work);
    assert_cli_error(
        &o,
        2,
        &[
            &format!("cannot connect to the source database at {server}/test"),
            &format!("role \"{role}\" does not exist"),
            "check the host, port, user, password and database of --source",
            "nothing was published",
        ],
    );
    assert_no_password(&o);
    assert_nothing_published(&work, &[]);
    std::fs::remove_dir_all(&work).unwrap();
}

/// A MariaDB user with a password, allowed to read one database; dropped when the test ends.
struct MyUser {
    name: String,
}

impl MyUser {
    async fn create(db: &str) -> MyUser {
        use mysql_async::prelude::Queryable;
        let name = format!("snapex_pw_{}", std::process::id());
        let mut c = mysql_async::Conn::from_url(mysql_admin_url())
            .await
            .expect("MariaDB is running (scripts/services.sh starts it)");
        for sql in [
            format!("DROP USER IF EXISTS '{name}'@'%'"),
            format!("CREATE USER '{name}'@'%' IDENTIFIED BY '{MYSQL_TEST_PASSWORD}'"),
            format!("GRANT SELECT, SHOW VIEW ON `{db}`.* TO '{name}'@'%'"),
        ] {
            // The error, not the statement: the statement holds the password.
            c.query_drop(sql.as_str())
                .await
                .unwrap_or_else(|e| panic!("creating the test user: {e}"));
        }
        c.disconnect().await.unwrap();
        MyUser { name }
    }

    /// A URL to `db` as this user with `password`.
    fn url(&self, password: &str, db: &str) -> String {
        format!(
            "mysql://{}:{password}@{}/{db}",
            self.name,
            server_of(&mysql_admin_url())
        )
    }
}

impl Drop for MyUser {
    fn drop(&mut self) {
        let sql = format!("DROP USER IF EXISTS '{}'@'%'", self.name);
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    use mysql_async::prelude::Queryable;
                    if let Ok(mut c) = mysql_async::Conn::from_url(mysql_admin_url()).await {
                        let _ = c.query_drop(sql).await;
                        let _ = c.disconnect().await;
                    }
                })
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_mariadb_password_is_invalid_input() {
    let db = MyDb::create("cli_mypw").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1), (2);")
        .await;
    let user = MyUser::create(&db.name).await;
    let work = temp_dir("cli-mypw");
    let dest = work.join("lake");
    let server = server_of(&mysql_admin_url());

    let wrong = user.url(WRONG_PASSWORD, &db.name);
    let o = run_snapex(&export_args(&wrong, dest.to_str().unwrap()), &work);
    assert_cli_error(
        &o,
        2,
        &[
            &format!(
                "cannot connect to the source database at {server}/{}",
                db.name
            ),
            &format!("Access denied for user '{}'", user.name),
            "check the host, port, user, password and database of --source",
            "nothing was published",
        ],
    );
    assert_no_password(&o);
    assert_nothing_published(&work, &[]);

    // The right password works, so the failure above was the password's; it shows nowhere either.
    let right = user.url(MYSQL_TEST_PASSWORD, &db.name);
    let mut args = export_args(&right, dest.to_str().unwrap());
    // A user without RELOAD cannot take the default locked start.
    args.extend(["--mysql-consistency", "single"]);
    let o = run_snapex(&args, &work);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_no_password(&o);
    assert!(dest.join("e1").join("manifest.json").is_file());
    for f in files_under(&work) {
        let bytes = std::fs::read(&f).unwrap();
        for pw in TEST_PASSWORDS {
            assert!(
                !bytes.windows(pw.len()).any(|w| w == pw.as_bytes()),
                "{} holds a password",
                f.display()
            );
        }
    }
    std::fs::remove_dir_all(&work).unwrap();
}

// --- A destination we may not write -----------------------------------------------------------

/// Runs `snapex` like [`run_snapex`], with `env` set and every other AWS variable removed.
fn run_snapex_env(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Outcome {
    let mut cmd = Command::new(snapex_bin());
    cmd.args(args).current_dir(cwd);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("SNAPEX_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_EC2_METADATA_DISABLED", "true");
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("running snapex");
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// On a fresh moto server: bucket `lake`, user `reader` that may only list and read it, and
/// user `nobody` that may do nothing. Returns each user's access key id and secret.
const IAM_SETUP: &str = r#"
import json, os, boto3
kw = dict(endpoint_url=os.environ["SNAPEX_GLUE_ENDPOINT"], region_name="us-east-1",
          aws_access_key_id="testing", aws_secret_access_key="testing")
s3, iam = boto3.client("s3", **kw), boto3.client("iam", **kw)
s3.create_bucket(Bucket="lake")
iam.create_user(UserName="reader")
iam.put_user_policy(UserName="reader", PolicyName="read-only", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                   "Resource": ["arn:aws:s3:::lake", "arn:aws:s3:::lake/*"]}]}))
iam.create_user(UserName="nobody")
keys = {}
for user in ("reader", "nobody"):
    k = iam.create_access_key(UserName=user)["AccessKey"]
    keys[user] = [k["AccessKeyId"], k["SecretAccessKey"]]
print(json.dumps(keys))
"#;

/// From now on moto checks every request's signature and IAM policy.
fn enable_moto_auth(s3: &S3Server) {
    use std::io::{Read, Write};
    let addr = s3.endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /moto-api/reset-auth HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain\r\n\
         Content-Length: 1\r\nConnection: close\r\n\r\n0"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(
        resp.starts_with("HTTP/1.1 200"),
        "enabling moto's auth: {resp}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_destination_without_permission_is_invalid_input() {
    let db = TestDb::create("cli_s3_denied").await;
    db.exec("CREATE TABLE public.t (id int8 PRIMARY KEY); INSERT INTO public.t SELECT generate_series(1, 10);").await;
    let s3 = S3Server::start();
    // `python3 -c IAM_SETUP`, with this server as the endpoint.
    let keys: std::collections::HashMap<String, (String, String)> =
        serde_json::from_value(s3.boto3_script("-c", IAM_SETUP, "IAM setup on moto")).unwrap();
    let work = temp_dir("cli-s3-denied");
    let export = |dest: &str, key: &str, secret: &str| {
        let mut args = export_args(&db.url, dest);
        args.extend(["--endpoint-url", s3.endpoint.as_str()]);
        run_snapex_env(
            &args,
            &work,
            &[
                ("AWS_ACCESS_KEY_ID", key),
                ("AWS_SECRET_ACCESS_KEY", secret),
                ("AWS_REGION", "us-east-1"),
            ],
        )
    };

    // A bucket that does not exist (before moto checks credentials: any key will do).
    let o = export("s3://no-such-bucket/exports", "testing", "testing");
    assert_cli_error(
        &o,
        2,
        &[
            "destination s3://no-such-bucket/exports is not writable",
            "NoSuchBucket",
            "nothing was published",
        ],
    );
    assert_no_password(&o);

    enable_moto_auth(&s3);
    // Credentials that may read the bucket but not write it: refused at the write probe,
    // before any table is read.
    let (key, secret) = &keys["reader"];
    let o = export("s3://lake/exports", key, secret);
    assert_cli_error(
        &o,
        2,
        &[
            "destination s3://lake/exports is not writable",
            "AccessDenied",
            "nothing was published",
        ],
    );
    assert_no_password(&o);

    // Credentials that may do nothing at all: refused at the first look at the destination.
    let (key, secret) = &keys["nobody"];
    let o = export("s3://lake/exports", key, secret);
    assert_cli_error(
        &o,
        2,
        &[
            "object store s3://lake/exports",
            "lacked the necessary privileges",
            "403 Forbidden",
            "the credentials in use are not allowed to do this: grant them access to this location",
            "nothing was published",
        ],
    );
    assert_no_password(&o);

    // Nothing in the bucket, read with the reader's rights.
    let (key, secret) = &keys["reader"];
    let store = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(&s3.endpoint)
        .with_allow_http(true)
        .with_bucket_name("lake")
        .with_region("us-east-1")
        .with_access_key_id(key)
        .with_secret_access_key(secret)
        .build()
        .unwrap();
    use futures::TryStreamExt;
    use object_store::ObjectStore;
    let objects: Vec<_> = store.list(None).try_collect().await.unwrap();
    assert!(objects.is_empty(), "written: {objects:?}");
    assert_nothing_published(&work, &[]);
    std::fs::remove_dir_all(&work).unwrap();
}

// --- No credentials for S3 --------------------------------------------------------------------

/// With no AWS credentials anywhere, an S3 destination stops the run at once: exit 2, one
/// plain line naming what to set, before the source is even connected to (the source here is
/// a closed port, whose error would say so). The instance metadata service the credential
/// chain ends at is a closed loopback port, so nothing leaves the machine.
#[test]
fn s3_destination_without_credentials_says_so_before_anything_else() {
    let work = temp_dir("cli-no-creds");
    let source = format!(
        "postgres://u:{TEST_PASSWORD}@127.0.0.1:{}/db",
        closed_port()
    );
    let metadata = format!("http://127.0.0.1:{}", closed_port());
    let args = export_args(&source, "s3://lake/exports");
    let started = std::time::Instant::now();
    let o = run_snapex_env(
        &args,
        &work,
        &[
            ("AWS_METADATA_ENDPOINT", metadata.as_str()),
            ("AWS_EC2_METADATA_DISABLED", "false"),
        ],
    );
    assert_cli_error(
        &o,
        2,
        &[
            "no AWS credentials for s3://lake/exports",
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            "profiles in ~/.aws are not read",
            &format!("the instance metadata service at {metadata} did not answer"),
        ],
    );
    assert!(
        !o.stderr.contains("cannot connect to the source"),
        "{}",
        o.stderr
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "asked as briefly as the AWS SDKs ask: {:?}",
        started.elapsed()
    );
    assert_no_password(&o);

    // With the service turned off, as the AWS SDKs allow, it is not asked at all.
    let o = run_snapex_env(
        &args,
        &work,
        &[("AWS_METADATA_ENDPOINT", metadata.as_str())],
    );
    assert_cli_error(
        &o,
        2,
        &[
            "no AWS credentials for s3://lake/exports",
            "AWS_EC2_METADATA_DISABLED turns the instance metadata service off",
        ],
    );
    assert_nothing_published(&work, &[]);
    std::fs::remove_dir_all(&work).unwrap();
}

/// An instance metadata service of our own on loopback, handing out credentials as EC2's does
/// (IMDSv2: a token, the role's name, then the role's credentials), counting the requests.
struct FakeMetadata {
    endpoint: String,
    requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl FakeMetadata {
    fn start() -> FakeMetadata {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                // The headers, up to the empty line; these requests have no body.
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    header.clear();
                }
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let path = line.split_whitespace().nth(1).unwrap_or_default();
                let body = match path {
                    "/latest/api/token" => "a-token".to_string(),
                    "/latest/meta-data/iam/security-credentials/" => "snapex-role".to_string(),
                    "/latest/meta-data/iam/security-credentials/snapex-role" => {
                        r#"{"Code":"Success","AccessKeyId":"testing","SecretAccessKey":"testing","Token":"session","Expiration":"2099-01-01T00:00:00Z"}"#.to_string()
                    }
                    _ => String::new(),
                };
                let status = if body.is_empty() {
                    "404 Not Found"
                } else {
                    "200 OK"
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        FakeMetadata { endpoint, requests }
    }

    fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Credentials from an instance role still work: with no variables set, the instance
/// metadata service (ours, on loopback) answers and the export to S3 succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_credentials_from_the_instance_metadata_service_are_used() {
    let db = TestDb::create("cli_imds").await;
    db.exec("CREATE TABLE public.t (id int8 PRIMARY KEY); INSERT INTO public.t SELECT generate_series(1, 10);").await;
    let s3 = S3Server::start();
    s3.create_bucket("lake");
    let metadata = FakeMetadata::start();
    let work = temp_dir("cli-imds");
    let mut args = export_args(&db.url, "s3://lake/exports");
    args.extend(["--endpoint-url", s3.endpoint.as_str()]);
    let o = run_snapex_env(
        &args,
        &work,
        &[
            ("AWS_METADATA_ENDPOINT", metadata.endpoint.as_str()),
            ("AWS_EC2_METADATA_DISABLED", "false"),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(
        metadata.requests() >= 3,
        "the credentials came from the service: {} requests",
        metadata.requests()
    );
    let store = s3.reader("lake");
    let manifest = snapex_tests::get_object(&store, "exports/e1/manifest.json").await;
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(manifest["totals"]["rows"], 10);
    std::fs::remove_dir_all(&work).unwrap();
}

// --- A full disk ------------------------------------------------------------------------------

/// Runs `snapex` with `dir` a 2 MiB tmpfs mounted in a mount namespace of its own (so the mount
/// is gone with the process, whatever happens to the test), and returns its outcome and the
/// files it left in `dir`, relative to it.
fn run_snapex_on_small_disk(args: &[&str], cwd: &Path, dir: &Path) -> (Outcome, Vec<String>) {
    const SCRIPT: &str = r#"dir=$1; list=$2; shift 2
mount -t tmpfs -o size=2m snapex-full "$dir" || exit 97
"$@"; code=$?
(cd "$dir" && find . -type f) > "$list"
exit $code"#;
    let list = cwd.join("files-left.txt");
    let out = Command::new("unshare")
        .args(["--mount", "sh", "-c", SCRIPT, "sh"])
        .arg(dir)
        .arg(&list)
        .arg(snapex_bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("SNAPEX_SOURCE")
        .env_remove("SNAPEX_LOG")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .expect("running unshare (util-linux)");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.code() != Some(97) && !stderr.starts_with("unshare:"),
        "this test mounts a 2 MiB tmpfs in a mount namespace of its own, which needs root or \
         CAP_SYS_ADMIN (CI runs as root): {stderr}"
    );
    let left = std::fs::read_to_string(&list).unwrap_or_default();
    std::fs::remove_file(&list).unwrap();
    let outcome = Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    };
    (outcome, left.lines().map(str::to_string).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_local_destination_fails_and_publishes_nothing() {
    let db = TestDb::create("cli_full").await;
    // About 6 MiB of random bytes, which no compression shrinks below the disk's 2 MiB.
    db.exec(
        "CREATE TABLE public.blobs (id int8 PRIMARY KEY, b bytea NOT NULL);
         INSERT INTO public.blobs
         SELECT g, (SELECT string_agg(decode(md5(random()::text || g || i), 'hex'), ''::bytea)
                      FROM generate_series(1, 64) i)
           FROM generate_series(1, 6000) g;",
    )
    .await;
    let work = temp_dir("cli-full");
    let dest = work.join("lake");
    std::fs::create_dir(&dest).unwrap();
    let mut args = export_args(&db.url, dest.to_str().unwrap());
    args.extend(["-j", "1"]);
    let (o, left) = run_snapex_on_small_disk(&args, &work, &dest);
    assert_cli_error(
        &o,
        2,
        &[
            "nothing was published",
            "No space left on device",
            "the destination is out of space: free space there or choose another destination",
        ],
    );
    assert_no_password(&o);
    assert!(
        !left
            .iter()
            .any(|f| f.ends_with("/manifest.json") || f.ends_with("/_SUCCESS")),
        "published: {left:?}"
    );
    // The small disk went with its namespace; nothing was written beside it.
    assert_nothing_published(&work, &[]);
    std::fs::remove_dir_all(&work).unwrap();
}
