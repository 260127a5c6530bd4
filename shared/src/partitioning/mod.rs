//! Hive-style partition folders chosen for the consumer: the rules a user gives (on the command
//! line as `--partition-by TABLE=COLUMN:KIND`, or in the config file), and how they resolve
//! against the discovered tables. The planner (`plan::plan`) turns a resolved
//! [`Partitioning`] and the source's row counts per partition into pieces, one file each.
//!
//! Kinds:
//! - `year`, `month`, `day`, `hour`: the UTC period of a date or timestamp column
//!   (`created_at_day=2024-03-01/`); NULL times in `<key>=__HIVE_DEFAULT_PARTITION__/`.
//! - `buckets[:WIDTH]` on `key` (or the split key's name): integer key buckets
//!   (`id_bucket=3000000/` holds ids 3,000,000 ..= 3,999,999).
//! - `value`: the column's own value, for low-cardinality columns (`region_value=eu-west/`).
//!
//! The partition key is named `<column>_<kind>` and the column stays in the files, so every
//! file holds every source column whatever the layout.

pub mod time;

use glob::Pattern;
use serde::Deserialize;

use crate::catalog::names;
use crate::error::{Error, Result};
use crate::layout::{DEFAULT_PARTITION, folder_segment};
use crate::model::{Granularity, PartitionBy, Partitioning, TableDesc};
use crate::types::ValueKind;

/// At most this many value partitions per table: each is one read with an equality filter.
pub const MAX_VALUE_PARTITIONS: usize = 10_000;

/// The key-bucket count a default width aims for is the table's file count; never more than this.
pub const MAX_KEY_BUCKETS: u64 = 100_000;

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

/// Gives each table the layout of the last rule that matches it (the config file's rules come
/// before the command line's, so the command line wins). Fails when a rule matches no table
/// (a typo must not silently give another layout) or cannot apply to a table it matches.
pub fn resolve(rules: &[PartitionRule], tables: &mut [TableDesc]) -> Result<()> {
    let mut resolver = Resolver::new(rules);
    for t in tables.iter_mut() {
        resolver.apply(t)?;
    }
    resolver.finish()
}

/// [`resolve`] one table at a time, for tables as discovery streams them.
pub struct Resolver<'a> {
    rules: &'a [PartitionRule],
    used: Vec<bool>,
}

impl<'a> Resolver<'a> {
    pub fn new(rules: &'a [PartitionRule]) -> Self {
        Resolver {
            rules,
            used: vec![false; rules.len()],
        }
    }

    /// Gives `t` the partitioning of the last rule that matches it, if any.
    pub fn apply(&mut self, t: &mut TableDesc) -> Result<()> {
        let mut last = None;
        for (i, r) in self
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.matches(&t.name))
        {
            self.used[i] = true;
            last = Some(r);
        }
        if let Some(rule) = last {
            t.partition_by = Some(partitioning_for(rule, t)?);
        }
        Ok(())
    }

    /// Fails when a rule matched no table: a misspelt rule must not export unpartitioned.
    pub fn finish(&self) -> Result<()> {
        if let Some(i) = self.used.iter().position(|u| !u) {
            let rule = &self.rules[i];
            // `a=b=c:day` reads as table `a` and column `b=c`: say how to mean table `a=b`.
            let hint = if rule.column.contains('=') && rule.spec.starts_with("--partition-by") {
                " (the table pattern ends at the first '=': write a '=' in a schema or table \
                 name as [=])"
            } else {
                ""
            };
            return Err(Error::InvalidInput(format!(
                "{} matches no exported table{hint}",
                rule.spec
            )));
        }
        Ok(())
    }
}

