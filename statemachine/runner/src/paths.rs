//! ASL paths: reading ones (`InputPath`, `ItemsPath`, `.$` values, Choice variables...) go
//! through `serde_json_path` (RFC 9535); reference paths (`ResultPath`, a Catch's `ResultPath`)
//! are simple enough to parse here, and writing one (merging a result into the input) is ours.

use serde_json::{Map, Value};
use serde_json_path::JsonPath;

use crate::error::runtime;
use crate::tasks::TaskFailure;

/// A path that reads from the state's input (`$...`) or from the context object (`$$...`).
#[derive(Debug, Clone)]
pub(crate) struct ReadPath {
    text: String,
    context: bool,
    query: JsonPath,
    /// A definite path (no wildcard, descendant, filter, slice or union) yields its one value;
    /// any other yields the array of what it matched, as Step Functions' JsonPath does.
    definite: bool,
}

impl ReadPath {
    pub(crate) fn parse(text: &str) -> Result<ReadPath, String> {
        let (context, rest) = match text.strip_prefix("$$") {
            Some(rest) => (true, format!("${rest}")),
            None => (false, text.to_owned()),
        };
        if !rest.starts_with('$') {
            return Err(format!("the path {text:?} does not start with '$'"));
        }
        let query = JsonPath::parse(&to_rfc9535(&rest))
            .map_err(|e| format!("the path {text:?} is not a valid JSONPath: {e}"))?;
        Ok(ReadPath {
            text: text.to_owned(),
            context,
            definite: is_definite(&rest),
            query,
        })
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The value the path selects, or `None` when a definite path selects nothing.
    pub(crate) fn try_read(&self, input: &Value, context: &Value) -> Option<Value> {
        let root = if self.context { context } else { input };
        let nodes = self.query.query(root);
        if self.definite {
            nodes.first().map(|v| (*v).clone())
        } else {
            Some(Value::Array(nodes.all().into_iter().cloned().collect()))
        }
    }

    /// The value the path selects; selecting nothing is a `States.Runtime` failure.
    pub(crate) fn read(&self, input: &Value, context: &Value) -> Result<Value, TaskFailure> {
        self.try_read(input, context).ok_or_else(|| {
            runtime(format!(
                "Invalid path '{}': the path selects nothing in {}",
                self.text,
                if self.context {
                    "the context object"
                } else {
                    "the input"
                }
            ))
        })
    }
}

/// Step Functions' JsonPath (Jayway) accepts dotted names that RFC 9535's shorthand does not,
/// such as `$.error-info`: rewrite every dotted name outside brackets as `['name']`.
fn to_rfc9535(path: &str) -> String {
    let chars: Vec<char> = path.chars().collect();
    let mut out = String::with_capacity(path.len() + 8);
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            out.push(c);
            if c == '\\' && i + 1 < chars.len() {
                out.push(chars[i + 1]);
                i += 1;
            } else if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        match c {
            '\'' | '"' if depth > 0 => {
                quote = Some(c);
                out.push(c);
                i += 1;
            }
            '[' => {
                depth += 1;
                out.push(c);
                i += 1;
            }
            ']' => {
                depth = depth.saturating_sub(1);
                out.push(c);
                i += 1;
            }
            '.' if depth == 0 => {
                let descendant = chars.get(i + 1) == Some(&'.');
                i += if descendant { 2 } else { 1 };
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                if name.is_empty() || name == "*" || is_shorthand(&name) {
                    // An empty name is left for the JSONPath parser to judge: `$.` is refused,
                    // `$..[0]` is fine.
                    out.push_str(if descendant { ".." } else { "." });
                    out.push_str(&name);
                } else {
                    if descendant {
                        out.push_str("..");
                    }
                    out.push_str("['");
                    for ch in name.chars() {
                        if ch == '\'' || ch == '\\' {
                            out.push('\\');
                        }
                        out.push(ch);
                    }
                    out.push_str("']");
                }
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// RFC 9535's member-name-shorthand: a letter, `_` or non-ASCII first, then also digits.
fn is_shorthand(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || !c.is_ascii());
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii())
}

/// Whether the path names one node at most: no `..`, `*`, filter, slice or union (outside
/// quoted names).
fn is_definite(path: &str) -> bool {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    let mut escaped = false;
    for c in path.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' if depth > 0 => quote = Some(c),
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '*' | '?' => return false,
            '.' if depth == 0 && previous == '.' => return false,
            ':' | ',' if depth > 0 => return false,
            _ => {}
        }
        previous = c;
    }
    true
}

