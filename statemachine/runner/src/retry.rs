//! Retry and Catch: which errors they match, and the backoff a retrier computes.

use serde_json::Value;

use crate::error::{DefinitionError, names};
use crate::fields::Fields;
use crate::paths::ReferencePath;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Jitter {
    Full,
    None,
}

#[derive(Debug, Clone)]
pub(crate) struct Retrier {
    pub(crate) errors: Vec<String>,
    pub(crate) interval_seconds: f64,
    pub(crate) max_attempts: u64,
    pub(crate) backoff_rate: f64,
    pub(crate) max_delay_seconds: Option<f64>,
    pub(crate) jitter: Jitter,
}

/// Where a catcher puts the error output: replace the input (`$`, the default), drop the error
/// (`null`: the input goes on unchanged), or merge at a reference path.
#[derive(Debug, Clone)]
pub(crate) struct Catcher {
    pub(crate) errors: Vec<String>,
    pub(crate) next: String,
    pub(crate) result_path: Option<Option<ReferencePath>>,
}

/// Whether an error name is matched by an `ErrorEquals` list. `States.Runtime` never is: as on
/// AWS, it fails the execution whatever the Retry and Catch fields say.
pub(crate) fn matches(error_equals: &[String], error: &str) -> bool {
    if error == names::RUNTIME {
        return false;
    }
    error_equals.iter().any(|name| match name.as_str() {
        names::ALL => true,
        names::TASK_FAILED => error != names::TIMEOUT,
        other => other == error,
    })
}

impl Retrier {
    /// The delay before retry number `retry` (0 for the first) under this retrier, before and
    /// after jitter: `IntervalSeconds * BackoffRate^retry`, capped at `MaxDelaySeconds`; FULL
    /// jitter picks uniformly in `[0, that]`.
    pub(crate) fn delay(&self, retry: u64, rng: &mut fastrand::Rng) -> (f64, f64) {
        let exponent = i32::try_from(retry).unwrap_or(i32::MAX);
        let mut computed = self.interval_seconds * self.backoff_rate.powi(exponent);
        if let Some(cap) = self.max_delay_seconds {
            computed = computed.min(cap);
        }
        let actual = match self.jitter {
            Jitter::None => computed,
            Jitter::Full => rng.f64() * computed,
        };
        (computed, actual)
    }
}

/// `ErrorEquals`: a non-empty list of names, in which `States.ALL` may only stand alone.
fn error_equals(fields: &mut Fields<'_>) -> Result<Vec<String>, DefinitionError> {
    let value = fields.require("ErrorEquals")?;
    let names: Option<Vec<String>> = value
        .as_array()
        .filter(|list| !list.is_empty())
        .map(|list| list.iter().map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or(None);
    let names = names
        .ok_or_else(|| fields.invalid("\"ErrorEquals\" must be a non-empty array of strings"))?;
    if names.len() > 1 && names.iter().any(|n| n == names::ALL) {
        return Err(fields.invalid("\"States.ALL\" must appear alone in \"ErrorEquals\""));
    }
    Ok(names)
}

pub(crate) fn parse_retry(value: &Value, state: &str) -> Result<Vec<Retrier>, DefinitionError> {
    let list = value.as_array().ok_or_else(|| DefinitionError::Invalid {
        location: state.to_owned(),
        message: "\"Retry\" must be an array".into(),
    })?;
    let mut retriers = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let mut fields = Fields::new(item, format!("Retry[{i}] of {state}"))?;
        let errors = error_equals(&mut fields)?;
        let interval = fields.uint("IntervalSeconds")?.unwrap_or(1);
        if interval == 0 || interval > 99_999_999 {
            return Err(fields.invalid("\"IntervalSeconds\" must be a positive integer"));
        }
        let max_attempts = fields.uint("MaxAttempts")?.unwrap_or(3);
        if max_attempts > 99_999_999 {
            return Err(fields.invalid("\"MaxAttempts\" must be at most 99999999"));
        }
        let backoff_rate = fields.number("BackoffRate")?.unwrap_or(2.0);
        if backoff_rate < 1.0 {
            return Err(fields.invalid("\"BackoffRate\" must be at least 1.0"));
        }
        let max_delay = fields.uint("MaxDelaySeconds")?;
        if max_delay == Some(0) {
            return Err(fields.invalid("\"MaxDelaySeconds\" must be a positive integer"));
        }
        let jitter = match fields.string("JitterStrategy")?.as_deref() {
            None | Some("NONE") => Jitter::None,
            Some("FULL") => Jitter::Full,
            Some(other) => {
                return Err(DefinitionError::UnsupportedValue {
                    field: "JitterStrategy".into(),
                    value: format!("{other:?}"),
                    location: fields.location().to_owned(),
                });
            }
        };
        if errors.iter().any(|n| n == names::ALL) && i + 1 != list.len() {
            return Err(fields.invalid("a retrier on \"States.ALL\" must be the last one"));
        }
        fields.finish()?;
        retriers.push(Retrier {
            errors,
            interval_seconds: interval as f64,
            max_attempts,
            backoff_rate,
            max_delay_seconds: max_delay.map(|d| d as f64),
            jitter,
        });
    }
    Ok(retriers)
}