fn partitioning_for(rule: &PartitionRule, t: &TableDesc) -> Result<Partitioning> {
    let bad = |why: String| {
        Error::InvalidInput(format!(
            "partition rule {:?} on {}: {why}",
            rule.spec, t.name
        ))
    };
    let (column, by, suffix) = match rule.kind {
        RuleKind::KeyBuckets(width) => {
            let key = t
                .split_key
                .as_ref()
                .filter(|k| !k.physical)
                .ok_or_else(|| {
                    bad(
                        "key buckets need an integer primary key (or unique NOT NULL integer \
                     index), and this table has none"
                            .into(),
                    )
                })?;
            if rule.column != "key" && rule.column != key.column {
                return Err(bad(format!(
                    "key buckets are of the split key {:?}; write 'key' or {:?}",
                    key.column, key.column
                )));
            }
            // Width 0 is a placeholder the planner replaces once it knows the key's span.
            let by = PartitionBy::KeyBuckets {
                width: width.unwrap_or(0),
            };
            (key.column.clone(), by, "bucket")
        }
        RuleKind::Time(g) => {
            let c = t
                .column(&rule.column)
                .ok_or_else(|| bad(format!("no column named {:?}", rule.column)))?;
            match (&c.kind, g) {
                (ValueKind::Date, Granularity::Hour) => {
                    return Err(bad(format!(
                        "{:?} is a date: it has no hours; use day, month or year",
                        c.name
                    )));
                }
                (ValueKind::Date | ValueKind::Timestamp { .. }, _) => {}
                _ => {
                    return Err(bad(format!(
                        "{:?} is {}: time partitions need a date or timestamp column",
                        c.name, c.source_type
                    )));
                }
            }
            (
                c.name.clone(),
                PartitionBy::Time { granularity: g },
                g.name(),
            )
        }
        RuleKind::Value => {
            let c = t
                .column(&rule.column)
                .ok_or_else(|| bad(format!("no column named {:?}", rule.column)))?;
            if !matches!(
                c.kind,
                ValueKind::Text
                    | ValueKind::Int16
                    | ValueKind::Int32
                    | ValueKind::Int64
                    | ValueKind::Boolean
                    | ValueKind::Date
            ) {
                return Err(bad(format!(
                    "{:?} is {}: value partitions need a text, integer, boolean or date column",
                    c.name, c.source_type
                )));
            }
            (c.name.clone(), PartitionBy::Value, "value")
        }
    };
    Ok(Partitioning {
        key: partition_key_name(t, &column, suffix),
        column,
        by,
    })
}

/// `<column>_<suffix>` reduced to `[a-z0-9_]` (a path segment and an Athena name that need no
/// quoting), without a leading `_` (readers skip folders that start with one), and the first of
/// `<name>`, `<name>_2`, ... that no column's exported name already is.
fn partition_key_name(t: &TableDesc, column: &str, suffix: &str) -> String {
    let natural = names::database_name(&format!("{column}_{suffix}"));
    let natural = match natural.trim_start_matches('_') {
        "" => "partition".to_string(),
        trimmed => trimmed.to_string(),
    };
    let taken: std::collections::HashSet<String> =
        names::column_names(t.columns.iter().map(|c| c.name.as_str()))
            .into_iter()
            .map(|n| n.glue)
            .collect();
    std::iter::once(natural.clone())
        .chain((2..).map(|n| format!("{natural}_{n}")))
        .find(|name| !taken.contains(name))
        .expect("an unbounded sequence has a free name")
}

/// Glue's limit on a partition value, in characters.
pub const MAX_VALUE_CHARS: usize = 1024;
/// The longest folder name common filesystems allow, in bytes.
pub const MAX_SEGMENT_BYTES: usize = 255;

/// Refuses a value partition whose value Glue cannot hold or whose folder no filesystem can
/// name, before anything is written.
pub fn check_value(table: &crate::model::TableName, key: &str, value: &str) -> Result<()> {
    let segment = folder_segment(key, Some(value));
    if value.chars().count() > MAX_VALUE_CHARS || segment.len() > MAX_SEGMENT_BYTES {
        return Err(Error::InvalidInput(format!(
            "{table}: a value of {key:?} is too long for a partition folder ({} bytes escaped, \
             at most {MAX_SEGMENT_BYTES}; Glue takes at most {MAX_VALUE_CHARS} characters): \
             partition this table by another column",
            segment.len()
        )));
    }
    Ok(())
}

