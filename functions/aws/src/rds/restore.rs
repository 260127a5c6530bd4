//! Making the temporary copy: restoring a snapshot to an instance or a cluster, and creating a
//! restored cluster's one instance; each finds and checks what a previous attempt made.

use aws_sdk_rds::Client;
use aws_sdk_rds::operation::create_db_instance::CreateDBInstanceError;
use snapex::service::naming::EXPORT_TAG;

use super::describe::{describe_cluster, describe_instance};
use super::{Applied, check_owned, tag, tags_of};
use crate::error::{StepError, answer};

/// Days of automated backups of the temporary instance: none, it is a throwaway copy.
const INSTANCE_BACKUP_RETENTION_DAYS: i32 = 0;
/// Days of automated backups of the temporary cluster: Aurora cannot go below one day (RDS
/// refuses 0 for a cluster), so the least it allows.
const CLUSTER_BACKUP_RETENTION_DAYS: i32 = 1;

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
