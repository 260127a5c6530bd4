//! The parsed, validated definition: states, transitions, and the input/output processing
//! fields of each state.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use crate::choice::{self, ChoiceRule};
use crate::error::DefinitionError;
use crate::fields::Fields;
use crate::intrinsics::{self, Call, IntrinsicError};
use crate::map::{self, MapState};
use crate::paths::{ReadPath, ReferencePath};
use crate::retry::{self, Catcher, Retrier};
use crate::substitute::substitute;
use crate::template::Template;

/// A state machine definition that `Runner` can execute.
#[derive(Debug, Clone)]
pub struct Definition {
    pub(crate) machine: StateMachine,
    comment: Option<String>,
}

impl Definition {
    /// Binds `${Name}` substitutions in the definition's string values, then parses and
    /// validates it. Any field, state type, intrinsic function or value the runner does not
    /// implement is refused by name.
    pub fn parse(
        json: &str,
        substitutions: &BTreeMap<String, String>,
    ) -> Result<Definition, DefinitionError> {
        let mut value: Value =
            serde_json::from_str(json).map_err(|e| DefinitionError::Json(e.to_string()))?;
        substitute(&mut value, substitutions)?;
        Definition::from_value(&value)
    }

    /// Parses and validates a definition that has no substitutions left.
    pub fn from_value(value: &Value) -> Result<Definition, DefinitionError> {
        let mut fields = Fields::new(value, "the definition".to_owned())?;
        let comment = fields.string("Comment")?;
        if let Some(version) = fields.string("Version")?
            && version != "1.0"
        {
            return Err(DefinitionError::UnsupportedValue {
                field: "Version".into(),
                value: format!("{version:?}"),
                location: "the definition".into(),
            });
        }
        query_language(&mut fields)?;
        let machine = parse_machine(&mut fields, "")?;
        fields.finish()?;
        Ok(Definition { machine, comment })
    }

    pub fn start_at(&self) -> &str {
        &self.machine.start_at
    }

    /// The top-level states' names, sorted.
    pub fn state_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.machine.states.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }
}

/// `QueryLanguage` may only say what is the default: JSONPath (JSONata is not implemented).
fn query_language(fields: &mut Fields<'_>) -> Result<(), DefinitionError> {
    match fields.string("QueryLanguage")?.as_deref() {
        None | Some("JSONPath") => Ok(()),
        Some(other) => Err(DefinitionError::UnsupportedValue {
            field: "QueryLanguage".into(),
            value: format!("{other:?}"),
            location: fields.location().to_owned(),
        }),
    }
}

/// A set of states with its start: the definition itself, or a Map's ItemProcessor.
#[derive(Debug, Clone)]
pub(crate) struct StateMachine {
    pub(crate) start_at: String,
    pub(crate) states: HashMap<String, State>,
}

/// What InputPath/OutputPath select: everything (`$`, the default), nothing (`null`: `{}`), or
/// what a path selects.
#[derive(Debug, Clone)]
pub(crate) enum Select {
    All,
    Nothing,
    Path(ReadPath),
}

impl Select {
    fn from_field(field: Option<Option<ReadPath>>) -> Select {
        match field {
            None => Select::All,
            Some(None) => Select::Nothing,
            Some(Some(path)) => Select::Path(path),
        }
    }
}

/// Where a result goes: it replaces the input (`$`, the default), it is dropped (`null`: the
/// input goes on), or it is written into the input at a reference path.
#[derive(Debug, Clone)]
pub(crate) enum ResultTarget {
    Replace,
    Discard,
    At(ReferencePath),
}

impl ResultTarget {
    pub(crate) fn from_field(field: Option<Option<ReferencePath>>) -> ResultTarget {
        match field {
            None => ResultTarget::Replace,
            Some(None) => ResultTarget::Discard,
            Some(Some(path)) if path.text() == "$" => ResultTarget::Replace,
            Some(Some(path)) => ResultTarget::At(path),
        }
    }
}

