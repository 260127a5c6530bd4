//! Discovery: tables, columns, types and primary keys from PostgreSQL's catalog, streamed
//! row by row (one row per column, ordered by table) so no whole-catalog result is held.

use std::collections::HashMap;

use futures::{StreamExt, pin_mut};
use tokio_postgres::Client;

use super::typemap::{PgField, PgType, TypeContext, map_type};
use crate::error::{Error, Result};
use crate::model::{ColumnDesc, Partition, SkippedTable, TableDesc, TableName};
use crate::source::Discovered;

/// Every ordinary and partitioned table and every populated materialized view outside the
/// system schemas, one row per column. Partitions are reported too (flagged) so they can be
/// listed as covered by their parent. Temporary tables live in `pg_temp_N` schemas, which the
/// `pg\_%` rule leaves out; [`OTHERS_SQL`] lists them.
///
/// Sizes are the catalog's page counts (heap and TOAST, as of the last VACUUM or ANALYZE), not
/// `pg_table_size`: that function locks each table until the plan's transaction ends, and a
/// million locks exhaust the server's lock table (for every session, not just ours). Only a
/// table never vacuumed nor analysed (`reltuples < 0`, PostgreSQL 14+) is measured with it.
/// The primary key's positions come from one join, not a subquery per column.
const COLUMNS_SQL: &str = r#"
SELECT c.oid AS table_oid,
       n.nspname,
       c.relname,
       c.relkind::text AS relkind,
       c.relispartition,
       CASE WHEN c.relkind = 'p'
            THEN (SELECT coalesce(sum(CASE WHEN l.reltuples >= 0 OR l.relpages > 0
                                           THEN (l.relpages::int8 + coalesce(lt.relpages, 0))
                                                * current_setting('block_size')::int8
                                           ELSE pg_catalog.pg_table_size(l.oid) END), 0)
                    FROM pg_catalog.pg_partition_tree(c.oid) t
                    JOIN pg_catalog.pg_class l ON l.oid = t.relid
                    LEFT JOIN pg_catalog.pg_class lt ON lt.oid = l.reltoastrelid)
            WHEN c.reltuples >= 0 OR c.relpages > 0
            THEN (c.relpages::int8 + coalesce(toast.relpages, 0))
                 * current_setting('block_size')::int8
            ELSE pg_catalog.pg_table_size(c.oid) END::int8 AS bytes,
       c.reltuples::float8 AS reltuples,
       a.attname,
       a.attnotnull,
       a.atttypid,
       a.atttypmod,
       a.attndims::int4 AS attndims,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS source_type,
       pg_catalog.array_position(pk.indkey::int2[], a.attnum) AS pk_position
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_class toast ON toast.oid = c.reltoastrelid
  LEFT JOIN pg_catalog.pg_index pk ON pk.indrelid = c.oid AND pk.indisprimary
  LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE (c.relkind IN ('r', 'p') OR (c.relkind = 'm' AND c.relispopulated))
   AND c.relpersistence <> 't'
   AND n.nspname <> 'information_schema'
   AND n.nspname NOT LIKE 'pg\_%'
 ORDER BY c.oid, a.attnum
"#;

/// The distinct types of every column `COLUMNS_SQL` will return: few, however many tables.
const USED_TYPES_SQL: &str = r#"
SELECT DISTINCT a.atttypid
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE (c.relkind IN ('r', 'p') OR (c.relkind = 'm' AND c.relispopulated))
   AND c.relpersistence <> 't'
   AND n.nspname <> 'information_schema'
   AND n.nspname NOT LIKE 'pg\_%'
"#;

/// The relations that hold or show rows but are not read, each listed as skipped with the
/// reason [`other_reason`] gives: views, foreign tables (partitions too), materialized views
/// never populated, and the temporary tables and views of other sessions (in any
/// `pg_temp_N` schema: the export's own sessions create none).
const OTHERS_SQL: &str = r#"
SELECT n.nspname, c.relname, c.relkind::text, c.relpersistence::text, c.relispartition
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE (c.relpersistence = 't' AND c.relkind IN ('r', 'p', 'v', 'm', 'f'))
    OR (c.relpersistence <> 't'
        AND (c.relkind IN ('v', 'f') OR (c.relkind = 'm' AND NOT c.relispopulated))
        AND n.nspname <> 'information_schema'
        AND n.nspname NOT LIKE 'pg\_%')
 ORDER BY 1, 2
"#;

