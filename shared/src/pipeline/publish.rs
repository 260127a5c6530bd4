//! After the last chunk: verify every file, clear leftovers of earlier attempts, write the
//! catalog files, and build the manifest that publishes the export.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::Utc;
use object_store::path::Path;

use super::PieceResult;
use crate::catalog::{self, ExportInfo, TableEntry, names};
use crate::config::ExportConfig;
use crate::error::{Error, Result};
use crate::manifest::{FORMAT, FileEntry, Manifest, SourceManifest, TableManifest, Totals};
use crate::model::{LossyRule, SkippedTable, TableDesc, TableName};
use crate::sink::Destination;
use crate::sink::layout::Layout;
use crate::source::SourceInfo;

/// Every file the results name exists with the size we wrote.
pub(super) async fn verify(dest: &Destination, results: &[PieceResult]) -> Result<()> {
    for f in results.iter().filter_map(|r| r.file.as_ref()) {
        // `parse`, not `from`: the path is already escaped and must not be escaped again.
        let path = Path::parse(&f.path).map_err(|e| Error::Internal(format!("{}: {e}", f.path)))?;
        let size = dest.size(&path).await?;
        if size != f.bytes {
            return Err(Error::Verify(format!(
                "{} is {size} bytes, {} were written",
                f.path, f.bytes
            )));
        }
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
        let parts: Vec<&str> = rel.split('/').collect();
        // `<schema>/<table>/part-*.parquet`, or one partition folder `<key>=<value>/` deeper.
        let file = parts.last().copied().unwrap_or_default();
        let is_piece = (parts.len() == 3 || (parts.len() == 4 && parts[2].contains('=')))
            && file.starts_with("part-")
            && file.ends_with(".parquet");
        if is_piece || Layout::is_catalog_file(rel) {
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
    Ok(())
}

/// The export's names in Glue: its database, and each exported table's.
pub(super) struct GlueNames {
    database: String,
    tables: HashMap<TableName, String>,
}

/// The Glue database is `--glue-database`, else named after the source database; tables are
/// named by [`names::table_names`] over every exported table, so collisions resolve the same
/// way however the work was split.
pub(super) fn glue_names(cfg: &ExportConfig, info: &SourceInfo, order: &[TableName]) -> GlueNames {
    let refs: Vec<&TableName> = order.iter().collect();
    let tables = names::table_names(&refs, cfg.source.default_schema());
    GlueNames {
        database: cfg
            .glue_database
            .clone()
            .unwrap_or_else(|| names::database_name(&info.database)),
        tables: order.iter().cloned().zip(tables).collect(),
    }
}

/// Every catalog file of the export, with its contents: the Glue `DatabaseInput`, and per table
/// its `TableInput` and Athena DDL, located at the table's folder.
pub(super) fn catalog_files(
    info: &SourceInfo,
    export_id: &str,
    glue: &GlueNames,
    order: &[TableName],
    tables: &HashMap<TableName, TableDesc>,
    dest: &Destination,
    layout: &Layout,
) -> Result<Vec<(Path, Vec<u8>)>> {
    let export = ExportInfo {
        export_id,
        engine: info.engine,
        source_database: &info.database,
        glue_database: &glue.database,
    };
    let mut files = Vec::with_capacity(1 + 2 * order.len());
    files.push((
        layout.catalog_database(),
        pretty_json("database.json", &catalog::database_input(&export))?,
    ));
    for t in order.iter().filter_map(|name| tables.get(name)) {
        let glue_name = glue
            .tables
            .get(&t.name)
            .ok_or_else(|| Error::Internal(format!("table {} has no Glue name", t.name)))?;
        let input = catalog::table_input(
            &export,
            &TableEntry {
                table: t,
                glue_name,
                location: dest.folder_url(&layout.table_dir(&t.name)),
            },
        );
        files.push((
            layout.catalog_table(glue_name),
            pretty_json(glue_name, &input)?,
        ));
        files.push((
            layout.catalog_ddl(glue_name),
            catalog::ddl::create_table(&glue.database, &input).into_bytes(),
        ));
    }
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
        pieces.sort_by_key(|r| r.piece.range.map(|x| x.lo));
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
                    rows: f.rows,
                    bytes: f.bytes,
                })
            })
            .collect();
        let empty = pieces
            .iter()
            .filter(|r| r.file.is_none())
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
    Manifest {
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
