//! Runs the Glue side of a serverless run's end on a published export, without Glue, so that
//! each part can be timed and its peak memory read on its own (`bench/serverless_steps.sh`
//! runs it under `/usr/bin/time`):
//!
//! ```text
//! register_batches batches <export folder> <calls per batch> <batches.jsonl>
//! register_batches read    <export folder> <batches.jsonl> <batch>
//! ```
//!
//! `batches` is Finalize's share: the whole catalog checked against the manifest and cut into
//! batches ([`ExportCatalog::batches`]), written one per line as Finalize writes them; it
//! prints their count and the largest. `read` is what one RegisterTables call reads before its
//! Glue calls ([`ExportCatalog::read_batch`]), given its line.

use std::time::Instant;

use snapex::sink::Destination;
use snapex_glue::ExportCatalog;

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
        ["batches", export, calls, out] => {
            let dest = Destination::open(export, None)?;
            let (database, batches) = ExportCatalog::batches(&dest, calls.parse()?).await?;
            let mut lines = String::new();
            for b in &batches {
                lines.push_str(&serde_json::to_string(b)?);
                lines.push('\n');
            }
            std::fs::write(out, lines)?;
            let largest = batches.iter().map(|b| b.tables.len()).max().unwrap_or(0);
            println!(
                "batches: {} tables of Glue database {} in {} batches, the largest {} tables, \
                 in {:.1} s",
                batches.first().map_or(0, |b| b.of),
                database.name,
                batches.len(),
                largest,
                started.elapsed().as_secs_f64()
            );
        }
        ["read", export, items, batch] => {
            let dest = Destination::open(export, None)?;
            let n: usize = batch.parse()?;
            let line = std::fs::read_to_string(items)?
                .lines()
                .nth(n)
                .ok_or_else(|| format!("{items} has no batch {n}"))?
                .to_string();
            let batch: snapex_glue::TableBatch = serde_json::from_str(&line)?;
            let batch = &batch;
            let at = Instant::now();
            let catalog = ExportCatalog::read_batch(&dest, batch).await?;
            println!(
                "read: batch {} of {} tables and {} partitions in {:.2} s",
                batch.batch,
                catalog.tables.len(),
                catalog.partition_count(),
                at.elapsed().as_secs_f64()
            );
        }
        _ => {
            return Err(
                "usage: register_batches batches <export> <calls> <out.jsonl> | read \
                        <export> <batches.jsonl> <batch>"
                    .into(),
            );
        }
    }
    Ok(())
}
