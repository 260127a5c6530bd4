//! The scheduled sweep's decisions. EventBridge delivers RDS's events at best effort, so on a
//! schedule the trigger also lists the configured sources' snapshots and starts the exports
//! that no event started, through the same decision ([`decide`]) and the same execution name:
//! one execution per snapshot, whichever of an event and a sweep comes first, however often.
//!
//! The sweep keeps no state. Each one looks back over a fixed window (`SNAPEX_SWEEP_HOURS`,
//! [`DEFAULT_LOOKBACK_HOURS`]) and relies on the start being idempotent for what an earlier
//! sweep or an event already started. A sweep that fails or never runs is therefore
//! harmless: the next one, any time within the window, sees the same snapshots. A "last
//! sweep" marker would have to be written only after every start succeeded, could be raced
//! by two sweeps, and needs write access. The window also bounds what a sweep may start:
//! not the retained snapshots of a source just added to the configuration, and never a
//! snapshot whose execution Step Functions has forgotten (it keeps names for 90 days).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::config::ServiceConfig;
use super::decide::{Decision, decide};
use super::events::{SnapshotCreated, SnapshotOrigin};
use super::job::SnapshotKind;

/// How far back a sweep looks by default: a day of missed sweeps is harmless.
pub const DEFAULT_LOOKBACK_HOURS: u32 = 24;
/// The longest window: well inside the 90 days Step Functions keeps an execution's name,
/// which is what makes a second start of the same snapshot a no-op.
pub const MAX_LOOKBACK_HOURS: u32 = 30 * 24;

/// The only status in which a snapshot can be restored.
pub const AVAILABLE: &str = "available";

/// A snapshot as `DescribeDBSnapshots` or `DescribeDBClusterSnapshots` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedSnapshot {
    pub kind: SnapshotKind,
    pub identifier: String,
    pub arn: String,
    /// The DB instance or cluster it was taken of.
    pub source: String,
    /// `creating`, `available`, ...
    pub status: String,
    /// `automated`, `manual`, `awsbackup`, ...
    pub snapshot_type: String,
    /// `SnapshotCreateTime`; RDS gives none while the snapshot is being created.
    pub created_at: Option<DateTime<Utc>>,
}

/// What a sweep decides for one listed snapshot: a [`Decision`], as for an event.
pub fn decide_listed(
    config: &ServiceConfig,
    snapshot: &ListedSnapshot,
    now: DateTime<Utc>,
    lookback_hours: u32,
) -> Decision {
    let ignore = |reason: String| Decision::Ignore { reason };
    let id = &snapshot.identifier;
    if snapshot.status != AVAILABLE {
        return ignore(format!(
            "snapshot {id} is {}, not available yet: a later sweep or its event starts it",
            snapshot.status
        ));
    }
    let Some(created_at) = snapshot.created_at else {
        return ignore(format!("snapshot {id} has no creation time yet"));
    };
    if created_at < now - Duration::hours(i64::from(lookback_hours)) {
        return ignore(format!(
            "snapshot {id} was created before the sweep's window of {lookback_hours} hours"
        ));
    }
    let origin = match snapshot.snapshot_type.as_str() {
        "automated" => SnapshotOrigin::Automated,
        // AWS Backup's snapshots are announced as manual ones (RDS-EVENT-0042/0075).
        "manual" | "awsbackup" => SnapshotOrigin::Manual,
        other => return ignore(format!("snapshot {id} is of type {other:?}, not exported")),
    };
    let created = SnapshotCreated {
        kind: snapshot.kind,
        origin,
        identifier: snapshot.identifier.clone(),
        arn: snapshot.arn.clone(),
        time: created_at,
    };
    decide(config, &created, &snapshot.source)
}

