//! The engine-neutral value shapes we write, and how each maps to Arrow/Parquet and to the
//! Glue/Athena type system. Each engine's type map (in `source::<engine>::typemap`) turns a
//! catalog type into one of these; nothing else decides types.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use serde::{Deserialize, Serialize};

/// The largest precision a Decimal128 (and so Athena's `decimal`) holds.
pub const MAX_DECIMAL128_PRECISION: u8 = 38;

/// A column's value shape in the output.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ValueKind {
    Boolean,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    /// Exact decimal with `precision <= 38`.
    Decimal {
        precision: u8,
        scale: i8,
    },
    /// UTF-8 text.
    Text,
    Binary,
    /// Days since the Unix epoch.
    Date,
    /// Microseconds since the Unix epoch; `utc` marks an instant (timestamptz) rather than a
    /// wall-clock reading (timestamp without time zone).
    Timestamp {
        utc: bool,
    },
    /// A calendar interval kept whole: months, days and microseconds do not convert into each other.
    Interval,
    /// A list of values: a one-dimensional array, or one level of a multi-dimensional one
    /// (whose elements are then lists too).
    List {
        element: Box<ValueKind>,
    },
    /// A record of named fields (a composite type), in declaration order. Field names are the
    /// same in Parquet and Glue (see [`crate::catalog::names::struct_field_names`]).
    Struct {
        fields: Vec<StructField>,
    },
}

/// One field of a [`ValueKind::Struct`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StructField {
    pub name: String,
    pub kind: ValueKind,
}

impl ValueKind {
    /// The Arrow type written to Parquet.
    pub fn arrow_type(&self) -> DataType {
        match self {
            ValueKind::Boolean => DataType::Boolean,
            ValueKind::Int16 => DataType::Int16,
            ValueKind::Int32 => DataType::Int32,
            ValueKind::Int64 => DataType::Int64,
            ValueKind::Float32 => DataType::Float32,
            ValueKind::Float64 => DataType::Float64,
            ValueKind::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale),
            ValueKind::Text => DataType::Utf8,
            ValueKind::Binary => DataType::Binary,
            ValueKind::Date => DataType::Date32,
            ValueKind::Timestamp { utc: false } => DataType::Timestamp(TimeUnit::Microsecond, None),
            ValueKind::Timestamp { utc: true } => {
                DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
            }
            ValueKind::Interval => DataType::Struct(interval_fields()),
            ValueKind::List { element } => DataType::List(list_item_field(element)),
            ValueKind::Struct { fields } => DataType::Struct(struct_fields(fields)),
        }
    }

    /// The Glue / Athena (Hive DDL) type of the column.
    pub fn glue_type(&self) -> String {
        match self {
            ValueKind::Boolean => "boolean".into(),
            ValueKind::Int16 => "smallint".into(),
            ValueKind::Int32 => "int".into(),
            ValueKind::Int64 => "bigint".into(),
            ValueKind::Float32 => "float".into(),
            ValueKind::Float64 => "double".into(),
            ValueKind::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
            ValueKind::Text => "string".into(),
            ValueKind::Binary => "binary".into(),
            ValueKind::Date => "date".into(),
            ValueKind::Timestamp { .. } => "timestamp".into(),
            ValueKind::Interval => "struct<months:int,days:int,microseconds:bigint>".into(),
            ValueKind::List { element } => format!("array<{}>", element.glue_type()),
            ValueKind::Struct { fields } => {
                let inner: Vec<String> = fields
                    .iter()
                    .map(|f| format!("{}:{}", f.name, f.kind.glue_type()))
                    .collect();
                format!("struct<{}>", inner.join(","))
            }
        }
    }

    /// The Parquet physical/logical type as a short human string for the manifest.
    pub fn parquet_type(&self) -> String {
        match self {
            ValueKind::Boolean => "BOOLEAN".into(),
            ValueKind::Int16 => "INT32 (INT(16,true))".into(),
            ValueKind::Int32 => "INT32".into(),
            ValueKind::Int64 => "INT64".into(),
            ValueKind::Float32 => "FLOAT".into(),
            ValueKind::Float64 => "DOUBLE".into(),
            ValueKind::Decimal { precision, scale } => format!("DECIMAL({precision},{scale})"),
            ValueKind::Text => "BYTE_ARRAY (STRING)".into(),
            ValueKind::Binary => "BYTE_ARRAY".into(),
            ValueKind::Date => "INT32 (DATE)".into(),
            ValueKind::Timestamp { utc } => {
                format!("INT64 (TIMESTAMP(MICROS,isAdjustedToUTC={utc}))")
            }
            ValueKind::Interval => "GROUP (months INT32, days INT32, microseconds INT64)".into(),
            ValueKind::List { element } => format!("LIST<{}>", element.parquet_type()),
            ValueKind::Struct { fields } => {
                let inner: Vec<String> = fields
                    .iter()
                    .map(|f| format!("{} {}", f.name, f.kind.parquet_type()))
                    .collect();
                format!("GROUP ({})", inner.join(", "))
            }
        }
    }
}

/// The fields of the struct an interval is written as.
pub fn interval_fields() -> Fields {
    Fields::from(vec![
        Field::new("months", DataType::Int32, false),
        Field::new("days", DataType::Int32, false),
        Field::new("microseconds", DataType::Int64, false),
    ])
}

/// The item field of a list column. Named `element` as the Parquet LIST spec names it.
pub fn list_item_field(element: &ValueKind) -> Arc<Field> {
    Arc::new(Field::new("element", element.arrow_type(), true))
}

/// The Arrow fields of a struct: every field nullable (a composite's fields always are).
pub fn struct_fields(fields: &[StructField]) -> Fields {
    fields
        .iter()
        .map(|f| Field::new(&f.name, f.kind.arrow_type(), true))
        .collect()
}
