//! How much snapex does at once, in one place: the limits a source reader cuts its batches by
//! (a leaf type the readers and the configuration share), and how many requests it keeps in
//! flight to the object store.

/// Small objects (`_work/` records, catalog files, deletes, footers read back) written, read
/// or checked at once. Each is one small request; an export may have millions, and S3 takes
/// thousands of requests a second per prefix, so latency, not the store, bounds this.
pub const OBJECTS_AT_ONCE: usize = 32;

/// Tables whose catalog files are made and written in one batch when an export is published:
/// publishing holds one batch's files at a time, not every table's (a million tables' files
/// are gigabytes).
pub const CATALOG_TABLES_AT_ONCE: usize = 1000;

/// Chunks whose records and files are checked at once when resuming: each check reads its
/// files' footers [`OBJECTS_AT_ONCE`] at a time.
pub const CHUNKS_CHECKED_AT_ONCE: usize = 8;

/// Parts of one multipart upload in flight at once (object_store's own default, stated here so
/// a file's upload memory is visible: this many parts of the buffered writer's part size).
pub const PARTS_AT_ONCE: usize = 8;

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
