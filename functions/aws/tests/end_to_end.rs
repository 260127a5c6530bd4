//! The whole serverless pipeline on one machine, with no AWS: a fixture snapshot event goes to
//! the real trigger, which starts an execution in moto's Step Functions; that execution's input
//! is then run through `statemachine/export.asl.json` by our own runner (`snapex-asl`), each
//! Task invoking its function's real bootstrap (the binary `cargo lambda build` makes) through
//! the Lambda Runtime API of the local Lambda (`snapex_tests::lambda`), as Step Functions
//! invokes Lambda: one process per concurrent invocation, the template's timeouts, and the
//! functions' errors as Step Functions sees them. moto serves S3, RDS, Secrets Manager, Step
//! Functions and Glue; the local PostgreSQL stands in for the restored instance, through the
//! documented test-only setting `SNAPEX_TEST_DB_ENDPOINT` (moto's restored instances report
//! hostnames that do not resolve).
//!
//! The first run must publish every row exactly once, register the tables and partitions in
//! Glue and delete the temporary instance, with one chunk throttled once on the way and
//! retried; the second, where one chunk fails for good, must still clean up and fail with the
//! chunk's own error and cause.
//!
//! The bootstraps come from `$CARGO_TARGET_DIR/lambda/<binary>/bootstrap` (scripts/test.sh
//! builds them first); `SNAPEX_LAMBDA_BOOTSTRAP_DIR=$CARGO_TARGET_DIR/debug` runs debug builds.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, Int64Array};
use futures::future::BoxFuture;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde_json::{Value, json};
use snapex::manifest::Manifest;
use snapex::service::job::{Endpoint, Finalized, StepInput};
use snapex::sink::Destination;
use snapex_asl::{Definition, Event, ItemReader, RunOptions, Runner, Status, TaskFailure};
use snapex_aws::Context;
mod common;
use common::lambda::function;
use common::{Moto, poll_instance};
use snapex_tests::lambda::{Hook, Lambda, LambdaTasks};
use snapex_tests::{S3Server, TestDb, get_object, read_parquet_file};

/// The functions' ARNs as `template.yaml` binds them, by substitution name.
const FUNCTIONS: &[(&str, &str)] = &[
    ("RestoreFunctionArn", "snapex-restore"),
    ("CheckInstanceFunctionArn", "snapex-check-instance"),
    ("PlanFunctionArn", "snapex-plan"),
    ("ExportChunkFunctionArn", "snapex-export-chunk"),
    ("FinalizeFunctionArn", "snapex-finalize"),
    ("CleanupFunctionArn", "snapex-cleanup"),
];

fn definition() -> Definition {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../statemachine/export.asl.json"
    );
    let subs: BTreeMap<String, String> = FUNCTIONS
        .iter()
        .map(|(name, function)| {
            let arn = format!("arn:aws:lambda:us-east-1:123456789012:function:{function}");
            (name.to_string(), arn)
        })
        .collect();
    Definition::parse(&std::fs::read_to_string(path).unwrap(), &subs).unwrap()
}

/// The functions on the local Lambda, with the variables the template gives them pointed at
/// moto (`AWS_ENDPOINT_URL`), and the test-only ones: a 1-second poll, and the local
/// PostgreSQL as the restored instance's endpoint.
fn functions(ctx: &Context) -> Vec<snapex_tests::lambda::Function> {
    let moto = ctx.settings.endpoint_url.clone().unwrap();
    let db = ctx.settings.test_db_endpoint.clone().unwrap();
    common::lambda::FUNCTIONS
        .iter()
        .map(|(binary, ..)| {
            let f = function(binary)
                .var("AWS_ENDPOINT_URL", &moto)
                .var("SNAPEX_EXPORT_BUCKET", "lake");
            match *binary {
                "snapex-trigger" => f
                    .var("SNAPEX_CONFIG", ctx.settings.config_url.clone().unwrap())
                    .var(
                        "SNAPEX_STATE_MACHINE_ARN",
                        ctx.settings.state_machine_arn.clone().unwrap(),
                    ),
                "snapex-restore" => {
                    f.var("SNAPEX_POLL_SECONDS", ctx.settings.poll_seconds.to_string())
                }
                "snapex-check-instance" => f.var(
                    "SNAPEX_TEST_DB_ENDPOINT",
                    format!("{}:{}", db.host, db.port),
                ),
                _ => f,
            }
        })
        .collect()
}

