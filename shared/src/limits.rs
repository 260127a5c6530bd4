//! The limits a source reader cuts its batches by: a leaf type the readers and the
//! configuration share.

/// When a reader cuts a batch: whichever limit is reached first. Together with the row-group
/// size these bound a reader's memory whatever the table's size or width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BatchLimits {
    pub rows: usize,
    /// Bytes of source wire data.
    pub bytes: usize,
}

impl BatchLimits {
    /// The rows a reader's column builders make room for up front: a batch's worth, but no
    /// more than the byte limit allows for `columns` columns of a few bytes each, so a
    /// 1,600-column table does not reserve 8,192 rows in every builder to fill a few hundred.
    pub fn initial_rows(&self, columns: usize) -> usize {
        let by_bytes = self.bytes / (columns.max(1) * 16);
        self.rows.min(8192).min(by_bytes.max(256))
    }
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            rows: 65_536,
            bytes: 8 * 1024 * 1024,
        }
    }
}
