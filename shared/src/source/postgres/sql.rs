//! SQL text for PostgreSQL. Identifiers always pass through [`quote_ident`]; values are always
//! bind parameters (COPY cannot take parameters, so key bounds travel through `set_config($1)`
//! and `current_setting()`; see `reader`).

use crate::model::TableName;

/// Quotes an identifier by PostgreSQL's rules: wrap in double quotes, double any inner quote.
/// Every identifier we put in SQL comes from the catalog and goes through here.
pub fn quote_ident(ident: &str) -> String {
    let mut out = String::with_capacity(ident.len() + 2);
    out.push('"');
    for c in ident.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `"schema"."table"`.
pub fn quote_table(table: &TableName) -> String {
    format!(
        "{}.{}",
        quote_ident(&table.schema),
        quote_ident(&table.name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_plain_odd_and_hostile_identifiers() {
        assert_eq!(quote_ident("id"), r#""id""#);
        assert_eq!(quote_ident("Mixed Case"), r#""Mixed Case""#);
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(
            quote_ident(r#"x"; DROP TABLE t; --"#),
            r#""x""; DROP TABLE t; --""#
        );
        assert_eq!(quote_ident("ünï😀"), "\"ünï😀\"");
        assert_eq!(quote_table(&TableName::new("s.x", "t")), r#""s.x"."t""#);
    }
}
