//! Folding (`--fold-schemas`): a database of many schemas with the same tables (a schema per
//! tenant) exports to one Glue table per table name and columns, with the source schema as
//! its first partition key ([`SCHEMA_KEY`]), so one Athena query reads every tenant and the
//! catalog holds a few tables instead of millions (see [`super::quotas`]).
//!
//! The rule: tables fold together when they have the same name, the same columns (names,
//! source types and exported types, in order) and the same partition folders; a group of two
//! or more folds. Nullability does not count: a reader takes optional and required columns
//! alike. A table with a column named [`SCHEMA_KEY`] (or partitioned under that key) never
//! folds: the key would hide it. A table that does not fold while others of its name do is
//! listed in the manifest with the reason ([`Folding`]), and exported as its own Glue table
//! under the usual name (`<schema>_<table>`).
//!
//! Files stay where they are written (`<export>/<schema>/<table>/...`): a folded table's
//! partitions each carry their own location, one per schema (times the table's own partition
//! folders, if it has them), so folding changes only the catalog files. A folded table is
//! named after the source table alone (`orders`), collisions resolved as [`super::names`] does,
//! folded tables first; its `TableInput` describes the first schema's table, located at the
//! export's root (its partitions hold every file), and its partitions are registered from its
//! `.partitions-NNNN.json` files: Athena cannot project nor `MSCK REPAIR` folders that are the
//! schemas' own.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::glue::{BatchCreatePartition, Column, MAX_PARTITIONS_PER_BATCH, PartitionInput};
use super::partitions::{self, glue_value, partition_location, registered};
use super::{ExportInfo, TableEntry, TableInput, names};
use crate::model::{TableDesc, TableName};

/// The partition key holding a folded table's source schema. First, before the table's own
/// partition key, if it has one.
pub const SCHEMA_KEY: &str = "source_schema";

/// The table parameter giving how many schemas a folded table holds.
pub const FOLDED_SCHEMAS: &str = "snapex.folded_schemas";

/// What folding did, as the manifest and the run report list it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Folding {
    /// The partition key holding the source schema.
    pub partition_key: String,
    /// Each folded Glue table.
    pub folded: Vec<FoldedTable>,
    /// Tables not folded although others of their name were, with the reason.
    #[serde(default)]
    pub not_folded: Vec<NotFolded>,
}

/// One Glue table made of the same table in several schemas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoldedTable {
    pub glue_table: String,
    /// The source table's name, the same in every schema.
    pub table: String,
    /// How many schemas' tables it holds (one partition each).
    pub schemas: u64,
}

/// A table left out of folding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotFolded {
    pub schema: String,
    pub name: String,
    /// The Glue table it is exported as, on its own.
    pub glue_table: String,
    /// The folded table of its name it stays out of.
    pub folded_into: String,
    pub reason: String,
}

/// What decides whether two tables fold together, as one comparable string; `None` for a
/// table that never folds (see the module documentation).
pub fn shape(t: &TableDesc) -> Option<String> {
    let glue_names = names::column_names(t.columns.iter().map(|c| c.name.as_str()));
    if glue_names.iter().any(|n| n.glue == SCHEMA_KEY)
        || t.partition_by.as_ref().is_some_and(|p| p.key == SCHEMA_KEY)
    {
        return None;
    }
    let columns: Vec<_> = t
        .columns
        .iter()
        .map(|c| (&c.name, &c.source_type, &c.kind))
        .collect();
    Some(format!("{:?}", (&t.name.name, &t.partition_by, columns)))
}

/// The Glue table name of each of `tables` (in the same order): with `fold`, tables of one
/// [`shape`] in two or more schemas share one, named after the table; every other table is
/// named by [`names::table_names`]' rule. `default_schema` is that rule's.
pub fn assign(tables: &[&TableDesc], default_schema: Option<&str>, fold: bool) -> Vec<String> {
    let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
    if fold {
        for (i, t) in tables.iter().enumerate() {
            if let Some(s) = shape(t) {
                groups.entry(s).or_default().push(i);
            }
        }
    }
    // One Glue table per folded group, one per other table: its spelling, its rank (folded
    // tables first, then by source name), and the tables it holds.
    let mut glue: Vec<(String, (bool, &TableName), Vec<usize>)> = Vec::new();
    let mut folded = vec![false; tables.len()];
    for members in groups.into_values().filter(|m| m.len() > 1) {
        let first = members
            .iter()
            .map(|&i| &tables[i].name)
            .min()
            .unwrap_or(&tables[members[0]].name);
        for &i in &members {
            folded[i] = true;
        }
        glue.push((first.name.clone(), (false, first), members));
    }
    for (i, t) in tables.iter().enumerate().filter(|(i, _)| !folded[*i]) {
        let spelled = match default_schema {
            Some(s) if s == t.name.schema => t.name.name.clone(),
            _ => format!("{}_{}", t.name.schema, t.name.name),
        };
        glue.push((spelled, (true, &t.name), vec![i]));
    }
    let spelled: Vec<String> = glue.iter().map(|g| g.0.clone()).collect();
    let rank: Vec<(bool, &TableName)> = glue.iter().map(|g| g.1).collect();
    let unique = names::unique_table_names(&spelled, &rank);
    let mut out = vec![String::new(); tables.len()];
    for ((_, _, members), name) in glue.iter().zip(unique) {
        for &i in members {
            out[i].clone_from(&name);
        }
    }
    out
}

