//! A table with Hive-style partition folders (see [`crate::partitioning`]) in the catalog: its
//! partition key, Athena partition projection when the partitions written allow it, and a
//! Glue `PartitionInput` for every partition written.
//!
//! Projection lets Athena compute every partition's location from table properties, so
//! queries work without loading partitions. It is enabled only when every written partition
//! can be projected: the NULL partition (`__HIVE_DEFAULT_PARTITION__`) cannot be, nor a value
//! whose folder name differs from the value itself (escaped bytes, an empty value) or that
//! holds the enum list's `,`. Otherwise the table's `snapex.projection` parameter says why,
//! and the partitions are registered from the `.partitions-NNNN.json` files (or found by
//! `MSCK REPAIR TABLE`).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::glue::{
    BatchCreatePartition, Column, MAX_PARTITIONS_PER_BATCH, PartitionInput, TableInput,
};
use crate::layout::{DEFAULT_PARTITION, escape_segment, folder_segment};
use crate::model::{PartitionBy, Partitioning};

/// The table parameter saying whether projection is on and, when it is off, why.
pub const PROJECTION_STATUS: &str = "snapex.projection";

/// The table parameter naming a partition folder that Glue cannot register (see
/// [`registered`]); absent when every folder is registered.
pub const UNREGISTERED: &str = "snapex.unregistered_partition";

/// An enum projection lists every value in one table property. Glue keeps a whole table's
/// metadata in about 1 MB, so a longer list turns projection off instead.
pub const MAX_ENUM_BYTES: usize = 100 * 1024;

/// The order partitions are listed in: time labels and values as text (labels sort in time
/// order), key buckets as numbers, the NULL partition last.
pub fn value_order(by: &PartitionBy, a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) => match by {
            // A value that is not a number (none should be) sorts after the numbers.
            PartitionBy::KeyBuckets { .. } => {
                (a.parse::<i64>().map_err(|_| a), a).cmp(&(b.parse::<i64>().map_err(|_| b), b))
            }
            PartitionBy::Time { .. } | PartitionBy::Value => a.cmp(b),
        },
    }
}

/// The distinct values among `values`, in [`value_order`].
pub fn distinct_values<'a>(
    by: &PartitionBy,
    values: impl IntoIterator<Item = Option<&'a str>>,
) -> Vec<Option<String>> {
    let mut out: Vec<Option<&str>> = values.into_iter().collect();
    out.sort_by(|a, b| value_order(by, *a, *b));
    out.dedup();
    out.into_iter().map(|v| v.map(str::to_string)).collect()
}

/// The partition key as a Glue column: `bigint` for key buckets (a consumer filters them
/// with numbers), `string` for time labels and values. The comment says what it is made of.
pub fn key_column(p: &Partitioning) -> Column {
    let (glue_type, comment) = match p.by {
        PartitionBy::Time { granularity } => (
            "string",
            format!("UTC {} of {:?}", granularity.name(), p.column),
        ),
        PartitionBy::KeyBuckets { width } => (
            "bigint",
            format!(
                "first key of {:?}'s bucket of {width} keys: floor(key / {width}) * {width}",
                p.column
            ),
        ),
        PartitionBy::Value => ("string", format!("value of {:?} as text", p.column)),
    };
    Column::new(p.key.clone(), glue_type.to_string(), &comment)
}

/// The value Glue stores for a partition. Glue has no NULL and no empty value: both read as
/// Hive's default partition name, which Athena, Hive and Spark read back as NULL.
pub fn glue_value(value: Option<&str>) -> String {
    match value {
        None | Some("") => DEFAULT_PARTITION.to_string(),
        Some(v) => v.to_string(),
    }
}

/// A partition's folder URL, ending in `/`: the table's `location` (ending in `/`) and the
/// partition's escaped folder segment, as the files were written (`Layout::partition_dir`).
pub fn partition_location(table_location: &str, key: &str, value: Option<&str>) -> String {
    format!("{table_location}{}/", folder_segment(key, value))
}

/// The written partitions Glue can register, and the one it cannot: the empty value and
/// NULL both become [`DEFAULT_PARTITION`] in Glue, so when both were written only the NULL
/// partition is registered (Hive and Spark write empty values into it in the first place).
pub fn registered(values: &[Option<String>]) -> (Vec<Option<&str>>, Option<&str>) {
    let has_null = values.iter().any(Option::is_none);
    let mut out = Vec::with_capacity(values.len());
    let mut left_out = None;
    for v in values.iter().map(Option::as_deref) {
        if has_null && v == Some("") {
            left_out = v;
        } else {
            out.push(v);
        }
    }
    (out, left_out)
}

