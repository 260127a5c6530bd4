//! The catalog files of an export, checked three ways: registered with a Glue API (moto's,
//! through boto3, which validates every request against the Glue API model) and read back;
//! against the Parquet files they describe (every Glue column finds, by Athena's name rule,
//! exactly one Parquet column, of a matching physical and logical type); and through DuckDB,
//! which reads the files by the Glue names.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path;
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde_json::Value;
use snapex::manifest::Manifest;
use snapex::partitioning::PartitionRule;
use snapex::pipeline::{Quiet, run_export};
use snapex::{ErrorClass, ExportConfig};
use snapex_tests::glue_check::{athena_resolve, check_type, parse_hive};
use snapex_tests::{
    S3Server, TestDb, assert_cli_error, cell, duckdb, fake_aws_env, get_object, read_manifest,
    read_parquet_file, run_snapex, temp_dir,
};

const BUCKET: &str = "snapex-glue";

const SETUP_SQL: &str = r#"
CREATE SCHEMA sales;
CREATE TYPE public.addr AS ("Street" text, no int4, geo numeric(9,6)[], cash money);
CREATE TABLE public."Orders" (
    id           int8 PRIMARY KEY,
    "Name"       text,
    name         text,
    "NAME"       text,
    "ID"         int4,
    id_2         int4,
    small        int2,
    i            int4,
    flag         boolean,
    f4           real,
    f8           double precision,
    amount       numeric(12,2),
    big          numeric(38,10),
    free         numeric,
    at           timestamptz,
    wall         timestamp,
    d            date,
    tags         int4[],
    labels       text[],
    span         interval,
    spans        interval[],
    raw          bytea,
    "Order Date" date,
    "we`ird ü"   text,
    cash         money,
    home         addr,
    homes        addr[],
    grid         int4[][]
);
INSERT INTO public."Orders"
SELECT g, 'Upper ' || g, 'lower ' || g, 'CAPS ' || g, -g, g * 2, g::int2, g, g % 2 = 0,
       g / 4.0, g / 8.0, g * 1.25, g * 1000000.0000000001, g / 3.0,
       timestamptz '2024-01-02 03:04:05.678901+00' + g * interval '1 day',
       timestamp '1999-12-31 23:59:59' + g * interval '1 second', date '2024-02-29' + g,
       ARRAY[g, NULL, -g]::int4[], ARRAY['a' || g, NULL],
       make_interval(months => g, days => g + 1, secs => g + 0.5),
       ARRAY[make_interval(days => g), NULL::interval], '\x00ff'::bytea,
       date '2000-01-01' + g, 'odd ' || g, (g * 1.25)::money,
       ROW('Main ' || g, g, ARRAY[g * 1.5, NULL]::numeric(9,6)[], (-g)::numeric::money)::addr,
       ARRAY[NULL, ROW(NULL, NULL, NULL, NULL)::addr], ARRAY[[g, g + 1], [g + 2, g + 3]]
  FROM generate_series(1, 3) g;
CREATE TABLE sales.orders (id int4 PRIMARY KEY, v text);
INSERT INTO sales.orders VALUES (1, 'sale');
CREATE TABLE public.sales_orders (id int4 PRIMARY KEY);
INSERT INTO public.sales_orders VALUES (7);
CREATE TABLE public.empty_t (id int4 PRIMARY KEY, v text);
"#;

const INTERVAL: &str = "struct<months:int,days:int,microseconds:bigint>";
const ADDR: &str = "struct<street:string,no:int,geo:array<decimal(9,6)>,cash:decimal(19,2)>";