/// The Glue names two or more tables share: the folded tables, with how many tables each holds.
pub fn folded_names<'a>(names: impl IntoIterator<Item = &'a String>) -> HashMap<&'a str, usize> {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for n in names {
        *count.entry(n.as_str()).or_default() += 1;
    }
    count.retain(|_, n| *n > 1);
    count
}

/// What folding did to `tables` (in catalog order), named `glue`: `None` when nothing folded.
pub fn folding(tables: &[&TableDesc], glue: &HashMap<TableName, String>) -> Option<Folding> {
    let name_of = |t: &TableDesc| glue.get(&t.name).cloned().unwrap_or_default();
    let folded_names = folded_names(glue.values());
    if folded_names.is_empty() {
        return None;
    }
    // Each folded Glue table with its first member (in catalog order), by source table name.
    let mut folded: BTreeMap<String, (&TableDesc, u64)> = BTreeMap::new();
    for t in tables {
        let name = name_of(t);
        if let Some(&n) = folded_names.get(name.as_str()) {
            folded.entry(name).or_insert((t, n as u64));
        }
    }
    let mut by_table: HashMap<&str, Vec<(&str, &TableDesc)>> = HashMap::new();
    for (glue_table, (t, _)) in &folded {
        by_table
            .entry(t.name.name.as_str())
            .or_default()
            .push((glue_table, t));
    }
    let mut not_folded = Vec::new();
    for t in tables {
        let name = name_of(t);
        if folded_names.contains_key(name.as_str()) {
            continue;
        }
        let Some(&[(folded_into, like), ..]) =
            by_table.get(t.name.name.as_str()).map(Vec::as_slice)
        else {
            continue;
        };
        not_folded.push(NotFolded {
            schema: t.name.schema.clone(),
            name: t.name.name.clone(),
            glue_table: name,
            folded_into: folded_into.to_string(),
            reason: difference(t, like),
        });
    }
    Some(Folding {
        partition_key: SCHEMA_KEY.into(),
        folded: folded
            .into_iter()
            .map(|(glue_table, (t, n))| FoldedTable {
                glue_table,
                table: t.name.name.clone(),
                schemas: n,
            })
            .collect(),
        not_folded,
    })
}

/// Why `t` does not fold with `like`, in a few words.
fn difference(t: &TableDesc, like: &TableDesc) -> String {
    if shape(t).is_none() {
        return format!("it has a column or partition key named {SCHEMA_KEY}, the folded key");
    }
    if t.partition_by != like.partition_by {
        return "its partition folders differ".into();
    }
    let describe = |c: &crate::model::ColumnDesc| format!("{:?} {}", c.name, c.source_type);
    let n = t.columns.len().max(like.columns.len());
    let first = (0..n).find(|&i| {
        let (a, b) = (t.columns.get(i), like.columns.get(i));
        a.map(|c| (&c.name, &c.source_type, &c.kind))
            != b.map(|c| (&c.name, &c.source_type, &c.kind))
    });
    let detail = match first.map(|i| (i + 1, t.columns.get(i), like.columns.get(i))) {
        Some((i, Some(a), Some(b))) => {
            format!(
                "column {i} is {}, the folded table's {}",
                describe(a),
                describe(b)
            )
        }
        Some((i, Some(a), None)) => {
            format!("column {i} ({}) is not in the folded table", describe(a))
        }
        Some((i, None, Some(b))) => {
            format!("the folded table's column {i} ({}) is missing", describe(b))
        }
        _ => return "its columns differ".into(),
    };
    format!(
        "its columns differ ({} columns, the folded table {}): {detail}",
        t.columns.len(),
        like.columns.len()
    )
}

