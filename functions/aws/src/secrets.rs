//! The temporary instance's secret: created by Restore with a fresh random password, read by
//! CheckInstance (to set the password) and by the export steps (to connect), deleted by
//! Cleanup. Its value never leaves these functions except to RDS and the database driver.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::Tag;
use snapex::service::cleanup::owned_by;
use snapex::service::credentials::Credentials;
use snapex::service::naming::EXPORT_TAG;
use snapex::service::restore::{PASSWORD_EXCLUDED_CHARACTERS, PASSWORD_LENGTH};

use crate::error::{StepError, answer, sdk_error};
use crate::rds::delete::Deleted;

/// Creates the secret `name` holding `username` and a new random password, tagged for
/// `export_id`, and returns its ARN. A secret of that name made by an earlier attempt is kept
/// as it is (its password may already be the instance's).
pub async fn create_credentials(
    secrets: &Client,
    name: &str,
    username: &str,
    export_id: &str,
) -> Result<String, StepError> {
    if let Some(arn) = existing(secrets, name, export_id).await? {
        return Ok(arn);
    }
    let password = secrets
        .get_random_password()
        .password_length(PASSWORD_LENGTH)
        .exclude_characters(PASSWORD_EXCLUDED_CHARACTERS)
        .send()
        .await
        .map_err(|e| sdk_error("generating a password", e))?
        .random_password()
        .map(String::from)
        .ok_or_else(|| StepError::internal("Secrets Manager returned no password"))?;
    let value = Credentials {
        username: username.to_string(),
        password,
    };
    let sent = secrets
        .create_secret()
        .name(name)
        .description(format!(
            "Master credentials of snapex export {export_id}'s temporary instance; deleted with it"
        ))
        .secret_string(value.to_json())
        .tags(Tag::builder().key(EXPORT_TAG).value(export_id).build())
        .send()
        .await;
    let what = format!("creating secret {name}");
    match answer(sent, |e| e.is_resource_exists_exception(), &what)? {
        Some(out) => out.arn().map(String::from).ok_or_else(|| {
            StepError::internal(format!("Secrets Manager returned no ARN for {name}"))
        }),
        None => existing(secrets, name, export_id).await?.ok_or_else(|| {
            StepError::retryable(format!("secret {name} exists but cannot be read yet"))
        }),
    }
}

/// The ARN of the secret `name` if it exists and is this export's; an error if it exists
/// and is not.
async fn existing(
    secrets: &Client,
    name: &str,
    export_id: &str,
) -> Result<Option<String>, StepError> {
    let found = secrets.describe_secret().secret_id(name).send().await;
    let what = format!("reading secret {name}");
    let Some(found) = answer(found, |e| e.is_resource_not_found_exception(), &what)? else {
        return Ok(None);
    };
    let tags = found
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()));
    if !owned_by(tags, export_id) {
        return Err(StepError::invalid_input(format!(
            "secret {name} already exists and is not tagged {EXPORT_TAG}={export_id}"
        )));
    }
    Ok(found.arn().map(String::from))
}

/// The credentials in the secret `id` (a name or an ARN).
pub async fn credentials(secrets: &Client, id: &str) -> Result<Credentials, StepError> {
    let out = secrets
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("reading secret {id}"), e))?;
    let text = out
        .secret_string()
        .ok_or_else(|| StepError::invalid_input(format!("secret {id} holds no string")))?;
    Ok(Credentials::parse(text)?)
}

/// Deletes the secret `id` at once (no recovery window: it only ever held a temporary
/// instance's password) if it is this export's.
pub async fn delete(secrets: &Client, id: &str, export_id: &str) -> Result<Deleted, StepError> {
    let found = secrets.describe_secret().secret_id(id).send().await;
    let what = format!("reading secret {id}");
    let Some(found) = answer(found, |e| e.is_resource_not_found_exception(), &what)? else {
        return Ok(Deleted::AlreadyGone);
    };
    let tags = found
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()));
    if !owned_by(tags, export_id) {
        return Ok(Deleted::NotOurs);
    }
    if found.deleted_date().is_some() {
        return Ok(Deleted::AlreadyGone);
    }
    let sent = secrets
        .delete_secret()
        .secret_id(id)
        .force_delete_without_recovery(true)
        .send()
        .await;
    let what = format!("deleting secret {id}");
    match answer(sent, |e| e.is_resource_not_found_exception(), &what)? {
        Some(_) => Ok(Deleted::Deleted),
        None => Ok(Deleted::AlreadyGone),
    }
}
