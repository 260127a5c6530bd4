//! `snapex-trigger`: an EventBridge event in, at most one export execution started.

use snapex::service::config::ServiceConfig;
use snapex::service::decide::{Decision, TriggerOutcome, decide};
use snapex::service::events::{Classified, classify};
use snapex::service::job::StepInput;

use crate::context::Context;
use crate::error::StepError;
use crate::{rds, sfn};

/// Handles one event: ignores anything but a new snapshot of a configured database (saying
/// why), and otherwise starts the export's execution unless it was started already.
pub async fn handle(event: serde_json::Value, ctx: &Context) -> Result<TriggerOutcome, StepError> {
    let snapshot = match classify(&event)? {
        Classified::Created(s) => s,
        Classified::Ignored(reason) => {
            tracing::info!(%reason, "event ignored");
            return Ok(TriggerOutcome::ignored(reason));
        }
    };
    let settings = &ctx.settings;
    let config_url = settings.config_url.as_deref().ok_or_else(|| {
        StepError::invalid_input("SNAPEX_CONFIG is not set: it names the export configuration")
    })?;
    let state_machine = settings
        .state_machine_arn
        .as_deref()
        .ok_or_else(|| StepError::invalid_input("SNAPEX_STATE_MACHINE_ARN is not set"))?;
    let config = ServiceConfig::load(config_url, settings.endpoint_url.as_deref()).await?;
    if config.databases.is_empty() {
        let reason = format!("{config_url} configures no database");
        tracing::info!(%reason, snapshot = %snapshot.identifier, "snapshot ignored");
        return Ok(TriggerOutcome::ignored(reason));
    }
    // The event names the snapshot only; RDS knows what it was taken of.
    let info =
        rds::describe_snapshot(&ctx.clients.rds, snapshot.kind, &snapshot.identifier).await?;
    let (job, execution_name) = match decide(&config, &snapshot, &info.source) {
        Decision::Ignore { reason } => {
            tracing::info!(%reason, snapshot = %snapshot.identifier, "snapshot ignored");
            return Ok(TriggerOutcome::ignored(reason));
        }
        Decision::Start {
            job,
            execution_name,
        } => (*job, execution_name),
    };
    let export_id = job.export_id.clone();
    let input = serde_json::to_string(&StepInput {
        job,
        instance: None,
        ready: None,
        plan: None,
        result: None,
        error: None,
    })
    .map_err(|e| StepError::internal(format!("serializing the execution input: {e}")))?;
    let (started, execution_arn) =
        match sfn::start_once(&ctx.clients.sfn, state_machine, &execution_name, &input).await? {
            sfn::Start::Started { execution_arn } => {
                tracing::info!(%export_id, %execution_arn, "export started");
                (true, execution_arn)
            }
            sfn::Start::AlreadyStarted { execution_arn } => {
                tracing::info!(%export_id, %execution_arn, "export already started; nothing to do");
                (false, execution_arn)
            }
        };
    Ok(TriggerOutcome {
        started,
        reason: (!started).then(|| "already started".to_string()),
        export_id: Some(export_id),
        execution_name: Some(execution_name),
        execution_arn: Some(execution_arn),
    })
}
