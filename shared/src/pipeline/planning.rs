//! Discovery and planning in one pass over the catalog. Tables are planned as discovery streams
//! them, and each chunk goes to the caller as soon as it is complete, with the tables its
//! pieces read: a database of a million small tables never has its descriptions in memory at
//! once unless the caller keeps them.
//!
//! A table whose plan needs queries of its own (key bounds of a big table, rows per partition
//! of a table with Hive partitions, the block counts of a partitioned table's big leaves) is
//! deferred until the catalog stream ends, because the stream holds the session's
//! connection; such tables are few, since each is big or configured by name.
//!
//! `plan_export` is the plan alone (`snapex plan`): the same pass, keeping nothing.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::ExportConfig;
use crate::error::{Error, Result};
use crate::model::{Chunk, PartitionBy, ProfileGroup, SkippedTable, TableDesc, TableName};
use crate::partitioning::Resolver;
use crate::plan::Planner;
use crate::source::{Discovered, Session, SessionOptions, TableFilter};

use super::Progress;

/// A planned table with its position in catalog order.
pub(super) type Ordered = (usize, TableDesc);

/// What planning hands on.
pub(super) enum Planned {
    /// A chunk, numbered, with the tables its pieces read.
    Chunk(Chunk, Vec<Ordered>),
    /// A table with nothing to read: one with Hive partitions and no rows. It is still
    /// exported (a catalog table with no partitions), so it must not disappear.
    Unread(Box<Ordered>),
}

/// What one pass found, besides the chunks.
#[derive(Debug, Default)]
pub(super) struct Found {
    pub tables: usize,
    pub bytes: u64,
    pub chunks: usize,
    pub pieces: usize,
    pub skipped: Vec<SkippedTable>,
}

