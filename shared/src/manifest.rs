//! The export manifest: written last, it is what makes an export published. It lists every
//! table with its columns (source, Parquet and Glue types, lossy rules and how often they fired)
//! and files, and every table that was left out with the reason.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{ColumnDesc, KeyRange, LossyRule, ReadAs, SkippedTable, TableDesc};
use crate::source::SourceInfo;

pub const FORMAT: &str = "snapex-manifest/1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub export_id: String,
    /// The destination URL as given.
    pub destination: String,
    pub source: SourceManifest,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub tables: Vec<TableManifest>,
    pub skipped: Vec<SkippedTable>,
    pub totals: Totals,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceManifest {
    pub engine: String,
    pub version: String,
    pub database: String,
    pub endpoint: String,
    /// How the export stayed consistent, e.g. `pg_export_snapshot 00000003-0000001B-1`.
    pub consistency: String,
}

impl SourceManifest {
    pub fn new(info: &SourceInfo, consistency: String) -> Self {
        SourceManifest {
            engine: info.engine.to_string(),
            version: info.version.clone(),
            database: info.database.clone(),
            endpoint: info.endpoint.clone(),
            consistency,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub tables: u64,
    pub skipped: u64,
    pub files: u64,
    pub rows: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableManifest {
    pub schema: String,
    pub name: String,
    /// The table's folder relative to the export root: the Athena table's LOCATION.
    pub location: String,
    pub primary_key: Vec<String>,
    pub split_key: Option<String>,
    pub rows: u64,
    pub bytes: u64,
    pub columns: Vec<ColumnManifest>,
    pub files: Vec<FileEntry>,
    /// Key ranges that were read and held no rows, so wrote no file. With the files' ranges
    /// they tile the whole key space: the proof that no range was left unread.
    pub empty_ranges: Vec<KeyRange>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColumnManifest {
    pub name: String,
    pub source_type: String,
    pub parquet_type: String,
    pub glue_type: String,
    pub nullable: bool,
    /// `native` or `text` (read as the source's text form).
    pub read: ReadAs,
    /// Lossy rules that apply to this column, with how many values each changed.
    pub lossy: Vec<LossyEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LossyEntry {
    pub rule: LossyRule,
    pub description: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the export root.
    pub path: String,
    pub range: Option<KeyRange>,
    pub rows: u64,
    pub bytes: u64,
}

impl ColumnManifest {
    pub fn new(c: &ColumnDesc, fired: Option<&BTreeMap<LossyRule, u64>>) -> Self {
        ColumnManifest {
            name: c.name.clone(),
            source_type: c.source_type.clone(),
            parquet_type: c.kind.parquet_type(),
            glue_type: c.kind.glue_type(),
            nullable: c.nullable,
            read: c.read.clone(),
            lossy: c
                .lossy_rules
                .iter()
                .map(|&rule| LossyEntry {
                    rule,
                    description: rule.describe().to_string(),
                    count: fired.and_then(|f| f.get(&rule)).copied().unwrap_or(0),
                })
                .collect(),
        }
    }
}

impl TableManifest {
    pub fn new(
        t: &TableDesc,
        location: String,
        lossy: &BTreeMap<String, BTreeMap<LossyRule, u64>>,
        files: Vec<FileEntry>,
        empty_ranges: Vec<KeyRange>,
    ) -> Self {
        TableManifest {
            schema: t.name.schema.clone(),
            name: t.name.name.clone(),
            location,
            primary_key: t.primary_key.clone(),
            split_key: t.split_key.as_ref().map(|k| k.column.clone()),
            rows: files.iter().map(|f| f.rows).sum(),
            bytes: files.iter().map(|f| f.bytes).sum(),
            columns: t
                .columns
                .iter()
                .map(|c| ColumnManifest::new(c, lossy.get(&c.name)))
                .collect(),
            files,
            empty_ranges,
        }
    }
}
