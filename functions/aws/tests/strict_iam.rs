//! The functions against their deployed IAM policies: moto with `tests/aws/strict_iam.py`
//! checks every call made with a function's own credentials against that function's policy in
//! `template.yaml` (resolved for the tests' stack by `snapex_tests::strict_aws`), and refuses
//! what AWS would refuse; `tests/aws/strict_rds.py` makes RDS's lifecycle real, so the calls
//! checked are those the functions make against RDS (CheckInstance creates a cluster's instance
//! once the cluster is available).
//!
//! First the hook itself, through the same SDK the functions use: an allowed call passes, the
//! same call outside the policy is AccessDenied, request-tag and resource-tag conditions decide,
//! and a call the hook cannot map is refused. Then the pipeline in-process (the real trigger
//! and handlers, the real definition through `snapex-asl`), each function with its own
//! credentials and the settings the template gives it, and the state machine's invocations
//! and ItemReader checked against its role: a Glue database named in the configuration, the
//! trigger's refusal of one the policies would refuse, and the trigger's hourly sweep with the
//! trigger's credentials. The exports themselves (PostgreSQL, Aurora, MySQL, a failed chunk)
//! run on this strict AWS with the real bootstraps in `end_to_end.rs`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use aws_sdk_rds::config::http::HttpResponse;
use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};
use futures::future::BoxFuture;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde_json::{Value, json};
use snapex::service::job::Endpoint;
use snapex::service::sweep::SweepOutcome;
use snapex_asl::{RunOptions, Runner, Status, TaskFailure, Tasks};
use snapex_aws::steps::{
    check_instance, cleanup, export_chunk, finalize, plan, register, restore, trigger,
};
use snapex_aws::{Context, Settings, StepError};
use snapex_tests::strict_aws::{ACCOUNT, Function, REGION, STATE_MACHINE, StrictIam, check};
use snapex_tests::{S3Server, TestDb, fake_aws_env, get_object};
mod common;
use common::poll_instance;
use common::strict::{
    PARAMS, RoleItems, Strict, assert_made, check_invoke, check_map_runs, definition, glue_tables,
    snapshot_event, started_job,
};

