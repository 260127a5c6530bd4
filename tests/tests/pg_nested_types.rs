//! The PostgreSQL types users would rather have than text: `money` as a decimal at the session's
//! currency scale, composite types as structs (nested, with arrays and NULL fields), and
//! multi-dimensional arrays as nested lists. Each export is read back by two independent
//! readers, DuckDB and pyarrow, and compared with what PostgreSQL holds (expected values are
//! written out by hand from the rows inserted, or asked of PostgreSQL).

use std::sync::Arc;

use serde_json::{Value, json};
use snapex::ExportConfig;
use snapex::manifest::TableManifest;
use snapex::model::LossyRule;
use snapex::pipeline::{Quiet, run_export};
use snapex_tests::{TestDb, duckdb, manifest_table, pyarrow_read, read_manifest, temp_dir};

const SCHEMA: &str = r#"
CREATE TYPE point3 AS (x numeric(10,2), gone int4, y numeric(10,2), label text);
ALTER TYPE point3 DROP ATTRIBUTE gone;
CREATE TYPE shape AS (
    id int4, "Centre Point" point3, corners point3[], tags text[], grid int4[][], seen date,
    cost money);
CREATE DOMAIN shape_d AS shape;
CREATE DOMAIN int_grid AS int4[];
CREATE TYPE tagged_ip AS (ip inet, note text);
CREATE TABLE things (
    id      int4 PRIMARY KEY,
    amount  money,
    amounts money[],
    s       shape,
    ss      shape[],
    sd      shape_d,
    grid    int4[][],
    cube    text[][][],
    flat    int4[],
    dgrid   int_grid,
    tip     tagged_ip
);
INSERT INTO things VALUES
(1, '-92233720368547758.08', '{92233720368547758.07,NULL,0.01}',
 ROW(1, ROW(1.5, -2.25, 'a b')::point3,
     ARRAY[ROW(0, 0, 'o')::point3, NULL, ROW(NULL, NULL, NULL)::point3],
     '{"x,y",NULL}'::text[], '{{1,2},{3,4}}'::int4[], 'infinity'::date, 12.34::money)::shape,
 NULL, NULL,
 '{{1,2,3},{4,5,6}}', '{{{a,b}},{{c,NULL}}}', '{{1,2},{3,4}}', '{{1,2},{3,4}}',
 ROW('10.0.0.1', 'x y')::tagged_ip),
(2, '92233720368547758.07', '{}', ROW(NULL, NULL, NULL, NULL, NULL, NULL, NULL)::shape, '{}',
 NULL, '{}', '{x,y}', '{5}', '{{7,8}}', ROW(NULL, NULL)::tagged_ip),
(3, NULL, NULL, NULL, NULL, NULL, '{7,8}', NULL, NULL, NULL, NULL);
UPDATE things SET ss = ARRAY[s, NULL], sd = s WHERE id = 1;
-- CREATE TABLE AS declares no array dimensions: they are read from the data.
CREATE TABLE derived AS
SELECT g AS id,
       CASE g WHEN 1 THEN '{{1,2},{3,4}}'::int4[] WHEN 2 THEN '{}' END AS same,
       CASE g WHEN 1 THEN '{{1,2},{3,4}}'::int4[] ELSE '{5}' END AS mixed,
       NULL::int4[] AS never
  FROM generate_series(1, 3) g;
"#;

const POINT3: &str = "struct<x:decimal(10,2),y:decimal(10,2),label:string>";

fn shape_glue() -> String {
    format!(
        "struct<id:int,centre_point:{POINT3},corners:array<{POINT3}>,tags:array<string>,\
         grid:array<array<int>>,seen:date,cost:decimal(19,2)>"
    )
}