/// Why a relation [`OTHERS_SQL`] lists is not exported.
fn other_reason(relkind: &str, persistence: &str, partition: bool) -> &'static str {
    match (relkind, persistence, partition) {
        (_, "t", _) => {
            "temporary table of another session: only the session that created it can read it, \
             and it disappears when that session ends"
        }
        ("v", _, _) => "view: no rows of its own; its base tables are exported",
        ("m", _, _) => {
            "materialized view never populated (WITH NO DATA): it has no rows to read until \
             REFRESH MATERIALIZED VIEW"
        }
        ("f", _, true) => {
            "foreign table partition: its rows live on another server, which the export does \
             not query, so its partitioned parent is exported without them"
        }
        ("f", _, false) => {
            "foreign table: its rows live on another server, which the export does not query"
        }
        _ => "not a table",
    }
}

/// Leaf partitions with the root of their partition tree (PostgreSQL 12+), read before the
/// column stream so that each partitioned table is described with its leaves.
const LEAVES_SQL: &str = r#"
SELECT pg_catalog.pg_partition_root(c.oid)::oid AS root, n.nspname, c.relname,
       CASE WHEN c.reltuples >= 0 OR c.relpages > 0
            THEN (c.relpages::int8 + coalesce(toast.relpages, 0))
                 * current_setting('block_size')::int8
            ELSE pg_catalog.pg_table_size(c.oid) END::int8 AS bytes
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_class toast ON toast.oid = c.reltoastrelid
 WHERE c.relispartition AND c.relkind = 'r'
 ORDER BY 1, 2, 3
"#;

const TYPE_SQL: &str = r#"
SELECT t.typname, n.nspname, t.typtype::text, t.typcategory::text, t.typelem, t.typbasetype, t.typtypmod,
       t.typrelid
  FROM pg_catalog.pg_type t
  JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
 WHERE t.oid = $1
"#;

/// A composite type's attributes, in order, dropped ones left out.
const FIELDS_SQL: &str = r#"
SELECT a.attname, a.atttypid, a.atttypmod, a.attndims::int4
  FROM pg_catalog.pg_attribute a
 WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum
"#;

/// The scale of `money` in this session's `lc_monetary` (what `money::numeric` gives).
const MONEY_SCALE_SQL: &str = "SELECT pg_catalog.scale(0::pg_catalog.money::pg_catalog.numeric)";

/// How deep composite types are followed into each other. PostgreSQL refuses a composite that
/// contains itself, so a real catalog ends well before; a composite nested deeper is exported
/// as its text form.
const MAX_COMPOSITE_DEPTH: usize = 16;

/// Resolves type oids (domains to their base, arrays to their element, composites to their
/// attributes) with a cache: a database has few distinct column types however many tables it
/// has.
struct TypeResolver<'a> {
    client: &'a Client,
    cache: HashMap<u32, (PgType, i32)>,
}

impl TypeResolver<'_> {
    /// The resolved type and the typmod a domain carries (or -1).
    async fn resolve(&mut self, oid: u32) -> Result<(PgType, i32)> {
        Ok(self.resolve_at(oid, 0).await?.0)
    }

    /// As [`TypeResolver::resolve`], `depth` composites deep; also whether the depth limit cut
    /// a composite short (such a result is not cached: at a shallower depth it resolves fully).
    async fn resolve_at(&mut self, oid: u32, depth: usize) -> Result<((PgType, i32), bool)> {
        if let Some(t) = self.cache.get(&oid) {
            return Ok((t.clone(), false));
        }
        let mut current = oid;
        let mut domain_typmod = -1;
        // Domains can stack; a chain longer than this is a catalog we do not understand.
        for _ in 0..32 {
            let row = self
                .client
                .query_one(TYPE_SQL, &[&current])
                .await
                .map_err(|e| Error::query(format!("reading type {current}"), e))?;
            let typtype: String = row.get(2);
            let typtype = typtype.chars().next().unwrap_or('b');
            if typtype == 'd' {
                if domain_typmod == -1 {
                    domain_typmod = row.get::<_, i32>(6);
                }
                current = row.get(5);
                continue;
            }
            let category: String = row.get(3);
            let elem: u32 = row.get(4);
            let mut cut = false;
            let element = if category == "A" && elem != 0 {
                let ((e, _), c) = Box::pin(self.resolve_at(elem, depth)).await?;
                cut |= c;
                Some(Box::new(e))
            } else {
                None
            };
            let mut fields = Vec::new();
            if typtype == 'c' {
                if depth >= MAX_COMPOSITE_DEPTH {
                    cut = true;
                } else {
                    let (f, c) = Box::pin(self.fields(row.get(7), depth + 1)).await?;
                    fields = f;
                    cut |= c;
                }
            }
            let ty = PgType {
                name: row.get(0),
                schema: row.get(1),
                typtype,
                element,
                fields,
            };
            if !cut {
                self.cache.insert(oid, (ty.clone(), domain_typmod));
            }
            return Ok(((ty, domain_typmod), cut));
        }
        Err(Error::Internal(format!(
            "type {oid}: domain chain deeper than 32"
        )))
    }

    /// The attributes of the composite type whose relation is `relid`, each type resolved.
    async fn fields(&mut self, relid: u32, depth: usize) -> Result<(Vec<PgField>, bool)> {
        let rows = self
            .client
            .query(FIELDS_SQL, &[&relid])
            .await
            .map_err(|e| Error::query(format!("reading the attributes of type {relid}"), e))?;
        let mut cut = false;
        let mut fields = Vec::with_capacity(rows.len());
        for row in rows {
            let ((ty, domain_typmod), c) = self.resolve_at(row.get(1), depth).await?;
            cut |= c;
            let typmod: i32 = row.get(2);
            fields.push(PgField {
                name: row.get(0),
                ty,
                typmod: if typmod >= 0 { typmod } else { domain_typmod },
                ndims: row.get(3),
            });
        }
        Ok((fields, cut))
    }
}

