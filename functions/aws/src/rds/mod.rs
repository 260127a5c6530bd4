//! The RDS calls the steps make: reading snapshots and the temporary instance ([`describe`]),
//! restoring them to a temporary instance (or cluster) and creating a cluster's instance
//! ([`restore`]), setting the password ([`password`]), and deleting them ([`delete`]). Each call
//! that creates something is idempotent: "already exists" is answered by reading what exists
//! and checking it carries this export's tag. A call RDS refuses because the resource is busy
//! (its state changed since it was read) is [`Applied::Refused`], which CheckInstance answers
//! with "not ready", not an error. This module holds what they share: tags and ownership.

pub mod delete;
pub mod describe;
pub mod password;
pub mod restore;

use aws_sdk_rds::types::Tag;
use snapex::service::cleanup::owned_by;
use snapex::service::naming::EXPORT_TAG;

use crate::error::StepError;

/// What a call that needs an `available` resource did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Done,
    /// RDS refused: the resource is not in a state for it now; check again later.
    Refused,
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

fn tags_of(list: &[Tag]) -> impl Iterator<Item = (&str, &str)> {
    list.iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
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
