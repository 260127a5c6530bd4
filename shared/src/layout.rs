//! Where things go under the destination: one folder per export, one per table, one file per
//! piece. Every segment is escaped so any identifier gives a valid, unambiguous path.
//!
//! ```text
//! <dest>/<export-id>/<schema>/<table>/part-<range>.parquet
//! <dest>/<export-id>/_catalog/database.json, <glue table>.table.json, <glue table>.sql
//! <dest>/<export-id>/manifest.json, report.json, _manifest/shard-000002.json, report-000002.json, …
//! <dest>/<export-id>/_SUCCESS
//! <dest>/<export-id>/_work/plan.json, chunks.jsonl, chunks/<n>.json, done/<n>.json, failed/<n>.json
//! <dest>/<export-id>/_work/glue-batches.jsonl, glue-failed/<n>.json
//! <dest>/<export-id>/_work/lease/<generation>.json, attempts/<n>/<generation>.json
//! ```
//!
//! `_work/` holds a serverless run's records between its steps: the plan, the chunk list the
//! Distributed Map reads, each chunk's description, and each chunk's completion or failure;
//! after publishing, the batches of the Glue registration, which a second Map reads.
//!
//! Every name the export writes lives here, on the bottom floor (see [`crate::floors`]), so
//! the catalog, the partitioning rules and the sink all read them from one place.

use object_store::path::Path;

use crate::model::{Piece, TableName};

pub const MANIFEST: &str = "manifest.json";
/// The folder of the manifest's shards beyond its first (see [`crate::manifest`]). Its
/// leading `_` keeps it apart from the schema folders, and Athena ignores it.
pub const MANIFEST_DIR: &str = "_manifest";
pub const SUCCESS: &str = "_SUCCESS";
/// The run report, next to the manifest (see [`crate::pipeline::report`]).
pub const REPORT: &str = "report.json";
/// The folder of a serverless run's records. Its leading `_` keeps it apart from the schema
/// folders (escaped segments never start with `_`), and Athena ignores it.
pub const WORK_DIR: &str = "_work";

/// Shard `n`'s file name in [`MANIFEST_DIR`].
pub fn manifest_shard_file(n: usize) -> String {
    format!("shard-{n:06}.json")
}

/// The run report's shard `n`'s file name in [`MANIFEST_DIR`] (see
/// [`crate::pipeline::report`]).
pub fn report_shard_file(n: usize) -> String {
    format!("report-{n:06}.json")
}

/// The folder name of the default partition (NULL values), as Hive, Spark and Athena spell it.
pub const DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// The folder segment of one partition: `<key>=<value>`, the value escaped as path segments
/// are (every byte but `[A-Za-z0-9._-]` as `%XX`, a leading `_` or `.` too), NULL as
/// [`DEFAULT_PARTITION`] (which no escaped value can spell: its leading `_` would be escaped)
/// and the empty string as nothing at all (`key=`).
pub fn folder_segment(key: &str, value: Option<&str>) -> String {
    let value = match value {
        None => DEFAULT_PARTITION.to_string(),
        Some("") => String::new(),
        Some(v) => escape_segment(v),
    };
    format!("{key}={value}")
}

/// The folder under the export root holding the catalog files. The leading `_` keeps it apart
/// from every schema folder (an escaped path segment never starts with `_`), and makes Athena,
/// Hive, Spark and Glue crawlers skip it, as they skip `_SUCCESS`.
pub const CATALOG_DIR: &str = "_catalog";
/// The `DatabaseInput` file in [`CATALOG_DIR`].
pub const DATABASE_FILE: &str = "database.json";
/// A table's `TableInput` file in [`CATALOG_DIR`] is `<glue table>` plus this.
pub const TABLE_INPUT_SUFFIX: &str = ".table.json";
/// A table's Athena DDL file in [`CATALOG_DIR`] is `<glue table>` plus this.
pub const DDL_SUFFIX: &str = ".sql";
/// A table's partitions files in [`CATALOG_DIR`] are `<glue table>` plus this, a number of at
/// least four digits counting from 1, and [`PARTITIONS_SUFFIX`].
pub const PARTITIONS_INFIX: &str = ".partitions-";
pub const PARTITIONS_SUFFIX: &str = ".json";

