//! Strict AWS for the tests of whole exports: moto strict about RDS's lifecycle
//! (`tests/aws/strict_rds.py`) and about IAM (`tests/aws/strict_iam.py`: each function's calls
//! checked against its policy in `template.yaml`, resolved for the tests' stack by
//! `snapex_tests::strict_aws`), with the export bucket `lake`, an admin context with the
//! harness's own credentials (never checked) to set up and read back, and what the tests that
//! run the definition on it share: the ItemReader with the state machine role's credentials,
//! the fixture events, and readers of the execution and of Glue.

use std::collections::BTreeMap;

use aws_config::{BehaviorVersion, Region};
use futures::future::BoxFuture;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde_json::{Value, json};
use snapex::service::job::{Job, StepInput};
use snapex_asl::{Definition, Event, Execution, ItemReader, TaskFailure};
use snapex_aws::Clients;
use snapex_tests::strict_aws::{ACCOUNT, Credentials, REGION, STATE_MACHINE, StrictIam};
use snapex_tests::{S3Server, fake_aws_env};

use super::{STRICT_RDS, poll_instance};

/// The stack's parameters in the tests: an existing export bucket `lake`, a DB subnet group
/// the world creates, and a Glue database that is no prefix of the test databases' names
/// (`snapex_t_...`), which the Glue default registers into.
pub const PARAMS: &[(&str, &str)] = &[
    ("ExportBucketName", "lake"),
    ("GlueDatabaseName", "exports"),
    ("VpcSubnetIds", "subnet-0a1b2c3d,subnet-0e1f2a3b"),
    ("LambdaSecurityGroupIds", "sg-0lambda0000000001"),
    ("DbSubnetGroupName", "snapex-db"),
    ("DbSecurityGroupIds", "sg-0database00000001"),
];

