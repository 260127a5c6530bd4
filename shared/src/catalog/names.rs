//! Athena naming rules. Glue folds database, table and column names to lowercase, and Athena
//! finds a Parquet column by its Glue name: first an exact match, then a case-insensitive one.
//! Every exported name is therefore lowercase and unique within its scope; a name that would
//! collide gets a numeric suffix, chosen so the result never depends on the catalog's order.
//!
//! - Database: the source database's name, lowercased, every character other than `[a-z0-9_]`
//!   replaced by `_`.
//! - Table: `<table>` for a table in the source's default schema (PostgreSQL's `public`,
//!   MySQL's database named in the URL), `<schema>_<table>` for any other; lowercased and
//!   reduced to `[a-z0-9_]` in the same way.
//! - Column: the source name lowercased. Characters Athena needs backquoted are kept (the DDL
//!   backquotes every identifier); control characters, which Glue refuses, become `_`.
//!
//! - Struct field (a composite type's attribute): lowercased and reduced to `[a-z0-9_]` like a
//!   database name, in both Glue and Parquet: a Glue struct type spells its field names bare
//!   (`struct<a:int,b:string>`), where a space, comma, colon or angle bracket would end them.
//!
//! When several names want the same result, one keeps it: the one whose source spelling is
//! already exactly that name, else the first (columns by position, tables by schema then
//! name). The others, in the same order, take the first free `<name>_2`, `<name>_3`, ...;
//! "free" means no other name wants it naturally and no earlier one was given it, so
//! `ID`, `id`, `Id`, `id_2` become `id_3`, `id`, `id_4`, `id_2`.

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::model::TableName;

/// Glue allows 255 bytes. A natural name is cut shorter so that a suffix still fits.
const MAX_NATURAL_BYTES: usize = 240;

/// One column's exported names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnName {
    /// Its name in Glue and Athena.
    pub glue: String,
    /// Its name in the Parquet files: the source name when that differs from the Glue name
    /// only in ASCII letter case (Athena's case-insensitive match finds it), else the Glue name.
    pub parquet: String,
}

/// The Glue database named after a source database.
pub fn database_name(source_database: &str) -> String {
    truncate(
        source_database
            .chars()
            .flat_map(char::to_lowercase)
            .map(|c| {
                if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect(),
    )
}

/// Checks a Glue database name the user chose (`--glue-database`): what the default rule
/// could produce, so it works in Athena without quoting surprises.
pub fn check_database_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "--glue-database {name:?} must be 1 to 255 characters of a-z, 0-9 and _"
        )))
    }
}

/// The Glue names of `tables`, in the same order. `default_schema` is the schema whose tables
/// are named without a prefix (see the module documentation).
pub fn table_names(tables: &[&TableName], default_schema: Option<&str>) -> Vec<String> {
    let spelled: Vec<String> = tables
        .iter()
        .map(|t| match default_schema {
            Some(s) if s == t.schema => t.name.clone(),
            _ => format!("{}_{}", t.schema, t.name),
        })
        .collect();
    unique_table_names(&spelled, tables)
}

/// Distinct Glue table names for tables whose names are spelled `spelled` (before reduction
/// to `[a-z0-9_]`): among those wanting one name, an exact spelling keeps it, else the least
/// `rank` (see the module documentation).
pub fn unique_table_names<K: Ord>(spelled: &[String], rank: &[K]) -> Vec<String> {
    let wanted: Vec<String> = spelled.iter().map(|s| database_name(s)).collect();
    let mut order: Vec<usize> = (0..spelled.len()).collect();
    order.sort_by_key(|&i| (spelled[i] != wanted[i], &rank[i]));
    dedupe(&wanted, &order)
}

/// The exported names of a table's columns, given their source names in column order.
pub fn column_names<'a>(source: impl IntoIterator<Item = &'a str>) -> Vec<ColumnName> {
    let source: Vec<&str> = source.into_iter().collect();
    let wanted: Vec<String> = source.iter().map(|s| column_natural(s)).collect();
    let mut order: Vec<usize> = (0..source.len()).collect();
    // Stable: among equals, column position decides.
    order.sort_by_key(|&i| source[i] != wanted[i]);
    dedupe(&wanted, &order)
        .into_iter()
        .zip(source)
        .map(|(glue, src)| ColumnName {
            parquet: if src.eq_ignore_ascii_case(&glue) {
                src.to_string()
            } else {
                glue.clone()
            },
            glue,
        })
        .collect()
}

/// The field names of a struct, in field order, given the source names: the same in Glue and
/// Parquet (see the module documentation).
pub fn struct_field_names<'a>(source: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let source: Vec<&str> = source.into_iter().collect();
    let wanted: Vec<String> = source.iter().map(|s| database_name(s)).collect();
    let mut order: Vec<usize> = (0..source.len()).collect();
    order.sort_by_key(|&i| source[i] != wanted[i]);
    dedupe(&wanted, &order)
}

/// A column's Glue name before collisions are resolved.
fn column_natural(source: &str) -> String {
    truncate(
        source
            .chars()
            .flat_map(char::to_lowercase)
            // Glue's name pattern admits tab but no other control character.
            .map(|c| if c.is_control() && c != '\t' { '_' } else { c })
            .collect(),
    )
}

