//! Catalog metadata, so Athena can query an export: the Glue `DatabaseInput` and one Glue
//! `TableInput` per table (JSON, ready for `aws glue create-database` / `create-table` or an
//! SDK), and the same table as Athena DDL. Pure functions: nothing here touches a store or AWS.
//!
//! Files, under the export root:
//!
//! ```text
//! _catalog/database.json          DatabaseInput
//! _catalog/<glue table>.table.json TableInput (Location = the table's folder)
//! _catalog/<glue table>.sql       CREATE EXTERNAL TABLE ... STORED AS PARQUET LOCATION ...
//! ```
//!
//! How names are chosen (lowercase, unique, with a documented suffix on collision) is in
//! [`names`]; the manifest records every table's and column's exported name.

pub mod ddl;
pub mod glue;
pub mod names;

use std::collections::BTreeMap;

pub use glue::{Column, DatabaseInput, SerDeInfo, StorageDescriptor, TableInput};

use crate::model::TableDesc;

/// The folder under the export root holding the catalog files. The leading `_` keeps it apart
/// from every schema folder (an escaped path segment never starts with `_`), and makes Athena,
/// Hive, Spark and Glue crawlers skip it, as they skip `_SUCCESS`.
pub const CATALOG_DIR: &str = "_catalog";
/// The `DatabaseInput` file in [`CATALOG_DIR`].
pub const DATABASE_FILE: &str = "database.json";
/// A table's `TableInput` file in [`CATALOG_DIR`] is `<glue table>` plus this.
pub const TABLE_INPUT_SUFFIX: &str = ".table.json";
/// A table's Athena DDL file in [`CATALOG_DIR`] is `<glue table>` plus this.
pub const DDL_SUFFIX: &str = ".sql";

/// Glue limits a table's or database's description to 2048 characters.
const MAX_DESCRIPTION_CHARS: usize = 2048;

/// The export as a whole, as the catalog describes it.
#[derive(Debug, Clone, Copy)]
pub struct ExportInfo<'a> {
    pub export_id: &'a str,
    /// `postgresql`, `mysql` or `mariadb`.
    pub engine: &'a str,
    pub source_database: &'a str,
    /// The Glue database the tables belong to.
    pub glue_database: &'a str,
}

/// One exported table.
#[derive(Debug, Clone)]
pub struct TableEntry<'a> {
    pub table: &'a TableDesc,
    pub glue_name: &'a str,
    /// The table folder's full URL (`s3://bucket/prefix/<export>/<schema>/<table>/`), with `/` at the end.
    pub location: String,
}

/// The Glue database for the export.
pub fn database_input(e: &ExportInfo<'_>) -> DatabaseInput {
    DatabaseInput {
        name: e.glue_database.to_string(),
        description: glue::single_line(
            &format!(
                "{} database {:?}, exported by snapex as {:?}",
                e.engine, e.source_database, e.export_id
            ),
            MAX_DESCRIPTION_CHARS,
        ),
    }
}