/// Held by each test that reads or sets the process's AWS credentials: the pipeline sets them
/// to the running function's (strict_iam.rs runs the functions in-process), which must not reach another test's calls.
pub static ENVIRONMENT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Strict moto (strict IAM, and strict RDS so that the functions make the calls a real RDS
/// makes them make), with `lake` and `other` buckets; an admin context with the harness's own
/// credentials (never checked) to set up and read back.
pub struct Strict {
    pub iam: StrictIam,
    pub server: S3Server,
    pub admin: Clients,
    _environment: tokio::sync::MutexGuard<'static, ()>,
}

impl Strict {
    pub async fn start() -> Strict {
        let environment = ENVIRONMENT.lock().await;
        // A test that failed mid-pipeline may have left a function's credentials set.
        fake_aws_env();
        let iam = StrictIam::prepare(&StrictIam::template(), PARAMS);
        let server = S3Server::start_strict(&[STRICT_RDS, &iam.hook()]);
        server.create_bucket("lake");
        server.create_bucket("other");
        let admin = Clients::connect(Some(&server.endpoint)).await;
        Strict {
            iam,
            server,
            admin,
            _environment: environment,
        }
    }

    pub async fn sdk_config(&self, c: &Credentials) -> aws_config::SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.server.endpoint)
            .credentials_provider(aws_sdk_rds::config::Credentials::new(
                &c.access_key_id,
                &c.secret_access_key,
                None,
                None,
                "strict-iam",
            ))
            .load()
            .await
    }

    /// The SDK clients of function `binary`, with its own credentials.
    pub async fn clients(&self, binary: &str) -> Clients {
        let f = self.iam.function(binary);
        Clients::from_sdk_config(&self.sdk_config(&f.credentials).await)
    }

    /// An S3 client of `bucket` with credentials `c`.
    pub fn s3(&self, bucket: &str, c: &Credentials) -> object_store::aws::AmazonS3 {
        s3_client(&self.server.endpoint, bucket, c)
    }

    pub async fn put(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let admin = Credentials {
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
        };
        self.s3(bucket, &admin)
            .put(&Path::parse(key).unwrap(), bytes.to_vec().into())
            .await
            .unwrap();
    }

    /// A source instance `id` of `engine` with master user `user`, once RDS reports it
    /// available.
    pub async fn source_instance(&self, id: &str, engine: &str, user: &str) {
        let rds = &self.admin.rds;
        rds.create_db_instance()
            .db_instance_identifier(id)
            .engine(engine)
            .db_instance_class("db.r6g.large")
            .allocated_storage(100)
            .master_username(user)
            .master_user_password("the-production-password")
            .send()
            .await
            .unwrap();
        poll_instance(rds, id, Some("available")).await;
    }

    /// A manual snapshot `snapshot` of the instance `source` (a PostgreSQL one, made if it
    /// does not exist); its ARN.
    pub async fn snapshot(&self, source: &str, snapshot: &str) -> String {
        let rds = &self.admin.rds;
        let exists = rds
            .describe_db_instances()
            .db_instance_identifier(source)
            .send()
            .await
            .is_ok();
        if !exists {
            self.source_instance(source, "postgres", "postgres").await;
        } else {
            // moto stamps a snapshot with the current time, and an export id is the source and
            // the snapshot's second: RDS never snapshots one instance twice in a second, so
            // neither does the test (the second export would find the first's id published).
            let into = chrono::Utc::now().timestamp_subsec_millis();
            tokio::time::sleep(std::time::Duration::from_millis(u64::from(
                1001u32.saturating_sub(into),
            )))
            .await;
        }
        super::setup::instance_snapshot(rds, source, snapshot).await
    }

    /// An Aurora PostgreSQL cluster `source` and a manual snapshot `snapshot` of it; its ARN.
    pub async fn cluster_snapshot(&self, source: &str, snapshot: &str) -> String {
        let rds = &self.admin.rds;
        super::setup::aurora_cluster_snapshot(
            rds,
            source,
            snapshot,
            "postgres",
            "the-production-password",
        )
        .await
    }

    /// The export state machine, named as the template names it (the trigger's
    /// SNAPEX_STATE_MACHINE_ARN); the runner runs the real definition.
    pub async fn state_machine(&self) {
        self.admin
            .sfn
            .create_state_machine()
            .name(&self.iam.state_machine.name)
            .definition(r#"{"StartAt":"Wait","States":{"Wait":{"Type":"Pass","End":true}}}"#)
            .role_arn(format!(
                "arn:aws:iam::{ACCOUNT}:role/snapex-ExportStateMachineRole"
            ))
            .send()
            .await
            .unwrap();
    }

    /// The job of every execution of the export state machine, as started.
    pub async fn executions(&self) -> Vec<Job> {
        let sfn = &self.admin.sfn;
        let listed = sfn
            .list_executions()
            .state_machine_arn(&self.iam.state_machine.arn)
            .send()
            .await
            .unwrap();
        let mut jobs = Vec::new();
        for e in listed.executions() {
            let described = sfn
                .describe_execution()
                .execution_arn(e.execution_arn())
                .send()
                .await
                .unwrap();
            let input: StepInput = serde_json::from_str(described.input().unwrap()).unwrap();
            jobs.push(input.job);
        }
        jobs
    }

    /// The DB subnet group the template's DbSubnetGroupName names.
    pub fn db_subnet_group(&self) {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/scripts/db_subnet_group.py"
        );
        let made = self
            .server
            .boto3_script(script, "snapex-db", "creating the DB subnet group");
        assert_eq!(made["name"], "snapex-db");
    }
}

pub fn s3_client(endpoint: &str, bucket: &str, c: &Credentials) -> object_store::aws::AmazonS3 {
    object_store::aws::AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_bucket_name(bucket)
        .with_region(REGION)
        .with_access_key_id(&c.access_key_id)
        .with_secret_access_key(&c.secret_access_key)
        .build()
        .unwrap()
}

/// The Distributed Map's ItemReader: `GetObject` with the state machine role's credentials.
pub struct RoleItems {
    pub endpoint: String,
    pub credentials: Credentials,
}

