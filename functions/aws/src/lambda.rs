//! Running a handler as a Lambda function: JSON logs, the context read once per container,
//! and each invocation's error reported with its name as the Lambda `errorType`.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tracing::{Event, Instrument, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// What the runtime fails with: a binary's `main` returns it.
pub use lambda_runtime::Error as RuntimeError;
pub use snapex::memory::return_large_blocks_to_the_system;

use crate::context::Context;
use crate::error::StepError;

/// One JSON object per log line on stdout (CloudWatch Logs Insights reads the fields), at
/// `SNAPEX_LOG`'s filter (default `info`). Every line carries the fields of the spans it was
/// logged in, so the invocation's `export_id` and `chunk` and the core's `table` are on each
/// one. Safe to call more than once.
pub fn init_logging() {
    let filter = EnvFilter::try_from_env("SNAPEX_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing::subscriber::set_global_default(json_lines(filter, std::io::stdout));
}

/// The subscriber [`init_logging`] installs, writing to `writer`.
fn json_lines<W>(filter: EnvFilter, writer: W) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .fmt_fields(JsonFields::new())
        .event_format(FlatJson)
        .with_env_filter(filter)
        .with_writer(writer)
        .finish()
}

/// An event as one flat JSON object: the fields of every span it is in, outermost first, then
/// its own (an inner field wins over an outer one of the same name), and its `level`. Flat, so
/// Logs Insights filters on `export_id` rather than on a position in a list of spans. No time:
/// CloudWatch stamps each line already.
struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>() {
                    merge(&mut line, &fields.fields);
                }
            }
        }
        let mut own = String::new();
        ctx.format_fields(Writer::new(&mut own), event)?;
        merge(&mut line, &own);
        line.insert(
            "level".to_string(),
            Value::from(event.metadata().level().as_str()),
        );
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Adds the members of `json` (fields as `JsonFields` formats them: an object, or nothing for
/// a span without fields) to `line`.
fn merge(line: &mut Map<String, Value>, json: &str) {
    if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(json) {
        line.extend(fields);
    }
}

/// The span an invocation runs in: the export (`job.export_id`) and the chunk (`item.chunk`)
/// of the event, when it names them (the trigger's and the watch's events do not).
fn invocation_span(payload: &Value) -> tracing::Span {
    let span = tracing::info_span!(
        "invocation",
        export_id = tracing::field::Empty,
        chunk = tracing::field::Empty
    );
    if let Some(id) = payload.pointer("/job/export_id").and_then(Value::as_str) {
        span.record("export_id", id);
    }
    if let Some(chunk) = payload.pointer("/item/chunk").and_then(Value::as_u64) {
        span.record("chunk", chunk);
    }
    span
}

/// Serves `handler` until the Lambda runtime stops the container: logs set up, the
/// [`Context`] read from the environment once, each event deserialized into `In` (an event
/// that is not one is `InvalidInput`) and handled in its [`invocation_span`], and a failure's
/// [`StepError::name`] sent as the error type.
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
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let span = invocation_span(&event.payload);
        let call = serde_json::from_value::<In>(event.payload)
            .map(|input| handler(input, ctx.clone()))
            .map_err(|e| {
                StepError::invalid_input(format!("the event is not this function's input: {e}"))
            });
        async move {
            let out = match call {
                // As JSON: the runtime's response type is then concrete.
                Ok(result) => result.await.and_then(|out| {
                    serde_json::to_value(out)
                        .map_err(|e| StepError::internal(format!("serializing the result: {e}")))
                }),
                Err(e) => Err(e),
            };
            out.inspect_err(|e| {
                tracing::error!(error = %e.name, message = %e.message, "step failed");
            })
        }
        .instrument(span)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::Mutex;

    /// A writer into memory, for reading the log lines back.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Lines {
        fn parsed(&self) -> Vec<Value> {
            let bytes = self.0.lock().unwrap().clone();
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        }
    }

    #[test]
    fn every_line_carries_the_fields_of_its_spans_at_the_top_level() {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = json_lines(EnvFilter::new("info"), move || writer.clone());
        tracing::subscriber::with_default(subscriber, || {
            let payload = serde_json::json!({
                "job": {"export_id": "orders-db-20261201T031000Z"},
                "item": {"chunk": 3}
            });
            let _invocation = invocation_span(&payload).entered();
            tracing::info!("started");
            {
                // As the core's spans do: the table, and the chunk again.
                let _table =
                    tracing::info_span!("piece", chunk = 3, table = "public.orders").entered();
                tracing::info!(rows = 5, "written");
                tracing::info!(table = "public.items", "the event's own field wins");
            }
            tracing::warn!("no table here");
            tracing::debug!("filtered out");
        });
        let got = lines.parsed();
        assert_eq!(got.len(), 4, "{got:?}");
        for line in &got {
            assert_eq!(line["export_id"], "orders-db-20261201T031000Z", "{line}");
            assert_eq!(line["chunk"], 3, "{line}");
        }
        assert_eq!(got[0]["message"], "started");
        assert_eq!(got[0]["level"], "INFO");
        assert!(got[0].get("table").is_none());
        assert_eq!(got[1]["table"], "public.orders");
        assert_eq!(got[1]["rows"], 5);
        assert_eq!(got[2]["table"], "public.items");
        assert_eq!(got[3]["level"], "WARN");
        assert!(got[3].get("table").is_none());
    }

    #[test]
    fn an_event_without_an_export_logs_without_one() {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = json_lines(EnvFilter::new("info"), move || writer.clone());
        tracing::subscriber::with_default(subscriber, || {
            let scheduled = serde_json::json!({"source": "aws.scheduler", "detail": {}});
            let _invocation = invocation_span(&scheduled).entered();
            tracing::info!(alive = 0, "watched");
        });
        let got = lines.parsed();
        assert_eq!(got.len(), 1);
        assert!(got[0].get("export_id").is_none(), "{}", got[0]);
        assert!(got[0].get("chunk").is_none(), "{}", got[0]);
        assert_eq!(got[0]["alive"], 0);
    }
}
