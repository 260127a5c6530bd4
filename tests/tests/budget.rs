//! No chunk reads more than one ExportChunk call finishes well within its timeout: with a small
//! per-chunk limit set for the test, a PostgreSQL table without a key, a big leaf partition
//! and a materialized view are each read in several block ranges, each within the limit, and
//! every row is exported exactly once; a MySQL/MariaDB table that nothing can split is refused
//! at planning, naming the table, its size and the limit, before any chunk runs.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use snapex::model::{Chunk, KeyRange, Piece};
use snapex::pipeline::{Quiet, plan_export, run_export};
use snapex::{Error, ErrorClass, ExportConfig};
use snapex_tests::{MyDb, TestDb, files_under, read_manifest, read_table, temp_dir};

/// The per-chunk limit of these tests: 1 MiB, 128 heap blocks of 8 KiB.
const LIMIT: u64 = 1 << 20;
const BLOCK: u64 = 8192;
/// Rows of each big relation: about 100 bytes each on disk, so about 6 MiB each.
const ROWS: i64 = 60_000;

fn limited_config(url: &str, dest: &Path) -> ExportConfig {
    let mut cfg = ExportConfig::new(url, dest.to_str().unwrap()).unwrap();
    cfg.export_id = Some("e".into());
    cfg.plan.max_chunk_bytes = Some(LIMIT);
    cfg.concurrency = 2;
    cfg
}

/// A table without any key (every id twice), a partitioned table with one big leaf and one
/// small one, and a materialized view; each big one several times the limit.
async fn pg_source() -> TestDb {
    let db = TestDb::create("budget").await;
    db.exec(&format!(
        "CREATE TABLE heap_nokey (id int8 NOT NULL, v text NOT NULL);
         INSERT INTO heap_nokey SELECT g % ({ROWS} / 2), repeat('h', 60) || g
           FROM generate_series(1, {ROWS}) g;
         CREATE TABLE events (id int8 NOT NULL, at date NOT NULL, v text NOT NULL)
           PARTITION BY RANGE (at);
         CREATE TABLE events_big PARTITION OF events
           FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
         CREATE TABLE events_small PARTITION OF events
           FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
         INSERT INTO events SELECT g, date '2024-01-01' + (g % 366)::int, repeat('e', 60) || g
           FROM generate_series(1, {ROWS}) g;
         INSERT INTO events VALUES ({ROWS} + 1, '2025-03-01', 'small');
         CREATE MATERIALIZED VIEW mv AS
           SELECT g::int8 AS id, repeat('m', 60) || g AS v FROM generate_series(1, {ROWS}) g;
         ANALYZE heap_nokey; ANALYZE events; ANALYZE events_big; ANALYZE events_small; ANALYZE mv;"
    ))
    .await;
    db
}

/// The relation's heap blocks now.
async fn blocks(db: &TestDb, relation: &str) -> u64 {
    let row = db
        .client()
        .await
        .query_one(
            "SELECT pg_relation_size(to_regclass($1)) / current_setting('block_size')::int8",
            &[&relation],
        )
        .await
        .unwrap();
    row.get::<_, i64>(0) as u64
}

