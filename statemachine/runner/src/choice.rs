//! Choice rules: comparisons of a `Variable` with a literal or with another path (`...Path`),
//! type tests (`IsPresent`, `IsNull`, ...) and `And`/`Or`/`Not`.

use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use crate::error::{DefinitionError, runtime};
use crate::fields::Fields;
use crate::paths::ReadPath;
use crate::tasks::TaskFailure;

/// A top-level rule: its condition and where it leads.
#[derive(Debug, Clone)]
pub(crate) struct ChoiceRule {
    pub(crate) condition: Condition,
    pub(crate) next: String,
}

#[derive(Debug, Clone)]
pub(crate) enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    Test { variable: ReadPath, test: Test },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Numeric,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Relation {
    Equals,
    LessThan,
    GreaterThan,
    LessThanEquals,
    GreaterThanEquals,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypeTest {
    Null,
    Present,
    Numeric,
    String,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone)]
pub(crate) enum Operand {
    Value(Value),
    Path(ReadPath),
}

#[derive(Debug, Clone)]
pub(crate) enum Test {
    Compare {
        kind: Kind,
        relation: Relation,
        operand: Operand,
    },
    /// `StringMatches`: `*` matches any run of characters; `\*` and `\\` are literal.
    Matches(String),
    Is {
        test: TypeTest,
        expected: bool,
    },
}

const KINDS: [(&str, Kind); 4] = [
    ("String", Kind::String),
    ("Numeric", Kind::Numeric),
    ("Boolean", Kind::Boolean),
    ("Timestamp", Kind::Timestamp),
];
const RELATIONS: [(&str, Relation); 5] = [
    ("Equals", Relation::Equals),
    ("LessThanEquals", Relation::LessThanEquals),
    ("GreaterThanEquals", Relation::GreaterThanEquals),
    ("LessThan", Relation::LessThan),
    ("GreaterThan", Relation::GreaterThan),
];
const TYPE_TESTS: [(&str, TypeTest); 6] = [
    ("IsNull", TypeTest::Null),
    ("IsPresent", TypeTest::Present),
    ("IsNumeric", TypeTest::Numeric),
    ("IsString", TypeTest::String),
    ("IsBoolean", TypeTest::Boolean),
    ("IsTimestamp", TypeTest::Timestamp),
];

/// Parses a rule of `Choices`; `top` rules carry `Next`, nested ones (under And/Or/Not) do not.
pub(crate) fn parse_rule(
    value: &Value,
    location: &str,
    top: bool,
) -> Result<(Condition, Option<String>), DefinitionError> {
    let mut fields = Fields::new(value, format!("a Choice rule of {location}"))?;
    let next = if top {
        Some(fields.required_string("Next")?)
    } else {
        if fields.has("Next") {
            return Err(fields.invalid("a rule nested in And, Or or Not cannot have \"Next\""));
        }
        None
    };
    let condition = if let Some(list) = fields.get("And") {
        Condition::And(parse_list(&fields, list, "And", location)?)
    } else if let Some(list) = fields.get("Or") {
        Condition::Or(parse_list(&fields, list, "Or", location)?)
    } else if let Some(inner) = fields.get("Not") {
        Condition::Not(Box::new(parse_rule(inner, location, false)?.0))
    } else {
        let variable =
            fields
                .read_path("Variable")?
                .ok_or_else(|| DefinitionError::MissingField {
                    field: "Variable".into(),
                    location: fields.location().to_owned(),
                })?;
        match parse_test(&mut fields) {
            Ok(test) => Condition::Test { variable, test },
            Err(no_operator) => {
                // An unknown field is likelier the reason (an operator not implemented, such
                // as `StringEqualsIgnoreCase`): name it first.
                fields.finish()?;
                return Err(no_operator);
            }
        }
    };
    fields.finish()?;
    Ok((condition, next))
}

fn parse_list(
    fields: &Fields<'_>,
    list: &Value,
    name: &str,
    location: &str,
) -> Result<Vec<Condition>, DefinitionError> {
    let Some(items) = list.as_array().filter(|items| !items.is_empty()) else {
        return Err(fields.invalid(format!("\"{name}\" must be a non-empty array of rules")));
    };
    items
        .iter()
        .map(|item| parse_rule(item, location, false).map(|(condition, _)| condition))
        .collect()
}

