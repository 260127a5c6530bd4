//! The PostgreSQL connection URL: its parsing (both forms, with our own TLS and timeout
//! options), the TLS it asks for, and the opening of a connection with the session settings
//! every reader relies on.

use std::str::FromStr;
use std::sync::Arc;

use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Client, Config, Connection, NoTls};

use crate::error::{Error, Result};
use crate::source::timeouts::Timeouts;
use crate::source::tls::{self, PgTls, Verify};

/// libpq's `sslmode`, all of it but `allow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgSslMode {
    Disable,
    /// TLS when the server offers it, plain when it declines; a failed handshake fails.
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl PgSslMode {
    fn parse(value: &str) -> Result<PgSslMode> {
        Ok(match value {
            "disable" => PgSslMode::Disable,
            "prefer" => PgSslMode::Prefer,
            "require" => PgSslMode::Require,
            "verify-ca" => PgSslMode::VerifyCa,
            "verify-full" => PgSslMode::VerifyFull,
            other => {
                return Err(Error::InvalidInput(format!(
                    "invalid PostgreSQL URL: sslmode={other:?} is not supported; expected \
                     disable, prefer, require, verify-ca or verify-full"
                )));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PgSslMode::Disable => "disable",
            PgSslMode::Prefer => "prefer",
            PgSslMode::Require => "require",
            PgSslMode::VerifyCa => "verify-ca",
            PgSslMode::VerifyFull => "verify-full",
        }
    }
}

/// A validated connection URL. `Debug` never prints the password.
#[derive(Clone)]
pub struct PgUrl {
    config: Arc<Config>,
    endpoint: String,
    ssl_mode: PgSslMode,
    /// None when `ssl_mode` is `disable`.
    tls: Option<PgTls>,
    timeouts: Timeouts,
}

impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgUrl")
            .field("endpoint", &self.endpoint)
            .field("sslmode", &self.ssl_mode.as_str())
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

impl PgUrl {
    /// Parses a `postgres://` / `postgresql://` URL or a `key=value` connection string.
    ///
    /// `sslmode` and `sslrootcert` are ours (tokio-postgres knows only part of `sslmode` and
    /// no `sslrootcert`): without `sslmode`, a host that is not this machine gets `require`
    /// and loopback hosts and Unix sockets get `disable`. A root certificate file is read here,
    /// so a missing one is a bad request, not a failed connection.
    pub fn parse(url: &str) -> Result<PgUrl> {
        let (rest, ssl) = split_own_options(url);
        let mut config = Config::from_str(&rest).map_err(|e| {
            Error::InvalidInput(format!(
                "invalid PostgreSQL URL ({e}): expected postgres://user[:password]@host[:port]/database"
            ))
        })?;
        config.application_name("snapex");
        let mut timeouts = Timeouts::default();
        for (key, value) in &ssl.timeouts {
            timeouts.take(key, value, "PostgreSQL")?;
        }
        // Each address's TCP connect too, so a host with several addresses tries the next.
        if let Some(limit) = timeouts.connect {
            config.connect_timeout(limit);
        }
        let host = config
            .get_hosts()
            .first()
            .map(|h| match h {
                Host::Tcp(h) => h.clone(),
                Host::Unix(p) => p.display().to_string(),
            })
            .unwrap_or_else(|| "localhost".into());
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let db = config.get_dbname().unwrap_or("(default)").to_string();

        let ssl_mode = match &ssl.mode {
            Some(m) => PgSslMode::parse(m)?,
            None if all_loopback(&config) => PgSslMode::Disable,
            None => PgSslMode::Require,
        };
        let roots = match &ssl.root_cert {
            Some(path) => Some(tls::load_roots("sslrootcert", path)?),
            None => None,
        };
        // As libpq: a root certificate turns prefer and require into verify-ca.
        let verify = match (ssl_mode, roots.is_some()) {
            (PgSslMode::Disable, _) => None,
            (PgSslMode::Prefer | PgSslMode::Require, false) => Some(Verify::None),
            (PgSslMode::Prefer | PgSslMode::Require | PgSslMode::VerifyCa, true) => {
                Some(Verify::Chain)
            }
            (PgSslMode::VerifyFull, true) => Some(Verify::Full),
            (PgSslMode::VerifyCa | PgSslMode::VerifyFull, false) => {
                return Err(Error::InvalidInput(format!(
                    "invalid PostgreSQL URL: sslmode={} needs sslrootcert=<PEM file> (for Amazon RDS, \
                     https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem) or sslrootcert=system",
                    ssl_mode.as_str()
                )));
            }
        };
        config.ssl_mode(match ssl_mode {
            PgSslMode::Disable => SslMode::Disable,
            PgSslMode::Prefer => SslMode::Prefer,
            _ => SslMode::Require,
        });
        let tls = match verify {
            Some(v) => Some(PgTls::new(tls::client_config(v, roots)?)),
            None => None,
        };
        Ok(PgUrl {
            endpoint: format!("{host}:{port}/{db}"),
            config: config.into(),
            ssl_mode,
            tls,
            timeouts,
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The `sslmode` in force: the URL's, or the default for its host.
    pub fn ssl_mode(&self) -> PgSslMode {
        self.ssl_mode
    }

    /// How long a connection and a read may wait for the server.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Opens a connection with the session settings every reader relies on, within the
    /// URL's `connect_timeout` (all of it: TCP, TLS, startup, authentication, settings).
    pub async fn connect(&self) -> Result<Client> {
        // Boxed: a connection is opened once per reader, and an unboxed future here makes the
        // types of the futures above it (a Lambda's handler) too deep for the compiler.
        self.timeouts
            .connect(&self.endpoint, Box::pin(self.connect_unbounded()))
            .await
    }

    async fn connect_unbounded(&self) -> Result<Client> {
        let connected = match &self.tls {
            None => spawn_connection(self.config.connect(NoTls).await),
            Some(tls) => spawn_connection(self.config.connect(tls.clone()).await),
        };
        let client = connected.map_err(|cause| Error::Connect {
            endpoint: self.endpoint.clone(),
            cause,
        })?;
        // Text casts (time, ranges, ...) must not depend on the server's or role's defaults.
        // A SQL_ASCII database checks nothing it stores, but checks what it sends to a UTF-8
        // session, so one stray byte would fail the whole read: such a session takes the bytes
        // as stored, and the decoder writes text that is not UTF-8 as NULL, counted.
        client
            .batch_execute(
                "SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; \
                 SET extra_float_digits = 3; SET statement_timeout = 0; \
                 SELECT set_config('client_encoding', 'SQL_ASCII', false) \
                 WHERE current_setting('server_encoding') = 'SQL_ASCII'",
            )
            .await
            .map_err(|e| Error::query("setting session parameters", e))?;
        Ok(client)
    }
}

/// Drives a new connection in its own task and hands back its client.
fn spawn_connection<S, T>(
    connected: std::result::Result<(Client, Connection<S, T>), tokio_postgres::Error>,
) -> std::result::Result<Client, tokio_postgres::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (client, connection) = connected?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("postgres connection closed: {e}");
        }
    });
    Ok(client)
}

/// Whether every host the configuration names is this machine (or none is named).
fn all_loopback(config: &Config) -> bool {
    config.get_hosts().iter().all(|h| match h {
        Host::Tcp(h) => tls::is_loopback_host(h),
        Host::Unix(_) => true,
    }) && config.get_hostaddrs().iter().all(|a| a.is_loopback())
}

/// The options taken out of a connection string: TLS and timeouts.
#[derive(Debug, Default, PartialEq, Eq)]
struct OwnOptions {
    mode: Option<String>,
    root_cert: Option<String>,
    /// `connect_timeout` and `read_timeout`, as written.
    timeouts: Vec<(String, String)>,
}

/// Takes `sslmode`, `sslrootcert`, `connect_timeout` and `read_timeout` out of a URL's query
/// or a `key=value` string, leaving the rest as written for tokio-postgres (which knows no
/// `read_timeout`, and bounds only the TCP connect with its `connect_timeout`). The last
/// occurrence wins, as in libpq.
fn split_own_options(url: &str) -> (String, OwnOptions) {
    let mut ssl = OwnOptions::default();
    let mut take = |key: &str, value: String| match key {
        "sslmode" => {
            ssl.mode = Some(value);
            true
        }
        "sslrootcert" => {
            ssl.root_cert = Some(value);
            true
        }
        "connect_timeout" | "read_timeout" => {
            ssl.timeouts.push((key.to_string(), value));
            true
        }
        _ => false,
    };
    if url.contains("://") {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_string(), ssl);
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                !take(k, tls::percent_decode(v))
            })
            .collect();
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return (rest, ssl);
    }
    // key=value: remove the pairs' spans; anything unparsable is left for tokio-postgres to
    // report.
    let Some(pairs) = key_value_pairs(url) else {
        return (url.to_string(), ssl);
    };
    let mut rest = String::new();
    let mut at = 0;
    for (key, value, span) in pairs {
        if take(&key, value) {
            rest.push_str(&url[at..span.start]);
            at = span.end;
        }
    }
    rest.push_str(&url[at..]);
    (rest, ssl)
}

