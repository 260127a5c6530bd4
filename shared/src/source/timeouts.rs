//! How long a source may stay silent: `connect_timeout` and `read_timeout`, given in the source
//! URL as whole seconds for both engines (`connect_timeout` as libpq and the mysql client spell
//! it; `read_timeout` as MySQL's client libraries name theirs). Without them, a server that
//! accepts the connection and never answers, or stops sending in the middle of a read, would
//! hang an export forever.

use std::future::Future;
use std::time::Duration;

use crate::error::{Error, Result};

/// A connection must be ready (TCP, TLS, startup, authentication and session settings) within
/// this, unless the URL says otherwise.
pub const DEFAULT_CONNECT: Duration = Duration::from_secs(30);

/// A read fails when no data arrives for this long, unless the URL says otherwise. Generous:
/// a read whose rows are few and far between in a large table (a Hive partition's rows, a
/// MySQL range the server must sort first) sends nothing while the server scans.
pub const DEFAULT_READ: Duration = Duration::from_secs(600);

/// The two limits a source URL sets; `None`: wait as long as it takes (the URL's `0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Option<Duration>,
    pub read: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Some(DEFAULT_CONNECT),
            read: Some(DEFAULT_READ),
        }
    }
}

impl Timeouts {
    /// Takes `key=value` if it is one of ours; false if `key` is not.
    pub(crate) fn take(&mut self, key: &str, value: &str, engine: &str) -> Result<bool> {
        let slot = match key {
            "connect_timeout" => &mut self.connect,
            "read_timeout" => &mut self.read,
            _ => return Ok(false),
        };
        let seconds: u64 = value.trim().parse().map_err(|_| {
            Error::InvalidInput(format!(
                "invalid {engine} URL: {key}={value:?} is not a whole number of seconds \
                 (0 waits as long as it takes)"
            ))
        })?;
        *slot = (seconds > 0).then(|| Duration::from_secs(seconds));
        Ok(true)
    }

    /// Runs `connecting` within the connect timeout.
    pub(crate) async fn connect<T>(
        &self,
        endpoint: &str,
        connecting: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        within(self.connect, connecting, |timeout| Error::ConnectTimeout {
            endpoint: endpoint.to_string(),
            timeout,
        })
        .await
    }

    /// The read timeout, with the endpoint its errors name: what a reader carries.
    pub fn reads(&self, endpoint: &str) -> ReadLimit {
        ReadLimit {
            endpoint: endpoint.to_string(),
            limit: self.read,
        }
    }
}

/// How long one read from a reader's connection may wait for data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadLimit {
    endpoint: String,
    limit: Option<Duration>,
}

impl ReadLimit {
    /// Runs one read (a statement, a query's start, the next message of a stream) within the
    /// read timeout. `context` says what is read, e.g. `reading public.orders`.
    pub(crate) async fn read<T>(
        &self,
        context: &str,
        reading: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        within(self.limit, reading, |timeout| Error::ReadTimeout {
            endpoint: self.endpoint.clone(),
            context: context.to_string(),
            timeout,
        })
        .await
    }
}

async fn within<T>(
    limit: Option<Duration>,
    work: impl Future<Output = Result<T>>,
    late: impl FnOnce(Duration) -> Error,
) -> Result<T> {
    match limit {
        None => work.await,
        Some(limit) => tokio::time::timeout(limit, work)
            .await
            .unwrap_or_else(|_| Err(late(limit))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_values_are_whole_seconds_and_zero_waits_forever() {
        let mut t = Timeouts::default();
        assert!(t.take("connect_timeout", "2", "PostgreSQL").unwrap());
        assert!(t.take("read_timeout", "0", "PostgreSQL").unwrap());
        assert_eq!(
            t,
            Timeouts {
                connect: Some(Duration::from_secs(2)),
                read: None
            }
        );
        assert!(!t.take("sslmode", "require", "PostgreSQL").unwrap());
        let e = t.take("read_timeout", "1.5", "MySQL").unwrap_err();
        assert!(e.to_string().contains("read_timeout=\"1.5\""), "{e}");
        assert!(t.take("connect_timeout", "-1", "MySQL").is_err());
    }

    #[tokio::test]
    async fn late_work_fails_with_the_limit_and_the_endpoint() {
        let t = Timeouts {
            connect: Some(Duration::from_secs(1)),
            read: Some(Duration::from_secs(1)),
        };
        let e = t
            .connect("db:5432/app", std::future::pending::<Result<()>>())
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot connect to the source database at db:5432/app: no answer within 1s \
             (connect_timeout; the server or the network path to it is down or stalled)"
        );
        assert!(e.is_retryable());
        let e = t
            .reads("db:5432/app")
            .read("reading public.t", std::future::pending::<Result<()>>())
            .await
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("reading public.t from db:5432/app: no data for 1s (read_timeout"),
            "{e}"
        );
        assert!(e.is_retryable());
        let none = Timeouts {
            connect: None,
            read: None,
        };
        assert_eq!(none.reads("x").read("y", async { Ok(5) }).await.unwrap(), 5);
    }
}