/// Athena partition projection properties for the partitions `values` written under
/// `location` (the table's, ending in `/`), or why projection is off.
pub fn projection(
    p: &Partitioning,
    location: &str,
    values: &[Option<String>],
) -> Result<BTreeMap<String, String>, String> {
    let present: Vec<&str> = values.iter().filter_map(Option::as_deref).collect();
    if values.is_empty() {
        return Err("no partition was written".into());
    }
    if present.len() < values.len() {
        return Err(format!(
            "a NULL partition ({DEFAULT_PARTITION}) was written, which projection cannot reach"
        ));
    }
    let key = &p.key;
    let prop = |name: &str| format!("projection.{key}.{name}");
    let mut out = BTreeMap::from([
        ("projection.enabled".to_string(), "true".to_string()),
        (
            "storage.location.template".to_string(),
            format!("{location}{key}=${{{key}}}/"),
        ),
    ]);
    let (first, last) = (present[0], present[present.len() - 1]);
    match p.by {
        PartitionBy::Time { granularity } => {
            out.insert(prop("type"), "date".into());
            out.insert(prop("range"), format!("{first},{last}"));
            out.insert(prop("format"), granularity.projection_format().into());
            out.insert(prop("interval"), "1".into());
            out.insert(prop("interval.unit"), granularity.projection_unit().into());
        }
        PartitionBy::KeyBuckets { width } => {
            let (Ok(lo), Ok(hi)) = (first.parse::<i64>(), last.parse::<i64>()) else {
                return Err("a bucket value is not an integer".into());
            };
            if width == 0 {
                return Err("the bucket width is unknown".into());
            }
            out.insert(prop("type"), "integer".into());
            out.insert(prop("range"), format!("{lo},{hi}"));
            out.insert(prop("interval"), width.to_string());
        }
        PartitionBy::Value => {
            if present.contains(&"") {
                return Err("the empty value was written, which projection cannot list".into());
            }
            if present.iter().any(|v| v.contains(',')) {
                return Err("a value holds a comma, which separates projected values".into());
            }
            // The template puts the value into the location as it is: only values whose
            // folder name is the value itself are found there.
            if present.iter().any(|v| escape_segment(v) != *v) {
                return Err("a value's folder name is escaped (%XX), so the location \
                            template cannot spell it"
                    .into());
            }
            let list = present.join(",");
            if list.len() >= MAX_ENUM_BYTES {
                return Err(format!(
                    "the {} values take {} bytes, more than the {MAX_ENUM_BYTES} a projected \
                     list may",
                    present.len(),
                    list.len()
                ));
            }
            out.insert(prop("type"), "enum".into());
            out.insert(prop("values"), list);
        }
    }
    Ok(out)
}

