//! The run report: what one run of an export did, per table, written as `report.json` next
//! to the manifest and printed by the command line. The manifest says what the export holds;
//! the report says how it got there (time spent, retries, chunks kept from an earlier run,
//! values changed by lossy rules), for the operator.
//!
//! It is sharded as the manifest is, and built with it one table at a time: `report.json`
//! holds the totals, the slowest tables, and the first shard's tables (in the manifest's
//! order); `_manifest/report-000002.json`, `-000003`, … hold the rest, each the tables of the
//! manifest's shard of the same number. So neither writing nor reading it holds every table
//! of a database with millions.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::layout::{MANIFEST_DIR, report_shard_file};
use crate::manifest::{Cutter, Entry, Manifest, ShardRef, TableManifest, Totals, split_entries};
use crate::model::{LossyRule, SkippedTable};
use crate::work::PieceResult;

/// A report shard's own format name.
pub const REPORT_SHARD_FORMAT: &str = "snapex-report-shard/1";
/// The slowest tables the report names, whatever the shards.
pub const SLOWEST_TABLES: usize = 20;

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
    /// The [`SLOWEST_TABLES`] tables that took the most seconds, slowest first.
    #[serde(default)]
    pub slowest: Vec<TableReport>,
    /// The first shard's tables, in the manifest's order; the rest are in
    /// [`RunReport::shards`].
    pub tables: Vec<TableReport>,
    /// The left-out tables among the first shard's entries; the manifest lists them all.
    pub skipped: Vec<SkippedTable>,
    /// The manifest's folding (`--fold-schemas`): the folded Glue tables and the tables left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folding: Option<crate::catalog::fold::Folding>,
    /// The other shards' files (`_manifest/report-000002.json`, …), in order; their
    /// `skipped` counts are 0.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardRef>,
}

/// A report shard file: more of the report's tables, in the manifest's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportShard {
    pub format: String,
    pub export_id: String,
    /// Its number: the inline first shard is 1, so files count from 2.
    pub shard: usize,
    pub tables: Vec<TableReport>,
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

/// Builds the report as the manifest's entries come, one table at a time, holding at most
/// one shard's tables beyond the first and the [`SLOWEST_TABLES`]. Its shards are cut where
/// the manifest's are ([`Cutter`]): report shard `n` holds the tables of manifest shard `n`.
pub(crate) struct ReportBuilder {
    export_id: String,
    seconds: HashMap<String, f64>,
    chunks: u64,
    chunks_kept: u64,
    retries: u64,
    lossy_values: u64,
    cutter: Cutter<Entry<TableReport>>,
    shards: Vec<ShardRef>,
    slowest: Vec<TableReport>,
}

impl ReportBuilder {
    /// The report of a run that publishes `results`, from `chunks` completion records
    /// (`kept` of which an earlier run wrote) whose chunks were retried `retries` times in
    /// all, `per_shard` entries a shard (as the manifest's).
    pub(crate) fn new(
        export_id: &str,
        per_shard: usize,
        results: &[PieceResult],
        chunks: usize,
        retries: u64,
        kept: usize,
    ) -> ReportBuilder {
        let mut seconds: HashMap<String, f64> = HashMap::new();
        for r in results {
            *seconds.entry(r.piece.table.to_string()).or_default() += r.seconds;
        }
        ReportBuilder {
            export_id: export_id.to_string(),
            seconds,
            chunks: chunks as u64,
            chunks_kept: kept as u64,
            retries,
            lossy_values: 0,
            cutter: Cutter::new(per_shard),
            shards: Vec::new(),
            slowest: Vec::new(),
        }
    }

    /// Adds the manifest's next table; returns a full shard to write, if this filled one.
    pub(crate) fn table(&mut self, t: &TableManifest) -> Option<ReportShard> {
        let table = format!("{}.{}", t.schema, t.name);
        let report = TableReport {
            seconds: self.seconds.remove(&table).unwrap_or_default(),
            rows: t.rows,
            files: t.files.len() as u64,
            bytes: t.bytes,
            lossy: fired(t),
            table,
        };
        self.lossy_values += report.lossy.values().flat_map(|m| m.values()).sum::<u64>();
        self.keep_if_slow(&report);
        let cut = self.cutter.push(Entry::Table(report));
        cut.map(|c| self.shard(c))
    }

    /// Adds the manifest's next left-out table: named in the report in the first shard only
    /// (the manifest lists them all), but counted where the manifest counts it, so the shards
    /// stay aligned; returns a full shard to write, if this filled one.
    pub(crate) fn skipped(&mut self, s: &SkippedTable) -> Option<ReportShard> {
        let cut = self.cutter.push(Entry::Skipped(s.clone()));
        cut.map(|c| self.shard(c))
    }

    fn keep_if_slow(&mut self, t: &TableReport) {
        let at = self
            .slowest
            .partition_point(|s| s.seconds.total_cmp(&t.seconds).is_ge());
        if at < SLOWEST_TABLES {
            self.slowest.insert(at, t.clone());
            self.slowest.truncate(SLOWEST_TABLES);
        }
    }

    fn shard(&mut self, (shard, entries): (usize, Vec<Entry<TableReport>>)) -> ReportShard {
        let (tables, _) = split_entries(entries);
        self.shards.push(ShardRef {
            path: report_shard_path(shard),
            tables: tables.len() as u64,
            skipped: 0,
        });
        ReportShard {
            format: REPORT_SHARD_FORMAT.to_string(),
            export_id: self.export_id.clone(),
            shard,
            tables,
        }
    }

