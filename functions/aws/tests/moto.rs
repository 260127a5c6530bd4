//! The steps against moto's RDS, Step Functions, Secrets Manager and S3 on loopback: the
//! trigger starts one execution per snapshot, Restore makes the instance and its secret once,
//! CheckInstance goes from not ready to ready through the password, Cleanup deletes what the
//! export made and nothing else, twice without harm.

use object_store::path::Path;
use serde_json::Value;
use snapex::service::config::ServiceConfig;
use snapex::service::decide::{Decision, decide};
use snapex::service::events::{Classified, classify};
use snapex::service::failures::{FailureRecord, MAP_FAILED, failure_record_path};
use snapex::service::job::{CaughtError, Endpoint, Restored, StepInput};
use snapex::sink::Destination;
use snapex_aws::steps::{check_instance, cleanup, restore, trigger};
mod common;
use common::Moto;

const CONFIG: &str = r#"
destination = "s3://lake/exports"
instance_class = "db.t4g.medium"
restore_deadline_minutes = 30

[[database]]
source = "orders-db"
database = "shop"

[[database]]
source = "billing-cluster"
database = "billing"
"#;

impl Moto {
    /// A PostgreSQL instance `source` and a manual snapshot of it; the snapshot's ARN.
    async fn instance_snapshot(&self, source: &str, snapshot: &str) -> String {
        let rds = &self.ctx.clients.rds;
        rds.create_db_instance()
            .db_instance_identifier(source)
            .engine("postgres")
            .db_instance_class("db.t4g.micro")
            .allocated_storage(20)
            .master_username("admin")
            .master_user_password("original-password")
            .send()
            .await
            .unwrap();
        rds.create_db_snapshot()
            .db_instance_identifier(source)
            .db_snapshot_identifier(snapshot)
            .send()
            .await
            .unwrap()
            .db_snapshot()
            .and_then(|s| s.db_snapshot_arn())
            .unwrap()
            .to_string()
    }

    /// An Aurora PostgreSQL cluster `source` and a manual snapshot of it; the snapshot's ARN.
    async fn cluster_snapshot(&self, source: &str, snapshot: &str) -> String {
        let rds = &self.ctx.clients.rds;
        rds.create_db_cluster()
            .db_cluster_identifier(source)
            .engine("aurora-postgresql")
            .master_username("admin")
            .master_user_password("original-password")
            .send()
            .await
            .unwrap();
        rds.create_db_cluster_snapshot()
            .db_cluster_identifier(source)
            .db_cluster_snapshot_identifier(snapshot)
            .send()
            .await
            .unwrap()
            .db_cluster_snapshot()
            .and_then(|s| s.db_cluster_snapshot_arn())
            .unwrap()
            .to_string()
    }

    /// The state machine's input for a snapshot event, as the trigger makes it.
    fn input(&self, event: &Value, source: &str) -> StepInput {
        let Classified::Created(snapshot) = classify(event).unwrap() else {
            panic!("not a snapshot event")
        };
        let config = ServiceConfig::parse(CONFIG, "test").unwrap();
        let Decision::Start { job, .. } = decide(&config, &snapshot, source) else {
            panic!("not started")
        };
        StepInput {
            job: *job,
            instance: None,
            ready: None,
            plan: None,
            result: None,
            error: None,
        }
    }

    async fn secret_exists(&self, id: &str) -> bool {
        self.ctx
            .clients
            .secrets
            .describe_secret()
            .secret_id(id)
            .send()
            .await
            .is_ok()
    }
}

