//! Runs an export: discover and plan, run chunks on a bounded pool of readers (all inside one
//! snapshot), verify every file, write the Glue/Athena catalog files, then publish the
//! manifest. Used by the CLI; the Lambdas will call the same chunk and finalize steps one at a
//! time.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::TryStreamExt;
use object_store::path::Path;
use tokio::task::JoinSet;

use crate::catalog::{self, ExportInfo, TableEntry, names};
use crate::config::ExportConfig;
use crate::error::{Error, Result};
use crate::manifest::{FORMAT, FileEntry, Manifest, SourceManifest, TableManifest, Totals};
use crate::model::{Chunk, LossyRule, Piece, SkippedTable, TableDesc, TableName};
use crate::plan::plan;
use crate::sink::layout::{Layout, MANIFEST, escape_segment};
use crate::sink::{Destination, FileWritten, ParquetOptions, PieceWriter};
use crate::source::TableFilter;
use crate::source::{Discovered, Reader, ReaderFactory, Session, SessionOptions, SourceInfo};

/// Catalog files written at once: each is one small PUT, and an export may have thousands.
const CATALOG_WRITES_AT_ONCE: usize = 32;

/// What a running export reports. Every method has a no-op default.
pub trait Progress: Send + Sync {
    /// A phase with no count, e.g. "discovering tables".
    fn phase(&self, _what: &str) {}
    /// The plan is made: `tables` selected tables, split into `chunks`.
    fn planned(&self, _tables: usize, _chunks: &[Chunk]) {}
    /// Rows and source bytes decoded since the last call.
    fn rows(&self, _rows: u64, _bytes: u64) {}
    /// A table's piece is written.
    fn piece_done(&self, _piece: &Piece, _file: Option<&FileWritten>) {}
    fn chunk_done(&self, _chunk: &Chunk) {}
}

/// A progress sink that reports nothing.
pub struct Quiet;
impl Progress for Quiet {}

/// What a finished export did.
#[derive(Debug, Clone)]
pub struct ExportSummary {
    pub export_id: String,
    /// Where the manifest is, as a URL-ish string (destination + path).
    pub manifest: String,
    pub totals: Totals,
    pub lossy_values: u64,
    pub elapsed: Duration,
    pub skipped: Vec<SkippedTable>,
}

/// One piece's outcome.
#[derive(Debug, Clone)]
pub struct PieceResult {
    pub piece: Piece,
    pub file: Option<FileWritten>,
    pub lossy: BTreeMap<String, BTreeMap<LossyRule, u64>>,
}

