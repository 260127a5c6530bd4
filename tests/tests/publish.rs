//! Publication: an export is complete and published (manifest, `_SUCCESS`), or visibly not.
//! Leftovers of a failed attempt are cleaned, foreign files are never deleted, a published
//! export is never overwritten, and a failure mid-export publishes nothing.

use std::sync::Arc;

use snapex::pipeline::{Quiet, run_export};
use snapex::source::SourceUrl;
use snapex::{ErrorClass, ExportConfig};
use snapex_tests::faults::DroppingProxy;
use snapex_tests::{TestDb, read_manifest, temp_dir};

async fn db_with_table() -> TestDb {
    let db = TestDb::create("publish").await;
    db.exec("CREATE TABLE t (id int8 PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g;")
        .await;
    db
}

fn config(db: &TestDb, dest: &std::path::Path) -> ExportConfig {
    let mut cfg = ExportConfig::new(&db.url, dest.to_str().unwrap()).unwrap();
    cfg.export_id = Some("e".into());
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_of_a_failed_attempt_are_removed_before_publishing() {
    let db = db_with_table().await;
    let dest = temp_dir("leftover");
    let stale = dest.join("e/public/t/part-1000_2000.parquet");
    std::fs::create_dir_all(stale.parent().unwrap()).unwrap();
    std::fs::write(&stale, b"from an earlier plan").unwrap();

    run_export(&config(&db, &dest), Arc::new(Quiet))
        .await
        .unwrap();
    assert!(
        !stale.exists(),
        "a piece file this export did not write is removed"
    );
    let manifest = read_manifest(&dest.join("e"));
    let mut on_disk: Vec<String> = std::fs::read_dir(dest.join("e/public/t"))
        .unwrap()
        .map(|e| format!("public/t/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    on_disk.sort();
    let listed: Vec<String> = manifest.tables[0]
        .files
        .iter()
        .map(|f| f.path.clone())
        .collect();
    assert_eq!(
        on_disk, listed,
        "the table folder holds exactly the manifest's files"
    );
    assert_eq!(manifest.totals.rows, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_files_stop_the_export_and_are_kept() {
    let db = db_with_table().await;
    let dest = temp_dir("foreign");
    let notes = dest.join("e/notes.txt");
    std::fs::create_dir_all(notes.parent().unwrap()).unwrap();
    std::fs::write(&notes, b"mine").unwrap();

    let err = run_export(&config(&db, &dest), Arc::new(Quiet))
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::InvalidInput);
    assert!(err.to_string().contains("did not write"), "{err}");
    assert_eq!(std::fs::read(&notes).unwrap(), b"mine");
    assert!(!dest.join("e/manifest.json").exists());
    assert!(
        !dest.join("e/public").exists(),
        "nothing was read or written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_export_is_never_overwritten() {
    let db = db_with_table().await;
    let dest = temp_dir("twice");
    run_export(&config(&db, &dest), Arc::new(Quiet))
        .await
        .unwrap();
    let before = std::fs::read(dest.join("e/manifest.json")).unwrap();
    let err = run_export(&config(&db, &dest), Arc::new(Quiet))
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::InvalidInput);
    assert!(err.to_string().contains("already published"), "{err}");
    assert_eq!(std::fs::read(dest.join("e/manifest.json")).unwrap(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_mid_export_publishes_nothing() {
    let db = db_with_table().await;
    db.exec("CREATE TABLE u (id int PRIMARY KEY); INSERT INTO u SELECT generate_series(1, 10);")
        .await;
    // No value fails an export any more, so the read fails the way a lost server does: the
    // source's connections go through a proxy that closes the reader's, and no retry is made.
    let (proxy, proxied) = DroppingProxy::before(&db.url);
    let run = |dest: &std::path::Path| {
        let mut cfg = config(&db, dest);
        cfg.source = SourceUrl::parse(&proxied).unwrap();
        cfg.concurrency = 1;
        cfg.retry.retries = 0;
        async move { run_export(&cfg, Arc::new(Quiet)).await }
    };
    run(&temp_dir("midway-clean")).await.unwrap();
    // With one reader, a run's last connection is its reader's.
    let per_run = proxy.connections();
    proxy.drop_connections([2 * per_run]);
    let dest = temp_dir("midway");
    let err = run(&dest).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Retryable, "{err}");
    assert_eq!(proxy.connections(), 2 * per_run, "no retry");
    assert!(!dest.join("e/manifest.json").exists());
    assert!(!dest.join("e/_SUCCESS").exists());
}