/// A fixture event made to name `identifier` (with `arn`) instead of its own snapshot.
fn event(fixture: &str, identifier: &str, arn: &str) -> Value {
    let path = format!(
        "{}/../../tests/fixtures/events/{fixture}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut e: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    e["detail"]["SourceIdentifier"] = identifier.into();
    e["detail"]["SourceArn"] = arn.into();
    e["resources"] = serde_json::json!([arn]);
    e
}

#[tokio::test]
async fn the_trigger_starts_one_execution_per_configured_snapshot() {
    let moto = Moto::start(CONFIG).await;
    let arn = moto
        .instance_snapshot("orders-db", "orders-db-manual-1")
        .await;
    let ev = event(
        "db-snapshot-manual-created.json",
        "orders-db-manual-1",
        &arn,
    );

    let first = trigger::handle(ev.clone(), &moto.ctx).await.unwrap();
    assert!(first.started, "{first:?}");
    assert_eq!(
        first.export_id.as_deref(),
        Some("orders-db-20260314T092653Z")
    );
    let execution_arn = first.execution_arn.clone().unwrap();
    let described = moto
        .ctx
        .clients
        .sfn
        .describe_execution()
        .execution_arn(&execution_arn)
        .send()
        .await
        .unwrap();
    let input: StepInput = serde_json::from_str(described.input().unwrap()).unwrap();
    assert_eq!(input.job.export_id, "orders-db-20260314T092653Z");
    assert_eq!(input.job.snapshot.source, "orders-db");
    assert_eq!(input.job.database, "shop");
    assert!(input.instance.is_none());

    // The same event again (EventBridge delivers at least once): nothing new.
    let second = trigger::handle(ev, &moto.ctx).await.unwrap();
    assert!(!second.started, "{second:?}");
    assert_eq!(second.reason.as_deref(), Some("already started"));
    assert_eq!(
        second.execution_arn.as_deref(),
        Some(execution_arn.as_str())
    );

    // A snapshot of a database the configuration does not name.
    let other = moto
        .instance_snapshot("inventory-db", "inventory-db-manual-1")
        .await;
    let ev = event(
        "db-snapshot-manual-created.json",
        "inventory-db-manual-1",
        &other,
    );
    let ignored = trigger::handle(ev, &moto.ctx).await.unwrap();
    assert!(!ignored.started);
    assert!(
        ignored
            .reason
            .as_deref()
            .unwrap()
            .contains("inventory-db is not configured"),
        "{ignored:?}"
    );

    // Not a snapshot event at all: no AWS call needed.
    let ec2: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../../tests/fixtures/events/ec2-instance-state-change.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let ignored = trigger::handle(ec2, &moto.ctx).await.unwrap();
    assert_eq!(
        serde_json::to_value(&ignored).unwrap(),
        serde_json::json!({"started": false, "reason": "not an RDS snapshot event: aws.ec2 \"EC2 Instance State-change Notification\""})
    );

    let executions = moto
        .ctx
        .clients
        .sfn
        .list_executions()
        .state_machine_arn(moto.ctx.settings.state_machine_arn.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(executions.executions().len(), 1);
}

#[tokio::test]
async fn an_instance_is_restored_checked_and_cleaned_up_once() {
    let mut moto = Moto::start(CONFIG).await;
    let arn = moto
        .instance_snapshot("orders-db", "orders-db-manual-2")
        .await;
    let mut input = moto.input(
        &event(
            "db-snapshot-manual-created.json",
            "orders-db-manual-2",
            &arn,
        ),
        "orders-db",
    );
    let temp = input.job.instance.identifier.clone();

    let restored = restore::handle(input.clone(), &moto.ctx).await.unwrap();
    assert_eq!(restored.identifier, temp);
    assert_eq!(restored.cluster_identifier, None);
    assert_eq!(restored.engine, "postgres");
    assert_eq!(restored.poll_seconds, 1);
    let now = chrono::Utc::now().timestamp();
    assert!((now + 29 * 60..=now + 31 * 60).contains(&restored.deadline));
    let rds = &moto.ctx.clients.rds;
    let instance = snapex_aws::rds::describe_instance(rds, &temp)
        .await
        .unwrap()
        .expect("the temporary instance exists");
    assert!(instance.tag_list().iter().any(
        |t| t.key() == Some("snapex:export") && t.value() == Some(input.job.export_id.as_str())
    ));
    let credentials =
        snapex_aws::secrets::credentials(&moto.ctx.clients.secrets, &restored.secret_arn)
            .await
            .unwrap();
    assert_eq!(credentials.username, "admin");
    assert_eq!(credentials.password.len(), 32);
    assert!(!credentials.password.contains(['/', '@', '"', ' ']));

    // A retried Restore finds what the first made.
    let again = restore::handle(input.clone(), &moto.ctx).await.unwrap();
    assert_eq!(again.identifier, restored.identifier);
    assert_eq!(again.secret_arn, restored.secret_arn);
    let again_credentials =
        snapex_aws::secrets::credentials(&moto.ctx.clients.secrets, &again.secret_arn)
            .await
            .unwrap();
    assert_eq!(again_credentials, credentials);

    // Not ready until the password is the secret's; then ready.
    input.instance = Some(restored.clone());
    let first = check_instance::handle(input.clone(), &moto.ctx)
        .await
        .unwrap();
    assert!(!first.ready, "{first:?}");
    assert_eq!(first.endpoint, None);
    let second = check_instance::handle(input.clone(), &moto.ctx)
        .await
        .unwrap();
    assert!(second.ready, "{second:?}");
    assert_eq!(second.status, "available");
    let reported = second.endpoint.clone().unwrap();
    assert!(!reported.host.is_empty());

    // The test-only endpoint override.
    moto.ctx.settings.test_db_endpoint = Some(Endpoint {
        host: "127.0.0.1".into(),
        port: 5432,
    });
    let overridden = check_instance::handle(input.clone(), &moto.ctx)
        .await
        .unwrap();
    let endpoint = overridden.endpoint.unwrap();
    assert_eq!(endpoint.host, "127.0.0.1");
    let url = snapex_aws::source_url(&moto.ctx.clients, &input.job, &restored, &endpoint)
        .await
        .unwrap();
    assert!(url.starts_with("postgres://admin:"), "scheme and user");
    assert!(url.ends_with("@127.0.0.1:5432/shop"), "host and database");
    snapex::source::SourceUrl::parse(&url).unwrap();

    // Past the deadline: RestoreDeadline, by name.
    let mut late = input.clone();
    late.instance = Some(Restored {
        deadline: now - 1,
        ..restored.clone()
    });
    let e = check_instance::handle(late, &moto.ctx).await.unwrap_err();
    assert_eq!(e.name, "RestoreDeadline", "{e}");

    // Cleanup deletes the instance and the secret; a second run finds nothing to do.
    let cleaned = cleanup::handle(input.clone(), &moto.ctx).await.unwrap();
    assert_eq!(
        cleaned.deleted,
        vec![temp.clone(), restored.secret_arn.clone()]
    );
    assert_eq!((cleaned.error, cleaned.cause), (None, None));
    assert!(
        snapex_aws::rds::describe_instance(rds, &temp)
            .await
            .unwrap()
            .is_none()
    );
    assert!(!moto.secret_exists(&restored.secret_arn).await);
    let again = cleanup::handle(input.clone(), &moto.ctx).await.unwrap();
    assert!(again.deleted.is_empty(), "{again:?}");
    drop(moto.server);
}

#[tokio::test]
async fn cleanup_after_a_failed_restore_and_a_failed_map() {
    let moto = Moto::start(CONFIG).await;
    let arn = moto
        .instance_snapshot("orders-db", "orders-db-manual-3")
        .await;
    let mut input = moto.input(
        &event(
            "db-snapshot-manual-created.json",
            "orders-db-manual-3",
            &arn,
        ),
        "orders-db",
    );
    let export_id = input.job.export_id.clone();
    restore::handle(input.clone(), &moto.ctx).await.unwrap();

    // Restore's result lost (it failed after making the instance): the job's names suffice.
    input.error = Some(CaughtError {
        error: MAP_FAILED.into(),
        cause: "The specified tolerated failure threshold was exceeded".into(),
    });
    let lake = Destination::open("s3://lake/exports", Some(&moto.server.endpoint)).unwrap();
    for (chunk, cause) in [(7, "seventh"), (2, "permission denied for table secrets")] {
        let record = FailureRecord {
            chunk,
            error: "InvalidInput".into(),
            cause: cause.into(),
            attempts: 1,
        };
        let path = Path::from(format!(
            "exports/{}",
            failure_record_path(&export_id, chunk)
        ));
        lake.put(&path, serde_json::to_vec(&record).unwrap())
            .await
            .unwrap();
    }
    let cleaned = cleanup::handle(input.clone(), &moto.ctx).await.unwrap();
    assert_eq!(cleaned.deleted.len(), 2, "{cleaned:?}");
    assert_eq!(cleaned.deleted[1], format!("snapex/{export_id}"));
    assert_eq!(cleaned.error.as_deref(), Some("InvalidInput"));
    assert_eq!(
        cleaned.cause.as_deref(),
        Some("chunk 2: permission denied for table secrets")
    );
}

#[tokio::test]
async fn what_is_not_this_exports_is_neither_adopted_nor_deleted() {
    let moto = Moto::start(CONFIG).await;
    let arn = moto
        .instance_snapshot("orders-db", "orders-db-manual-4")
        .await;
    let input = moto.input(
        &event(
            "db-snapshot-manual-created.json",
            "orders-db-manual-4",
            &arn,
        ),
        "orders-db",
    );
    let temp = input.job.instance.identifier.clone();
    // Someone else's instance under the temporary identifier.
    moto.ctx
        .clients
        .rds
        .create_db_instance()
        .db_instance_identifier(&temp)
        .engine("postgres")
        .db_instance_class("db.t4g.micro")
        .allocated_storage(20)
        .master_username("someone")
        .master_user_password("their-password")
        .send()
        .await
        .unwrap();
    let e = restore::handle(input.clone(), &moto.ctx).await.unwrap_err();
    assert_eq!(e.name, "InvalidInput");
    assert!(e.message.contains("is not this export's"), "{e}");

    let cleaned = cleanup::handle(input, &moto.ctx).await.unwrap();
    // The secret Restore made is deleted; the stranger's instance is not.
    assert_eq!(cleaned.deleted.len(), 1, "{cleaned:?}");
    assert!(
        snapex_aws::rds::describe_instance(&moto.ctx.clients.rds, &temp)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_cluster_snapshot_gets_a_cluster_and_an_instance() {
    let moto = Moto::start(CONFIG).await;
    let arn = moto
        .cluster_snapshot("billing-cluster", "billing-cluster-manual-1")
        .await;
    let mut input = moto.input(
        &event(
            "cluster-snapshot-manual-created.json",
            "billing-cluster-manual-1",
            &arn,
        ),
        "billing-cluster",
    );
    let restored = restore::handle(input.clone(), &moto.ctx).await.unwrap();
    let cluster = restored.cluster_identifier.clone().unwrap();
    assert_eq!(restored.engine, "aurora-postgresql");
    let rds = &moto.ctx.clients.rds;
    assert!(
        snapex_aws::rds::describe_cluster(rds, &cluster)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        snapex_aws::rds::describe_instance(rds, &restored.identifier)
            .await
            .unwrap()
            .is_some()
    );
    // Idempotent too.
    restore::handle(input.clone(), &moto.ctx).await.unwrap();

    input.instance = Some(restored.clone());
    let first = check_instance::handle(input.clone(), &moto.ctx)
        .await
        .unwrap();
    assert!(!first.ready, "{first:?}");
    let second = check_instance::handle(input.clone(), &moto.ctx)
        .await
        .unwrap();
    assert!(second.ready, "{second:?}");

    let cleaned = cleanup::handle(input.clone(), &moto.ctx).await.unwrap();
    assert_eq!(
        cleaned.deleted,
        vec![
            restored.identifier.clone(),
            cluster.clone(),
            restored.secret_arn.clone()
        ]
    );
    assert!(
        snapex_aws::rds::describe_cluster(rds, &cluster)
            .await
            .unwrap()
            .is_none()
    );
    let again = cleanup::handle(input, &moto.ctx).await.unwrap();
    assert!(again.deleted.is_empty(), "{again:?}");
}