/// Runs a whole export. On any error nothing is published: no manifest, no `_SUCCESS`.
pub async fn run_export(cfg: &ExportConfig, progress: Arc<dyn Progress>) -> Result<ExportSummary> {
    cfg.validate()?;
    let started = Instant::now();
    let started_at = Utc::now();
    let filter = TableFilter::new(&cfg.include, &cfg.exclude)?;
    // Check the destination's syntax now; open (and create) it only once the source is known good.
    crate::sink::Target::parse(&cfg.destination)?;

    progress.phase("connecting");
    let options = SessionOptions {
        readers: cfg.concurrency,
        mysql_consistency: cfg.mysql_consistency,
    };
    let session = Session::open(&cfg.source, options).await?;
    let info = session.info().await?;
    let export_id = cfg
        .export_id
        .clone()
        .unwrap_or_else(|| format!("{}-{}", info.database, started_at.format("%Y%m%dT%H%M%SZ")));

    progress.phase("discovering tables");
    let (mut tables, skipped) = discover(&session, &filter).await?;
    // Only now, with the request known to be good, touch the destination.
    let dest = Destination::open(&cfg.destination, cfg.endpoint.as_deref())?;
    let layout = Layout::new(&dest.root, &export_id);
    if dest.exists(&layout.manifest()).await? {
        return Err(Error::InvalidInput(format!(
            "export {export_id:?} is already published in {}: choose another --export-id",
            dest.url
        )));
    }
    dest.check_writable(&dest.root).await?;
    let (_, foreign) = existing_objects(&dest, &layout).await?;
    if !foreign.is_empty() {
        return Err(foreign_objects_error(&export_id, &foreign));
    }
    progress.phase("reading key bounds");
    for t in tables.iter_mut().filter(|t| cfg.plan.wants_bounds(t)) {
        session.fetch_bounds(t).await?;
    }
    let chunks = plan(&tables, &cfg.plan);
    progress.planned(tables.len(), &chunks);
    // The manifest lists tables in catalog order; the readers look them up by name.
    let order: Vec<TableName> = tables.iter().map(|t| t.name.clone()).collect();
    let tables: Arc<HashMap<TableName, TableDesc>> =
        Arc::new(tables.into_iter().map(|t| (t.name.clone(), t)).collect());

    let shared = Arc::new(Workers {
        readers: session.readers(),
        tables: tables.clone(),
        dest: dest.clone(),
        layout: layout.clone(),
        parquet: cfg.parquet,
        batch: cfg.batch,
        queue: Mutex::new(chunks.into_iter().collect()),
        progress: progress.clone(),
    });
    let readers = session
        .max_readers()
        .map_or(cfg.concurrency, |max| max.min(cfg.concurrency));
    let results = run_workers(shared, readers).await?;

    progress.phase("verifying files");
    verify(&dest, &results).await?;

    progress.phase("writing catalog metadata");
    let glue = glue_names(cfg, &info, &order);
    let catalog_files = catalog_files(&info, &export_id, &glue, &order, &tables, &dest, &layout)?;
    let mut written: HashSet<String> = results
        .iter()
        .filter_map(|r| r.file.as_ref())
        .map(|f| f.path.clone())
        .collect();
    written.extend(catalog_files.iter().map(|(path, _)| path.to_string()));
    futures::stream::iter(catalog_files.into_iter().map(Ok))
        .try_for_each_concurrent(CATALOG_WRITES_AT_ONCE, |(path, bytes)| {
            let dest = &dest;
            async move { dest.put(&path, bytes).await }
        })
        .await?;
    remove_strays(&dest, &layout, &export_id, &written).await?;

    progress.phase("publishing manifest");
    let manifest = build_manifest(ManifestInput {
        export_id: export_id.clone(),
        destination: dest.url.clone(),
        source: SourceManifest::new(&info, session.consistency()),
        started_at,
        include: cfg.include.clone(),
        exclude: cfg.exclude.clone(),
        glue: &glue,
        order: &order,
        tables: &tables,
        skipped: skipped.clone(),
        layout: &layout,
        results: &results,
    });
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| Error::Internal(format!("manifest: {e}")))?;
    dest.put(&layout.manifest(), json).await?;
    dest.put(&layout.success_marker(), vec![]).await?;
    // The session's consistent view is held until the export is published.
    drop(session);

    let lossy_values = results
        .iter()
        .flat_map(|r| r.lossy.values())
        .flat_map(|m| m.values())
        .sum();
    Ok(ExportSummary {
        manifest: format!(
            "{}/{}/{MANIFEST}",
            dest.url.trim_end_matches('/'),
            escape_segment(&export_id)
        ),
        export_id,
        totals: manifest.totals,
        lossy_values,
        elapsed: started.elapsed(),
        skipped,
    })
}

/// Streams the catalog through the filter. Every include pattern must match something.
async fn discover(
    session: &Session,
    filter: &TableFilter,
) -> Result<(Vec<TableDesc>, Vec<SkippedTable>)> {
    let mut tables = Vec::new();
    let mut skipped = Vec::new();
    let mut matched = vec![false; filter.include_count()];
    session
        .discover(|d| {
            let name = match &d {
                Discovered::Table(t) => &t.name,
                Discovered::Skipped(s) => &s.name,
            };
            if let Some(hits) = filter.selects(name) {
                for i in hits {
                    matched[i] = true;
                }
                match d {
                    Discovered::Table(t) => tables.push(t),
                    Discovered::Skipped(s) => skipped.push(s),
                }
            }
            Ok(())
        })
        .await?;
    filter.check_all_matched(&matched)?;
    Ok((tables, skipped))
}

/// What every worker shares.
struct Workers {
    readers: ReaderFactory,
    tables: Arc<HashMap<TableName, TableDesc>>,
    dest: Destination,
    layout: Layout,
    parquet: ParquetOptions,
    batch: crate::config::BatchLimits,
    queue: Mutex<VecDeque<Chunk>>,
    progress: Arc<dyn Progress>,
}

impl Workers {
    fn next_chunk(&self) -> Option<Chunk> {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
    }
}

