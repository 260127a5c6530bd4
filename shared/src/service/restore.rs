//! Restore's decisions: which engines can be exported, the temporary instance's deadline,
//! and the password the secret gets.

use super::error::ServiceError;
use super::job::{Job, Restored};

/// How long the Wait state waits between checks unless `SNAPEX_POLL_SECONDS` says otherwise:
/// a restore takes minutes, and each check is a Lambda invocation and a state transition.
pub const DEFAULT_POLL_SECONDS: u32 = 30;

/// Characters the generated password never contains: RDS refuses `/`, `"`, `@` and spaces
/// in master passwords (and `'` for some engines); a backslash and a backquote are left out
/// so the password survives any client's quoting.
pub const PASSWORD_EXCLUDED_CHARACTERS: &str = "/@\"' \\`";
/// MySQL's master password limit is 41 characters; every engine takes 32.
pub const PASSWORD_LENGTH: i64 = 32;

/// The wire protocol an RDS engine speaks, which decides how the export reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Postgres,
    MySql,
}

impl Protocol {
    /// The protocol of an RDS engine name, or an input error for engines snapex cannot read
    /// (Oracle, SQL Server, Db2).
    pub fn of_engine(engine: &str) -> Result<Protocol, ServiceError> {
        match engine {
            "postgres" | "aurora-postgresql" => Ok(Protocol::Postgres),
            "mysql" | "mariadb" | "aurora-mysql" | "aurora" => Ok(Protocol::MySql),
            other => Err(ServiceError::InvalidInput(format!(
                "the snapshot's engine {other:?} is not supported: snapex exports PostgreSQL, \
                 MySQL and MariaDB (and their Aurora editions)"
            ))),
        }
    }

    /// The URL scheme the core's source takes.
    pub fn scheme(self) -> &'static str {
        match self {
            Protocol::Postgres => "postgres",
            Protocol::MySql => "mysql",
        }
    }
}

/// Unix seconds after which CheckInstance gives up: `deadline_minutes` from `now`.
pub fn deadline(now_unix: i64, deadline_minutes: u32) -> i64 {
    now_unix + i64::from(deadline_minutes) * 60
}

/// Restore's result for `job`, restored from a snapshot of `engine`, its credentials in
/// `secret_arn`.
pub fn restored(
    job: &Job,
    engine: &str,
    secret_arn: &str,
    now_unix: i64,
    poll_seconds: u32,
) -> Restored {
    Restored {
        identifier: job.instance.identifier.clone(),
        cluster_identifier: job.instance.cluster_identifier.clone(),
        engine: engine.to_string(),
        secret_arn: secret_arn.to_string(),
        deadline: deadline(now_unix, job.instance.deadline_minutes),
        poll_seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_map_to_protocols() {
        for (engine, p) in [
            ("postgres", Protocol::Postgres),
            ("aurora-postgresql", Protocol::Postgres),
            ("mysql", Protocol::MySql),
            ("mariadb", Protocol::MySql),
            ("aurora-mysql", Protocol::MySql),
        ] {
            assert_eq!(Protocol::of_engine(engine).unwrap(), p);
        }
        let e = Protocol::of_engine("sqlserver-se").unwrap_err();
        assert_eq!(e.name(), "InvalidInput");
        assert!(e.to_string().contains("sqlserver-se"));
    }

    #[test]
    fn the_deadline_is_minutes_from_now() {
        assert_eq!(deadline(1_000, 2), 1_120);
    }
}
