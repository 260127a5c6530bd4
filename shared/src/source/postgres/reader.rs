//! Reads one piece (a table or one key range of it) with
//! `COPY (SELECT ... WHERE key BETWEEN ...) TO STDOUT (FORMAT binary)` and hands out Arrow
//! batches of bounded size as the bytes arrive.

use std::pin::Pin;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::{Buf, BytesMut};
use futures::StreamExt;
use tokio_postgres::{Client, CopyOutStream};

use super::decode::TupleDecoder;
use super::sql::{quote_ident, quote_table};
use crate::error::{Error, Result};
use crate::model::{KeyRange, PartFilter, Partitioning, ReadAs, TableDesc};
use crate::source::LossyCounts;
use crate::source::timeouts::ReadLimit;
use crate::types::ValueKind;

use crate::limits::BatchLimits;

/// A running COPY of one piece.
pub struct PieceReader {
    stream: Pin<Box<CopyOutStream>>,
    decoder: TupleDecoder,
    pending: BytesMut,
    /// The stream returned its end; polling it again would read the next command's messages.
    ended: bool,
    limits: BatchLimits,
    context: String,
    /// Each message of the COPY must arrive within it.
    read: ReadLimit,
}

/// The SELECT inside the COPY. Key bounds are inclusive here (`BETWEEN`), so that every range,
/// the first and last included, has both bounds and PostgreSQL estimates it as a narrow range
/// scan rather than a full scan. They arrive as settings, never as literals in the SQL, as do
/// a partition's time bounds and value.
fn select_sql(table: &TableDesc, range: Option<KeyRange>, filter: Option<&PartFilter>) -> String {
    let list = table
        .columns
        .iter()
        .map(|c| {
            let q = quote_ident(&c.name);
            match c.read {
                ReadAs::Native => q,
                ReadAs::Text => format!("{q}::text"),
                ReadAs::TextArray => format!("{q}::text[]"),
                ReadAs::Wkb => format!("ST_AsBinary({q})"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut sql = format!("SELECT {list} FROM {}", from_table(table));
    let mut conds: Vec<String> = Vec::new();
    match (range, &table.split_key) {
        (Some(r), Some(key)) if key.physical => {
            if r.lo.is_some() {
                conds.push("ctid >= format('(%s,0)', current_setting('snapex.lo'))::tid".into());
            }
            if r.hi.is_some() {
                conds.push("ctid < format('(%s,0)', current_setting('snapex.hi'))::tid".into());
            }
        }
        (Some(_), Some(key)) => conds.push(format!(
            "{k} BETWEEN current_setting('snapex.lo')::int8 AND current_setting('snapex.hi')::int8",
            k = quote_ident(&key.column)
        )),
        _ => {}
    }
    if let (Some(f), Some(p)) = (filter, &table.partition_by) {
        conds.extend(partition_condition(table, p, f));
    }
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql
}

/// The table a query reads, after `FROM`: `ONLY "schema"."table"` for every table but a
/// partitioned root. Without `ONLY`, a table with inheritance children would return their rows
/// too, and each child is exported as a table of its own: its rows would be exported twice (and
/// a block range of the parent would select children's rows at the same block numbers). A
/// partitioned root has no rows of its own (`ONLY` would read nothing): its leaves are read under
/// their own names, or the root as a whole for Hive partition pieces.
pub(super) fn from_table(table: &TableDesc) -> String {
    if table.partitions.is_empty() {
        format!("ONLY {}", quote_table(&table.name))
    } else {
        quote_table(&table.name)
    }
}

/// The condition selecting one partition's rows. Time bounds are whole seconds since the epoch,
/// compared in the column's own type so an index on it serves the range: an instant for
/// `timestamptz`, the UTC wall-clock reading for `timestamp`, the UTC date for `date`.
fn partition_condition(table: &TableDesc, p: &Partitioning, f: &PartFilter) -> Option<String> {
    let c = quote_ident(&p.column);
    let kind = table.column(&p.column).map(|col| &col.kind);
    let bound = |setting: &str| {
        let instant = format!("to_timestamp(current_setting('{setting}')::float8)");
        match kind {
            Some(ValueKind::Timestamp { utc: true }) => instant,
            Some(ValueKind::Date) => format!("({instant} AT TIME ZONE 'UTC')::date"),
            _ => format!("({instant} AT TIME ZONE 'UTC')"),
        }
    };
    match f {
        PartFilter::TimeRange { .. } => Some(format!(
            "{c} >= {} AND {c} < {}",
            bound("snapex.plo"),
            bound("snapex.phi")
        )),
        // Infinite times are written as NULL, so they belong with the NULLs; so do times no
        // partition can be named for (see `partitionable`).
        PartFilter::TimeNull => Some(format!(
            "({c} IS NULL OR NOT {})",
            super::profile::partitionable(table, p)
        )),
        PartFilter::ValueEquals { .. } => Some(format!("{c}::text = current_setting('snapex.pv')")),
        // Text that names no partition is written as NULL, so it belongs with the NULLs.
        PartFilter::ValueNull => Some(format!(
            "({c} IS NULL OR NOT {})",
            super::profile::names_a_value(&c)
        )),
        PartFilter::KeyRangeOnly => None,
    }
}

/// The settings a partition's condition reads.
fn partition_settings(f: Option<&PartFilter>) -> Vec<(&'static str, String)> {
    match f {
        Some(PartFilter::TimeRange { lo, hi }) => {
            vec![
                ("snapex.plo", lo.to_string()),
                ("snapex.phi", hi.to_string()),
            ]
        }
        Some(PartFilter::ValueEquals { text }) => vec![("snapex.pv", text.clone())],
        _ => vec![],
    }
}

/// The inclusive bounds of a half-open range.
fn inclusive_bounds(range: KeyRange) -> Option<(i64, i64)> {
    let lo = range.lo.unwrap_or(i64::MIN);
    let hi = match range.hi {
        None => i64::MAX,
        Some(h) => h.checked_sub(1)?,
    };
    (lo <= hi).then_some((lo, hi))
}

impl PieceReader {
    /// Starts reading `range` of `table` on `client`, which must be inside the export's snapshot
    /// transaction. `None` reads the whole table.
    pub async fn start(
        client: &Client,
        table: &TableDesc,
        range: Option<KeyRange>,
        filter: Option<&PartFilter>,
        limits: BatchLimits,
        read: &ReadLimit,
    ) -> Result<PieceReader> {
        let context = format!("reading {}", table.name);
        read.read(&context, Self::start_copy(client, table, range, filter))
            .await
            .and_then(|stream| {
                Ok(PieceReader {
                    stream: Box::pin(stream),
                    decoder: TupleDecoder::new(
                        &table.columns,
                        limits.initial_rows(table.columns.len()),
                    )?,
                    pending: BytesMut::new(),
                    ended: false,
                    limits,
                    context: context.clone(),
                    read: read.clone(),
                })
            })
    }

    /// Sets the piece's bounds and starts its COPY.
    async fn start_copy(
        client: &Client,
        table: &TableDesc,
        range: Option<KeyRange>,
        filter: Option<&PartFilter>,
    ) -> Result<CopyOutStream> {
        let context = format!("reading {}", table.name);
        let range = range.filter(|r| *r != KeyRange::ALL);
        if let Some(r) = range {
            let physical = table.split_key.as_ref().is_some_and(|k| k.physical);
            // Block ranges keep their half-open bounds (an absent side has no condition at all);
            // key ranges become inclusive so both sides are always bounded (see `select_sql`).
            let (lo, hi) = if physical {
                (r.lo.unwrap_or(0), r.hi.unwrap_or(0))
            } else {
                inclusive_bounds(r).ok_or_else(|| {
                    Error::Internal(format!("empty key range {r:?} for {}", table.name))
                })?
            };
            client
                .execute(
                    "SELECT set_config('snapex.lo', $1, true), set_config('snapex.hi', $2, true)",
                    &[&lo.to_string(), &hi.to_string()],
                )
                .await
                .map_err(|e| Error::query(&context, e))?;
        }
        for (name, value) in partition_settings(filter) {
            client
                .execute("SELECT set_config($1, $2, true)", &[&name, &value])
                .await
                .map_err(|e| Error::query(&context, e))?;
        }
        let copy = format!(
            "COPY ({}) TO STDOUT (FORMAT binary)",
            select_sql(table, range, filter)
        );
        client
            .copy_out(&copy)
            .await
            .map_err(|e| Error::query(&context, e))
    }

    pub fn schema(&self) -> SchemaRef {
        self.decoder.schema()
    }

    /// Counts of lossy rules applied so far, per column.
    pub fn lossy_counts(&self) -> &LossyCounts {
        self.decoder.lossy_counts()
    }

    /// The next batch, or `None` when the piece is fully read.
    pub async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        while !self.ended
            && self.decoder.pending_rows() < self.limits.rows
            && self.decoder.pending_bytes() < self.limits.bytes
        {
            let stream = &mut self.stream;
            let next = self
                .read
                .read(&self.context, async move { Ok(stream.next().await) })
                .await?;
            match next {
                Some(chunk) => {
                    let chunk = chunk.map_err(|e| Error::query(&self.context, e))?;
                    if self.pending.is_empty() {
                        let used = self.decoder.decode(&chunk)?;
                        self.pending.extend_from_slice(&chunk[used..]);
                    } else {
                        self.pending.extend_from_slice(&chunk);
                        let used = self.decoder.decode(&self.pending)?;
                        self.pending.advance(used);
                    }
                }
                None => {
                    self.ended = true;
                    if !self.decoder.is_finished() || !self.pending.is_empty() {
                        return Err(Error::Internal(format!(
                            "{}: COPY ended mid-tuple",
                            self.context
                        )));
                    }
                }
            }
        }
        if self.decoder.pending_rows() == 0 {
            return Ok(None);
        }
        self.decoder.finish_batch().map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Partition, TableName};

    #[test]
    fn tables_are_read_without_their_inheritance_children_but_partitioned_roots_whole() {
        let mut t = TableDesc {
            name: TableName::new("public", "animals"),
            columns: vec![],
            primary_key: vec![],
            split_key: None,
            estimated_bytes: 0,
            estimated_rows: None,
            partitions: vec![],
            partition_by: None,
        };
        assert_eq!(from_table(&t), r#"ONLY "public"."animals""#);
        assert!(select_sql(&t, None, None).ends_with(r#" FROM ONLY "public"."animals""#));
        t.partitions = vec![Partition {
            name: TableName::new("public", "animals_1"),
            estimated_bytes: 0,
            blocks: None,
        }];
        assert_eq!(from_table(&t), r#""public"."animals""#);
    }

    #[test]
    fn inclusive_bounds_cover_the_half_open_range() {
        assert_eq!(
            inclusive_bounds(KeyRange {
                lo: None,
                hi: Some(10)
            }),
            Some((i64::MIN, 9))
        );
        assert_eq!(
            inclusive_bounds(KeyRange {
                lo: Some(10),
                hi: None
            }),
            Some((10, i64::MAX))
        );
        assert_eq!(
            inclusive_bounds(KeyRange {
                lo: Some(-5),
                hi: Some(-4)
            }),
            Some((-5, -5))
        );
        assert_eq!(
            inclusive_bounds(KeyRange {
                lo: Some(3),
                hi: Some(3)
            }),
            None
        );
        assert_eq!(
            inclusive_bounds(KeyRange {
                lo: None,
                hi: Some(i64::MIN)
            }),
            None
        );
    }
}