/// A bucket width for keys `min ..= max` that should fill about `files` files: a round number
/// (1, 2 or 5 times a power of ten), so bucket values read well and a consumer can compute
/// them in SQL. Buckets are aligned to multiples of the width, so the first and last may hold
/// only a sliver of the keys (ids `1 ..= 5,000,000` in buckets of 5,000,000 leave id
/// 5,000,000 alone in the second); then the next smaller round width is taken.
pub fn default_bucket_width(min: i64, max: i64, files: u64) -> u64 {
    let span = (max as i128 - min as i128 + 1).max(1) as u128;
    let buckets = files.clamp(1, MAX_KEY_BUCKETS) as u128;
    let raw = span.div_ceil(buckets).max(1);
    // Round widths in increasing order, up to the first that is wide enough.
    let mut round: Vec<u128> = Vec::new();
    let mut power: u128 = 1;
    'outer: loop {
        for m in [1, 2, 5] {
            round.push(m * power);
            if m * power >= raw {
                break 'outer;
            }
        }
        power *= 10;
    }
    let sliver = |w: u128| {
        let (lo, hi, w) = (min as i128, max as i128, w as i128);
        let (first, last) = (lo.div_euclid(w), hi.div_euclid(w));
        // Keys of the span in its first and in its last bucket.
        let head = (first + 1) * w - lo;
        let tail = hi - last * w + 1;
        first != last && head.min(tail) * 10 < w
    };
    let mut chosen = round[round.len() - 1];
    if sliver(chosen) && round.len() > 1 {
        chosen = round[round.len() - 2];
    }
    u64::try_from(chosen).unwrap_or(u64::MAX)
}

