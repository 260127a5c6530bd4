//! Runs an export: discover and plan, run chunks on a bounded pool of readers (all inside one
//! snapshot), verify every file, write the Glue/Athena catalog files, then publish the
//! manifest. Used by the CLI; the Lambdas run the same plan, chunk and finalize work one step
//! per invocation (`steps`).
//!
//! `chunks` holds the reader pool and the per-piece read-and-write loop; `publish` everything
//! after the last chunk: verification, leftovers, catalog files and the manifest; `empty` the
//! zero-row file of each table with no rows, written as the export is published.

mod chunks;
mod empty;
pub mod lease;
mod order;
mod planning;
mod publish;
pub mod report;
mod resume;
mod steps;

use crate::work::{ChunkRecord, ExportPlan, PlannedTable};
pub use steps::{PlanStep, chunk_step, finalize_step, first_failure, plan_step};

use chunks::{Workers, run_workers};
use lease::{Lease, Leases, RunIdentity, Take};
use planning::Planned;
use publish::{Finished, existing_objects, foreign_objects_error, glue_names, publish};

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::config::ExportConfig;
use crate::error::{Error, Result};
use crate::layout::{Layout, MANIFEST, escape_segment};
use crate::manifest::{SourceManifest, Totals};
use crate::model::{Chunk, PartitionBy, Piece, ProfileGroup, SkippedTable, TableDesc, TableName};
use crate::pipeline::report::RunReport;
use crate::plan::number_largest_first;
use crate::sink::{Destination, FileWritten};
use crate::source::TableFilter;
use crate::source::{Session, SessionOptions};

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
/// last), then as the reader pool says (`chunks::run_workers`). Publishing, once begun, is
/// not interrupted.
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
        plan,
        chunks,
        lease,
    } = prepared;
    progress.planned(plan.tables.len(), &chunks);
    // Each chunk's pieces, to check the records against before publishing: the chunks still
    // to read, and those an earlier run wrote (their records were checked against their plan).
    let planned: BTreeMap<usize, Vec<Piece>> = chunks
        .iter()
        .map(|c| (c.id, c.pieces.clone()))
        .chain(done.iter().map(|r| {
            let pieces = r.results.iter().map(|p| p.piece.clone()).collect();
            (r.chunk, pieces)
        }))
        .collect();
    let tables = Arc::new(plan.table_map());
    let shared = Arc::new(Workers {
        readers: session.readers(),
        tables,
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
    let finished = Finished {
        planned: &planned,
        records: &records,
        kept,
    };
    let (manifest, report) =
        publish(&dest, &layout, &plan, finished, &lease, progress.as_ref()).await?;
    // The session's consistent view is held until the export is published.
    drop(session);
    // The records served their purpose: a published export is not resumed. The lease stays:
    // it is what refuses another run of this export id.
    steps::delete_all(&dest, steps::work_records(&dest, &layout).await?).await?;
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

/// An export discovered and planned, its destination checked, nothing read or written yet.
struct Prepared {
    session: Session,
    /// The destination, every write checked against `lease`.
    dest: Destination,
    layout: Layout,
    plan: ExportPlan,
    chunks: Vec<Chunk>,
    lease: Arc<Lease>,
}

/// A source connected and an export named: where every way of planning starts.
struct Opened {
    session: Session,
    info: crate::model::SourceInfo,
    export_id: String,
    filter: TableFilter,
    started_at: chrono::DateTime<Utc>,
}

/// Checks the request, connects to the source and names the export.
async fn open_source(
    cfg: &ExportConfig,
    mysql_consistency: crate::source::mysql::Consistency,
    progress: &dyn Progress,
) -> Result<Opened> {
    cfg.validate()?;
    let started_at = Utc::now();
    let filter = TableFilter::new(&cfg.include, &cfg.exclude)?;
    // Check the destination's syntax now; open (and create) it only once the source is known good.
    crate::sink::Target::parse(&cfg.destination)?;
    // An S3 destination with no credentials at all stops here, before the source is read.
    crate::sink::check_credentials(&cfg.destination, cfg.endpoint.as_deref()).await?;

    progress.phase("connecting");
    let options = SessionOptions {
        readers: cfg.concurrency,
        mysql_consistency,
    };
    let session = Session::open(&cfg.source, options).await?;
    let info = session.info().await?;
    let export_id = cfg
        .export_id
        .clone()
        .unwrap_or_else(|| default_export_id(&info.database, started_at, lease::random_u64()));
    progress.export_id(&export_id);
    Ok(Opened {
        session,
        info,
        export_id,
        filter,
        started_at,
    })
}

/// An export id unique to its run: `<database>-<UTC time to the millisecond>-<6 random hex
/// digits>`, e.g. `shop-20261205T081500.123Z-3fa9c1`. Two runs started in the same
/// millisecond still differ by their random part, so a run never meets another's lease by
/// accident. Only letters, digits, `-` and `.` besides the database name: a folder name as is.
fn default_export_id(database: &str, started_at: chrono::DateTime<Utc>, random: u64) -> String {
    format!(
        "{database}-{}-{:06x}",
        started_at.format("%Y%m%dT%H%M%S%.3fZ"),
        random & 0xff_ffff
    )
}

/// Opens the destination and checks that it can take export `export_id`: not published yet,
/// writable, and holding nothing under the export's folder that snapex did not write. Then
/// takes the export's lease as `take` says, and returns the destination with every write
/// checked against it.
async fn open_destination(
    cfg: &ExportConfig,
    export_id: &str,
    me: &RunIdentity,
    take: Take,
) -> Result<(Destination, Layout, Arc<Lease>)> {
    let dest = Destination::open(&cfg.destination, cfg.endpoint.as_deref())?;
    let layout = Layout::new(&dest.root, export_id);
    // Checked before the lease too, so that a published export is refused without a write.
    check_unpublished(&dest, &layout, export_id).await?;
    dest.check_writable(&dest.root, &me.run).await?;
    let (_, foreign) = existing_objects(&dest, &layout).await?;
    if !foreign.is_empty() {
        return Err(foreign_objects_error(export_id, &foreign));
    }
    let lease = take_export_lease(&dest, &layout, export_id, me, take).await?;
    let fenced = dest.fenced(Arc::new(Leases(vec![lease.clone()])));
    Ok((fenced, layout, lease))
}

/// A published export (one with a manifest) is never written again.
async fn check_unpublished(dest: &Destination, layout: &Layout, export_id: &str) -> Result<()> {
    if dest.exists(&layout.manifest()).await? {
        return Err(Error::InvalidInput(format!(
            "export {export_id:?} is already published in {}: choose another --export-id",
            dest.url
        )));
    }
    Ok(())
}

/// Takes export `export_id`'s lease (see [`lease`]).
async fn take_export_lease(
    dest: &Destination,
    layout: &Layout,
    export_id: &str,
    me: &RunIdentity,
    take: Take,
) -> Result<Arc<Lease>> {
    Lease::take(
        dest,
        layout.work_lease_dir(),
        format!("export {export_id:?}"),
        export_id,
        me,
        take,
    )
    .await
}

/// The export's plan around `tables` (in catalog order, with their Glue names).
fn export_plan(
    cfg: &ExportConfig,
    opened: &Opened,
    dest: &Destination,
    glue_database: String,
    tables: Vec<PlannedTable>,
    skipped: Vec<SkippedTable>,
    chunks: usize,
) -> ExportPlan {
    ExportPlan {
        export_id: opened.export_id.clone(),
        destination: dest.url.clone(),
        source: SourceManifest::new(&opened.info, opened.session.consistency()),
        max_connections: opened.info.max_connections,
        started_at: opened.started_at,
        include: cfg.include.clone(),
        exclude: cfg.exclude.clone(),
        glue_database,
        default_schema: cfg.source.default_schema().map(str::to_string),
        fold_schemas: cfg.fold_schemas,
        tables,
        skipped,
        chunks,
        parquet: cfg.parquet,
        batch: cfg.batch,
    }
}

/// Connects, discovers, checks the destination and plans: everything before the first chunk.
/// Every table's description is kept: `snapex export` reads them all in this process.
async fn prepare(
    cfg: &ExportConfig,
    mysql_consistency: crate::source::mysql::Consistency,
    progress: &dyn Progress,
    me: &RunIdentity,
) -> Result<Prepared> {
    let opened = open_source(cfg, mysql_consistency, progress).await?;
    progress.phase("discovering tables");
    let mut chunks = Vec::new();
    let mut ordered = std::collections::BTreeMap::new();
    let found = planning::discover_and_plan(cfg, &opened.session, &opened.filter, progress, |p| {
        match p {
            Planned::Chunk(chunk, tables) => {
                chunks.push(chunk);
                ordered.extend(tables);
            }
            Planned::Unread(t) => {
                let (i, t) = *t;
                ordered.insert(i, t);
            }
        }
        Ok(())
    })
    .await?;
    number_largest_first(&mut chunks);
    // Only now, with the request known to be good, touch the destination.
    let (dest, layout, lease) = open_destination(cfg, &opened.export_id, me, Take::Fresh).await?;
    let glue = glue_names(cfg, &opened.info, &ordered.values().collect::<Vec<_>>());
    let tables = ordered
        .into_iter()
        .map(|(order, desc)| PlannedTable {
            glue_name: glue.tables.get(&desc.name).cloned().unwrap_or_default(),
            order,
            desc,
        })
        .collect();
    let plan = export_plan(
        cfg,
        &opened,
        &dest,
        glue.database,
        tables,
        found.skipped,
        chunks.len(),
    );
    Ok(Prepared {
        session: opened.session,
        dest,
        layout,
        plan,
        chunks,
        lease,
    })
}

/// What planning an export found, without reading any table.
#[derive(Debug, Clone)]
pub struct PlanSummary {
    pub tables: usize,
    /// The catalog's estimate of the selected tables' size on disk.
    pub bytes: u64,
    pub chunks: usize,
    pub pieces: usize,
    pub skipped: Vec<SkippedTable>,
    pub elapsed: Duration,
}

/// Discovers and plans an export as [`run_export`] would, inside one consistent view of the
/// source, and stops there: nothing is read from the tables (beyond key bounds and partition
/// profiles) and nothing is written. Each chunk goes to `each_chunk` as soon as it is planned
/// (numbered in that order, not largest first) and is not kept, nor are the tables' descriptions,
/// so memory does not grow with the number of tables.
pub async fn plan_export(
    cfg: &ExportConfig,
    progress: Arc<dyn Progress>,
    mut each_chunk: impl FnMut(&Chunk) -> Result<()>,
) -> Result<PlanSummary> {
    cfg.validate()?;
    let started = Instant::now();
    let filter = TableFilter::new(&cfg.include, &cfg.exclude)?;
    progress.phase("connecting");
    let options = SessionOptions {
        readers: cfg.concurrency,
        mysql_consistency: crate::source::mysql::Consistency::Single,
    };
    let session = Session::open(&cfg.source, options).await?;
    progress.phase("discovering and planning tables");
    let found =
        planning::discover_and_plan(cfg, &session, &filter, progress.as_ref(), |p| match p {
            Planned::Chunk(chunk, _) => each_chunk(&chunk),
            Planned::Unread(_) => Ok(()),
        })
        .await?;
    Ok(PlanSummary {
        tables: found.tables,
        bytes: found.bytes,
        chunks: found.chunks,
        pieces: found.pieces,
        skipped: found.skipped,
        elapsed: started.elapsed(),
    })
}

/// Counts rows per partition group of every table with Hive partitions, after giving key
/// buckets without a width one from the key's span.
async fn profile_partitions(
    session: &Session,
    tables: &mut [TableDesc],
    plan: &crate::plan::PlanConfig,
    progress: &dyn Progress,
) -> Result<HashMap<TableName, Vec<ProfileGroup>>> {
    let mut profiles = HashMap::new();
    for t in tables.iter_mut() {
        let Some(mut p) = t.partition_by.clone() else {
            continue;
        };
        progress.phase(&format!("counting rows per partition of {}", t.name));
        if let PartitionBy::KeyBuckets { width: 0 } = p.by {
            let (min, max) = t
                .split_key
                .as_ref()
                .and_then(|k| k.bounds)
                .unwrap_or((0, 0));
            let files = t
                .estimated_bytes
                .div_ceil(plan.target_source_bytes().max(1));
            p.by = PartitionBy::KeyBuckets {
                width: crate::partitioning::default_bucket_width(min, max, files),
            };
            t.partition_by = Some(p.clone());
        }
        let groups = session.profile(t, &p).await?;
        if p.by == PartitionBy::Value && groups.len() > crate::partitioning::MAX_VALUE_PARTITIONS {
            return Err(Error::InvalidInput(format!(
                "{} has {} distinct values of {:?}, more than {} value partitions: partition \
                 it by time or key buckets instead",
                t.name,
                groups.len(),
                p.column,
                crate::partitioning::MAX_VALUE_PARTITIONS
            )));
        }
        for g in &groups {
            if let crate::model::GroupValue::Text(v) = &g.value {
                crate::partitioning::check_value(&t.name, &p.key, v)?;
            }
        }
        profiles.insert(t.name.clone(), groups);
    }
    Ok(profiles)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn default_export_ids_name_the_millisecond_and_differ_per_run() {
        let at = Utc.with_ymd_and_hms(2026, 12, 5, 8, 15, 0).unwrap()
            + chrono::Duration::milliseconds(7);
        assert_eq!(
            default_export_id("shop", at, 0x12_3fa9c1),
            "shop-20261205T081500.007Z-3fa9c1"
        );
        let ids: std::collections::HashSet<String> = (0..1000)
            .map(|_| default_export_id("shop", at, lease::random_u64()))
            .collect();
        assert!(
            ids.len() > 990,
            "runs in one millisecond collide: {}",
            ids.len()
        );
        let id = default_export_id("shop", at, lease::random_u64());
        assert_eq!(escape_segment(&id), id, "a folder name as it is");
    }
}
