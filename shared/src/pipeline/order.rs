//! The order of a table's pieces in the manifest, which the zero-row files follow too.

use crate::catalog::partitions;
use crate::layout::Layout;
use crate::model::TableDesc;
use crate::work::PieceResult;

/// A table's pieces in manifest order: by partition (in catalog order), then leaf partition
/// (in catalog order), then key or block range, then file, so the order does not depend on
/// which reader finished first.
pub(super) fn sort_pieces(t: &TableDesc, pieces: &mut [&PieceResult], layout: &Layout) {
    sort_pieces_by(t, pieces, layout, |r| r);
}

/// [`sort_pieces`] of items that each hold a piece's result (`result` finds it).
pub(super) fn sort_pieces_by<T>(
    t: &TableDesc,
    pieces: &mut [T],
    layout: &Layout,
    result: impl Fn(&T) -> &PieceResult,
) {
    fn value(r: &PieceResult) -> Option<&str> {
        r.piece.hive.as_ref().and_then(|h| h.value.as_deref())
    }
    let leaf = |r: &PieceResult| {
        r.piece
            .partition
            .as_ref()
            .and_then(|name| t.partitions.iter().position(|l| &l.name == name))
    };
    pieces.sort_by(|a, b| {
        let (a, b) = (result(a), result(b));
        let by_partition = match &t.partition_by {
            Some(p) => partitions::value_order(&p.by, value(a), value(b)),
            None => std::cmp::Ordering::Equal,
        };
        by_partition
            .then_with(|| leaf(a).cmp(&leaf(b)))
            .then_with(|| {
                a.piece
                    .range
                    .map(|x| x.lo)
                    .cmp(&b.piece.range.map(|x| x.lo))
            })
            .then_with(|| {
                layout
                    .piece_file(&a.piece)
                    .cmp(&layout.piece_file(&b.piece))
            })
    });
}
