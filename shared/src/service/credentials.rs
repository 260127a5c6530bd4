//! The temporary instance's credentials: the secret's JSON and the source URL built from it.
//! Neither is ever logged: `Debug` hides the password, and the URL is only handed to the
//! core's source, whose `Debug` hides it too.

use serde::{Deserialize, Serialize};

use super::error::ServiceError;
use super::job::Endpoint;
use super::restore::Protocol;

/// The secret's value: `{"username", "password"}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// Parses the secret's string; the message never quotes it.
    pub fn parse(secret: &str) -> Result<Credentials, ServiceError> {
        serde_json::from_str(secret).map_err(|_| {
            ServiceError::InvalidInput(
                "the instance's secret is not JSON {\"username\", \"password\"}".into(),
            )
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::json!({"username": self.username, "password": self.password}).to_string()
    }
}

/// `postgres://user:password@host:port/database` (or `mysql://`), user, password and
/// database percent-encoded so any character survives.
pub fn source_url(
    engine: &str,
    credentials: &Credentials,
    endpoint: &Endpoint,
    database: &str,
) -> Result<String, ServiceError> {
    let scheme = Protocol::of_engine(engine)?.scheme();
    Ok(format!(
        "{scheme}://{}:{}@{}:{}/{}",
        encode(&credentials.username),
        encode(&credentials.password),
        endpoint.host,
        endpoint.port,
        encode(database)
    ))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint {
            host: "snapex-x.abc.us-east-1.rds.amazonaws.com".into(),
            port: 5432,
        }
    }

    #[test]
    fn urls_take_any_password() {
        let c = Credentials {
            username: "admin".into(),
            password: "p:a#s%s?w&o+r=d!".into(),
        };
        let url = source_url("aurora-postgresql", &c, &endpoint(), "shop").unwrap();
        assert_eq!(
            url,
            "postgres://admin:p%3Aa%23s%25s%3Fw%26o%2Br%3Dd%21@snapex-x.abc.us-east-1.rds.amazonaws.com:5432/shop"
        );
        let url = source_url("mariadb", &c, &endpoint(), "my db").unwrap();
        assert!(url.starts_with("mysql://admin:"), "{url}");
        assert!(url.ends_with("/my%20db"), "{url}");
        // The core reads it back.
        crate::source::SourceUrl::parse(&url).unwrap();
        assert!(source_url("oracle-ee", &c, &endpoint(), "x").is_err());
    }

    #[test]
    fn the_password_stays_out_of_debug_and_errors() {
        let c = Credentials::parse(r#"{"username":"u","password":"hunter2"}"#).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(Credentials::parse(&c.to_json()).unwrap(), c);
        let e = Credentials::parse("hunter2").unwrap_err();
        assert!(!e.to_string().contains("hunter2"));
    }
}