/// The value a folder segment's value part stands for: the inverse of [`folder_segment`].
pub fn unescape_value(escaped: &str) -> Option<Option<String>> {
    if escaped == DEFAULT_PARTITION {
        return Some(None);
    }
    let bytes = escaped.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = escaped.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ColumnDesc, ReadAs, SplitKey, TableName};

    fn col(name: &str, kind: ValueKind) -> ColumnDesc {
        ColumnDesc {
            name: name.into(),
            source_type: format!("{kind:?}"),
            kind,
            nullable: true,
            read: ReadAs::Native,
            wire: String::new(),
            lossy_rules: vec![],
            dims_unknown: false,
        }
    }

    fn table() -> TableDesc {
        TableDesc {
            name: TableName::new("public", "events"),
            columns: vec![
                col("id", ValueKind::Int64),
                col("created_at", ValueKind::Timestamp { utc: true }),
                col("created_at_day", ValueKind::Text),
                col("day", ValueKind::Date),
                col("Region", ValueKind::Text),
                col("amount", ValueKind::Float64),
            ],
            primary_key: vec!["id".into()],
            split_key: Some(SplitKey {
                column: "id".into(),
                physical: false,
                bounds: None,
                quantiles: vec![],
                tuples: None,
            }),
            estimated_bytes: 0,
            estimated_rows: None,
            partitions: vec![],
            partition_by: None,
        }
    }

    #[test]
    fn rules_parse_from_the_command_line() {
        let r = PartitionRule::parse("public.events=created_at:day").unwrap();
        assert_eq!(r.column, "created_at");
        assert_eq!(r.kind, RuleKind::Time(Granularity::Day));
        assert!(r.matches(&TableName::new("public", "events")));
        let r = PartitionRule::parse("a[=]b.t=key:buckets:1000").unwrap();
        assert_eq!(r.kind, RuleKind::KeyBuckets(Some(1000)));
        assert!(r.matches(&TableName::new("a=b", "t")));
        // The table pattern ends at its first '=' outside [...]; the column is everything up
        // to the kind, '=' and ':' included.
        let r = PartitionRule::parse("s[=]1.t[=]2=c=3:day").unwrap();
        assert_eq!(
            (r.column.as_str(), r.kind),
            ("c=3", RuleKind::Time(Granularity::Day))
        );
        assert!(r.matches(&TableName::new("s=1", "t=2")));
        assert!(!r.matches(&TableName::new("s=1", "t")));
        let r = PartitionRule::parse("t[]=]x=a:b:buckets:10").unwrap();
        assert_eq!(
            (r.column.as_str(), r.kind),
            ("a:b", RuleKind::KeyBuckets(Some(10)))
        );
        assert!(r.matches(&TableName::new("any", "t]x")));
        assert!(r.matches(&TableName::new("any", "t=x")));
        let r = PartitionRule::parse("t[!=]x=day:value").unwrap();
        assert_eq!((r.column.as_str(), r.kind), ("day", RuleKind::Value));
        assert!(r.matches(&TableName::new("any", "t-x")));
        assert!(!r.matches(&TableName::new("any", "t=x")));
        let r = PartitionRule::parse("a=b=c:day").unwrap();
        assert_eq!(r.column, "b=c", "a bare '=' ends the table pattern");
        let e = PartitionRule::parse("pub[=lic.t=c:day").unwrap_err();
        assert_eq!(e.to_string().lines().count(), 1);
        assert!(
            e.to_string()
                .contains("the '[' at character 4 opens a class no ']' closes"),
            "{e}"
        );
        assert!(e.to_string().contains("a '=' in TABLE written [=]"), "{e}");
        let r = PartitionRule::parse("events=Region:value").unwrap();
        assert!(r.matches(&TableName::new("any", "events")));
        for bad in [
            "events",
            "events=created_at",
            "events=created_at:week",
            "events=key:buckets:0",
            "events=key:buckets:x",
            "events=created_at:day:5",
            "=c:day",
            "t=:day",
        ] {
            let e = PartitionRule::parse(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidInput(_)), "{bad}: {e}");
        }
    }

    #[test]
    fn rules_parse_from_the_config_file() {
        let rules = rules_from_toml(
            "[[partition]]\ntable = \"public.events\"\ncolumn = \"created_at\"\nby = \"month\"\n\
             [[partition]]\ntable = \"orders\"\ncolumn = \"key\"\nby = \"buckets\"\nwidth = 500\n",
            "snapex.toml",
        )
        .unwrap();
        assert_eq!(rules[0].kind, RuleKind::Time(Granularity::Month));
        assert_eq!(rules[1].kind, RuleKind::KeyBuckets(Some(500)));
        let e = rules_from_toml("[[partition]]\ntable = \"t\"\n", "x.toml").unwrap_err();
        assert!(e.to_string().contains("x.toml"), "{e}");
        let e = rules_from_toml("[[partitions]]\n", "x.toml").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        // A syntax error names its line.
        let e =
            rules_from_toml("[[partition]]\ntable = \"t\nby = \"day\"\n", "x.toml").unwrap_err();
        assert!(
            e.to_string().starts_with("config file x.toml: line 2: "),
            "{e}"
        );
    }

    #[test]
    fn rules_resolve_with_unique_key_names_and_clear_refusals() {
        let mut t = vec![table()];
        resolve(
            &[PartitionRule::parse("public.events=created_at:day").unwrap()],
            &mut t,
        )
        .unwrap();
        // A column is already named created_at_day: the key takes the next free name.
        let p = t[0].partition_by.clone().unwrap();
        assert_eq!(p.key, "created_at_day_2");
        assert_eq!(p.column, "created_at");

        let mut t = vec![table()];
        resolve(
            &[
                PartitionRule::parse("*=created_at:day").unwrap(),
                PartitionRule::parse("events=Region:value").unwrap(),
            ],
            &mut t,
        )
        .unwrap();
        let p = t[0].partition_by.clone().unwrap();
        assert_eq!((p.key.as_str(), p.by), ("region_value", PartitionBy::Value));

        let mut t = vec![table()];
        resolve(
            &[PartitionRule::parse("events=key:buckets").unwrap()],
            &mut t,
        )
        .unwrap();
        assert_eq!(t[0].partition_by.as_ref().unwrap().key, "id_bucket");

        // A column whose exported name is the key's, though spelled otherwise, and a column
        // with a leading underscore.
        let mut t = vec![table()];
        t[0].columns.push(col("Id_Bucket", ValueKind::Int64));
        t[0].columns.push(col("_ts", ValueKind::Date));
        resolve(
            &[
                PartitionRule::parse("events=key:buckets").unwrap(),
                PartitionRule::parse("events=_ts:day").unwrap(),
            ],
            &mut t,
        )
        .unwrap();
        assert_eq!(t[0].partition_by.as_ref().unwrap().key, "ts_day");
        let mut t = vec![table()];
        t[0].columns.push(col("Id_Bucket", ValueKind::Int64));
        resolve(
            &[PartitionRule::parse("events=key:buckets").unwrap()],
            &mut t,
        )
        .unwrap();
        assert_eq!(t[0].partition_by.as_ref().unwrap().key, "id_bucket_2");
        assert!(check_value(&t[0].name, "k", &"x".repeat(240)).is_ok());
        assert!(check_value(&t[0].name, "k", &"/".repeat(90)).is_err());

        for (rule, needle) in [
            ("events=amount:day", "need a date or timestamp"),
            ("events=day:hour", "has no hours"),
            ("events=nope:day", "no column named"),
            ("events=amount:value", "value partitions need"),
            ("events=created_at:buckets", "split key"),
            ("other=created_at:day", "matches no exported table"),
            (
                "pub=lic.events=created_at:day",
                "write a '=' in a schema or table name as [=]",
            ),
        ] {
            let mut t = vec![table()];
            let e = resolve(&[PartitionRule::parse(rule).unwrap()], &mut t).unwrap_err();
            assert!(e.to_string().contains(needle), "{rule}: {e}");
        }
    }

    #[test]
    fn bucket_widths_are_round() {
        assert_eq!(default_bucket_width(0, 9_999_999, 7), 2_000_000);
        assert_eq!(default_bucket_width(0, 99, 1), 100);
        assert_eq!(default_bucket_width(5, 5, 3), 1);
        assert_eq!(default_bucket_width(i64::MIN, i64::MAX, 1), u64::MAX);
        // A round span from 1 would leave its last key alone in a bucket of 5,000,000.
        assert_eq!(default_bucket_width(1, 5_000_000, 2), 2_000_000);
        assert_eq!(default_bucket_width(0, 4_999_999, 2), 5_000_000);
    }

    #[test]
    fn folder_segments_round_trip_any_value() {
        for v in [
            Some("2024-03-01"),
            Some("a/b=c%d e"),
            Some("ünïcødé 😀"),
            Some(""),
            Some("__HIVE_DEFAULT_PARTITION__"),
            Some(".."),
            None,
        ] {
            let seg = folder_segment("k", v);
            let (key, escaped) = seg.split_once('=').unwrap();
            assert_eq!(key, "k");
            assert!(!escaped.contains(['/', '=', ' ']), "{seg}");
            assert_eq!(unescape_value(escaped), Some(v.map(String::from)), "{seg}");
        }
        assert_eq!(folder_segment("k", Some("")), "k=");
        assert_eq!(folder_segment("k", None), "k=__HIVE_DEFAULT_PARTITION__");
        assert_eq!(folder_segment("k", Some("a/b")), "k=a%2Fb");
    }
}
