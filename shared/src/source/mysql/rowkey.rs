//! Split keys that are not one integer column (composite, text, binary, temporal keys): which
//! keys qualify, how their sampled boundary tuples travel in the plan, and the conditions that
//! read the keys between two of them.
//!
//! A range of such a key is a range of boundary ORDINALS `[i, j)` (so the planner's integer
//! arithmetic and file names stay as they are): it reads the keys `k` with
//! `boundary[i] <= k < boundary[j]`, compared as tuples in the key's own order (each column by
//! its collation). Boundaries come from the database's own `ORDER BY` of the key, so they are
//! non-decreasing in exactly that order, and that is all exactly-once needs: for a key `k`, let
//! `i` be the last boundary `<= k` (none: the first range); then `k < boundary[i + 1]`, so `k` is
//! in range `i`; and in no other, since `k < boundary[i + 1] <= boundary[j]` for every `j > i`.
//! Two boundaries the collation compares as equal would only make an empty range.

use mysql_async::Value;

use crate::error::{Error, Result};

/// Column types whose values compare exactly, with the same order in `ORDER BY`, in an index
/// and in `<`/`=` against a bound parameter. Floating point (inexact), BIT, ENUM and SET (they
/// sort by their index but compare with a string as text), JSON, spatial types and BLOB/TEXT
/// (indexable only by a prefix) are left out.
pub(super) fn usable_type(data_type: &str) -> bool {
    matches!(
        data_type,
        "tinyint"
            | "smallint"
            | "mediumint"
            | "int"
            | "integer"
            | "bigint"
            | "decimal"
            | "char"
            | "varchar"
            | "binary"
            | "varbinary"
            | "date"
            | "datetime"
            | "timestamp"
            | "time"
            | "year"
    )
}

/// One boundary value as it is kept in the plan: a tag and a text payload, so that any bytes
/// survive JSON. `i:` signed and `u:` unsigned integers, `x:` bytes in hex (strings in UTF-8,
/// which the session's `SET NAMES utf8mb4` gives, and binary as stored), `n:` a decimal's text,
/// `d:` a date or datetime `y-m-d h:m:s.us`, `t:` a time `[-]days h:m:s.us`.
pub(super) fn encode(v: &Value, decimal: bool) -> Result<String> {
    Ok(match v {
        Value::Int(i) => format!("i:{i}"),
        Value::UInt(u) => format!("u:{u}"),
        Value::Bytes(b) if decimal => {
            let text = std::str::from_utf8(b)
                .ok()
                .filter(|t| decimal_shape(t).is_some())
                .ok_or_else(|| Error::Internal(format!("split key decimal {b:?}")))?;
            format!("n:{text}")
        }
        Value::Bytes(b) => format!("x:{}", hex(b)),
        Value::Date(y, mo, d, h, mi, s, us) => {
            format!("d:{y}-{mo}-{d} {h}:{mi}:{s}.{us}")
        }
        Value::Time(neg, d, h, m, s, us) => {
            format!("t:{}{d} {h}:{m}:{s}.{us}", if *neg { "-" } else { "" })
        }
        other => {
            return Err(Error::Internal(format!(
                "a split key value of an unexpected kind: {other:?}"
            )));
        }
    })
}

/// A boundary value back as the bind parameter and the placeholder that takes it: a decimal
/// is cast to a DECIMAL that holds it exactly (compared with a string, MySQL would compare as
/// floating point); every other value is bound as its own type, and the column's collation
/// governs string comparisons (a column outranks a parameter in collation coercibility).
pub(super) fn decode(encoded: &str) -> Result<(Value, String)> {
    let bad = || {
        Error::Internal(format!(
            "a split key boundary that cannot be read: {encoded:?}"
        ))
    };
    let (tag, body) = encoded.split_once(':').ok_or_else(bad)?;
    let plain = |v: Value| Ok((v, "?".to_string()));
    match tag {
        "i" => plain(Value::Int(body.parse().map_err(|_| bad())?)),
        "u" => plain(Value::UInt(body.parse().map_err(|_| bad())?)),
        "x" => plain(Value::Bytes(unhex(body).ok_or_else(bad)?)),
        "n" => {
            let (digits, scale) = decimal_shape(body).ok_or_else(bad)?;
            Ok((
                Value::Bytes(body.as_bytes().to_vec()),
                format!("CAST(? AS DECIMAL({digits}, {scale}))"),
            ))
        }
        "d" => {
            let (date, time) = body.split_once(' ').ok_or_else(bad)?;
            let mut d = date.split('-').map(str::parse::<u16>);
            let (y, mo, day) = (d.next(), d.next(), d.next());
            let (h, mi, s, us) = clock(time).ok_or_else(bad)?;
            match (y, mo, day, d.next()) {
                (Some(Ok(y)), Some(Ok(mo)), Some(Ok(day)), None) => plain(Value::Date(
                    y,
                    u8::try_from(mo).map_err(|_| bad())?,
                    u8::try_from(day).map_err(|_| bad())?,
                    h,
                    mi,
                    s,
                    us,
                )),
                _ => Err(bad()),
            }
        }
        "t" => {
            let (neg, rest) = match body.strip_prefix('-') {
                Some(r) => (true, r),
                None => (false, body),
            };
            let (days, time) = rest.split_once(' ').ok_or_else(bad)?;
            let (h, m, s, us) = clock(time).ok_or_else(bad)?;
            plain(Value::Time(
                neg,
                days.parse().map_err(|_| bad())?,
                h,
                m,
                s,
                us,
            ))
        }
        _ => Err(bad()),
    }
}

