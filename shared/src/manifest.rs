//! The export manifest: written once every file is verified (before the run report and
//! `_SUCCESS`), it is what makes an export published. It lists every
//! table with its columns (source, Parquet and Glue types, lossy rules and how often they fired)
//! and files, and every table that was left out with the reason. It also maps every table and
//! column to its name in Glue and Athena, and every column to its name in the Parquet files.
//!
//! Format 2 (`snapex-manifest/2`) is sharded, so neither its writer nor its readers hold every
//! table of a database with millions: `manifest.json` holds the export's own fields, its
//! totals, the first [`DEFAULT_SHARD_ENTRIES`] tables (and left-out tables) inline, and the
//! list of its shards, `_manifest/shard-000002.json`, `-000003`, …, each a
//! [`ManifestShard`] of at most as many entries, in order. An export of fewer tables is one
//! file, as in format 1, which had no shards and is read the same way.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::catalog::names::{ColumnName, column_names};
use crate::model::SourceInfo;
use crate::model::{
    ColumnDesc, KeyRange, LossyRule, PartitionBy, Partitioning, ReadAs, SkippedTable, TableDesc,
};

pub const FORMAT: &str = "snapex-manifest/2";
/// The format before shards (every table inline); read as format 2 without shards.
pub const FORMAT_V1: &str = "snapex-manifest/1";
/// A shard's own format name.
pub const SHARD_FORMAT: &str = "snapex-manifest-shard/1";
/// Tables and left-out tables per shard, the inline first shard included: about 5 MB of JSON
/// for tables of a few columns and one file each.
pub const DEFAULT_SHARD_ENTRIES: usize = 1000;

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
    /// The Glue database the catalog files (`_catalog/`) name.
    pub glue_database: String,
    /// The first shard's tables; the rest are in [`Manifest::shards`].
    pub tables: Vec<TableManifest>,
    /// The first shard's left-out tables; the rest are in [`Manifest::shards`].
    pub skipped: Vec<SkippedTable>,
    pub totals: Totals,
    /// The other shards, in order (none in format 1, nor for a small export).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardRef>,
    /// With `--fold-schemas`, when tables folded: the folded Glue tables, and the tables of
    /// their names that did not fold, with the reason (see [`crate::catalog::fold`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folding: Option<crate::catalog::fold::Folding>,
}

/// One shard of a manifest, as `manifest.json` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRef {
    /// Relative to the export's root: `_manifest/shard-000002.json`.
    pub path: String,
    pub tables: u64,
    pub skipped: u64,
}

/// A shard file: more of the manifest's tables and left-out tables, in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestShard {
    pub format: String,
    pub export_id: String,
    /// Its number: the inline first shard is 1, so files count from 2.
    pub shard: usize,
    pub tables: Vec<TableManifest>,
    pub skipped: Vec<SkippedTable>,
}

/// Cuts entries, as they come, into an inline first shard and numbered shard files (from 2)
/// of `per_shard` entries each, holding at most two shards' entries: the first (kept for the
/// index file, written last) and the one filling up. What the manifest and the run report
/// share, so their shards hold the same tables. The caller writes each shard it is handed
/// before asking for more.
#[derive(Debug)]
pub struct Cutter<E> {
    per_shard: usize,
    first: Option<Vec<E>>,
    filling: Vec<E>,
    /// Shard files handed out so far.
    files: usize,
}

impl<E> Cutter<E> {
    /// `per_shard` entries per shard, at least 1.
    pub fn new(per_shard: usize) -> Cutter<E> {
        Cutter {
            per_shard: per_shard.max(1),
            first: None,
            filling: Vec::new(),
            files: 0,
        }
    }

    /// Adds an entry; returns a full shard file (its number and entries), if this filled one.
    pub fn push(&mut self, entry: E) -> Option<(usize, Vec<E>)> {
        self.filling.push(entry);
        if self.filling.len() < self.per_shard {
            return None;
        }
        self.cut()
    }

    /// The entries so far as the next shard file, or as the inline first shard.
    fn cut(&mut self) -> Option<(usize, Vec<E>)> {
        let entries = std::mem::take(&mut self.filling);
        if self.first.is_none() {
            self.first = Some(entries);
            return None;
        }
        if entries.is_empty() {
            return None;
        }
        self.files += 1;
        Some((self.files + 1, entries))
    }

    /// Ends the shards: the last shard file to write (if any), then the first shard's entries.
    /// Borrows rather than consumes, so an owner can hand the last shard to its own methods.
    pub fn finish(&mut self) -> (Option<(usize, Vec<E>)>, Vec<E>) {
        let last = self.cut();
        (last, self.first.take().unwrap_or_default())
    }
}