/// The Glue table for one exported table: its columns under their exported names, each
/// commented with its source name and type.
pub fn table_input(e: &ExportInfo<'_>, t: &TableEntry<'_>) -> TableInput {
    let names = names::column_names(t.table.columns.iter().map(|c| c.name.as_str()));
    let columns = t
        .table
        .columns
        .iter()
        .zip(names)
        .map(|(c, n)| {
            Column::new(
                n.glue,
                c.kind.glue_type(),
                &format!("{:?} {}", c.name, c.source_type),
            )
        })
        .collect();
    let source = &t.table.name;
    let parameters = BTreeMap::from([
        ("classification".to_string(), "parquet".to_string()),
        ("EXTERNAL".into(), "TRUE".into()),
        ("parquet.compression".into(), "ZSTD".into()),
        ("snapex.export_id".into(), e.export_id.into()),
        ("snapex.source_engine".into(), e.engine.into()),
        ("snapex.source_database".into(), e.source_database.into()),
        ("snapex.source_schema".into(), source.schema.clone()),
        ("snapex.source_table".into(), source.name.clone()),
    ]);
    TableInput {
        name: t.glue_name.to_string(),
        description: glue::single_line(
            &format!(
                "{} table {:?}.{:?} of database {:?}, exported by snapex as {:?}",
                e.engine, source.schema, source.name, e.source_database, e.export_id
            ),
            MAX_DESCRIPTION_CHARS,
        ),
        table_type: glue::TABLE_TYPE.into(),
        parameters,
        storage_descriptor: StorageDescriptor::parquet(columns, t.location.clone()),
        partition_keys: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ColumnDesc, ReadAs, TableName};
    use crate::types::ValueKind;
    use serde_json::json;

    fn col(name: &str, source_type: &str, kind: ValueKind) -> ColumnDesc {
        ColumnDesc {
            name: name.into(),
            source_type: source_type.into(),
            kind,
            nullable: true,
            read: ReadAs::Native,
            wire: String::new(),
            lossy_rules: vec![],
        }
    }

    fn table() -> TableDesc {
        TableDesc {
            name: TableName::new("sales", "Orders"),
            columns: vec![
                col("ID", "bigint", ValueKind::Int64),
                col("id", "integer", ValueKind::Int32),
                col(
                    "amount",
                    "numeric(12,2)",
                    ValueKind::Decimal {
                        precision: 12,
                        scale: 2,
                    },
                ),
                col(
                    "tags",
                    "text[]",
                    ValueKind::List {
                        element: Box::new(ValueKind::Text),
                    },
                ),
                col("span", "interval", ValueKind::Interval),
            ],
            primary_key: vec!["ID".into()],
            split_key: None,
            estimated_bytes: 0,
            estimated_rows: None,
            partitions: vec![],
            partition_by: None,
        }
    }

    const EXPORT: ExportInfo<'static> = ExportInfo {
        export_id: "shop-20240102T030405Z",
        engine: "postgresql",
        source_database: "Shop",
        glue_database: "shop",
    };

    #[test]
    fn database_input_has_the_glue_shape() {
        assert_eq!(
            serde_json::to_value(database_input(&EXPORT)).unwrap(),
            json!({
                "Name": "shop",
                "Description": "postgresql database \"Shop\", exported by snapex as \"shop-20240102T030405Z\"",
            })
        );
    }

    #[test]
    fn table_input_has_the_glue_shape() {
        let t = table();
        let entry = TableEntry {
            table: &t,
            glue_name: "sales_orders",
            location: "s3://lake/x/shop-20240102T030405Z/sales/Orders/".into(),
        };
        assert_eq!(
            serde_json::to_value(table_input(&EXPORT, &entry)).unwrap(),
            json!({
                "Name": "sales_orders",
                "Description": "postgresql table \"sales\".\"Orders\" of database \"Shop\", exported by snapex as \"shop-20240102T030405Z\"",
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {
                    "classification": "parquet",
                    "EXTERNAL": "TRUE",
                    "parquet.compression": "ZSTD",
                    "snapex.export_id": "shop-20240102T030405Z",
                    "snapex.source_engine": "postgresql",
                    "snapex.source_database": "Shop",
                    "snapex.source_schema": "sales",
                    "snapex.source_table": "Orders",
                },
                "StorageDescriptor": {
                    "Columns": [
                        {"Name": "id_2", "Type": "bigint", "Comment": "\"ID\" bigint"},
                        {"Name": "id", "Type": "int", "Comment": "\"id\" integer"},
                        {"Name": "amount", "Type": "decimal(12,2)", "Comment": "\"amount\" numeric(12,2)"},
                        {"Name": "tags", "Type": "array<string>", "Comment": "\"tags\" text[]"},
                        {
                            "Name": "span",
                            "Type": "struct<months:int,days:int,microseconds:bigint>",
                            "Comment": "\"span\" interval",
                        },
                    ],
                    "Location": "s3://lake/x/shop-20240102T030405Z/sales/Orders/",
                    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                    "SerdeInfo": {
                        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                        "Parameters": {"serialization.format": "1"},
                    },
                },
                "PartitionKeys": [],
            })
        );
    }

    #[test]
    fn comments_and_descriptions_fit_glue_limits() {
        let mut t = table();
        t.columns[0].name = format!("new\nline{}", "x".repeat(400));
        t.name.name = "a\u{7}b".into();
        let entry = TableEntry {
            table: &t,
            glue_name: "t",
            location: "s3://b/t/".into(),
        };
        let input = table_input(&EXPORT, &entry);
        let comment = &input.storage_descriptor.columns[0].comment;
        assert_eq!(comment.chars().count(), glue::MAX_COMMENT_CHARS);
        assert!(comment.starts_with("\"new\\nline"), "{comment}");
        assert!(!input.description.chars().any(char::is_control));
        // The round trip through JSON is lossless.
        let json = serde_json::to_string(&input).unwrap();
        assert_eq!(serde_json::from_str::<TableInput>(&json).unwrap(), input);
    }

    #[test]
    fn ddl_quotes_every_identifier_and_literal() {
        let mut t = table();
        t.columns = vec![
            col("we`ird", "text", ValueKind::Text),
            col("Order Date", "date", ValueKind::Date),
            col("ünïcødé", "text", ValueKind::Text),
            col(
                "it's",
                "numeric(5,0)",
                ValueKind::Decimal {
                    precision: 5,
                    scale: 0,
                },
            ),
        ];
        let entry = TableEntry {
            table: &t,
            glue_name: "_odd",
            location: "s3://b/p'q\\r/e/sales/Orders/".into(),
        };
        let e = ExportInfo {
            glue_database: "db`x",
            ..EXPORT
        };
        let sql = ddl::create_table(e.glue_database, &table_input(&e, &entry));
        assert_eq!(
            sql,
            r#"CREATE EXTERNAL TABLE IF NOT EXISTS `db``x`.`_odd` (
  `we``ird` string COMMENT '"we`ird" text',
  `order date` date COMMENT '"Order Date" date',
  `ünïcødé` string COMMENT '"ünïcødé" text',
  `it's` decimal(5,0) COMMENT '"it\'s" numeric(5,0)'
)
COMMENT 'postgresql table "sales"."Orders" of database "Shop", exported by snapex as "shop-20240102T030405Z"'
STORED AS PARQUET
LOCATION 's3://b/p\'q\\r/e/sales/Orders/'
TBLPROPERTIES (
  'classification'='parquet',
  'parquet.compression'='ZSTD',
  'snapex.export_id'='shop-20240102T030405Z',
  'snapex.source_database'='Shop',
  'snapex.source_engine'='postgresql',
  'snapex.source_schema'='sales',
  'snapex.source_table'='Orders'
)
"#
        );
        assert_eq!(ddl::quote_string("a\nb\\'"), r"'a\nb\\\''");
    }
}
