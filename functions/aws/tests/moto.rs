//! The steps against moto's RDS (strict about RDS's lifecycle, see `tests/aws/strict_rds.py`),
//! Step Functions, Secrets Manager and S3 on loopback: the trigger starts one execution per
//! snapshot, Restore makes the instance (or only the cluster) and its secret once, CheckInstance
//! waits through RDS's states, creates a cluster's instance once the cluster is available and
//! goes to ready through the password, Cleanup deletes what the export made and nothing else,
//! twice without harm.

use object_store::path::Path;
use serde_json::Value;
use snapex::service::failures::{MAP_FAILED, failure_record_path};
use snapex::service::job::{
    CaughtError, Endpoint, Finalized, ItemsLocation, Readiness, Registration, Restored, StepInput,
};
use snapex::sink::Destination;
use snapex::work::FailureRecord;
use snapex_aws::steps::{check_instance, cleanup, register, restore, trigger};
mod common;
use common::setup::{event, start_input};
use common::{Moto, PASS_MACHINE, RdsCall, RdsCalls, poll_cluster, poll_instance};

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
    /// The state machine's input for a snapshot event, as the trigger makes it.
    fn input(&self, event: &Value, source: &str) -> StepInput {
        start_input(CONFIG, event, source)
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

/// CheckInstance as the state machine runs it: again after each not-ready answer, with the
/// last answer in `$.ready`, until ready. Every answer, in order; none may be an error.
async fn check_until_ready(input: &mut StepInput, ctx: &snapex_aws::Context) -> Vec<Readiness> {
    let mut answers = vec![];
    for _ in 0..200 {
        let answer = check_instance::handle(input.clone(), ctx)
            .await
            .unwrap_or_else(|e| panic!("check {}: {e} (after {answers:?})", answers.len() + 1));
        input.ready = Some(answer.clone());
        answers.push(answer.clone());
        if answer.ready {
            return answers;
        }
    }
    panic!("not ready after 200 checks: {answers:?}")
}

/// The statuses of `answers`, one per check.
fn statuses(answers: &[Readiness]) -> Vec<&str> {
    answers.iter().map(|a| a.status.as_str()).collect()
}

#[tokio::test]
async fn the_trigger_starts_one_execution_per_configured_snapshot() {
    let moto = Moto::start(CONFIG).await;
    let ev = moto
        .instance_snapshot_event("orders-db", "orders-db-manual-1")
        .await;

    let first = trigger::handle(ev.clone(), &moto.ctx).await.unwrap();
    assert!(first.started, "{first:?}");
    // Named after when RDS says the snapshot was taken, not when its event was sent: the
    // sweep, which has no event, names it the same way.
    let taken = snapex_aws::rds::describe::describe_snapshot(
        &moto.ctx.clients.rds,
        snapex::service::job::SnapshotKind::Instance,
        "orders-db-manual-1",
    )
    .await
    .unwrap()
    .created_at
    .unwrap();
    let export_id = format!("orders-db-{}", taken.format("%Y%m%dT%H%M%SZ"));
    assert_ne!(export_id, "orders-db-20260314T092653Z", "the event's time");
    assert_eq!(first.export_id.as_deref(), Some(export_id.as_str()));
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
    assert_eq!(input.job.export_id, export_id);
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
    let ev = moto
        .instance_snapshot_event("inventory-db", "inventory-db-manual-1")
        .await;
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

    assert_eq!(moto.executions_listed().await.len(), 1);
}

#[tokio::test]
async fn the_deployment_gives_the_destination_and_the_glue_database() {
    // No glue_database (and then no destination either): the stack's Glue database and
    // bucket, from SNAPEX_GLUE_DATABASE and SNAPEX_EXPORT_BUCKET, which its policies allow.
    let entry = "[[database]]\nsource = \"orders-db\"\ndatabase = \"shop\"\n";
    for (config, destination) in [
        (
            format!("destination = \"s3://lake/shop\"\n{entry}"),
            "s3://lake/shop",
        ),
        (entry.to_string(), "s3://lake/exports"),
    ] {
        let mut moto = Moto::start(&config).await;
        // The settings as the function reads them from its environment.
        let machine = moto.ctx.settings.state_machine_arn.clone();
        let endpoint = moto.server.endpoint.clone();
        moto.ctx.settings = snapex_aws::Settings::from_lookup(|k| match k {
            "SNAPEX_CONFIG" => Some("s3://cfg/snapex.toml".into()),
            "SNAPEX_STATE_MACHINE_ARN" => machine.clone(),
            "AWS_ENDPOINT_URL" => Some(endpoint.clone()),
            "SNAPEX_EXPORT_BUCKET" => Some("lake".into()),
            "SNAPEX_GLUE_DATABASE" => Some("snapex".into()),
            _ => None,
        })
        .unwrap();
        let ev = moto
            .instance_snapshot_event("orders-db", "orders-db-manual-1")
            .await;
        let out = trigger::handle(ev, &moto.ctx).await.unwrap();
        assert!(out.started, "{out:?}");
        let described = moto
            .ctx
            .clients
            .sfn
            .describe_execution()
            .execution_arn(out.execution_arn.unwrap())
            .send()
            .await
            .unwrap();
        let input: StepInput = serde_json::from_str(described.input().unwrap()).unwrap();
        assert_eq!(
            input.job.glue_database.as_deref(),
            Some("snapex"),
            "{config}"
        );
        assert_eq!(input.job.destination, destination);
    }
}

#[tokio::test]
async fn an_instance_is_restored_checked_and_cleaned_up_once() {
    let mut moto = Moto::start(CONFIG).await;
    let ev = moto
        .instance_snapshot_event("orders-db", "orders-db-manual-2")
        .await;
    let calls = RdsCalls::default();
    moto.ctx.clients.rds = calls.record(&moto.ctx.clients.rds);
    let mut input = moto.input(&ev, "orders-db");
    let temp = input.job.instance.identifier.clone();

    let restored = restore::handle(input.clone(), &moto.ctx).await.unwrap();
    assert_eq!(restored.identifier, temp);
    assert_eq!(restored.cluster_identifier, None);
    assert_eq!(restored.engine, "postgres");
    assert_eq!(restored.poll_seconds, 1);
    let now = chrono::Utc::now().timestamp();
    assert!((now + 29 * 60..=now + 31 * 60).contains(&restored.deadline));
    let rds = &moto.ctx.clients.rds;
    let instance = snapex_aws::rds::describe::describe_instance(rds, &temp)
        .await
        .unwrap()
        .expect("the temporary instance exists");
    // A throwaway copy takes no automated backups.
    assert_eq!(instance.backup_retention_period(), Some(0));
    assert_eq!(
        calls.calls(),
        [RdsCall::RestoreDbInstance {
            instance: temp.clone(),
            backup_retention: Some(0)
        }]
    );
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

    // Not ready while RDS restores, nor until the password is the secret's; then ready.
    input.instance = Some(restored.clone());
    let answers = check_until_ready(&mut input, &moto.ctx).await;
    let (last, waiting) = answers.split_last().unwrap();
    assert!(
        waiting.iter().all(|a| !a.ready && a.endpoint.is_none()),
        "{answers:?}"
    );
    let seen = statuses(waiting);
    assert!(
        ["creating", "modifying"].contains(&seen[0]),
        "the first check finds RDS restoring: {seen:?}"
    );
    assert!(seen.contains(&"resetting-master-credentials"), "{seen:?}");
    assert!(
        !seen.contains(&"backing-up"),
        "no automated backup of a throwaway copy: {seen:?}"
    );
    assert_eq!(last.status, "available");
    let modified: Vec<_> = calls
        .calls()
        .into_iter()
        .filter(|c| matches!(c, RdsCall::ModifyDbInstance { .. }))
        .collect();
    assert_eq!(
        modified,
        [RdsCall::ModifyDbInstance {
            instance: temp.clone(),
            password: Some(credentials.password.clone())
        }],
        "the password is set once, to the secret's"
    );
    let reported = last.endpoint.clone().unwrap();
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
    let deleting = poll_instance(rds, &temp, None).await;
    assert!(
        !deleting.is_empty() && deleting.iter().all(|s| s == "deleting"),
        "{deleting:?}"
    );
    assert!(!moto.secret_exists(&restored.secret_arn).await);
    let again = cleanup::handle(input.clone(), &moto.ctx).await.unwrap();
    assert!(again.deleted.is_empty(), "{again:?}");
    drop(moto.server);
}

#[tokio::test]
async fn cleanup_after_a_failed_restore_and_a_failed_map() {
    let moto = Moto::start(CONFIG).await;
    let ev = moto
        .instance_snapshot_event("orders-db", "orders-db-manual-3")
        .await;
    let mut input = moto.input(&ev, "orders-db");
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
async fn a_failed_registration_batch_records_why_and_cleanup_reports_that_batch() {
    let moto = Moto::start(CONFIG).await;
    let ev = moto
        .instance_snapshot_event("orders-db", "orders-db-manual-5")
        .await;
    let mut input = moto.input(&ev, "orders-db");
    let export_id = input.job.export_id.clone();
    restore::handle(input.clone(), &moto.ctx).await.unwrap();

    // A batch of an export that is not there (not published): the step fails, and records
    // why under the export's _work/glue-failed/.
    let item = serde_json::json!({"batch": 3, "of": 10, "tables": [{"name": "orders"}]});
    let batch = register::RegisterInput {
        job: input.job.clone(),
        item: serde_json::from_value(item).unwrap(),
        requests_per_second: 5,
    };
    let e = register::handle(batch, &moto.ctx).await.unwrap_err();
    assert_eq!(e.name, "InvalidInput", "{e}");
    assert!(e.message.contains("is not a published export"), "{e}");
    let lake = Destination::open("s3://lake/exports", Some(&moto.server.endpoint)).unwrap();
    let recorded = lake
        .get(&Path::from(format!(
            "exports/{export_id}/_work/glue-failed/3.json"
        )))
        .await
        .unwrap();
    let recorded: Value = serde_json::from_slice(&recorded).unwrap();
    assert_eq!(recorded["batch"], 3);
    assert_eq!(recorded["error"], "InvalidInput");

    // A chunk's failure record of an earlier attempt is there too; Finalize's result in the
    // state says the failed Map is RegisterTables, so Cleanup reports the batch.
    let chunk = FailureRecord {
        chunk: 0,
        error: "Retryable".into(),
        cause: "an earlier attempt's".into(),
        attempts: 1,
    };
    let path = Path::from(format!("exports/{}", failure_record_path(&export_id, 0)));
    lake.put(&path, serde_json::to_vec(&chunk).unwrap())
        .await
        .unwrap();
    input.error = Some(CaughtError {
        error: MAP_FAILED.into(),
        cause: "The specified tolerated failure threshold was exceeded".into(),
    });
    input.result = Some(Finalized {
        export_id: export_id.clone(),
        manifest: format!("s3://lake/exports/{export_id}/manifest.json"),
        tables: 10,
        files: 10,
        rows: 100,
        bytes: 1000,
        registration: Registration {
            database: "orders".into(),
            items: ItemsLocation {
                bucket: "lake".into(),
                key: format!("exports/{export_id}/_work/glue-batches.jsonl"),
            },
            batches: 4,
            concurrency: 4,
            requests_per_second: 5,
        },
    });
    let cleaned = cleanup::handle(input, &moto.ctx).await.unwrap();
    assert_eq!(cleaned.error.as_deref(), Some("InvalidInput"));
    let cause = cleaned.cause.unwrap();
    assert!(cause.starts_with("Glue registration, batch 3: "), "{cause}");
    assert!(cause.contains("is not a published export"), "{cause}");
}

#[tokio::test]
async fn what_is_not_this_exports_is_neither_adopted_nor_deleted() {
    let moto = Moto::start(CONFIG).await;
    let ev = moto
        .instance_snapshot_event("orders-db", "orders-db-manual-4")
        .await;
    let input = moto.input(&ev, "orders-db");
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
        snapex_aws::rds::describe::describe_instance(&moto.ctx.clients.rds, &temp)
            .await
            .unwrap()
            .is_some()
    );
}

impl Moto {
    /// An Aurora PostgreSQL cluster snapshot restored by Restore, with every RDS call from
    /// then on recorded: the state for CheckInstance, the recorder, and the cluster's name.
    async fn restored_cluster(&mut self, snapshot: &str) -> (StepInput, RdsCalls, String) {
        let arn = self.cluster_snapshot("billing-cluster", snapshot).await;
        let mut input = self.input(
            &event("cluster-snapshot-manual-created.json", snapshot, &arn),
            "billing-cluster",
        );
        let calls = RdsCalls::default();
        self.ctx.clients.rds = calls.record(&self.ctx.clients.rds);
        let restored = restore::handle(input.clone(), &self.ctx).await.unwrap();
        assert_eq!(restored.engine, "aurora-postgresql");
        let cluster = restored.cluster_identifier.clone().unwrap();
        input.instance = Some(restored);
        (input, calls, cluster)
    }
}

#[tokio::test]
async fn a_cluster_snapshot_is_restored_then_its_instance_made_once_the_cluster_is_available() {
    let mut moto = Moto::start(CONFIG).await;
    let (mut input, calls, cluster) = moto.restored_cluster("billing-cluster-manual-1").await;
    let restored = input.instance.clone().unwrap();
    let instance = restored.identifier.clone();
    let rds = moto.ctx.clients.rds.clone();

    // Restore only restores: the cluster, kept one day (Aurora's least), and no instance yet.
    assert_eq!(
        calls.calls(),
        [RdsCall::RestoreDbCluster {
            cluster: cluster.clone(),
            backup_retention: Some(1)
        }]
    );
    let found = snapex_aws::rds::describe::describe_cluster(&rds, &cluster)
        .await
        .unwrap()
        .expect("the cluster exists");
    assert_eq!(found.backup_retention_period(), Some(1));
    assert!(
        snapex_aws::rds::describe::describe_instance(&rds, &instance)
            .await
            .unwrap()
            .is_none()
    );
    // Idempotent: a retried Restore finds the cluster and restores nothing.
    restore::handle(input.clone(), &moto.ctx).await.unwrap();
    assert_eq!(calls.calls().len(), 1, "{:?}", calls.calls());

    // CheckInstance waits for the cluster, creates its instance once, waits for it, sets the
    // cluster's password, waits for that, and is ready.
    let answers = check_until_ready(&mut input, &moto.ctx).await;
    let (last, waiting) = answers.split_last().unwrap();
    assert!(waiting.iter().all(|a| !a.ready), "{answers:?}");
    let seen = statuses(waiting);
    assert_eq!(
        seen[0], "creating",
        "the cluster is being restored: {seen:?}"
    );
    assert!(seen.contains(&"resetting-master-credentials"), "{seen:?}");
    assert_eq!(last.status, "available");
    assert!(last.endpoint.is_some(), "{last:?}");
    let credentials =
        snapex_aws::secrets::credentials(&moto.ctx.clients.secrets, &restored.secret_arn)
            .await
            .unwrap();
    assert_eq!(
        calls.calls()[1..],
        [
            RdsCall::CreateDbInstance {
                instance: instance.clone(),
                cluster: Some(cluster.clone())
            },
            RdsCall::ModifyDbCluster {
                cluster: cluster.clone(),
                password: Some(credentials.password.clone())
            }
        ],
        "one CreateDBInstance (strict RDS refuses it before the cluster is available), then \
         the password"
    );
    let made = snapex_aws::rds::describe::describe_instance(&rds, &instance)
        .await
        .unwrap()
        .expect("the cluster's instance exists");
    assert_eq!(made.db_cluster_identifier(), Some(cluster.as_str()));
    assert!(made.tag_list().iter().any(
        |t| t.key() == Some("snapex:export") && t.value() == Some(input.job.export_id.as_str())
    ));
    assert_eq!(made.backup_retention_period(), Some(1), "the cluster's");

    let cleaned = cleanup::handle(input.clone(), &moto.ctx).await.unwrap();
    assert_eq!(
        cleaned.deleted,
        vec![
            instance.clone(),
            cluster.clone(),
            restored.secret_arn.clone()
        ]
    );
    poll_cluster(&rds, &cluster, None).await;
    poll_instance(&rds, &instance, None).await;
    let again = cleanup::handle(input, &moto.ctx).await.unwrap();
    assert!(again.deleted.is_empty(), "{again:?}");
}

#[tokio::test]
async fn a_slow_restore_only_ever_answers_not_ready() {
    // The cluster stays `creating` for 80 checks: 40 minutes at the default 30 s wait.
    let hooks = ["strict_rds.py=polls:1,creating:80"];
    let mut moto = Moto::with_hooks(CONFIG, PASS_MACHINE, &hooks).await;
    let (mut input, calls, _) = moto.restored_cluster("billing-cluster-manual-2").await;
    let answers = check_until_ready(&mut input, &moto.ctx).await;
    let (last, waiting) = answers.split_last().unwrap();
    assert!(waiting.len() >= 80, "{} checks", answers.len());
    assert!(
        waiting[..80]
            .iter()
            .all(|a| !a.ready && a.status == "creating"),
        "{answers:?}"
    );
    assert!(last.ready, "{last:?}");
    let created = calls
        .calls()
        .iter()
        .filter(|c| matches!(c, RdsCall::CreateDbInstance { .. }))
        .count();
    assert_eq!(created, 1, "{:?}", calls.calls());
}

#[tokio::test]
async fn a_clusters_instance_that_vanishes_is_gone_not_made_again() {
    let mut moto = Moto::start(CONFIG).await;
    let (mut input, calls, cluster) = moto.restored_cluster("billing-cluster-manual-3").await;
    check_until_ready(&mut input, &moto.ctx).await;
    assert!(input.ready.as_ref().unwrap().instance_seen);
    let instance = input.instance.clone().unwrap().identifier;

    // Someone deletes the instance: `deleting` is a state it does not leave by itself.
    let rds = moto.ctx.clients.rds.clone();
    rds.delete_db_instance()
        .db_instance_identifier(&instance)
        .skip_final_snapshot(true)
        .send()
        .await
        .unwrap();
    let e = check_instance::handle(input.clone(), &moto.ctx)
        .await
        .unwrap_err();
    assert_eq!(e.name, "InvalidInput", "{e}");
    assert!(
        e.message.contains("is deleting: it is being deleted"),
        "{e}"
    );

    // Once RDS is done: gone, and not created again.
    poll_instance(&rds, &instance, None).await;
    let e = check_instance::handle(input.clone(), &moto.ctx)
        .await
        .unwrap_err();
    assert_eq!(e.name, "InvalidInput", "{e}");
    assert_eq!(
        e.message,
        format!("the temporary instance {instance} no longer exists (deleted by someone else?)")
    );
    let created = |calls: &RdsCalls| {
        calls
            .calls()
            .iter()
            .filter(|c| matches!(c, RdsCall::CreateDbInstance { .. }))
            .count()
    };
    assert_eq!(created(&calls), 1);

    // Without that memory (a state from before the instance was made), a cluster alone is one
    // whose instance is still to be made.
    input.ready = None;
    let answer = check_instance::handle(input, &moto.ctx).await.unwrap();
    assert!(!answer.ready && answer.instance_seen, "{answer:?}");
    assert_eq!(answer.status, "creating");
    assert_eq!(created(&calls), 2);
    let made = snapex_aws::rds::describe::describe_instance(&rds, &instance)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(made.db_cluster_identifier(), Some(cluster.as_str()));
}
