//! MySQL/MariaDB tables without a single integer key, split on tuples of their key's values:
//! composite, text (under a case- and accent-insensitive collation), binary and date keys, and
//! unique NOT NULL indexes when there is no primary key. Every row is exported exactly once,
//! each file holds one stretch of the key in the database's own order, a skewed key still
//! gives balanced files, and tables with no usable key (and views) are handled as before.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use mysql_async::prelude::Queryable;
use snapex::ExportConfig;
use snapex::manifest::{FileEntry, TableManifest};
use snapex::pipeline::{Quiet, run_export};
use snapex_tests::{MyDb, display_strings, file_batch, manifest_table, read_manifest, temp_dir};

/// Splits every table of 16 KiB or more into at most 16 ranges (files of 1 MiB from ~1 KiB of
/// source each).
fn splitting_config(db: &MyDb, dest: &Path) -> ExportConfig {
    let mut cfg = ExportConfig::new(&db.url, dest.to_str().unwrap()).unwrap();
    cfg.export_id = Some("e".into());
    cfg.plan.target_file_bytes = 1024 * 1024;
    cfg.plan.source_bytes_per_file_byte = 0.001;
    cfg.plan.max_ranges_per_table = 16;
    cfg.batch.rows = 5_000;
    cfg.concurrency = 3;
    cfg
}

/// `SELECT ... FROM k` gives `n` from 0 to 999,999: a sequence without server-specific tables.
const NUMBERS: &str =
    "WITH RECURSIVE d (n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM d WHERE n < 9),
     k (n) AS (SELECT a.n + 10 * b.n + 100 * c.n + 1000 * e.n + 10000 * f.n + 100000 * g.n
               FROM d a, d b, d c, d e, d f, d g)";

/// The key tuples in the database's own order: `select` gives each key column as text in the
/// form [`strings`] gives it, `order` is the key.
async fn keys_in_db_order(db: &MyDb, select: &str, table: &str, order: &str) -> Vec<Vec<String>> {
    let mut c = db.conn().await;
    let rows: Vec<mysql_async::Row> = c
        .query(format!("SELECT {select} FROM `{table}` ORDER BY {order}"))
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    rows.into_iter()
        .map(|r| {
            (0..r.len())
                .map(|i| r.get::<String, _>(i).unwrap())
                .collect()
        })
        .collect()
}