    /// Ends the report for `manifest` (its index): the last shard to write (if any), and
    /// `report.json`.
    pub(crate) fn finish(mut self, manifest: &Manifest) -> (Option<ReportShard>, RunReport) {
        let (last, first) = self.cutter.finish();
        let last = last.map(|c| self.shard(c));
        let (tables, skipped) = split_entries(first);
        let report = RunReport {
            export_id: manifest.export_id.clone(),
            started_at: manifest.started_at,
            finished_at: manifest.finished_at,
            chunks: self.chunks,
            chunks_kept: self.chunks_kept,
            retries: self.retries,
            totals: manifest.totals.clone(),
            lossy_values: self.lossy_values,
            slowest: self.slowest,
            tables,
            skipped,
            shards: self.shards,
            folding: manifest.folding.clone(),
        };
        (last, report)
    }
}

impl RunReport {
    /// The report of a published export whose `report.json` is missing: its totals alone.
    pub fn totals_only(manifest: &Manifest) -> RunReport {
        RunReport {
            export_id: manifest.export_id.clone(),
            started_at: manifest.started_at,
            finished_at: manifest.finished_at,
            chunks: 0,
            chunks_kept: 0,
            retries: 0,
            totals: manifest.totals.clone(),
            lossy_values: 0,
            slowest: vec![],
            tables: vec![],
            skipped: vec![],
            shards: vec![],
            folding: manifest.folding.clone(),
        }
    }
}

/// Per column of `t`, the lossy rules that changed values, with how many.
fn fired(t: &TableManifest) -> BTreeMap<String, BTreeMap<LossyRule, u64>> {
    t.columns
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
        .collect()
}

/// Report shard `n`'s path under the export root.
pub fn report_shard_path(n: usize) -> String {
    format!("{MANIFEST_DIR}/{}", report_shard_file(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manifest index of `tables` tables and `skipped` left out, its shards elsewhere.
    fn index(tables: u64, skipped: u64) -> Manifest {
        serde_json::from_value(serde_json::json!({
            "format": "snapex-manifest/2", "export_id": "e", "destination": "d",
            "source": {"engine": "postgres", "version": "15", "database": "db",
                       "endpoint": "h:5432", "consistency": "c"},
            "started_at": "2026-12-05T00:00:00Z", "finished_at": "2026-12-05T00:00:01Z",
            "include": [], "exclude": [], "glue_database": "db", "tables": [], "skipped": [],
            "totals": {"tables": tables, "skipped": skipped, "files": 0, "rows": 300, "bytes": 0}
        }))
        .unwrap()
    }

    fn table(i: usize) -> TableManifest {
        TableManifest {
            schema: "s".into(),
            name: format!("t{i}"),
            glue_table: format!("t{i}"),
            location: format!("s/t{i}/"),
            primary_key: vec![],
            split_key: None,
            partitioning: None,
            rows: i as u64,
            bytes: 0,
            columns: vec![],
            files: vec![],
            empty_ranges: vec![],
        }
    }

    #[test]
    fn report_shard_n_holds_the_tables_of_manifest_shard_n() {
        let skipped = |i: u64| SkippedTable {
            name: crate::model::TableName::new("public", format!("odd{i}")),
            reason: "no columns".into(),
        };
        let mut report = ReportBuilder::new("e", 10, &[], 0, 0, 0);
        let mut sharder = crate::manifest::Sharder::new("e", 10);
        let (mut manifest_files, mut report_files) = (Vec::new(), Vec::new());
        for i in 0..25 {
            report_files.extend(report.table(&table(i)));
            manifest_files.extend(sharder.table(table(i)));
        }
        for i in 0..17 {
            report_files.extend(report.skipped(&skipped(i)));
            manifest_files.extend(sharder.skipped(skipped(i)));
        }
        let (last, _) = sharder.finish();
        manifest_files.extend(last);
        let (last, _) = report.finish(&index(25, 17));
        report_files.extend(last);
        // 42 entries in shards of 10: the first inline, then 2..5, the same on both sides.
        let numbers: Vec<usize> = manifest_files.iter().map(|s| s.shard).collect();
        assert_eq!(numbers, [2, 3, 4, 5]);
        let numbers: Vec<usize> = report_files.iter().map(|s| s.shard).collect();
        assert_eq!(numbers, [2, 3, 4, 5]);
        for (m, r) in manifest_files.iter().zip(&report_files) {
            let names = |t: &[TableManifest]| t.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
            let reported: Vec<String> = r
                .tables
                .iter()
                .map(|t| t.table.trim_start_matches("s.").to_string())
                .collect();
            assert_eq!(names(&m.tables), reported, "shard {}", m.shard);
        }
        // Shard 3 holds the last 5 tables and 5 left-out ones; 4 and 5 left-out ones only.
        assert_eq!(report_files[1].tables.len(), 5);
        assert!(report_files[2].tables.is_empty());
    }

    #[test]
    fn the_report_shards_as_the_manifest_and_keeps_the_slowest() {
        let mut b = ReportBuilder::new("e", 10, &[], 0, 0, 0);
        let mut files: Vec<ReportShard> = (0..25).filter_map(|i| b.table(&table(i))).collect();
        let (last, report) = b.finish(&index(25, 0));
        files.extend(last);
        assert_eq!(report.tables.len(), 10);
        assert_eq!(files.len(), 2);
        assert_eq!(report.shards.len(), 2);
        assert_eq!(report.shards[1].path, "_manifest/report-000003.json");
        let rows: Vec<u64> = report
            .tables
            .iter()
            .chain(files.iter().flat_map(|f| &f.tables))
            .map(|t| t.rows)
            .collect();
        assert_eq!(rows, (0..25).collect::<Vec<u64>>());
        assert_eq!(report.slowest.len(), SLOWEST_TABLES);
    }
}
