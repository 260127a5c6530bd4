//! A serverless run's steps, each a function of its inputs and the records under the export's
//! `_work/` folder, so that each can run in a Lambda that knows nothing of the others, and
//! any of them can be retried:
//!
//! - [`plan_step`] discovers and plans, and writes the plan, one description per chunk, and the
//!   chunk list the Distributed Map reads;
//! - [`chunk_step`] writes one chunk's files and then its completion record (or, on failure, a
//!   failure record); run again, it writes the same files to the same keys, or finds its
//!   record and its files intact and does nothing;
//! - [`finalize_step`] publishes once every planned chunk has its record.
//!
//! One writer per export holds here too (see [`super::lease`]). The plan step takes the
//! export's lease over: within an execution the state machine starts a plan attempt only
//! after giving up the one before, and a second execution for the same snapshot (its export
//! id is the same on purpose) takes it from the first, whose later steps then stop at their
//! next write; once one of them has published, the other's plan step is refused. The chunk
//! and finalize steps work under the lease as the plan step left it. Each chunk attempt also
//! takes its chunk's own lease over (`_work/attempts/<n>/`): the Map retries an item only
//! after giving up the attempt before, which may still be running, and that attempt stops at
//! its next write. Every write is checked against both leases.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;

use super::chunks::{Workers, run_workers};
use super::lease::{Lease, LeaseState, Leases, RunIdentity, Take};
use super::planning::{Planned, discover_and_plan};
use super::publish::glue_database;
use super::publish::{publish, verify};
use super::{ExportSummary, Progress, Quiet, export_plan, open_destination, open_source, summary};
use crate::config::ExportConfig;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::limits::OBJECTS_AT_ONCE;
use crate::manifest::Manifest;
use crate::model::{Piece, TableDesc};
use crate::pipeline::report::RunReport;
use crate::retry::RetryPolicy;
use crate::sink::Destination;
use crate::source::{ReaderFactory, SourceUrl};
use crate::work::PlannedTable;
use crate::work::{ChunkRecord, ChunkSpec, ExportPlan, FailureRecord, from_json, to_json};

/// What planning a serverless run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanStep {
    pub export_id: String,
    pub tables: usize,
    pub chunks: usize,
    /// Where the chunk list is, as an S3 `GetObject` names it.
    pub items_bucket: String,
    pub items_key: String,
    /// Connections the source serves at once.
    pub max_connections: u64,
}

/// Discovers and plans the export `cfg.export_id` (required: the steps after this one find
/// the export by it), and writes under `_work/` each chunk's description (with the tables it
/// reads) as soon as the chunk is planned, then the chunk list and the plan. Memory does not
/// grow with the number of tables: a table's description is written with its chunk and
/// dropped. Records of an earlier plan of the same export are removed first: a new plan's
/// chunks need not match the old ones.
pub async fn plan_step(cfg: &ExportConfig, progress: Arc<dyn Progress>) -> Result<PlanStep> {
    if cfg.export_id.is_none() {
        return Err(Error::InvalidInput(
            "a planned run needs its export id fixed in advance".into(),
        ));
    }
    // One connection is enough to plan; the chunks read in transactions of their own.
    let opened = open_source(
        cfg,
        crate::source::mysql::Consistency::Single,
        progress.as_ref(),
    )
    .await?;
    let me = RunIdentity::new();
    let (dest, layout, lease) =
        open_destination(cfg, &opened.export_id, &me, Take::TakeOver).await?;
    match plan_leased(cfg, &opened, &dest, &layout, progress).await {
        Ok(step) => Ok(step),
        Err(e) => {
            let e = lease.explain(e);
            lease.release().await;
            Err(e)
        }
    }
}

