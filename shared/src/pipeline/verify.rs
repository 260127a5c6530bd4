//! Checks before publishing: every file the results name is whole and holds the rows
//! written, and every planned chunk has exactly one record listing its pieces. Apart from
//! publishing because a chunk step checks a chunk's files the same way before reusing them.

use std::collections::{BTreeMap, HashSet};

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;

use super::strays::Written;
use crate::error::{Error, Result};
use crate::limits::OBJECTS_AT_ONCE;
use crate::sink::{Destination, FileWritten};
use crate::work::PieceResult;

/// Every file the results name exists with the size written, is a whole Parquet file (its
/// footer reads back) and holds the rows counted while writing it; and no two pieces name
/// the same file. Files are checked `OBJECTS_AT_ONCE` at a time, a batch of results at a time,
/// and the paths seen are held as fingerprints ([`Written`]): a million tables' paths are not
/// copied.
pub(super) async fn verify(dest: &Destination, results: &[PieceResult]) -> Result<()> {
    let mut seen = Written::default();
    for batch in results.chunks(VERIFY_BATCH) {
        // Owned, so the checks' futures borrow nothing: the Lambda runtime needs `Send` futures.
        let files: Vec<FileWritten> = batch.iter().filter_map(|r| r.file.clone()).collect();
        if let Some(twice) = files.iter().find(|f| !seen.insert(&f.path)) {
            return Err(Error::Verify(format!(
                "{} is named by two pieces of the export",
                twice.path
            )));
        }
        futures::stream::iter(files)
            .map(|f| {
                let dest = dest.clone();
                async move { verify_file(&dest, &f).await }
            })
            .buffer_unordered(OBJECTS_AT_ONCE)
            .try_collect::<()>()
            .await?;
    }
    Ok(())
}

/// Results whose files [`verify`] copies and checks at once.
const VERIFY_BATCH: usize = 4096;

/// The bytes of a file's end [`verify_file`] asks for in its one request: the footer of every
/// file snapex writes of a few hundred columns fits, so one request reads size and footer
/// (three did: the size, the footer's length, the footer). A longer footer takes a second.
const TAIL_BYTES: u64 = 64 * 1024;

async fn verify_file(dest: &Destination, f: &FileWritten) -> Result<()> {
    use parquet::file::metadata::{FooterTail, ParquetMetaDataReader};
    // `parse`, not `from`: the path is already escaped and must not be escaped again.
    let path = Path::parse(&f.path).map_err(|e| Error::Internal(format!("{}: {e}", f.path)))?;
    let (size, tail) = dest.get_tail(&path, TAIL_BYTES).await?;
    if size != f.bytes {
        return Err(Error::Verify(format!(
            "{} is {size} bytes, {} were written",
            f.path, f.bytes
        )));
    }
    let broken =
        |why: String| Error::Verify(format!("{} is not a whole Parquet file: {why}", f.path));
    // The footer: the metadata's length and the magic, then the metadata before them.
    let Some(last) = tail.len().checked_sub(8).map(|at| &tail[at..]) else {
        return Err(broken(format!("{size} bytes")));
    };
    let last: [u8; 8] = last.try_into().expect("eight bytes");
    let footer = FooterTail::try_new(&last).map_err(|e| broken(e.to_string()))?;
    let len = footer.metadata_length() as u64;
    if len + 8 > size {
        return Err(broken(format!("a footer of {len} bytes in {size}")));
    }
    let meta = match (tail.len() as u64).checked_sub(len + 8) {
        Some(at) => tail[at as usize..tail.len() - 8].to_vec(),
        None => dest.get_range(&path, size - 8 - len..size - 8).await?,
    };
    let meta = ParquetMetaDataReader::decode_metadata(&meta).map_err(|e| broken(e.to_string()))?;
    let rows = meta.file_metadata().num_rows();
    if u64::try_from(rows).ok() != Some(f.rows) {
        return Err(Error::Verify(format!(
            "{} holds {rows} rows, {} were written",
            f.path, f.rows
        )));
    }
    Ok(())
}

/// A chunk's completion record, its results moved out into `Finished::results` (see `publish`).
pub(super) struct ChunkDone {
    pub(super) chunk: usize,
    /// Its results' pieces, as [`pieces_digest`] sums them up.
    pub(super) pieces: u64,
    pub(super) retries: u32,
}

