//! A published export's catalog, read back from its `_catalog/` folder: the Glue database,
//! every table and every partition, parsed with snapex's own types, checked against the
//! manifest before anything is sent to Glue.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use snapex::catalog::{BatchCreatePartition, DatabaseInput, PartitionInput, TableInput};
use snapex::layout::{
    CATALOG_DIR, DATABASE_FILE, MANIFEST, PARTITIONS_INFIX, PARTITIONS_SUFFIX, SUCCESS,
    TABLE_INPUT_SUFFIX, is_partitions_file_name, partitions_file_name,
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
        let listing = Listing::read(dest).await?;
        let table_count = listing.tables.len();
        let end = tables.end.min(table_count);
        let batch = &listing.tables[tables.start.min(end)..end];
        read_listed(
            dest,
            listing.database,
            listing.export_id,
            table_count,
            batch,
        )
        .await
    }

    /// Splits the registration of the export whose folder is `dest`'s root into batches of
    /// at most `max_calls` Glue calls each, by [`BatchTable::calls`] (a table that alone
    /// needs more is a batch of its own), and at most [`BATCH_ITEM_BYTES`] of names, so that
    /// a batch fits in a Step Functions Map item, for [`ExportCatalog::read_batch`] to read
    /// one at a time. Checks the whole catalog against the manifest as
    /// [`ExportCatalog::read`] does (the listing and the manifest's shards, not the tables'
    /// files), once, so the batches need not: returns the database to register first, and
    /// the batches.
    pub async fn batches(
        dest: &Destination,
        max_calls: usize,
    ) -> Result<(DatabaseInput, Vec<TableBatch>), GlueError> {
        let listing = Listing::read(dest).await?;
        let of = listing.tables.len();
        let mut batches: Vec<TableBatch> = vec![];
        let (mut bytes, mut calls) = (0, 0);
        for t in &listing.tables {
            let table = BatchTable {
                name: t.name.clone(),
                partitions_files: t.partitions.len(),
            };
            // A table's share of the item as JSON: the name, quotes, the count, punctuation.
            let size = t.name.len() + 32;
            let full = batches.last().is_none_or(|b| {
                !b.tables.is_empty()
                    && (calls + table.calls() > max_calls || bytes + size > BATCH_ITEM_BYTES)
            });
            if full {
                batches.push(TableBatch {
                    batch: batches.len(),
                    of,
                    tables: vec![],
                });
                (bytes, calls) = (0, 0);
            }
            (bytes, calls) = (bytes + size, calls + table.calls());
            let last = batches.last_mut().expect("a batch was just pushed");
            last.tables.push(table);
        }
        Ok((listing.database, batches))
    }

    /// Reads one batch of [`ExportCatalog::batches`]: the export must be published (its
    /// `manifest.json` and `_SUCCESS` there) and its database file name the manifest's Glue
    /// database; then only the batch's own files are read and checked (each table file names
    /// its table, each partitions file its database and table, every location is inside the
    /// export). The reads, like the Glue calls that follow, grow with the batch alone.
    pub async fn read_batch(
        dest: &Destination,
        batch: &TableBatch,
    ) -> Result<ExportCatalog, GlueError> {
        let (manifest, database) = read_published_database(dest).await?;
        let catalog_dir = dest.root.clone().join(CATALOG_DIR);
        let listed: Vec<ListedTable> = batch
            .tables
            .iter()
            .map(|t| ListedTable {
                name: t.name.clone(),
                table: catalog_dir
                    .clone()
                    .join(format!("{}{TABLE_INPUT_SUFFIX}", t.name)),
                partitions: (1..=t.partitions_files)
                    .map(|n| catalog_dir.clone().join(partitions_file_name(&t.name, n)))
                    .collect(),
            })
            .collect();
        read_listed(dest, database, manifest.export_id, batch.of, &listed).await
    }

    /// How many partitions the export registers, over the tables read.
    pub fn partition_count(&self) -> usize {
        self.tables.iter().map(|t| t.partitions.len()).sum()
    }
}

/// The most bytes of table names one [`TableBatch`] holds: a Map item (with the job beside
/// it) must fit in Step Functions' 256 KiB of input.
pub const BATCH_ITEM_BYTES: usize = 64 * 1024;

