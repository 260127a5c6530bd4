//! Runs an export: discover and plan, run chunks on a bounded pool of readers (all inside one
//! snapshot), verify every file, write the Glue/Athena catalog files, then publish the
//! manifest. Used by the CLI; the Lambdas run the same plan, chunk and finalize work one step
//! per invocation (`steps`, one file per step).
//!
//! This file is the front door: what a run reports, what it returns, and the run itself.
//! `prepare` opens the source and the destination, takes the lease and plans; `planning`
//! discovers and plans in one pass (and `plan_export`, the plan alone); `lease` keeps one
//! writer per export; `chunks` holds the reader pool and the per-piece read-and-write loop;
//! `records` reads back the `_work/` records and `resume` finishes an interrupted run from
//! them; `publish` everything after the last chunk, in order: `verify`, `strays` (leftovers),
//! `catalog_files`, `manifest_build`; `empty` the zero-row file of each table with no rows,
//! written as the export is published; `report` the run report.

mod catalog_files;
mod chunks;
mod empty;
pub mod lease;
mod manifest_build;
mod order;
mod planning;
mod prepare;
mod publish;
mod records;
pub mod report;
mod resume;
mod steps;
mod strays;
mod verify;

use crate::work::{ChunkRecord, ExportPlan};
pub use planning::{PlanSummary, plan_export};
pub use records::{first_failure, first_register_failure, record_register_failure};
pub use steps::{PlanStep, chunk_step, finalize_step, plan_step};

use chunks::{Workers, run_workers};
use lease::RunIdentity;
use prepare::{Prepared, prepare};
use publish::{Finished, publish};

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::ExportConfig;
use crate::error::{Error, Result};
use crate::layout::{MANIFEST, escape_segment};
use crate::manifest::Totals;
use crate::model::{Chunk, Piece, SkippedTable};
use crate::pipeline::report::RunReport;
use crate::sink::{Destination, FileWritten};
use verify::pieces_digest;

/// What a running export reports. Every method has a no-op default.
pub trait Progress: Send + Sync {
    /// A phase with no count, e.g. "discovering tables".
    fn phase(&self, _what: &str) {}
    /// The export's id is known (given, or named after the source): what `--resume` needs.
    fn export_id(&self, _id: &str) {}
    /// The plan is recorded under the export's `_work/` folder (or, resuming, was found
    /// there): from here on, a run that fails or is interrupted can be resumed.
    fn recorded(&self) {}
    /// The plan is made: `tables` selected tables, split into `chunks` (those still to read).
    fn planned(&self, _tables: usize, _chunks: &[Chunk]) {}
    /// Rows and source bytes decoded since the last call.
    fn rows(&self, _rows: u64, _bytes: u64) {}
    /// A table's piece is written.
    fn piece_done(&self, _piece: &Piece, _file: Option<&FileWritten>) {}
    fn chunk_done(&self, _chunk: &Chunk) {}
}

/// A progress sink that reports nothing.
pub struct Quiet;
impl Progress for Quiet {}

/// What a finished export did.
#[derive(Debug, Clone)]
pub struct ExportSummary {
    pub export_id: String,
    /// Where the manifest is, as a URL-ish string (destination + path).
    pub manifest: String,
    pub totals: Totals,
    pub lossy_values: u64,
    pub elapsed: Duration,
    pub skipped: Vec<SkippedTable>,
    /// Per table: rows, files, bytes, time, lossy values; also written as `report.json`.
    pub report: RunReport,
}

/// Runs a whole export. On any error nothing is published: no manifest, no `_SUCCESS`. With
/// `cfg.resume`, finishes an interrupted export instead: chunks whose completion records and
/// files check out are kept, the rest are read in a new view of the source.
///
/// Asked to stop (`cfg.stop`), it ends with [`Error::Interrupted`] before publishing: while
/// planning at once (nothing is written before the plan is recorded, and a plan is recorded
/// last), then as the reader pool says (`chunks::run_workers`), and while publishing at once,
/// until the export is marked published (`publish::publish`); from there it finishes.
pub async fn run_export(cfg: &ExportConfig, progress: Arc<dyn Progress>) -> Result<ExportSummary> {
    let started = Instant::now();
    let me = RunIdentity::new();
    // Dropped at once when a stop is asked for: nothing is written before the lease is taken,
    // the last step of both.
    let (prepared, done) = cfg
        .stop
        .or_interrupted(async {
            if cfg.resume {
                resume::resume(cfg, cfg.mysql_consistency, progress.as_ref(), &me).await
            } else {
                let prepared = prepare(cfg, cfg.mysql_consistency, progress.as_ref(), &me).await?;
                Ok((prepared, vec![]))
            }
        })
        .await?;
    let lease = prepared.lease.clone();
    match export_prepared(cfg, prepared, done, progress, started).await {
        Ok(summary) => Ok(summary),
        Err(e) => {
            // A write refused because another run took the lease says only that the store
            // refused it: the lease says why. An interrupted or failed run gives the lease
            // up, so `--resume` (or a new run) goes on from here.
            let e = lease.explain(e);
            lease.release().await;
            Err(e)
        }
    }
}

