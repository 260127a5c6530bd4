//! After the last chunk: verify every file, clear leftovers of earlier attempts, write the
//! catalog files, and publish the manifest (its shards, then `manifest.json`), in that order. The steps themselves are in
//! `verify`, `strays`, `catalog_files` and `manifest_build`; this file holds their order and
//! the writes that publish.

use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;

use super::Progress;
use super::catalog_files::{CatalogFiles, FoldedMembers, pretty_json};
use super::lease::Lease;
use super::manifest_build::{ManifestHead, ManifestInput, count, manifest_index, table_entries};
use super::strays::{Written, remove_strays};
use super::verify::{ChunkDone, check_complete, pieces_digest, verify};
use crate::error::{Error, Result};
use crate::layout::{Layout, REPORT};
use crate::limits::{CATALOG_TABLES_AT_ONCE, OBJECTS_AT_ONCE};
use crate::manifest::{Manifest, ManifestShard, Sharder, Totals};
use crate::pipeline::report::{ReportBuilder, RunReport};
use crate::sink::Destination;
use crate::stop::Stop;
use crate::work::{ChunkRecord, ExportPlan, ExportTables, PieceResult};

/// What the chunks of an export did, for publishing it: each chunk's record, with its
/// results moved out into one list.
pub(super) struct Finished {
    /// Each planned chunk's pieces, by chunk id, as [`super::verify::pieces_digest`] sums them up.
    pub(super) planned: BTreeMap<usize, u64>,
    /// One entry per completion record.
    pub(super) chunks: Vec<ChunkDone>,
    /// Every record's results.
    pub(super) results: Vec<PieceResult>,
    /// How many of the records an earlier run wrote.
    pub(super) kept: usize,
}

impl Finished {
    /// Room for `pieces` results, added with [`Finished::add`] as the records are read: the
    /// records are never all held beside the list of their results (at 100,000 tables, 27 MB
    /// each).
    pub(super) fn new(planned: BTreeMap<usize, u64>, pieces: usize, kept: usize) -> Finished {
        Finished {
            chunks: Vec::with_capacity(planned.len()),
            planned,
            results: Vec::with_capacity(pieces),
            kept,
        }
    }

    /// From records already held together (the command line's, as its readers finish).
    pub(super) fn from_records(
        planned: BTreeMap<usize, u64>,
        records: Vec<ChunkRecord>,
        kept: usize,
    ) -> Finished {
        let pieces = records.iter().map(|r| r.results.len()).sum();
        let mut finished = Finished::new(planned, pieces, kept);
        for record in records {
            finished.add(record);
        }
        finished
    }

    /// Adds a chunk's record, moving its results out of it.
    pub(super) fn add(&mut self, record: ChunkRecord) {
        self.chunks.push(ChunkDone {
            chunk: record.chunk,
            pieces: pieces_digest(record.results.iter().map(|r| &r.piece)),
            retries: record.retries,
        });
        self.results.extend(record.results);
    }
}

/// Publishes an export whose chunks are all written: checks that every planned piece has
/// exactly one result, writes a zero-row file for each table with no rows (see
/// [`super::empty`]) and verifies every file, writes the catalog files, removes what an
/// earlier attempt left and checks that nothing else is there, then marks the export's lease
/// published (no run takes it from then on) and writes the manifest, the run report and
/// `_SUCCESS`, in that order (the manifest's and report's shards before the lease is
/// marked), so a reader that sees `_SUCCESS` sees everything the manifest names.
///
/// A stop asked for (`stop`) before the lease is marked published ends it there with
/// [`Error::Interrupted`]: everything written until then is replaced by the next attempt
/// (a resumed run), or removed by it as left over. From the mark on, it finishes.
#[allow(clippy::too_many_arguments)]
pub(super) async fn publish(
    dest: &Destination,
    layout: &Layout,
    plan: &ExportPlan,
    tables: &ExportTables,
    finished: Finished,
    lease: &Lease,
    stop: &Stop,
    progress: &dyn Progress,
) -> Result<(Manifest, RunReport)> {
    let (manifest, report) = stop
        .or_interrupted(stage(dest, layout, plan, tables, finished, progress))
        .await?;
    // The stage can finish without ever waiting once a stop is asked (on a local disk its
    // writes may be done by the time they are polled), and then `or_interrupted` counts it
    // done: the stop still ends the run here, before the export is marked published.
    if stop.requested() {
        return Err(Error::interrupted());
    }
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| Error::Internal(format!("manifest: {e}")))?;
    lease.publish().await?;
    // Create-if-absent: a manifest already there (an export published before leases) is
    // never replaced.
    if !dest.put_new(&layout.manifest(), json).await? {
        return Err(Error::Verify(format!(
            "{} appeared while this run published the export",
            layout.manifest()
        )));
    }
    dest.put(&layout.report(), pretty_json(REPORT, &report)?)
        .await?;
    dest.put(&layout.success_marker(), vec![]).await?;
    Ok((manifest, report))
}

