//! MySQL/MariaDB tables end to end: several chunks per table with every row exactly once and
//! each file holding only keys of its own range; tables without a usable key read whole; rows
//! written during the export never tearing it; bad requests through the real binary.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use mysql_async::prelude::Queryable;
use snapex::ExportConfig;
use snapex::manifest::TableManifest;
use snapex::model::KeyRange;
use snapex::pipeline::{Quiet, run_export};
use snapex::source::mysql::Consistency;
use snapex_tests::{
    LiveWrites, MyDb, Outcome, assert_cli_error, display_strings, file_batch, files_under,
    manifest_table, mysql_admin_url, read_manifest, run_snapex, temp_dir,
};

/// A config that splits every table the server reports at 16 KiB or more (InnoDB's smallest)
/// into 8 key ranges: files of 1 MiB, each from ~1 KiB of source, at most 8 ranges a table.
/// Small batches so readers interleave.
fn splitting_config(db: &MyDb, dest: &Path) -> ExportConfig {
    let mut cfg = ExportConfig::new(&db.url, dest.to_str().unwrap()).unwrap();
    cfg.export_id = Some("e".into());
    cfg.plan.target_file_bytes = 1024 * 1024;
    cfg.plan.source_bytes_per_file_byte = 0.001;
    cfg.plan.max_ranges_per_table = 8;
    cfg.batch.rows = 5_000;
    cfg.concurrency = 3;
    cfg
}

/// Every (id, v) pair of a table with BIGINT columns `id` and `v`, checking each file's keys
/// against its range.
fn exported_rows(root: &Path, name: &str) -> Vec<(i64, i64)> {
    let manifest = read_manifest(root);
    let mut rows = Vec::new();
    for f in &manifest_table(&manifest, name).files {
        let b = file_batch(root, f).expect("a file with rows");
        let ids = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
        let vals = b.column_by_name("v").unwrap().as_primitive::<Int64Type>();
        let range = f.range.unwrap_or(KeyRange::ALL);
        for i in 0..b.num_rows() {
            assert!(
                range.contains(ids.value(i)),
                "{} holds key {} outside {range:?}",
                f.path,
                ids.value(i)
            );
            rows.push((ids.value(i), vals.value(i)));
        }
    }
    rows
}

/// The exported rows of `name` as display strings of `columns`, sorted: a multiset.
fn exported_multiset(root: &Path, name: &str, columns: &[&str]) -> Vec<Vec<String>> {
    let manifest = read_manifest(root);
    let mut rows = Vec::new();
    for f in &manifest_table(&manifest, name).files {
        let b = file_batch(root, f).expect("a file with rows");
        let cols: Vec<Vec<String>> = columns.iter().map(|c| display_strings(&b, c)).collect();
        for i in 0..b.num_rows() {
            rows.push(cols.iter().map(|c| c[i].clone()).collect());
        }
    }
    rows.sort();
    rows
}

/// One row of SQL literals for a VALUES list; `None` is NULL.
fn sql_row(values: &[Option<String>]) -> String {
    let v: Vec<String> = values
        .iter()
        .map(|v| v.clone().unwrap_or_else(|| "NULL".into()))
        .collect();
    format!("({})", v.join(", "))
}

/// The ranges of a table's files and its empty ranges tile the whole key space.
fn assert_tiles(t: &TableManifest) {
    let mut ranges: Vec<KeyRange> = t
        .files
        .iter()
        .map(|f| f.range.unwrap_or_else(|| panic!("{}: no range", f.path)))
        .chain(t.empty_ranges.iter().copied())
        .collect();
    ranges.sort_by_key(|r| r.lo);
    assert_eq!(ranges.first().unwrap().lo, None, "{ranges:?}");
    assert_eq!(ranges.last().unwrap().hi, None, "{ranges:?}");
    assert!(
        ranges.windows(2).all(|w| w[0].hi == w[1].lo),
        "ranges leave a gap or overlap: {ranges:?}"
    );
}

