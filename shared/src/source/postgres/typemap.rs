//! PostgreSQL's type map: one `match` from a resolved catalog type to the value shape we write
//! and the way we read it. Its prose form is the PostgreSQL type table in docs/types.md.

use crate::catalog::names::struct_field_names;
use crate::model::{LossyRule, ReadAs};
use crate::source::{Mapping, Unsupported};
use crate::types::{MAX_DECIMAL128_PRECISION, StructField, ValueKind};

/// The longest Glue column type (the Glue API's limit on `Column.Type`): a composite type whose
/// struct would be longer is exported as its text form.
const MAX_GLUE_TYPE_CHARS: usize = 131_072;

/// `money` is an int64 count of the smallest currency unit; 19 digits hold every int64.
const MONEY_PRECISION: u8 = 19;

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
    /// For a composite type, its attributes in order (dropped ones left out); empty otherwise.
    pub fields: Vec<PgField>,
}

/// One attribute of a composite type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgField {
    pub name: String,
    pub ty: PgType,
    /// The attribute's own typmod, else its domain's (-1 for none).
    pub typmod: i32,
    /// `pg_attribute.attndims`: the dimensions an array attribute declares (0 when unknown).
    pub ndims: i32,
}

/// What the exporting session says about types whose meaning depends on its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeContext {
    /// Digits after the decimal point of `money` in the session's `lc_monetary`.
    pub money_scale: i8,
}

/// Maps a column's resolved type, type modifier and array dimensions (declared, or read from
/// the data; below 1 counts as 1) to its export.
pub fn map_type(
    ty: &PgType,
    typmod: i32,
    dims: i32,
    ctx: &TypeContext,
) -> Result<Mapping, Unsupported> {
    if let Some(element) = &ty.element {
        return map_array(element, typmod, dims, ctx);
    }
    map_scalar(ty, typmod, ctx)
}

/// An array of `dims` dimensions becomes `dims` nested lists: a value with another number of
/// dimensions is flattened into the innermost one (see the decoder), a rule counted as before.
fn map_array(
    element: &PgType,
    typmod: i32,
    dims: i32,
    ctx: &TypeContext,
) -> Result<Mapping, Unsupported> {
    let inner = map_scalar(element, typmod, ctx)?;
    let mut lossy = inner.lossy;
    lossy.extend([LossyRule::ArrayFlattened, LossyRule::ArrayLowerBoundDropped]);
    lossy.sort();
    lossy.dedup();
    let read = match inner.read {
        ReadAs::Native => ReadAs::Native,
        ReadAs::Text | ReadAs::TextArray | ReadAs::Wkb => ReadAs::TextArray,
    };
    Ok(Mapping {
        kind: nested_lists(inner.kind, dims),
        read,
        wire: inner.wire,
        lossy,
    })
}

/// `element` wrapped in `dims` lists (at least one).
pub fn nested_lists(element: ValueKind, dims: i32) -> ValueKind {
    (0..dims.max(1)).fold(element, |e, _| ValueKind::List {
        element: Box::new(e),
    })
}

