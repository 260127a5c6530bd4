//! The Lambda error boundary: every step fails with a [`StepError`], whose `name` becomes the
//! Lambda error's `errorType`, which is the error name Step Functions' `Retry` and `Catch`
//! match on (`Retryable` is retried; everything else goes to Cleanup).

use std::error::Error as StdError;

use aws_sdk_rds::config::http::HttpResponse;
use aws_sdk_rds::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use snapex::ErrorClass;
use snapex::service::ServiceError;
use snapex::service::error::class_name;

/// A step's failure: the error name Step Functions sees, and a one-line message (the
/// execution's `Cause`) that never holds a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {message}")]
pub struct StepError {
    /// `InvalidInput`, `Retryable`, `Internal` or a specific name such as `RestoreDeadline`.
    pub name: String,
    pub message: String,
}

impl StepError {
    pub fn new(name: impl Into<String>, message: impl Into<String>) -> StepError {
        StepError {
            name: name.into(),
            message: snapex::error::one_line(&message.into()),
        }
    }

    pub fn of_class(class: ErrorClass, message: impl Into<String>) -> StepError {
        StepError::new(class_name(class), message)
    }

    pub fn invalid_input(message: impl Into<String>) -> StepError {
        StepError::of_class(ErrorClass::InvalidInput, message)
    }

    pub fn retryable(message: impl Into<String>) -> StepError {
        StepError::of_class(ErrorClass::Retryable, message)
    }

    pub fn internal(message: impl Into<String>) -> StepError {
        StepError::of_class(ErrorClass::Internal, message)
    }

    /// True for errors the state machine retries.
    pub fn is_retryable(&self) -> bool {
        self.name == class_name(ErrorClass::Retryable)
    }
}

impl From<ServiceError> for StepError {
    fn from(e: ServiceError) -> StepError {
        StepError::new(e.name(), e.to_string())
    }
}

impl From<snapex::Error> for StepError {
    fn from(e: snapex::Error) -> StepError {
        StepError::of_class(e.class(), e.to_string())
    }
}

impl From<snapex_glue::GlueError> for StepError {
    fn from(e: snapex_glue::GlueError) -> StepError {
        StepError::of_class(e.class(), e.to_string())
    }
}

impl From<StepError> for lambda_runtime::Diagnostic {
    fn from(e: StepError) -> lambda_runtime::Diagnostic {
        lambda_runtime::Diagnostic {
            error_type: e.name,
            error_message: e.message,
        }
    }
}

/// Error codes AWS services use for "slow down" or "try again": retried whatever their HTTP
/// status.
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalServiceError",
    "InternalServiceErrorException",
    // RDS: no capacity for the class in the zone right now, or a resource busy.
    "InsufficientDBInstanceCapacity",
    "InsufficientDBClusterCapacityFault",
    "InvalidDBInstanceState",
    "InvalidDBClusterStateFault",
];

/// An SDK call's result where one service error is an answer, not a failure (the resource
/// is not there, or is there already): `Some(output)`, `None` for the error `expected` picks,
/// and any other error classified by [`sdk_error`] as the call `what`.
pub fn answer<T, E>(
    result: Result<T, SdkError<E, HttpResponse>>,
    expected: impl FnOnce(&E) -> bool,
    what: &str,
) -> Result<Option<T>, StepError>
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    match result {
        Ok(out) => Ok(Some(out)),
        Err(e) if e.as_service_error().is_some_and(expected) => Ok(None),
        Err(e) => Err(sdk_error(what, e)),
    }
}

/// Classifies an AWS SDK error of the call `what`: network failures, throttling and server
/// errors are `Retryable` (the SDK has already retried them a few times); access and
/// validation errors are `InvalidInput`; a request the SDK could not even build is `Internal`.
/// Every client's calls fail with the same smithy types, so this serves all of them.
pub fn sdk_error<E>(what: &str, e: SdkError<E, HttpResponse>) -> StepError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let class = match &e {
        SdkError::ConstructionFailure(_) => ErrorClass::Internal,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ErrorClass::Retryable
        }
        SdkError::ServiceError(ctx) => {
            let code = ctx.err().code().unwrap_or_default();
            if RETRYABLE_CODES.contains(&code) || ctx.raw().status().is_server_error() {
                ErrorClass::Retryable
            } else {
                ErrorClass::InvalidInput
            }
        }
        _ => ErrorClass::Internal,
    };
    StepError::of_class(class, format!("{what}: {}", DisplayErrorContext(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_becomes_the_lambda_error_type() {
        let d: lambda_runtime::Diagnostic =
            StepError::new("RestoreDeadline", "late\nvery late").into();
        assert_eq!(d.error_type, "RestoreDeadline");
        assert_eq!(d.error_message, "late very late");
    }

    #[test]
    fn core_errors_keep_their_class() {
        let e: StepError = ServiceError::Event("bad".into()).into();
        assert_eq!(e.name, "InvalidInput");
        let e: StepError = snapex::Error::Internal("bug".into()).into();
        assert_eq!(e.name, "Internal");
        assert!(StepError::retryable("x").is_retryable());
    }
}
