//! The core's error type: one enum, classified by cause so callers (the CLI, the Lambdas'
//! error boundary, the state machine's Retry/Catch) can decide what to do without parsing text.

use std::fmt;

/// Crate-wide result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop an export. Messages are one line, say what went wrong and,
/// where there is one, what to do about it. None of them carries a password.
///
/// Driver and store errors are shown inline as `cause` and not exposed as `source()`: their own
/// `Display` already includes their causes, so a printed chain would repeat them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user asked for something that cannot be done as asked (bad URL, bad filter, bad flag).
    #[error("{0}")]
    InvalidInput(String),

    /// A table named in an include filter does not exist in the source.
    #[error(
        "no table matches {pattern:?}: check the name (schema.table) with the source's catalog"
    )]
    NoSuchTable { pattern: String },

    /// The source database could not be reached or refused us.
    #[error("cannot connect to the source database at {endpoint}: {} (check the host, port, user, password and database of --source)", full(.cause))]
    Connect {
        endpoint: String,
        cause: tokio_postgres::Error,
    },

    /// A query against the source failed after we connected.
    #[error("{context}: {}", full(.cause))]
    Source {
        context: String,
        cause: tokio_postgres::Error,
    },

    /// The source sent bytes we could not decode: a bug or an unexpected server, never user error.
    #[error("cannot decode {column}: {detail}")]
    Decode { column: String, detail: String },

    /// The MySQL/MariaDB source could not be reached or refused us.
    #[error("cannot connect to the source database at {endpoint}: {} (check the host, port, user, password and database of --source)", full(.cause))]
    MySqlConnect {
        endpoint: String,
        cause: mysql_async::Error,
    },

    /// A MySQL/MariaDB query failed after we connected.
    #[error("{context}: {}", full(.cause))]
    MySql {
        context: String,
        cause: mysql_async::Error,
    },

    /// The destination store refused a read or a write.
    #[error("object store {url}: {}{}", full(.cause), store_hint(.cause))]
    Store {
        url: String,
        cause: object_store::Error,
    },

    /// An S3 destination has no credentials to sign with: none in the environment, and no
    /// instance or container role answered.
    #[error(
        "no AWS credentials for {destination}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
         (and AWS_SESSION_TOKEN for temporary ones), or run where an instance, container or \
         web identity role provides them; profiles in ~/.aws are not read (`aws configure \
         export-credentials --profile NAME --format env` prints one's as variables); {cause}"
    )]
    NoCredentials { destination: String, cause: String },

    /// Encoding Parquet or Arrow data failed.
    #[error("writing parquet for {table}: {}{}", full(.cause), store_hint(.cause))]
    Parquet {
        table: String,
        cause: parquet::errors::ParquetError,
    },

    /// A table (or one partition of it) is bigger than one chunk may be, and nothing can split
    /// it: one call reading it would not finish in time. Refused when planning, before any
    /// chunk runs.
    #[error(
        "{table}: {what} is about {} ({estimated_bytes} bytes by the catalog), more than one \
         chunk may read ({} = {limit} bytes, the most one ExportChunk call reads well within \
         its timeout), and it cannot be split: {why}. Exclude the table, give it a primary \
         key, or raise the limit (more ExportChunk memory, or max_chunk_size)",
        human_bytes(*.estimated_bytes),
        human_bytes(*.limit)
    )]
    TooBig {
        table: String,
        /// `the table`, or which part of it.
        what: String,
        estimated_bytes: u64,
        limit: u64,
        why: String,
    },

    /// The export would register more tables in Glue than a quota allows (see
    /// `catalog::quotas`). Refused when planning, before anything is written.
    #[error("{}", glue_quota_message(*.tables, *.folded, *.kind, *.quota, *.folding, *.account_quota))]
    GlueQuota {
        /// Tables exported.
        tables: u64,
        /// Glue tables with `--fold-schemas`; `None` when more than `account_quota`.
        folded: Option<u64>,
        kind: GlueQuotaKind,
        /// The quota exceeded.
        quota: u64,
        /// Whether `--fold-schemas` was given.
        folding: bool,
        /// The per-account quota (what the count with folding stops at).
        account_quota: u64,
    },

    /// Building Arrow arrays failed (a column's values did not fit its declared type).

    /// A finished export did not verify: a file is missing or differs from what was written.
    #[error("verification failed: {0}")]
    Verify(String),

    /// An invariant of ours broke. Always a bug.
    #[error("internal error: {0}")]
    Internal(String),

    /// The export's consistent view of the source is gone (the server restarted, or the
    /// connection that held the view was lost), so the chunks still to read cannot join it.
    /// What was written stays; a resumed run reads the rest in a new view.
    #[error(
        "{0}: the export's consistent view of the source is gone, so the chunks still to read \
         cannot join it (a resumed run keeps the chunks written and reads the rest in a new view)"
    )]
    ViewLost(String),

    /// Another run holds the export's lease (see `pipeline::lease`): one run writes an export
    /// at a time. The message names that run and since when.
    #[error("{0}")]
    LeaseHeld(String),

    /// This run's lease was taken over by another run, or the export was published by
    /// another: this run stopped writing.
    #[error("{0}")]
    LeaseLost(String),

    /// The source accepted no connection, or accepted one and never finished the handshake,
    /// within the URL's `connect_timeout`.
    #[error(
        "cannot connect to the source database at {endpoint}: no answer within {}s \
         (connect_timeout; the server or the network path to it is down or stalled)",
        .timeout.as_secs()
    )]
    ConnectTimeout {
        endpoint: String,
        timeout: std::time::Duration,
    },

    /// A read from the source sent no data for the URL's `read_timeout`: a stalled server
    /// or network path.
    #[error(
        "{context} from {endpoint}: no data for {}s (read_timeout; the server or the network \
         path to it stalled)",
        .timeout.as_secs()
    )]
    ReadTimeout {
        endpoint: String,
        /// What was being read, e.g. `reading public.orders`.
        context: String,
        timeout: std::time::Duration,
    },

    /// The run was asked to stop (the command line's Ctrl-C or SIGTERM) and stopped: no new
    /// chunk was taken and the pieces being read were abandoned. What was written stays for
    /// a resumed run.
    #[error("interrupted with {chunks_done} of {chunks} chunks written")]
    Interrupted {
        /// Chunks whose files and completion records are written, earlier runs' included.
        chunks_done: usize,
        /// Chunks planned; 0 when interrupted before the plan was recorded.
        chunks: usize,
    },
}

