//! The finalize step: publishes a planned export once every chunk has its completion record,
//! gathering the tables back from the chunks' descriptions; run again, or alongside another
//! attempt, it reports the export that attempt published. Apart from the other steps because
//! it alone publishes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};

use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::limits::OBJECTS_AT_ONCE;
use crate::manifest::Manifest;
use crate::pipeline::lease::{Lease, LeaseState, Leases, RunIdentity, Take};
use crate::pipeline::publish::{Finished, publish};
use crate::pipeline::records::{Gathered, add_tables, gathered_tables, read_record, read_specs};
use crate::pipeline::report::RunReport;
use crate::pipeline::verify::pieces_digest;
use crate::pipeline::{ExportSummary, Progress, summary};
use crate::published::read_manifest;
use crate::sink::Destination;
use crate::work::{ChunkRecord, ExportPlan, ExportTables, from_json};

/// Publishes a planned export once every chunk has its completion record: verifies every
/// file, writes the catalog files and the manifest, removes what no record names. A chunk
/// without a record stops it unpublished. Run again after publishing, it reports the
/// published export and changes nothing; run alongside another attempt, the later attempt
/// takes the export over and publishes it, and the earlier reports what it published.
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
        let (manifest, report) = read_published(&dest, &layout).await?;
        return Ok(summary(&dest, &plan, &manifest, report, started.elapsed()));
    }
    let me = RunIdentity::new();
    let lease = match take_export(&dest, &layout, export_id, &me).await {
        Ok(lease) => lease,
        // Another attempt of this step published it: wait for its `_SUCCESS`.
        Err(_) if newest_state(&dest, &layout, export_id).await? == Some(LeaseState::Published) => {
            return published_summary(&dest, &layout, export_id, started).await;
        }
        Err(e) => return Err(e),
    };
    let fenced = dest.fenced(Arc::new(Leases(vec![lease.clone()])));
    match finalize_leased(&fenced, &layout, plan, &lease, progress).await {
        Ok((plan, manifest, report)) => {
            Ok(summary(&dest, &plan, &manifest, report, started.elapsed()))
        }
        Err(e) => match lost_or(&lease, e).await {
            // A later attempt of this step took the export over (the state machine waits for
            // that one): this one reports what it publishes.
            Error::LeaseLost(why) => {
                tracing::info!("{why}; waiting for that attempt to publish");
                match wait_for_publishing(&dest, &layout, export_id).await? {
                    true => published_summary(&dest, &layout, export_id, started).await,
                    false => Err(Error::LeaseLost(why)),
                }
            }
            e => Err(e),
        },
    }
}

/// The error to report for `e`, a failure under `lease`: the lease lost, when another attempt
/// took it over, even if what failed was not a check of it (a write the other attempt cut
/// short: on a local disk it removes unfinished uploads before publishing), else `e`.
async fn lost_or(lease: &Lease, e: Error) -> Error {
    match lease.explain(e) {
        lost @ Error::LeaseLost(_) => lost,
        e => match lease.check().await {
            Err(lost @ Error::LeaseLost(_)) => lost,
            _ => e,
        },
    }
}

/// Takes the export's lease for publishing: a new generation above the run's own, so one
/// attempt of this step alone writes the export from here on. Two attempts at once (a retry
/// while the attempt before it is still running) would otherwise both delete what the other
/// wrote but they did not (each other's manifest shards, a local store's unfinished uploads);
/// the newer one wins, and any chunk attempt still running is fenced out too. A lease nobody
/// holds is refused as [`Lease::join`] refuses it: the run it belonged to gave the export up.
async fn take_export(
    dest: &Destination,
    layout: &Layout,
    export_id: &str,
    me: &RunIdentity,
) -> Result<Arc<Lease>> {
    let what = format!("export {export_id:?}");
    let dir = layout.work_lease_dir();
    Lease::join(dest, dir.clone(), what.clone(), export_id, me).await?;
    Lease::take(dest, dir, what, export_id, me, Take::TakeOver).await
}

/// The state of the export lease's newest generation, if there is one.
async fn newest_state(
    dest: &Destination,
    layout: &Layout,
    export_id: &str,
) -> Result<Option<LeaseState>> {
    let what = format!("export {export_id:?}");
    let newest = Lease::newest(dest, layout.work_lease_dir(), what, export_id).await?;
    Ok(newest.map(|l| l.state))
}