pub(crate) fn parse_catch(value: &Value, state: &str) -> Result<Vec<Catcher>, DefinitionError> {
    let list = value.as_array().ok_or_else(|| DefinitionError::Invalid {
        location: state.to_owned(),
        message: "\"Catch\" must be an array".into(),
    })?;
    let mut catchers = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let mut fields = Fields::new(item, format!("Catch[{i}] of {state}"))?;
        let errors = error_equals(&mut fields)?;
        let next = fields.required_string("Next")?;
        let result_path = fields.nullable_reference_path("ResultPath")?;
        if errors.iter().any(|n| n == names::ALL) && i + 1 != list.len() {
            return Err(fields.invalid("a catcher on \"States.ALL\" must be the last one"));
        }
        fields.finish()?;
        catchers.push(Catcher {
            errors,
            next,
            result_path,
        });
    }
    Ok(catchers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_matching() {
        let all = vec![names::ALL.to_owned()];
        let task_failed = vec![names::TASK_FAILED.to_owned()];
        let exact = vec!["Retryable".to_owned(), "Lambda.ServiceException".to_owned()];
        assert!(matches(&all, "Anything"));
        assert!(matches(&all, names::TIMEOUT));
        assert!(!matches(&all, names::RUNTIME));
        assert!(matches(&task_failed, "Internal"));
        assert!(!matches(&task_failed, names::TIMEOUT));
        assert!(matches(&exact, "Lambda.ServiceException"));
        assert!(!matches(&exact, "Lambda.Unknown"));
    }

    #[test]
    fn backoff_is_exponential_and_capped() {
        let retriers = parse_retry(
            &json!([{"ErrorEquals": ["X"], "IntervalSeconds": 2, "MaxAttempts": 6,
                     "MaxDelaySeconds": 10}]),
            "state \"S\"",
        )
        .unwrap();
        let mut rng = fastrand::Rng::with_seed(1);
        let delays: Vec<f64> = (0..5).map(|n| retriers[0].delay(n, &mut rng).1).collect();
        assert_eq!(delays, vec![2.0, 4.0, 8.0, 10.0, 10.0]);
    }

    #[test]
    fn defaults_are_one_second_three_attempts_rate_two() {
        let r = &parse_retry(&json!([{"ErrorEquals": ["X"]}]), "s").unwrap()[0];
        assert_eq!(
            (r.interval_seconds, r.max_attempts, r.backoff_rate),
            (1.0, 3, 2.0)
        );
        assert_eq!(r.jitter, Jitter::None);
        assert_eq!(r.max_delay_seconds, None);
    }

    #[test]
    fn full_jitter_stays_within_the_computed_delay() {
        let r = &parse_retry(
            &json!([{"ErrorEquals": ["X"], "IntervalSeconds": 3, "JitterStrategy": "FULL"}]),
            "s",
        )
        .unwrap()[0];
        let mut rng = fastrand::Rng::with_seed(7);
        let mut distinct = std::collections::BTreeSet::new();
        for _ in 0..100 {
            let (computed, actual) = r.delay(2, &mut rng);
            assert_eq!(computed, 12.0);
            assert!((0.0..=12.0).contains(&actual));
            distinct.insert(actual.to_bits());
        }
        assert!(distinct.len() > 50, "jitter should vary");
    }

    #[test]
    fn refusals() {
        let retry = |v: Value| {
            parse_retry(&v, "state \"S\"")
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        assert!(retry(json!([{"ErrorEquals": ["States.ALL", "X"]}])).contains("alone"));
        assert!(
            retry(json!([{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]))
                .contains("last")
        );
        assert!(retry(json!([{"ErrorEquals": []}])).contains("non-empty"));
        assert!(retry(json!([{"ErrorEquals": ["X"], "BackoffRate": 0.5}])).contains("BackoffRate"));
        assert!(retry(json!([{"ErrorEquals": ["X"], "IntervalSeconds": 0}])).contains("Interval"));
        assert!(retry(json!([{"ErrorEquals": ["X"], "JitterStrategy": "HALF"}])).contains("HALF"));
        assert!(retry(json!([{"ErrorEquals": ["X"], "MaxAttemps": 1}])).contains("MaxAttemps"));
        let catch = parse_catch(&json!([{"ErrorEquals": ["X"]}]), "state \"S\"").unwrap_err();
        assert!(catch.to_string().contains("Next"));
        let catch = parse_catch(
            &json!([{"ErrorEquals": ["X"], "Next": "N", "ResultPath": "$.a[*]"}]),
            "state \"S\"",
        )
        .unwrap_err();
        assert!(catch.to_string().contains("reference path"));
    }
}
