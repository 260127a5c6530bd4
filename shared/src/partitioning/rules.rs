//! The partition rules a user gives, parsed: `--partition-by TABLE=COLUMN:KIND` on the command
//! line, or `[[partition]]` entries in the configuration file. A rule names tables by pattern
//! and says what to partition them by; [`super::resolve`] meets it with the tables.

use glob::Pattern;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::model::Granularity;

/// What a rule asks for, before it meets a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    Time(Granularity),
    /// `None`: a width chosen from the table's size (see [`default_bucket_width`]).
    KeyBuckets(Option<u64>),
    Value,
}

/// One `--partition-by` rule: tables matching `pattern` are partitioned by `column`.
#[derive(Debug, Clone)]
pub struct PartitionRule {
    /// As the user wrote it, for messages.
    pub spec: String,
    pattern: Pattern,
    /// A column name, or `key` for the table's split key (key buckets only).
    pub column: String,
    pub kind: RuleKind,
}

/// The partition section of the config file (`--config`):
///
/// ```toml
/// [[partition]]
/// table = "public.events"   # a pattern, as for --include
/// column = "created_at"
/// by = "day"                # year | month | day | hour | buckets | value
///
/// [[partition]]
/// table = "public.orders"
/// column = "key"            # the table's integer key
/// by = "buckets"
/// width = 1000000           # optional
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleEntry {
    pub table: String,
    pub column: String,
    pub by: String,
    #[serde(default)]
    pub width: Option<u64>,
}

impl PartitionRule {
    /// Parses `TABLE=COLUMN:KIND[:WIDTH]`. `TABLE` is a pattern as for `--include` and ends at
    /// its first `=` outside a `[...]` class, so a `=` in a schema or table name is written
    /// `[=]` (the glob class that matches it, which `--include` takes too). The kind (and a
    /// bucket width) are read from the end, so the column between them is taken as written,
    /// `=` and `:` included.
    pub fn parse(spec: &str) -> Result<PartitionRule> {
        let bad = |why: &str| {
            Error::InvalidInput(format!(
                "--partition-by {spec:?}: {why}; expected TABLE=COLUMN:KIND with KIND one of \
                 year, month, day, hour, value, buckets[:WIDTH] (e.g. public.events=created_at:day \
                 or public.orders=key:buckets), a '=' in TABLE written [=]"
            ))
        };
        let split = table_end(spec).map_err(|at| {
            let nth = spec[..at].chars().count() + 1;
            bad(&format!(
                "the '[' at character {nth} opens a class no ']' closes"
            ))
        })?;
        let (table, rest) = split
            .map(|i| (&spec[..i], &spec[i + 1..]))
            .ok_or_else(|| bad("no '='"))?;
        let (head, last) = rest.rsplit_once(':').ok_or_else(|| bad("no ':KIND'"))?;
        let (column, kind, width) = match head.rsplit_once(':') {
            Some((column, kind)) if !is_kind(last) && is_kind(kind) => (column, kind, Some(last)),
            _ => (head, last, None),
        };
        let width = width
            .map(|w| w.parse::<u64>().ok().filter(|w| *w > 0))
            .map(|w| w.ok_or_else(|| bad("the bucket width must be a positive integer")))
            .transpose()?;
        PartitionRule::new(
            &format!("--partition-by {spec:?}"),
            &RuleEntry {
                table: table.into(),
                column: column.into(),
                by: kind.into(),
                width,
            },
        )
    }

    /// A rule from the config file's fields; `spec` names it in messages.
    pub fn new(spec: &str, e: &RuleEntry) -> Result<PartitionRule> {
        let bad = |why: String| Error::InvalidInput(format!("{spec}: {why}"));
        if e.table.is_empty() || e.column.is_empty() {
            return Err(bad("the table and the column must not be empty".into()));
        }
        let kind = match (e.by.as_str(), e.width) {
            ("buckets", w) => RuleKind::KeyBuckets(w),
            (_, Some(_)) => return Err(bad("a width is only for 'buckets'".into())),
            ("value", None) => RuleKind::Value,
            (other, None) => RuleKind::Time(Granularity::parse(other).ok_or_else(|| {
                bad(format!(
                    "unknown kind {other:?}: use year, month, day, hour, value or buckets"
                ))
            })?),
        };
        if e.width == Some(0) {
            return Err(bad("the bucket width must be positive".into()));
        }
        let full = if e.table.contains('.') {
            e.table.clone()
        } else {
            format!("*.{}", e.table)
        };
        let pattern = Pattern::new(&full)
            .map_err(|err| bad(format!("table pattern {:?}: {err}", e.table)))?;
        Ok(PartitionRule {
            spec: spec.to_string(),
            pattern,
            column: e.column.clone(),
            kind,
        })
    }

    pub fn matches(&self, table: &crate::model::TableName) -> bool {
        self.pattern.matches(&table.to_string())
    }
}

/// True for a word `--partition-by` takes as a KIND.
fn is_kind(word: &str) -> bool {
    matches!(word, "buckets" | "value") || Granularity::parse(word).is_some()
}

/// Where the table pattern of a `--partition-by` spec ends: its first `=` outside a glob class
/// (`[...]`, where a `]` right after the `[` or `[!` is one of the class's characters, as the
/// glob crate reads it). `Err` holds the byte offset of a `[` that no `]` closes.
fn table_end(spec: &str) -> std::result::Result<Option<usize>, usize> {
    let bytes = spec.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' => return Ok(Some(i)),
            b'[' => {
                let open = i;
                let mut j = i + 1;
                if bytes.get(j) == Some(&b'!') {
                    j += 1;
                }
                // A `]` first in the class is one of its characters.
                if bytes.get(j) == Some(&b']') {
                    j += 1;
                }
                while j < bytes.len() && bytes[j] != b']' {
                    j += 1;
                }
                if j == bytes.len() {
                    return Err(open);
                }
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    Ok(None)
}

/// Parses the config file's text (TOML) into rules.
pub fn rules_from_toml(text: &str, file: &str) -> Result<Vec<PartitionRule>> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        partition: Vec<RuleEntry>,
    }
    let parsed: File = toml::from_str(text).map_err(|e| {
        let message = crate::error::toml_error(text, &e);
        Error::InvalidInput(format!("config file {file}: {message}"))
    })?;
    rules_from_entries(&parsed.partition, file)
}

/// The rules of a config file's `[[partition]]` entries, in order; `file` names it in messages.
pub fn rules_from_entries(entries: &[RuleEntry], file: &str) -> Result<Vec<PartitionRule>> {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| PartitionRule::new(&format!("{file}: partition #{}", i + 1), e))
        .collect()
}