/// Inserts `n` rows with ids `1..=n`, `v = 100`, via cross-joined digits (no server-specific
/// sequence tables), then analyses the table so the size estimate is current.
fn accounts_sql(n: i64) -> String {
    format!(
        "CREATE TABLE accounts (id BIGINT PRIMARY KEY, v BIGINT NOT NULL, pad VARCHAR(40) NOT NULL);
         INSERT INTO accounts (id, v, pad)
         WITH RECURSIVE d (n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM d WHERE n < 9),
              k (id) AS (SELECT 1 + a.n + 10 * b.n + 100 * c.n + 1000 * e.n + 10000 * f.n + 100000 * g.n
                         FROM d a, d b, d c, d e, d f, d g)
         SELECT id, 100, REPEAT('p', 40) FROM k WHERE id <= {n};
         ANALYZE TABLE accounts;"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_cover_every_row_exactly_once_with_gaps_and_negative_keys() {
    let db = MyDb::create("mychunks").await;
    // Keys from -300000 to 299997 in steps of 3, with a hole wider than two of the eight ranges.
    db.exec(
        "CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL, pad VARCHAR(60));
         INSERT INTO t (id, v, pad)
         WITH RECURSIVE d (n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM d WHERE n < 9),
              k (id) AS (SELECT a.n + 10 * b.n + 100 * c.n + 1000 * e.n + 10000 * f.n + 100000 * g.n - 300000
                         FROM d a, d b, d c, d e, d f, d g)
         SELECT id, id * 7, REPEAT('x', MOD(id + 300000, 50)) FROM k
         WHERE MOD(id + 300000, 3) = 0 AND id < 300000 AND id NOT BETWEEN -1000 AND 160000;
         ANALYZE TABLE t;
         -- The key extremes, each with a large value stored off-page.
         CREATE TABLE edge (id BIGINT PRIMARY KEY, v BIGINT NOT NULL, pad LONGTEXT);
         INSERT INTO edge VALUES (-9223372036854775808, -808, REPEAT('e', 100000)),
           (-1, -1, REPEAT('e', 100000)), (0, 0, REPEAT('e', 100000)),
           (9223372036854775807, 807, REPEAT('e', 100000));
         ANALYZE TABLE edge;",
    )
    .await;
    let want: Vec<i64> = (-300_000i64..300_000)
        .step_by(3)
        .filter(|k| !(-1000..=160_000).contains(k))
        .collect();
    let mut conn = db.conn().await;
    let in_db: Option<i64> = conn.query_first("SELECT COUNT(*) FROM t").await.unwrap();
    assert_eq!(
        in_db,
        Some(want.len() as i64),
        "the fixture inserted what the test expects"
    );
    conn.disconnect().await.unwrap();

    let dest = temp_dir("mychunks");
    let cfg = splitting_config(&db, &dest);
    let summary = run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    let root = dest.join("e");
    let manifest = read_manifest(&root);
    let t = manifest_table(&manifest, "t");
    assert_eq!(t.schema, db.name);
    assert_eq!(t.split_key.as_deref(), Some("id"));
    assert!(
        t.files.len() >= 4,
        "expected several chunks, got {:?}",
        t.files
    );

    let rows = exported_rows(&root, "t");
    assert_eq!(rows.len(), want.len());
    assert_eq!(summary.totals.rows as usize, want.len() + 4, "t and edge");
    let ids: HashSet<i64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(ids.len(), rows.len(), "no key twice");
    assert_eq!(ids, want.iter().copied().collect::<HashSet<i64>>());
    for (id, v) in &rows {
        assert_eq!(*v, id * 7, "id {id}");
    }
    // The cuts follow the rows (index-dive estimates), not the key span: the hole gets no
    // range of its own, and the files hold similar numbers of rows.
    let counts: Vec<u64> = t.files.iter().map(|f| f.rows).collect();
    let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    assert!(*hi <= 2 * *lo, "balanced despite the hole: {counts:?}");
    assert_tiles(t);

    let mut edge = exported_rows(&root, "edge");
    edge.sort();
    assert_eq!(
        edge,
        vec![(i64::MIN, -808), (-1, -1), (0, 0), (i64::MAX, 807)]
    );
    let e = manifest_table(&manifest, "edge");
    assert!(
        e.files.len() >= 2,
        "the extremes land in different ranges: {:?}",
        e.files
    );
    assert_tiles(e);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_tables_are_read_whole_and_composite_keys_split_with_every_row_once() {
    let db = MyDb::create("mywhole").await;

    // No primary key, with exact duplicate rows and NULLs.
    let mut nokey: Vec<[Option<String>; 2]> = (0..3000)
        .map(|n| {
            let a = (n % 97 != 0).then(|| (n % 100).to_string());
            let b = (n % 11 != 0).then(|| format!("'v{}'", n % 7));
            [a, b]
        })
        .collect();
    for _ in 0..3 {
        nokey.push([Some("1".into()), Some("'dup'".into())]);
    }
    // A composite key whose first column is an integer: still not a split key.
    let composite: Vec<[Option<String>; 3]> = (0..50)
        .flat_map(|a| {
            (0..40).map(move |b| {
                [
                    Some(a.to_string()),
                    Some(format!("'k{b}'")),
                    (b % 9 != 0).then(|| (a * 1000 + b).to_string()),
                ]
            })
        })
        .collect();
    // BIGINT UNSIGNED keys above the signed range: none may be lost to a signed split.
    let mut ukeys: Vec<u64> = vec![0, 1, i64::MAX as u64, 1 << 63, u64::MAX - 1, u64::MAX];
    ukeys.extend((0..2000u64).map(|i| 1000 + i * 7_000_000_000_000_000));
    let ukeys_values: Vec<String> = ukeys
        .iter()
        .map(|k| sql_row(&[Some(k.to_string()), Some(format!("'{}'", k % 13))]))
        .collect();

    let rows_sql = |rows: Vec<String>| rows.join(",\n");
    db.exec(&format!(
        "CREATE TABLE nokey (a INT, b VARCHAR(10));
         INSERT INTO nokey VALUES {};
         ANALYZE TABLE nokey;
         CREATE TABLE composite (a INT NOT NULL, b VARCHAR(20) NOT NULL, c BIGINT, PRIMARY KEY (a, b));
         INSERT INTO composite VALUES {};
         ANALYZE TABLE composite;
         CREATE TABLE ukeys (id BIGINT UNSIGNED PRIMARY KEY, v VARCHAR(10) NOT NULL);
         INSERT INTO ukeys VALUES {};
         ANALYZE TABLE ukeys;
         -- Not base tables: never exported.
         CREATE VIEW nokey_view AS SELECT a FROM nokey;
         CREATE SEQUENCE seq1;",
        rows_sql(nokey.iter().map(|r| sql_row(r)).collect()),
        rows_sql(composite.iter().map(|r| sql_row(r)).collect()),
        rows_sql(ukeys_values),
    ))
    .await;

    let dest = temp_dir("mywhole");
    let cfg = splitting_config(&db, &dest);
    let summary = run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    let root = dest.join("e");
    let manifest = read_manifest(&root);
    let mut names: Vec<&str> = manifest.tables.iter().map(|t| t.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["composite", "nokey", "ukeys"], "base tables only");
    assert!(manifest.tables.iter().all(|t| t.schema == db.name));
    assert_eq!(
        summary.totals.rows as usize,
        nokey.len() + composite.len() + ukeys.len()
    );

    // The display form the export's Arrow types give the inserted literals.
    let unquote = |v: &Option<String>| match v {
        None => "NULL".to_string(),
        Some(s) => s.trim_matches('\'').to_string(),
    };
    for (name, pk, columns, mut want) in [
        (
            "nokey",
            vec![],
            vec!["a", "b"],
            nokey
                .iter()
                .map(|r| r.iter().map(unquote).collect::<Vec<_>>())
                .collect::<Vec<_>>(),
        ),
        (
            "composite",
            vec!["a".to_string(), "b".to_string()],
            vec!["a", "b", "c"],
            composite
                .iter()
                .map(|r| r.iter().map(unquote).collect::<Vec<_>>())
                .collect(),
        ),
    ] {
        let t = manifest_table(&manifest, name);
        assert_eq!(t.primary_key, pk, "{name}");
        if name == "nokey" {
            assert_eq!(t.split_key, None, "{name}");
            assert_eq!(t.files.len(), 1, "{name} is one piece: {:?}", t.files);
            assert_eq!(t.files[0].range, None, "{name}");
        } else {
            // A composite key is split on the tuple (tests/tests/mysql_split.rs covers how).
            assert_eq!(t.split_key.as_deref(), Some("a, b"), "{name}");
        }
        want.sort();
        let got = exported_multiset(&root, name, &columns);
        assert_eq!(got.len(), want.len(), "{name}: row count");
        assert!(
            got == want,
            "{name}: the exported rows differ from the inserted ones"
        );
    }
    let dups = exported_multiset(&root, "nokey", &["a", "b"])
        .into_iter()
        .filter(|r| r[1] == "dup")
        .count();
    assert_eq!(dups, 3, "duplicate rows are all kept");

    // Unsigned keys, split or not: every key once, and a file with a range holds only its keys.
    let t = manifest_table(&manifest, "ukeys");
    let mut got: Vec<(u64, String)> = Vec::new();
    for f in &t.files {
        let b = file_batch(&root, f).expect("a file with rows");
        let ids = display_strings(&b, "id");
        let vs = display_strings(&b, "v");
        for (id, v) in ids.into_iter().zip(vs) {
            let id: u64 = id
                .parse()
                .unwrap_or_else(|_| panic!("{}: id {id:?}", f.path));
            if let Some(r) = f.range {
                let inside = r.lo.is_none_or(|lo| id as i128 >= lo as i128)
                    && r.hi.is_none_or(|hi| (id as i128) < hi as i128);
                assert!(inside, "{} holds key {id} outside {r:?}", f.path);
            }
            got.push((id, v));
        }
    }
    got.sort();
    let mut want: Vec<(u64, String)> = ukeys.iter().map(|k| (*k, (k % 13).to_string())).collect();
    want.sort();
    assert_eq!(got.len(), want.len(), "ukeys: row count");
    assert!(
        got == want,
        "ukeys: the exported rows differ from the inserted ones"
    );
    if t.files.iter().any(|f| f.range.is_some()) {
        assert_tiles(t);
    }
}

/// Every (key, value) pair of table `name`, both as display strings, the key parsed as an
/// integer and checked against its file's range.
fn exported_keyed(root: &Path, name: &str, key: &str, value: &str) -> Vec<(i64, String)> {
    let manifest = read_manifest(root);
    let mut rows = Vec::new();
    for f in &manifest_table(&manifest, name).files {
        let b = file_batch(root, f).expect("a file with rows");
        let range = f.range.unwrap_or(KeyRange::ALL);
        for (k, v) in display_strings(&b, key)
            .into_iter()
            .zip(display_strings(&b, value))
        {
            let k: i64 = k
                .parse()
                .unwrap_or_else(|_| panic!("{}: key {k:?}", f.path));
            assert!(
                range.contains(k),
                "{} holds key {k} outside {range:?}",
                f.path
            );
            rows.push((k, v));
        }
    }
    rows.sort();
    rows
}

/// 0..99999 from cross-joined digits, as a CTE named `k` with column `n`.
const SEQ: &str = "WITH RECURSIVE d (n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM d WHERE n < 9),
    k (n) AS (SELECT a.n + 10 * b.n + 100 * c.n + 1000 * e.n + 10000 * f.n
              FROM d a, d b, d c, d e, d f)";

/// A table `name` with an odd key and value column, 20000 rows, split into ranges; exported and
/// checked row by row.
async fn export_odd_table(tag: &str, name: &str) {
    let db = MyDb::create(tag).await;
    let quoted = format!("`{}`", name.replace('`', "``"));
    db.exec(&format!(
        "CREATE TABLE {quoted} (`k ``ey` BIGINT PRIMARY KEY, `v al` BIGINT NOT NULL);
         INSERT INTO {quoted} {SEQ} SELECT n + 1, (n + 1) * 3 FROM k WHERE n < 20000;
         ANALYZE TABLE {quoted};
         CREATE TABLE MixedCase (Id INT PRIMARY KEY, Val VARCHAR(5));
         INSERT INTO MixedCase VALUES (1, 'a'), (2, 'b'), (3, 'c');"
    ))
    .await;

    let dest = temp_dir(tag);
    let cfg = splitting_config(&db, &dest);
    run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    let root = dest.join("e");
    let manifest = read_manifest(&root);

    let odd = manifest_table(&manifest, name);
    assert_eq!(odd.split_key.as_deref(), Some("k `ey"));
    assert!(odd.files.len() >= 2, "{:?}", odd.files);
    assert_tiles(odd);
    let want: Vec<(i64, String)> = (1..=20_000).map(|k| (k, (k * 3).to_string())).collect();
    assert!(
        exported_keyed(&root, name, "k `ey", "v al") == want,
        "{name}: the exported rows differ from the inserted ones"
    );

    let mixed = manifest_table(&manifest, "MixedCase");
    assert_eq!(mixed.primary_key, vec!["Id".to_string()]);
    assert_eq!(
        exported_keyed(&root, "MixedCase", "Id", "Val"),
        vec![(1, "a".into()), (2, "b".into()), (3, "c".into())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_table_and_column_names_are_quoted_and_split() {
    // '.' and '-' need quoting in SQL but no escaping in the file path.
    export_odd_table("myodd", "odd.tbl-x").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_names_that_need_escaping_in_the_path_are_exported() {
    // Space, backtick and a non-ASCII letter: the folder name is %-escaped.
    export_odd_table("myescaped", "Odd tbl `x` ü").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_engines_partitions_and_only_this_database() {
    let db = MyDb::create("myengines").await;
    let other = MyDb::create("myother").await;
    other
        .exec("CREATE TABLE elsewhere (id INT PRIMARY KEY); INSERT INTO elsewhere VALUES (1);")
        .await;
    db.exec(&format!(
        "CREATE TABLE parted (id INT PRIMARY KEY, v INT NOT NULL)
           PARTITION BY RANGE (id) (PARTITION p0 VALUES LESS THAN (1000),
             PARTITION p1 VALUES LESS THAN (5000), PARTITION p2 VALUES LESS THAN MAXVALUE);
         INSERT INTO parted {SEQ} SELECT n, n % 10 FROM k WHERE n < 12000;
         ANALYZE TABLE parted;
         CREATE TABLE myisam_t (id INT PRIMARY KEY, v INT NOT NULL) ENGINE = MyISAM;
         INSERT INTO myisam_t {SEQ} SELECT n - 2500, n FROM k WHERE n < 5000;
         ANALYZE TABLE myisam_t;
         CREATE TABLE empty_t (id INT PRIMARY KEY, v INT);
         ANALYZE TABLE empty_t;
         -- MariaDB lists it as 'SYSTEM VERSIONED', not 'BASE TABLE'; its key includes the
         -- hidden row_end. Only the current rows are the table's content.
         CREATE TABLE hist (id INT PRIMARY KEY, v INT) WITH SYSTEM VERSIONING;
         INSERT INTO hist VALUES (1, 10), (2, 20), (3, 30);
         UPDATE hist SET v = v + 1 WHERE id = 2;
         DELETE FROM hist WHERE id = 3;"
    ))
    .await;

    let dest = temp_dir("myengines");
    let cfg = splitting_config(&db, &dest);
    run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    let root = dest.join("e");
    let manifest = read_manifest(&root);
    let names: HashSet<&str> = manifest.tables.iter().map(|t| t.name.as_str()).collect();
    assert!(
        !names.contains("elsewhere"),
        "a table of another database was exported"
    );
    assert!(!manifest.skipped.iter().any(|s| s.name.name == "elsewhere"));
    assert!(manifest.tables.iter().all(|t| t.schema == db.name));

    for (name, want) in [
        (
            "parted",
            (0..12_000)
                .map(|n| (n, (n % 10).to_string()))
                .collect::<Vec<_>>(),
        ),
        (
            "myisam_t",
            (0..5000).map(|n| (n - 2500, n.to_string())).collect(),
        ),
    ] {
        let t = manifest_table(&manifest, name);
        assert!(t.files.len() >= 2, "{name} is split: {:?}", t.files);
        assert_tiles(t);
        let got = exported_keyed(&root, name, "id", "v");
        assert_eq!(got.len(), want.len(), "{name}: row count");
        assert!(
            got == want,
            "{name}: the exported rows differ from the inserted ones"
        );
    }

    let empty = manifest_table(&manifest, "empty_t");
    assert_eq!(empty.rows, 0);
    assert!(empty.files.iter().all(|f| f.rows == 0), "{:?}", empty.files);

    // Exported with its current rows, or listed as skipped: never dropped silently.
    match manifest.tables.iter().find(|t| t.name == "hist") {
        Some(_) => assert_eq!(
            exported_keyed(&root, "hist", "id", "v"),
            vec![(1, "10".into()), (2, "21".into())]
        ),
        None => assert!(
            manifest.skipped.iter().any(|s| s.name.name == "hist"),
            "the system-versioned table is neither exported nor skipped: {:?}",
            manifest.skipped
        ),
    }
    drop(other);
}

/// Runs an export with `consistency` while a writer commits transactions that each keep two
/// invariants, the row count and the sum of v: every one moves a row from the low end of the
/// key space to the high end (from the first chunk to the last) and moves value between rows.
/// Checks the writer committed while the export ran, then both invariants in the export.
async fn export_under_writes(consistency: Consistency, tag: &str) {
    const ACCOUNTS: i64 = 200_000;
    const WRITERS: i64 = 4;
    let db = MyDb::create(tag).await;
    db.exec(&accounts_sql(ACCOUNTS)).await;

    let live = LiveWrites::default();
    // Several writers, each on keys of its own, so commits come often enough that readers
    // which started their snapshots even milliseconds apart would see different instants.
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let live = live.clone();
            let url = db.url.clone();
            tokio::spawn(async move {
                let mut conn = mysql_async::Conn::from_url(url.as_str()).await.unwrap();
                let mut next_low = 1 + w;
                let mut next_high = ACCOUNTS + 1 + w;
                let mid = ACCOUNTS / 2 + w;
                while live.running() {
                    let sql = format!(
                        "START TRANSACTION;
                         INSERT INTO accounts (id, v, pad) SELECT {next_high}, v + 5, 'moved' FROM accounts WHERE id = {next_low};
                         DELETE FROM accounts WHERE id = {next_low};
                         UPDATE accounts SET v = v - 5 WHERE id = {mid};
                         COMMIT;"
                    );
                    if let Err(e) = conn.query_drop(sql).await {
                        // A deadlock or lock timeout between writers: undo and try the same move again.
                        conn.query_drop("ROLLBACK").await.unwrap_or_else(|r| panic!("{e}; then {r}"));
                        continue;
                    }
                    live.committed();
                    next_low += WRITERS;
                    next_high += WRITERS;
                }
                conn.disconnect().await.unwrap();
            })
        })
        .collect();
    live.started().await;

    let dest = temp_dir(tag);
    let mut cfg = splitting_config(&db, &dest);
    cfg.mysql_consistency = consistency;
    cfg.batch.rows = 1_000;
    let (result, during) = live.during(run_export(&cfg, Arc::new(Quiet))).await;
    live.stop();
    for w in writers {
        w.await.unwrap();
    }
    result.unwrap();
    assert!(
        during > 0,
        "the writer committed nothing while the export ran: the test proves nothing"
    );

    let root = dest.join("e");
    let manifest = read_manifest(&root);
    assert!(
        manifest_table(&manifest, "accounts").files.len() >= 3,
        "{:?}",
        manifest_table(&manifest, "accounts").files
    );
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
        "value sum torn ({during} commits during the export)"
    );
    assert_tiles(manifest_table(&manifest, "accounts"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_written_during_the_export_never_tear_it() {
    // The default: every reader's snapshot started under one global read lock.
    export_under_writes(Consistency::default(), "mylocked").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_reader_mode_is_consistent_even_when_more_readers_are_asked_for() {
    // concurrency is 3 in the config: Single must force it to 1, not fail or open more.
    export_under_writes(Consistency::Single, "mysingle").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_reader_mode_reads_an_idle_source_whole() {
    let db = MyDb::create("myperreader").await;
    db.exec(&accounts_sql(30_000)).await;
    let dest = temp_dir("myperreader");
    let mut cfg = splitting_config(&db, &dest);
    cfg.mysql_consistency = Consistency::PerReader;
    let summary = run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    assert_eq!(summary.totals.rows, 30_000);
    let root = dest.join("e");
    let manifest = read_manifest(&root);
    assert!(manifest_table(&manifest, "accounts").files.len() >= 3);
    let mut ids: Vec<i64> = exported_rows(&root, "accounts")
        .into_iter()
        .map(|(id, v)| {
            assert_eq!(v, 100);
            id
        })
        .collect();
    ids.sort();
    assert_eq!(ids, (1..=30_000).collect::<Vec<i64>>());
    assert_tiles(manifest_table(&manifest, "accounts"));
}

// --- Bad requests through the binary ---------------------------------------------------------

/// Runs `snapex export` from `source` to `<work>/lake` in `work`.
fn snapex_export(source: &str, work: &Path) -> Outcome {
    let dest = work.join("lake");
    run_snapex(
        &[
            "export",
            "--source",
            source,
            "--dest",
            dest.to_str().unwrap(),
            "--export-id",
            "e1",
            "--no-progress",
        ],
        work,
    )
}

/// The CLI's one-line error (see `assert_cli_error`), which never shows a test password.
fn assert_error(o: &Outcome, code: i32, says: &[&str]) {
    assert_cli_error(o, code, says);
    assert!(
        snapex_tests::TEST_PASSWORDS
            .iter()
            .all(|p| !o.stderr.contains(p)),
        "password leaked: {}",
        o.stderr
    );
}

/// The test server's URL with `password` for its user and `database` for its database.
fn server_url(password: Option<&str>, database: &str) -> String {
    let base = mysql_admin_url();
    let (scheme, rest) = base.split_once("://").unwrap();
    let (userinfo, hostpath) = rest
        .rsplit_once('@')
        .expect("SNAPEX_TEST_MYSQL names a user");
    let (server, _) = hostpath.split_once('/').unwrap();
    let user = userinfo.split(':').next().unwrap();
    match password {
        Some(pw) => format!("{scheme}://{user}:{pw}@{server}/{database}"),
        None => format!("{scheme}://{userinfo}@{server}/{database}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_invalid_input() {
    let db = MyDb::create("mycli_pw").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1);")
        .await;
    let work = temp_dir("mycli-pw");
    let o = snapex_export(
        &server_url(Some(snapex_tests::WRONG_PASSWORD), &db.name),
        &work,
    );
    assert_error(&o, 2, &["Access denied"]);
    assert!(
        files_under(&work).is_empty(),
        "files written: {:?}",
        files_under(&work)
    );

    // The same request with the right credentials works, so the failure above is the password's.
    let o = snapex_export(&db.url, &work);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(work.join("lake/e1/manifest.json").is_file());
    std::fs::remove_dir_all(&work).unwrap();
}

#[test]
fn unknown_database_is_invalid_input() {
    let name = format!("snapex_no_such_db_{}", std::process::id());
    let work = temp_dir("mycli-nodb");
    let o = snapex_export(&server_url(None, &name), &work);
    assert_error(&o, 2, &["Unknown database", &name]);
    assert!(
        files_under(&work).is_empty(),
        "files written: {:?}",
        files_under(&work)
    );
    std::fs::remove_dir_all(&work).unwrap();
}

#[test]
fn malformed_mysql_url_is_invalid_input() {
    let work = temp_dir("mycli-badurl");
    let o = snapex_export(
        &format!(
            "mysql://root:{}@127.0.0.1:notaport/db",
            snapex_tests::WRONG_PASSWORD
        ),
        &work,
    );
    assert_error(&o, 2, &["MySQL URL", "mysql://"]);
    assert!(
        files_under(&work).is_empty(),
        "files written: {:?}",
        files_under(&work)
    );
    assert!(
        !work.join("lake").exists(),
        "the URL is checked before the destination is created"
    );
    std::fs::remove_dir_all(&work).unwrap();
}

#[test]
fn unreachable_mysql_server_is_a_retryable_failure() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let work = temp_dir("mycli-unreachable");
    let o = snapex_export(
        &format!(
            "mysql://root:{}@127.0.0.1:{port}/test",
            snapex_tests::WRONG_PASSWORD
        ),
        &work,
    );
    assert_error(
        &o,
        1,
        &[&format!("127.0.0.1:{port}"), "nothing was published"],
    );
    assert!(
        files_under(&work).is_empty(),
        "files written: {:?}",
        files_under(&work)
    );
    std::fs::remove_dir_all(&work).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unique_not_null_integer_index_splits_a_table_without_a_primary_key() {
    let db = MyDb::create("myunique").await;
    // `id` is unique and NOT NULL but not the primary key (there is none); `maybe` is unique
    // but nullable, so it must not be chosen.
    db.exec(
        "CREATE TABLE t (id BIGINT NOT NULL, v BIGINT NOT NULL, maybe INT NULL, UNIQUE KEY by_id (id), UNIQUE KEY by_maybe (maybe));
         INSERT INTO t (id, v, maybe)
         WITH RECURSIVE d (k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM d WHERE k < 9),
              s (n) AS (SELECT 1 + a.k + 10 * b.k + 100 * c.k + 1000 * e.k + 10000 * f.k
                          FROM d a, d b, d c, d e, d f WHERE f.k < 2)
         SELECT n * 3 - 30000, n, IF(n % 2 = 0, n, NULL) FROM s;
         ANALYZE TABLE t;",
    )
    .await;
    let dest = temp_dir("myunique");
    run_export(&splitting_config(&db, &dest), Arc::new(Quiet))
        .await
        .unwrap();
    let root = dest.join("e");
    let manifest = read_manifest(&root);
    let t = manifest_table(&manifest, "t");
    assert!(t.primary_key.is_empty());
    assert_eq!(t.split_key.as_deref(), Some("id"));
    assert!(
        t.files.len() >= 3,
        "split by the unique index: {} files",
        t.files.len()
    );
    assert_tiles(t);
    let mut rows = exported_rows(&root, "t");
    rows.sort();
    let want: Vec<(i64, i64)> = (1..=20000).map(|n| (n * 3 - 30000, n)).collect();
    assert_eq!(rows, want, "every row exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skewed_keys_give_chunks_of_similar_row_counts() {
    let db = MyDb::create("my_skew").await;
    // 99% of the rows in the lowest 0.5% of the key range, the rest spread thinly up to 10^8:
    // an even split of the span would put nearly every row in the first range.
    db.exec(
        "CREATE TABLE skewed (id BIGINT PRIMARY KEY, v BIGINT NOT NULL);
         INSERT INTO skewed (id, v)
         WITH RECURSIVE d (n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM d WHERE n < 9),
              k (id) AS (SELECT 1 + a.n + 10 * b.n + 100 * c.n + 1000 * e.n + 10000 * f.n
                         FROM d a, d b, d c, d e, d f)
         SELECT id, 1 FROM k WHERE id <= 19800;
         INSERT INTO skewed SELECT 1000000 + id * 500000, 0 FROM skewed WHERE id <= 200;
         ANALYZE TABLE skewed;",
    )
    .await;
    let dest = temp_dir("my_skew");
    let cfg = splitting_config(&db, &dest);
    run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    let root = dest.join("e");
    let manifest = read_manifest(&root);
    let t = manifest_table(&manifest, "skewed");
    assert_tiles(t);
    let counts: Vec<u64> = t.files.iter().map(|f| f.rows).collect();
    assert!(counts.len() >= 6, "split into about 8 ranges: {counts:?}");
    let (lo, hi) = (*counts.iter().min().unwrap(), *counts.iter().max().unwrap());
    assert!(
        hi <= 2 * lo,
        "chunk row counts within 2x of each other: {counts:?}"
    );
    let ids: HashSet<i64> = exported_rows(&root, "skewed")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids.len(), 20_000, "every row exactly once");
}

/// InnoDB's widest table, 1,017 columns (beyond the 1,000 at which dictionaries are off), of
/// mixed types: every value of a sample of columns comes back, in every row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_at_innodbs_column_limit_exports_every_value() {
    let db = MyDb::create("my_wide").await;
    // TEXT and FLOAT keep the row under InnoDB's 8 KB row-size check.
    let kinds = ["INT", "TEXT", "FLOAT", "TINYINT", "SMALLINT"];
    let cols: String = (1..1017)
        .map(|k| format!(", c{k} {}", kinds[k % kinds.len()]))
        .collect();
    // Values as expressions of the row's id, so each column's sum is known exactly.
    let vals: String = (1..1017)
        .map(|k| match k % kinds.len() {
            0 => format!(", id + {k}"),
            1 => ", CONCAT('v', id)".to_string(),
            2 => ", id / 4".to_string(),
            3 => ", id % 2".to_string(),
            _ => ", id % 1000".to_string(),
        })
        .collect();
    db.exec(&format!(
        "CREATE TABLE wide (id BIGINT PRIMARY KEY{cols}) ROW_FORMAT=DYNAMIC;
         INSERT INTO wide
         WITH RECURSIVE d (n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM d WHERE n < 9),
              k (id) AS (SELECT 1 + a.n + 10 * b.n + 100 * c.n FROM d a, d b, d c)
         SELECT id{vals} FROM k;"
    ))
    .await;
    let dest = temp_dir("my_wide");
    let mut cfg = ExportConfig::new(&db.url, dest.to_str().unwrap()).unwrap();
    cfg.export_id = Some("e".into());
    run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    let batch = snapex_tests::read_table(&dest.join("e"), &db.name, "wide");
    assert_eq!(batch.num_columns(), 1017);
    assert_eq!(batch.num_rows(), 1000);
    let ids = batch
        .column_by_name("id")
        .unwrap()
        .as_primitive::<Int64Type>();
    let id_sum: i64 = (0..1000).map(|i| ids.value(i)).sum();
    assert_eq!(id_sum, 500_500);
    for (k, expected) in [
        (1000usize, id_sum + 1000 * 1000),
        (1015, id_sum + 1000 * 1015),
    ] {
        let c = batch.column_by_name(&format!("c{k}")).unwrap();
        let c = c.as_primitive::<arrow::datatypes::Int32Type>();
        let sum: i64 = (0..1000).map(|i| c.value(i) as i64).sum();
        assert_eq!(sum, expected, "c{k}");
    }
    let texts = display_strings(&batch, "c1016");
    let mut want: Vec<String> = (1..=1000).map(|i| format!("v{i}")).collect();
    let mut got = texts.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want);
}
