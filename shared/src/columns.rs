//! Engine-neutral Arrow column builders. A source's decoder appends typed values; when a batch
//! is full the builders turn into a `RecordBatch`. Lists and interval structs are built from
//! their parts so a decoder can append elements one at a time without boxing builders.

use std::sync::Arc;

use arrow::array::builder::NullBufferBuilder;
use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int16Builder, Int32Builder, Int64Builder, ListArray, StringBuilder,
    StructArray, TimestampMicrosecondBuilder,
};
use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::error::ArrowError;

use crate::catalog::names::column_names;
use crate::model::ColumnDesc;
use crate::types::{StructField, ValueKind, interval_fields, list_item_field, struct_fields};

/// The Arrow schema a table's batches (and so its Parquet files) have. Every column is nullable.
/// Fields carry the columns' Parquet names: the source name, unless Athena could not find the
/// column by its Glue name that way (see [`crate::catalog::names`]).
pub fn table_schema(columns: &[ColumnDesc]) -> SchemaRef {
    let names = column_names(columns.iter().map(|c| c.name.as_str()));
    Arc::new(Schema::new(
        columns
            .iter()
            .zip(names)
            .map(|(c, n)| Field::new(n.parquet, c.kind.arrow_type(), true))
            .collect::<Vec<_>>(),
    ))
}

/// Finishes every builder into one batch of `rows` rows (the count is explicit so a batch of
/// rows is right even when every column happens to be built empty).
pub fn finish_batch<'a>(
    schema: &SchemaRef,
    builders: impl Iterator<Item = &'a mut ColumnBuilder>,
    rows: usize,
) -> Result<RecordBatch, ArrowError> {
    let arrays = builders
        .map(|b| b.finish())
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new_with_options(
        schema.clone(),
        arrays,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )
}

/// A builder for one column of any [`ValueKind`].
pub enum ColumnBuilder {
    Boolean(BooleanBuilder),
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Decimal(Decimal128Builder, u8, i8),
    Text(StringBuilder),
    Binary(BinaryBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder, bool),
    Interval(IntervalBuilder),
    List(Box<ListBuilder>),
    Struct(Box<StructBuilder>),
}

/// Builds the `struct<months, days, microseconds>` an interval is written as.
pub struct IntervalBuilder {
    months: Vec<i32>,
    days: Vec<i32>,
    micros: Vec<i64>,
    nulls: NullBufferBuilder,
}

/// Builds a list column: offsets and validity here, elements in a child builder.
pub struct ListBuilder {
    element_kind: ValueKind,
    pub elements: ColumnBuilder,
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
}

/// Builds a struct column: one child builder per field, and validity here. A decoder appends
/// one value (or a NULL) to every child, then closes the record.
pub struct StructBuilder {
    fields: Vec<StructField>,
    pub children: Vec<ColumnBuilder>,
    nulls: NullBufferBuilder,
}

impl StructBuilder {
    /// Closes the current record after one value was appended to each child.
    pub fn close(&mut self) {
        self.nulls.append_non_null();
    }
}

impl ListBuilder {
    /// Closes the current list value after its elements were appended to `elements`.
    pub fn close(&mut self) -> Result<(), ArrowError> {
        let len = i32::try_from(self.elements.len()).map_err(|_| {
            ArrowError::ComputeError("list column exceeds 2^31 elements in one batch".into())
        })?;
        self.offsets.push(len);
        self.nulls.append_non_null();
        Ok(())
    }
}

impl ColumnBuilder {
    /// A new, empty builder for `kind`, with room for `capacity` rows.
    pub fn new(kind: &ValueKind, capacity: usize) -> ColumnBuilder {
        match kind {
            ValueKind::Boolean => ColumnBuilder::Boolean(BooleanBuilder::with_capacity(capacity)),
            ValueKind::Int16 => ColumnBuilder::Int16(Int16Builder::with_capacity(capacity)),
            ValueKind::Int32 => ColumnBuilder::Int32(Int32Builder::with_capacity(capacity)),
            ValueKind::Int64 => ColumnBuilder::Int64(Int64Builder::with_capacity(capacity)),
            ValueKind::Float32 => ColumnBuilder::Float32(Float32Builder::with_capacity(capacity)),
            ValueKind::Float64 => ColumnBuilder::Float64(Float64Builder::with_capacity(capacity)),
            ValueKind::Decimal { precision, scale } => ColumnBuilder::Decimal(
                Decimal128Builder::with_capacity(capacity),
                *precision,
                *scale,
            ),
            ValueKind::Text => {
                ColumnBuilder::Text(StringBuilder::with_capacity(capacity, capacity * 16))
            }
            ValueKind::Binary => {
                ColumnBuilder::Binary(BinaryBuilder::with_capacity(capacity, capacity * 16))
            }
            ValueKind::Date => ColumnBuilder::Date(Date32Builder::with_capacity(capacity)),
            ValueKind::Timestamp { utc } => {
                ColumnBuilder::Timestamp(TimestampMicrosecondBuilder::with_capacity(capacity), *utc)
            }
            ValueKind::Interval => ColumnBuilder::Interval(IntervalBuilder {
                months: Vec::with_capacity(capacity),
                days: Vec::with_capacity(capacity),
                micros: Vec::with_capacity(capacity),
                nulls: NullBufferBuilder::new(capacity),
            }),
            ValueKind::List { element } => {
                let mut offsets = Vec::with_capacity(capacity + 1);
                offsets.push(0);
                ColumnBuilder::List(Box::new(ListBuilder {
                    element_kind: (**element).clone(),
                    elements: ColumnBuilder::new(element, capacity),
                    offsets,
                    nulls: NullBufferBuilder::new(capacity),
                }))
            }
            ValueKind::Struct { fields } => ColumnBuilder::Struct(Box::new(StructBuilder {
                children: fields
                    .iter()
                    .map(|f| ColumnBuilder::new(&f.kind, capacity))
                    .collect(),
                fields: fields.clone(),
                nulls: NullBufferBuilder::new(capacity),
            })),
        }
    }

