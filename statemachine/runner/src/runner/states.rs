//! Running one state on its raw input, with input/output processing in the order Step Functions
//! applies it: Pass, Choice, Wait, Succeed and Fail here, one attempt of a Task, and the Task
//! and Map states handed to [`super::recovery`] for their Retry and Catch.

use chrono::Utc;
use serde_json::Value;

use super::{Engine, Scope, now};
use crate::definition::{Outcome, State, StateKind, Text, WaitFor};
use crate::error::{names, runtime};
use crate::history::Event;
use crate::input_output::{apply_result, finish_result, select};
use crate::tasks::TaskFailure;
use crate::template::Template;

impl Engine<'_> {
    /// Runs one state on its raw input: its output and the next state (`None` at the end).
    pub(super) async fn run_state<'a>(
        &self,
        state: &'a State,
        raw: Value,
        scope: &Scope,
    ) -> Result<(Value, Option<&'a str>), TaskFailure> {
        let entered = now();
        let context = self.context(scope, &state.name, &entered, 0);
        let next = state.next.as_deref();
        match &state.kind {
            StateKind::Task { outcome, .. } => {
                self.run_with_recovery(state, outcome, raw, scope, &entered)
                    .await
            }
            StateKind::Map(map) => {
                self.run_with_recovery(state, &map.outcome, raw, scope, &entered)
                    .await
            }
            StateKind::Pass {
                parameters,
                result,
                result_path,
            } => {
                let mut effective = select(&state.input_path, &raw, &context)?;
                if let Some(parameters) = parameters {
                    effective = parameters.eval(&effective, &context)?;
                }
                let result = result.clone().unwrap_or(effective);
                let merged = apply_result(result_path, raw, result)?;
                Ok((select(&state.output_path, &merged, &context)?, next))
            }
            StateKind::Choice { choices, default } => {
                let effective = select(&state.input_path, &raw, &context)?;
                let mut chosen = None;
                for rule in choices {
                    if rule.condition.eval(&effective, &context)? {
                        chosen = Some(rule.next.as_str());
                        break;
                    }
                }
                let next = chosen.or(default.as_deref()).ok_or_else(|| {
                    TaskFailure::new(
                        names::NO_CHOICE_MATCHED,
                        format!(
                            "no Choice rule of state \"{}\" matched, and it has no Default",
                            state.name
                        ),
                    )
                })?;
                self.record(
                    scope,
                    Event::ChoiceMade {
                        state: state.name.clone(),
                        next: next.to_owned(),
                    },
                );
                Ok((
                    select(&state.output_path, &effective, &context)?,
                    Some(next),
                ))
            }
            StateKind::Wait(wait) => {
                let effective = select(&state.input_path, &raw, &context)?;
                let seconds = wait_seconds(wait, &effective, &context)?;
                self.record(
                    scope,
                    Event::WaitStarted {
                        state: state.name.clone(),
                        seconds,
                    },
                );
                self.sleep(seconds).await;
                Ok((select(&state.output_path, &effective, &context)?, next))
            }
            StateKind::Succeed => {
                let effective = select(&state.input_path, &raw, &context)?;
                Ok((select(&state.output_path, &effective, &context)?, None))
            }
            StateKind::Fail { error, cause } => {
                let error = fail_text(error.as_ref(), "ErrorPath", &raw, &context)?;
                let cause = fail_text(cause.as_ref(), "CausePath", &raw, &context)?;
                Err(TaskFailure::new(error, cause))
            }
        }
    }

    /// One attempt of a Task: InputPath → Parameters → the task → ResultSelector → ResultPath →
    /// OutputPath.
    // One attempt needs the state, its task fields, the raw input, its context and scope.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn task_attempt(
        &self,
        state: &State,
        resource: &str,
        parameters: Option<&Template>,
        outcome: &Outcome,
        raw: &Value,
        context: &Value,
        attempt: u64,
        scope: &Scope,
    ) -> Result<Value, TaskFailure> {
        let effective = select(&state.input_path, raw, context)?;
        let input = match parameters {
            Some(parameters) => parameters.eval(&effective, context)?,
            None => effective,
        };
        self.record(
            scope,
            Event::TaskScheduled {
                state: state.name.clone(),
                resource: resource.to_owned(),
                input: input.clone(),
                attempt,
            },
        );
        let result = match self.runner.tasks.invoke(resource, input).await {
            Ok(result) => result,
            Err(failure) => {
                self.record(
                    scope,
                    Event::TaskFailed {
                        state: state.name.clone(),
                        resource: resource.to_owned(),
                        error: failure.error.clone(),
                        cause: failure.cause.clone(),
                        attempt,
                    },
                );
                return Err(failure);
            }
        };
        self.record(
            scope,
            Event::TaskSucceeded {
                state: state.name.clone(),
                resource: resource.to_owned(),
                output: result.clone(),
                attempt,
            },
        );
        finish_result(state, outcome, raw.clone(), result, context)
    }
}

fn wait_seconds(wait: &WaitFor, input: &Value, context: &Value) -> Result<f64, TaskFailure> {
    let until = |text: &str| -> Result<f64, TaskFailure> {
        let at = crate::choice::timestamp(text)
            .ok_or_else(|| runtime(format!("{text:?} is not an RFC 3339 timestamp")))?;
        let millis = (at.with_timezone(&Utc) - Utc::now()).num_milliseconds();
        Ok((millis.max(0) as f64) / 1000.0)
    };
    match wait {
        WaitFor::Seconds(seconds) => Ok(*seconds as f64),
        WaitFor::SecondsPath(path) => {
            let value = path.read(input, context)?;
            value.as_u64().map(|s| s as f64).ok_or_else(|| {
                runtime(format!(
                    "SecondsPath '{}' must select a non-negative integer, not {value}",
                    path.text()
                ))
            })
        }
        WaitFor::Timestamp(text) => until(text),
        WaitFor::TimestampPath(path) => {
            let value = path.read(input, context)?;
            let text = value.as_str().ok_or_else(|| {
                runtime(format!(
                    "TimestampPath '{}' must select a string, not {value}",
                    path.text()
                ))
            })?;
            until(text)
        }
    }
}

/// A Fail state's Error or Cause; empty when the state has neither field.
fn fail_text(
    text: Option<&Text>,
    field: &str,
    input: &Value,
    context: &Value,
) -> Result<String, TaskFailure> {
    let value = match text {
        None => return Ok(String::new()),
        Some(Text::Literal(text)) => return Ok(text.clone()),
        Some(Text::Path(path)) => path.read(input, context)?,
        Some(Text::Call(call)) => call.eval(input, context)?,
    };
    match value {
        Value::String(text) => Ok(text),
        other => Err(runtime(format!(
            "{field} must select a string, not {other}"
        ))),
    }
}
