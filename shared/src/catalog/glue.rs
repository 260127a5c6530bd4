//! The AWS Glue Data Catalog request shapes, as the Glue API spells them (PascalCase JSON), so
//! a file holding one is a valid `--database-input` or `--table-input` for the AWS CLI and
//! `DatabaseInput=` / `TableInput=` for an SDK, and a [`BatchCreatePartition`] file is a whole
//! `batch-create-partition --cli-input-json` request. Only the fields we set are modelled.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Athena reads a table with these formats and SerDe as Parquet.
pub const TABLE_TYPE: &str = "EXTERNAL_TABLE";
pub const PARQUET_INPUT_FORMAT: &str =
    "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
pub const PARQUET_OUTPUT_FORMAT: &str =
    "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";
pub const PARQUET_SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";

/// Glue limits a column comment to 255 characters.
pub const MAX_COMMENT_CHARS: usize = 255;

/// `CreateDatabase`'s `DatabaseInput`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DatabaseInput {
    pub name: String,
    pub description: String,
}

/// `CreateTable`'s `TableInput`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableInput {
    pub name: String,
    pub description: String,
    /// Always [`TABLE_TYPE`]: the data lives outside Glue and is never deleted with the table.
    pub table_type: String,
    pub parameters: BTreeMap<String, String>,
    pub storage_descriptor: StorageDescriptor,
    /// Athena wants the list even when empty.
    pub partition_keys: Vec<Column>,
}

/// `BatchCreatePartition`'s request: the partitions of one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchCreatePartition {
    pub database_name: String,
    pub table_name: String,
    /// At most [`MAX_PARTITIONS_PER_BATCH`].
    pub partition_input_list: Vec<PartitionInput>,
}

/// Glue takes at most this many partitions in one `BatchCreatePartition`.
pub const MAX_PARTITIONS_PER_BATCH: usize = 100;

/// One partition: its values, one per partition key, and where its files are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PartitionInput {
    pub values: Vec<String>,
    pub storage_descriptor: StorageDescriptor,
    pub parameters: BTreeMap<String, String>,
}

/// Where a table's (or a partition's) files are and how to read them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StorageDescriptor {
    pub columns: Vec<Column>,
    /// The folder holding the files, ending in `/`.
    pub location: String,
    pub input_format: String,
    pub output_format: String,
    /// Glue's field is `SerdeInfo`; its type is named `SerDeInfo`.
    pub serde_info: SerDeInfo,
}

/// The SerDe (serializer/deserializer) that reads the files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SerDeInfo {
    pub serialization_library: String,
    pub parameters: BTreeMap<String, String>,
}

/// One column of a table (or a partition key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Column {
    pub name: String,
    /// The Hive type, e.g. `decimal(12,2)` or `array<string>`.
    #[serde(rename = "Type")]
    pub glue_type: String,
    pub comment: String,
}

impl StorageDescriptor {
    /// Parquet files under `location`, read by Hive's Parquet SerDe.
    pub fn parquet(columns: Vec<Column>, location: String) -> StorageDescriptor {
        StorageDescriptor {
            columns,
            location,
            input_format: PARQUET_INPUT_FORMAT.into(),
            output_format: PARQUET_OUTPUT_FORMAT.into(),
            serde_info: SerDeInfo {
                serialization_library: PARQUET_SERDE.into(),
                parameters: BTreeMap::from([("serialization.format".into(), "1".into())]),
            },
        }
    }
}

impl Column {
    /// A column whose comment is cut to what Glue accepts.
    pub fn new(name: String, glue_type: String, comment: &str) -> Column {
        Column {
            name,
            glue_type,
            comment: single_line(comment, MAX_COMMENT_CHARS),
        }
    }
}

/// `text` with control characters (which Glue's single-line pattern refuses) replaced by a
/// space, cut to `max` characters.
pub fn single_line(text: &str, max: usize) -> String {
    text.chars()
        .map(|c| if c.is_control() && c != '\t' { ' ' } else { c })
        .take(max)
        .collect()
}
