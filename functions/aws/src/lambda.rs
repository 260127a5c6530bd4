//! Running a handler as a Lambda function: JSON logs, the context read once per container,
//! and each invocation's error reported with its name as the Lambda `errorType`.

use std::future::Future;
use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What the runtime fails with: a binary's `main` returns it.
pub use lambda_runtime::Error as RuntimeError;

use crate::context::Context;
use crate::error::StepError;

/// One JSON object per log line on stdout (CloudWatch Logs Insights reads the fields), at
/// `SNAPEX_LOG`'s filter (default `info`). Safe to call more than once.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("SNAPEX_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        // CloudWatch stamps each line already.
        .without_time()
        .with_env_filter(filter)
        .try_init();
}

/// Serves `handler` until the Lambda runtime stops the container: logs set up, the
/// [`Context`] read from the environment once, each event deserialized into `In`, and a
/// failure's [`StepError::name`] sent as the error type.
pub async fn serve<In, Out, F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    In: DeserializeOwned + Send + 'static,
    Out: Serialize + Send + 'static,
    F: Fn(In, Arc<Context>) -> Fut,
    Fut: Future<Output = Result<Out, StepError>> + Send,
{
    init_logging();
    let ctx = Arc::new(Context::from_env().await.inspect_err(|e| {
        tracing::error!(error = %e, "cannot start");
    })?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<In>| {
        let result = handler(event.payload, ctx.clone());
        async move {
            // As JSON: the runtime's response type is then concrete.
            let out = result.await.and_then(|out| {
                serde_json::to_value(out)
                    .map_err(|e| StepError::internal(format!("serializing the result: {e}")))
            });
            out.inspect_err(|e| {
                tracing::error!(error = %e.name, message = %e.message, "step failed");
            })
        }
    }))
    .await
}