/// `h:m:s.us` as numbers.
fn clock(text: &str) -> Option<(u8, u8, u8, u32)> {
    let (hms, us) = text.split_once('.')?;
    let mut p = hms.split(':').map(|x| x.parse::<u8>().ok());
    let (h, m, s) = (p.next()??, p.next()??, p.next()??);
    p.next().is_none().then_some(())?;
    Some((h, m, s, us.parse().ok()?))
}

/// Digits and scale of a decimal's text (`-123.450` is 6 and 3), within MySQL's DECIMAL limits
/// (65 digits, scale 30), or `None` when it is not plain decimal text.
fn decimal_shape(text: &str) -> Option<(usize, usize)> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let digits = (int.len() + frac.len()).max(1);
    (digits <= 65 && frac.len() <= 30).then_some((digits, frac.len()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Which side of a range a boundary closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    /// `key >= boundary`.
    From,
    /// `key < boundary`.
    Before,
}

/// The condition `(k1, .., kn) >= (v1, .., vn)` (or `<`), spelled out column by column:
/// `k1 > ? OR (k1 = ? AND (k2 > ? OR (k2 = ? AND k3 >= ?)))`. MariaDB 10.11 reads a row
/// constructor comparison `(a, b) >= (?, ?)` with a full scan; this form gives a range scan of
/// the key's index over its whole length (EXPLAIN: `range`, `PRIMARY`, the full key length).
/// `columns` are quoted identifiers; the values are bound in the order of the `?`s.
pub(super) fn tuple_condition(
    columns: &[String],
    boundary: &[String],
    side: Side,
) -> Result<(String, Vec<Value>)> {
    if columns.is_empty() || columns.len() != boundary.len() {
        return Err(Error::Internal(format!(
            "a split key boundary of {} values for {} columns",
            boundary.len(),
            columns.len()
        )));
    }
    let (strict, last) = match side {
        Side::From => (">", ">="),
        Side::Before => ("<", "<"),
    };
    let decoded = boundary
        .iter()
        .map(|b| decode(b))
        .collect::<Result<Vec<_>>>()?;
    let n = columns.len();
    let (value, ph) = &decoded[n - 1];
    let mut sql = format!("{} {last} {ph}", columns[n - 1]);
    let mut params = vec![value.clone()];
    for i in (0..n - 1).rev() {
        let (value, ph) = &decoded[i];
        let c = &columns[i];
        sql = format!("({c} {strict} {ph} OR ({c} = {ph} AND {sql}))");
        let mut outer = vec![value.clone(), value.clone()];
        outer.append(&mut params);
        params = outer;
    }
    Ok((sql, params))
}

/// Thins an ordered stream to at most about `2 * keep` evenly spaced items, whatever its length:
/// every `stride`-th item is kept, and the stride doubles (dropping every other kept item)
/// whenever the kept ones pass `2 * keep` items or `max_bytes` bytes.
pub(super) struct Thinning<T> {
    pub kept: Vec<T>,
    bytes: usize,
    seen: u64,
    stride: u64,
    keep: usize,
    max_bytes: usize,
}

impl<T> Thinning<T> {
    pub fn new(keep: usize, max_bytes: usize) -> Self {
        Thinning {
            kept: Vec::new(),
            bytes: 0,
            seen: 0,
            stride: 1,
            keep: keep.max(1),
            max_bytes,
        }
    }

    /// Offers the next item of the stream, of `size` bytes.
    pub fn push(&mut self, item: T, size: usize) -> bool {
        let take = self.seen.is_multiple_of(self.stride);
        self.seen += 1;
        if !take {
            return false;
        }
        self.kept.push(item);
        self.bytes += size;
        if self.kept.len() > 2 * self.keep || (self.bytes > self.max_bytes && self.kept.len() > 2) {
            let mut i = 0;
            self.kept.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            self.bytes /= 2;
            self.stride *= 2;
        }
        true
    }
}

/// At most `n` of `sorted`, evenly spaced from the first.
pub(super) fn evenly<T: Clone>(sorted: &[T], n: usize) -> Vec<T> {
    if sorted.len() <= n {
        return sorted.to_vec();
    }
    (0..n)
        .map(|i| sorted[i * sorted.len() / n].clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_survive_the_plan() {
        for (v, decimal, text) in [
            (Value::Int(-5), false, "i:-5"),
            (Value::UInt(u64::MAX), false, "u:18446744073709551615"),
            (Value::Bytes(vec![0, 0xff, b'a']), false, "x:00ff61"),
            (Value::Bytes("á".as_bytes().to_vec()), false, "x:c3a1"),
            (Value::Bytes(vec![]), false, "x:"),
            (
                Value::Date(2024, 2, 29, 23, 59, 58, 123_456),
                false,
                "d:2024-2-29 23:59:58.123456",
            ),
            (Value::Date(0, 0, 0, 0, 0, 0, 0), false, "d:0-0-0 0:0:0.0"),
            (
                Value::Time(true, 34, 22, 59, 59, 0),
                false,
                "t:-34 22:59:59.0",
            ),
            (Value::Time(false, 0, 1, 2, 3, 4), false, "t:0 1:2:3.4"),
        ] {
            let e = encode(&v, decimal).unwrap();
            assert_eq!(e, text);
            assert_eq!(decode(&e).unwrap(), (v, "?".to_string()), "{text}");
        }
        let e = encode(&Value::Bytes(b"-123.450".to_vec()), true).unwrap();
        assert_eq!(e, "n:-123.450");
        assert_eq!(
            decode(&e).unwrap(),
            (
                Value::Bytes(b"-123.450".to_vec()),
                "CAST(? AS DECIMAL(6, 3))".to_string()
            )
        );
        assert_eq!(decode("n:0").unwrap().1, "CAST(? AS DECIMAL(1, 0))");
        for bad in [
            "",
            "x:0",
            "x:zz",
            "q:1",
            "i:x",
            "n:1e5",
            "n:1; DROP",
            "d:2024-1-1",
            "t:1",
        ] {
            assert!(decode(bad).is_err(), "{bad}");
        }
        assert!(encode(&Value::Bytes(b"1e5".to_vec()), true).is_err());
        assert!(encode(&Value::Double(1.5), false).is_err());
    }

    #[test]
    fn conditions_compare_tuples_column_by_column() {
        let cols = ["`a`".to_string(), "`b`".to_string(), "`c`".to_string()];
        let b = ["i:1".to_string(), "x:6b".to_string(), "n:2.5".to_string()];
        let (sql, params) = tuple_condition(&cols, &b, Side::From).unwrap();
        assert_eq!(
            sql,
            "(`a` > ? OR (`a` = ? AND (`b` > ? OR (`b` = ? AND `c` >= CAST(? AS DECIMAL(2, 1))))))"
        );
        let k = Value::Bytes(b"k".to_vec());
        let d = Value::Bytes(b"2.5".to_vec());
        assert_eq!(params, vec![Value::Int(1), Value::Int(1), k.clone(), k, d]);
        let (sql, params) = tuple_condition(&cols[..1], &b[..1], Side::Before).unwrap();
        assert_eq!(sql, "`a` < ?");
        assert_eq!(params, vec![Value::Int(1)]);
        let (sql, params) = tuple_condition(&cols[..2], &b[..2], Side::Before).unwrap();
        assert_eq!(sql, "(`a` < ? OR (`a` = ? AND `b` < ?))");
        assert_eq!(params.len(), 3);
        assert!(tuple_condition(&cols, &b[..2], Side::From).is_err());
        assert!(tuple_condition(&[], &[], Side::From).is_err());
    }

    #[test]
    fn thinning_keeps_an_even_spread() {
        let mut t = Thinning::new(10, usize::MAX);
        for i in 0..1000u32 {
            t.push(i, 4);
        }
        assert!(t.kept.len() <= 20 && t.kept.len() >= 10, "{:?}", t.kept);
        assert_eq!(t.kept[0], 0);
        let steps: Vec<u32> = t.kept.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(steps.iter().all(|s| *s == steps[0]), "{steps:?}");
        let mut small = Thinning::new(10, 100);
        for i in 0..1000u32 {
            small.push(i, 10);
        }
        assert!(small.kept.len() <= 11, "{}", small.kept.len());
        assert_eq!(evenly(&[1, 2, 3], 5), vec![1, 2, 3]);
        assert_eq!(evenly(&(0..10).collect::<Vec<_>>(), 5), vec![0, 2, 4, 6, 8]);
    }
}
