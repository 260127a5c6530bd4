//! The planner: pure functions from table descriptions to chunks. No I/O here; the source
//! supplies sizes and key bounds, and the tests below pin the arithmetic on its edges.

use serde::{Deserialize, Serialize};

use crate::model::{Chunk, KeyRange, Piece, TableDesc};

/// Planner settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PlanConfig {
    /// The Parquet file size we aim for, in bytes.
    pub target_file_bytes: u64,
    /// How many bytes of source storage make one byte of zstd Parquet. Row stores carry
    /// per-row headers, alignment padding and free space that columnar compression removes;
    /// 4 is a conservative middle for typical OLTP tables (measured figures go in the README).
    pub source_bytes_per_file_byte: f64,
    /// At most this many whole small tables share one chunk, so a chunk of empty tables still
    /// finishes quickly.
    pub max_pieces_per_chunk: usize,
    /// Never split one table into more ranges than this.
    pub max_ranges_per_table: u64,
}

impl Default for PlanConfig {
    fn default() -> Self {
        PlanConfig {
            target_file_bytes: 128 * 1024 * 1024,
            source_bytes_per_file_byte: 4.0,
            max_pieces_per_chunk: 256,
            max_ranges_per_table: 100_000,
        }
    }
}

impl PlanConfig {
    /// Source bytes that make one target-sized file.
    pub fn target_source_bytes(&self) -> u64 {
        ((self.target_file_bytes as f64) * self.source_bytes_per_file_byte).max(1.0) as u64
    }

    /// True when the table is big enough that its key bounds are worth a query.
    pub fn wants_bounds(&self, table: &TableDesc) -> bool {
        table.split_key.is_some()
            && table.partitions.is_empty()
            && table.estimated_bytes > self.target_source_bytes()
    }
}

/// Splits `[min, max]` into at most `parts` half-open ranges of near-equal key span. The first
/// range is unbounded below and the last unbounded above, so together they cover every key.
pub fn split_key_range(min: i64, max: i64, parts: u64) -> Vec<KeyRange> {
    debug_assert!(min <= max);
    let span = (max as i128) - (min as i128) + 1;
    let parts = (parts.max(1) as i128).min(span);
    let mut bounds: Vec<i64> = Vec::with_capacity(parts as usize);
    for i in 1..parts {
        let b = (min as i128 + span * i / parts) as i64;
        if bounds.last() != Some(&b) {
            bounds.push(b);
        }
    }
    ranges_between(bounds)
}

/// Splits `[min, max]` into at most `parts` ranges holding near-equal numbers of rows, from
/// `quantiles`: equal-frequency bucket bounds of the key, such as PostgreSQL's `pg_stats`
/// histogram (each bucket holds the same share of rows). A boundary between two quantiles is
/// placed by linear interpolation. With fewer than two quantiles this is [`split_key_range`].
pub fn split_by_quantiles(min: i64, max: i64, quantiles: &[i64], parts: u64) -> Vec<KeyRange> {
    if quantiles.len() < 2 || quantiles.windows(2).any(|w| w[0] > w[1]) {
        return split_key_range(min, max, parts);
    }
    let buckets = (quantiles.len() - 1) as u128;
    let parts = parts.max(1) as u128;
    let mut bounds: Vec<i64> = Vec::with_capacity(parts as usize);
    for i in 1..parts {
        // Position i/parts of the way through the rows, in buckets: whole part and remainder.
        let scaled = i * buckets;
        let (b, rem) = ((scaled / parts) as usize, scaled % parts);
        let (lo, hi) = (
            quantiles[b] as i128,
            quantiles[(b + 1).min(quantiles.len() - 1)] as i128,
        );
        let value = lo + (hi - lo) * rem as i128 / parts as i128;
        // Boundaries must be strictly increasing and leave no empty range at either end.
        if value > min as i128
            && value <= max as i128
            && bounds.last().is_none_or(|last| (*last as i128) < value)
        {
            bounds.push(value as i64);
        }
    }
    ranges_between(bounds)
}

