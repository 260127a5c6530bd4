//! The input and output fields a state applies around its work: InputPath and OutputPath
//! ([`select`]), ResultPath ([`apply_result`]), and ResultSelector → ResultPath → OutputPath
//! for a Task's or a Map's result ([`finish_result`]).

use serde_json::{Value, json};

use crate::definition::{Outcome, ResultTarget, Select, State};
use crate::error::names;
use crate::tasks::TaskFailure;

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