/// How long an attempt that lost the export's lease waits for the attempt that took it over
/// to publish: as long as that attempt may run (a Lambda function's 15 minutes).
const PUBLISHING_WAIT: Duration = Duration::from_secs(15 * 60);

/// Waits while the export's lease is held (by the attempt that took it over) for it to be
/// published: true once it is; false when it is given up, or the wait runs out.
async fn wait_for_publishing(dest: &Destination, layout: &Layout, export_id: &str) -> Result<bool> {
    let deadline = Instant::now() + PUBLISHING_WAIT;
    loop {
        match newest_state(dest, layout, export_id).await? {
            Some(LeaseState::Published) => return Ok(true),
            Some(LeaseState::Held) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            _ => return Ok(false),
        }
    }
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
    let deadline = Instant::now() + Duration::from_secs(120);
    while !dest.exists(&layout.success_marker()).await? {
        if Instant::now() > deadline {
            return Err(Error::Verify(format!(
                "export {export_id:?} is marked published, but its _SUCCESS did not appear \
                 within 2 minutes"
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let plan: ExportPlan = from_json("plan", &dest.get(&layout.work_plan()).await?)?;
    let (manifest, report) = read_published(dest, layout).await?;
    Ok(summary(dest, &plan, &manifest, report, started.elapsed()))
}

/// A published export's `manifest.json` and `report.json`, each its index alone (the totals
/// and the first shard: what a summary shows); a missing report reads as the totals alone.
async fn read_published(dest: &Destination, layout: &Layout) -> Result<(Manifest, RunReport)> {
    let manifest = read_manifest(dest, layout).await?;
    let report = match dest.exists(&layout.report()).await? {
        true => from_json("run report", &dest.get(&layout.report()).await?)?,
        false => RunReport::totals_only(&manifest),
    };
    Ok((manifest, report))
}

/// [`finalize_step`] under the export's lease: `dest` checks every write.
async fn finalize_leased(
    dest: &Destination,
    layout: &Layout,
    mut plan: ExportPlan,
    lease: &Lease,
    progress: Arc<dyn Progress>,
) -> Result<(ExportPlan, Manifest, RunReport)> {
    let export_id = plan.export_id.clone();
    let (dest, layout) = (dest.clone(), layout.clone());
    progress.phase("reading the chunks' tables");
    let (tables, planned, pieces) = gather_tables(&dest, &layout, &mut plan).await?;
    progress.phase("reading chunk records");
    let mut finished = Finished::new(planned, pieces, 0);
    let mut records = futures::stream::iter(0..plan.chunks)
        .map(|chunk| {
            let (dest, path) = (dest.clone(), layout.work_done(chunk));
            let export_id = export_id.to_string();
            async move {
                read_record::<ChunkRecord>(&dest, &path, || {
                    format!(
                        "chunk {chunk} of export {export_id:?} has no completion record: the \
                         export is incomplete and was not published"
                    )
                })
                .await
            }
        })
        .buffer_unordered(OBJECTS_AT_ONCE);
    // Each record's results move into the one list as it arrives.
    while let Some(record) = records.try_next().await? {
        finished.add(record);
    }
    let (manifest, report) = publish(
        &dest,
        &layout,
        &plan,
        &tables,
        finished,
        lease,
        // Nothing stops a Lambda's step but its timeout.
        &crate::stop::Stop::default(),
        progress.as_ref(),
    )
    .await?;
    Ok((plan, manifest, report))
}

/// Every exported table, in catalog order and with its Glue name: the tables the chunks read
/// come from the chunks' descriptions (the plan step kept none of them), the others from
/// `plan` itself (taken out of it). With them, each planned chunk's pieces (as
/// [`pieces_digest`] sums them up), and how many pieces there are in all.
async fn gather_tables(
    dest: &Destination,
    layout: &Layout,
    plan: &mut ExportPlan,
) -> Result<(ExportTables, BTreeMap<usize, u64>, usize)> {
    let mut tables: Gathered = plan
        .tables
        .drain(..)
        .map(|t| (t.order, Box::new(t.desc)))
        .collect();
    let mut planned = BTreeMap::new();
    let mut pieces = 0;
    let mut specs = read_specs(dest, layout, plan.chunks);
    while let Some(spec) = specs.try_next().await? {
        add_tables(&mut tables, spec.table_order, spec.tables);
        planned.insert(spec.chunk.id, pieces_digest(spec.chunk.pieces.iter()));
        pieces += spec.chunk.pieces.len();
    }
    Ok((gathered_tables(plan, tables), planned, pieces))
}