/// `public."Orders"` in Glue: (source name, Glue name, Parquet name, Glue type).
fn orders_columns() -> Vec<(&'static str, &'static str, &'static str, String)> {
    let c = |s, g, p, t: &str| (s, g, p, t.to_string());
    vec![
        c("id", "id", "id", "bigint"),
        // "name" is spelled exactly so keeps its name; the others take suffixes, and Athena
        // could not find them under the new names, so the files carry them too.
        c("Name", "name_2", "name_2", "string"),
        c("name", "name", "name", "string"),
        c("NAME", "name_3", "name_3", "string"),
        // `id_2` is taken by the column of that name.
        c("ID", "id_3", "id_3", "int"),
        c("id_2", "id_2", "id_2", "int"),
        c("small", "small", "small", "smallint"),
        c("i", "i", "i", "int"),
        c("flag", "flag", "flag", "boolean"),
        c("f4", "f4", "f4", "float"),
        c("f8", "f8", "f8", "double"),
        c("amount", "amount", "amount", "decimal(12,2)"),
        c("big", "big", "big", "decimal(38,10)"),
        c("free", "free", "free", "string"),
        c("at", "at", "at", "timestamp"),
        c("wall", "wall", "wall", "timestamp"),
        c("d", "d", "d", "date"),
        c("tags", "tags", "tags", "array<int>"),
        c("labels", "labels", "labels", "array<string>"),
        c("span", "span", "span", INTERVAL),
        c("spans", "spans", "spans", &format!("array<{INTERVAL}>")),
        c("raw", "raw", "raw", "binary"),
        // Only the case differs: Athena matches the source spelling in the file.
        c("Order Date", "order date", "Order Date", "date"),
        c("we`ird ü", "we`ird ü", "we`ird ü", "string"),
        c("cash", "cash", "cash", "decimal(19,2)"),
        // A composite is a struct whose field names are the same in Glue and Parquet.
        c("home", "home", "home", ADDR),
        c("homes", "homes", "homes", &format!("array<{ADDR}>")),
        c("grid", "grid", "grid", "array<array<int>>"),
    ]
}

