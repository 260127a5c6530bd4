//! Hive partition layouts, checked end to end: exports from real databases read back by DuckDB
//! through the generated table definition, compared with the same queries on the source.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use snapex::ExportConfig;
use snapex::partitioning::{PartitionRule, unescape_value};
use snapex::pipeline::{Quiet, run_export};
use snapex_tests::{MyDb, TestDb, files_under, temp_dir};

/// Runs `sql` (on the view `t`) with DuckDB over the table defined by `table_json`.
fn duck(table_json: &Path, sql: &str) -> Vec<Option<String>> {
    let out = duck_raw(table_json, sql, false);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn duck_raw(table_json: &Path, sql: &str, explain: bool) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/duckdb_glue_table.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script).arg(table_json).arg(sql);
    if explain {
        cmd.arg("explain");
    }
    let out = cmd.output().expect("running python3");
    assert!(
        out.status.success(),
        "duckdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn export(url: &str, dest: &Path, rules: &[&str], target: u64) {
    let mut cfg = ExportConfig::new(url, dest.to_str().unwrap()).unwrap();
    cfg.export_id = Some("e".into());
    cfg.plan.target_file_bytes = target;
    cfg.partition_rules = rules
        .iter()
        .map(|r| PartitionRule::parse(r).unwrap())
        .collect();
    run_export(&cfg, Arc::new(Quiet)).await.unwrap();
}

/// Partition folder name → the parquet files in it.
fn partition_folders(table_dir: &Path) -> BTreeMap<String, Vec<PathBuf>> {
    let mut out: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for f in files_under(table_dir) {
        let folder = f.parent().unwrap().file_name().unwrap().to_str().unwrap();
        out.entry(folder.to_string()).or_default().push(f.clone());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn day_partitions_over_three_years_read_through_the_table_definition() {
    let db = TestDb::create("part_day").await;
    db.exec(
        "CREATE TABLE events (id int8 PRIMARY KEY, created_at timestamptz, amount numeric(12,2), note text);
         INSERT INTO events SELECT g,
             timestamptz '2021-01-01 00:00:00+00' + g * interval '1051 seconds',
             (g % 1000) / 10.0, 'n' || g
           FROM generate_series(1, 90000) g;
         UPDATE events SET created_at = NULL WHERE id % 1009 = 0;
         UPDATE events SET created_at = 'infinity' WHERE id = 7;
         ANALYZE events;",
    )
    .await;
    let dest = temp_dir("part_day");
    export(&db.url, &dest, &["public.events=created_at:day"], 1 << 20).await;
    let table_dir = dest.join("e/public/events");
    let folders = partition_folders(&table_dir);
    // 90,000 rows every 1051 s span 2021-01-01 .. 2023-12-31: 1095 days, plus NULLs.
    assert_eq!(
        folders.len(),
        1096,
        "{:?}",
        folders.keys().take(3).collect::<Vec<_>>()
    );
    assert!(folders.contains_key("created_at_day=2021-01-01"));
    assert!(folders.contains_key("created_at_day=2023-12-31"));
    assert!(folders.contains_key("created_at_day=__HIVE_DEFAULT_PARTITION__"));

    let def = dest.join("e/_catalog/events.table.json");
    let pg = db.client().await;
    let source: Vec<Option<String>> = {
        let r = pg
            .query_one(
                "SELECT count(*)::text, sum(amount)::text,
                   (SELECT count(*) FROM events WHERE created_at >= '2022-06-15 00:00:00+00'
                                                  AND created_at <  '2022-06-16 00:00:00+00')::text,
                   (SELECT sum(amount) FROM events WHERE created_at >= '2022-06-15 00:00:00+00'
                                                    AND created_at <  '2022-06-16 00:00:00+00')::text
                 FROM events",
                &[],
            )
            .await
            .unwrap();
        (0..4).map(|i| r.get(i)).collect()
    };
    let day = "created_at_day = '2022-06-15'";
    let ours = duck(
        &def,
        &format!(
            "SELECT count(*), sum(amount), (SELECT count(*) FROM t WHERE {day}),
                    (SELECT sum(amount) FROM t WHERE {day}) FROM t"
        ),
    );
    assert_eq!(
        ours, source,
        "DuckDB over the export differs from PostgreSQL"
    );
    // Every row is in the partition of its own UTC day; NULL and infinite times in the default one.
    let misplaced = duck(
        &def,
        "SELECT count(*) FILTER (WHERE created_at_day IS DISTINCT FROM
                    strftime(created_at AT TIME ZONE 'UTC', '%Y-%m-%d')),
                count(*) FILTER (WHERE created_at_day IS NULL) FROM t",
    );
    assert_eq!(misplaced, vec![Some("0".into()), Some("90".into())]);

    // How we know the day's query reads only that partition: DuckDB's plan says so, and the
    // same query still answers when every other partition's files are made unreadable.
    let files_that_day = folders["created_at_day=2022-06-15"].len();
    let explained = duck_raw(
        &def,
        &format!("SELECT sum(amount) FROM t WHERE {day}"),
        true,
    );
    let explained: serde_json::Value = serde_json::from_str(&explained).unwrap();
    assert_eq!(explained["read"], files_that_day, "{explained}");
    let total_files: usize = folders.values().map(Vec::len).sum();
    assert_eq!(
        explained["scanning"],
        format!("{files_that_day}/{total_files}"),
        "{explained}"
    );
    // DuckDB takes the table's schema from the first file its glob lists, so that one file
    // (of another day) keeps its footer; every other file of every other day is broken.
    let first = folders.values().flatten().min().unwrap().clone();
    for (folder, files) in &folders {
        if folder != "created_at_day=2022-06-15" {
            for f in files.iter().filter(|f| **f != first) {
                std::fs::write(f, b"not parquet").unwrap();
            }
        }
    }
    let after = duck(
        &def,
        &format!("SELECT count(*), sum(amount) FROM t WHERE {day}"),
    );
    assert_eq!(after, source[2..].to_vec());
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/duckdb_glue_table.py"
        ))
        .arg(&def)
        .arg("SELECT count(*) FROM t")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "reading every partition must hit a broken file"
    );
}

