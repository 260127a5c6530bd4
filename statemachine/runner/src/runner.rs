//! Executing a definition: state by state, with input/output processing in the order Step
//! Functions applies it, Retry and Catch, and a history of what happened.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::definition::{
    Definition, Outcome, ResultTarget, Select, State, StateKind, StateMachine, Text, WaitFor,
};
use crate::error::{names, runtime};
use crate::history::{Event, HistoryEvent};
use crate::intrinsics::uuid_v4;
use crate::retry;
use crate::tasks::{ItemReader, TaskFailure, Tasks};
use crate::template::Template;

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Multiplies every delay actually slept (Wait states, retry intervals): 1.0 sleeps for
    /// real, 0.0 never sleeps. The history records the unscaled delays either way.
    pub delay_scale: f64,
    /// `$$.Execution.Name`; a random UUID when `None`.
    pub execution_name: Option<String>,
    /// `$$.StateMachine.Name`.
    pub state_machine_name: String,
    /// Seeds the jitter of retry delays, for reproducible histories.
    pub jitter_seed: Option<u64>,
    /// A state machine (the definition, or one Map iteration) that enters more states than
    /// this fails with `States.Runtime`: a loop such as "wait, check, not ready, wait" with a
    /// fake that never becomes ready ends instead of spinning (Step Functions' own limit is
    /// 25,000 history events).
    pub max_state_transitions: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            delay_scale: 1.0,
            execution_name: None,
            state_machine_name: "StateMachine".to_owned(),
            jitter_seed: None,
            max_state_transitions: 25_000,
        }
    }
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Succeeded { output: Value },
    Failed { error: String, cause: String },
}

/// The end of a run and everything that happened on the way.
#[derive(Debug, Clone)]
pub struct Execution {
    pub status: Status,
    pub history: Vec<HistoryEvent>,
}

impl Execution {
    /// The output when the execution succeeded.
    pub fn output(&self) -> Option<&Value> {
        match &self.status {
            Status::Succeeded { output } => Some(output),
            Status::Failed { .. } => None,
        }
    }

    /// The error name and cause when the execution failed.
    pub fn failure(&self) -> Option<(&str, &str)> {
        match &self.status {
            Status::Failed { error, cause } => Some((error, cause)),
            Status::Succeeded { .. } => None,
        }
    }

