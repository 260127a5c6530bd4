//! Catalog metadata, so Athena can query an export: the Glue `DatabaseInput` and one Glue
//! `TableInput` per table (JSON, ready for `aws glue create-database` / `create-table` or an
//! SDK), and the same table as Athena DDL; for a table with partition folders, its partitions
//! as `batch-create-partition` requests ([`partitions`]). Pure functions: nothing here touches
//! a store or AWS.
//!
//! Files, under the export root:
//!
//! ```text
//! _catalog/database.json                     DatabaseInput
//! _catalog/<glue table>.table.json           TableInput (Location = the table's folder)
//! _catalog/<glue table>.sql                  CREATE EXTERNAL TABLE ... STORED AS PARQUET LOCATION ...
//! _catalog/<glue table>.partitions-0001.json BatchCreatePartition request, up to 100 partitions
//! ```
//!
//! How names are chosen (lowercase, unique, with a documented suffix on collision) is in
//! [`names`]; the manifest records every table's and column's exported name. Glue's quotas
//! on tables, and the check that an export fits them, are in [`quotas`]; folding the same
//! table across schemas into one Glue table partitioned by schema is in [`fold`].

pub mod ddl;
pub mod fold;
pub mod glue;
pub mod names;
pub mod partitions;
pub mod quotas;

use std::collections::BTreeMap;

pub use glue::{
    BatchCreatePartition, Column, DatabaseInput, PartitionInput, SerDeInfo, StorageDescriptor,
    TableInput,
};

use crate::error::{Error, Result};
use crate::model::TableDesc;

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
    /// For a table with [`TableDesc::partition_by`]: the partition values its files were
    /// written under, distinct and in [`partitions::value_order`] (`None` is the NULL
    /// partition). Empty for other tables.
    pub partitions: &'a [Option<String>],
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

/// Checks that a table's partition key can be a folder name and a Glue partition key: `[a-z0-9_]`
/// (so it needs no escaping) and no exported column's name. The partitioning rules choose it
/// so; this keeps the catalog from describing a table Athena would refuse.
pub fn check_partition_key(t: &TableDesc) -> Result<()> {
    let Some(p) = &t.partition_by else {
        return Ok(());
    };
    let plain = !p.key.is_empty()
        && p.key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    let names = names::column_names(t.columns.iter().map(|c| c.name.as_str()));
    let why = if !plain {
        "is not made of a-z, 0-9 and _"
    } else if names.iter().any(|n| n.glue == p.key) {
        "is also an exported column's name"
    } else {
        return Ok(());
    };
    Err(Error::Internal(format!(
        "table {}: partition key {:?} {why}",
        t.name, p.key
    )))
}

/// The Glue table for one exported table: its columns under their exported names, each
/// commented with its source name and type; for a table with partition folders, its
/// partition key and, when the partitions written allow, Athena partition projection.
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
    let mut parameters = BTreeMap::from([
        ("classification".to_string(), "parquet".to_string()),
        ("EXTERNAL".into(), "TRUE".into()),
        ("parquet.compression".into(), "ZSTD".into()),
        ("snapex.export_id".into(), e.export_id.into()),
        ("snapex.source_engine".into(), e.engine.into()),
        ("snapex.source_database".into(), e.source_database.into()),
        ("snapex.source_schema".into(), source.schema.clone()),
        ("snapex.source_table".into(), source.name.clone()),
    ]);
    let mut partition_keys = vec![];
    if let Some(p) = &t.table.partition_by {
        partition_keys.push(partitions::key_column(p));
        match partitions::projection(p, &t.location, t.partitions) {
            Ok(properties) => {
                parameters.extend(properties);
                parameters.insert(partitions::PROJECTION_STATUS.into(), "on".into());
            }
            Err(why) if t.partitions.is_empty() => {
                parameters.insert(partitions::PROJECTION_STATUS.into(), format!("off: {why}"));
            }
            Err(why) => {
                parameters.insert(
                    partitions::PROJECTION_STATUS.into(),
                    format!("off: {why}; partitions are registered instead"),
                );
            }
        }
        if let (_, Some(v)) = partitions::registered(t.partitions) {
            parameters.insert(
                partitions::UNREGISTERED.into(),
                format!(
                    "{}/ holds the rows whose value is empty: Glue has no empty partition \
                     value, and the NULL partition has {}",
                    crate::layout::folder_segment(&p.key, Some(v)),
                    crate::layout::DEFAULT_PARTITION
                ),
            );
        }
    }
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
        partition_keys,
    }
}

