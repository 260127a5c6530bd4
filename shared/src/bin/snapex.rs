//! `snapex`: export a PostgreSQL, MySQL or MariaDB database to Parquet in a folder or an S3 bucket.

#[path = "snapex/interrupt.rs"]
mod interrupt;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use indicatif::{HumanBytes, HumanCount, ProgressBar, ProgressDrawTarget, ProgressStyle};
use snapex::model::{Chunk, Piece, TableName};
use snapex::pipeline::{Progress, plan_export, run_export};
use snapex::sink::FileWritten;
use snapex::source::mysql::Consistency;
use snapex::{Error, ErrorClass, ExportConfig};

/// Prints a line of the result to stdout. Write errors are ignored: when stdout is a pipe
/// that closed early (`snapex export ... | head -n 1`), the export has already finished and
/// only the rest of the summary goes unread; `println!` would panic instead.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Export relational databases to Parquet that Athena can query as soon as the export ends.
#[derive(Parser)]
#[command(name = "snapex", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log more (repeat for debug logs); logs go to stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Subcommand)]
enum Command {
    /// Export every selected table of a database, consistently, to Parquet files plus a manifest.
    ///
    /// All readers see the same instant of the source (PostgreSQL: one exported snapshot;
    /// MySQL/MariaDB: see --mysql-consistency), so rows written while the export runs are
    /// either all in it or all out of it. Output layout:
    ///   <dest>/<export-id>/<schema>/<table>/part-<key range>.parquet
    ///   <dest>/<export-id>/<schema>/<table>/<key>=<value>/part-*.parquet   (--partition-by)
    ///   <dest>/<export-id>/_catalog/       (Glue table and partition inputs, Athena DDL)
    ///   <dest>/<export-id>/manifest.json   (the export is published)
    ///   <dest>/<export-id>/report.json     (the run report)
    ///   <dest>/<export-id>/_SUCCESS        (written last)
    ///
    /// S3 destinations take credentials and region from the usual AWS_* variables or a role
    /// (web identity, container, instance). Every flag: docs/cli.md.
    #[command(verbatim_doc_comment)]
    Export(ExportArgs),
    /// Discover and plan an export without reading or writing any table: how many tables,
    /// chunks and files it would make. Reads key bounds and, for partitioned tables, one
    /// row count per partition group, inside one consistent view of the source.
    ///
    /// With --chunks FILE, writes the chunk list as JSON Lines (one chunk per line), the form
    /// a Step Functions Distributed Map reads its items in. Chunks are written as they are
    /// planned (numbered in that order), so memory stays small however many tables there are;
    /// the list appears under FILE only once planning has succeeded.
    Plan(PlanArgs),
}

#[derive(Args)]
struct PlanArgs {
    #[command(flatten)]
    select: Selection,

    /// Write the chunk list here as JSON Lines.
    #[arg(long, value_name = "FILE")]
    chunks: Option<std::path::PathBuf>,

    /// Do not draw a progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long)]
    no_progress: bool,
}

/// What to export and how to cut it: shared by `export` and `plan`.
#[derive(Args)]
struct Selection {
    /// Source database URL: postgres://user:password@host:5432/dbname or
    /// mysql://user:password@host:3306/dbname (MySQL and MariaDB; without a database, every
    /// non-system database). Prefer the SNAPEX_SOURCE variable for URLs with passwords, so they
    /// stay out of `ps` output.
    #[arg(
        short,
        long,
        env = "SNAPEX_SOURCE",
        value_name = "URL",
        hide_env_values = true
    )]
    source: String,

    /// Export only tables matching this schema.table glob (repeatable; `*`, `?`, `[..]`).
    /// A pattern without a dot matches that table name in any schema. A pattern that matches
    /// nothing is an error.
    #[arg(short, long = "include", value_name = "PATTERN")]
    include: Vec<String>,

    /// Leave out tables matching this schema.table glob (repeatable; applied after --include).
    /// Patterns that leave no table to export are an error.
    #[arg(short = 'x', long = "exclude", value_name = "PATTERN")]
    exclude: Vec<String>,

    /// Target size of each Parquet file (e.g. 128MiB, 1GiB). Big tables are split into key
    /// or block ranges of about this size; small tables share a task. At least 1MiB.
    #[arg(long, value_name = "SIZE", default_value = "128MiB", value_parser = snapex::config::parse_size)]
    target_file_size: u64,

    /// Write a table's files into Hive-style partition folders (repeatable):
    /// TABLE=COLUMN:KIND, TABLE a pattern as for --include. KIND is year, month, day or hour
    /// (the UTC period of a date/timestamp column: created_at_day=2024-03-01/; NULL times in
    /// created_at_day=__HIVE_DEFAULT_PARTITION__/), value (the column's value, for
    /// low-cardinality columns), or buckets[:WIDTH] with COLUMN `key` (integer key buckets:
    /// id_bucket=3000000/; the width defaults to one about a target file's worth of keys).
    /// The last rule matching a table wins; these come after --config's. TABLE ends at its
    /// first '=': write a '=' in a schema or table name as [=] (a glob class, also valid in
    /// --include), e.g. 'ops[=]1.t[=]x=created_at:day'; COLUMN is taken as written up to
    /// :KIND, '=' and ':' included.
    #[arg(long = "partition-by", value_name = "TABLE=COLUMN:KIND")]
    partition_by: Vec<String>,

    /// A TOML file with [[partition]] entries (table, column, by, width), the same rules as
    /// --partition-by; see docs/partitions.md.
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
}

