//! The whole serverless pipeline on one machine, with no AWS: a fixture snapshot event goes to
//! the real trigger, which starts an execution in moto's Step Functions; that execution's input
//! is then run through `statemachine/export.asl.json` by our own runner (`snapex-asl`), each
//! Task bound to the real handler of its function, in-process. moto serves S3, RDS, Secrets
//! Manager, Step Functions and Glue; the local PostgreSQL stands in for the restored instance,
//! through the documented test-only setting `SNAPEX_TEST_DB_ENDPOINT` (moto's restored
//! instances report hostnames that do not resolve).
//!
//! The first run must publish every row exactly once, register the tables and partitions in
//! Glue and delete the temporary instance, with one chunk throttled once on the way and
//! retried; the second, where one chunk fails for good, must still clean up and fail with the
//! chunk's own error and cause.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, Int64Array};
use futures::future::BoxFuture;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde_json::{Value, json};
use snapex::manifest::Manifest;
use snapex::service::job::{Endpoint, Finalized, StepInput};
use snapex::sink::Destination;
use snapex_asl::{Definition, Event, ItemReader, RunOptions, Runner, Status, TaskFailure, Tasks};
use snapex_aws::steps::{check_instance, cleanup, export_chunk, finalize, plan, restore, trigger};
use snapex_aws::{Context, StepError};
mod common;
use common::{Moto, poll_instance};
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

/// What a test does just before a function runs: fail it as the Lambda service would, or
/// change the world under it.
type Hook = Box<dyn Fn(&str, &Value, u32) -> Option<TaskFailure> + Send + Sync>;

/// The six functions of the definition, in-process, counting invocations per function and
/// Map item.
struct Functions {
    ctx: Arc<Context>,
    calls: Mutex<BTreeMap<String, u32>>,
    hook: Hook,
}

impl Functions {
    async fn call(&self, function: &str, input: Value) -> Result<Value, StepError> {
        fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, StepError> {
            serde_json::from_value(v).map_err(|e| StepError::internal(format!("event: {e}")))
        }
        fn out(v: impl serde::Serialize) -> Value {
            serde_json::to_value(v).unwrap()
        }
        let ctx = &self.ctx;
        Ok(match function {
            "snapex-restore" => out(restore::handle(parse(input)?, ctx).await?),
            "snapex-check-instance" => out(check_instance::handle(parse(input)?, ctx).await?),
            "snapex-plan" => out(plan::handle(parse(input)?, ctx).await?),
            "snapex-export-chunk" => out(export_chunk::handle(parse(input)?, ctx).await?),
            "snapex-finalize" => out(finalize::handle(parse(input)?, ctx).await?),
            "snapex-cleanup" => out(cleanup::handle(parse(input)?, ctx).await?),
            other => panic!("the definition names an unknown function {other}"),
        })
    }
}

impl Tasks for Functions {
    fn invoke<'a>(
        &'a self,
        resource: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<Value, TaskFailure>> {
        Box::pin(async move {
            let function = resource.rsplit(':').next().unwrap().to_string();
            let key = match input["item"]["chunk"].as_u64() {
                Some(chunk) => format!("{function}#{chunk}"),
                None => function.clone(),
            };
            let attempt = {
                let mut calls = self.calls.lock().unwrap();
                let n = calls.entry(key).or_default();
                *n += 1;
                *n
            };
            if let Some(failure) = (self.hook)(&function, &input, attempt) {
                return Err(failure);
            }
            // As the Lambda runtime reports a handler's error: its name is the error type.
            self.call(&function, input)
                .await
                .map_err(|e| TaskFailure::new(e.name, e.message))
        })
    }
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
        World {
            server,
            ctx: Arc::new(ctx),
            db,
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
        let first = trigger::handle(event.clone(), &self.ctx).await.unwrap();
        assert!(first.started, "{first:?}");
        let again = trigger::handle(event, &self.ctx).await.unwrap();
        assert!(
            !again.started,
            "the same snapshot twice starts one export: {again:?}"
        );
        let execution = first.execution_arn.unwrap();
        let described = self
            .ctx
            .clients
            .sfn
            .describe_execution()
            .execution_arn(&execution)
            .send()
            .await
            .unwrap();
        serde_json::from_str(described.input().unwrap()).unwrap()
    }

    async fn run(&self, input: Value, hook: Hook) -> (snapex_asl::Execution, Arc<Functions>) {
        let functions = Arc::new(Functions {
            ctx: self.ctx.clone(),
            calls: Mutex::default(),
            hook,
        });
        let runner = Runner::new(
            definition(),
            functions.clone(),
            Arc::new(S3Items {
                endpoint: self.server.endpoint.clone(),
            }),
            RunOptions {
                delay_scale: 0.0,
                execution_name: Some("e2e".into()),
                ..RunOptions::default()
            },
        );
        (runner.run(input).await, functions)
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
    let (execution, functions) = world.run(input, throttled).await;
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
    let calls = functions.calls.lock().unwrap().clone();
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
