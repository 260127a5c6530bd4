//! The command line's arguments: the subcommands and their flags, as `--help` shows them.

use clap::{Args, Parser, Subcommand};
use snapex::source::mysql::Consistency;

/// Export relational databases to Parquet that Athena can query as soon as the export ends.
#[derive(Parser)]
#[command(name = "snapex", version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    /// Log more (repeat for debug logs); logs go to stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
pub(crate) struct PlanArgs {
    #[command(flatten)]
    pub(crate) select: Selection,

    /// Write the chunk list here as JSON Lines.
    #[arg(long, value_name = "FILE")]
    pub(crate) chunks: Option<std::path::PathBuf>,

    /// Do not draw a progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long)]
    pub(crate) no_progress: bool,
}

/// What to export and how to cut it: shared by `export` and `plan`.
#[derive(Args)]
pub(crate) struct Selection {
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
    pub(crate) source: String,

    /// Export only tables matching this schema.table glob (repeatable; `*`, `?`, `[..]`).
    /// A pattern without a dot matches that table name in any schema. A pattern that matches
    /// nothing is an error.
    #[arg(short, long = "include", value_name = "PATTERN")]
    pub(crate) include: Vec<String>,

    /// Leave out tables matching this schema.table glob (repeatable; applied after --include).
    /// Patterns that leave no table to export are an error.
    #[arg(short = 'x', long = "exclude", value_name = "PATTERN")]
    pub(crate) exclude: Vec<String>,

    /// Target size of each Parquet file (e.g. 128MiB, 1GiB). Big tables are split into key
    /// or block ranges of about this size; small tables share a task. At least 1MiB.
    #[arg(long, value_name = "SIZE", default_value = "128MiB", value_parser = snapex::config::parse_size)]
    pub(crate) target_file_size: u64,

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
    pub(crate) partition_by: Vec<String>,

    /// A TOML file with [[partition]] entries (table, column, by, width), the same rules as
    /// --partition-by (see docs/partitions.md), and optionally fold_schemas = true,
    /// glue_max_tables_per_database = N, glue_max_tables_per_account = N; flags override it.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<std::path::PathBuf>,

    /// Fold tables of the same name and the same columns across schemas (a schema per
    /// tenant) into one Glue table each, with the source schema as its first partition key
    /// (source_schema); the files stay where they are. See docs/catalog.md.
    #[arg(long)]
    pub(crate) fold_schemas: bool,

    /// Glue's quota of tables per database (AWS's default: 200000); an export that would
    /// exceed it is refused while planning. Set it to your quota if AWS raised it.
    #[arg(long, value_name = "N")]
    pub(crate) glue_max_tables_per_database: Option<u64>,

    /// Glue's quota of tables per account (AWS's default: 1000000), checked against the
    /// export's own tables.
    #[arg(long, value_name = "N")]
    pub(crate) glue_max_tables_per_account: Option<u64>,
}

#[derive(Args)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    pub(crate) select: Selection,

    /// Destination: a folder (created if missing), file:///path, or s3://bucket/prefix.
    #[arg(short, long, value_name = "URL", default_value = "./lake")]
    pub(crate) dest: String,

    /// S3 endpoint for S3-compatible stores (MinIO, moto, ...). Default: AWS_ENDPOINT_URL, else AWS.
    #[arg(long, value_name = "URL")]
    pub(crate) endpoint_url: Option<String>,

    /// Name of this export's folder under the destination. Default, unique per run:
    /// <database>-<UTC time to the millisecond>-<6 random hex digits>.
    #[arg(long, value_name = "ID")]
    pub(crate) export_id: Option<String>,

    /// Chunks read at once; each holds one connection to the source. Default: number of cores.
    #[arg(short = 'j', long, value_name = "N")]
    pub(crate) concurrency: Option<usize>,

    /// zstd compression level, 1 (fastest) to 22 (smallest).
    #[arg(long, value_name = "LEVEL", default_value_t = 1)]
    pub(crate) zstd_level: i32,

    /// A row group is closed once its encoded size passes this (e.g. 32MiB). The writer holds
    /// the open row group in memory, so this bounds a reader's memory; larger row groups mean
    /// fewer, longer reads for Athena.
    #[arg(long, value_name = "SIZE", default_value = "32MiB", value_parser = snapex::config::parse_size)]
    pub(crate) row_group_size: u64,

    /// MySQL/MariaDB only: how readers line up on one instant. `locked-start`: every reader
    /// takes its snapshot under one brief FLUSH TABLES WITH READ LOCK (needs RELOAD);
    /// `single`: one reader, one snapshot, no lock; `per-reader`: each reader its own snapshot,
    /// consistent only on an idle source such as a restored snapshot.
    #[arg(long, value_name = "MODE", default_value = "locked-start", value_parser = parse_consistency)]
    pub(crate) mysql_consistency: Consistency,

    /// Name of the Glue database the catalog files (_catalog/ in the export) use: a-z, 0-9 and
    /// _. Default: the source database's name, lowercased, other characters replaced by _.
    #[arg(long, value_name = "NAME")]
    pub(crate) glue_database: Option<String>,

    /// Finish an interrupted export: with the same --export-id, --dest and --source, keep
    /// every chunk whose completion record and files check out and read the rest. The rest is
    /// read in a new view of the source, so resume only a source nothing has written to since
    /// (such as an instance restored from a snapshot); the manifest says which chunks were.
    #[arg(long, requires = "export_id")]
    pub(crate) resume: bool,

    /// Times a chunk is read again after a retryable failure (a dropped connection, a
    /// restarting server, a store error its own retries did not cure), with exponential
    /// backoff from 1s to 30s and jitter. 0: fail at the first error.
    #[arg(long, value_name = "N", default_value_t = snapex::retry::RetryPolicy::cli().retries)]
    pub(crate) retries: u32,

    /// Tables per manifest shard: manifest.json lists the first N tables (and left-out
    /// tables) and names the files under _manifest/ that list the rest, N each.
    #[arg(long, value_name = "N", default_value_t = snapex::manifest::DEFAULT_SHARD_ENTRIES)]
    pub(crate) manifest_shard_entries: usize,

    /// Do not draw a progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long)]
    pub(crate) no_progress: bool,
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