#[derive(Args)]
struct ExportArgs {
    #[command(flatten)]
    select: Selection,

    /// Destination: a folder (created if missing), file:///path, or s3://bucket/prefix.
    #[arg(short, long, value_name = "URL", default_value = "./lake")]
    dest: String,

    /// S3 endpoint for S3-compatible stores (MinIO, moto, ...). Default: AWS_ENDPOINT_URL, else AWS.
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,

    /// Name of this export's folder under the destination. Default, unique per run:
    /// <database>-<UTC time to the millisecond>-<6 random hex digits>.
    #[arg(long, value_name = "ID")]
    export_id: Option<String>,

    /// Chunks read at once; each holds one connection to the source. Default: number of cores.
    #[arg(short = 'j', long, value_name = "N")]
    concurrency: Option<usize>,

    /// zstd compression level, 1 (fastest) to 22 (smallest).
    #[arg(long, value_name = "LEVEL", default_value_t = 1)]
    zstd_level: i32,

    /// A row group is closed once its encoded size passes this (e.g. 32MiB). The writer holds
    /// the open row group in memory, so this bounds a reader's memory; larger row groups mean
    /// fewer, longer reads for Athena.
    #[arg(long, value_name = "SIZE", default_value = "32MiB", value_parser = snapex::config::parse_size)]
    row_group_size: u64,

    /// MySQL/MariaDB only: how readers line up on one instant. `locked-start`: every reader
    /// takes its snapshot under one brief FLUSH TABLES WITH READ LOCK (needs RELOAD);
    /// `single`: one reader, one snapshot, no lock; `per-reader`: each reader its own snapshot,
    /// consistent only on an idle source such as a restored snapshot.
    #[arg(long, value_name = "MODE", default_value = "locked-start", value_parser = parse_consistency)]
    mysql_consistency: Consistency,

    /// Name of the Glue database the catalog files (_catalog/ in the export) use: a-z, 0-9 and
    /// _. Default: the source database's name, lowercased, other characters replaced by _.
    #[arg(long, value_name = "NAME")]
    glue_database: Option<String>,

    /// Finish an interrupted export: with the same --export-id, --dest and --source, keep
    /// every chunk whose completion record and files check out and read the rest. The rest is
    /// read in a new view of the source, so resume only a source nothing has written to since
    /// (such as an instance restored from a snapshot); the manifest says which chunks were.
    #[arg(long, requires = "export_id")]
    resume: bool,

    /// Times a chunk is read again after a retryable failure (a dropped connection, a
    /// restarting server, a store error its own retries did not cure), with exponential
    /// backoff from 1s to 30s and jitter. 0: fail at the first error.
    #[arg(long, value_name = "N", default_value_t = snapex::config::RetryPolicy::cli().retries)]
    retries: u32,

    /// Do not draw a progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long)]
    no_progress: bool,
}

fn parse_consistency(s: &str) -> Result<Consistency, String> {
    match s {
        "locked-start" => Ok(Consistency::LockedStart),
        "single" => Ok(Consistency::Single),
        "per-reader" => Ok(Consistency::PerReader),
        other => Err(format!(
            "{other:?}: expected locked-start, single or per-reader"
        )),
    }
}

