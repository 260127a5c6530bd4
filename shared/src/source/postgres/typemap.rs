//! PostgreSQL's type map: one `match` from a resolved catalog type to the value shape we write
//! and the way we read it. The README's type table is the prose form of this file.

use crate::model::{LossyRule, ReadAs};
use crate::source::{Mapping, Unsupported};
use crate::types::{MAX_DECIMAL128_PRECISION, ValueKind};

/// A catalog type with domains already resolved to their base type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgType {
    /// `pg_type.typname` of the base type, e.g. `int4`, `numeric`, `mood`.
    pub name: String,
    /// Schema of the type: built-ins live in `pg_catalog`.
    pub schema: String,
    /// `pg_type.typtype`: b(ase), c(omposite), d(omain), e(num), p(seudo), r(ange), m(ultirange).
    pub typtype: char,
    /// For arrays, the element type (itself resolved); `None` otherwise.
    pub element: Option<Box<PgType>>,
}

/// Maps a column's resolved type and type modifier to its export.
pub fn map_type(ty: &PgType, typmod: i32) -> Result<Mapping, Unsupported> {
    if let Some(element) = &ty.element {
        return map_array(element, typmod);
    }
    let scalar = map_scalar(ty, typmod)?;
    Ok(scalar)
}

fn map_array(element: &PgType, typmod: i32) -> Result<Mapping, Unsupported> {
    let inner = map_scalar(element, typmod)?;
    let mut lossy = inner.lossy;
    lossy.extend([LossyRule::ArrayFlattened, LossyRule::ArrayLowerBoundDropped]);
    let read = match inner.read {
        ReadAs::Native => ReadAs::Native,
        ReadAs::Text | ReadAs::TextArray | ReadAs::Wkb => ReadAs::TextArray,
    };
    Ok(Mapping {
        kind: ValueKind::List {
            element: Box::new(inner.kind),
        },
        read,
        wire: inner.wire,
        lossy,
    })
}

fn native(kind: ValueKind, wire: &str) -> Mapping {
    Mapping {
        kind,
        read: ReadAs::Native,
        wire: wire.to_string(),
        lossy: vec![],
    }
}

/// The column is read as the server's text output of its type.
fn as_text() -> Mapping {
    Mapping {
        kind: ValueKind::Text,
        read: ReadAs::Text,
        wire: "text".into(),
        lossy: vec![],
    }
}

fn map_scalar(ty: &PgType, typmod: i32) -> Result<Mapping, Unsupported> {
    match ty.typtype {
        // Enum labels travel as text in binary COPY.
        'e' => return Ok(native(ValueKind::Text, "text")),
        // Composite, range and multirange values: their text form, e.g. `[1,10)` or `(1,"a b")`.
        'c' | 'r' | 'm' => return Ok(as_text()),
        'p' => {
            return Err(Unsupported(format!(
                "pseudo-type {} cannot be stored in a table column",
                ty.name
            )));
        }
        _ => {}
    }
    if ty.schema != "pg_catalog" {
        // A base type from an extension (citext, hstore, PostGIS geometry, ...): its text form.
        return Ok(as_text());
    }
    let m = match ty.name.as_str() {
        "bool" => native(ValueKind::Boolean, "bool"),
        "int2" => native(ValueKind::Int16, "int2"),
        "int4" => native(ValueKind::Int32, "int4"),
        "int8" => native(ValueKind::Int64, "int8"),
        // Unsigned 32-bit: widened so every value fits.
        "oid" | "xid" | "cid" => native(ValueKind::Int64, "oid"),
        "float4" => native(ValueKind::Float32, "float4"),
        "float8" => native(ValueKind::Float64, "float8"),
        "numeric" => map_numeric(typmod),
        "text" | "varchar" | "bpchar" | "name" | "json" => native(ValueKind::Text, "text"),
        "jsonb" => native(ValueKind::Text, "jsonb"),
        "bytea" => native(ValueKind::Binary, "bytea"),
        "uuid" => native(ValueKind::Text, "uuid"),
        "date" => Mapping {
            lossy: vec![LossyRule::InfiniteToNull],
            ..native(ValueKind::Date, "date")
        },
        "timestamp" => Mapping {
            lossy: vec![LossyRule::InfiniteToNull, LossyRule::OutOfRangeToNull],
            ..native(ValueKind::Timestamp { utc: false }, "timestamp")
        },
        "timestamptz" => Mapping {
            lossy: vec![LossyRule::InfiniteToNull, LossyRule::OutOfRangeToNull],
            ..native(ValueKind::Timestamp { utc: true }, "timestamptz")
        },
        "interval" => Mapping {
            lossy: vec![LossyRule::InfiniteToNull],
            ..native(ValueKind::Interval, "interval")
        },
        // Athena has no time-of-day type: ISO text `HH:MM:SS[.ffffff][+HH]`.
        "time" | "timetz" => as_text(),
        // Text forms are the canonical, lossless representation of these.
        "char"
        | "money"
        | "bit"
        | "varbit"
        | "inet"
        | "cidr"
        | "macaddr"
        | "macaddr8"
        | "point"
        | "line"
        | "lseg"
        | "box"
        | "path"
        | "polygon"
        | "circle"
        | "tsvector"
        | "tsquery"
        | "xml"
        | "pg_lsn"
        | "xid8"
        | "txid_snapshot"
        | "pg_snapshot"
        | "jsonpath"
        | "regclass"
        | "regproc"
        | "regprocedure"
        | "regoper"
        | "regoperator"
        | "regtype"
        | "regconfig"
        | "regdictionary"
        | "regnamespace"
        | "regrole"
        | "regcollation"
        | "aclitem"
        | "int2vector"
        | "oidvector"
        | "tid"
        | "refcursor"
        | "gtsvector"
        | "pg_ndistinct"
        | "pg_dependencies"
        | "pg_mcv_list"
        | "pg_node_tree"
        | "pg_brin_bloom_summary"
        | "pg_brin_minmax_multi_summary" => as_text(),
        other => {
            return Err(Unsupported(format!(
                "type pg_catalog.{other} is not in snapex's PostgreSQL type map"
            )));
        }
    };
    Ok(m)
}

