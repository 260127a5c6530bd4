//! Runs the serverless steps of one export in this process, one kind of step per invocation,
//! as the Lambdas run them (the same `snapex::pipeline` calls the Plan, ExportChunk and
//! Finalize handlers make), so that each can be timed and its peak memory read on its own:
//! `bench/serverless_steps.sh` runs it under `/usr/bin/time`.
//!
//! ```text
//! serverless_steps plan     <source-url> <destination> <export-id>
//! serverless_steps chunks   <source-url> <destination> <export-id> <first> <end> <at-once>
//! serverless_steps finalize <destination> <export-id>
//! ```
//!
//! `plan` prints the chunk count; `chunks` runs chunk steps `first..end`, `at-once` at a time
//! (each with its own connection, as concurrent Lambdas), and prints the slowest; `finalize`
//! publishes and prints the totals. Glue's table quotas are raised for `plan`, as an account
//! exporting a million tables into one Glue database would have them raised.

use std::sync::Arc;
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use snapex::pipeline::{Quiet, chunk_step, finalize_step, plan_step};
use snapex::source::SourceUrl;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(&args))
}

async fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["plan", source, destination, export_id] => {
            let mut cfg = snapex::ExportConfig::new(source, destination)?;
            cfg.export_id = Some(export_id.to_string());
            cfg.glue_quotas.tables_per_database = u64::MAX / 2;
            cfg.glue_quotas.tables_per_account = u64::MAX / 2;
            let step = plan_step(&cfg, Arc::new(Quiet)).await?;
            println!(
                "plan: {} tables, {} chunks in {:.1} s",
                step.tables,
                step.chunks,
                started.elapsed().as_secs_f64()
            );
        }
        [
            "chunks",
            source,
            destination,
            export_id,
            first,
            end,
            at_once,
        ] => {
            let source = SourceUrl::parse(source)?;
            let (first, end): (usize, usize) = (first.parse()?, end.parse()?);
            let slowest = futures::stream::iter(first..end)
                .map(|chunk| {
                    let source = &source;
                    async move {
                        let at = Instant::now();
                        chunk_step(source, destination, None, export_id, chunk).await?;
                        Ok::<_, snapex::Error>((at.elapsed().as_secs_f64(), chunk))
                    }
                })
                .buffer_unordered(at_once.parse::<usize>()?.max(1))
                .try_fold(
                    (0.0, 0),
                    |a, b| async move { Ok(if b.0 > a.0 { b } else { a }) },
                )
                .await?;
            println!(
                "chunks {first}..{end}: {:.1} s, the slowest chunk {} in {:.2} s",
                started.elapsed().as_secs_f64(),
                slowest.1,
                slowest.0
            );
        }
        ["finalize", destination, export_id] => {
            let summary = finalize_step(destination, None, export_id, Arc::new(Quiet)).await?;
            println!(
                "finalize: {} tables, {} files, {} rows in {:.1} s",
                summary.totals.tables,
                summary.totals.files,
                summary.totals.rows,
                started.elapsed().as_secs_f64()
            );
        }
        _ => {
            return Err(
                "usage: serverless_steps plan <source> <dest> <id> | chunks <source> \
                        <dest> <id> <first> <end> <at-once> | finalize <dest> <id>"
                    .into(),
            );
        }
    }
    Ok(())
}