/// A composite type becomes a struct of its attributes, each mapped as a column of its type
/// would be. The struct is read in PostgreSQL's binary record form, so every attribute must be
/// readable natively; a composite with an attribute that is not (one exported as its text form,
/// or of a rejected type), with no attributes, or too wide for Glue is exported as its text
/// form, as a whole.
fn map_composite(ty: &PgType, ctx: &TypeContext) -> Mapping {
    if ty.fields.is_empty() {
        return as_text();
    }
    let mut kinds = Vec::with_capacity(ty.fields.len());
    let mut wires = Vec::with_capacity(ty.fields.len());
    let mut lossy = Vec::new();
    for f in &ty.fields {
        match map_type(&f.ty, f.typmod, f.ndims, ctx) {
            Ok(m) if m.read == ReadAs::Native => {
                kinds.push(m.kind);
                wires.push(m.wire);
                lossy.extend(m.lossy);
            }
            _ => return as_text(),
        }
    }
    lossy.sort();
    lossy.dedup();
    let names = struct_field_names(ty.fields.iter().map(|f| f.name.as_str()));
    let kind = ValueKind::Struct {
        fields: names
            .into_iter()
            .zip(kinds)
            .map(|(name, kind)| StructField { name, kind })
            .collect(),
    };
    if kind.glue_type().len() > MAX_GLUE_TYPE_CHARS {
        return as_text();
    }
    Mapping {
        kind,
        read: ReadAs::Native,
        wire: format!("({})", wires.join(",")),
        lossy,
    }
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

fn map_scalar(ty: &PgType, typmod: i32, ctx: &TypeContext) -> Result<Mapping, Unsupported> {
    match ty.typtype {
        // Enum labels travel as text in binary COPY.
        'e' => return Ok(native(ValueKind::Text, "text")),
        'c' => return Ok(map_composite(ty, ctx)),
        // Range and multirange values: their text form, e.g. `[1,10)`.
        'r' | 'm' => return Ok(as_text()),
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
        // An int64 count of the currency's smallest unit: exact at the session's scale.
        "money" => native(
            ValueKind::Decimal {
                precision: MONEY_PRECISION,
                scale: ctx.money_scale,
            },
            "money",
        ),
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
        // Athena has no time-of-day type: ISO text `HH:MM:SS[.ffffff][+HH]`, formatted from the
        // binary form as PostgreSQL's `::text` would (so a composite can hold one).
        "time" => native(ValueKind::Text, "time"),
        "timetz" => native(ValueKind::Text, "timetz"),
        // Text forms are the canonical, lossless representation of these.
        "char"
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
/// wider, negative scale, scale above precision) is exported as its exact text form, formatted
/// from the binary form as `numeric_out` does.
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
        _ => native(ValueKind::Text, "numeric_text"),
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
            fields: vec![],
        }
    }

    const CTX: TypeContext = TypeContext { money_scale: 2 };

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
            map_type(&n, typmod(38, 38), 1, &CTX).unwrap().kind,
            ValueKind::Decimal {
                precision: 38,
                scale: 38
            }
        );
        assert_eq!(
            map_type(&n, typmod(39, 2), 1, &CTX).unwrap().wire,
            "numeric_text"
        );
        assert_eq!(map_type(&n, -1, 1, &CTX).unwrap().wire, "numeric_text");
        assert_eq!(
            map_type(&n, typmod(5, -2), 1, &CTX).unwrap().wire,
            "numeric_text"
        );
        assert_eq!(
            map_type(&n, typmod(2, 5), 1, &CTX).unwrap().wire,
            "numeric_text"
        );
    }

    #[test]
    fn arrays_map_to_lists_and_text_fallback_casts_elements() {
        let arr = |e: PgType| PgType {
            name: format!("_{}", e.name),
            element: Some(Box::new(e)),
            ..builtin("x")
        };
        let ints = map_type(&arr(builtin("int4")), -1, 1, &CTX).unwrap();
        assert_eq!(
            ints.kind,
            ValueKind::List {
                element: Box::new(ValueKind::Int32)
            }
        );
        assert_eq!(ints.read, ReadAs::Native);
        let inets = map_type(&arr(builtin("inet")), -1, 1, &CTX).unwrap();
        assert_eq!(
            inets.kind,
            ValueKind::List {
                element: Box::new(ValueKind::Text)
            }
        );
        assert_eq!(inets.read, ReadAs::TextArray);
    }

    #[test]
    fn declared_dimensions_nest_lists() {
        let arr = PgType {
            name: "_int4".into(),
            element: Some(Box::new(builtin("int4"))),
            ..builtin("x")
        };
        let m = map_type(&arr, -1, 3, &CTX).unwrap();
        assert_eq!(m.kind.glue_type(), "array<array<array<int>>>");
        assert_eq!(m.wire, "int4");
        assert_eq!(
            map_type(&arr, -1, 0, &CTX).unwrap().kind.glue_type(),
            "array<int>"
        );
    }

    #[test]
    fn money_is_a_decimal_at_the_sessions_scale() {
        let m = map_type(&builtin("money"), -1, 0, &TypeContext { money_scale: 3 }).unwrap();
        assert_eq!(
            m.kind,
            ValueKind::Decimal {
                precision: 19,
                scale: 3
            }
        );
        assert_eq!(m.read, ReadAs::Native);
    }

    #[test]
    fn composites_are_structs_of_their_attributes_or_text() {
        let field = |name: &str, ty: PgType, ndims: i32| PgField {
            name: name.into(),
            ty,
            typmod: -1,
            ndims,
        };
        let arr = |e: PgType| PgType {
            name: format!("_{}", e.name),
            element: Some(Box::new(e)),
            ..builtin("x")
        };
        let composite = |fields: Vec<PgField>| PgType {
            typtype: 'c',
            schema: "public".into(),
            fields,
            ..builtin("pair")
        };
        let inner = composite(vec![field("N", builtin("int8"), 0)]);
        let outer = composite(vec![
            field("a b", builtin("int4"), 0),
            field("in", inner.clone(), 0),
            field("ins", arr(inner), 1),
            field("grid", arr(builtin("date")), 2),
        ]);
        let m = map_type(&outer, -1, 0, &CTX).unwrap();
        assert_eq!(
            m.kind.glue_type(),
            "struct<a_b:int,in:struct<n:bigint>,ins:array<struct<n:bigint>>,grid:array<array<date>>>"
        );
        assert_eq!(m.wire, "(int4,(int8),(int8),date)");
        assert_eq!(m.read, ReadAs::Native);
        assert!(m.lossy.contains(&LossyRule::InfiniteToNull));
        // An unconstrained numeric and a time are text decoded from their binary forms.
        let texts = composite(vec![
            field("n", builtin("numeric"), 0),
            field("t", builtin("timetz"), 0),
        ]);
        let m = map_type(&texts, -1, 0, &CTX).unwrap();
        assert_eq!(m.kind.glue_type(), "struct<n:string,t:string>");
        assert_eq!(m.wire, "(numeric_text,timetz)");
        // An attribute read as text makes the whole composite text.
        let with_inet = composite(vec![field("ip", builtin("inet"), 0)]);
        assert_eq!(
            map_type(&with_inet, -1, 0, &CTX).unwrap().read,
            ReadAs::Text
        );
        assert_eq!(
            map_type(&composite(vec![]), -1, 0, &CTX).unwrap().read,
            ReadAs::Text
        );
    }

    #[test]
    fn enums_extensions_and_unknowns() {
        let e = PgType {
            typtype: 'e',
            schema: "public".into(),
            ..builtin("mood")
        };
        assert_eq!(
            map_type(&e, -1, 1, &CTX).unwrap(),
            native(ValueKind::Text, "text")
        );
        let ext = PgType {
            schema: "public".into(),
            ..builtin("citext")
        };
        assert_eq!(map_type(&ext, -1, 1, &CTX).unwrap().read, ReadAs::Text);
        let unknown = builtin("made_up");
        assert!(
            map_type(&unknown, -1, 1, &CTX)
                .unwrap_err()
                .0
                .contains("made_up")
        );
        let pseudo = PgType {
            typtype: 'p',
            ..builtin("anyelement")
        };
        assert!(map_type(&pseudo, -1, 1, &CTX).is_err());
    }
}
