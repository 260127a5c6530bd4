//! Map states: inline (items from the input, iterations in this execution, the first failure
//! fails the Map) and distributed (items from an ItemReader or the input, one child execution
//! per item, failures counted against ToleratedFailureCount/Percentage). This module holds a
//! Map state as the definition gives it; [`parse`] reads it from the definition and [`run`]
//! executes it.

pub(crate) mod parse;
mod run;

use crate::definition::{Outcome, StateMachine};
use crate::paths::ReadPath;
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
