//! Several chunks per table: the union of the files holds every row exactly once, each file
//! holds only keys of its own range, and rows written during the export never tear it.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use snapex::ExportConfig;
use snapex::model::KeyRange;
use snapex::pipeline::{Quiet, run_export};
use snapex_tests::{LiveWrites, TestDb, read_manifest, read_parquet_file, temp_dir};

/// A config that splits a table of a few MB into many ranges (1 MiB files, and every source
/// byte counted as ten file bytes), with small batches so readers interleave.
fn splitting_config(db: &TestDb, dest: &std::path::Path) -> ExportConfig {
    let mut cfg = ExportConfig::new(&db.url, dest.to_str().unwrap()).unwrap();
    cfg.export_id = Some("e".into());
    cfg.plan.target_file_bytes = 1024 * 1024;
    cfg.plan.source_bytes_per_file_byte = 0.1;
    cfg.batch.rows = 5_000;
    cfg.concurrency = 3;
    cfg
}

/// Every (id, value) pair in the export of `table`, checking each file against its range.
fn exported_rows(root: &std::path::Path, table: &str) -> Vec<(i64, i64)> {
    let manifest = read_manifest(root);
    let t = manifest.tables.iter().find(|t| t.name == table).unwrap();
    let mut rows = Vec::new();
    for f in &t.files {
        let batches = read_parquet_file(&std::fs::read(root.join(&f.path)).unwrap());
        let mut n = 0;
        for b in batches {
            let ids = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
            let vals = b.column_by_name("v").unwrap().as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                let range = f.range.unwrap_or(KeyRange::ALL);
                assert!(
                    range.contains(ids.value(i)),
                    "{} holds key {} outside {range:?}",
                    f.path,
                    ids.value(i)
                );
                rows.push((ids.value(i), vals.value(i)));
                n += 1;
            }
        }
        assert_eq!(n, f.rows, "{}: manifest row count", f.path);
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_cover_every_row_exactly_once_with_gaps_and_negative_keys() {
    let db = TestDb::create("chunks").await;
    // Keys from -300000 to 299997 in steps of 3, with a hole in the middle and the extremes.
    db.exec(
        "-- Never analysed (and kept from autovacuum), so the planner has no histogram and splits
         -- the key span evenly: the hole then leaves ranges with no rows.
         CREATE TABLE t (id int8 PRIMARY KEY, v int8 NOT NULL, pad text) WITH (autovacuum_enabled = false);
         INSERT INTO t SELECT g, g * 7, repeat('x', (g % 50)::int) FROM generate_series(-300000, 299999, 3) g
           WHERE g NOT BETWEEN -1000 AND 50000;
         -- The key extremes, each with a large TOASTed value so the table is split too.
         CREATE TABLE edge (id int8 PRIMARY KEY, v int8 NOT NULL, pad text);
         INSERT INTO edge SELECT k, k % 1000, (SELECT string_agg(md5(i::text || k::text), '') FROM generate_series(1, 4000) i)
           FROM unnest(ARRAY[-9223372036854775808, -1, 0, 9223372036854775807]::int8[]) k;",
    )
    .await;
    let client = db.client().await;
    let want: i64 = client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);

    let dest = temp_dir("chunks");
    let cfg = splitting_config(&db, &dest);
    let summary = run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    let root = dest.join("e");
    let manifest = read_manifest(&root);
    let files = &manifest.tables[0].files;
    assert!(
        files.len() >= 4,
        "expected several chunks, got {}",
        files.len()
    );

    let rows = exported_rows(&root, "t");
    assert_eq!(rows.len() as i64, want);
    assert_eq!(summary.totals.rows as i64, want + 4, "t and edge");
    let ids: HashSet<i64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(ids.len(), rows.len(), "no key twice");
    for (id, v) in &rows {
        assert_eq!(*v, id * 7);
    }
    for r in client.query("SELECT id FROM t", &[]).await.unwrap() {
        assert!(ids.contains(&r.get::<_, i64>(0)));
    }
    // The ranges of the table's files tile the whole key space.
    let empty = &manifest.tables[0].empty_ranges;
    assert!(
        !empty.is_empty(),
        "the hole in the keys leaves empty ranges"
    );
    let mut ranges: Vec<KeyRange> = files
        .iter()
        .map(|f| f.range.unwrap())
        .chain(empty.iter().copied())
        .collect();
    ranges.sort_by_key(|r| r.lo);
    assert_eq!(ranges.first().unwrap().lo, None);
    assert_eq!(ranges.last().unwrap().hi, None);
    assert!(ranges.windows(2).all(|w| w[0].hi == w[1].lo));

    let mut edge = exported_rows(&root, "edge");
    edge.sort();
    assert_eq!(
        edge,
        vec![
            (i64::MIN, i64::MIN % 1000),
            (-1, -1),
            (0, 0),
            (i64::MAX, i64::MAX % 1000)
        ]
    );
    let edge_files = &manifest
        .tables
        .iter()
        .find(|t| t.name == "edge")
        .unwrap()
        .files;
    assert!(
        edge_files.len() >= 2,
        "the extremes land in different ranges: {edge_files:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_written_during_the_export_never_tear_it() {
    const ACCOUNTS: i64 = 200_000;
    let db = TestDb::create("snapshot").await;
    db.exec(&format!(
        "CREATE TABLE accounts (id int8 PRIMARY KEY, v int8 NOT NULL, pad text);
         INSERT INTO accounts SELECT g, 100, repeat('p', 40) FROM generate_series(1, {ACCOUNTS}) g;
         ANALYZE accounts;"
    ))
    .await;

    // A writer that, until told to stop, commits transactions that each keep two invariants:
    // the row count and the sum of v. Every one moves a row across the key space (from the low
    // end to the high end, so from the first chunk to the last) and moves value between rows.
    let live = LiveWrites::default();
    let writer = {
        let live = live.clone();
        let client = db.client().await;
        tokio::spawn(async move {
            let mut next_low = 1i64;
            let mut next_high = ACCOUNTS + 1;
            while live.running() {
                let sql = format!(
                    "BEGIN;
                     WITH gone AS (DELETE FROM accounts WHERE id = {next_low} RETURNING v)
                       INSERT INTO accounts SELECT {next_high}, v + 5, 'moved' FROM gone;
                     UPDATE accounts SET v = v - 5 WHERE id = {mid};
                     COMMIT;",
                    mid = ACCOUNTS / 2
                );
                client.batch_execute(&sql).await.unwrap();
                live.committed();
                next_low += 1;
                next_high += 1;
            }
        })
    };
    live.started().await;

    let dest = temp_dir("snapshot");
    let mut cfg = splitting_config(&db, &dest);
    cfg.batch.rows = 1_000;
    let (exported, during) = live.during(run_export(&cfg, Arc::new(Quiet))).await;
    exported.unwrap();
    live.stop();
    writer.await.unwrap();
    assert!(
        during > 0,
        "the writer committed nothing while the export ran: the test proves nothing"
    );

    let root = dest.join("e");
    assert!(read_manifest(&root).tables[0].files.len() >= 3);
    let rows = exported_rows(&root, "accounts");
    assert_eq!(
        rows.len() as i64,
        ACCOUNTS,
        "row count torn ({during} commits during the export)"
    );
    let ids: HashSet<i64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(ids.len(), rows.len(), "a moved row appears twice");
    assert_eq!(
        rows.iter().map(|r| r.1).sum::<i64>(),
        ACCOUNTS * 100,
        "value sum torn"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_without_a_key_split_by_block_ranges_with_every_row_once_under_writes() {
    const ROWS: i64 = 150_000;
    let db = TestDb::create("ctid").await;
    // No primary key, and every value twice: rows are told apart only by their position.
    db.exec(&format!(
        "CREATE TABLE ledger (acct int8 NOT NULL, v int8 NOT NULL, pad text);
         INSERT INTO ledger SELECT g % ({ROWS} / 2), 100, repeat('q', 40) FROM generate_series(1, {ROWS}) g;
         ANALYZE ledger;"
    ))
    .await;

    // Updates write each changed row's new version at a new place in the heap (a later block),
    // so a reader without the shared snapshot would see some rows twice or not at all.
    let live = LiveWrites::default();
    let writer = {
        let live = live.clone();
        let client = db.client().await;
        tokio::spawn(async move {
            let mut i = 0i64;
            while live.running() {
                let (from, to) = (i % (ROWS / 2), (i * 7 + 1) % (ROWS / 2));
                client
                    .batch_execute(&format!(
                        "BEGIN;
                         UPDATE ledger SET v = v - 1 WHERE acct = {from};
                         UPDATE ledger SET v = v + 1 WHERE acct = {to};
                         COMMIT;"
                    ))
                    .await
                    .unwrap();
                live.committed();
                i += 1;
            }
        })
    };
    live.started().await;

    let dest = temp_dir("ctid");
    let mut cfg = splitting_config(&db, &dest);
    cfg.batch.rows = 2_000;
    let (exported, during) = live.during(run_export(&cfg, Arc::new(Quiet))).await;
    exported.unwrap();
    live.stop();
    writer.await.unwrap();
    assert!(
        during > 0,
        "the writer committed nothing while the export ran"
    );

    let root = dest.join("e");
    let manifest = read_manifest(&root);
    let table = &manifest.tables[0];
    assert_eq!(table.split_key.as_deref(), Some("ctid"));
    assert!(
        table.files.len() >= 3,
        "split into block ranges: {} files",
        table.files.len()
    );
    let mut ranges: Vec<KeyRange> = table
        .files
        .iter()
        .map(|f| f.range.unwrap())
        .chain(table.empty_ranges.iter().copied())
        .collect();
    ranges.sort_by_key(|r| r.lo);
    assert_eq!(
        (ranges.first().unwrap().lo, ranges.last().unwrap().hi),
        (None, None)
    );
    assert!(
        ranges.windows(2).all(|w| w[0].hi == w[1].lo),
        "block ranges tile the heap"
    );

    let mut rows = 0i64;
    let mut sum = 0i64;
    let mut per_acct = std::collections::HashMap::<i64, i64>::new();
    for f in &table.files {
        for b in read_parquet_file(&std::fs::read(root.join(&f.path)).unwrap()) {
            let acct = b
                .column_by_name("acct")
                .unwrap()
                .as_primitive::<Int64Type>();
            let v = b.column_by_name("v").unwrap().as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                rows += 1;
                sum += v.value(i);
                *per_acct.entry(acct.value(i)).or_default() += 1;
            }
        }
    }
    assert_eq!(
        rows, ROWS,
        "row count torn ({during} commits during the export)"
    );
    assert_eq!(sum, ROWS * 100, "value sum torn");
    assert!(
        per_acct.values().all(|n| *n == 2),
        "every duplicate pair exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skewed_keys_give_chunks_of_similar_row_counts() {
    let db = TestDb::create("skew").await;
    // 99% of the rows in the lowest 1% of the key range, the rest spread thinly up to 10^8.
    db.exec(
        "CREATE TABLE skewed (id int8 PRIMARY KEY, v int8 NOT NULL, pad text);
         INSERT INTO skewed SELECT g, g, repeat('s', 20) FROM generate_series(1, 495000) g;
         INSERT INTO skewed SELECT 1000000 + g * 19800, 0, repeat('s', 20) FROM generate_series(1, 5000) g;
         ANALYZE skewed;",
    )
    .await;
    let dest = temp_dir("skew");
    let mut cfg = splitting_config(&db, &dest);
    cfg.plan.max_ranges_per_table = 10;
    run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    let root = dest.join("e");
    let manifest = read_manifest(&root);
    let t = &manifest.tables[0];
    let counts: Vec<u64> = t.files.iter().map(|f| f.rows).collect();
    assert!(counts.len() >= 8, "split into about 10 ranges: {counts:?}");
    let (lo, hi) = (*counts.iter().min().unwrap(), *counts.iter().max().unwrap());
    assert!(
        hi <= 2 * lo,
        "chunk row counts within 2x of each other: {counts:?}"
    );
    assert_eq!(counts.iter().sum::<u64>(), 500_000);
    let ids: HashSet<i64> = exported_rows(&root, "skewed")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids.len(), 500_000, "every row exactly once");
}
