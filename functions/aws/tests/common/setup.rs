//! Setup the functions' tests share: the fixture events (as they are, or made to name another
//! snapshot), the state machine's input the trigger makes for one, and the sources and
//! snapshots the tests export, made through moto's RDS as a client of RDS makes them.

use aws_sdk_sfn::types::ExecutionListItem;
use serde_json::Value;
use snapex::service::config::ServiceConfig;
use snapex::service::decide::{Decision, decide};
use snapex::service::events::{Classified, classify};
use snapex::service::job::StepInput;

use super::{Moto, poll_cluster, poll_instance};

/// The event `name` of `tests/fixtures/events/`.
pub fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../../tests/fixtures/events/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The fixture event `name` made to name `identifier` (with `arn`) instead of its own snapshot.
pub fn event(name: &str, identifier: &str, arn: &str) -> Value {
    let mut e = fixture(name);
    e["detail"]["SourceIdentifier"] = identifier.into();
    e["detail"]["SourceArn"] = arn.into();
    e["resources"] = serde_json::json!([arn]);
    e
}

/// The state machine's input for the snapshot `event` of `source` under the export
/// configuration `config`, as the trigger makes it: the job, and nothing of the steps yet.
pub fn start_input(config: &str, event: &Value, source: &str) -> StepInput {
    let Classified::Created(snapshot) = classify(event).unwrap() else {
        panic!("not a snapshot event")
    };
    let config = ServiceConfig::parse(config, "test").unwrap();
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

impl Moto {
    /// The executions of the state machine, as Step Functions lists them.
    pub async fn executions_listed(&self) -> Vec<ExecutionListItem> {
        self.ctx
            .clients
            .sfn
            .list_executions()
            .state_machine_arn(self.ctx.settings.state_machine_arn.as_deref().unwrap())
            .send()
            .await
            .unwrap()
            .executions()
            .to_vec()
    }

    /// A PostgreSQL instance `source`, once RDS reports it available (RDS snapshots only
    /// those).
    pub async fn available_instance(&self, source: &str) {
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
        poll_instance(rds, source, Some("available")).await;
    }

    /// A PostgreSQL instance `source` and a manual snapshot of it; the snapshot's ARN.
    pub async fn instance_snapshot(&self, source: &str, snapshot: &str) -> String {
        self.available_instance(source).await;
        instance_snapshot(&self.ctx.clients.rds, source, snapshot).await
    }

    /// A PostgreSQL instance `source`, a manual snapshot `snapshot` of it, and the event RDS
    /// sends once the snapshot is made.
    pub async fn instance_snapshot_event(&self, source: &str, snapshot: &str) -> Value {
        let arn = self.instance_snapshot(source, snapshot).await;
        event("db-snapshot-manual-created.json", snapshot, &arn)
    }

    /// An Aurora PostgreSQL cluster `source` and a manual snapshot of it; the snapshot's ARN.
    pub async fn cluster_snapshot(&self, source: &str, snapshot: &str) -> String {
        let rds = &self.ctx.clients.rds;
        aurora_cluster_snapshot(rds, source, snapshot, "admin", "original-password").await
    }
}

/// A manual snapshot `snapshot` of the instance `source`, taken once RDS reports the instance
/// available (as RDS requires); the snapshot's ARN.
pub async fn instance_snapshot(rds: &aws_sdk_rds::Client, source: &str, snapshot: &str) -> String {
    poll_instance(rds, source, Some("available")).await;
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

/// An Aurora PostgreSQL cluster `source` with master `user`, and once it is available a
/// manual snapshot `snapshot` of it; the snapshot's ARN.
pub async fn aurora_cluster_snapshot(
    rds: &aws_sdk_rds::Client,
    source: &str,
    snapshot: &str,
    user: &str,
    password: &str,
) -> String {
    rds.create_db_cluster()
        .db_cluster_identifier(source)
        .engine("aurora-postgresql")
        .master_username(user)
        .master_user_password(password)
        .send()
        .await
        .unwrap();
    poll_cluster(rds, source, Some("available")).await;
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

/// The identifiers of every DB instance RDS lists.
pub async fn instance_ids(rds: &aws_sdk_rds::Client) -> Vec<String> {
    let instances = rds.describe_db_instances().send().await.unwrap();
    instances
        .db_instances()
        .iter()
        .filter_map(|i| i.db_instance_identifier())
        .map(String::from)
        .collect()
}
