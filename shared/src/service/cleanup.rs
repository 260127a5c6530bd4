//! Cleanup's decisions: what to delete whatever happened before (the state may lack
//! `instance` when Restore failed; the trigger's identifiers are enough), whether a resource
//! found under those names is ours, and which error the execution fails with.

use super::failures::MAP_FAILED;
use super::job::{CaughtError, CleanedUp, StepInput};
use super::naming;
use crate::work::{FailureRecord, RegisterFailureRecord};

/// What Cleanup deletes, each only if it carries this export's tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanupPlan {
    pub export_id: String,
    /// The temporary DB instance.
    pub instance: String,
    /// The temporary cluster, deleted after its instance, for a cluster snapshot.
    pub cluster: Option<String>,
    /// The secret's ARN when Restore reported it, else its name.
    pub secret: String,
}

/// The plan for the state `input`, whichever step failed.
pub fn plan(input: &StepInput) -> CleanupPlan {
    let job = &input.job;
    let (instance, cluster, secret) = match &input.instance {
        Some(r) => (
            r.identifier.clone(),
            r.cluster_identifier.clone(),
            r.secret_arn.clone(),
        ),
        None => (
            job.instance.identifier.clone(),
            job.instance.cluster_identifier.clone(),
            naming::secret_name(&job.export_id),
        ),
    };
    CleanupPlan {
        export_id: job.export_id.clone(),
        instance,
        cluster,
        secret,
    }
}

/// True when `tags` (key, value) mark the resource as made for `export_id`.
pub fn owned_by<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>, export_id: &str) -> bool {
    tags.into_iter()
        .any(|(k, v)| k == naming::EXPORT_TAG && v == export_id)
}

/// True when the caught error is a failed Map, whose own cause names no chunk: the failure
/// records say which chunk failed and why.
pub fn needs_failure_record(error: Option<&CaughtError>) -> bool {
    error.is_some_and(|e| e.error == MAP_FAILED)
}

/// The record of the item whose failure failed a Map: a chunk of ExportChunks, or a batch of
/// RegisterTables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Chunk(FailureRecord),
    Registration(RegisterFailureRecord),
}

/// Which Map failed, when the caught error is a failed Map: RegisterTables when Finalize has
/// put its result in the state (it runs between the two), else ExportChunks.
pub fn failed_map_registers(input: &StepInput) -> bool {
    input.result.is_some()
}

/// Cleanup's result: what was deleted, and when the export failed, the error to fail with:
/// the first failed item's own (its cause prefixed with `chunk N: ` or `Glue registration,
/// batch N: `) when there is a record for a failed Map, else the caught error as it is.
pub fn outcome(
    deleted: Vec<String>,
    error: Option<&CaughtError>,
    failure: Option<Failure>,
) -> CleanedUp {
    let (error, cause) = match (error, failure) {
        (None, _) => (None, None),
        (Some(e), Some(Failure::Chunk(f))) if e.error == MAP_FAILED => (
            Some(f.error),
            Some(format!("chunk {}: {}", f.chunk, f.cause)),
        ),
        (Some(e), Some(Failure::Registration(f))) if e.error == MAP_FAILED => (
            Some(f.error),
            Some(format!("Glue registration, batch {}: {}", f.batch, f.cause)),
        ),
        (Some(e), _) => (Some(e.error.clone()), Some(e.cause.clone())),
    };
    CleanedUp {
        deleted,
        error,
        cause,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::job::{Job, Restored};

    fn input(with_instance: bool, cluster: bool) -> StepInput {
        let mut job: Job = serde_json::from_value(serde_json::json!({
            "export_id": "orders-db-20260315T031408Z",
            "snapshot": {"kind": "instance", "identifier": "s", "arn": "a", "source": "orders-db",
                         "created_at": "2026-03-15T03:14:08Z"},
            "database": "shop", "destination": "s3://lake", "target_file_bytes": 1048576,
            "max_concurrency": 2,
            "instance": {"identifier": "snapex-orders-db-1234abcd", "class": "db.t4g.medium",
                         "deadline_minutes": 60}
        }))
        .unwrap();
        if cluster {
            job.instance.cluster_identifier = Some("snapex-orders-db-1234abcd-cluster".into());
        }
        StepInput {
            instance: with_instance.then(|| Restored {
                identifier: job.instance.identifier.clone(),
                cluster_identifier: job.instance.cluster_identifier.clone(),
                engine: "postgres".into(),
                secret_arn: "arn:aws:secretsmanager:us-east-1:1:secret:snapex/x-AbCdEf".into(),
                deadline: 0,
                poll_seconds: 1,
            }),
            job,
            ready: None,
            plan: None,
            result: None,
            error: None,
        }
    }

    #[test]
    fn the_plan_falls_back_on_the_jobs_names_when_restore_failed() {
        let p = plan(&input(false, true));
        assert_eq!(p.instance, "snapex-orders-db-1234abcd");
        assert_eq!(
            p.cluster.as_deref(),
            Some("snapex-orders-db-1234abcd-cluster")
        );
        assert_eq!(p.secret, "snapex/orders-db-20260315T031408Z");
        let p = plan(&input(true, false));
        assert_eq!(p.cluster, None);
        assert!(p.secret.starts_with("arn:aws:secretsmanager:"));
    }

    #[test]
    fn only_resources_tagged_for_this_export_are_ours() {
        let e = "orders-db-20260315T031408Z";
        assert!(owned_by([("team", "x"), ("snapex:export", e)], e));
        assert!(!owned_by([("snapex:export", "other")], e));
        assert!(!owned_by([], e));
    }

    #[test]
    fn a_failed_map_reports_the_first_failed_chunk() {
        let map = CaughtError {
            error: MAP_FAILED.into(),
            cause: "The specified tolerated failure threshold was exceeded".into(),
        };
        assert!(needs_failure_record(Some(&map)));
        let record = FailureRecord {
            chunk: 3,
            error: "InvalidInput".into(),
            cause: "permission denied for table secrets".into(),
            attempts: 1,
        };
        let out = outcome(vec!["i".into()], Some(&map), Some(Failure::Chunk(record)));
        assert_eq!(out.error.as_deref(), Some("InvalidInput"));
        assert_eq!(
            out.cause.as_deref(),
            Some("chunk 3: permission denied for table secrets")
        );
        // A batch of the Glue registration, after the export was published.
        let batch = RegisterFailureRecord {
            batch: 4,
            error: "InvalidInput".into(),
            cause: "table t4b: AccessDeniedException".into(),
        };
        let out = outcome(vec![], Some(&map), Some(Failure::Registration(batch)));
        assert_eq!(
            (out.error.as_deref(), out.cause.as_deref()),
            (
                Some("InvalidInput"),
                Some("Glue registration, batch 4: table t4b: AccessDeniedException")
            )
        );
        // No record (the chunk could not even write one): the Map's own error.
        let out = outcome(vec![], Some(&map), None);
        assert_eq!(out.error.as_deref(), Some(MAP_FAILED));

        let other = CaughtError {
            error: "RestoreDeadline".into(),
            cause: "late".into(),
        };
        assert!(!needs_failure_record(Some(&other)));
        let out = outcome(vec![], Some(&other), None);
        assert_eq!(
            (out.error.as_deref(), out.cause.as_deref()),
            (Some("RestoreDeadline"), Some("late"))
        );
        let ok = outcome(vec!["x".into()], None, None);
        assert_eq!((ok.error, ok.cause), (None, None));
    }
}
