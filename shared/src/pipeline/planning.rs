//! Discovery and planning in one pass over the catalog. Tables are planned as discovery streams
//! them, and each chunk goes to the caller as soon as it is complete, with the tables its
//! pieces read: a database of a million small tables never has its descriptions in memory at
//! once unless the caller keeps them.
//!
//! A table whose plan needs queries of its own (key bounds of a big table, rows per partition
//! of a table with Hive partitions, the block counts of a partitioned table's big leaves) is
//! deferred until the catalog stream ends, because the stream holds the session's
//! connection; such tables are few, since each is big or configured by name.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use crate::config::ExportConfig;
use crate::error::{Error, Result};
use crate::model::{Chunk, SkippedTable, TableDesc, TableName};
use crate::partitioning::Resolver;
use crate::plan::Planner;
use crate::source::{Discovered, Session, TableFilter};

use super::{Progress, profile_partitions};

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