/// Checks that every key of the table is exported exactly once and that the files, in range
/// order, hold consecutive stretches of the key in the database's order (so each holds only
/// the keys of its own range). Returns the files' row counts in range order.
fn assert_split(
    root: &Path,
    t: &TableManifest,
    columns: &[&str],
    db_order: &[Vec<String>],
) -> Vec<u64> {
    let name = &t.name;
    let rank: HashMap<&Vec<String>, usize> =
        db_order.iter().enumerate().map(|(i, k)| (k, i)).collect();
    assert_eq!(rank.len(), db_order.len(), "{name}: the key is unique");
    let mut files: Vec<&FileEntry> = t.files.iter().collect();
    files.sort_by_key(|f| f.range.map(|r| r.lo));
    let mut seen = vec![false; db_order.len()];
    let mut next = 0usize;
    let mut counts = Vec::new();
    for f in files {
        counts.push(f.rows);
        let Some(b) = file_batch(root, f) else {
            continue;
        };
        let cols: Vec<Vec<String>> = columns.iter().map(|c| display_strings(&b, c)).collect();
        let mut ranks: Vec<usize> = (0..b.num_rows())
            .map(|i| {
                let key: Vec<String> = cols.iter().map(|c| c[i].clone()).collect();
                *rank
                    .get(&key)
                    .unwrap_or_else(|| panic!("{name}: {} holds unknown key {key:?}", f.path))
            })
            .collect();
        ranks.sort();
        for r in &ranks {
            assert!(!seen[*r], "{name}: key {:?} exported twice", db_order[*r]);
            seen[*r] = true;
        }
        // This file's keys are exactly the next stretch of the database's order.
        assert_eq!(
            ranks.first(),
            Some(&next),
            "{name}: {} does not start where the previous file ended ({:?})",
            f.path,
            f.range
        );
        assert_eq!(
            ranks.last(),
            Some(&(next + ranks.len() - 1)),
            "{name}: {} holds keys of another file's range ({:?})",
            f.path,
            f.range
        );
        next += ranks.len();
    }
    assert_eq!(next, db_order.len(), "{name}: every key exported");
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_split_on_tuples_of_any_key_with_every_row_once() {
    let db = MyDb::create("mysplit").await;
    db.exec(&format!(
        "-- A composite (int, varchar) key: 99% of the rows share ten values of `a`.
         CREATE TABLE comp (a INT NOT NULL, b VARCHAR(20) NOT NULL, v BIGINT, PRIMARY KEY (a, b));
         INSERT INTO comp {NUMBERS}
         SELECT IF(n < 198000, MOD(n, 10), n * 1000), CONCAT('k', n), n FROM k WHERE n < 200000;
         ANALYZE TABLE comp;
         -- Case and accents compare equal under utf8mb4_general_ci: ('a', 1), ('A', 2) and
         -- ('á', 3) differ only in `n`, and binary order is not the collation's.
         CREATE TABLE ci (name VARCHAR(20) COLLATE utf8mb4_general_ci NOT NULL, n INT NOT NULL,
                          PRIMARY KEY (name, n));
         INSERT INTO ci {NUMBERS}
         SELECT ELT(1 + MOD(n, 8), 'a', 'A', 'á', 'b', 'B', 'Á', 'à', 'z'), n FROM k WHERE n < 20000;
         ANALYZE TABLE ci;
         -- A one-column varchar key in the same collation, case alternating.
         CREATE TABLE ci1 (name VARCHAR(20) COLLATE utf8mb4_general_ci NOT NULL PRIMARY KEY, v INT);
         INSERT INTO ci1 {NUMBERS}
         SELECT CONCAT(ELT(1 + MOD(n, 6), 'x', 'Y', 'é', 'É', 'a', 'Z'), n), n FROM k WHERE n < 20000;
         ANALYZE TABLE ci1;
         -- Random binary(16) keys (mostly not valid UTF-8).
         CREATE TABLE bin (id BINARY(16) NOT NULL PRIMARY KEY, v INT);
         INSERT INTO bin {NUMBERS} SELECT UNHEX(MD5(n)), n FROM k WHERE n < 20000;
         ANALYZE TABLE bin;
         -- A date and an integer.
         CREATE TABLE dated (d DATE NOT NULL, n INT NOT NULL, v INT, PRIMARY KEY (d, n));
         INSERT INTO dated {NUMBERS}
         SELECT DATE('2020-01-01') + INTERVAL MOD(n, 700) DAY, n, n FROM k WHERE n < 20000;
         ANALYZE TABLE dated;
         -- No primary key: a unique NOT NULL (varchar, int) index, and a longer one.
         CREATE TABLE uniq (s VARCHAR(20) NOT NULL, n INT NOT NULL, w INT NOT NULL, note VARCHAR(10),
                            UNIQUE KEY wide (s, n, w), UNIQUE KEY narrow (s, n));
         INSERT INTO uniq {NUMBERS}
         SELECT CONCAT('s', MOD(n, 37)), n, n, IF(MOD(n, 3) = 0, NULL, 'x') FROM k WHERE n < 20000;
         ANALYZE TABLE uniq;
         -- No usable key: a float key, and a unique index on a nullable column.
         CREATE TABLE floaty (f DOUBLE NOT NULL PRIMARY KEY, v INT);
         INSERT INTO floaty {NUMBERS} SELECT n / 7, n FROM k WHERE n < 5000;
         ANALYZE TABLE floaty;
         CREATE TABLE nullable (s VARCHAR(20), v INT, UNIQUE KEY (s));
         INSERT INTO nullable {NUMBERS} SELECT IF(MOD(n, 10) = 0, NULL, CONCAT('v', n)), n FROM k WHERE n < 5000;
         ANALYZE TABLE nullable;
         CREATE VIEW comp_view AS SELECT a, b FROM comp;"
    ))
    .await;

    let dest = temp_dir("mysplit");
    let cfg = splitting_config(&db, &dest);
    let summary = run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    let root = dest.join("e");
    let manifest = read_manifest(&root);
    assert_eq!(
        summary.totals.rows,
        200_000 + 5 * 20_000 + 2 * 5_000,
        "every row of every table"
    );

    // The view is listed as skipped, with why.
    let view = manifest
        .skipped
        .iter()
        .find(|s| s.name.name == "comp_view")
        .unwrap_or_else(|| panic!("the view is not in skipped: {:?}", manifest.skipped));
    assert_eq!(
        view.reason,
        "view: no rows of its own; its base tables are exported"
    );
    assert!(manifest.tables.iter().all(|t| t.name != "comp_view"));

    for (name, split_key, columns, select, order) in [
        ("comp", "a, b", &["a", "b"][..], "a, b", "a, b"),
        ("ci", "name, n", &["name", "n"][..], "name, n", "name, n"),
        ("ci1", "name", &["name"][..], "name", "name"),
        ("bin", "id", &["id"][..], "LOWER(HEX(id))", "id"),
        (
            "dated",
            "d, n",
            &["d", "n"][..],
            "CAST(d AS CHAR), n",
            "d, n",
        ),
        ("uniq", "s, n", &["s", "n"][..], "s, n", "s, n"),
    ] {
        let t = manifest_table(&manifest, name);
        assert_eq!(t.split_key.as_deref(), Some(split_key), "{name}");
        assert!(
            t.files.len() >= 4,
            "{name}: expected several files, got {:?}",
            t.files
        );
        let db_order = keys_in_db_order(&db, select, name, order).await;
        let counts = assert_split(&root, t, columns, &db_order);
        let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(*hi <= 2 * *lo, "{name}: files within 2x: {counts:?}");
        if name == "comp" {
            assert!(counts.len() >= 12, "comp: {counts:?}");
        }
    }

    // No usable key: one piece, every row.
    for (name, rows) in [("floaty", 5_000), ("nullable", 5_000)] {
        let t = manifest_table(&manifest, name);
        assert_eq!(t.split_key, None, "{name}");
        assert_eq!(t.files.len(), 1, "{name}: {:?}", t.files);
        assert_eq!(t.files[0].range, None, "{name}");
        assert_eq!(t.rows, rows, "{name}");
    }
}
