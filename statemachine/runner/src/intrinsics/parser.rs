//! Parsing an intrinsic function's text (`States.Format('{}', $.x)`) into a [`Call`]: its
//! name, arity and arguments are checked when the definition is parsed.

use serde_json::{Number, Value};

use super::{Arg, Call, Function, IntrinsicError};
use crate::paths::ReadPath;

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
