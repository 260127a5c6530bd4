//! Decodes PostgreSQL's binary COPY stream straight into Arrow builders, one tuple at a time,
//! without building rows. See "Binary Format" in PostgreSQL's COPY documentation. This module
//! holds the stream's framing (header, tuples, trailer) and the decoder over it; its children
//! hold the shape each column's values arrive in (`shape`), the decoding of one scalar
//! (`scalar`), and of arrays and composite values (`nested`).

mod nested;
mod scalar;
mod shape;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use crate::columns::{ColumnBuilder, finish_batch, table_schema};
use crate::error::{Error, Result};
use crate::model::{ColumnDesc, LossyRule, ReadAs};
use crate::source::LossyCounts;
use nested::decode_value;
use shape::Shape;

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ValueKind;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int32Type;

    pub(super) fn column(name: &str, kind: ValueKind, wire: &str) -> ColumnDesc {
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

    pub(super) fn header() -> Vec<u8> {
        let mut h = SIGNATURE.to_vec();
        h.extend(0i32.to_be_bytes());
        h.extend(0i32.to_be_bytes());
        h
    }

    pub(super) fn tuple(fields: &[Option<&[u8]>]) -> Vec<u8> {
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
}