/// `numeric(p,s)` fits Decimal128 when `0 <= s <= p <= 38`. Anything else (unconstrained,
/// wider, negative scale, scale above precision) is exported as its exact text form.
fn map_numeric(typmod: i32) -> Mapping {
    match numeric_precision_scale(typmod) {
        Some((p, s)) if p <= MAX_DECIMAL128_PRECISION as i32 && (0..=p).contains(&s) => Mapping {
            kind: ValueKind::Decimal {
                precision: p as u8,
                scale: s as i8,
            },
            read: ReadAs::Native,
            wire: "numeric".into(),
            lossy: vec![LossyRule::NumericSpecialToNull],
        },
        _ => as_text(),
    }
}

/// Decodes a numeric typmod: `((p << 16) | (s & 0x7ff)) + 4`, scale sign-extended from 11 bits
/// (PostgreSQL 15 allows negative scales). `None` for an unconstrained numeric.
pub fn numeric_precision_scale(typmod: i32) -> Option<(i32, i32)> {
    if typmod < 4 {
        return None;
    }
    let t = typmod - 4;
    let precision = (t >> 16) & 0xffff;
    let scale = ((t & 0x7ff) ^ 1024) - 1024;
    Some((precision, scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin(name: &str) -> PgType {
        PgType {
            name: name.into(),
            schema: "pg_catalog".into(),
            typtype: 'b',
            element: None,
        }
    }

    fn typmod(p: i32, s: i32) -> i32 {
        ((p << 16) | (s & 0x7ff)) + 4
    }

    #[test]
    fn numeric_typmods_decode_including_negative_scale() {
        assert_eq!(numeric_precision_scale(-1), None);
        assert_eq!(numeric_precision_scale(typmod(38, 10)), Some((38, 10)));
        assert_eq!(numeric_precision_scale(typmod(5, -2)), Some((5, -2)));
        assert_eq!(numeric_precision_scale(typmod(1000, 0)), Some((1000, 0)));
    }

    #[test]
    fn numeric_within_38_digits_is_decimal_else_text() {
        let n = builtin("numeric");
        assert_eq!(
            map_type(&n, typmod(38, 38)).unwrap().kind,
            ValueKind::Decimal {
                precision: 38,
                scale: 38
            }
        );
        assert_eq!(map_type(&n, typmod(39, 2)).unwrap().read, ReadAs::Text);
        assert_eq!(map_type(&n, -1).unwrap().read, ReadAs::Text);
        assert_eq!(map_type(&n, typmod(5, -2)).unwrap().read, ReadAs::Text);
        assert_eq!(map_type(&n, typmod(2, 5)).unwrap().read, ReadAs::Text);
    }

    #[test]
    fn arrays_map_to_lists_and_text_fallback_casts_elements() {
        let arr = |e: PgType| PgType {
            name: format!("_{}", e.name),
            element: Some(Box::new(e)),
            ..builtin("x")
        };
        let ints = map_type(&arr(builtin("int4")), -1).unwrap();
        assert_eq!(
            ints.kind,
            ValueKind::List {
                element: Box::new(ValueKind::Int32)
            }
        );
        assert_eq!(ints.read, ReadAs::Native);
        let inets = map_type(&arr(builtin("inet")), -1).unwrap();
        assert_eq!(
            inets.kind,
            ValueKind::List {
                element: Box::new(ValueKind::Text)
            }
        );
        assert_eq!(inets.read, ReadAs::TextArray);
    }

    #[test]
    fn enums_extensions_and_unknowns() {
        let e = PgType {
            typtype: 'e',
            schema: "public".into(),
            ..builtin("mood")
        };
        assert_eq!(map_type(&e, -1).unwrap(), native(ValueKind::Text, "text"));
        let ext = PgType {
            schema: "public".into(),
            ..builtin("citext")
        };
        assert_eq!(map_type(&ext, -1).unwrap().read, ReadAs::Text);
        let unknown = builtin("made_up");
        assert!(map_type(&unknown, -1).unwrap_err().0.contains("made_up"));
        let pseudo = PgType {
            typtype: 'p',
            ..builtin("anyelement")
        };
        assert!(map_type(&pseudo, -1).is_err());
    }
}