/// Runs `concurrency` readers until the queue is empty. The first error stops every reader.
async fn run_workers(shared: Arc<Workers>, concurrency: usize) -> Result<Vec<PieceResult>> {
    let n = concurrency
        .min(shared.queue.lock().unwrap_or_else(|p| p.into_inner()).len())
        .max(1);
    let mut set = JoinSet::new();
    for _ in 0..n {
        let shared = shared.clone();
        set.spawn(async move {
            let mut reader = shared.readers.connect().await?;
            let mut out = Vec::new();
            while let Some(chunk) = shared.next_chunk() {
                reader.begin_chunk().await?;
                out.extend(run_chunk(&mut reader, &chunk, &shared).await?);
                reader.end_chunk().await?;
                shared.progress.chunk_done(&chunk);
            }
            Ok::<_, Error>(out)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok(r)) => results.extend(r),
            Ok(Err(e)) => {
                set.abort_all();
                return Err(e);
            }
            Err(e) => {
                set.abort_all();
                return Err(Error::Internal(format!("a reader task failed: {e}")));
            }
        }
    }
    Ok(results)
}

/// Reads every piece of one chunk into its file.
async fn run_chunk(reader: &mut Reader, chunk: &Chunk, w: &Workers) -> Result<Vec<PieceResult>> {
    let mut out = Vec::with_capacity(chunk.pieces.len());
    for piece in &chunk.pieces {
        let table = w
            .tables
            .get(&piece.table)
            .ok_or_else(|| Error::Internal(format!("chunk names unknown table {}", piece.table)))?;
        out.push(run_piece(reader, table, piece, w).await?);
    }
    Ok(out)
}

async fn run_piece(
    source: &mut Reader,
    table: &TableDesc,
    piece: &Piece,
    w: &Workers,
) -> Result<PieceResult> {
    let path = w.layout.piece_file(piece);
    let mut writer = PieceWriter::new(
        w.dest.store.clone(),
        path,
        w.parquet,
        table.name.to_string(),
    );
    let mut reader = source.read(table, piece.range, w.batch).await?;
    let copied = async {
        while let Some(batch) = reader.next_batch().await? {
            let bytes = batch.get_array_memory_size() as u64;
            writer.write(&batch).await?;
            w.progress.rows(batch.num_rows() as u64, bytes);
        }
        Ok::<_, Error>(())
    }
    .await;
    if let Err(e) = copied {
        writer.abort().await;
        return Err(e);
    }
    let file = writer.finish().await?;
    w.progress.piece_done(piece, file.as_ref());
    Ok(PieceResult {
        piece: piece.clone(),
        file,
        lossy: reader.lossy_counts().clone(),
    })
}

/// Every file the results name exists with the size we wrote.
async fn verify(dest: &Destination, results: &[PieceResult]) -> Result<()> {
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
/// (`<schema>/<table>/part-*.parquet` and the catalog files, left by an earlier failed attempt
/// with the same export id) and anything else, which is not ours to delete.
async fn existing_objects(dest: &Destination, layout: &Layout) -> Result<(Vec<Path>, Vec<Path>)> {
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
        let is_piece =
            parts.len() == 3 && parts[2].starts_with("part-") && parts[2].ends_with(".parquet");
        if is_piece || Layout::is_catalog_file(rel) {
            ours.push(path)
        } else {
            foreign.push(path)
        }
    }
    Ok((ours, foreign))
}

fn foreign_objects_error(export_id: &str, foreign: &[Path]) -> Error {
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
async fn remove_strays(
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
struct GlueNames {
    database: String,
    tables: HashMap<TableName, String>,
}

/// The Glue database is `--glue-database`, else named after the source database; tables are
/// named by [`names::table_names`] over every exported table, so collisions resolve the same
/// way however the work was split.
fn glue_names(cfg: &ExportConfig, info: &SourceInfo, order: &[TableName]) -> GlueNames {
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
fn catalog_files(
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

fn pretty_json(what: &str, v: &impl serde::Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(v).map_err(|e| Error::Internal(format!("catalog file {what}: {e}")))
}

struct ManifestInput<'a> {
    export_id: String,
    destination: String,
    source: SourceManifest,
    started_at: chrono::DateTime<Utc>,
    include: Vec<String>,
    exclude: Vec<String>,
    glue: &'a GlueNames,
    order: &'a [TableName],
    tables: &'a HashMap<TableName, TableDesc>,
    skipped: Vec<SkippedTable>,
    layout: &'a Layout,
    results: &'a [PieceResult],
}

fn build_manifest(m: ManifestInput<'_>) -> Manifest {
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
