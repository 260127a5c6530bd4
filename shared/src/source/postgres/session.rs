//! The coordinating session: the snapshot every reader imports, and what is read inside it
//! from the coordinating connection (server facts, the catalog, key bounds and statistics,
//! array dimensions, leaf sizes, partition profiles).

use tokio_postgres::Client;

use super::url::PgUrl;
use super::{catalog, profile, reader, sql, typemap};
use crate::error::{Error, Result};
use crate::model::SourceInfo;
use crate::model::TableDesc;
use crate::source::Discovered;
use crate::types::ValueKind;

/// The coordinating session: one REPEATABLE READ transaction whose snapshot every reader imports,
/// so all chunks of one export see the same point in time. Kept open until the export ends.
pub struct Snapshot {
    client: Client,
    id: String,
}

impl Snapshot {
    /// Starts the coordinating transaction and exports its snapshot.
    pub async fn begin(url: &PgUrl) -> Result<Snapshot> {
        let client = url.connect().await?;
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(|e| Error::query("starting the snapshot transaction", e))?;
        let id: String = client
            .query_one("SELECT pg_catalog.pg_export_snapshot()", &[])
            .await
            .map_err(|e| Error::query("exporting a snapshot (pg_export_snapshot)", e))?
            .get(0);
        Ok(Snapshot { client, id })
    }

