//! The export's catalog files under `_catalog/` (the Glue `DatabaseInput`, each table's
//! `TableInput`, Athena DDL and partitions files) and the Glue names they use. Apart from
//! publishing because planning names the Glue database and tables before anything is written.

use std::collections::{BTreeMap, HashMap};

use object_store::path::Path;

use crate::catalog::{self, ExportInfo, TableEntry, names, partitions};
use crate::config::ExportConfig;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::manifest::SourceManifest;
use crate::model::{SourceInfo, TableDesc, TableName};
use crate::sink::Destination;
use crate::work::{GlueNames, PieceResult};

/// The Glue database is `--glue-database`, else named after the source database; tables are
/// named by [`catalog::fold::assign`] over every exported table (in catalog order), so
/// collisions resolve the same way however the work was split.
pub(super) fn glue_names(cfg: &ExportConfig, info: &SourceInfo, order: &[&TableDesc]) -> GlueNames {
    let tables = catalog::fold::assign(order, cfg.source.default_schema(), cfg.fold_schemas);
    GlueNames {
        database: glue_database(cfg, info),
        tables: order.iter().map(|t| t.name.clone()).zip(tables).collect(),
    }
}

/// The Glue database: the configured one, else one named after the source database.
pub(super) fn glue_database(cfg: &ExportConfig, info: &SourceInfo) -> String {
    cfg.glue_database
        .clone()
        .unwrap_or_else(|| names::database_name(&info.database))
}

/// The partitions each table's files were written under (pieces that wrote a file), distinct
/// and in catalog order; tables without partition folders have none.
fn written_partitions<'a>(
    tables: &crate::work::TableMap,
    results: &'a [PieceResult],
) -> HashMap<&'a TableName, Vec<Option<String>>> {
    let mut values: HashMap<&TableName, Vec<Option<&str>>> = HashMap::new();
    for r in results.iter().filter(|r| r.file.is_some()) {
        if let Some(h) = &r.piece.hive {
            values
                .entry(&r.piece.table)
                .or_default()
                .push(h.value.as_deref());
        }
    }
    values
        .into_iter()
        .filter_map(|(name, v)| {
            let p = tables.get(name)?.partition_by.as_ref()?;
            Some((name, partitions::distinct_values(&p.by, v)))
        })
        .collect()
}

/// The export's catalog files, made a batch of tables at a time so that publishing never holds
/// every table's files at once: the Glue `DatabaseInput`, and per table its `TableInput` and
/// Athena DDL, located at the table's folder, and for a table with partition folders its
/// partitions files, one `BatchCreatePartition` request each, for the partitions `results`
/// wrote files into. A folded table's files need all its members: they are made last
/// ([`CatalogFiles::folded`]).
pub(super) struct CatalogFiles<'a> {
    export: ExportInfo<'a>,
    glue: &'a GlueNames,
    tables: &'a crate::work::TableMap,
    dest: &'a Destination,
    layout: &'a Layout,
    written: HashMap<&'a TableName, Vec<Option<String>>>,
    folded_names: HashMap<&'a str, usize>,
}

/// A folded table's members met so far, by Glue name.
pub(super) type FoldedMembers<'a> = BTreeMap<&'a str, Vec<TableEntry<'a>>>;