/// `BatchCreatePartition` requests for the partitions `values` of `table` (whose only
/// partition key is `p`'s), at most [`MAX_PARTITIONS_PER_BATCH`] each. Every partition
/// shares the table's storage descriptor but for its location.
pub fn batch_requests(
    database: &str,
    table: &TableInput,
    p: &Partitioning,
    values: &[Option<String>],
) -> Vec<BatchCreatePartition> {
    let sd = &table.storage_descriptor;
    let inputs: Vec<PartitionInput> = registered(values)
        .0
        .into_iter()
        .map(|v| {
            let mut storage = sd.clone();
            storage.location = partition_location(&sd.location, &p.key, v);
            PartitionInput {
                values: vec![glue_value(v)],
                storage_descriptor: storage,
                parameters: BTreeMap::from([("classification".into(), "parquet".into())]),
            }
        })
        .collect();
    inputs
        .chunks(MAX_PARTITIONS_PER_BATCH)
        .map(|chunk| BatchCreatePartition {
            database_name: database.to_string(),
            table_name: table.name.clone(),
            partition_input_list: chunk.to_vec(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::glue::StorageDescriptor;
    use crate::model::Granularity;

    const LOCATION: &str = "s3://b/e/public/events/";

    fn part(key: &str, by: PartitionBy) -> Partitioning {
        Partitioning {
            key: key.into(),
            column: "c".into(),
            by,
        }
    }

    fn day() -> Partitioning {
        part(
            "created_at_day",
            PartitionBy::Time {
                granularity: Granularity::Day,
            },
        )
    }

    fn values(v: &[Option<&str>]) -> Vec<Option<String>> {
        v.iter().map(|v| v.map(str::to_string)).collect()
    }

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn partitions_are_listed_once_in_value_order_with_null_last() {
        let buckets = PartitionBy::KeyBuckets { width: 1000 };
        assert_eq!(
            distinct_values(
                &buckets,
                [
                    Some("10000"),
                    None,
                    Some("-2000"),
                    Some("9000"),
                    Some("10000")
                ]
            ),
            values(&[Some("-2000"), Some("9000"), Some("10000"), None])
        );
        assert_eq!(
            distinct_values(
                &PartitionBy::Value,
                [Some("b"), Some(""), None, Some("B"), Some("b")]
            ),
            values(&[Some(""), Some("B"), Some("b"), None])
        );
        assert_eq!(
            distinct_values(&day().by, [Some("2024-03-02"), Some("2023-12-31")]),
            values(&[Some("2023-12-31"), Some("2024-03-02")])
        );
    }

    #[test]
    fn time_partitions_project_dates_over_the_range_written() {
        let got = projection(
            &day(),
            LOCATION,
            &values(&[Some("2024-02-28"), Some("2024-03-01")]),
        );
        assert_eq!(
            got,
            Ok(props(&[
                ("projection.enabled", "true"),
                ("projection.created_at_day.type", "date"),
                ("projection.created_at_day.range", "2024-02-28,2024-03-01"),
                ("projection.created_at_day.format", "yyyy-MM-dd"),
                ("projection.created_at_day.interval", "1"),
                ("projection.created_at_day.interval.unit", "DAYS"),
                (
                    "storage.location.template",
                    "s3://b/e/public/events/created_at_day=${created_at_day}/"
                ),
            ]))
        );
        let hour = part(
            "t_hour",
            PartitionBy::Time {
                granularity: Granularity::Hour,
            },
        );
        let got = projection(&hour, LOCATION, &values(&[Some("2024-03-01-13")])).unwrap();
        assert_eq!(
            got["projection.t_hour.range"],
            "2024-03-01-13,2024-03-01-13"
        );
        assert_eq!(got["projection.t_hour.format"], "yyyy-MM-dd-HH");
        assert_eq!(got["projection.t_hour.interval.unit"], "HOURS");
    }

    #[test]
    fn key_buckets_project_integers_a_width_apart() {
        let got = projection(
            &part("id_bucket", PartitionBy::KeyBuckets { width: 1000 }),
            LOCATION,
            &values(&[Some("-3000"), Some("0"), Some("7000")]),
        );
        assert_eq!(
            got,
            Ok(props(&[
                ("projection.enabled", "true"),
                ("projection.id_bucket.type", "integer"),
                ("projection.id_bucket.range", "-3000,7000"),
                ("projection.id_bucket.interval", "1000"),
                (
                    "storage.location.template",
                    "s3://b/e/public/events/id_bucket=${id_bucket}/"
                ),
            ]))
        );
    }

    #[test]
    fn values_project_as_an_enum_only_when_their_folders_spell_them() {
        let region = part("region_value", PartitionBy::Value);
        let got = projection(
            &region,
            LOCATION,
            &values(&[Some("eu-west"), Some("us.east_1")]),
        );
        assert_eq!(
            got,
            Ok(props(&[
                ("projection.enabled", "true"),
                ("projection.region_value.type", "enum"),
                ("projection.region_value.values", "eu-west,us.east_1"),
                (
                    "storage.location.template",
                    "s3://b/e/public/events/region_value=${region_value}/"
                ),
            ]))
        );
        for (odd, why) in [
            (Some(""), "empty value"),
            (Some("a,b"), "comma"),
            (Some("a b"), "escaped"),
            (Some("a/b"), "escaped"),
            (Some("_x"), "escaped"),
            (Some("ü"), "escaped"),
            (None, "NULL partition"),
        ] {
            let e = projection(&region, LOCATION, &values(&[Some("eu"), odd])).unwrap_err();
            assert!(e.contains(why), "{odd:?}: {e}");
        }
        let many: Vec<Option<String>> = (0..20_000).map(|i| Some(format!("v{i:05}"))).collect();
        let e = projection(&region, LOCATION, &many).unwrap_err();
        assert!(e.contains("bytes"), "{e}");
    }

    #[test]
    fn nothing_written_or_a_null_partition_turns_projection_off() {
        assert!(
            projection(&day(), LOCATION, &[])
                .unwrap_err()
                .contains("no partition")
        );
        let e = projection(&day(), LOCATION, &values(&[Some("2024-03-01"), None])).unwrap_err();
        assert!(e.contains(DEFAULT_PARTITION), "{e}");
        let buckets = part("id_bucket", PartitionBy::KeyBuckets { width: 0 });
        assert!(projection(&buckets, LOCATION, &values(&[Some("0")])).is_err());
    }

    fn table() -> TableInput {
        TableInput {
            name: "events".into(),
            description: String::new(),
            table_type: "EXTERNAL_TABLE".into(),
            parameters: BTreeMap::new(),
            storage_descriptor: StorageDescriptor::parquet(vec![], LOCATION.into()),
            partition_keys: vec![key_column(&day())],
        }
    }

    #[test]
    fn partitions_are_requested_a_hundred_at_a_time_at_their_folders() {
        let mut written: Vec<Option<String>> = (0..250)
            .map(|i| Some(Granularity::Day.label(i * 86_400)))
            .collect();
        written.push(None);
        let requests = batch_requests("db", &table(), &day(), &written);
        let sizes: Vec<usize> = requests
            .iter()
            .map(|r| r.partition_input_list.len())
            .collect();
        assert_eq!(sizes, [100, 100, 51]);
        let first = &requests[0].partition_input_list[0];
        assert_eq!(
            (
                requests[0].database_name.as_str(),
                requests[0].table_name.as_str()
            ),
            ("db", "events")
        );
        assert_eq!(first.values, ["1970-01-01"]);
        assert_eq!(
            first.storage_descriptor.location,
            "s3://b/e/public/events/created_at_day=1970-01-01/"
        );
        assert_eq!(
            first.storage_descriptor.serde_info,
            table().storage_descriptor.serde_info
        );
        let null = requests[2].partition_input_list.last().unwrap();
        assert_eq!(null.values, [DEFAULT_PARTITION]);
        assert_eq!(
            null.storage_descriptor.location,
            format!("{LOCATION}created_at_day={DEFAULT_PARTITION}/")
        );
        assert!(batch_requests("db", &table(), &day(), &[]).is_empty());
    }

    #[test]
    fn odd_values_are_registered_exactly_at_their_escaped_folders() {
        let region = part("region_value", PartitionBy::Value);
        let written = values(&[Some(""), Some("a/b=c%d e"), Some("ü")]);
        let inputs = &batch_requests("db", &table(), &region, &written)[0].partition_input_list;
        let got: Vec<(&str, &str)> = inputs
            .iter()
            .map(|p| (p.values[0].as_str(), p.storage_descriptor.location.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                // Glue has no empty value: the folder is registered as NULL.
                (DEFAULT_PARTITION, "s3://b/e/public/events/region_value=/"),
                (
                    "a/b=c%d e",
                    "s3://b/e/public/events/region_value=a%2Fb%3Dc%25d%20e/"
                ),
                ("ü", "s3://b/e/public/events/region_value=%C3%BC/"),
            ]
        );
        // With a NULL partition too, the empty value's folder cannot be registered as well.
        let written = values(&[Some(""), Some("a"), None]);
        assert_eq!(registered(&written), (vec![Some("a"), None], Some("")));
        let inputs = &batch_requests("db", &table(), &region, &written)[0].partition_input_list;
        assert_eq!(inputs.len(), 2);
    }

    #[test]
    fn key_columns_say_what_the_key_is_made_of() {
        let c = key_column(&day());
        assert_eq!(
            (c.name.as_str(), c.glue_type.as_str(), c.comment.as_str()),
            ("created_at_day", "string", "UTC day of \"c\"")
        );
        let c = key_column(&part("id_bucket", PartitionBy::KeyBuckets { width: 500 }));
        assert_eq!(c.glue_type, "bigint");
        assert!(c.comment.contains("500"), "{}", c.comment);
        assert_eq!(
            key_column(&part("r", PartitionBy::Value)).glue_type,
            "string"
        );
    }
}
