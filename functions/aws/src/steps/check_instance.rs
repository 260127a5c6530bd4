//! `snapex-check-instance`: is the temporary instance ready, with the secret's password?

use snapex::service::job::{Readiness, StepInput};
use snapex::service::readiness::{Next, check_deadline, next};

use crate::context::Context;
use crate::error::StepError;
use crate::{rds, secrets};

/// Checks once. Fails with `RestoreDeadline` past the deadline; sets the master password the
/// first time the instance is available (and answers not ready); answers ready with the
/// endpoint once it is available with no password change pending.
pub async fn handle(input: StepInput, ctx: &Context) -> Result<Readiness, StepError> {
    let restored = input
        .instance
        .as_ref()
        .ok_or_else(|| StepError::invalid_input("no $.instance: Restore has not run"))?;
    let identifier = &restored.identifier;
    check_deadline(
        identifier,
        restored.deadline,
        chrono::Utc::now().timestamp(),
    )?;
    let cluster = restored.cluster_identifier.as_deref();
    let view = rds::instance_view(&ctx.clients.rds, identifier, cluster).await?;
    let status = view.status.clone();
    match next(identifier, &view)? {
        Next::Wait => {
            tracing::info!(instance = %identifier, %status, "not ready yet");
            Ok(Readiness {
                ready: false,
                status,
                endpoint: None,
            })
        }
        Next::SetPassword => {
            let credentials =
                secrets::credentials(&ctx.clients.secrets, &restored.secret_arn).await?;
            rds::set_master_password(&ctx.clients.rds, identifier, cluster, &credentials.password)
                .await?;
            tracing::info!(instance = %identifier, "master password set from the secret");
            Ok(Readiness {
                ready: false,
                status,
                endpoint: None,
            })
        }
        Next::Ready(reported) => {
            let endpoint = match &ctx.settings.test_db_endpoint {
                Some(test) => {
                    tracing::warn!(
                        instance = %identifier,
                        reported = %format!("{}:{}", reported.host, reported.port),
                        used = %format!("{}:{}", test.host, test.port),
                        "SNAPEX_TEST_DB_ENDPOINT is set: using it instead of the endpoint RDS \
                         reports (test only; never set it in a deployment)"
                    );
                    test.clone()
                }
                None => reported,
            };
            tracing::info!(instance = %identifier, host = %endpoint.host, port = endpoint.port, "ready");
            Ok(Readiness {
                ready: true,
                status,
                endpoint: Some(endpoint),
            })
        }
    }
}