    /// The events of one scope (`""` for the top level), in order.
    pub fn events_in<'a>(&'a self, scope: &'a str) -> impl Iterator<Item = &'a Event> + 'a {
        self.history
            .iter()
            .filter(move |e| e.scope == scope)
            .map(|e| &e.event)
    }

    /// The names of the top-level states entered, in order.
    pub fn states_entered(&self) -> Vec<&str> {
        self.events_in("")
            .filter_map(|e| match e {
                Event::StateEntered { state, .. } => Some(state.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// Runs a definition against the caller's task handlers ([`Tasks`]).
pub struct Runner {
    definition: Definition,
    pub(crate) tasks: Arc<dyn Tasks>,
    pub(crate) items: Arc<dyn ItemReader>,
    pub(crate) options: RunOptions,
}

impl Runner {
    pub fn new(
        definition: Definition,
        tasks: Arc<dyn Tasks>,
        items: Arc<dyn ItemReader>,
        options: RunOptions,
    ) -> Runner {
        Runner {
            definition,
            tasks,
            items,
            options,
        }
    }

    /// Runs one execution with `input` to its end. Needs a tokio runtime with its timer
    /// enabled when `delay_scale` is not 0.
    pub async fn run(&self, input: Value) -> Execution {
        let name = self.options.execution_name.clone().unwrap_or_else(uuid_v4);
        let machine_name = &self.options.state_machine_name;
        let engine = Engine {
            runner: self,
            history: Mutex::new(Vec::new()),
            rng: Mutex::new(match self.options.jitter_seed {
                Some(seed) => fastrand::Rng::with_seed(seed),
                None => fastrand::Rng::new(),
            }),
            state_machine: json!({
                "Id": format!("arn:aws:states:local:000000000000:stateMachine:{machine_name}"),
                "Name": machine_name,
            }),
        };
        let scope = Scope {
            label: String::new(),
            execution: Arc::new(execution_context(machine_name, &name, &input)),
        };
        engine.record(
            &scope,
            Event::ExecutionStarted {
                input: input.clone(),
            },
        );
        let status = match engine
            .run_machine(&self.definition.machine, input, scope.clone())
            .await
        {
            Ok(output) => {
                engine.record(
                    &scope,
                    Event::ExecutionSucceeded {
                        output: output.clone(),
                    },
                );
                Status::Succeeded { output }
            }
            Err(failure) => {
                engine.record(
                    &scope,
                    Event::ExecutionFailed {
                        error: failure.error.clone(),
                        cause: failure.cause.clone(),
                    },
                );
                Status::Failed {
                    error: failure.error,
                    cause: failure.cause,
                }
            }
        };
        let history = engine
            .history
            .into_inner()
            .unwrap_or_else(|p| p.into_inner());
        Execution { status, history }
    }
}

pub(crate) fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `$$.Execution` of an execution (or of a Distributed Map's child execution).
pub(crate) fn execution_context(machine_name: &str, name: &str, input: &Value) -> Value {
    json!({
        "Id": format!("arn:aws:states:local:000000000000:execution:{machine_name}:{name}"),
        "Name": name,
        "Input": input,
        "StartTime": now(),
        "RoleArn": "arn:aws:iam::000000000000:role/local",
    })
}

/// Where states run: the history label of their events and their `$$.Execution`.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    pub(crate) label: String,
    pub(crate) execution: Arc<Value>,
}

impl Scope {
    pub(crate) fn child(&self, state: &str, index: usize, execution: Option<Value>) -> Scope {
        let label = if self.label.is_empty() {
            format!("{state}[{index}]")
        } else {
            format!("{}/{state}[{index}]", self.label)
        };
        Scope {
            label,
            execution: execution.map_or_else(|| self.execution.clone(), Arc::new),
        }
    }
}

/// One execution's mutable state.
pub(crate) struct Engine<'r> {
    pub(crate) runner: &'r Runner,
    history: Mutex<Vec<HistoryEvent>>,
    rng: Mutex<fastrand::Rng>,
    state_machine: Value,
}

impl Engine<'_> {
    pub(crate) fn record(&self, scope: &Scope, event: Event) {
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        history.push(HistoryEvent {
            scope: scope.label.clone(),
            event,
        });
    }

    /// The context object (`$$`) while `state` runs.
    pub(crate) fn context(&self, scope: &Scope, state: &str, entered: &str, retries: u64) -> Value {
        json!({
            "Execution": *scope.execution,
            "StateMachine": self.state_machine,
            "State": { "Name": state, "EnteredTime": entered, "RetryCount": retries },
        })
    }

    pub(crate) async fn sleep(&self, seconds: f64) {
        let scaled = seconds * self.runner.options.delay_scale;
        if scaled > 0.0
            && let Ok(duration) = Duration::try_from_secs_f64(scaled)
        {
            tokio::time::sleep(duration).await;
        }
    }

    /// Runs a state machine from its StartAt to a terminal state; its output, or the error
    /// that ended it. Boxed because a Map state runs state machines inside this one.
    pub(crate) fn run_machine<'a>(
        &'a self,
        machine: &'a StateMachine,
        input: Value,
        scope: Scope,
    ) -> BoxFuture<'a, Result<Value, TaskFailure>> {
        Box::pin(async move {
            let mut current = machine.start_at.as_str();
            let mut input = input;
            let mut entered_count = 0usize;
            loop {
                entered_count += 1;
                if entered_count > self.runner.options.max_state_transitions {
                    return Err(runtime(format!(
                        "more than {} state transitions",
                        self.runner.options.max_state_transitions
                    )));
                }
                let state = &machine.states[current];
                self.record(
                    &scope,
                    Event::StateEntered {
                        state: state.name.clone(),
                        input: input.clone(),
                    },
                );
                match self.run_state(state, input, &scope).await {
                    Ok((output, next)) => {
                        self.record(
                            &scope,
                            Event::StateExited {
                                state: state.name.clone(),
                                output: output.clone(),
                            },
                        );
                        match next {
                            Some(next) => {
                                current = next;
                                input = output;
                            }
                            None => return Ok(output),
                        }
                    }
                    Err(failure) => {
                        self.record(
                            &scope,
                            Event::StateFailed {
                                state: state.name.clone(),
                                error: failure.error.clone(),
                                cause: failure.cause.clone(),
                            },
                        );
                        return Err(failure);
                    }
                }
            }
        })
    }

    /// Runs one state on its raw input: its output and the next state (`None` at the end).
    async fn run_state<'a>(
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

    /// Runs a Task or Map state with its Retry and Catch fields. Retriers are scanned in
    /// order and the first whose ErrorEquals matches decides: it retries while its own count is
    /// below its MaxAttempts, else the error goes to the catchers (a later retrier matching the
    /// same error is not consulted).
    async fn run_with_recovery<'a>(
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

    /// One attempt of a Task: InputPath → Parameters → the task → ResultSelector → ResultPath →
    /// OutputPath.
    // One attempt needs the state, its task fields, the raw input, its context and scope.
    #[allow(clippy::too_many_arguments)]
    async fn task_attempt(
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

/// ResultSelector → ResultPath → OutputPath, for a Task's or a Map's result.
pub(crate) fn finish_result(
    state: &State,
    outcome: &Outcome,
    raw: Value,
    result: Value,
    context: &Value,
) -> Result<Value, TaskFailure> {
    let result = match &outcome.result_selector {
        Some(selector) => selector.eval(&result, context)?,
        None => result,
    };
    let merged = apply_result(&outcome.result_path, raw, result)?;
    select(&state.output_path, &merged, context)
}

/// InputPath or OutputPath.
pub(crate) fn select(
    select: &Select,
    value: &Value,
    context: &Value,
) -> Result<Value, TaskFailure> {
    match select {
        Select::All => Ok(value.clone()),
        Select::Nothing => Ok(json!({})),
        Select::Path(path) => path.read(value, context),
    }
}

/// ResultPath: the result replaces the raw input, is dropped, or is written into it.
pub(crate) fn apply_result(
    target: &ResultTarget,
    raw: Value,
    result: Value,
) -> Result<Value, TaskFailure> {
    match target {
        ResultTarget::Replace => Ok(result),
        ResultTarget::Discard => Ok(raw),
        ResultTarget::At(path) => path
            .set(raw, result)
            .map_err(|why| TaskFailure::new(names::RESULT_PATH_MATCH_FAILURE, why)),
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
