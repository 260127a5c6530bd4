//! `snapex-trigger`: an EventBridge event in, at most one export execution started; or, on
//! its schedule, the sweep ([`super::sweep`]) for the events that never came.

use serde::Serialize;
use snapex::service::config::ServiceConfig;
use snapex::service::decide::{Decision, TriggerOutcome, decide};
use snapex::service::events::{Classified, classify, is_scheduled};
use snapex::service::job::{Job, StepInput};
use snapex::service::sweep::SweepOutcome;

use crate::context::Context;
use crate::error::StepError;
use crate::{rds, sfn};

/// What one invocation of the trigger function answers: an event's outcome, or a sweep's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Event(TriggerOutcome),
    Sweep(SweepOutcome),
}

/// The trigger function's handler: a scheduled event runs the sweep, any other is an event to
/// act on.
pub async fn handle_invocation(
    event: serde_json::Value,
    ctx: &Context,
) -> Result<Answer, StepError> {
    // Boxed: the two handlers' futures nested in one are deeper than the compiler's layout
    // recursion limit.
    if is_scheduled(&event) {
        Box::pin(super::sweep::handle(ctx, chrono::Utc::now()))
            .await
            .map(Answer::Sweep)
    } else {
        Box::pin(handle(event, ctx)).await.map(Answer::Event)
    }
}

/// Handles one event: ignores anything but a new snapshot of a configured database (saying
/// why), refuses a snapshot whose export the deployed policies would stop (an `InvalidInput`
/// error saying why: the event goes to the failure queue), and otherwise starts the export's
/// execution unless it was started already.
pub async fn handle(event: serde_json::Value, ctx: &Context) -> Result<TriggerOutcome, StepError> {
    let snapshot = match classify(&event)? {
        Classified::Created(s) => s,
        Classified::Ignored(reason) => {
            tracing::info!(%reason, "event ignored");
            return Ok(TriggerOutcome::ignored(reason));
        }
    };
    let (config, config_url) = load_config(ctx).await?;
    if config.databases.is_empty() {
        let reason = format!("{config_url} configures no database");
        tracing::info!(%reason, snapshot = %snapshot.identifier, "snapshot ignored");
        return Ok(TriggerOutcome::ignored(reason));
    }
    // The event names the snapshot only; RDS knows what it was taken of, and when.
    let info =
        rds::describe::describe_snapshot(&ctx.clients.rds, snapshot.kind, &snapshot.identifier)
            .await?;
    let snapshot = snapshot.taken_at(info.created_at);
    match decide(&config, &snapshot, &info.source) {
        Decision::Ignore { reason } => {
            tracing::info!(%reason, snapshot = %snapshot.identifier, "snapshot ignored");
            Ok(TriggerOutcome::ignored(reason))
        }
        Decision::Refuse { reason } => {
            tracing::error!(%reason, snapshot = %snapshot.identifier, "export refused");
            Err(StepError::invalid_input(reason))
        }
        Decision::Start {
            job,
            execution_name,
        } => start(ctx, *job, &execution_name).await,
    }
}

/// The export configuration, read with the deployment's defaults, and where it was read.
pub(crate) async fn load_config(ctx: &Context) -> Result<(ServiceConfig, &str), StepError> {
    let settings = &ctx.settings;
    let config_url = settings.config_url.as_deref().ok_or_else(|| {
        StepError::invalid_input("SNAPEX_CONFIG is not set: it names the export configuration")
    })?;
    let config = ServiceConfig::load(
        config_url,
        settings.endpoint_url.as_deref(),
        &settings.deployment(),
    )
    .await?;
    Ok((config, config_url))
}

/// Starts `job`'s execution as `execution_name` unless it exists: the one way an export is
/// started, by an event or by the sweep.
pub(crate) async fn start(
    ctx: &Context,
    job: Job,
    execution_name: &str,
) -> Result<TriggerOutcome, StepError> {
    let state_machine = ctx
        .settings
        .state_machine_arn
        .as_deref()
        .ok_or_else(|| StepError::invalid_input("SNAPEX_STATE_MACHINE_ARN is not set"))?;
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
        match sfn::start_once(&ctx.clients.sfn, state_machine, execution_name, &input).await? {
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
        execution_name: Some(execution_name.to_string()),
        execution_arn: Some(execution_arn),
    })
}
