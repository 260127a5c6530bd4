//! The serverless steps' error type: what went wrong, and the name Step Functions sees it by
//! (the Lambda error's `errorType`), which the state machine's `Retry` and `Catch` match on.

use crate::error::ErrorClass;

/// The error name CheckInstance fails with once the temporary instance's deadline has passed.
pub const RESTORE_DEADLINE: &str = "RestoreDeadline";

/// Every error name the functions fail with: what the state machine's `Retry` and `Catch`
/// may match besides the Lambda service's and Step Functions' own names.
pub const ERROR_NAMES: &[&str] = &["InvalidInput", "Retryable", "Internal", RESTORE_DEADLINE];

/// Why a step of the serverless pipeline failed. Messages are one line and never carry a
/// password.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The export configuration file cannot be used as written.
    #[error("export configuration {origin}: {detail}")]
    Config { origin: String, detail: String },

    /// The event the trigger received is not one it can read.
    #[error("event: {0}")]
    Event(String),

    /// A step's input or an AWS resource is not what the step needs (fix and start again).
    #[error("{0}")]
    InvalidInput(String),

    /// The temporary instance did not become ready before its deadline.
    #[error(
        "the temporary instance {identifier} was not ready by its deadline ({deadline}); \
         raise restore_deadline_minutes in the export configuration if restores of this \
         snapshot take longer"
    )]
    RestoreDeadline {
        identifier: String,
        deadline: String,
    },

    /// The temporary instance or cluster no longer exists: someone else deleted it.
    #[error("the temporary {what} no longer exists (deleted by someone else?)")]
    Gone { what: String },

    /// The temporary instance reached a state it will not leave by itself.
    #[error("the temporary instance {identifier} is {status}: {hint}")]
    InstanceFailed {
        identifier: String,
        status: String,
        hint: &'static str,
    },

    /// The core (object store, URL checks) failed.
    #[error(transparent)]
    Core(#[from] crate::Error),
}

impl ServiceError {
    /// The error's name for Step Functions: one of the core's [`ErrorClass`] names, or
    /// [`RESTORE_DEADLINE`].
    pub fn name(&self) -> &'static str {
        match self {
            ServiceError::RestoreDeadline { .. } => RESTORE_DEADLINE,
            ServiceError::Core(e) => class_name(e.class()),
            ServiceError::Config { .. }
            | ServiceError::Event(_)
            | ServiceError::InvalidInput(_)
            | ServiceError::Gone { .. }
            | ServiceError::InstanceFailed { .. } => class_name(ErrorClass::InvalidInput),
        }
    }
}

/// The name Step Functions matches for an error class: the same text [`ErrorClass`] displays.
pub fn class_name(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::InvalidInput => "InvalidInput",
        ErrorClass::Retryable => "Retryable",
        ErrorClass::Internal => "Internal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_ones_the_state_machine_matches() {
        for class in [
            ErrorClass::InvalidInput,
            ErrorClass::Retryable,
            ErrorClass::Internal,
        ] {
            assert_eq!(class_name(class), class.to_string());
            assert!(ERROR_NAMES.contains(&class_name(class)));
        }
        let e = ServiceError::RestoreDeadline {
            identifier: "i".into(),
            deadline: "t".into(),
        };
        assert_eq!(e.name(), "RestoreDeadline");
        assert_eq!(ServiceError::Event("x".into()).name(), "InvalidInput");
        let core = ServiceError::from(crate::Error::Internal("bug".into()));
        assert_eq!(core.name(), "Internal");
        assert_eq!(core.to_string(), "internal error: bug");
    }
}
