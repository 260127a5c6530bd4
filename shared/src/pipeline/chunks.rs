//! The reader pool: a bounded number of readers, each taking chunks from a shared queue and
//! writing each piece of a chunk to its own Parquet file.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::task::JoinSet;

use super::Progress;
use crate::error::{Error, Result};
use crate::model::{Chunk, LossyRule, Piece, TableDesc, TableName};
use crate::sink::layout::Layout;
use crate::sink::{Destination, FileWritten, ParquetOptions, PieceWriter};
use crate::source::{Reader, ReaderFactory};

/// One piece's outcome.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PieceResult {
    pub piece: Piece,
    pub file: Option<FileWritten>,
    pub lossy: BTreeMap<String, BTreeMap<LossyRule, u64>>,
}

/// What every worker shares.
pub(super) struct Workers {
    pub(super) readers: ReaderFactory,
    pub(super) tables: Arc<HashMap<TableName, TableDesc>>,
    pub(super) dest: Destination,
    pub(super) layout: Layout,
    pub(super) parquet: ParquetOptions,
    pub(super) batch: crate::config::BatchLimits,
    pub(super) queue: Mutex<VecDeque<Chunk>>,
    pub(super) progress: Arc<dyn Progress>,
}

impl Workers {
    fn next_chunk(&self) -> Option<Chunk> {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
    }
}

/// Runs `concurrency` readers until the queue is empty. The first error stops every reader.
pub(super) async fn run_workers(
    shared: Arc<Workers>,
    concurrency: usize,
) -> Result<Vec<PieceResult>> {
    let n = concurrency
        .min(shared.queue.lock().unwrap_or_else(|p| p.into_inner()).len())
        .max(1);
    let mut set = JoinSet::new();
    for _ in 0..n {
        let shared = shared.clone();
        set.spawn(async move {
            let mut reader = shared.readers.connect().await?;
            let mut out = Vec::new();
            while let Some(chunk) = shared.next_chunk() {
                reader.begin_chunk().await?;
                out.extend(run_chunk(&mut reader, &chunk, &shared).await?);
                reader.end_chunk().await?;
                shared.progress.chunk_done(&chunk);
            }
            Ok::<_, Error>(out)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok(r)) => results.extend(r),
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
    Ok(results)
}

/// Reads every piece of one chunk into its file.
async fn run_chunk(reader: &mut Reader, chunk: &Chunk, w: &Workers) -> Result<Vec<PieceResult>> {
    let mut out = Vec::with_capacity(chunk.pieces.len());
    for piece in &chunk.pieces {
        let table = w
            .tables
            .get(&piece.table)
            .ok_or_else(|| Error::Internal(format!("chunk names unknown table {}", piece.table)))?;
        out.push(run_piece(reader, table, piece, w).await?);
    }
    Ok(out)
}

async fn run_piece(
    source: &mut Reader,
    table: &TableDesc,
    piece: &Piece,
    w: &Workers,
) -> Result<PieceResult> {
    let path = w.layout.piece_file(piece);
    let mut writer = PieceWriter::new(
        w.dest.store.clone(),
        path,
        w.parquet,
        table.name.to_string(),
    );
    // A leaf partition is read under its own name, with its parent's columns (selected by name,
    // so a leaf's own column order does not matter), and written into the parent's folder.
    let leaf;
    let read_as = match &piece.partition {
        Some(name) => {
            leaf = TableDesc {
                name: name.clone(),
                split_key: None,
                partitions: vec![],
                ..table.clone()
            };
            &leaf
        }
        None => table,
    };
    let mut reader = source
        .read(
            read_as,
            piece.range,
            piece.hive.as_ref().map(|h| &h.filter),
            w.batch,
        )
        .await?;
    let copied = async {
        while let Some(batch) = reader.next_batch().await? {
            let bytes = batch.get_array_memory_size() as u64;
            writer.write(&batch).await?;
            w.progress.rows(batch.num_rows() as u64, bytes);
        }
        Ok::<_, Error>(())
    }
    .await;
    if let Err(e) = copied {
        writer.abort().await;
        return Err(e);
    }
    let file = writer.finish().await?;
    w.progress.piece_done(piece, file.as_ref());
    Ok(PieceResult {
        piece: piece.clone(),
        file,
        lossy: reader.lossy_counts().clone(),
    })
}
