//! The RDS calls the steps make: reading snapshots, restoring them to a temporary instance (or
//! cluster), creating a cluster's instance, watching them, setting the password, and deleting
//! them. Each call that creates something is idempotent: "already exists" is answered by
//! reading what exists and checking it carries this export's tag. A call RDS refuses because
//! the resource is busy (its state changed since it was read) is [`Applied::Refused`], which
//! CheckInstance answers with "not ready", not an error.

use aws_sdk_rds::Client;
use aws_sdk_rds::operation::add_tags_to_resource::AddTagsToResourceError;
use aws_sdk_rds::operation::create_db_instance::CreateDBInstanceError;
use aws_sdk_rds::operation::modify_db_cluster::ModifyDBClusterError;
use aws_sdk_rds::operation::modify_db_instance::ModifyDBInstanceError;
use aws_sdk_rds::types::Tag;
use snapex::service::cleanup::owned_by;
use snapex::service::job::{Endpoint, SnapshotKind};
use snapex::service::naming::{CREDENTIALS_SET, CREDENTIALS_TAG, EXPORT_TAG};
use snapex::service::readiness::{InstanceView, Observed, combined_status};

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

/// Days of automated backups of the temporary instance: none, it is a throwaway copy.
const INSTANCE_BACKUP_RETENTION_DAYS: i32 = 0;
/// Days of automated backups of the temporary cluster: Aurora cannot go below one day (RDS
/// refuses 0 for a cluster), so the least it allows.
const CLUSTER_BACKUP_RETENTION_DAYS: i32 = 1;

/// What a call that needs an `available` resource did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Done,
    /// RDS refused: the resource is not in a state for it now; check again later.
    Refused,
}

/// Where and how the temporary instance is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreSpec<'a> {
    pub export_id: &'a str,
    pub snapshot: &'a str,
    pub instance: &'a str,
    pub cluster: Option<&'a str>,
    pub class: &'a str,
    pub engine: &'a str,
    pub subnet_group: Option<&'a str>,
    pub security_group_ids: &'a [String],
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

fn tags_of(list: &[Tag]) -> impl Iterator<Item = (&str, &str)> {
    list.iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
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

/// Fails unless `tags` mark `what` as this export's: an identifier taken by something else is
/// never adopted (and so never deleted by Cleanup).
fn check_owned<'a>(
    what: &str,
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    export_id: &str,
) -> Result<(), StepError> {
    if owned_by(tags, export_id) {
        Ok(())
    } else {
        Err(StepError::invalid_input(format!(
            "{what} already exists and is not tagged {EXPORT_TAG}={export_id}: it is not this \
             export's; delete or rename it"
        )))
    }
}

/// Restores the snapshot to a temporary DB instance, or finds the one a previous attempt made.
pub async fn restore_instance(rds: &Client, spec: &RestoreSpec<'_>) -> Result<(), StepError> {
    let what = format!("restoring {} to instance {}", spec.snapshot, spec.instance);
    let sent = rds
        .restore_db_instance_from_db_snapshot()
        .db_instance_identifier(spec.instance)
        .db_snapshot_identifier(spec.snapshot)
        .db_instance_class(spec.class)
        .set_db_subnet_group_name(spec.subnet_group.map(String::from))
        .set_vpc_security_group_ids(
            (!spec.security_group_ids.is_empty()).then(|| spec.security_group_ids.to_vec()),
        )
        .publicly_accessible(false)
        .multi_az(false)
        .deletion_protection(false)
        .auto_minor_version_upgrade(false)
        .backup_retention_period(INSTANCE_BACKUP_RETENTION_DAYS)
        .tags(tag(EXPORT_TAG, spec.export_id))
        .send()
        .await;
    match answer(sent, |e| e.is_db_instance_already_exists_fault(), &what)? {
        Some(_) => Ok(()),
        None => {
            let found = describe_instance(rds, spec.instance)
                .await?
                .ok_or_else(|| {
                    StepError::retryable(format!("{what}: it exists but cannot be read yet"))
                })?;
            check_owned(
                &format!("instance {}", spec.instance),
                tags_of(found.tag_list()),
                spec.export_id,
            )
        }
    }
}

