//! The reader pool: a bounded number of readers, each taking chunks from a shared queue and
//! writing each piece of a chunk to its own Parquet file.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::Progress;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::model::{Chunk, Piece, TableDesc};
use crate::retry::RetryPolicy;
use crate::sink::{Destination, FileWritten, ParquetOptions, PieceWriter};
use crate::source::{Reader, ReaderFactory};
use crate::stop::Stop;
use crate::work::{ChunkRecord, PieceResult, to_json};

/// What every worker shares.
pub(super) struct Workers {
    pub(super) readers: ReaderFactory,
    pub(super) tables: Arc<crate::work::TableMap>,
    pub(super) dest: Destination,
    pub(super) layout: Layout,
    pub(super) parquet: ParquetOptions,
    pub(super) batch: crate::limits::BatchLimits,
    pub(super) queue: Mutex<VecDeque<Chunk>>,
    pub(super) progress: Arc<dyn Progress>,
    pub(super) retry: RetryPolicy,
    /// Write each chunk's completion record under `_work/` as soon as the chunk is done, so
    /// an interrupted run can be resumed (the command line). A serverless chunk step writes
    /// its own, with its failure records.
    pub(super) records: bool,
    /// For log lines: every line a chunk logs names the export and the chunk.
    pub(super) export_id: String,
    /// Once asked, readers take no new chunk and abandon the pieces they are reading.
    pub(super) stop: Stop,
    /// Chunks this run finished (files and record written): what an interrupted run reports.
    pub(super) written: AtomicUsize,
}

impl Workers {
    fn next_chunk(&self) -> Option<Chunk> {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
    }
}

/// Runs `concurrency` readers until the queue is empty. A chunk that fails with a retryable
/// error is read again on a new connection, up to the retry policy's bound; any other error,
/// or the last retry's, stops every reader.
///
/// Asked to stop, each reader takes no new chunk, and abandons the chunk it is reading: the
/// piece being read has its upload aborted, the chunk's pieces already written are deleted
/// (without a completion record a resumed run reads the chunk again anyway), and no retry
/// follows. Only a completion record being written is let finish. All readers have stopped
/// when this returns [`Error::Interrupted`], so nothing is left uploading.
pub(super) async fn run_workers(
    shared: Arc<Workers>,
    concurrency: usize,
) -> Result<Vec<ChunkRecord>> {
    let n = concurrency
        .min(shared.queue.lock().unwrap_or_else(|p| p.into_inner()).len())
        .max(1);
    let mut set = JoinSet::new();
    for _ in 0..n {
        let shared = shared.clone();
        set.spawn(async move {
            let mut reader = None;
            let mut out = Vec::new();
            loop {
                if shared.stop.requested() {
                    return Err(Error::interrupted());
                }
                let Some(chunk) = shared.next_chunk() else {
                    break;
                };
                let span = tracing::info_span!(
                    "chunk",
                    export_id = %shared.export_id,
                    chunk = chunk.id
                );
                let record = async {
                    let record = run_chunk_retrying(&mut reader, &chunk, &shared).await?;
                    if shared.records {
                        let json = to_json("chunk record", &record)?;
                        shared
                            .dest
                            .put(&shared.layout.work_done(chunk.id), json)
                            .await?;
                    }
                    Ok::<_, Error>(record)
                }
                .instrument(span)
                .await?;
                shared.written.fetch_add(1, Ordering::Relaxed);
                shared.progress.chunk_done(&chunk);
                out.push(record);
            }
            Ok::<_, Error>(out)
        });
    }
    let mut results = Vec::new();
    let mut interrupted = false;
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok(r)) => results.extend(r),
            // The others are stopping too: let them clean up.
            Ok(Err(Error::Interrupted { .. })) => interrupted = true,
            Ok(Err(e)) => {
                set.abort_all();
                return Err(e);
            }
            Err(e) => {
                set.abort_all();
                return Err(Error::Internal(format!("a reader task failed: {e}")));
            }
        }
    }
    if interrupted {
        return Err(Error::interrupted());
    }
    Ok(results)
}

/// Reads one chunk, again from its start after each retryable failure. Every attempt writes
/// the same files to the same keys, so a retry replaces what a failed attempt left.
async fn run_chunk_retrying(
    reader: &mut Option<Reader>,
    chunk: &Chunk,
    w: &Workers,
) -> Result<ChunkRecord> {
    let mut delays = w.retry.delays();
    let mut retries = 0;
    loop {
        let mut results = Vec::with_capacity(chunk.pieces.len());
        let attempt = async {
            // Connecting and entering the snapshot write nothing: dropped when asked to stop.
            let slot = &mut *reader;
            let r = w
                .stop
                .or_interrupted(async move {
                    let r = match slot {
                        Some(r) => r,
                        None => slot.insert(w.readers.connect().await?),
                    };
                    r.begin_chunk().await?;
                    Ok(r)
                })
                .await?;
            run_chunk(r, chunk, w, &mut results).await?;
            r.end_chunk().await?;
            Ok::<_, Error>(())
        }
        .await;
        let e = match attempt {
            Ok(()) => {
                return Ok(ChunkRecord {
                    chunk: chunk.id,
                    results,
                    retries,
                    reused: false,
                });
            }
            Err(e) => e,
        };
        // A chunk that failed leaves none of its files behind (a retry writes them again).
        remove_files(w, &results).await;
        // The connection may be broken or inside a failed transaction: the next attempt
        // starts on a new one.
        *reader = None;
        // A lost view does not come back by waiting: only a resumed run can go on. An
        // interrupted chunk is not read again: the run is stopping.
        let retryable =
            e.is_retryable() && !matches!(e, Error::ViewLost(_) | Error::Interrupted { .. });
        let Some(delay) = delays.next().filter(|_| retryable) else {
            return Err(e);
        };
        retries += 1;
        tracing::warn!(
            retry = retries,
            delay_ms = delay.as_millis() as u64,
            error = %crate::error::one_line(&e.to_string()),
            "chunk failed; reading it again"
        );
        w.stop
            .or_interrupted(async {
                tokio::time::sleep(delay).await;
                Ok(())
            })
            .await?;
    }
}

