//! MySQL's and MariaDB's type map: one `match` from `information_schema.COLUMNS` to the value
//! shape we write and the way we read it. The MySQL type table in docs/types.md is the prose
//! form.

use crate::model::{LossyRule, ReadAs};
use crate::source::{Mapping, Unsupported};
use crate::types::{MAX_DECIMAL128_PRECISION, ValueKind};

/// What `information_schema.COLUMNS` says of one column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyColumnType {
    /// `DATA_TYPE`, lowercase: `bigint`, `decimal`, `varchar`, `point`, `inet6`, ...
    pub data_type: String,
    /// `COLUMN_TYPE`: `bigint(20) unsigned`, `decimal(65,30)`, `enum('a','b')`, `datetime(6)`.
    pub column_type: String,
    /// `NUMERIC_PRECISION` (digits for decimals, bits for BIT).
    pub precision: Option<u64>,
    pub scale: Option<u64>,
    /// `DATETIME_PRECISION`: fractional second digits of TIME, DATETIME, TIMESTAMP.
    pub datetime_precision: Option<u64>,
}

impl MyColumnType {
    fn unsigned(&self) -> bool {
        self.column_type.to_ascii_lowercase().contains("unsigned")
    }
}

fn m(kind: ValueKind, wire: &str) -> Mapping {
    Mapping {
        kind,
        read: ReadAs::Native,
        wire: wire.to_string(),
        lossy: vec![],
    }
}

fn dates(kind: ValueKind, wire: &str) -> Mapping {
    Mapping {
        lossy: vec![LossyRule::ZeroDateToNull],
        ..m(kind, wire)
    }
}

/// Every integer of up to 64 unsigned bits, as Athena's widest exact type.
const U64_DECIMAL: ValueKind = ValueKind::Decimal {
    precision: 20,
    scale: 0,
};

pub fn map_type(t: &MyColumnType) -> Result<Mapping, Unsupported> {
    let unsigned = t.unsigned();
    Ok(match t.data_type.as_str() {
        // Widened where unsigned, so every value fits; BOOL is TINYINT(1) and may hold any tinyint.
        "tinyint" => m(ValueKind::Int16, "int"),
        "smallint" if unsigned => m(ValueKind::Int32, "int"),
        "smallint" => m(ValueKind::Int16, "int"),
        "mediumint" => m(ValueKind::Int32, "int"),
        "int" | "integer" if unsigned => m(ValueKind::Int64, "int"),
        "int" | "integer" => m(ValueKind::Int32, "int"),
        "bigint" if unsigned => m(U64_DECIMAL, "int"),
        "bigint" => m(ValueKind::Int64, "int"),
        "decimal" | "numeric" => match (t.precision, t.scale) {
            (Some(p), Some(s)) if p <= MAX_DECIMAL128_PRECISION as u64 && s <= p => m(
                ValueKind::Decimal {
                    precision: p as u8,
                    scale: s as i8,
                },
                "decimal",
            ),
            // Wider than Decimal128: MySQL's exact text.
            _ => m(ValueKind::Text, "text"),
        },
        "float" => m(ValueKind::Float32, "float"),
        "double" | "real" => m(ValueKind::Float64, "float"),
        "bit" => match t.precision.unwrap_or(1) {
            1 => m(ValueKind::Boolean, "bit"),
            2..=63 => m(ValueKind::Int64, "bit"),
            _ => m(U64_DECIMAL, "bit"),
        },
        "year" => m(ValueKind::Int16, "int"),
        "date" => dates(ValueKind::Date, "date"),
        "datetime" => dates(ValueKind::Timestamp { utc: false }, "datetime"),
        // The session time zone is UTC, so TIMESTAMP values arrive as UTC instants.
        "timestamp" => dates(ValueKind::Timestamp { utc: true }, "datetime"),
        // Athena has no time-of-day type, and MySQL's TIME is a signed duration up to 838 hours.
        "time" => m(ValueKind::Text, "time"),
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set"
        | "json" => m(ValueKind::Text, "text"),
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
            m(ValueKind::Binary, "binary")
        }
        "geometry" | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring"
        | "multipolygon" | "geometrycollection" | "geomcollection" => Mapping {
            read: ReadAs::Wkb,
            ..m(ValueKind::Binary, "binary")
        },
        // MariaDB's own types: their text form.
        "inet4" | "inet6" | "uuid" => Mapping {
            read: ReadAs::Text,
            ..m(ValueKind::Text, "text")
        },
        other => {
            return Err(Unsupported(format!(
                "type {other} ({}) is not in snapex's MySQL type map",
                t.column_type
            )));
        }
    })
}

/// True for the integer types a table can be split on.
pub fn is_integer(data_type: &str) -> bool {
    matches!(
        data_type,
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(
        data_type: &str,
        column_type: &str,
        precision: Option<u64>,
        scale: Option<u64>,
    ) -> MyColumnType {
        MyColumnType {
            data_type: data_type.into(),
            column_type: column_type.into(),
            precision,
            scale,
            datetime_precision: None,
        }
    }

    #[test]
    fn integers_widen_where_unsigned() {
        let kind = |dt: &str, ct: &str| map_type(&col(dt, ct, None, None)).unwrap().kind;
        assert_eq!(kind("tinyint", "tinyint(3) unsigned"), ValueKind::Int16);
        assert_eq!(kind("smallint", "smallint(5) unsigned"), ValueKind::Int32);
        assert_eq!(kind("int", "int(10) unsigned"), ValueKind::Int64);
        assert_eq!(kind("bigint", "bigint(20) unsigned"), U64_DECIMAL);
        assert_eq!(kind("bigint", "bigint(20)"), ValueKind::Int64);
    }

    #[test]
    fn decimals_beyond_38_digits_are_text() {
        let k = |p, s| {
            map_type(&col("decimal", "decimal", Some(p), Some(s)))
                .unwrap()
                .kind
        };
        assert_eq!(
            k(38, 10),
            ValueKind::Decimal {
                precision: 38,
                scale: 10
            }
        );
        assert_eq!(k(65, 30), ValueKind::Text);
    }

    #[test]
    fn bits_dates_spatial_and_unknowns() {
        let bit = |n| map_type(&col("bit", "bit", Some(n), None)).unwrap().kind;
        assert_eq!(bit(1), ValueKind::Boolean);
        assert_eq!(bit(5), ValueKind::Int64);
        assert_eq!(bit(64), U64_DECIMAL);
        assert_eq!(
            map_type(&col("date", "date", None, None)).unwrap().lossy,
            vec![LossyRule::ZeroDateToNull]
        );
        assert_eq!(
            map_type(&col("point", "point", None, None)).unwrap().read,
            ReadAs::Wkb
        );
        assert!(
            map_type(&col("vector", "vector(3)", None, None))
                .unwrap_err()
                .0
                .contains("vector")
        );
    }
}