/// The Distributed Map's ItemReader: `GetObject` on moto's S3.
struct S3Items {
    endpoint: String,
}

impl ItemReader for S3Items {
    fn read<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, TaskFailure>> {
        Box::pin(async move {
            let store = Destination::open(&format!("s3://{bucket}"), Some(&self.endpoint))
                .map_err(|e| TaskFailure::new("States.ItemReaderFailed", e.to_string()))?;
            store
                .get(&Path::parse(key).unwrap())
                .await
                .map_err(|e| TaskFailure::new("States.ItemReaderFailed", e.to_string()))
        })
    }
}

/// moto with the export configuration, the export bucket, the state machine and a source
/// instance; the local PostgreSQL database the "restored" instance serves.
struct World {
    server: S3Server,
    ctx: Arc<Context>,
    db: TestDb,
    lambda: Arc<Lambda>,
}

const DAYS: i64 = 60;

impl World {
    async fn start() -> World {
        let db = TestDb::create("e2e").await;
        db.exec(&format!(
            "CREATE TABLE events (id int8 PRIMARY KEY, at timestamptz NOT NULL, v text);
             INSERT INTO events SELECT g, timestamptz '2026-01-01 00:00+00' + g * interval '1 hour',
                    CASE WHEN g % 7 = 0 THEN NULL ELSE 'v' || g END
             FROM generate_series(0, 24 * {DAYS} - 1) g;
             CREATE TABLE doomed (id int8 PRIMARY KEY); INSERT INTO doomed SELECT generate_series(1, 10);
             CREATE TABLE \"Plain Table\" (id int8 PRIMARY KEY, k text);
             INSERT INTO \"Plain Table\" SELECT g, 'k' || g FROM generate_series(1, 500) g;"
        ))
        .await;
        let config = format!(
            r#"
destination = "s3://lake/exports"
instance_class = "db.t4g.medium"
restore_deadline_minutes = 30
max_concurrency = 8

[[database]]
source = "orders-prod"
database = "{db}"
glue_database = "orders_lake"
pieces_per_chunk = 1
partition_by = ["public.events=at:day"]
"#,
            db = db.name
        );
        let Moto { server, mut ctx } = Moto::with_machine(
            &config,
            include_str!("../../../statemachine/export.asl.json"),
        )
        .await;
        ctx.clients
            .rds
            .create_db_instance()
            .db_instance_identifier("orders-prod")
            .engine("postgres")
            .db_instance_class("db.r6g.large")
            .allocated_storage(100)
            .master_username("postgres")
            .master_user_password("the-production-password")
            .send()
            .await
            .unwrap();
        // RDS snapshots only an available instance.
        poll_instance(&ctx.clients.rds, "orders-prod", Some("available")).await;
        // The "restored" instance is the local PostgreSQL.
        ctx.settings.test_db_endpoint = Some(Endpoint {
            host: "127.0.0.1".into(),
            port: 5432,
        });
        let lambda = Arc::new(Lambda::new(functions(&ctx)));
        World {
            server,
            ctx: Arc::new(ctx),
            db,
            lambda,
        }
    }

