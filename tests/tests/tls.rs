//! TLS to the source databases against the real local servers: the PostgreSQL test server has
//! `ssl = on` (Debian's snakeoil certificate, CN=localhost); the MariaDB one may have no TLS.
//! Loopback connections default to plain text, so every other test stays unencrypted.

use std::path::{Path, PathBuf};

use mysql_async::prelude::Queryable;
use snapex::source::SourceUrl;
use snapex_tests::{
    MyDb, Outcome, TestDb, admin_url, assert_cli_error, connect, mysql_admin_url, read_table,
    run_snapex, temp_dir,
};

/// A self-signed CA that signed nothing the test servers use.
const UNRELATED_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBnTCCAUOgAwIBAgIUWq5Cu/a+VK+FT3nyoyfoWK9xB08wCgYIKoZIzj0EAwIw
IzEhMB8GA1UEAwwYc25hcGV4IHRlc3QgdW5yZWxhdGVkIENBMCAXDTI2MTIwMTEx
NTMwOFoYDzIxMjYxMTA3MTE1MzA4WjAjMSEwHwYDVQQDDBhzbmFwZXggdGVzdCB1
bnJlbGF0ZWQgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAS3hw16yKUQsuLD
gUj1B1cTHjIISCosdj/U1rURARnwtlmdOlkmZwfVQ4E/gURPK3Y9/PKQUp4kdl0A
UpVB/gdvo1MwUTAdBgNVHQ4EFgQUhv/dqau9fFMzXWt5u6uBRESlmQEwHwYDVR0j
BBgwFoAUhv/dqau9fFMzXWt5u6uBRESlmQEwDwYDVR0TAQH/BAUwAwEB/zAKBggq
hkjOPQQDAgNIADBFAiB/1NNTHmoSDei+aQ5jyASHSUsLZLkr/2IuNc2adoDVAAIh
AIXglxSKpakEsCzAab4i2A4jor+Y7/vvFlphTiK6Gq+9
-----END CERTIFICATE-----
";

/// The line `snapex -vv` logs once per TLS session with a PostgreSQL source.
const HANDSHAKE_LOG: &str = "TLS session with the PostgreSQL source established";

/// `url` with `options` appended as query parameters.
fn with_query(url: &str, options: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{options}")
}

/// Fails unless the test server has TLS on: these tests prove nothing against one without.
async fn require_server_tls() {
    let admin = connect(&admin_url()).await;
    let ssl: String = admin.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    assert_eq!(
        ssl, "on",
        "the PostgreSQL test server must run with ssl = on (Debian's default, with the snakeoil certificate)"
    );
}

/// The server's certificate file, when it is one the test can read (Debian's snakeoil).
async fn server_cert_file() -> Option<PathBuf> {
    let admin = connect(&admin_url()).await;
    let file: String = admin
        .query_one("SHOW ssl_cert_file", &[])
        .await
        .unwrap()
        .get(0);
    let path = PathBuf::from(file);
    std::fs::read(&path).ok().map(|_| path)
}

