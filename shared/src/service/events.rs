//! Reading the EventBridge events the trigger receives: which ones announce a new RDS snapshot
//! (of a DB instance or of an Aurora cluster), and everything else, which is ignored.
//!
//! The shape is EventBridge's envelope (`source`, `detail-type`, `time`, `resources`), read as
//! `aws_lambda_events`' [`EventBridgeEvent`], with RDS's `detail` (`EventID`,
//! `SourceIdentifier`, `SourceArn`, `Message`, ...), read by our own `Detail` (the crate has
//! no type for RDS's detail). A snapshot is
//! known to be complete by its event id: `RDS-EVENT-0042` (manual) and `RDS-EVENT-0091`
//! (automated) for DB snapshots, `RDS-EVENT-0075` (manual) and `RDS-EVENT-0169` (automated)
//! for cluster snapshots. Older events carry no `EventID`; their `Message` says the same.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
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
    /// When the snapshot was taken: RDS's `SnapshotCreateTime` once the trigger has read it
    /// ([`SnapshotCreated::taken_at`]), the event's time until then.
    pub time: DateTime<Utc>,
}

impl SnapshotCreated {
    /// The same snapshot, timed by RDS's `SnapshotCreateTime` where RDS gives one. The export
    /// id, and so the execution's name, derive from this time; the sweep knows only RDS's, so
    /// an event and a sweep name the same execution only if both use it.
    pub fn taken_at(self, created: Option<DateTime<Utc>>) -> SnapshotCreated {
        SnapshotCreated {
            time: created.unwrap_or(self.time),
            ..self
        }
    }
}

/// What the trigger makes of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    Created(SnapshotCreated),
    /// Not a snapshot-created event; the reason says what it was.
    Ignored(String),
}

/// The source and detail type of EventBridge's scheduled events: what a schedule rule sends.
pub const SCHEDULE_SOURCE: &str = "aws.events";
pub const SCHEDULED_EVENT: &str = "Scheduled Event";

/// RDS's part of a snapshot event.
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

/// Reads EventBridge's envelope of `event`, its detail left as JSON. A `time` that is not
/// an RFC 3339 time is named as such (serde's error for it does not say which field).
fn envelope(event: &serde_json::Value) -> Result<EventBridgeEvent, ServiceError> {
    EventBridgeEvent::deserialize(event).map_err(|e| {
        let time = event.get("time").and_then(|t| t.as_str());
        if let Some(time) = time.filter(|t| DateTime::parse_from_rfc3339(t).is_err()) {
            // Only a known detail type is quoted as is: any other could span lines.
            let what = match event.get("detail-type").and_then(|t| t.as_str()) {
                Some(t @ (DB_SNAPSHOT_EVENT | CLUSTER_SNAPSHOT_EVENT)) => format!("{t}: "),
                _ => "not an EventBridge event: ".into(),
            };
            return ServiceError::Event(format!(
                "{what}time {time:?} is not an RFC 3339 time such as 2026-03-14T09:26:53Z ({e})"
            ));
        }
        ServiceError::Event(format!(
            "not an EventBridge event ({e}); the trigger takes RDS snapshot events"
        ))
    })
}

/// Whether `event` is an EventBridge schedule's (the trigger's sweep runs on one), rather than
/// an event to classify.
pub fn is_scheduled(event: &serde_json::Value) -> bool {
    EventBridgeEvent::<serde_json::Value>::deserialize(event)
        .is_ok_and(|e| e.source == SCHEDULE_SOURCE && e.detail_type == SCHEDULED_EVENT)
}