/// Runs the chunks of an export whose lease this run holds, and publishes it.
async fn export_prepared(
    cfg: &ExportConfig,
    prepared: Prepared,
    done: Vec<ChunkRecord>,
    progress: Arc<dyn Progress>,
    started: Instant,
) -> Result<ExportSummary> {
    if !cfg.resume {
        // The plan is recorded last, so records dropped halfway leave nothing to resume.
        cfg.stop
            .or_interrupted(async {
                progress.phase("recording the plan");
                resume::write_records(
                    &prepared.dest,
                    &prepared.layout,
                    &prepared.plan,
                    &prepared.chunks,
                )
                .await
            })
            .await?;
    }
    progress.recorded();
    let Prepared {
        session,
        dest,
        layout,
        mut plan,
        chunks,
        lease,
    } = prepared;
    progress.planned(plan.tables.len(), &chunks);
    // Each chunk's pieces, to check the records against before publishing: the chunks still
    // to read, and those an earlier run wrote (their records were checked against their plan).
    let planned: BTreeMap<usize, u64> = chunks
        .iter()
        .map(|c| (c.id, pieces_digest(c.pieces.iter())))
        .chain(
            done.iter()
                .map(|r| (r.chunk, pieces_digest(r.results.iter().map(|p| &p.piece)))),
        )
        .collect();
    let tables = plan.take_tables();
    let shared = Arc::new(Workers {
        readers: session.readers(),
        tables: tables.descs.clone(),
        dest: dest.clone(),
        layout: layout.clone(),
        parquet: cfg.parquet,
        batch: cfg.batch,
        queue: Mutex::new(chunks.into_iter().collect()),
        progress: progress.clone(),
        retry: cfg.retry,
        records: true,
        export_id: plan.export_id.clone(),
        stop: cfg.stop.clone(),
        written: Default::default(),
    });
    let readers = session
        .max_readers()
        .map_or(cfg.concurrency, |max| max.min(cfg.concurrency));
    let kept = done.len();
    let mut records = done;
    let interrupted = |written: usize| Error::Interrupted {
        chunks_done: kept + written,
        chunks: plan.chunks,
    };
    if !shared
        .queue
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .is_empty()
    {
        match run_workers(shared.clone(), readers).await {
            Ok(done) => records.extend(done),
            Err(Error::Interrupted { .. }) => {
                return Err(interrupted(shared.written.load(Ordering::Relaxed)));
            }
            Err(e) => return Err(e),
        }
    }
    // Every chunk is written, but a stop asked for now still stops short of publishing: a
    // resumed run publishes.
    if cfg.stop.requested() {
        return Err(interrupted(records.len() - kept));
    }
    drop(shared);
    let finished = Finished::from_records(planned, records, kept);
    let published = publish(
        &dest,
        &layout,
        &plan,
        &tables,
        finished,
        &lease,
        &cfg.stop,
        progress.as_ref(),
    )
    .await;
    let (manifest, report) = match published {
        Ok(published) => published,
        // Stopped while publishing: every chunk is written, and a resumed run publishes.
        Err(Error::Interrupted { .. }) => return Err(interrupted(plan.chunks - kept)),
        Err(e) => return Err(e),
    };
    // The session's consistent view is held until the export is published.
    drop(session);
    // The records served their purpose: a published export is not resumed. The lease stays:
    // it is what refuses another run of this export id.
    records::delete_all(&dest, records::work_records(&dest, &layout).await?).await?;
    dest.remove_empty_folder(&layout.work_dir()).await?;
    Ok(summary(&dest, &plan, &manifest, report, started.elapsed()))
}

/// What a finished export reports, from its manifest and results.
fn summary(
    dest: &Destination,
    plan: &ExportPlan,
    manifest: &crate::manifest::Manifest,
    report: RunReport,
    elapsed: Duration,
) -> ExportSummary {
    ExportSummary {
        manifest: format!(
            "{}/{}/{MANIFEST}",
            dest.url.trim_end_matches('/'),
            escape_segment(&plan.export_id)
        ),
        export_id: plan.export_id.clone(),
        totals: manifest.totals.clone(),
        lossy_values: report.lossy_values,
        elapsed,
        skipped: plan.skipped.clone(),
        report,
    }
}