/// Restores a cluster snapshot to a temporary cluster, or finds the one a previous attempt
/// made. Only the cluster: RDS adds an instance only once the restore is over and the cluster
/// is `available`, which CheckInstance waits for ([`create_cluster_instance`]).
pub async fn restore_cluster(rds: &Client, spec: &RestoreSpec<'_>) -> Result<(), StepError> {
    let cluster = spec
        .cluster
        .ok_or_else(|| StepError::internal("a cluster snapshot's job names no cluster"))?;
    let what = format!("restoring {} to cluster {cluster}", spec.snapshot);
    // Looked up first, not only on "already exists": a restore that replaced an existing
    // cluster instead of refusing (as moto's does) must not be possible.
    if let Some(found) = describe_cluster(rds, cluster).await? {
        return check_owned(
            &format!("cluster {cluster}"),
            tags_of(found.tag_list()),
            spec.export_id,
        );
    }
    let sent = rds
        .restore_db_cluster_from_snapshot()
        .db_cluster_identifier(cluster)
        .snapshot_identifier(spec.snapshot)
        .engine(spec.engine)
        .set_db_subnet_group_name(spec.subnet_group.map(String::from))
        .set_vpc_security_group_ids(
            (!spec.security_group_ids.is_empty()).then(|| spec.security_group_ids.to_vec()),
        )
        .deletion_protection(false)
        .backup_retention_period(CLUSTER_BACKUP_RETENTION_DAYS)
        .tags(tag(EXPORT_TAG, spec.export_id))
        .send()
        .await;
    if answer(sent, |e| e.is_db_cluster_already_exists_fault(), &what)?.is_none() {
        let found = describe_cluster(rds, cluster).await?.ok_or_else(|| {
            StepError::retryable(format!("{what}: it exists but cannot be read yet"))
        })?;
        check_owned(
            &format!("cluster {cluster}"),
            tags_of(found.tag_list()),
            spec.export_id,
        )?;
    }
    Ok(())
}

/// The temporary cluster's one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInstanceSpec<'a> {
    pub export_id: &'a str,
    pub instance: &'a str,
    pub cluster: &'a str,
    pub class: &'a str,
    pub engine: &'a str,
}

