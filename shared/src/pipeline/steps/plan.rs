//! The plan step: discovers and plans a serverless run, and writes under `_work/` one
//! description per chunk, the chunk list the Distributed Map reads, and the plan. Apart from
//! the other steps because it alone reads the catalog and takes the export's lease over.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;

use crate::config::ExportConfig;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::limits::OBJECTS_AT_ONCE;
use crate::pipeline::Progress;
use crate::pipeline::catalog_files::glue_database;
use crate::pipeline::lease::{RunIdentity, Take};
use crate::pipeline::planning::{Planned, discover_and_plan};
use crate::pipeline::prepare::{Opened, export_plan, open_destination, open_source};
use crate::pipeline::records::{delete_all, work_records};
use crate::sink::Destination;
use crate::work::{ChunkSpec, PlannedTable, to_json};

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
    opened: &Opened,
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