/// The source's rows of `relation` as (id, v), sorted.
async fn source_rows(db: &TestDb, relation: &str) -> Vec<(i64, String)> {
    let rows = db
        .client()
        .await
        .query(&format!("SELECT id, v FROM {relation} ORDER BY id, v"), &[])
        .await
        .unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

/// A batch's rows as (id, v), sorted.
fn exported_rows(batch: &RecordBatch) -> Vec<(i64, String)> {
    let ids = batch
        .column_by_name("id")
        .unwrap()
        .as_primitive::<Int64Type>();
    let vs = batch.column_by_name("v").unwrap().as_string::<i32>();
    assert_eq!(ids.null_count() + vs.null_count(), 0);
    let mut rows: Vec<(i64, String)> = (0..batch.num_rows())
        .map(|i| (ids.value(i), vs.value(i).to_string()))
        .collect();
    rows.sort();
    rows
}

/// Checks that `ranges` tile a heap of `heap_blocks` blocks (the first from block 0, the last
/// open-ended, no gap, no overlap) and that each spans at most the limit's worth of blocks.
fn assert_block_ranges(what: &str, mut ranges: Vec<KeyRange>, heap_blocks: u64) {
    ranges.sort_by_key(|r| r.lo);
    assert!(ranges.len() >= 3, "{what}: {ranges:?}");
    assert_eq!(ranges.first().unwrap().lo, None, "{what}: from block 0");
    assert_eq!(
        ranges.last().unwrap().hi,
        None,
        "{what}: the last open-ended"
    );
    assert!(
        ranges
            .windows(2)
            .all(|w| w[0].hi.is_some() && w[0].hi == w[1].lo),
        "{what}: no gap, no overlap: {ranges:?}"
    );
    for r in &ranges {
        let lo = r.lo.unwrap_or(0) as u64;
        let hi = r.hi.map_or(heap_blocks, |h| h as u64);
        assert!(
            (hi - lo) * BLOCK <= LIMIT,
            "{what}: {r:?} spans {} blocks of {heap_blocks}, more than the limit",
            hi - lo
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_relations_bigger_than_a_chunk_are_read_in_block_ranges_each_row_once() {
    let db = pg_source().await;
    let dest = temp_dir("budget");
    let cfg = limited_config(&db.url, &dest);

    // The plan: no chunk over the limit, and the three big relations in block ranges.
    let mut chunks: Vec<Chunk> = Vec::new();
    plan_export(&cfg, Arc::new(Quiet), |c| {
        chunks.push(c.clone());
        Ok(())
    })
    .await
    .unwrap();
    for c in &chunks {
        assert!(c.estimated_bytes <= LIMIT, "chunk over the limit: {c:?}");
    }
    let pieces: Vec<&Piece> = chunks.iter().flat_map(|c| &c.pieces).collect();
    let ranges_of = |table: &str, leaf: Option<&str>| -> Vec<KeyRange> {
        pieces
            .iter()
            .filter(|p| {
                p.table.name == table && p.partition.as_ref().map(|l| l.name.as_str()) == leaf
            })
            .map(|p| p.range.expect("a ranged piece"))
            .collect()
    };
    assert_block_ranges(
        "heap_nokey",
        ranges_of("heap_nokey", None),
        blocks(&db, "heap_nokey").await,
    );
    assert_block_ranges(
        "events_big",
        ranges_of("events", Some("events_big")),
        blocks(&db, "events_big").await,
    );
    assert_block_ranges("mv", ranges_of("mv", None), blocks(&db, "mv").await);
    let small: Vec<&&Piece> = pieces
        .iter()
        .filter(|p| {
            p.partition
                .as_ref()
                .is_some_and(|l| l.name == "events_small")
        })
        .collect();
    assert_eq!(small.len(), 1);
    assert_eq!(small[0].range, None, "a small leaf is read whole");

    // The export: every row of each relation exactly once.
    run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    let root = dest.join("e");
    for (table, relation) in [
        ("heap_nokey", "heap_nokey"),
        ("events", "events"),
        ("mv", "mv"),
    ] {
        let got = exported_rows(&read_table(&root, "public", table));
        let want = source_rows(&db, relation).await;
        assert_eq!(got.len(), want.len(), "{table}: row count");
        assert!(
            got == want,
            "{table}: the exported rows differ from the source's"
        );
    }
    let manifest = read_manifest(&root);
    let events = manifest.tables.iter().find(|t| t.name == "events").unwrap();
    let leaf_files: Vec<&str> = events
        .files
        .iter()
        .map(|f| f.path.as_str())
        .filter(|p| p.contains("events_big.blocks_"))
        .collect();
    assert!(leaf_files.len() >= 3, "{:?}", events.files);
    let mv = manifest.tables.iter().find(|t| t.name == "mv").unwrap();
    assert_eq!(mv.split_key.as_deref(), Some("ctid"));
    assert!(mv.files.len() >= 3, "{:?}", mv.files);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mysql_table_nothing_splits_is_refused_at_planning_before_any_chunk() {
    let db = MyDb::create("budget").await;
    db.exec(
        "CREATE TABLE keyed (id INT PRIMARY KEY, v VARCHAR(20));
         INSERT INTO keyed VALUES (1, 'a'), (2, 'b');",
    )
    .await;
    db.create_unsplittable().await;
    let dest = temp_dir("budget-my");
    let cfg = limited_config(&db.url, &dest);
    let e = run_export(&cfg, Arc::new(Quiet)).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidInput, "{e}");
    let shown = e.to_string();
    let Error::TooBig {
        table,
        estimated_bytes,
        limit,
        ..
    } = e
    else {
        panic!("not a refusal: {shown}");
    };
    assert_eq!(table, format!("{}.no_key", db.name));
    assert!(estimated_bytes > LIMIT, "{shown}");
    assert_eq!(limit, LIMIT);
    for says in [
        format!("{}.no_key", db.name),
        format!("{estimated_bytes} bytes"),
        format!("{LIMIT} bytes"),
        "no usable split key".to_string(),
    ] {
        assert!(shown.contains(&says), "{says:?} in {shown}");
    }
    // Refused before any chunk ran: nothing was written.
    assert_eq!(files_under(&dest), Vec::<std::path::PathBuf>::new());
    // The same table under the limit is read whole, as before.
    let mut roomy = limited_config(&db.url, &dest);
    roomy.plan.max_chunk_bytes = None;
    let summary = run_export(&roomy, Arc::new(Quiet)).await.unwrap();
    assert_eq!(summary.totals.rows, 40_002);
    let counts: HashMap<String, u64> = read_manifest(&dest.join("e"))
        .tables
        .iter()
        .map(|t| (t.name.clone(), t.rows))
        .collect();
    assert_eq!(counts["no_key"], 40_000);
}
