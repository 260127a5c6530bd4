//! The source URL the export steps connect with: the secret's credentials and the endpoint
//! CheckInstance reported. It holds the password: pass it to the core's source and nowhere
//! else (never into a log line, an error or the state).

use snapex::service::credentials;
use snapex::service::job::{Endpoint, Job, Restored};

use crate::context::Clients;
use crate::error::StepError;
use crate::secrets;

/// `postgres://user:password@host:port/database` (or `mysql://...` for MySQL, MariaDB and
/// Aurora MySQL) for `job`'s database on the restored instance at `endpoint`.
pub async fn source_url(
    clients: &Clients,
    job: &Job,
    restored: &Restored,
    endpoint: &Endpoint,
) -> Result<String, StepError> {
    let c = secrets::credentials(&clients.secrets, &restored.secret_arn).await?;
    Ok(credentials::source_url(
        &restored.engine,
        &c,
        endpoint,
        &job.database,
    )?)
}
