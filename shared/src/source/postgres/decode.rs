//! Decodes PostgreSQL's binary COPY stream straight into Arrow builders, one tuple at a time,
//! without building rows. See "Binary Format" in PostgreSQL's COPY documentation.

use arrow::array::{RecordBatch, StringBuilder};
use arrow::datatypes::SchemaRef;

use super::numeric::{Numeric, decode_numeric, numeric_text};
use super::time_text::{time_text, timetz_text};
use crate::columns::{ColumnBuilder, IntervalBuilder, finish_batch, table_schema};
use crate::error::{Error, Result};
use crate::model::{ColumnDesc, LossyRule, ReadAs};
use crate::source::LossyCounts;
use crate::types::ValueKind;

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// Days and microseconds from the Unix epoch to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// The binary form a column's values arrive in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
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
enum Shape {
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
    fn of(kind: &ValueKind, wire: &str) -> Result<Shape, String> {
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

struct ColumnDecoder {
    name: String,
    shape: Shape,
    builder: ColumnBuilder,
}

/// Decodes tuples of one table's COPY output into record batches.
pub struct TupleDecoder {
    schema: SchemaRef,
    columns: Vec<ColumnDecoder>,
    rows: usize,
    bytes: usize,
    header_seen: bool,
    finished: bool,
    lossy: LossyCounts,
}

impl TupleDecoder {
    pub fn new(columns: &[ColumnDesc], capacity: usize) -> Result<Self> {
        let mut decoders = Vec::with_capacity(columns.len());
        for c in columns {
            let wire_name = match c.read {
                ReadAs::Native => c.wire.as_str(),
                ReadAs::Text | ReadAs::TextArray => "text",
                ReadAs::Wkb => "bytea",
            };
            let shape = Shape::of(&c.kind, wire_name)
                .map_err(|e| Error::Internal(format!("column {}: {e}", c.name)))?;
            decoders.push(ColumnDecoder {
                name: c.name.clone(),
                shape,
                builder: ColumnBuilder::new(&c.kind, capacity),
            });
        }
        Ok(TupleDecoder {
            schema: table_schema(columns),
            columns: decoders,
            rows: 0,
            bytes: 0,
            header_seen: false,
            finished: false,
            lossy: LossyCounts::new(),
        })
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Rows decoded since the last [`TupleDecoder::finish_batch`].
    pub fn pending_rows(&self) -> usize {
        self.rows
    }

    /// Source bytes decoded since the last [`TupleDecoder::finish_batch`].
    pub fn pending_bytes(&self) -> usize {
        self.bytes
    }

    /// True once the COPY trailer was read.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    pub fn lossy_counts(&self) -> &LossyCounts {
        &self.lossy
    }

    /// Decodes every complete tuple at the start of `data`; returns how many bytes it used.
    /// A tuple cut off at the end of `data` is left for the next call.
    pub fn decode(&mut self, data: &[u8]) -> Result<usize> {
        let mut pos = 0;
        if !self.header_seen {
            let Some(len) = header_len(data)? else {
                return Ok(0);
            };
            pos = len;
            self.header_seen = true;
        }
        while !self.finished {
            let rest = &data[pos..];
            let Some(len) = tuple_len(rest, self.columns.len())? else {
                break;
            };
            if len == 2 {
                self.finished = true; // trailer: field count -1
            } else {
                self.decode_tuple(&rest[2..len])?;
                self.rows += 1;
                self.bytes += len;
            }
            pos += len;
        }
        Ok(pos)
    }

    fn decode_tuple(&mut self, mut fields: &[u8]) -> Result<()> {
        for col in &mut self.columns {
            let len =
                i32::from_be_bytes(fields[..4].try_into().expect("length checked by tuple_len"));
            fields = &fields[4..];
            if len < 0 {
                col.builder.append_null();
                continue;
            }
            let (value, rest) = fields.split_at(len as usize);
            fields = rest;
            let ColumnDecoder {
                name,
                shape,
                builder,
            } = col;
            let name: &str = name;
            let lossy = &mut self.lossy;
            decode_value(shape, value, builder, &mut |rule| bump(lossy, name, rule)).map_err(
                |detail| Error::Decode {
                    column: name.to_string(),
                    detail,
                },
            )?;
        }
        Ok(())
    }

    /// Turns the decoded tuples into a batch (possibly empty) and starts a new one.
    pub fn finish_batch(&mut self) -> Result<RecordBatch> {
        let rows = std::mem::take(&mut self.rows);
        self.bytes = 0;
        finish_batch(
            &self.schema,
            self.columns.iter_mut().map(|c| &mut c.builder),
            rows,
        )
        .map_err(|e| Error::Internal(format!("assembling a batch: {e}")))
    }
}

fn bump(lossy: &mut LossyCounts, column: &str, rule: LossyRule) {
    *lossy
        .entry(column.to_string())
        .or_default()
        .entry(rule)
        .or_default() += 1;
}

/// Length of the file header, or `None` if `data` does not hold all of it yet.
fn header_len(data: &[u8]) -> Result<Option<usize>> {
    if data.len() < 19 {
        return Ok(None);
    }
    if &data[..11] != SIGNATURE {
        return Err(Error::Internal(
            "COPY output does not start with the binary signature".into(),
        ));
    }
    let ext = u32::from_be_bytes(data[15..19].try_into().expect("4 bytes")) as usize;
    Ok((data.len() >= 19 + ext).then_some(19 + ext))
}

/// Length of the tuple (or 2 for the trailer) at the start of `data`, or `None` if incomplete.
fn tuple_len(data: &[u8], ncols: usize) -> Result<Option<usize>> {
    if data.len() < 2 {
        return Ok(None);
    }
    let count = i16::from_be_bytes([data[0], data[1]]);
    if count == -1 {
        return Ok(Some(2));
    }
    if count as usize != ncols {
        return Err(Error::Internal(format!(
            "COPY tuple has {count} fields, expected {ncols}"
        )));
    }
    let mut pos = 2;
    for _ in 0..ncols {
        if data.len() < pos + 4 {
            return Ok(None);
        }
        let len = i32::from_be_bytes(data[pos..pos + 4].try_into().expect("4 bytes"));
        pos += 4;
        if len > 0 {
            pos += len as usize;
        }
    }
    Ok((data.len() >= pos).then_some(pos))
}

fn fixed<const N: usize>(value: &[u8]) -> Result<[u8; N], String> {
    value
        .try_into()
        .map_err(|_| format!("expected {N} bytes, got {}", value.len()))
}

/// Appends text; bytes that are not UTF-8 (only a `SQL_ASCII` database sends them: every
/// other server encoding is converted to the session's UTF-8) become NULL, counted.
fn append_text(b: &mut StringBuilder, value: &[u8], lossy: &mut dyn FnMut(LossyRule)) {
    match std::str::from_utf8(value) {
        Ok(s) => b.append_value(s),
        Err(_) => {
            lossy(LossyRule::InvalidUtf8ToNull);
            b.append_null()
        }
    }
}

fn mismatch(wire: Wire) -> String {
    format!("internal: wire type {wire:?} does not match the column's builder")
}

/// Decodes one non-NULL scalar and appends it.
fn decode_scalar(
    wire: Wire,
    v: &[u8],
    builder: &mut ColumnBuilder,
    lossy: &mut dyn FnMut(LossyRule),
) -> Result<(), String> {
    use ColumnBuilder as B;
    match (wire, builder) {
        (Wire::Bool, B::Boolean(b)) => b.append_value(fixed::<1>(v)?[0] != 0),
        (Wire::Int2, B::Int16(b)) => b.append_value(i16::from_be_bytes(fixed(v)?)),
        (Wire::Int4, B::Int32(b)) => b.append_value(i32::from_be_bytes(fixed(v)?)),
        (Wire::Int8, B::Int64(b)) => b.append_value(i64::from_be_bytes(fixed(v)?)),
        (Wire::Oid, B::Int64(b)) => b.append_value(u32::from_be_bytes(fixed(v)?) as i64),
        (Wire::Float4, B::Float32(b)) => b.append_value(f32::from_be_bytes(fixed(v)?)),
        (Wire::Float8, B::Float64(b)) => b.append_value(f64::from_be_bytes(fixed(v)?)),
        (Wire::Numeric, B::Decimal(b, _, scale)) => match decode_numeric(v, *scale)? {
            Numeric::Finite(x) => b.append_value(x),
            Numeric::Special => {
                lossy(LossyRule::NumericSpecialToNull);
                b.append_null()
            }
        },
        (Wire::Text, B::Text(b)) => append_text(b, v, lossy),
        (Wire::Jsonb, B::Text(b)) => match v.split_first() {
            Some((1, json)) => append_text(b, json, lossy),
            _ => return Err("unknown jsonb binary version".into()),
        },
        (Wire::Bytea, B::Binary(b)) => b.append_value(v),
        (Wire::NumericText, B::Text(b)) => b.append_value(numeric_text(v)?),
        (Wire::Time, B::Text(b)) => b.append_value(time_text(i64::from_be_bytes(fixed(v)?))?),
        (Wire::TimeTz, B::Text(b)) => {
            let v = fixed::<12>(v)?;
            let micros = i64::from_be_bytes(v[0..8].try_into().expect("8 bytes"));
            let zone = i32::from_be_bytes(v[8..12].try_into().expect("4 bytes"));
            b.append_value(timetz_text(micros, zone)?)
        }
        (Wire::Money, B::Decimal(b, ..)) => b.append_value(i64::from_be_bytes(fixed(v)?).into()),
        (Wire::Uuid, B::Text(b)) => b.append_value(format_uuid(&fixed::<16>(v)?)),
        (Wire::Date, B::Date(b)) => match i32::from_be_bytes(fixed(v)?) {
            i32::MAX | i32::MIN => {
                lossy(LossyRule::InfiniteToNull);
                b.append_null()
            }
            // PostgreSQL's dates end in year 5874897, well inside Date32: kept for safety.
            days => match days.checked_add(PG_EPOCH_DAYS) {
                Some(d) => b.append_value(d),
                None => {
                    lossy(LossyRule::OutOfRangeToNull);
                    b.append_null()
                }
            },
        },
        (Wire::Timestamp, B::Timestamp(b, _)) => match i64::from_be_bytes(fixed(v)?) {
            i64::MAX | i64::MIN => {
                lossy(LossyRule::InfiniteToNull);
                b.append_null()
            }
            // PostgreSQL counts from 2000 and reaches year 294276; microseconds since 1970
            // in an int64 end in year 294247.
            micros => match micros.checked_add(PG_EPOCH_MICROS) {
                Some(m) => b.append_value(m),
                None => {
                    lossy(LossyRule::OutOfRangeToNull);
                    b.append_null()
                }
            },
        },
        (Wire::Interval, B::Interval(b)) => {
            let v = fixed::<16>(v)?;
            let micros = i64::from_be_bytes(v[0..8].try_into().expect("8 bytes"));
            let days = i32::from_be_bytes(v[8..12].try_into().expect("4 bytes"));
            let months = i32::from_be_bytes(v[12..16].try_into().expect("4 bytes"));
            // PostgreSQL 17's `infinity` / `-infinity` intervals: every field at its extreme.
            match (months, days, micros) {
                (i32::MAX, i32::MAX, i64::MAX) | (i32::MIN, i32::MIN, i64::MIN) => {
                    lossy(LossyRule::InfiniteToNull);
                    ColumnBuilder::append_interval_null(b)
                }
                _ => append_interval(b, months, days, micros),
            }
        }
        (wire, _) => return Err(mismatch(wire)),
    }
    Ok(())
}

fn append_interval(b: &mut IntervalBuilder, months: i32, days: i32, micros: i64) {
    ColumnBuilder::append_interval(b, months, days, micros)
}

/// Decodes one non-NULL value of any shape and appends it.
fn decode_value(
    shape: &Shape,
    v: &[u8],
    builder: &mut ColumnBuilder,
    lossy: &mut dyn FnMut(LossyRule),
) -> Result<(), String> {
    match shape {
        Shape::Scalar(wire) => decode_scalar(*wire, v, builder, lossy),
        Shape::Array { dims, element } => decode_array(*dims, element, v, builder, lossy),
        Shape::Record(fields) => decode_record(fields, v, builder, lossy),
    }
}

fn be32(v: &[u8], at: usize) -> Result<i32, String> {
    v.get(at..at + 4)
        .map(|b| i32::from_be_bytes(b.try_into().expect("4 bytes")))
        .ok_or_else(|| "value truncated".to_string())
}

/// Decodes one non-NULL composite value into one struct value: the attribute count, then per
/// attribute its type oid, its length (-1 for NULL) and its bytes.
fn decode_record(
    fields: &[Shape],
    v: &[u8],
    builder: &mut ColumnBuilder,
    lossy: &mut dyn FnMut(LossyRule),
) -> Result<(), String> {
    let ColumnBuilder::Struct(record) = builder else {
        return Err("internal: a record's builder is not a struct".into());
    };
    let count = be32(v, 0)?;
    if usize::try_from(count).ok() != Some(fields.len()) {
        return Err(format!(
            "record has {count} attributes, its type had {} when the export was planned",
            fields.len()
        ));
    }
    let mut pos = 4;
    for (shape, child) in fields.iter().zip(record.children.iter_mut()) {
        let len = be32(v, pos + 4)?;
        pos += 8;
        if len < 0 {
            child.append_null();
            continue;
        }
        let end = pos + len as usize;
        let value = v.get(pos..end).ok_or("record attribute truncated")?;
        decode_value(shape, value, child, lossy)?;
        pos = end;
    }
    record.close();
    Ok(())
}

/// Decodes one non-NULL array into one value of `dims` nested lists: header (ndim, flags,
/// element oid), dimensions (size, lower bound), then the elements in row-major order, each
/// with its own length. An array of `dims` dimensions keeps its shape; one of other dimensions
/// is flattened into the innermost list (inside outer lists of one), counted; an empty array
/// (no dimensions) is an empty list.
fn decode_array(
    dims: usize,
    element: &Shape,
    v: &[u8],
    builder: &mut ColumnBuilder,
    lossy: &mut dyn FnMut(LossyRule),
) -> Result<(), String> {
    let ndim = be32(v, 0)?;
    if !(0..=6).contains(&ndim) {
        return Err(format!("array has {ndim} dimensions"));
    }
    if ndim == 0 {
        let ColumnBuilder::List(list) = builder else {
            return Err("internal: an array's builder is not a list".into());
        };
        return list.close().map_err(|e| e.to_string());
    }
    let mut sizes = Vec::with_capacity(ndim as usize);
    let mut count: usize = 1;
    for d in 0..ndim as usize {
        let size = usize::try_from(be32(v, 12 + 8 * d)?).map_err(|_| "negative array size")?;
        let lower = be32(v, 16 + 8 * d)?;
        count = count.checked_mul(size).ok_or("array too large")?;
        sizes.push(size);
        if lower != 1 {
            lossy(LossyRule::ArrayLowerBoundDropped);
        }
    }
    if sizes.len() != dims {
        lossy(LossyRule::ArrayFlattened);
        sizes = vec![1; dims];
        sizes[dims - 1] = count;
    }
    let mut pos = 12 + 8 * ndim as usize;
    let mut next = |b: &mut ColumnBuilder| -> Result<(), String> {
        let len = be32(v, pos)?;
        pos += 4;
        if len < 0 {
            b.append_null();
            return Ok(());
        }
        let end = pos + len as usize;
        let value = v.get(pos..end).ok_or("array element truncated")?;
        pos = end;
        decode_value(element, value, b, lossy)
    };
    fill_lists(&sizes, builder, &mut next)
}

/// Appends one value of nested lists of `sizes` (outermost first), taking each element from
/// `next`.
fn fill_lists(
    sizes: &[usize],
    builder: &mut ColumnBuilder,
    next: &mut dyn FnMut(&mut ColumnBuilder) -> Result<(), String>,
) -> Result<(), String> {
    let ColumnBuilder::List(list) = builder else {
        return Err("internal: an array's builder is not a list".into());
    };
    for _ in 0..sizes[0] {
        if sizes.len() == 1 {
            next(&mut list.elements)?;
        } else {
            fill_lists(&sizes[1..], &mut list.elements, next)?;
        }
    }
    list.close().map_err(|e| e.to_string())
}

fn format_uuid(b: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(HEX[(byte >> 4) as usize] as char);
        s.push(HEX[(byte & 0xf) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int32Type;

    fn column(name: &str, kind: ValueKind, wire: &str) -> ColumnDesc {
        ColumnDesc {
            name: name.into(),
            source_type: wire.into(),
            kind,
            nullable: true,
            read: ReadAs::Native,
            wire: wire.into(),
            lossy_rules: vec![],
            dims_unknown: false,
        }
    }

    fn header() -> Vec<u8> {
        let mut h = SIGNATURE.to_vec();
        h.extend(0i32.to_be_bytes());
        h.extend(0i32.to_be_bytes());
        h
    }

    fn tuple(fields: &[Option<&[u8]>]) -> Vec<u8> {
        let mut t = (fields.len() as i16).to_be_bytes().to_vec();
        for f in fields {
            match f {
                None => t.extend((-1i32).to_be_bytes()),
                Some(b) => {
                    t.extend((b.len() as i32).to_be_bytes());
                    t.extend(*b);
                }
            }
        }
        t
    }

    #[test]
    fn decodes_across_arbitrary_chunk_boundaries() {
        let cols = [
            column("id", ValueKind::Int32, "int4"),
            column("s", ValueKind::Text, "text"),
        ];
        let mut stream = header();
        for i in 0..50i32 {
            let s = format!("row {i}");
            let s = (i % 7 != 0).then_some(s.as_bytes().to_vec());
            stream.extend(tuple(&[Some(&i.to_be_bytes()), s.as_deref()]));
        }
        stream.extend((-1i16).to_be_bytes());
        for step in [1, 3, 17, 4096] {
            let mut dec = TupleDecoder::new(&cols, 8).unwrap();
            let mut buf = Vec::new();
            for piece in stream.chunks(step) {
                buf.extend_from_slice(piece);
                let used = dec.decode(&buf).unwrap();
                buf.drain(..used);
            }
            assert!(dec.is_finished() && buf.is_empty(), "step {step}");
            let batch = dec.finish_batch().unwrap();
            assert_eq!(batch.num_rows(), 50);
            let ids = batch.column(0).as_primitive::<Int32Type>();
            assert_eq!(ids.values().iter().sum::<i32>(), (0..50).sum::<i32>());
            let s = batch.column(1).as_string::<i32>();
            assert_eq!(s.null_count(), 8);
            assert_eq!(s.value(1), "row 1");
        }
    }

    #[test]
    fn infinite_dates_become_null_and_are_counted() {
        let cols = [column("d", ValueKind::Date, "date")];
        let mut dec = TupleDecoder::new(&cols, 4).unwrap();
        let mut s = header();
        s.extend(tuple(&[Some(&i32::MAX.to_be_bytes())]));
        s.extend(tuple(&[Some(&0i32.to_be_bytes())]));
        s.extend(tuple(&[Some(&(-10_957i32).to_be_bytes())]));
        dec.decode(&s).unwrap();
        let b = dec.finish_batch().unwrap();
        let d = b.column(0).as_primitive::<arrow::datatypes::Date32Type>();
        assert!(d.is_null(0));
        assert_eq!(d.value(1), 10_957);
        assert_eq!(d.value(2), 0);
        assert_eq!(dec.lossy_counts()["d"][&LossyRule::InfiniteToNull], 1);
    }

    #[test]
    fn values_beyond_parquet_and_non_utf8_text_become_null_and_are_counted() {
        let cols = [
            column("ts", ValueKind::Timestamp { utc: false }, "timestamp"),
            column("s", ValueKind::Text, "text"),
        ];
        let mut dec = TupleDecoder::new(&cols, 4).unwrap();
        let mut s = header();
        // The last microsecond Parquet holds, then the next one (in PostgreSQL's 2000 epoch).
        let last = i64::MAX - PG_EPOCH_MICROS;
        s.extend(tuple(&[Some(&last.to_be_bytes()), Some(b"caf\xc3\xa9")]));
        s.extend(tuple(&[Some(&(last + 1).to_be_bytes()), Some(b"caf\xe9")]));
        dec.decode(&s).unwrap();
        let b = dec.finish_batch().unwrap();
        let ts = b
            .column(0)
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        assert_eq!(ts.value(0), i64::MAX);
        assert!(ts.is_null(1));
        let text = b.column(1).as_string::<i32>();
        assert_eq!(text.value(0), "café");
        assert!(text.is_null(1));
        assert_eq!(dec.lossy_counts()["ts"][&LossyRule::OutOfRangeToNull], 1);
        assert_eq!(dec.lossy_counts()["s"][&LossyRule::InvalidUtf8ToNull], 1);
    }

    #[test]
    fn infinite_intervals_become_null_and_are_counted() {
        let cols = [column("iv", ValueKind::Interval, "interval")];
        let mut dec = TupleDecoder::new(&cols, 4).unwrap();
        let interval = |micros: i64, days: i32, months: i32| {
            let mut v = micros.to_be_bytes().to_vec();
            v.extend(days.to_be_bytes());
            v.extend(months.to_be_bytes());
            v
        };
        let mut s = header();
        s.extend(tuple(&[Some(&interval(i64::MAX, i32::MAX, i32::MAX))]));
        s.extend(tuple(&[Some(&interval(i64::MIN, i32::MIN, i32::MIN))]));
        s.extend(tuple(&[Some(&interval(i64::MAX, i32::MAX, i32::MAX - 1))]));
        dec.decode(&s).unwrap();
        let b = dec.finish_batch().unwrap();
        let iv = b.column(0).as_struct();
        assert!(iv.is_null(0) && iv.is_null(1) && !iv.is_null(2));
        let months = iv.column(0).as_primitive::<Int32Type>();
        assert_eq!(months.value(2), i32::MAX - 1);
        assert_eq!(dec.lossy_counts()["iv"][&LossyRule::InfiniteToNull], 2);
    }

    /// PostgreSQL's binary array: dimensions as (size, lower bound), elements in row-major order.
    fn array(dims: &[(i32, i32)], elements: &[Option<Vec<u8>>]) -> Vec<u8> {
        let mut v = (dims.len() as i32).to_be_bytes().to_vec();
        v.extend(0i32.to_be_bytes());
        v.extend(23i32.to_be_bytes());
        for (size, lower) in dims {
            v.extend(size.to_be_bytes());
            v.extend(lower.to_be_bytes());
        }
        for e in elements {
            match e {
                None => v.extend((-1i32).to_be_bytes()),
                Some(b) => {
                    v.extend((b.len() as i32).to_be_bytes());
                    v.extend(b);
                }
            }
        }
        v
    }

    fn int4(i: i32) -> Option<Vec<u8>> {
        Some(i.to_be_bytes().to_vec())
    }

    #[test]
    fn arrays_keep_their_dimensions_or_are_flattened_and_counted() {
        let grid = crate::source::postgres::typemap::nested_lists(ValueKind::Int32, 2);
        let cols = [column("g", grid, "int4")];
        let mut dec = TupleDecoder::new(&cols, 4).unwrap();
        let mut s = header();
        let two = array(&[(2, 1), (2, 1)], &[int4(1), int4(2), None, int4(4)]);
        let one = array(&[(3, 0)], &[int4(7), int4(8), int4(9)]);
        let empty = array(&[], &[]);
        s.extend(tuple(&[Some(&two)]));
        s.extend(tuple(&[Some(&one)]));
        s.extend(tuple(&[Some(&empty)]));
        s.extend(tuple(&[None]));
        dec.decode(&s).unwrap();
        let b = dec.finish_batch().unwrap();
        let shown: Vec<String> = {
            use arrow::util::display::{ArrayFormatter, FormatOptions};
            let options = FormatOptions::default().with_null("NULL");
            let f = ArrayFormatter::try_new(b.column(0).as_ref(), &options).unwrap();
            (0..4).map(|i| f.value(i).to_string()).collect()
        };
        assert_eq!(shown, ["[[1, 2], [NULL, 4]]", "[[7, 8, 9]]", "[]", "NULL"]);
        assert_eq!(dec.lossy_counts()["g"][&LossyRule::ArrayFlattened], 1);
        assert_eq!(
            dec.lossy_counts()["g"][&LossyRule::ArrayLowerBoundDropped],
            1
        );
    }

    #[test]
    fn records_decode_into_structs_with_null_fields_and_nested_arrays() {
        use crate::types::StructField;
        let kind = ValueKind::Struct {
            fields: vec![
                StructField {
                    name: "a".into(),
                    kind: ValueKind::Int32,
                },
                StructField {
                    name: "xs".into(),
                    kind: crate::source::postgres::typemap::nested_lists(ValueKind::Int32, 1),
                },
            ],
        };
        let record = |a: Option<Vec<u8>>, xs: Option<Vec<u8>>| {
            let mut v = 2i32.to_be_bytes().to_vec();
            for (oid, f) in [(23i32, a), (1007, xs)] {
                v.extend(oid.to_be_bytes());
                match f {
                    None => v.extend((-1i32).to_be_bytes()),
                    Some(b) => {
                        v.extend((b.len() as i32).to_be_bytes());
                        v.extend(b);
                    }
                }
            }
            v
        };
        let cols = [column("r", kind, "(int4,int4)")];
        let mut dec = TupleDecoder::new(&cols, 4).unwrap();
        let mut s = header();
        s.extend(tuple(&[Some(&record(
            int4(5),
            Some(array(&[(2, 1)], &[int4(1), None])),
        ))]));
        s.extend(tuple(&[Some(&record(None, None))]));
        s.extend(tuple(&[None]));
        dec.decode(&s).unwrap();
        let b = dec.finish_batch().unwrap();
        let r = b.column(0).as_struct();
        assert!(!r.is_null(0) && !r.is_null(1) && r.is_null(2));
        let a = r.column(0).as_primitive::<Int32Type>();
        assert_eq!(a.value(0), 5);
        assert!(a.is_null(1));
        let xs = r.column(1).as_list::<i32>();
        assert_eq!(xs.value(0).as_primitive::<Int32Type>().len(), 2);
        assert!(xs.is_null(1));
        // A record of another width than planned is an error, not a shifted row.
        let mut dec = TupleDecoder::new(&cols, 4).unwrap();
        let mut s = header();
        s.extend(tuple(&[Some(&1i32.to_be_bytes()[..])]));
        assert!(dec.decode(&s).is_err());
    }

    #[test]
    fn uuid_is_formatted_canonically() {
        let b: [u8; 16] = [
            0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38,
            0x0a, 0x11,
        ];
        assert_eq!(format_uuid(&b), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    }
}
