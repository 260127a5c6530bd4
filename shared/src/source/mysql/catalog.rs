//! Discovery from `information_schema`, streamed one column row at a time in table order.

use std::collections::HashMap;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use super::rowkey;
use super::typemap::{MyColumnType, is_integer, map_type};
use crate::error::{Error, Result};
use crate::model::{ColumnDesc, SkippedTable, SplitKey, TableDesc, TableName, TupleKey};
use crate::source::Discovered;

const COLUMNS: &str = r#"
SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_TYPE,
       c.NUMERIC_PRECISION, c.NUMERIC_SCALE, c.DATETIME_PRECISION, c.IS_NULLABLE,
       t.DATA_LENGTH, t.TABLE_ROWS
  FROM information_schema.COLUMNS c
  JOIN information_schema.TABLES t
    ON CAST(t.TABLE_SCHEMA AS BINARY) = CAST(c.TABLE_SCHEMA AS BINARY)
   AND CAST(t.TABLE_NAME AS BINARY) = CAST(c.TABLE_NAME AS BINARY)
 WHERE t.TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') AND "#;

/// Primary key columns, read before the column stream: a correlated subquery per column on
/// `information_schema.STATISTICS` makes MariaDB open every table's definition once per column.
const PRIMARY_KEYS: &str = r#"
SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.SEQ_IN_INDEX, c.SUB_PART
  FROM information_schema.STATISTICS c
 WHERE c.INDEX_NAME = 'PRIMARY' AND "#;

/// Columns of unique indexes other than the primary key, for tables that have no usable key:
/// a unique index whose columns are all NOT NULL (and not prefixes) holds each row's key once,
/// as a primary key does.
const UNIQUE_INDEXES: &str = r#"
SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.INDEX_NAME, c.COLUMN_NAME, c.NULLABLE, c.SEQ_IN_INDEX,
       c.SUB_PART
  FROM information_schema.STATISTICS c
 WHERE c.NON_UNIQUE = 0 AND c.INDEX_NAME <> 'PRIMARY' AND "#;

/// Views, listed as skipped: they hold no rows of their own.
const VIEWS: &str = r#"
SELECT c.TABLE_SCHEMA, c.TABLE_NAME
  FROM information_schema.TABLES c
 WHERE c.TABLE_TYPE = 'VIEW' AND "#;

const ONE_SCHEMA: &str = "c.TABLE_SCHEMA = ?";
const USER_SCHEMAS: &str =
    "c.TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')";
/// Names are compared and ordered as bytes: `information_schema` compares them without regard
/// to case, and on a server with case-sensitive table names (`lower_case_table_names = 0`, the
/// Linux default) `t`, `T` and their columns would otherwise be matched and grouped together.
const ORDER: &str = " ORDER BY CAST(c.TABLE_SCHEMA AS BINARY), CAST(c.TABLE_NAME AS BINARY), \
                     c.ORDINAL_POSITION";

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

/// A unique index's columns by position, and whether any may be NULL or is a prefix.
type IndexColumns = (Vec<(u64, String)>, bool);

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
    // Tables whose primary key indexes a prefix of a column: not a usable split key.
    let mut prefixed: std::collections::HashSet<TableName> = Default::default();
    let pk_rows: Vec<Row> = conn
        .exec(format!("{PRIMARY_KEYS}{schemas}"), params.clone())
        .await
        .map_err(|e| Error::mysql("listing primary keys", e))?;
    for row in pk_rows {
        let table = TableName::new(text(&row, 0)?, text(&row, 1)?);
        if number(&row, 4).is_some() {
            prefixed.insert(table.clone());
        }
        keys.entry(table)
            .or_default()
            .push((number(&row, 3).unwrap_or(0), text(&row, 2)?));
    }
    // (table, index) -> its columns by position, and whether any of them may be NULL or is
    // indexed by a prefix.
    let mut indexes: HashMap<(TableName, String), IndexColumns> = HashMap::new();
    let index_rows: Vec<Row> = conn
        .exec(format!("{UNIQUE_INDEXES}{schemas}"), params.clone())
        .await
        .map_err(|e| Error::mysql("listing unique indexes", e))?;
    for row in index_rows {
        let table = TableName::new(text(&row, 0)?, text(&row, 1)?);
        let entry = indexes.entry((table, text(&row, 2)?)).or_default();
        entry.0.push((number(&row, 5).unwrap_or(0), text(&row, 3)?));
        entry.1 |= text(&row, 4)? == "YES" || number(&row, 6).is_some();
    }
    let mut unique_columns: HashMap<TableName, Vec<(String, Vec<String>)>> = HashMap::new();
    for ((table, index), (mut columns, unusable)) in indexes {
        if !unusable {
            columns.sort();
            unique_columns
                .entry(table)
                .or_default()
                .push((index, columns.into_iter().map(|(_, c)| c).collect()));
        }
    }
    let views: Vec<Row> = conn
        .exec(format!("{VIEWS}{schemas}"), params.clone())
        .await
        .map_err(|e| Error::mysql("listing views", e))?;
    for row in views {
        each(Discovered::Skipped(SkippedTable {
            name: TableName::new(text(&row, 0)?, text(&row, 1)?),
            reason: "view: no rows of its own; its base tables are exported".into(),
        }))?;
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
                pk_prefixed: prefixed.contains(&name_for_unique),
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
                dims_unknown: false,
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
    /// True when the primary key indexes a prefix of a column.
    pk_prefixed: bool,
    /// The columns of each unique index whose columns are all NOT NULL and whole, by index name.
    unique: Vec<Vec<String>>,
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
            self.unique.iter().find_map(|c| match c.as_slice() {
                [c] if self.types.get(c).is_some_and(|t| is_integer(t)) => Some(c.clone()),
                _ => None,
            })
        });
        if let Some(column) = split {
            self.table.split_key = Some(SplitKey {
                physical: false,
                quantiles: vec![],
                column,
                bounds: None,
                tuples: None,
            });
        } else if let Some(columns) = self.tuple_key() {
            self.table.split_key = Some(SplitKey {
                column: columns.join(", "),
                physical: true,
                quantiles: vec![],
                bounds: None,
                tuples: Some(TupleKey {
                    columns,
                    boundaries: vec![],
                }),
            });
        }
        self.table.primary_key = self.pk.into_iter().map(|(_, n, _)| n).collect();
        Discovered::Table(Box::new(self.table))
    }

    /// The key to split on when there is no single integer one: the primary key's columns, or
    /// else the shortest unique NOT NULL index's, if every column is of a type whose values
    /// compare exactly (see [`rowkey::usable_type`]) and none is indexed by a prefix.
    fn tuple_key(&self) -> Option<Vec<String>> {
        let usable = |columns: &[String]| {
            !columns.is_empty()
                && columns
                    .iter()
                    .all(|c| self.types.get(c).is_some_and(|t| rowkey::usable_type(t)))
        };
        let pk: Vec<String> = self.pk.iter().map(|(_, c, _)| c.clone()).collect();
        if !self.pk_prefixed && usable(&pk) {
            return Some(pk);
        }
        self.unique
            .iter()
            .filter(|c| usable(c))
            .min_by_key(|c| c.len())
            .cloned()
    }
}
