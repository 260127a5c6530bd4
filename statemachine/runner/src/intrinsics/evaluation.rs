//! Evaluating a parsed intrinsic function [`Call`] against the state's input and the context
//! object: each function's implementation.

use serde_json::{Map, Value};

use super::{Arg, Call, Function};
use crate::error::runtime;
use crate::tasks::TaskFailure;

impl Call {
    pub(crate) fn eval(&self, input: &Value, context: &Value) -> Result<Value, TaskFailure> {
        let mut values = Vec::with_capacity(self.args.len());
        for arg in &self.args {
            values.push(match arg {
                Arg::Str { value, .. } => Value::String(value.clone()),
                Arg::Literal(v) => v.clone(),
                Arg::Path(path) => path.read(input, context)?,
                Arg::Call(call) => call.eval(input, context)?,
            });
        }
        self.apply(values)
            .map_err(|why| runtime(format!("{} failed: {why}", self.name)))
    }

    fn apply(&self, args: Vec<Value>) -> Result<Value, String> {
        match self.function {
            Function::Format => {
                let template = match &self.args[0] {
                    Arg::Str { raw, .. } => raw.clone(),
                    // A template read from a path has no escapes: every `{}` is a placeholder.
                    _ => string(&args[0], "the template")?.to_owned(),
                };
                format(&template, &args[1..])
            }
            Function::StringToJson => {
                let text = string(&args[0], "the argument")?;
                serde_json::from_str(text).map_err(|e| format!("the string is not JSON: {e}"))
            }
            Function::JsonToString => Ok(Value::String(args[0].to_string())),
            Function::Array => Ok(Value::Array(args)),
            Function::ArrayLength => Ok(Value::from(array(&args[0])?.len())),
            Function::ArrayGetItem => {
                let items = array(&args[0])?;
                let index = integer(&args[1], "the index")?;
                usize::try_from(index)
                    .ok()
                    .and_then(|i| items.get(i))
                    .cloned()
                    .ok_or_else(|| format!("index {index} is out of bounds"))
            }
            Function::ArrayContains => Ok(Value::Bool(array(&args[0])?.contains(&args[1]))),
            Function::ArrayRange => {
                let (start, end, step) = (
                    integer(&args[0], "the start")?,
                    integer(&args[1], "the end")?,
                    integer(&args[2], "the step")?,
                );
                if step == 0 {
                    return Err("the step is 0".into());
                }
                let mut items = Vec::new();
                let mut n = start;
                while (step > 0 && n <= end) || (step < 0 && n >= end) {
                    // Step Functions caps the array at 1000 items.
                    if items.len() == 1000 {
                        return Err("the range has more than 1000 items".into());
                    }
                    items.push(Value::from(n));
                    n += step;
                }
                Ok(Value::Array(items))
            }
            Function::ArrayPartition => {
                let items = array(&args[0])?;
                let size = integer(&args[1], "the chunk size")?;
                let size = usize::try_from(size)
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("the chunk size {size} is not positive"))?;
                Ok(Value::Array(
                    items
                        .chunks(size)
                        .map(|c| Value::Array(c.to_vec()))
                        .collect(),
                ))
            }
            Function::ArrayUnique => {
                let mut unique: Vec<Value> = Vec::new();
                for item in array(&args[0])? {
                    if !unique.contains(item) {
                        unique.push(item.clone());
                    }
                }
                Ok(Value::Array(unique))
            }
            Function::MathAdd => {
                let a = integer(&args[0], "the first argument")?;
                let b = integer(&args[1], "the second argument")?;
                a.checked_add(b)
                    .map(Value::from)
                    .ok_or_else(|| "the sum overflows".into())
            }
            Function::MathRandom => {
                let start = integer(&args[0], "the start")?;
                let end = integer(&args[1], "the end")?;
                if start >= end {
                    return Err(format!("the range [{start}, {end}) is empty"));
                }
                let mut rng = match args.get(2) {
                    Some(seed) => fastrand::Rng::with_seed(integer(seed, "the seed")? as u64),
                    None => fastrand::Rng::new(),
                };
                Ok(Value::from(rng.i64(start..end)))
            }
            Function::StringSplit => {
                let text = string(&args[0], "the string")?;
                let delimiters: Vec<char> = string(&args[1], "the delimiter")?.chars().collect();
                Ok(Value::Array(
                    text.split(|c| delimiters.contains(&c))
                        .filter(|piece| !piece.is_empty())
                        .map(|piece| Value::String(piece.to_owned()))
                        .collect(),
                ))
            }
            Function::JsonMerge => {
                let (Value::Object(left), Value::Object(right)) = (&args[0], &args[1]) else {
                    return Err("both arguments must be objects".into());
                };
                let deep = args[2]
                    .as_bool()
                    .ok_or("the third argument must be a boolean")?;
                let mut merged = left.clone();
                merge(&mut merged, right, deep);
                Ok(Value::Object(merged))
            }
            Function::Uuid => Ok(Value::String(uuid_v4())),
        }
    }
}

fn string<'a>(value: &'a Value, what: &str) -> Result<&'a str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("{what} must be a string, not {value}"))
}

fn array(value: &Value) -> Result<&Vec<Value>, String> {
    value
        .as_array()
        .ok_or_else(|| format!("expected an array, not {value}"))
}

fn integer(value: &Value, what: &str) -> Result<i64, String> {
    value
        .as_i64()
        .ok_or_else(|| format!("{what} must be an integer, not {value}"))
}

