//! Everything before the first chunk: connect to the source and name the export, open the
//! destination and check it can take the export, take the export's lease, and discover and
//! plan. Apart from the front door because the resume and the serverless steps open the
//! source and the destination the same way.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;

use super::Progress;
use super::catalog_files::glue_names;
use super::lease::{self, Lease, Leases, RunIdentity, Take};
use super::planning::{Planned, discover_and_plan};
use super::strays::{existing_objects, foreign_objects_error};
use crate::config::ExportConfig;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::manifest::SourceManifest;
use crate::model::{Chunk, SkippedTable};
use crate::plan::number_largest_first;
use crate::sink::Destination;
use crate::source::{Session, SessionOptions, TableFilter};
use crate::work::{ExportPlan, PlannedTable};

/// An export discovered and planned, its destination checked, nothing read or written yet.
pub(super) struct Prepared {
    pub(super) session: Session,
    /// The destination, every write checked against `lease`.
    pub(super) dest: Destination,
    pub(super) layout: Layout,
    pub(super) plan: ExportPlan,
    pub(super) chunks: Vec<Chunk>,
    pub(super) lease: Arc<Lease>,
}

/// A source connected and an export named: where every way of planning starts.
pub(super) struct Opened {
    pub(super) session: Session,
    pub(super) info: crate::model::SourceInfo,
    pub(super) export_id: String,
    pub(super) filter: TableFilter,
    pub(super) started_at: chrono::DateTime<Utc>,
}

/// Checks the request, connects to the source and names the export.
pub(super) async fn open_source(
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
pub(super) async fn open_destination(
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
pub(super) async fn check_unpublished(
    dest: &Destination,
    layout: &Layout,
    export_id: &str,
) -> Result<()> {
    if dest.exists(&layout.manifest()).await? {
        return Err(Error::InvalidInput(format!(
            "export {export_id:?} is already published in {}: choose another --export-id",
            dest.url
        )));
    }
    Ok(())
}

/// Takes export `export_id`'s lease (see [`lease`]).
pub(super) async fn take_export_lease(
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
pub(super) fn export_plan(
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
        manifest_shard_entries: cfg.manifest_shard_entries,
    }
}

/// Connects, discovers, checks the destination and plans: everything before the first chunk.
/// Every table's description is kept: `snapex export` reads them all in this process.
pub(super) async fn prepare(
    cfg: &ExportConfig,
    mysql_consistency: crate::source::mysql::Consistency,
    progress: &dyn Progress,
    me: &RunIdentity,
) -> Result<Prepared> {
    let opened = open_source(cfg, mysql_consistency, progress).await?;
    progress.phase("discovering tables");
    let mut chunks = Vec::new();
    let mut ordered = BTreeMap::new();
    let found = discover_and_plan(cfg, &opened.session, &opened.filter, progress, |p| {
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::layout::escape_segment;

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