/// Why an error happened, coarse enough to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Fix the request and run again.
    InvalidInput,
    /// A network, server or store problem that may pass on retry.
    Retryable,
    /// A bug or corrupt data; retrying will not help.
    Internal,
}

impl ErrorClass {
    /// A command line's exit code for a failure of this class: 2 for a request to fix, 1 for
    /// everything else.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorClass::InvalidInput => 2,
            ErrorClass::Retryable | ErrorClass::Internal => 1,
        }
    }
}

/// A message on one line, as the command lines print errors: each line trimmed and joined
/// with spaces (server errors carry DETAIL and HINT lines of their own).
pub fn one_line(message: &str) -> String {
    message.lines().map(str::trim).collect::<Vec<_>>().join(" ")
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorClass::InvalidInput => "InvalidInput",
            ErrorClass::Retryable => "Retryable",
            ErrorClass::Internal => "Internal",
        })
    }
}

impl Error {
    /// Classifies the error by cause.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::InvalidInput(_)
            | Error::NoSuchTable { .. }
            | Error::TooBig { .. }
            | Error::GlueQuota { .. }
            | Error::NoCredentials { .. }
            // Waiting does not free a lease another run holds: the user decides (wait for
            // that run, or take the export over with --resume).
            | Error::LeaseHeld(_)
            | Error::LeaseLost(_) => ErrorClass::InvalidInput,
            Error::Connect { cause, .. } => {
                // A refused password or missing database is the user's to fix; a dead socket may pass.
                if cause.as_db_error().is_some() {
                    ErrorClass::InvalidInput
                } else {
                    ErrorClass::Retryable
                }
            }
            Error::Source { cause, .. } => match cause.code().map(|c| c.code()) {
                // No SQLSTATE: the connection broke.
                None => ErrorClass::Retryable,
                // Privileges and names: the user's to fix (grant access, fix the filter).
                Some(code) if code.starts_with("42") || code.starts_with("28") => {
                    ErrorClass::InvalidInput
                }
                // Serialization, deadlock, resources, shutdown or cancel, connection: may pass.
                Some(code) if ["40", "53", "57", "08"].iter().any(|p| code.starts_with(p)) => {
                    ErrorClass::Retryable
                }
                Some(_) => ErrorClass::Internal,
            },
            Error::MySqlConnect { cause, .. } | Error::MySql { cause, .. } => match cause {
                // Access denied, unknown database, no privilege: the user's to fix.
                mysql_async::Error::Server(e)
                    if matches!(e.code, 1044 | 1045 | 1049 | 1142 | 1143 | 1227 | 1146) =>
                {
                    ErrorClass::InvalidInput
                }
                // Deadlock, lock wait, too many connections, shutdown, a query interrupted or
                // its connection killed (KILL, a failover): may pass.
                mysql_async::Error::Server(e)
                    if matches!(e.code, 1040 | 1053 | 1205 | 1213 | 1317 | 1927) =>
                {
                    ErrorClass::Retryable
                }
                mysql_async::Error::Server(_) => ErrorClass::Internal,
                mysql_async::Error::Url(_) => ErrorClass::InvalidInput,
                _ => ErrorClass::Retryable,
            },
            // A full destination: the user's to fix (free space, choose another); waiting
            // does not help.
            Error::Store { cause, .. } if store_hint(cause) == FULL => ErrorClass::InvalidInput,
            Error::Parquet { cause, .. } if store_hint(cause) == FULL => ErrorClass::InvalidInput,
            Error::Store { cause, .. } => match cause {
                object_store::Error::NotFound { .. }
                | object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. } => ErrorClass::InvalidInput,
                _ => ErrorClass::Retryable,
            },
            Error::Decode { .. }
            | Error::Parquet { .. }
            | Error::Verify(_)
            | Error::Internal(_) => ErrorClass::Internal,
            // Not in this process, but a resumed run can finish the export.
            Error::ViewLost(_) => ErrorClass::Retryable,
            // A stalled server or network path may be back on a new connection.
            Error::ConnectTimeout { .. } | Error::ReadTimeout { .. } => ErrorClass::Retryable,
            // Running again (resuming) finishes the export.
            Error::Interrupted { .. } => ErrorClass::Retryable,
        }
    }

    /// True when running the same work again may succeed.
    pub fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::Retryable
    }

    /// An interruption whose counts the export fills in as it ends.
    pub(crate) fn interrupted() -> Self {
        Error::Interrupted {
            chunks_done: 0,
            chunks: 0,
        }
    }

    pub(crate) fn query(context: impl Into<String>, cause: tokio_postgres::Error) -> Self {
        Error::Source {
            context: context.into(),
            cause,
        }
    }

    pub(crate) fn mysql(context: impl Into<String>, cause: mysql_async::Error) -> Self {
        Error::MySql {
            context: context.into(),
            cause,
        }
    }

    pub(crate) fn store(url: impl Into<String>, cause: object_store::Error) -> Self {
        Error::Store {
            url: url.into(),
            cause,
        }
    }
}

