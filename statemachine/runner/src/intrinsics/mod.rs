//! Intrinsic functions (`States.Format(...)` and friends) in `.$` values and in a Fail state's
//! ErrorPath/CausePath: the functions implemented and the parsed form of a call. A call is
//! parsed when the definition is ([`parser`]) and evaluated against the state's input and the
//! context object ([`evaluation`]).

pub(crate) mod evaluation;
mod parser;

use serde_json::Value;

use crate::paths::ReadPath;

/// The functions implemented. Others (`States.Hash`, `States.Base64Encode`, ...) are refused
/// when the definition is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Function {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayLength,
    ArrayGetItem,
    ArrayContains,
    ArrayRange,
    ArrayPartition,
    ArrayUnique,
    MathAdd,
    MathRandom,
    StringSplit,
    JsonMerge,
    Uuid,
}

impl Function {
    fn from_name(name: &str) -> Option<Function> {
        Some(match name {
            "States.Format" => Function::Format,
            "States.StringToJson" => Function::StringToJson,
            "States.JsonToString" => Function::JsonToString,
            "States.Array" => Function::Array,
            "States.ArrayLength" => Function::ArrayLength,
            "States.ArrayGetItem" => Function::ArrayGetItem,
            "States.ArrayContains" => Function::ArrayContains,
            "States.ArrayRange" => Function::ArrayRange,
            "States.ArrayPartition" => Function::ArrayPartition,
            "States.ArrayUnique" => Function::ArrayUnique,
            "States.MathAdd" => Function::MathAdd,
            "States.MathRandom" => Function::MathRandom,
            "States.StringSplit" => Function::StringSplit,
            "States.JsonMerge" => Function::JsonMerge,
            "States.UUID" => Function::Uuid,
            _ => return None,
        })
    }

    /// How many arguments the function takes (inclusive range).
    fn arity(self) -> (usize, usize) {
        match self {
            Function::Format => (1, usize::MAX),
            Function::Array => (0, usize::MAX),
            Function::Uuid => (0, 0),
            Function::StringToJson
            | Function::JsonToString
            | Function::ArrayLength
            | Function::ArrayUnique => (1, 1),
            Function::ArrayGetItem
            | Function::ArrayContains
            | Function::ArrayPartition
            | Function::MathAdd
            | Function::StringSplit => (2, 2),
            Function::MathRandom => (2, 3),
            Function::ArrayRange | Function::JsonMerge => (3, 3),
        }
    }
}

/// Why an intrinsic function's text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IntrinsicError {
    Unsupported(String),
    Syntax(String),
}

#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// A quoted literal: `value` with escapes resolved, `raw` as written (States.Format needs
    /// to tell an escaped `\{` from a placeholder).
    Str {
        value: String,
        raw: String,
    },
    Literal(Value),
    Path(ReadPath),
    Call(Box<Call>),
}

#[derive(Debug, Clone)]
pub(crate) struct Call {
    name: String,
    function: Function,
    args: Vec<Arg>,
}

/// Whether a `.$` value is an intrinsic function call rather than a path.
pub(crate) fn is_call(text: &str) -> bool {
    text.trim_start().starts_with("States.")
}
