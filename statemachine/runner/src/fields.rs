//! Reading a definition object field by field: every field a parser does not take is refused by
//! name when it calls `finish`, so nothing unimplemented is ignored.

use serde_json::{Map, Value};

use crate::error::DefinitionError;
use crate::paths::{ReadPath, ReferencePath};
use crate::template::{Template, TemplateError};

pub(crate) struct Fields<'a> {
    map: &'a Map<String, Value>,
    taken: Vec<&'a str>,
    location: String,
}

impl<'a> Fields<'a> {
    /// `location` says where the object is, for errors: `state "Plan"`, `a Retry of state "X"`.
    pub(crate) fn new(value: &'a Value, location: String) -> Result<Self, DefinitionError> {
        let Value::Object(map) = value else {
            return Err(DefinitionError::Invalid {
                location,
                message: format!("expected an object, not {value}"),
            });
        };
        Ok(Fields {
            map,
            taken: vec![],
            location,
        })
    }

    pub(crate) fn location(&self) -> &str {
        &self.location
    }

    pub(crate) fn invalid(&self, message: impl Into<String>) -> DefinitionError {
        DefinitionError::Invalid {
            location: self.location.clone(),
            message: message.into(),
        }
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    pub(crate) fn get(&mut self, name: &str) -> Option<&'a Value> {
        let (key, value) = self.map.get_key_value(name)?;
        self.taken.push(key.as_str());
        Some(value)
    }

    pub(crate) fn require(&mut self, name: &str) -> Result<&'a Value, DefinitionError> {
        self.get(name).ok_or_else(|| DefinitionError::MissingField {
            field: name.to_owned(),
            location: self.location.clone(),
        })
    }

    pub(crate) fn string(&mut self, name: &str) -> Result<Option<String>, DefinitionError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.invalid(format!("\"{name}\" must be a string, not {other}"))),
        }
    }

    pub(crate) fn required_string(&mut self, name: &str) -> Result<String, DefinitionError> {
        self.require(name)?;
        Ok(self.string(name)?.unwrap_or_default())
    }

    pub(crate) fn bool(&mut self, name: &str) -> Result<Option<bool>, DefinitionError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.invalid(format!("\"{name}\" must be a boolean, not {other}"))),
        }
    }

    /// A non-negative integer.
    pub(crate) fn uint(&mut self, name: &str) -> Result<Option<u64>, DefinitionError> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => value.as_u64().map(Some).ok_or_else(|| {
                self.invalid(format!(
                    "\"{name}\" must be a non-negative integer, not {value}"
                ))
            }),
        }
    }

    pub(crate) fn number(&mut self, name: &str) -> Result<Option<f64>, DefinitionError> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => value
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.invalid(format!("\"{name}\" must be a number, not {value}"))),
        }
    }

    pub(crate) fn read_path(&mut self, name: &str) -> Result<Option<ReadPath>, DefinitionError> {
        match self.string(name)? {
            None => Ok(None),
            Some(text) => ReadPath::parse(&text)
                .map(Some)
                .map_err(|why| self.invalid(format!("\"{name}\": {why}"))),
        }
    }

    /// A path field that may also be `null` (InputPath, OutputPath): `None` when absent,
    /// `Some(None)` for `null`.
    pub(crate) fn nullable_read_path(
        &mut self,
        name: &str,
    ) -> Result<Option<Option<ReadPath>>, DefinitionError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(_) => Ok(Some(self.read_path(name)?)),
        }
    }

    pub(crate) fn nullable_reference_path(
        &mut self,
        name: &str,
    ) -> Result<Option<Option<ReferencePath>>, DefinitionError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(text)) => ReferencePath::parse(text)
                .map(|p| Some(Some(p)))
                .map_err(|why| self.invalid(format!("\"{name}\": {why}"))),
            Some(other) => Err(self.invalid(format!(
                "\"{name}\" must be a reference path or null, not {other}"
            ))),
        }
    }

    pub(crate) fn template(&mut self, name: &str) -> Result<Option<Template>, DefinitionError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        Template::parse(value).map(Some).map_err(|e| match e {
            TemplateError::Intrinsic(function) => DefinitionError::UnsupportedIntrinsic {
                name: function,
                location: self.location.clone(),
            },
            TemplateError::Invalid(why) => self.invalid(format!("\"{name}\": {why}")),
        })
    }

    /// Refuses the first field nobody took (`Comment` is always allowed).
    pub(crate) fn finish(self) -> Result<(), DefinitionError> {
        for key in self.map.keys() {
            if key != "Comment" && !self.taken.contains(&key.as_str()) {
                return Err(DefinitionError::UnsupportedField {
                    field: key.clone(),
                    location: self.location,
                });
            }
        }
        Ok(())
    }
}