/// The name of a table's `n`th partitions file (from 1): `<glue table>.partitions-0001.json`.
pub fn partitions_file_name(glue_table: &str, n: usize) -> String {
    format!("{glue_table}{PARTITIONS_INFIX}{n:04}{PARTITIONS_SUFFIX}")
}

/// True for a file name [`partitions_file_name`] gives.
pub fn is_partitions_file_name(name: &str) -> bool {
    name.strip_suffix(PARTITIONS_SUFFIX)
        .and_then(|n| n.rsplit_once(PARTITIONS_INFIX))
        .is_some_and(|(table, n)| {
            !table.is_empty() && n.len() >= 4 && n.bytes().all(|b| b.is_ascii_digit())
        })
}

/// Escapes one path segment: ASCII letters, digits, `-`, `_` and `.` stay; every other byte of
/// the UTF-8 form becomes `%XX`. A leading `_` or `.` is escaped too, because Athena, Hive and
/// Spark skip files and folders whose names start with them.
pub fn escape_segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for (i, b) in raw.bytes().enumerate() {
        let keep = b.is_ascii_alphanumeric() || b == b'-' || ((b == b'_' || b == b'.') && i > 0);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() { "%00".into() } else { out }
}

/// The longest folder or file name written: local file systems allow 255 bytes.
const MAX_SEGMENT: usize = 255;

/// [`escape_segment`], shortened when longer than [`MAX_SEGMENT`]: a 64-character MySQL name
/// of accented letters escapes to 384 bytes. The escaped form is cut (never inside a `%XX`)
/// and ends in `~` and a hash of the whole name. `~` is never left bare by escaping, so a
/// shortened name cannot equal an unshortened one, and names that share the kept prefix
/// still differ by their hashes. The manifest maps every table to its folder.
pub fn bounded_segment(raw: &str) -> String {
    let escaped = escape_segment(raw);
    if escaped.len() <= MAX_SEGMENT {
        return escaped;
    }
    let hash = format!("~{:016x}", fnv1a(raw.as_bytes()));
    let mut cut = MAX_SEGMENT - hash.len();
    let bytes = escaped.as_bytes();
    if let Some(back) = (1..=2).find(|k| bytes[cut - k] == b'%') {
        cut -= back;
    }
    format!("{}{hash}", &escaped[..cut])
}

/// FNV-1a, 64 bits: a stable hash (the same in every build and on every machine), which
/// `std`'s hashers do not promise.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `base` with escaped `segments` appended. Escaped segments hold only `[A-Za-z0-9._%~-]`, so
/// `Path::parse` accepts them as they are (building from parts would escape our `%` again).
fn join(base: &Path, segments: &[&str]) -> Path {
    let mut raw = base.as_ref().to_string();
    for s in segments {
        if !raw.is_empty() {
            raw.push('/');
        }
        raw.push_str(&bounded_segment(s));
    }
    Path::parse(raw).expect("escaped segments are valid path parts")
}

/// Paths of one export under the destination's root.
#[derive(Debug, Clone)]
pub struct Layout {
    root: Path,
}

impl Layout {
    pub fn new(root: &Path, export_id: &str) -> Layout {
        Layout {
            root: join(root, &[export_id]),
        }
    }

    /// The export's own folder.
    pub fn export_root(&self) -> &Path {
        &self.root
    }

    /// The folder holding one table's files: the Athena table's LOCATION.
    pub fn table_dir(&self, table: &TableName) -> Path {
        join(&self.root, &[&table.schema, &table.name])
    }

