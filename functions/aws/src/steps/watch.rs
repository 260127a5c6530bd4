//! `snapex-watch`: run on a schedule (every 5 minutes), it lists the temporary instances and
//! clusters Snapex made that still exist and prints how many there are and the oldest one's
//! age as metrics, which an alarm watches: an instance older than any export takes was left
//! behind (Cleanup failed, or an execution was stopped) and costs money until it is deleted.
//! It only reads: deleting is Cleanup's, for its own export.

use aws_sdk_rds::Client;
use aws_sdk_rds::types::Tag;
use serde::{Deserialize, Serialize};
use snapex::metrics;
use snapex::service::temporary::{Kind, Listed, survey};

use crate::context::Context;
use crate::error::{StepError, sdk_error};

/// What the watch saw (the invocation's result; the metrics carry the same numbers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watched {
    /// Temporary instances, and clusters left without their instance.
    pub alive: usize,
    pub oldest_age_minutes: u64,
    /// The oldest one's identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest: Option<String>,
}

/// Handles one scheduled event (its content does not matter).
pub async fn handle(_event: serde_json::Value, ctx: &Context) -> Result<Watched, StepError> {
    let listed = list(&ctx.clients.rds).await?;
    let now = chrono::Utc::now();
    let survey = survey(&listed, now.timestamp());
    for t in &survey.temporary {
        tracing::info!(
            instance = %t.identifier,
            kind = ?t.kind,
            export_id = %t.export_id,
            status = %t.status,
            age_minutes = t.age_minutes,
            "temporary instance alive"
        );
    }
    let oldest = survey.oldest().map(|t| t.identifier.clone());
    super::emit(&metrics::temporary_instances(
        survey.alive(),
        survey.oldest_age_minutes(),
        oldest.as_deref(),
        now.timestamp_millis(),
    ));
    Ok(Watched {
        alive: survey.alive(),
        oldest_age_minutes: survey.oldest_age_minutes(),
        oldest,
    })
}

fn tags(list: &[Tag]) -> Vec<(String, String)> {
    list.iter()
        .map(|t| {
            let k = t.key().unwrap_or_default().to_string();
            (k, t.value().unwrap_or_default().to_string())
        })
        .collect()
}

/// Every DB instance and cluster of the account and region, as the core's [`Listed`]. RDS
/// cannot filter on a name prefix or a tag here: the core picks the temporary ones.
async fn list(rds: &Client) -> Result<Vec<Listed>, StepError> {
    let instances = rds
        .describe_db_instances()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| sdk_error("listing the DB instances", e))?;
    let clusters = rds
        .describe_db_clusters()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| sdk_error("listing the DB clusters", e))?;
    let mut listed = Vec::with_capacity(instances.len() + clusters.len());
    listed.extend(instances.iter().map(|i| Listed {
        kind: Kind::Instance,
        identifier: i.db_instance_identifier().unwrap_or_default().to_string(),
        cluster: i.db_cluster_identifier().map(String::from),
        status: i.db_instance_status().unwrap_or("unknown").to_string(),
        tags: tags(i.tag_list()),
        created_at: i.instance_create_time().map(|t| t.secs()),
    }));
    listed.extend(clusters.iter().map(|c| Listed {
        kind: Kind::Cluster,
        identifier: c.db_cluster_identifier().unwrap_or_default().to_string(),
        cluster: None,
        status: c.status().unwrap_or("unknown").to_string(),
        tags: tags(c.tag_list()),
        created_at: c.cluster_create_time().map(|t| t.secs()),
    }));
    Ok(listed)
}