/// One entry of the manifest or the run report: an exported table's, or a left-out table.
#[derive(Debug)]
pub enum Entry<T> {
    Table(T),
    Skipped(SkippedTable),
}

/// Splits entries into the tables' and the left-out tables'.
pub fn split_entries<T>(entries: Vec<Entry<T>>) -> (Vec<T>, Vec<SkippedTable>) {
    let mut tables = Vec::new();
    let mut skipped = Vec::new();
    for e in entries {
        match e {
            Entry::Table(t) => tables.push(t),
            Entry::Skipped(s) => skipped.push(s),
        }
    }
    (tables, skipped)
}

/// Cuts the manifest's tables, as they come, into the inline first shard and shard files
/// (see [`Cutter`]).
#[derive(Debug)]
pub struct Sharder {
    export_id: String,
    cutter: Cutter<Entry<TableManifest>>,
    shards: Vec<ShardRef>,
}

impl Sharder {
    /// `per_shard` entries (tables plus left-out tables) per shard, at least 1.
    pub fn new(export_id: &str, per_shard: usize) -> Sharder {
        Sharder {
            export_id: export_id.to_string(),
            cutter: Cutter::new(per_shard),
            shards: Vec::new(),
        }
    }

    /// Adds a table; returns a full shard to write, if this filled one.
    pub fn table(&mut self, t: TableManifest) -> Option<ManifestShard> {
        let cut = self.cutter.push(Entry::Table(t));
        cut.map(|c| self.shard(c))
    }

    /// Adds a left-out table; returns a full shard to write, if this filled one.
    pub fn skipped(&mut self, s: SkippedTable) -> Option<ManifestShard> {
        let cut = self.cutter.push(Entry::Skipped(s));
        cut.map(|c| self.shard(c))
    }

    fn shard(&mut self, (shard, entries): (usize, Vec<Entry<TableManifest>>)) -> ManifestShard {
        let (tables, skipped) = split_entries(entries);
        self.shards.push(ShardRef {
            path: shard_path(shard),
            tables: tables.len() as u64,
            skipped: skipped.len() as u64,
        });
        ManifestShard {
            format: SHARD_FORMAT.to_string(),
            export_id: self.export_id.clone(),
            shard,
            tables,
            skipped,
        }
    }

    /// Ends the shards: the last one to write (if any), then the inline tables, left-out tables
    /// and shard list for `manifest.json`.
    pub fn finish(mut self) -> (Option<ManifestShard>, FirstShard) {
        let (last, first) = self.cutter.finish();
        let last = last.map(|c| self.shard(c));
        let (tables, skipped) = split_entries(first);
        (
            last,
            FirstShard {
                tables,
                skipped,
                shards: self.shards,
            },
        )
    }
}

/// What `manifest.json` itself holds of the tables: the first shard, and where the rest are.
#[derive(Debug, Default)]
pub struct FirstShard {
    pub tables: Vec<TableManifest>,
    pub skipped: Vec<SkippedTable>,
    pub shards: Vec<ShardRef>,
}

/// Shard `n`'s path under the export root.
pub fn shard_path(n: usize) -> String {
    use crate::layout::{MANIFEST_DIR, manifest_shard_file};
    format!("{MANIFEST_DIR}/{}", manifest_shard_file(n))
}

impl Manifest {
    /// True for the formats this version reads (1 and 2).
    pub fn is_known_format(&self) -> bool {
        self.format == FORMAT || self.format == FORMAT_V1
    }
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
    /// The table's name in Glue and Athena (and of its files under `_catalog/`).
    pub glue_table: String,
    /// The table's folder relative to the export root: the Athena table's LOCATION.
    pub location: String,
    pub primary_key: Vec<String>,
    pub split_key: Option<String>,
    /// How the table's files are grouped into `<key>=<value>/` folders; absent when they are not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitioning: Option<PartitioningManifest>,
    pub rows: u64,
    pub bytes: u64,
    pub columns: Vec<ColumnManifest>,
    pub files: Vec<FileEntry>,
    /// Key ranges that were read and held no rows, so wrote no file. With the files' ranges
    /// they tile the whole key space: the proof that no range was left unread. (A table with
    /// no rows at all has one file of 0 rows, its first piece's: that range is a file's.) (For a table
    /// partitioned by time or value, a file's range is only the key span its partition's rows
    /// were read in, and no empty range is listed: each partition's files cover its rows. For
    /// a partitioned table whose big leaves are read in block ranges, the ranges are each
    /// leaf's, and tile each leaf's heap; the file names say which leaf.)
    pub empty_ranges: Vec<KeyRange>,
}

