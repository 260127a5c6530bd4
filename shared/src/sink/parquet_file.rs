//! Streams record batches of one piece into one Parquet file. Row groups are cut by encoded
//! size, so memory stays bounded whatever the piece's size; the object store's buffered writer
//! uploads in parts as the file grows, and the file appears under its name only when complete
//! (a multipart upload completes, or a local temporary file is renamed).

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use futures::future::BoxFuture;
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::AsyncArrowWriter;
use parquet::arrow::async_writer::AsyncFileWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::error::{Error, Result};

/// Parquet encoding settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ParquetOptions {
    /// zstd level (1..=22).
    pub zstd_level: i32,
    /// A row group is closed once its encoded, buffered size passes this many bytes.
    pub row_group_bytes: usize,
}

impl Default for ParquetOptions {
    fn default() -> Self {
        ParquetOptions {
            zstd_level: 1,
            row_group_bytes: 32 * 1024 * 1024,
        }
    }
}

impl ParquetOptions {
    /// Writer settings for a file of `columns` columns. Every column writer buffers up to one
    /// data page and one dictionary page before they reach the row group, so with the default
    /// 1 MiB pages a 1,600-column table holds gigabytes whatever the row-group cap. Page limits
    /// shrink with width so that all columns' pages together stay within the row-group budget.
    ///
    /// Each column's encoding (dictionary, delta or plain) is chosen from the file's first
    /// batch (see [`super::encoding`]); tables wider than [`WIDE_TABLE_COLUMNS`] go
    /// without dictionaries and are compressed with Snappy instead of zstd.
    fn properties(&self, first: &RecordBatch) -> Result<WriterProperties> {
        let columns = first.num_columns();
        let mut props = self.base_properties(columns)?;
        let schema = first.schema();
        for (field, choice) in schema.fields().iter().zip(super::encoding::choose(first)) {
            let path = ColumnPath::from(field.name().as_str());
            if choice.delta {
                props = props
                    .set_column_dictionary_enabled(path.clone(), false)
                    .set_column_encoding(path, Encoding::DELTA_BINARY_PACKED);
            } else if let Some(keep) = choice.dictionary {
                let keep = keep && columns <= WIDE_TABLE_COLUMNS;
                props = props.set_column_dictionary_enabled(path, keep);
            }
        }
        Ok(props.build())
    }

    fn base_properties(&self, columns: usize) -> Result<WriterPropertiesBuilder> {
        let level = ZstdLevel::try_new(self.zstd_level)
            .map_err(|e| Error::InvalidInput(format!("zstd level {}: {e}", self.zstd_level)))?;
        let page_bytes = page_limit(self.row_group_bytes, columns);
        let compression = if columns > WIDE_TABLE_COLUMNS {
            Compression::SNAPPY
        } else {
            Compression::ZSTD(level)
        };
        Ok(WriterProperties::builder()
            .set_compression(compression)
            // Row groups are cut by encoded size, not by a row count, so wide rows stay bounded.
            .set_max_row_group_row_count(None)
            .set_max_row_group_bytes(Some(self.row_group_bytes.max(1)))
            .set_data_page_size_limit(page_bytes)
            // Pages are cut by size only (the crate's default also cuts every 20,000 rows):
            // zstd compresses each page on its own, and a narrow column's 20,000 values are
            // too few for it to find values that repeat further apart.
            .set_data_page_row_count_limit(usize::MAX)
            .set_dictionary_page_size_limit(page_bytes)
            .set_dictionary_enabled(columns <= WIDE_TABLE_COLUMNS)
            .set_created_by(concat!("snapex ", env!("CARGO_PKG_VERSION")).to_string()))
    }
}

