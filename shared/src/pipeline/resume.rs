//! The command line's records of a run, and resuming from them. A run writes its plan and
//! its chunks under the export's `_work/` folder before reading anything, and each chunk's
//! completion record as soon as the chunk's files are written (the records a serverless run
//! writes between its steps). A resumed run reads them back, keeps every chunk whose record
//! and files check out, and reads the rest in a new view of the source.

use futures::{StreamExt, TryStreamExt};

use super::Progress;
use super::lease::{Lease, Leases, RunIdentity, Take};
use super::prepare::{Opened, Prepared, check_unpublished, open_source, take_export_lease};
use super::publish::put_all;
use super::records::{
    Gathered, add_tables, delete_all, finished, read_specs, with_tables, work_records,
};
use super::strays::{existing_objects, foreign_objects_error};
use crate::config::ExportConfig;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::limits::{CHUNKS_CHECKED_AT_ONCE, OBJECTS_AT_ONCE};
use crate::model::Chunk;
use crate::sink::Destination;
use crate::work::{ChunkRecord, ChunkSpec, ExportPlan, from_json, to_json};

/// Writes a new run's plan (with every table) and its chunks (without tables: the plan holds
/// them), after clearing the records of an earlier run with the same export id (but the
/// lease).
pub(super) async fn write_records(
    dest: &Destination,
    layout: &Layout,
    plan: &ExportPlan,
    chunks: &[Chunk],
) -> Result<()> {
    delete_all(dest, work_records(dest, layout).await?).await?;
    let mut files = Vec::with_capacity(chunks.len());
    for chunk in chunks {
        let spec = ChunkSpec {
            chunk: chunk.clone(),
            tables: vec![],
            table_order: vec![],
            parquet: plan.parquet,
            batch: plan.batch,
        };
        files.push((layout.work_chunk(chunk.id), to_json("chunk", &spec)?));
    }
    put_all(dest, files, OBJECTS_AT_ONCE).await?;
    // Last: a plan without all its chunks is never there to resume.
    dest.put(&layout.work_plan(), to_json("plan", plan)?).await
}

/// Everything a resumed run starts from: the export as planned, its chunks still to read,
/// and the records of those already done. The run takes the export's lease over first (a
/// run it takes over stops at its next write), so what it finds written stays as it found it.
pub(super) async fn resume(
    cfg: &ExportConfig,
    mysql_consistency: crate::source::mysql::Consistency,
    progress: &dyn Progress,
    me: &RunIdentity,
) -> Result<(Prepared, Vec<ChunkRecord>)> {
    let Some(export_id) = cfg.export_id.clone() else {
        return Err(Error::InvalidInput(
            "--resume needs the --export-id of the export to finish".into(),
        ));
    };
    let opened = open_source(cfg, mysql_consistency, progress).await?;
    let dest = Destination::open(&cfg.destination, cfg.endpoint.as_deref())?;
    let layout = Layout::new(&dest.root, &export_id);
    if dest.exists(&layout.manifest()).await? {
        return Err(Error::InvalidInput(format!(
            "export {export_id:?} is already published in {}: there is nothing to resume",
            dest.url
        )));
    }
    if !dest.exists(&layout.work_plan()).await? {
        return Err(no_plan(&export_id, &dest));
    }
    let lease = take_export_lease(&dest, &layout, &export_id, me, Take::Resume).await?;
    let fenced = dest.fenced(std::sync::Arc::new(Leases(vec![lease.clone()])));
    match resume_leased(opened, fenced, layout, lease.clone(), progress).await {
        Ok(resumed) => Ok(resumed),
        Err(e) => {
            let e = lease.explain(e);
            lease.release().await;
            Err(e)
        }
    }
}

fn no_plan(export_id: &str, dest: &Destination) -> Error {
    Error::InvalidInput(format!(
        "export {export_id:?} has no plan in {}: there is nothing to resume; run without \
         --resume to start it",
        dest.url
    ))
}

/// [`resume`], once the lease is taken.
async fn resume_leased(
    opened: Opened,
    dest: Destination,
    layout: Layout,
    lease: std::sync::Arc<Lease>,
    progress: &dyn Progress,
) -> Result<(Prepared, Vec<ChunkRecord>)> {
    let export_id = opened.export_id.clone();
    // A run that published between the checks above and the lease left it `published`, and
    // taking the lease failed; one that published before any lease existed left a manifest.
    check_unpublished(&dest, &layout, &export_id).await?;
    let mut plan: ExportPlan = if dest.exists(&layout.work_plan()).await? {
        from_json("plan", &dest.get(&layout.work_plan()).await?)?
    } else {
        return Err(no_plan(&export_id, &dest));
    };
    check_same_source(&plan, &opened)?;
    dest.check_writable(&dest.root, lease.run()).await?;
    let (_, foreign) = existing_objects(&dest, &layout).await?;
    if !foreign.is_empty() {
        return Err(foreign_objects_error(&export_id, &foreign));
    }

    progress.phase("checking the chunks already written");
    let specs: Vec<ChunkSpec> = read_specs(&dest, &layout, plan.chunks)
        .try_collect()
        .await?;
    // Each check reads its files' footers, OBJECTS_AT_ONCE at a time, so a few chunks at once.
    let checked: Vec<(ChunkSpec, Option<ChunkRecord>)> = futures::stream::iter(specs)
        .map(|spec| {
            let (dest, layout) = (dest.clone(), layout.clone());
            async move {
                let record = finished(&dest, &layout, &spec).await?;
                Ok::<_, Error>((spec, record))
            }
        })
        .buffer_unordered(CHUNKS_CHECKED_AT_ONCE)
        .try_collect()
        .await?;
    let mut tables = Gathered::new();
    let mut done = Vec::new();
    let mut todo = Vec::new();
    for (spec, record) in checked {
        match record {
            Some(record) => done.push(record),
            None => todo.push(spec.chunk),
        }
        add_tables(&mut tables, spec.table_order, spec.tables);
    }
    todo.sort_by_key(|c| c.id);
    // The plan's own tables (those no chunk reads) move over: the plan's list is replaced.
    for t in std::mem::take(&mut plan.tables) {
        tables.entry(t.order).or_insert_with(|| Box::new(t.desc));
    }
    let mut plan = with_tables(plan, tables);
    plan.source.consistency = format!(
        "{}; resumed: {} of {} chunks read in a second view ({})",
        plan.source.consistency,
        todo.len(),
        plan.chunks,
        opened.session.consistency()
    );
    tracing::info!(
        export_id,
        done = done.len(),
        remaining = todo.len(),
        "resuming: chunks already written are kept"
    );
    let Opened { session, .. } = opened;
    Ok((
        Prepared {
            session,
            dest,
            layout,
            plan,
            chunks: todo,
            lease,
        },
        done,
    ))
}

/// A resumed run must read the database the plan was made of.
fn check_same_source(plan: &ExportPlan, opened: &Opened) -> Result<()> {
    let (was, is) = (&plan.source, &opened.info);
    if was.engine != is.engine || was.database != is.database {
        return Err(Error::InvalidInput(format!(
            "export {:?} was planned from {} database {:?}, not {} database {:?}: resume it \
             with the same --source",
            plan.export_id, was.engine, was.database, is.engine, is.database
        )));
    }
    Ok(())
}
