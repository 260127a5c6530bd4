//! Running a Map state: its items (from the input or an ItemReader), each through the
//! ItemSelector, the iterations up to MaxConcurrency, and the failures an inline Map stops at or
//! a distributed one tolerates.

use futures::StreamExt;
use serde_json::{Value, json};

use super::{Amount, InputType, ItemReaderSpec, MapState, Mode};
use crate::definition::State;
use crate::error::{names, runtime};
use crate::history::Event;
use crate::input_output::{finish_result, select};
use crate::runner::{Engine, Scope, execution_context};
use crate::tasks::TaskFailure;

/// Resolves an `Amount` against the Map's effective input: a non-negative number.
fn resolve(
    amount: &Amount,
    name: &str,
    input: &Value,
    context: &Value,
) -> Result<f64, TaskFailure> {
    match amount {
        Amount::Fixed(n) => Ok(*n),
        Amount::Path(path) => {
            let value = path.read(input, context)?;
            value.as_f64().filter(|n| *n >= 0.0).ok_or_else(|| {
                runtime(format!(
                    "{name}Path '{}' must select a non-negative number, not {value}",
                    path.text()
                ))
            })
        }
    }
}

impl Engine<'_> {
    /// One attempt of a Map state: its output after ResultSelector, ResultPath and OutputPath.
    pub(crate) async fn run_map(
        &self,
        state: &State,
        map: &MapState,
        raw: &Value,
        context: &Value,
        scope: &Scope,
    ) -> Result<Value, TaskFailure> {
        match self.run_iterations(state, map, raw, context, scope).await {
            Ok(results) => {
                self.record(
                    scope,
                    Event::MapSucceeded {
                        state: state.name.clone(),
                    },
                );
                finish_result(state, &map.outcome, raw.clone(), results, context)
            }
            Err(failure) => {
                self.record(
                    scope,
                    Event::MapFailed {
                        state: state.name.clone(),
                        error: failure.error.clone(),
                        cause: failure.cause.clone(),
                    },
                );
                Err(failure)
            }
        }
    }

    /// The items' results, in item order.
    async fn run_iterations(
        &self,
        state: &State,
        map: &MapState,
        raw: &Value,
        context: &Value,
        scope: &Scope,
    ) -> Result<Value, TaskFailure> {
        let effective = select(&state.input_path, raw, context)?;
        let items = match &map.reader {
            Some(reader) => self.read_items(reader, &effective, context).await?,
            None => {
                let items = match &map.items_path {
                    Some(path) => path.read(&effective, context)?,
                    None => effective.clone(),
                };
                match items {
                    Value::Array(items) => items,
                    other => {
                        return Err(runtime(format!(
                            "the Map's items must be an array, not {}",
                            brief(&other)
                        )));
                    }
                }
            }
        };
        // ItemSelector sees the Map's effective input as `$` and the item as
        // `$$.Map.Item.Value`; a failure there fails the Map, not one iteration.
        let mut inputs = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            inputs.push(match &map.item_selector {
                None => item,
                Some(selector) => {
                    let mut item_context = context.clone();
                    item_context["Map"] = json!({ "Item": { "Index": index, "Value": item } });
                    selector.eval(&effective, &item_context)?
                }
            });
        }
        let total = inputs.len();
        let max_concurrency = match &map.max_concurrency {
            Some(amount) => resolve(amount, "MaxConcurrency", &effective, context)? as usize,
            None => 0,
        };
        let tolerated_count = match &map.tolerated_count {
            Some(amount) => Some(resolve(
                amount,
                "ToleratedFailureCount",
                &effective,
                context,
            )?),
            None => None,
        };
        let tolerated_percentage = match &map.tolerated_percentage {
            Some(amount) => Some(resolve(
                amount,
                "ToleratedFailurePercentage",
                &effective,
                context,
            )?),
            None => None,
        };
        self.record(
            scope,
            Event::MapStarted {
                state: state.name.clone(),
                items: total,
                max_concurrency,
            },
        );
        // MaxConcurrency 0 means no limit.
        let limit = if max_concurrency == 0 {
            total.max(1)
        } else {
            max_concurrency.min(total.max(1))
        };
        let machine_name = &self.runner.options.state_machine_name;
        let parent_name = scope.execution["Name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let iterations = inputs.into_iter().enumerate().map(|(index, input)| {
            let execution = (map.mode == Mode::Distributed).then(|| {
                execution_context(
                    &format!("{machine_name}/{}", state.name),
                    &format!("{parent_name}:{index}"),
                    &input,
                )
            });
            let child = scope.child(&state.name, index, execution);
            async move {
                self.record(
                    scope,
                    Event::MapIterationStarted {
                        state: state.name.clone(),
                        index,
                    },
                );
                let result = self.run_machine(&map.processor, input, child).await;
                (index, result)
            }
        });
        let mut running = futures::stream::iter(iterations).buffer_unordered(limit);
        let mut results = vec![Value::Null; total];
        let mut failed = 0usize;
        while let Some((index, result)) = running.next().await {
            match result {
                Ok(output) => {
                    self.record(
                        scope,
                        Event::MapIterationSucceeded {
                            state: state.name.clone(),
                            index,
                            output: output.clone(),
                        },
                    );
                    results[index] = output;
                }
                Err(failure) => {
                    self.record(
                        scope,
                        Event::MapIterationFailed {
                            state: state.name.clone(),
                            index,
                            error: failure.error.clone(),
                            cause: failure.cause.clone(),
                        },
                    );
                    // Returning drops the stream, which cancels the iterations still running.
                    if map.mode == Mode::Inline {
                        return Err(failure);
                    }
                    failed += 1;
                    let over_count = failed as f64 > tolerated_count.unwrap_or(0.0)
                        && (tolerated_count.is_some() || tolerated_percentage.is_none());
                    let over_percentage = tolerated_percentage
                        .is_some_and(|p| failed as f64 * 100.0 / total as f64 > p);
                    if over_count || over_percentage {
                        return Err(TaskFailure::new(
                            names::EXCEED_TOLERATED_FAILURE_THRESHOLD,
                            "The specified tolerated failure threshold was exceeded",
                        ));
                    }
                    // A tolerated failure leaves its error output in the results.
                    results[index] = failure.to_error_output();
                }
            }
        }
        Ok(Value::Array(results))
    }

    async fn read_items(
        &self,
        reader: &ItemReaderSpec,
        input: &Value,
        context: &Value,
    ) -> Result<Vec<Value>, TaskFailure> {
        let parameters = reader.parameters.eval(input, context)?;
        let field = |name: &str| {
            parameters[name].as_str().map(str::to_owned).ok_or_else(|| {
                runtime(format!(
                    "the ItemReader's \"{name}\" must be a string, not {}",
                    parameters[name]
                ))
            })
        };
        let (bucket, key) = (field("Bucket")?, field("Key")?);
        let failed = |why: String| {
            TaskFailure::new(
                names::ITEM_READER_FAILED,
                format!("s3://{bucket}/{key}: {why}"),
            )
        };
        let bytes = self
            .runner
            .items
            .read(&bucket, &key)
            .await
            .map_err(|f| failed(format!("{}: {}", f.error, f.cause)))?;
        let text = String::from_utf8(bytes).map_err(|_| failed("not UTF-8".into()))?;
        let mut items = match reader.input_type {
            InputType::Json => match serde_json::from_str(&text) {
                Ok(Value::Array(items)) => items,
                Ok(other) => {
                    return Err(failed(format!(
                        "expected a JSON array, not {}",
                        brief(&other)
                    )));
                }
                Err(e) => return Err(failed(format!("not JSON: {e}"))),
            },
            InputType::JsonLines => text
                .lines()
                .enumerate()
                .filter(|(_, line)| !line.trim().is_empty())
                .map(|(n, line)| {
                    serde_json::from_str(line)
                        .map_err(|e| failed(format!("line {} is not JSON: {e}", n + 1)))
                })
                .collect::<Result<Vec<Value>, TaskFailure>>()?,
        };
        if let Some(max) = &reader.max_items {
            let max = resolve(max, "MaxItems", input, context)? as usize;
            // MaxItems 0 means every item.
            if max > 0 {
                items.truncate(max);
            }
        }
        Ok(items)
    }
}

/// A value's type, for error messages that should not echo a whole payload.
fn brief(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
