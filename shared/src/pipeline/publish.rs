//! After the last chunk: verify every file, clear leftovers of earlier attempts, write the
//! catalog files, and build the manifest that publishes the export.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::Utc;
use object_store::path::Path;

use futures::{StreamExt, TryStreamExt};

use super::Progress;
use super::lease::Lease;
use super::order::sort_pieces;
use crate::catalog::{self, ExportInfo, TableEntry, names, partitions};
use crate::config::ExportConfig;
use crate::error::{Error, Result};
use crate::layout::{Layout, REPORT};
use crate::limits::OBJECTS_AT_ONCE;
use crate::manifest::{FORMAT, FileEntry, Manifest, SourceManifest, TableManifest, Totals};
use crate::model::SourceInfo;
use crate::model::{LossyRule, SkippedTable, TableDesc, TableName};
use crate::pipeline::report::RunReport;
use crate::sink::{Destination, FileWritten};
use crate::work::{ChunkRecord, ExportPlan, GlueNames, PieceResult};

/// What the chunks of an export did, for publishing it.
pub(super) struct Finished<'a> {
    /// Each planned chunk's pieces, by chunk id.
    pub(super) planned: &'a BTreeMap<usize, Vec<crate::model::Piece>>,
    /// One completion record per planned chunk.
    pub(super) records: &'a [ChunkRecord],
    /// How many of the records an earlier run wrote.
    pub(super) kept: usize,
}

/// Publishes an export whose chunks are all written: checks that every planned piece has
/// exactly one result, writes a zero-row file for each table with no rows (see
/// [`super::empty`]) and verifies every file, writes the catalog files, removes what an
/// earlier attempt left and checks that nothing else is there, then marks the export's lease
/// published (no run takes it from then on) and writes the manifest, the run report and
/// `_SUCCESS`, in that order, so a reader that sees `_SUCCESS` sees everything the manifest
/// names.
pub(super) async fn publish(
    dest: &Destination,
    layout: &Layout,
    plan: &ExportPlan,
    finished: Finished<'_>,
    lease: &Lease,
    progress: &dyn Progress,
) -> Result<(Manifest, RunReport)> {
    progress.phase("verifying files");
    check_complete(finished.planned, finished.records)?;
    let mut results: Vec<PieceResult> = finished
        .records
        .iter()
        .flat_map(|r| r.results.iter().cloned())
        .collect();
    let order = plan.order();
    let tables = plan.table_map();
    super::empty::write_zero_row_files(dest, layout, plan.parquet, &order, &tables, &mut results)
        .await?;
    let results = results.as_slice();
    verify(dest, results).await?;

    progress.phase("writing catalog metadata");
    let glue = plan.glue();
    let catalog_files = catalog_files(
        &plan.source,
        &plan.export_id,
        &glue,
        &order,
        &tables,
        dest,
        layout,
        results,
    )?;
    let mut written: HashSet<String> = results
        .iter()
        .filter_map(|r| r.file.as_ref())
        .map(|f| f.path.clone())
        .collect();
    written.extend(catalog_files.iter().map(|(path, _)| path.to_string()));
    put_all(dest, catalog_files, OBJECTS_AT_ONCE).await?;
    remove_strays(dest, layout, &plan.export_id, &written).await?;

    progress.phase("publishing manifest");
    let manifest = build_manifest(ManifestInput {
        export_id: plan.export_id.clone(),
        destination: dest.url.clone(),
        source: plan.source.clone(),
        started_at: plan.started_at,
        include: plan.include.clone(),
        exclude: plan.exclude.clone(),
        glue: &glue,
        order: &order,
        tables: &tables,
        skipped: plan.skipped.clone(),
        layout,
        results,
    });
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| Error::Internal(format!("manifest: {e}")))?;
    lease.publish().await?;
    // Create-if-absent: a manifest already there (an export published before leases) is
    // never replaced.
    if !dest.put_new(&layout.manifest(), json).await? {
        return Err(Error::Verify(format!(
            "{} appeared while this run published the export",
            layout.manifest()
        )));
    }
    let report = RunReport::new(&manifest, finished.records, finished.kept);
    dest.put(&layout.report(), pretty_json(REPORT, &report)?)
        .await?;
    dest.put(&layout.success_marker(), vec![]).await?;
    Ok((manifest, report))
}