/// A string a Fail state reports: as written, or from a path or an intrinsic function.
#[derive(Debug, Clone)]
pub(crate) enum Text {
    Literal(String),
    Path(ReadPath),
    Call(Call),
}

#[derive(Debug, Clone)]
pub(crate) enum WaitFor {
    Seconds(u64),
    SecondsPath(ReadPath),
    Timestamp(String),
    TimestampPath(ReadPath),
}

/// The fields shared by Task and Map: what they do with their result and their errors.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) result_selector: Option<Template>,
    pub(crate) result_path: ResultTarget,
    pub(crate) retry: Vec<Retrier>,
    pub(crate) catch: Vec<Catcher>,
}

#[derive(Debug, Clone)]
pub(crate) enum StateKind {
    Task {
        resource: String,
        parameters: Option<Template>,
        outcome: Outcome,
    },
    Pass {
        parameters: Option<Template>,
        result: Option<Value>,
        result_path: ResultTarget,
    },
    Choice {
        choices: Vec<ChoiceRule>,
        default: Option<String>,
    },
    Wait(WaitFor),
    Succeed,
    Fail {
        error: Option<Text>,
        cause: Option<Text>,
    },
    Map(Box<MapState>),
}

#[derive(Debug, Clone)]
pub(crate) struct State {
    pub(crate) name: String,
    pub(crate) input_path: Select,
    pub(crate) output_path: Select,
    /// `None` means the state ends its state machine (End, Succeed, Fail); a Choice's
    /// transitions are in its rules.
    pub(crate) next: Option<String>,
    pub(crate) kind: StateKind,
}

/// Parses `StartAt` and `States` from `fields` (the definition or an ItemProcessor), validates
/// the transitions and refuses states that cannot be reached. `scope` is empty at the top level,
/// else says which Map the states belong to, for errors.
pub(crate) fn parse_machine(
    fields: &mut Fields<'_>,
    scope: &str,
) -> Result<StateMachine, DefinitionError> {
    let start_at = fields.required_string("StartAt")?;
    let states_value = fields.require("States")?;
    let Value::Object(states_map) = states_value else {
        return Err(fields.invalid("\"States\" must be an object"));
    };
    if states_map.is_empty() {
        return Err(fields.invalid("\"States\" is empty"));
    }
    let mut states = HashMap::with_capacity(states_map.len());
    for (name, value) in states_map {
        if name.is_empty() || name.chars().count() > 80 {
            return Err(fields.invalid(format!("state name {name:?} must have 1 to 80 characters")));
        }
        states.insert(name.clone(), parse_state(name, value, scope)?);
    }
    let machine = StateMachine { start_at, states };
    validate_transitions(&machine, fields.location(), scope)?;
    Ok(machine)
}

fn state_location(name: &str, scope: &str) -> String {
    if scope.is_empty() {
        format!("state \"{name}\"")
    } else {
        format!("state \"{name}\" ({scope})")
    }
}

