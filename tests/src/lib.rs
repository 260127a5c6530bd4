//! Test harness: throwaway PostgreSQL databases, a real S3-compatible server (moto) on
//! loopback, the `snapex` binary, and readers for what an export wrote.

pub mod faults;
pub mod glue_check;
pub mod lambda;
pub mod strict_aws;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use snapex::manifest::Manifest;
use tokio_postgres::{Client, NoTls};

/// The password the tests' PostgreSQL URLs carry (trust authentication ignores it), so that
/// `scripts/check-no-passwords.sh` can prove that no log or output of the suite shows one.
pub const TEST_PASSWORD: &str = "SnpxPw-9f2c61d4";
/// The password of the MariaDB user that `cli_errors` creates, and the wrong one it tries.
pub const MYSQL_TEST_PASSWORD: &str = "SnpxPw-my-40b7e3a8";
pub const WRONG_PASSWORD: &str = "SnpxPw-wrong-d15a92c7";
/// Every password the tests put in a URL: none may appear in anything the suite prints.
pub const TEST_PASSWORDS: &[&str] = &[TEST_PASSWORD, MYSQL_TEST_PASSWORD, WRONG_PASSWORD];

/// `url` (`scheme://user@host...`) with [`TEST_PASSWORD`] as its user's password; a URL that
/// has a password already, or no user, is returned as it is.
pub fn with_test_password(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((user, host)) if !user.contains([':', '/']) => {
                format!("{scheme}://{user}:{TEST_PASSWORD}@{host}")
            }
            _ => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// The server the tests use; `SNAPEX_TEST_PG` overrides (a URL to any database on it).
pub fn admin_url() -> String {
    std::env::var("SNAPEX_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub async fn connect(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| {
            let url = url.replace(TEST_PASSWORD, "***");
            panic!("cannot connect to {url}: {e} (is PostgreSQL running? see .ci/run)")
        });
    tokio::spawn(conn);
    client
}

/// A database created for one test and dropped when the test ends.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl TestDb {
    pub async fn create(tag: &str) -> TestDb {
        let name = format!(
            "snapex_t_{tag}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let admin = connect(&admin_url()).await;
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .await
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let base = admin_url();
        let url = match base.rsplit_once('/') {
            Some((server, _)) => with_test_password(&format!("{server}/{name}")),
            None => panic!("SNAPEX_TEST_PG must end in /database"),
        };
        TestDb { name, url }
    }

    pub async fn client(&self) -> Client {
        connect(&self.url).await
    }

    pub async fn exec(&self, sql: &str) {
        self.client()
            .await
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{e:?} in\n{sql}"));
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        on_own_runtime(async move {
            if let Ok((c, conn)) = tokio_postgres::connect(&admin_url(), NoTls).await {
                tokio::spawn(conn);
                let _ = c
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            }
        });
    }
}

/// Runs `work` to completion on a runtime of its own, on a thread of its own: best-effort
/// clean-up in `Drop`, which may itself run inside a runtime.
fn on_own_runtime(work: impl std::future::Future<Output = ()> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(work)
    })
    .join();
}

/// A fresh, empty folder under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "snapex-test-{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Reads every Parquet file in `dir` (not recursive), in file-name order.
pub fn read_parquet_dir(dir: &Path) -> Vec<RecordBatch> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| read_parquet_file(&std::fs::read(f).unwrap()))
        .collect()
}

pub fn read_parquet_file(bytes: &[u8]) -> Vec<RecordBatch> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(bytes))
        .unwrap()
        .build()
        .unwrap();
    reader.map(|b| b.unwrap()).collect()
}

/// The manifest's entry for table `name` (its bare name, as the manifest lists it).
pub fn manifest_table<'a>(
    manifest: &'a Manifest,
    name: &str,
) -> &'a snapex::manifest::TableManifest {
    manifest
        .tables
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("table {name} is not in the manifest"))
}

/// The rows of one exported file (under the export's folder `root`) as one batch, checked
/// against the manifest's row count; `None` for a file without rows.
pub fn file_batch(root: &Path, f: &snapex::manifest::FileEntry) -> Option<RecordBatch> {
    let batches = read_parquet_file(&std::fs::read(root.join(&f.path)).unwrap());
    let batch = batches
        .first()
        .map(|b| arrow::compute::concat_batches(&b.schema(), &batches).unwrap());
    assert_eq!(
        batch.as_ref().map_or(0, |b| b.num_rows()) as u64,
        f.rows,
        "{}: manifest row count",
        f.path
    );
    batch
}