/// Values that need escaping in a path, on both engines: the folder decodes to the value,
/// DuckDB's Hive reader gives back exactly the column's value, and NULL has its own folder.
const HOSTILE: [&str; 8] = [
    "a/b",
    "k=v",
    "50%",
    "two words",
    "ünïcødé 😀",
    "",
    "_x",
    "..",
];

fn check_values_round_trip(
    table_dir: &Path,
    def: &Path,
    rows_per_value: &BTreeMap<Option<String>, u64>,
) {
    let folders = partition_folders(table_dir);
    let mut decoded: BTreeMap<Option<String>, usize> = BTreeMap::new();
    for folder in folders.keys() {
        let (key, escaped) = folder.split_once('=').unwrap();
        assert_eq!(key, "region_value");
        let value = unescape_value(escaped).unwrap_or_else(|| panic!("{folder}"));
        *decoded.entry(value).or_default() += 1;
    }
    assert_eq!(
        decoded.keys().collect::<Vec<_>>(),
        rows_per_value.keys().collect::<Vec<_>>()
    );
    let mismatched = duck(
        def,
        "SELECT count(*) FROM t WHERE region_value IS DISTINCT FROM region",
    );
    assert_eq!(mismatched, vec![Some("0".into())]);
    for (value, rows) in rows_per_value {
        let filter = match value {
            None => "region_value IS NULL".to_string(),
            Some(v) => format!("region_value = '{}'", v.replace('\'', "''")),
        };
        let got = duck(def, &format!("SELECT count(*) FROM t WHERE {filter}"));
        assert_eq!(got, vec![Some(rows.to_string())], "{value:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn value_partitions_round_trip_any_value_on_postgres() {
    let db = TestDb::create("part_val").await;
    let values = HOSTILE
        .iter()
        .map(|v| format!("'{}'", v.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(", ");
    db.exec(&format!(
        "CREATE TABLE shops (id int4 PRIMARY KEY, region text);
         INSERT INTO shops SELECT g, CASE WHEN g % 9 = 8 THEN NULL
                                          ELSE (ARRAY[{values}])[1 + g % 9] END
           FROM generate_series(1, 900) g;"
    ))
    .await;
    let dest = temp_dir("part_val");
    export(&db.url, &dest, &["shops=region:value"], 1 << 20).await;
    let mut expected = BTreeMap::new();
    for r in db
        .client()
        .await
        .query("SELECT region, count(*) FROM shops GROUP BY 1", &[])
        .await
        .unwrap()
    {
        expected.insert(r.get::<_, Option<String>>(0), r.get::<_, i64>(1) as u64);
    }
    assert_eq!(expected.len(), 9);
    check_values_round_trip(
        &dest.join("e/public/shops"),
        &dest.join("e/_catalog/shops.table.json"),
        &expected,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn value_partitions_round_trip_any_value_on_mysql_byte_for_byte() {
    use mysql_async::prelude::Queryable;
    let db = MyDb::create("part_val").await;
    // A case-insensitive collation: `A/B` and `a/b` are equal to MySQL, but distinct values,
    // so they must land in distinct partitions.
    db.exec(
        "CREATE TABLE shops (id INT PRIMARY KEY,
                             region VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci)",
    )
    .await;
    let mut conn = db.conn().await;
    let mut all: Vec<Option<&str>> = HOSTILE.iter().map(|v| Some(*v)).collect();
    all.push(Some("A/B"));
    all.push(None);
    for i in 0..500usize {
        conn.exec_drop(
            "INSERT INTO shops VALUES (?, ?)",
            (i as i64, all[i % all.len()]),
        )
        .await
        .unwrap();
    }
    let mut expected = BTreeMap::new();
    for v in &all {
        *expected.entry(v.map(String::from)).or_insert(0u64) +=
            (0..500).filter(|i| all[i % all.len()] == *v).count() as u64;
    }
    drop(conn);
    let dest = temp_dir("part_val_my");
    export(&db.url, &dest, &["shops=region:value"], 1 << 20).await;
    let schema = &db.name;
    check_values_round_trip(
        &dest.join(format!("e/{schema}/shops")),
        &dest.join("e/_catalog/shops.table.json"),
        &expected,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_time_partitions_put_each_row_in_its_utc_period() {
    let db = MyDb::create("part_time").await;
    db.exec(
        "SET SESSION sql_mode = '';
         CREATE TABLE ev (id BIGINT PRIMARY KEY, at DATETIME(6), ts TIMESTAMP NULL, d DATE);
         INSERT INTO ev SELECT seq, TIMESTAMP('2021-03-01') + INTERVAL seq * 3677 SECOND,
                TIMESTAMP('2021-03-01') + INTERVAL seq * 1801 SECOND,
                DATE('2021-03-01') + INTERVAL (seq * 7) % 400 DAY
           FROM seq_1_to_6000;
         UPDATE ev SET at = NULL WHERE id % 101 = 0;
         UPDATE ev SET d = '0000-00-00' WHERE id % 103 = 0;",
    )
    .await;
    for (rule, key, column, format) in [
        ("ev=at:day", "at_day", "at", "%Y-%m-%d"),
        ("ev=ts:hour", "ts_hour", "ts", "%Y-%m-%d-%H"),
        ("ev=d:month", "d_month", "d", "%Y-%m"),
    ] {
        let dest = temp_dir("part_time_my");
        export(&db.url, &dest, &[rule], 1 << 20).await;
        let def = dest.join("e/_catalog/ev.table.json");
        let got = duck(
            &def,
            &format!(
                "SELECT count(*), count(DISTINCT id),
                        count(*) FILTER (WHERE {key} IS DISTINCT FROM strftime(\"{column}\", '{format}')),
                        count(*) FILTER (WHERE {key} IS NULL)
                   FROM t"
            ),
        );
        let nulls = match column {
            "at" => 6000 / 101,
            "d" => 6000 / 103,
            _ => 0,
        };
        assert_eq!(
            got,
            vec![
                Some("6000".into()),
                Some("6000".into()),
                Some("0".into()),
                Some(nulls.to_string())
            ],
            "{rule}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_buckets_hold_exactly_their_keys_and_big_months_split_near_the_target() {
    let db = TestDb::create("part_keys").await;
    db.exec(
        "CREATE TABLE t (id int8 PRIMARY KEY, at timestamp NOT NULL, pad text);
         INSERT INTO t SELECT g * 3 - 50000, timestamp '2024-01-01' + g * interval '40 seconds',
                md5(g::text) || md5((g * 7)::text)
           FROM generate_series(1, 120000) g;
         ANALYZE t;",
    )
    .await;
    let dest = temp_dir("part_keys");
    export(&db.url, &dest, &["t=key:buckets:25000"], 1 << 20).await;
    let def = dest.join("e/_catalog/t.table.json");
    let got = duck(
        &def,
        "SELECT count(*), count(DISTINCT id), count(DISTINCT id_bucket),
                count(*) FILTER (WHERE id_bucket <> floor(id / 25000) * 25000) FROM t",
    );
    // Keys -49997 ..= 310000 in buckets of 25,000 from -50,000: 15 buckets.
    assert_eq!(
        got,
        vec![
            Some("120000".into()),
            Some("120000".into()),
            Some("15".into()),
            Some("0".into())
        ]
    );

    // 120,000 rows 40 s apart span January and most of February, partitioned by month with a
    // small target: each month becomes several files of similar size, never one per day.
    let dest = temp_dir("part_month");
    let mut cfg = ExportConfig::new(&db.url, dest.to_str().unwrap()).unwrap();
    cfg.export_id = Some("e".into());
    cfg.plan.target_file_bytes = 1 << 20;
    cfg.plan.source_bytes_per_file_byte = 1.0;
    cfg.partition_rules = vec![PartitionRule::parse("t=at:month").unwrap()];
    run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    let folders = partition_folders(&dest.join("e/public/t"));
    assert_eq!(
        folders.keys().collect::<Vec<_>>(),
        vec!["at_month=2024-01", "at_month=2024-02"]
    );
    let jan = &folders["at_month=2024-01"];
    assert!(
        (4..=20).contains(&jan.len()),
        "{} files in January",
        jan.len()
    );
    let sizes: Vec<u64> = jan.iter().map(|f| f.metadata().unwrap().len()).collect();
    let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
    assert!(
        *max <= 2 * *min + 64 * 1024,
        "file sizes in one month: {sizes:?}"
    );
}

#[test]
fn bad_partition_rules_are_one_line_errors() {
    use snapex_tests::{assert_cli_error, run_snapex};
    let dir = temp_dir("part_cli");
    let o = run_snapex(
        &[
            "export",
            "-s",
            "postgres://u@127.0.0.1:1/x",
            "--partition-by",
            "events=created_at:week",
        ],
        &dir,
    );
    assert_cli_error(&o, 2, &["--partition-by", "week", "year, month, day, hour"]);
    std::fs::write(dir.join("bad.toml"), "[[partition]]\ntable = 1\n").unwrap();
    let o = run_snapex(
        &[
            "export",
            "-s",
            "postgres://u@127.0.0.1:1/x",
            "--config",
            "bad.toml",
        ],
        &dir,
    );
    assert_cli_error(&o, 2, &["bad.toml"]);
    // A '[' that no ']' closes: one line saying where, and how to write a '='.
    let o = run_snapex(
        &[
            "export",
            "-s",
            "postgres://u@127.0.0.1:1/x",
            "--partition-by",
            "s[=1.t=c:day",
        ],
        &dir,
    );
    assert_cli_error(
        &o,
        2,
        &["the '[' at character 2 opens a class no ']' closes", "[=]"],
    );
}

/// A schema, a table and a column whose names hold `=`: the table pattern writes each `=` as
/// `[=]` (as `--include` may), the column is taken as written up to `:KIND`, and the export
/// reads back through its table definition with the source's rows per day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_holding_equals_signs_are_partitioned_from_the_command_line() {
    use snapex_tests::run_snapex;
    let db = TestDb::create("part_eq").await;
    db.exec(
        r#"CREATE SCHEMA "s=1";
           CREATE TABLE "s=1"."t=2" (id int8 PRIMARY KEY, "c=3" timestamptz, v text);
           INSERT INTO "s=1"."t=2" SELECT g, timestamptz '2024-03-01 00:00+00' + g * interval '7 hours', 'v' || g
             FROM generate_series(1, 100) g;
           UPDATE "s=1"."t=2" SET "c=3" = NULL WHERE id % 10 = 0;
           CREATE TABLE "s=1".t (id int8 PRIMARY KEY);
           INSERT INTO "s=1".t VALUES (1);"#,
    )
    .await;
    let dest = temp_dir("part_eq");
    let o = run_snapex(
        &[
            "export",
            "--source",
            &db.url,
            "--dest",
            ".",
            "--export-id",
            "e",
            "--no-progress",
            "--include",
            "s[=]1.*",
            "--partition-by",
            "s[=]1.t[=]2=c=3:day",
        ],
        &dest,
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let manifest = snapex_tests::read_manifest(&dest.join("e"));
    let mut names: Vec<(&str, &str)> = manifest
        .tables
        .iter()
        .map(|t| (t.schema.as_str(), t.name.as_str()))
        .collect();
    names.sort();
    assert_eq!(names, [("s=1", "t"), ("s=1", "t=2")], "--include 's[=]1.*'");
    let t = snapex_tests::manifest_table(&manifest, "t=2");
    let p = t.partitioning.as_ref().expect("t=2 is partitioned");
    assert_eq!((p.column.as_str(), p.key.as_str()), ("c=3", "c_3_day"));
    assert!(
        snapex_tests::manifest_table(&manifest, "t")
            .partitioning
            .is_none(),
        "the rule names t=2 only"
    );
    let folders = partition_folders(&dest.join("e/s%3D1/t%3D2"));
    assert!(
        folders.contains_key("c_3_day=2024-03-01"),
        "{:?}",
        folders.keys()
    );
    assert!(folders.contains_key("c_3_day=__HIVE_DEFAULT_PARTITION__"));

    let pg = db.client().await;
    let per_day: Vec<Option<String>> = pg
        .query_one(
            r#"SELECT count(*)::text,
                      count(*) FILTER (WHERE "c=3" >= '2024-03-05 00:00+00' AND "c=3" < '2024-03-06 00:00+00')::text,
                      count(*) FILTER (WHERE "c=3" IS NULL)::text,
                      string_agg(v, ',' ORDER BY id) FILTER (WHERE "c=3" >= '2024-03-05 00:00+00' AND "c=3" < '2024-03-06 00:00+00')
                 FROM "s=1"."t=2""#,
            &[],
        )
        .await
        .map(|r| (0..4).map(|i| r.get(i)).collect())
        .unwrap();
    let def = dest.join(format!("e/_catalog/{}.table.json", t.glue_table));
    let ours = duck(
        &def,
        "SELECT count(*), count(*) FILTER (WHERE c_3_day = '2024-03-05'),
                count(*) FILTER (WHERE c_3_day IS NULL),
                string_agg(v, ',' ORDER BY id) FILTER (WHERE c_3_day = '2024-03-05') FROM t",
    );
    assert_eq!(ours, per_day);
    std::fs::remove_dir_all(&dest).unwrap();
}

/// On S3 the partition folders are the same escaped keys, byte for byte (what a Glue
/// partition's location names), as an independent client (boto3) lists them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_keys_on_s3_are_the_escaped_folders() {
    use snapex_tests::{S3Server, fake_aws_env};
    let db = TestDb::create("part_s3").await;
    db.exec(
        "CREATE TABLE shops (id int4 PRIMARY KEY, region text);
         INSERT INTO shops VALUES (1, 'a/b'), (2, 'k=v'), (3, ''), (4, NULL), (5, 'ü 1'), (6, 'a/b');",
    )
    .await;
    let server = S3Server::start();
    server.create_bucket("lake");
    fake_aws_env();
    let mut cfg = ExportConfig::new(&db.url, "s3://lake/x").unwrap();
    cfg.endpoint = Some(server.endpoint.clone());
    cfg.export_id = Some("e".into());
    cfg.partition_rules = vec![PartitionRule::parse("shops=region:value").unwrap()];
    run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    let out = Command::new("python3")
        .arg("-c")
        .arg(concat!(
            "import boto3, sys\n",
            "s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1',",
            " aws_access_key_id='testing', aws_secret_access_key='testing')\n",
            "for o in s3.list_objects_v2(Bucket='lake', Prefix='x/e/public/shops/')['Contents']:\n",
            "    print(o['Key'])\n",
        ))
        .arg(&server.endpoint)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(
        keys,
        vec![
            // Listed in byte order: `%` sorts before `/`.
            "x/e/public/shops/region_value=%C3%BC%201/part-all.parquet",
            "x/e/public/shops/region_value=/part-all.parquet",
            "x/e/public/shops/region_value=__HIVE_DEFAULT_PARTITION__/part-all.parquet",
            "x/e/public/shops/region_value=a%2Fb/part-all.parquet",
            "x/e/public/shops/region_value=k%3Dv/part-all.parquet",
        ]
    );
}

/// `snapex plan` makes the same plan the export runs: one JSON line per chunk, and as many
/// pieces as the export then writes files (every partition here has rows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_lists_the_pieces_the_export_writes() {
    use snapex_tests::run_snapex;
    let db = TestDb::create("part_plan").await;
    db.exec(
        "CREATE TABLE events (id int8 PRIMARY KEY, at timestamptz NOT NULL);
         INSERT INTO events SELECT g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour'
           FROM generate_series(1, 2000) g;",
    )
    .await;
    let dir = temp_dir("part_plan");
    let o = run_snapex(
        &[
            "plan",
            "-s",
            &db.url,
            "--partition-by",
            "events=at:day",
            "--chunks",
            "chunks.jsonl",
            "--no-progress",
        ],
        &dir,
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(
        o.stdout.starts_with("planned 1 table (0 skipped"),
        "{}",
        o.stdout
    );
    let lines = std::fs::read_to_string(dir.join("chunks.jsonl")).unwrap();
    let chunks: Vec<snapex::model::Chunk> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let pieces: Vec<&snapex::model::Piece> = chunks.iter().flat_map(|c| &c.pieces).collect();
    // 2,000 hours from 2024-01-01 01:00 are 84 days.
    assert_eq!(pieces.len(), 84);
    assert!(pieces.iter().all(|p| p.hive.is_some()));

    let o = run_snapex(
        &[
            "export",
            "-s",
            &db.url,
            "-d",
            "lake",
            "--export-id",
            "e",
            "--partition-by",
            "events=at:day",
            "--no-progress",
        ],
        &dir,
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let files = files_under(&dir.join("lake/e/public/events"));
    assert_eq!(files.len(), pieces.len());
}