/// The `key = value` pairs of a libpq connection string with each one's byte span; values
/// may be single-quoted, and a backslash escapes the next character. None if malformed.
fn key_value_pairs(s: &str) -> Option<Vec<(String, String, std::ops::Range<usize>)>> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i >= b.len() {
            return Some(out);
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' {
            i += 1;
        }
        let key = s[start..i].to_string();
        skip_ws(&mut i);
        if i >= b.len() || b[i] != b'=' || key.is_empty() {
            return None;
        }
        i += 1;
        skip_ws(&mut i);
        let mut value = Vec::new();
        let quoted = i < b.len() && b[i] == b'\'';
        if quoted {
            i += 1;
        }
        loop {
            if i >= b.len() {
                if quoted {
                    return None;
                }
                break;
            }
            match b[i] {
                b'\'' if quoted => {
                    i += 1;
                    break;
                }
                c if !quoted && c.is_ascii_whitespace() => break,
                b'\\' if i + 1 < b.len() => {
                    value.push(b[i + 1]);
                    i += 2;
                }
                c => {
                    value.push(c);
                    i += 1;
                }
            }
        }
        out.push((key, String::from_utf8(value).ok()?, start..i));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let u = PgUrl::parse("postgres://alice:s3cret@db.example:6543/app").unwrap();
        let shown = format!("{u:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(u.endpoint(), "db.example:6543/app");
    }

    #[test]
    fn sslmode_defaults_by_host() {
        for (url, mode) in [
            ("postgres://u@127.0.0.1/db", PgSslMode::Disable),
            ("postgres://u@localhost:5433/db", PgSslMode::Disable),
            ("postgres://u@[::1]/db", PgSslMode::Disable),
            ("host=/var/run/postgresql dbname=db", PgSslMode::Disable),
            ("postgres://u@db.example/db", PgSslMode::Require),
            ("host=10.1.2.3 user=u dbname=db", PgSslMode::Require),
            ("postgres://u@localhost,db.example/db", PgSslMode::Require),
            (
                "postgres://u@db.example/db?sslmode=disable",
                PgSslMode::Disable,
            ),
            (
                "postgres://u@127.0.0.1/db?sslmode=require",
                PgSslMode::Require,
            ),
            (
                "postgres://u@db.example/db?sslmode=prefer&connect_timeout=5",
                PgSslMode::Prefer,
            ),
            (
                "host=db.example sslmode = 'disable' dbname=db",
                PgSslMode::Disable,
            ),
        ] {
            let u = PgUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(u.ssl_mode(), mode, "{url}");
            assert_eq!(u.tls.is_some(), mode != PgSslMode::Disable, "{url}");
        }
    }

    #[test]
    fn ssl_options_are_taken_out_of_both_forms() {
        let (rest, ssl) = split_own_options(
            "postgres://u:p%40ss@h/db?sslmode=verify-full&application_name=x&sslrootcert=%2Ftmp%2Fa%20b.pem",
        );
        assert_eq!(rest, "postgres://u:p%40ss@h/db?application_name=x");
        assert_eq!(ssl.mode.as_deref(), Some("verify-full"));
        assert_eq!(ssl.root_cert.as_deref(), Some("/tmp/a b.pem"));
        let (rest, ssl) = split_own_options("postgres://u@h/db?sslmode=require");
        assert_eq!(rest, "postgres://u@h/db");
        assert_eq!(ssl.mode.as_deref(), Some("require"));
        let (rest, ssl) = split_own_options(
            r"host=h password='a b\' c' sslrootcert='/x/my roots.pem' sslmode=verify-ca dbname=d",
        );
        assert_eq!(rest, r"host=h password='a b\' c'   dbname=d");
        assert_eq!(ssl.mode.as_deref(), Some("verify-ca"));
        assert_eq!(ssl.root_cert.as_deref(), Some("/x/my roots.pem"));
        let (rest, own) =
            split_own_options("postgres://u@h/db?connect_timeout=2&read_timeout=0&sslmode=disable");
        assert_eq!(rest, "postgres://u@h/db");
        assert_eq!(
            own.timeouts,
            [
                ("connect_timeout".to_string(), "2".to_string()),
                ("read_timeout".to_string(), "0".to_string())
            ]
        );
        let u = PgUrl::parse("host=h connect_timeout=2 read_timeout=0 dbname=d").unwrap();
        assert_eq!(
            u.timeouts().connect,
            Some(std::time::Duration::from_secs(2))
        );
        assert_eq!(u.timeouts().read, None);
        assert_eq!(
            PgUrl::parse("postgres://u@h/db").unwrap().timeouts(),
            Timeouts::default()
        );
        assert!(PgUrl::parse("postgres://u:s3cret@h/db?read_timeout=soon").is_err());
        assert_eq!(
            split_own_options("host=h dbname=d"),
            ("host=h dbname=d".to_string(), OwnOptions::default())
        );
    }

    #[test]
    fn bad_ssl_options_are_invalid_input_without_the_password() {
        for (url, says) in [
            (
                "postgres://u:s3cret@h/db?sslmode=allow",
                "sslmode=\"allow\" is not supported",
            ),
            (
                "postgres://u:s3cret@h/db?sslmode=verify-full",
                "needs sslrootcert",
            ),
            (
                "postgres://u:s3cret@h/db?sslmode=verify-ca&sslrootcert=/nonexistent.pem",
                "cannot read sslrootcert file",
            ),
        ] {
            let e = PgUrl::parse(url).unwrap_err();
            assert_eq!(e.class(), crate::error::ErrorClass::InvalidInput, "{url}");
            let shown = e.to_string();
            assert!(shown.contains(says), "{url}: {shown}");
            assert!(!shown.contains("s3cret"), "{shown}");
        }
    }

    #[test]
    fn bad_urls_are_invalid_input() {
        let e = PgUrl::parse("postgres://h:notaport/db").unwrap_err();
        assert_eq!(e.class(), crate::error::ErrorClass::InvalidInput);
    }
}
