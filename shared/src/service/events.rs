//! Reading the EventBridge events the trigger receives: which ones announce a new RDS snapshot
//! (of a DB instance or of an Aurora cluster), and everything else, which is ignored.
//!
//! The shape is EventBridge's envelope (`source`, `detail-type`, `time`, `resources`) with
//! RDS's `detail` (`EventID`, `SourceIdentifier`, `SourceArn`, `Message`, ...). A snapshot is
//! known to be complete by its event id: `RDS-EVENT-0042` (manual) and `RDS-EVENT-0091`
//! (automated) for DB snapshots, `RDS-EVENT-0075` (manual) and `RDS-EVENT-0169` (automated)
//! for cluster snapshots. Older events carry no `EventID`; their `Message` says the same.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::error::ServiceError;
use super::job::SnapshotKind;

pub const DB_SNAPSHOT_EVENT: &str = "RDS DB Snapshot Event";
pub const CLUSTER_SNAPSHOT_EVENT: &str = "RDS DB Cluster Snapshot Event";

/// How the snapshot was made: what a configuration's `snapshots` setting selects on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotOrigin {
    /// Taken by someone (or AWS Backup), `RDS-EVENT-0042` / `RDS-EVENT-0075`.
    Manual,
    /// Taken by RDS's backup window, `RDS-EVENT-0091` / `RDS-EVENT-0169`.
    Automated,
}

/// A snapshot-created event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotCreated {
    pub kind: SnapshotKind,
    pub origin: SnapshotOrigin,
    /// `rds:orders-db-2026-12-01-03-10` (automated) or `before-upgrade` (manual).
    pub identifier: String,
    pub arn: String,
    /// The event's time: when RDS announced the snapshot.
    pub time: DateTime<Utc>,
}

/// What the trigger makes of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    Created(SnapshotCreated),
    /// Not a snapshot-created event; the reason says what it was.
    Ignored(String),
}