/// Tables wider than this are written without dictionary encoding and with Snappy instead of
/// zstd, because every column writer keeps its own encoder state while a row group is open:
/// - a dictionary encoder keeps a hash table and its values (about 110 KiB per column at the
///   64 KiB page limit of wide tables): 180 MiB for 1,600 columns. Measured on 1 key + 1,599
///   mixed columns by 20,000 rows: peak RSS 640-860 MiB with dictionaries, 270-290 MiB
///   without, and the file 41 MiB instead of 70 MiB (dictionaries that small rarely pay);
/// - the parquet crate's zstd codec holds a compression context and a decompression context
///   per column (about 80 KiB and 96 KiB): heaptrack of 1,600 columns by 100,000 rows showed
///   154 MiB of decompression contexts (never used by a writer) and 125 MiB of compression
///   contexts, three quarters of a 368 MiB heap. Snappy's state is a small hash table.
pub const WIDE_TABLE_COLUMNS: usize = 1000;

/// The page size limit for `columns` columns: 1 MiB (Parquet's usual size) for narrow tables,
/// a share of the row-group budget for wide ones, never below 64 KiB.
fn page_limit(row_group_bytes: usize, columns: usize) -> usize {
    const MAX: usize = 1024 * 1024;
    const MIN: usize = 64 * 1024;
    (row_group_bytes / (2 * columns.max(1))).clamp(MIN, MAX)
}

#[cfg(test)]
mod tests {
    use super::page_limit;

    #[test]
    fn only_the_widest_tables_go_without_dictionaries_and_zstd() {
        use parquet::basic::Compression;
        use parquet::schema::types::ColumnPath;
        let o = super::ParquetOptions::default();
        let col = ColumnPath::from("c");
        let props = |n| o.base_properties(n).unwrap().build();
        assert!(props(10).dictionary_enabled(&col));
        assert!(props(1000).dictionary_enabled(&col));
        assert!(!props(1600).dictionary_enabled(&col));
        assert!(matches!(
            props(1000).compression(&col),
            Compression::ZSTD(_)
        ));
        assert_eq!(props(1001).compression(&col), Compression::SNAPPY);
    }

    /// A written file: a key stepping by one is delta-encoded without a dictionary, a status
    /// column keeps its dictionary, and every value reads back.
    #[tokio::test]
    async fn each_column_is_written_in_the_encoding_that_pays() {
        use std::sync::Arc;

        use arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray};
        use arrow::datatypes::Int64Type;
        use object_store::ObjectStoreExt;
        use object_store::memory::InMemory;
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

        let store = Arc::new(InMemory::new());
        let path = object_store::path::Path::from("t/part.parquet");
        let mut w = super::PieceWriter::new(
            store.clone(),
            path.clone(),
            super::ParquetOptions::default(),
            "t".into(),
        );
        let n = 20_000i64;
        let batch = RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from_iter_values(0..n)) as _),
            (
                "status",
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| ["new", "open", "closed"][(i % 3) as usize]),
                )) as _,
            ),
        ])
        .unwrap();
        w.write(&batch).await.unwrap();
        let written = w.finish().await.unwrap().unwrap();
        assert_eq!(written.rows, n as u64);

        let bytes = store.get(&path).await.unwrap().bytes().await.unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
        let columns = reader.metadata().row_group(0).columns().to_vec();
        assert_eq!(columns[0].dictionary_page_offset(), None, "id");
        let id_encodings: Vec<_> = columns[0].encodings().collect();
        assert!(
            id_encodings.contains(&parquet::basic::Encoding::DELTA_BINARY_PACKED),
            "id: {id_encodings:?}"
        );
        assert!(columns[1].dictionary_page_offset().is_some(), "status");
        let mut ids = Vec::new();
        let mut closed = 0;
        for b in reader.build().unwrap() {
            let b = b.unwrap();
            ids.extend(
                b.column(0)
                    .as_primitive::<Int64Type>()
                    .values()
                    .iter()
                    .copied(),
            );
            let status = b.column(1).as_string::<i32>();
            closed += (0..status.len())
                .filter(|&i| status.value(i) == "closed")
                .count();
        }
        assert_eq!(ids, (0..n).collect::<Vec<_>>());
        assert_eq!(closed, (n / 3) as usize);
    }

    #[test]
    fn pages_shrink_with_width_within_bounds() {
        let rg = 64 * 1024 * 1024;
        assert_eq!(page_limit(rg, 10), 1024 * 1024);
        assert_eq!(page_limit(rg, 100), rg / 200);
        assert_eq!(page_limit(rg, 1600), 64 * 1024);
        assert_eq!(page_limit(rg, 0), 1024 * 1024);
    }
}