fn main() -> ExitCode {
    // Before the runtime's threads start: see `snapex::memory`.
    snapex::memory::return_large_blocks_to_the_system();
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("snapex: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Export(args) => runtime.block_on(export(args)),
        Command::Plan(args) => runtime.block_on(plan(args)).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!(
                "snapex: error: {}",
                snapex::error::one_line(&format!("{e:#}"))
            );
            let class = e.downcast_ref::<Error>().map(Error::class);
            ExitCode::from(class.map_or(1, ErrorClass::exit_code))
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,snapex=info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SNAPEX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// The configuration the selection flags give, with every other setting at its default.
fn configure(select: &Selection, dest: &str) -> anyhow::Result<ExportConfig> {
    let mut cfg = ExportConfig::new(&select.source, dest)?;
    cfg.include = select.include.clone();
    cfg.exclude = select.exclude.clone();
    cfg.plan.target_file_bytes = select.target_file_size;
    if let Some(path) = &select.config {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::InvalidInput(format!("cannot read config file {}: {e}", path.display()))
        })?;
        cfg.partition_rules =
            snapex::partitioning::rules_from_toml(&text, &path.display().to_string())?;
    }
    for spec in &select.partition_by {
        cfg.partition_rules
            .push(snapex::partitioning::PartitionRule::parse(spec)?);
    }
    Ok(cfg)
}

async fn plan(args: PlanArgs) -> anyhow::Result<()> {
    let cfg = configure(&args.select, "./lake")?;
    let bar = Arc::new(Bar::new(args.no_progress));
    // The chunk list is written as it is planned, under a temporary name until planning is
    // done, so a failed plan leaves no list that looks whole.
    let mut list = match &args.chunks {
        Some(path) => Some(ChunkList::create(path)?),
        None => None,
    };
    let planned = plan_export(&cfg, bar.clone(), |chunk| match list.as_mut() {
        Some(l) => l.write(chunk),
        None => Ok(()),
    })
    .await;
    if planned.is_err()
        && let Some(l) = &list
    {
        // Best effort: the planning error is what the user needs to see.
        let _ = std::fs::remove_file(&l.partial);
    }
    let summary = planned
        .with_context(|| format!("planning an export of {} failed", cfg.source.endpoint()))?;
    bar.bar.finish_and_clear();
    if let Some(l) = list {
        l.finish()?;
    }
    say!(
        "planned {} ({} skipped, {} of source data) into {} of {} (a file each at most) in {:.1}s",
        counted(summary.tables as u64, "table"),
        summary.skipped.len(),
        HumanBytes(summary.bytes),
        counted(summary.chunks as u64, "chunk"),
        counted(summary.pieces as u64, "piece"),
        summary.elapsed.as_secs_f64()
    );
    for s in &summary.skipped {
        say!("skipped {}: {}", s.name, s.reason);
    }
    Ok(())
}

/// The `--chunks` file: one chunk per line, written through a buffer to `<path>.partial` and
/// renamed to `path` once planning is done.
struct ChunkList {
    out: std::io::BufWriter<std::fs::File>,
    partial: PathBuf,
    path: PathBuf,
}

impl ChunkList {
    fn create(path: &std::path::Path) -> anyhow::Result<ChunkList> {
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = std::fs::File::create(&partial)
            .with_context(|| format!("cannot create the chunk list {}", partial.display()))?;
        Ok(ChunkList {
            out: std::io::BufWriter::new(file),
            partial,
            path: path.to_path_buf(),
        })
    }

    fn write(&mut self, chunk: &Chunk) -> Result<(), Error> {
        use std::io::Write;
        let io = |e: std::io::Error| {
            Error::InvalidInput(format!(
                "cannot write the chunk list {}: {e}",
                self.partial.display()
            ))
        };
        serde_json::to_writer(&mut self.out, chunk).map_err(|e| io(e.into()))?;
        self.out.write_all(b"\n").map_err(io)
    }

    fn finish(mut self) -> anyhow::Result<()> {
        use std::io::Write;
        self.out
            .flush()
            .and_then(|()| std::fs::rename(&self.partial, &self.path))
            .with_context(|| format!("cannot write the chunk list to {}", self.path.display()))
    }
}