/// The HTTP status, error code and message of a failed SDK call.
fn refusal<E: ProvideErrorMetadata>(
    e: &SdkError<E, HttpResponse>,
) -> (Option<u16>, Option<String>, String) {
    (
        e.raw_response().map(|r| r.status().as_u16()),
        e.code().map(String::from),
        e.message().unwrap_or_default().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_batch_may_record_its_failure_and_write_nothing_else() {
    let world = Strict::start().await;
    let register = &world.iam.function("snapex-register").credentials;
    let s3 = world.s3("lake", register);
    let put = |key: &str| {
        let (s3, path) = (s3.clone(), Path::parse(key).unwrap());
        async move { s3.put(&path, b"{}".to_vec().into()).await }
    };
    put("exports/e1/_work/glue-failed/3.json").await.unwrap();
    for key in [
        "exports/e1/_catalog/orders.table.json",
        "exports/e1/_work/done/3.json",
        "exports/e1/manifest.json",
    ] {
        let e = put(key).await.unwrap_err();
        assert!(e.to_string().contains("AccessDenied"), "{key}: {e}");
    }
    let admin = world.server.reader("lake");
    assert_eq!(
        get_object(&admin, "exports/e1/_work/glue-failed/3.json").await,
        b"{}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_call_passes_and_the_same_call_outside_the_policy_is_access_denied() {
    let world = Strict::start().await;
    world.put("lake", "snapex/config.toml", b"# config").await;
    world.put("other", "snapex/config.toml", b"# config").await;
    let trigger = &world.iam.function("snapex-trigger").credentials;

    // The trigger reads its configuration (SNAPEX_CONFIG, from the template)...
    let config_url = &world.iam.function("snapex-trigger").environment["SNAPEX_CONFIG"];
    assert_eq!(config_url, "s3://lake/snapex/config.toml");
    let read = get_object(&world.s3("lake", trigger), "snapex/config.toml").await;
    assert_eq!(read, b"# config");
    // ...and nothing else: the same object in another bucket, or a write.
    let elsewhere = world
        .s3("other", trigger)
        .get(&Path::parse("snapex/config.toml").unwrap())
        .await
        .unwrap_err();
    assert!(
        elsewhere.to_string().contains("403") || elsewhere.to_string().contains("AccessDenied"),
        "{elsewhere}"
    );
    let write = world
        .s3("lake", trigger)
        .put(
            &Path::parse("snapex/config.toml").unwrap(),
            b"x".to_vec().into(),
        )
        .await
        .unwrap_err();
    assert!(write.to_string().contains("AccessDenied"), "{write}");

    let denials = world.iam.denials();
    let seen: Vec<_> = denials
        .iter()
        .map(|d| (d.principal.as_str(), d.action.as_str(), d.resource.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (
                "snapex-trigger",
                "s3:GetObject",
                "arn:aws:s3:::other/snapex/config.toml"
            ),
            (
                "snapex-trigger",
                "s3:PutObject",
                "arn:aws:s3:::lake/snapex/config.toml"
            ),
        ]
    );
    assert!(
        denials[0].message.contains(
            "assumed-role/snapex-TriggerFunctionRole/snapex-TriggerFunction is not authorized to perform: s3:GetObject"
        ),
        "{}",
        denials[0].message
    );
    // The object is untouched: the refused write never reached moto.
    let admin = world.server.reader("lake");
    assert_eq!(get_object(&admin, "snapex/config.toml").await, b"# config");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restoring_into_a_temporary_instance_needs_the_export_tag_and_changing_one_needs_it_on_the_instance()
 {
    let world = Strict::start().await;
    world.db_subnet_group();
    world.snapshot("orders-prod", "orders-prod-snap").await;
    let restore = world.clients("snapex-restore").await;
    let restore_to = |id: &'static str| {
        restore
            .rds
            .restore_db_instance_from_db_snapshot()
            .db_instance_identifier(id)
            .db_snapshot_identifier("orders-prod-snap")
            .db_subnet_group_name("snapex-db")
    };
    let tag = |v: &str| {
        aws_sdk_rds::types::Tag::builder()
            .key("snapex:export")
            .value(v)
            .build()
    };

    // Without the tag on create: refused as RDS refuses, and nothing is made.
    let e = restore_to("snapex-untagged").send().await.unwrap_err();
    let (status, code, message) = refusal(&e);
    assert_eq!((status, code.as_deref()), (Some(403), Some("AccessDenied")));
    assert!(
        message.contains("rds:RestoreDBInstanceFromDBSnapshot on resource: arn:aws:rds:us-east-1:123456789012:db:snapex-untagged"),
        "{message}"
    );
    let made = world
        .admin
        .rds
        .describe_db_instances()
        .db_instance_identifier("snapex-untagged")
        .send()
        .await;
    assert!(made.is_err(), "a refused restore made nothing: {made:?}");
    // With it, into a snapex-* name: allowed. Into another name: refused even with the tag.
    restore_to("snapex-tagged")
        .tags(tag("e1"))
        .send()
        .await
        .unwrap();
    let e = restore_to("prod-copy")
        .tags(tag("e1"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(refusal(&e).1.as_deref(), Some("AccessDenied"));

    // CheckInstance may change only what carries the export tag: an untagged snapex-* instance
    // (made by the harness) is refused, the tagged one is changed.
    world
        .admin
        .rds
        .restore_db_instance_from_db_snapshot()
        .db_instance_identifier("snapex-made-by-hand")
        .db_snapshot_identifier("orders-prod-snap")
        .send()
        .await
        .unwrap();
    let check = world.clients("snapex-check-instance").await;
    let modify = |id: &'static str| {
        check
            .rds
            .modify_db_instance()
            .db_instance_identifier(id)
            .master_user_password("a-new-password-1")
            .apply_immediately(true)
            .send()
    };
    let e = modify("snapex-made-by-hand").await.unwrap_err();
    let (status, code, message) = refusal(&e);
    assert_eq!((status, code.as_deref()), (Some(403), Some("AccessDenied")));
    assert!(message.contains("rds:ModifyDBInstance"), "{message}");
    // RDS modifies an instance only once the restore is over.
    poll_instance(&world.admin.rds, "snapex-tagged", Some("available")).await;
    let arn = modify("snapex-tagged")
        .await
        .unwrap()
        .db_instance()
        .and_then(|i| i.db_instance_arn())
        .unwrap()
        .to_string();
    // Its tag: only snapex:credentials.
    let add = |key: &'static str| {
        check
            .rds
            .add_tags_to_resource()
            .resource_name(&arn)
            .tags(
                aws_sdk_rds::types::Tag::builder()
                    .key(key)
                    .value("set")
                    .build(),
            )
            .send()
    };
    add("snapex:credentials").await.unwrap();
    let e = add("owner").await.unwrap_err();
    assert_eq!(refusal(&e).1.as_deref(), Some("AccessDenied"));

    // A call the hook has no mapping for is refused, naming the operation.
    let e = check
        .rds
        .describe_db_subnet_groups()
        .send()
        .await
        .unwrap_err();
    let (_, code, message) = refusal(&e);
    assert_eq!(code.as_deref(), Some("AccessDenied"));
    assert!(message.contains("RDS DescribeDBSubnetGroups"), "{message}");

    let seen: Vec<_> = world
        .iam
        .denials()
        .into_iter()
        .map(|d| (d.principal, d.operation, d.resource))
        .collect();
    let db = |id: &str| format!("arn:aws:rds:us-east-1:{ACCOUNT}:db:{id}");
    assert_eq!(
        seen,
        [
            (
                "snapex-restore".into(),
                "RestoreDBInstanceFromDBSnapshot".into(),
                db("snapex-untagged")
            ),
            (
                "snapex-restore".into(),
                "RestoreDBInstanceFromDBSnapshot".into(),
                db("prod-copy")
            ),
            (
                "snapex-check-instance".into(),
                "ModifyDBInstance".into(),
                db("snapex-made-by-hand")
            ),
            (
                "snapex-check-instance".into(),
                "AddTagsToResource".into(),
                db("snapex-tagged")
            ),
            (
                "snapex-check-instance".into(),
                "RDS DescribeDBSubnetGroups".into(),
                "?".into()
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_uploads_are_checked_as_writes() {
    let world = Strict::start().await;
    let key = Path::parse("exports/e1/work/part.parquet").unwrap();
    // ExportChunk may write (create, upload parts, complete) and abort.
    let chunk = world.s3(
        "lake",
        &world.iam.function("snapex-export-chunk").credentials,
    );
    let mut upload = chunk.put_multipart(&key).await.unwrap();
    upload.put_part(vec![7u8; 1024].into()).await.unwrap();
    upload.complete().await.unwrap();
    let mut upload = chunk.put_multipart(&key).await.unwrap();
    upload.abort().await.unwrap();
    assert_eq!(
        get_object(&world.server.reader("lake"), key.as_ref()).await,
        vec![7u8; 1024]
    );
    // The trigger may not start one.
    let trigger = world.s3("lake", &world.iam.function("snapex-trigger").credentials);
    let refused = trigger.put_multipart(&key).await.err().unwrap();
    assert!(refused.to_string().contains("AccessDenied"), "{refused}");
    assert_made(
        &world.iam,
        &[
            ("snapex-export-chunk", "CreateMultipartUpload"),
            ("snapex-export-chunk", "UploadPart"),
            ("snapex-export-chunk", "CompleteMultipartUpload"),
            ("snapex-export-chunk", "AbortMultipartUpload"),
        ],
    );
    let denials = world.iam.denials();
    assert_eq!(denials.len(), 1, "{denials:#?}");
    assert_eq!(
        (
            denials[0].principal.as_str(),
            denials[0].operation.as_str(),
            denials[0].action.as_str(),
            denials[0].resource.as_str()
        ),
        (
            "snapex-trigger",
            "CreateMultipartUpload",
            "s3:PutObject",
            "arn:aws:s3:::lake/exports/e1/work/part.parquet"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_machine_may_invoke_its_own_functions_only() {
    let world = Strict::start().await;
    let iam = &world.iam;
    let ep = &world.server.endpoint;
    let plan = &iam.state_machine.definition_substitutions["PlanFunctionArn"];
    assert_eq!(plan, &iam.function("snapex-plan").arn);
    iam.check(ep, STATE_MACHINE, "lambda:InvokeFunction", plan)
        .unwrap();
    iam.check(
        ep,
        STATE_MACHINE,
        "lambda:InvokeFunction",
        &format!("{plan}:live"),
    )
    .unwrap();
    let watch = &iam.function("snapex-watch").arn;
    let refused = iam
        .check(ep, STATE_MACHINE, "lambda:InvokeFunction", watch)
        .unwrap_err();
    assert!(
        refused.contains("snapex-ExportStateMachineRole") && refused.contains(watch.as_str()),
        "{refused}"
    );
    let denials = iam.denials();
    assert_eq!(denials.len(), 1, "{denials:?}");
    assert_eq!(
        (denials[0].principal.as_str(), denials[0].resource.as_str()),
        (STATE_MACHINE, watch.as_str())
    );
}

// ---------------------------------------------------------------------------------------
// The pipeline in-process under strict IAM.
// ---------------------------------------------------------------------------------------

/// What a test does just before a function runs, given its binary name.
type Before = Box<dyn FnMut(&str) + Send>;

/// The functions the definition names, in-process, each with its own credentials and the
/// settings its template environment gives it. The SDK clients take the credentials from the
/// context; S3 (object_store) and Glue read them from the process environment, which is set
/// to the running function's before it runs: Task states run one at a time, and the only
/// concurrent ones (the Map's items) are all ExportChunk, so the environment never changes
/// under a running function.
struct Pipeline {
    iam: StrictIam,
    endpoint: String,
    contexts: BTreeMap<String, Arc<Context>>,
    current: Mutex<String>,
    /// Called with each function's binary name just before it runs: a test changes the world
    /// under it.
    before: Mutex<Option<Before>>,
}

impl Pipeline {
    async fn new(world: &Strict) -> Pipeline {
        let mut contexts = BTreeMap::new();
        for (binary, f) in &world.iam.functions {
            let env: HashMap<String, String> =
                f.process_env(&world.server.endpoint).into_iter().collect();
            let mut settings = Settings::from_lookup(|k| env.get(k).cloned()).unwrap();
            settings.poll_seconds = 1;
            // moto's restored instances report hostnames that do not resolve.
            settings.test_db_endpoint = Some(Endpoint {
                host: "127.0.0.1".into(),
                port: 5432,
            });
            let clients = world.clients(binary).await;
            contexts.insert(binary.to_string(), Arc::new(Context { clients, settings }));
        }
        Pipeline {
            iam: world.iam.clone(),
            endpoint: world.server.endpoint.clone(),
            contexts,
            current: Mutex::default(),
            before: Mutex::default(),
        }
    }

    /// The context of `f`, with the process environment's credentials set to its own.
    fn become_function(&self, f: &Function) -> Arc<Context> {
        let mut current = self.current.lock().unwrap();
        if *current != f.binary {
            // SAFETY: changed only between Task states (see the type's comment); the same
            // variables exist already (fake_aws_env), so the C environment is not reallocated.
            unsafe {
                std::env::set_var("AWS_ACCESS_KEY_ID", &f.credentials.access_key_id);
                std::env::set_var("AWS_SECRET_ACCESS_KEY", &f.credentials.secret_access_key);
            }
            *current = f.binary.clone();
        }
        self.contexts[&f.binary].clone()
    }

    /// Back to the harness's own credentials, for the assertions.
    fn done(&self) {
        fake_aws_env();
        *self.current.lock().unwrap() = String::new();
    }

    async fn call(&self, f: &Function, input: Value) -> Result<Value, StepError> {
        fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, StepError> {
            serde_json::from_value(v).map_err(|e| StepError::internal(format!("event: {e}")))
        }
        fn out(v: impl serde::Serialize) -> Value {
            serde_json::to_value(v).unwrap()
        }
        let ctx = self.become_function(f);
        let ctx = ctx.as_ref();
        Ok(match f.binary.as_str() {
            "snapex-trigger" => out(trigger::handle_invocation(input, ctx).await?),
            "snapex-restore" => out(restore::handle(parse(input)?, ctx).await?),
            "snapex-check-instance" => out(check_instance::handle(parse(input)?, ctx).await?),
            "snapex-plan" => out(plan::handle(parse(input)?, ctx).await?),
            "snapex-export-chunk" => out(export_chunk::handle(parse(input)?, ctx).await?),
            "snapex-finalize" => out(finalize::handle(parse(input)?, ctx).await?),
            "snapex-register" => out(register::handle(parse(input)?, ctx).await?),
            "snapex-cleanup" => out(cleanup::handle(parse(input)?, ctx).await?),
            other => panic!("no handler for {other}"),
        })
    }
}

impl Tasks for Pipeline {
    fn invoke<'a>(
        &'a self,
        resource: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<Value, TaskFailure>> {
        Box::pin(async move {
            check_invoke(&self.iam, &self.endpoint, resource)?;
            let f = self
                .iam
                .function_by_arn(resource)
                .unwrap_or_else(|| panic!("the definition names {resource}: no such function"));
            if let Some(before) = self.before.lock().unwrap().as_mut() {
                before(&f.binary);
            }
            self.call(f, input)
                .await
                .map_err(|e| TaskFailure::new(e.name, e.message))
        })
    }
}

/// The export configuration, at the key the template's trigger reads.
fn config(source: &str, db: &str, glue_database: Option<&str>) -> String {
    let glue = glue_database
        .map(|g| format!("glue_database = \"{g}\"\n"))
        .unwrap_or_default();
    format!(
        r#"
destination = "s3://lake/exports"
instance_class = "db.t4g.medium"
restore_deadline_minutes = 30
max_concurrency = 4

[[database]]
source = "{source}"
database = "{db}"
pieces_per_chunk = 1
{glue}"#
    )
}

/// A manual snapshot `id` of the instance orders-prod, and its event.
async fn instance_snapshot_event(world: &Strict, id: &str, time: &str) -> Value {
    let arn = world.snapshot("orders-prod", id).await;
    snapshot_event("db-snapshot-manual-created.json", id, &arn, time)
}

/// The trigger (with its credentials) starts the export; the runner runs the real definition
/// with the template's substitutions.
async fn export(world: &Strict, pipeline: &Arc<Pipeline>, event: Value) -> snapex_asl::Execution {
    let trigger = pipeline.iam.function("snapex-trigger");
    let started = pipeline.call(trigger, event).await.unwrap();
    pipeline.done();
    let execution = started["execution_arn"].as_str().unwrap().to_string();
    let described = world
        .admin
        .sfn
        .describe_execution()
        .execution_arn(&execution)
        .send()
        .await
        .unwrap();
    let input: Value = serde_json::from_str(described.input().unwrap()).unwrap();
    let definition = definition(&world.iam);
    let runner = Runner::new(
        definition,
        pipeline.clone(),
        Arc::new(RoleItems {
            endpoint: world.server.endpoint.clone(),
            credentials: world.iam.state_machine.credentials.clone(),
        }),
        RunOptions {
            delay_scale: 0.0,
            execution_name: Some("strict".into()),
            ..RunOptions::default()
        },
    );
    let execution = runner.run(input).await;
    pipeline.done();
    check_map_runs(&pipeline.iam, &pipeline.endpoint, &execution);
    execution
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_of_the_pipeline_and_of_the_sweep_is_one_its_deployed_policies_allow_and_the_trigger_refuses_what_they_would_not()
 {
    let db = TestDb::create("strict_iam").await;
    db.exec(
        "CREATE TABLE orders (id int8 PRIMARY KEY, item text);
         INSERT INTO orders SELECT g, 'item ' || g FROM generate_series(1, 3000) g;
         CREATE TABLE notes (id int8 PRIMARY KEY, body text);
         INSERT INTO notes SELECT g, repeat('n', g % 50) FROM generate_series(1, 200) g;",
    )
    .await;
    let world = Strict::start().await;
    world.db_subnet_group();
    world.state_machine().await;
    let config_key = "snapex/config.toml";
    let pipeline = Arc::new(Pipeline::new(&world).await);

    // Run 1: registering into a database named after the stack's (GlueDatabaseName* =
    // exports*), as the policy allows. Every call of every function and of the state machine is allowed.
    world
        .put(
            "lake",
            config_key,
            config("orders-prod", &db.name, Some("exports_orders")).as_bytes(),
        )
        .await;
    let event =
        instance_snapshot_event(&world, "orders-prod-2026-12-01", "2026-12-01T03:10:00Z").await;
    let execution = export(&world, &pipeline, event).await;
    let Status::Succeeded { output } = &execution.status else {
        panic!(
            "the export failed: {:?}\ndenials: {:#?}",
            execution.status,
            world.iam.denials()
        )
    };
    world.iam.assert_no_denials();
    assert_made(
        &world.iam,
        &[
            ("snapex-trigger", "GetObject"),
            ("snapex-trigger", "StartExecution"),
            ("snapex-restore", "RestoreDBInstanceFromDBSnapshot"),
            ("snapex-restore", "CreateSecret"),
            ("snapex-check-instance", "ModifyDBInstance"),
            ("snapex-check-instance", "AddTagsToResource"),
            ("snapex-plan", "PutObject"),
            ("snapex-export-chunk", "PutObject"),
            ("snapex-finalize", "GetDatabase"),
            ("snapex-register", "CreateTable"),
            ("snapex-cleanup", "DeleteDBInstance"),
            ("snapex-cleanup", "DeleteSecret"),
            (STATE_MACHINE, "GetObject"),
            (STATE_MACHINE, "lambda:InvokeFunction"),
        ],
    );
    let export_id = output["export_id"].as_str().unwrap();
    let lake = world.server.reader("lake");
    get_object(&lake, &format!("exports/{export_id}/_SUCCESS")).await;
    assert_eq!(output["rows"], 3200);
    assert_eq!(
        glue_tables(&world, "exports_orders").await,
        ["notes", "orders"]
    );

    // Run 2: no glue_database in the configuration (issue 16, defect 2): the export registers
    // into the stack's Glue database (the trigger's SNAPEX_GLUE_DATABASE), which Finalize's
    // policy allows.
    world
        .put(
            "lake",
            config_key,
            config("orders-prod", &db.name, None).as_bytes(),
        )
        .await;
    let event =
        instance_snapshot_event(&world, "orders-prod-2026-12-02", "2026-12-02T03:10:00Z").await;
    let execution = export(&world, &pipeline, event).await;
    let Status::Succeeded { output } = &execution.status else {
        panic!(
            "the export failed: {:?}\ndenials: {:#?}",
            execution.status,
            world.iam.denials()
        )
    };
    world.iam.assert_no_denials();
    assert_eq!(
        started_job(&execution).job.glue_database.as_deref(),
        Some("exports")
    );
    let export_id = output["export_id"].as_str().unwrap();
    get_object(&lake, &format!("exports/{export_id}/_SUCCESS")).await;
    assert_eq!(output["rows"], 3200);
    assert_eq!(glue_tables(&world, "exports").await, ["notes", "orders"]);

    // Run 3: a Glue database outside the stack's prefix, which Finalize's policy (exports*)
    // would refuse after publishing: the trigger refuses the export before anything starts.
    world
        .put(
            "lake",
            config_key,
            config("orders-prod", &db.name, Some("analytics")).as_bytes(),
        )
        .await;
    let restores = |iam: &StrictIam| {
        iam.calls()
            .iter()
            .filter(|(p, o, _)| p == "snapex-restore" && o == "RestoreDBInstanceFromDBSnapshot")
            .count()
    };
    let restored = restores(&world.iam);
    let trigger = pipeline.iam.function("snapex-trigger");
    let event =
        instance_snapshot_event(&world, "orders-prod-2026-12-03", "2026-12-03T03:10:00Z").await;
    let refused = pipeline.call(trigger, event).await.unwrap_err();
    pipeline.done();
    assert_eq!(refused.name, "InvalidInput", "{refused}");
    assert_eq!(
        refused.message,
        "orders-prod: Glue database \"analytics\" does not start with the stack's Glue database \
         \"exports\" (SNAPEX_GLUE_DATABASE), so the stack's functions may not register in it; set \
         glue_database to \"exports\" or a name starting with it, or leave it out"
    );
    world.iam.assert_no_denials();
    assert_eq!(restores(&world.iam), restored, "nothing was restored");
    assert_eq!(world.executions().await.len(), 2, "runs 1 and 2 only");
    let left = common::setup::instance_ids(&world.admin.rds).await;
    assert!(
        left.iter().all(|i| !i.contains("2026-12-03")),
        "no instance restored for run 3: {left:?}"
    );

    // The hourly sweep, with the trigger's credentials, under the configuration of run 2:
    // it lists orders-prod's snapshots, finds runs 1 and 2 started, and starts the others.
    world
        .put(
            "lake",
            config_key,
            config("orders-prod", &db.name, None).as_bytes(),
        )
        .await;
    let scheduled = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/events/scheduled-event.json"
    );
    let scheduled: Value =
        serde_json::from_str(&std::fs::read_to_string(scheduled).unwrap()).unwrap();
    let swept = pipeline.call(trigger, scheduled.clone()).await.unwrap();
    pipeline.done();
    world.iam.assert_no_denials();
    assert_made(
        &world.iam,
        &[
            ("snapex-trigger", "DescribeDBSnapshots"),
            ("snapex-trigger", "DescribeDBClusterSnapshots"),
        ],
    );
    let swept: SweepOutcome = serde_json::from_value(swept).unwrap();
    // orders-prod's snapshots: the automated one RDS took when it was created, and runs 1-3's.
    assert_eq!(
        (swept.sources, swept.snapshots, swept.already_started),
        (1, 4, 2),
        "{swept:?}"
    );
    assert_eq!((swept.ignored, swept.refused.len()), (0, 0), "{swept:?}");
    // One execution per snapshot: runs 1 and 2's, and the two the sweep started, which export
    // into the stack's Glue database (an export id is the source and the snapshot's second,
    // which two snapshots may share: the snapshot tells the executions apart).
    let mut jobs = world.executions().await;
    jobs.sort_by(|a, b| a.snapshot.identifier.cmp(&b.snapshot.identifier));
    let snapshots: Vec<_> = jobs
        .iter()
        .map(|j| j.snapshot.identifier.as_str())
        .collect();
    assert_eq!(snapshots.len(), 4, "{snapshots:?}");
    assert_eq!(
        snapshots[..3],
        [
            "orders-prod-2026-12-01",
            "orders-prod-2026-12-02",
            "orders-prod-2026-12-03"
        ]
    );
    assert!(
        snapshots[3].starts_with("rds:orders-prod-"),
        "{snapshots:?}"
    );
    let mut by_sweep = vec![&jobs[2], &jobs[3]];
    for job in &by_sweep {
        assert_eq!(job.glue_database.as_deref(), Some("exports"));
    }
    by_sweep.sort_by(|a, b| a.export_id.cmp(&b.export_id));
    let mut started = swept.started.clone();
    started.sort();
    assert_eq!(
        started,
        by_sweep
            .iter()
            .map(|j| j.export_id.clone())
            .collect::<Vec<_>>()
    );
    // The next sweep finds them all started.
    let swept = pipeline.call(trigger, scheduled).await.unwrap();
    pipeline.done();
    let swept: SweepOutcome = serde_json::from_value(swept).unwrap();
    assert_eq!((swept.already_started, swept.started.len()), (4, 0));
    assert_eq!(world.executions().await.len(), 4);
    world.iam.assert_no_denials();
}

#[test]
fn the_template_resolves_to_what_each_function_is_deployed_with() {
    let iam = StrictIam::prepare(&StrictIam::template(), PARAMS);
    let mut binaries: Vec<_> = iam.functions.keys().map(String::as_str).collect();
    binaries.sort_unstable();
    assert_eq!(
        binaries,
        [
            "snapex-check-instance",
            "snapex-cleanup",
            "snapex-export-chunk",
            "snapex-finalize",
            "snapex-plan",
            "snapex-register",
            "snapex-restore",
            "snapex-trigger",
            "snapex-watch"
        ]
    );
    let chunk = iam.function("snapex-export-chunk");
    assert_eq!((chunk.timeout_seconds, chunk.memory_mb), (900, 3008));
    assert_eq!(
        chunk.arn,
        format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:snapex-ExportChunkFunction")
    );
    // Globals' timeout and environment reach every function; a function's own values win.
    let restore = iam.function("snapex-restore");
    assert_eq!((restore.timeout_seconds, restore.memory_mb), (60, 128));
    let env: Vec<_> = restore
        .environment
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        env,
        [
            ("SNAPEX_DB_SUBNET_GROUP", "snapex-db"),
            ("SNAPEX_EXPORT_BUCKET", "lake"),
            ("SNAPEX_SECURITY_GROUP_IDS", "sg-0database00000001"),
        ]
    );
    assert_eq!(
        iam.function("snapex-finalize").environment["SNAPEX_GLUE_DATABASE"],
        "exports"
    );
    assert_eq!(
        iam.function("snapex-trigger").environment["SNAPEX_STATE_MACHINE_ARN"],
        iam.state_machine.arn
    );
    assert_eq!(
        iam.state_machine.arn,
        format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:snapex-export")
    );
    // Every Task's function is a function of the template, found by its ARN.
    for (name, arn) in &iam.state_machine.definition_substitutions {
        let f = iam
            .function_by_arn(arn)
            .unwrap_or_else(|| panic!("{name} = {arn}"));
        assert_eq!(format!("{}Arn", f.logical_id), *name);
    }
    // Each principal has its own key.
    let mut keys: Vec<_> = iam
        .functions
        .values()
        .map(|f| f.credentials.access_key_id.as_str())
        .chain([iam.state_machine.credentials.access_key_id.as_str()])
        .collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), iam.functions.len() + 1);
}

/// The evaluator on what template.yaml does not use yet: explicit Deny over Allow, NotAction,
/// `?` and `*` wildcards, a Bool condition, and a ForAllValues condition with no value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_evaluator_applies_deny_not_action_wildcards_and_conditions() {
    let dir = snapex_tests::temp_dir("strict-iam-evaluator");
    let log = dir.join("denials.jsonl");
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "NotAction": ["s3:*", "iam:*"], "Resource": "*"},
            {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::lake/*"},
            {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::lake/secret-?/*"},
            {"Effect": "Deny", "Action": "*", "Resource": "*",
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::lake/*",
             "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}}
        ]
    });
    let config = json!({
        "denials_log": log,
        "principals": {"AKIAEVALUATOR": {
            "name": "evaluator",
            "role_arn": format!("arn:aws:iam::{ACCOUNT}:role/evaluator"),
            "policies": [policy],
        }},
    });
    let path = dir.join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let server = S3Server::start_strict(&[&format!("strict_iam.py={}", path.display())]);
    let ep = server.endpoint.as_str();
    let ask = |action: &str, resource: &str, context: Value| {
        check(ep, "evaluator", action, resource, &context)
    };
    let none = json!({});
    // NotAction: everything but S3 and IAM.
    ask("rds:DescribeDBInstances", "*", none.clone()).unwrap();
    let e = ask("iam:PassRole", "*", none.clone()).unwrap_err();
    assert!(
        e.contains("because no identity-based policy allows the iam:PassRole action"),
        "{e}"
    );
    // Wildcards in Action and Resource, and an explicit Deny over the Allow.
    ask("s3:GetObject", "arn:aws:s3:::lake/a/b", none.clone()).unwrap();
    ask("s3:GetObjectTagging", "arn:aws:s3:::lake/a", none.clone()).unwrap();
    ask(
        "s3:GetObject",
        "arn:aws:s3:::lake/secret-10/x",
        none.clone(),
    )
    .unwrap();
    let e = ask("s3:GetObject", "arn:aws:s3:::lake/secret-1/x", none.clone()).unwrap_err();
    assert!(
        e.contains("with an explicit deny in an identity-based policy"),
        "{e}"
    );
    ask("s3:GetObject", "arn:aws:s3:::other/a", none.clone()).unwrap_err();
    // Bool: the same call over plain HTTP is denied by the Deny statement.
    let e = ask(
        "rds:DescribeDBInstances",
        "*",
        json!({"aws:SecureTransport": "false"}),
    )
    .unwrap_err();
    assert!(e.contains("explicit deny"), "{e}");
    // ForAllValues: no tags at all, or only allowed keys, match; another key does not.
    ask("s3:PutObject", "arn:aws:s3:::lake/k", none.clone()).unwrap();
    ask(
        "s3:PutObject",
        "arn:aws:s3:::lake/k",
        json!({"aws:TagKeys": ["b"]}),
    )
    .unwrap();
    ask(
        "s3:PutObject",
        "arn:aws:s3:::lake/k",
        json!({"aws:TagKeys": ["a", "c"]}),
    )
    .unwrap_err();
    let denials = std::fs::read_to_string(&log).unwrap();
    assert_eq!(denials.lines().count(), 5, "{denials}");
}
