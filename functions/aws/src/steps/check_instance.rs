//! `snapex-check-instance`: is the temporary instance ready, with the secret's password? For a
//! cluster snapshot it also creates the cluster's instance, once the restored cluster is
//! available (RDS refuses it before).

use snapex::service::job::{Readiness, StepInput};
use snapex::service::readiness::{Next, check_deadline, next};

use crate::context::Context;
use crate::error::StepError;
use crate::rds::restore::ClusterInstanceSpec;
use crate::rds::{self, Applied};
use crate::secrets;

/// Checks once. Fails with `RestoreDeadline` past the deadline; creates a cluster's instance
/// once the cluster is available, and sets the master password the first time the instance is
/// available (answering not ready after each); answers ready with the endpoint once it is
/// available with no password change pending. While RDS is still working (a state on the way,
/// or a call refused because the state changed meanwhile) the answer is "not ready", never an
/// error: the state machine's Wait/Choice loop waits, up to the deadline, where a Retry would
/// run out.
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
    let export_id = &input.job.export_id;
    let seen_before = input.ready.as_ref().is_some_and(|r| r.instance_seen);
    let observed = rds::describe::observe(&ctx.clients.rds, identifier, cluster, export_id).await?;
    let seen = seen_before || observed.has_instance();
    let not_ready = |status: &str, instance_seen: bool| Readiness {
        ready: false,
        status: status.to_string(),
        endpoint: None,
        instance_seen,
    };
    let status = observed.status();
    match next(identifier, &observed, seen_before)? {
        Next::Wait => {
            tracing::info!(instance = %identifier, %status, "not ready yet");
            Ok(not_ready(status, seen))
        }
        Next::CreateInstance => {
            let cluster = cluster
                .ok_or_else(|| StepError::internal("an instance to create without a cluster"))?;
            let spec = ClusterInstanceSpec {
                export_id,
                instance: identifier,
                cluster,
                class: &input.job.instance.class,
                engine: &restored.engine,
            };
            match rds::restore::create_cluster_instance(&ctx.clients.rds, &spec).await? {
                Applied::Done => {
                    tracing::info!(instance = %identifier, %cluster, "cluster available: its instance is being created");
                    Ok(not_ready("creating", true))
                }
                Applied::Refused => {
                    tracing::info!(instance = %identifier, %cluster, "RDS refused the instance for now; checking again later");
                    Ok(not_ready(status, seen))
                }
            }
        }
        Next::SetPassword => {
            let credentials =
                secrets::credentials(&ctx.clients.secrets, &restored.secret_arn).await?;
            let applied = rds::password::set_master_password(
                &ctx.clients.rds,
                identifier,
                cluster,
                &credentials.password,
            )
            .await?;
            match applied {
                Applied::Done => {
                    tracing::info!(instance = %identifier, "master password set from the secret")
                }
                Applied::Refused => tracing::info!(
                    instance = %identifier,
                    "RDS refused the password change (or its tag) for now; checking again later"
                ),
            }
            Ok(not_ready(status, seen))
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
                status: status.to_string(),
                endpoint: Some(endpoint),
                instance_seen: true,
            })
        }
    }
}
