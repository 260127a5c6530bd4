//! What can stop a registration, classified like the core's errors ([`snapex::ErrorClass`]) so
//! the command line and the Finalize Lambda's error boundary can tell "fix the request" from
//! "try again" without parsing text.

use aws_sdk_glue::error::{ProvideErrorMetadata, SdkError};
use snapex::ErrorClass;

/// Everything that can stop a registration. Messages are one line and say what was being done.
#[derive(Debug, thiserror::Error)]
pub enum GlueError {
    /// The export cannot be registered as it is: not published, or its catalog files are
    /// missing, malformed or disagree with its manifest.
    #[error("{0}")]
    InvalidExport(String),

    /// Opening, listing or reading the export's folder failed.
    #[error(transparent)]
    Export(#[from] snapex::Error),

    /// No AWS credentials could be found, or the provider that should supply them failed.
    #[error(
        "no AWS credentials for Glue: {0} (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
         AWS_PROFILE, or run with a role)"
    )]
    Credentials(String),

    /// A Glue call failed, after the SDK's own retries.
    #[error("Glue {operation} {target}: {message}")]
    Api {
        operation: &'static str,
        /// What the call was about: `database shop`, `table shop.events`.
        target: String,
        /// Glue's error code (`AccessDeniedException`, ...); none when no answer came back.
        code: Option<String>,
        message: String,
        retryable: bool,
    },

    /// A batch call went through, but Glue refused some of its partitions: batch calls report
    /// per-partition failures inside a successful response.
    #[error("Glue {operation} on table {database}.{table} refused {count} partition(s): {detail}")]
    Partitions {
        operation: &'static str,
        database: String,
        table: String,
        count: usize,
        /// The first few refusals: `[values] Code: message`.
        detail: String,
        retryable: bool,
    },

    /// A catalog file lacks a field the Glue request requires. The core writes every such
    /// field, so this is a bug or a hand-edited file.
    #[error("building the Glue request for {target}: {message}")]
    Build { target: String, message: String },
}

/// Glue error codes that a later attempt may not meet: the catalog was changed meanwhile, or
/// Glue was busy. The SDK has retried throttling already; these say a rerun may succeed.
const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "TooManyRequestsException",
    "ConcurrentModificationException",
    "InternalServiceException",
    "OperationTimeoutException",
    "ServiceUnavailableException",
    // Another registration created it between our read and our write.
    "AlreadyExistsException",
    "EntityNotFoundException",
];

fn code_is_retryable(code: Option<&str>) -> bool {
    code.is_some_and(|c| RETRYABLE_CODES.contains(&c))
}

/// The codes AWS answers a request refused for its rate with (Glue's is
/// `ThrottlingException`; the others are what AWS's SDKs treat as throttling too).
const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
];

/// True for an answer that refuses a request for its rate, not its content: a throttling
/// code, Glue's "Rate exceeded" message, or HTTP 429 (Too Many Requests). Such a request
/// was not performed.
pub(crate) fn is_throttling(
    code: Option<&str>,
    message: Option<&str>,
    status: Option<u16>,
) -> bool {
    code.is_some_and(|c| THROTTLING_CODES.contains(&c))
        || message.is_some_and(|m| m.contains("Rate exceeded"))
        || status == Some(429)
}

impl GlueError {
    /// Classifies the error by cause: [`ErrorClass::InvalidInput`] for an export or request to
    /// fix (not published, access denied, a value Glue refuses), [`ErrorClass::Retryable`]
    /// for what may pass on another run, [`ErrorClass::Internal`] for a bug.
    pub fn class(&self) -> ErrorClass {
        match self {
            GlueError::InvalidExport(_) | GlueError::Credentials(_) => ErrorClass::InvalidInput,
            GlueError::Export(e) => e.class(),
            GlueError::Api { retryable, .. } | GlueError::Partitions { retryable, .. } => {
                if *retryable {
                    ErrorClass::Retryable
                } else {
                    ErrorClass::InvalidInput
                }
            }
            GlueError::Build { .. } => ErrorClass::Internal,
        }
    }