/// Finds the rule's one comparison operator among its fields.
fn parse_test(fields: &mut Fields<'_>) -> Result<Test, DefinitionError> {
    let mut found: Option<Test> = None;
    let mut take = |fields: &mut Fields<'_>, test: Test| {
        if found.is_some() {
            return Err(fields.invalid("a rule must have exactly one comparison operator"));
        }
        found = Some(test);
        Ok(())
    };
    for (kind_name, kind) in KINDS {
        for (relation_name, relation) in RELATIONS {
            let name = format!("{kind_name}{relation_name}");
            if let Some(value) = fields.get(&name) {
                let operand = literal(fields, &name, kind, value)?;
                take(
                    fields,
                    Test::Compare {
                        kind,
                        relation,
                        operand: Operand::Value(operand),
                    },
                )?;
            }
            let path_name = format!("{name}Path");
            if let Some(path) = fields.read_path(&path_name)? {
                take(
                    fields,
                    Test::Compare {
                        kind,
                        relation,
                        operand: Operand::Path(path),
                    },
                )?;
            }
        }
    }
    if let Some(pattern) = fields.string("StringMatches")? {
        take(fields, Test::Matches(pattern))?;
    }
    for (name, test) in TYPE_TESTS {
        if let Some(expected) = fields.bool(name)? {
            take(fields, Test::Is { test, expected })?;
        }
    }
    found.ok_or_else(|| fields.invalid("the rule has no comparison operator"))
}

fn literal(
    fields: &Fields<'_>,
    name: &str,
    kind: Kind,
    value: &Value,
) -> Result<Value, DefinitionError> {
    let ok = match kind {
        Kind::String => value.is_string(),
        Kind::Numeric => value.is_number(),
        Kind::Boolean => value.is_boolean(),
        Kind::Timestamp => value.as_str().and_then(timestamp).is_some(),
    };
    if ok {
        Ok(value.clone())
    } else {
        Err(fields.invalid(format!("\"{name}\" cannot compare with {value}")))
    }
}

pub(crate) fn timestamp(text: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(text).ok()
}