/// One step of a reference path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Field(String),
    Index(usize),
}

/// A reference path: `$`, then `.name`, `['name']` or `[index]` steps only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReferencePath {
    text: String,
    steps: Vec<Step>,
}

impl ReferencePath {
    pub(crate) fn parse(text: &str) -> Result<ReferencePath, String> {
        let not_reference = |why: &str| format!("{text:?} is not a reference path ({why})");
        let chars: Vec<char> = text.chars().collect();
        if chars.first() != Some(&'$') {
            return Err(not_reference("it must start with '$'"));
        }
        let mut steps = Vec::new();
        let mut i = 1;
        while i < chars.len() {
            match chars[i] {
                '.' => {
                    let start = i + 1;
                    i = start;
                    while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                        i += 1;
                    }
                    let name: String = chars[start..i].iter().collect();
                    if name.is_empty() || name.contains('*') || name.contains(['(', ')', '?']) {
                        return Err(not_reference("only plain field names may follow '.'"));
                    }
                    steps.push(Step::Field(name));
                }
                '[' => {
                    i += 1;
                    match chars.get(i) {
                        Some(&q @ ('\'' | '"')) => {
                            i += 1;
                            let mut name = String::new();
                            loop {
                                match chars.get(i) {
                                    None => return Err(not_reference("unclosed quote")),
                                    Some('\\') => {
                                        let Some(&escaped) = chars.get(i + 1) else {
                                            return Err(not_reference("unclosed quote"));
                                        };
                                        name.push(escaped);
                                        i += 2;
                                    }
                                    Some(&c) if c == q => {
                                        i += 1;
                                        break;
                                    }
                                    Some(&c) => {
                                        name.push(c);
                                        i += 1;
                                    }
                                }
                            }
                            steps.push(Step::Field(name));
                        }
                        _ => {
                            let start = i;
                            while i < chars.len() && chars[i].is_ascii_digit() {
                                i += 1;
                            }
                            let digits: String = chars[start..i].iter().collect();
                            let index = digits.parse::<usize>().map_err(|_| {
                                not_reference("brackets must hold a quoted name or an index")
                            })?;
                            steps.push(Step::Index(index));
                        }
                    }
                    if chars.get(i) != Some(&']') {
                        return Err(not_reference("expected ']'"));
                    }
                    i += 1;
                }
                _ => return Err(not_reference("expected '.' or '['")),
            }
        }
        Ok(ReferencePath {
            text: text.to_owned(),
            steps,
        })
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// Puts `value` at this path in `target`: fields that do not exist are created as objects
    /// along the way, an existing one is replaced. A step into something that is not an
    /// object (or an index past an array's end) cannot be written.
    pub(crate) fn set(&self, target: Value, value: Value) -> Result<Value, String> {
        let mut target = target;
        write_at(&mut target, &self.steps, value)
            .map_err(|why| format!("cannot write '{}': {why}", self.text))?;
        Ok(target)
    }
}