/// Discovers the tables `filter` selects and plans them, handing every chunk (numbered in the
/// order they are made) to `sink` with the tables its pieces read. Every table reaches the
/// sink at least once; a table split across chunks comes with each of them, and a table with
/// no piece comes as [`Planned::Unread`].
pub(super) async fn discover_and_plan(
    cfg: &ExportConfig,
    session: &Session,
    filter: &TableFilter,
    progress: &dyn Progress,
    mut sink: impl FnMut(Planned) -> Result<()>,
) -> Result<Found> {
    let mut found = Found::default();
    let mut resolver = Resolver::new(&cfg.partition_rules);
    let mut matched = vec![false; filter.include_count()];
    // Tables whose single piece waits in the planner's current batch.
    let mut pending: HashMap<TableName, Ordered> = HashMap::new();
    let mut deferred: Vec<TableDesc> = Vec::new();
    let mut deferred_order: Vec<usize> = Vec::new();
    // A Mutex, not a RefCell: the future must be Send (the Lambda runtime needs it).
    let emitted: Mutex<Vec<Chunk>> = Mutex::new(Vec::new());
    let mut planner = Planner::new(cfg.plan, |c| {
        emitted.lock().unwrap_or_else(|p| p.into_inner()).push(c);
        Ok::<(), Error>(())
    });
    // Hands what the planner emitted to the sink, each chunk with its tables.
    let mut drain = |pending: &mut HashMap<TableName, Ordered>,
                     later: &HashMap<TableName, Ordered>,
                     read_later: &mut HashSet<TableName>,
                     found: &mut Found|
     -> Result<()> {
        let done: Vec<Chunk> =
            std::mem::take(&mut *emitted.lock().unwrap_or_else(|p| p.into_inner()));
        for mut chunk in done {
            chunk.id = found.chunks;
            found.chunks += 1;
            found.pieces += chunk.pieces.len();
            let mut tables: Vec<Ordered> = Vec::new();
            for p in &chunk.pieces {
                if tables.iter().any(|(_, t)| t.name == p.table) {
                    continue;
                }
                let table = pending
                    .remove(&p.table)
                    .or_else(|| {
                        read_later.insert(p.table.clone());
                        later.get(&p.table).cloned()
                    })
                    .ok_or_else(|| {
                        Error::Internal(format!(
                            "chunk {} reads {}, never planned",
                            chunk.id, p.table
                        ))
                    })?;
                tables.push(table);
            }
            sink(Planned::Chunk(chunk, tables))?;
        }
        Ok(())
    };
    // No deferred table is planned while the catalog streams: nothing to look up there.
    let none = HashMap::new();
    let mut read_later: HashSet<TableName> = HashSet::new();
    let mut seen = 0usize;
    let mut discovered = 0usize;
    let mut glue_count = crate::catalog::quotas::GlueTableCount::new();
    session
        .discover(|d| {
            let name = match &d {
                Discovered::Table(t) => &t.name,
                Discovered::Skipped(s) => &s.name,
            };
            discovered += 1;
            let Some(hits) = filter.selects(name) else {
                return Ok(());
            };
            for i in hits {
                matched[i] = true;
            }
            let mut t = match d {
                Discovered::Table(t) => *t,
                Discovered::Skipped(s) => {
                    found.skipped.push(s);
                    return Ok(());
                }
            };
            // The catalog reader pushed the columns one by one: a vector of 2 columns has room
            // for 4 (256 bytes a table of a million, kept until the export is published).
            t.columns.shrink_to_fit();
            let order = seen;
            seen += 1;
            found.tables += 1;
            found.bytes += t.estimated_bytes;
            resolver.apply(&mut t)?;
            if cfg.plan.wants_bounds(&t)
                || t.partition_by.is_some()
                || !t.partitions.is_empty()
                || t.columns.iter().any(|c| c.dims_unknown)
            {
                deferred.push(t);
                deferred_order.push(order);
                return Ok(());
            }
            glue_count.add(&t, &cfg.glue_quotas);
            planner.table(&t, &[])?;
            pending.insert(t.name.clone(), (order, t));
            drain(&mut pending, &none, &mut read_later, &mut found)
        })
        .await?;
    filter.check_all_matched(&matched)?;
    filter.check_something_left(discovered, found.tables + found.skipped.len())?;
    resolver.finish()?;

    if !deferred.is_empty() {
        progress.phase("reading key bounds");
    }
    for t in deferred.iter_mut().filter(|t| cfg.plan.wants_bounds(t)) {
        session.fetch_bounds(t).await?;
    }
    // Before any file's schema is fixed: the files of a table share it.
    for t in deferred
        .iter_mut()
        .filter(|t| t.columns.iter().any(|c| c.dims_unknown))
    {
        session.fetch_array_dims(t).await?;
    }
    // Big leaves of a partitioned table read leaf by leaf are split in block ranges.
    for t in deferred.iter_mut().filter(|t| t.partition_by.is_none()) {
        if t.partitions.iter().any(|l| cfg.plan.wants_blocks(l)) {
            session
                .fetch_leaf_blocks(t, |l| cfg.plan.wants_blocks(l))
                .await?;
        }
    }
    // Refused before the deferred tables' chunks, with their columns final.
    for t in &deferred {
        glue_count.add(t, &cfg.glue_quotas);
    }
    glue_count.check(&cfg.glue_quotas, cfg.glue_layout())?;
    let profiles = profile_partitions(session, &mut deferred, &cfg.plan, progress).await?;
    let later: HashMap<TableName, Ordered> = deferred
        .into_iter()
        .zip(deferred_order)
        .map(|(t, i)| (t.name.clone(), (i, t)))
        .collect();
    let mut big: Vec<&Ordered> = later.values().collect();
    big.sort_by_key(|(i, _)| *i);
    for (_, t) in big {
        let groups = profiles.get(&t.name).map_or(&[][..], |g| &g[..]);
        planner.table(t, groups)?;
        drain(&mut pending, &later, &mut read_later, &mut found)?;
    }
    planner.finish()?;
    drain(&mut pending, &later, &mut read_later, &mut found)?;
    let mut unread: Vec<Ordered> = later
        .into_iter()
        .filter(|(name, _)| !read_later.contains(name))
        .map(|(_, t)| t)
        .collect();
    unread.sort_by_key(|(i, _)| *i);
    for t in unread {
        sink(Planned::Unread(Box::new(t)))?;
    }
    Ok(found)
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

/// Discovers and plans an export as [`super::run_export`] would, inside one consistent view of the
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
    let found = discover_and_plan(cfg, &session, &filter, progress.as_ref(), |p| match p {
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