/// Which Glue quota an export exceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlueQuotaKind {
    PerDatabase,
    PerAccount,
}

/// [`Error::GlueQuota`]'s message: how many tables, which quota (and its flag), and the two
/// ways out (folding, spreading over Glue databases), each with what it would do here.
fn glue_quota_message(
    tables: u64,
    folded: Option<u64>,
    kind: GlueQuotaKind,
    quota: u64,
    folding: bool,
    account_quota: u64,
) -> String {
    let folded_text = match folded {
        Some(n) => format!("{n} Glue tables"),
        None => format!("more than {account_quota} Glue tables"),
    };
    let what = if folding {
        format!("the export's {tables} tables (with --fold-schemas, {folded_text})")
    } else {
        format!("the export's {tables} tables")
    };
    let (over, flag) = match kind {
        GlueQuotaKind::PerDatabase => (
            format!(
                "would go into one Glue database, more than Glue's quota of {quota} tables per database"
            ),
            "--glue-max-tables-per-database",
        ),
        GlueQuotaKind::PerAccount => (
            format!("are more than Glue's quota of {quota} tables per account"),
            "--glue-max-tables-per-account",
        ),
    };
    let fold_way = if folding {
        format!("--fold-schemas is on and leaves {folded_text}")
    } else {
        let fits = folded.is_some_and(|n| n <= quota);
        format!(
            "--fold-schemas folds tables of the same name and columns across schemas into one \
             Glue table each, partitioned by schema ({folded_text} here{})",
            if fits { "" } else { ", still over the quota" }
        )
    };
    // Spreading over several Glue databases is done today by exporting the schemas in parts,
    // each into a Glue database of its own.
    let spread_way = match kind {
        GlueQuotaKind::PerDatabase => format!(
            "spread the tables over several Glue databases: export the schemas in parts of at \
             most {quota} tables (--include, --exclude), each with its own --glue-database"
        ),
        GlueQuotaKind::PerAccount => {
            "spreading the tables over several Glue databases cannot help here: the quota is \
             the account's"
                .into()
        }
    };
    format!(
        "{what} {over} ({flag}; if AWS raised your quota, set the flag to it). The two ways \
         out: {fold_way}; or {spread_way}"
    )
}

