//! Intrinsic functions (`States.Format(...)` and friends) in `.$` values and in a Fail state's
//! ErrorPath/CausePath: parsed when the definition is, evaluated against the state's input and
//! the context object.

use serde_json::{Map, Number, Value};

use crate::error::runtime;
use crate::paths::ReadPath;
use crate::tasks::TaskFailure;

/// The functions implemented. Others (`States.Hash`, `States.Base64Encode`, ...) are refused
/// when the definition is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Function {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayLength,
    ArrayGetItem,
    ArrayContains,
    ArrayRange,
    ArrayPartition,
    ArrayUnique,
    MathAdd,
    MathRandom,
    StringSplit,
    JsonMerge,
    Uuid,
}

impl Function {
    fn from_name(name: &str) -> Option<Function> {
        Some(match name {
            "States.Format" => Function::Format,
            "States.StringToJson" => Function::StringToJson,
            "States.JsonToString" => Function::JsonToString,
            "States.Array" => Function::Array,
            "States.ArrayLength" => Function::ArrayLength,
            "States.ArrayGetItem" => Function::ArrayGetItem,
            "States.ArrayContains" => Function::ArrayContains,
            "States.ArrayRange" => Function::ArrayRange,
            "States.ArrayPartition" => Function::ArrayPartition,
            "States.ArrayUnique" => Function::ArrayUnique,
            "States.MathAdd" => Function::MathAdd,
            "States.MathRandom" => Function::MathRandom,
            "States.StringSplit" => Function::StringSplit,
            "States.JsonMerge" => Function::JsonMerge,
            "States.UUID" => Function::Uuid,
            _ => return None,
        })
    }

    /// How many arguments the function takes (inclusive range).
    fn arity(self) -> (usize, usize) {
        match self {
            Function::Format => (1, usize::MAX),
            Function::Array => (0, usize::MAX),
            Function::Uuid => (0, 0),
            Function::StringToJson
            | Function::JsonToString
            | Function::ArrayLength
            | Function::ArrayUnique => (1, 1),
            Function::ArrayGetItem
            | Function::ArrayContains
            | Function::ArrayPartition
            | Function::MathAdd
            | Function::StringSplit => (2, 2),
            Function::MathRandom => (2, 3),
            Function::ArrayRange | Function::JsonMerge => (3, 3),
        }
    }
}

/// Why an intrinsic function's text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IntrinsicError {
    Unsupported(String),
    Syntax(String),
}

#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// A quoted literal: `value` with escapes resolved, `raw` as written (States.Format needs
    /// to tell an escaped `\{` from a placeholder).
    Str {
        value: String,
        raw: String,
    },
    Literal(Value),
    Path(ReadPath),
    Call(Box<Call>),
}

#[derive(Debug, Clone)]
pub(crate) struct Call {
    name: String,
    function: Function,
    args: Vec<Arg>,
}

/// Whether a `.$` value is an intrinsic function call rather than a path.
pub(crate) fn is_call(text: &str) -> bool {
    text.trim_start().starts_with("States.")
}

impl Call {
    pub(crate) fn parse(text: &str) -> Result<Call, IntrinsicError> {
        let mut parser = Parser {
            chars: text.chars().collect(),
            at: 0,
        };
        let call = parser.call()?;
        parser.skip_spaces();
        if parser.at != parser.chars.len() {
            return Err(parser.error("unexpected text after the closing ')'"));
        }
        Ok(call)
    }

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

struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn error(&self, what: &str) -> IntrinsicError {
        let text: String = self.chars.iter().collect();
        IntrinsicError::Syntax(format!("{what} at character {} of {text:?}", self.at))
    }

    fn skip_spaces(&mut self) {
        while self.chars.get(self.at).is_some_and(|c| c.is_whitespace()) {
            self.at += 1;
        }
    }

    fn call(&mut self) -> Result<Call, IntrinsicError> {
        self.skip_spaces();
        let start = self.at;
        while self
            .chars
            .get(self.at)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
        {
            self.at += 1;
        }
        let name: String = self.chars[start..self.at].iter().collect();
        if self.chars.get(self.at) != Some(&'(') {
            return Err(self.error("expected '(' after the function name"));
        }
        let function =
            Function::from_name(&name).ok_or_else(|| IntrinsicError::Unsupported(name.clone()))?;
        self.at += 1;
        let mut args = Vec::new();
        self.skip_spaces();
        if self.chars.get(self.at) == Some(&')') {
            self.at += 1;
        } else {
            loop {
                args.push(self.arg()?);
                self.skip_spaces();
                match self.chars.get(self.at) {
                    Some(',') => self.at += 1,
                    Some(')') => {
                        self.at += 1;
                        break;
                    }
                    _ => return Err(self.error("expected ',' or ')'")),
                }
            }
        }
        let (min, max) = function.arity();
        if args.len() < min || args.len() > max {
            return Err(IntrinsicError::Syntax(format!(
                "{name} takes {}, not {}",
                if min == max {
                    format!("{min} argument(s)")
                } else if max == usize::MAX {
                    format!("at least {min} argument(s)")
                } else {
                    format!("{min} to {max} arguments")
                },
                args.len()
            )));
        }
        if function == Function::Format
            && let Arg::Str { raw, .. } = &args[0]
        {
            let placeholders = count_placeholders(raw);
            if placeholders != args.len() - 1 {
                return Err(IntrinsicError::Syntax(format!(
                    "States.Format's template has {placeholders} placeholder(s) for {} argument(s)",
                    args.len() - 1
                )));
            }
        }
        Ok(Call {
            name,
            function,
            args,
        })
    }

