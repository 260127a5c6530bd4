//! Key bounds and statistics of a table's split key, read inside the snapshot: an integer
//! key's smallest and largest value with quantiles from the optimizer's estimates, a tuple
//! key's boundaries sampled by the database.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use super::rowkey;
use super::sql::{quote_ident, quote_table};
use crate::error::{Error, Result};
use crate::model::{SplitKey, TableDesc, TupleKey};

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
