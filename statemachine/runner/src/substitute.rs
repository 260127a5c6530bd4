//! `${Name}` definition substitutions, as CloudFormation's `DefinitionSubstitutions` binds them:
//! replaced in the definition's string values before it is parsed as ASL.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::DefinitionError;

pub(crate) fn substitute(
    value: &mut Value,
    bindings: &BTreeMap<String, String>,
) -> Result<(), DefinitionError> {
    match value {
        Value::String(text) => {
            if text.contains("${") {
                *text = substitute_text(text, bindings)?;
            }
            Ok(())
        }
        Value::Array(items) => items.iter_mut().try_for_each(|v| substitute(v, bindings)),
        Value::Object(map) => map.values_mut().try_for_each(|v| substitute(v, bindings)),
        _ => Ok(()),
    }
}

fn substitute_text(
    text: &str,
    bindings: &BTreeMap<String, String>,
) -> Result<String, DefinitionError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            // No closing brace: not a substitution, keep the text as written.
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = &after[..end];
        let bound = bindings
            .get(name)
            .ok_or_else(|| DefinitionError::UnboundSubstitution(name.to_owned()))?;
        out.push_str(bound);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replaces_every_occurrence_in_string_values_only() {
        let bindings = BTreeMap::from([
            ("A".to_owned(), "x".to_owned()),
            ("B".to_owned(), "yy".to_owned()),
        ]);
        let mut value = json!({"k": "${A}-${B}-${A}", "list": ["${B}", 3], "${A}": "key stays"});
        substitute(&mut value, &bindings).unwrap();
        assert_eq!(
            value,
            json!({"k": "x-yy-x", "list": ["yy", 3], "${A}": "key stays"})
        );
    }

    #[test]
    fn an_unbound_name_is_an_error_naming_it() {
        let mut value = json!({"Resource": "${Missing}"});
        let err = substitute(&mut value, &BTreeMap::new()).unwrap_err();
        assert_eq!(err, DefinitionError::UnboundSubstitution("Missing".into()));
        assert_eq!(err.to_string(), "unbound substitution \"${Missing}\"");
    }
}
