//! `snapex-glue`: register a published snapex export in the AWS Glue Data Catalog.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use snapex::ErrorClass;
use snapex_glue::{ExportCatalog, GlueError, Registrar};

/// Register snapex exports in the AWS Glue Data Catalog, so Athena can query them.
#[derive(Parser)]
#[command(name = "snapex-glue", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make the Glue catalog hold a published export: its database, tables and partitions.
    ///
    /// Reads <EXPORT>/_catalog/ (written by `snapex export`) and converges Glue onto it:
    ///   - the database is created if it is missing (an existing one is left as it is);
    ///   - each table is created, or updated where it differs (a newer export of the same
    ///     database moves the table's location to it);
    ///   - each table's partitions become exactly the export's: missing ones are created,
    ///     ones at another location or with other columns are updated, others are deleted.
    ///
    /// Running it again changes nothing. Tables of the database that the export does not
    /// name are left alone. An export without manifest.json and _SUCCESS is not published
    /// and is refused.
    ///
    /// Glue calls are paced (--requests-per-second, shared by all the tables converged at
    /// once); a call Glue still throttles after the SDK's retries is made again after a
    /// backoff, up to 6 times.
    ///
    /// Credentials and region come from the usual AWS configuration (AWS_* variables,
    /// AWS_PROFILE, a role). Needs glue:GetDatabase, CreateDatabase, GetTable, CreateTable,
    /// UpdateTable, GetPartitions, BatchCreatePartition, BatchUpdatePartition,
    /// BatchDeletePartition, and s3:GetObject and s3:ListBucket on the export.
    ///
    /// Exit status: 0 when registered; 2 when the request needs fixing (not a published
    /// export, no credentials, access denied, a value Glue refuses); 1 otherwise.
    #[command(verbatim_doc_comment)]
    Register(RegisterArgs),
}

#[derive(Args)]
struct RegisterArgs {
    /// The export's own folder: ./lake/<export-id>, file:///path/<export-id> or
    /// s3://bucket/prefix/<export-id>.
    #[arg(value_name = "EXPORT")]
    export: String,

    /// Endpoint for both S3 and Glue, for AWS-compatible services (moto, LocalStack, ...).
    /// Default: AWS_ENDPOINT_URL (AWS_ENDPOINT_URL_GLUE for Glue alone), else AWS.
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,

    /// AWS region of the Glue catalog (and the bucket). Default: AWS_REGION or the profile's,
    /// else us-east-1.
    #[arg(long, value_name = "REGION")]
    region: Option<String>,

    /// Glue calls a second at most, over all the tables registered at once (Glue throttles
    /// per account and Region; leave room for the account's other Glue clients).
    #[arg(long, value_name = "N", default_value_t = snapex_glue::DEFAULT_REQUESTS_PER_SECOND,
          value_parser = clap::value_parser!(u32).range(1..))]
    requests_per_second: u32,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Register(args) = cli.command;
    if let Some(region) = &args.region {
        // The export is read through the core's S3 client, which takes its region from the
        // environment only. SAFETY: no other thread exists yet; the runtime starts below.
        unsafe { std::env::set_var("AWS_REGION", region) };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("snapex-glue: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(register(args)) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "snapex-glue: error: {}",
                snapex::error::one_line(&format!("{e:#}"))
            );
            let class = e.downcast_ref::<GlueError>().map(GlueError::class);
            ExitCode::from(class.map_or(1, ErrorClass::exit_code))
        }
    }
}

async fn register(args: RegisterArgs) -> anyhow::Result<String> {
    let endpoint = args.endpoint_url.as_deref();
    // The export is read and checked before any Glue client exists: a bad export costs no
    // credential lookup and no AWS call.
    let export = ExportCatalog::open(&args.export, endpoint).await?;
    let client = snapex_glue::connect(endpoint, args.region.as_deref()).await?;
    let report = Registrar::with_rate(client, args.requests_per_second)
        .register(&export)
        .await
        .with_context(|| format!("registering {} in Glue", export.url))?;
    Ok(format!("registered {report}"))
}