/// The half-open ranges between increasing `bounds`, unbounded at both ends.
fn ranges_between(bounds: Vec<i64>) -> Vec<KeyRange> {
    let mut ranges = Vec::with_capacity(bounds.len() + 1);
    let mut lo = None;
    for b in bounds {
        ranges.push(KeyRange { lo, hi: Some(b) });
        lo = Some(b);
    }
    ranges.push(KeyRange { lo, hi: None });
    ranges
}

/// Adds a piece read whole: a chunk of its own when it is a file's worth, else packed with other
/// small pieces into `batch` (started anew when full).
fn add_whole(
    chunks: &mut Vec<Chunk>,
    batch: &mut Chunk,
    piece: Piece,
    bytes: u64,
    target: u64,
    config: &PlanConfig,
) {
    if bytes >= target {
        chunks.push(Chunk {
            id: 0,
            pieces: vec![piece],
            estimated_bytes: bytes,
        });
        return;
    }
    if !batch.pieces.is_empty()
        && (batch.estimated_bytes + bytes > target
            || batch.pieces.len() >= config.max_pieces_per_chunk)
    {
        chunks.push(std::mem::replace(
            batch,
            Chunk {
                id: 0,
                pieces: vec![],
                estimated_bytes: 0,
            },
        ));
    }
    batch.pieces.push(piece);
    batch.estimated_bytes += bytes;
}