/// The file in the store, as the Parquet writer sees it. Each closed row group arrives as one
/// buffer, which `BufWriter::put` cuts into upload parts without copying; writing it through
/// `AsyncWrite` instead would copy the whole row group into parts first, holding it twice.
struct StoreFile(BufWriter);

impl AsyncFileWriter for StoreFile {
    fn write(&mut self, bytes: Bytes) -> BoxFuture<'_, parquet::errors::Result<()>> {
        Box::pin(async move {
            self.0
                .put(bytes)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        })
    }

    fn complete(&mut self) -> BoxFuture<'_, parquet::errors::Result<()>> {
        Box::pin(async move {
            self.0
                .shutdown()
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        })
    }
}

/// What one finished file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileWritten {
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
}

/// Writes one piece's batches to `path`. The file is created on the first non-empty batch:
/// a piece with no rows writes no file.
pub struct PieceWriter {
    store: Arc<dyn ObjectStore>,
    path: Path,
    options: ParquetOptions,
    table: String,
    writer: Option<AsyncArrowWriter<StoreFile>>,
    rows: u64,
}

impl PieceWriter {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        path: Path,
        options: ParquetOptions,
        table: String,
    ) -> Self {
        PieceWriter {
            store,
            path,
            options,
            table,
            writer: None,
            rows: 0,
        }
    }

    fn parquet_err(&self, e: parquet::errors::ParquetError) -> Error {
        Error::Parquet {
            table: self.table.clone(),
            cause: e,
        }
    }

    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.writer.is_none() {
            let sink = StoreFile(
                BufWriter::new(self.store.clone(), self.path.clone())
                    .with_max_concurrency(crate::limits::PARTS_AT_ONCE),
            );
            let w = AsyncArrowWriter::try_new(
                sink,
                batch.schema(),
                Some(self.options.properties(batch)?),
            )
            .map_err(|e| self.parquet_err(e))?;
            self.writer = Some(w);
        }
        let w = self.writer.as_mut().expect("created above");
        if let Err(e) = w.write(batch).await {
            return Err(self.parquet_err(e));
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Completes the file. Returns `None` when no row was written (and so no file exists).
    pub async fn finish(mut self) -> Result<Option<FileWritten>> {
        let Some(mut w) = self.writer.take() else {
            return Ok(None);
        };
        let meta = w.finish().await.map_err(|e| self.parquet_err(e))?;
        let rows = meta.file_metadata().num_rows() as u64;
        if rows != self.rows {
            return Err(Error::Internal(format!(
                "{}: wrote {} rows, footer says {rows}",
                self.path, self.rows
            )));
        }
        Ok(Some(FileWritten {
            path: self.path.to_string(),
            rows,
            bytes: w.bytes_written() as u64,
        }))
    }

    /// Completes the file even when no row was written: a piece with no rows then leaves a
    /// file of `schema` with no row group, which readers read as zero rows with the table's
    /// columns (see [`crate::pipeline`]'s zero-row files).
    pub async fn finish_with_schema(mut self, schema: SchemaRef) -> Result<FileWritten> {
        if self.writer.is_none() {
            let sink = StoreFile(
                BufWriter::new(self.store.clone(), self.path.clone())
                    .with_max_concurrency(crate::limits::PARTS_AT_ONCE),
            );
            let props = self.options.base_properties(schema.fields().len())?.build();
            let w = AsyncArrowWriter::try_new(sink, schema, Some(props))
                .map_err(|e| self.parquet_err(e))?;
            self.writer = Some(w);
        }
        let path = self.path.clone();
        self.finish()
            .await?
            .ok_or_else(|| Error::Internal(format!("{path}: no file was written")))
    }

    /// Abandons the file: an unfinished multipart upload is aborted so no part lingers.
    pub async fn abort(mut self) {
        if let Some(w) = self.writer.take() {
            let StoreFile(mut inner) = w.into_inner();
            if let Err(e) = inner.abort().await {
                tracing::warn!("aborting upload of {}: {e}", self.path);
            }
        }
    }
}