/// Streams every table with its columns to `each`, in catalog order.
pub async fn discover(
    client: &Client,
    ctid_ranges: bool,
    partition_roots: bool,
    mut each: impl FnMut(Discovered) -> Result<()>,
) -> Result<()> {
    // Types are resolved before the column stream starts: a query issued on the same
    // connection while a row stream is half read would wait behind it forever.
    let mut types = TypeResolver {
        client,
        cache: HashMap::new(),
    };
    let money_scale: i32 = client
        .query_one(MONEY_SCALE_SQL, &[])
        .await
        .map_err(|e| Error::query("reading the scale of money (lc_monetary)", e))?
        .get(0);
    let ctx = TypeContext {
        // PostgreSQL takes 2 for a locale's scale outside 0..=10.
        money_scale: i8::try_from(money_scale).unwrap_or(2),
    };
    let used = client
        .query(USED_TYPES_SQL, &[])
        .await
        .map_err(|e| Error::query("listing column types", e))?;
    for row in used {
        types.resolve(row.get(0)).await?;
    }
    let mut leaves: HashMap<u32, Vec<Partition>> = HashMap::new();
    if partition_roots {
        for row in client
            .query(LEAVES_SQL, &[])
            .await
            .map_err(|e| Error::query("listing partitions", e))?
        {
            leaves.entry(row.get(0)).or_default().push(Partition {
                name: TableName::new(row.get::<_, String>(1), row.get::<_, String>(2)),
                estimated_bytes: row.get::<_, i64>(3).max(0) as u64,
                blocks: None,
            });
        }
    }
    for row in client
        .query(OTHERS_SQL, &[])
        .await
        .map_err(|e| Error::query("listing views, foreign and temporary tables", e))?
    {
        let (kind, persistence): (String, String) = (row.get(2), row.get(3));
        each(Discovered::Skipped(SkippedTable {
            name: TableName::new(row.get::<_, String>(0), row.get::<_, String>(1)),
            reason: other_reason(&kind, &persistence, row.get(4)).into(),
        }))?;
    }
    let rows = client
        .query_raw(COLUMNS_SQL, std::iter::empty::<i32>())
        .await
        .map_err(|e| Error::query("listing tables and columns", e))?;
    pin_mut!(rows);
    let mut current: Option<(u32, Building)> = None;
    while let Some(row) = rows.next().await {
        let row = row.map_err(|e| Error::query("listing tables and columns", e))?;
        let oid: u32 = row.get("table_oid");
        if current.as_ref().is_none_or(|(o, _)| *o != oid) {
            if let Some((_, done)) = current.take() {
                each(done.finish())?;
            }
            let reltuples: f64 = row.get("reltuples");
            current = Some((
                oid,
                Building {
                    table: TableDesc {
                        name: TableName::new(
                            row.get::<_, String>("nspname"),
                            row.get::<_, String>("relname"),
                        ),
                        columns: vec![],
                        primary_key: vec![],
                        split_key: None,
                        estimated_bytes: row.get::<_, i64>("bytes").max(0) as u64,
                        estimated_rows: (reltuples >= 0.0).then_some(reltuples as u64),
                        // A partitioned root is read leaf by leaf.
                        partitions: leaves.remove(&oid).unwrap_or_default(),
                        partition_by: None,
                    },
                    partition: row.get("relispartition"),
                    heap: matches!(row.get::<_, String>("relkind").as_str(), "r" | "m"),
                    ctid_ranges,
                    pk: vec![],
                    pk_types: vec![],
                    unsupported: vec![],
                },
            ));
        }
        let Some((_, b)) = current.as_mut() else {
            unreachable!("set above")
        };
        // A table with no columns at all comes as one row with NULL attributes.
        let Some(name) = row.get::<_, Option<String>>("attname") else {
            continue;
        };
        let type_oid: u32 = row.get("atttypid");
        let attr_typmod: i32 = row.get("atttypmod");
        let source_type: String = row.get("source_type");
        let (ty, domain_typmod) = types.cache.get(&type_oid).cloned().ok_or_else(|| {
            Error::Internal(format!(
                "column {name:?} has type {type_oid}, which was not listed before"
            ))
        })?;
        let typmod = if attr_typmod >= 0 {
            attr_typmod
        } else {
            domain_typmod
        };
        if let Some(pos) = row.get::<_, Option<i32>>("pk_position") {
            b.pk.push((pos, name.clone()));
            b.pk_types.push(ty.name.clone());
        }
        // An array column that declares no dimensions (made by CREATE TABLE AS, a materialized
        // view, a domain over an array) has them read from the data while planning.
        let declared: i32 = row.get("attndims");
        let dims_unknown = ty.element.is_some() && declared == 0;
        match map_type(&ty, typmod, declared, &ctx) {
            Ok(m) => b.table.columns.push(ColumnDesc {
                name,
                source_type,
                kind: m.kind,
                nullable: !row.get::<_, bool>("attnotnull"),
                read: m.read,
                wire: m.wire,
                lossy_rules: m.lossy,
                dims_unknown,
            }),
            Err(why) => b
                .unsupported
                .push(format!("column {name:?} ({source_type}): {}", why.0)),
        }
    }
    if let Some((_, done)) = current.take() {
        each(done.finish())?;
    }
    Ok(())
}