/// One batch of an export's registration ([`ExportCatalog::batches`]): a Map item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableBatch {
    /// Counted from 0.
    pub batch: usize,
    /// How many tables the export has.
    pub of: usize,
    pub tables: Vec<BatchTable>,
}

/// A table of a [`TableBatch`]: its Glue name and how many partitions files it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchTable {
    pub name: String,
    #[serde(default)]
    pub partitions_files: usize,
}

impl BatchTable {
    /// The Glue calls registering the table takes at most, roughly: GetTable, CreateTable or
    /// UpdateTable and a first page of GetPartitions; and for each partitions file (at most
    /// 100 partitions, Glue's batch size) another page, a batch create and a batch update or
    /// delete.
    pub fn calls(&self) -> usize {
        3 + 3 * self.partitions_files
    }
}

/// A table's files in `_catalog/`, as the listing (or a batch) gives them.
struct ListedTable {
    name: String,
    table: Path,
    partitions: Vec<Path>,
}

/// The whole of an export's `_catalog/`, checked against its manifest.
struct Listing {
    database: DatabaseInput,
    export_id: String,
    /// By Glue name.
    tables: Vec<ListedTable>,
}

impl Listing {
    /// Lists `_catalog/` and checks it whole: the database file names the manifest's Glue
    /// database, there is one table file per table of the manifest and no other, and every
    /// partitions file belongs to one of them.
    async fn read(dest: &Destination) -> Result<Listing, GlueError> {
        let (mut manifest, database) = read_published_database(dest).await?;
        let (root, url) = (&dest.root, &dest.url);
        let invalid = |what: String| GlueError::InvalidExport(format!("{url}: {what}"));
        let files = dest.list(&root.clone().join(CATALOG_DIR)).await?;
        let name_of = |p: &Path| p.filename().unwrap_or_default().to_string();

        // Every table file, by the Glue table it names, sorted by that name: the listing's
        // order of file names may differ (`a-b.table.json` sorts before `a.table.json`), and
        // a batch's indices count in the order of `tables`.
        let mut tables: BTreeMap<String, ListedTable> = BTreeMap::new();
        for p in &files {
            if let Some(table) = name_of(p).strip_suffix(TABLE_INPUT_SUFFIX) {
                tables.insert(
                    table.to_string(),
                    ListedTable {
                        name: table.to_string(),
                        table: p.clone(),
                        partitions: vec![],
                    },
                );
            }
        }
        // The manifest's tables, a shard at a time: only their Glue names are kept.
        let mut wanted_names: BTreeSet<String> = BTreeSet::new();
        {
            let mut shards = std::pin::pin!(shards_under(dest, root.clone(), &mut manifest));
            while let Some(shard) = shards.try_next().await? {
                wanted_names.extend(shard.tables.into_iter().map(|t| t.glue_table));
            }
        }
        let wanted: BTreeSet<&str> = wanted_names.iter().map(String::as_str).collect();
        let found: BTreeSet<&str> = tables.keys().map(String::as_str).collect();
        if wanted != found {
            let lacking: Vec<_> = wanted.difference(&found).collect();
            let extra: Vec<_> = found.difference(&wanted).collect();
            return Err(invalid(format!(
                "the catalog files do not match the manifest's tables (no table file for \
                 {lacking:?}; not in the manifest: {extra:?})"
            )));
        }
        // Each partitions file to its table; one of no table would be skipped by every
        // batch: refuse it here. Then each table's files in the order of their numbers.
        let mut partitions: Vec<(String, u64, Path)> = vec![];
        for p in &files {
            let file = name_of(p);
            if let Some((table, number)) = file.rsplit_once(PARTITIONS_INFIX)
                && is_partitions_file_name(&file)
            {
                if !tables.contains_key(table) {
                    return Err(invalid(format!(
                        "{file} names table {table:?}, which has no table file"
                    )));
                }
                // By number, not by name: `…-10000.json` sorts before `…-9999.json`.
                let number = number
                    .trim_end_matches(PARTITIONS_SUFFIX)
                    .parse()
                    .unwrap_or(0);
                partitions.push((table.to_string(), number, p.clone()));
            }
        }
        partitions.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        for (table, _, path) in partitions {
            let listed = tables.get_mut(&table).expect("checked above");
            let n = listed.partitions.len() + 1;
            // A batch names a table's partitions files by number, 1 to n: a gap would be
            // one it never reads.
            if name_of(&path) != partitions_file_name(&table, n) {
                return Err(invalid(format!(
                    "{} is not {}: the partitions files of table {table:?} are not numbered \
                     from 1 without gaps",
                    name_of(&path),
                    partitions_file_name(&table, n)
                )));
            }
            listed.partitions.push(path);
        }
        Ok(Listing {
            database,
            export_id: manifest.export_id,
            tables: tables.into_values().collect(),
        })
    }
}

