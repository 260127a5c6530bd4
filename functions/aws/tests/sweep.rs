//! The trigger's scheduled sweep against moto's RDS, Step Functions and S3 on loopback: a
//! snapshot whose event never came is started by the sweep, once; an event and a sweep for the
//! same snapshot, in either order, start one execution; snapshots of sources the configuration
//! does not name are not touched, and one RDS is still making is left for a later sweep.
//! moto runs with the `snapshot_status.py` hook, so a snapshot can be "creating", and with
//! strict RDS, as the other functions' tests.

use serde_json::Value;
use snapex::service::job::StepInput;
use snapex::sink::Destination;
use snapex_aws::steps::trigger::{self, Answer};
use snapex_aws::{Clients, Context, Settings};
use snapex_tests::{S3Server, fake_aws_env};
mod common;
use common::{Moto, PASS_MACHINE, STRICT_RDS, poll_cluster, poll_instance};

/// No destination and no Glue database: the deployment's apply. Manual snapshots only: moto,
/// as RDS, makes an automated one when it creates an instance or a cluster, which the sweep
/// then lists and leaves alone.
const CONFIG: &str = r#"
[[database]]
source = "orders-db"
database = "shop"
snapshots = "manual"

[[database]]
source = "billing-cluster"
database = "billing"
snapshots = "manual"
"#;