/// The sweep's result, for its logs and the Lambda's response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepOutcome {
    /// Configured sources looked at.
    pub sources: usize,
    /// Snapshots of theirs that RDS listed.
    pub snapshots: usize,
    /// Export ids this sweep started (their events never started them).
    pub started: Vec<String>,
    /// Snapshots whose export had been started already (by its event or an earlier sweep).
    pub already_started: usize,
    /// Snapshots left alone: not available yet, outside the window, not wanted.
    pub ignored: usize,
    /// Why exports the deployed policies would refuse were not started, a line per snapshot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::config::Deployment;
    use crate::service::decide::decide;
    use crate::service::events::tests::fixture;
    use crate::service::events::{Classified, classify};
    use chrono::TimeZone;

    const CONFIG: &str = r#"
[[database]]
source = "orders-db"
database = "shop"
[[database]]
source = "billing-cluster"
database = "billing"
snapshots = "manual"
"#;

    fn config() -> ServiceConfig {
        let deployment = Deployment {
            export_bucket: Some("lake".into()),
            glue_database: Some("snapex".into()),
        };
        ServiceConfig::parse_for(CONFIG, "test", &deployment).unwrap()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 15, 12, 0, 0).unwrap()
    }

    fn listed(identifier: &str, source: &str, created_at: DateTime<Utc>) -> ListedSnapshot {
        ListedSnapshot {
            kind: SnapshotKind::Instance,
            identifier: identifier.into(),
            arn: format!("arn:aws:rds:us-east-1:123456789012:snapshot:{identifier}"),
            source: source.into(),
            status: AVAILABLE.into(),
            snapshot_type: "manual".into(),
            created_at: Some(created_at),
        }
    }

    fn reason(d: Decision) -> String {
        match d {
            Decision::Ignore { reason } | Decision::Refuse { reason } => reason,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_available_snapshot_in_the_window_starts_as_its_event_would() {
        let taken = Utc.with_ymd_and_hms(2026, 3, 14, 9, 26, 53).unwrap();
        let from_sweep = decide_listed(
            &config(),
            &listed("orders-db-before-upgrade", "orders-db", taken),
            now(),
            48,
        );
        // The event for the same snapshot, timed by RDS's creation time as the trigger does.
        let Classified::Created(event) =
            classify(&fixture("db-snapshot-manual-created.json")).unwrap()
        else {
            panic!("a snapshot event")
        };
        let from_event = decide(&config(), &event.taken_at(Some(taken)), "orders-db");
        assert_eq!(from_sweep, from_event);
        let Decision::Start {
            job,
            execution_name,
        } = from_sweep
        else {
            panic!("not started")
        };
        assert_eq!(job.export_id, "orders-db-20260314T092653Z");
        assert_eq!(job.destination, "s3://lake/exports");
        assert!(execution_name.starts_with("orders-db-20260314T092653Z-"));
    }

    #[test]
    fn what_is_not_ready_old_or_unwanted_is_ignored() {
        let recent = now() - Duration::hours(2);
        let mut creating = listed("s1", "orders-db", recent);
        creating.status = "creating".into();
        creating.created_at = None;
        assert_eq!(
            reason(decide_listed(&config(), &creating, now(), 24)),
            "snapshot s1 is creating, not available yet: a later sweep or its event starts it"
        );
        let mut timeless = listed("s2", "orders-db", recent);
        timeless.created_at = None;
        assert!(
            reason(decide_listed(&config(), &timeless, now(), 24)).contains("no creation time")
        );

        let old = listed("s3", "orders-db", now() - Duration::hours(25));
        assert!(reason(decide_listed(&config(), &old, now(), 24)).contains("window of 24 hours"));
        // The window is the setting's, edges included.
        let edge = listed("s4", "orders-db", now() - Duration::hours(24));
        assert!(matches!(
            decide_listed(&config(), &edge, now(), 24),
            Decision::Start { .. }
        ));
        assert!(matches!(
            decide_listed(&config(), &old, now(), 48),
            Decision::Start { .. }
        ));

        let mut automated = listed("s5", "billing-cluster", recent);
        automated.kind = SnapshotKind::Cluster;
        automated.snapshot_type = "automated".into();
        assert!(
            reason(decide_listed(&config(), &automated, now(), 24))
                .contains("manual snapshots only")
        );
        let mut shared = listed("s6", "orders-db", recent);
        shared.snapshot_type = "shared".into();
        assert!(reason(decide_listed(&config(), &shared, now(), 24)).contains("\"shared\""));
        let unconfigured = listed("s7", "inventory-db", recent);
        assert!(
            reason(decide_listed(&config(), &unconfigured, now(), 24))
                .contains("inventory-db is not configured")
        );
    }

    #[test]
    fn outcomes_serialize_small() {
        let o = SweepOutcome {
            sources: 2,
            snapshots: 3,
            started: vec!["orders-db-20260314T092653Z".into()],
            already_started: 1,
            ignored: 1,
            refused: vec![],
        };
        assert_eq!(
            serde_json::to_value(&o).unwrap(),
            serde_json::json!({"sources": 2, "snapshots": 3,
                "started": ["orders-db-20260314T092653Z"], "already_started": 1, "ignored": 1})
        );
    }
}

/// Property tests: whatever RDS lists, the sweep starts only available snapshots of the
/// window, each under the name its event would give it; it never panics.
#[cfg(test)]
mod props {
    use super::*;
    use crate::service::config::Deployment;
    use chrono::TimeZone;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn only_available_snapshots_of_the_window_start(
            cluster in any::<bool>(),
            identifier in "[a-z][a-z0-9-]{0,30}|rds:[a-z][a-z0-9-]{0,30}",
            source in prop_oneof![Just("orders-db".to_string()), "[a-z][a-z0-9-]{0,20}"],
            status in prop_oneof![
                4 => Just(AVAILABLE.to_string()),
                1 => Just("creating".to_string()),
                1 => any::<String>(),
            ],
            snapshot_type in prop_oneof![
                Just("manual".to_string()),
                Just("automated".to_string()),
                Just("awsbackup".to_string()),
                any::<String>(),
            ],
            age_minutes in prop::option::of(-60i64..5 * 24 * 60),
            hours in 1u32..=MAX_LOOKBACK_HOURS,
        ) {
            let now = Utc.with_ymd_and_hms(2026, 3, 15, 12, 0, 0).unwrap();
            let deployment = Deployment {
                export_bucket: Some("lake".into()),
                glue_database: Some("snapex".into()),
            };
            let config = ServiceConfig::parse_for(
                "[[database]]\nsource = \"orders-db\"\ndatabase = \"shop\"\n",
                "test",
                &deployment,
            )
            .unwrap();
            let created_at = age_minutes.map(|m| now - Duration::minutes(m));
            let listed = ListedSnapshot {
                kind: if cluster { SnapshotKind::Cluster } else { SnapshotKind::Instance },
                identifier: identifier.clone(),
                arn: format!("arn:aws:rds:us-east-1:123456789012:snapshot:{identifier}"),
                source: source.clone(),
                status: status.clone(),
                snapshot_type: snapshot_type.clone(),
                created_at,
            };
            match decide_listed(&config, &listed, now, hours) {
                Decision::Start { job, execution_name } => {
                    prop_assert_eq!(status.as_str(), AVAILABLE);
                    prop_assert_eq!(source.as_str(), "orders-db");
                    prop_assert!(["manual", "automated", "awsbackup"].contains(&snapshot_type.as_str()));
                    let created_at = created_at.unwrap();
                    prop_assert!(created_at >= now - Duration::hours(i64::from(hours)));
                    prop_assert_eq!(&job.snapshot.identifier, &identifier);
                    prop_assert_eq!(
                        job.export_id,
                        crate::service::naming::export_id("orders-db", created_at)
                    );
                    prop_assert!(execution_name.len() <= 80);
                }
                Decision::Ignore { reason } => prop_assert!(!reason.trim().is_empty()),
                Decision::Refuse { reason } => prop_assert!(false, "refused: {}", reason),
            }
        }
    }
}
