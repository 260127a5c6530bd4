//! The planner's picture of a partitioned table: one aggregate query, inside the export's
//! snapshot, counting rows per partition group (a time step one level finer than the
//! partition, a key bucket, or a value) with the split key's span in each. It costs one scan
//! of the table (an index-only scan when an index covers the column and the key).

use super::reader::from_table;
use super::sql::quote_ident;
use crate::error::{Error, Result};
use crate::model::{GroupValue, PartitionBy, Partitioning, ProfileGroup, TableDesc};
use crate::types::ValueKind;

/// The expression giving a row's time as a `timestamp` read in UTC.
fn utc_time(table: &TableDesc, p: &Partitioning) -> Result<(String, bool)> {
    let c = quote_ident(&p.column);
    let kind = table
        .column(&p.column)
        .map(|col| &col.kind)
        .ok_or_else(|| Error::Internal(format!("{}: no column {:?}", table.name, p.column)))?;
    Ok(match kind {
        ValueKind::Timestamp { utc: true } => (format!("({c} AT TIME ZONE 'UTC')"), false),
        ValueKind::Date => (format!("{c}::timestamp"), true),
        _ => (c, false),
    })
}

/// True for a time that can name a partition: finite, and in years 1 to 9999, whose labels
/// are the four digits Athena's projection (`yyyy`) and readers of Hive folders expect. Other
/// times go to the NULL partition, as `infinity` does: a timestamp beyond Parquet's range is
/// written as NULL there (its lossy rule), any other time keeps its value.
pub(super) fn partitionable(table: &TableDesc, p: &Partitioning) -> String {
    let c = quote_ident(&p.column);
    let (first, end) = match table.column(&p.column).map(|col| &col.kind) {
        Some(ValueKind::Timestamp { utc: true }) => (
            "'0001-01-01 00:00:00+00'::timestamptz",
            "'10000-01-01 00:00:00+00'::timestamptz",
        ),
        Some(ValueKind::Date) => ("'0001-01-01'::date", "'10000-01-01'::date"),
        _ => (
            "'0001-01-01 00:00:00'::timestamp",
            "'10000-01-01 00:00:00'::timestamp",
        ),
    };
    format!("({c} >= {first} AND {c} < {end})")
}

/// True for a value whose text form can name a value partition. A `SQL_ASCII` database may
/// hold text that is not UTF-8: the decoder writes it as NULL (counted), so its rows go to the
/// NULL partition. The pattern is UTF-8's well-formed byte sequences (RFC 3629, as Rust's
/// `str::from_utf8` checks them), matched byte by byte, as a `SQL_ASCII` database compares.
pub(super) fn names_a_value(column: &str) -> String {
    format!(
        "(current_setting('server_encoding') <> 'SQL_ASCII' OR {column}::text ~ \
         '^([\\x01-\\x7f]|[\\xc2-\\xdf][\\x80-\\xbf]|\\xe0[\\xa0-\\xbf][\\x80-\\xbf]\
         |[\\xe1-\\xec\\xee\\xef][\\x80-\\xbf]{{2}}|\\xed[\\x80-\\x9f][\\x80-\\xbf]\
         |\\xf0[\\x90-\\xbf][\\x80-\\xbf]{{2}}|[\\xf1-\\xf3][\\x80-\\xbf]{{3}}\
         |\\xf4[\\x80-\\x8f][\\x80-\\xbf]{{2}})*$')"
    )
}

/// The split key as an `int8` expression (heap block numbers for a physical key), or NULL when
/// the table has none to narrow reads with.
fn key_expr(table: &TableDesc) -> String {
    match &table.split_key {
        Some(k) if table.partitions.is_empty() && k.physical => {
            "((ctid::text::point)[0])::int8".into()
        }
        Some(k) if table.partitions.is_empty() => format!("{}::int8", quote_ident(&k.column)),
        _ => "NULL::int8".into(),
    }
}

pub(super) async fn profile(
    client: &tokio_postgres::Client,
    table: &TableDesc,
    p: &Partitioning,
) -> Result<Vec<ProfileGroup>> {
    let c = quote_ident(&p.column);
    let k = key_expr(table);
    let (group, step): (String, Option<i64>) = match p.by {
        PartitionBy::Time { granularity } => {
            let (t, date) = utc_time(table, p)?;
            let g = format!(
                "CASE WHEN {} THEN \
                 (floor(extract(epoch FROM {t}) / $1::int8) * $1::int8)::int8 END",
                partitionable(table, p)
            );
            (g, Some(granularity.profile_step(date)))
        }
        PartitionBy::KeyBuckets { width } => (
            format!("floor({c}::numeric / $1::int8)::int8"),
            Some(i64::try_from(width.max(1)).unwrap_or(i64::MAX)),
        ),
        PartitionBy::Value => (
            format!("CASE WHEN {} THEN {c}::text END", names_a_value(&c)),
            None,
        ),
    };
    let sql = format!(
        "SELECT {group}, count(*)::int8, min({k}), max({k}) FROM {} GROUP BY 1",
        from_table(table)
    );
    let context = || format!("counting rows per partition of {}", table.name);
    let rows = match &step {
        Some(s) => client.query(&sql, &[s]).await,
        None => client.query(&sql, &[]).await,
    }
    .map_err(|e| Error::query(context(), e))?;
    rows.iter()
        .map(|r| {
            let value = match p.by {
                PartitionBy::Value => r.get::<_, Option<String>>(0).map(GroupValue::Text),
                PartitionBy::Time { .. } => r.get::<_, Option<i64>>(0).map(GroupValue::Time),
                PartitionBy::KeyBuckets { .. } => {
                    r.get::<_, Option<i64>>(0).map(GroupValue::Bucket)
                }
            };
            let keys = match (r.get::<_, Option<i64>>(2), r.get::<_, Option<i64>>(3)) {
                (Some(lo), Some(hi)) => Some((lo, hi)),
                _ => None,
            };
            Ok(ProfileGroup {
                value: value.unwrap_or(GroupValue::Null),
                rows: r.get::<_, i64>(1).max(0) as u64,
                keys,
            })
        })
        .collect()
}
