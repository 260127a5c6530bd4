//! Retry and Catch: a Task or Map state's attempts, the delays between them, and the catcher
//! that takes over when the retries are spent.

use serde_json::Value;

use super::{Engine, Scope};
use crate::definition::{Outcome, ResultTarget, State, StateKind};
use crate::error::names;
use crate::history::Event;
use crate::input_output::apply_result;
use crate::retry;
use crate::tasks::TaskFailure;

impl Engine<'_> {
    /// Runs a Task or Map state with its Retry and Catch fields. Retriers are scanned in
    /// order and the first whose ErrorEquals matches decides: it retries while its own count is
    /// below its MaxAttempts, else the error goes to the catchers (a later retrier matching the
    /// same error is not consulted).
    pub(super) async fn run_with_recovery<'a>(
        &self,
        state: &'a State,
        outcome: &'a Outcome,
        raw: Value,
        scope: &Scope,
        entered: &str,
    ) -> Result<(Value, Option<&'a str>), TaskFailure> {
        let mut counts = vec![0u64; outcome.retry.len()];
        let mut retries = 0u64;
        loop {
            let context = self.context(scope, &state.name, entered, retries);
            let attempt = match &state.kind {
                StateKind::Task {
                    resource,
                    parameters,
                    ..
                } => {
                    self.task_attempt(
                        state,
                        resource,
                        parameters.as_ref(),
                        outcome,
                        &raw,
                        &context,
                        retries + 1,
                        scope,
                    )
                    .await
                }
                StateKind::Map(map) => self.run_map(state, map, &raw, &context, scope).await,
                _ => unreachable!("only Task and Map states have Retry and Catch"),
            };
            let failure = match attempt {
                Ok(output) => return Ok((output, state.next.as_deref())),
                Err(failure) if failure.error == names::RUNTIME => return Err(failure),
                Err(failure) => failure,
            };
            if let Some(index) = outcome
                .retry
                .iter()
                .position(|r| retry::matches(&r.errors, &failure.error))
            {
                let retrier = &outcome.retry[index];
                if counts[index] < retrier.max_attempts {
                    let (computed, delay) = {
                        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
                        retrier.delay(counts[index], &mut rng)
                    };
                    counts[index] += 1;
                    retries += 1;
                    self.record(
                        scope,
                        Event::RetryScheduled {
                            state: state.name.clone(),
                            error: failure.error.clone(),
                            retrier: index,
                            retry: counts[index],
                            computed_seconds: computed,
                            delay_seconds: delay,
                        },
                    );
                    self.sleep(delay).await;
                    continue;
                }
            }
            let Some((index, catcher)) = outcome
                .catch
                .iter()
                .enumerate()
                .find(|(_, c)| retry::matches(&c.errors, &failure.error))
            else {
                return Err(failure);
            };
            let target = ResultTarget::from_field(catcher.result_path.clone());
            let output = apply_result(&target, raw, failure.to_error_output())?;
            self.record(
                scope,
                Event::Caught {
                    state: state.name.clone(),
                    error: failure.error.clone(),
                    catcher: index,
                    next: catcher.next.clone(),
                },
            );
            return Ok((output, Some(catcher.next.as_str())));
        }
    }
}