/// Exports; on Ctrl-C or SIGTERM, stops cleanly and exits 130 or 143 (see `interrupt`).
async fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = configure(&args.select, &args.dest)?;
    cfg.endpoint = args.endpoint_url;
    cfg.export_id = args.export_id;
    if let Some(n) = args.concurrency {
        cfg.concurrency = n;
    }
    cfg.parquet.zstd_level = args.zstd_level;
    cfg.parquet.row_group_bytes = usize::try_from(args.row_group_size).unwrap_or(usize::MAX);
    cfg.mysql_consistency = args.mysql_consistency;
    cfg.glue_database = args.glue_database;
    cfg.resume = args.resume;
    cfg.retry.retries = args.retries;

    let bar = Arc::new(Bar::new(args.no_progress));
    let (stop, received) = interrupt::handle_signals(
        {
            let bar = bar.clone();
            move || {
                bar.stopping.store(true, Ordering::Relaxed);
                bar.refresh();
            }
        },
        {
            let bar = bar.clone();
            move || {
                bar.bar.finish_and_clear();
                eprintln!(
                    "snapex: interrupted again: exiting at once (files being written may stay \
                     behind; nothing is published, and a resumed run replaces them)"
                );
            }
        },
    );
    cfg.stop = stop;
    let summary = match run_export(&cfg, bar.clone()).await {
        Ok(summary) => summary,
        Err(Error::Interrupted {
            chunks_done,
            chunks,
        }) => {
            bar.bar.finish_and_clear();
            let signal = received
                .get()
                .copied()
                .unwrap_or(interrupt::Signal::Interrupt);
            eprintln!("snapex: {}", bar.interrupted(chunks_done, chunks));
            return Ok(ExitCode::from(signal.exit_code()));
        }
        Err(e) => {
            bar.bar.finish_and_clear();
            let id = bar.resumable();
            let hint = match (&id, e.is_retryable()) {
                (Some(id), true) => format!(
                    " (what was written is kept: add --resume --export-id {id} to the same \
                     command to finish it)"
                ),
                _ => String::new(),
            };
            return Err(anyhow::Error::new(e).context(format!(
                "export of {} failed; nothing was published{hint}",
                cfg.source.endpoint()
            )));
        }
    };
    bar.bar.finish_and_clear();

    let t = &summary.totals;
    say!(
        "exported {} ({} skipped): {}, {}, {} in {:.1}s",
        counted(t.tables, "table"),
        t.skipped,
        counted(t.files, "file"),
        counted(t.rows, "row"),
        HumanBytes(t.bytes),
        summary.elapsed.as_secs_f64()
    );
    if summary.lossy_values > 0 {
        say!(
            "{} values changed by documented lossy rules (see the manifest's columns)",
            summary.lossy_values
        );
    }
    for s in &summary.skipped {
        say!("skipped {}: {}", s.name, s.reason);
    }
    print_report(&summary.report);
    say!("manifest: {}", summary.manifest);
    Ok(ExitCode::SUCCESS)
}

/// Tables listed by the command line's report; report.json lists them all.
const REPORTED_TABLES: usize = 20;

/// The run report's per-table lines, slowest first, and what the run retried or kept.
fn print_report(report: &snapex::report::RunReport) {
    if report.chunks_kept > 0 || report.retries > 0 {
        say!(
            "{} kept from the interrupted run, {} read again after a retryable failure",
            counted(report.chunks_kept, "chunk"),
            counted(report.retries, "chunk attempt")
        );
    }
    let mut tables: Vec<_> = report.tables.iter().collect();
    tables.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
    for t in tables.iter().take(REPORTED_TABLES) {
        let lossy: u64 = t.lossy.values().flat_map(|m| m.values()).sum();
        say!(
            "  {}: {}, {}, {} in {:.1}s{}",
            t.table,
            counted(t.rows, "row"),
            counted(t.files, "file"),
            HumanBytes(t.bytes),
            t.seconds,
            if lossy > 0 {
                format!(", {lossy} lossy values")
            } else {
                String::new()
            }
        );
    }
    if tables.len() > REPORTED_TABLES {
        say!(
            "  ... and {} more in report.json",
            counted((tables.len() - REPORTED_TABLES) as u64, "table")
        );
    }
}

/// `1 table`, `5,000 tables`.
fn counted(n: u64, noun: &str) -> String {
    format!("{} {noun}{}", HumanCount(n), if n == 1 { "" } else { "s" })
}