    fn arg(&mut self) -> Result<Arg, IntrinsicError> {
        self.skip_spaces();
        match self.chars.get(self.at) {
            Some('\'') => self.string(),
            Some('$') => {
                // A path runs to the next ',' or ')' outside brackets and quotes.
                let start = self.at;
                let mut depth = 0usize;
                let mut quote: Option<char> = None;
                while let Some(&c) = self.chars.get(self.at) {
                    if let Some(q) = quote {
                        if c == q {
                            quote = None;
                        }
                    } else {
                        match c {
                            '[' | '(' => depth += 1,
                            ']' | ')' if depth > 0 => depth -= 1,
                            '\'' | '"' if depth > 0 => quote = Some(c),
                            ',' | ')' if depth == 0 => break,
                            _ => {}
                        }
                    }
                    self.at += 1;
                }
                let text: String = self.chars[start..self.at].iter().collect();
                ReadPath::parse(text.trim())
                    .map(Arg::Path)
                    .map_err(IntrinsicError::Syntax)
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.at;
                while self
                    .chars
                    .get(self.at)
                    .is_some_and(|c| c.is_ascii_alphanumeric())
                {
                    self.at += 1;
                }
                let word: String = self.chars[start..self.at].iter().collect();
                match word.as_str() {
                    "true" => Ok(Arg::Literal(Value::Bool(true))),
                    "false" => Ok(Arg::Literal(Value::Bool(false))),
                    "null" => Ok(Arg::Literal(Value::Null)),
                    _ => {
                        self.at = start;
                        Ok(Arg::Call(Box::new(self.call()?)))
                    }
                }
            }
            Some(c) if c.is_ascii_digit() || *c == '-' => {
                let start = self.at;
                self.at += 1;
                while self
                    .chars
                    .get(self.at)
                    .is_some_and(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
                {
                    self.at += 1;
                }
                let text: String = self.chars[start..self.at].iter().collect();
                let number: Number = serde_json::from_str(&text)
                    .map_err(|_| self.error(&format!("{text:?} is not a number")))?;
                Ok(Arg::Literal(Value::Number(number)))
            }
            _ => Err(self.error("expected an argument")),
        }
    }

    fn string(&mut self) -> Result<Arg, IntrinsicError> {
        self.at += 1;
        let mut value = String::new();
        let mut raw = String::new();
        loop {
            match self.chars.get(self.at) {
                None => return Err(self.error("unclosed string")),
                Some('\\') => {
                    let Some(&escaped) = self.chars.get(self.at + 1) else {
                        return Err(self.error("unclosed string"));
                    };
                    raw.push('\\');
                    raw.push(escaped);
                    value.push(escaped);
                    self.at += 2;
                }
                Some('\'') => {
                    self.at += 1;
                    return Ok(Arg::Str { value, raw });
                }
                Some(&c) => {
                    raw.push(c);
                    value.push(c);
                    self.at += 1;
                }
            }
        }
    }
}

fn count_placeholders(raw: &str) -> usize {
    let mut count = 0;
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                count += 1;
            }
            _ => {}
        }
    }
    count
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

    #[test]
    fn refusals() {
        assert_eq!(
            Call::parse("States.Hash($.x, 'SHA-1')").unwrap_err(),
            IntrinsicError::Unsupported("States.Hash".into())
        );
        assert!(matches!(
            Call::parse("States.Format('{} {}', $.x)"),
            Err(IntrinsicError::Syntax(_))
        ));
        assert!(matches!(
            Call::parse("States.UUID(1)"),
            Err(IntrinsicError::Syntax(_))
        ));
        assert!(matches!(
            Call::parse("States.Array(1"),
            Err(IntrinsicError::Syntax(_))
        ));
        assert!(matches!(
            Call::parse("States.ArrayLength($.a) x"),
            Err(IntrinsicError::Syntax(_))
        ));
    }
}