/// Turns tables into chunks: big splittable tables into key ranges, one per chunk; every other
/// table into one whole-table piece, small ones packed together. Largest chunks come first so
/// the longest work starts earliest.
pub fn plan(tables: &[TableDesc], config: &PlanConfig) -> Vec<Chunk> {
    let target = config.target_source_bytes();
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut batch = Chunk {
        id: 0,
        pieces: vec![],
        estimated_bytes: 0,
    };

    for t in tables {
        if !t.partitions.is_empty() {
            // A partitioned table: each leaf is a piece of its own, written into the table's
            // folder; big leaves get chunks of their own, small ones are packed.
            for leaf in &t.partitions {
                let piece = Piece {
                    table: t.name.clone(),
                    range: None,
                    partition: Some(leaf.name.clone()),
                    hive: None,
                };
                add_whole(
                    &mut chunks,
                    &mut batch,
                    piece,
                    leaf.estimated_bytes,
                    target,
                    config,
                );
            }
            continue;
        }
        let bounds = t.split_key.as_ref().and_then(|k| k.bounds);
        match bounds {
            Some((min, max)) if t.estimated_bytes > target => {
                let parts = t
                    .estimated_bytes
                    .div_ceil(target)
                    .min(config.max_ranges_per_table);
                let quantiles = t.split_key.as_ref().map_or(&[][..], |k| &k.quantiles[..]);
                let ranges = split_by_quantiles(min, max, quantiles, parts);
                let each = t.estimated_bytes / ranges.len() as u64;
                for r in ranges {
                    chunks.push(Chunk {
                        id: 0,
                        pieces: vec![Piece {
                            table: t.name.clone(),
                            range: Some(r),
                            partition: None,
                            hive: None,
                        }],
                        estimated_bytes: each,
                    });
                }
            }
            _ => {
                let piece = Piece {
                    table: t.name.clone(),
                    range: None,
                    partition: None,
                    hive: None,
                };
                add_whole(
                    &mut chunks,
                    &mut batch,
                    piece,
                    t.estimated_bytes,
                    target,
                    config,
                );
            }
        }
    }
    if !batch.pieces.is_empty() {
        chunks.push(batch);
    }
    // Stable: equal sizes keep catalog order, so the plan is a function of its input.
    chunks.sort_by_key(|c| std::cmp::Reverse(c.estimated_bytes));
    for (i, c) in chunks.iter_mut().enumerate() {
        c.id = i;
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SplitKey, TableName};
    use std::collections::HashSet;

    fn table(name: &str, bytes: u64, bounds: Option<(i64, i64)>, splittable: bool) -> TableDesc {
        TableDesc {
            name: TableName::new("public", name),
            columns: vec![],
            primary_key: vec![],
            split_key: splittable.then(|| SplitKey {
                physical: false,
                quantiles: vec![],
                column: "id".into(),
                bounds,
            }),
            estimated_bytes: bytes,
            estimated_rows: None,
            partitions: vec![],
            partition_by: None,
        }
    }

    /// Every key in `keys` falls in exactly one range.
    fn assert_partition(ranges: &[KeyRange], keys: impl IntoIterator<Item = i64>) {
        for k in keys {
            let n = ranges.iter().filter(|r| r.contains(k)).count();
            assert_eq!(n, 1, "key {k} is in {n} ranges of {ranges:?}");
        }
    }

    #[test]
    fn ranges_cover_every_key_exactly_once_on_the_edges() {
        let edges = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
        for (min, max, parts) in [
            (1, 1, 4),
            (0, 9, 3),
            (-100, 100, 7),
            (i64::MIN, i64::MAX, 16),
            (i64::MAX - 2, i64::MAX, 10),
            (i64::MIN, i64::MIN + 5, 3),
            (5, 1_000_000, 1),
        ] {
            let ranges = split_key_range(min, max, parts);
            assert!(ranges.len() as u64 <= parts.max(1));
            assert_eq!(ranges.first().unwrap().lo, None);
            assert_eq!(ranges.last().unwrap().hi, None);
            assert_partition(
                &ranges,
                edges.iter().copied().chain([min, max, min / 2 + max / 2]),
            );
            for w in ranges.windows(2) {
                assert_eq!(w[0].hi, w[1].lo, "ranges are contiguous");
                assert!(
                    w[0].lo.is_none_or(|lo| lo < w[0].hi.unwrap()),
                    "no empty range"
                );
            }
        }
    }

    #[test]
    fn quantiles_balance_skewed_keys() {
        // 99% of rows in keys 0..10_000, 1% spread up to 1_000_000: an even split of the span
        // would put nearly every row in the first range.
        let mut keys: Vec<i64> = (0..99_000)
            .map(|i| i / 10 + (i % 10) * 1000 % 10_000)
            .collect();
        keys.extend((0..1_000).map(|i| 10_000 + i * 990));
        keys.sort();
        let quantiles: Vec<i64> = (0..=100)
            .map(|i| keys[(i * (keys.len() - 1)) / 100])
            .collect();
        let ranges = split_by_quantiles(keys[0], *keys.last().unwrap(), &quantiles, 10);
        assert_eq!(ranges.len(), 10);
        assert_partition(&ranges, keys.iter().copied().chain([i64::MIN, i64::MAX]));
        let counts: Vec<usize> = ranges
            .iter()
            .map(|r| keys.iter().filter(|k| r.contains(**k)).count())
            .collect();
        let (lo, hi) = (*counts.iter().min().unwrap(), *counts.iter().max().unwrap());
        assert!(hi <= 2 * lo, "row counts per range within 2x: {counts:?}");
        let even = split_key_range(keys[0], *keys.last().unwrap(), 10);
        let first = keys.iter().filter(|k| even[0].contains(**k)).count();
        assert!(
            first > keys.len() * 9 / 10,
            "the even split is skewed, so the test means something"
        );
    }

    #[test]
    fn quantiles_that_are_missing_or_flat_fall_back_or_collapse() {
        assert_eq!(split_by_quantiles(0, 99, &[], 4), split_key_range(0, 99, 4));
        assert_eq!(
            split_by_quantiles(0, 99, &[50, 10], 4),
            split_key_range(0, 99, 4)
        );
        // One value holds every row: nothing to split.
        assert_eq!(split_by_quantiles(7, 7, &[7, 7, 7], 5), vec![KeyRange::ALL]);
    }

    #[test]
    fn one_row_table_and_more_parts_than_keys() {
        assert_eq!(split_key_range(42, 42, 8), vec![KeyRange::ALL]);
        assert_eq!(split_key_range(0, 2, 100).len(), 3);
    }

    #[test]
    fn big_tables_split_small_ones_batch_empty_ones_stay_whole() {
        let cfg = PlanConfig {
            target_file_bytes: 100,
            source_bytes_per_file_byte: 1.0,
            ..Default::default()
        };
        let mut tables = vec![
            table("big", 1000, Some((1, 10_000)), true),
            table("empty_big", 1000, None, true), // empty: NULL min is not 0, no ranges
            table("nokey_big", 500, None, false),
        ];
        for i in 0..10 {
            tables.push(table(&format!("tiny{i}"), 30, Some((1, 3)), true));
        }
        let chunks = plan(&tables, &cfg);
        let big: Vec<_> = chunks
            .iter()
            .flat_map(|c| &c.pieces)
            .filter(|p| p.table.name == "big")
            .collect();
        assert_eq!(big.len(), 10);
        let ranges: Vec<KeyRange> = big.iter().map(|p| p.range.unwrap()).collect();
        assert_partition(&ranges, [-5, 1, 999, 1000, 1001, 10_000, 20_000]);
        let whole: Vec<_> = chunks
            .iter()
            .flat_map(|c| &c.pieces)
            .filter(|p| p.range.is_none())
            .collect();
        assert_eq!(
            whole.len(),
            12,
            "empty_big, nokey_big and 10 tiny tables are whole"
        );
        // 10 tiny tables of 30 bytes at target 100: three per chunk, so four chunks.
        let tiny_chunks: HashSet<usize> = chunks
            .iter()
            .filter(|c| c.pieces.iter().any(|p| p.table.name.starts_with("tiny")))
            .map(|c| c.id)
            .collect();
        assert_eq!(tiny_chunks.len(), 4);
        let ids: Vec<usize> = chunks.iter().map(|c| c.id).collect();
        assert_eq!(ids, (0..chunks.len()).collect::<Vec<_>>());
        assert!(
            chunks
                .windows(2)
                .all(|w| w[0].estimated_bytes >= w[1].estimated_bytes)
        );
    }

    #[test]
    fn partitioned_tables_are_read_leaf_by_leaf() {
        let cfg = PlanConfig {
            target_file_bytes: 100,
            source_bytes_per_file_byte: 1.0,
            ..Default::default()
        };
        let mut parent = table("events", 0, None, true);
        parent.partitions = vec![
            crate::model::Partition {
                name: TableName::new("public", "events_big"),
                estimated_bytes: 500,
            },
            crate::model::Partition {
                name: TableName::new("public", "events_a"),
                estimated_bytes: 10,
            },
            crate::model::Partition {
                name: TableName::new("public", "events_b"),
                estimated_bytes: 10,
            },
        ];
        assert!(!cfg.wants_bounds(&parent));
        let chunks = plan(&[parent], &cfg);
        let pieces: Vec<&Piece> = chunks.iter().flat_map(|c| &c.pieces).collect();
        assert_eq!(pieces.len(), 3);
        assert!(
            pieces
                .iter()
                .all(|p| p.table.name == "events" && p.range.is_none() && p.partition.is_some())
        );
        assert_eq!(
            chunks.len(),
            2,
            "the big leaf alone, the two small ones together"
        );
        assert_eq!(
            chunks[0].pieces[0].partition.as_ref().unwrap().name,
            "events_big"
        );
        assert_eq!(chunks[0].pieces[0].file_stem(), "part-of-public.events_big");
    }

    #[test]
    fn thousands_of_empty_tables_become_few_chunks() {
        let tables: Vec<_> = (0..5000)
            .map(|i| table(&format!("t{i}"), 0, None, false))
            .collect();
        let chunks = plan(&tables, &PlanConfig::default());
        assert_eq!(chunks.len(), 5000usize.div_ceil(256));
        let total: usize = chunks.iter().map(|c| c.pieces.len()).sum();
        assert_eq!(total, 5000);
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
