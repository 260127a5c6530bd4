//! The records under an export's `_work/` folder, read back: one record, the chunks'
//! descriptions, a chunk's completion record that still holds, the lowest failure, the plan
//! with the tables the descriptions carry, and the list of them all (to clear them). Apart
//! from the steps because the command line's resume reads them too.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;

use super::verify::verify;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::limits::OBJECTS_AT_ONCE;
use crate::model::TableDesc;
use crate::sink::Destination;
use crate::work::{
    ChunkRecord, ChunkSpec, ExportPlan, ExportTables, FailureRecord, PlannedTable,
    RegisterFailureRecord, from_json, to_json,
};

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

/// Tables gathered from the chunks' descriptions, by catalog order, each boxed: a tree that
/// holds 336-byte descriptions inline is some three times the size of one that holds
/// pointers, and the boxes move on into the run's map as they are (see
/// [`gathered_tables`]).
pub(super) type Gathered = BTreeMap<usize, Box<TableDesc>>;

/// Adds a chunk description's tables to those gathered so far (a table read by several
/// chunks is described by each). A description read from JSON has room for up to twice its
/// columns (its vector grew as it was read): what is kept holds no more than its columns.
pub(super) fn add_tables(tables: &mut Gathered, order: Vec<usize>, descs: Vec<TableDesc>) {
    for (order, mut desc) in order.into_iter().zip(descs) {
        if let Entry::Vacant(slot) = tables.entry(order) {
            desc.columns.shrink_to_fit();
            slot.insert(Box::new(desc));
        }
    }
}

/// Each of `tables`' Glue name, in catalog order, as a plan of all of them would name it.
fn glue_names(plan: &ExportPlan, tables: &Gathered) -> Vec<String> {
    let descs: Vec<&TableDesc> = tables.values().map(|t| &**t).collect();
    crate::catalog::fold::assign(&descs, plan.default_schema.as_deref(), plan.fold_schemas)
}

/// `plan` holding `tables` (by catalog order), each named for Glue as a plan of all of
/// them would name it.
pub(super) fn with_tables(mut plan: ExportPlan, tables: Gathered) -> ExportPlan {
    let glue = glue_names(&plan, &tables);
    plan.tables = tables
        .into_iter()
        .zip(glue)
        .map(|((order, desc), glue_name)| PlannedTable {
            desc: *desc,
            glue_name,
            order,
        })
        .collect();
    plan
}

/// The run's tables from those gathered, in catalog order, each named for Glue as
/// [`with_tables`] names it: what publishing takes, built straight from the boxes gathered.
/// Going through the plan's list instead held every description three times over at its
/// peak (the tree, the list, the run's map): at 100,000 tables, 100 of Finalize's 194 MB.
pub(super) fn gathered_tables(plan: &ExportPlan, tables: Gathered) -> ExportTables {
    let glue = glue_names(plan, &tables);
    ExportTables::in_order(plan.glue_database.clone(), tables.into_values().zip(glue))
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
    lowest_record(&dest, &layout.work_failed_dir(), "failure record").await
}

/// The failure record of the lowest-numbered failed batch of an export's Glue registration,
/// if any batch failed.
pub async fn first_register_failure(
    destination: &str,
    endpoint: Option<&str>,
    export_id: &str,
) -> Result<Option<RegisterFailureRecord>> {
    let dest = Destination::open(destination, endpoint)?;
    let layout = Layout::new(&dest.root, export_id);
    lowest_record(
        &dest,
        &layout.work_register_failed_dir(),
        "registration failure record",
    )
    .await
}

/// Records why batch `batch` of an export's Glue registration failed (`error` is the name
/// the step fails with), for Cleanup to report: the Map's own error names no batch.
pub async fn record_register_failure(
    destination: &str,
    endpoint: Option<&str>,
    export_id: &str,
    batch: usize,
    error: &str,
    cause: &str,
) -> Result<()> {
    let dest = Destination::open(destination, endpoint)?;
    let layout = Layout::new(&dest.root, export_id);
    let record = RegisterFailureRecord {
        batch,
        error: error.to_string(),
        cause: crate::error::one_line(cause),
    };
    dest.put(
        &layout.work_register_failed(batch),
        to_json("registration failure record", &record)?,
    )
    .await
}

/// The record `<n>.json` of the lowest `n` in `dir`, if there is one.
async fn lowest_record<T: for<'de> serde::Deserialize<'de>>(
    dest: &Destination,
    dir: &Path,
    what: &str,
) -> Result<Option<T>> {
    let lowest = dest
        .list(dir)
        .await?
        .into_iter()
        .filter_map(|p| {
            let n = p.filename()?.strip_suffix(".json")?.parse::<usize>().ok()?;
            Some((n, p))
        })
        .min_by_key(|(n, _)| *n);
    match lowest {
        Some((_, path)) => Ok(Some(from_json(what, &dest.get(&path).await?)?)),
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
