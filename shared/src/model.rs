//! What the source tells us about its tables, and the units of work the planner makes from it.
//! These are plain serde types: the CLI passes them between stages, and the serverless steps
//! through the records under the export's `_work/` folder.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::types::ValueKind;

/// A table's name as the catalog spells it (no quoting, no case folding).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TableName {
    pub schema: String,
    pub name: String,
}

impl TableName {
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        TableName {
            schema: schema.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// One column of a source table and how it is exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnDesc {
    pub name: String,
    /// The type as the source's catalog prints it, e.g. `numeric(12,2)` or `character varying(20)[]`.
    pub source_type: String,
    /// The value shape written to Parquet.
    pub kind: ValueKind,
    pub nullable: bool,
    /// How the source sends this column.
    pub read: ReadAs,
    /// The engine's name for the wire form the decoder receives (domains resolved; the
    /// element's for arrays), e.g. `int4`, `jsonb`. Opaque outside the engine's module.
    pub wire: String,
    /// Documented lossy rules that may apply to this column's values (see docs/types.md).
    pub lossy_rules: Vec<LossyRule>,
    /// An array column whose number of dimensions the catalog does not declare: the planner
    /// reads it from the data, inside the export's snapshot, before the table is planned
    /// (`kind` is one list level until then).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dims_unknown: bool,
}

/// How a reader fetches one column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadAs {
    /// The engine's binary wire form of the column's own type.
    Native,
    /// The engine's text form (a cast in the SELECT list), stored as a string.
    Text,
    /// An array whose elements are cast to text: `col::text[]`.
    TextArray,
    /// A spatial value as Well-Known Binary (`ST_AsBinary(col)`).
    Wkb,
}

/// A rule that changes a value the target cannot represent. Each one is listed in
/// docs/types.md, and the manifest records which columns it applies to and how often it fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossyRule {
    /// `infinity` / `-infinity` dates and timestamps are written as NULL.
    InfiniteToNull,
    /// `NaN` / `Infinity` in a numeric column with declared precision (a Decimal128) is written as NULL.
    NumericSpecialToNull,
    /// An array whose number of dimensions differs from its column's (the declared one, or the
    /// one every value has) is flattened in row-major order into the innermost list.
    ArrayFlattened,
    /// An array whose lower bound is not 1 is written from its first element; the bound is dropped.
    ArrayLowerBoundDropped,
    /// A zero, partly-zero or invalid date (`0000-00-00`, `2024-00-15`), which only MySQL's
    /// permissive modes store, is written as NULL.
    ZeroDateToNull,
    /// A date or timestamp beyond its Parquet type's range is written as NULL. Timestamps are
    /// int64 microseconds since 1970, which end at 294247-01-10 04:00:54.775807; PostgreSQL's
    /// go on to the end of year 294276.
    OutOfRangeToNull,
    /// Text that is not valid UTF-8 (a PostgreSQL `SQL_ASCII` database stores any bytes, unchecked)
    /// is written as NULL: Parquet strings are UTF-8, and no charset can be assumed to decode it.
    InvalidUtf8ToNull,
}

impl LossyRule {
    pub fn describe(self) -> &'static str {
        match self {
            LossyRule::InfiniteToNull => "infinity/-infinity written as NULL",
            LossyRule::NumericSpecialToNull => "NaN/Infinity numeric written as NULL",
            LossyRule::ArrayFlattened => {
                "array of other dimensions than its column's flattened in row-major order"
            }
            LossyRule::ArrayLowerBoundDropped => "array lower bound other than 1 dropped",
            LossyRule::ZeroDateToNull => "zero, partly-zero or invalid date written as NULL",
            LossyRule::OutOfRangeToNull => {
                "date or timestamp beyond the Parquet type's range written as NULL"
            }
            LossyRule::InvalidUtf8ToNull => "text that is not valid UTF-8 written as NULL",
        }
    }
}

/// The key a table can be split on: one integer column of its primary key, or, for a
/// PostgreSQL table without one, its physical block number (`ctid`), or, for a MySQL table
/// without one, the columns of its primary key or of a unique NOT NULL index ([`TupleKey`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitKey {
    /// The key column's name; for a [`TupleKey`], its columns joined with `, ` (for display).
    pub column: String,
    /// True when ranges are not of one integer column's values: of heap blocks (`ctid`), or
    /// of ordinals of a [`TupleKey`]'s boundaries.
    #[serde(default)]
    pub physical: bool,
    /// Smallest and largest key in the snapshot; `None` for an empty table (never 0).
    pub bounds: Option<(i64, i64)>,
    /// Equal-frequency quantiles of the key from the source's statistics, if it keeps any:
    /// ranges are cut at them so skewed keys still give chunks of similar row counts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quantiles: Vec<i64>,
    /// For a key of any number of columns of any comparable type, compared as a tuple.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuples: Option<TupleKey>,
}

