//! The planner's picture of a partitioned table on MySQL/MariaDB: one aggregate query on the
//! coordinating connection counting rows per partition group with the split key's span in each
//! (see `source::postgres::profile` for what it is for). It costs one scan of the table.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use super::reader::{epoch_seconds, exact_text};
use super::sql::{quote_ident, quote_table};
use crate::error::{Error, Result};
use crate::model::{GroupValue, PartitionBy, Partitioning, ProfileGroup, TableDesc};
use crate::types::ValueKind;

pub(super) async fn profile(
    conn: &mut Conn,
    table: &TableDesc,
    p: &Partitioning,
) -> Result<Vec<ProfileGroup>> {
    let c = quote_ident(&p.column);
    // A tuple key has no integer span to hint a piece's range with.
    let k = match &table.split_key {
        Some(key) if key.tuples.is_none() => quote_ident(&key.column),
        _ => "NULL".into(),
    };
    let (group, params) = match p.by {
        PartitionBy::Time { granularity } => {
            let date = table
                .column(&p.column)
                .is_some_and(|col| col.kind == ValueKind::Date);
            let step = granularity.profile_step(date);
            (
                format!("CAST(FLOOR({} / ?) AS SIGNED) * ?", epoch_seconds(&c)),
                vec![Value::Int(step), Value::Int(step)],
            )
        }
        PartitionBy::KeyBuckets { width } => (
            format!("CAST(FLOOR({c} / ?) AS SIGNED)"),
            vec![Value::Int(i64::try_from(width.max(1)).unwrap_or(i64::MAX))],
        ),
        PartitionBy::Value => (exact_text(&c), vec![]),
    };
    let sql = format!(
        "SELECT {group}, COUNT(*), CAST(MIN({k}) AS SIGNED), CAST(MAX({k}) AS SIGNED) \
         FROM {} GROUP BY 1",
        quote_table(&table.name)
    );
    let context = || format!("counting rows per partition of {}", table.name);
    let rows: Vec<Row> = conn
        .exec(sql, params)
        .await
        .map_err(|e| Error::mysql(context(), e))?;
    rows.into_iter()
        .map(|r| {
            let cell = |i: usize| r.as_ref(i).cloned().unwrap_or(Value::NULL);
            let int = |v: Value| super::bounds::int_value(&v);
            let value = match (p.by, cell(0)) {
                (_, Value::NULL) => GroupValue::Null,
                (PartitionBy::Value, Value::Bytes(b)) => {
                    GroupValue::Text(String::from_utf8(b).map_err(|_| {
                        Error::Internal(format!("{}: a value is not UTF-8", context()))
                    })?)
                }
                (PartitionBy::Value, v) => {
                    return Err(Error::Internal(format!("{}: value {v:?}", context())));
                }
                (PartitionBy::Time { .. }, v) => GroupValue::Time(int(v).ok_or_else(|| {
                    Error::Internal(format!("{}: time group not an integer", context()))
                })?),
                (PartitionBy::KeyBuckets { .. }, v) => {
                    GroupValue::Bucket(int(v).ok_or_else(|| {
                        Error::Internal(format!("{}: bucket not an integer", context()))
                    })?)
                }
            };
            let keys = match (int(cell(2)), int(cell(3))) {
                (Some(lo), Some(hi)) => Some((lo, hi)),
                _ => None,
            };
            Ok(ProfileGroup {
                value,
                rows: int(cell(1)).unwrap_or(0).max(0) as u64,
                keys,
            })
        })
        .collect()
}
