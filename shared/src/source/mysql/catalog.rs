//! Discovery from `information_schema`, streamed one column row at a time in table order.

use std::collections::HashMap;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use super::rowkey;
use super::sql::{quote_ident, quote_table};
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

/// Fills in the split key's bounds. A BIGINT UNSIGNED key beyond the signed range is not split
/// (the whole table is read as one piece) rather than risk a range that cannot be written down.
pub async fn fetch_bounds(conn: &mut Conn, table: &mut TableDesc) -> Result<()> {
    if let Some(columns) = table
        .split_key
        .as_ref()
        .and_then(|k| k.tuples.as_ref())
        .map(|t| t.columns.clone())
    {
        let boundaries = sample_boundaries(conn, table, &columns).await?;
        if let Some(key) = table.split_key.as_mut() {
            key.bounds = (!boundaries.is_empty()).then(|| (0, boundaries.len() as i64 - 1));
            key.tuples = Some(TupleKey {
                columns,
                boundaries,
            });
        }
        return Ok(());
    }
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
    // Best first: the range estimated to hold the most rows is bisected next, so when the
    // dive budget runs out every range is about as small as the budget allows. (Depth first,
    // a budget spent on the left of the span left the right in ranges as wide as billions of
    // keys, and a cut interpolated inside one that straddles the end of a dense run of keys
    // put the whole run in one file: 500,000 rows against 160,000 in bench/skew.sh.)
    let mut dive = async |a: i64, b: i64| -> Result<Option<u64>> {
        let row: Option<Row> = conn
            .exec_first(&sql, (a, b))
            .await
            .map_err(|e| Error::mysql(context(), e))?;
        Ok(row
            .and_then(|r| r.get_opt::<Option<u64>, _>("rows").and_then(|v| v.ok()))
            .flatten())
    };
    let mut leaves: Vec<(i64, i64, u64)> = Vec::new();
    let mut todo = std::collections::BinaryHeap::new();
    let Some(estimate) = dive(lo, hi).await? else {
        return Ok(vec![]);
    };
    todo.push((estimate, lo, hi));
    let mut dives = 1;
    while let Some((estimate, a, b)) = todo.pop() {
        if estimate <= fine || a >= b || dives + 2 > MAX_DIVES {
            leaves.push((a, b, estimate));
            continue;
        }
        let mid = (a as i128 + (b as i128 - a as i128) / 2) as i64;
        for (x, y) in [(a, mid), (mid + 1, b)] {
            let Some(e) = dive(x, y).await? else {
                return Ok(vec![]);
            };
            dives += 1;
            todo.push((e, x, y));
        }
    }
    leaves.sort();
    Ok(crate::plan::quantiles_from_counts(&leaves, QUANTILES))
}

/// Boundaries per table for a tuple key: enough that the planner's ranges each span many of
/// them (one per 16 MiB of the table, so about 32 per default-sized file), never so many that
/// the plan, which carries them to every reader, grows large.
const MIN_BOUNDARIES: u64 = 256;
const MAX_BOUNDARIES: u64 = 4096;
/// Sampled keys per boundary: the row counts between boundaries vary by about 1/sqrt(128), and
/// a file's range spans many boundaries, so files vary by a few percent.
const SAMPLES_PER_BOUNDARY: u64 = 128;
/// The sampled keys held at once, in bytes, and the boundaries kept in the plan.
const MAX_SAMPLE_BYTES: usize = 64 << 20;
const MAX_BOUNDARY_BYTES: usize = 4 << 20;

/// Boundary tuples of a tuple key, in the key's order, with about equally many rows between
/// each two, encoded for the plan ([`rowkey::encode`]). Empty for an empty table.
///
/// The database samples and orders the key itself, so strings sort by their collation, dates
/// as dates and so on: `SELECT <key> FROM t WHERE RAND(<seed>) < ? ORDER BY <key>` with the
/// probability set for about [`SAMPLES_PER_BOUNDARY`] keys per boundary. Both ways to find
/// such boundaries read the whole key once (InnoDB keeps no histogram of a key, and a dive
/// into the index only estimates rows in a range of values, which cannot be bisected for a
/// tuple of strings): streaming every key to us and keeping every k-th, or sampling on the
/// server and sending only the sample. Sampling sends a few thousand tuples instead of every
/// key, so it is the cheaper: one scan of the key's index (EXPLAIN: `index`, no filesort),
/// which for a secondary index is narrower than the table. The seed is a constant, so the same
/// snapshot gives the same sample. A row estimate that is far off only changes how many keys
/// come back: [`rowkey::Thinning`] keeps an even spread of at most a bounded number of them.
async fn sample_boundaries(
    conn: &mut Conn,
    table: &TableDesc,
    columns: &[String],
) -> Result<Vec<Vec<String>>> {
    let wanted =
        (table.estimated_bytes / (16 << 20)).clamp(MIN_BOUNDARIES, MAX_BOUNDARIES) as usize;
    let samples = wanted as u64 * SAMPLES_PER_BOUNDARY;
    let rows = table.estimated_rows.unwrap_or(0).max(1);
    let key = columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let decimal: Vec<bool> = columns
        .iter()
        .map(|c| {
            table
                .column(c)
                .is_some_and(|col| col.source_type.to_ascii_lowercase().starts_with("decimal"))
        })
        .collect();
    let mut sql = format!("SELECT {key} FROM {}", quote_table(&table.name));
    let mut params = Vec::new();
    if samples < rows {
        sql.push_str(" WHERE RAND(20240601) < ?");
        params.push(Value::Double(samples as f64 / rows as f64));
    }
    sql.push_str(&format!(" ORDER BY {key}"));
    let context = || format!("sampling the split key of {}", table.name);
    let mut result = conn
        .exec_iter(sql, params)
        .await
        .map_err(|e| Error::mysql(context(), e))?;
    let mut thinning = rowkey::Thinning::new(samples as usize, MAX_SAMPLE_BYTES);
    while let Some(row) = result
        .next()
        .await
        .map_err(|e| Error::mysql(context(), e))?
    {
        let values = row.unwrap();
        let size = values
            .iter()
            .map(|v| match v {
                Value::Bytes(b) => b.len() + 8,
                _ => 16,
            })
            .sum();
        thinning.push(values, size);
    }
    drop(result);
    let mut boundaries = rowkey::evenly(&thinning.kept, wanted)
        .iter()
        .map(|values| {
            values
                .iter()
                .zip(&decimal)
                .map(|(v, d)| rowkey::encode(v, *d))
                .collect::<Result<Vec<String>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    boundaries.dedup();
    let bytes = |b: &[Vec<String>]| b.iter().flatten().map(String::len).sum::<usize>();
    while bytes(&boundaries) > MAX_BOUNDARY_BYTES && boundaries.len() > 16 {
        boundaries = rowkey::evenly(&boundaries, boundaries.len() / 2);
    }
    Ok(boundaries)
}