/// The progress bar: chunks as its length; tables, rows and bytes in its message.
struct Bar {
    bar: ProgressBar,
    rows: AtomicU64,
    bytes: AtomicU64,
    tables_total: AtomicU64,
    tables_done: AtomicU64,
    pieces_left: Mutex<HashMap<TableName, usize>>,
    /// The export's id once known: a failed export names it for `--resume`.
    export_id: Mutex<Option<String>>,
    /// The plan is recorded: there is something for `--resume` to finish.
    recorded: AtomicBool,
    /// Asked to stop: the bar says so until it is cleared.
    stopping: AtomicBool,
}

impl Bar {
    fn new(hidden: bool) -> Bar {
        let bar = if hidden {
            ProgressBar::hidden()
        } else {
            ProgressBar::new_spinner()
        };
        if !hidden {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Bar {
            bar,
            rows: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            tables_total: AtomicU64::new(0),
            tables_done: AtomicU64::new(0),
            pieces_left: Mutex::new(HashMap::new()),
            export_id: Mutex::new(None),
            recorded: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
        }
    }

    /// The export's id if a run with `--resume` can finish it (its plan is recorded).
    fn resumable(&self) -> Option<String> {
        if !self.recorded.load(Ordering::Relaxed) {
            return None;
        }
        self.export_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The line an interrupted export ends with: its id, how far it got, and the command
    /// that finishes it when there is something to finish.
    fn interrupted(&self, chunks_done: usize, chunks: usize) -> String {
        let Some(id) = self.resumable() else {
            let named = self
                .export_id
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .map_or(String::new(), |id| format!(" export {id}"));
            return format!(
                "interrupted{named} before the export's plan was recorded: there is nothing to \
                 resume (run the same command again to start over)"
            );
        };
        let (command, redacted) = interrupt::resume_command(std::env::args_os(), &id);
        format!(
            "interrupted export {id} with {} of {} written; nothing was published. To finish \
             it, run{}: {command}",
            HumanCount(chunks_done as u64),
            counted(chunks as u64, "chunk"),
            if redacted {
                " (with the source's password in place of ****)"
            } else {
                ""
            }
        )
    }

    fn refresh(&self) {
        if self.stopping.load(Ordering::Relaxed) {
            self.bar.set_message(
                "stopping: abandoning the chunks being read (Ctrl-C again exits at once)",
            );
            return;
        }
        self.bar.set_message(format!(
            "tables {}/{} · {} rows · {} decoded",
            self.tables_done.load(Ordering::Relaxed),
            self.tables_total.load(Ordering::Relaxed),
            HumanCount(self.rows.load(Ordering::Relaxed)),
            HumanBytes(self.bytes.load(Ordering::Relaxed)),
        ));
    }
}

impl Progress for Bar {
    fn phase(&self, what: &str) {
        self.bar.set_message(what.to_string());
    }

    fn export_id(&self, id: &str) {
        *self.export_id.lock().unwrap_or_else(|p| p.into_inner()) = Some(id.to_string());
        // Above the bar, which keeps drawing below it.
        self.bar.suspend(|| eprintln!("snapex: export {id}"));
    }

    fn recorded(&self) {
        self.recorded.store(true, Ordering::Relaxed);
    }

    fn planned(&self, tables: usize, chunks: &[Chunk]) {
        let mut left = self.pieces_left.lock().unwrap_or_else(|p| p.into_inner());
        for p in chunks.iter().flat_map(|c| &c.pieces) {
            *left.entry(p.table.clone()).or_default() += 1;
        }
        self.tables_total.store(tables as u64, Ordering::Relaxed);
        self.bar.set_length(chunks.len() as u64);
        self.bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} chunks · {msg} (eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        self.refresh();
    }

    fn rows(&self, rows: u64, bytes: u64) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.refresh();
    }

    fn piece_done(&self, piece: &Piece, _file: Option<&FileWritten>) {
        let mut left = self.pieces_left.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = left.get_mut(&piece.table) {
            *n -= 1;
            if *n == 0 {
                self.tables_done.fetch_add(1, Ordering::Relaxed);
            }
        }
        drop(left);
        self.refresh();
    }

    fn chunk_done(&self, _chunk: &Chunk) {
        self.bar.inc(1);
    }
}
