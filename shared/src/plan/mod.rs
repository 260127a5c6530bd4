//! The planner: pure functions from table descriptions to chunks. No I/O here; the source
//! supplies sizes and key bounds, and the tests pin the arithmetic on its edges. This module
//! holds the planner's settings and the whole plan of an export; its children hold the key
//! ranges (`ranges`), the packing of pieces into chunks (`packing`) and the pieces of a table
//! with Hive partitions (`hive`).

mod hive;
mod packing;
mod ranges;

pub use packing::Planner;
pub use ranges::{quantiles_from_counts, split_by_quantiles, split_key_range};

use serde::{Deserialize, Serialize};

use std::collections::HashMap;

use crate::error::Error;
use crate::model::{Chunk, PartitionBy, Partitioning, ProfileGroup, TableDesc, TableName};

/// Planner settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PlanConfig {
    /// The Parquet file size we aim for, in bytes.
    pub target_file_bytes: u64,
    /// How many bytes of source storage make one byte of zstd Parquet. Row stores carry
    /// per-row headers, alignment padding and free space that columnar compression removes;
    /// 4 is a conservative middle for typical OLTP tables (figures: docs/performance.md).
    pub source_bytes_per_file_byte: f64,
    /// At most this many whole small tables share one chunk, so a chunk of empty tables still
    /// finishes quickly.
    pub max_pieces_per_chunk: usize,
    /// Never split one table into more ranges than this.
    pub max_ranges_per_table: u64,
    /// The most source bytes one chunk may read: what one ExportChunk call reads well within
    /// its timeout (see [`crate::budget`]). Pieces are made no bigger, and a table that
    /// nothing can split finer is refused. `None` (the CLI's default): no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_chunk_bytes: Option<u64>,
}

impl Default for PlanConfig {
    fn default() -> Self {
        PlanConfig {
            target_file_bytes: 128 * 1024 * 1024,
            source_bytes_per_file_byte: 4.0,
            max_pieces_per_chunk: 256,
            max_ranges_per_table: 100_000,
            max_chunk_bytes: None,
        }
    }
}

impl PlanConfig {
    /// Source bytes that make one target-sized file.
    pub fn target_source_bytes(&self) -> u64 {
        ((self.target_file_bytes as f64) * self.source_bytes_per_file_byte).max(1.0) as u64
    }

    /// Source bytes of one piece: a target-sized file's worth, or less when one chunk may
    /// read less than that.
    pub fn piece_bytes(&self) -> u64 {
        let target = self.target_source_bytes();
        self.max_chunk_bytes
            .map_or(target, |m| target.min(m.max(1)))
    }

    /// True when a leaf partition is big enough to be split in block ranges, so its block
    /// count is worth a query.
    pub fn wants_blocks(&self, leaf: &crate::model::Partition) -> bool {
        leaf.estimated_bytes > self.piece_bytes()
    }

    /// True when the table is big enough that its key bounds are worth a query.
    pub fn wants_bounds(&self, table: &TableDesc) -> bool {
        let buckets = matches!(
            table.partition_by,
            Some(Partitioning {
                by: PartitionBy::KeyBuckets { .. },
                ..
            })
        );
        table.split_key.is_some()
            && table.partitions.is_empty()
            && (buckets
                || (table.partition_by.is_none() && table.estimated_bytes > self.piece_bytes()))
    }
}

/// Turns tables into chunks with a [`Planner`], then orders them largest first (so the longest
/// work starts earliest) and numbers them. Fails on the first table too big to plan.
pub fn plan(
    tables: &[TableDesc],
    profiles: &HashMap<TableName, Vec<ProfileGroup>>,
    config: &PlanConfig,
) -> Result<Vec<Chunk>, Error> {
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut planner = Planner::new(*config, |c| {
        chunks.push(c);
        Ok::<(), Error>(())
    });
    for t in tables {
        let groups = profiles.get(&t.name).map_or(&[][..], |g| &g[..]);
        planner.table(t, groups)?;
    }
    planner.finish()?;
    number_largest_first(&mut chunks);
    Ok(chunks)
}

