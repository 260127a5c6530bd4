//! Reading RDS: a snapshot, an instance, a cluster, and the temporary instance (with its
//! cluster) as CheckInstance observes it.

use aws_sdk_rds::Client;
use aws_sdk_rds::types::Tag;
use snapex::service::job::{Endpoint, SnapshotKind};
use snapex::service::naming::{CREDENTIALS_SET, CREDENTIALS_TAG};
use snapex::service::readiness::{InstanceView, Observed, combined_status};

use super::{check_owned, tags_of};
use crate::error::{StepError, answer};

/// What a snapshot says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The DB instance or cluster it was taken of.
    pub source: String,
    pub engine: String,
    pub master_username: String,
    /// `SnapshotCreateTime`: what the export id derives from (see `SnapshotCreated::taken_at`).
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// An RDS time as chrono's.
pub fn utc(t: &aws_sdk_rds::primitives::DateTime) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// Reads the snapshot `identifier` of `kind`.
pub async fn describe_snapshot(
    rds: &Client,
    kind: SnapshotKind,
    identifier: &str,
) -> Result<SnapshotInfo, StepError> {
    let what = format!("reading snapshot {identifier}");
    let missing = || {
        StepError::invalid_input(format!(
            "{what}: no such snapshot (deleted since its event?)"
        ))
    };
    match kind {
        SnapshotKind::Instance => {
            let out = rds
                .describe_db_snapshots()
                .db_snapshot_identifier(identifier)
                .send()
                .await;
            let out =
                answer(out, |e| e.is_db_snapshot_not_found_fault(), &what)?.ok_or_else(missing)?;
            let s = out.db_snapshots().first().ok_or_else(missing)?;
            Ok(SnapshotInfo {
                source: s.db_instance_identifier().unwrap_or_default().to_string(),
                engine: s.engine().unwrap_or_default().to_string(),
                master_username: s.master_username().unwrap_or_default().to_string(),
                created_at: s.snapshot_create_time().and_then(utc),
            })
        }
        SnapshotKind::Cluster => {
            let out = rds
                .describe_db_cluster_snapshots()
                .db_cluster_snapshot_identifier(identifier)
                .send()
                .await;
            let out = answer(out, |e| e.is_db_cluster_snapshot_not_found_fault(), &what)?
                .ok_or_else(missing)?;
            let s = out.db_cluster_snapshots().first().ok_or_else(missing)?;
            Ok(SnapshotInfo {
                source: s.db_cluster_identifier().unwrap_or_default().to_string(),
                engine: s.engine().unwrap_or_default().to_string(),
                master_username: s.master_username().unwrap_or_default().to_string(),
                created_at: s.snapshot_create_time().and_then(utc),
            })
        }
    }
}

/// The DB instance `identifier`, or `None` when there is none.
pub async fn describe_instance(
    rds: &Client,
    identifier: &str,
) -> Result<Option<aws_sdk_rds::types::DbInstance>, StepError> {
    let out = rds
        .describe_db_instances()
        .db_instance_identifier(identifier)
        .send()
        .await;
    match answer(
        out,
        |e| e.is_db_instance_not_found_fault(),
        &format!("reading instance {identifier}"),
    )? {
        Some(o) => Ok(o.db_instances().first().cloned()),
        None => Ok(None),
    }
}

/// The DB cluster `identifier`, or `None` when there is none.
pub async fn describe_cluster(
    rds: &Client,
    identifier: &str,
) -> Result<Option<aws_sdk_rds::types::DbCluster>, StepError> {
    let out = rds
        .describe_db_clusters()
        .db_cluster_identifier(identifier)
        .send()
        .await;
    match answer(
        out,
        |e| e.is_db_cluster_not_found_fault(),
        &format!("reading cluster {identifier}"),
    )? {
        Some(o) => Ok(o.db_clusters().first().cloned()),
        None => Ok(None),
    }
}

/// The temporary instance (and, for a cluster snapshot, its cluster) as CheckInstance sees
/// it; for a cluster, the cluster holds the password (and its tag) and both must be available.
/// An instance found under the temporary identifier that is not this export's is refused.
pub async fn observe(
    rds: &Client,
    instance: &str,
    cluster: Option<&str>,
    export_id: &str,
) -> Result<Observed, StepError> {
    let has_credentials_tag =
        |tags: &[Tag]| tags_of(tags).any(|(k, v)| k == CREDENTIALS_TAG && v == CREDENTIALS_SET);
    let found_cluster = match cluster {
        None => None,
        Some(cluster) => match describe_cluster(rds, cluster).await? {
            Some(c) => Some(c),
            None => {
                return Ok(Observed::Missing {
                    what: format!("cluster {cluster}"),
                });
            }
        },
    };
    let Some(i) = describe_instance(rds, instance).await? else {
        return Ok(match found_cluster {
            Some(c) => Observed::ClusterOnly {
                status: c.status().unwrap_or("unknown").to_string(),
            },
            None => Observed::Missing {
                what: format!("instance {instance}"),
            },
        });
    };
    check_owned(
        &format!("instance {instance}"),
        tags_of(i.tag_list()),
        export_id,
    )?;
    let endpoint = i.endpoint().and_then(|e| {
        Some(Endpoint {
            host: e.address()?.to_string(),
            port: u16::try_from(e.port()?).ok()?,
        })
    });
    let instance_status = i.db_instance_status().unwrap_or("unknown").to_string();
    Ok(Observed::Instance(match found_cluster {
        None => InstanceView {
            status: instance_status,
            credentials_set: has_credentials_tag(i.tag_list()),
            password_pending: i
                .pending_modified_values()
                .is_some_and(|p| p.master_user_password().is_some()),
            endpoint,
        },
        Some(c) => InstanceView {
            status: combined_status(c.status().unwrap_or("unknown"), &instance_status),
            credentials_set: has_credentials_tag(c.tag_list()),
            password_pending: c
                .pending_modified_values()
                .is_some_and(|p| p.master_user_password().is_some()),
            endpoint,
        },
    }))
}