/// [`plan_step`], once the export's lease is taken.
async fn plan_leased(
    cfg: &ExportConfig,
    opened: &super::Opened,
    dest: &Destination,
    layout: &Layout,
    progress: Arc<dyn Progress>,
) -> Result<PlanStep> {
    let (dest, layout) = (dest.clone(), layout.clone());
    let old = work_records(&dest, &layout).await?;
    delete_all(&dest, old).await?;

    progress.phase("discovering and planning tables");
    // Descriptions go to a writer task as they are made; the catalog stream does not wait
    // for the store, and the writer keeps OBJECTS_AT_ONCE writes in flight.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<(Path, Vec<u8>)>();
    let writer = {
        let dest = dest.clone();
        let files =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
        tokio::spawn(async move {
            files
                .map(|(path, bytes)| {
                    let dest = dest.clone();
                    async move { dest.put(&path, bytes).await }
                })
                .buffer_unordered(OBJECTS_AT_ONCE)
                .try_collect::<()>()
                .await
        })
    };
    let mut items = Vec::new();
    let mut unread = Vec::new();
    let planned = discover_and_plan(
        cfg,
        &opened.session,
        &opened.filter,
        progress.as_ref(),
        |p| match p {
            Planned::Chunk(chunk, tables) => {
                let (table_order, tables) = tables.into_iter().unzip();
                let spec = ChunkSpec {
                    chunk,
                    tables,
                    table_order,
                    parquet: cfg.parquet,
                    batch: cfg.batch,
                };
                let line = serde_json::json!({
                    "chunk": spec.chunk.id,
                    "pieces": spec.chunk.pieces.len(),
                    "estimated_bytes": spec.chunk.estimated_bytes,
                });
                items.extend(to_json("chunk list", &line)?);
                items.push(b'\n');
                let file = (layout.work_chunk(spec.chunk.id), to_json("chunk", &spec)?);
                tx.send(file)
                    .map_err(|_| Error::Internal("the chunk descriptions' writer stopped".into()))
            }
            Planned::Unread(t) => {
                let (order, desc) = *t;
                unread.push(PlannedTable {
                    desc,
                    glue_name: String::new(),
                    order,
                });
                Ok(())
            }
        },
    )
    .await;
    drop(tx);
    let written = writer
        .await
        .map_err(|e| Error::Internal(format!("the chunk descriptions' writer: {e}")))?;
    // A failed write stops the sink too; its own error says more than the sink's.
    written?;
    let found = planned?;
    progress.phase("writing the chunk list");
    dest.put(&layout.work_items(), items).await?;
    let plan = export_plan(
        cfg,
        opened,
        &dest,
        glue_database(cfg, &opened.info),
        unread,
        found.skipped,
        found.chunks,
    );
    dest.put(&layout.work_plan(), to_json("plan", &plan)?)
        .await?;
    let (items_bucket, items_key) = dest.bucket_and_key(&layout.work_items());
    Ok(PlanStep {
        export_id: plan.export_id,
        tables: found.tables,
        chunks: found.chunks,
        items_bucket,
        items_key,
        max_connections: plan.max_connections,
    })
}

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

