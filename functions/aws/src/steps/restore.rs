//! `snapex-restore`: the snapshot restored to a temporary instance (or, for a cluster snapshot,
//! a cluster: CheckInstance adds its instance once the restore is over) whose credentials are a
//! new secret. The first step of an export: it counts the export as started (`ExportsStarted`).

use snapex::metrics;
use snapex::service::job::{Restored, SnapshotKind, StepInput};
use snapex::service::naming::secret_name;
use snapex::service::restore::{Protocol, restored};

use crate::context::Context;
use crate::error::StepError;
use crate::rds;
use crate::rds::restore::RestoreSpec;
use crate::secrets;

/// Restores `input.job`'s snapshot. Running it again for the same job finds what the first
/// run made and returns the same identifiers (with a new deadline).
pub async fn handle(input: StepInput, ctx: &Context) -> Result<Restored, StepError> {
    let job = &input.job;
    let rds_client = &ctx.clients.rds;
    let snapshot =
        rds::describe::describe_snapshot(rds_client, job.snapshot.kind, &job.snapshot.identifier)
            .await?;
    // Refuse engines the export cannot read before paying for an instance.
    Protocol::of_engine(&snapshot.engine)?;
    let secret_arn = secrets::create_credentials(
        &ctx.clients.secrets,
        &secret_name(&job.export_id),
        &snapshot.master_username,
        &job.export_id,
    )
    .await?;
    let spec = RestoreSpec {
        export_id: &job.export_id,
        snapshot: &job.snapshot.identifier,
        instance: &job.instance.identifier,
        cluster: job.instance.cluster_identifier.as_deref(),
        class: &job.instance.class,
        engine: &snapshot.engine,
        subnet_group: ctx.settings.db_subnet_group.as_deref(),
        security_group_ids: &ctx.settings.security_group_ids,
    };
    match job.snapshot.kind {
        SnapshotKind::Instance => rds::restore::restore_instance(rds_client, &spec).await?,
        SnapshotKind::Cluster => rds::restore::restore_cluster(rds_client, &spec).await?,
    }
    let out = restored(
        job,
        &snapshot.engine,
        &secret_arn,
        chrono::Utc::now().timestamp(),
        ctx.settings.poll_seconds,
    );
    tracing::info!(
        export_id = %job.export_id,
        instance = %out.identifier,
        cluster = ?out.cluster_identifier,
        engine = %out.engine,
        deadline = out.deadline,
        "restore started"
    );
    // Only once it succeeded: a Restore that failed is retried, and counts when it succeeds.
    super::emit(&metrics::export_started(
        &job.export_id,
        Some(&snapshot.engine),
        super::now_ms(),
    ));
    Ok(out)
}