/// Creates the temporary cluster's one instance (the cluster must be `available`), or finds
/// the one a previous attempt made. Its automated backups are the cluster's.
pub async fn create_cluster_instance(
    rds: &Client,
    spec: &ClusterInstanceSpec<'_>,
) -> Result<Applied, StepError> {
    let what = format!(
        "creating instance {} in cluster {}",
        spec.instance, spec.cluster
    );
    let sent = rds
        .create_db_instance()
        .db_instance_identifier(spec.instance)
        .db_cluster_identifier(spec.cluster)
        .engine(spec.engine)
        .db_instance_class(spec.class)
        .publicly_accessible(false)
        .auto_minor_version_upgrade(false)
        .tags(tag(EXPORT_TAG, spec.export_id))
        .send()
        .await;
    let busy = |e: &CreateDBInstanceError| e.is_invalid_db_cluster_state_fault();
    match sent {
        Err(e) if e.as_service_error().is_some_and(busy) => return Ok(Applied::Refused),
        sent => {
            if answer(sent, |e| e.is_db_instance_already_exists_fault(), &what)?.is_some() {
                return Ok(Applied::Done);
            }
        }
    }
    // Made by an earlier check whose answer was lost: ours if it carries our tag.
    match describe_instance(rds, spec.instance).await? {
        Some(found) => {
            check_owned(
                &format!("instance {}", spec.instance),
                tags_of(found.tag_list()),
                spec.export_id,
            )?;
            Ok(Applied::Done)
        }
        // It exists but cannot be read yet: the next check reads it.
        None => Ok(Applied::Refused),
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

/// Sets the master password of the temporary instance (or its cluster) and tags it so the
/// next check knows. The password goes to RDS only: never into a message.
pub async fn set_master_password(
    rds: &Client,
    instance: &str,
    cluster: Option<&str>,
    password: &str,
) -> Result<Applied, StepError> {
    let arn = match cluster {
        None => {
            let what = format!("setting the master password of instance {instance}");
            let sent = rds
                .modify_db_instance()
                .db_instance_identifier(instance)
                .master_user_password(password)
                .apply_immediately(true)
                .send()
                .await;
            let busy = |e: &ModifyDBInstanceError| {
                e.is_invalid_db_instance_state_fault() || e.is_invalid_db_cluster_state_fault()
            };
            match answer(sent, busy, &what)? {
                None => return Ok(Applied::Refused),
                Some(out) => out
                    .db_instance()
                    .and_then(|i| i.db_instance_arn())
                    .map(String::from),
            }
        }
        Some(cluster) => {
            let what = format!("setting the master password of cluster {cluster}");
            let sent = rds
                .modify_db_cluster()
                .db_cluster_identifier(cluster)
                .master_user_password(password)
                .apply_immediately(true)
                .send()
                .await;
            let busy = |e: &ModifyDBClusterError| {
                e.is_invalid_db_cluster_state_fault() || e.is_invalid_db_instance_state_fault()
            };
            match answer(sent, busy, &what)? {
                None => return Ok(Applied::Refused),
                Some(out) => out
                    .db_cluster()
                    .and_then(|c| c.db_cluster_arn())
                    .map(String::from),
            }
        }
    };
    let target = cluster.unwrap_or(instance);
    let arn =
        arn.ok_or_else(|| StepError::internal(format!("RDS returned no ARN for {target}")))?;
    // Refused for the state: untagged, the next available check sets the same password again.
    let tagged = rds
        .add_tags_to_resource()
        .resource_name(&arn)
        .tags(tag(CREDENTIALS_TAG, CREDENTIALS_SET))
        .send()
        .await;
    let busy = |e: &AddTagsToResourceError| {
        e.is_invalid_db_instance_state_fault() || e.is_invalid_db_cluster_state_fault()
    };
    Ok(match answer(tagged, busy, &format!("tagging {target}"))? {
        Some(_) => Applied::Done,
        None => Applied::Refused,
    })
}

/// What a delete found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// Deletion started now.
    Deleted,
    /// Nothing by that name, or already being deleted.
    AlreadyGone,
    /// It exists but is not this export's: left alone.
    NotOurs,
}

/// Deletes the temporary instance if it is this export's: no final snapshot, no retained
/// automated backups.
pub async fn delete_instance(
    rds: &Client,
    identifier: &str,
    export_id: &str,
) -> Result<Deleted, StepError> {
    let Some(found) = describe_instance(rds, identifier).await? else {
        return Ok(Deleted::AlreadyGone);
    };
    if !owned_by(tags_of(found.tag_list()), export_id) {
        return Ok(Deleted::NotOurs);
    }
    if found.db_instance_status() == Some("deleting") {
        return Ok(Deleted::AlreadyGone);
    }
    let sent = rds
        .delete_db_instance()
        .db_instance_identifier(identifier)
        .skip_final_snapshot(true)
        .delete_automated_backups(true)
        .send()
        .await;
    match answer(
        sent,
        |e| e.is_db_instance_not_found_fault(),
        &format!("deleting instance {identifier}"),
    )? {
        Some(_) => Ok(Deleted::Deleted),
        None => Ok(Deleted::AlreadyGone),
    }
}

/// Deletes the temporary cluster if it is this export's. RDS refuses while its instance is
/// still being deleted: that is `Retryable`, and Cleanup's retries wait it out.
pub async fn delete_cluster(
    rds: &Client,
    identifier: &str,
    export_id: &str,
) -> Result<Deleted, StepError> {
    let Some(found) = describe_cluster(rds, identifier).await? else {
        return Ok(Deleted::AlreadyGone);
    };
    if !owned_by(tags_of(found.tag_list()), export_id) {
        return Ok(Deleted::NotOurs);
    }
    if found.status() == Some("deleting") {
        return Ok(Deleted::AlreadyGone);
    }
    let sent = rds
        .delete_db_cluster()
        .db_cluster_identifier(identifier)
        .skip_final_snapshot(true)
        .send()
        .await;
    match answer(
        sent,
        |e| e.is_db_cluster_not_found_fault(),
        &format!("deleting cluster {identifier}"),
    )? {
        Some(_) => Ok(Deleted::Deleted),
        None => Ok(Deleted::AlreadyGone),
    }
}
