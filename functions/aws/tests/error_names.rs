//! Every error name `statemachine/export.asl.json` retries or catches is one something emits:
//! the functions' own names (what their `StepError` can be called), the Lambda service's
//! documented transient errors, or Step Functions' own `States.*` names. A name nobody emits
//! would make a Retry that never fires, silently.

use std::collections::BTreeSet;

use serde_json::Value;
use snapex::service::error::ERROR_NAMES;

/// The Lambda service's own errors for an invocation that did not run the function, as the
/// Step Functions developer guide lists them for retrying Lambda tasks.
const LAMBDA_SERVICE: &[&str] = &[
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
];

fn error_names(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "ErrorEquals" {
                    for name in v.as_array().unwrap() {
                        out.insert(name.as_str().unwrap().to_string());
                    }
                } else {
                    error_names(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| error_names(v, out)),
        _ => {}
    }
}

#[test]
fn every_error_name_the_definition_matches_is_emitted() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../statemachine/export.asl.json"
    );
    let definition: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut names = BTreeSet::new();
    error_names(&definition, &mut names);
    assert!(
        names.contains("Retryable"),
        "the definition retries our transient errors"
    );
    for name in &names {
        let known = ERROR_NAMES.contains(&name.as_str())
            || LAMBDA_SERVICE.contains(&name.as_str())
            || name == "States.ALL";
        assert!(
            known,
            "the definition matches {name:?}, which nothing emits"
        );
    }
}

#[test]
fn step_errors_carry_only_those_names() {
    use snapex::ErrorClass;
    use snapex_aws::StepError;
    for class in [
        ErrorClass::InvalidInput,
        ErrorClass::Retryable,
        ErrorClass::Internal,
    ] {
        let e = StepError::of_class(class, "x");
        assert!(ERROR_NAMES.contains(&e.name.as_str()), "{}", e.name);
    }
    let core = snapex::Error::InvalidInput("bad".into());
    assert_eq!(StepError::from(core).name, "InvalidInput");
}
