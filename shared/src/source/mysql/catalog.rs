//! Discovery from `information_schema`, streamed one column row at a time in table order.

use std::collections::HashMap;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use super::sql::{quote_ident, quote_table};
use super::typemap::{MyColumnType, is_integer, map_type};
use crate::error::{Error, Result};
use crate::model::{ColumnDesc, SkippedTable, SplitKey, TableDesc, TableName};
use crate::source::Discovered;

const COLUMNS: &str = r#"
SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_TYPE,
       c.NUMERIC_PRECISION, c.NUMERIC_SCALE, c.DATETIME_PRECISION, c.IS_NULLABLE,
       t.DATA_LENGTH, t.TABLE_ROWS
  FROM information_schema.COLUMNS c
  JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
 WHERE t.TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') AND "#;

/// Primary key columns, read before the column stream: a correlated subquery per column on
/// `information_schema.STATISTICS` makes MariaDB open every table's definition once per column.
const PRIMARY_KEYS: &str = r#"
SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.SEQ_IN_INDEX
  FROM information_schema.STATISTICS c
 WHERE c.INDEX_NAME = 'PRIMARY' AND "#;

/// Columns of unique indexes other than the primary key, for tables that have no usable key:
/// a unique, NOT NULL, single integer column splits a table as well as a primary key does.
const UNIQUE_INDEXES: &str = r#"
SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.INDEX_NAME, c.COLUMN_NAME, c.NULLABLE
  FROM information_schema.STATISTICS c
 WHERE c.NON_UNIQUE = 0 AND c.INDEX_NAME <> 'PRIMARY' AND "#;

const ONE_SCHEMA: &str = "c.TABLE_SCHEMA = ?";
const USER_SCHEMAS: &str =
    "c.TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')";
const ORDER: &str = " ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION";

fn text(row: &Row, i: usize) -> Result<String> {
    match row.as_ref(i) {
        Some(Value::Bytes(b)) => Ok(String::from_utf8_lossy(b).into_owned()),
        Some(Value::NULL) | None => Ok(String::new()),
        Some(other) => Ok(other.as_sql(true)),
    }
}

