//! `snapex-cleanup`: the temporary instance, cluster and secret deleted whatever happened, and
//! the error the execution fails with, when it failed (counted in `ExportsFailed`).

use snapex::metrics;
use snapex::pipeline::{first_failure, first_register_failure};
use snapex::service::cleanup::{
    Failure, failed_map_registers, needs_failure_record, outcome, plan,
};
use snapex::service::job::{CleanedUp, StepInput};

use crate::context::Context;
use crate::error::StepError;
use crate::rds;
use crate::rds::delete::Deleted;
use crate::secrets;

/// Deletes what the export made (only what carries its tag; what is already gone is fine), so
/// running it again deletes nothing and succeeds.
pub async fn handle(input: StepInput, ctx: &Context) -> Result<CleanedUp, StepError> {
    let plan = plan(&input);
    let export_id = &plan.export_id;
    let mut deleted = Vec::new();
    let mut note = |what: String, d: Deleted| match d {
        Deleted::Deleted => {
            tracing::info!(%export_id, %what, "deleted");
            deleted.push(what);
        }
        Deleted::AlreadyGone => tracing::info!(%export_id, %what, "already gone"),
        Deleted::NotOurs => tracing::warn!(
            %export_id, %what,
            "exists but is not tagged for this export: left alone"
        ),
    };
    let rds_client = &ctx.clients.rds;
    let d = rds::delete::delete_instance(rds_client, &plan.instance, export_id).await?;
    note(plan.instance.clone(), d);
    if let Some(cluster) = &plan.cluster {
        let d = rds::delete::delete_cluster(rds_client, cluster, export_id).await?;
        note(cluster.clone(), d);
    }
    let d = secrets::delete(&ctx.clients.secrets, &plan.secret, export_id).await?;
    note(plan.secret.clone(), d);

    let error = input.error.as_ref();
    let failure = if needs_failure_record(error) {
        failure_record(&input, ctx).await
    } else {
        None
    };
    let out = outcome(deleted, error, failure);
    if let Some(e) = &out.error {
        tracing::info!(%export_id, error = %e, cause = ?out.cause, "the export failed");
        // Once Cleanup is done: its retries do not count the failure again.
        super::emit(&metrics::export_failed(
            export_id,
            input.instance.as_ref().map(|i| i.engine.as_str()),
            e,
            super::now_ms(),
        ));
    }
    Ok(out)
}

/// The first failed item's record (a chunk's, or once Finalize has run a registration
/// batch's); `None` (and a warning) when it cannot be read: the instance is deleted either
/// way, and the Map's own error is reported instead.
async fn failure_record(input: &StepInput, ctx: &Context) -> Option<Failure> {
    let job = &input.job;
    let endpoint = ctx.settings.endpoint_url.as_deref();
    let (dest, id) = (&job.destination, &job.export_id);
    let read = match failed_map_registers(input) {
        true => first_register_failure(dest, endpoint, id)
            .await
            .map(|r| r.map(Failure::Registration)),
        false => first_failure(dest, endpoint, id)
            .await
            .map(|r| r.map(Failure::Chunk)),
    };
    match read {
        Ok(Some(r)) => Some(r),
        Ok(None) => {
            tracing::warn!(export_id = %job.export_id, "the Map failed but no item left a failure record");
            None
        }
        Err(e) => {
            tracing::warn!(export_id = %job.export_id, error = %e, "cannot read the failure records");
            None
        }
    }
}
