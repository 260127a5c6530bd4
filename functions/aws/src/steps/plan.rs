//! Plan: discover and plan the export on the temporary instance; the chunk list goes to the
//! export bucket (the Distributed Map's ItemReader reads it), only a summary comes back. A
//! table bigger than one ExportChunk call may read, that nothing can split, fails the step
//! (`InvalidInput`) before any chunk runs.

use std::sync::Arc;

use snapex::pipeline::{Quiet, plan_step};
use snapex::service::job::{ItemsLocation, Planned, StepInput};

use crate::context::Context;
use crate::error::StepError;
use crate::source::source_url;

pub async fn handle(input: StepInput, ctx: &Context) -> Result<Planned, StepError> {
    let (instance, endpoint) = super::connected(&input)?;
    let url = source_url(&ctx.clients, &input.job, instance, endpoint).await?;
    let mut cfg = input.job.export_config(&url)?;
    cfg.endpoint = ctx.settings.endpoint_url.clone();
    // No chunk may be planned bigger than one ExportChunk call reads well within its timeout.
    cfg.plan.max_chunk_bytes = Some(snapex::budget::chunk_limit(
        input.job.max_chunk_bytes,
        ctx.settings.chunk_memory_mb,
        ctx.settings.chunk_timeout_seconds,
    ));
    let step = plan_step(&cfg, Arc::new(Quiet)).await?;
    tracing::info!(
        export_id = %step.export_id,
        tables = step.tables,
        chunks = step.chunks,
        "planned"
    );
    Ok(Planned {
        tables: step.tables,
        chunks: step.chunks,
        items: ItemsLocation {
            bucket: step.items_bucket,
            key: step.items_key,
        },
        concurrency: input.job.map_concurrency(step.max_connections),
    })
}