/// Rows as pyarrow reads them, in id order.
fn rows_by_id(read: &Value) -> Vec<Value> {
    let mut rows = read["rows"].as_array().unwrap().clone();
    rows.sort_by_key(|r| r["id"].as_i64());
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composites_and_multidimensional_arrays_round_trip() {
    let db = TestDb::create("nested").await;
    db.exec(SCHEMA).await;
    let dest = temp_dir("nested");
    let mut cfg = ExportConfig::new(&db.url, dest.to_str().unwrap()).unwrap();
    cfg.export_id = Some("e".into());
    let summary = run_export(&cfg, Arc::new(Quiet)).await.unwrap();
    assert_eq!(summary.totals.rows, 6);
    let root = dest.join("e");

    // Glue types, as the manifest (and so the TableInput) names them.
    let manifest = read_manifest(&root);
    let things = manifest_table(&manifest, "things");
    let glue = |n: &str| glue_type_of(things, n);
    let shape = shape_glue();
    for (column, want) in [
        ("amount", "decimal(19,2)".to_string()),
        ("amounts", "array<decimal(19,2)>".into()),
        ("s", shape.clone()),
        ("ss", format!("array<{shape}>")),
        ("sd", shape.clone()),
        ("grid", "array<array<int>>".into()),
        ("cube", "array<array<array<string>>>".into()),
        ("flat", "array<int>".into()),
        ("dgrid", "array<array<int>>".into()),
        ("tip", "string".into()),
    ] {
        assert_eq!(glue(column), want, "Glue type of {column}");
    }
    let fired = |n: &str, rule: LossyRule| {
        let c = things.columns.iter().find(|c| c.name == n).unwrap();
        c.lossy.iter().find(|l| l.rule == rule).map(|l| l.count)
    };
    // A value of other dimensions than its column's is flattened, counted.
    assert_eq!(fired("grid", LossyRule::ArrayFlattened), Some(1));
    assert_eq!(fired("cube", LossyRule::ArrayFlattened), Some(1));
    assert_eq!(fired("flat", LossyRule::ArrayFlattened), Some(1));
    assert_eq!(fired("dgrid", LossyRule::ArrayFlattened), Some(0));
    // The infinite date inside the composite is NULL, counted on its column.
    assert_eq!(fired("s", LossyRule::InfiniteToNull), Some(1));
    assert_eq!(fired("ss", LossyRule::InfiniteToNull), Some(1));

    // pyarrow: the Parquet types and every value.
    let read = pyarrow_read(&root.join("public/things"));
    let point3 = "struct<x: decimal128(10, 2), y: decimal128(10, 2), label: string>";
    let shape_arrow = format!(
        "struct<id: int32, centre_point: {point3}, corners: list<element: {point3}>, \
         tags: list<element: string>, grid: list<element: list<element: int32>>, \
         seen: date32[day], cost: decimal128(19, 2)>"
    );
    let schema = &read["schema"];
    assert_eq!(schema["amount"], "decimal128(19, 2)");
    assert_eq!(schema["s"], shape_arrow.as_str());
    assert_eq!(schema["sd"], shape_arrow.as_str());
    assert_eq!(
        schema["ss"],
        format!("list<element: {shape_arrow}>").as_str()
    );
    assert_eq!(
        schema["cube"],
        "list<element: list<element: list<element: string>>>"
    );
    assert_eq!(schema["flat"], "list<element: int32>");
    assert_eq!(schema["tip"], "string");
    let s1 = json!({
        "id": 1,
        "centre_point": {"x": "1.50", "y": "-2.25", "label": "a b"},
        "corners": [
            {"x": "0.00", "y": "0.00", "label": "o"},
            null,
            {"x": null, "y": null, "label": null}
        ],
        "tags": ["x,y", null],
        "grid": [[1, 2], [3, 4]],
        "seen": null,
        "cost": "12.34"
    });
    let expected = vec![
        json!({
            "id": 1,
            "amount": "-92233720368547758.08",
            "amounts": ["92233720368547758.07", null, "0.01"],
            "s": s1,
            "ss": [s1, null],
            "sd": s1,
            "grid": [[1, 2, 3], [4, 5, 6]],
            "cube": [[["a", "b"]], [["c", null]]],
            "flat": [1, 2, 3, 4],
            "dgrid": [[1, 2], [3, 4]],
            "tip": "(10.0.0.1,\"x y\")"
        }),
        json!({
            "id": 2,
            "amount": "92233720368547758.07",
            "amounts": [],
            "s": {"id": null, "centre_point": null, "corners": null, "tags": null,
                  "grid": null, "seen": null, "cost": null},
            "ss": [],
            "sd": null,
            "grid": [],
            "cube": [[["x", "y"]]],
            "flat": [5],
            "dgrid": [[7, 8]],
            "tip": "(,)"
        }),
        json!({
            "id": 3, "amount": null, "amounts": null, "s": null, "ss": null, "sd": null,
            "grid": [[7, 8]], "cube": null, "flat": null, "dgrid": null, "tip": null
        }),
    ];
    assert_eq!(rows_by_id(&read), expected);

    // DuckDB, against PostgreSQL's own view of row 1.
    let pg = db
        .client()
        .await
        .query_one(
            r#"SELECT amount::numeric::text, (s).id::text, ((s)."Centre Point").x::text,
                      ((s)."Centre Point").label, cardinality((s).corners)::text,
                      ((s).corners)[1].label, num_nulls(((s).corners)[2])::text,
                      num_nulls(((s).corners)[3])::text, ((s).corners)[3].x::text,
                      ((s).tags)[1], ((s).grid)[2][1]::text, ((s).cost)::numeric::text,
                      ((ss[1]).corners)[1].label, cardinality(ss)::text,
                      ((sd).cost)::numeric::text, grid[2][3]::text, cube[2][1][1],
                      dgrid[2][2]::text, cardinality(flat)::text, tip::text
                 FROM things WHERE id = 1"#,
            &[],
        )
        .await
        .unwrap();
    let pg: Vec<Option<String>> = (0..pg.len()).map(|i| pg.get(i)).collect();
    let duck = duckdb(&format!(
        "SELECT amount, s.id, s.centre_point.x, s.centre_point.label, len(s.corners),
                s.corners[1].label, (s.corners[2] IS NULL)::INT, (s.corners[3] IS NULL)::INT,
                s.corners[3].x, s.tags[1], s.grid[2][1], s.cost, ss[1].corners[1].label, len(ss),
                sd.cost, grid[2][3], cube[2][1][1], dgrid[2][2], len(flat), tip
           FROM read_parquet('{}') WHERE id = 1",
        root.join("public/things/*.parquet").display()
    ));
    assert_eq!(duck, pg, "DuckDB's view of the Parquet files differs");

    // Dimensions no column declares are read from the data.
    let derived = manifest_table(&manifest, "derived");
    let dglue = |n: &str| glue_type_of(derived, n);
    assert_eq!(dglue("same"), "array<array<int>>");
    assert_eq!(dglue("mixed"), "array<int>");
    assert_eq!(dglue("never"), "array<int>");
    let read = pyarrow_read(&root.join("public/derived"));
    assert_eq!(
        read["schema"]["same"],
        "list<element: list<element: int32>>"
    );
    assert_eq!(
        rows_by_id(&read),
        vec![
            json!({"id": 1, "same": [[1, 2], [3, 4]], "mixed": [1, 2, 3, 4], "never": null}),
            json!({"id": 2, "same": [], "mixed": [5], "never": null}),
            json!({"id": 3, "same": null, "mixed": [5], "never": null}),
        ]
    );
    let duck = duckdb(&format!(
        "SELECT sum(same[2][1]), sum(len(mixed)) FROM read_parquet('{}')",
        root.join("public/derived/*.parquet").display()
    ));
    assert_eq!(duck, [Some("3".to_string()), Some("6".to_string())]);
}

/// `money` is an int64 count of the currency's smallest unit, which `lc_monetary` names: the
/// export is a decimal(19, s) at the exporting session's scale, equal to `money::numeric`
/// under the same setting, down to the extremes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_is_exact_at_the_sessions_currency_scale() {
    let db = TestDb::create("money").await;
    db.exec(
        "CREATE TABLE m (id int4 PRIMARY KEY, amount money, amounts money[]);
         INSERT INTO m VALUES (1, '-92233720368547758.08', '{0.01,NULL}'),
                              (2, '92233720368547758.07', '{}'), (3, NULL, NULL),
                              (4, '-1234.56', '{-0.01}');",
    )
    .await;
    // C's currency has 2 digits, the yen 0 and the Kuwaiti dinar 3 (scripts/services.sh makes
    // the two locales).
    for (locale, scale) in [("C", 2), ("ja_JP.utf8", 0), ("ar_KW.utf8", 3)] {
        let admin = db.client().await;
        admin
            .batch_execute(&format!(
                "ALTER DATABASE {} SET lc_monetary = '{locale}'",
                db.name
            ))
            .await
            .unwrap_or_else(|e| panic!("lc_monetary {locale} (run scripts/services.sh): {e}"));
        // A new session takes the database's setting, as the export's sessions do.
        let rows = db
            .client()
            .await
            .query(
                "SELECT amount::numeric::text, amounts::numeric[]::text[] FROM m ORDER BY id",
                &[],
            )
            .await
            .unwrap();
        let want: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!([
                    r.get::<_, Option<String>>(0),
                    r.get::<_, Option<Vec<Option<String>>>>(1)
                ])
            })
            .collect();

        let dest = temp_dir("money");
        let mut cfg = ExportConfig::new(&db.url, dest.to_str().unwrap()).unwrap();
        cfg.export_id = Some("e".into());
        run_export(&cfg, Arc::new(Quiet)).await.unwrap();
        let root = dest.join("e");
        let read = pyarrow_read(&root.join("public/m"));
        assert_eq!(
            read["schema"]["amount"],
            format!("decimal128(19, {scale})").as_str(),
            "{locale}"
        );
        let got: Vec<Value> = rows_by_id(&read)
            .iter()
            .map(|r| json!([r["amount"], r["amounts"]]))
            .collect();
        assert_eq!(got, want, "{locale}: pyarrow vs money::numeric");
        let manifest = read_manifest(&root);
        let amount = manifest_table(&manifest, "m")
            .columns
            .iter()
            .find(|c| c.name == "amount")
            .unwrap()
            .glue_type
            .clone();
        assert_eq!(amount, format!("decimal(19,{scale})"), "{locale}");

        // DuckDB sums the exact decimals as PostgreSQL sums money::numeric.
        let pg: Option<String> = db
            .client()
            .await
            .query_one("SELECT sum(amount::numeric)::text FROM m", &[])
            .await
            .unwrap()
            .get(0);
        let duck = duckdb(&format!(
            "SELECT sum(amount) FROM read_parquet('{}')",
            root.join("public/m/*.parquet").display()
        ));
        assert_eq!(duck, [pg], "{locale}: sum");
    }
}

/// The Glue type the manifest (and so the TableInput) gives column `name` of `table`.
fn glue_type_of(table: &TableManifest, name: &str) -> String {
    let column = table.columns.iter().find(|c| c.name == name);
    column
        .unwrap_or_else(|| panic!("no column {name}"))
        .glue_type
        .clone()
}