/// States.Format: each `{}` takes the next argument; `\{`, `\}`, `\'` and `\\` are literal.
fn format(template: &str, args: &[Value]) -> Result<Value, String> {
    let mut out = String::new();
    let mut next = args.iter();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(escaped) = chars.next() {
                    out.push(escaped);
                }
            }
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                let arg = next
                    .next()
                    .ok_or("the template has more placeholders than arguments")?;
                match arg {
                    Value::String(s) => out.push_str(s),
                    Value::Number(_) | Value::Bool(_) | Value::Null => {
                        out.push_str(&arg.to_string())
                    }
                    _ => return Err(format!("cannot format an object or an array: {arg}")),
                }
            }
            _ => out.push(c),
        }
    }
    if next.next().is_some() {
        return Err("the template has fewer placeholders than arguments".into());
    }
    Ok(Value::String(out))
}

fn merge(into: &mut Map<String, Value>, from: &Map<String, Value>, deep: bool) {
    for (key, value) in from {
        match (into.get_mut(key), value) {
            (Some(Value::Object(existing)), Value::Object(incoming)) if deep => {
                merge(existing, incoming, deep)
            }
            _ => {
                into.insert(key.clone(), value.clone());
            }
        }
    }
}

/// A random (version 4) UUID.
pub(crate) fn uuid_v4() -> String {
    let mut bytes = fastrand::u128(..).to_be_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(text: &str, input: Value) -> Result<Value, TaskFailure> {
        Call::parse(text)
            .unwrap()
            .eval(&input, &json!({"Execution": {"Name": "run-1"}}))
    }

    #[test]
    fn format_fills_placeholders_and_keeps_escapes() {
        assert_eq!(
            eval(
                "States.Format('Hello, my name is {}.', $.name)",
                json!({"name": "Arnav"})
            )
            .unwrap(),
            json!("Hello, my name is Arnav.")
        );
        assert_eq!(
            eval(
                r"States.Format('\{{}\} {} {}', $.n, $.b, 'x\'y')",
                json!({"n": 3, "b": true})
            )
            .unwrap(),
            json!("{3} true x'y")
        );
        assert_eq!(
            eval("States.Format('run {}', $$.Execution.Name)", json!({})).unwrap(),
            json!("run run-1")
        );
        assert!(eval("States.Format('{}', $.o)", json!({"o": {}})).is_err());
    }

    #[test]
    fn json_conversions() {
        assert_eq!(
            eval("States.StringToJson($.s)", json!({"s": "{\"number\": 20}"})).unwrap(),
            json!({"number": 20})
        );
        assert_eq!(
            eval("States.JsonToString($.o)", json!({"o": {"a": [1, "x"]}})).unwrap(),
            json!("{\"a\":[1,\"x\"]}")
        );
        let err = eval("States.StringToJson($.s)", json!({"s": "{nope"})).unwrap_err();
        assert_eq!(err.error, "States.Runtime");
    }

    #[test]
    fn arrays_and_math() {
        assert_eq!(
            eval(
                "States.Array('Foo', 2020, $.a, null, true)",
                json!({"a": {"x": 1}})
            )
            .unwrap(),
            json!(["Foo", 2020, {"x": 1}, null, true])
        );
        assert_eq!(
            eval("States.ArrayLength($.a)", json!({"a": [1, 2, 3]})).unwrap(),
            json!(3)
        );
        assert_eq!(
            eval("States.ArrayLength(States.Array(1, 2))", json!({})).unwrap(),
            json!(2)
        );
        assert_eq!(
            eval("States.MathAdd($.v, -1)", json!({"v": 111})).unwrap(),
            json!(110)
        );
        assert!(eval("States.MathAdd($.v, 1)", json!({"v": 1.5})).is_err());
        assert_eq!(
            eval("States.ArrayGetItem($.a, 1)", json!({"a": [1, 2, 3]})).unwrap(),
            json!(2)
        );
        assert_eq!(
            eval("States.ArrayContains($.a, 3)", json!({"a": [1, 2, 3]})).unwrap(),
            json!(true)
        );
        assert_eq!(
            eval("States.ArrayRange(1, 9, 2)", json!({})).unwrap(),
            json!([1, 3, 5, 7, 9])
        );
        assert_eq!(
            eval("States.ArrayPartition($.a, 2)", json!({"a": [1, 2, 3]})).unwrap(),
            json!([[1, 2], [3]])
        );
        assert_eq!(
            eval("States.ArrayUnique($.a)", json!({"a": [1, 2, 1, 3, 2]})).unwrap(),
            json!([1, 2, 3])
        );
        let r = eval("States.MathRandom(1, 10)", json!({}))
            .unwrap()
            .as_i64()
            .unwrap();
        assert!((1..10).contains(&r));
    }

    #[test]
    fn strings_and_objects() {
        assert_eq!(
            eval(
                "States.StringSplit($.s, '.+,=')",
                json!({"s": "This.is+a,test=string"})
            )
            .unwrap(),
            json!(["This", "is", "a", "test", "string"])
        );
        assert_eq!(
            eval(
                "States.JsonMerge($.a, $.b, false)",
                json!({"a": {"x": 1, "n": {"p": 1}}, "b": {"y": 2, "n": {"q": 2}}})
            )
            .unwrap(),
            json!({"x": 1, "y": 2, "n": {"q": 2}})
        );
    }

    #[test]
    fn uuids_are_version_4() {
        let id = eval("States.UUID()", json!({})).unwrap();
        let id = id.as_str().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(
            Value::String(id.into()),
            eval("States.UUID()", json!({})).unwrap()
        );
    }
}
