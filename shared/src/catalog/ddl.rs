//! The Athena (Hive DDL) statement that creates the same table as a [`TableInput`], for users
//! who register tables by running SQL in Athena rather than through the Glue API.
//!
//! Every identifier is backquoted, with a backquote inside doubled, so any column name works
//! (Athena needs the quotes for names with spaces, a leading `_` or digit, or reserved words).
//! String literals follow Hive's rules: single quotes, with `\` and `'` escaped by a backslash.

use super::glue::{Column, TableInput};

/// Table properties that Glue keeps but that `CREATE EXTERNAL TABLE` sets by itself.
const IMPLIED_PROPERTIES: &[&str] = &["EXTERNAL"];

/// `CREATE EXTERNAL TABLE IF NOT EXISTS` for `table` in `database`.
pub fn create_table(database: &str, table: &TableInput) -> String {
    let sd = &table.storage_descriptor;
    let partitioned = if table.partition_keys.is_empty() {
        String::new()
    } else {
        format!(
            "PARTITIONED BY (\n{}\n)\n",
            column_list(&table.partition_keys)
        )
    };
    let properties: Vec<String> = table
        .parameters
        .iter()
        .filter(|(k, _)| !IMPLIED_PROPERTIES.contains(&k.as_str()))
        .map(|(k, v)| format!("  {}={}", quote_string(k), quote_string(v)))
        .collect();
    format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS {}.{} (\n{}\n)\nCOMMENT {}\n{partitioned}STORED AS PARQUET\nLOCATION {}\nTBLPROPERTIES (\n{}\n)\n",
        quote_ident(database),
        quote_ident(&table.name),
        column_list(&sd.columns),
        quote_string(&table.description),
        quote_string(&sd.location),
        properties.join(",\n"),
    )
}

/// For a partitioned table without partition projection (`projection.enabled`): SQL comments,
/// to follow [`create_table`], saying how to register its partitions, either found in the
/// folders by Athena or, with their exact values, from `files` (the table's partitions files).
/// `None` when Athena needs no more than the table.
pub fn partitions_note(database: &str, table: &TableInput, files: &[String]) -> Option<String> {
    let projected = table
        .parameters
        .get("projection.enabled")
        .is_some_and(|v| v == "true");
    if table.partition_keys.is_empty() || projected {
        return None;
    }
    let why = table
        .parameters
        .get(super::partitions::PROJECTION_STATUS)
        .map_or("", String::as_str);
    let mut note = format!(
        "-- Partition projection is {why}.\n\
         -- Athena sees the partitions once they are registered, either found in the folders:\n\
         --   MSCK REPAIR TABLE {}.{};\n",
        quote_ident(database),
        quote_ident(&table.name)
    );
    if !files.is_empty() {
        // Folder names hold values escaped byte by byte: the files hold them exactly.
        note.push_str(
            "-- or, with every value exactly as exported, from the partitions files in this \
             folder:\n",
        );
        for f in files {
            note.push_str(&format!(
                "--   aws glue batch-create-partition --cli-input-json file://{f}\n"
            ));
        }
    }
    Some(note)
}

/// Column definitions, one a line.
fn column_list(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|c| {
            format!(
                "  {} {} COMMENT {}",
                quote_ident(&c.name),
                c.glue_type,
                quote_string(&c.comment)
            )
        })
        .collect::<Vec<_>>()
        .join(",\n")
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
