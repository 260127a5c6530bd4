//! A published export's catalog, read back from its `_catalog/` folder: the Glue database,
//! every table and every partition, parsed with snapex's own types, checked against the
//! manifest before anything is sent to Glue.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde::de::DeserializeOwned;
use snapex::catalog::{BatchCreatePartition, DatabaseInput, PartitionInput, TableInput};
use snapex::layout::{
    CATALOG_DIR, DATABASE_FILE, MANIFEST, PARTITIONS_INFIX, SUCCESS, TABLE_INPUT_SUFFIX,
    is_partitions_file_name,
};
use snapex::limits::OBJECTS_AT_ONCE;
use snapex::manifest::Manifest;
use snapex::published::shards_under;
use snapex::sink::{Destination, Target};

use crate::error::GlueError;

/// One table of an export: its definition and the partitions its files were written under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogTable {
    pub input: TableInput,
    /// Empty for a table without partition folders.
    pub partitions: Vec<PartitionInput>,
}

/// What a published export asks of the Glue catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportCatalog {
    /// The export folder's URL, as given.
    pub url: String,
    pub export_id: String,
    pub database: DatabaseInput,
    /// By Glue name: all of the export's, or one batch of them ([`ExportCatalog::read_tables`]).
    pub tables: Vec<CatalogTable>,
    /// How many tables the export has, whether `tables` holds all of them or a batch.
    pub table_count: usize,
}

impl ExportCatalog {
    /// Opens the export folder at `url` (a local path, `file://` or `s3://bucket/prefix/<export-id>`;
    /// `endpoint` as for `snapex export --endpoint-url`) and reads its catalog.
    pub async fn open(url: &str, endpoint: Option<&str>) -> Result<ExportCatalog, GlueError> {
        // Opening a local destination creates the folder: reading must not leave one behind.
        if let Target::Local(dir) = Target::parse(url)?
            && !dir.is_dir()
        {
            return Err(GlueError::InvalidExport(format!(
                "{url} is not a folder: name an export's folder, <dest>/<export-id>"
            )));
        }
        let dest = Destination::open(url, endpoint)?;
        ExportCatalog::read(&dest).await
    }

    /// Opens the export folder at `url` as [`ExportCatalog::open`] does and reads the catalog
    /// of its tables `tables` only (see [`ExportCatalog::read_tables`]).
    pub async fn open_tables(
        url: &str,
        endpoint: Option<&str>,
        tables: Range<usize>,
    ) -> Result<ExportCatalog, GlueError> {
        if let Target::Local(dir) = Target::parse(url)?
            && !dir.is_dir()
        {
            return Err(GlueError::InvalidExport(format!(
                "{url} is not a folder: name an export's folder, <dest>/<export-id>"
            )));
        }
        let dest = Destination::open(url, endpoint)?;
        ExportCatalog::read_tables(&dest, tables).await
    }

    /// Reads the catalog of the export whose folder is `dest`'s root. Refuses an export that
    /// is not published (no `manifest.json` or no `_SUCCESS`): its files may still change, or
    /// it failed. Checks that the catalog files agree with the manifest (the same Glue
    /// database, one table file per exported table) and that every location is inside this
    /// export, so a copied or moved export is not registered pointing at the original.
    pub async fn read(dest: &Destination) -> Result<ExportCatalog, GlueError> {
        ExportCatalog::read_tables(dest, 0..usize::MAX).await
    }