#[derive(Deserialize)]
struct Envelope {
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    time: String,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    detail: serde_json::Value,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Detail {
    #[serde(rename = "EventID")]
    event_id: Option<String>,
    message: Option<String>,
    source_identifier: Option<String>,
    source_arn: Option<String>,
}

/// Which snapshot-created event an event id (else a message) is.
fn created(kind: SnapshotKind, d: &Detail) -> Option<SnapshotOrigin> {
    use SnapshotKind::*;
    use SnapshotOrigin::*;
    match (kind, d.event_id.as_deref()) {
        (Instance, Some("RDS-EVENT-0042")) | (Cluster, Some("RDS-EVENT-0075")) => Some(Manual),
        (Instance, Some("RDS-EVENT-0091")) | (Cluster, Some("RDS-EVENT-0169")) => Some(Automated),
        (_, Some(_)) => None,
        (_, None) => match d.message.as_deref().map(|m| m.trim_end_matches('.')) {
            Some("Manual snapshot created" | "Manual cluster snapshot created") => Some(Manual),
            Some("Automated snapshot created" | "Automated cluster snapshot created") => {
                Some(Automated)
            }
            _ => None,
        },
    }
}

/// Classifies one event. Anything that is not an EventBridge event at all is an error (the
/// rule that invokes the trigger is misconfigured); an EventBridge event that does not announce
/// a new snapshot is [`Classified::Ignored`]; a snapshot-created event without the fields it
/// always has is an error.
pub fn classify(event: &serde_json::Value) -> Result<Classified, ServiceError> {
    let env = Envelope::deserialize(event).map_err(|e| {
        ServiceError::Event(format!(
            "not an EventBridge event ({e}); the trigger takes RDS snapshot events"
        ))
    })?;
    let kind = match (env.source.as_str(), env.detail_type.as_str()) {
        ("aws.rds", DB_SNAPSHOT_EVENT) => SnapshotKind::Instance,
        ("aws.rds", CLUSTER_SNAPSHOT_EVENT) => SnapshotKind::Cluster,
        (source, detail_type) => {
            return Ok(Classified::Ignored(format!(
                "not an RDS snapshot event: {source} {detail_type:?}"
            )));
        }
    };
    let detail = Detail::deserialize(&env.detail)
        .map_err(|e| ServiceError::Event(format!("{}: detail: {e}", env.detail_type)))?;
    let Some(origin) = created(kind, &detail) else {
        let what = detail
            .event_id
            .as_deref()
            .or(detail.message.as_deref())
            .unwrap_or("no EventID");
        return Ok(Classified::Ignored(format!(
            "{} {what} does not announce a new snapshot",
            env.detail_type
        )));
    };
    let missing = |field: &str| ServiceError::Event(format!("{}: no {field}", env.detail_type));
    let identifier = detail
        .source_identifier
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("detail.SourceIdentifier"))?;
    let arn = detail
        .source_arn
        .or_else(|| env.resources.into_iter().next())
        .ok_or_else(|| missing("detail.SourceArn or resources"))?;
    let time = DateTime::parse_from_rfc3339(&env.time)
        .map_err(|e| ServiceError::Event(format!("time {:?}: {e}", env.time)))?
        .with_timezone(&Utc);
    Ok(Classified::Created(SnapshotCreated {
        kind,
        origin,
        identifier,
        arn,
        time,
    }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One of the event fixtures in `tests/fixtures/events/`.
    pub(crate) fn fixture(name: &str) -> serde_json::Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/events")
            .join(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn created_from(name: &str) -> SnapshotCreated {
        match classify(&fixture(name)).unwrap() {
            Classified::Created(c) => c,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn snapshot_created_events_are_recognised() {
        let manual = created_from("db-snapshot-manual-created.json");
        assert_eq!(manual.kind, SnapshotKind::Instance);
        assert_eq!(manual.origin, SnapshotOrigin::Manual);
        assert_eq!(manual.identifier, "orders-db-before-upgrade");
        assert_eq!(
            manual.arn,
            "arn:aws:rds:us-east-1:123456789012:snapshot:orders-db-before-upgrade"
        );
        assert_eq!(manual.time.to_rfc3339(), "2026-03-14T09:26:53+00:00");

        let auto = created_from("db-snapshot-automated-created.json");
        assert_eq!(auto.kind, SnapshotKind::Instance);
        assert_eq!(auto.origin, SnapshotOrigin::Automated);
        assert_eq!(auto.identifier, "rds:orders-db-2026-03-15-03-10");

        let cluster = created_from("cluster-snapshot-manual-created.json");
        assert_eq!(cluster.kind, SnapshotKind::Cluster);
        assert_eq!(cluster.origin, SnapshotOrigin::Manual);
        assert_eq!(cluster.identifier, "billing-cluster-month-end");

        let cluster = created_from("cluster-snapshot-automated-created.json");
        assert_eq!(cluster.kind, SnapshotKind::Cluster);
        assert_eq!(cluster.origin, SnapshotOrigin::Automated);
        assert_eq!(cluster.identifier, "rds:billing-cluster-2026-03-15-04-00");

        // An older event without EventID: its message says what it is.
        let old = created_from("db-snapshot-created-no-event-id.json");
        assert_eq!(old.origin, SnapshotOrigin::Automated);
    }

    #[test]
    fn other_events_are_ignored_with_a_reason() {
        for (name, says) in [
            ("db-snapshot-deleted.json", "RDS-EVENT-0041"),
            ("db-snapshot-creating.json", "RDS-EVENT-0040"),
            ("db-instance-event.json", "RDS DB Instance Event"),
            ("ec2-instance-state-change.json", "aws.ec2"),
            ("cluster-snapshot-creating.json", "RDS-EVENT-0168"),
        ] {
            match classify(&fixture(name)).unwrap() {
                Classified::Ignored(reason) => assert!(reason.contains(says), "{name}: {reason}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn malformed_events_are_input_errors() {
        let e = classify(&serde_json::json!({"hello": "world"})).unwrap_err();
        assert_eq!(e.name(), "InvalidInput");
        assert!(e.to_string().contains("not an EventBridge event"), "{e}");

        let mut ev = fixture("db-snapshot-manual-created.json");
        ev["detail"]
            .as_object_mut()
            .unwrap()
            .remove("SourceIdentifier");
        let e = classify(&ev).unwrap_err();
        assert!(e.to_string().contains("SourceIdentifier"), "{e}");

        let mut ev = fixture("db-snapshot-manual-created.json");
        ev["time"] = "yesterday".into();
        assert!(classify(&ev).unwrap_err().to_string().contains("yesterday"));
    }
}