/// Deletes the files a failed attempt finished, best effort: a file left behind is still
/// never published (publishing removes what no record names).
async fn remove_files(w: &Workers, results: &[PieceResult]) {
    for f in results.iter().filter_map(|r| r.file.as_ref()) {
        let Ok(path) = object_store::path::Path::parse(&f.path) else {
            continue;
        };
        if let Err(e) = w.dest.delete(&path).await {
            tracing::warn!(file = %f.path, "cannot remove a file of a failed chunk: {e}");
        }
    }
}

/// Reads every piece of one chunk into its file, adding each piece's result to `out` as
/// soon as its file is written.
async fn run_chunk(
    reader: &mut Reader,
    chunk: &Chunk,
    w: &Workers,
    out: &mut Vec<PieceResult>,
) -> Result<()> {
    for piece in &chunk.pieces {
        if w.stop.requested() {
            return Err(Error::interrupted());
        }
        let table = w
            .tables
            .get(&piece.table)
            .ok_or_else(|| Error::Internal(format!("chunk names unknown table {}", piece.table)))?;
        let span = tracing::info_span!("piece", table = %piece.table);
        out.push(run_piece(reader, table, piece, w).instrument(span).await?);
    }
    Ok(())
}

async fn run_piece(
    source: &mut Reader,
    table: &TableDesc,
    piece: &Piece,
    w: &Workers,
) -> Result<PieceResult> {
    let started = std::time::Instant::now();
    let path = w.layout.piece_file(piece);
    let writer = PieceWriter::new(
        w.dest.store.clone(),
        path,
        w.parquet,
        table.name.to_string(),
    );
    // A leaf partition is read under its own name, with its parent's columns (selected by name,
    // so a leaf's own column order does not matter), and written into the parent's folder. A
    // ranged piece of a leaf is a range of the leaf's heap blocks.
    let leaf;
    let read_as = match &piece.partition {
        Some(name) => {
            leaf = TableDesc {
                name: name.clone(),
                split_key: piece.range.map(|_| crate::model::SplitKey::blocks()),
                partitions: vec![],
                ..table.clone()
            };
            &leaf
        }
        None => table,
    };
    // Nothing is written before the first batch: starting the read may be dropped.
    let mut reader = w
        .stop
        .or_interrupted(source.read(
            read_as,
            piece.range,
            piece.hive.as_ref().map(|h| &h.filter),
            w.batch,
        ))
        .await?;
    // Decoding and Parquet encoding each take about a core, so the file is written by its
    // own task while this one goes on reading: one batch waits between them, which bounds the
    // memory the overlap costs to one batch.
    let (batches, incoming) = tokio::sync::mpsc::channel(1);
    let writing = tokio::spawn(write_piece(writer, incoming, w.progress.clone()).in_current_span());
    let read = async {
        while let Some(batch) = reader.next_batch().await? {
            if batches.send(Batch::Rows(batch)).await.is_err() {
                // The writer stopped on an error: it is reported below.
                return Ok(());
            }
        }
        let _ = batches.send(Batch::End).await;
        Ok::<_, Error>(())
    };
    // Asked to stop, the read is dropped: the writer, receiving no `End`, aborts its upload.
    let read = w.stop.or_interrupted(read).await;
    // Without `End` the writer abandons the file.
    drop(batches);
    let written = writing
        .await
        .map_err(|e| Error::Internal(format!("the writer of {} failed: {e}", table.name)))?;
    read?;
    let file = written?;
    w.progress.piece_done(piece, file.as_ref());
    Ok(PieceResult {
        piece: piece.clone(),
        file,
        lossy: reader.lossy_counts().clone(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What the reading half of a piece hands its writer.
enum Batch {
    Rows(RecordBatch),
    /// Every row was read: the file can be completed.
    End,
}

/// Writes the batches it receives into `writer`'s file, and completes the file on `End`. If
/// the channel closes without `End` (the read failed) the file is abandoned.
async fn write_piece(
    mut writer: PieceWriter,
    mut incoming: tokio::sync::mpsc::Receiver<Batch>,
    progress: Arc<dyn Progress>,
) -> Result<Option<FileWritten>> {
    while let Some(message) = incoming.recv().await {
        match message {
            Batch::Rows(batch) => {
                let bytes = batch.get_array_memory_size() as u64;
                if let Err(e) = writer.write(&batch).await {
                    writer.abort().await;
                    return Err(e);
                }
                progress.rows(batch.num_rows() as u64, bytes);
            }
            Batch::End => return writer.finish().await,
        }
    }
    writer.abort().await;
    Err(Error::Internal(
        "the read of a piece stopped before its end".into(),
    ))
}