    /// Reads the catalog of the export as [`ExportCatalog::read`] does, but of its tables
    /// `tables` only, counted from 0 in the order of their Glue names (the order of
    /// [`ExportCatalog::tables`]; a range past the end is cut at it): one batch of a
    /// registration done in several. [`ExportCatalog::table_count`] says how many there are.
    ///
    /// What a batch reads: the manifest and the names in `_catalog/` (one listing request per
    /// 1,000 files), which it checks whole as `read` does; and the files of its own tables
    /// only, so the reads, like the Glue calls that follow, grow with the batch, not with the
    /// export.
    pub async fn read_tables(
        dest: &Destination,
        tables: Range<usize>,
    ) -> Result<ExportCatalog, GlueError> {
        let root = &dest.root;
        let url = &dest.url;
        let mut missing = vec![];
        for name in [MANIFEST, SUCCESS] {
            if !dest.exists(&root.clone().join(name)).await? {
                missing.push(name);
            }
        }
        if !missing.is_empty() {
            return Err(GlueError::InvalidExport(format!(
                "{url} is not a published export: it has no {} (an export is published when \
                 it finishes; name the export's own folder, <dest>/<export-id>)",
                missing.join(" and no ")
            )));
        }
        let manifest: Manifest = snapex::published::read_manifest_under(dest, root).await?;

        let catalog_dir = root.clone().join(CATALOG_DIR);
        let mut files = dest.list(&catalog_dir).await?;
        files.sort();
        let name_of = |p: &Path| p.filename().unwrap_or_default().to_string();

        let database_path = catalog_dir.clone().join(DATABASE_FILE);
        if !files.contains(&database_path) {
            return Err(GlueError::InvalidExport(format!(
                "{url}: the export has no {CATALOG_DIR}/{DATABASE_FILE}"
            )));
        }
        let database: DatabaseInput = parse(dest, &database_path).await?;
        let invalid = |what: String| GlueError::InvalidExport(format!("{url}: {what}"));
        if database.name != manifest.glue_database {
            return Err(invalid(format!(
                "{DATABASE_FILE} names Glue database {:?} but the manifest {:?}",
                database.name, manifest.glue_database
            )));
        }

        // Every table file, by the Glue table it names, sorted by that name: the listing's
        // order of file names may differ (`a-b.table.json` sorts before `a.table.json`), and
        // a batch's indices count in the order of `tables`.
        let mut table_files: Vec<(String, &Path)> = files
            .iter()
            .filter_map(|p| {
                let file = name_of(p);
                file.strip_suffix(TABLE_INPUT_SUFFIX)
                    .map(|table| (table.to_string(), p))
            })
            .collect();
        table_files.sort_by(|a, b| a.0.cmp(&b.0));
        // The manifest's tables, a shard at a time: only their Glue names are kept.
        let mut manifest = manifest;
        let mut wanted_names: BTreeSet<String> = BTreeSet::new();
        {
            let mut shards = std::pin::pin!(shards_under(dest, root.clone(), &mut manifest));
            while let Some(shard) = shards.try_next().await? {
                wanted_names.extend(shard.tables.into_iter().map(|t| t.glue_table));
            }
        }
        let wanted: BTreeSet<&str> = wanted_names.iter().map(String::as_str).collect();
        let found: BTreeSet<&str> = table_files.iter().map(|(t, _)| t.as_str()).collect();
        if wanted != found {
            let lacking: Vec<_> = wanted.difference(&found).collect();
            let extra: Vec<_> = found.difference(&wanted).collect();
            return Err(invalid(format!(
                "the catalog files do not match the manifest's tables (no table file for \
                 {lacking:?}; not in the manifest: {extra:?})"
            )));
        }
        // A partitions file of no table would be skipped by every batch: refuse it here.
        for p in &files {
            let file = name_of(p);
            if let Some((table, _)) = file.rsplit_once(PARTITIONS_INFIX)
                && is_partitions_file_name(&file)
                && !found.contains(table)
            {
                return Err(invalid(format!(
                    "{file} names table {table:?}, which has no table file"
                )));
            }
        }
        let table_count = table_files.len();
        let end = tables.end.min(table_count);
        let batch = tables.start.min(end)..end;
        let batch_files = &table_files[batch];
        let in_batch: BTreeSet<&str> = batch_files.iter().map(|(t, _)| t.as_str()).collect();

        let inputs: Vec<TableInput> = futures::stream::iter(
            batch_files
                .iter()
                .map(|(_, p)| (*p).clone())
                .collect::<Vec<Path>>(),
        )
        // Owned paths: a future borrowing across the stream is not `Send` to the
        // compiler, and a Lambda's handler must be.
        .map(|p| async move { parse::<TableInput>(dest, &p).await })
        .buffered(OBJECTS_AT_ONCE)
        .try_collect()
        .await?;
        // The partitions files of the batch's tables, by the table their name gives.
        let partition_files: Vec<(String, &Path)> = files
            .iter()
            .filter_map(|p| {
                let file = name_of(p);
                if !is_partitions_file_name(&file) {
                    return None;
                }
                let (table, _) = file.rsplit_once(PARTITIONS_INFIX)?;
                in_batch.contains(table).then(|| (table.to_string(), p))
            })
            .collect();
        let requests: Vec<BatchCreatePartition> = futures::stream::iter(
            partition_files
                .iter()
                .map(|(_, p)| (*p).clone())
                .collect::<Vec<Path>>(),
        )
        // Owned paths: a future borrowing across the stream is not `Send` to the
        // compiler, and a Lambda's handler must be.
        .map(|p| async move { parse::<BatchCreatePartition>(dest, &p).await })
        .buffered(OBJECTS_AT_ONCE)
        .try_collect()
        .await?;

        let mut tables = BTreeMap::new();
        for ((table, path), input) in batch_files.iter().zip(inputs) {
            if *table != input.name {
                return Err(invalid(format!(
                    "{} defines table {:?}",
                    name_of(path),
                    input.name
                )));
            }
            tables.insert(
                input.name.clone(),
                CatalogTable {
                    input,
                    partitions: vec![],
                },
            );
        }

        let mut seen = BTreeSet::new();
        for ((named, path), request) in partition_files.iter().zip(requests) {
            let file = name_of(path);
            if request.database_name != database.name {
                return Err(invalid(format!(
                    "{file} names database {:?}, not {:?}",
                    request.database_name, database.name
                )));
            }
            if request.table_name != *named {
                return Err(invalid(format!(
                    "{file} names table {:?}, not {named:?}",
                    request.table_name
                )));
            }
            let Some(table) = tables.get_mut(&request.table_name) else {
                return Err(invalid(format!(
                    "{file} names table {:?}, which has no table file",
                    request.table_name
                )));
            };
            let keys = table.input.partition_keys.len();
            for p in request.partition_input_list {
                if p.values.len() != keys || keys == 0 {
                    return Err(invalid(format!(
                        "{file}: partition {:?} has {} value(s) but table {:?} has {keys} \
                         partition key(s)",
                        p.values,
                        p.values.len(),
                        request.table_name
                    )));
                }
                if !seen.insert((request.table_name.clone(), p.values.clone())) {
                    return Err(invalid(format!(
                        "{file}: partition {:?} of table {:?} is listed twice",
                        p.values, request.table_name
                    )));
                }
                table.partitions.push(p);
            }
        }

        let export_url = dest.folder_url(root);
        for t in tables.values() {
            let locations = std::iter::once(&t.input.storage_descriptor.location)
                .chain(t.partitions.iter().map(|p| &p.storage_descriptor.location));
            for location in locations {
                if !location.starts_with(&export_url) {
                    return Err(invalid(format!(
                        "table {:?} is at {location}, outside this export ({export_url}): \
                         was the export moved or copied? Register it where it was written",
                        t.input.name
                    )));
                }
            }
        }

        Ok(ExportCatalog {
            url: url.clone(),
            export_id: manifest.export_id,
            database,
            tables: tables.into_values().collect(),
            table_count,
        })
    }

    /// How many partitions the export registers, over the tables read.
    pub fn partition_count(&self) -> usize {
        self.tables.iter().map(|t| t.partitions.len()).sum()
    }
}

/// Reads and parses one JSON file of the export.
async fn parse<T: DeserializeOwned>(dest: &Destination, path: &Path) -> Result<T, GlueError> {
    let bytes = dest
        .store
        .get(path)
        .await
        .map_err(|cause| read_error(dest, path, cause))?
        .bytes()
        .await
        .map_err(|cause| read_error(dest, path, cause))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        GlueError::InvalidExport(format!(
            "{}: not a valid snapex file: {e}",
            dest.folder_url(path).trim_end_matches('/')
        ))
    })
}

fn read_error(dest: &Destination, path: &Path, cause: object_store::Error) -> GlueError {
    let url = dest.folder_url(path);
    match cause {
        object_store::Error::NotFound { .. } => GlueError::InvalidExport(format!(
            "{} disappeared while it was read",
            url.trim_end_matches('/')
        )),
        cause => GlueError::Export(snapex::Error::Store { url, cause }),
    }
}
