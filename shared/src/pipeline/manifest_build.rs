//! The manifest of a finished export, built from its plan and its pieces' results one table
//! at a time: each table's files in catalog order with their partitions, its lossy values and
//! its empty key ranges; then the index `manifest.json` is, with the totals. Apart from
//! publishing because it only computes: it reads and writes nothing.

use std::collections::{BTreeMap, HashMap};

use chrono::Utc;

use super::order::sort_pieces;
use crate::layout::Layout;
use crate::manifest::{
    FORMAT, FileEntry, FirstShard, Manifest, SourceManifest, TableManifest, Totals,
};
use crate::model::{LossyRule, TableDesc, TableName};
use crate::work::{GlueNames, PieceResult};

pub(super) struct ManifestInput<'a> {
    pub(super) glue: &'a GlueNames,
    pub(super) order: &'a [TableName],
    pub(super) tables: &'a crate::work::TableMap,
    pub(super) layout: &'a Layout,
    pub(super) results: &'a [PieceResult],
}

/// The export's own fields, for the index.
pub(super) struct ManifestHead {
    pub(super) export_id: String,
    pub(super) destination: String,
    pub(super) source: SourceManifest,
    pub(super) started_at: chrono::DateTime<Utc>,
    pub(super) include: Vec<String>,
    pub(super) exclude: Vec<String>,
    pub(super) glue_database: String,
    /// What `--fold-schemas` folded (see [`crate::catalog::fold`]).
    pub(super) folding: Option<crate::catalog::fold::Folding>,
}

/// Each exported table's manifest entry, in catalog order, built as it is asked for.
pub(super) fn table_entries<'a>(
    m: &'a ManifestInput<'a>,
) -> impl Iterator<Item = TableManifest> + 'a {
    let root = format!("{}/", m.layout.export_root());
    let relative = move |p: &str| p.strip_prefix(&root).unwrap_or(p).to_string();
    let mut by_table: HashMap<&TableName, Vec<&PieceResult>> = HashMap::new();
    for r in m.results {
        by_table.entry(&r.piece.table).or_default().push(r);
    }
    m.order
        .iter()
        .filter_map(|name| m.tables.get(name))
        .map(move |t| {
            let pieces = by_table.remove(&t.name).unwrap_or_default();
            table_entry(m, t, pieces, &relative)
        })
}

/// One table's entry, from its pieces' results.
fn table_entry(
    m: &ManifestInput<'_>,
    t: &TableDesc,
    mut pieces: Vec<&PieceResult>,
    relative: &dyn Fn(&str) -> String,
) -> TableManifest {
    sort_pieces(t, &mut pieces, m.layout);
    let mut lossy: BTreeMap<String, BTreeMap<LossyRule, u64>> = BTreeMap::new();
    for r in &pieces {
        for (col, rules) in &r.lossy {
            for (rule, n) in rules {
                *lossy
                    .entry(col.clone())
                    .or_default()
                    .entry(*rule)
                    .or_default() += n;
            }
        }
    }
    let files = pieces
        .iter()
        .filter_map(|r| {
            r.file.as_ref().map(|f| FileEntry {
                path: relative(&f.path),
                range: r.piece.range,
                partition: r.piece.hive.as_ref().map(|h| h.value.clone()),
                rows: f.rows,
                bytes: f.bytes,
            })
        })
        .collect();
    // A time or value partition's key range only narrows its read (the partition's condition
    // selects the rows), so its ranges do not tile the key space and are not listed.
    let tiles = |r: &&&PieceResult| {
        r.piece
            .hive
            .as_ref()
            .is_none_or(|h| h.filter == crate::model::PartFilter::KeyRangeOnly)
    };
    let empty = pieces
        .iter()
        .filter(|r| r.file.is_none())
        .filter(tiles)
        .filter_map(|r| r.piece.range)
        .collect();
    TableManifest::new(
        t,
        m.glue.tables.get(&t.name).cloned().unwrap_or_default(),
        relative(m.layout.table_dir(&t.name).as_ref()) + "/",
        &lossy,
        files,
        empty,
    )
}

/// Adds `t` to the running totals.
pub(super) fn count(totals: &mut Totals, t: &TableManifest) {
    totals.tables += 1;
    totals.files += t.files.len() as u64;
    totals.rows += t.rows;
    totals.bytes += t.bytes;
}

/// `manifest.json`: the export's fields, the first shard and where the rest are, the totals.
pub(super) fn manifest_index(head: ManifestHead, first: FirstShard, totals: Totals) -> Manifest {
    Manifest {
        folding: head.folding,
        format: FORMAT.to_string(),
        export_id: head.export_id,
        destination: head.destination,
        source: head.source,
        started_at: head.started_at,
        finished_at: Utc::now(),
        include: head.include,
        exclude: head.exclude,
        glue_database: head.glue_database,
        tables: first.tables,
        skipped: first.skipped,
        totals,
        shards: first.shards,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::catalog_files::tests::Fixture;

    #[test]
    fn the_manifest_names_each_files_partition_in_catalog_order() {
        let f = Fixture::new();
        let glue = f.glue();
        let input = ManifestInput {
            glue: &glue,
            order: &f.order,
            tables: &f.tables,
            layout: &f.layout,
            results: &f.results,
        };
        let tables: Vec<TableManifest> = table_entries(&input).collect();
        let v = serde_json::json!({"tables": serde_json::to_value(&tables).unwrap()});
        let events = &v["tables"][0];
        assert_eq!(
            events["partitioning"],
            serde_json::json!({"key": "at_day", "column": "at", "by": "day"})
        );
        let files: Vec<(&str, serde_json::Value)> = events["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["path"].as_str().unwrap(), f["partition"].clone()))
            .collect();
        assert_eq!(
            files,
            [
                (
                    "public/events/at_day=2024-03-01/part-t1709251200_1709294400.parquet",
                    "2024-03-01".into()
                ),
                (
                    "public/events/at_day=2024-03-01/part-t1709294400_1709337600.parquet",
                    "2024-03-01".into()
                ),
                (
                    "public/events/at_day=__HIVE_DEFAULT_PARTITION__/part-all.parquet",
                    serde_json::Value::Null
                ),
            ]
        );
        let orders = &v["tables"][1];
        assert_eq!(orders["partitioning"]["width"], 10);
        assert_eq!(orders["files"][0]["partition"], "-10");
        assert_eq!(orders["files"][249]["partition"], "2480");
        let plain = &v["tables"][3];
        assert!(plain.get("partitioning").is_none());
        assert!(plain["files"][0].get("partition").is_none());
    }
}