impl Condition {
    pub(crate) fn eval(&self, input: &Value, context: &Value) -> Result<bool, TaskFailure> {
        match self {
            Condition::And(all) => {
                for c in all {
                    if !c.eval(input, context)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Condition::Or(any) => {
                for c in any {
                    if c.eval(input, context)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Condition::Not(inner) => Ok(!inner.eval(input, context)?),
            Condition::Test { variable, test } => {
                let value = variable.try_read(input, context);
                if let Test::Is {
                    test: TypeTest::Present,
                    expected,
                } = test
                {
                    return Ok(value.is_some() == *expected);
                }
                // As on AWS, any other test of a variable that is not there fails the state.
                let value = value.ok_or_else(|| {
                    runtime(format!(
                        "Invalid path '{}': The choice state's condition path references an invalid value.",
                        variable.text()
                    ))
                })?;
                test.eval(&value, input, context)
            }
        }
    }
}

impl Test {
    fn eval(&self, value: &Value, input: &Value, context: &Value) -> Result<bool, TaskFailure> {
        Ok(match self {
            Test::Is { test, expected } => {
                let is = match test {
                    TypeTest::Null => value.is_null(),
                    TypeTest::Present => true,
                    TypeTest::Numeric => value.is_number(),
                    TypeTest::String => value.is_string(),
                    TypeTest::Boolean => value.is_boolean(),
                    TypeTest::Timestamp => value.as_str().and_then(timestamp).is_some(),
                };
                is == *expected
            }
            Test::Matches(pattern) => value.as_str().is_some_and(|s| wildcard_match(pattern, s)),
            Test::Compare {
                kind,
                relation,
                operand,
            } => {
                let other = match operand {
                    Operand::Value(v) => v.clone(),
                    Operand::Path(path) => path.read(input, context)?,
                };
                // A value of another type never matches (it is not an error).
                match compare(*kind, value, &other) {
                    None => false,
                    Some(order) => match relation {
                        Relation::Equals => order == Ordering::Equal,
                        Relation::LessThan => order == Ordering::Less,
                        Relation::GreaterThan => order == Ordering::Greater,
                        Relation::LessThanEquals => order != Ordering::Greater,
                        Relation::GreaterThanEquals => order != Ordering::Less,
                    },
                }
            }
        })
    }
}

fn compare(kind: Kind, left: &Value, right: &Value) -> Option<Ordering> {
    match kind {
        Kind::String => Some(left.as_str()?.cmp(right.as_str()?)),
        Kind::Boolean => Some(left.as_bool()?.cmp(&right.as_bool()?)),
        Kind::Numeric => {
            if let (Some(a), Some(b)) = (left.as_i64(), right.as_i64()) {
                return Some(a.cmp(&b));
            }
            left.as_f64()?.partial_cmp(&right.as_f64()?)
        }
        Kind::Timestamp => Some(timestamp(left.as_str()?)?.cmp(&timestamp(right.as_str()?)?)),
    }
}

/// `*` matches any (possibly empty) run of characters; a backslash makes the next character
/// literal.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    #[derive(PartialEq)]
    enum Token {
        Any,
        Char(char),
    }
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '\\' => Token::Char(chars.next().unwrap_or('\\')),
            '*' => Token::Any,
            c => Token::Char(c),
        });
    }
    let text: Vec<char> = text.chars().collect();
    // Classic greedy matching with backtracking to the last `*`.
    let (mut t, mut s) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while s < text.len() {
        match tokens.get(t) {
            Some(Token::Char(c)) if *c == text[s] => {
                t += 1;
                s += 1;
            }
            Some(Token::Any) => {
                star = Some((t, s));
                t += 1;
            }
            _ => match star {
                Some((star_t, star_s)) => {
                    t = star_t + 1;
                    s = star_s + 1;
                    star = Some((star_t, star_s + 1));
                }
                None => return false,
            },
        }
    }
    tokens[t..].iter().all(|token| *token == Token::Any)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(value: Value) -> Condition {
        parse_rule(&value, "state \"C\"", false).unwrap().0
    }

    fn check(value: Value, input: &Value) -> bool {
        rule(value).eval(input, &json!({})).unwrap()
    }

    #[test]
    fn comparisons() {
        let input = json!({"n": 20, "f": 1.5, "s": "banana", "b": true, "t": "2016-03-14T01:59:00Z",
                           "other": 20, "text": "log-2024.txt", "nul": null});
        assert!(check(
            json!({"Variable": "$.n", "NumericEquals": 20}),
            &input
        ));
        assert!(check(
            json!({"Variable": "$.n", "NumericEquals": 20.0}),
            &input
        ));
        assert!(check(
            json!({"Variable": "$.f", "NumericLessThan": 2}),
            &input
        ));
        assert!(check(
            json!({"Variable": "$.n", "NumericGreaterThanEquals": 20}),
            &input
        ));
        assert!(!check(
            json!({"Variable": "$.n", "NumericGreaterThan": 20}),
            &input
        ));
        assert!(check(
            json!({"Variable": "$.n", "NumericLessThanEquals": 20}),
            &input
        ));
        assert!(check(
            json!({"Variable": "$.n", "NumericEqualsPath": "$.other"}),
            &input
        ));
        assert!(check(
            json!({"Variable": "$.s", "StringEquals": "banana"}),
            &input
        ));
        assert!(check(
            json!({"Variable": "$.s", "StringLessThan": "cherry"}),
            &input
        ));
        assert!(check(
            json!({"Variable": "$.s", "StringGreaterThanEquals": "banana"}),
            &input
        ));
        assert!(check(
            json!({"Variable": "$.b", "BooleanEquals": true}),
            &input
        ));
        assert!(check(
            json!({"Variable": "$.b", "BooleanEqualsPath": "$.b"}),
            &input
        ));
        assert!(check(
            json!({"Variable": "$.t", "TimestampLessThan": "2016-03-14T02:00:00+00:00"}),
            &input
        ));
        assert!(check(
            json!({"Variable": "$.t", "TimestampEquals": "2016-03-14T03:59:00+02:00"}),
            &input
        ));
        assert!(check(
            json!({"Variable": "$.text", "StringMatches": "log-*.txt"}),
            &input
        ));
        assert!(!check(
            json!({"Variable": "$.text", "StringMatches": "log-*.csv"}),
            &input
        ));
        assert!(check(
            json!({"Variable": "$.text", "StringMatches": "*"}),
            &input
        ));
        // Another type never matches.
        assert!(!check(
            json!({"Variable": "$.s", "NumericEquals": 20}),
            &input
        ));
        assert!(!check(
            json!({"Variable": "$.n", "StringEquals": "20"}),
            &input
        ));
    }