/// Everything [`publish`] writes before the export is marked published; returns what
/// `manifest.json` and `report.json` are to hold.
async fn stage(
    dest: &Destination,
    layout: &Layout,
    plan: &ExportPlan,
    tables: &ExportTables,
    finished: Finished,
    progress: &dyn Progress,
) -> Result<(Manifest, RunReport)> {
    progress.phase("verifying files");
    check_complete(&finished.planned, &finished.chunks)?;
    let report = ReportBuilder::new(
        &plan.export_id,
        plan.manifest_shard_entries,
        &finished.results,
        finished.chunks.len(),
        finished.chunks.iter().map(|c| u64::from(c.retries)).sum(),
        finished.kept,
    );
    let mut results = finished.results;
    let (order, glue) = (&tables.order, &tables.glue);
    let tables = tables.descs.as_ref();
    super::empty::write_zero_row_files(dest, layout, plan.parquet, order, tables, &mut results)
        .await?;
    let results = results.as_slice();
    verify(dest, results).await?;

    progress.phase("writing catalog metadata");
    let mut written = Written::default();
    written.extend(
        results
            .iter()
            .filter_map(|r| r.file.as_ref())
            .map(|f| &f.path),
    );
    let files = CatalogFiles::new(
        &plan.source,
        &plan.export_id,
        glue,
        tables,
        dest,
        layout,
        results,
    );
    let database = files.database()?;
    written.insert(database.0.as_ref());
    dest.put(&database.0, database.1).await?;
    let mut folded = FoldedMembers::new();
    for batch in order.chunks(CATALOG_TABLES_AT_ONCE) {
        let batch = files.tables(batch, &mut folded)?;
        written.extend(batch.iter().map(|(path, _)| path.as_ref()));
        put_all(dest, batch, OBJECTS_AT_ONCE).await?;
    }
    let batch = files.folded(folded)?;
    written.extend(batch.iter().map(|(path, _)| path.as_ref()));
    put_all(dest, batch, OBJECTS_AT_ONCE).await?;
    remove_strays(dest, layout, &plan.export_id, &written).await?;

    progress.phase("publishing manifest");
    let input = ManifestInput {
        glue,
        order,
        tables,
        layout,
        results,
    };
    let head = ManifestHead {
        export_id: plan.export_id.clone(),
        destination: dest.url.clone(),
        source: plan.source.clone(),
        started_at: plan.started_at,
        include: plan.include.clone(),
        exclude: plan.exclude.clone(),
        glue_database: glue.database.clone(),
        folding: {
            let descs: Vec<&crate::model::TableDesc> = order
                .iter()
                .filter_map(|n| tables.get(n).map(|t| &**t))
                .collect();
            crate::catalog::fold::folding(&descs, &glue.tables)
        },
    };
    write_shards(dest, layout, plan, input, head, report).await
}

/// Builds the tables' manifest and report entries one at a time, in catalog order, and writes
/// each shard of both as it fills (under the lease, before the export is marked published, so
/// a failed attempt's shards are strays the next one replaces). Returns `manifest.json` and
/// `report.json`, each with its first shard inline, for the caller to publish.
async fn write_shards(
    dest: &Destination,
    layout: &Layout,
    plan: &ExportPlan,
    input: ManifestInput<'_>,
    head: ManifestHead,
    mut report: ReportBuilder,
) -> Result<(Manifest, RunReport)> {
    let mut sharder = Sharder::new(&plan.export_id, plan.manifest_shard_entries);
    let mut totals = Totals::default();
    for t in table_entries(&input) {
        count(&mut totals, &t);
        if let Some(shard) = report.table(&t) {
            let path = layout.report_shard(shard.shard);
            dest.put(&path, pretty_json(path.as_ref(), &shard)?).await?;
        }
        if let Some(shard) = sharder.table(t) {
            write_manifest_shard(dest, layout, &shard).await?;
        }
    }
    for s in &plan.skipped {
        totals.skipped += 1;
        if let Some(shard) = report.skipped(s) {
            let path = layout.report_shard(shard.shard);
            dest.put(&path, pretty_json(path.as_ref(), &shard)?).await?;
        }
        if let Some(shard) = sharder.skipped(s.clone()) {
            write_manifest_shard(dest, layout, &shard).await?;
        }
    }
    let (last, first) = sharder.finish();
    if let Some(shard) = last {
        write_manifest_shard(dest, layout, &shard).await?;
    }
    let manifest = manifest_index(head, first, totals);
    let (last, report) = report.finish(&manifest);
    if let Some(shard) = last {
        let path = layout.report_shard(shard.shard);
        dest.put(&path, pretty_json(path.as_ref(), &shard)?).await?;
    }
    Ok((manifest, report))
}

async fn write_manifest_shard(
    dest: &Destination,
    layout: &Layout,
    shard: &ManifestShard,
) -> Result<()> {
    let path = layout.manifest_shard(shard.shard);
    dest.put(&path, pretty_json(path.as_ref(), shard)?).await
}

/// Writes `files`, `at_once` at a time. Each write owns its handle on the store: a future that
/// borrows across a concurrent stream is not `Send` to the compiler, and the Lambda runtime
/// needs `Send` futures.
pub(super) async fn put_all(
    dest: &Destination,
    files: Vec<(Path, Vec<u8>)>,
    at_once: usize,
) -> Result<()> {
    futures::stream::iter(files)
        .map(|(path, bytes)| {
            let dest = dest.clone();
            async move { dest.put(&path, bytes).await }
        })
        .buffer_unordered(at_once)
        .try_collect()
        .await
}
