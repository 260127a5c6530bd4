//! Starting the export's execution, at most once per snapshot.
//!
//! The execution's name is fixed per snapshot, and Step Functions refuses a second execution
//! of a name it has seen (for 90 days) with `ExecutionAlreadyExists`. But while an execution
//! runs, starting the same name with the same input *succeeds* and returns the running one, so
//! the trigger first looks the execution up by its ARN: only a call that found none reports
//! that it started the export.

use aws_sdk_sfn::Client;

use crate::error::{StepError, answer};

/// What starting an execution did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    Started { execution_arn: String },
    AlreadyStarted { execution_arn: String },
}

/// The ARN an execution named `name` of `state_machine_arn` has.
pub fn execution_arn(state_machine_arn: &str, name: &str) -> Option<String> {
    // arn:aws:states:region:account:stateMachine:Name -> ...:execution:Name:name
    let (prefix, machine) = state_machine_arn.split_once(":stateMachine:")?;
    Some(format!("{prefix}:execution:{machine}:{name}"))
}

/// Starts `name` with `input` unless an execution of that name exists.
pub async fn start_once(
    sfn: &Client,
    state_machine_arn: &str,
    name: &str,
    input: &str,
) -> Result<Start, StepError> {
    if let Some(arn) = execution_arn(state_machine_arn, name) {
        let found = sfn.describe_execution().execution_arn(&arn).send().await;
        let what = format!("looking up execution {name}");
        if answer(found, |e| e.is_execution_does_not_exist(), &what)?.is_some() {
            return Ok(Start::AlreadyStarted { execution_arn: arn });
        }
    }
    let sent = sfn
        .start_execution()
        .state_machine_arn(state_machine_arn)
        .name(name)
        .input(input)
        .send()
        .await;
    let what = format!("starting execution {name}");
    match answer(sent, |e| e.is_execution_already_exists(), &what)? {
        Some(out) => Ok(Start::Started {
            execution_arn: out.execution_arn().to_string(),
        }),
        // Another delivery of the same event won the race.
        None => Ok(Start::AlreadyStarted {
            execution_arn: execution_arn(state_machine_arn, name).unwrap_or_default(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_arns_follow_the_state_machines() {
        assert_eq!(
            execution_arn(
                "arn:aws:states:us-east-1:123456789012:stateMachine:snapex-export",
                "orders-db-20260315T031408Z-1a2b3c4d"
            )
            .as_deref(),
            Some(
                "arn:aws:states:us-east-1:123456789012:execution:snapex-export:orders-db-20260315T031408Z-1a2b3c4d"
            )
        );
        assert_eq!(execution_arn("not-an-arn", "x"), None);
    }
}
