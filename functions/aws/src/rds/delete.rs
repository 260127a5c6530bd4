//! Deleting the temporary instance and cluster, only when they carry this export's tag.

use aws_sdk_rds::Client;
use snapex::service::cleanup::owned_by;

use super::describe::{describe_cluster, describe_instance};
use super::tags_of;
use crate::error::{StepError, answer};

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