/// The Glue table for a folded table: `members` are its tables (each at its own folder, with
/// the partitions written there), `location` the export root's URL, ending in `/`.
pub fn table_input(
    e: &ExportInfo<'_>,
    glue_name: &str,
    members: &[TableEntry<'_>],
    location: String,
) -> TableInput {
    let first = &members[0];
    let mut input = super::table_input(
        e,
        &TableEntry {
            table: first.table,
            glue_name,
            location,
            partitions: &[],
        },
    );
    input.parameters.retain(|k, _| {
        !k.starts_with("projection.")
            && k != "storage.location.template"
            && k != "snapex.source_schema"
            && k != partitions::UNREGISTERED
    });
    input.parameters.insert(
        partitions::PROJECTION_STATUS.into(),
        format!(
            "off: the {SCHEMA_KEY} partitions are the schemas' own folders, registered from \
             the partitions files"
        ),
    );
    input
        .parameters
        .insert(FOLDED_SCHEMAS.into(), members.len().to_string());
    let unregistered = members
        .iter()
        .filter(|m| registered(m.partitions).1.is_some())
        .count();
    if unregistered > 0 {
        input.parameters.insert(
            partitions::UNREGISTERED.into(),
            format!(
                "in {unregistered} schema(s), the partition folder of the empty value: Glue has \
                 no empty partition value, and the NULL partition has it"
            ),
        );
    }
    input.partition_keys.insert(
        0,
        Column::new(
            SCHEMA_KEY.into(),
            "string".into(),
            "the source schema the rows come from (tables folded across schemas)",
        ),
    );
    input.description = super::glue::single_line(
        &format!(
            "{} table {:?} of {} schemas of database {:?}, one partition per schema, exported \
             by snapex as {:?}",
            e.engine,
            first.table.name.name,
            members.len(),
            e.source_database,
            e.export_id
        ),
        super::MAX_DESCRIPTION_CHARS,
    );
    input
}

/// The `BatchCreatePartition` requests registering a folded table's partitions: one per
/// member, at the member's folder, or one per partition folder written for a table with
/// partition folders; at most [`MAX_PARTITIONS_PER_BATCH`] a request.
pub fn partition_requests(
    e: &ExportInfo<'_>,
    input: &TableInput,
    members: &[TableEntry<'_>],
) -> Vec<BatchCreatePartition> {
    let sd = &input.storage_descriptor;
    let partition = |values: Vec<String>, location: String| {
        let mut storage = sd.clone();
        storage.location = location;
        PartitionInput {
            values,
            storage_descriptor: storage,
            parameters: BTreeMap::from([("classification".into(), "parquet".into())]),
        }
    };
    let mut inputs = Vec::new();
    for m in members {
        let schema = &m.table.name.schema;
        match &m.table.partition_by {
            None => inputs.push(partition(vec![schema.clone()], m.location.clone())),
            Some(p) => inputs.extend(registered(m.partitions).0.into_iter().map(|v| {
                partition(
                    vec![schema.clone(), glue_value(v)],
                    partition_location(&m.location, &p.key, v),
                )
            })),
        }
    }
    inputs
        .chunks(MAX_PARTITIONS_PER_BATCH)
        .map(|chunk| BatchCreatePartition {
            database_name: e.glue_database.to_string(),
            table_name: input.name.clone(),
            partition_input_list: chunk.to_vec(),
        })
        .collect()
}

/// SQL comments to follow a folded table's `CREATE EXTERNAL TABLE`: how to register its
/// partitions, from `files` (its partitions files).
pub fn ddl_note(files: &[String]) -> String {
    let mut note = format!(
        "-- Folded across schemas: each schema's table is a partition ({SCHEMA_KEY}) in that \
         table's own folder,\n-- which MSCK REPAIR TABLE cannot find. Register them from the \
         partitions files in this folder:\n"
    );
    for f in files {
        note.push_str(&format!(
            "--   aws glue batch-create-partition --cli-input-json file://{f}\n"
        ));
    }
    note
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{ColumnDesc, Granularity, PartitionBy, Partitioning, ReadAs};
    use crate::types::ValueKind;

    fn col(name: &str, source_type: &str) -> ColumnDesc {
        ColumnDesc {
            name: name.into(),
            source_type: source_type.into(),
            kind: ValueKind::Int32,
            nullable: true,
            read: ReadAs::Native,
            wire: String::new(),
            lossy_rules: vec![],
            dims_unknown: false,
        }
    }

    /// A table of `integer` columns named `columns`.
    pub(crate) fn table(schema: &str, name: &str, columns: &[&str]) -> TableDesc {
        TableDesc {
            name: TableName::new(schema, name),
            columns: columns.iter().map(|c| col(c, "integer")).collect(),
            primary_key: vec![],
            split_key: None,
            estimated_bytes: 0,
            estimated_rows: None,
            partitions: vec![],
            partition_by: None,
        }
    }

    /// Three tenants with `orders` and `users`, t2's orders with an extra column, a `public`
    /// table named like a folded one, and one table only t1 has.
    fn tenants() -> Vec<TableDesc> {
        vec![
            table("t1", "orders", &["id", "v"]),
            table("t1", "users", &["id"]),
            table("t1", "audit", &["id"]),
            table("t2", "orders", &["id", "v", "extra"]),
            table("t2", "users", &["id"]),
            table("t3", "orders", &["id", "v"]),
            table("t3", "users", &["id"]),
            table("public", "users", &["id", "name"]),
        ]
    }

    fn names_of(tables: &[TableDesc], fold: bool) -> Vec<String> {
        let refs: Vec<&TableDesc> = tables.iter().collect();
        assign(&refs, Some("public"), fold)
    }

    #[test]
    fn tables_of_one_name_and_columns_fold_and_the_others_keep_their_names() {
        let t = tenants();
        assert_eq!(
            names_of(&t, true),
            [
                "orders",
                "users",
                "t1_audit",
                "t2_orders",
                "users",
                "orders",
                "users",
                // `public.users` spells `users` exactly too; the folded table comes first.
                "users_2",
            ]
        );
        // Without folding: the usual names.
        let refs: Vec<&TableName> = t.iter().map(|t| &t.name).collect();
        assert_eq!(
            names_of(&t, false),
            names::table_names(&refs, Some("public"))
        );
    }

    #[test]
    fn the_tables_left_out_are_listed_with_the_reason() {
        let t = tenants();
        let names = names_of(&t, true);
        let refs: Vec<&TableDesc> = t.iter().collect();
        let glue: HashMap<TableName, String> = t
            .iter()
            .map(|t| t.name.clone())
            .zip(names.iter().cloned())
            .collect();
        let f = folding(&refs, &glue).unwrap();
        assert_eq!(f.partition_key, "source_schema");
        assert_eq!(
            f.folded,
            [
                FoldedTable {
                    glue_table: "orders".into(),
                    table: "orders".into(),
                    schemas: 2
                },
                FoldedTable {
                    glue_table: "users".into(),
                    table: "users".into(),
                    schemas: 3
                },
            ]
        );
        let left: Vec<(&str, &str, &str, &str)> = f
            .not_folded
            .iter()
            .map(|n| {
                (
                    n.schema.as_str(),
                    n.glue_table.as_str(),
                    n.folded_into.as_str(),
                    n.reason.as_str(),
                )
            })
            .collect();
        assert_eq!(
            left,
            [
                (
                    "t2",
                    "t2_orders",
                    "orders",
                    "its columns differ (3 columns, the folded table 2): column 3 (\"extra\" \
                     integer) is not in the folded table"
                ),
                (
                    "public",
                    "users_2",
                    "users",
                    "its columns differ (2 columns, the folded table 1): column 2 (\"name\" \
                     integer) is not in the folded table"
                ),
            ]
        );
        // Nothing folded: nothing to list.
        let plain: HashMap<TableName, String> = t
            .iter()
            .map(|t| t.name.clone())
            .zip(names_of(&t, false))
            .collect();
        assert_eq!(folding(&refs, &plain), None);
    }

    #[test]
    fn types_partitions_and_the_schema_key_keep_tables_apart() {
        let a = table("a", "t", &["id"]);
        let mut b = table("b", "t", &["id"]);
        assert_eq!(shape(&a), shape(&b));
        b.columns[0].nullable = false;
        assert_eq!(shape(&a), shape(&b), "nullability does not count");
        b.columns[0].source_type = "bigint".into();
        assert_ne!(shape(&a), shape(&b));
        let mut c = table("c", "t", &["id"]);
        c.partition_by = Some(Partitioning {
            key: "id_day".into(),
            column: "id".into(),
            by: PartitionBy::Time {
                granularity: Granularity::Day,
            },
        });
        assert_ne!(shape(&a), shape(&c));
        assert_eq!(shape(&table("d", "t", &["Source_Schema"])), None);
        assert_ne!(
            shape(&table("d", "u", &["id"])),
            shape(&a),
            "the name counts"
        );
    }

    fn entries<'a>(tables: &'a [TableDesc], parts: &'a [Option<String>]) -> Vec<TableEntry<'a>> {
        tables
            .iter()
            .map(|t| TableEntry {
                table: t,
                glue_name: "orders",
                location: format!("s3://b/e/{}/{}/", t.name.schema, t.name.name),
                partitions: if t.partition_by.is_some() { parts } else { &[] },
            })
            .collect()
    }

    const EXPORT: ExportInfo<'static> = ExportInfo {
        export_id: "e",
        engine: "postgresql",
        source_database: "shop",
        glue_database: "shop",
    };

    #[test]
    fn a_folded_table_has_the_schema_key_and_a_partition_per_schema() {
        let tables: Vec<TableDesc> = (0..250)
            .map(|i| table(&format!("t{i:03}"), "orders", &["id", "v"]))
            .collect();
        let members = entries(&tables, &[]);
        let input = table_input(&EXPORT, "orders", &members, "s3://b/e/".into());
        assert_eq!(input.name, "orders");
        assert_eq!(input.storage_descriptor.location, "s3://b/e/");
        assert_eq!(input.partition_keys.len(), 1);
        assert_eq!(input.partition_keys[0].name, "source_schema");
        assert_eq!(input.partition_keys[0].glue_type, "string");
        assert_eq!(input.parameters[FOLDED_SCHEMAS], "250");
        assert!(!input.parameters.contains_key("snapex.source_schema"));
        assert!(
            input.description.contains("of 250 schemas"),
            "{}",
            input.description
        );
        let requests = partition_requests(&EXPORT, &input, &members);
        assert_eq!(requests.len(), 3);
        assert_eq!(requests[2].partition_input_list.len(), 50);
        let p = &requests[1].partition_input_list[0];
        assert_eq!(p.values, ["t100"]);
        assert_eq!(p.storage_descriptor.location, "s3://b/e/t100/orders/");
        assert_eq!(
            p.storage_descriptor.columns,
            input.storage_descriptor.columns
        );
        let sql = super::super::ddl::create_table("shop", &input);
        assert!(
            sql.contains("PARTITIONED BY (\n  `source_schema` string"),
            "{sql}"
        );
        let note = ddl_note(&["orders.partitions-0001.json".into()]);
        assert!(
            note.contains("file://orders.partitions-0001.json\n"),
            "{note}"
        );
    }

    #[test]
    fn a_folded_table_with_partition_folders_has_both_keys() {
        let mut tables: Vec<TableDesc> = (0..2)
            .map(|i| table(&format!("t{i}"), "events", &["id", "at"]))
            .collect();
        for t in &mut tables {
            t.partition_by = Some(Partitioning {
                key: "at_day".into(),
                column: "at".into(),
                by: PartitionBy::Time {
                    granularity: Granularity::Day,
                },
            });
        }
        let parts = [Some("2024-01-01".to_string()), None];
        let members = entries(&tables, &parts);
        let input = table_input(&EXPORT, "events", &members, "s3://b/e/".into());
        let keys: Vec<&str> = input
            .partition_keys
            .iter()
            .map(|k| k.name.as_str())
            .collect();
        assert_eq!(keys, ["source_schema", "at_day"]);
        assert!(
            input
                .parameters
                .keys()
                .all(|k| !k.starts_with("projection."))
        );
        let requests = partition_requests(&EXPORT, &input, &members);
        let got: Vec<(Vec<String>, String)> = requests[0]
            .partition_input_list
            .iter()
            .map(|p| (p.values.clone(), p.storage_descriptor.location.clone()))
            .collect();
        let v = |a: &str, b: &str| vec![a.to_string(), b.to_string()];
        assert_eq!(
            got,
            [
                (
                    v("t0", "2024-01-01"),
                    "s3://b/e/t0/events/at_day=2024-01-01/".into()
                ),
                (
                    v("t0", "__HIVE_DEFAULT_PARTITION__"),
                    "s3://b/e/t0/events/at_day=__HIVE_DEFAULT_PARTITION__/".into()
                ),
                (
                    v("t1", "2024-01-01"),
                    "s3://b/e/t1/events/at_day=2024-01-01/".into()
                ),
                (
                    v("t1", "__HIVE_DEFAULT_PARTITION__"),
                    "s3://b/e/t1/events/at_day=__HIVE_DEFAULT_PARTITION__/".into()
                ),
            ]
        );
    }
}
