//! `snapex`: export a PostgreSQL, MySQL or MariaDB database to Parquet in a folder or an S3 bucket.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context;
use clap::Parser;
use indicatif::HumanBytes;
use snapex::model::Chunk;
use snapex::pipeline::{plan_export, run_export};
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

// After `say!`, which the modules use.
#[path = "snapex/args.rs"]
mod args;
#[path = "snapex/interrupt.rs"]
mod interrupt;
#[path = "snapex/progress.rs"]
mod progress;

use args::{Cli, Command, ExportArgs, PlanArgs, Selection};
use progress::{Bar, counted, print_report};

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
        let file = path.display().to_string();
        snapex::config::ConfigFile::parse(&text, &file)?.apply(&mut cfg, &file)?;
    }
    cfg.fold_schemas |= select.fold_schemas;
    if let Some(n) = select.glue_max_tables_per_database {
        cfg.glue_quotas.tables_per_database = n;
    }
    if let Some(n) = select.glue_max_tables_per_account {
        cfg.glue_quotas.tables_per_account = n;
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

/// Left-out tables an export's summary names; the manifest lists them all.
const LISTED_SKIPPED: usize = 20;

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
    cfg.manifest_shard_entries = args.manifest_shard_entries;

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
    // A bounded list: the manifest names every left-out table.
    for s in summary.skipped.iter().take(LISTED_SKIPPED) {
        say!("skipped {}: {}", s.name, s.reason);
    }
    if summary.skipped.len() > LISTED_SKIPPED {
        say!(
            "  ... and {} more left out, listed in the manifest",
            counted((summary.skipped.len() - LISTED_SKIPPED) as u64, "table")
        );
    }
    if let Some(f) = &summary.report.folding {
        let tables: u64 = f.folded.iter().map(|t| t.schemas).sum();
        say!(
            "folded {} across schemas into {} (partitioned by {})",
            counted(tables, "table"),
            counted(f.folded.len() as u64, "Glue table"),
            f.partition_key
        );
        for n in &f.not_folded {
            say!(
                "not folded into {}: {}.{} (Glue table {}): {}",
                n.folded_into,
                n.schema,
                n.name,
                n.glue_table,
                n.reason
            );
        }
    }
    print_report(&summary.report);
    say!("manifest: {}", summary.manifest);
    Ok(ExitCode::SUCCESS)
}