/// moto with strict RDS and the snapshot-status hook, `CONFIG` at `s3://cfg/snapex.toml`, a
/// state machine that does nothing, and the deployment's settings: export bucket `lake`, Glue
/// database `snapex`.
async fn moto() -> Moto {
    fake_aws_env();
    let server = S3Server::start_strict(&[STRICT_RDS, "snapshot_status.py"]);
    server.create_bucket("cfg");
    server.create_bucket("lake");
    let cfg = Destination::open("s3://cfg", Some(&server.endpoint)).unwrap();
    cfg.put(
        &object_store::path::Path::from("snapex.toml"),
        CONFIG.as_bytes().to_vec(),
    )
    .await
    .unwrap();
    let clients = Clients::connect(Some(&server.endpoint)).await;
    let machine = clients
        .sfn
        .create_state_machine()
        .name("snapex-export")
        .definition(PASS_MACHINE)
        .role_arn("arn:aws:iam::123456789012:role/snapex-export")
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_string();
    let settings = Settings {
        config_url: Some("s3://cfg/snapex.toml".into()),
        state_machine_arn: Some(machine),
        export_bucket: Some("lake".into()),
        glue_database: Some("snapex".into()),
        sweep_hours: 24,
        endpoint_url: Some(server.endpoint.clone()),
        ..Settings::default()
    };
    Moto {
        server,
        ctx: Context { clients, settings },
    }
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../../tests/fixtures/events/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A fixture event made to name `identifier` (with `arn`) instead of its own snapshot.
fn event(name: &str, identifier: &str, arn: &str) -> Value {
    let mut e = fixture(name);
    e["detail"]["SourceIdentifier"] = identifier.into();
    e["detail"]["SourceArn"] = arn.into();
    e["resources"] = serde_json::json!([arn]);
    e
}

/// The status tag the hook reads: a snapshot RDS is still making.
fn creating() -> aws_sdk_rds::types::Tag {
    aws_sdk_rds::types::Tag::builder()
        .key("test:status")
        .value("creating")
        .build()
}

impl Moto {
    /// An instance `source`, once RDS reports it available (RDS snapshots only those).
    async fn instance(&self, source: &str) {
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

    /// A snapshot of the instance `source`; its ARN.
    async fn snapshot(&self, source: &str, id: &str, still_creating: bool) -> String {
        let mut call = self
            .ctx
            .clients
            .rds
            .create_db_snapshot()
            .db_instance_identifier(source)
            .db_snapshot_identifier(id);
        if still_creating {
            call = call.tags(creating());
        }
        let out = call.send().await.unwrap();
        out.db_snapshot().unwrap().db_snapshot_arn().unwrap().into()
    }

    /// An Aurora cluster `source` and a snapshot of it; the snapshot's ARN.
    async fn cluster_snapshot(&self, source: &str, id: &str) -> String {
        let rds = &self.ctx.clients.rds;
        rds.create_db_cluster()
            .db_cluster_identifier(source)
            .engine("aurora-postgresql")
            .master_username("admin")
            .master_user_password("original-password")
            .send()
            .await
            .unwrap();
        poll_cluster(rds, source, Some("available")).await;
        let out = rds
            .create_db_cluster_snapshot()
            .db_cluster_identifier(source)
            .db_cluster_snapshot_identifier(id)
            .send()
            .await
            .unwrap();
        let s = out.db_cluster_snapshot().unwrap();
        s.db_cluster_snapshot_arn().unwrap().into()
    }

    /// Every execution of the state machine: its name and its input's job.
    async fn executions(&self) -> Vec<(String, StepInput)> {
        let sfn = &self.ctx.clients.sfn;
        let listed = sfn
            .list_executions()
            .state_machine_arn(self.ctx.settings.state_machine_arn.as_deref().unwrap())
            .send()
            .await
            .unwrap();
        let mut out = Vec::new();
        for e in listed.executions() {
            let d = sfn
                .describe_execution()
                .execution_arn(e.execution_arn())
                .send()
                .await
                .unwrap();
            let input: StepInput = serde_json::from_str(d.input().unwrap()).unwrap();
            out.push((e.name().to_string(), input));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// One sweep, as the schedule runs it: the scheduled event through the function's handler.
    async fn sweep(&self) -> snapex::service::sweep::SweepOutcome {
        match trigger::handle_invocation(fixture("scheduled-event.json"), &self.ctx)
            .await
            .unwrap()
        {
            Answer::Sweep(out) => out,
            other => panic!("not a sweep: {other:?}"),
        }
    }
}

#[tokio::test]
async fn snapshots_without_events_are_started_by_the_sweep_once() {
    let moto = moto().await;
    moto.instance("orders-db").await;
    moto.snapshot("orders-db", "orders-db-manual-1", false)
        .await;
    moto.cluster_snapshot("billing-cluster", "billing-cluster-manual-1")
        .await;

    let first = moto.sweep().await;
    assert_eq!(first.sources, 2);
    // Each source's manual snapshot and the automated one of its creation.
    assert_eq!(first.snapshots, 4, "{first:?}");
    assert_eq!(first.started.len(), 2, "{first:?}");
    assert_eq!((first.already_started, first.ignored), (0, 2));
    assert!(first.refused.is_empty());
    let executions = moto.executions().await;
    assert_eq!(executions.len(), 2, "{executions:?}");
    let mut snapshots: Vec<_> = executions
        .iter()
        .map(|(_, i)| i.job.snapshot.identifier.as_str())
        .collect();
    snapshots.sort();
    assert_eq!(
        snapshots,
        ["billing-cluster-manual-1", "orders-db-manual-1"]
    );
    for (name, input) in &executions {
        assert!(first.started.contains(&input.job.export_id), "{name}");
        // The deployment's defaults: the configuration names neither.
        assert_eq!(input.job.destination, "s3://lake/exports");
        assert_eq!(input.job.glue_database.as_deref(), Some("snapex"));
    }

    // The next sweep finds them started.
    let second = moto.sweep().await;
    assert!(second.started.is_empty(), "{second:?}");
    assert_eq!(second.already_started, 2);
    assert_eq!(moto.executions().await.len(), 2);
}

#[tokio::test]
async fn an_event_and_a_sweep_start_one_execution_in_either_order() {
    let moto = moto().await;
    moto.instance("orders-db").await;

    // The event first, then the sweep.
    let arn = moto
        .snapshot("orders-db", "orders-db-manual-1", false)
        .await;
    let ev = event(
        "db-snapshot-manual-created.json",
        "orders-db-manual-1",
        &arn,
    );
    let by_event = trigger::handle(ev, &moto.ctx).await.unwrap();
    assert!(by_event.started, "{by_event:?}");
    let swept = moto.sweep().await;
    assert!(swept.started.is_empty(), "{swept:?}");
    assert_eq!(swept.already_started, 1);
    assert_eq!(moto.executions().await.len(), 1);

    // The sweep first, then the (late) event.
    let arn = moto
        .snapshot("orders-db", "orders-db-manual-2", false)
        .await;
    let swept = moto.sweep().await;
    assert_eq!(swept.started.len(), 1, "{swept:?}");
    let ev = event(
        "db-snapshot-manual-created.json",
        "orders-db-manual-2",
        &arn,
    );
    let late = trigger::handle(ev, &moto.ctx).await.unwrap();
    assert!(!late.started, "{late:?}");
    assert_eq!(late.reason.as_deref(), Some("already started"));
    assert_eq!(late.export_id.as_ref(), Some(&swept.started[0]));

    let executions = moto.executions().await;
    assert_eq!(executions.len(), 2, "{executions:?}");
    assert_eq!(executions[0].0, by_event.execution_name.unwrap());
    assert_eq!(executions[1].0, late.execution_name.unwrap());
}

#[tokio::test]
async fn unconfigured_and_unfinished_snapshots_are_left_alone() {
    let moto = moto().await;
    moto.instance("inventory-db").await;
    moto.snapshot("inventory-db", "inventory-db-manual-1", false)
        .await;
    moto.instance("orders-db").await;
    let arn = moto.snapshot("orders-db", "orders-db-manual-1", true).await;

    let first = moto.sweep().await;
    // inventory-db is not configured: its snapshots are not even listed. orders-db's
    // automated snapshot is not wanted; its manual one is not finished.
    assert_eq!(first.snapshots, 2, "{first:?}");
    assert!(first.started.is_empty(), "{first:?}");
    assert_eq!(first.ignored, 2);
    assert!(moto.executions().await.is_empty());

    // RDS finishes the snapshot: the next sweep starts it.
    moto.ctx
        .clients
        .rds
        .remove_tags_from_resource()
        .resource_name(&arn)
        .tag_keys("test:status")
        .send()
        .await
        .unwrap();
    let second = moto.sweep().await;
    assert_eq!(second.started.len(), 1, "{second:?}");
    let executions = moto.executions().await;
    assert_eq!(executions.len(), 1);
    assert_eq!(
        executions[0].1.job.snapshot.identifier,
        "orders-db-manual-1"
    );
}