impl<'a> CatalogFiles<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        info: &'a SourceManifest,
        export_id: &'a str,
        glue: &'a GlueNames,
        tables: &'a crate::work::TableMap,
        dest: &'a Destination,
        layout: &'a Layout,
        results: &'a [PieceResult],
    ) -> CatalogFiles<'a> {
        CatalogFiles {
            export: ExportInfo {
                export_id,
                engine: &info.engine,
                source_database: &info.database,
                glue_database: &glue.database,
            },
            glue,
            tables,
            dest,
            layout,
            written: written_partitions(tables, results),
            folded_names: catalog::fold::folded_names(glue.tables.values()),
        }
    }

    /// The Glue `DatabaseInput`.
    pub(super) fn database(&self) -> Result<(Path, Vec<u8>)> {
        Ok((
            self.layout.catalog_database(),
            pretty_json("database.json", &catalog::database_input(&self.export))?,
        ))
    }

    /// The files of `names` (in catalog order) that are their own Glue table; the members of
    /// folded tables are added to `folded` instead.
    pub(super) fn tables(
        &'a self,
        names: &[TableName],
        folded: &mut FoldedMembers<'a>,
    ) -> Result<Vec<(Path, Vec<u8>)>> {
        let mut files = Vec::with_capacity(2 * names.len());
        for t in names.iter().filter_map(|name| self.tables.get(name)) {
            let glue_name = self
                .glue
                .tables
                .get(&t.name)
                .ok_or_else(|| Error::Internal(format!("table {} has no Glue name", t.name)))?;
            catalog::check_partition_key(t)?;
            let entry = TableEntry {
                table: t,
                glue_name,
                location: self.dest.folder_url(&self.layout.table_dir(&t.name)),
                partitions: self.written.get(&t.name).map_or(&[], Vec::as_slice),
            };
            if self.folded_names.contains_key(glue_name.as_str()) {
                folded.entry(glue_name).or_default().push(entry);
                continue;
            }
            let input = catalog::table_input(&self.export, &entry);
            if let Some(why) = input.parameters.get(partitions::UNREGISTERED) {
                tracing::warn!(
                    "{}: a partition folder is not registered in Glue: {why}",
                    t.name
                );
            }
            files.push((
                self.layout.catalog_table(glue_name),
                pretty_json(glue_name, &input)?,
            ));
            let requests = catalog::partition_requests(&self.export, &entry, &input);
            let partition_files =
                push_partition_files(self.layout, glue_name, &requests, &mut files)?;
            let mut ddl = catalog::ddl::create_table(&self.glue.database, &input);
            if let Some(note) =
                catalog::ddl::partitions_note(&self.glue.database, &input, &partition_files)
            {
                ddl.push_str(&note);
            }
            files.push((self.layout.catalog_ddl(glue_name), ddl.into_bytes()));
        }
        Ok(files)
    }

    /// The files of the folded tables whose members [`CatalogFiles::tables`] gathered.
    pub(super) fn folded(&self, folded: FoldedMembers<'_>) -> Result<Vec<(Path, Vec<u8>)>> {
        let root = self.dest.folder_url(self.layout.export_root());
        let mut files = Vec::new();
        for (glue_name, mut members) in folded {
            members.sort_by(|a, b| a.table.name.cmp(&b.table.name));
            files.extend(folded_catalog_files(
                &self.export,
                self.layout,
                glue_name,
                &members,
                &root,
            )?);
        }
        Ok(files)
    }
}

/// A folded table's catalog files (see [`catalog::fold`]): its `TableInput`, its partitions
/// files (a partition per schema) and its Athena DDL.
fn folded_catalog_files(
    export: &ExportInfo<'_>,
    layout: &Layout,
    glue_name: &str,
    members: &[TableEntry<'_>],
    root: &str,
) -> Result<Vec<(Path, Vec<u8>)>> {
    let input = catalog::fold::table_input(export, glue_name, members, root.to_string());
    let mut files = vec![(
        layout.catalog_table(glue_name),
        pretty_json(glue_name, &input)?,
    )];
    let requests = catalog::fold::partition_requests(export, &input, members);
    let names = push_partition_files(layout, glue_name, &requests, &mut files)?;
    let mut ddl = catalog::ddl::create_table(export.glue_database, &input);
    ddl.push_str(&catalog::fold::ddl_note(&names));
    files.push((layout.catalog_ddl(glue_name), ddl.into_bytes()));
    Ok(files)
}

/// Adds a table's partitions files (`<glue table>.partitions-0001.json`, …, one per request)
/// to `files`, and returns their names for the table's DDL.
fn push_partition_files(
    layout: &Layout,
    glue_name: &str,
    requests: &[catalog::BatchCreatePartition],
    files: &mut Vec<(Path, Vec<u8>)>,
) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for (i, request) in requests.iter().enumerate() {
        let name = crate::layout::partitions_file_name(glue_name, i + 1);
        files.push((
            layout.catalog_dir().join(name.as_str()),
            pretty_json(&name, request)?,
        ));
        names.push(name);
    }
    Ok(names)
}