    /// A failed SDK call as an [`GlueError::Api`]: the service's code when it answered, and
    /// the whole cause chain on one line (the SDK's own `Display` stops at "service error" or
    /// "dispatch failure").
    pub(crate) fn api<E>(
        operation: &'static str,
        target: impl Into<String>,
        e: SdkError<E>,
    ) -> GlueError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let code = e.code().map(str::to_string);
        let retryable = match &e {
            // The request could not even be built (a missing region, say): fix the setup.
            SdkError::ConstructionFailure(_) => false,
            SdkError::ServiceError(_) => code_is_retryable(code.as_deref()),
            // No answer, a timeout, or an answer we could not read: the network or the service.
            _ => true,
        };
        let message = chain(&e);
        GlueError::Api {
            operation,
            target: target.into(),
            code,
            message,
            retryable,
        }
    }

    /// The per-partition refusals of one batch call, or `None` when there were none.
    pub(crate) fn partitions<'a>(
        operation: &'static str,
        database: &str,
        table: &str,
        refused: impl IntoIterator<Item = (&'a [String], Option<&'a aws_sdk_glue::types::ErrorDetail>)>,
    ) -> Option<GlueError> {
        const SHOWN: usize = 5;
        let mut count = 0;
        let mut lines = Vec::new();
        let mut retryable = true;
        for (values, detail) in refused {
            count += 1;
            let code = detail.and_then(|d| d.error_code());
            retryable &= code_is_retryable(code);
            if lines.len() < SHOWN {
                let message = detail.and_then(|d| d.error_message()).unwrap_or("");
                lines.push(format!(
                    "{values:?} {}: {}",
                    code.unwrap_or("(no code)"),
                    one_line(message)
                ));
            }
        }
        if count == 0 {
            return None;
        }
        let mut detail = lines.join("; ");
        if count > SHOWN {
            detail.push_str(&format!("; and {} more", count - SHOWN));
        }
        Some(GlueError::Partitions {
            operation,
            database: database.to_string(),
            table: table.to_string(),
            count,
            detail,
            retryable,
        })
    }
}

/// An error and its causes, each once, on one line: `dispatch failure: io error: client
/// error (Connect): tcp connect error: Connection refused (os error 111)`. Layers that repeat
/// their cause's text in their own are not repeated.
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = cause.source();
    }
    one_line(&parts.join(": "))
}

/// Glue's messages may span lines; ours are one line each.
fn one_line(s: &str) -> String {
    s.lines().map(str::trim).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_glue::types::ErrorDetail;

    fn detail(code: &str, message: &str) -> ErrorDetail {
        ErrorDetail::builder()
            .error_code(code)
            .error_message(message)
            .build()
    }

    #[test]
    fn refused_partitions_are_counted_named_and_classified() {
        let values: Vec<Vec<String>> = (0..7).map(|i| vec![format!("2024-01-0{i}")]).collect();
        let bad = detail("InvalidInputException", "value too\nlong");
        let e = GlueError::partitions(
            "BatchCreatePartition",
            "shop",
            "events",
            values.iter().map(|v| (v.as_slice(), Some(&bad))),
        )
        .unwrap();
        assert_eq!(
            e.to_string(),
            "Glue BatchCreatePartition on table shop.events refused 7 partition(s): \
             [\"2024-01-00\"] InvalidInputException: value too long; \
             [\"2024-01-01\"] InvalidInputException: value too long; \
             [\"2024-01-02\"] InvalidInputException: value too long; \
             [\"2024-01-03\"] InvalidInputException: value too long; \
             [\"2024-01-04\"] InvalidInputException: value too long; and 2 more"
        );
        assert_eq!(e.class(), ErrorClass::InvalidInput);

        // Only refusals that a rerun can get past make the whole batch retryable.
        let raced = detail("AlreadyExistsException", "Partition already exists.");
        let e = GlueError::partitions(
            "BatchCreatePartition",
            "shop",
            "events",
            [(values[0].as_slice(), Some(&raced))],
        )
        .unwrap();
        assert_eq!(e.class(), ErrorClass::Retryable);
        let mixed = [
            (values[0].as_slice(), Some(&raced)),
            (values[1].as_slice(), Some(&bad)),
        ];
        let e = GlueError::partitions("BatchCreatePartition", "shop", "events", mixed).unwrap();
        assert_eq!(e.class(), ErrorClass::InvalidInput);

        assert!(GlueError::partitions("BatchDeletePartition", "shop", "events", []).is_none());
    }

    #[test]
    fn throttling_is_told_by_code_message_or_status() {
        assert!(is_throttling(Some("ThrottlingException"), None, Some(400)));
        assert!(is_throttling(Some("TooManyRequestsException"), None, None));
        assert!(is_throttling(None, Some("Rate exceeded"), Some(400)));
        assert!(is_throttling(None, None, Some(429)));
        assert!(!is_throttling(
            Some("AccessDeniedException"),
            Some("denied"),
            Some(400)
        ));
        assert!(!is_throttling(
            Some("EntityNotFoundException"),
            None,
            Some(400)
        ));
        assert!(!is_throttling(None, None, None));
    }
}
