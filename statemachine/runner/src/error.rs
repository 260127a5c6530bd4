//! Why a definition is refused, and the names of the errors the runner raises at run time.

use thiserror::Error;

use crate::tasks::TaskFailure;

/// The predefined error names (the `States.` prefix is reserved for them).
pub mod names {
    /// Matches every error except `States.Runtime` (which is never retried nor caught).
    pub const ALL: &str = "States.ALL";
    /// Matches every error except `States.Timeout` and `States.Runtime`.
    pub const TASK_FAILED: &str = "States.TaskFailed";
    pub const TIMEOUT: &str = "States.Timeout";
    /// A path that selects nothing, a value of the wrong type, a failed intrinsic function:
    /// fails the execution whatever the Retry and Catch fields say, as on AWS.
    pub const RUNTIME: &str = "States.Runtime";
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
    pub const EXCEED_TOLERATED_FAILURE_THRESHOLD: &str = "States.ExceedToleratedFailureThreshold";
    pub const ITEM_READER_FAILED: &str = "States.ItemReaderFailed";
}

/// A `States.Runtime` failure with the given cause.
pub(crate) fn runtime(cause: impl Into<String>) -> TaskFailure {
    TaskFailure::new(names::RUNTIME, cause)
}

/// Why `Definition::parse` refused a definition. Every construct the runner does not implement
/// is refused by name rather than ignored, so a test never passes on a definition that would
/// behave differently on AWS.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DefinitionError {
    #[error("the definition is not JSON: {0}")]
    Json(String),
    #[error("unbound substitution \"${{{0}}}\"")]
    UnboundSubstitution(String),
    #[error("unsupported field \"{field}\" in {location}")]
    UnsupportedField { field: String, location: String },
    #[error("unsupported state type \"{type_name}\" in {location}")]
    UnsupportedStateType { type_name: String, location: String },
    #[error("unsupported intrinsic function \"{name}\" in {location}")]
    UnsupportedIntrinsic { name: String, location: String },
    #[error("unsupported value {value} for \"{field}\" in {location}")]
    UnsupportedValue {
        field: String,
        value: String,
        location: String,
    },
    #[error("missing field \"{field}\" in {location}")]
    MissingField { field: String, location: String },
    #[error("no state \"{target}\" (named by {location})")]
    UnknownState { target: String, location: String },
    #[error("state \"{0}\" cannot be reached from StartAt")]
    Unreachable(String),
    #[error("invalid {location}: {message}")]
    Invalid { location: String, message: String },
}
