//! The strict Glue type check the catalog tests share: a Glue (Hive) type parsed, the Parquet
//! column Athena reads for a Glue column (its name rule), and whether that column's Parquet
//! type is what Athena reads as the Glue type.

use parquet::basic::{LogicalType, Repetition, TimeUnit, Type as Physical};
use parquet::schema::types::{Type as ParquetType, TypePtr};

/// A Glue (Hive) type, parsed.
#[derive(Debug)]
pub enum Hive {
    Primitive(String),
    Decimal(i32, i32),
    Array(Box<Hive>),
    Struct(Vec<(String, Hive)>),
}

pub fn parse_hive(s: &str) -> Hive {
    if let Some(inner) = s.strip_prefix("array<").and_then(|r| r.strip_suffix('>')) {
        return Hive::Array(Box::new(parse_hive(inner)));
    }
    if let Some(inner) = s.strip_prefix("struct<").and_then(|r| r.strip_suffix('>')) {
        let mut fields = Vec::new();
        let (mut depth, mut start) = (0, 0);
        for (i, ch) in inner.char_indices().chain([(inner.len(), ',')]) {
            match ch {
                '<' | '(' => depth += 1,
                '>' | ')' => depth -= 1,
                ',' if depth == 0 => {
                    let (name, ty) = inner[start..i].split_once(':').unwrap();
                    fields.push((name.to_string(), parse_hive(ty)));
                    start = i + 1;
                }
                _ => {}
            }
        }
        return Hive::Struct(fields);
    }
    if let Some(inner) = s.strip_prefix("decimal(").and_then(|r| r.strip_suffix(')')) {
        let (p, scale) = inner.split_once(',').unwrap();
        return Hive::Decimal(p.parse().unwrap(), scale.parse().unwrap());
    }
    Hive::Primitive(s.to_string())
}

/// The Parquet column Athena reads for a Glue column: an exact name match, else a
/// case-insensitive one. More than one case-insensitive candidate would be ambiguous.
pub fn athena_resolve<'a>(fields: &'a [TypePtr], glue_name: &str) -> &'a ParquetType {
    let folded: Vec<&TypePtr> = fields
        .iter()
        .filter(|f| f.name().to_lowercase() == glue_name.to_lowercase())
        .collect();
    assert_eq!(
        folded.len(),
        1,
        "Glue column {glue_name:?} must match exactly one Parquet column ignoring case"
    );
    fields
        .iter()
        .find(|f| f.name() == glue_name)
        .unwrap_or(folded[0])
}

/// The Parquet type is what Athena reads as `hive`.
pub fn check_type(hive: &Hive, t: &ParquetType, ctx: &str) {
    let logical = t.get_basic_info().logical_type_ref().cloned();
    match hive {
        Hive::Array(element) => {
            assert!(
                t.is_group() && logical == Some(LogicalType::List),
                "{ctx}: an array is a LIST group, got {t:?}"
            );
            let [repeated] = t.get_fields() else {
                panic!("{ctx}: a LIST has one repeated group: {t:?}")
            };
            assert!(repeated.is_group(), "{ctx}: {t:?}");
            assert_eq!(repeated.get_basic_info().repetition(), Repetition::REPEATED);
            let [item] = repeated.get_fields() else {
                panic!("{ctx}: a list's repeated group holds one element: {t:?}")
            };
            check_type(element, item, &format!("{ctx}[]"));
        }
        Hive::Struct(fields) => {
            assert!(
                t.is_group() && logical.is_none(),
                "{ctx}: a struct is a plain group, got {t:?}"
            );
            let names: Vec<&str> = t.get_fields().iter().map(|f| f.name()).collect();
            let wanted: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, wanted, "{ctx}: struct fields");
            for ((name, h), f) in fields.iter().zip(t.get_fields()) {
                check_type(h, f, &format!("{ctx}.{name}"));
            }
        }
        Hive::Decimal(precision, scale) => {
            assert!(t.is_primitive(), "{ctx}: {t:?}");
            assert_eq!(
                logical,
                Some(LogicalType::decimal(*scale, *precision)),
                "{ctx}: decimal({precision},{scale})"
            );
            assert!(
                matches!(
                    t.get_physical_type(),
                    Physical::INT32 | Physical::INT64 | Physical::FIXED_LEN_BYTE_ARRAY
                ),
                "{ctx}: {t:?}"
            );
        }
        Hive::Primitive(p) => {
            assert!(t.is_primitive(), "{ctx}: {p} is a primitive, got {t:?}");
            let physical = t.get_physical_type();
            let ok = match p.as_str() {
                "boolean" => physical == Physical::BOOLEAN && logical.is_none(),
                "smallint" => {
                    physical == Physical::INT32 && logical == Some(LogicalType::integer(16, true))
                }
                "int" => {
                    physical == Physical::INT32
                        && (logical.is_none() || logical == Some(LogicalType::integer(32, true)))
                }
                "bigint" => {
                    physical == Physical::INT64
                        && (logical.is_none() || logical == Some(LogicalType::integer(64, true)))
                }
                "float" => physical == Physical::FLOAT && logical.is_none(),
                "double" => physical == Physical::DOUBLE && logical.is_none(),
                "string" => {
                    physical == Physical::BYTE_ARRAY && logical == Some(LogicalType::String)
                }
                "binary" => physical == Physical::BYTE_ARRAY && logical.is_none(),
                "date" => physical == Physical::INT32 && logical == Some(LogicalType::Date),
                "timestamp" => {
                    physical == Physical::INT64
                        && matches!(&logical, Some(LogicalType::Timestamp(ts)) if ts.unit == TimeUnit::MICROS)
                }
                other => panic!("{ctx}: unexpected Glue type {other}"),
            };
            assert!(ok, "{ctx}: Glue {p} vs Parquet {physical} {logical:?}");
        }
    }
}
