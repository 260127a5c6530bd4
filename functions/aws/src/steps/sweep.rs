//! The trigger's scheduled sweep: every configured source's snapshots of the last
//! `SNAPEX_SWEEP_HOURS` (see `snapex::service::sweep`), each started as its event would have
//! started it (same decision, same execution name, same idempotent start), so a lost event
//! costs a delay, never an export. It runs in the trigger function, on its schedule rule.

use aws_sdk_rds::Client;
use chrono::{DateTime, Utc};
use snapex::service::decide::Decision;
use snapex::service::job::SnapshotKind;
use snapex::service::sweep::{ListedSnapshot, SweepOutcome, decide_listed};

use super::trigger::{load_config, start};
use crate::context::Context;
use crate::error::{StepError, sdk_error};
use crate::rds::describe::utc;

/// Sweeps once, as of `now`.
pub async fn handle(ctx: &Context, now: DateTime<Utc>) -> Result<SweepOutcome, StepError> {
    let (config, _) = load_config(ctx).await?;
    let hours = ctx.settings.sweep_hours;
    let mut out = SweepOutcome {
        sources: config.databases.len(),
        ..SweepOutcome::default()
    };
    for db in &config.databases {
        let listed = list(&ctx.clients.rds, &db.source).await?;
        out.snapshots += listed.len();
        for snapshot in &listed {
            let id = &snapshot.identifier;
            match decide_listed(&config, snapshot, now, hours) {
                Decision::Ignore { reason } => {
                    tracing::debug!(%reason, snapshot = %id, "sweep: snapshot ignored");
                    out.ignored += 1;
                }
                Decision::Refuse { reason } => {
                    tracing::error!(%reason, snapshot = %id, "sweep: export refused");
                    out.refused.push(format!("snapshot {id}: {reason}"));
                }
                Decision::Start {
                    job,
                    execution_name,
                } => {
                    let export_id = job.export_id.clone();
                    if start(ctx, *job, &execution_name).await?.started {
                        tracing::warn!(%export_id, snapshot = %id, "sweep: started an export no event started");
                        out.started.push(export_id);
                    } else {
                        out.already_started += 1;
                    }
                }
            }
        }
    }
    tracing::info!(
        sources = out.sources,
        snapshots = out.snapshots,
        started = out.started.len(),
        already_started = out.already_started,
        ignored = out.ignored,
        refused = out.refused.len(),
        "sweep done"
    );
    Ok(out)
}

/// The DB snapshots and the DB cluster snapshots of `source`: the configuration does not say
/// whether it names an instance or a cluster, and RDS lists nothing for the other kind.
async fn list(rds: &Client, source: &str) -> Result<Vec<ListedSnapshot>, StepError> {
    let what = format!("listing the snapshots of {source}");
    let instance = rds
        .describe_db_snapshots()
        .db_instance_identifier(source)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| sdk_error(&what, e))?;
    let cluster = rds
        .describe_db_cluster_snapshots()
        .db_cluster_identifier(source)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| sdk_error(&what, e))?;
    let text = |s: Option<&str>| s.unwrap_or_default().to_string();
    let mut listed = Vec::with_capacity(instance.len() + cluster.len());
    listed.extend(instance.iter().map(|s| ListedSnapshot {
        kind: SnapshotKind::Instance,
        identifier: text(s.db_snapshot_identifier()),
        arn: text(s.db_snapshot_arn()),
        source: text(s.db_instance_identifier()),
        status: text(s.status()),
        snapshot_type: text(s.snapshot_type()),
        created_at: s.snapshot_create_time().and_then(utc),
    }));
    listed.extend(cluster.iter().map(|s| ListedSnapshot {
        kind: SnapshotKind::Cluster,
        identifier: text(s.db_cluster_snapshot_identifier()),
        arn: text(s.db_cluster_snapshot_arn()),
        source: text(s.db_cluster_identifier()),
        status: text(s.status()),
        snapshot_type: text(s.snapshot_type()),
        created_at: s.snapshot_create_time().and_then(utc),
    }));
    Ok(listed)
}
