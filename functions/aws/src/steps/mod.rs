//! One handler per function: `handle(input, &Context) -> Result<Output, StepError>`, callable
//! in-process (the tests against moto do) as well as by the Lambda runtime (the binaries do,
//! and the end-to-end tests run those).
//! Restore, ExportChunk, Finalize, Cleanup and the scheduled watch also print the metrics of
//! what they did ([`emit`]).

pub mod check_instance;
pub mod cleanup;
pub mod export_chunk;
pub mod finalize;
pub mod plan;
pub mod register;
pub mod restore;
pub mod sweep;
pub mod trigger;
pub mod watch;

use snapex::metrics::Line;
use snapex::service::job::{Endpoint, Restored, StepInput};

use crate::error::StepError;

/// The restored instance and where it listens, which every step after CheckInstance needs.
fn connected(input: &StepInput) -> Result<(&Restored, &Endpoint), StepError> {
    let instance = input.instance.as_ref().ok_or_else(|| {
        StepError::invalid_input("the step's input has no $.instance: Restore has not run")
    })?;
    let endpoint = input
        .ready
        .as_ref()
        .and_then(|r| r.endpoint.as_ref())
        .ok_or_else(|| {
            StepError::invalid_input(
                "the step's input has no $.ready.endpoint: the instance is not ready",
            )
        })?;
    Ok((instance, endpoint))
}

/// Prints `line`, a CloudWatch Embedded Metric Format document, as a line of its own on
/// stdout, where CloudWatch Logs extracts its metrics from. Not through `tracing`: the
/// document must be the whole log line.
pub fn emit(line: &Line) {
    println!("{}", line.render());
}

/// The time metrics are stamped with: now, in milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
