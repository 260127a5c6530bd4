//! Executing a definition: the public run API ([`Runner`], its options and the [`Execution`] it
//! returns) and the loop that takes a state machine from state to state, recording a history of
//! what happened. Each state's execution is in [`states`], Retry and Catch in [`recovery`].

mod recovery;
mod states;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::definition::{Definition, StateMachine};
use crate::error::runtime;
use crate::history::{Event, HistoryEvent};
use crate::intrinsics::evaluation::uuid_v4;
use crate::tasks::{ItemReader, TaskFailure, Tasks};

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
}
