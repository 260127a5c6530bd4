//! Finalize: publish the export once every chunk has its record (verified files, catalog
//! files, manifest, `_SUCCESS`), then register it in Glue so Athena can query it at once;
//! then count it as succeeded, with its rows and bytes.

use std::sync::Arc;

use snapex::metrics;
use snapex::pipeline::{Quiet, finalize_step};
use snapex::service::job::{Finalized, StepInput};

use crate::context::Context;
use crate::error::StepError;

pub async fn handle(input: StepInput, ctx: &Context) -> Result<Finalized, StepError> {
    let job = &input.job;
    let endpoint = ctx.settings.endpoint_url.as_deref();
    let summary =
        finalize_step(&job.destination, endpoint, &job.export_id, Arc::new(Quiet)).await?;
    let export_url = summary
        .manifest
        .strip_suffix(&format!("/{}", snapex::layout::MANIFEST))
        .unwrap_or(&summary.manifest)
        .to_string();
    let glue = |e: snapex_glue::GlueError| StepError::of_class(e.class(), e.to_string());
    let catalog = snapex_glue::ExportCatalog::open(&export_url, endpoint)
        .await
        .map_err(glue)?;
    let client = snapex_glue::connect(endpoint, None).await.map_err(glue)?;
    let report = snapex_glue::register(&catalog, &client)
        .await
        .map_err(glue)?;
    tracing::info!(
        export_id = %job.export_id,
        rows = summary.totals.rows,
        files = summary.totals.files,
        glue = ?report,
        "published and registered"
    );
    super::emit(&metrics::export_succeeded(
        &job.export_id,
        input.instance.as_ref().map(|i| i.engine.as_str()),
        summary.totals.rows,
        summary.totals.bytes,
        super::now_ms(),
    ));
    Ok(Finalized {
        export_id: summary.export_id,
        manifest: summary.manifest,
        tables: summary.totals.tables,
        files: summary.totals.files,
        rows: summary.totals.rows,
        bytes: summary.totals.bytes,
    })
}