    /// A manual snapshot of the source and the EventBridge event announcing it, made from
    /// the documented fixture.
    async fn snapshot(&self, id: &str, time: &str) -> Value {
        let arn = self
            .ctx
            .clients
            .rds
            .create_db_snapshot()
            .db_instance_identifier("orders-prod")
            .db_snapshot_identifier(id)
            .send()
            .await
            .unwrap()
            .db_snapshot()
            .and_then(|s| s.db_snapshot_arn())
            .unwrap()
            .to_string();
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/events/db-snapshot-manual-created.json"
        );
        let mut e: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        e["time"] = time.into();
        e["detail"]["SourceIdentifier"] = id.into();
        e["detail"]["SourceArn"] = arn.clone().into();
        e["resources"] = json!([arn]);
        e
    }

    /// Sends the event to the trigger (twice, as EventBridge may) and returns the input of
    /// the one execution it started.
    async fn trigger(&self, event: Value) -> Value {
        let first = self.lambda.invoke("snapex-trigger", &event).await.unwrap();
        assert_eq!(first["started"], true, "{first}");
        let again = self.lambda.invoke("snapex-trigger", &event).await.unwrap();
        assert_eq!(
            again["started"], false,
            "the same snapshot twice starts one export: {again}"
        );
        let execution = first["execution_arn"].as_str().unwrap();
        let described = self
            .ctx
            .clients
            .sfn
            .describe_execution()
            .execution_arn(execution)
            .send()
            .await
            .unwrap();
        serde_json::from_str(described.input().unwrap()).unwrap()
    }

    async fn run(&self, input: Value, hook: Hook) -> (snapex_asl::Execution, Arc<LambdaTasks>) {
        let tasks = Arc::new(LambdaTasks::with_hook(self.lambda.clone(), hook));
        let runner = Runner::new(
            definition(),
            tasks.clone(),
            Arc::new(S3Items {
                endpoint: self.server.endpoint.clone(),
            }),
            RunOptions {
                delay_scale: 0.0,
                execution_name: Some("e2e".into()),
                ..RunOptions::default()
            },
        );
        (runner.run(input).await, tasks)
    }

    /// The temporary instance is gone from RDS (once RDS has finished deleting it), and its
    /// secret from Secrets Manager.
    async fn assert_cleaned_up(&self, job: &StepInput) {
        let rds = &self.ctx.clients.rds;
        let deleting = poll_instance(rds, &job.job.instance.identifier, None).await;
        assert!(
            deleting.iter().all(|s| s == "deleting"),
            "Cleanup deleted the temporary instance: {deleting:?}"
        );
        let found = rds
            .describe_db_instances()
            .db_instance_identifier(&job.job.instance.identifier)
            .send()
            .await;
        assert!(
            found.is_err(),
            "the temporary instance still exists: {found:?}"
        );
        let instances = rds.describe_db_instances().send().await.unwrap();
        let left: Vec<_> = instances
            .db_instances()
            .iter()
            .filter_map(|i| i.db_instance_identifier())
            .collect();
        assert_eq!(left, ["orders-prod"], "only the source instance is left");
        let secrets = self
            .ctx
            .clients
            .secrets
            .list_secrets()
            .send()
            .await
            .unwrap();
        let names: Vec<_> = secrets
            .secret_list()
            .iter()
            .filter_map(|s| s.name())
            .collect();
        assert!(
            !names.iter().any(|n| n.contains(&job.job.export_id)),
            "the export's secret is deleted: {names:?}"
        );
    }

    /// Every `id` of `table` in the export's files (via the manifest), read back from S3.
    async fn exported_ids(&self, manifest: &Manifest, table: &str) -> Vec<i64> {
        let store = self.server.reader("lake");
        let t = manifest
            .tables
            .iter()
            .find(|t| t.name == table)
            .unwrap_or_else(|| panic!("{table} is not in the manifest"));
        let mut ids = vec![];
        for f in &t.files {
            let key = format!("exports/{}/{}", manifest.export_id, f.path);
            for batch in read_parquet_file(&get_object(&store, &key).await) {
                let col = batch.column_by_name("id").unwrap();
                let col = col.as_any().downcast_ref::<Int64Array>().unwrap();
                assert_eq!(col.null_count(), 0);
                ids.extend(col.values().iter().copied());
            }
        }
        ids.sort_unstable();
        ids
    }

    async fn source_ids(&self, table: &str) -> Vec<i64> {
        let sql = format!("SELECT id FROM {} ORDER BY id", quote(table));
        let rows = self.db.client().await.query(&sql, &[]).await.unwrap();
        rows.iter().map(|r| r.get(0)).collect()
    }
}

