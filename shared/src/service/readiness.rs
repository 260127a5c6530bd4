//! CheckInstance's decisions: has the deadline passed, and what the temporary instance needs
//! next, from what RDS reports about it.
//!
//! A restored instance keeps the snapshot's master password, which we do not know. So once it
//! is `available` its password is set to the secret's (and the instance tagged so that is done
//! once); it is ready when it is `available` again with no password change pending.

use chrono::{DateTime, Utc};

use super::error::ServiceError;
use super::job::Endpoint;

/// What RDS reports about the temporary instance (for a cluster: the cluster and its
/// instance, see [`combined_status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceView {
    pub status: String,
    /// The instance (or cluster) carries the credentials tag: its password was set.
    pub credentials_set: bool,
    /// A master password change is still being applied.
    pub password_pending: bool,
    pub endpoint: Option<Endpoint>,
}

/// What CheckInstance does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Set the master password to the secret's, tag, and check again later.
    SetPassword,
    /// Not ready yet; check again later.
    Wait,
    Ready(Endpoint),
}

/// Fails with `RestoreDeadline` once `now` is past `deadline` (Unix seconds).
pub fn check_deadline(identifier: &str, deadline: i64, now: i64) -> Result<(), ServiceError> {
    if now > deadline {
        let at = DateTime::<Utc>::from_timestamp(deadline, 0)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_else(|| deadline.to_string());
        return Err(ServiceError::RestoreDeadline {
            identifier: identifier.to_string(),
            deadline: at,
        });
    }
    Ok(())
}

/// Statuses an instance or cluster does not leave by itself, with what to do about each.
fn stuck(status: &str) -> Option<&'static str> {
    Some(match status {
        "failed" | "restore-error" => "RDS could not restore the snapshot; see the RDS events",
        "incompatible-restore" | "incompatible-parameters" => {
            "the snapshot cannot be restored with these settings; see the RDS events"
        }
        "incompatible-network" => {
            "check SNAPEX_DB_SUBNET_GROUP and SNAPEX_SECURITY_GROUP_IDS (the subnet group needs free addresses)"
        }
        "inaccessible-encryption-credentials"
        | "inaccessible-encryption-credentials-recoverable" => {
            "the snapshot's KMS key cannot be used; grant the key to the restore"
        }
        "storage-full" => "the restored instance is out of storage",
        "deleting" | "deleted" => "it is being deleted",
        _ => return None,
    })
}

/// The status to act on for a cluster and its one instance: the cluster's until it is
/// available, then the instance's.
pub fn combined_status(cluster: &str, instance: &str) -> String {
    if cluster == "available" {
        instance.to_string()
    } else {
        cluster.to_string()
    }
}

/// What to do next with the instance `identifier`, seen as `view`.
pub fn next(identifier: &str, view: &InstanceView) -> Result<Next, ServiceError> {
    if let Some(hint) = stuck(&view.status) {
        return Err(ServiceError::InstanceFailed {
            identifier: identifier.to_string(),
            status: view.status.clone(),
            hint,
        });
    }
    if view.status != "available" {
        return Ok(Next::Wait);
    }
    if !view.credentials_set {
        return Ok(Next::SetPassword);
    }
    match (&view.endpoint, view.password_pending) {
        (Some(endpoint), false) => Ok(Next::Ready(endpoint.clone())),
        _ => Ok(Next::Wait),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(status: &str, set: bool, pending: bool) -> InstanceView {
        InstanceView {
            status: status.into(),
            credentials_set: set,
            password_pending: pending,
            endpoint: Some(Endpoint {
                host: "db.example".into(),
                port: 5432,
            }),
        }
    }

    #[test]
    fn an_instance_goes_from_creating_to_ready_through_its_password() {
        assert_eq!(
            next("i", &view("creating", false, false)).unwrap(),
            Next::Wait
        );
        assert_eq!(
            next("i", &view("available", false, false)).unwrap(),
            Next::SetPassword
        );
        assert_eq!(
            next("i", &view("resetting-master-credentials", true, true)).unwrap(),
            Next::Wait
        );
        assert_eq!(
            next("i", &view("available", true, true)).unwrap(),
            Next::Wait
        );
        assert_eq!(
            next("i", &view("available", true, false)).unwrap(),
            Next::Ready(Endpoint {
                host: "db.example".into(),
                port: 5432
            })
        );
        let mut no_endpoint = view("available", true, false);
        no_endpoint.endpoint = None;
        assert_eq!(next("i", &no_endpoint).unwrap(), Next::Wait);
    }

    #[test]
    fn stuck_instances_fail_with_a_hint() {
        let e = next("snapex-x", &view("incompatible-network", false, false)).unwrap_err();
        assert_eq!(e.name(), "InvalidInput");
        assert!(e.to_string().contains("SNAPEX_DB_SUBNET_GROUP"), "{e}");
    }

    #[test]
    fn clusters_wait_for_the_cluster_then_the_instance() {
        assert_eq!(combined_status("creating", "available"), "creating");
        assert_eq!(combined_status("available", "creating"), "creating");
        assert_eq!(combined_status("available", "available"), "available");
    }

    #[test]
    fn the_deadline_fails_with_its_own_name() {
        assert!(check_deadline("i", 100, 100).is_ok());
        let e = check_deadline("snapex-x", 100, 101).unwrap_err();
        assert_eq!(e.name(), "RestoreDeadline");
        assert!(e.to_string().contains("1970-01-01T00:01:40Z"), "{e}");
    }
}