/// At most [`MAX_NATURAL_BYTES`], cut on a character boundary; never empty (Glue needs one
/// character, and no source allows an empty name, but a rule should not depend on that).
fn truncate(mut s: String) -> String {
    if s.len() > MAX_NATURAL_BYTES {
        let mut end = MAX_NATURAL_BYTES;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    if s.is_empty() { "_".into() } else { s }
}

/// Gives every wanted name a distinct final one. `order` ranks the candidates: within a group
/// wanting the same name the first keeps it, and the others, in that order, take the first
/// `<name>_<n>` (n = 2, 3, ...) that nobody wants and nobody was given.
fn dedupe(wanted: &[String], order: &[usize]) -> Vec<String> {
    let mut out: Vec<Option<String>> = vec![None; wanted.len()];
    // Every wanted name is held by its keeper, so no suffixed name can take one.
    let mut taken: HashSet<String> = HashSet::with_capacity(wanted.len());
    for &i in order {
        if taken.insert(wanted[i].clone()) {
            out[i] = Some(wanted[i].clone());
        }
    }
    for &i in order {
        if out[i].is_some() {
            continue;
        }
        let name = (2u64..)
            .map(|n| format!("{}_{n}", wanted[i]))
            .find(|c| !taken.contains(c))
            .unwrap_or_else(|| wanted[i].clone());
        taken.insert(name.clone());
        out[i] = Some(name);
    }
    out.into_iter().map(Option::unwrap_or_default).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glue(names: &[&str]) -> Vec<String> {
        column_names(names.iter().copied())
            .into_iter()
            .map(|c| c.glue)
            .collect()
    }

    #[test]
    fn columns_colliding_after_lowercasing_get_distinct_suffixes() {
        assert_eq!(
            glue(&["ID", "id", "Id", "id_2"]),
            ["id_3", "id", "id_4", "id_2"]
        );
        // Without an exact lowercase spelling, the first column keeps the name.
        assert_eq!(glue(&["Name", "NAME", "x"]), ["name", "name_2", "x"]);
        assert_eq!(glue(&["NAME", "name"]), ["name_2", "name"]);
        // A suffix never takes a name another column wants, nor one already given.
        assert_eq!(
            glue(&["A", "a", "a_2", "A_2", "a_3"]),
            ["a_4", "a", "a_2", "a_2_2", "a_3"]
        );
    }

    #[test]
    fn struct_fields_are_plain_lowercase_and_distinct() {
        assert_eq!(
            struct_field_names(["a b", "A", "a", "x:y<z>", "ü"]),
            ["a_b", "a_2", "a", "x_y_z_", "_"]
        );
    }

    #[test]
    fn column_names_do_not_depend_on_anything_but_the_column_list() {
        let a = column_names(["Name", "name", "other"]);
        let b = column_names(["Name", "name", "other"]);
        assert_eq!(a, b);
        let all: HashSet<_> = a.iter().map(|c| c.glue.clone()).collect();
        assert_eq!(all.len(), 3);
    }

    #[test]
    fn parquet_names_keep_the_source_spelling_when_athena_can_match_it() {
        let c = column_names([
            "Name",
            "name",
            "Größe",
            "Ärger",
            "Order Date",
            "tab\there",
            "new\nline",
        ]);
        let pairs: Vec<(&str, &str)> = c
            .iter()
            .map(|c| (c.glue.as_str(), c.parquet.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                // Renamed: Athena looks for `name_2`, so the file must say `name_2`.
                ("name_2", "name_2"),
                ("name", "name"),
                // Only ASCII case differences are left to the reader's case-insensitive match.
                ("größe", "Größe"),
                ("ärger", "ärger"),
                ("order date", "Order Date"),
                ("tab\there", "tab\there"),
                ("new_line", "new_line"),
            ]
        );
        // Lowercased, the Parquet names are exactly the Glue names: no reader can confuse two.
        for c in &c {
            assert!(c.parquet.eq_ignore_ascii_case(&c.glue), "{c:?}");
        }
    }

    #[test]
    fn odd_column_names_are_kept_for_backquoting() {
        assert_eq!(
            glue(&["a`b", "with space", "ünï", "😀", "select"]),
            ["a`b", "with space", "ünï", "😀", "select"]
        );
        assert_eq!(glue(&[""]), ["_"]);
        let long = "X".repeat(300);
        assert_eq!(glue(&[&long])[0], "x".repeat(MAX_NATURAL_BYTES));
        let wide = "é".repeat(200); // 400 bytes: cut on a character boundary
        let cut = &glue(&[&wide])[0];
        assert!(cut.len() <= MAX_NATURAL_BYTES && cut.chars().all(|c| c == 'é'));
    }

    #[test]
    fn database_names_are_reduced_to_athena_characters() {
        assert_eq!(database_name("Shop"), "shop");
        assert_eq!(database_name("my-db.2024"), "my_db_2024");
        assert_eq!(database_name("Größe"), "gr__e");
        assert!(check_database_name("analytics_2").is_ok());
        for bad in ["", "Analytics", "a-b", "a b", "ü"] {
            assert!(check_database_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tables_outside_the_default_schema_are_prefixed_and_collisions_resolved() {
        let t = [
            TableName::new("sales", "orders"),
            TableName::new("public", "sales_orders"),
            TableName::new("public", "Orders"),
            TableName::new("public", "orders"),
            TableName::new("public", "Order Items"),
            TableName::new("public", "order_items"),
        ];
        let refs: Vec<&TableName> = t.iter().collect();
        assert_eq!(
            table_names(&refs, Some("public")),
            [
                // Both spell `sales_orders` exactly; (schema, name) order decides.
                "sales_orders_2",
                "sales_orders",
                "orders_2",
                "orders",
                "order_items_2",
                "order_items",
            ]
        );
        // The result does not depend on the order the catalog listed the tables in.
        let mut rev = refs.clone();
        rev.reverse();
        let mut back = table_names(&rev, Some("public"));
        back.reverse();
        assert_eq!(back, table_names(&refs, Some("public")));
        // No default schema: every table is prefixed.
        assert_eq!(
            table_names(&refs[..2], None),
            ["sales_orders", "public_sales_orders"]
        );
    }
}
