//! The packing of a table's pieces into chunks: big tables and leaf partitions split at a
//! piece's size, small pieces packed together, and anything over the chunk limit refused.

use crate::error::Error;
use crate::model::{Chunk, KeyRange, Piece, ProfileGroup, TableDesc};
use crate::plan::PlanConfig;
use crate::plan::hive::hive_pieces;
use crate::plan::ranges::split_by_quantiles;

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

#[cfg(test)]
mod tests {
    use crate::model::{KeyRange, Piece, SplitKey, TableName};
    use crate::plan::tests::{assert_partition, limited, refusal, table};
    use crate::plan::{PlanConfig, plan};
    use std::collections::{HashMap, HashSet};

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
    fn thousands_of_empty_tables_become_few_chunks() {
        let tables: Vec<_> = (0..5000)
            .map(|i| table(&format!("t{i}"), 0, None, false))
            .collect();
        let chunks = plan(&tables, &HashMap::new(), &PlanConfig::default()).unwrap();
        assert_eq!(chunks.len(), 5000usize.div_ceil(256));
        let total: usize = chunks.iter().map(|c| c.pieces.len()).sum();
        assert_eq!(total, 5000);
    }
}