/// Each value of `column` in Arrow's display form (binary as lowercase hex), NULL as "NULL".
pub fn display_strings(batch: &RecordBatch, column: &str) -> Vec<String> {
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    let array = batch
        .column_by_name(column)
        .unwrap_or_else(|| panic!("no column {column}"));
    let options = FormatOptions::default().with_null("NULL");
    let f = ArrayFormatter::try_new(array.as_ref(), &options).unwrap();
    (0..array.len()).map(|i| f.value(i).to_string()).collect()
}

/// All rows of one table of a local export, as one batch.
pub fn read_table(export_root: &Path, schema: &str, table: &str) -> RecordBatch {
    let dir = export_root
        .join(snapex::layout::escape_segment(schema))
        .join(snapex::layout::escape_segment(table));
    let batches = read_parquet_dir(&dir);
    assert!(!batches.is_empty(), "no parquet files in {}", dir.display());
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

/// The whole manifest of a local export, its shards folded into `tables` and `skipped`.
pub fn read_manifest(export_root: &Path) -> Manifest {
    serde_json::from_value(read_manifest_json(export_root)).unwrap()
}

/// The whole manifest of a local export as JSON: `manifest.json` with every shard's tables and
/// left-out tables appended to its own, in order, and no `shards` key. Each shard is checked
/// to be the one the manifest lists (its number and counts).
pub fn read_manifest_json(export_root: &Path) -> serde_json::Value {
    let read = |rel: &str| -> serde_json::Value {
        let bytes = std::fs::read(export_root.join(rel))
            .unwrap_or_else(|e| panic!("{}: {e}", export_root.join(rel).display()));
        serde_json::from_slice(&bytes).unwrap()
    };
    let mut m = read("manifest.json");
    let shards = m
        .as_object_mut()
        .unwrap()
        .remove("shards")
        .unwrap_or_default();
    for (i, r) in shards.as_array().into_iter().flatten().enumerate() {
        let shard = read(r["path"].as_str().unwrap());
        assert_eq!(shard["shard"], i + 2, "{r}");
        for key in ["tables", "skipped"] {
            let entries = shard[key].as_array().unwrap();
            assert_eq!(entries.len() as u64, r[key].as_u64().unwrap(), "{r}: {key}");
            m[key]
                .as_array_mut()
                .unwrap()
                .extend(entries.iter().cloned());
        }
    }
    m
}

/// The `snapex` binary, built once per test process.
pub fn snapex_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "snapex", "--bin", "snapex"])
            .status()
            .expect("running cargo build");
        assert!(status.success(), "building the snapex binary failed");
        // Test executables live in <target>/debug/deps/.
        let exe = std::env::current_exe().unwrap();
        exe.parent().unwrap().parent().unwrap().join("snapex")
    })
    .clone()
}

/// A moto S3 server on a free loopback port, stopped on drop.
pub struct S3Server {
    pub endpoint: String,
    child: Child,
    log: PathBuf,
}

impl S3Server {
    pub fn start() -> S3Server {
        S3Server::start_strict(&[])
    }