/// The manifest and the database file of the published export at `dest`'s root. Refuses an
/// export that is not published (no `manifest.json` or no `_SUCCESS`): its files may still
/// change, or it failed; and a database file that does not name the manifest's Glue database.
async fn read_published_database(
    dest: &Destination,
) -> Result<(Manifest, DatabaseInput), GlueError> {
    let (root, url) = (&dest.root, &dest.url);
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
    let database_path = root.clone().join(CATALOG_DIR).join(DATABASE_FILE);
    if !dest.exists(&database_path).await? {
        return Err(GlueError::InvalidExport(format!(
            "{url}: the export has no {CATALOG_DIR}/{DATABASE_FILE}"
        )));
    }
    let database: DatabaseInput = parse(dest, &database_path).await?;
    if database.name != manifest.glue_database {
        return Err(GlueError::InvalidExport(format!(
            "{url}: {DATABASE_FILE} names Glue database {:?} but the manifest {:?}",
            database.name, manifest.glue_database
        )));
    }
    Ok((manifest, database))
}

/// Reads and checks the files of `tables` (all of an export's, or a batch): each table file
/// names its table, each partitions file its database and table, no partition twice, values
/// as many as the keys, every location inside the export.
async fn read_listed(
    dest: &Destination,
    database: DatabaseInput,
    export_id: String,
    table_count: usize,
    listed: &[ListedTable],
) -> Result<ExportCatalog, GlueError> {
    let url = &dest.url;
    let invalid = |what: String| GlueError::InvalidExport(format!("{url}: {what}"));
    let name_of = |p: &Path| p.filename().unwrap_or_default().to_string();
    // Owned paths: a future borrowing across the stream is not `Send` to the compiler, and a
    // Lambda's handler must be.
    let inputs: Vec<TableInput> = futures::stream::iter(
        listed
            .iter()
            .map(|t| t.table.clone())
            .collect::<Vec<Path>>(),
    )
    .map(|p| async move { parse::<TableInput>(dest, &p).await })
    .buffered(OBJECTS_AT_ONCE)
    .try_collect()
    .await?;
    let partition_files: Vec<(&str, &Path)> = listed
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.as_str(), p)))
        .collect();
    let requests: Vec<BatchCreatePartition> = futures::stream::iter(
        partition_files
            .iter()
            .map(|(_, p)| (*p).clone())
            .collect::<Vec<Path>>(),
    )
    .map(|p| async move { parse::<BatchCreatePartition>(dest, &p).await })
    .buffered(OBJECTS_AT_ONCE)
    .try_collect()
    .await?;

    let mut tables = BTreeMap::new();
    for (t, input) in listed.iter().zip(inputs) {
        if t.name != input.name {
            return Err(invalid(format!(
                "{} defines table {:?}",
                name_of(&t.table),
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

    let export_url = dest.folder_url(&dest.root);
    for t in tables.values() {
        let locations = std::iter::once(&t.input.storage_descriptor.location)
            .chain(t.partitions.iter().map(|p| &p.storage_descriptor.location));
        for location in locations {
            if !location.starts_with(&export_url) {
                return Err(invalid(format!(
                    "table {:?} is at {location}, outside this export ({export_url}): was the \
                     export moved or copied? Register it where it was written",
                    t.input.name
                )));
            }
        }
    }

    Ok(ExportCatalog {
        url: url.clone(),
        export_id,
        database,
        tables: tables.into_values().collect(),
        table_count,
    })
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