impl SplitKey {
    /// A PostgreSQL heap's block numbers (`ctid`), bounds not yet read: for a table, a leaf
    /// partition or a materialized view without an integer key.
    pub fn blocks() -> SplitKey {
        SplitKey {
            column: "ctid".into(),
            physical: true,
            bounds: None,
            quantiles: vec![],
            tuples: None,
        }
    }
}

/// A split key read in ranges of tuples of its columns' values. Its boundaries are key tuples
/// sampled from the table in the key's order, with about as many rows between each two; the
/// key's `bounds` are `(0, n - 1)` over their ordinals, and a range `[i, j)` of ordinals reads
/// the keys from boundary `i` (inclusive) to boundary `j` (exclusive), an absent side unbounded.
/// So ranges keep their integer form (and file names) while reading keys of any type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TupleKey {
    /// The key's columns in index order.
    pub columns: Vec<String>,
    /// The sampled tuples, one value per column, each encoded by the engine's module (opaque
    /// outside it, and plain text so that any bytes survive JSON).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub boundaries: Vec<Vec<String>>,
}

/// Everything the planner and readers need to know about one table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableDesc {
    pub name: TableName,
    pub columns: Vec<ColumnDesc>,
    /// Primary key columns in key order; empty when the table has none.
    pub primary_key: Vec<String>,
    /// Present when the table can be read in key ranges.
    pub split_key: Option<SplitKey>,
    /// The catalog's size estimate of the table's data on disk, in bytes (heap plus TOAST).
    pub estimated_bytes: u64,
    /// The catalog's row estimate; `None` when the table was never analysed.
    pub estimated_rows: Option<u64>,
    /// For a partitioned table (PostgreSQL declarative partitioning): its leaf partitions, each
    /// read as its own piece and written into this table's folder. Empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<Partition>,
    /// How the table's files are grouped into Hive-style partition folders; `None` writes
    /// them all into the table's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_by: Option<Partitioning>,
}

impl TableDesc {
    /// The column named `name`, if the table has one.
    pub fn column(&self, name: &str) -> Option<&ColumnDesc> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// A table's Hive-style partition folders (`<key>=<value>/`), as the consumer asked for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partitioning {
    /// The partition key's exported name, e.g. `created_at_day`: lowercase, `[a-z0-9_]`, and
    /// distinct from every exported column name. The folders and the catalog use it.
    pub key: String,
    /// The source column the partition value is computed from. It stays in the data files too.
    pub column: String,
    pub by: PartitionBy,
}

/// What a partition value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PartitionBy {
    /// The UTC calendar period of a date or timestamp column: `2024`, `2024-03`, `2024-03-01`,
    /// `2024-03-01-13`. Rows whose time is NULL (or has no instant: infinity, zero dates) go
    /// to the default partition.
    Time { granularity: Granularity },
    /// Buckets of the integer split key `width` keys wide; the value is the bucket's first
    /// key (`floor(key / width) * width`), so a consumer computes it from a key.
    KeyBuckets { width: u64 },
    /// The column's value itself, as text (for low-cardinality columns: region, tenant, status).
    Value,
}

/// A calendar period of a time partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    Year,
    Month,
    Day,
    Hour,
}

/// One group of a partitioned table's rows, as the source counted them in the export's
/// snapshot: the planner's picture of how big each partition is and where its keys lie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileGroup {
    pub value: GroupValue,
    pub rows: u64,
    /// The smallest and largest split key (or heap block) among the group's rows, when the
    /// table has a split key: a piece reads its partition's rows within this span.
    pub keys: Option<(i64, i64)>,
}

/// What a profile group is of.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum GroupValue {
    /// NULL (or, for times, no instant).
    Null,
    /// Times in `[start, start + step)`, seconds since the epoch (UTC).
    Time(i64),
    /// Key bucket number `n`: keys in `[n * width, (n + 1) * width)`.
    Bucket(i64),
    /// A value's text.
    Text(String),
}