fn parse_state(name: &str, value: &Value, scope: &str) -> Result<State, DefinitionError> {
    let location = state_location(name, scope);
    let mut fields = Fields::new(value, location.clone())?;
    let type_name = fields.required_string("Type")?;
    query_language(&mut fields)?;
    let (input_path, output_path) = if type_name == "Fail" {
        (Select::All, Select::All)
    } else {
        (
            Select::from_field(fields.nullable_read_path("InputPath")?),
            Select::from_field(fields.nullable_read_path("OutputPath")?),
        )
    };
    let kind = match type_name.as_str() {
        "Task" => {
            let resource = fields.required_string("Resource")?;
            // Service integrations (`arn:aws:states:::lambda:invoke`, `...:sqs:sendMessage`)
            // and activities shape their input and output differently: not implemented.
            if resource.starts_with("arn:aws:states:") {
                return Err(DefinitionError::UnsupportedValue {
                    field: "Resource".into(),
                    value: format!("{resource:?}"),
                    location,
                });
            }
            StateKind::Task {
                resource,
                parameters: fields.template("Parameters")?,
                outcome: parse_outcome(&mut fields, &location)?,
            }
        }
        "Pass" => StateKind::Pass {
            parameters: fields.template("Parameters")?,
            result: fields.get("Result").cloned(),
            result_path: ResultTarget::from_field(fields.nullable_reference_path("ResultPath")?),
        },
        "Choice" => {
            let Some(rules) = fields
                .require("Choices")?
                .as_array()
                .filter(|r| !r.is_empty())
            else {
                return Err(fields.invalid("\"Choices\" must be a non-empty array"));
            };
            let choices = rules
                .iter()
                .map(|rule| {
                    let (condition, next) = choice::parse_rule(rule, &location, true)?;
                    Ok(ChoiceRule {
                        condition,
                        next: next.unwrap_or_default(),
                    })
                })
                .collect::<Result<Vec<_>, DefinitionError>>()?;
            StateKind::Choice {
                choices,
                default: fields.string("Default")?,
            }
        }
        "Wait" => StateKind::Wait(parse_wait(&mut fields)?),
        "Succeed" => StateKind::Succeed,
        "Fail" => StateKind::Fail {
            error: parse_text(&mut fields, "Error", "ErrorPath")?,
            cause: parse_text(&mut fields, "Cause", "CausePath")?,
        },
        "Map" => StateKind::Map(Box::new(map::parse::parse_map(&mut fields, &location)?)),
        other => {
            return Err(DefinitionError::UnsupportedStateType {
                type_name: other.to_owned(),
                location,
            });
        }
    };
    let next = parse_transition(&mut fields, &kind)?;
    fields.finish()?;
    Ok(State {
        name: name.to_owned(),
        input_path,
        output_path,
        next,
        kind,
    })
}

/// Next/End: exactly one of them for Task, Pass, Wait and Map; neither for Choice, Succeed and
/// Fail (those fields are then refused as unsupported by `finish`).
fn parse_transition(
    fields: &mut Fields<'_>,
    kind: &StateKind,
) -> Result<Option<String>, DefinitionError> {
    if matches!(
        kind,
        StateKind::Choice { .. } | StateKind::Succeed | StateKind::Fail { .. }
    ) {
        return Ok(None);
    }
    let next = fields.string("Next")?;
    let end = fields.bool("End")?;
    match (next, end) {
        (Some(next), None | Some(false)) => Ok(Some(next)),
        (None, Some(true)) => Ok(None),
        (Some(_), Some(true)) => Err(fields.invalid("\"Next\" and \"End\" cannot both be set")),
        (None, _) => Err(fields.invalid("the state needs \"Next\" or \"End\": true")),
    }
}

pub(crate) fn parse_outcome(
    fields: &mut Fields<'_>,
    location: &str,
) -> Result<Outcome, DefinitionError> {
    Ok(Outcome {
        result_selector: fields.template("ResultSelector")?,
        result_path: ResultTarget::from_field(fields.nullable_reference_path("ResultPath")?),
        retry: match fields.get("Retry") {
            Some(value) => retry::parse_retry(value, location)?,
            None => vec![],
        },
        catch: match fields.get("Catch") {
            Some(value) => retry::parse_catch(value, location)?,
            None => vec![],
        },
    })
}

fn parse_wait(fields: &mut Fields<'_>) -> Result<WaitFor, DefinitionError> {
    let seconds = fields.uint("Seconds")?.map(WaitFor::Seconds);
    let seconds_path = fields.read_path("SecondsPath")?.map(WaitFor::SecondsPath);
    let timestamp = match fields.string("Timestamp")? {
        Some(text) if choice::timestamp(&text).is_none() => {
            return Err(fields.invalid(format!("\"Timestamp\" {text:?} is not an RFC 3339 time")));
        }
        other => other.map(WaitFor::Timestamp),
    };
    let timestamp_path = fields
        .read_path("TimestampPath")?
        .map(WaitFor::TimestampPath);
    let mut given: Vec<WaitFor> = [seconds, seconds_path, timestamp, timestamp_path]
        .into_iter()
        .flatten()
        .collect();
    if given.len() != 1 {
        return Err(fields.invalid(
            "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath",
        ));
    }
    Ok(given.remove(0))
}

