//! A local runner for the subset of the Amazon States Language that Snapex's state machine
//! (`statemachine/export.asl.json`) uses, so the end-to-end tests execute the real definition
//! against the real functions, with no AWS (the tests' [`Tasks`] run each function's bootstrap
//! behind a local Lambda, `snapex_tests::lambda`).
//!
//! # Use
//!
//! ```no_run
//! use std::collections::BTreeMap;
//! use std::sync::Arc;
//! use serde_json::{json, Value};
//! use snapex_asl::{Definition, NoItems, RunOptions, Runner, Status, TaskFailure, TaskFn};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let substitutions = BTreeMap::from([("Fn".to_owned(), "hello".to_owned())]);
//! let definition = Definition::parse(
//!     r#"{"StartAt": "Hi", "States": {"Hi": {"Type": "Task", "Resource": "${Fn}", "End": true}}}"#,
//!     &substitutions,
//! )?;
//! let tasks = TaskFn(|resource: String, input: Value| async move {
//!     match resource.as_str() {
//!         "hello" => Ok(json!({"hello": input})),
//!         _ => Err(TaskFailure::new("Unknown", resource)),
//!     }
//! });
//! let options = RunOptions { delay_scale: 0.0, ..RunOptions::default() };
//! let runner = Runner::new(definition, Arc::new(tasks), Arc::new(NoItems), options);
//! let execution = runner.run(json!({"who": "me"})).await;
//! assert_eq!(execution.status, Status::Succeeded { output: json!({"hello": {"who": "me"}}) });
//! # Ok(()) }
//! ```
//!
//! - [`Definition::parse`] binds `${Name}` substitutions in string values (an unbound one is an
//!   error naming it), then parses and validates: StartAt and every Next, Default and Catch
//!   target exist, every state is reachable, Next/End are exclusive, Retry and Catch are well
//!   formed (`States.ALL` alone and last), paths parse, ResultPath is a reference path.
//! - [`Runner::run`] executes it: a Task calls [`Tasks::invoke`] with its `Resource` and its
//!   effective input; a Distributed Map's `ItemReader` reads through [`ItemReader::read`]. The
//!   result is an [`Execution`]: its [`Status`] and its [`HistoryEvent`]s.
//!
//! # Supported
//!
//! - States: `Task` (a Lambda function ARN or name; `arn:aws:states:` service integrations are
//!   refused), `Pass` (`Result`, `Parameters`), `Choice` (`Choices`, `Default`), `Wait`
//!   (`Seconds`, `SecondsPath`, `Timestamp`, `TimestampPath`), `Succeed`, `Fail` (`Error`,
//!   `Cause`, `ErrorPath`, `CausePath`, the last two also as intrinsic functions), `Map`.
//! - Input and output, in Step Functions' order: InputPath → Parameters → task → ResultSelector
//!   → ResultPath → OutputPath; `null` InputPath/OutputPath give `{}`, `null` ResultPath keeps the
//!   input. Reading paths are RFC 9535 JSONPath (`serde_json_path`), also accepting dotted names
//!   like `$.error-info`; a definite path that selects nothing is `States.Runtime`, an indefinite
//!   one (wildcard, slice, filter...) yields an array. ResultPath writes into the input,
//!   creating objects along the way (`States.ResultPathMatchFailure` when it cannot).
//! - The context object `$$`: `Execution` (`Id`, `Name`, `Input`, `StartTime`, `RoleArn`),
//!   `StateMachine` (`Id`, `Name`), `State` (`Name`, `EnteredTime`, `RetryCount`), and
//!   `Map.Item` (`Index`, `Value`) in a Map's ItemSelector.
//! - Intrinsic functions: `States.Format`, `StringToJson`, `JsonToString`, `Array`,
//!   `ArrayLength`, `ArrayGetItem`, `ArrayContains`, `ArrayRange`, `ArrayPartition`,
//!   `ArrayUnique`, `MathAdd`, `MathRandom`, `StringSplit`, `JsonMerge`, `UUID`.
//! - Choice operators: `String`, `Numeric`, `Boolean` and `Timestamp` × `Equals`, `LessThan`,
//!   `GreaterThan`, `LessThanEquals`, `GreaterThanEquals`, each also as `...Path`;
//!   `StringMatches`; `IsNull`, `IsPresent`, `IsNumeric`, `IsString`, `IsBoolean`,
//!   `IsTimestamp`; `And`, `Or`, `Not`. No match and no Default: `States.NoChoiceMatched`.
//! - Retry (`ErrorEquals`, `IntervalSeconds` 1, `MaxAttempts` 3, `BackoffRate` 2.0,
//!   `MaxDelaySeconds`, `JitterStrategy` FULL/NONE) and Catch (`ErrorEquals`, `Next`,
//!   `ResultPath`) on Task and Map. `States.ALL` matches everything and `States.TaskFailed`
//!   everything but `States.Timeout`; `States.Runtime` is never retried nor caught.
//! - Map: inline (`ItemsPath`, `ItemSelector` or the older `Parameters`, `ItemProcessor` or the
//!   older `Iterator`, `MaxConcurrency`; the first failed iteration fails the Map with its
//!   error) and distributed (`ProcessorConfig` `Mode: DISTRIBUTED`, `ExecutionType`;
//!   `ItemReader` with `arn:aws:states:::s3:getObject`, `ReaderConfig` `InputType` JSON or
//!   JSONL and `MaxItems(Path)`; `MaxConcurrency(Path)`; `ToleratedFailureCount(Path)` and
//!   `ToleratedFailurePercentage(Path)`: past them the Map fails with
//!   `States.ExceedToleratedFailureThreshold`, and a tolerated failure's result is its
//!   `{"Error", "Cause"}`). Iterations run concurrently up to MaxConcurrency (0: no limit) on
//!   the caller's task; each distributed child has its own `$$.Execution`.
//! - Delays are computed as AWS does and recorded in the history; they are slept for
//!   `delay * RunOptions::delay_scale` (0 in tests).
//!
//! # Refused
//!
//! Anything else, by name, when the definition is parsed: other state types (`Parallel`),
//! other fields (`TimeoutSeconds`, `HeartbeatSeconds`, `Credentials`, `Assign`, `Output`,
//! `Arguments`, `ItemBatcher`, `ResultWriter`, `Label`, ...), other intrinsic functions
//! (`States.Hash`, `States.Base64Encode`, ...), other values (`QueryLanguage: JSONata`, CSV
//! item input, other ItemReader resources).

mod choice;
mod definition;
mod error;
mod fields;
mod history;
mod input_output;
mod intrinsics;
mod map;
mod paths;
mod retry;
mod runner;
mod substitute;
mod tasks;
mod template;

pub use definition::Definition;
pub use error::{DefinitionError, names};
pub use history::{Event, HistoryEvent};
pub use runner::{Execution, RunOptions, Runner, Status};
pub use tasks::{ItemReader, NoItems, TaskFailure, TaskFn, Tasks};