pub(super) fn pretty_json(what: &str, v: &impl serde::Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(v).map_err(|e| Error::Internal(format!("catalog file {what}: {e}")))
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::catalog::BatchCreatePartition;
    use crate::layout::DEFAULT_PARTITION;
    use crate::model::{
        Granularity, HivePartition, KeyRange, PartFilter, PartitionBy, Partitioning, Piece,
    };
    use crate::sink::FileWritten;

    fn table(name: &str, partition_by: Option<Partitioning>) -> TableDesc {
        TableDesc {
            name: TableName::new("public", name),
            columns: vec![],
            primary_key: vec![],
            split_key: None,
            estimated_bytes: 0,
            estimated_rows: None,
            partitions: vec![],
            partition_by,
        }
    }

    /// Four tables' written pieces (partitioned by day, key buckets and value, and not
    /// partitioned), in the order readers might finish: the manifest's tests use it too.
    pub(in crate::pipeline) struct Fixture {
        pub(in crate::pipeline) tables: crate::work::TableMap,
        pub(in crate::pipeline) order: Vec<TableName>,
        dest: Destination,
        pub(in crate::pipeline) layout: Layout,
        pub(in crate::pipeline) results: Vec<PieceResult>,
    }

    impl Fixture {
        pub(in crate::pipeline) fn new() -> Fixture {
            let day = Partitioning {
                key: "at_day".into(),
                column: "at".into(),
                by: PartitionBy::Time {
                    granularity: Granularity::Day,
                },
            };
            let buckets = Partitioning {
                key: "id_bucket".into(),
                column: "id".into(),
                by: PartitionBy::KeyBuckets { width: 10 },
            };
            let region = Partitioning {
                key: "region_value".into(),
                column: "region".into(),
                by: PartitionBy::Value,
            };
            let tables = vec![
                table("events", Some(day)),
                table("orders", Some(buckets)),
                table("shops", Some(region)),
                table("plain", None),
            ];
            let order = tables.iter().map(|t| t.name.clone()).collect();
            let dest = Destination::open("s3://b/lake", Some("http://127.0.0.1:1")).unwrap();
            let layout = Layout::new(&dest.root, "e");
            let mut f = Fixture {
                tables: tables
                    .into_iter()
                    .map(|t| (t.name.clone(), Box::new(t)))
                    .collect(),
                order,
                dest,
                layout,
                results: vec![],
            };
            let hive = |key: &str, value: Option<&str>, filter| {
                Some(HivePartition {
                    key: key.into(),
                    value: value.map(String::from),
                    filter,
                })
            };
            let time = |lo, hi| PartFilter::TimeRange { lo, hi };
            // Two files in one day, one with no rows in the next, and the NULL partition,
            // listed in the order readers might finish.
            f.add(
                "events",
                None,
                hive("at_day", None, PartFilter::TimeNull),
                true,
            );
            f.add(
                "events",
                None,
                hive(
                    "at_day",
                    Some("2024-03-01"),
                    time(1_709_294_400, 1_709_337_600),
                ),
                true,
            );
            f.add(
                "events",
                None,
                hive(
                    "at_day",
                    Some("2024-03-01"),
                    time(1_709_251_200, 1_709_294_400),
                ),
                true,
            );
            f.add(
                "events",
                None,
                hive(
                    "at_day",
                    Some("2024-03-02"),
                    time(1_709_337_600, 1_709_424_000),
                ),
                false,
            );
            // 250 buckets, 100, -10, 0, ..., 2380, in no order: three partitions files.
            for i in (-1..249).rev() {
                let lo = i * 10;
                let range = Some(KeyRange {
                    lo: Some(lo),
                    hi: Some(lo + 10),
                });
                let value = lo.to_string();
                f.add(
                    "orders",
                    range,
                    hive("id_bucket", Some(&value), PartFilter::KeyRangeOnly),
                    true,
                );
            }
            for v in ["eu west", "", "us"] {
                let filter = PartFilter::ValueEquals { text: v.into() };
                f.add("shops", None, hive("region_value", Some(v), filter), true);
            }
            f.add("plain", None, None, true);
            f
        }

        fn add(
            &mut self,
            table: &str,
            range: Option<KeyRange>,
            hive: Option<HivePartition>,
            rows: bool,
        ) {
            let piece = Piece {
                table: TableName::new("public", table),
                range,
                partition: None,
                hive,
            };
            let file = rows.then(|| FileWritten {
                path: self.layout.piece_file(&piece).to_string(),
                rows: 1,
                bytes: 10,
            });
            self.results.push(PieceResult {
                piece,
                file,
                lossy: BTreeMap::new(),
                seconds: 0.0,
            });
        }

        pub(in crate::pipeline) fn glue(&self) -> GlueNames {
            GlueNames {
                database: "shop".into(),
                tables: self
                    .order
                    .iter()
                    .map(|t| (t.clone(), t.name.clone()))
                    .collect(),
            }
        }

        fn catalog(&self) -> BTreeMap<String, Vec<u8>> {
            let info = SourceManifest {
                engine: "postgresql".into(),
                version: "16".into(),
                database: "shop".into(),
                endpoint: "localhost".into(),
                consistency: "test".into(),
            };
            let root = format!("{}/", self.layout.export_root());
            let glue = self.glue();
            let files = CatalogFiles::new(
                &info,
                "e",
                &glue,
                &self.tables,
                &self.dest,
                &self.layout,
                &self.results,
            );
            let mut folded = FoldedMembers::new();
            let mut all = vec![files.database().unwrap()];
            // Two batches, as publishing makes them: a batch's files do not depend on the
            // others'.
            let (first, rest) = self.order.split_at(self.order.len() / 2);
            all.extend(files.tables(first, &mut folded).unwrap());
            all.extend(files.tables(rest, &mut folded).unwrap());
            all.extend(files.folded(folded).unwrap());
            all.into_iter()
                .map(|(path, body)| (path.as_ref().strip_prefix(&root).unwrap().to_string(), body))
                .collect()
        }
    }

    fn json(files: &BTreeMap<String, Vec<u8>>, name: &str) -> serde_json::Value {
        serde_json::from_slice(&files[&format!("_catalog/{name}")]).unwrap()
    }

    #[test]
    fn partitioned_tables_get_partitions_files_for_the_partitions_written() {
        let f = Fixture::new();
        let files = f.catalog();
        let names: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "_catalog/database.json",
                "_catalog/events.partitions-0001.json",
                "_catalog/events.sql",
                "_catalog/events.table.json",
                "_catalog/orders.partitions-0001.json",
                "_catalog/orders.partitions-0002.json",
                "_catalog/orders.partitions-0003.json",
                "_catalog/orders.sql",
                "_catalog/orders.table.json",
                "_catalog/plain.sql",
                "_catalog/plain.table.json",
                "_catalog/shops.partitions-0001.json",
                "_catalog/shops.sql",
                "_catalog/shops.table.json",
            ]
        );
        assert!(names.iter().all(|n| Layout::is_catalog_file(n)));

        // Every partition is where its pieces' files are, and every written file is in one.
        for (table, key) in [
            ("events", "at_day"),
            ("orders", "id_bucket"),
            ("shops", "region_value"),
        ] {
            let name = TableName::new("public", table);
            let mut registered = Vec::new();
            for file in names
                .iter()
                .filter(|n| n.starts_with(&format!("_catalog/{table}.partitions-")))
            {
                let request: BatchCreatePartition = serde_json::from_slice(&files[*file]).unwrap();
                assert_eq!(request.table_name, table);
                assert!(request.partition_input_list.len() <= 100);
                registered.extend(request.partition_input_list);
            }
            for r in f.results.iter().filter(|r| r.piece.table == name) {
                let h = r.piece.hive.as_ref().unwrap();
                let location =
                    f.dest
                        .folder_url(&f.layout.partition_dir(&name, key, h.value.as_deref()));
                let found = registered
                    .iter()
                    .find(|p| p.storage_descriptor.location == location);
                assert_eq!(found.is_some(), r.file.is_some(), "{location}");
                if let (Some(p), Some(file)) = (found, &r.file) {
                    assert!(
                        f.dest
                            .folder_url(&Path::parse(&file.path).unwrap())
                            .starts_with(&location)
                    );
                    let value = h
                        .value
                        .as_deref()
                        .filter(|v| !v.is_empty())
                        .unwrap_or(DEFAULT_PARTITION);
                    assert_eq!(p.values, [value]);
                }
            }
        }
        let events = json(&files, "events.partitions-0001.json");
        let values: Vec<&str> = events["PartitionInputList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["Values"][0].as_str().unwrap())
            .collect();
        assert_eq!(
            values,
            ["2024-03-01", DEFAULT_PARTITION],
            "one per partition written, NULL last"
        );
        let orders = json(&files, "orders.partitions-0001.json");
        assert_eq!(
            orders["PartitionInputList"][0]["Values"][0], "-10",
            "buckets in numeric order"
        );
        assert_eq!(
            json(&files, "orders.partitions-0003.json")["PartitionInputList"][49]["Values"][0],
            "2480"
        );

        // Projection where the partitions allow it, and a note in the DDL where they do not.
        let params = |t: &str| json(&files, &format!("{t}.table.json"))["Parameters"].clone();
        assert_eq!(params("orders")["projection.id_bucket.range"], "-10,2480");
        assert_eq!(params("orders")["projection.id_bucket.interval"], "10");
        assert_eq!(
            params("orders")["storage.location.template"],
            "s3://b/lake/e/public/orders/id_bucket=${id_bucket}/"
        );
        assert!(
            params("events")["snapex.projection"]
                .as_str()
                .unwrap()
                .starts_with("off: a NULL")
        );
        assert!(
            params("shops")["snapex.projection"]
                .as_str()
                .unwrap()
                .starts_with("off: the empty value")
        );
        let sql = |t: &str| String::from_utf8(files[&format!("_catalog/{t}.sql")].clone()).unwrap();
        assert!(sql("events").contains("file://events.partitions-0001.json\n"));
        assert!(!sql("orders").contains("MSCK"));
        assert!(!sql("plain").contains("PARTITIONED BY"));
    }
}