/// Opens a session through snapex's own connect and asks the server whether it is encrypted.
async fn session_is_encrypted(url: &str) -> bool {
    let SourceUrl::Postgres(u) = SourceUrl::parse(url).unwrap() else {
        panic!("not a PostgreSQL URL: {url}");
    };
    let client = u
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
    client
        .query_one(
            "SELECT ssl FROM pg_catalog.pg_stat_ssl WHERE pid = pg_catalog.pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

fn export(source: &str, work: &Path, verbose: bool) -> Outcome {
    let dest = work.join("lake");
    let mut args = vec![
        "export",
        "--source",
        source,
        "--dest",
        dest.to_str().unwrap(),
        "--export-id",
        "e1",
        "--no-progress",
    ];
    if verbose {
        args.push("-vv");
    }
    run_snapex(&args, work)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_sessions_are_encrypted_as_sslmode_says() {
    require_server_tls().await;
    let db = TestDb::create("tls_modes").await;
    assert!(session_is_encrypted(&with_query(&db.url, "sslmode=require")).await);
    assert!(session_is_encrypted(&with_query(&db.url, "sslmode=prefer")).await);
    assert!(!session_is_encrypted(&with_query(&db.url, "sslmode=disable")).await);
    // No sslmode on a loopback host: plain, as before TLS support.
    assert!(!session_is_encrypted(&db.url).await);
    // The key=value form takes the same options.
    let kv = format!(
        "host=127.0.0.1 user=postgres dbname={} sslmode=require",
        db.name
    );
    assert!(session_is_encrypted(&kv).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_certificate_checks_against_the_servers_own_certificate() {
    require_server_tls().await;
    let Some(cert) = server_cert_file().await else {
        eprintln!("skipped: the server's certificate file is not readable here");
        return;
    };
    let db = TestDb::create("tls_verify").await;
    let root = format!("sslrootcert={}", cert.display());
    // The chain ends at the given root; 127.0.0.1 is not the name the certificate holds.
    assert!(session_is_encrypted(&with_query(&db.url, &format!("sslmode=verify-ca&{root}"))).await);
    let by_name = db.url.replacen("@127.0.0.1", "@localhost", 1);
    assert!(by_name.contains("@localhost"), "{by_name}");
    assert!(
        session_is_encrypted(&with_query(
            &by_name,
            &format!("sslmode=verify-full&{root}")
        ))
        .await,
        "the snakeoil certificate names localhost"
    );
    let SourceUrl::Postgres(u) =
        SourceUrl::parse(&with_query(&db.url, &format!("sslmode=verify-full&{root}"))).unwrap()
    else {
        unreachable!()
    };
    let e = u.connect().await.unwrap_err().to_string();
    assert!(e.contains("certificate not valid for name"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_export_over_tls() {
    require_server_tls().await;
    let db = TestDb::create("tls_export").await;
    db.exec(
        "CREATE TABLE public.orders (id int8 PRIMARY KEY, note text); \
         INSERT INTO public.orders SELECT g, 'n' || g FROM generate_series(1, 50) g;",
    )
    .await;
    let work = temp_dir("tls-export");
    let o = export(&with_query(&db.url, "sslmode=require"), &work, true);
    assert_eq!(
        o.code,
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        o.stdout,
        o.stderr
    );
    // The coordinating session and the reader both went through the TLS handshake.
    assert!(
        o.stderr.matches(HANDSHAKE_LOG).count() >= 2,
        "no TLS handshake logged:\n{}",
        o.stderr
    );
    let export_root = work.join("lake").join("e1");
    assert_eq!(read_table(&export_root, "public", "orders").num_rows(), 50);
    std::fs::remove_dir_all(&work).unwrap();

    // sslmode=disable still works, and does no handshake.
    let work = temp_dir("tls-export-plain");
    let o = export(&with_query(&db.url, "sslmode=disable"), &work, true);
    assert_eq!(
        o.code,
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        o.stdout,
        o.stderr
    );
    assert!(!o.stderr.contains(HANDSHAKE_LOG), "{}", o.stderr);
    assert_eq!(
        read_table(&work.join("lake").join("e1"), "public", "orders").num_rows(),
        50
    );
    std::fs::remove_dir_all(&work).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_verify_full_with_an_unrelated_root_fails_clearly() {
    require_server_tls().await;
    let db = TestDb::create("tls_wrong_root").await;
    let work = temp_dir("tls-wrong-root");
    let root = work.join("unrelated-ca.pem");
    std::fs::write(&root, UNRELATED_CA).unwrap();
    let source = with_query(
        // The URL carries the suite's test password (trust auth ignores it).
        &db.url,
        &format!("sslmode=verify-full&sslrootcert={}", root.display()),
    );
    let o = export(&source, &work, false);
    // A connect error that is not the server's answer: exit 1, as other failed connections.
    assert_cli_error(
        &o,
        1,
        &[
            "cannot connect to the source database at 127.0.0.1:5432/",
            "invalid peer certificate",
            "UnknownIssuer",
        ],
    );
    assert!(
        !o.stderr.contains(snapex_tests::TEST_PASSWORD),
        "password leaked: {}",
        o.stderr
    );
    assert!(!work.join("lake").exists(), "nothing was written");
    std::fs::remove_dir_all(&work).unwrap();
}

#[test]
fn pg_missing_root_file_is_invalid_input() {
    let work = temp_dir("tls-no-root");
    let source = with_query(
        &admin_url(),
        "sslmode=verify-full&sslrootcert=/nonexistent/global-bundle.pem",
    );
    let o = export(&source, &work, false);
    assert_cli_error(
        &o,
        2,
        &["cannot read sslrootcert file \"/nonexistent/global-bundle.pem\""],
    );
    std::fs::remove_dir_all(&work).unwrap();
}

/// Whether the MariaDB test server offers TLS.
async fn mysql_has_tls() -> bool {
    let mut c = mysql_async::Conn::from_url(mysql_admin_url())
        .await
        .unwrap();
    let row: Option<(String, String)> = c
        .query_first("SHOW VARIABLES LIKE 'have_ssl'")
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    row.is_some_and(|(_, v)| v.eq_ignore_ascii_case("YES"))
}

/// Opens a session through snapex's own connect; the cipher in use, empty when plain.
async fn mysql_cipher(url: &str) -> String {
    let SourceUrl::MySql(u) = SourceUrl::parse(url).unwrap() else {
        panic!("not a MySQL URL: {url}");
    };
    let mut conn = u
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
    let row: Option<(String, String)> = conn
        .query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .await
        .unwrap();
    conn.disconnect().await.unwrap();
    row.map(|(_, v)| v).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_ssl_mode() {
    let db = MyDb::create("tls").await;
    db.exec("CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR(10)); INSERT INTO t VALUES (1, 'a'), (2, 'b');")
        .await;
    // Loopback default and DISABLED: plain.
    assert_eq!(mysql_cipher(&db.url).await, "");
    assert_eq!(
        mysql_cipher(&with_query(&db.url, "ssl-mode=DISABLED")).await,
        ""
    );
    let required = with_query(&db.url, "ssl-mode=REQUIRED");
    if mysql_has_tls().await {
        assert_ne!(mysql_cipher(&required).await, "");
        assert_ne!(
            mysql_cipher(&with_query(&db.url, "ssl-mode=PREFERRED")).await,
            ""
        );
        let work = temp_dir("tls-mysql");
        let o = export(&required, &work, false);
        assert_eq!(o.code, Some(0), "stderr:\n{}", o.stderr);
        std::fs::remove_dir_all(&work).unwrap();
    } else {
        // PREFERRED falls back to plain text on a server without TLS.
        assert_eq!(
            mysql_cipher(&with_query(&db.url, "ssl-mode=PREFERRED")).await,
            ""
        );
        // REQUIRED refuses it, clearly, with the password kept out.
        let work = temp_dir("tls-mysql");
        let source = with_query(
            &db.url.replacen(
                "root@",
                &format!("root:{}@", snapex_tests::WRONG_PASSWORD),
                1,
            ),
            "ssl-mode=REQUIRED",
        );
        let o = export(&source, &work, false);
        assert_cli_error(
            &o,
            2,
            &[
                "the server does not offer TLS, which ssl-mode=REQUIRED needs",
                "ssl-mode=DISABLED",
            ],
        );
        assert!(
            !o.stderr.contains(snapex_tests::WRONG_PASSWORD),
            "password leaked: {}",
            o.stderr
        );
        std::fs::remove_dir_all(&work).unwrap();
    }
}
