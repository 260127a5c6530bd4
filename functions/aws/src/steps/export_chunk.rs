//! ExportChunk: one Map item, one chunk: its files, then its completion record. Retried, it
//! rewrites the same keys or finds its record and files intact. Once the record is written,
//! the chunk's metrics (rows, bytes, seconds, retries).

use serde::{Deserialize, Serialize};
use snapex::metrics;
use snapex::pipeline::chunk_step;
use snapex::service::job::ChunkInput;
use snapex::source::SourceUrl;

use crate::context::Context;
use crate::error::StepError;
use crate::source::source_url;

/// What one chunk wrote (the Map discards it: finalizing reads the completion records).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkDone {
    pub chunk: usize,
    pub files: u64,
    pub rows: u64,
    pub bytes: u64,
}

pub async fn handle(input: ChunkInput, ctx: &Context) -> Result<ChunkDone, StepError> {
    let url = source_url(&ctx.clients, &input.job, &input.instance, &input.endpoint).await?;
    let source = SourceUrl::parse(&url)?;
    let chunk = input.item.chunk;
    let record = chunk_step(
        &source,
        &input.job.destination,
        ctx.settings.endpoint_url.as_deref(),
        &input.job.export_id,
        chunk,
    )
    .await?;
    let files = record.results.iter().filter_map(|r| r.file.as_ref());
    let done = ChunkDone {
        chunk,
        files: files.clone().count() as u64,
        rows: files.clone().map(|f| f.rows).sum(),
        bytes: files.map(|f| f.bytes).sum(),
    };
    tracing::info!(
        export_id = %input.job.export_id,
        chunk,
        files = done.files,
        rows = done.rows,
        bytes = done.bytes,
        "chunk exported"
    );
    // A retried step that found its chunk done read nothing: its figures were emitted once.
    if !record.reused {
        super::emit(&metrics::chunk_exported(
            &input.job.export_id,
            Some(&input.instance.engine),
            &record,
            super::now_ms(),
        ));
    }
    Ok(done)
}