    /// moto through `tests/aws/strict_moto.py`, with `hooks` (`FILE` or `FILE=ARGUMENT`, files
    /// of `tests/aws/`) installed in its process: the stricter local AWS. No hooks: plain moto.
    pub fn start_strict(hooks: &[&str]) -> S3Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let launcher = concat!(env!("CARGO_MANIFEST_DIR"), "/aws/strict_moto.py");
        let mut args = vec![launcher.to_string(), "--port".into(), port.to_string()];
        for h in hooks {
            args.push("--hook".into());
            args.push(h.to_string());
        }
        // moto's log goes to a file beside the tests' temporary files, for a failing test.
        let log_path = std::env::temp_dir().join(format!("moto-{port}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new("python3")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect(
                "python3 not found (moto runs in it: pip install 'moto[server]', .ci/run does)",
            );
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        S3Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
            log: log_path,
        }
    }

    /// What moto and its hooks wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Creates a bucket with a plain HTTP PUT (moto accepts unsigned requests). A connection
    /// the server resets is tried again for up to 30 s: moto binds its port before its
    /// application has loaded, and on a loaded machine the first requests can be reset
    /// (seen in CI: "Connection reset by peer" with a benchmark running alongside).
    pub fn create_bucket(&self, bucket: &str) {
        use std::io::{Read, Write};
        let addr = self.endpoint.trim_start_matches("http://");
        let put = |addr: &str| -> std::io::Result<String> {
            let mut s = std::net::TcpStream::connect(addr)?;
            write!(
                s,
                "PUT /{bucket} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
            let mut resp = String::new();
            s.read_to_string(&mut resp)?;
            Ok(resp)
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let resp = loop {
            match put(addr) {
                Ok(resp) => break resp,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("creating bucket {bucket}: {e}; trying again");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("creating bucket {bucket}: {e}"),
            }
        };
        assert!(
            resp.starts_with("HTTP/1.1 200"),
            "creating bucket {bucket}: {resp}"
        );
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl S3Server {
    /// A client of this server for reading what an export wrote, independent of snapex's own store.
    pub fn reader(&self, bucket: &str) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .build()
            .unwrap()
    }
}

impl S3Server {
    /// Runs a Python script that talks to this server's Glue with boto3 (endpoint in
    /// `SNAPEX_GLUE_ENDPOINT`, fake credentials, nothing from the user's AWS profile) and
    /// returns the JSON it prints. `what` says what the script does, for the failure message.
    pub fn boto3_script(
        &self,
        script: &str,
        arg: impl AsRef<std::ffi::OsStr>,
        what: &str,
    ) -> serde_json::Value {
        let out = Command::new("python3")
            .arg(script)
            .arg(arg)
            .env("SNAPEX_GLUE_ENDPOINT", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .output()
            .expect("running python3");
        assert!(
            out.status.success(),
            "{what} failed (boto3 comes with moto: pip install 'moto[server]'): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// The bytes of one object, read with an S3 client independent of snapex's destination.
pub async fn get_object(store: &object_store::aws::AmazonS3, path: &str) -> Vec<u8> {
    use object_store::ObjectStoreExt;
    let path = object_store::path::Path::parse(path).unwrap();
    store
        .get(&path)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

/// Runs one query with DuckDB, an independent Parquet reader (through Python), and returns the
/// single result row as text.
pub fn duckdb(sql: &str) -> Vec<Option<String>> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/duckdb_query.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(sql)
        .output()
        .expect("running python3");
    assert!(
        out.status.success(),
        "duckdb failed (install it with pip install duckdb; scripts/services.sh does): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A folder of Parquet files as pyarrow's datasets read it (an independent reader, through
/// Python): its row count and its columns as (name, Arrow type as pyarrow prints it).
/// `partitions` are Hive partition keys with their Arrow types (`("at_day", "string")`);
/// with none, the files are read alone.
pub fn pyarrow_dataset(dir: &Path, partitions: &[(&str, &str)]) -> (u64, Vec<(String, String)>) {
    let mut args = vec![dir.display().to_string()];
    args.extend(partitions.iter().map(|(k, t)| format!("{k}={t}")));
    let read = pyarrow_script("pyarrow_dataset.py", &args);
    let columns = serde_json::from_value(read["columns"].clone()).unwrap();
    (read["rows"].as_u64().unwrap(), columns)
}

/// What pyarrow, a second independent Parquet reader, reads from a Parquet file or a folder of
/// them: `{"schema": {column: arrow type}, "rows": [{column: value}]}`, rows in file-name
/// order. Decimals come as their exact text, bytes as hex, dates and times in ISO form, lists
/// as arrays and structs as objects (see `scripts/pyarrow_read.py`).
pub fn pyarrow_read(path: &Path) -> serde_json::Value {
    pyarrow_script("pyarrow_read.py", &[path.display().to_string()])
}

/// Runs one of `scripts/`' pyarrow readers and parses the JSON it prints.
fn pyarrow_script(script: &str, args: &[String]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(script);
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("running python3");
    assert!(
        out.status.success(),
        "pyarrow failed (install it with pip install pyarrow; scripts/services.sh does): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `snapex export` of `source` into export `id` under `dest`, with 1 MiB target files, no
/// progress bar and only error logs (retries are logged as warnings; the tests read the one
/// error line), nothing taken from the caller's `SNAPEX_SOURCE` or `AWS_ENDPOINT_URL`, stdout
/// and stderr piped; `extra` arguments go last.
pub fn export_command(
    source: &str,
    dest: impl AsRef<std::ffi::OsStr>,
    id: &str,
    extra: &[&str],
) -> Command {
    let mut c = Command::new(snapex_bin());
    c.args(["export", "--no-progress", "--export-id", id, "--dest"])
        .arg(dest)
        .args(["--source", source, "--target-file-size", "1MiB"])
        .args(extra)
        .env_remove("SNAPEX_SOURCE")
        .env_remove("AWS_ENDPOINT_URL")
        .env("SNAPEX_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    c
}

/// Gives a child process the fake credentials a test S3 server (moto) takes, and nothing from
/// the user's session or profile.
pub fn with_test_s3_credentials(c: &mut Command) -> &mut Command {
    c.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
}

/// Sets the AWS variables object_store reads for a test server (moto accepts any credentials).
pub fn fake_aws_env() {
    // SAFETY: set before any thread of this test reads the environment; every test sets the same values.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_REGION", "us-east-1");
    }
}

/// The MySQL/MariaDB server the tests use; `SNAPEX_TEST_MYSQL` overrides (a URL ending in `/`
/// plus any database, which is replaced).
pub fn mysql_admin_url() -> String {
    std::env::var("SNAPEX_TEST_MYSQL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// A MySQL database (schema) created for one test and dropped when the test ends.
pub struct MyDb {
    pub name: String,
    pub url: String,
}

impl MyDb {
    pub async fn create(tag: &str) -> MyDb {
        use mysql_async::prelude::Queryable;
        let name = format!(
            "snapex_t_{tag}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let mut conn = mysql_async::Conn::from_url(mysql_admin_url())
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "cannot connect to MySQL at {}: {e} (is MariaDB running? see .ci/run)",
                    mysql_admin_url()
                )
            });
        conn.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
            .await
            .unwrap();
        conn.query_drop(format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
            .await
            .unwrap();
        conn.disconnect().await.unwrap();
        let base = mysql_admin_url();
        let (server, _) = base
            .rsplit_once('/')
            .expect("SNAPEX_TEST_MYSQL must end in /database");
        MyDb {
            url: format!("{server}/{name}"),
            name,
        }
    }

    pub async fn conn(&self) -> mysql_async::Conn {
        mysql_async::Conn::from_url(self.url.as_str())
            .await
            .unwrap()
    }

    /// Runs one or more statements (text protocol, so multi-statement strings work).
    pub async fn exec(&self, sql: &str) {
        use mysql_async::prelude::Queryable;
        let mut c = self.conn().await;
        c.query_drop(sql)
            .await
            .unwrap_or_else(|e| panic!("{e:?} in\n{sql}"));
        c.disconnect().await.unwrap();
    }

    /// The table `no_key`: 40,000 rows of about 100 bytes, no key and no index, so that
    /// nothing splits it (the size estimate refreshed by ANALYZE).
    pub async fn create_unsplittable(&self) {
        self.exec(
            "CREATE TABLE no_key (id BIGINT, v VARCHAR(200)) ENGINE=InnoDB;
             INSERT INTO no_key
               WITH RECURSIVE d (n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM d WHERE n < 9),
               k (n) AS (SELECT a.n + 10 * b.n + 100 * c.n + 1000 * e.n + 10000 * f.n
                         FROM d a, d b, d c, d e, d f)
               SELECT n, REPEAT('x', 100) FROM k WHERE n < 40000;
             ANALYZE TABLE no_key;",
        )
        .await;
    }
}

impl Drop for MyDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        on_own_runtime(async move {
            use mysql_async::prelude::Queryable;
            if let Ok(mut c) = mysql_async::Conn::from_url(mysql_admin_url()).await {
                let _ = c
                    .query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
                    .await;
                let _ = c.disconnect().await;
            }
        });
    }
}

impl MyDb {
    /// The rows `sql` returns, each value as text (NULL as "NULL").
    pub async fn strings(&self, sql: &str) -> Vec<Vec<String>> {
        use mysql_async::prelude::Queryable;
        let mut c = self.conn().await;
        let rows: Vec<mysql_async::Row> = c.query(sql).await.unwrap();
        c.disconnect().await.unwrap();
        rows.into_iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| match row.as_ref(i) {
                        Some(mysql_async::Value::NULL) | None => "NULL".into(),
                        Some(mysql_async::Value::Bytes(b)) => String::from_utf8_lossy(b).into(),
                        Some(other) => other.as_sql(true),
                    })
                    .collect()
            })
            .collect()
    }
}

/// A MySQL user with a password, allowed to read one database (as an RDS master user reads
/// it); dropped with the value.
pub struct MyUser {
    pub name: String,
}

impl MyUser {
    /// Creates (or replaces) user `name` with `password`, reading database `db`. Panics with
    /// the error only: the statement holds the password.
    pub async fn create(name: &str, password: &str, db: &str) -> MyUser {
        use mysql_async::prelude::Queryable;
        let literal = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"));
        let ident = |s: &str| format!("`{}`", s.replace('`', "``"));
        let mut c = mysql_async::Conn::from_url(mysql_admin_url())
            .await
            .expect("MariaDB is running (scripts/services.sh starts it)");
        let user = format!("{}@'%'", literal(name));
        for sql in [
            format!(
                "CREATE OR REPLACE USER {user} IDENTIFIED BY {}",
                literal(password)
            ),
            format!("GRANT SELECT, SHOW VIEW ON {}.* TO {user}", ident(db)),
        ] {
            c.query_drop(sql.as_str())
                .await
                .unwrap_or_else(|e| panic!("creating the MySQL user {name}: {e}"));
        }
        c.disconnect().await.unwrap();
        MyUser { name: name.into() }
    }
}

impl Drop for MyUser {
    fn drop(&mut self) {
        let sql = format!(
            "DROP USER IF EXISTS '{}'@'%'",
            self.name.replace('\'', "''")
        );
        on_own_runtime(async move {
            use mysql_async::prelude::Queryable;
            if let Ok(mut c) = mysql_async::Conn::from_url(mysql_admin_url()).await {
                let _ = c.query_drop(sql).await;
                let _ = c.disconnect().await;
            }
        });
    }
}

/// What a run of the `snapex` binary did.
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `snapex` in `cwd` with a clean environment for the variables it reads.
pub fn run_snapex(args: &[&str], cwd: &Path) -> Outcome {
    let out = Command::new(snapex_bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("SNAPEX_SOURCE")
        .env_remove("SNAPEX_LOG")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .expect("running snapex");
    out.into()
}

impl From<std::process::Output> for Outcome {
    fn from(out: std::process::Output) -> Outcome {
        Outcome {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Exit `code`, nothing on stdout, and on stderr exactly one `snapex: error:` line containing
/// every one of `says`, after at most the `snapex: export <id>` line an export prints once it
/// is named (see [`error_line`]).
pub fn assert_cli_error(o: &Outcome, code: i32, says: &[&str]) {
    let ctx = format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.code, o.stdout, o.stderr
    );
    assert_eq!(o.code, Some(code), "{ctx}");
    assert!(o.stdout.is_empty(), "{ctx}");
    let error = error_line(&o.stderr);
    assert!(error.starts_with("snapex: error: "), "{ctx}");
    for s in says {
        assert!(error.contains(s), "stderr should mention {s:?}: {ctx}");
    }
}

/// The one line a failed `snapex` run ends with, checking that stderr holds nothing else but,
/// first, the `snapex: export <id>` line a run prints once the export is named.
pub fn error_line(stderr: &str) -> &str {
    assert!(stderr.ends_with('\n'), "stderr:\n{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    match lines[..] {
        [error] => error,
        [named, error] if named.starts_with("snapex: export ") => error,
        _ => panic!("one line on stderr, after at most the export's name: {stderr}"),
    }
}

/// Every regular file under `dir`, recursively, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p)
            } else {
                out.push(p)
            }
        }
    }
    out.sort();
    out
}

/// One cell in Arrow's display form, `NULL` for a null: expected values in the type tests are
/// written this way.
pub fn cell(batch: &RecordBatch, column: &str, row: usize) -> String {
    use arrow::array::Array;
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    let array = batch
        .column_by_name(column)
        .unwrap_or_else(|| panic!("no column {column}"));
    if array.is_null(row) {
        return "NULL".into();
    }
    let options = FormatOptions::default().with_null("NULL");
    ArrayFormatter::try_new(array.as_ref(), &options)
        .unwrap()
        .value(row)
        .to_string()
}

/// Writers committing in the background while an export runs: a shared stop flag and commit
/// counter, so a test can prove writes happened during the export it checks.
#[derive(Clone, Default)]
pub struct LiveWrites {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    commits: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl LiveWrites {
    /// True until [`LiveWrites::stop`]: the writers' loop condition.
    pub fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }

    /// A writer calls this after each commit.
    pub fn committed(&self) {
        self.commits
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn count(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Waits until the writers have got going, so they are committing while readers run.
    pub async fn started(&self) {
        while self.count() < 20 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Runs `work` and returns its result with the number of commits made meanwhile.
    pub async fn during<T>(&self, work: impl std::future::Future<Output = T>) -> (T, u64) {
        let before = self.count();
        let out = work.await;
        (out, self.count() - before)
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