fn parse_text(
    fields: &mut Fields<'_>,
    literal: &str,
    path: &str,
) -> Result<Option<Text>, DefinitionError> {
    let text = fields.string(literal)?;
    let dynamic = fields.string(path)?;
    match (text, dynamic) {
        (Some(_), Some(_)) => {
            Err(fields.invalid(format!("\"{literal}\" and \"{path}\" cannot both be set")))
        }
        (Some(text), None) => Ok(Some(Text::Literal(text))),
        (None, None) => Ok(None),
        (None, Some(dynamic)) if intrinsics::is_call(&dynamic) => match Call::parse(&dynamic) {
            Ok(call) => Ok(Some(Text::Call(call))),
            Err(IntrinsicError::Unsupported(name)) => Err(DefinitionError::UnsupportedIntrinsic {
                name,
                location: fields.location().to_owned(),
            }),
            Err(IntrinsicError::Syntax(why)) => Err(fields.invalid(format!("\"{path}\": {why}"))),
        },
        (None, Some(dynamic)) => ReadPath::parse(&dynamic)
            .map(|p| Some(Text::Path(p)))
            .map_err(|why| fields.invalid(format!("\"{path}\": {why}"))),
    }
}

/// Every transition names a state of the same state machine, and every state can be reached
/// from StartAt (Step Functions refuses unreachable states too).
fn validate_transitions(
    machine: &StateMachine,
    location: &str,
    scope: &str,
) -> Result<(), DefinitionError> {
    let check = |target: &str, from: String| {
        if machine.states.contains_key(target) {
            Ok(())
        } else {
            Err(DefinitionError::UnknownState {
                target: target.to_owned(),
                location: from,
            })
        }
    };
    check(&machine.start_at, format!("\"StartAt\" of {location}"))?;
    for state in machine.states.values() {
        let here = state_location(&state.name, scope);
        for (field, target) in transitions(state) {
            check(target, format!("\"{field}\" of {here}"))?;
        }
    }
    let mut seen = BTreeSet::new();
    let mut stack = vec![machine.start_at.as_str()];
    while let Some(name) = stack.pop() {
        if seen.insert(name) {
            stack.extend(
                transitions(&machine.states[name])
                    .into_iter()
                    .map(|(_, t)| t),
            );
        }
    }
    let mut unreachable: Vec<&String> = machine
        .states
        .keys()
        .filter(|name| !seen.contains(name.as_str()))
        .collect();
    unreachable.sort();
    match unreachable.first() {
        Some(name) => Err(DefinitionError::Unreachable((*name).clone())),
        None => Ok(()),
    }
}

/// The states a state can go to, with the field that says so.
fn transitions(state: &State) -> Vec<(&'static str, &str)> {
    let mut out: Vec<(&'static str, &str)> =
        state.next.iter().map(|n| ("Next", n.as_str())).collect();
    match &state.kind {
        StateKind::Choice { choices, default } => {
            out.extend(choices.iter().map(|c| ("Choices[].Next", c.next.as_str())));
            out.extend(default.iter().map(|d| ("Default", d.as_str())));
        }
        StateKind::Task { outcome, .. } => {
            out.extend(
                outcome
                    .catch
                    .iter()
                    .map(|c| ("Catch[].Next", c.next.as_str())),
            );
        }
        StateKind::Map(map) => {
            out.extend(
                map.outcome
                    .catch
                    .iter()
                    .map(|c| ("Catch[].Next", c.next.as_str())),
            );
        }
        _ => {}
    }
    out
}
