//! RegisterTables: one Map item, one batch of a published export's tables (Finalize wrote the
//! batches and registered the database): reads the batch's catalog files and converges Glue
//! onto them, at the batch's share of the registration's Glue rate. Run again, it changes
//! nothing already done. A batch that fails records why under `_work/glue-failed/`, for
//! Cleanup to report.

use serde::{Deserialize, Serialize};
use snapex::layout::Layout;
use snapex::pipeline::record_register_failure;
use snapex::service::job::Job;
use snapex::sink::Destination;
use snapex_glue::{Counts, ExportCatalog, Registrar, TableBatch};

use crate::context::Context;
use crate::error::StepError;

/// What the RegisterTables Map gives each batch's execution.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterInput {
    pub job: Job,
    pub item: TableBatch,
    /// Glue calls a second for this batch (`$.result.registration.requests_per_second`).
    pub requests_per_second: u32,
}

/// What one batch did (the Map discards it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    pub batch: usize,
    pub tables: Counts,
    pub partitions: Counts,
}

pub async fn handle(input: RegisterInput, ctx: &Context) -> Result<Registered, StepError> {
    let endpoint = ctx.settings.endpoint_url.as_deref();
    let registered = register(&input, endpoint).await;
    if let Err(e) = &registered {
        let job = &input.job;
        // Best effort: the error itself matters more than its record, which only lets
        // Cleanup name the batch and the cause rather than the Map's own error.
        let recorded = record_register_failure(
            &job.destination,
            endpoint,
            &job.export_id,
            input.item.batch,
            &e.name,
            &e.message,
        );
        if let Err(put) = recorded.await {
            tracing::warn!(
                batch = input.item.batch,
                "cannot record the batch's failure: {put}"
            );
        }
    }
    registered
}

async fn register(input: &RegisterInput, endpoint: Option<&str>) -> Result<Registered, StepError> {
    let job = &input.job;
    let dest = Destination::open(&job.destination, endpoint)?;
    let layout = Layout::new(&dest.root, &job.export_id);
    let export = dest.subfolder(layout.export_root());
    let catalog = ExportCatalog::read_batch(&export, &input.item).await?;
    let client = snapex_glue::connect(endpoint, None).await?;
    let registrar = Registrar::with_rate(client, input.requests_per_second);
    // Boxed: the registration nests many futures (see `snapex_glue::register`).
    let report = Box::pin(registrar.register_tables(&catalog)).await?;
    tracing::info!(
        export_id = %job.export_id,
        batch = input.item.batch,
        tables = input.item.tables.len(),
        glue = ?report,
        "registered a batch of tables"
    );
    Ok(Registered {
        batch: input.item.batch,
        tables: report.tables,
        partitions: report.partitions,
    })
}
