//! The chunk step: writes one chunk's files and then its completion record (or, on failure,
//! a failure record), under the export's lease and the chunk attempt's own. Apart from the
//! other steps because it alone reads the source.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::pipeline::Quiet;
use crate::pipeline::chunks::{Workers, run_workers};
use crate::pipeline::lease::{Lease, Leases, RunIdentity, Take};
use crate::pipeline::records::{finished, read_record};
use crate::retry::RetryPolicy;
use crate::sink::Destination;
use crate::source::{ReaderFactory, SourceUrl};
use crate::work::{ChunkRecord, ChunkSpec, FailureRecord, from_json, to_json};

/// Exports chunk `chunk` of a planned export from `source` (an instance nothing writes to:
/// the chunk reads in a transaction of its own) and records its completion. When the chunk's
/// record already exists and its files are intact, returns it without reading anything; on
/// failure, leaves a failure record naming the error and returns the error.
///
/// One attempt per call ([`RetryPolicy::serverless`]): a retryable failure is returned as
/// such, for the state machine to call the step again. The failure record counts the failed
/// calls, and the completion record's `retries` is that count.
pub async fn chunk_step(
    source: &SourceUrl,
    destination: &str,
    endpoint: Option<&str>,
    export_id: &str,
    chunk: usize,
) -> Result<ChunkRecord> {
    let dest = Destination::open(destination, endpoint)?;
    let layout = Layout::new(&dest.root, export_id);
    let spec: ChunkSpec = read_record(&dest, &layout.work_chunk(chunk), || {
        format!("chunk {chunk} of export {export_id:?} was not planned")
    })
    .await?;
    if let Some(record) = finished(&dest, &layout, &spec).await? {
        tracing::info!(
            chunk,
            "chunk already exported: its record and files are intact"
        );
        return Ok(record);
    }
    let me = RunIdentity::new();
    let export = Lease::join(
        &dest,
        layout.work_lease_dir(),
        format!("export {export_id:?}"),
        export_id,
        &me,
    )
    .await?;
    let attempt = Lease::take(
        &dest,
        layout.work_attempts_dir(chunk),
        format!("chunk {chunk} of export {export_id:?}"),
        export_id,
        &me,
        Take::TakeOver,
    )
    .await?;
    let leases = Arc::new(Leases(vec![export, attempt]));
    let dest = dest.fenced(leases.clone());
    chunk_leased(source, &dest, &layout, export_id, spec, &leases)
        .await
        .map_err(|e| leases.explain(e))
}

/// [`chunk_step`], once the chunk's attempt holds its lease: `dest` checks every write.
async fn chunk_leased(
    source: &SourceUrl,
    dest: &Destination,
    layout: &Layout,
    export_id: &str,
    spec: ChunkSpec,
    leases: &Leases,
) -> Result<ChunkRecord> {
    let (dest, layout) = (dest.clone(), layout.clone());
    let chunk = spec.chunk.id;
    let failed = failed_attempts(&dest, &layout, chunk).await?;
    match read_chunk(source, &dest, &layout, export_id, spec)
        .await
        .map_err(|e| leases.explain(e))
    {
        Ok(mut record) => {
            record.retries += failed;
            dest.put(&layout.work_done(chunk), to_json("chunk record", &record)?)
                .await?;
            // A failure of an earlier attempt no longer describes this chunk.
            if failed > 0 {
                dest.delete(&layout.work_failed(chunk)).await?;
            }
            Ok(record)
        }
        Err(e) => {
            let failure = FailureRecord {
                chunk,
                error: e.class().to_string(),
                cause: crate::error::one_line(&e.to_string()),
                attempts: failed + 1,
            };
            // Best effort: the error itself matters more than its record. An attempt that
            // lost its lease has nothing to record (its check refuses the write anyway).
            if !matches!(e, Error::LeaseLost(_))
                && let Ok(json) = to_json("failure record", &failure)
                && let Err(put) = dest.put(&layout.work_failed(chunk), json).await
            {
                tracing::warn!(chunk, "cannot record the chunk's failure: {put}");
            }
            Err(e)
        }
    }
}

/// How many earlier calls of the chunk step failed on this chunk: its failure record's count
/// (a record without a count, or one that does not parse, counts one).
async fn failed_attempts(dest: &Destination, layout: &Layout, chunk: usize) -> Result<u32> {
    let path = layout.work_failed(chunk);
    if !dest.exists(&path).await? {
        return Ok(0);
    }
    let record = from_json::<FailureRecord>("failure record", &dest.get(&path).await?);
    Ok(record.map_or(1, |r| r.attempts.max(1)))
}
async fn read_chunk(
    source: &SourceUrl,
    dest: &Destination,
    layout: &Layout,
    export_id: &str,
    spec: ChunkSpec,
) -> Result<ChunkRecord> {
    let workers = Arc::new(Workers {
        readers: ReaderFactory::standalone(source),
        tables: Arc::new(
            spec.tables
                .into_iter()
                .map(|t| (t.name.clone(), Box::new(t)))
                .collect::<HashMap<_, _>>(),
        ),
        dest: dest.clone(),
        layout: layout.clone(),
        parquet: spec.parquet,
        batch: spec.batch,
        queue: Mutex::new([spec.chunk].into()),
        progress: Arc::new(Quiet),
        // One attempt: the state machine retries the step (see RetryPolicy).
        retry: RetryPolicy::serverless(),
        // Written by the step, which also records failures.
        records: false,
        export_id: export_id.to_string(),
        // A step is stopped by its runtime, not asked.
        stop: Default::default(),
        written: Default::default(),
    });
    run_workers(workers, 1)
        .await?
        .pop()
        .ok_or_else(|| Error::Internal("a chunk step read no chunk".into()))
}
