//! What the caller plugs in: the task handlers, the item source of a Distributed Map, and the
//! error shape both report.

use std::fmt;
use std::future::Future;

use futures::future::BoxFuture;
use serde_json::{Value, json};

/// An error as Step Functions sees it: a name (`Error`) and a free-text `Cause`.
///
/// A task reports one when its Lambda fails (`error` is the Lambda's `errorType`); the runner
/// uses the same shape for the errors it raises itself (`States.Runtime`, ...), so a Catch sees
/// `{"Error": error, "Cause": cause}` either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    pub error: String,
    pub cause: String,
}

impl TaskFailure {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        TaskFailure {
            error: error.into(),
            cause: cause.into(),
        }
    }

    /// The error output a Catch merges at its ResultPath.
    pub fn to_error_output(&self) -> Value {
        json!({ "Error": self.error, "Cause": self.cause })
    }
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.cause)
    }
}

impl std::error::Error for TaskFailure {}

/// The Task states' resources: called with the Task's `Resource` (after substitution) and the
/// state's effective input (after InputPath and Parameters); returns the task's result.
pub trait Tasks: Send + Sync {
    fn invoke<'a>(
        &'a self,
        resource: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<Value, TaskFailure>>;
}

/// Where a Distributed Map's `ItemReader` (`arn:aws:states:::s3:getObject`) gets the object's
/// bytes; the runner parses them as JSON or JSON Lines itself.
pub trait ItemReader: Send + Sync {
    fn read<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, TaskFailure>>;
}

/// An `ItemReader` for definitions without one: every read fails.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoItems;

impl ItemReader for NoItems {
    fn read<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, TaskFailure>> {
        let failure = TaskFailure::new(
            "NoItemReader",
            format!("no item reader was given to read s3://{bucket}/{key}"),
        );
        Box::pin(async move { Err(failure) })
    }
}

/// `Tasks` from a closure `(resource, input) -> future`, for tests and small harnesses.
pub struct TaskFn<F>(pub F);

impl<F, Fut> Tasks for TaskFn<F>
where
    F: Fn(String, Value) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Value, TaskFailure>> + Send + 'static,
{
    fn invoke<'a>(
        &'a self,
        resource: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<Value, TaskFailure>> {
        Box::pin((self.0)(resource.to_owned(), input))
    }
}
