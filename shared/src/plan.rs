//! The planner: pure functions from table descriptions to chunks. No I/O here; the source
//! supplies sizes and key bounds, and the tests below pin the arithmetic on its edges.

use serde::{Deserialize, Serialize};

use std::collections::HashMap;

use crate::error::Error;
use crate::model::{
    Chunk, GroupValue, HivePartition, KeyRange, PartFilter, PartitionBy, Partitioning, Piece,
    ProfileGroup, TableDesc, TableName,
};

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

/// `n + 1` equal-frequency quantiles (the first the smallest key, the last the largest) from
/// row counts of consecutive inclusive key ranges `(lo, hi, rows)`, sorted: the input of
/// [`split_by_quantiles`] for a source that can count rows in a range but keeps no histogram.
/// Within a range, keys are taken as evenly spread. Empty when there are no rows.
pub fn quantiles_from_counts(ranges: &[(i64, i64, u64)], n: usize) -> Vec<i64> {
    let total: u128 = ranges.iter().map(|r| r.2 as u128).sum();
    let (Some(first), Some(last)) = (ranges.first(), ranges.last()) else {
        return vec![];
    };
    if total == 0 || n == 0 {
        return vec![];
    }
    let mut out = Vec::with_capacity(n + 1);
    out.push(first.0);
    let mut seen: u128 = 0;
    let mut i = 0;
    for q in 1..n {
        let want = total * q as u128 / n as u128;
        while i < ranges.len() && seen + ranges[i].2 as u128 <= want {
            seen += ranges[i].2 as u128;
            i += 1;
        }
        let Some(&(lo, hi, rows)) = ranges.get(i) else {
            break;
        };
        let span = hi as i128 - lo as i128 + 1;
        let into = span * (want - seen) as i128 / (rows as i128).max(1);
        let value = (lo as i128 + into).min(hi as i128) as i64;
        if out.last().is_none_or(|l| *l <= value) {
            out.push(value);
        }
    }
    out.push(last.1.max(*out.last().unwrap_or(&last.1)));
    out
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

/// Plans tables one at a time and hands each chunk to `emit` as soon as it is complete, so a
/// caller can stream the chunk list (a million tables need not be held at once). Whole small
/// pieces are packed into a batch until it reaches the target size or
/// [`PlanConfig::max_pieces_per_chunk`]; every other piece is a chunk of its own. Chunks come
/// out with id 0: the caller numbers them.
///
/// No chunk is planned bigger than [`PlanConfig::max_chunk_bytes`]: big tables and big leaf
/// partitions are split at [`PlanConfig::piece_bytes`], and a table (or partition) bigger than
/// the limit that nothing splits is refused with [`Error::TooBig`] before any chunk of the
/// export is handed on.
pub struct Planner<E> {
    config: PlanConfig,
    target: u64,
    batch: Chunk,
    emit: E,
}

impl<E, Err> Planner<E>
where
    E: FnMut(Chunk) -> Result<(), Err>,
    Err: From<Error>,
{
    pub fn new(config: PlanConfig, emit: E) -> Self {
        Planner {
            target: config.piece_bytes(),
            config,
            batch: empty_chunk(),
            emit,
        }
    }

    /// Plans `t`. A table with Hive partitions is planned from `groups` (its rows per partition
    /// group): every piece writes into one partition folder, and a partition becomes as few
    /// files near the target size as its groups allow.
    pub fn table(&mut self, t: &TableDesc, groups: &[ProfileGroup]) -> Result<(), Err> {
        if let Some(p) = &t.partition_by {
            let pieces = hive_pieces(t, p, groups, &self.config);
            // Every piece is checked before any is handed on: a refused table plans nothing.
            for (piece, bytes) in &pieces {
                let Some(h) = &piece.hive else { continue };
                let what = format!(
                    "the partition {}={}",
                    h.key,
                    h.value.as_deref().unwrap_or("NULL")
                );
                self.fits(t, &what, *bytes, || {
                    "the rows of one partition value (one period, one value) are read as one \
                     piece"
                        .into()
                })?;
            }
            for (piece, bytes) in pieces {
                self.whole(piece, bytes)?;
            }
            return Ok(());
        }
        if !t.partitions.is_empty() {
            // A partitioned table: each leaf is read under its own name and written into the
            // table's folder. A leaf bigger than a piece is read in block ranges when its block
            // count was measured; small leaves are packed.
            let mut planned = Vec::with_capacity(t.partitions.len());
            for leaf in &t.partitions {
                let piece = |range| Piece {
                    table: t.name.clone(),
                    range,
                    partition: Some(leaf.name.clone()),
                    hive: None,
                };
                let what = format!("its leaf partition {}", leaf.name);
                match leaf.blocks {
                    Some(blocks) if leaf.estimated_bytes > self.target && blocks > 0 => {
                        let ranges = self.ranges(0, blocks as i64 - 1, &[], leaf.estimated_bytes);
                        let each = leaf.estimated_bytes / ranges.len() as u64;
                        self.fits(t, &what, each, || {
                            format!("its heap has only {blocks} blocks to split it by")
                        })?;
                        planned.extend(ranges.into_iter().map(|r| (piece(Some(r)), each, true)));
                    }
                    // Measured empty: nothing to read, whatever the statistics say.
                    Some(0) => planned.push((piece(None), 0, false)),
                    _ => {
                        self.fits(t, &what, leaf.estimated_bytes, || {
                            "it cannot be read in block ranges (they need PostgreSQL 14 or later)"
                                .into()
                        })?;
                        planned.push((piece(None), leaf.estimated_bytes, false));
                    }
                }
            }
            for (piece, bytes, alone) in planned {
                if alone {
                    self.alone(piece, bytes)?;
                } else {
                    self.whole(piece, bytes)?;
                }
            }
            return Ok(());
        }
        let key = t.split_key.as_ref();
        match key.and_then(|k| k.bounds) {
            Some((min, max)) if t.estimated_bytes > self.target => {
                let quantiles = key.map_or(&[][..], |k| &k.quantiles[..]);
                let ranges = self.ranges(min, max, quantiles, t.estimated_bytes);
                let each = t.estimated_bytes / ranges.len() as u64;
                self.fits(t, "the table", each, || {
                    format!(
                        "its split key {} gives only {} ranges",
                        key.map_or("", |k| k.column.as_str()),
                        ranges.len()
                    )
                })?;
                for r in ranges {
                    let piece = Piece {
                        table: t.name.clone(),
                        range: Some(r),
                        partition: None,
                        hive: None,
                    };
                    self.alone(piece, each)?;
                }
                Ok(())
            }
            _ => {
                // A table big enough to split had its bounds read (see `wants_bounds`): with a
                // split key and no bounds it is empty in the snapshot, whatever the statistics
                // say.
                let bytes = if key.is_some() && t.estimated_bytes > self.target {
                    0
                } else {
                    t.estimated_bytes
                };
                self.fits(t, "the table", bytes, || {
                    "it has no usable split key (an integer primary key, a primary key or unique \
                     index of NOT NULL columns on MySQL, block ranges on PostgreSQL 14 or later)"
                        .into()
                })?;
                let piece = Piece {
                    table: t.name.clone(),
                    range: None,
                    partition: None,
                    hive: None,
                };
                self.whole(piece, t.estimated_bytes)
            }
        }
    }

    /// Ranges of `[min, max]` of about one piece each of `bytes` in all.
    fn ranges(&self, min: i64, max: i64, quantiles: &[i64], bytes: u64) -> Vec<KeyRange> {
        let parts = bytes
            .div_ceil(self.target)
            .min(self.config.max_ranges_per_table);
        split_by_quantiles(min, max, quantiles, parts)
    }

    /// Refuses `what` of `t` when its `bytes` are more than one chunk may read; `why` says
    /// why it cannot be split further.
    fn fits(
        &self,
        t: &TableDesc,
        what: &str,
        bytes: u64,
        why: impl FnOnce() -> String,
    ) -> Result<(), Err> {
        match self.config.max_chunk_bytes {
            Some(limit) if bytes > limit => Err(Error::TooBig {
                table: t.name.to_string(),
                what: what.to_string(),
                estimated_bytes: bytes,
                limit,
                why: why(),
            }
            .into()),
            _ => Ok(()),
        }
    }

    /// Emits a piece as a chunk of its own.
    fn alone(&mut self, piece: Piece, bytes: u64) -> Result<(), Err> {
        (self.emit)(Chunk {
            id: 0,
            pieces: vec![piece],
            estimated_bytes: bytes,
        })
    }

    /// Emits the last, partly filled batch.
    pub fn finish(mut self) -> Result<(), Err> {
        if !self.batch.pieces.is_empty() {
            let last = std::mem::replace(&mut self.batch, empty_chunk());
            (self.emit)(last)?;
        }
        Ok(())
    }

    /// Adds a piece read whole: a chunk of its own when it is a file's worth, else packed with
    /// other small pieces into the batch (emitted first when the piece would overfill it).
    fn whole(&mut self, piece: Piece, bytes: u64) -> Result<(), Err> {
        if bytes >= self.target {
            return self.alone(piece, bytes);
        }
        if !self.batch.pieces.is_empty()
            && (self.batch.estimated_bytes + bytes > self.target
                || self.batch.pieces.len() >= self.config.max_pieces_per_chunk)
        {
            let full = std::mem::replace(&mut self.batch, empty_chunk());
            (self.emit)(full)?;
        }
        self.batch.pieces.push(piece);
        self.batch.estimated_bytes += bytes;
        Ok(())
    }
}

fn empty_chunk() -> Chunk {
    Chunk {
        id: 0,
        pieces: vec![],
        estimated_bytes: 0,
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

/// The pieces of a table with Hive partitions, each with its estimated source bytes.
fn hive_pieces(
    t: &TableDesc,
    p: &Partitioning,
    groups: &[ProfileGroup],
    config: &PlanConfig,
) -> Vec<(Piece, u64)> {
    let target = config.piece_bytes();
    let rows: u64 = groups.iter().map(|g| g.rows).sum();
    let bytes_per_row = if rows == 0 {
        0.0
    } else {
        t.estimated_bytes as f64 / rows as f64
    };
    let bytes_of = |rows: u64| (rows as f64 * bytes_per_row) as u64;
    // Key hints only narrow a read; a table read through its leaves has none.
    let hinted = t.split_key.is_some() && t.partitions.is_empty();
    let piece = |value: Option<String>, filter: PartFilter, range: Option<KeyRange>| Piece {
        table: t.name.clone(),
        range,
        partition: None,
        hive: Some(HivePartition {
            key: p.key.clone(),
            value,
            filter,
        }),
    };
    let mut out = Vec::new();
    let mut sorted: Vec<&ProfileGroup> = groups.iter().filter(|g| g.rows > 0).collect();
    sorted.sort_by(|a, b| a.value.cmp(&b.value));
    match p.by {
        PartitionBy::Time { granularity } => {
            let mut i = 0;
            while i < sorted.len() {
                let GroupValue::Time(first) = sorted[i].value else {
                    let hint = hinted.then(|| key_hint(&sorted[i..=i])).flatten();
                    let bytes = bytes_of(sorted[i].rows);
                    out.push((piece(None, PartFilter::TimeNull, hint), bytes));
                    i += 1;
                    continue;
                };
                let start = granularity.period_start(first);
                let end = granularity.period_end(start);
                let mut j = i;
                while j < sorted.len() && matches!(sorted[j].value, GroupValue::Time(v) if v < end)
                {
                    j += 1;
                }
                // Consecutive groups of the period, packed up to the target; the first piece
                // starts at the period's start and the last ends at its end, so the pieces
                // cover the period whole.
                let label = granularity.label(start);
                let mut lo = start;
                let mut from = i;
                let mut acc = 0u64;
                for k in i..j {
                    let b = bytes_of(sorted[k].rows);
                    if k > from && acc + b > target {
                        let GroupValue::Time(hi) = sorted[k].value else {
                            unreachable!("a period holds only times")
                        };
                        let hint = hinted.then(|| key_hint(&sorted[from..k])).flatten();
                        let filter = PartFilter::TimeRange { lo, hi };
                        out.push((piece(Some(label.clone()), filter, hint), acc));
                        (lo, from, acc) = (hi, k, 0);
                    }
                    acc += b;
                }
                let hint = hinted.then(|| key_hint(&sorted[from..j])).flatten();
                let filter = PartFilter::TimeRange { lo, hi: end };
                out.push((piece(Some(label), filter, hint), acc));
                i = j;
            }
        }
        PartitionBy::Value => {
            for g in sorted {
                let hint = hinted.then(|| key_hint(&[g])).flatten();
                let (value, filter) = match &g.value {
                    GroupValue::Text(v) => {
                        (Some(v.clone()), PartFilter::ValueEquals { text: v.clone() })
                    }
                    _ => (None, PartFilter::ValueNull),
                };
                out.push((piece(value, filter, hint), bytes_of(g.rows)));
            }
        }
        PartitionBy::KeyBuckets { width } => {
            let width = width.max(1) as i128;
            let quantiles = t.split_key.as_ref().map_or(&[][..], |k| &k.quantiles[..]);
            for g in sorted {
                let (GroupValue::Bucket(n), Some((kmin, kmax))) = (&g.value, g.keys) else {
                    continue;
                };
                let start = *n as i128 * width;
                let end = start + width;
                let bytes = bytes_of(g.rows);
                let parts = bytes
                    .div_ceil(target.max(1))
                    .clamp(1, config.max_ranges_per_table);
                let inside: Vec<i64> = quantiles
                    .iter()
                    .copied()
                    .filter(|q| (kmin..=kmax).contains(q))
                    .collect();
                let mut ranges = split_by_quantiles(kmin, kmax, &inside, parts);
                // The outer ends are the bucket's own, so every key of the bucket is covered.
                let clamp = |v: i128| i64::try_from(v).ok();
                if let Some(r) = ranges.first_mut() {
                    r.lo = clamp(start);
                }
                if let Some(r) = ranges.last_mut() {
                    r.hi = clamp(end);
                }
                let each = bytes / ranges.len() as u64;
                for r in ranges {
                    let p = piece(Some(start.to_string()), PartFilter::KeyRangeOnly, Some(r));
                    out.push((p, each));
                }
            }
        }
    }
    out
}

/// The key span of `groups` as a half-open range, if every group has one.
fn key_hint(groups: &[&ProfileGroup]) -> Option<KeyRange> {
    let mut lo = i64::MAX;
    let mut hi = i64::MIN;
    for g in groups {
        let (a, b) = g.keys?;
        lo = lo.min(a);
        hi = hi.max(b);
    }
    (lo <= hi).then(|| KeyRange {
        lo: Some(lo),
        hi: hi.checked_add(1),
    })
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
                tuples: None,
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
    fn quantiles_follow_the_counts() {
        // 99% of the rows in keys 1..=1000, 1% spread over a billion keys.
        let counts = [(1, 1000, 9900), (1001, 1_000_000_000, 100)];
        let q = quantiles_from_counts(&counts, 100);
        assert_eq!(q.len(), 101);
        assert_eq!(q[0], 1);
        assert_eq!(q[50], 1 + 1000 * 5000 / 9900);
        assert_eq!(*q.last().unwrap(), 1_000_000_000);
        assert!(q.windows(2).all(|w| w[0] <= w[1]), "{q:?}");
        assert!(q[98] <= 1000 && q[99] > 1000, "{:?}", &q[97..]);
        // Split into 7 ranges, the dense keys get all but the last.
        let ranges = split_by_quantiles(1, 1_000_000_000, &q, 7);
        assert_eq!(ranges.len(), 7);
        assert!(ranges[5].hi.unwrap() <= 1001, "{ranges:?}");
        assert!(quantiles_from_counts(&[], 10).is_empty());
        assert!(quantiles_from_counts(&[(5, 9, 0)], 10).is_empty());
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
        let chunks = plan(&tables, &HashMap::new(), &cfg).unwrap();
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
                blocks: None,
            },
            crate::model::Partition {
                name: TableName::new("public", "events_a"),
                estimated_bytes: 10,
                blocks: None,
            },
            crate::model::Partition {
                name: TableName::new("public", "events_b"),
                estimated_bytes: 10,
                blocks: None,
            },
        ];
        assert!(!cfg.wants_bounds(&parent));
        let chunks = plan(&[parent], &HashMap::new(), &cfg).unwrap();
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

    /// A plan with a small per-chunk limit: files of 100 bytes, chunks of at most 250.
    fn limited() -> PlanConfig {
        PlanConfig {
            target_file_bytes: 100,
            source_bytes_per_file_byte: 4.0,
            max_chunk_bytes: Some(250),
            ..Default::default()
        }
    }

    fn refusal(e: Error) -> (String, u64, u64, String) {
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
    fn block_ranges_split_a_table_without_a_key_within_the_limit() {
        let mut t = table("heap", 2000, Some((0, 99)), true);
        t.split_key = Some(SplitKey {
            bounds: Some((0, 99)),
            ..SplitKey::blocks()
        });
        let chunks = plan(&[t], &HashMap::new(), &limited()).unwrap();
        assert_eq!(chunks.len(), 8);
        assert!(chunks.iter().all(|c| c.estimated_bytes <= 250));
        let ranges: Vec<KeyRange> = chunks.iter().map(|c| c.pieces[0].range.unwrap()).collect();
        assert_partition(&ranges, [-1, 0, 1, 50, 98, 99, 100, 5000, i64::MAX]);
    }

    #[test]
    fn a_table_nothing_splits_is_refused_when_over_the_limit() {
        let cfg = limited();
        let e = plan(
            &[
                table("small", 250, None, false),
                table("nokey", 251, None, false),
            ],
            &HashMap::new(),
            &cfg,
        )
        .unwrap_err();
        let (name, bytes, limit, shown) = refusal(e);
        assert_eq!((name.as_str(), bytes, limit), ("public.nokey", 251, 250));
        assert!(shown.contains("public.nokey"), "{shown}");
        assert!(
            shown.contains("251 bytes") && shown.contains("250 bytes"),
            "{shown}"
        );
        assert!(shown.contains("no usable split key"), "{shown}");
        // Without a limit (the CLI's default) it is read whole, as before.
        let chunks = plan(
            &[table("nokey", 10_000, None, false)],
            &HashMap::new(),
            &PlanConfig::default(),
        )
        .unwrap();
        assert_eq!(chunks[0].pieces[0].range, None);
        // A keyed table whose bounds were read and found none is empty in the snapshot,
        // whatever its statistics say: nothing to refuse.
        let chunks = plan(
            &[table("emptied", 10_000, None, true)],
            &HashMap::new(),
            &cfg,
        )
        .unwrap();
        assert_eq!(chunks[0].pieces[0].range, None);
        // A key with too few values to cut the table finely enough.
        let e = plan(
            &[table("fat_rows", 1000, Some((1, 2)), true)],
            &HashMap::new(),
            &cfg,
        )
        .unwrap_err();
        let (_, bytes, _, shown) = refusal(e);
        assert_eq!(bytes, 500);
        assert!(shown.contains("gives only 2 ranges"), "{shown}");
    }

    #[test]
    fn big_leaves_are_read_in_block_ranges_and_unmeasured_ones_refused() {
        let leaf = |name: &str, bytes: u64, blocks: Option<u64>| crate::model::Partition {
            name: TableName::new("public", name),
            estimated_bytes: bytes,
            blocks,
        };
        let mut parent = table("events", 0, None, false);
        parent.partitions = vec![
            leaf("events_big", 1000, Some(40)),
            leaf("events_small", 10, None),
            leaf("events_emptied", 5000, Some(0)),
        ];
        let chunks = plan(std::slice::from_ref(&parent), &HashMap::new(), &limited()).unwrap();
        assert!(
            chunks.iter().all(|c| c.estimated_bytes <= 250),
            "{chunks:?}"
        );
        let big: Vec<&Piece> = chunks
            .iter()
            .flat_map(|c| &c.pieces)
            .filter(|p| p.partition.as_ref().unwrap().name == "events_big")
            .collect();
        assert_eq!(big.len(), 4);
        let ranges: Vec<KeyRange> = big.iter().map(|p| p.range.unwrap()).collect();
        assert_partition(&ranges, [0, 9, 10, 39, 40, 1000]);
        assert_eq!(
            big[0].file_stem(),
            format!("part-of-public.events_big.blocks_{}", ranges[0].label())
        );
        let whole: Vec<&Piece> = chunks
            .iter()
            .flat_map(|c| &c.pieces)
            .filter(|p| p.range.is_none())
            .collect();
        assert_eq!(whole.len(), 2, "the small and the emptied leaf: {whole:?}");
        assert_eq!(
            whole
                .iter()
                .find(|p| p.partition.as_ref().unwrap().name == "events_small")
                .unwrap()
                .file_stem(),
            "part-of-public.events_small"
        );

        // Not measured (a server before PostgreSQL 14) and over the limit: refused, and no
        // piece of the table is planned.
        parent.partitions.push(leaf("events_old", 300, None));
        let e = plan(&[parent], &HashMap::new(), &limited()).unwrap_err();
        let (name, bytes, limit, shown) = refusal(e);
        assert_eq!((name.as_str(), bytes, limit), ("public.events", 300, 250));
        assert!(
            shown.contains("leaf partition public.events_old"),
            "{shown}"
        );
    }

    #[test]
    fn a_hive_partition_over_the_limit_is_refused() {
        let mut t = table("events", 1000, Some((1, 1000)), true);
        t.partition_by = Some(Partitioning {
            key: "region".into(),
            column: "region".into(),
            by: PartitionBy::Value,
        });
        let groups = vec![
            group(GroupValue::Text("eu".into()), 900, (1, 900)),
            group(GroupValue::Text("us".into()), 100, (901, 1000)),
        ];
        let profiles = HashMap::from([(t.name.clone(), groups)]);
        let e = plan(&[t], &profiles, &limited()).unwrap_err();
        let (_, bytes, _, shown) = refusal(e);
        assert_eq!(bytes, 900);
        assert!(shown.contains("the partition region=eu"), "{shown}");
    }

    #[test]
    fn thousands_of_empty_tables_become_few_chunks() {
        let tables: Vec<_> = (0..5000)
            .map(|i| table(&format!("t{i}"), 0, None, false))
            .collect();
        let chunks = plan(&tables, &HashMap::new(), &PlanConfig::default()).unwrap();
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

    fn hive_table(by: PartitionBy, bytes: u64) -> TableDesc {
        let mut t = table("events", bytes, Some((1, 1_000_000)), true);
        t.partition_by = Some(Partitioning {
            key: "k".into(),
            column: "created_at".into(),
            by,
        });
        t
    }

    fn group(value: GroupValue, rows: u64, keys: (i64, i64)) -> ProfileGroup {
        ProfileGroup {
            value,
            rows,
            keys: Some(keys),
        }
    }

    fn pieces_of(t: &TableDesc, groups: Vec<ProfileGroup>, cfg: &PlanConfig) -> Vec<Piece> {
        let profiles = HashMap::from([(t.name.clone(), groups)]);
        let mut pieces: Vec<Piece> = plan(std::slice::from_ref(t), &profiles, cfg)
            .unwrap()
            .into_iter()
            .flat_map(|c| c.pieces)
            .collect();
        pieces.sort_by_key(|p| p.file_stem());
        pieces
    }

    #[test]
    fn time_partitions_pack_small_days_and_split_big_ones() {
        use crate::model::Granularity;
        const H: i64 = 3600;
        let day = |d: i64| 1_700_006_400 + d * 86_400; // 2023-11-15 00:00 UTC
        let cfg = PlanConfig {
            target_file_bytes: 1000,
            source_bytes_per_file_byte: 1.0,
            ..PlanConfig::default()
        };
        let t = hive_table(
            PartitionBy::Time {
                granularity: Granularity::Day,
            },
            // 10,000 rows at 1 byte each: target = 1000 rows.
            10_000,
        );
        let mut groups = vec![group(GroupValue::Null, 100, (5, 9))];
        // Day 0: three small hours (one file). Day 1: 24 hours of 400 rows (9600 rows: ~10
        // files of two hours each).
        for h in [1, 5, 23] {
            groups.push(group(GroupValue::Time(day(0) + h * H), 100, (h, h + 10)));
        }
        for h in 0..24 {
            groups.push(group(
                GroupValue::Time(day(1) + h * H),
                400,
                (100 + h, 200 + h),
            ));
        }
        groups.push(group(GroupValue::Time(day(2)), 0, (0, 0)));
        let pieces = pieces_of(&t, groups, &cfg);
        let by_value = |v: Option<&str>| {
            pieces
                .iter()
                .filter(|p| p.hive.as_ref().unwrap().value.as_deref() == v)
                .collect::<Vec<_>>()
        };
        let d0 = by_value(Some("2023-11-15"));
        assert_eq!(d0.len(), 1);
        assert_eq!(
            d0[0].hive.as_ref().unwrap().filter,
            PartFilter::TimeRange {
                lo: day(0),
                hi: day(1)
            }
        );
        assert_eq!(
            d0[0].range,
            Some(KeyRange {
                lo: Some(1),
                hi: Some(34)
            })
        );
        let d1 = by_value(Some("2023-11-16"));
        assert_eq!(d1.len(), 12, "two hours (800 rows) per file");
        // The day's pieces tile it exactly: no gap, no overlap.
        let mut spans: Vec<(i64, i64)> = d1
            .iter()
            .map(|p| match p.hive.as_ref().unwrap().filter {
                PartFilter::TimeRange { lo, hi } => (lo, hi),
                ref f => panic!("{f:?}"),
            })
            .collect();
        spans.sort();
        assert_eq!(spans.first().unwrap().0, day(1));
        assert_eq!(spans.last().unwrap().1, day(2));
        assert!(spans.windows(2).all(|w| w[0].1 == w[1].0), "{spans:?}");
        // The empty day writes nothing; NULL times have a piece of their own.
        assert!(by_value(Some("2023-11-17")).is_empty());
        let nulls = by_value(None);
        assert_eq!(nulls.len(), 1);
        assert_eq!(nulls[0].hive.as_ref().unwrap().filter, PartFilter::TimeNull);
        assert_eq!(pieces.len(), 14);
    }

    #[test]
    fn key_buckets_cover_each_bucket_whole_and_split_big_ones() {
        let cfg = PlanConfig {
            target_file_bytes: 1000,
            source_bytes_per_file_byte: 1.0,
            ..PlanConfig::default()
        };
        let t = hive_table(PartitionBy::KeyBuckets { width: 100 }, 3000);
        let groups = vec![
            group(GroupValue::Bucket(-1), 500, (-90, -3)),
            group(GroupValue::Bucket(7), 2500, (701, 799)),
        ];
        let pieces = pieces_of(&t, groups, &cfg);
        let neg: Vec<_> = pieces
            .iter()
            .filter(|p| p.hive.as_ref().unwrap().value.as_deref() == Some("-100"))
            .collect();
        assert_eq!(neg.len(), 1);
        assert_eq!(
            neg[0].range,
            Some(KeyRange {
                lo: Some(-100),
                hi: Some(0)
            })
        );
        let big: Vec<KeyRange> = pieces
            .iter()
            .filter(|p| p.hive.as_ref().unwrap().value.as_deref() == Some("700"))
            .map(|p| p.range.unwrap())
            .collect();
        assert_eq!(big.len(), 3);
        assert_partition(&big, 700..800);
        assert!(
            big.iter()
                .all(|r| r.lo.unwrap_or(700) >= 700 && r.hi.unwrap_or(800) <= 800)
        );
        assert!(!big.iter().any(|r| r.contains(699) || r.contains(800)));
    }

    #[test]
    fn value_partitions_one_piece_per_value() {
        let t = hive_table(PartitionBy::Value, 0);
        let groups = vec![
            group(GroupValue::Text("a/b".into()), 3, (1, 9)),
            group(GroupValue::Text(String::new()), 1, (4, 4)),
            group(GroupValue::Null, 2, (2, 3)),
        ];
        let pieces = pieces_of(&t, groups, &PlanConfig::default());
        let filters: Vec<(Option<String>, PartFilter)> = pieces
            .iter()
            .map(|p| {
                let h = p.hive.clone().unwrap();
                (h.value, h.filter)
            })
            .collect();
        assert_eq!(filters.len(), 3);
        assert!(filters.contains(&(None, PartFilter::ValueNull)));
        assert!(filters.contains(&(
            Some(String::new()),
            PartFilter::ValueEquals {
                text: String::new()
            }
        )));
        assert!(filters.contains(&(
            Some("a/b".into()),
            PartFilter::ValueEquals { text: "a/b".into() }
        )));
        // Three small pieces share one chunk but each writes its own file.
        let profiles = HashMap::from([(t.name.clone(), vec![])]);
        assert!(
            plan(&[t], &profiles, &PlanConfig::default())
                .unwrap()
                .is_empty()
        );
    }
}
