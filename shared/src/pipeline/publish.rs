//! After the last chunk: verify every file, clear leftovers of earlier attempts, write the
//! catalog files, and publish the manifest, in that order. The steps themselves are in
//! `verify`, `strays`, `catalog_files` and `manifest_build`; this file holds their order and
//! the writes that publish.

use std::collections::{BTreeMap, HashSet};

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;

use super::Progress;
use super::catalog_files::{catalog_files, pretty_json};
use super::lease::Lease;
use super::manifest_build::{ManifestInput, build_manifest};
use super::strays::remove_strays;
use super::verify::{check_complete, verify};
use crate::error::{Error, Result};
use crate::layout::{Layout, REPORT};
use crate::limits::OBJECTS_AT_ONCE;
use crate::manifest::Manifest;
use crate::pipeline::report::RunReport;
use crate::sink::Destination;
use crate::work::{ChunkRecord, ExportPlan, PieceResult};

/// What the chunks of an export did, for publishing it.
pub(super) struct Finished<'a> {
    /// Each planned chunk's pieces, by chunk id.
    pub(super) planned: &'a BTreeMap<usize, Vec<crate::model::Piece>>,
    /// One completion record per planned chunk.
    pub(super) records: &'a [ChunkRecord],
    /// How many of the records an earlier run wrote.
    pub(super) kept: usize,
}

/// Publishes an export whose chunks are all written: checks that every planned piece has
/// exactly one result, writes a zero-row file for each table with no rows (see
/// [`super::empty`]) and verifies every file, writes the catalog files, removes what an
/// earlier attempt left and checks that nothing else is there, then marks the export's lease
/// published (no run takes it from then on) and writes the manifest, the run report and
/// `_SUCCESS`, in that order, so a reader that sees `_SUCCESS` sees everything the manifest
/// names.
pub(super) async fn publish(
    dest: &Destination,
    layout: &Layout,
    plan: &ExportPlan,
    finished: Finished<'_>,
    lease: &Lease,
    progress: &dyn Progress,
) -> Result<(Manifest, RunReport)> {
    progress.phase("verifying files");
    check_complete(finished.planned, finished.records)?;
    let mut results: Vec<PieceResult> = finished
        .records
        .iter()
        .flat_map(|r| r.results.iter().cloned())
        .collect();
    let order = plan.order();
    let tables = plan.table_map();
    super::empty::write_zero_row_files(dest, layout, plan.parquet, &order, &tables, &mut results)
        .await?;
    let results = results.as_slice();
    verify(dest, results).await?;

    progress.phase("writing catalog metadata");
    let glue = plan.glue();
    let catalog_files = catalog_files(
        &plan.source,
        &plan.export_id,
        &glue,
        &order,
        &tables,
        dest,
        layout,
        results,
    )?;
    let mut written: HashSet<String> = results
        .iter()
        .filter_map(|r| r.file.as_ref())
        .map(|f| f.path.clone())
        .collect();
    written.extend(catalog_files.iter().map(|(path, _)| path.to_string()));
    put_all(dest, catalog_files, OBJECTS_AT_ONCE).await?;
    remove_strays(dest, layout, &plan.export_id, &written).await?;

    progress.phase("publishing manifest");
    let manifest = build_manifest(ManifestInput {
        export_id: plan.export_id.clone(),
        destination: dest.url.clone(),
        source: plan.source.clone(),
        started_at: plan.started_at,
        include: plan.include.clone(),
        exclude: plan.exclude.clone(),
        glue: &glue,
        order: &order,
        tables: &tables,
        skipped: plan.skipped.clone(),
        layout,
        results,
    });
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
    let report = RunReport::new(&manifest, finished.records, finished.kept);
    dest.put(&layout.report(), pretty_json(REPORT, &report)?)
        .await?;
    dest.put(&layout.success_marker(), vec![]).await?;
    Ok((manifest, report))
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
