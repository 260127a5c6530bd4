//! The Athena (Hive DDL) statement that creates the same table as a [`TableInput`], for users
//! who register tables by running SQL in Athena rather than through the Glue API.
//!
//! Every identifier is backquoted, with a backquote inside doubled, so any column name works
//! (Athena needs the quotes for names with spaces, a leading `_` or digit, or reserved words).
//! String literals follow Hive's rules: single quotes, with `\` and `'` escaped by a backslash.

use super::glue::TableInput;

/// Table properties that Glue keeps but that `CREATE EXTERNAL TABLE` sets by itself.
const IMPLIED_PROPERTIES: &[&str] = &["EXTERNAL"];

/// `CREATE EXTERNAL TABLE IF NOT EXISTS` for `table` in `database`.
pub fn create_table(database: &str, table: &TableInput) -> String {
    let sd = &table.storage_descriptor;
    let columns: Vec<String> = sd
        .columns
        .iter()
        .map(|c| {
            format!(
                "  {} {} COMMENT {}",
                quote_ident(&c.name),
                c.glue_type,
                quote_string(&c.comment)
            )
        })
        .collect();
    let properties: Vec<String> = table
        .parameters
        .iter()
        .filter(|(k, _)| !IMPLIED_PROPERTIES.contains(&k.as_str()))
        .map(|(k, v)| format!("  {}={}", quote_string(k), quote_string(v)))
        .collect();
    format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS {}.{} (\n{}\n)\nCOMMENT {}\nSTORED AS PARQUET\nLOCATION {}\nTBLPROPERTIES (\n{}\n)\n",
        quote_ident(database),
        quote_ident(&table.name),
        columns.join(",\n"),
        quote_string(&table.description),
        quote_string(&sd.location),
        properties.join(",\n"),
    )
}

/// A Hive identifier: backquoted, a backquote inside doubled.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A Hive string literal.
pub fn quote_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}
