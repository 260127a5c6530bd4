//! What one export carries from planning to publishing. The CLI keeps it in memory; a
//! serverless run writes it under the export's `_work/` folder between its steps, where each
//! step (a Lambda with no memory of the others) reads what it needs. The run report and the
//! metrics read these records too, so they live apart from the pipeline that writes them.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::limits::BatchLimits;
use crate::manifest::SourceManifest;
use crate::model::{Chunk, LossyRule, Piece, SkippedTable, TableDesc, TableName};
use crate::sink::{FileWritten, ParquetOptions};

/// One piece's outcome.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PieceResult {
    pub piece: Piece,
    pub file: Option<FileWritten>,
    pub lossy: BTreeMap<String, BTreeMap<LossyRule, u64>>,
    /// Seconds spent reading and writing the piece (its last attempt).
    #[serde(default)]
    pub seconds: f64,
}

/// The export's names in Glue: its database, and each exported table's.
pub struct GlueNames {
    pub database: String,
    pub tables: HashMap<TableName, String>,
}

/// Everything after planning needs but the chunks themselves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportPlan {
    pub export_id: String,
    /// The destination URL as given.
    pub destination: String,
    pub source: SourceManifest,
    /// Connections the source serves at once (caps the chunks read at once).
    pub max_connections: u64,
    pub started_at: DateTime<Utc>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub glue_database: String,
    /// The schema names are relative to, if the source names one (a MySQL database): Glue
    /// table names leave it out.
    #[serde(default)]
    pub default_schema: Option<String>,
    /// `--fold-schemas`: finalizing names the tables for Glue, folded (see
    /// [`crate::catalog::fold`]).
    #[serde(default)]
    pub fold_schemas: bool,
    /// The exported tables in catalog order, each with its Glue name. A serverless plan keeps
    /// here only the tables no chunk reads: the others travel in the chunks' descriptions,
    /// and finalizing gathers them from there.
    pub tables: Vec<PlannedTable>,
    pub skipped: Vec<SkippedTable>,
    /// Chunks planned; their ids are `0..chunks`.
    pub chunks: usize,
    pub parquet: ParquetOptions,
    pub batch: BatchLimits,
    /// Tables (and left-out tables) per manifest shard (see [`crate::manifest`]); plans made
    /// before shards get the default.
    #[serde(default = "default_shard_entries")]
    pub manifest_shard_entries: usize,
}

fn default_shard_entries() -> usize {
    crate::manifest::DEFAULT_SHARD_ENTRIES
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedTable {
    pub desc: TableDesc,
    pub glue_name: String,
    /// The table's position in catalog order (the manifest's order).
    #[serde(default)]
    pub order: usize,
}

/// Table descriptions by name, each boxed: a hash map stores its values inline and rounds its
/// capacity up to a power of two, so a million 336-byte descriptions held by value took
/// 2,097,152 slots of 384 bytes (805 MB) for 384 MB of tables; boxed, a slot is 56 bytes.
pub type TableMap = HashMap<TableName, Box<TableDesc>>;

/// An export's tables, taken out of its plan for the run: one copy of every description,
/// shared by the readers and publishing.
pub(crate) struct ExportTables {
    /// Catalog order: the manifest's.
    pub order: Vec<TableName>,
    pub descs: std::sync::Arc<TableMap>,
    pub glue: GlueNames,
}

impl ExportPlan {
    /// Moves the tables out of the plan, leaving its list empty: a million tables'
    /// descriptions are gigabytes, and a run needs one copy.
    pub(crate) fn take_tables(&mut self) -> ExportTables {
        let tables = std::mem::take(&mut self.tables);
        ExportTables::in_order(
            self.glue_database.clone(),
            tables.into_iter().map(|t| (Box::new(t.desc), t.glue_name)),
        )
    }
}

impl ExportTables {
    /// The tables of `tables`, in catalog order, each with its Glue name. The descriptions
    /// are moved in, boxed, never copied.
    pub(crate) fn in_order(
        glue_database: String,
        tables: impl ExactSizeIterator<Item = (Box<TableDesc>, String)>,
    ) -> ExportTables {
        let mut order = Vec::with_capacity(tables.len());
        let mut descs = HashMap::with_capacity(tables.len());
        let mut glue = HashMap::with_capacity(tables.len());
        for (desc, glue_name) in tables {
            order.push(desc.name.clone());
            glue.insert(desc.name.clone(), glue_name);
            descs.insert(desc.name.clone(), desc);
        }
        ExportTables {
            order,
            descs: std::sync::Arc::new(descs),
            glue: GlueNames {
                database: glue_database,
                tables: glue,
            },
        }
    }
}

/// One chunk as an export-chunk step needs it: the chunk and the tables its pieces read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChunkSpec {
    pub chunk: Chunk,
    pub tables: Vec<TableDesc>,
    /// Each of `tables`' position in catalog order.
    #[serde(default)]
    pub table_order: Vec<usize>,
    pub parquet: ParquetOptions,
    pub batch: BatchLimits,
}

/// A chunk's completion record: written after every file of the chunk is, so its presence
/// means the chunk is done, and what it lists is what finalizing publishes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkRecord {
    pub chunk: usize,
    pub results: Vec<PieceResult>,
    /// Attempts that failed before the one that wrote the files: read again in-process (the
    /// command line), or calls of the chunk step the state machine retried (serverless).
    #[serde(default)]
    pub retries: u32,
    /// True when this run found the record already written (and its files intact) and read
    /// nothing: its figures were counted by the run that wrote it. Not stored.
    #[serde(skip)]
    pub reused: bool,
}

/// Why a batch of the Glue registration failed (the RegisterTables Map's item), for the
/// execution's error when the Map gives only its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterFailureRecord {
    pub batch: usize,
    /// The error name the step failed with (`Retryable`, `InvalidInput`, `Internal`).
    pub error: String,
    pub cause: String,
}

/// Why a chunk failed, for the execution's error when the Map gives only its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRecord {
    pub chunk: usize,
    /// The error name the step failed with (`Retryable`, `InvalidInput`, `Internal`).
    pub error: String,
    pub cause: String,
    /// Calls of the chunk step that failed on this chunk so far, this one included.
    #[serde(default)]
    pub attempts: u32,
}

pub(crate) fn to_json(what: &str, v: &impl Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::Internal(format!("{what}: {e}")))
}

pub(crate) fn from_json<T: for<'de> Deserialize<'de>>(what: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::Internal(format!(
            "{what} is not what this version of snapex writes: {e}"
        ))
    })
}