    #[test]
    fn type_tests() {
        let input = json!({"nul": null, "n": 1, "s": "x", "t": "2016-03-14T01:59:00Z"});
        assert!(check(json!({"Variable": "$.nul", "IsNull": true}), &input));
        assert!(check(json!({"Variable": "$.n", "IsNull": false}), &input));
        assert!(check(
            json!({"Variable": "$.missing", "IsPresent": false}),
            &input
        ));
        assert!(check(
            json!({"Variable": "$.nul", "IsPresent": true}),
            &input
        ));
        assert!(check(json!({"Variable": "$.n", "IsNumeric": true}), &input));
        assert!(check(json!({"Variable": "$.s", "IsString": true}), &input));
        assert!(check(
            json!({"Variable": "$.s", "IsBoolean": false}),
            &input
        ));
        assert!(check(
            json!({"Variable": "$.t", "IsTimestamp": true}),
            &input
        ));
        assert!(check(
            json!({"Variable": "$.s", "IsTimestamp": false}),
            &input
        ));
    }

    #[test]
    fn boolean_logic() {
        let input = json!({"value": 25, "type": "Private"});
        let and = json!({"And": [
            {"Variable": "$.value", "NumericGreaterThanEquals": 20},
            {"Variable": "$.value", "NumericLessThan": 30}
        ]});
        assert!(check(and, &input));
        let not = json!({"Not": {"Variable": "$.type", "StringEquals": "Private"}});
        assert!(!check(not, &input));
        let or = json!({"Or": [
            {"Variable": "$.value", "NumericLessThan": 0},
            {"Variable": "$.type", "StringEquals": "Private"}
        ]});
        assert!(check(or, &input));
    }

    #[test]
    fn a_missing_variable_is_a_runtime_error() {
        let err = rule(json!({"Variable": "$.nope", "StringEquals": "x"}))
            .eval(&json!({}), &json!({}))
            .unwrap_err();
        assert_eq!(err.error, "States.Runtime");
    }

    #[test]
    fn refusals() {
        let parse = |v: Value| parse_rule(&v, "state \"C\"", true).map(|_| ());
        assert!(
            parse(json!({"Variable": "$.a", "StringEquals": "x"})).is_err(),
            "no Next"
        );
        assert!(
            parse(json!({"Variable": "$.a", "Next": "X"})).is_err(),
            "no operator"
        );
        assert!(
            parse(json!({"Variable": "$.a", "StringEquals": "x", "IsNull": true, "Next": "X"}))
                .is_err()
        );
        assert!(parse(json!({"Variable": "$.a", "NumericEquals": "x", "Next": "X"})).is_err());
        let err = parse(json!({"Variable": "$.a", "StringEqualsIgnoreCase": "x", "StringEquals": "x", "Next": "X"}))
            .unwrap_err();
        assert!(err.to_string().contains("StringEqualsIgnoreCase"), "{err}");
        assert!(
            parse(json!({"Not": {"Variable": "$.a", "IsNull": true, "Next": "Y"}, "Next": "X"}))
                .is_err()
        );
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.log", "a.log"));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXbYY"));
        assert!(wildcard_match(r"a\*b", "a*b"));
        assert!(!wildcard_match(r"a\*b", "aXb"));
        assert!(wildcard_match("", ""));
    }
}
