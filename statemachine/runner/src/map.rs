//! Map states: inline (items from the input, iterations in this execution, the first failure
//! fails the Map) and distributed (items from an ItemReader or the input, one child execution
//! per item, failures counted against ToleratedFailureCount/Percentage).

use futures::StreamExt;
use serde_json::{Value, json};

use crate::definition::{self, Outcome, State, StateMachine, parse_machine};
use crate::error::{DefinitionError, names, runtime};
use crate::fields::Fields;
use crate::history::Event;
use crate::paths::ReadPath;
use crate::runner::{Engine, Scope, execution_context, finish_result, select};
use crate::tasks::TaskFailure;
use crate::template::Template;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Inline,
    Distributed,
}

/// A number given in the definition or read from the input at run time (`...Path`).
#[derive(Debug, Clone)]
pub(crate) enum Amount {
    Fixed(f64),
    Path(ReadPath),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InputType {
    Json,
    JsonLines,
}

/// `ItemReader` with `arn:aws:states:::s3:getObject`.
#[derive(Debug, Clone)]
pub(crate) struct ItemReaderSpec {
    input_type: InputType,
    max_items: Option<Amount>,
    parameters: Template,
}

#[derive(Debug, Clone)]
pub(crate) struct MapState {
    mode: Mode,
    processor: StateMachine,
    items_path: Option<ReadPath>,
    item_selector: Option<Template>,
    reader: Option<ItemReaderSpec>,
    max_concurrency: Option<Amount>,
    tolerated_count: Option<Amount>,
    tolerated_percentage: Option<Amount>,
    pub(crate) outcome: Outcome,
}

/// Reads `X` or `XPath` (not both) as an `Amount`.
fn amount(fields: &mut Fields<'_>, name: &str) -> Result<Option<Amount>, DefinitionError> {
    let path_name = format!("{name}Path");
    let fixed = fields.number(name)?;
    let path = fields.read_path(&path_name)?;
    match (fixed, path) {
        (Some(_), Some(_)) => {
            Err(fields.invalid(format!("\"{name}\" and \"{path_name}\" cannot both be set")))
        }
        (Some(n), None) if n < 0.0 => Err(fields.invalid(format!("\"{name}\" is negative"))),
        (Some(n), None) => Ok(Some(Amount::Fixed(n))),
        (None, Some(p)) => Ok(Some(Amount::Path(p))),
        (None, None) => Ok(None),
    }
}

pub(crate) fn parse_map(
    fields: &mut Fields<'_>,
    location: &str,
) -> Result<MapState, DefinitionError> {
    let inner_scope = format!("in the ItemProcessor of {location}");
    // `Iterator` and a Map's `Parameters` are the older names of ItemProcessor and ItemSelector.
    let (processor_field, processor_value) =
        match (fields.get("ItemProcessor"), fields.get("Iterator")) {
            (Some(_), Some(_)) => {
                return Err(fields.invalid("\"ItemProcessor\" and \"Iterator\" cannot both be set"));
            }
            (Some(v), None) => ("ItemProcessor", v),
            (None, Some(v)) => ("Iterator", v),
            (None, None) => {
                return Err(DefinitionError::MissingField {
                    field: "ItemProcessor".into(),
                    location: location.to_owned(),
                });
            }
        };
    let mut processor_fields = Fields::new(
        processor_value,
        format!("the {processor_field} of {location}"),
    )?;
    let mode = match processor_fields.get("ProcessorConfig") {
        None => Mode::Inline,
        Some(config) => {
            let mut config = Fields::new(config, format!("the ProcessorConfig of {location}"))?;
            let mode = match config.string("Mode")?.as_deref() {
                None | Some("INLINE") => Mode::Inline,
                Some("DISTRIBUTED") => Mode::Distributed,
                Some(other) => {
                    return Err(DefinitionError::UnsupportedValue {
                        field: "Mode".into(),
                        value: format!("{other:?}"),
                        location: config.location().to_owned(),
                    });
                }
            };
            // Both execution types run the same way here: the child's states, in-process.
            match (mode, config.string("ExecutionType")?.as_deref()) {
                (Mode::Inline, None)
                | (Mode::Distributed, None | Some("STANDARD") | Some("EXPRESS")) => {}
                (_, Some(other)) => {
                    return Err(DefinitionError::UnsupportedValue {
                        field: "ExecutionType".into(),
                        value: format!("{other:?}"),
                        location: config.location().to_owned(),
                    });
                }
            }
            config.finish()?;
            mode
        }
    };
    let processor = parse_machine(&mut processor_fields, &inner_scope)?;
    processor_fields.finish()?;

    let item_selector = match (fields.has("ItemSelector"), fields.has("Parameters")) {
        (true, true) => {
            return Err(fields.invalid("\"ItemSelector\" and \"Parameters\" cannot both be set"));
        }
        (true, false) => fields.template("ItemSelector")?,
        (false, _) => fields.template("Parameters")?,
    };
    let items_path = fields.read_path("ItemsPath")?;
    let reader = match fields.get("ItemReader") {
        None => None,
        Some(value) => Some(parse_reader(value, location)?),
    };
    let max_concurrency = amount(fields, "MaxConcurrency")?;
    let tolerated_count = amount(fields, "ToleratedFailureCount")?;
    let tolerated_percentage = amount(fields, "ToleratedFailurePercentage")?;
    if let Some(Amount::Fixed(p)) = tolerated_percentage
        && p > 100.0
    {
        return Err(fields.invalid("\"ToleratedFailurePercentage\" must be between 0 and 100"));
    }
    if mode == Mode::Inline {
        for (given, name) in [
            (reader.is_some(), "ItemReader"),
            (tolerated_count.is_some(), "ToleratedFailureCount"),
            (tolerated_percentage.is_some(), "ToleratedFailurePercentage"),
        ] {
            if given {
                return Err(
                    fields.invalid(format!("\"{name}\" needs ProcessorConfig Mode DISTRIBUTED"))
                );
            }
        }
    }
    if reader.is_some() && items_path.is_some() {
        return Err(fields.invalid("\"ItemsPath\" cannot be used with \"ItemReader\""));
    }
    let outcome = definition::parse_outcome(fields, location)?;
    Ok(MapState {
        mode,
        processor,
        items_path,
        item_selector,
        reader,
        max_concurrency,
        tolerated_count,
        tolerated_percentage,
        outcome,
    })
}

fn parse_reader(value: &Value, location: &str) -> Result<ItemReaderSpec, DefinitionError> {
    let mut fields = Fields::new(value, format!("the ItemReader of {location}"))?;
    let resource = fields.required_string("Resource")?;
    if resource != "arn:aws:states:::s3:getObject" {
        return Err(DefinitionError::UnsupportedValue {
            field: "Resource".into(),
            value: format!("{resource:?}"),
            location: fields.location().to_owned(),
        });
    }
    let config_value = fields.require("ReaderConfig")?;
    let mut config = Fields::new(config_value, format!("the ReaderConfig of {location}"))?;
    let input_type = match config.required_string("InputType")?.as_str() {
        "JSON" => InputType::Json,
        "JSONL" => InputType::JsonLines,
        other => {
            return Err(DefinitionError::UnsupportedValue {
                field: "InputType".into(),
                value: format!("{other:?}"),
                location: config.location().to_owned(),
            });
        }
    };
    let max_items = amount(&mut config, "MaxItems")?;
    config.finish()?;
    let parameters =
        fields
            .template("Parameters")?
            .ok_or_else(|| DefinitionError::MissingField {
                field: "Parameters".into(),
                location: format!("the ItemReader of {location}"),
            })?;
    fields.finish()?;
    Ok(ItemReaderSpec {
        input_type,
        max_items,
        parameters,
    })
}

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
