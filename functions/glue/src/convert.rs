//! Between snapex's catalog shapes ([`snapex::catalog::glue`], what the catalog files hold)
//! and the SDK's: to the SDK's input builders for requests, and from what Glue returns back
//! to snapex's shapes, so "is the catalog already what this export describes?" is one `==`
//! over exactly the fields snapex sets. Fields Glue adds on its own (creation times, owner,
//! `Compressed`, ...) are never compared, so they never cause an update.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_glue::error::BuildError;
use aws_sdk_glue::types;
use snapex::catalog::glue::{
    Column, DatabaseInput, PartitionInput, SerDeInfo, StorageDescriptor, TableInput,
};

use crate::error::GlueError;

fn build_error(target: &str) -> impl FnOnce(BuildError) -> GlueError + '_ {
    move |e| GlueError::Build {
        target: target.to_string(),
        message: e.to_string(),
    }
}

fn to_map(m: &BTreeMap<String, String>) -> HashMap<String, String> {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn from_map(m: Option<&HashMap<String, String>>) -> BTreeMap<String, String> {
    m.into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

pub(crate) fn database_input(d: &DatabaseInput) -> Result<types::DatabaseInput, GlueError> {
    types::DatabaseInput::builder()
        .name(&d.name)
        .description(&d.description)
        .build()
        .map_err(build_error(&d.name))
}

fn column(c: &Column, target: &str) -> Result<types::Column, GlueError> {
    types::Column::builder()
        .name(&c.name)
        .r#type(&c.glue_type)
        .comment(&c.comment)
        .build()
        .map_err(build_error(target))
}

fn columns(cs: &[Column], target: &str) -> Result<Vec<types::Column>, GlueError> {
    cs.iter().map(|c| column(c, target)).collect()
}

fn storage_descriptor(
    sd: &StorageDescriptor,
    target: &str,
) -> Result<types::StorageDescriptor, GlueError> {
    Ok(types::StorageDescriptor::builder()
        .set_columns(Some(columns(&sd.columns, target)?))
        .location(&sd.location)
        .input_format(&sd.input_format)
        .output_format(&sd.output_format)
        .serde_info(
            types::SerDeInfo::builder()
                .serialization_library(&sd.serde_info.serialization_library)
                .set_parameters(Some(to_map(&sd.serde_info.parameters)))
                .build(),
        )
        .build())
}

pub(crate) fn table_input(t: &TableInput) -> Result<types::TableInput, GlueError> {
    types::TableInput::builder()
        .name(&t.name)
        .description(&t.description)
        .table_type(&t.table_type)
        .set_parameters(Some(to_map(&t.parameters)))
        .storage_descriptor(storage_descriptor(&t.storage_descriptor, &t.name)?)
        // Sent even when empty: Athena wants the list.
        .set_partition_keys(Some(columns(&t.partition_keys, &t.name)?))
        .build()
        .map_err(build_error(&t.name))
}

pub(crate) fn partition_input(
    p: &PartitionInput,
    table: &str,
) -> Result<types::PartitionInput, GlueError> {
    Ok(types::PartitionInput::builder()
        .set_values(Some(p.values.clone()))
        .storage_descriptor(storage_descriptor(&p.storage_descriptor, table)?)
        .set_parameters(Some(to_map(&p.parameters)))
        .build())
}

fn column_from_glue(c: &types::Column) -> Column {
    Column {
        name: c.name().to_string(),
        glue_type: c.r#type().unwrap_or_default().to_string(),
        comment: c.comment().unwrap_or_default().to_string(),
    }
}

fn storage_from_glue(sd: Option<&types::StorageDescriptor>) -> StorageDescriptor {
    let serde = sd.and_then(|sd| sd.serde_info());
    StorageDescriptor {
        columns: sd
            .map(|sd| sd.columns().iter().map(column_from_glue).collect())
            .unwrap_or_default(),
        location: sd.and_then(|sd| sd.location()).unwrap_or_default().into(),
        input_format: sd
            .and_then(|sd| sd.input_format())
            .unwrap_or_default()
            .into(),
        output_format: sd
            .and_then(|sd| sd.output_format())
            .unwrap_or_default()
            .into(),
        serde_info: SerDeInfo {
            serialization_library: serde
                .and_then(|s| s.serialization_library())
                .unwrap_or_default()
                .into(),
            parameters: from_map(serde.and_then(|s| s.parameters())),
        },
    }
}

/// A table as Glue holds it, in the shape of the `TableInput` that would have made it.
pub(crate) fn table_from_glue(t: &types::Table) -> TableInput {
    TableInput {
        name: t.name().to_string(),
        description: t.description().unwrap_or_default().to_string(),
        table_type: t.table_type().unwrap_or_default().to_string(),
        parameters: from_map(t.parameters()),
        storage_descriptor: storage_from_glue(t.storage_descriptor()),
        partition_keys: t.partition_keys().iter().map(column_from_glue).collect(),
    }
}

/// A partition as Glue holds it, in the shape of the `PartitionInput` that would have made it.
pub(crate) fn partition_from_glue(p: &types::Partition) -> PartitionInput {
    PartitionInput {
        values: p.values().to_vec(),
        storage_descriptor: storage_from_glue(p.storage_descriptor()),
        parameters: from_map(p.parameters()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> TableInput {
        TableInput {
            name: "events".into(),
            description: "d".into(),
            table_type: "EXTERNAL_TABLE".into(),
            parameters: BTreeMap::from([("classification".into(), "parquet".into())]),
            storage_descriptor: StorageDescriptor::parquet(
                vec![Column::new("id".into(), "bigint".into(), "\"id\" bigint")],
                "s3://b/e/public/events/".into(),
            ),
            partition_keys: vec![Column::new("d".into(), "string".into(), "day")],
        }
    }

    /// What Glue answers for a table it was given: the input plus fields it adds itself.
    fn as_glue_returns(input: types::TableInput) -> types::Table {
        types::Table::builder()
            .name(input.name())
            .database_name("shop")
            .set_description(input.description().map(str::to_string))
            .set_table_type(input.table_type().map(str::to_string))
            .set_parameters(input.parameters().cloned())
            .set_storage_descriptor(input.storage_descriptor().map(|sd| {
                let mut sd = sd.clone();
                sd.compressed = false;
                sd.number_of_buckets = 0;
                sd
            }))
            .set_partition_keys(Some(input.partition_keys().to_vec()))
            .owner("someone")
            .build()
            .unwrap()
    }

    #[test]
    fn a_table_round_trips_through_the_sdk_shapes() {
        let t = table();
        let sdk = table_input(&t).unwrap();
        assert_eq!(sdk.partition_keys()[0].r#type(), Some("string"));
        assert_eq!(
            sdk.storage_descriptor()
                .and_then(|sd| sd.serde_info())
                .and_then(|s| s.serialization_library()),
            Some(snapex::catalog::glue::PARQUET_SERDE)
        );
        assert_eq!(table_from_glue(&as_glue_returns(sdk)), t);
    }

    #[test]
    fn any_field_snapex_sets_counts_as_a_difference() {
        let t = table();
        let mut moved = t.clone();
        moved.storage_descriptor.location = "s3://b/f/public/events/".into();
        let mut retyped = t.clone();
        retyped.storage_descriptor.columns[0].glue_type = "int".into();
        let mut reparam = t.clone();
        reparam.parameters.insert("extra".into(), "1".into());
        for other in [moved, retyped, reparam] {
            let back = table_from_glue(&as_glue_returns(table_input(&other).unwrap()));
            assert_ne!(back, t);
            assert_eq!(back, other);
        }
    }

    #[test]
    fn a_partition_round_trips_through_the_sdk_shapes() {
        let p = PartitionInput {
            values: vec!["__HIVE_DEFAULT_PARTITION__".into()],
            storage_descriptor: table().storage_descriptor,
            parameters: BTreeMap::from([("classification".into(), "parquet".into())]),
        };
        let sdk = partition_input(&p, "events").unwrap();
        let back = types::Partition::builder()
            .set_values(sdk.values.clone())
            .set_storage_descriptor(sdk.storage_descriptor.clone())
            .set_parameters(sdk.parameters.clone())
            .database_name("shop")
            .table_name("events")
            .build();
        assert_eq!(partition_from_glue(&back), p);
    }
}
