//! Decodes one non-NULL scalar of PostgreSQL's binary form and appends it to its builder,
//! writing what Parquet cannot hold (infinities, out-of-range times, text that is not UTF-8)
//! as NULL, counted.

use arrow::array::StringBuilder;

use super::shape::Wire;
use crate::columns::{ColumnBuilder, IntervalBuilder};
use crate::model::LossyRule;
use crate::source::postgres::numeric::{Numeric, decode_numeric, numeric_text};
use crate::source::postgres::time_text::{time_text, timetz_text};

/// Days and microseconds from the Unix epoch to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

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
pub(super) fn decode_scalar(
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
    use crate::source::postgres::decode::TupleDecoder;
    use crate::source::postgres::decode::tests::{column, header, tuple};
    use crate::types::ValueKind;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int32Type;

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

    #[test]
    fn uuid_is_formatted_canonically() {
        let b: [u8; 16] = [
            0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38,
            0x0a, 0x11,
        ];
        assert_eq!(format_uuid(&b), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    }
}
