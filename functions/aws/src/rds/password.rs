//! Setting the temporary instance's (or its cluster's) master password, and the tag that tells
//! the next check it is set.

use aws_sdk_rds::Client;
use aws_sdk_rds::operation::add_tags_to_resource::AddTagsToResourceError;
use aws_sdk_rds::operation::modify_db_cluster::ModifyDBClusterError;
use aws_sdk_rds::operation::modify_db_instance::ModifyDBInstanceError;
use snapex::service::naming::{CREDENTIALS_SET, CREDENTIALS_TAG};

use super::{Applied, tag};
use crate::error::{StepError, answer};

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
