//! Reads one piece with a prepared `SELECT` (the binary protocol: typed values, bind
//! parameters) and appends each row's values to Arrow builders, cutting bounded batches.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use chrono::NaiveDate;
use mysql_async::prelude::Queryable;
use mysql_async::{BinaryProtocol, Conn, QueryResult, Value};

use super::rowkey::{Side, tuple_condition};
use super::sql::{quote_ident, quote_table};
use crate::columns::{ColumnBuilder, finish_batch, table_schema};
use crate::error::{Error, Result};
use crate::limits::BatchLimits;
use crate::model::{KeyRange, LossyRule, PartFilter, ReadAs, SplitKey, TableDesc};
use crate::source::LossyCounts;
use crate::source::timeouts::ReadLimit;

/// How a column's values arrive and are turned into its builder's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    Int,
    Decimal,
    Float,
    Bit,
    Date,
    DateTime,
    /// TIME with this many fractional digits.
    Time(u8),
    Text,
    Binary,
}

impl Wire {
    fn of(name: &str) -> Option<Wire> {
        Some(match name {
            "int" => Wire::Int,
            "decimal" => Wire::Decimal,
            "float" => Wire::Float,
            "bit" => Wire::Bit,
            "date" => Wire::Date,
            "datetime" => Wire::DateTime,
            "text" => Wire::Text,
            "binary" => Wire::Binary,
            t => Wire::Time(t.strip_prefix("time:")?.parse().ok()?),
        })
    }
}

struct Column {
    name: String,
    wire: Wire,
    builder: ColumnBuilder,
}

/// A running read of one piece.
pub struct RowReader<'a> {
    result: QueryResult<'a, 'static, BinaryProtocol>,
    schema: SchemaRef,
    columns: Vec<Column>,
    limits: BatchLimits,
    lossy: LossyCounts,
    context: String,
    done: bool,
    /// Each row must arrive within it.
    read: ReadLimit,
}