    /// A piece's file: in its table's folder, or in its partition's folder under it.
    pub fn piece_file(&self, piece: &Piece) -> Path {
        let file = format!("{}.parquet", piece.file_stem());
        let dir = self.table_dir(&piece.table);
        match &piece.hive {
            None => join(&dir, &[&file]),
            Some(h) => {
                // The segment is escaped already, and `file` needs no escaping.
                let raw = format!(
                    "{}/{}/{file}",
                    dir.as_ref(),
                    folder_segment(&h.key, h.value.as_deref())
                );
                Path::parse(raw).expect("escaped segments are valid path parts")
            }
        }
    }

    /// A partition's folder under its table's: the Glue `PartitionInput` location.
    pub fn partition_dir(&self, table: &TableName, key: &str, value: Option<&str>) -> Path {
        let raw = format!(
            "{}/{}",
            self.table_dir(table).as_ref(),
            folder_segment(key, value)
        );
        Path::parse(raw).expect("escaped segments are valid path parts")
    }

    pub fn manifest(&self) -> Path {
        join(&self.root, &[MANIFEST])
    }

    /// The manifest's shard `n` (2 and up: the first is inline in `manifest.json`). Not
    /// escaped: the folder's leading `_` is what keeps it apart from the schema folders (see
    /// [`MANIFEST_DIR`]), and the file name needs no escaping.
    pub fn manifest_shard(&self, n: usize) -> Path {
        self.root
            .clone()
            .join(MANIFEST_DIR)
            .join(manifest_shard_file(n))
    }

    /// The run report's shard `n` (`n` from 2: the first is inline in `report.json`).
    pub fn report_shard(&self, n: usize) -> Path {
        self.root
            .clone()
            .join(MANIFEST_DIR)
            .join(report_shard_file(n))
    }

    pub fn report(&self) -> Path {
        join(&self.root, &[REPORT])
    }

    pub fn success_marker(&self) -> Path {
        self.root.clone().join(SUCCESS)
    }

    /// The folder of the Glue and Athena definitions. Not escaped: its leading `_` is what
    /// keeps it apart from the schema folders (see [`CATALOG_DIR`]).
    pub fn catalog_dir(&self) -> Path {
        self.root.clone().join(CATALOG_DIR)
    }

    pub fn catalog_database(&self) -> Path {
        self.catalog_dir().join(DATABASE_FILE)
    }

    /// A table's `TableInput` file. Glue table names hold only `[a-z0-9_]`, so they need no escaping.
    pub fn catalog_table(&self, glue_table: &str) -> Path {
        self.catalog_dir()
            .join(format!("{glue_table}{TABLE_INPUT_SUFFIX}"))
    }

    /// A table's Athena DDL file.
    pub fn catalog_ddl(&self, glue_table: &str) -> Path {
        self.catalog_dir().join(format!("{glue_table}{DDL_SUFFIX}"))
    }

    /// The folder of a serverless run's records between steps.
    pub fn work_dir(&self) -> Path {
        self.root.clone().join(WORK_DIR)
    }

    /// What finalizing needs of the plan: tables, names, settings.
    pub fn work_plan(&self) -> Path {
        self.work_dir().join("plan.json")
    }

    /// The chunk list, one JSON object per line: the Distributed Map's items.
    pub fn work_items(&self) -> Path {
        self.work_dir().join("chunks.jsonl")
    }

    /// The batches of a serverless run's Glue registration, one JSON object per line: the
    /// RegisterTables Map's items, written by Finalize once the export is published.
    pub fn work_register_items(&self) -> Path {
        self.work_dir().join("glue-batches.jsonl")
    }

    /// The folder of failed registration batches' records.
    pub fn work_register_failed_dir(&self) -> Path {
        self.work_dir().join("glue-failed")
    }

    /// A registration batch's failure record: the error that stopped it.
    pub fn work_register_failed(&self, batch: usize) -> Path {
        self.work_register_failed_dir()
            .join(format!("{batch}.json"))
    }

    /// One chunk's full description: its pieces and the tables they read.
    pub fn work_chunk(&self, chunk: usize) -> Path {
        self.work_dir().join("chunks").join(format!("{chunk}.json"))
    }

