//! The trigger's decision: given a snapshot-created event, the DB instance or cluster the
//! snapshot was taken of (the event does not say; RDS does) and the export configuration,
//! start an export (and with which [`Job`]), ignore the snapshot (and why), or refuse it: the
//! configuration asks for an export the deployed policies would stop half-way.

use serde::{Deserialize, Serialize};

use super::config::{DatabaseExport, ServiceConfig, SnapshotFilter};
use super::events::{SnapshotCreated, SnapshotOrigin};
use super::job::{Job, SnapshotKind, SnapshotRef, TemporaryInstance};
use super::naming;

/// What to do with one snapshot.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Start {
        job: Box<Job>,
        /// The execution's name: the same for every event about this snapshot.
        execution_name: String,
    },
    Ignore {
        reason: String,
    },
    /// A configured snapshot whose export the deployed stack's policies would refuse (see
    /// [`super::config::Deployment::refusal`]): nothing is started, and the reason is an error.
    Refuse {
        reason: String,
    },
}

/// Decides for `snapshot`, taken of `source` (a DB instance or cluster identifier).
pub fn decide(config: &ServiceConfig, snapshot: &SnapshotCreated, source: &str) -> Decision {
    let Some(db) = config.find(source) else {
        return Decision::Ignore {
            reason: format!(
                "{source} is not configured for export (snapshot {})",
                snapshot.identifier
            ),
        };
    };
    let wanted = match (db.snapshots, snapshot.origin) {
        (SnapshotFilter::All, _) => true,
        (SnapshotFilter::Manual, o) => o == SnapshotOrigin::Manual,
        (SnapshotFilter::Automated, o) => o == SnapshotOrigin::Automated,
    };
    if !wanted {
        return Decision::Ignore {
            reason: format!(
                "{source} exports {} snapshots only; {} is {}",
                match db.snapshots {
                    SnapshotFilter::Manual => "manual",
                    _ => "automated",
                },
                snapshot.identifier,
                match snapshot.origin {
                    SnapshotOrigin::Manual => "manual",
                    SnapshotOrigin::Automated => "automated",
                }
            ),
        };
    }
    if let Some(reason) = config.deployment.refusal(db) {
        return Decision::Refuse { reason };
    }
    let job = job(db, snapshot);
    let execution_name = naming::execution_name(&job.export_id, &snapshot.arn);
    Decision::Start {
        job: Box::new(job),
        execution_name,
    }
}

/// The state machine's input for exporting `snapshot` as `db` says.
pub fn job(db: &DatabaseExport, snapshot: &SnapshotCreated) -> Job {
    let export_id = naming::export_id(&db.source, snapshot.time);
    let identifier = naming::temporary_identifier(&db.source, &snapshot.arn);
    let cluster_identifier = match snapshot.kind {
        SnapshotKind::Cluster => Some(naming::cluster_identifier(&identifier)),
        SnapshotKind::Instance => None,
    };
    Job {
        export_id,
        snapshot: SnapshotRef {
            kind: snapshot.kind,
            identifier: snapshot.identifier.clone(),
            arn: snapshot.arn.clone(),
            source: db.source.clone(),
            created_at: snapshot
                .time
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        },
        database: db.database.clone(),
        destination: db.destination.clone(),
        glue_database: db.glue_database.clone(),
        include: db.include.clone(),
        exclude: db.exclude.clone(),
        partition_by: db.partition_by.clone(),
        target_file_bytes: db.target_file_bytes,
        max_concurrency: db.max_concurrency,
        pieces_per_chunk: db.pieces_per_chunk,
        max_chunk_bytes: db.max_chunk_bytes,
        fold_schemas: db.fold_schemas,
        glue_max_tables_per_database: unless_default(
            db.glue_quotas.tables_per_database,
            crate::catalog::quotas::DEFAULT_TABLES_PER_DATABASE,
        ),
        glue_max_tables_per_account: unless_default(
            db.glue_quotas.tables_per_account,
            crate::catalog::quotas::DEFAULT_TABLES_PER_ACCOUNT,
        ),
        glue_requests_per_second: db.glue_requests_per_second,
        instance: TemporaryInstance {
            identifier,
            cluster_identifier,
            class: db.instance_class.clone(),
            deadline_minutes: db.restore_deadline_minutes,
        },
    }
}

/// The trigger's result, for its logs and the Lambda's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerOutcome {
    /// True only when this event started the execution.
    pub started: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_arn: Option<String>,
}

impl TriggerOutcome {
    pub fn ignored(reason: impl Into<String>) -> TriggerOutcome {
        TriggerOutcome {
            started: false,
            reason: Some(reason.into()),
            export_id: None,
            execution_name: None,
            execution_arn: None,
        }
    }
}

