//! The shape a column's values arrive in: the binary form of a scalar (`Wire`), and how
//! arrays and composite values nest around it (`Shape`), built from the column's kind and
//! its wire name.

use crate::types::ValueKind;

/// The binary form a column's values arrive in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wire {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Numeric,
    Text,
    Jsonb,
    Bytea,
    Uuid,
    Date,
    Timestamp,
    Interval,
    /// `money`: an int64 count of the currency's smallest unit.
    Money,
    /// A `numeric` of any precision and scale, written as its exact text.
    NumericText,
    /// `time` and `timetz`, written as their ISO text.
    Time,
    TimeTz,
}

impl Wire {
    fn of(name: &str) -> Option<Wire> {
        Some(match name {
            "bool" => Wire::Bool,
            "int2" => Wire::Int2,
            "int4" => Wire::Int4,
            "int8" => Wire::Int8,
            "oid" => Wire::Oid,
            "float4" => Wire::Float4,
            "float8" => Wire::Float8,
            "numeric" => Wire::Numeric,
            "text" => Wire::Text,
            "jsonb" => Wire::Jsonb,
            "bytea" => Wire::Bytea,
            "uuid" => Wire::Uuid,
            "date" => Wire::Date,
            "timestamp" | "timestamptz" => Wire::Timestamp,
            "interval" => Wire::Interval,
            "money" => Wire::Money,
            "numeric_text" => Wire::NumericText,
            "time" => Wire::Time,
            "timetz" => Wire::TimeTz,
            _ => return None,
        })
    }
}

/// How a value arrives and which builder takes it, built from a column's kind and its wire
/// name (see [`Shape::of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Shape {
    Scalar(Wire),
    /// An array written as `dims` nested lists of `element`.
    Array {
        dims: usize,
        element: Box<Shape>,
    },
    /// A composite value in the binary record form, one shape per attribute.
    Record(Vec<Shape>),
}

impl Shape {
    /// The shape of a value of `kind` whose wire name is `wire`: a scalar's type name (`int4`),
    /// an array's element's, a record's attributes' in parentheses (`(int4,(text),date)`).
    pub(super) fn of(kind: &ValueKind, wire: &str) -> Result<Shape, String> {
        let mut rest = wire;
        let shape = Shape::parse(kind, &mut rest)?;
        if !rest.is_empty() {
            return Err(format!("wire {wire:?} does not match the column's type"));
        }
        Ok(shape)
    }

    fn parse(kind: &ValueKind, rest: &mut &str) -> Result<Shape, String> {
        match kind {
            ValueKind::List { .. } => {
                let mut dims = 0;
                let mut inner = kind;
                while let ValueKind::List { element } = inner {
                    dims += 1;
                    inner = element;
                }
                Ok(Shape::Array {
                    dims,
                    element: Box::new(Shape::parse(inner, rest)?),
                })
            }
            ValueKind::Struct { fields } => {
                let mut shapes = Vec::with_capacity(fields.len());
                for (i, f) in fields.iter().enumerate() {
                    let open = if i == 0 { '(' } else { ',' };
                    *rest = rest
                        .strip_prefix(open)
                        .ok_or_else(|| format!("expected {open:?} in a record's wire"))?;
                    shapes.push(Shape::parse(&f.kind, rest)?);
                }
                *rest = rest
                    .strip_prefix(')')
                    .ok_or("expected ')' in a record's wire")?;
                Ok(Shape::Record(shapes))
            }
            _ => {
                let end = rest.find([',', ')']).unwrap_or(rest.len());
                let (name, tail) = rest.split_at(end);
                *rest = tail;
                Wire::of(name)
                    .map(Shape::Scalar)
                    .ok_or_else(|| format!("no decoder for wire type {name}"))
            }
        }
    }
}