    /// The folder of chunk completion records.
    pub fn work_done_dir(&self) -> Path {
        self.work_dir().join("done")
    }

    /// A chunk's completion record: the files it wrote.
    pub fn work_done(&self, chunk: usize) -> Path {
        self.work_done_dir().join(format!("{chunk}.json"))
    }

    /// The folder of chunk failure records.
    pub fn work_failed_dir(&self) -> Path {
        self.work_dir().join("failed")
    }

    /// A chunk's failure record: the error that stopped it.
    pub fn work_failed(&self, chunk: usize) -> Path {
        self.work_failed_dir().join(format!("{chunk}.json"))
    }

    /// The export's lease: one object per generation (see `pipeline::lease`).
    pub fn work_lease_dir(&self) -> Path {
        self.work_dir().join("lease")
    }

    /// The lease of one chunk's attempts in a serverless run.
    pub fn work_attempts_dir(&self, chunk: usize) -> Path {
        self.work_dir().join("attempts").join(format!("{chunk}"))
    }

    /// True for a lease object (the export's, or a chunk's attempts'), which no run deletes;
    /// `rel` is relative to the export root.
    pub fn is_lease_file(rel: &str) -> bool {
        rel.strip_prefix(WORK_DIR)
            .is_some_and(|r| r.starts_with("/lease/") || r.starts_with("/attempts/"))
    }

    /// True for a path under [`Layout::work_dir`]; `rel` is relative to the export root.
    pub fn is_work_file(rel: &str) -> bool {
        rel.strip_prefix(WORK_DIR)
            .is_some_and(|r| r.starts_with('/'))
    }

    /// True for a manifest or run report shard in [`MANIFEST_DIR`]; `rel` is relative to the
    /// export root.
    pub fn is_manifest_shard(rel: &str) -> bool {
        let numbered = |name: &str, prefix: &str| {
            name.strip_prefix(prefix)
                .and_then(|r| r.strip_suffix(".json"))
                .is_some_and(|n| n.len() >= 6 && n.bytes().all(|b| b.is_ascii_digit()))
        };
        rel.strip_prefix(MANIFEST_DIR)
            .and_then(|r| r.strip_prefix('/'))
            .is_some_and(|name| numbered(name, "shard-") || numbered(name, "report-"))
    }