/// A setting for the job only when it is not the default: a job's input stays as it was for
/// the exports that configure nothing.
fn unless_default(value: u64, default: u64) -> Option<u64> {
    (value != default).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::config::Deployment;
    use crate::service::events::tests::fixture;
    use crate::service::events::{Classified, classify};

    const CONFIG: &str = r#"
destination = "s3://lake/exports"
[[database]]
source = "orders-db"
database = "shop"
partition_by = ["events=created_at:day"]
[[database]]
source = "billing-cluster"
database = "billing"
snapshots = "manual"
instance_class = "db.r6g.large"
"#;

    fn created(name: &str) -> SnapshotCreated {
        match classify(&fixture(name)).unwrap() {
            Classified::Created(c) => c,
            other => panic!("{other:?}"),
        }
    }

    fn config() -> ServiceConfig {
        ServiceConfig::parse(CONFIG, "test").unwrap()
    }

    #[test]
    fn a_configured_instance_snapshot_starts_an_export() {
        let snap = created("db-snapshot-automated-created.json");
        let Decision::Start {
            job,
            execution_name,
        } = decide(&config(), &snap, "orders-db")
        else {
            panic!("not started")
        };
        assert_eq!(job.export_id, "orders-db-20260315T031408Z");
        assert_eq!(job.snapshot.kind, SnapshotKind::Instance);
        assert_eq!(job.snapshot.identifier, "rds:orders-db-2026-03-15-03-10");
        assert_eq!(job.snapshot.source, "orders-db");
        assert_eq!(job.snapshot.created_at, "2026-03-15T03:14:08Z");
        assert_eq!(job.database, "shop");
        assert_eq!(job.destination, "s3://lake/exports");
        assert_eq!(job.partition_by, vec!["events=created_at:day".to_string()]);
        assert_eq!(job.target_file_bytes, 128 << 20);
        assert!(job.instance.identifier.starts_with("snapex-orders-db-"));
        assert_eq!(job.instance.cluster_identifier, None);
        assert_eq!(job.instance.deadline_minutes, 120);
        assert!(execution_name.starts_with("orders-db-20260315T031408Z-"));

        // The same event again makes the same job and name: the execution is not duplicated.
        let again = decide(&config(), &snap, "ORDERS-DB");
        assert_eq!(
            again,
            Decision::Start {
                job,
                execution_name
            }
        );
    }

    #[test]
    fn a_cluster_snapshot_gets_a_cluster_and_an_instance() {
        let snap = created("cluster-snapshot-manual-created.json");
        let Decision::Start { job, .. } = decide(&config(), &snap, "billing-cluster") else {
            panic!("not started")
        };
        assert_eq!(job.snapshot.kind, SnapshotKind::Cluster);
        assert_eq!(job.instance.class, "db.r6g.large");
        assert_eq!(
            job.instance.cluster_identifier,
            Some(format!("{}-cluster", job.instance.identifier))
        );
    }

    #[test]
    fn unconfigured_sources_and_unwanted_kinds_are_ignored() {
        let snap = created("db-snapshot-manual-created.json");
        match decide(&config(), &snap, "inventory-db") {
            Decision::Ignore { reason } => {
                assert!(
                    reason.contains("inventory-db is not configured"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
        let auto = created("cluster-snapshot-automated-created.json");
        match decide(&config(), &auto, "billing-cluster") {
            Decision::Ignore { reason } => {
                assert!(reason.contains("manual snapshots only"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }

    fn deployed(text: &str) -> ServiceConfig {
        let deployment = Deployment {
            export_bucket: Some("lake".into()),
            glue_database: Some("snapex".into()),
        };
        ServiceConfig::parse_for(text, "test", &deployment).unwrap()
    }

    #[test]
    fn the_deployment_gives_the_destination_and_the_glue_database() {
        let snap = created("db-snapshot-manual-created.json");
        let config = deployed("[[database]]\nsource = \"orders-db\"\ndatabase = \"shop\"\n");
        let Decision::Start { job, .. } = decide(&config, &snap, "orders-db") else {
            panic!("not started")
        };
        assert_eq!(job.destination, "s3://lake/exports");
        assert_eq!(job.glue_database.as_deref(), Some("snapex"));

        // What the configuration says wins, inside the stack's limits.
        let config = deployed(
            "destination = \"s3://lake/shop\"\nglue_database = \"snapex_shop\"\n\
             [[database]]\nsource = \"orders-db\"\ndatabase = \"shop\"\n",
        );
        let Decision::Start { job, .. } = decide(&config, &snap, "orders-db") else {
            panic!("not started")
        };
        assert_eq!(job.destination, "s3://lake/shop");
        assert_eq!(job.glue_database.as_deref(), Some("snapex_shop"));
        assert!(!job.fold_schemas);

        // Folding travels from the configuration to the export's.
        let config = deployed(
            "fold_schemas = true
[[database]]
source = \"orders-db\"
database = \"shop\"
",
        );
        let Decision::Start { job, .. } = decide(&config, &snap, "orders-db") else {
            panic!("not started")
        };
        assert!(job.fold_schemas);
        assert!(
            job.export_config("postgres://u@h/shop")
                .unwrap()
                .fold_schemas
        );
        // The Glue quotas too: AWS's defaults unless configured, a database's own over the
        // top-level one.
        let defaults = job
            .export_config("postgres://u@h/shop")
            .unwrap()
            .glue_quotas;
        assert_eq!(defaults, crate::catalog::quotas::GlueQuotas::default());
        assert_eq!(job.glue_max_tables_per_database, None);
        let config = deployed(
            "glue_max_tables_per_database = 500000
glue_max_tables_per_account = 3000000
[[database]]
source = \"orders-db\"
database = \"shop\"
glue_max_tables_per_database = 10
",
        );
        let Decision::Start { job, .. } = decide(&config, &snap, "orders-db") else {
            panic!("not started")
        };
        let quotas = job
            .export_config("postgres://u@h/shop")
            .unwrap()
            .glue_quotas;
        assert_eq!(
            (quotas.tables_per_database, quotas.tables_per_account),
            (10, 3_000_000)
        );
        let zero = ServiceConfig::parse(
            "destination = \"s3://lake\"\nglue_max_tables_per_account = 0\n[[database]]\nsource = \"a\"\ndatabase = \"b\"\n",
            "s3://cfg",
        )
        .unwrap_err()
        .to_string();
        assert!(zero.contains("glue_max_tables_per_account"), "{zero}");
        assert!(!zero.contains("--glue"), "{zero}");

        // The registration's Glue rate: absent by default, a database's own over the top
        // level's, and never 0.
        assert_eq!(job.glue_requests_per_second, None);
        let config = deployed(
            "glue_requests_per_second = 100
[[database]]
source = \"orders-db\"
database = \"shop\"
",
        );
        let Decision::Start { job, .. } = decide(&config, &snap, "orders-db") else {
            panic!("not started")
        };
        assert_eq!(job.glue_requests_per_second, Some(100));
        let zero = ServiceConfig::parse(
            "destination = \"s3://lake\"\n[[database]]\nsource = \"a\"\ndatabase = \"b\"\nglue_requests_per_second = 0\n",
            "s3://cfg",
        )
        .unwrap_err()
        .to_string();
        assert!(zero.contains("glue_requests_per_second is 0"), "{zero}");

        // Outside a deployment: no default, no limit (the CLI's and the old behaviour).
        let Decision::Start { job, .. } = decide(&self::config(), &snap, "orders-db") else {
            panic!("not started")
        };
        assert_eq!(job.glue_database, None);
    }

    #[test]
    fn what_the_deployed_policies_refuse_is_refused() {
        let snap = created("db-snapshot-manual-created.json");
        for (settings, says) in [
            (
                "destination = \"s3://elsewhere/exports\"\n",
                "orders-db: destination s3://elsewhere/exports is outside the export bucket \
                 lake (SNAPEX_EXPORT_BUCKET)",
            ),
            (
                "destination = \"s3://lake-2/exports\"\n",
                "outside the export bucket lake",
            ),
            (
                "glue_database = \"analytics\"\n",
                "orders-db: Glue database \"analytics\" does not start with the stack's Glue \
                 database \"snapex\" (SNAPEX_GLUE_DATABASE)",
            ),
            ("glue_database = \"snape\"\n", "\"snape\" does not start"),
        ] {
            let config = deployed(&format!(
                "{settings}[[database]]\nsource = \"orders-db\"\ndatabase = \"shop\"\n"
            ));
            match decide(&config, &snap, "orders-db") {
                Decision::Refuse { reason } => {
                    assert!(reason.contains(says), "{settings}: {reason}");
                    assert_eq!(reason.lines().count(), 1, "{reason}");
                }
                other => panic!("{settings}: {other:?}"),
            }
        }
        // A snapshot the configuration does not want is ignored before any limit is checked.
        let config = deployed(
            "glue_database = \"analytics\"\n[[database]]\nsource = \"orders-db\"\n\
             database = \"shop\"\nsnapshots = \"automated\"\n",
        );
        assert!(matches!(
            decide(&config, &snap, "orders-db"),
            Decision::Ignore { .. }
        ));
    }

    #[test]
    fn outcomes_serialize_small() {
        let o = TriggerOutcome::ignored("not configured");
        assert_eq!(
            serde_json::to_value(&o).unwrap(),
            serde_json::json!({"started": false, "reason": "not configured"})
        );
    }
}