/// The `BatchCreatePartition` requests registering the partitions of `t` (see
/// [`partitions::batch_requests`]), whose `TableInput` is `input`; none for a table without
/// partition folders, or with no partition written.
pub fn partition_requests(
    e: &ExportInfo<'_>,
    t: &TableEntry<'_>,
    input: &TableInput,
) -> Vec<BatchCreatePartition> {
    match &t.table.partition_by {
        Some(p) => partitions::batch_requests(e.glue_database, input, p, t.partitions),
        None => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{is_partitions_file_name, partitions_file_name};
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
            dims_unknown: false,
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
            partitions: &[],
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
            partitions: &[],
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
            partitions: &[],
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

    fn events(by: crate::model::PartitionBy, key: &str) -> TableDesc {
        TableDesc {
            name: TableName::new("public", "events"),
            columns: vec![
                col("id", "bigint", ValueKind::Int64),
                col(
                    "created_at",
                    "timestamp with time zone",
                    ValueKind::Timestamp { utc: true },
                ),
            ],
            primary_key: vec!["id".into()],
            split_key: None,
            estimated_bytes: 0,
            estimated_rows: None,
            partitions: vec![],
            partition_by: Some(crate::model::Partitioning {
                key: key.into(),
                column: "created_at".into(),
                by,
            }),
        }
    }

    const DAY: crate::model::PartitionBy = crate::model::PartitionBy::Time {
        granularity: crate::model::Granularity::Day,
    };

    #[test]
    fn a_partitioned_table_has_its_key_and_projection_in_glue_and_athena() {
        let t = events(DAY, "created_at_day");
        let written = [Some("2024-03-01".to_string()), Some("2024-03-03".into())];
        let entry = TableEntry {
            table: &t,
            glue_name: "events",
            location: "s3://b/e/public/events/".into(),
            partitions: &written,
        };
        let input = table_input(&EXPORT, &entry);
        let v = serde_json::to_value(&input).unwrap();
        assert_eq!(
            v["PartitionKeys"],
            json!([{"Name": "created_at_day", "Type": "string", "Comment": "UTC day of \"created_at\""}])
        );
        let names: Vec<&str> = input
            .storage_descriptor
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["id", "created_at"], "the key is not a data column");
        for (k, want) in [
            ("projection.enabled", "true"),
            ("projection.created_at_day.type", "date"),
            ("projection.created_at_day.range", "2024-03-01,2024-03-03"),
            ("snapex.projection", "on"),
        ] {
            assert_eq!(v["Parameters"][k], want, "{k}");
        }
        let sql = ddl::create_table("shop", &input);
        assert!(
            sql.contains(
                "COMMENT 'postgresql table \"public\".\"events\" of database \"Shop\", exported by snapex as \"shop-20240102T030405Z\"'\n\
                 PARTITIONED BY (\n  `created_at_day` string COMMENT 'UTC day of \"created_at\"'\n)\n\
                 STORED AS PARQUET\n"
            ),
            "{sql}"
        );
        assert!(
            sql.contains("  'storage.location.template'='s3://b/e/public/events/created_at_day=${created_at_day}/'\n)\n"),
            "{sql}"
        );
        assert_eq!(ddl::partitions_note("shop", &input, &[]), None);
        let requests = partition_requests(&EXPORT, &entry, &input);
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].database_name, "shop");
        assert_eq!(requests[0].partition_input_list.len(), 2);
    }

    #[test]
    fn without_projection_the_table_says_why_and_the_ddl_how_to_register_partitions() {
        let t = events(DAY, "created_at_day");
        let written = [Some("2024-03-01".to_string()), None];
        let entry = TableEntry {
            table: &t,
            glue_name: "events",
            location: "s3://b/e/public/events/".into(),
            partitions: &written,
        };
        let input = table_input(&EXPORT, &entry);
        assert!(
            !input
                .parameters
                .keys()
                .any(|k| k.starts_with("projection."))
        );
        let status = &input.parameters[partitions::PROJECTION_STATUS];
        assert!(status.starts_with("off: a NULL partition"), "{status}");
        let note = ddl::partitions_note(
            "shop",
            &input,
            &[
                partitions_file_name("events", 1),
                partitions_file_name("events", 2),
            ],
        )
        .unwrap();
        assert!(
            note.starts_with(&format!("-- Partition projection is {status}.\n")),
            "{note}"
        );
        for line in [
            "--   MSCK REPAIR TABLE `shop`.`events`;\n",
            "--   aws glue batch-create-partition --cli-input-json file://events.partitions-0001.json\n",
            "--   aws glue batch-create-partition --cli-input-json file://events.partitions-0002.json\n",
        ] {
            assert!(note.contains(line), "{note}");
        }
        assert!(note.lines().all(|l| l.starts_with("-- ")), "{note}");

        // Nothing written: no projection, no partitions.
        let entry = TableEntry {
            partitions: &[],
            ..entry
        };
        let input = table_input(&EXPORT, &entry);
        assert!(input.parameters[partitions::PROJECTION_STATUS].contains("no partition"));
        assert!(partition_requests(&EXPORT, &entry, &input).is_empty());
        // An unpartitioned table has neither.
        let t = table();
        let entry = TableEntry {
            table: &t,
            glue_name: "t",
            location: "s3://b/t/".into(),
            partitions: &[],
        };
        let input = table_input(&EXPORT, &entry);
        assert!(!input.parameters.contains_key(partitions::PROJECTION_STATUS));
        assert_eq!(ddl::partitions_note("shop", &input, &[]), None);
    }

    #[test]
    fn an_empty_value_beside_a_null_partition_is_named_as_unregistered() {
        let t = events(crate::model::PartitionBy::Value, "created_at_value");
        let written = [Some(String::new()), Some("a".into()), None];
        let entry = TableEntry {
            table: &t,
            glue_name: "events",
            location: "s3://b/e/public/events/".into(),
            partitions: &written,
        };
        let input = table_input(&EXPORT, &entry);
        let why = &input.parameters[partitions::UNREGISTERED];
        assert!(
            why.starts_with("created_at_value=/ holds the rows whose value is empty"),
            "{why}"
        );
        let requests = partition_requests(&EXPORT, &entry, &input);
        assert_eq!(requests[0].partition_input_list.len(), 2);
        // Without a NULL partition, the empty value's folder is registered as NULL.
        let entry = TableEntry {
            partitions: &written[..2],
            ..entry
        };
        let input = table_input(&EXPORT, &entry);
        assert!(!input.parameters.contains_key(partitions::UNREGISTERED));
        let requests = partition_requests(&EXPORT, &entry, &input);
        assert_eq!(
            requests[0].partition_input_list[0].values,
            ["__HIVE_DEFAULT_PARTITION__"]
        );
    }

    #[test]
    fn a_partition_key_must_be_plain_and_no_column_name() {
        assert!(check_partition_key(&events(DAY, "created_at_day")).is_ok());
        assert!(check_partition_key(&table()).is_ok());
        for key in ["created_at", "id", "Day", "a=b", "a/b", ""] {
            let e = check_partition_key(&events(DAY, key)).unwrap_err();
            assert!(e.to_string().contains("partition key"), "{key}: {e}");
        }
        // A column spelled `Created_At_Day` is exported as `created_at_day`.
        let mut t = events(DAY, "created_at_day");
        t.columns
            .push(col("Created_At_Day", "text", ValueKind::Text));
        assert!(check_partition_key(&t).is_err());
    }

    #[test]
    fn partitions_file_names_count_from_one() {
        assert_eq!(partitions_file_name("t", 1), "t.partitions-0001.json");
        assert_eq!(partitions_file_name("t", 12345), "t.partitions-12345.json");
        assert!(is_partitions_file_name("t.partitions-0001.json"));
        assert!(!is_partitions_file_name("t.partitions-1.json"));
        assert!(!is_partitions_file_name("t.table.json"));
    }
}