fn write_at(target: &mut Value, steps: &[Step], value: Value) -> Result<(), String> {
    let Some((step, rest)) = steps.split_first() else {
        *target = value;
        return Ok(());
    };
    match step {
        Step::Field(name) => {
            let Value::Object(map) = target else {
                return Err(format!("'{name}' is a field of a {}", kind(target)));
            };
            let slot = map
                .entry(name.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            write_at(slot, rest, value)
        }
        Step::Index(index) => match target {
            Value::Array(items) if *index < items.len() => {
                write_at(&mut items[*index], rest, value)
            }
            Value::Array(items) => Err(format!(
                "index {index} is past the end of an array of {}",
                items.len()
            )),
            other => Err(format!("index {index} into a {}", kind(other))),
        },
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array, not an object",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(path: &str, input: &Value) -> Option<Value> {
        ReadPath::parse(path).unwrap().try_read(input, &json!({}))
    }

    #[test]
    fn definite_paths_yield_one_value_others_an_array() {
        let input = json!({"a": [1, 2, 3, 4], "b": {"c-d": 5, "e": {"f": 6}}});
        assert_eq!(read("$", &input), Some(input.clone()));
        assert_eq!(read("$.a[1]", &input), Some(json!(2)));
        assert_eq!(read("$.a[0:2]", &input), Some(json!([1, 2])));
        assert_eq!(read("$.a[*]", &input), Some(json!([1, 2, 3, 4])));
        assert_eq!(read("$..f", &input), Some(json!([6])));
        assert_eq!(read("$.b.c-d", &input), Some(json!(5)));
        assert_eq!(read("$['b']['e'].f", &input), Some(json!(6)));
        assert_eq!(read("$.missing", &input), None);
        assert_eq!(read("$.nothing[*]", &input), Some(json!([])));
    }

    #[test]
    fn filters_work() {
        let input = json!({"items": [{"n": 1, "ok": true}, {"n": 2, "ok": false}]});
        assert_eq!(read("$.items[?(@.ok == true)].n", &input), Some(json!([1])));
        assert_eq!(read("$.items[?@.n > 1].n", &input), Some(json!([2])));
    }

    #[test]
    fn context_paths_read_the_context_object() {
        let context = json!({"Map": {"Item": {"Index": 3}}});
        let path = ReadPath::parse("$$.Map.Item.Index").unwrap();
        assert_eq!(path.read(&json!({}), &context).unwrap(), json!(3));
    }

    #[test]
    fn reading_nothing_is_a_runtime_error() {
        let err = ReadPath::parse("$.x")
            .unwrap()
            .read(&json!({}), &json!({}))
            .unwrap_err();
        assert_eq!(err.error, "States.Runtime");
        assert!(err.cause.contains("$.x"));
    }

    #[test]
    fn bad_paths_are_refused() {
        assert!(ReadPath::parse("a.b").is_err());
        assert!(ReadPath::parse("$.a[").is_err());
        assert!(ReferencePath::parse("$.a[*]").is_err());
        assert!(ReferencePath::parse("$..a").is_err());
        assert!(ReferencePath::parse("$.a[0:1]").is_err());
        assert!(ReferencePath::parse("x").is_err());
    }

    #[test]
    fn reference_paths_merge_and_create() {
        let input = json!({"a": {"b": 1}, "list": [{"x": 1}]});
        let set = |path: &str, value: Value| {
            ReferencePath::parse(path)
                .unwrap()
                .set(input.clone(), value)
        };
        assert_eq!(set("$", json!(7)).unwrap(), json!(7));
        assert_eq!(
            set("$.a.c", json!(2)).unwrap(),
            json!({"a": {"b": 1, "c": 2}, "list": [{"x": 1}]})
        );
        assert_eq!(
            set("$.new.deep['k.q']", json!(true)).unwrap(),
            json!({"a": {"b": 1}, "new": {"deep": {"k.q": true}}, "list": [{"x": 1}]})
        );
        assert_eq!(
            set("$.list[0].y", json!(2)).unwrap(),
            json!({"a": {"b": 1}, "list": [{"x": 1, "y": 2}]})
        );
        assert_eq!(set("$.a.b", json!("r")).unwrap()["a"]["b"], json!("r"));
        assert!(set("$.a.b.c", json!(1)).is_err());
        assert!(set("$.list[3]", json!(1)).is_err());
        assert!(
            ReferencePath::parse("$.x")
                .unwrap()
                .set(json!("text"), json!(1))
                .is_err()
        );
    }
}