/// Per function: invocations, processes started, the slowest invocation and the largest
/// peak memory, from the local Lambda's REPORT figures.
fn print_reports(lambda: &Lambda) {
    for (binary, ..) in common::lambda::FUNCTIONS {
        let reports = lambda.reports(binary);
        let slowest = reports.iter().map(|r| r.duration).max().unwrap_or_default();
        let memory = reports
            .iter()
            .map(|r| r.max_memory_mb)
            .max()
            .unwrap_or_default();
        eprintln!(
            "{binary}: {} invocations, {} processes, slowest {slowest:?}, max memory used {memory} MB",
            reports.len(),
            lambda.cold_starts(binary)
        );
    }
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn states_entered(execution: &snapex_asl::Execution) -> Vec<String> {
    execution
        .history
        .iter()
        .filter(|e| e.scope.is_empty())
        .filter_map(|e| match &e.event {
            Event::StateEntered { state, .. } => Some(state.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_event_exports_every_row_and_cleans_up_even_when_a_chunk_fails() {
    let world = World::start().await;

    // Run 1: one chunk is throttled by the Lambda service on its first attempt.
    let input = world
        .trigger(
            world
                .snapshot("orders-prod-2026-12-01", "2026-12-01T03:10:00Z")
                .await,
        )
        .await;
    let job: StepInput = serde_json::from_value(input.clone()).unwrap();
    let throttled = Box::new(|function: &str, input: &Value, attempt: u32| {
        (function == "snapex-export-chunk" && input["item"]["chunk"] == 5 && attempt == 1)
            .then(|| TaskFailure::new("Lambda.TooManyRequestsException", "Rate Exceeded."))
    });
    let (execution, tasks) = world.run(input, throttled).await;
    let Status::Succeeded { output } = &execution.status else {
        panic!("the export failed: {:?}", execution.status)
    };
    let result: Finalized = serde_json::from_value(output.clone()).unwrap();

    let entered = states_entered(&execution);
    for state in [
        "Restore",
        "WaitForInstance",
        "CheckInstance",
        "InstanceReady",
        "Plan",
        "ExportChunks",
        "Finalize",
        "Cleanup",
        "Outcome",
        "ExportSucceeded",
    ] {
        assert!(
            entered.iter().any(|s| s == state),
            "{state} not entered: {entered:?}"
        );
    }
    let checks = entered.iter().filter(|s| *s == "CheckInstance").count();
    assert!(
        checks >= 2,
        "the wait loop ran: the password is set first, {checks} checks"
    );
    let items = execution
        .history
        .iter()
        .find_map(|e| match &e.event {
            Event::MapStarted { items, .. } => Some(*items),
            _ => None,
        })
        .unwrap();
    // 60 days of events, one chunk each, and the two other tables.
    assert_eq!(items, DAYS as usize + 2);
    let calls = tasks.calls();
    assert_eq!(
        calls["snapex-export-chunk#5"], 2,
        "the throttled chunk ran twice"
    );
    assert_eq!(calls["snapex-export-chunk#6"], 1);
    let retried = execution.history.iter().any(|e| {
        matches!(&e.event, Event::RetryScheduled { error, .. } if error == "Lambda.TooManyRequestsException")
    });
    assert!(
        retried,
        "the throttled chunk was retried by the definition's Retry"
    );
    // One process per concurrent invocation, reused once warm: never more than the Map's
    // MaxConcurrency (max_concurrency = 8) for the 62 chunks.
    let processes = world.lambda.cold_starts("snapex-export-chunk");
    assert!(
        (1..=8).contains(&processes),
        "{processes} export-chunk processes"
    );
    print_reports(&world.lambda);

    // Every row exactly once, read back from S3.
    let store = world.server.reader("lake");
    let manifest_key = format!("exports/{}/manifest.json", result.export_id);
    let manifest: Manifest =
        serde_json::from_slice(&get_object(&store, &manifest_key).await).unwrap();
    get_object(&store, &format!("exports/{}/_SUCCESS", result.export_id)).await;
    let mut rows = 0;
    for table in ["events", "doomed", "Plain Table"] {
        let exported = world.exported_ids(&manifest, table).await;
        let source = world.source_ids(table).await;
        assert_eq!(exported.len(), source.len(), "{table}: row count");
        assert_eq!(exported, source, "{table}: every id exactly once");
        rows += source.len() as u64;
    }
    assert_eq!(result.rows, rows);
    assert_eq!(manifest.totals.rows, rows);

    // Glue: the tables, and one partition per day, where the files are.
    let glue = snapex_glue::connect(Some(&world.server.endpoint), None)
        .await
        .unwrap();
    let tables = glue
        .get_tables()
        .database_name("orders_lake")
        .send()
        .await
        .unwrap();
    let mut names: Vec<_> = tables
        .table_list()
        .iter()
        .map(|t| t.name().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["doomed", "events", "plain_table"]);
    let partitions = glue
        .get_partitions()
        .database_name("orders_lake")
        .table_name("events")
        .send()
        .await
        .unwrap();
    let days: HashSet<String> = partitions
        .partitions()
        .iter()
        .map(|p| p.values().join("/"))
        .collect();
    assert_eq!(days.len(), DAYS as usize);
    assert!(
        days.contains("2026-01-01") && days.contains("2026-03-01"),
        "{days:?}"
    );
    let location = partitions.partitions()[0]
        .storage_descriptor()
        .and_then(|s| s.location())
        .unwrap();
    assert!(
        location.starts_with(&format!(
            "s3://lake/exports/{}/public/events/at_day=",
            result.export_id
        )),
        "{location}"
    );
    world.assert_cleaned_up(&job).await;

    // Run 2: a later snapshot, and the table one chunk reads disappears once the chunks
    // start: that chunk fails for good, the Map fails, Cleanup still runs.
    let input = world
        .trigger(
            world
                .snapshot("orders-prod-2026-12-02", "2026-12-02T03:10:00Z")
                .await,
        )
        .await;
    let job: StepInput = serde_json::from_value(input.clone()).unwrap();
    let db_url = world.db.url.clone();
    let renamed = Arc::new(std::sync::Once::new());
    let hook = Box::new(move |function: &str, _: &Value, _| {
        if function == "snapex-export-chunk" {
            renamed.call_once(|| rename_doomed(&db_url));
        }
        None
    });
    let (execution, _) = world.run(input, hook).await;
    let Status::Failed { error, cause } = &execution.status else {
        panic!("the export should have failed: {:?}", execution.status)
    };
    assert_eq!(error, "InvalidInput", "{cause}");
    assert!(
        cause.starts_with("chunk "),
        "the chunk's own cause: {cause}"
    );
    assert!(cause.contains("doomed"), "{cause}");
    let entered = states_entered(&execution);
    assert!(entered.iter().any(|s| s == "Cleanup"), "{entered:?}");
    assert!(!entered.iter().any(|s| s == "Finalize"), "{entered:?}");
    assert_eq!(entered.last().map(String::as_str), Some("ExportFailed"));
    world.assert_cleaned_up(&job).await;
    let unpublished = format!("exports/{}/_SUCCESS", job.job.export_id);
    assert!(
        store
            .head(&Path::parse(&unpublished).unwrap())
            .await
            .is_err(),
        "a failed export is not published"
    );
}

/// Renames the table `doomed` away, from a thread of its own (the hook is synchronous).
fn rename_doomed(url: &str) {
    let url = url.to_string();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let c = snapex_tests::connect(&url).await;
                c.batch_execute("ALTER TABLE doomed RENAME TO gone")
                    .await
                    .unwrap();
            })
    })
    .join()
    .unwrap();
}