/// Writes `files`, `at_once` at a time. Each write owns its handle on the store: a future that
/// borrows across a concurrent stream is not `Send` to the compiler, and the Lambda runtime
/// needs `Send` futures.
pub(super) async fn put_all(
    dest: &Destination,
    files: Vec<(Path, Vec<u8>)>,
    at_once: usize,
) -> Result<()> {
    futures::stream::iter(files)
        .map(|(path, bytes)| {
            let dest = dest.clone();
            async move { dest.put(&path, bytes).await }
        })
        .buffer_unordered(at_once)
        .try_collect()
        .await
}

/// Every file the results name exists with the size written, is a whole Parquet file (its
/// footer reads back) and holds the rows counted while writing it; and no two pieces name
/// the same file. Files are checked `OBJECTS_AT_ONCE` at a time.
pub(super) async fn verify(dest: &Destination, results: &[PieceResult]) -> Result<()> {
    // Owned, so the checks' futures borrow nothing: the Lambda runtime needs `Send` futures.
    let files: Vec<FileWritten> = results.iter().filter_map(|r| r.file.clone()).collect();
    let mut seen = HashSet::with_capacity(files.len());
    if let Some(twice) = files.iter().find(|f| !seen.insert(f.path.as_str())) {
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
        .try_collect()
        .await
}

async fn verify_file(dest: &Destination, f: &FileWritten) -> Result<()> {
    use parquet::file::metadata::{FooterTail, ParquetMetaDataReader};
    // `parse`, not `from`: the path is already escaped and must not be escaped again.
    let path = Path::parse(&f.path).map_err(|e| Error::Internal(format!("{}: {e}", f.path)))?;
    let size = dest.size(&path).await?;
    if size != f.bytes {
        return Err(Error::Verify(format!(
            "{} is {size} bytes, {} were written",
            f.path, f.bytes
        )));
    }
    let broken =
        |why: String| Error::Verify(format!("{} is not a whole Parquet file: {why}", f.path));
    // The footer: the metadata's length and the magic, then the metadata before them.
    let tail = dest.get_range(&path, size.saturating_sub(8)..size).await?;
    let tail: [u8; 8] = tail
        .as_slice()
        .try_into()
        .map_err(|_| broken(format!("{size} bytes")))?;
    let footer = FooterTail::try_new(&tail).map_err(|e| broken(e.to_string()))?;
    let len = footer.metadata_length() as u64;
    if len + 8 > size {
        return Err(broken(format!("a footer of {len} bytes in {size}")));
    }
    let meta = dest.get_range(&path, size - 8 - len..size - 8).await?;
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

/// Every planned chunk has exactly one record, and each record lists exactly the pieces its
/// chunk planned: no piece was left unread or read twice.
pub(super) fn check_complete(
    planned: &BTreeMap<usize, Vec<crate::model::Piece>>,
    records: &[ChunkRecord],
) -> Result<()> {
    let mut seen = HashSet::with_capacity(records.len());
    for r in records {
        let Some(pieces) = planned.get(&r.chunk) else {
            return Err(Error::Verify(format!(
                "chunk {} has a record but was not planned",
                r.chunk
            )));
        };
        if !seen.insert(r.chunk) {
            return Err(Error::Verify(format!("chunk {} has two records", r.chunk)));
        }
        let same = r.results.len() == pieces.len()
            && r.results.iter().zip(pieces).all(|(r, p)| &r.piece == p);
        if !same {
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

/// Objects already under the export's folder, sorted into files of the shapes this tool writes
/// (`<schema>/<table>/[<key>=<value>/]part-*.parquet` and the catalog files, left by an earlier failed attempt
/// with the same export id) and anything else, which is not ours to delete.
pub(super) async fn existing_objects(
    dest: &Destination,
    layout: &Layout,
) -> Result<(Vec<Path>, Vec<Path>)> {
    let root = layout.export_root().as_ref().to_string();
    let mut ours = Vec::new();
    let mut foreign = Vec::new();
    for path in dest.list(layout.export_root()).await? {
        let rel = path
            .as_ref()
            .strip_prefix(&root)
            .unwrap_or(path.as_ref())
            .trim_start_matches('/');
        if Layout::is_work_file(rel) {
            // A serverless run's records: kept, and not in the way of a new attempt.
            continue;
        }
        let parts: Vec<&str> = rel.split('/').collect();
        // `<schema>/<table>/part-*.parquet`, or one partition folder `<key>=<value>/` deeper.
        let file = parts.last().copied().unwrap_or_default();
        let is_piece = (parts.len() == 3 || (parts.len() == 4 && parts[2].contains('=')))
            && file.starts_with("part-")
            && file.ends_with(".parquet");
        if is_piece || Layout::is_catalog_file(rel) || rel == REPORT {
            ours.push(path)
        } else {
            foreign.push(path)
        }
    }
    Ok((ours, foreign))
}

pub(super) fn foreign_objects_error(export_id: &str, foreign: &[Path]) -> Error {
    Error::InvalidInput(format!(
        "export folder {export_id:?} holds {} object(s) snapex did not write (first: {}): \
         choose another --export-id or remove them",
        foreign.len(),
        foreign[0]
    ))
}

/// Deletes piece and catalog files under the export's folder that this run did not write
/// (`written`; left by an earlier, failed attempt with the same export id), so the published
/// folder holds exactly the manifest's files and this run's catalog. Anything else found there
/// stops the export unpublished.
pub(super) async fn remove_strays(
    dest: &Destination,
    layout: &Layout,
    export_id: &str,
    written: &HashSet<String>,
) -> Result<()> {
    let (ours, foreign) = existing_objects(dest, layout).await?;
    if !foreign.is_empty() {
        return Err(foreign_objects_error(export_id, &foreign));
    }
    for path in ours.iter().filter(|p| !written.contains(p.as_ref())) {
        tracing::info!("removing {path}: left by an earlier attempt, not part of this export");
        dest.delete(path).await?;
    }
    // Uploads a killed process left unfinished in a local folder (invisible to listings).
    dest.remove_unfinished_uploads(layout.export_root()).await?;
    // Nothing but what this run wrote may be published.
    let (ours, foreign) = existing_objects(dest, layout).await?;
    if !foreign.is_empty() {
        return Err(foreign_objects_error(export_id, &foreign));
    }
    if let Some(stray) = ours.iter().find(|p| !written.contains(p.as_ref())) {
        return Err(Error::Verify(format!(
            "{stray} is under the export's folder but is not part of it"
        )));
    }
    if let Some(missing) = written
        .iter()
        .find(|w| !ours.iter().any(|p| p.as_ref() == w.as_str()))
    {
        return Err(Error::Verify(format!(
            "{missing} was written but is not in the export's folder"
        )));
    }
    Ok(())
}

/// The Glue database is `--glue-database`, else named after the source database; tables are
/// named by [`catalog::fold::assign`] over every exported table (in catalog order), so
/// collisions resolve the same way however the work was split.
pub(super) fn glue_names(cfg: &ExportConfig, info: &SourceInfo, order: &[&TableDesc]) -> GlueNames {
    let tables = catalog::fold::assign(order, cfg.source.default_schema(), cfg.fold_schemas);
    GlueNames {
        database: glue_database(cfg, info),
        tables: order.iter().map(|t| t.name.clone()).zip(tables).collect(),
    }
}

/// The Glue database: the configured one, else one named after the source database.
pub(super) fn glue_database(cfg: &ExportConfig, info: &SourceInfo) -> String {
    cfg.glue_database
        .clone()
        .unwrap_or_else(|| names::database_name(&info.database))
}

/// The partitions each table's files were written under (pieces that wrote a file), distinct
/// and in catalog order; tables without partition folders have none.
fn written_partitions<'a>(
    tables: &HashMap<TableName, TableDesc>,
    results: &'a [PieceResult],
) -> HashMap<&'a TableName, Vec<Option<String>>> {
    let mut values: HashMap<&TableName, Vec<Option<&str>>> = HashMap::new();
    for r in results.iter().filter(|r| r.file.is_some()) {
        if let Some(h) = &r.piece.hive {
            values
                .entry(&r.piece.table)
                .or_default()
                .push(h.value.as_deref());
        }
    }
    values
        .into_iter()
        .filter_map(|(name, v)| {
            let p = tables.get(name)?.partition_by.as_ref()?;
            Some((name, partitions::distinct_values(&p.by, v)))
        })
        .collect()
}

/// Every catalog file of the export, with its contents: the Glue `DatabaseInput`, and per table
/// its `TableInput` and Athena DDL, located at the table's folder, and for a table with
/// partition folders its partitions files, one `BatchCreatePartition` request each, for the
/// partitions `results` wrote files into.
#[allow(clippy::too_many_arguments)]
pub(super) fn catalog_files(
    info: &SourceManifest,
    export_id: &str,
    glue: &GlueNames,
    order: &[TableName],
    tables: &HashMap<TableName, TableDesc>,
    dest: &Destination,
    layout: &Layout,
    results: &[PieceResult],
) -> Result<Vec<(Path, Vec<u8>)>> {
    let export = ExportInfo {
        export_id,
        engine: &info.engine,
        source_database: &info.database,
        glue_database: &glue.database,
    };
    let written = written_partitions(tables, results);
    let mut files = Vec::with_capacity(1 + 2 * order.len());
    files.push((
        layout.catalog_database(),
        pretty_json("database.json", &catalog::database_input(&export))?,
    ));
    let folded_names = catalog::fold::folded_names(glue.tables.values());
    let mut folded: BTreeMap<&str, Vec<TableEntry>> = BTreeMap::new();
    for t in order.iter().filter_map(|name| tables.get(name)) {
        let glue_name = glue
            .tables
            .get(&t.name)
            .ok_or_else(|| Error::Internal(format!("table {} has no Glue name", t.name)))?;
        catalog::check_partition_key(t)?;
        let entry = TableEntry {
            table: t,
            glue_name,
            location: dest.folder_url(&layout.table_dir(&t.name)),
            partitions: written.get(&t.name).map_or(&[], Vec::as_slice),
        };
        if folded_names.contains_key(glue_name.as_str()) {
            folded.entry(glue_name).or_default().push(entry);
            continue;
        }
        let input = catalog::table_input(&export, &entry);
        if let Some(why) = input.parameters.get(partitions::UNREGISTERED) {
            tracing::warn!(
                "{}: a partition folder is not registered in Glue: {why}",
                t.name
            );
        }
        files.push((
            layout.catalog_table(glue_name),
            pretty_json(glue_name, &input)?,
        ));
        let mut partition_files = Vec::new();
        for (i, request) in catalog::partition_requests(&export, &entry, &input)
            .iter()
            .enumerate()
        {
            let name = crate::layout::partitions_file_name(glue_name, i + 1);
            files.push((
                layout.catalog_dir().join(name.as_str()),
                pretty_json(&name, request)?,
            ));
            partition_files.push(name);
        }
        let mut ddl = catalog::ddl::create_table(&glue.database, &input);
        if let Some(note) = catalog::ddl::partitions_note(&glue.database, &input, &partition_files)
        {
            ddl.push_str(&note);
        }
        files.push((layout.catalog_ddl(glue_name), ddl.into_bytes()));
    }
    let root = dest.folder_url(layout.export_root());
    for (glue_name, mut members) in folded {
        members.sort_by(|a, b| a.table.name.cmp(&b.table.name));
        files.extend(folded_catalog_files(
            &export, layout, glue_name, &members, &root,
        )?);
    }
    Ok(files)
}

/// A folded table's catalog files (see [`catalog::fold`]): its `TableInput`, its partitions
/// files (a partition per schema) and its Athena DDL.
fn folded_catalog_files(
    export: &ExportInfo<'_>,
    layout: &Layout,
    glue_name: &str,
    members: &[TableEntry<'_>],
    root: &str,
) -> Result<Vec<(Path, Vec<u8>)>> {
    let input = catalog::fold::table_input(export, glue_name, members, root.to_string());
    let mut files = vec![(
        layout.catalog_table(glue_name),
        pretty_json(glue_name, &input)?,
    )];
    let mut names = Vec::new();
    for (i, request) in catalog::fold::partition_requests(export, &input, members)
        .iter()
        .enumerate()
    {
        let name = crate::layout::partitions_file_name(glue_name, i + 1);
        files.push((
            layout.catalog_dir().join(name.as_str()),
            pretty_json(&name, request)?,
        ));
        names.push(name);
    }
    let mut ddl = catalog::ddl::create_table(export.glue_database, &input);
    ddl.push_str(&catalog::fold::ddl_note(&names));
    files.push((layout.catalog_ddl(glue_name), ddl.into_bytes()));
    Ok(files)
}

pub(super) fn pretty_json(what: &str, v: &impl serde::Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(v).map_err(|e| Error::Internal(format!("catalog file {what}: {e}")))
}

pub(super) struct ManifestInput<'a> {
    pub(super) export_id: String,
    pub(super) destination: String,
    pub(super) source: SourceManifest,
    pub(super) started_at: chrono::DateTime<Utc>,
    pub(super) include: Vec<String>,
    pub(super) exclude: Vec<String>,
    pub(super) glue: &'a GlueNames,
    pub(super) order: &'a [TableName],
    pub(super) tables: &'a HashMap<TableName, TableDesc>,
    pub(super) skipped: Vec<SkippedTable>,
    pub(super) layout: &'a Layout,
    pub(super) results: &'a [PieceResult],
}

pub(super) fn build_manifest(m: ManifestInput<'_>) -> Manifest {
    let root = format!("{}/", m.layout.export_root());
    let relative = |p: &str| p.strip_prefix(&root).unwrap_or(p).to_string();
    let mut by_table: HashMap<&TableName, Vec<&PieceResult>> = HashMap::new();
    for r in m.results {
        by_table.entry(&r.piece.table).or_default().push(r);
    }
    let mut tables = Vec::with_capacity(m.tables.len());
    for t in m.order.iter().filter_map(|name| m.tables.get(name)) {
        let mut pieces = by_table.remove(&t.name).unwrap_or_default();
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
        tables.push(TableManifest::new(
            t,
            m.glue.tables.get(&t.name).cloned().unwrap_or_default(),
            relative(m.layout.table_dir(&t.name).as_ref()) + "/",
            &lossy,
            files,
            empty,
        ));
    }
    let totals = Totals {
        tables: tables.len() as u64,
        skipped: m.skipped.len() as u64,
        files: tables.iter().map(|t| t.files.len() as u64).sum(),
        rows: tables.iter().map(|t| t.rows).sum(),
        bytes: tables.iter().map(|t| t.bytes).sum(),
    };
    let descs: Vec<&TableDesc> = m.order.iter().filter_map(|n| m.tables.get(n)).collect();
    Manifest {
        folding: catalog::fold::folding(&descs, &m.glue.tables),
        format: FORMAT.to_string(),
        export_id: m.export_id,
        destination: m.destination,
        source: m.source,
        started_at: m.started_at,
        finished_at: Utc::now(),
        include: m.include,
        exclude: m.exclude,
        glue_database: m.glue.database.clone(),
        tables,
        skipped: m.skipped,
        totals,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::BatchCreatePartition;
    use crate::layout::DEFAULT_PARTITION;
    use crate::model::{
        Granularity, HivePartition, KeyRange, PartFilter, PartitionBy, Partitioning, Piece,
    };
    use crate::sink::FileWritten;

    fn table(name: &str, partition_by: Option<Partitioning>) -> TableDesc {
        TableDesc {
            name: TableName::new("public", name),
            columns: vec![],
            primary_key: vec![],
            split_key: None,
            estimated_bytes: 0,
            estimated_rows: None,
            partitions: vec![],
            partition_by,
        }
    }

    struct Fixture {
        tables: HashMap<TableName, TableDesc>,
        order: Vec<TableName>,
        dest: Destination,
        layout: Layout,
        results: Vec<PieceResult>,
    }

    impl Fixture {
        fn new() -> Fixture {
            let day = Partitioning {
                key: "at_day".into(),
                column: "at".into(),
                by: PartitionBy::Time {
                    granularity: Granularity::Day,
                },
            };
            let buckets = Partitioning {
                key: "id_bucket".into(),
                column: "id".into(),
                by: PartitionBy::KeyBuckets { width: 10 },
            };
            let region = Partitioning {
                key: "region_value".into(),
                column: "region".into(),
                by: PartitionBy::Value,
            };
            let tables = vec![
                table("events", Some(day)),
                table("orders", Some(buckets)),
                table("shops", Some(region)),
                table("plain", None),
            ];
            let order = tables.iter().map(|t| t.name.clone()).collect();
            let dest = Destination::open("s3://b/lake", Some("http://127.0.0.1:1")).unwrap();
            let layout = Layout::new(&dest.root, "e");
            let mut f = Fixture {
                tables: tables.into_iter().map(|t| (t.name.clone(), t)).collect(),
                order,
                dest,
                layout,
                results: vec![],
            };
            let hive = |key: &str, value: Option<&str>, filter| {
                Some(HivePartition {
                    key: key.into(),
                    value: value.map(String::from),
                    filter,
                })
            };
            let time = |lo, hi| PartFilter::TimeRange { lo, hi };
            // Two files in one day, one with no rows in the next, and the NULL partition,
            // listed in the order readers might finish.
            f.add(
                "events",
                None,
                hive("at_day", None, PartFilter::TimeNull),
                true,
            );
            f.add(
                "events",
                None,
                hive(
                    "at_day",
                    Some("2024-03-01"),
                    time(1_709_294_400, 1_709_337_600),
                ),
                true,
            );
            f.add(
                "events",
                None,
                hive(
                    "at_day",
                    Some("2024-03-01"),
                    time(1_709_251_200, 1_709_294_400),
                ),
                true,
            );
            f.add(
                "events",
                None,
                hive(
                    "at_day",
                    Some("2024-03-02"),
                    time(1_709_337_600, 1_709_424_000),
                ),
                false,
            );
            // 250 buckets, 100, -10, 0, ..., 2380, in no order: three partitions files.
            for i in (-1..249).rev() {
                let lo = i * 10;
                let range = Some(KeyRange {
                    lo: Some(lo),
                    hi: Some(lo + 10),
                });
                let value = lo.to_string();
                f.add(
                    "orders",
                    range,
                    hive("id_bucket", Some(&value), PartFilter::KeyRangeOnly),
                    true,
                );
            }
            for v in ["eu west", "", "us"] {
                let filter = PartFilter::ValueEquals { text: v.into() };
                f.add("shops", None, hive("region_value", Some(v), filter), true);
            }
            f.add("plain", None, None, true);
            f
        }

        fn add(
            &mut self,
            table: &str,
            range: Option<KeyRange>,
            hive: Option<HivePartition>,
            rows: bool,
        ) {
            let piece = Piece {
                table: TableName::new("public", table),
                range,
                partition: None,
                hive,
            };
            let file = rows.then(|| FileWritten {
                path: self.layout.piece_file(&piece).to_string(),
                rows: 1,
                bytes: 10,
            });
            self.results.push(PieceResult {
                piece,
                file,
                lossy: BTreeMap::new(),
                seconds: 0.0,
            });
        }

        fn glue(&self) -> GlueNames {
            GlueNames {
                database: "shop".into(),
                tables: self
                    .order
                    .iter()
                    .map(|t| (t.clone(), t.name.clone()))
                    .collect(),
            }
        }

        fn catalog(&self) -> BTreeMap<String, Vec<u8>> {
            let info = SourceManifest {
                engine: "postgresql".into(),
                version: "16".into(),
                database: "shop".into(),
                endpoint: "localhost".into(),
                consistency: "test".into(),
            };
            let root = format!("{}/", self.layout.export_root());
            catalog_files(
                &info,
                "e",
                &self.glue(),
                &self.order,
                &self.tables,
                &self.dest,
                &self.layout,
                &self.results,
            )
            .unwrap()
            .into_iter()
            .map(|(path, body)| (path.as_ref().strip_prefix(&root).unwrap().to_string(), body))
            .collect()
        }
    }

    fn json(files: &BTreeMap<String, Vec<u8>>, name: &str) -> serde_json::Value {
        serde_json::from_slice(&files[&format!("_catalog/{name}")]).unwrap()
    }

    #[test]
    fn partitioned_tables_get_partitions_files_for_the_partitions_written() {
        let f = Fixture::new();
        let files = f.catalog();
        let names: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "_catalog/database.json",
                "_catalog/events.partitions-0001.json",
                "_catalog/events.sql",
                "_catalog/events.table.json",
                "_catalog/orders.partitions-0001.json",
                "_catalog/orders.partitions-0002.json",
                "_catalog/orders.partitions-0003.json",
                "_catalog/orders.sql",
                "_catalog/orders.table.json",
                "_catalog/plain.sql",
                "_catalog/plain.table.json",
                "_catalog/shops.partitions-0001.json",
                "_catalog/shops.sql",
                "_catalog/shops.table.json",
            ]
        );
        assert!(names.iter().all(|n| Layout::is_catalog_file(n)));

        // Every partition is where its pieces' files are, and every written file is in one.
        for (table, key) in [
            ("events", "at_day"),
            ("orders", "id_bucket"),
            ("shops", "region_value"),
        ] {
            let name = TableName::new("public", table);
            let mut registered = Vec::new();
            for file in names
                .iter()
                .filter(|n| n.starts_with(&format!("_catalog/{table}.partitions-")))
            {
                let request: BatchCreatePartition = serde_json::from_slice(&files[*file]).unwrap();
                assert_eq!(request.table_name, table);
                assert!(request.partition_input_list.len() <= 100);
                registered.extend(request.partition_input_list);
            }
            for r in f.results.iter().filter(|r| r.piece.table == name) {
                let h = r.piece.hive.as_ref().unwrap();
                let location =
                    f.dest
                        .folder_url(&f.layout.partition_dir(&name, key, h.value.as_deref()));
                let found = registered
                    .iter()
                    .find(|p| p.storage_descriptor.location == location);
                assert_eq!(found.is_some(), r.file.is_some(), "{location}");
                if let (Some(p), Some(file)) = (found, &r.file) {
                    assert!(
                        f.dest
                            .folder_url(&Path::parse(&file.path).unwrap())
                            .starts_with(&location)
                    );
                    let value = h
                        .value
                        .as_deref()
                        .filter(|v| !v.is_empty())
                        .unwrap_or(DEFAULT_PARTITION);
                    assert_eq!(p.values, [value]);
                }
            }
        }
        let events = json(&files, "events.partitions-0001.json");
        let values: Vec<&str> = events["PartitionInputList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["Values"][0].as_str().unwrap())
            .collect();
        assert_eq!(
            values,
            ["2024-03-01", DEFAULT_PARTITION],
            "one per partition written, NULL last"
        );
        let orders = json(&files, "orders.partitions-0001.json");
        assert_eq!(
            orders["PartitionInputList"][0]["Values"][0], "-10",
            "buckets in numeric order"
        );
        assert_eq!(
            json(&files, "orders.partitions-0003.json")["PartitionInputList"][49]["Values"][0],
            "2480"
        );

        // Projection where the partitions allow it, and a note in the DDL where they do not.
        let params = |t: &str| json(&files, &format!("{t}.table.json"))["Parameters"].clone();
        assert_eq!(params("orders")["projection.id_bucket.range"], "-10,2480");
        assert_eq!(params("orders")["projection.id_bucket.interval"], "10");
        assert_eq!(
            params("orders")["storage.location.template"],
            "s3://b/lake/e/public/orders/id_bucket=${id_bucket}/"
        );
        assert!(
            params("events")["snapex.projection"]
                .as_str()
                .unwrap()
                .starts_with("off: a NULL")
        );
        assert!(
            params("shops")["snapex.projection"]
                .as_str()
                .unwrap()
                .starts_with("off: the empty value")
        );
        let sql = |t: &str| String::from_utf8(files[&format!("_catalog/{t}.sql")].clone()).unwrap();
        assert!(sql("events").contains("file://events.partitions-0001.json\n"));
        assert!(!sql("orders").contains("MSCK"));
        assert!(!sql("plain").contains("PARTITIONED BY"));
    }

    #[test]
    fn the_manifest_names_each_files_partition_in_catalog_order() {
        let f = Fixture::new();
        let glue = f.glue();
        let manifest = build_manifest(ManifestInput {
            export_id: "e".into(),
            destination: "s3://b/lake".into(),
            source: SourceManifest {
                engine: "postgresql".into(),
                version: "16".into(),
                database: "shop".into(),
                endpoint: "localhost".into(),
                consistency: "test".into(),
            },
            started_at: Utc::now(),
            include: vec![],
            exclude: vec![],
            glue: &glue,
            order: &f.order,
            tables: &f.tables,
            skipped: vec![],
            layout: &f.layout,
            results: &f.results,
        });
        let v = serde_json::to_value(&manifest).unwrap();
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