impl ItemReader for RoleItems {
    fn read<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, TaskFailure>> {
        Box::pin(async move {
            let store = s3_client(&self.endpoint, bucket, &self.credentials);
            let got = store.get(&Path::parse(key).unwrap()).await;
            let bytes = match got {
                Ok(got) => got.bytes().await,
                Err(e) => Err(e),
            };
            bytes
                .map(|b| b.to_vec())
                .map_err(|e| TaskFailure::new("States.ItemReaderFailed", e.to_string()))
        })
    }
}

/// The documented fixture event `fixture`, made to announce snapshot `id` (ARN `arn`).
pub fn snapshot_event(fixture: &str, id: &str, arn: &str, time: &str) -> Value {
    let path = format!(
        "{}/../../tests/fixtures/events/{fixture}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut e: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    e["time"] = time.into();
    e["detail"]["SourceIdentifier"] = id.into();
    e["detail"]["SourceArn"] = arn.into();
    e["resources"] = json!([arn]);
    e
}

/// Each of `expected` (principal, operation) was checked and allowed: the function called AWS
/// with its own credentials, so strict IAM saw the call.
pub fn assert_made(iam: &StrictIam, expected: &[(&str, &str)]) {
    let calls = iam.calls();
    for (principal, operation) in expected {
        assert!(
            calls
                .iter()
                .any(|(p, o, allowed)| p == principal && o == operation && *allowed),
            "{principal} made no allowed {operation}: {calls:#?}"
        );
    }
}

/// The execution's input: the job the trigger started.
pub fn started_job(execution: &snapex_asl::Execution) -> StepInput {
    let input = execution
        .history
        .iter()
        .find_map(|e| match &e.event {
            Event::ExecutionStarted { input } => Some(input.clone()),
            _ => None,
        })
        .unwrap();
    serde_json::from_value(input).unwrap()
}

/// The names of the tables registered in Glue database `database`, sorted.
pub async fn glue_tables(world: &Strict, database: &str) -> Vec<String> {
    glue_locations(world, database).await.into_keys().collect()
}

/// The tables registered in Glue database `database`, with their locations.
pub async fn glue_locations(world: &Strict, database: &str) -> BTreeMap<String, String> {
    let glue = snapex_glue::connect(Some(&world.server.endpoint), None)
        .await
        .unwrap();
    let tables = glue
        .get_tables()
        .database_name(database)
        .send()
        .await
        .unwrap();
    tables
        .table_list()
        .iter()
        .map(|t| {
            let location = t.storage_descriptor().and_then(|s| s.location());
            (
                t.name().to_string(),
                location.unwrap_or_default().to_string(),
            )
        })
        .collect()
}

pub fn entered(execution: &snapex_asl::Execution) -> Vec<String> {
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

/// `statemachine/export.asl.json` with the template's `DefinitionSubstitutions`, resolved: its
/// Tasks name the deployed functions' ARNs.
pub fn definition(iam: &StrictIam) -> Definition {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../statemachine/export.asl.json"
    );
    Definition::parse(
        &std::fs::read_to_string(path).unwrap(),
        &iam.state_machine.definition_substitutions,
    )
    .unwrap()
}

/// Step Functions invokes a Task's function with the state machine's role: the invocation of
/// `resource` fails as Step Functions reports it when the role may not.
pub fn check_invoke(iam: &StrictIam, endpoint: &str, resource: &str) -> Result<(), TaskFailure> {
    iam.check(endpoint, STATE_MACHINE, "lambda:InvokeFunction", resource)
        .map_err(|message| TaskFailure::new("Lambda.AWSLambdaException", message))
}

/// Each Distributed Map run of `execution` starts its children as executions of the state
/// machine: the role must be allowed to.
pub fn check_map_runs(iam: &StrictIam, endpoint: &str, execution: &Execution) {
    for e in &execution.history {
        if matches!(e.event, Event::MapStarted { .. }) {
            iam.check(
                endpoint,
                STATE_MACHINE,
                "states:StartExecution",
                &iam.state_machine.arn,
            )
            .unwrap();
        }
    }
}