/// Classifies one event. Anything that is not an EventBridge event at all is an error (the
/// rule that invokes the trigger is misconfigured); an EventBridge event that does not announce
/// a new snapshot is [`Classified::Ignored`]; a snapshot-created event without the fields it
/// always has is an error.
pub fn classify(event: &serde_json::Value) -> Result<Classified, ServiceError> {
    use serde_json::Value;
    let shape = match event {
        Value::Object(_) => None,
        Value::Null => Some("null"),
        Value::Bool(_) => Some("a boolean"),
        Value::Number(_) => Some("a number"),
        Value::String(_) => Some("a string"),
        Value::Array(_) => Some("an array"),
    };
    if let Some(shape) = shape {
        // serde would read an array as the envelope's fields in order, and say so obscurely.
        return Err(ServiceError::Event(format!(
            "not an EventBridge event (it is {shape}, not a JSON object); the trigger takes RDS \
             snapshot events"
        )));
    }
    let env = envelope(event)?;
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
        .or_else(|| env.resources.unwrap_or_default().into_iter().next())
        .ok_or_else(|| missing("detail.SourceArn or resources"))?;
    let time = env.time.ok_or_else(|| missing("time"))?;
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
    fn scheduled_events_are_the_sweeps_and_nothing_else_is() {
        let tick = fixture("scheduled-event.json");
        assert!(is_scheduled(&tick));
        // Given to the event reader anyway, it is simply not a snapshot.
        assert_eq!(
            classify(&tick).unwrap(),
            Classified::Ignored("not an RDS snapshot event: aws.events \"Scheduled Event\"".into())
        );
        for name in [
            "db-snapshot-manual-created.json",
            "cluster-snapshot-automated-created.json",
            "ec2-instance-state-change.json",
        ] {
            assert!(!is_scheduled(&fixture(name)), "{name}");
        }
        let mut other = tick.clone();
        other["source"] = "aws.rds".into();
        assert!(!is_scheduled(&other));
        assert!(!is_scheduled(&serde_json::json!("Scheduled Event")));
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

/// Property tests: whatever arrives, the trigger's reading of it ends in a snapshot, a reason
/// to ignore it, or an `InvalidInput` error of one line; it never panics.
#[cfg(test)]
mod props {
    use super::*;
    use chrono::{FixedOffset, TimeZone};
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    /// The keys the reader looks at, so that random objects reach past the envelope.
    const KEYS: &[&str] = &[
        "source",
        "detail-type",
        "time",
        "resources",
        "detail",
        "EventID",
        "Message",
        "SourceIdentifier",
        "SourceArn",
    ];

    /// Snapshot-created events' ids first.
    const EVENT_IDS: &[&str] = &[
        "RDS-EVENT-0042",
        "RDS-EVENT-0091",
        "RDS-EVENT-0075",
        "RDS-EVENT-0169",
        "RDS-EVENT-0040",
        "RDS-EVENT-0041",
        "RDS-EVENT-0168",
        "",
    ];

    const MESSAGES: &[&str] = &[
        "Manual snapshot created",
        "Automated snapshot created.",
        "Manual cluster snapshot created",
        "Automated cluster snapshot created",
        "Creating automated snapshot",
        "Deleted manual snapshot",
    ];

    fn one_of(items: &'static [&'static str]) -> impl Strategy<Value = String> {
        proptest::sample::select(items).prop_map(str::to_string)
    }

    /// Any JSON value, keys drawn from [`KEYS`] or made up.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            any::<String>().prop_map(Value::from),
            one_of(EVENT_IDS).prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            let key = prop_oneof![one_of(KEYS), any::<String>()];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec((key, inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    /// A field's value: usually a plausible one, sometimes anything at all.
    fn plausible(good: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
        prop_oneof![19 => good, 1 => any_json()]
    }

    /// Usually there.
    fn mostly<T: std::fmt::Debug>(s: impl Strategy<Value = T>) -> impl Strategy<Value = Option<T>> {
        prop::option::weighted(0.97, s)
    }

    /// Something close to an RDS event: each field present or not, right or wrong, so that
    /// every outcome (a snapshot, ignored, refused) comes up often.
    fn near_events() -> impl Strategy<Value = Value> {
        let source = plausible(prop_oneof![
            6 => Just(json!("aws.rds")),
            1 => Just(json!("aws.ec2")),
            1 => any::<String>().prop_map(Value::from),
        ]);
        let detail_type = plausible(prop_oneof![
            3 => Just(json!(DB_SNAPSHOT_EVENT)),
            3 => Just(json!(CLUSTER_SNAPSHOT_EVENT)),
            1 => Just(json!("RDS DB Instance Event")),
            1 => any::<String>().prop_map(Value::from),
        ]);
        let time = plausible(prop_oneof![
            3 => Just(json!("2026-03-14T09:26:53Z")),
            3 => Just(json!("2026-03-14T09:26:53.417+02:00")),
            1 => any::<String>().prop_map(Value::from),
        ]);
        let resources = plausible(
            prop::collection::vec(any::<String>().prop_map(Value::from), 0..3)
                .prop_map(Value::Array),
        );
        let detail_fields = (
            mostly(plausible(
                prop_oneof![3 => one_of(&EVENT_IDS[..4]), 1 => one_of(EVENT_IDS)]
                    .prop_map(Value::from),
            )),
            mostly(plausible(one_of(MESSAGES).prop_map(Value::from))),
            mostly(plausible(prop_oneof![
                3 => "[a-z][a-z0-9-]{0,20}".prop_map(Value::from),
                1 => any::<String>().prop_map(Value::from),
            ])),
            mostly(plausible(any::<String>().prop_map(Value::from))),
        );
        let detail = plausible(detail_fields.prop_map(|(id, message, identifier, arn)| {
            let mut d = Map::new();
            for (k, v) in [
                ("EventID", id),
                ("Message", message),
                ("SourceIdentifier", identifier),
                ("SourceArn", arn),
            ] {
                if let Some(v) = v {
                    d.insert(k.into(), v);
                }
            }
            Value::Object(d)
        }));
        (
            mostly(source),
            mostly(detail_type),
            mostly(time),
            prop::option::of(resources),
            mostly(detail),
        )
            .prop_map(|(source, detail_type, time, resources, detail)| {
                let mut e = Map::new();
                for (k, v) in [
                    ("source", source),
                    ("detail-type", detail_type),
                    ("time", time),
                    ("resources", resources),
                    ("detail", detail),
                ] {
                    if let Some(v) = v {
                        e.insert(k.into(), v);
                    }
                }
                Value::Object(e)
            })
    }

    /// The outcome's invariants: errors are `InvalidInput`, one line, and say they are about
    /// the event; a recognised snapshot has an identifier; an ignored event says why.
    fn check(event: &Value) -> Result<(), TestCaseError> {
        match classify(event) {
            Ok(Classified::Created(c)) => {
                prop_assert!(!c.identifier.is_empty());
            }
            Ok(Classified::Ignored(reason)) => {
                prop_assert!(!reason.trim().is_empty());
            }
            Err(e) => {
                prop_assert_eq!(e.name(), "InvalidInput");
                let message = e.to_string();
                prop_assert!(message.starts_with("event: "), "{}", message);
                prop_assert_eq!(message.lines().count(), 1, "{}", message);
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_json_is_read_or_refused_in_one_line(event in any_json()) {
            check(&event)?;
        }

        #[test]
        fn near_events_are_read_or_refused_in_one_line(event in near_events()) {
            check(&event)?;
        }

        #[test]
        fn any_text_that_is_json_is_read_or_refused_in_one_line(text in any::<String>()) {
            // The Lambda runtime hands the trigger parsed JSON; text that is not JSON never
            // reaches it.
            if let Ok(event) = serde_json::from_str::<Value>(&text) {
                check(&event)?;
            }
        }

        /// An EventBridge event from anything but RDS's snapshot events is ignored, whatever
        /// its detail: the rule may be widened without the trigger failing.
        #[test]
        fn other_sources_and_types_are_ignored(
            source in prop_oneof![Just("aws.rds".to_string()), any::<String>()],
            detail_type in any::<String>(),
            detail in any_json(),
        ) {
            prop_assume!(
                source != "aws.rds"
                    || (detail_type != DB_SNAPSHOT_EVENT && detail_type != CLUSTER_SNAPSHOT_EVENT)
            );
            let event = json!({
                "source": source,
                "detail-type": detail_type,
                "time": "2026-03-14T09:26:53Z",
                "detail": detail,
            });
            prop_assert!(matches!(classify(&event), Ok(Classified::Ignored(_))));
        }

        /// A snapshot-created event built from its parts reads back as those parts.
        #[test]
        fn snapshot_created_events_round_trip(
            cluster in any::<bool>(),
            automated in any::<bool>(),
            by_event_id in any::<bool>(),
            identifier in "[a-z][a-z0-9-]{0,40}|rds:[a-z][a-z0-9-]{0,40}",
            arn_in_detail in any::<bool>(),
            seconds in 0i64..4_102_444_800,
            millis in 0u32..1000,
            offset_minutes in -12 * 60i32..=14 * 60,
        ) {
            let (kind, detail_type) = if cluster {
                (SnapshotKind::Cluster, CLUSTER_SNAPSHOT_EVENT)
            } else {
                (SnapshotKind::Instance, DB_SNAPSHOT_EVENT)
            };
            let origin = if automated { SnapshotOrigin::Automated } else { SnapshotOrigin::Manual };
            let event_id = match (cluster, automated) {
                (false, false) => "RDS-EVENT-0042",
                (false, true) => "RDS-EVENT-0091",
                (true, false) => "RDS-EVENT-0075",
                (true, true) => "RDS-EVENT-0169",
            };
            let message = format!(
                "{} {}snapshot created",
                if automated { "Automated" } else { "Manual" },
                if cluster { "cluster " } else { "" }
            );
            let arn = format!("arn:aws:rds:us-east-1:123456789012:snapshot:{identifier}");
            let time = Utc.timestamp_opt(seconds, millis * 1_000_000).unwrap();
            let offset = FixedOffset::east_opt(offset_minutes * 60).unwrap();
            let mut detail = json!({"SourceIdentifier": identifier, "Message": message});
            if by_event_id {
                detail["EventID"] = event_id.into();
            }
            if arn_in_detail {
                detail["SourceArn"] = arn.clone().into();
            }
            let event = json!({
                "source": "aws.rds",
                "detail-type": detail_type,
                "time": time.with_timezone(&offset).to_rfc3339(),
                "resources": [arn],
                "detail": detail,
            });
            let expected = SnapshotCreated { kind, origin, identifier, arn, time };
            prop_assert_eq!(classify(&event).unwrap(), Classified::Created(expected));
        }
    }
}