    /// Number of values appended since the last `finish`.
    pub fn len(&self) -> usize {
        use arrow::array::ArrayBuilder;
        match self {
            ColumnBuilder::Boolean(b) => b.len(),
            ColumnBuilder::Int16(b) => b.len(),
            ColumnBuilder::Int32(b) => b.len(),
            ColumnBuilder::Int64(b) => b.len(),
            ColumnBuilder::Float32(b) => b.len(),
            ColumnBuilder::Float64(b) => b.len(),
            ColumnBuilder::Decimal(b, ..) => b.len(),
            ColumnBuilder::Text(b) => b.len(),
            ColumnBuilder::Binary(b) => b.len(),
            ColumnBuilder::Date(b) => b.len(),
            ColumnBuilder::Timestamp(b, _) => b.len(),
            ColumnBuilder::Interval(b) => b.months.len(),
            ColumnBuilder::List(b) => b.offsets.len() - 1,
            ColumnBuilder::Struct(b) => b.nulls.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a NULL of whatever type this column holds.
    pub fn append_null(&mut self) {
        match self {
            ColumnBuilder::Boolean(b) => b.append_null(),
            ColumnBuilder::Int16(b) => b.append_null(),
            ColumnBuilder::Int32(b) => b.append_null(),
            ColumnBuilder::Int64(b) => b.append_null(),
            ColumnBuilder::Float32(b) => b.append_null(),
            ColumnBuilder::Float64(b) => b.append_null(),
            ColumnBuilder::Decimal(b, ..) => b.append_null(),
            ColumnBuilder::Text(b) => b.append_null(),
            ColumnBuilder::Binary(b) => b.append_null(),
            ColumnBuilder::Date(b) => b.append_null(),
            ColumnBuilder::Timestamp(b, _) => b.append_null(),
            ColumnBuilder::Interval(b) => Self::append_interval_null(b),
            ColumnBuilder::List(b) => {
                let last = *b.offsets.last().unwrap_or(&0);
                b.offsets.push(last);
                b.nulls.append_null();
            }
            ColumnBuilder::Struct(b) => {
                for child in &mut b.children {
                    child.append_null();
                }
                b.nulls.append_null();
            }
        }
    }

    /// Appends an interval; only valid on an interval column (checked by the caller's type map).
    pub fn append_interval(b: &mut IntervalBuilder, months: i32, days: i32, micros: i64) {
        b.months.push(months);
        b.days.push(days);
        b.micros.push(micros);
        b.nulls.append_non_null();
    }

    /// Appends a NULL interval.
    pub fn append_interval_null(b: &mut IntervalBuilder) {
        b.months.push(0);
        b.days.push(0);
        b.micros.push(0);
        b.nulls.append_null();
    }

    /// Turns the appended values into an array and resets the builder.
    pub fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        Ok(match self {
            ColumnBuilder::Boolean(b) => Arc::new(b.finish()),
            ColumnBuilder::Int16(b) => Arc::new(b.finish()),
            ColumnBuilder::Int32(b) => Arc::new(b.finish()),
            ColumnBuilder::Int64(b) => Arc::new(b.finish()),
            ColumnBuilder::Float32(b) => Arc::new(b.finish()),
            ColumnBuilder::Float64(b) => Arc::new(b.finish()),
            ColumnBuilder::Decimal(b, p, s) => {
                Arc::new(b.finish().with_precision_and_scale(*p, *s)?)
            }
            ColumnBuilder::Text(b) => Arc::new(b.finish()),
            ColumnBuilder::Binary(b) => Arc::new(b.finish()),
            ColumnBuilder::Date(b) => Arc::new(b.finish()),
            ColumnBuilder::Timestamp(b, utc) => {
                let a = b.finish();
                if *utc {
                    Arc::new(a.with_timezone("+00:00"))
                } else {
                    Arc::new(a)
                }
            }
            ColumnBuilder::Interval(b) => {
                let months = Arc::new(arrow::array::Int32Array::from(std::mem::take(
                    &mut b.months,
                )));
                let days = Arc::new(arrow::array::Int32Array::from(std::mem::take(&mut b.days)));
                let micros = Arc::new(arrow::array::Int64Array::from(std::mem::take(
                    &mut b.micros,
                )));
                let nulls = b.nulls.finish();
                Arc::new(StructArray::try_new(
                    interval_fields(),
                    vec![months, days, micros],
                    nulls,
                )?)
            }
            ColumnBuilder::List(b) => {
                let values = b.elements.finish()?;
                let offsets = std::mem::replace(&mut b.offsets, vec![0]);
                let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
                let nulls = b.nulls.finish();
                Arc::new(ListArray::try_new(
                    list_item_field(&b.element_kind),
                    offsets,
                    values,
                    nulls,
                )?)
            }
            ColumnBuilder::Struct(b) => {
                let children = b
                    .children
                    .iter_mut()
                    .map(|c| c.finish())
                    .collect::<Result<Vec<_>, _>>()?;
                // Type maps give a struct at least one field (Parquet has no empty group).
                let nulls = b.nulls.finish();
                Arc::new(StructArray::try_new(
                    struct_fields(&b.fields),
                    children,
                    nulls,
                )?)
            }
        })
    }
}