struct Building {
    table: TableDesc,
    partition: bool,
    /// An ordinary table or a materialized view: a heap of its own, readable in block ranges
    /// (not a partitioned parent, whose blocks are its leaves').
    heap: bool,
    /// The server has TID range scans (PostgreSQL 14+); without them a block range would be a
    /// full scan per chunk.
    ctid_ranges: bool,
    pk: Vec<(i32, String)>,
    pk_types: Vec<String>,
    unsupported: Vec<String>,
}

impl Building {
    fn finish(mut self) -> Discovered {
        if self.partition {
            return Discovered::Skipped(SkippedTable {
                name: self.table.name,
                reason: "partition: its rows are exported as part of its partitioned parent table"
                    .into(),
            });
        }
        if self.table.columns.is_empty() && self.unsupported.is_empty() {
            return Discovered::Skipped(SkippedTable {
                name: self.table.name,
                reason: "table has no columns, and a Parquet file needs at least one".into(),
            });
        }
        if !self.unsupported.is_empty() {
            return Discovered::Skipped(SkippedTable {
                name: self.table.name,
                reason: format!("unsupported column type: {}", self.unsupported.join("; ")),
            });
        }
        self.pk.sort();
        self.table.primary_key = self.pk.into_iter().map(|(_, n)| n).collect();
        if let ([key], [ty]) = (self.table.primary_key.as_slice(), self.pk_types.as_slice())
            && matches!(ty.as_str(), "int2" | "int4" | "int8")
        {
            self.table.split_key = Some(crate::model::SplitKey {
                column: key.clone(),
                physical: false,
                quantiles: vec![],
                bounds: None,
                tuples: None,
            });
        } else if self.heap && self.ctid_ranges {
            // No integer key: ranges of heap blocks, each read with a TID range scan. Within one
            // snapshot every visible row version has exactly one ctid, so each row is read once.
            self.table.split_key = Some(crate::model::SplitKey::blocks());
        }
        Discovered::Table(Box::new(self.table))
    }
}
