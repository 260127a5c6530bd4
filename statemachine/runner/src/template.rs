//! Payload templates: `Parameters`, `ResultSelector`, `ItemSelector` and an ItemReader's
//! `Parameters`. A key ending in `.$` takes its value from a path or an intrinsic function; the
//! rest is copied as written, nested objects and arrays included.

use serde_json::{Map, Value};

use crate::error::runtime;
use crate::intrinsics::{self, Call, IntrinsicError};
use crate::paths::ReadPath;
use crate::tasks::TaskFailure;

#[derive(Debug, Clone)]
pub(crate) enum Template {
    /// A subtree without any `.$` key, copied as is.
    Literal(Value),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
    Path {
        field: String,
        path: ReadPath,
    },
    Call {
        field: String,
        call: Call,
    },
}

/// Why a template was refused (the definition parser adds where).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TemplateError {
    Intrinsic(String),
    Invalid(String),
}

impl Template {
    pub(crate) fn parse(value: &Value) -> Result<Template, TemplateError> {
        if !has_dynamic_key(value) {
            return Ok(Template::Literal(value.clone()));
        }
        match value {
            Value::Object(map) => {
                let mut fields = Vec::with_capacity(map.len());
                for (key, value) in map {
                    let Some(name) = key.strip_suffix(".$") else {
                        fields.push((key.clone(), Template::parse(value)?));
                        continue;
                    };
                    let Value::String(text) = value else {
                        return Err(TemplateError::Invalid(format!(
                            "the value of \"{key}\" must be a path or an intrinsic function"
                        )));
                    };
                    let field = if intrinsics::is_call(text) {
                        let call = Call::parse(text).map_err(|e| match e {
                            IntrinsicError::Unsupported(name) => TemplateError::Intrinsic(name),
                            IntrinsicError::Syntax(why) => {
                                TemplateError::Invalid(format!("\"{key}\": {why}"))
                            }
                        })?;
                        Template::Call {
                            field: key.clone(),
                            call,
                        }
                    } else {
                        let path = ReadPath::parse(text)
                            .map_err(|why| TemplateError::Invalid(format!("\"{key}\": {why}")))?;
                        Template::Path {
                            field: key.clone(),
                            path,
                        }
                    };
                    fields.push((name.to_owned(), field));
                }
                Ok(Template::Object(fields))
            }
            Value::Array(items) => Ok(Template::Array(
                items
                    .iter()
                    .map(Template::parse)
                    .collect::<Result<_, _>>()?,
            )),
            other => Ok(Template::Literal(other.clone())),
        }
    }

    pub(crate) fn eval(&self, input: &Value, context: &Value) -> Result<Value, TaskFailure> {
        match self {
            Template::Literal(value) => Ok(value.clone()),
            Template::Object(fields) => {
                let mut out = Map::new();
                for (name, template) in fields {
                    out.insert(name.clone(), template.eval(input, context)?);
                }
                Ok(Value::Object(out))
            }
            Template::Array(items) => items.iter().map(|t| t.eval(input, context)).collect(),
            Template::Path { field, path } => path.read(input, context).map_err(|e| {
                runtime(format!(
                    "The JSONPath '{}' specified for the field '{field}' could not be found: {}",
                    path.text(),
                    e.cause
                ))
            }),
            Template::Call { field, call } => call
                .eval(input, context)
                .map_err(|e| runtime(format!("the field '{field}': {}", e.cause))),
        }
    }
}

fn has_dynamic_key(value: &Value) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.ends_with(".$") || has_dynamic_key(v)),
        Value::Array(items) => items.iter().any(has_dynamic_key),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dynamic_keys_read_paths_context_and_functions() {
        let template = Template::parse(&json!({
            "comment": "Selecting what I care about.",
            "MyDetails": {
                "size.$": "$.product.details.size",
                "exists.$": "$.product.availability",
                "StaticValue": "foo"
            },
            "list": [{"n.$": "$.n"}, 3],
            "name.$": "$$.Execution.Name",
            "greeting.$": "States.Format('hi {}', $.who)"
        }))
        .unwrap();
        let input = json!({
            "product": {"details": {"color": "blue", "size": "small", "material": "cotton"},
                        "availability": "in stock", "sku": "2317", "cost": "$23"},
            "n": 1, "who": "you"
        });
        let out = template
            .eval(&input, &json!({"Execution": {"Name": "e1"}}))
            .unwrap();
        assert_eq!(
            out,
            json!({
                "comment": "Selecting what I care about.",
                "MyDetails": {"size": "small", "exists": "in stock", "StaticValue": "foo"},
                "list": [{"n": 1}, 3],
                "name": "e1",
                "greeting": "hi you"
            })
        );
    }

    #[test]
    fn a_missing_path_is_a_runtime_error_naming_the_field() {
        let template = Template::parse(&json!({"x.$": "$.nope"})).unwrap();
        let err = template.eval(&json!({}), &json!({})).unwrap_err();
        assert_eq!(err.error, "States.Runtime");
        assert!(err.cause.contains("'x.$'"), "{}", err.cause);
    }

    #[test]
    fn refusals() {
        assert_eq!(
            Template::parse(&json!({"h.$": "States.Hash($.x, 'MD5')"})).unwrap_err(),
            TemplateError::Intrinsic("States.Hash".into())
        );
        assert!(matches!(
            Template::parse(&json!({"h.$": 3})),
            Err(TemplateError::Invalid(_))
        ));
        assert!(matches!(
            Template::parse(&json!({"h.$": "no path"})),
            Err(TemplateError::Invalid(_))
        ));
    }
}