/// Orders chunks largest first and numbers them `0..`. Stable: equal sizes keep their order,
/// so the plan is a function of its input.
pub fn number_largest_first(chunks: &mut [Chunk]) {
    chunks.sort_by_key(|c| std::cmp::Reverse(c.estimated_bytes));
    for (i, c) in chunks.iter_mut().enumerate() {
        c.id = i;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GroupValue, KeyRange, SplitKey};

    pub(super) fn table(
        name: &str,
        bytes: u64,
        bounds: Option<(i64, i64)>,
        splittable: bool,
    ) -> TableDesc {
        TableDesc {
            name: TableName::new("public", name),
            columns: vec![],
            primary_key: vec![],
            split_key: splittable.then(|| SplitKey {
                physical: false,
                quantiles: vec![],
                column: "id".into(),
                bounds,
                tuples: None,
            }),
            estimated_bytes: bytes,
            estimated_rows: None,
            partitions: vec![],
            partition_by: None,
        }
    }

    /// Every key in `keys` falls in exactly one range.
    pub(super) fn assert_partition(ranges: &[KeyRange], keys: impl IntoIterator<Item = i64>) {
        for k in keys {
            let n = ranges.iter().filter(|r| r.contains(k)).count();
            assert_eq!(n, 1, "key {k} is in {n} ranges of {ranges:?}");
        }
    }
    /// A plan with a small per-chunk limit: files of 100 bytes, chunks of at most 250.
    pub(super) fn limited() -> PlanConfig {
        PlanConfig {
            target_file_bytes: 100,
            source_bytes_per_file_byte: 4.0,
            max_chunk_bytes: Some(250),
            ..Default::default()
        }
    }

    pub(super) fn refusal(e: Error) -> (String, u64, u64, String) {
        let shown = e.to_string();
        assert_eq!(e.class(), crate::error::ErrorClass::InvalidInput, "{shown}");
        match e {
            Error::TooBig {
                table,
                estimated_bytes,
                limit,
                ..
            } => (table, estimated_bytes, limit, shown),
            other => panic!("not a refusal: {other}"),
        }
    }

    pub(super) fn group(value: GroupValue, rows: u64, keys: (i64, i64)) -> ProfileGroup {
        ProfileGroup {
            value,
            rows,
            keys: Some(keys),
        }
    }

    #[test]
    fn the_chunk_limit_caps_pieces_below_the_file_target() {
        let cfg = limited();
        assert_eq!(cfg.target_source_bytes(), 400);
        assert_eq!(cfg.piece_bytes(), 250);
        assert_eq!(PlanConfig::default().piece_bytes(), 512 << 20);
        // A table over the limit (though under a file's worth) wants its bounds read.
        assert!(cfg.wants_bounds(&table("a", 300, None, true)));
        let chunks = plan(
            &[table("keyed", 1000, Some((1, 10_000)), true)],
            &HashMap::new(),
            &cfg,
        )
        .unwrap();
        assert_eq!(chunks.len(), 4);
        assert!(
            chunks.iter().all(|c| c.estimated_bytes <= 250),
            "{chunks:?}"
        );
        // Small tables are packed no further than the limit either.
        let tables: Vec<_> = (0..10)
            .map(|i| table(&format!("t{i}"), 60, None, false))
            .collect();
        let chunks = plan(&tables, &HashMap::new(), &cfg).unwrap();
        assert!(
            chunks.iter().all(|c| c.estimated_bytes <= 250),
            "{chunks:?}"
        );
        assert_eq!(chunks.iter().map(|c| c.pieces.len()).sum::<usize>(), 10);
    }

    #[test]
    fn bounds_are_only_wanted_for_big_splittable_tables() {
        let cfg = PlanConfig {
            target_file_bytes: 100,
            source_bytes_per_file_byte: 1.0,
            ..Default::default()
        };
        assert!(cfg.wants_bounds(&table("a", 101, None, true)));
        assert!(!cfg.wants_bounds(&table("b", 100, None, true)));
        assert!(!cfg.wants_bounds(&table("c", 1000, None, false)));
    }
}
