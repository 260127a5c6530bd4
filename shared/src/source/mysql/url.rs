//! The MySQL connection URL: its parsing (with our own TLS and timeout options, as the mysql
//! client's), the TLS it asks for, and the opening of a connection with the session settings
//! every reader relies on.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, SslOpts};

use crate::error::{Error, Result};
use crate::source::timeouts::Timeouts;
use crate::source::tls;

/// The mysql client's `--ssl-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MySslMode {
    Disabled,
    /// TLS when the server offers it, plain when it does not; no certificate check.
    Preferred,
    /// TLS or fail; no certificate check (as the mysql client, even with `ssl-ca`).
    Required,
    /// TLS, and the chain must end at a root in `ssl-ca`. mysql_async 0.37 checks the host
    /// name as well (its name-skipping test no longer matches rustls' error), so for now this
    /// is as strict as `VERIFY_IDENTITY`.
    VerifyCa,
    /// TLS, the chain must end at a root in `ssl-ca`, and the certificate must name the host.
    VerifyIdentity,
}

impl MySslMode {
    fn parse(value: &str) -> Result<MySslMode> {
        Ok(match value.to_ascii_uppercase().as_str() {
            "DISABLED" => MySslMode::Disabled,
            "PREFERRED" => MySslMode::Preferred,
            "REQUIRED" => MySslMode::Required,
            "VERIFY_CA" => MySslMode::VerifyCa,
            "VERIFY_IDENTITY" => MySslMode::VerifyIdentity,
            _ => {
                return Err(Error::InvalidInput(format!(
                    "invalid MySQL URL: ssl-mode={value:?} is not supported; expected DISABLED, \
                     PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY"
                )));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MySslMode::Disabled => "DISABLED",
            MySslMode::Preferred => "PREFERRED",
            MySslMode::Required => "REQUIRED",
            MySslMode::VerifyCa => "VERIFY_CA",
            MySslMode::VerifyIdentity => "VERIFY_IDENTITY",
        }
    }
}

/// A validated `mysql://` URL. `Debug` never prints the password.
#[derive(Clone)]
pub struct MyUrl {
    opts: Opts,
    endpoint: String,
    /// None when the URL chose TLS with mysql_async's own `require_ssl` options.
    ssl_mode: Option<MySslMode>,
    timeouts: Timeouts,
}

impl std::fmt::Debug for MyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MyUrl")
            .field("endpoint", &self.endpoint)
            .field("ssl_mode", &self.ssl_mode)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

impl MyUrl {
    /// Parses `mysql://user[:password]@host[:port][/database]` (`mariadb://` is accepted too).
    ///
    /// `ssl-mode` and `ssl-ca` are ours, as the mysql client's options: without `ssl-mode`, a
    /// host that is not this machine gets `REQUIRED` and a loopback host `DISABLED` (unless
    /// mysql_async's own `require_ssl=true` is given). An `ssl-ca` file is read here, so a
    /// missing one is a bad request.
    pub fn parse(url: &str) -> Result<MyUrl> {
        let normalized = match url.strip_prefix("mariadb://") {
            Some(rest) => format!("mysql://{rest}"),
            None => url.to_string(),
        };
        let (rest, mode, ca, own) = split_ssl_options(&normalized);
        let mut timeouts = Timeouts::default();
        for (key, value) in &own {
            timeouts.take(key, value, "MySQL")?;
        }
        let opts = Opts::from_url(&rest).map_err(|e| {
            Error::InvalidInput(format!(
                "invalid MySQL URL ({e}): expected mysql://user[:password]@host[:port]/database"
            ))
        })?;
        let endpoint = format!(
            "{}:{}/{}",
            opts.ip_or_hostname(),
            opts.tcp_port(),
            opts.db_name().unwrap_or("(all databases)")
        );
        let ssl_mode = match mode {
            Some(m) => Some(MySslMode::parse(&m)?),
            None if opts.ssl_opts().is_some() => None,
            None if tls::is_loopback_host(opts.ip_or_hostname()) => Some(MySslMode::Disabled),
            None => Some(MySslMode::Required),
        };
        let ssl = match (ssl_mode, ca) {
            (None, _) => opts.ssl_opts().cloned(),
            (Some(MySslMode::Disabled), _) => None,
            // Built-in roots stay in: mysql_async builds its verifier from them even when it
            // then accepts any certificate.
            (Some(MySslMode::Preferred | MySslMode::Required), _) => {
                Some(SslOpts::default().with_danger_accept_invalid_certs(true))
            }
            (Some(m @ (MySslMode::VerifyCa | MySslMode::VerifyIdentity)), Some(ca)) => {
                tls::load_roots("ssl-ca", &ca)?;
                Some(
                    SslOpts::default()
                        .with_root_certs(vec![std::path::PathBuf::from(ca).into()])
                        .with_disable_built_in_roots(true)
                        .with_danger_skip_domain_validation(m == MySslMode::VerifyCa),
                )
            }
            (Some(m), None) => {
                return Err(Error::InvalidInput(format!(
                    "invalid MySQL URL: ssl-mode={} needs ssl-ca=<PEM file> (for Amazon RDS, \
                     https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem)",
                    m.as_str()
                )));
            }
        };
        let opts = OptsBuilder::from_opts(opts).ssl_opts(ssl).into();
        Ok(MyUrl {
            opts,
            endpoint,
            ssl_mode,
            timeouts,
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The `ssl-mode` in force: the URL's or the default for its host (None when the URL
    /// set TLS with mysql_async's own options).
    pub fn ssl_mode(&self) -> Option<MySslMode> {
        self.ssl_mode
    }

    /// The database named in the URL, if any; without one every non-system database is read.
    pub fn database(&self) -> Option<&str> {
        self.opts.db_name()
    }

    /// How long a connection and a read may wait for the server.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Opens a connection with the session settings every reader relies on, within the
    /// URL's `connect_timeout` (all of it: TCP, TLS, handshake, authentication, settings).
    pub async fn connect(&self) -> Result<Conn> {
        // Boxed: a connection is opened once per reader, and an unboxed future here makes the
        // types of the futures above it (a Lambda's handler) too deep for the compiler.
        self.timeouts
            .connect(&self.endpoint, Box::pin(self.connect_unbounded()))
            .await
    }

    async fn connect_unbounded(&self) -> Result<Conn> {
        if self.opts.ssl_opts().is_some() {
            tls::install_default_provider();
        }
        let connected = match Conn::new(self.opts.clone()).await {
            Err(mysql_async::Error::Driver(
                mysql_async::DriverError::NoClientSslFlagFromServer,
            )) if self.ssl_mode == Some(MySslMode::Preferred) => {
                let plain = OptsBuilder::from_opts(self.opts.clone()).ssl_opts(None);
                Conn::new(plain).await
            }
            Err(mysql_async::Error::Driver(
                mysql_async::DriverError::NoClientSslFlagFromServer,
            )) => {
                return Err(Error::InvalidInput(format!(
                    "cannot connect to the source database at {}: the server does not offer TLS, \
                     which ssl-mode={} needs (enable TLS on the server, or set ssl-mode=PREFERRED \
                     or ssl-mode=DISABLED in --source)",
                    self.endpoint,
                    self.ssl_mode.map_or("REQUIRED", MySslMode::as_str)
                )));
            }
            other => other,
        };
        let mut conn = connected.map_err(|e| Error::MySqlConnect {
            endpoint: self.endpoint.clone(),
            cause: e,
        })?;
        // UTF-8 out whatever the column's character set; TIMESTAMP as UTC; long reads must not
        // time out while the writer uploads.
        for set in [
            "SET NAMES utf8mb4, time_zone = '+00:00', SESSION net_write_timeout = 3600, \
             SESSION net_read_timeout = 3600",
            "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        ] {
            conn.query_drop(set)
                .await
                .map_err(|e| Error::mysql("setting session parameters", e))?;
        }
        Ok(conn)
    }
}

/// The `connect_timeout` and `read_timeout` pairs of a URL, as written.
type TimeoutOptions = Vec<(String, String)>;

/// Takes `ssl-mode`, `ssl-ca`, `connect_timeout` and `read_timeout` out of a URL's query,
/// leaving the rest as written for mysql_async (which refuses parameters it does not know).
/// The last occurrence wins.
fn split_ssl_options(url: &str) -> (String, Option<String>, Option<String>, TimeoutOptions) {
    let (mut mode, mut ca, mut timeouts) = (None, None, Vec::new());
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), mode, ca, timeouts);
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "ssl-mode" => mode = Some(tls::percent_decode(v)),
                "ssl-ca" => ca = Some(tls::percent_decode(v)),
                "connect_timeout" | "read_timeout" => {
                    timeouts.push((k.to_string(), tls::percent_decode(v)));
                }
                _ => return true,
            }
            false
        })
        .collect();
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (rest, mode, ca, timeouts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_mode_defaults_by_host() {
        for (url, mode) in [
            (
                "mysql://root@127.0.0.1:3306/shop",
                Some(MySslMode::Disabled),
            ),
            ("mysql://root@localhost/shop", Some(MySslMode::Disabled)),
            ("mysql://root@db.example/shop", Some(MySslMode::Required)),
            ("mariadb://root@10.0.0.7/shop", Some(MySslMode::Required)),
            (
                "mysql://root@db.example/shop?ssl-mode=DISABLED",
                Some(MySslMode::Disabled),
            ),
            (
                "mysql://root@127.0.0.1/shop?ssl-mode=preferred",
                Some(MySslMode::Preferred),
            ),
            ("mysql://root@127.0.0.1/shop?require_ssl=true", None),
        ] {
            let u = MyUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(u.ssl_mode(), mode, "{url}");
            let tls = u.opts.ssl_opts();
            assert_eq!(tls.is_some(), mode != Some(MySslMode::Disabled), "{url}");
            if matches!(mode, Some(MySslMode::Required | MySslMode::Preferred)) {
                assert!(tls.unwrap().accept_invalid_certs(), "{url}");
            }
        }
    }

    #[test]
    fn ssl_options_are_ours_and_checked() {
        let (rest, mode, ca, timeouts) = split_ssl_options(
            "mysql://u@h/db?ssl-mode=VERIFY_IDENTITY&prefer_socket=false&ssl-ca=%2Fx%2Fca.pem&connect_timeout=2",
        );
        assert_eq!(rest, "mysql://u@h/db?prefer_socket=false");
        assert_eq!(mode.as_deref(), Some("VERIFY_IDENTITY"));
        assert_eq!(ca.as_deref(), Some("/x/ca.pem"));
        assert_eq!(timeouts, [("connect_timeout".to_string(), "2".to_string())]);
        let u = MyUrl::parse("mysql://u@h/db?connect_timeout=2&read_timeout=0").unwrap();
        assert_eq!(
            u.timeouts().connect,
            Some(std::time::Duration::from_secs(2))
        );
        assert_eq!(u.timeouts().read, None);
        assert_eq!(
            MyUrl::parse("mysql://u@h/db").unwrap().timeouts(),
            Timeouts::default()
        );
        for (url, says) in [
            (
                "mysql://u:s3cret@h/db?ssl-mode=SOMETIMES",
                "ssl-mode=\"SOMETIMES\" is not supported",
            ),
            ("mysql://u:s3cret@h/db?ssl-mode=VERIFY_CA", "needs ssl-ca"),
            (
                "mysql://u:s3cret@h/db?connect_timeout=2s",
                "connect_timeout=\"2s\" is not a whole number of seconds",
            ),
            (
                "mysql://u:s3cret@h/db?ssl-mode=VERIFY_IDENTITY&ssl-ca=/nonexistent.pem",
                "cannot read ssl-ca file",
            ),
        ] {
            let e = MyUrl::parse(url).unwrap_err();
            assert_eq!(e.class(), crate::error::ErrorClass::InvalidInput, "{url}");
            let shown = e.to_string();
            assert!(shown.contains(says), "{url}: {shown}");
            assert!(!shown.contains("s3cret"), "{shown}");
        }
    }

    #[test]
    fn urls_parse_and_hide_passwords() {
        let u = MyUrl::parse("mysql://root:s3cret@db.example:3307/shop").unwrap();
        assert_eq!(u.endpoint(), "db.example:3307/shop");
        assert!(!format!("{u:?}").contains("s3cret"));
        assert_eq!(
            MyUrl::parse("mariadb://root@h/x").unwrap().database(),
            Some("x")
        );
        assert!(MyUrl::parse("mysql://h:notaport/db").is_err());
    }
}
