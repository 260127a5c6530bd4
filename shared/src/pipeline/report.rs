//! The run report: what one run of an export did, per table, written as `report.json` next
//! to the manifest and printed by the command line. The manifest says what the export holds;
//! the report says how it got there (time spent, retries, chunks kept from an earlier run,
//! values changed by lossy rules), for the operator.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::manifest::{Manifest, Totals};
use crate::model::{LossyRule, SkippedTable};
use crate::work::ChunkRecord;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub export_id: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub chunks: u64,
    /// Chunks whose files an earlier, interrupted run wrote and this one kept (`--resume`).
    pub chunks_kept: u64,
    /// Chunk attempts that failed with a retryable error and were read again.
    pub retries: u64,
    pub totals: Totals,
    /// Values changed by lossy rules, over all tables.
    pub lossy_values: u64,
    pub tables: Vec<TableReport>,
    pub skipped: Vec<SkippedTable>,
    /// The manifest's folding (`--fold-schemas`): the folded Glue tables and the tables left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folding: Option<crate::catalog::fold::Folding>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableReport {
    /// `schema.table`, as the source names it.
    pub table: String,
    pub rows: u64,
    pub files: u64,
    pub bytes: u64,
    /// Seconds spent reading and writing the table's pieces, summed over pieces (readers run
    /// at once, so the tables' seconds add up to more than the run's).
    pub seconds: f64,
    /// Per column, how many values each lossy rule changed.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub lossy: BTreeMap<String, BTreeMap<LossyRule, u64>>,
}

impl RunReport {
    /// The report of a run that published `manifest` from `records`, `kept` of which an
    /// earlier run wrote.
    pub fn new(manifest: &Manifest, records: &[ChunkRecord], kept: usize) -> RunReport {
        let mut seconds: HashMap<String, f64> = HashMap::new();
        for r in records.iter().flat_map(|r| &r.results) {
            *seconds.entry(r.piece.table.to_string()).or_default() += r.seconds;
        }
        let tables: Vec<TableReport> = manifest
            .tables
            .iter()
            .map(|t| {
                let table = format!("{}.{}", t.schema, t.name);
                let lossy: BTreeMap<String, BTreeMap<LossyRule, u64>> = t
                    .columns
                    .iter()
                    .filter(|c| c.lossy.iter().any(|l| l.count > 0))
                    .map(|c| {
                        let rules = c
                            .lossy
                            .iter()
                            .filter(|l| l.count > 0)
                            .map(|l| (l.rule, l.count))
                            .collect();
                        (c.name.clone(), rules)
                    })
                    .collect();
                TableReport {
                    seconds: seconds.get(&table).copied().unwrap_or_default(),
                    rows: t.rows,
                    files: t.files.len() as u64,
                    bytes: t.bytes,
                    lossy,
                    table,
                }
            })
            .collect();
        RunReport {
            export_id: manifest.export_id.clone(),
            started_at: manifest.started_at,
            finished_at: manifest.finished_at,
            chunks: records.len() as u64,
            chunks_kept: kept as u64,
            retries: records.iter().map(|r| u64::from(r.retries)).sum(),
            totals: manifest.totals.clone(),
            lossy_values: tables
                .iter()
                .flat_map(|t| t.lossy.values())
                .flat_map(|m| m.values())
                .sum(),
            tables,
            skipped: manifest.skipped.clone(),
            folding: manifest.folding.clone(),
        }
    }
}
