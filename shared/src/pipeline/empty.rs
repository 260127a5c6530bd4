//! Zero-row files: a table with no rows still gets one Parquet file, holding no row and the
//! table's columns, so a reader pointed at the table's folder reads an empty table instead of
//! failing on a folder with nothing in it.
//!
//! Whether a table has rows is known only once every chunk is done (its pieces may be spread
//! over many chunks, or be read in a second view by a resumed run), so the file is written when
//! the export is published, as the file of the table's first piece in manifest order: the
//! name that piece writes when it has rows (`part-all.parquet` for a table read whole). A
//! table with Hive partitions and no rows was planned with no piece at all; its file goes to
//! its NULL partition, `<key>=__HIVE_DEFAULT_PARTITION__/part-all.parquet`, so a reader that
//! reads the folders as partitions sees the partition key as a column too. From there on the
//! file is a piece's file like any other: verified, listed in the manifest with 0 rows, and
//! registered in the catalog (a NULL partition, for a partitioned table).

use std::collections::{BTreeMap, HashMap};

use futures::{StreamExt, TryStreamExt};

use super::order::sort_pieces_by;
use crate::columns::table_schema;
use crate::error::Result;
use crate::layout::Layout;
use crate::limits::OBJECTS_AT_ONCE;
use crate::model::{HivePartition, PartFilter, PartitionBy, Piece, TableDesc, TableName};
use crate::sink::{Destination, ParquetOptions, PieceWriter};
use crate::work::PieceResult;

/// Writes a zero-row file for every table of `order` that no result in `results` wrote a file
/// for, and records it in `results`: as the file of the table's first piece, or as a result
/// of its own for a table with no piece.
pub(super) async fn write_zero_row_files(
    dest: &Destination,
    layout: &Layout,
    parquet: ParquetOptions,
    order: &[TableName],
    tables: &crate::work::TableMap,
    results: &mut Vec<PieceResult>,
) -> Result<()> {
    // Each table's results, with their indexes (a table of no rows gets its file there).
    let mut by_table: HashMap<&TableName, Vec<(usize, &PieceResult)>> = HashMap::new();
    for (i, r) in results.iter().enumerate() {
        by_table.entry(&r.piece.table).or_default().push((i, r));
    }
    // Each empty table's piece, with the index of its result when it has one.
    let mut empty: Vec<(Option<usize>, Piece)> = Vec::new();
    for t in order.iter().filter_map(|name| tables.get(name)) {
        let mut pieces = by_table.remove(&t.name).unwrap_or_default();
        if pieces.iter().any(|(_, r)| r.file.is_some()) {
            continue;
        }
        sort_pieces_by(t, &mut pieces, layout, |(_, r)| r);
        match pieces.first() {
            Some((i, first)) => empty.push((Some(*i), first.piece.clone())),
            None => empty.push((None, unplanned_piece(t))),
        }
    }
    if empty.is_empty() {
        return Ok(());
    }
    tracing::info!(
        tables = empty.len(),
        "writing zero-row files for tables with no rows"
    );
    let written: Vec<(Option<usize>, Piece, crate::sink::FileWritten)> =
        futures::stream::iter(empty)
            .map(|(index, piece)| {
                let dest = dest.clone();
                let path = layout.piece_file(&piece);
                let schema = tables.get(&piece.table).map(|t| table_schema(&t.columns));
                async move {
                    let schema = schema.ok_or_else(|| {
                        crate::error::Error::Internal(format!(
                            "table {} has no description",
                            piece.table
                        ))
                    })?;
                    let writer = PieceWriter::new(
                        dest.store.clone(),
                        path,
                        parquet,
                        piece.table.to_string(),
                    );
                    let file = writer.finish_with_schema(schema).await?;
                    Ok::<_, crate::error::Error>((index, piece, file))
                }
            })
            .buffer_unordered(OBJECTS_AT_ONCE)
            .try_collect()
            .await?;
    results.reserve_exact(written.iter().filter(|(index, ..)| index.is_none()).count());
    for (index, piece, file) in written {
        match index {
            Some(i) => results[i].file = Some(file),
            None => results.push(PieceResult {
                piece,
                file: Some(file),
                lossy: BTreeMap::new(),
                seconds: 0.0,
            }),
        }
    }
    Ok(())
}

/// The piece whose file a table planned with no piece gets: for a table with Hive partitions
/// (planned with none when it has no rows), its NULL partition read whole; else the whole
/// table.
fn unplanned_piece(t: &TableDesc) -> Piece {
    let hive = t.partition_by.as_ref().map(|p| HivePartition {
        key: p.key.clone(),
        value: None,
        filter: match p.by {
            PartitionBy::Time { .. } => PartFilter::TimeNull,
            PartitionBy::Value => PartFilter::ValueNull,
            PartitionBy::KeyBuckets { .. } => PartFilter::KeyRangeOnly,
        },
    });
    Piece {
        table: t.name.clone(),
        range: None,
        partition: None,
        hive,
    }
}
