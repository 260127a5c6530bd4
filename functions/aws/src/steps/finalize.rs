//! Finalize: publish the export once every chunk has its record (verified files, catalog
//! files, manifest, `_SUCCESS`), register its Glue database, and write the batches of its
//! tables' registration for the RegisterTables Map (see `snapex::service::registration`);
//! then count it as succeeded, with its rows and bytes.

use std::sync::Arc;

use snapex::layout::Layout;
use snapex::metrics;
use snapex::pipeline::{Quiet, finalize_step};
use snapex::service::job::{Finalized, ItemsLocation, Registration, StepInput};
use snapex::service::registration::{REGISTER_TIMEOUT_SECONDS, spread};
use snapex::sink::Destination;
use snapex_glue::{DEFAULT_REQUESTS_PER_SECOND, ExportCatalog, Registrar};

use crate::context::Context;
use crate::error::StepError;

pub async fn handle(input: StepInput, ctx: &Context) -> Result<Finalized, StepError> {
    let job = &input.job;
    let endpoint = ctx.settings.endpoint_url.as_deref();
    let summary =
        finalize_step(&job.destination, endpoint, &job.export_id, Arc::new(Quiet)).await?;
    let dest = Destination::open(&job.destination, endpoint)?;
    let layout = Layout::new(&dest.root, &job.export_id);
    let export = dest.subfolder(layout.export_root());
    let rate = job
        .glue_requests_per_second
        .unwrap_or(DEFAULT_REQUESTS_PER_SECOND);
    let spread = spread(rate, REGISTER_TIMEOUT_SECONDS);
    // The whole catalog is checked against the manifest here, once; each batch reads and
    // checks only its own files.
    let (database, batches) = ExportCatalog::batches(&export, spread.calls_per_batch).await?;
    let client = snapex_glue::connect(endpoint, None).await?;
    let registrar = Registrar::with_rate(client, spread.requests_per_second);
    let counts = registrar.register_database(&database).await?;
    // The same batches from the same published catalog every time: a retried Finalize
    // rewrites the same lines.
    let mut lines = Vec::new();
    for batch in &batches {
        serde_json::to_writer(&mut lines, batch)
            .map_err(|e| StepError::internal(format!("a registration batch: {e}")))?;
        lines.push(b'\n');
    }
    let items = layout.work_register_items();
    dest.put(&items, lines).await?;
    let (bucket, key) = dest.bucket_and_key(&items);
    tracing::info!(
        export_id = %job.export_id,
        rows = summary.totals.rows,
        files = summary.totals.files,
        glue_database = %database.name,
        database = ?counts,
        batches = batches.len(),
        "published; Glue database registered"
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
        registration: Registration {
            database: database.name,
            items: ItemsLocation { bucket, key },
            batches: batches.len(),
            concurrency: spread.concurrency,
            requests_per_second: spread.requests_per_second,
        },
    })
}