/// Registers the catalog files in `folder` with moto's Glue and returns what Glue then holds.
fn register_with_glue(server: &S3Server, folder: &std::path::Path) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/glue_register.py");
    server.boto3_script(script, folder, "registering the catalog files in Glue")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glue_accepts_the_catalog_and_it_matches_the_parquet_files() {
    let db = TestDb::create("glue").await;
    db.exec(SETUP_SQL).await;
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    fake_aws_env();

    let mut cfg = ExportConfig::new(&db.url, &format!("s3://{BUCKET}/lake")).unwrap();
    cfg.endpoint = Some(server.endpoint.clone());
    cfg.export_id = Some("e".into());
    cfg.concurrency = 2;
    run_export(&cfg, Arc::new(Quiet))
        .await
        .expect("export succeeds");
    let store = server.reader(BUCKET);

    // The manifest maps every table and column to its Glue name.
    let manifest: Manifest =
        serde_json::from_slice(&get_object(&store, "lake/e/manifest.json").await).unwrap();
    assert_eq!(manifest.glue_database, db.name, "lowercase already");
    let glue_tables: Vec<(String, String, String)> = manifest
        .tables
        .iter()
        .map(|t| (t.schema.clone(), t.name.clone(), t.glue_table.clone()))
        .collect();
    let expected_tables = [
        ("public", "Orders", "orders"),
        ("public", "empty_t", "empty_t"),
        ("public", "sales_orders", "sales_orders"),
        ("sales", "orders", "sales_orders_2"),
    ];
    for (schema, name, glue) in expected_tables {
        assert!(
            glue_tables.contains(&(schema.into(), name.into(), glue.into())),
            "{schema}.{name} as {glue}: {glue_tables:?}"
        );
    }
    let orders = manifest.tables.iter().find(|t| t.name == "Orders").unwrap();
    let names: Vec<(&str, &str, &str, &str)> = orders
        .columns
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.glue_name.as_str(),
                c.parquet_name.as_str(),
                c.glue_type.as_str(),
            )
        })
        .collect();
    let expected = orders_columns();
    let expected_names: Vec<(&str, &str, &str, &str)> = expected
        .iter()
        .map(|(s, g, p, t)| (*s, *g, *p, t.as_str()))
        .collect();
    assert_eq!(names, expected_names);

    // The catalog folder holds the database and two files per table, nothing else.
    let listed: BTreeSet<String> = store
        .list(Some(&Path::from("lake/e/_catalog")))
        .map_ok(|m| m.location.filename().unwrap_or_default().to_string())
        .try_collect()
        .await
        .unwrap();
    let mut wanted = BTreeSet::from(["database.json".to_string()]);
    for (_, _, glue) in expected_tables {
        wanted.insert(format!("{glue}.table.json"));
        wanted.insert(format!("{glue}.sql"));
    }
    assert_eq!(listed, wanted);
    let folder = temp_dir("glue-catalog");
    for name in &listed {
        let body = get_object(&store, &format!("lake/e/_catalog/{name}")).await;
        std::fs::write(folder.join(name), body).unwrap();
    }

    // Glue takes every file as it is, and gives back the same definitions.
    let glue = register_with_glue(&server, &folder);
    assert_eq!(glue["Database"]["Name"], db.name.as_str());
    let tables = glue["Tables"].as_object().unwrap();
    assert_eq!(tables.len(), expected_tables.len());
    for (schema, name, glue_name) in expected_tables {
        let t = &tables[glue_name];
        assert_eq!(t["Name"], glue_name);
        assert_eq!(t["TableType"], "EXTERNAL_TABLE");
        assert_eq!(t["Parameters"]["classification"], "parquet");
        assert_eq!(t["Parameters"]["snapex.export_id"], "e");
        assert_eq!(t["Parameters"]["snapex.source_schema"], schema);
        assert_eq!(t["Parameters"]["snapex.source_table"], name);
        let sd = &t["StorageDescriptor"];
        assert_eq!(
            sd["Location"],
            format!("s3://{BUCKET}/lake/e/{schema}/{name}/")
        );
        assert_eq!(
            sd["SerdeInfo"]["SerializationLibrary"],
            "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
        );
        assert_eq!(
            sd["InputFormat"],
            "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
        );
        assert_eq!(t["PartitionKeys"], Value::Array(vec![]));
    }
    let glue_columns: Vec<(String, String)> = tables["orders"]["StorageDescriptor"]["Columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["Name"].as_str().unwrap().to_string(),
                c["Type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let wanted: Vec<(String, String)> = expected
        .iter()
        .map(|(_, g, _, t)| (g.to_string(), t.clone()))
        .collect();
    assert_eq!(glue_columns, wanted);
    assert_eq!(
        tables["orders"]["StorageDescriptor"]["Columns"][1]["Comment"],
        "\"Name\" text"
    );

    // Every Glue column finds one Parquet column by Athena's rule, of the type Athena expects,
    // and every Parquet column is found.
    for t in &manifest.tables {
        let columns = tables[t.glue_table.as_str()]["StorageDescriptor"]["Columns"]
            .as_array()
            .unwrap();
        if t.name == "empty_t" {
            let files: Vec<(&str, u64)> =
                t.files.iter().map(|f| (f.path.as_str(), f.rows)).collect();
            assert_eq!(
                files,
                [("public/empty_t/part-all.parquet", 0)],
                "an empty table has one zero-row file, with the columns Glue registers"
            );
        }
        for f in &t.files {
            let body = get_object(&store, &format!("lake/e/{}", f.path)).await;
            let reader = SerializedFileReader::new(bytes::Bytes::from(body)).unwrap();
            let root = reader.metadata().file_metadata().schema();
            let fields = root.get_fields();
            assert_eq!(
                fields.len(),
                columns.len(),
                "{}: one Parquet column per Glue column",
                f.path
            );
            let mut found = BTreeSet::new();
            for c in columns {
                let name = c["Name"].as_str().unwrap();
                let parquet = athena_resolve(fields, name);
                found.insert(parquet.name().to_string());
                check_type(
                    &parse_hive(c["Type"].as_str().unwrap()),
                    parquet,
                    &format!("{}: {name}", f.path),
                );
            }
            assert_eq!(
                found.len(),
                fields.len(),
                "{}: every Parquet column is read",
                f.path
            );
        }
    }

    // The renamed columns hold their own source column's values.
    let file = &orders.files[0];
    let body = get_object(&store, &format!("lake/e/{}", file.path)).await;
    std::fs::write(folder.join("orders.parquet"), &body).unwrap();
    let batch = &read_parquet_file(&body)[0];
    assert_eq!(cell(batch, "name_2", 0), "Upper 1");
    assert_eq!(cell(batch, "name", 0), "lower 1");
    assert_eq!(cell(batch, "name_3", 0), "CAPS 1");
    assert_eq!(cell(batch, "id_3", 0), "-1");
    // DuckDB, like Athena, finds columns by name ignoring case: every Glue name reads back.
    let row = duckdb(&format!(
        "SELECT name_2, name, name_3, id_3, id_2, \"order date\", \"we`ird ü\", amount, span.days,
                cash, home.street, home.geo[1], home.cash, len(homes), homes[2].street IS NULL,
                grid[2][1]
           FROM read_parquet('{}') WHERE id = 2",
        folder.join("orders.parquet").display()
    ));
    let row: Vec<String> = row.into_iter().map(Option::unwrap).collect();
    assert_eq!(
        row,
        [
            "Upper 2",
            "lower 2",
            "CAPS 2",
            "-2",
            "4",
            "2000-01-03",
            "odd 2",
            "2.50",
            "3",
            "2.50",
            "Main 2",
            "3.000000",
            "-2.00",
            "2",
            "True",
            "4"
        ]
    );

    // The DDL says the same as the TableInput.
    let sql = std::fs::read_to_string(folder.join("orders.sql")).unwrap();
    assert!(
        sql.starts_with(&format!(
            "CREATE EXTERNAL TABLE IF NOT EXISTS `{}`.`orders` (\n  `id` bigint COMMENT '\"id\" bigint',\n  `name_2` string COMMENT '\"Name\" text',",
            db.name
        )),
        "{sql}"
    );
    for line in [
        "  `we``ird ü` string COMMENT '\"we`ird ü\" text',\n",
        "  `grid` array<array<int>> COMMENT '\"grid\" integer[]'\n)",
        &format!("  `spans` array<{INTERVAL}> COMMENT"),
        &format!("  `home` {ADDR} COMMENT '\"home\" addr',"),
        "  `amount` decimal(12,2) COMMENT '\"amount\" numeric(12,2)',",
        "STORED AS PARQUET\n",
        &format!("LOCATION 's3://{BUCKET}/lake/e/public/Orders/'\n"),
        "  'classification'='parquet',",
    ] {
        assert!(sql.contains(line), "DDL lacks {line:?}:\n{sql}");
    }
    std::fs::remove_dir_all(&folder).unwrap();
}

const PARTITIONED_SQL: &str = r#"
CREATE TABLE events (id int8 PRIMARY KEY, created_at timestamptz, v text);
INSERT INTO events
SELECT g, timestamptz '2024-01-01 05:00:00+00' + (g % 150) * interval '1 day', 'e' || g
  FROM generate_series(1, 1500) g;
UPDATE events SET created_at = NULL WHERE id % 97 = 0;
CREATE TABLE shops (id int8 PRIMARY KEY, region text);
INSERT INTO shops
SELECT g, (ARRAY['eu-west', 'us.east_1', 'a/b=c%d e', 'ü', ''])[1 + g % 5]
  FROM generate_series(1, 50) g;
CREATE TABLE orders (id int8 PRIMARY KEY, v text);
INSERT INTO orders SELECT g, 'o' || g FROM generate_series(-50, 2000) g;
CREATE TABLE quiet (id int8 PRIMARY KEY, at timestamptz);
ANALYZE;
"#;

/// Glue's partitions of `table`, as (value, location), sorted.
fn glue_partitions(glue: &Value, table: &str) -> BTreeSet<(String, String)> {
    glue["Partitions"][table]
        .as_array()
        .unwrap_or_else(|| panic!("no partitions registered for {table}: {glue}"))
        .iter()
        .map(|p| {
            let values = p["Values"].as_array().unwrap();
            assert_eq!(values.len(), 1, "one partition key: {p}");
            (
                values[0].as_str().unwrap().to_string(),
                p["StorageDescriptor"]["Location"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glue_registers_every_partition_written_and_projection_where_the_folders_allow() {
    let db = TestDb::create("glue_parts").await;
    db.exec(PARTITIONED_SQL).await;
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    fake_aws_env();
    let mut cfg = ExportConfig::new(&db.url, &format!("s3://{BUCKET}/lake")).unwrap();
    cfg.endpoint = Some(server.endpoint.clone());
    cfg.export_id = Some("e".into());
    cfg.plan.target_file_bytes = 1 << 20;
    cfg.partition_rules = [
        "public.events=created_at:day",
        "public.shops=region:value",
        "public.orders=key:buckets:100",
        "public.quiet=at:hour",
    ]
    .iter()
    .map(|r| PartitionRule::parse(r).unwrap())
    .collect();
    run_export(&cfg, Arc::new(Quiet))
        .await
        .expect("export succeeds");
    let store = server.reader(BUCKET);
    let manifest: Manifest =
        serde_json::from_slice(&get_object(&store, "lake/e/manifest.json").await).unwrap();

    // 150 days and the NULL partition need two requests; the others one, the empty table too
    // (the NULL partition its zero-row file is in).
    let listed: BTreeSet<String> = store
        .list(Some(&Path::from("lake/e/_catalog")))
        .map_ok(|m| m.location.filename().unwrap_or_default().to_string())
        .try_collect()
        .await
        .unwrap();
    let partitions_files: Vec<&str> = listed
        .iter()
        .filter(|n| n.contains(".partitions-"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        partitions_files,
        [
            "events.partitions-0001.json",
            "events.partitions-0002.json",
            "orders.partitions-0001.json",
            "quiet.partitions-0001.json",
            "shops.partitions-0001.json",
        ]
    );
    let folder = temp_dir("glue-partitions");
    for name in &listed {
        let body = get_object(&store, &format!("lake/e/_catalog/{name}")).await;
        std::fs::write(folder.join(name), body).unwrap();
    }
    let glue = register_with_glue(&server, &folder);

    // Glue holds one partition per folder written, at that folder, under its value; the
    // manifest names the same partition for every file in it.
    for t in &manifest.tables {
        let p = t.partitioning.as_ref().expect("partitioned");
        let mut wanted = BTreeSet::new();
        for f in &t.files {
            let (dir, _) = f.path.rsplit_once('/').unwrap();
            let value = f.partition.clone().expect("a partitioned table's file");
            let folder = snapex::layout::folder_segment(&p.key, value.as_deref());
            assert!(
                dir.ends_with(&format!("/{folder}")),
                "{} in {folder}",
                f.path
            );
            let glue_value = value
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "__HIVE_DEFAULT_PARTITION__".into());
            wanted.insert((glue_value, format!("s3://{BUCKET}/lake/e/{dir}/")));
        }
        assert_eq!(glue_partitions(&glue, &t.glue_table), wanted, "{}", t.name);
    }
    let events = glue_partitions(&glue, "events");
    assert_eq!(events.len(), 151);
    assert!(events.contains(&(
        "2024-05-29".into(),
        format!("s3://{BUCKET}/lake/e/public/events/created_at_day=2024-05-29/")
    )));
    let shops: BTreeSet<(String, String)> = glue_partitions(&glue, "shops");
    let shop_folders: BTreeSet<&str> = shops
        .iter()
        .map(|(_, l)| l.rsplit('/').nth(1).unwrap())
        .collect();
    assert_eq!(
        shop_folders,
        BTreeSet::from([
            "region_value=",
            "region_value=%C3%BC",
            "region_value=a%2Fb%3Dc%25d%20e",
            "region_value=eu-west",
            "region_value=us.east_1",
        ])
    );
    assert!(shops.contains(&(
        "a/b=c%d e".into(),
        format!("s3://{BUCKET}/lake/e/public/shops/region_value=a%2Fb%3Dc%25d%20e/")
    )));
    assert!(shops.contains(&(
        "ü".into(),
        format!("s3://{BUCKET}/lake/e/public/shops/region_value=%C3%BC/")
    )));
    let orders = glue_partitions(&glue, "orders");
    let buckets: BTreeSet<i64> = orders.iter().map(|(v, _)| v.parse().unwrap()).collect();
    assert_eq!(buckets, (-1..=20).map(|b| b * 100).collect());
    assert_eq!(
        glue_partitions(&glue, "quiet"),
        BTreeSet::from([(
            "__HIVE_DEFAULT_PARTITION__".into(),
            format!("s3://{BUCKET}/lake/e/public/quiet/at_hour=__HIVE_DEFAULT_PARTITION__/")
        )]),
        "the table with no rows: its zero-row file's partition"
    );

    // The partition key is a partition column of its own type, not a data column; projection
    // is on only where every partition can be projected.
    let tables = glue["Tables"].as_object().unwrap();
    let keys = |t: &str| {
        (
            tables[t]["PartitionKeys"][0]["Name"].clone(),
            tables[t]["PartitionKeys"][0]["Type"].clone(),
        )
    };
    assert_eq!(keys("events"), ("created_at_day".into(), "string".into()));
    assert_eq!(keys("orders"), ("id_bucket".into(), "bigint".into()));
    assert_eq!(keys("shops"), ("region_value".into(), "string".into()));
    assert_eq!(keys("quiet"), ("at_hour".into(), "string".into()));
    let params = |t: &str| tables[t]["Parameters"].clone();
    assert_eq!(params("orders")["projection.enabled"], "true");
    assert_eq!(params("orders")["projection.id_bucket.type"], "integer");
    assert_eq!(params("orders")["projection.id_bucket.range"], "-100,2000");
    assert_eq!(params("orders")["projection.id_bucket.interval"], "100");
    assert_eq!(
        params("orders")["storage.location.template"],
        format!("s3://{BUCKET}/lake/e/public/orders/id_bucket=${{id_bucket}}/")
    );
    for (t, why) in [
        ("events", "NULL partition"),
        ("shops", "empty value"),
        ("quiet", "NULL partition"),
    ] {
        assert!(params(t).get("projection.enabled").is_none(), "{t}");
        let status = params(t)["snapex.projection"].as_str().unwrap().to_string();
        assert!(
            status.starts_with("off: ") && status.contains(why),
            "{t}: {status}"
        );
    }
    let sql = std::fs::read_to_string(folder.join("events.sql")).unwrap();
    for line in [
        "PARTITIONED BY (\n  `created_at_day` string COMMENT 'UTC day of \"created_at\"'\n)\nSTORED AS PARQUET\n",
        "--   MSCK REPAIR TABLE",
        "file://events.partitions-0001.json\n",
        "file://events.partitions-0002.json\n",
    ] {
        assert!(sql.contains(line), "DDL lacks {line:?}:\n{sql}");
    }

    // The files hold every data column, and not the partition key (the folder holds it).
    for t in &manifest.tables {
        let columns = tables[t.glue_table.as_str()]["StorageDescriptor"]["Columns"]
            .as_array()
            .unwrap();
        let key = &t.partitioning.as_ref().unwrap().key;
        for f in &t.files {
            let body = get_object(&store, &format!("lake/e/{}", f.path)).await;
            let reader = SerializedFileReader::new(bytes::Bytes::from(body)).unwrap();
            let root = reader.metadata().file_metadata().schema();
            let fields = root.get_fields();
            assert_eq!(fields.len(), columns.len(), "{}", f.path);
            for c in columns {
                let name = c["Name"].as_str().unwrap();
                let parquet = athena_resolve(fields, name);
                check_type(&parse_hive(c["Type"].as_str().unwrap()), parquet, name);
            }
            assert!(fields.iter().all(|f| f.name() != key), "{}", f.path);
        }
    }
    std::fs::remove_dir_all(&folder).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_replaces_catalog_files_and_local_locations_are_file_urls() {
    let db = TestDb::create("glue_local").await;
    db.exec(r#"CREATE TABLE t (id int8 PRIMARY KEY, "Name" text, name text); INSERT INTO t VALUES (1, 'A', 'a');"#)
        .await;
    let dest = temp_dir("glue-local");
    // An earlier attempt with the same export id left catalog files, one for a table that is
    // no longer exported.
    let catalog = dest.join("e/_catalog");
    std::fs::create_dir_all(&catalog).unwrap();
    std::fs::write(catalog.join("database.json"), b"{}").unwrap();
    std::fs::write(catalog.join("gone.table.json"), b"{}").unwrap();
    std::fs::write(catalog.join("gone.sql"), b"--").unwrap();

    let mut cfg = ExportConfig::new(&db.url, dest.to_str().unwrap()).unwrap();
    cfg.export_id = Some("e".into());
    cfg.glue_database = Some("analytics".into());
    run_export(&cfg, Arc::new(Quiet)).await.unwrap();

    let mut files: Vec<String> = std::fs::read_dir(&catalog)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["database.json", "t.sql", "t.table.json"]);
    let database: Value =
        serde_json::from_slice(&std::fs::read(catalog.join("database.json")).unwrap()).unwrap();
    assert_eq!(database["Name"], "analytics");
    let table: Value =
        serde_json::from_slice(&std::fs::read(catalog.join("t.table.json")).unwrap()).unwrap();
    let root = std::fs::canonicalize(&dest).unwrap();
    assert_eq!(
        table["StorageDescriptor"]["Location"],
        format!("file://{}/e/public/t/", root.display())
    );
    let sql = std::fs::read_to_string(catalog.join("t.sql")).unwrap();
    assert!(
        sql.starts_with("CREATE EXTERNAL TABLE IF NOT EXISTS `analytics`.`t` ("),
        "{sql}"
    );
    let manifest = read_manifest(&dest.join("e"));
    assert_eq!(manifest.glue_database, "analytics");
    assert_eq!(manifest.tables[0].glue_table, "t");
    let batch = snapex_tests::read_table(&dest.join("e"), "public", "t");
    let schema = batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        ["id", "name_2", "name"],
        "the Parquet file carries the renamed column"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_file_in_the_catalog_folder_stops_the_export() {
    let db = TestDb::create("glue_foreign").await;
    db.exec("CREATE TABLE t (id int8 PRIMARY KEY); INSERT INTO t VALUES (1);")
        .await;
    let dest = temp_dir("glue-foreign");
    let notes = dest.join("e/_catalog/notes.txt");
    std::fs::create_dir_all(notes.parent().unwrap()).unwrap();
    std::fs::write(&notes, b"mine").unwrap();
    let mut cfg = ExportConfig::new(&db.url, dest.to_str().unwrap()).unwrap();
    cfg.export_id = Some("e".into());
    let err = run_export(&cfg, Arc::new(Quiet)).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::InvalidInput);
    assert!(err.to_string().contains("did not write"), "{err}");
    assert_eq!(std::fs::read(&notes).unwrap(), b"mine");
}

#[test]
fn a_bad_glue_database_name_is_refused_before_anything_runs() {
    let work = temp_dir("glue-cli");
    let o = run_snapex(
        &[
            "export",
            "--source",
            "postgres://postgres@127.0.0.1:1/nowhere",
            "--dest",
            work.join("lake").to_str().unwrap(),
            "--glue-database",
            "Sales-DB",
            "--no-progress",
        ],
        &work,
    );
    assert_cli_error(&o, 2, &["--glue-database \"Sales-DB\"", "a-z, 0-9 and _"]);
    assert!(!work.join("lake").exists());
    std::fs::remove_dir_all(&work).unwrap();
}