/// Every planned chunk has exactly one record, and each record lists exactly the pieces its
/// chunk planned: no piece was left unread or read twice.
pub(super) fn check_complete(planned: &BTreeMap<usize, u64>, records: &[ChunkDone]) -> Result<()> {
    let mut seen = HashSet::with_capacity(records.len());
    for r in records {
        let Some(&pieces) = planned.get(&r.chunk) else {
            return Err(Error::Verify(format!(
                "chunk {} has a record but was not planned",
                r.chunk
            )));
        };
        if !seen.insert(r.chunk) {
            return Err(Error::Verify(format!("chunk {} has two records", r.chunk)));
        }
        if r.pieces != pieces {
            return Err(Error::Verify(format!(
                "chunk {}'s record does not list the pieces it planned",
                r.chunk
            )));
        }
    }
    if let Some(missing) = planned.keys().find(|c| !seen.contains(*c)) {
        return Err(Error::Verify(format!(
            "chunk {missing} has no completion record: the export is incomplete"
        )));
    }
    Ok(())
}

/// What [`check_complete`] compares a chunk's record with: its pieces, in order, as one
/// number. Holding a number per chunk instead of a second copy of every piece keeps a
/// million tables' plan out of memory while their files are read. The hasher's keys are fixed,
/// and both sides are hashed in the same process.
pub(super) fn pieces_digest<'a>(pieces: impl Iterator<Item = &'a crate::model::Piece>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    let mut n = 0usize;
    for p in pieces {
        p.hash(&mut h);
        n += 1;
    }
    n.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int32Array, RecordBatch};
    use object_store::path::Path;

    use super::*;
    use crate::model::{Piece, TableName};

    fn result(table: &str, file: Option<FileWritten>) -> PieceResult {
        PieceResult {
            piece: Piece {
                table: TableName::new("public", table),
                range: None,
                partition: None,
                hive: None,
            },
            file,
            lossy: BTreeMap::new(),
            seconds: 0.0,
        }
    }

    #[tokio::test]
    async fn a_file_named_twice_is_found_across_batches() {
        let tmp = std::env::temp_dir().join(format!("snapex-verify-{}", std::process::id()));
        std::fs::create_dir_all(tmp.join("e/t")).unwrap();
        let batch = RecordBatch::try_from_iter([(
            "id",
            Arc::new(Int32Array::from(vec![7])) as arrow::array::ArrayRef,
        )])
        .unwrap();
        let mut bytes = Vec::new();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        std::fs::write(tmp.join("e/t/part-a.parquet"), &bytes).unwrap();
        let dest = Destination::open(tmp.to_str().unwrap(), None).unwrap();
        let path = dest.root.clone().join("e").join("t").join("part-a.parquet");
        let file = FileWritten {
            path: path.as_ref().to_string(),
            rows: 1,
            bytes: bytes.len() as u64,
        };
        // The file, a batch's worth of pieces without files, and the file again: the second
        // mention is in the next batch.
        let mut results = vec![result("a", Some(file.clone()))];
        results.extend((0..VERIFY_BATCH).map(|i| result(&format!("empty_{i}"), None)));
        verify(&dest, &results).await.unwrap();
        results.push(result("b", Some(file)));
        let e = verify(&dest, &results).await.unwrap_err().to_string();
        assert!(e.contains("part-a.parquet is named by two pieces"), "{e}");
        assert!(
            dest.exists(&Path::parse(&results[0].file.as_ref().unwrap().path).unwrap())
                .await
                .unwrap()
        );
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[tokio::test]
    async fn a_footer_longer_than_the_first_read_is_read_whole() {
        let tmp = std::env::temp_dir().join(format!("snapex-verify-wide-{}", std::process::id()));
        std::fs::create_dir_all(tmp.join("e/t")).unwrap();
        // 1,600 columns with long names: a footer of several hundred KiB.
        let columns = (0..1_600).map(|i| {
            (
                format!("a_rather_long_column_name_to_make_the_footer_big_{i:04}"),
                Arc::new(Int32Array::from(vec![i, i + 1])) as arrow::array::ArrayRef,
            )
        });
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let mut bytes = Vec::new();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let footer =
            u32::from_le_bytes(bytes[bytes.len() - 8..bytes.len() - 4].try_into().unwrap());
        assert!(u64::from(footer) > TAIL_BYTES, "a footer of {footer} bytes");
        std::fs::write(tmp.join("e/t/part-w.parquet"), &bytes).unwrap();
        let dest = Destination::open(tmp.to_str().unwrap(), None).unwrap();
        let path = dest.root.clone().join("e").join("t").join("part-w.parquet");
        let mut file = FileWritten {
            path: path.as_ref().to_string(),
            rows: 2,
            bytes: bytes.len() as u64,
        };
        verify(&dest, &[result("w", Some(file.clone()))])
            .await
            .unwrap();
        file.rows = 3;
        let e = verify(&dest, &[result("w", Some(file.clone()))])
            .await
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("holds 2 rows, 3 were written"), "{e}");
        // Cut short by a byte: the size says so before the footer is read.
        file.rows = 2;
        std::fs::write(tmp.join("e/t/part-w.parquet"), &bytes[1..]).unwrap();
        let e = verify(&dest, &[result("w", Some(file))])
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("were written"), "{e}");
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
