//! SQL text for MySQL: identifiers through [`quote_ident`], values always as `?` parameters.

use crate::model::TableName;

/// Quotes an identifier by MySQL's rules: wrap in backticks, double any inner backtick.
pub fn quote_ident(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

/// `` `schema`.`table` ``.
pub fn quote_table(t: &TableName) -> String {
    format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backticks_are_doubled() {
        assert_eq!(quote_ident("a`b"), "`a``b`");
        assert_eq!(
            quote_ident("x`; DROP TABLE t; --"),
            "`x``; DROP TABLE t; --`"
        );
        assert_eq!(quote_table(&TableName::new("db", "t t")), "`db`.`t t`");
    }
}
