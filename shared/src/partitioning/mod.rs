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

mod resolve;
mod rules;
pub mod time;

pub use resolve::{Resolver, resolve};
pub use rules::{PartitionRule, RuleEntry, RuleKind, rules_from_entries, rules_from_toml};

use crate::error::{Error, Result};
use crate::layout::{DEFAULT_PARTITION, folder_segment};

/// At most this many value partitions per table: each is one read with an equality filter.
pub const MAX_VALUE_PARTITIONS: usize = 10_000;

/// The key-bucket count a default width aims for is the table's file count; never more than this.
pub const MAX_KEY_BUCKETS: u64 = 100_000;

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
    use crate::model::{Granularity, PartitionBy, TableDesc};
    use crate::types::ValueKind;

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
