//! CheckInstance's decisions: has the deadline passed, and what the temporary instance needs
//! next, from what RDS reports about it.
//!
//! A cluster snapshot is restored to a cluster alone: RDS adds instances only to an
//! `available` cluster, so the cluster's one instance is created here, once the cluster is
//! available; until then "no instance" means wait. Only a missing cluster (or instance of an
//! instance snapshot), or a cluster's instance that existed and vanished, is gone.
//!
//! A restored instance keeps the snapshot's master password, which we do not know. So once it
//! is `available` its password is set to the secret's (and the instance tagged so that is done
//! once); it is ready when it is `available` again with no password change pending.
//!
//! Every state RDS passes through on the way is an answer "not ready" (the state machine's
//! Wait/Choice loop checks again), never an error: a restore may take longer than any Retry
//! lasts, and only the deadline limits the wait.

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

/// What RDS reports about the temporary instance and, for a cluster snapshot, its cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// The instance exists (for a cluster snapshot, seen with its cluster).
    Instance(InstanceView),
    /// A cluster snapshot's cluster, with no instance (not created yet, or vanished).
    ClusterOnly { status: String },
    /// No temporary instance (instance snapshot) or no cluster (cluster snapshot): `what`, such
    /// as `cluster snapex-x-cluster`.
    Missing { what: String },
}

impl Observed {
    /// The status to report for the execution history.
    pub fn status(&self) -> &str {
        match self {
            Observed::Instance(view) => &view.status,
            Observed::ClusterOnly { status } => status,
            Observed::Missing { .. } => "missing",
        }
    }

    /// True when the temporary instance exists.
    pub fn has_instance(&self) -> bool {
        matches!(self, Observed::Instance(_))
    }
}

/// What CheckInstance does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Create the cluster's instance (tagged, idempotently), and check again later.
    CreateInstance,
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

/// What to do next with the instance `identifier`, seen as `observed`. `instance_seen`: an
/// earlier check saw the instance (or created it), so a cluster without one has lost it.
pub fn next(
    identifier: &str,
    observed: &Observed,
    instance_seen: bool,
) -> Result<Next, ServiceError> {
    match observed {
        Observed::Missing { what } => Err(ServiceError::Gone { what: what.clone() }),
        Observed::ClusterOnly { .. } if instance_seen => Err(ServiceError::Gone {
            what: format!("instance {identifier}"),
        }),
        Observed::ClusterOnly { status } => {
            if let Some(hint) = stuck(status) {
                return Err(ServiceError::InstanceFailed {
                    identifier: identifier.to_string(),
                    status: status.clone(),
                    hint,
                });
            }
            Ok(if status == "available" {
                Next::CreateInstance
            } else {
                Next::Wait
            })
        }
        Observed::Instance(view) => next_for_instance(identifier, view),
    }
}

/// What an existing instance needs next.
fn next_for_instance(identifier: &str, view: &InstanceView) -> Result<Next, ServiceError> {
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

    fn view(status: &str, set: bool, pending: bool) -> Observed {
        Observed::Instance(InstanceView {
            status: status.into(),
            credentials_set: set,
            password_pending: pending,
            endpoint: Some(Endpoint {
                host: "db.example".into(),
                port: 5432,
            }),
        })
    }

    fn cluster_only(status: &str) -> Observed {
        Observed::ClusterOnly {
            status: status.into(),
        }
    }

    #[test]
    fn an_instance_goes_from_creating_to_ready_through_its_password() {
        assert_eq!(
            next("i", &view("creating", false, false), true).unwrap(),
            Next::Wait
        );
        assert_eq!(
            next("i", &view("available", false, false), true).unwrap(),
            Next::SetPassword
        );
        assert_eq!(
            next("i", &view("resetting-master-credentials", true, true), true).unwrap(),
            Next::Wait
        );
        assert_eq!(
            next("i", &view("available", true, true), true).unwrap(),
            Next::Wait
        );
        assert_eq!(
            next("i", &view("available", true, false), true).unwrap(),
            Next::Ready(Endpoint {
                host: "db.example".into(),
                port: 5432
            })
        );
        let Observed::Instance(mut no_endpoint) = view("available", true, false) else {
            unreachable!()
        };
        no_endpoint.endpoint = None;
        assert_eq!(
            next("i", &Observed::Instance(no_endpoint), true).unwrap(),
            Next::Wait
        );
    }

    #[test]
    fn stuck_instances_fail_with_a_hint() {
        let e = next(
            "snapex-x",
            &view("incompatible-network", false, false),
            true,
        )
        .unwrap_err();
        assert_eq!(e.name(), "InvalidInput");
        assert!(e.to_string().contains("SNAPEX_DB_SUBNET_GROUP"), "{e}");
    }

    #[test]
    fn a_clusters_instance_is_created_once_the_cluster_is_available() {
        for status in [
            "creating",
            "backing-up",
            "modifying",
            "resetting-master-credentials",
        ] {
            assert_eq!(
                next("i", &cluster_only(status), false).unwrap(),
                Next::Wait,
                "{status}"
            );
        }
        assert_eq!(
            next("i", &cluster_only("available"), false).unwrap(),
            Next::CreateInstance
        );
        let e = next("i", &cluster_only("incompatible-restore"), false).unwrap_err();
        assert_eq!(e.name(), "InvalidInput");
        // Once created, the instance is waited for like any other.
        assert_eq!(
            next("i", &view("creating", false, false), true).unwrap(),
            Next::Wait
        );
    }

    #[test]
    fn only_a_missing_cluster_or_a_vanished_instance_is_gone() {
        let missing = Observed::Missing {
            what: "cluster snapex-x-cluster".into(),
        };
        let e = next("snapex-x", &missing, false).unwrap_err();
        assert_eq!(e.name(), "InvalidInput");
        assert_eq!(
            e.to_string(),
            "the temporary cluster snapex-x-cluster no longer exists (deleted by someone else?)"
        );
        let e = next("snapex-x", &cluster_only("available"), true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the temporary instance snapex-x no longer exists (deleted by someone else?)"
        );
        assert!(!cluster_only("available").has_instance());
        assert!(view("creating", false, false).has_instance());
        assert_eq!(cluster_only("creating").status(), "creating");
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