    /// The coordinating connection, for discovery and bounds: it sees the same snapshot.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub async fn info(&self, url: &PgUrl) -> Result<SourceInfo> {
        let row = self
            .client
            .query_one(
                "SELECT current_setting('server_version'), current_database(), \
                 current_setting('max_connections')::int8 \
                 - current_setting('superuser_reserved_connections')::int8",
                &[],
            )
            .await
            .map_err(|e| Error::query("reading the server version", e))?;
        Ok(SourceInfo {
            engine: "postgresql",
            version: row.get(0),
            database: row.get(1),
            endpoint: url.endpoint().to_string(),
            max_connections: row.get::<_, i64>(2).max(1) as u64,
        })
    }

    /// Streams the catalog's tables to `each`.
    pub async fn discover(&self, each: impl FnMut(Discovered) -> Result<()>) -> Result<()> {
        let version: i32 = self
            .client
            .query_one("SELECT current_setting('server_version_num')::int4", &[])
            .await
            .map_err(|e| Error::query("reading the server version", e))?
            .get(0);
        catalog::discover(&self.client, version >= 140_000, version >= 120_000, each).await
    }

    /// Fills in the split key's smallest and largest value (None for an empty table).
    pub async fn fetch_bounds(&self, table: &mut TableDesc) -> Result<()> {
        let from = reader::from_table(table);
        let Some(key) = table.split_key.as_mut() else {
            return Ok(());
        };
        let context = || format!("reading key bounds of {}", table.name);
        let row = if key.physical {
            // Blocks 0 ..= n-1 of the heap; the last range is unbounded anyway.
            self.client
                .query_one(
                    "SELECT 0::int8, nullif(pg_catalog.pg_relation_size(pg_catalog.to_regclass($1)) \
                     / current_setting('block_size')::int8, 0) - 1",
                    &[&sql::quote_table(&table.name)],
                )
                .await
                .map_err(|e| Error::query(context(), e))?
        } else {
            let k = sql::quote_ident(&key.column);
            let q = format!("SELECT min({k})::int8, max({k})::int8 FROM {from}");
            self.client
                .query_one(&q, &[])
                .await
                .map_err(|e| Error::query(context(), e))?
        };
        if !key.physical {
            key.quantiles = self.key_quantiles(&table.name, &key.column).await?;
        }
        key.bounds = match (row.get::<_, Option<i64>>(0), row.get::<_, Option<i64>>(1)) {
            (Some(lo), Some(hi)) => Some((lo, hi)),
            _ => None,
        };
        Ok(())
    }

    /// Settles the dimensions of the array columns that declare none: `n` nested lists when
    /// every non-empty value of the column has `n` dimensions, else one list (values of more
    /// dimensions are then flattened, counted). One scan of the table, inside the snapshot,
    /// reading the arrays' headers with `array_ndims`.
    pub async fn fetch_array_dims(&self, table: &mut TableDesc) -> Result<()> {
        let unknown: Vec<usize> = (0..table.columns.len())
            .filter(|&i| table.columns[i].dims_unknown)
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let list = unknown
            .iter()
            .map(|&i| {
                let c = sql::quote_ident(&table.columns[i].name);
                format!("min(pg_catalog.array_ndims({c})), max(pg_catalog.array_ndims({c}))")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let q = format!("SELECT {list} FROM {}", reader::from_table(table));
        let row = self.client.query_one(&q, &[]).await.map_err(|e| {
            Error::query(format!("reading the array dimensions of {}", table.name), e)
        })?;
        for (k, &i) in unknown.iter().enumerate() {
            let column = &mut table.columns[i];
            let lo: Option<i32> = row.get(2 * k);
            let hi: Option<i32> = row.get(2 * k + 1);
            if let (Some(lo), Some(hi), ValueKind::List { element }) = (lo, hi, &column.kind)
                && lo == hi
            {
                column.kind = typemap::nested_lists((**element).clone(), lo);
            }
            column.dims_unknown = false;
        }
        Ok(())
    }

    /// Measures in heap blocks the leaf partitions of `table` that `wants` picks (big ones, to
    /// be read in block ranges), as `fetch_bounds` measures a table without an integer key. On
    /// a server without TID range scans (before PostgreSQL 14) none is measured: a block range
    /// there would be a full scan per piece.
    pub async fn fetch_leaf_blocks(
        &self,
        table: &mut TableDesc,
        wants: impl Fn(&crate::model::Partition) -> bool,
    ) -> Result<()> {
        let leaves: Vec<&mut crate::model::Partition> =
            table.partitions.iter_mut().filter(|l| wants(l)).collect();
        if leaves.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = leaves.iter().map(|l| sql::quote_table(&l.name)).collect();
        let rows = self
            .client
            .query(
                "SELECT CASE WHEN current_setting('server_version_num')::int4 >= 140000 \
                        THEN pg_catalog.pg_relation_size(pg_catalog.to_regclass(u.name)) \
                             / current_setting('block_size')::int8 END \
                   FROM unnest($1::text[]) WITH ORDINALITY AS u(name, i) ORDER BY u.i",
                &[&names],
            )
            .await
            .map_err(|e| {
                Error::query(
                    format!("measuring the leaf partitions of {}", table.name),
                    e,
                )
            })?;
        for (leaf, row) in leaves.into_iter().zip(rows) {
            leaf.blocks = row.get::<_, Option<i64>>(0).map(|n| n.max(0) as u64);
        }
        Ok(())
    }

    /// Rows per partition group of a partitioned table, inside the snapshot (see `profile`).
    pub async fn profile(
        &self,
        table: &TableDesc,
        p: &crate::model::Partitioning,
    ) -> Result<Vec<crate::model::ProfileGroup>> {
        profile::profile(&self.client, table, p).await
    }

    /// The key's histogram from `pg_stats` (ANALYZE keeps about 100 equal-frequency bounds): the
    /// planner cuts ranges at them so skewed keys still give balanced chunks. Empty when the
    /// table was never analysed; the planner then splits the key span evenly.
    async fn key_quantiles(
        &self,
        table: &crate::model::TableName,
        column: &str,
    ) -> Result<Vec<i64>> {
        let row = self
            .client
            .query_opt(
                "SELECT histogram_bounds::text FROM pg_catalog.pg_stats \
                 WHERE schemaname = $1 AND tablename = $2 AND attname = $3 AND NOT inherited",
                &[&table.schema, &table.name, &column],
            )
            .await
            .map_err(|e| Error::query(format!("reading key statistics of {table}"), e))?;
        let text: Option<String> = row.and_then(|r| r.get(0));
        Ok(text.map(|t| parse_int_array(&t)).unwrap_or_default())
    }

    /// Starts a transaction on a reader connection that sees the snapshot `id` (from
    /// [`Snapshot::id`]); it stays importable while the coordinating [`Snapshot`] is alive.
    /// Readers open one such transaction per chunk and commit it after: a transaction holds a
    /// lock on every table it read until it ends, and thousands of tables in one transaction
    /// would exhaust the server's lock table.
    pub async fn begin_reading(client: &Client, id: Option<&str>) -> Result<()> {
        let Some(id) = id else {
            return client
                .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .await
                .map_err(|e| Error::query("starting a read transaction", e));
        };
        // SET TRANSACTION SNAPSHOT takes no bind parameter. The id comes from the server's own
        // pg_export_snapshot(), and we still refuse anything but its hex-and-dash shape before
        // quoting it as a literal.
        if !is_snapshot_id(id) {
            return Err(Error::Internal(format!("unexpected snapshot id {id:?}")));
        }
        client
            .batch_execute(&format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT '{id}'"
            ))
            .await
            .map_err(|e| {
                // The snapshot is importable only while the coordinating transaction lives: once
                // the server restarted or that connection died, no reader can enter it again.
                if e.code() == Some(&tokio_postgres::error::SqlState::INVALID_PARAMETER_VALUE) {
                    Error::ViewLost(format!(
                        "importing the export snapshot {id}: {}",
                        e.as_db_error()
                            .map_or_else(|| e.to_string(), |d| d.message().to_string())
                    ))
                } else {
                    Error::query("importing the export snapshot", e)
                }
            })
    }

    /// Ends a reader's transaction (read-only: nothing to commit but the locks to release).
    pub async fn end_reading(client: &Client) -> Result<()> {
        client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| Error::query("ending a read transaction", e))
    }
}

/// Parses an integer array's text form (`{1,5,9}`); anything unparsable gives no quantiles.
fn parse_int_array(text: &str) -> Vec<i64> {
    let inner = text.trim().trim_start_matches('{').trim_end_matches('}');
    inner
        .split(',')
        .map(|v| v.trim().parse::<i64>())
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_default()
}

fn is_snapshot_id(id: &str) -> bool {
    !id.is_empty() && id.len() < 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_text_parses_or_gives_nothing() {
        assert_eq!(parse_int_array("{-5,0,17}"), vec![-5, 0, 17]);
        assert_eq!(parse_int_array("{}"), Vec::<i64>::new());
        assert_eq!(parse_int_array("{1,x}"), Vec::<i64>::new());
    }

    #[test]
    fn snapshot_ids_are_validated_before_quoting() {
        assert!(is_snapshot_id("00000003-0000001B-1"));
        assert!(!is_snapshot_id("1'; DROP TABLE x; --"));
        assert!(!is_snapshot_id(""));
    }
}