fn number(row: &Row, i: usize) -> Option<u64> {
    match row.as_ref(i)? {
        Value::Int(v) => u64::try_from(*v).ok(),
        Value::UInt(v) => Some(*v),
        Value::Bytes(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}

/// Streams every base table of `database` (or of every user database) to `each`.
pub async fn discover(
    conn: &mut Conn,
    database: Option<&str>,
    mut each: impl FnMut(Discovered) -> Result<()>,
) -> Result<()> {
    let schemas = if database.is_some() {
        ONE_SCHEMA
    } else {
        USER_SCHEMAS
    };
    let params: Vec<Value> = database.map(|d| vec![Value::from(d)]).unwrap_or_default();
    let mut keys: HashMap<TableName, Vec<(u64, String)>> = HashMap::new();
    let pk_rows: Vec<Row> = conn
        .exec(format!("{PRIMARY_KEYS}{schemas}"), params.clone())
        .await
        .map_err(|e| Error::mysql("listing primary keys", e))?;
    for row in pk_rows {
        let table = TableName::new(text(&row, 0)?, text(&row, 1)?);
        keys.entry(table)
            .or_default()
            .push((number(&row, 3).unwrap_or(0), text(&row, 2)?));
    }
    // (table, index) -> its columns, and whether any of them may be NULL.
    let mut indexes: HashMap<(TableName, String), (Vec<String>, bool)> = HashMap::new();
    let index_rows: Vec<Row> = conn
        .exec(format!("{UNIQUE_INDEXES}{schemas}"), params.clone())
        .await
        .map_err(|e| Error::mysql("listing unique indexes", e))?;
    for row in index_rows {
        let table = TableName::new(text(&row, 0)?, text(&row, 1)?);
        let entry = indexes.entry((table, text(&row, 2)?)).or_default();
        entry.0.push(text(&row, 3)?);
        entry.1 |= text(&row, 4)? == "YES";
    }
    let mut unique_columns: HashMap<TableName, Vec<(String, String)>> = HashMap::new();
    for ((table, index), (columns, nullable)) in indexes {
        if let ([column], false) = (columns.as_slice(), nullable) {
            unique_columns
                .entry(table)
                .or_default()
                .push((index, column.clone()));
        }
    }
    let mut result = conn
        .exec_iter(format!("{COLUMNS}{schemas}{ORDER}"), params)
        .await
        .map_err(|e| Error::mysql("listing tables and columns", e))?;
    let mut current: Option<Building> = None;
    while let Some(row) = result
        .next()
        .await
        .map_err(|e| Error::mysql("listing tables and columns", e))?
    {
        let name = TableName::new(text(&row, 0)?, text(&row, 1)?);
        if current.as_ref().is_none_or(|b| b.table.name != name) {
            if let Some(done) = current.take() {
                each(done.finish())?;
            }
            let name_for_unique = name.clone();
            current = Some(Building {
                table: TableDesc {
                    name,
                    columns: vec![],
                    primary_key: vec![],
                    split_key: None,
                    estimated_bytes: number(&row, 9).unwrap_or(0),
                    estimated_rows: number(&row, 10),
                    partitions: vec![],
                    partition_by: None,
                },
                pk: vec![],
                unique: {
                    let mut u = unique_columns.remove(&name_for_unique).unwrap_or_default();
                    u.sort();
                    u.into_iter().map(|(_, c)| c).collect()
                },
                types: HashMap::new(),
                unsupported: vec![],
            });
        }
        let b = current.as_mut().expect("set above");
        let column = text(&row, 2)?;
        let ty = MyColumnType {
            data_type: text(&row, 3)?.to_ascii_lowercase(),
            column_type: text(&row, 4)?,
            precision: number(&row, 5),
            scale: number(&row, 6),
            datetime_precision: number(&row, 7),
        };
        let key = keys
            .get(&b.table.name)
            .and_then(|k| k.iter().find(|(_, c)| *c == column));
        if let Some((pos, _)) = key {
            b.pk.push((*pos, column.clone(), ty.data_type.clone()));
        }
        b.types.insert(column.clone(), ty.data_type.clone());
        match map_type(&ty) {
            Ok(m) => b.table.columns.push(ColumnDesc {
                name: column,
                source_type: ty.column_type.clone(),
                kind: m.kind,
                nullable: text(&row, 8)? == "YES",
                read: m.read,
                // The TIME decoder needs the declared fractional digits.
                wire: if m.wire == "time" {
                    format!("time:{}", ty.datetime_precision.unwrap_or(0))
                } else {
                    m.wire
                },
                lossy_rules: m.lossy,
            }),
            Err(why) => b
                .unsupported
                .push(format!("column {column:?} ({}): {}", ty.column_type, why.0)),
        }
    }
    drop(result);
    if let Some(done) = current.take() {
        each(done.finish())?;
    }
    Ok(())
}

struct Building {
    table: TableDesc,
    pk: Vec<(u64, String, String)>,
    /// Single-column unique NOT NULL indexes' columns, by index name.
    unique: Vec<String>,
    /// Each column's `DATA_TYPE`.
    types: HashMap<String, String>,
    unsupported: Vec<String>,
}

impl Building {
    fn finish(mut self) -> Discovered {
        if !self.unsupported.is_empty() {
            return Discovered::Skipped(SkippedTable {
                name: self.table.name,
                reason: format!("unsupported column type: {}", self.unsupported.join("; ")),
            });
        }
        self.pk.sort();
        let primary = match self.pk.as_slice() {
            [(_, key, ty)] if is_integer(ty) => Some(key.clone()),
            _ => None,
        };
        // Without an integer primary key, a unique NOT NULL integer column does as well: its
        // ranges hold each row exactly once.
        let split = primary.or_else(|| {
            self.unique
                .iter()
                .find(|c| self.types.get(*c).is_some_and(|t| is_integer(t)))
                .cloned()
        });
        if let Some(column) = split {
            self.table.split_key = Some(SplitKey {
                physical: false,
                quantiles: vec![],
                column,
                bounds: None,
            });
        }
        self.table.primary_key = self.pk.into_iter().map(|(_, n, _)| n).collect();
        Discovered::Table(Box::new(self.table))
    }
}

/// Fills in the split key's bounds. A BIGINT UNSIGNED key beyond the signed range is not split
/// (the whole table is read as one piece) rather than risk a range that cannot be written down.
pub async fn fetch_bounds(conn: &mut Conn, table: &mut TableDesc) -> Result<()> {
    let Some(key) = table.split_key.as_mut() else {
        return Ok(());
    };
    let k = quote_ident(&key.column);
    let sql = format!(
        "SELECT MIN({k}), MAX({k}) FROM {}",
        quote_table(&table.name)
    );
    let row: Option<(Value, Value)> = conn
        .query_first(sql)
        .await
        .map_err(|e| Error::mysql(format!("reading key bounds of {}", table.name), e))?;
    // NULL (an empty table) is `Some(None)`; a value beyond i64 (`BIGINT UNSIGNED`) is `None`.
    let as_i64 = |v: &Value| match v {
        Value::NULL => Some(None),
        v => int_value(v).map(Some),
    };
    match row.as_ref().map(|(lo, hi)| (as_i64(lo), as_i64(hi))) {
        Some((Some(Some(lo)), Some(Some(hi)))) => key.bounds = Some((lo, hi)),
        Some((Some(None), Some(None))) | None => key.bounds = None,
        _ => table.split_key = None,
    }
    if let Some(SplitKey {
        bounds: Some((lo, hi)),
        column,
        ..
    }) = &table.split_key
    {
        let (lo, hi, column) = (*lo, *hi, column.clone());
        let quantiles = key_quantiles(conn, table, &column, lo, hi).await?;
        if let Some(key) = table.split_key.as_mut() {
            key.quantiles = quantiles;
        }
    }
    Ok(())
}

/// An integer as either protocol sends it (the text protocol as digits), if it fits an i64.
pub(super) fn int_value(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::UInt(u) => i64::try_from(*u).ok(),
        Value::Bytes(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}

/// At most this many index dives per table: a few hundred suffice for a hundred quantiles.
const MAX_DIVES: usize = 2048;
/// Quantiles handed to the planner, as PostgreSQL's histograms have about a hundred.
const QUANTILES: usize = 100;

/// Equal-frequency quantiles of the key from the optimizer's row estimates for key ranges
/// (`EXPLAIN ... WHERE key BETWEEN ? AND ?`; InnoDB answers each from a dive into the index,
/// without reading the rows). The key span is bisected wherever a range holds more than a
/// small share of the table, so dense regions are measured finely and empty gaps (of billions
/// of keys) cost a few dives. Empty when the estimates are unusable: the planner then splits
/// the span evenly.
async fn key_quantiles(
    conn: &mut Conn,
    table: &TableDesc,
    column: &str,
    lo: i64,
    hi: i64,
) -> Result<Vec<i64>> {
    let k = quote_ident(column);
    let sql = format!(
        "EXPLAIN SELECT {k} FROM {} WHERE {k} BETWEEN ? AND ?",
        quote_table(&table.name)
    );
    let context = || format!("estimating the key distribution of {}", table.name);
    let rows_total = table.estimated_rows.unwrap_or(0).max(1);
    let fine = (rows_total / (4 * QUANTILES as u64)).max(1);
    let mut leaves: Vec<(i64, i64, u64)> = Vec::new();
    let mut todo = vec![(lo, hi)];
    let mut dives = 0;
    while let Some((a, b)) = todo.pop() {
        let row: Option<Row> = conn
            .exec_first(&sql, (a, b))
            .await
            .map_err(|e| Error::mysql(context(), e))?;
        dives += 1;
        let estimate = row
            .and_then(|r| r.get_opt::<Option<u64>, _>("rows").and_then(|v| v.ok()))
            .flatten();
        let Some(estimate) = estimate else {
            return Ok(vec![]);
        };
        if estimate > fine && a < b && dives + todo.len() < MAX_DIVES {
            let mid = (a as i128 + (b as i128 - a as i128) / 2) as i64;
            todo.push((mid + 1, b));
            todo.push((a, mid));
        } else {
            leaves.push((a, b, estimate));
        }
    }
    leaves.sort();
    Ok(crate::plan::quantiles_from_counts(&leaves, QUANTILES))
}