/// The partition folder a piece writes into, and which of the table's rows belong to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HivePartition {
    /// The table's partition key ([`Partitioning::key`]): the folder is `<key>=<value>/`.
    pub key: String,
    /// The partition value; `None` is the default partition (NULL values).
    pub value: Option<String>,
    pub filter: PartFilter,
}

/// The rows of one partition a piece reads (besides its key range, if any).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PartFilter {
    /// Times in `[lo, hi)`, in seconds since the Unix epoch read as UTC.
    TimeRange {
        lo: i64,
        hi: i64,
    },
    /// Times that are NULL or have no instant (infinity, MySQL zero dates): they are written as NULL.
    TimeNull,
    /// Rows whose column, as text, equals this exactly (byte for byte).
    ValueEquals {
        text: String,
    },
    ValueNull,
    /// The piece's key range alone selects the partition's rows (key buckets).
    KeyRangeOnly,
}

/// A leaf partition of a partitioned table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    pub name: TableName,
    pub estimated_bytes: u64,
    /// The leaf's heap blocks as measured when planning (`pg_relation_size`), for a leaf big
    /// enough to be read in block ranges; `None` when not measured (small, or the server has
    /// no TID range scans).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<u64>,
}

/// A table the export leaves out, and why. Listed in the manifest: nothing disappears silently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedTable {
    pub name: TableName,
    pub reason: String,
}

/// A half-open range of split-key values `[lo, hi)`; `None` is unbounded on that side, so the
/// ranges of one table together cover every possible key and no row can fall between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyRange {
    pub lo: Option<i64>,
    pub hi: Option<i64>,
}

impl KeyRange {
    pub const ALL: KeyRange = KeyRange { lo: None, hi: None };

    pub fn contains(&self, key: i64) -> bool {
        self.lo.is_none_or(|lo| key >= lo) && self.hi.is_none_or(|hi| key < hi)
    }

    /// A name for the range that is stable and usable in a file name: `min_100`, `100_200`, `200_max`.
    pub fn label(&self) -> String {
        let end =
            |v: Option<i64>, open: &str| v.map_or_else(|| open.to_string(), |v| v.to_string());
        format!("{}_{}", end(self.lo, "min"), end(self.hi, "max"))
    }
}

/// One file's worth of work: one table, one key range (or the whole table).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Piece {
    pub table: TableName,
    /// `None` reads the whole table (no split key, or one piece covers it all). With
    /// `partition`, a range of the leaf's heap blocks.
    pub range: Option<KeyRange>,
    /// The leaf partition to read instead of `table` itself (whose folder it is written to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<TableName>,
    /// The Hive partition folder this piece writes into, for a table with [`Partitioning`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hive: Option<HivePartition>,
}

impl Piece {
    /// The file stem this piece writes. A function of the piece's identity only, so a retry
    /// overwrites its own file and never adds a second one.
    pub fn file_stem(&self) -> String {
        // Within one partition folder, a time range is what tells pieces apart (their key
        // ranges are only hints); a value or NULL partition has one piece.
        match (&self.partition, &self.hive, &self.range) {
            (Some(p), _, None) => format!("part-of-{}.{}", p.schema, p.name),
            // A block range of a leaf partition.
            (Some(p), _, Some(r)) => {
                format!("part-of-{}.{}.blocks_{}", p.schema, p.name, r.label())
            }
            (None, Some(h), range) => match (&h.filter, range) {
                (PartFilter::TimeRange { lo, hi }, _) => format!("part-t{lo}_{hi}"),
                (PartFilter::KeyRangeOnly, Some(r)) => format!("part-{}", r.label()),
                _ => "part-all".to_string(),
            },
            (None, None, None) => "part-all".to_string(),
            (None, None, Some(r)) => format!("part-{}", r.label()),
        }
    }
}

/// One task: a list of pieces run by one reader in order. Large tables give one piece per
/// chunk; many tiny tables share a chunk so that thousands of them do not become thousands of tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub id: usize,
    pub pieces: Vec<Piece>,
    pub estimated_bytes: u64,
}

/// Where and what we read, without the password (safe to log and to put in the manifest).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceInfo {
    pub engine: &'static str,
    pub version: String,
    pub database: String,
    pub endpoint: String,
    /// Connections the server accepts from ordinary users (PostgreSQL's `max_connections`
    /// less its superuser reserve, MySQL's `max_connections`): what caps how many chunks can
    /// read at once.
    pub max_connections: u64,
}