/// The SELECT of one piece, its bounds and partition value all `?` parameters.
fn select_sql(
    table: &TableDesc,
    range: Option<KeyRange>,
    filter: Option<&PartFilter>,
) -> Result<(String, Vec<Value>)> {
    let list = table
        .columns
        .iter()
        .map(|c| {
            let q = quote_ident(&c.name);
            match c.read {
                ReadAs::Native => q,
                ReadAs::Text | ReadAs::TextArray => format!("CAST({q} AS CHAR)"),
                ReadAs::Wkb => format!("ST_AsBinary({q})"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut sql = format!("SELECT {list} FROM {}", quote_table(&table.name));
    let mut params = Vec::new();
    let mut conds = Vec::new();
    if let (
        Some(r),
        Some(SplitKey {
            tuples: Some(tuples),
            ..
        }),
    ) = (range, &table.split_key)
    {
        // A range of boundary ordinals: keys from boundary `lo` up to boundary `hi`.
        let columns: Vec<String> = tuples.columns.iter().map(|c| quote_ident(c)).collect();
        for (ordinal, side) in [(r.lo, Side::From), (r.hi, Side::Before)] {
            let Some(i) = ordinal else { continue };
            let boundary = usize::try_from(i)
                .ok()
                .and_then(|i| tuples.boundaries.get(i))
                .ok_or_else(|| {
                    Error::Internal(format!(
                        "{}: range {r:?} beyond the split key's {} boundaries",
                        table.name,
                        tuples.boundaries.len()
                    ))
                })?;
            let (cond, values) = tuple_condition(&columns, boundary, side)?;
            conds.push(cond);
            params.extend(values);
        }
    } else if let (Some(r), Some(key)) = (range, &table.split_key) {
        let k = quote_ident(&key.column);
        if let Some(lo) = r.lo {
            conds.push(format!("{k} >= ?"));
            params.push(Value::Int(lo));
        }
        if let Some(hi) = r.hi {
            conds.push(format!("{k} < ?"));
            params.push(Value::Int(hi));
        }
    }
    if let (Some(f), Some(p)) = (filter, &table.partition_by) {
        let c = quote_ident(&p.column);
        match f {
            // Compared in the column's own type, so an index on it serves the range; the
            // last test keeps out zero and partial dates, which go with the NULLs (they are
            // written as NULL) but would otherwise compare as dates of December.
            PartFilter::TimeRange { lo, hi } => {
                conds.push(format!(
                    "{c} >= {EPOCH} + INTERVAL ? SECOND AND {c} < {EPOCH} + INTERVAL ? SECOND \
                     AND {} IS NOT NULL",
                    epoch_seconds(&c)
                ));
                params.extend([Value::Int(*lo), Value::Int(*hi)]);
            }
            PartFilter::TimeNull => conds.push(format!("{} IS NULL", epoch_seconds(&c))),
            PartFilter::ValueEquals { text } => {
                conds.push(format!("{} = ?", exact_text(&c)));
                params.push(Value::Bytes(text.as_bytes().to_vec()));
            }
            PartFilter::ValueNull => conds.push(format!("{c} IS NULL")),
            PartFilter::KeyRangeOnly => {}
        }
    }
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    Ok((sql, params))
}

/// The Unix epoch as a DATETIME. Times are compared and grouped in UTC: the session's
/// `time_zone` is `+00:00`, which is how TIMESTAMP columns read.
pub(crate) const EPOCH: &str = "TIMESTAMP('1970-01-01 00:00:00')";

/// Seconds since the epoch of a time column's value; NULL for NULL and for dates that are no
/// instant (zero and partial dates).
pub(crate) fn epoch_seconds(column: &str) -> String {
    format!("TIMESTAMPDIFF(SECOND, {EPOCH}, {column})")
}

/// A column's value as exact UTF-8 bytes: compared byte for byte, not by the column's
/// collation (which may fold case or accents and would put one row in two partitions' reach).
pub(crate) fn exact_text(column: &str) -> String {
    format!("CAST(CONVERT({column} USING utf8mb4) AS BINARY)")
}

impl<'a> RowReader<'a> {
    pub async fn start(
        conn: &'a mut Conn,
        table: &TableDesc,
        range: Option<KeyRange>,
        filter: Option<&PartFilter>,
        limits: BatchLimits,
        read: &ReadLimit,
    ) -> Result<RowReader<'a>> {
        let context = format!("reading {}", table.name);
        let mut columns = Vec::with_capacity(table.columns.len());
        for c in &table.columns {
            let wire = Wire::of(&c.wire).ok_or_else(|| {
                Error::Internal(format!(
                    "column {} has no decoder for wire type {}",
                    c.name, c.wire
                ))
            })?;
            columns.push(Column {
                name: c.name.clone(),
                wire,
                builder: ColumnBuilder::new(&c.kind, limits.initial_rows(table.columns.len())),
            });
        }
        let (sql, params) = select_sql(table, range, filter)?;
        let started = async {
            conn.exec_iter(sql, params)
                .await
                .map_err(|e| Error::mysql(&context, e))
        };
        let result = read.read(&context, started).await?;
        Ok(RowReader {
            result,
            schema: table_schema(&table.columns),
            columns,
            limits,
            lossy: LossyCounts::new(),
            context,
            done: false,
            read: read.clone(),
        })
    }

    pub fn lossy_counts(&self) -> &LossyCounts {
        &self.lossy
    }

    /// The next batch, or `None` when the piece is fully read.
    pub async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let mut rows = 0usize;
        let mut bytes = 0usize;
        while !self.done && rows < self.limits.rows && bytes < self.limits.bytes {
            let (result, context) = (&mut self.result, &self.context);
            let next = async { result.next().await.map_err(|e| Error::mysql(context, e)) };
            let Some(row) = self.read.read(&self.context, next).await? else {
                self.done = true;
                break;
            };
            let values = row.unwrap();
            if values.len() != self.columns.len() {
                return Err(Error::Internal(format!(
                    "{}: row has {} values",
                    self.context,
                    values.len()
                )));
            }
            for (col, value) in self.columns.iter_mut().zip(values) {
                bytes += match &value {
                    Value::Bytes(b) => b.len(),
                    _ => 8,
                };
                let lossy = &mut self.lossy;
                append(col.wire, value, &mut col.builder, &mut |rule| {
                    *lossy
                        .entry(col.name.clone())
                        .or_default()
                        .entry(rule)
                        .or_default() += 1;
                })
                .map_err(|detail| Error::Decode {
                    column: col.name.clone(),
                    detail,
                })?;
            }
            rows += 1;
        }
        if rows == 0 {
            return Ok(None);
        }
        finish_batch(
            &self.schema,
            self.columns.iter_mut().map(|c| &mut c.builder),
            rows,
        )
        .map(Some)
        .map_err(|e| Error::Internal(format!("assembling a batch: {e}")))
    }
}

fn int_of(v: &Value) -> Result<i128, String> {
    match v {
        Value::Int(i) => Ok(*i as i128),
        Value::UInt(u) => Ok(*u as i128),
        Value::Bytes(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| "not an integer".into()),
        other => Err(format!("expected an integer, got {other:?}")),
    }
}

fn narrow<T: TryFrom<i128>>(v: i128) -> Result<T, String> {
    T::try_from(v).map_err(|_| format!("{v} does not fit the column's type"))
}

/// Parses MySQL's decimal text (`-123.4500`) into an integer at `scale` decimal places.
pub(crate) fn parse_decimal(text: &str, scale: i8) -> Result<i128, String> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let scale = scale.max(0) as usize;
    if frac.len() > scale && frac[scale..].bytes().any(|b| b != b'0') {
        return Err(format!(
            "decimal {text} has more than {scale} decimal places"
        ));
    }
    let mut acc: i128 = 0;
    let frac_digits = frac.bytes().chain(std::iter::repeat(b'0')).take(scale);
    for b in int.bytes().chain(frac_digits) {
        if !b.is_ascii_digit() {
            return Err(format!("decimal {text} is not a number"));
        }
        acc = acc
            .checked_mul(10)
            .and_then(|a| a.checked_add((b - b'0') as i128))
            .ok_or("decimal overflows 38 digits")?;
    }
    Ok(if neg { -acc } else { acc })
}

/// Microseconds since the Unix epoch, or `None` for a zero, partly-zero or invalid date.
fn micros(y: u16, mo: u8, d: u8, h: u8, mi: u8, s: u8, us: u32) -> Option<i64> {
    let date = NaiveDate::from_ymd_opt(y as i32, mo as u32, d as u32)?;
    let t = date.and_hms_micro_opt(h as u32, mi as u32, s as u32, us)?;
    Some(t.and_utc().timestamp_micros())
}

fn days(y: u16, mo: u8, d: u8) -> Option<i32> {
    let date = NaiveDate::from_ymd_opt(y as i32, mo as u32, d as u32)?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
    i32::try_from((date - epoch).num_days()).ok()
}

/// MySQL's text form of TIME: `-838:59:59`, `25:00:00.5` (fraction to the declared digits).
fn format_time(neg: bool, d: u32, h: u8, m: u8, s: u8, us: u32, digits: u8) -> String {
    let hours = d as u64 * 24 + h as u64;
    let mut out = format!("{}{hours:02}:{m:02}:{s:02}", if neg { "-" } else { "" });
    if digits > 0 {
        let frac = format!("{us:06}");
        out.push('.');
        out.push_str(&frac[..(digits as usize).min(6)]);
    }
    out
}

fn append(
    wire: Wire,
    v: Value,
    builder: &mut ColumnBuilder,
    lossy: &mut dyn FnMut(LossyRule),
) -> Result<(), String> {
    use ColumnBuilder as B;
    if v == Value::NULL {
        builder.append_null();
        return Ok(());
    }
    match (wire, builder) {
        (Wire::Int, B::Int16(b)) => b.append_value(narrow(int_of(&v)?)?),
        (Wire::Int, B::Int32(b)) => b.append_value(narrow(int_of(&v)?)?),
        (Wire::Int, B::Int64(b)) => b.append_value(narrow(int_of(&v)?)?),
        (Wire::Int, B::Decimal(b, ..)) => b.append_value(int_of(&v)?),
        (Wire::Decimal, B::Decimal(b, _, scale)) => match &v {
            Value::Bytes(t) => b.append_value(parse_decimal(
                std::str::from_utf8(t).map_err(|e| e.to_string())?,
                *scale,
            )?),
            other => return Err(format!("expected decimal text, got {other:?}")),
        },
        (Wire::Float, B::Float32(b)) => match v {
            Value::Float(f) => b.append_value(f),
            Value::Double(f) => b.append_value(f as f32),
            other => return Err(format!("expected a float, got {other:?}")),
        },
        (Wire::Float, B::Float64(b)) => match v {
            Value::Double(f) => b.append_value(f),
            Value::Float(f) => b.append_value(f as f64),
            other => return Err(format!("expected a double, got {other:?}")),
        },
        (Wire::Bit, builder) => {
            // BIT(n) arrives as big-endian bytes.
            let bits = match &v {
                Value::Bytes(bytes) if bytes.len() <= 8 => {
                    bytes.iter().fold(0u64, |a, b| (a << 8) | *b as u64)
                }
                Value::Int(_) | Value::UInt(_) => int_of(&v)? as u64,
                other => return Err(format!("expected BIT bytes, got {other:?}")),
            };
            match builder {
                B::Boolean(b) => b.append_value(bits != 0),
                B::Int64(b) => b.append_value(narrow(bits as i128)?),
                B::Decimal(b, ..) => b.append_value(bits as i128),
                _ => return Err("BIT column with an unexpected builder".into()),
            }
        }
        (Wire::Date, B::Date(b)) => match v {
            Value::Date(y, mo, d, ..) => match days(y, mo, d) {
                Some(n) => b.append_value(n),
                None => {
                    lossy(LossyRule::ZeroDateToNull);
                    b.append_null()
                }
            },
            other => return Err(format!("expected a date, got {other:?}")),
        },
        (Wire::DateTime, B::Timestamp(b, _)) => match v {
            Value::Date(y, mo, d, h, mi, s, us) => match micros(y, mo, d, h, mi, s, us) {
                Some(n) => b.append_value(n),
                None => {
                    lossy(LossyRule::ZeroDateToNull);
                    b.append_null()
                }
            },
            other => return Err(format!("expected a datetime, got {other:?}")),
        },
        (Wire::Time(digits), B::Text(b)) => match v {
            Value::Time(neg, d, h, m, s, us) => {
                b.append_value(format_time(neg, d, h, m, s, us, digits))
            }
            other => return Err(format!("expected a time, got {other:?}")),
        },
        (Wire::Text, B::Text(b)) => match &v {
            // The session is utf8mb4, so the server converts every charset (unconvertible
            // characters become `?` on its side); bytes that still are not UTF-8 become NULL.
            Value::Bytes(t) => match std::str::from_utf8(t) {
                Ok(s) => b.append_value(s),
                Err(_) => {
                    lossy(LossyRule::InvalidUtf8ToNull);
                    b.append_null()
                }
            },
            other => b.append_value(other.as_sql(true)),
        },
        (Wire::Binary, B::Binary(b)) => match &v {
            Value::Bytes(t) => b.append_value(t),
            other => return Err(format!("expected bytes, got {other:?}")),
        },
        (wire, _) => {
            return Err(format!(
                "internal: wire type {wire:?} does not match the column's builder"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_parse_at_scale() {
        assert_eq!(parse_decimal("-123.4500", 4), Ok(-1234500));
        assert_eq!(parse_decimal("0.01", 2), Ok(1));
        assert_eq!(
            parse_decimal("18446744073709551615", 0),
            Ok(18446744073709551615)
        );
        assert_eq!(parse_decimal("1.5", 3), Ok(1500));
        assert!(parse_decimal("1.25", 1).is_err());
        assert!(parse_decimal("1e5", 0).is_err());
    }

    #[test]
    fn times_keep_sign_hours_and_declared_digits() {
        assert_eq!(format_time(true, 34, 22, 59, 59, 0, 0), "-838:59:59");
        assert_eq!(format_time(false, 1, 1, 0, 0, 0, 0), "25:00:00");
        assert_eq!(format_time(false, 0, 0, 0, 0, 500_000, 1), "00:00:00.5");
        assert_eq!(format_time(false, 0, 13, 5, 7, 123, 6), "13:05:07.000123");
    }

    #[test]
    fn text_that_is_not_utf8_becomes_null_and_is_counted() {
        let mut b = ColumnBuilder::new(&crate::types::ValueKind::Text, 2);
        let mut fired = Vec::new();
        for v in [b"ok".to_vec(), b"caf\xe9".to_vec()] {
            append(Wire::Text, Value::Bytes(v), &mut b, &mut |r| fired.push(r)).unwrap();
        }
        let a = b.finish().unwrap();
        let a = arrow::array::AsArray::as_string::<i32>(&a);
        assert_eq!(a.value(0), "ok");
        assert!(arrow::array::Array::is_null(a, 1));
        assert_eq!(fired, [LossyRule::InvalidUtf8ToNull]);
    }

    #[test]
    fn zero_and_invalid_dates_have_no_instant() {
        assert_eq!(days(0, 0, 0), None);
        assert_eq!(days(2024, 0, 15), None);
        assert_eq!(days(2024, 2, 30), None);
        assert_eq!(days(1970, 1, 2), Some(1));
        assert_eq!(micros(1969, 12, 31, 23, 59, 59, 999_999), Some(-1));
    }

    #[test]
    fn ranges_become_bound_parameters() {
        let table = TableDesc {
            name: crate::model::TableName::new("d", "t"),
            columns: vec![],
            primary_key: vec!["id".into()],
            split_key: Some(crate::model::SplitKey {
                physical: false,
                quantiles: vec![],
                column: "id".into(),
                bounds: None,
                tuples: None,
            }),
            estimated_bytes: 0,
            estimated_rows: None,
            partitions: vec![],
            partition_by: None,
        };
        let (sql, params) = select_sql(
            &table,
            Some(KeyRange {
                lo: Some(5),
                hi: None,
            }),
            None,
        )
        .unwrap();
        assert!(sql.ends_with("FROM `d`.`t` WHERE `id` >= ?"), "{sql}");
        assert_eq!(params, vec![Value::Int(5)]);
        let (sql, params) = select_sql(
            &table,
            Some(KeyRange {
                lo: Some(-1),
                hi: Some(9),
            }),
            None,
        )
        .unwrap();
        assert!(sql.ends_with("WHERE `id` >= ? AND `id` < ?"), "{sql}");
        assert_eq!(params.len(), 2);
    }

    #[test]
    fn tuple_key_ranges_bind_their_boundaries() {
        let boundaries: Vec<Vec<String>> = (0..4)
            .map(|i| vec![format!("i:{i}"), "x:6b".to_string()])
            .collect();
        let table = TableDesc {
            name: crate::model::TableName::new("d", "t"),
            columns: vec![],
            primary_key: vec!["a".into(), "b`".into()],
            split_key: Some(SplitKey {
                physical: true,
                quantiles: vec![],
                column: "a, b`".into(),
                bounds: Some((0, 3)),
                tuples: Some(crate::model::TupleKey {
                    columns: vec!["a".into(), "b`".into()],
                    boundaries,
                }),
            }),
            estimated_bytes: 0,
            estimated_rows: None,
            partitions: vec![],
            partition_by: None,
        };
        let read = |lo, hi| select_sql(&table, Some(KeyRange { lo, hi }), None);
        let k = Value::Bytes(b"k".to_vec());
        // The first range: no lower side at all.
        let (sql, params) = read(None, Some(2)).unwrap();
        assert!(
            sql.ends_with("FROM `d`.`t` WHERE (`a` < ? OR (`a` = ? AND `b``` < ?))"),
            "{sql}"
        );
        assert_eq!(params, vec![Value::Int(2), Value::Int(2), k.clone()]);
        let (sql, params) = read(Some(1), Some(3)).unwrap();
        assert!(
            sql.ends_with(
                "WHERE (`a` > ? OR (`a` = ? AND `b``` >= ?)) \
                 AND (`a` < ? OR (`a` = ? AND `b``` < ?))"
            ),
            "{sql}"
        );
        assert_eq!(
            params,
            vec![
                Value::Int(1),
                Value::Int(1),
                k.clone(),
                Value::Int(3),
                Value::Int(3),
                k.clone()
            ]
        );
        // The last range: no upper side.
        let (sql, params) = read(Some(3), None).unwrap();
        assert!(
            sql.ends_with("WHERE (`a` > ? OR (`a` = ? AND `b``` >= ?))"),
            "{sql}"
        );
        assert_eq!(params.len(), 3);
        let (sql, params) = select_sql(&table, None, None).unwrap();
        assert!(sql.ends_with("FROM `d`.`t`"), "{sql}");
        assert!(params.is_empty());
        // An ordinal with no boundary is an error, never a read without bounds.
        assert!(read(Some(4), None).is_err());
        assert!(read(Some(-1), None).is_err());
    }
}