    /// True for a path [`Layout::catalog_dir`] holds: a file of the shape this tool writes
    /// there. `rel` is relative to the export root.
    pub fn is_catalog_file(rel: &str) -> bool {
        rel.strip_prefix(CATALOG_DIR)
            .and_then(|r| r.strip_prefix('/'))
            .is_some_and(|name| {
                !name.contains('/')
                    && (name == DATABASE_FILE
                        || name.ends_with(TABLE_INPUT_SUFFIX)
                        || name.ends_with(DDL_SUFFIX)
                        || is_partitions_file_name(name))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::KeyRange;

    #[test]
    fn long_names_are_shortened_distinctly_and_never_inside_an_escape() {
        let long = "é".repeat(64);
        let other = format!("{}è", "é".repeat(63));
        let (a, b) = (bounded_segment(&long), bounded_segment(&other));
        assert!(a.len() <= MAX_SEGMENT && b.len() <= MAX_SEGMENT, "{a} {b}");
        assert_ne!(a, b);
        assert_eq!(a, bounded_segment(&long), "stable");
        let kept = a.split('~').next().unwrap();
        assert!(kept.len() % 3 == 0 && kept.starts_with("%C3%A9"), "{kept}");
        assert!(Path::parse(&a).is_ok());
        // Up to the limit nothing changes, and an ASCII name of 255 bytes stays as it is.
        assert_eq!(bounded_segment(&"a".repeat(255)), "a".repeat(255));
        assert_eq!(bounded_segment(&"a".repeat(256)).len(), 255);
        assert_eq!(bounded_segment("Orders"), escape_segment("Orders"));
    }

    #[test]
    fn segments_are_escaped_and_unambiguous() {
        assert_eq!(escape_segment("orders"), "orders");
        assert_eq!(escape_segment("Order Items"), "Order%20Items");
        assert_eq!(escape_segment("a/b"), "a%2Fb");
        assert_eq!(escape_segment("a%2Fb"), "a%252Fb");
        assert_eq!(escape_segment("_hidden"), "%5Fhidden");
        assert_eq!(escape_segment(".."), "%2E.");
        assert_eq!(escape_segment("ü"), "%C3%BC");
        assert_eq!(escape_segment(""), "%00");
        assert_eq!(escape_segment("part-min_5.parquet"), "part-min_5.parquet");
    }

    #[test]
    fn piece_paths_depend_only_on_the_piece() {
        let l = Layout::new(&Path::from("lake"), "exp1");
        let p = Piece {
            table: TableName::new("public", "t x"),
            range: Some(KeyRange {
                lo: Some(-5),
                hi: None,
            }),
            partition: None,
            hive: None,
        };
        assert_eq!(
            l.piece_file(&p).as_ref(),
            "lake/exp1/public/t%20x/part--5_max.parquet"
        );
        let whole = Piece {
            table: TableName::new("s", "t"),
            range: None,
            partition: None,
            hive: None,
        };
        assert_eq!(
            l.piece_file(&whole).as_ref(),
            "lake/exp1/s/t/part-all.parquet"
        );
        assert_eq!(l.manifest().as_ref(), "lake/exp1/manifest.json");
        assert_eq!(
            l.manifest_shard(2).as_ref(),
            "lake/exp1/_manifest/shard-000002.json"
        );
        assert_eq!(
            l.report_shard(3).as_ref(),
            "lake/exp1/_manifest/report-000003.json"
        );
    }

    #[test]
    fn catalog_files_live_apart_from_every_table_folder() {
        let l = Layout::new(&Path::from("lake"), "exp1");
        assert_eq!(
            l.catalog_database().as_ref(),
            "lake/exp1/_catalog/database.json"
        );
        assert_eq!(
            l.catalog_table("sales_orders").as_ref(),
            "lake/exp1/_catalog/sales_orders.table.json"
        );
        assert_eq!(
            l.catalog_ddl("_tmp").as_ref(),
            "lake/exp1/_catalog/_tmp.sql"
        );
        // A schema named `_catalog` gets a folder of its own.
        let t = l.table_dir(&TableName::new("_catalog", "t"));
        assert_eq!(t.as_ref(), "lake/exp1/%5Fcatalog/t");
        assert!(Layout::is_manifest_shard("_manifest/shard-000002.json"));
        assert!(Layout::is_manifest_shard("_manifest/report-1000000.json"));
        for other in [
            "_manifest/shard-2.json",
            "_manifest/notes.json",
            "_manifest/a/shard-000002.json",
            "manifest/shard-000002.json",
        ] {
            assert!(!Layout::is_manifest_shard(other), "{other}");
        }
        assert!(Layout::is_catalog_file("_catalog/database.json"));
        assert!(Layout::is_catalog_file("_catalog/x.table.json"));
        assert!(Layout::is_catalog_file("_catalog/x.sql"));
        assert!(Layout::is_catalog_file("_catalog/x.partitions-0001.json"));
        assert!(Layout::is_catalog_file(
            "_catalog/x_2.partitions-12345.json"
        ));
        assert!(!Layout::is_catalog_file("_catalog/notes.txt"));
        for other in [
            "_catalog/x.partitions-001.json",
            "_catalog/x.partitions-00a1.json",
            "_catalog/x.partitions-0001.json.tmp",
            "_catalog/.partitions-0001.json",
            "_catalog/x.json",
            "_catalog/a/x.partitions-0001.json",
        ] {
            assert!(!Layout::is_catalog_file(other), "{other}");
        }
        assert!(!Layout::is_catalog_file("_catalog/a/x.sql"));
        assert!(!Layout::is_catalog_file("catalog/x.sql"));
    }
}