/// The chunk's record, if it exists, describes this chunk's pieces and its files are there
/// with the sizes and rows written.
pub(super) async fn finished(
    dest: &Destination,
    layout: &Layout,
    spec: &ChunkSpec,
) -> Result<Option<ChunkRecord>> {
    let path = layout.work_done(spec.chunk.id);
    if !dest.exists(&path).await? {
        return Ok(None);
    }
    let mut record: ChunkRecord = from_json("chunk record", &dest.get(&path).await?)?;
    record.reused = true;
    let same_pieces = record.results.len() == spec.chunk.pieces.len()
        && record
            .results
            .iter()
            .zip(&spec.chunk.pieces)
            .all(|(r, p)| &r.piece == p);
    if !same_pieces || verify(dest, &record.results).await.is_err() {
        return Ok(None);
    }
    Ok(Some(record))
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
                .map(|t| (t.name.clone(), t))
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

/// Publishes a planned export once every chunk has its completion record: verifies every
/// file, writes the catalog files and the manifest, removes what no record names. A chunk
/// without a record stops it unpublished. Run again after publishing, it reports the
/// published export and changes nothing.
pub async fn finalize_step(
    destination: &str,
    endpoint: Option<&str>,
    export_id: &str,
    progress: Arc<dyn Progress>,
) -> Result<ExportSummary> {
    let started = Instant::now();
    let dest = Destination::open(destination, endpoint)?;
    let layout = Layout::new(&dest.root, export_id);
    let plan: ExportPlan = read_record(&dest, &layout.work_plan(), || {
        format!("export {export_id:?} was not planned in {destination}")
    })
    .await?;
    if dest.exists(&layout.success_marker()).await? {
        let manifest: Manifest = from_json("manifest", &dest.get(&layout.manifest()).await?)?;
        let report = match dest.exists(&layout.report()).await? {
            true => from_json("run report", &dest.get(&layout.report()).await?)?,
            false => RunReport::new(&manifest, &[], 0),
        };
        return Ok(summary(&dest, &plan, &manifest, report, started.elapsed()));
    }
    let me = RunIdentity::new();
    let joined = Lease::join(
        &dest,
        layout.work_lease_dir(),
        format!("export {export_id:?}"),
        export_id,
        &me,
    )
    .await;
    let lease = match joined {
        Ok(lease) => lease,
        // Another attempt of this step is publishing it: wait for it to finish.
        Err(_) if published_by_another(&dest, &layout).await? => {
            return published_summary(&dest, &layout, export_id, started).await;
        }
        Err(e) => return Err(e),
    };
    let fenced = dest.fenced(Arc::new(Leases(vec![lease.clone()])));
    match finalize_leased(&fenced, &layout, plan, &lease, progress).await {
        Ok((plan, manifest, report)) => {
            Ok(summary(&dest, &plan, &manifest, report, started.elapsed()))
        }
        Err(e) => {
            // Another attempt of this step published it (this one failed a lease check, or
            // found the other's manifest among the export's objects): wait for it to finish.
            if published_by_another(&dest, &layout).await? {
                return published_summary(&dest, &layout, export_id, started).await;
            }
            Err(lease.explain(e))
        }
    }
}

/// True when the export's lease says it is published.
async fn published_by_another(dest: &Destination, layout: &Layout) -> Result<bool> {
    let generations = dest.list(&layout.work_lease_dir()).await?;
    let mut published = false;
    for path in generations {
        let record: super::lease::LeaseRecord = from_json("lease", &dest.get(&path).await?)?;
        published |= record.state == LeaseState::Published;
    }
    Ok(published)
}

/// The summary of an export another attempt of the finalize step is publishing, once its
/// `_SUCCESS` is there (it writes the manifest, the report and `_SUCCESS` right after marking
/// the lease published).
async fn published_summary(
    dest: &Destination,
    layout: &Layout,
    export_id: &str,
    started: Instant,
) -> Result<ExportSummary> {
    let deadline = Instant::now() + std::time::Duration::from_secs(120);
    while !dest.exists(&layout.success_marker()).await? {
        if Instant::now() > deadline {
            return Err(Error::Verify(format!(
                "export {export_id:?} is marked published, but its _SUCCESS did not appear \
                 within 2 minutes"
            )));
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    let plan: ExportPlan = from_json("plan", &dest.get(&layout.work_plan()).await?)?;
    let manifest: Manifest = from_json("manifest", &dest.get(&layout.manifest()).await?)?;
    let report = match dest.exists(&layout.report()).await? {
        true => from_json("run report", &dest.get(&layout.report()).await?)?,
        false => RunReport::new(&manifest, &[], 0),
    };
    Ok(summary(dest, &plan, &manifest, report, started.elapsed()))
}

/// [`finalize_step`] under the export's lease: `dest` checks every write.
async fn finalize_leased(
    dest: &Destination,
    layout: &Layout,
    plan: ExportPlan,
    lease: &Lease,
    progress: Arc<dyn Progress>,
) -> Result<(ExportPlan, Manifest, RunReport)> {
    let export_id = plan.export_id.clone();
    let (dest, layout) = (dest.clone(), layout.clone());
    progress.phase("reading chunk records");
    let records: Vec<ChunkRecord> = futures::stream::iter(0..plan.chunks)
        .map(|chunk| {
            let (dest, path) = (dest.clone(), layout.work_done(chunk));
            let export_id = export_id.to_string();
            async move {
                read_record(&dest, &path, || {
                    format!(
                        "chunk {chunk} of export {export_id:?} has no completion record: the \
                         export is incomplete and was not published"
                    )
                })
                .await
            }
        })
        .buffer_unordered(OBJECTS_AT_ONCE)
        .try_collect()
        .await?;
    progress.phase("reading the chunks' tables");
    let (plan, planned) = gather_tables(&dest, &layout, plan).await?;
    let finished = super::publish::Finished {
        planned: &planned,
        records: &records,
        kept: 0,
    };
    let (manifest, report) =
        publish(&dest, &layout, &plan, finished, lease, progress.as_ref()).await?;
    Ok((plan, manifest, report))
}

/// `plan` with every exported table, in catalog order and with its Glue name: the tables the
/// chunks read come from the chunks' descriptions (the plan step kept none of them), the
/// others from the plan itself. With it, each planned chunk's pieces.
async fn gather_tables(
    dest: &Destination,
    layout: &Layout,
    plan: ExportPlan,
) -> Result<(ExportPlan, BTreeMap<usize, Vec<Piece>>)> {
    let mut plan = plan;
    let mut tables: BTreeMap<usize, TableDesc> =
        plan.tables.drain(..).map(|t| (t.order, t.desc)).collect();
    let mut planned = BTreeMap::new();
    let mut specs = read_specs(dest, layout, plan.chunks);
    while let Some(spec) = specs.try_next().await? {
        add_tables(&mut tables, spec.table_order, spec.tables);
        planned.insert(spec.chunk.id, spec.chunk.pieces);
    }
    Ok((with_tables(plan, tables), planned))
}

/// Adds a chunk description's tables to those gathered so far (a table read by several
/// chunks is described by each).
pub(super) fn add_tables(
    tables: &mut BTreeMap<usize, TableDesc>,
    order: Vec<usize>,
    descs: Vec<TableDesc>,
) {
    for (order, desc) in order.into_iter().zip(descs) {
        tables.entry(order).or_insert(desc);
    }
}

/// `plan` holding `tables` (by catalog order), each named for Glue as a plan of all of
/// them would name it.
pub(super) fn with_tables(mut plan: ExportPlan, tables: BTreeMap<usize, TableDesc>) -> ExportPlan {
    let descs: Vec<&TableDesc> = tables.values().collect();
    let glue =
        crate::catalog::fold::assign(&descs, plan.default_schema.as_deref(), plan.fold_schemas);
    plan.tables = tables
        .into_iter()
        .zip(glue)
        .map(|((order, desc), glue_name)| PlannedTable {
            desc,
            glue_name,
            order,
        })
        .collect();
    plan
}

/// The descriptions of chunks `0..chunks`, read `OBJECTS_AT_ONCE` at a time, in any order.
pub(super) fn read_specs<'a>(
    dest: &'a Destination,
    layout: &'a Layout,
    chunks: usize,
) -> impl futures::Stream<Item = Result<ChunkSpec>> + 'a {
    futures::stream::iter(0..chunks)
        .map(move |chunk| {
            let (dest, path) = (dest.clone(), layout.work_chunk(chunk));
            async move {
                read_record::<ChunkSpec>(&dest, &path, || {
                    format!("chunk {chunk} has no description: the plan is incomplete")
                })
                .await
            }
        })
        .buffer_unordered(OBJECTS_AT_ONCE)
}

/// The failure record of the lowest-numbered failed chunk of an export, if any chunk failed.
pub async fn first_failure(
    destination: &str,
    endpoint: Option<&str>,
    export_id: &str,
) -> Result<Option<FailureRecord>> {
    let dest = Destination::open(destination, endpoint)?;
    let layout = Layout::new(&dest.root, export_id);
    let first = dest
        .list(&layout.work_failed_dir())
        .await?
        .iter()
        .filter_map(|p| p.filename()?.strip_suffix(".json")?.parse::<usize>().ok())
        .min();
    match first {
        Some(chunk) => Ok(Some(from_json(
            "failure record",
            &dest.get(&layout.work_failed(chunk)).await?,
        )?)),
        None => Ok(None),
    }
}

/// Reads a JSON record; a missing one is the error `missing` describes.
pub(super) async fn read_record<T: for<'de> serde::Deserialize<'de>>(
    dest: &Destination,
    path: &Path,
    missing: impl FnOnce() -> String,
) -> Result<T> {
    if !dest.exists(path).await? {
        return Err(Error::Verify(missing()));
    }
    from_json(path.as_ref(), &dest.get(path).await?)
}

/// The records under the export's `_work/` folder: everything there but the leases, which
/// no run deletes (they refuse a second run of a published export).
pub(super) async fn work_records(dest: &Destination, layout: &Layout) -> Result<Vec<Path>> {
    let root = format!("{}/", layout.export_root());
    Ok(dest
        .list(&layout.work_dir())
        .await?
        .into_iter()
        .filter(|p| {
            let rel = p.as_ref().strip_prefix(&root).unwrap_or(p.as_ref());
            !Layout::is_lease_file(rel)
        })
        .collect())
}

pub(super) async fn delete_all(dest: &Destination, paths: Vec<Path>) -> Result<()> {
    futures::stream::iter(paths)
        .map(|path| {
            let dest = dest.clone();
            async move { dest.delete(&path).await }
        })
        .buffer_unordered(OBJECTS_AT_ONCE)
        .try_collect()
        .await
}