/// A table's partition folders, as the manifest describes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitioningManifest {
    /// The partition key: the folders' `<key>=` and the Glue partition key.
    pub key: String,
    /// The source column the values come from (it is in the files too).
    pub column: String,
    /// `year`, `month`, `day`, `hour` (the UTC period), `buckets` or `value`.
    pub by: String,
    /// For `buckets`: how many keys a bucket holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u64>,
}

impl PartitioningManifest {
    pub fn new(p: &Partitioning) -> Self {
        let (by, width) = match p.by {
            PartitionBy::Time { granularity } => (granularity.name(), None),
            PartitionBy::KeyBuckets { width } => ("buckets", Some(width)),
            PartitionBy::Value => ("value", None),
        };
        PartitioningManifest {
            key: p.key.clone(),
            column: p.column.clone(),
            by: by.to_string(),
            width,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColumnManifest {
    /// The name in the source.
    pub name: String,
    /// The name in Glue and Athena: lowercase, unique in the table.
    pub glue_name: String,
    /// The name in the Parquet files: `name`, or `glue_name` when Athena could not match
    /// `name` to it case-insensitively.
    pub parquet_name: String,
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
    /// For a table with partition folders: the value of the partition holding the file,
    /// `null` for the NULL partition. Absent for other tables.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub partition: Option<Option<String>>,
    pub rows: u64,
    pub bytes: u64,
}

/// A field that is present, even as `null`, is `Some`; `default` makes an absent one `None`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl ColumnManifest {
    pub fn new(
        c: &ColumnDesc,
        names: ColumnName,
        fired: Option<&BTreeMap<LossyRule, u64>>,
    ) -> Self {
        ColumnManifest {
            name: c.name.clone(),
            glue_name: names.glue,
            parquet_name: names.parquet,
            source_type: c.source_type.clone(),
            parquet_type: c.kind.parquet_type(),
            glue_type: c.kind.glue_type(),
            nullable: c.nullable,
            read: c.read.clone(),
            // The rules the type map declares (0 when they never fired), then any other rule
            // that fired, such as invalid UTF-8 in a text column: none is left out.
            lossy: c
                .lossy_rules
                .iter()
                .copied()
                .chain(
                    fired
                        .into_iter()
                        .flat_map(|f| f.keys().copied())
                        .filter(|r| !c.lossy_rules.contains(r)),
                )
                .map(|rule| LossyEntry {
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
        glue_table: String,
        location: String,
        lossy: &BTreeMap<String, BTreeMap<LossyRule, u64>>,
        files: Vec<FileEntry>,
        empty_ranges: Vec<KeyRange>,
    ) -> Self {
        TableManifest {
            schema: t.name.schema.clone(),
            name: t.name.name.clone(),
            glue_table,
            location,
            primary_key: t.primary_key.clone(),
            split_key: t.split_key.as_ref().map(|k| k.column.clone()),
            partitioning: t.partition_by.as_ref().map(PartitioningManifest::new),
            rows: files.iter().map(|f| f.rows).sum(),
            bytes: files.iter().map(|f| f.bytes).sum(),
            columns: t
                .columns
                .iter()
                .zip(column_names(t.columns.iter().map(|c| c.name.as_str())))
                .map(|(c, n)| ColumnManifest::new(c, n, lossy.get(&c.name)))
                .collect(),
            files,
            empty_ranges,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Granularity;
    use serde_json::json;

    fn skipped(i: usize) -> SkippedTable {
        SkippedTable {
            name: crate::model::TableName::new("s", format!("t{i}")),
            reason: "no columns".into(),
        }
    }

    /// Feeds `n` left-out tables through a sharder of `per` entries, writing what it hands
    /// out; returns the inline part and the shard files.
    fn shard(n: usize, per: usize) -> (FirstShard, Vec<ManifestShard>) {
        let mut sharder = Sharder::new("e", per);
        let mut files: Vec<ManifestShard> =
            (0..n).filter_map(|i| sharder.skipped(skipped(i))).collect();
        let (last, first) = sharder.finish();
        files.extend(last);
        (first, files)
    }

    #[test]
    fn a_small_manifest_is_one_file() {
        let (first, files) = shard(3, 1000);
        assert_eq!(first.skipped.len(), 3);
        assert!(first.shards.is_empty() && files.is_empty());
        let (first, files) = shard(0, 1000);
        assert!(first.skipped.is_empty() && first.shards.is_empty() && files.is_empty());
    }

    #[test]
    fn shards_hold_every_entry_once_in_order() {
        for (n, per) in [(10, 10), (11, 10), (25, 10), (30, 10), (7, 1)] {
            let (first, files) = shard(n, per);
            assert_eq!(first.skipped.len(), per.min(n), "{n}/{per}");
            assert_eq!(first.shards.len(), files.len());
            let mut names: Vec<String> =
                first.skipped.iter().map(|s| s.name.name.clone()).collect();
            for (i, (r, f)) in first.shards.iter().zip(&files).enumerate() {
                assert_eq!(f.shard, i + 2);
                assert_eq!(r.path, shard_path(i + 2));
                assert_eq!(r.skipped as usize, f.skipped.len());
                assert!(f.skipped.len() <= per && !f.skipped.is_empty());
                names.extend(f.skipped.iter().map(|s| s.name.name.clone()));
            }
            let want: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
            assert_eq!(names, want, "{n}/{per}");
        }
        assert_eq!(shard_path(2), "_manifest/shard-000002.json");
    }

    #[test]
    fn format_one_reads_as_a_manifest_without_shards() {
        let v1 = json!({
            "format": "snapex-manifest/1", "export_id": "e", "destination": "d",
            "source": {"engine": "postgres", "version": "15", "database": "db",
                       "endpoint": "h:5432", "consistency": "c"},
            "started_at": "2026-12-05T00:00:00Z", "finished_at": "2026-12-05T00:00:01Z",
            "include": [], "exclude": [], "glue_database": "db", "tables": [], "skipped": [],
            "totals": {"tables": 0, "skipped": 0, "files": 0, "rows": 0, "bytes": 0}
        });
        let m: Manifest = serde_json::from_value(v1).unwrap();
        assert!(m.shards.is_empty() && m.is_known_format());
        let v2 = serde_json::to_value(&m).unwrap();
        assert!(v2.get("shards").is_none(), "no shards, no key: {v2}");
    }

    fn file(partition: Option<Option<&str>>) -> FileEntry {
        FileEntry {
            path: "s/t/k=a/part-all.parquet".into(),
            range: None,
            partition: partition.map(|p| p.map(str::to_string)),
            rows: 1,
            bytes: 2,
        }
    }

    #[test]
    fn a_file_partition_is_absent_null_or_a_value_and_reads_back_the_same() {
        for (f, partition) in [
            (file(None), None),
            (file(Some(None)), Some(json!(null))),
            (file(Some(Some("2024-03-01"))), Some(json!("2024-03-01"))),
        ] {
            let v = serde_json::to_value(&f).unwrap();
            assert_eq!(v.get("partition"), partition.as_ref(), "{v}");
            assert_eq!(serde_json::from_value::<FileEntry>(v).unwrap(), f);
        }
    }

    #[test]
    fn a_column_lists_its_declared_rules_and_every_rule_that_fired() {
        let c = ColumnDesc {
            name: "s".into(),
            source_type: "text".into(),
            kind: crate::types::ValueKind::Text,
            nullable: true,
            read: ReadAs::Native,
            wire: "text".into(),
            lossy_rules: vec![LossyRule::InfiniteToNull],
            dims_unknown: false,
        };
        let fired = BTreeMap::from([(LossyRule::InvalidUtf8ToNull, 3)]);
        let name = column_names(["s"]).remove(0);
        let m = ColumnManifest::new(&c, name, Some(&fired));
        let listed: Vec<(LossyRule, u64)> = m.lossy.iter().map(|l| (l.rule, l.count)).collect();
        assert_eq!(
            listed,
            [
                (LossyRule::InfiniteToNull, 0),
                (LossyRule::InvalidUtf8ToNull, 3)
            ]
        );
    }

    #[test]
    fn partitioning_names_its_rule() {
        let p = |by| {
            serde_json::to_value(PartitioningManifest::new(&Partitioning {
                key: "k".into(),
                column: "c".into(),
                by,
            }))
            .unwrap()
        };
        assert_eq!(
            p(PartitionBy::Time {
                granularity: Granularity::Day
            }),
            json!({"key": "k", "column": "c", "by": "day"})
        );
        assert_eq!(
            p(PartitionBy::KeyBuckets { width: 1000 }),
            json!({"key": "k", "column": "c", "by": "buckets", "width": 1000})
        );
        assert_eq!(
            p(PartitionBy::Value),
            json!({"key": "k", "column": "c", "by": "value"})
        );
    }
}
