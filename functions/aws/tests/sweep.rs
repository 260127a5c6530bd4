//! The trigger's scheduled sweep against moto's RDS, Step Functions and S3 on loopback: a
//! snapshot whose event never came is started by the sweep, once; an event and a sweep for the
//! same snapshot, in either order, start one execution; snapshots of sources the configuration
//! does not name are not touched, and one RDS is still making is left for a later sweep.
//! moto runs with the `snapshot_status.py` hook, so a snapshot can be "creating", and with
//! strict RDS, as the other functions' tests.

use snapex::service::job::StepInput;
use snapex_aws::steps::trigger::{self, Answer};
mod common;
use common::setup::{event, fixture};
use common::{Moto, PASS_MACHINE, STRICT_RDS};

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
    let mut moto =
        Moto::with_hooks(CONFIG, PASS_MACHINE, &[STRICT_RDS, "snapshot_status.py"]).await;
    let settings = &mut moto.ctx.settings;
    settings.export_bucket = Some("lake".into());
    settings.glue_database = Some("snapex".into());
    settings.sweep_hours = 24;
    moto
}

/// The status tag the hook reads: a snapshot RDS is still making.
fn creating() -> aws_sdk_rds::types::Tag {
    aws_sdk_rds::types::Tag::builder()
        .key("test:status")
        .value("creating")
        .build()
}

impl Moto {
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

    /// Every execution of the state machine: its name and its input's job.
    async fn executions(&self) -> Vec<(String, StepInput)> {
        let sfn = &self.ctx.clients.sfn;
        let mut out = Vec::new();
        for e in self.executions_listed().await {
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
    moto.available_instance("orders-db").await;
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
    moto.available_instance("orders-db").await;

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
    moto.available_instance("inventory-db").await;
    moto.snapshot("inventory-db", "inventory-db-manual-1", false)
        .await;
    moto.available_instance("orders-db").await;
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