/// A byte count for people: `1.5 GiB`, `300.0 KiB`, `12 bytes`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// What to do about a store failure, when its cause says: a full disk, or credentials that
/// may not do what was asked. Empty for other causes, whose message says enough.
/// The hint a full destination's error ends with.
const FULL: &str = " (the destination is out of space: free space there or choose another \
                    destination, then run the export again)";

fn store_hint(e: &(dyn std::error::Error + 'static)) -> &'static str {
    const DENIED: &str = " (the credentials in use are not allowed to do this: grant them \
                          access to this location, or use credentials that have it)";
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            )
        {
            return FULL;
        }
        if let Some(
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. },
        ) = err.downcast_ref::<object_store::Error>()
        {
            return DENIED;
        }
        next = err.source();
    }
    // Some layers keep only their cause's text.
    let text = full(e);
    if text.contains("No space left on device") || text.contains("Disk quota exceeded") {
        FULL
    } else {
        ""
    }
}

/// An error and its causes on one line, each cause once: some errors print their cause in
/// their own message ("db error" does not, its cause holds the server's text).
fn full(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        // Skip a cause the message already shows, in full or as its last part.
        let innermost = text.rsplit(": ").next().unwrap_or(&text);
        if !out.contains(&text) && !out.ends_with(innermost) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    let mut parts: Vec<&str> = out.split(": ").collect();
    // Some drivers repeat a wrapper's label in both layers ("I/O error: I/O error: refused").
    parts.dedup();
    parts
        .join(": ")
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A TOML parse error of `text` on one line, with the line it is on when known.
pub(crate) fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    let message = one_line(e.message());
    match line {
        Some(n) => format!("line {n}: {message}"),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);
    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn command_lines_print_one_line_and_exit_by_class() {
        assert_eq!(
            one_line("ERROR: x\n  DETAIL: y\nHINT: z"),
            "ERROR: x DETAIL: y HINT: z"
        );
        assert_eq!(ErrorClass::InvalidInput.exit_code(), 2);
        assert_eq!(ErrorClass::Retryable.exit_code(), 1);
        assert_eq!(ErrorClass::Internal.exit_code(), 1);
    }

    #[test]
    fn causes_appear_once_on_one_line() {
        let e = Layer(
            "db error",
            Some(Box::new(Layer("FATAL: no such database\nDETAIL: x", None))),
        );
        assert_eq!(full(&e), "db error: FATAL: no such database DETAIL: x");
        let e = Layer(
            "I/O error: I/O error: refused",
            Some(Box::new(Layer("refused", None))),
        );
        assert_eq!(full(&e), "I/O error: refused");
    }

    #[test]
    fn store_failures_say_what_to_do_when_their_cause_says() {
        let full_disk = Error::store(
            "./lake",
            object_store::Error::Generic {
                store: "LocalFileSystem",
                source: Box::new(std::io::Error::from_raw_os_error(28)),
            },
        );
        let shown = full_disk.to_string();
        assert!(shown.contains("No space left on device"), "{shown}");
        assert!(
            shown.contains("free space there or choose another destination"),
            "{shown}"
        );
        assert_eq!(shown.lines().count(), 1, "{shown}");

        let denied = Error::store(
            "s3://lake/exports",
            object_store::Error::PermissionDenied {
                path: "exports/e1/manifest.json".into(),
                source: "AccessDenied".into(),
            },
        );
        assert_eq!(denied.class(), ErrorClass::InvalidInput);
        assert!(
            denied
                .to_string()
                .contains("the credentials in use are not allowed to do this"),
            "{denied}"
        );

        let other = Error::store(
            "s3://lake/exports",
            object_store::Error::Generic {
                store: "S3",
                source: "connection reset".into(),
            },
        );
        assert!(!other.to_string().contains(" (the "), "{other}");
    }
}
