//! Property tests of what the command line reads besides its flags' plain values: the
//! `--config` file's `[[partition]]` rules and the `--partition-by` specs. Any text is rules or
//! an `InvalidInput` error that names the file and fits on the one line the CLI prints; rules
//! written from known values read back as them, the same from the file as from the flag.

use proptest::prelude::*;
use snapex::ErrorClass;
use snapex::error::one_line;
use snapex::model::{Granularity, TableName};
use snapex::partitioning::{PartitionRule, RuleKind, rules_from_toml};

const FILE: &str = "/etc/snapex/snapex.toml";

/// A TOML basic string: quotes, backslashes and control characters escaped.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\U{:08X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The invariants of reading a config file, whatever its text.
fn check(text: &str) -> Result<Option<Vec<PartitionRule>>, TestCaseError> {
    match rules_from_toml(text, FILE) {
        Ok(rules) => Ok(Some(rules)),
        Err(e) => {
            prop_assert_eq!(e.class(), ErrorClass::InvalidInput);
            // The CLI prints the error through `one_line`.
            let shown = one_line(&e.to_string());
            prop_assert!(
                shown.starts_with(&format!("config file {FILE}: "))
                    || shown.starts_with(&format!("{FILE}: partition #")),
                "{}",
                shown
            );
            prop_assert!(!shown.ends_with(": "), "{}", shown);
            Ok(None)
        }
    }
}

/// A rule as a user would write it, and what it must read as.
#[derive(Debug, Clone)]
struct Rule {
    table: String,
    column: String,
    by: &'static str,
    width: Option<u64>,
}

impl Rule {
    fn kind(&self) -> RuleKind {
        match self.by {
            "year" => RuleKind::Time(Granularity::Year),
            "month" => RuleKind::Time(Granularity::Month),
            "day" => RuleKind::Time(Granularity::Day),
            "hour" => RuleKind::Time(Granularity::Hour),
            "value" => RuleKind::Value,
            _ => RuleKind::KeyBuckets(self.width),
        }
    }

    fn toml(&self) -> String {
        let mut out = format!(
            "[[partition]]\ntable = {}\ncolumn = {}\nby = {}\n",
            quoted(&self.table),
            quoted(&self.column),
            quoted(self.by)
        );
        if let Some(w) = self.width {
            out.push_str(&format!("width = {w}\n"));
        }
        out
    }

    fn spec(&self) -> String {
        match self.width {
            Some(w) => format!("{}={}:{}:{w}", self.table, self.column, self.by),
            None => format!("{}={}:{}", self.table, self.column, self.by),
        }
    }
}

fn rule() -> impl Strategy<Value = Rule> {
    (
        // Globs: `**` is not one (it only spans path components, which table names lack).
        "(\\*?[a-z_?]){1,6}(\\.(\\*?[a-z_?]){1,6})?\\*?",
        // The file takes any column name; the flag none with '=' or ':'.
        "[^=:\\p{Cc}]{1,16}",
        proptest::sample::select(&["year", "month", "day", "hour", "value", "buckets"][..]),
        // TOML integers are signed 64-bit.
        prop::option::of(1u64..i64::MAX as u64),
    )
        .prop_map(|(table, column, by, width)| Rule {
            table,
            column,
            by,
            width: width.filter(|_| by == "buckets"),
        })
}

const KEYS: &[&str] = &["table", "column", "by", "width", "tabel", "partition"];
const HEADERS: &[&str] = &[
    "[[partition]]",
    "[partition]",
    "[[partitions]]",
    "[x]",
    "[[partition]",
];

/// Lines that look like a config file: its keys and near misses, any value, table headers,
/// and anything at all.
fn toml_soup() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        any::<String>().prop_map(|s| quoted(&s)),
        proptest::sample::select(&["\"day\"", "\"buckets\"", "\"fortnight\"", "\"[\""][..])
            .prop_map(str::to_string),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        Just("[1, 2]".to_string()),
        Just("{ a = 1 }".to_string()),
    ];
    let line = prop_oneof![
        5 => (proptest::sample::select(KEYS), value).prop_map(|(k, v)| format!("{k} = {v}")),
        2 => proptest::sample::select(HEADERS).prop_map(str::to_string),
        1 => any::<String>(),
    ];
    prop::collection::vec(line, 0..14).prop_map(|lines| lines.join("\n"))
}

proptest! {
    // No regression files: an integration test has no lib.rs for proptest to put them beside,
    // and a failure prints its minimal input anyway.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(256)
    })]

    #[test]
    fn any_text_is_rules_or_a_one_line_error(text in any::<String>()) {
        check(&text)?;
    }

    #[test]
    fn config_like_text_is_rules_or_a_one_line_error(text in toml_soup()) {
        check(&text)?;
    }

    #[test]
    fn any_partition_spec_is_a_rule_or_an_error_naming_the_flag(spec in any::<String>()) {
        if let Err(e) = PartitionRule::parse(&spec) {
            prop_assert_eq!(e.class(), ErrorClass::InvalidInput);
            let shown = one_line(&e.to_string());
            prop_assert!(shown.starts_with(&format!("--partition-by {spec:?}: ")), "{}", shown);
        }
    }

    /// Rules written to a file read back as written, in order, and the same as the flag.
    #[test]
    fn written_rules_read_back_from_the_file_and_the_flag(rules in prop::collection::vec(rule(), 0..5)) {
        let text: String = rules.iter().map(|r| r.toml() + "\n").collect();
        let read = check(&text)?.expect("valid rules read");
        prop_assert_eq!(read.len(), rules.len());
        let tables = [
            TableName::new("public", "events"),
            TableName::new("sales", "orders"),
            TableName::new("a_b", "c"),
        ];
        for (i, (got, want)) in read.iter().zip(&rules).enumerate() {
            prop_assert_eq!(&got.column, &want.column);
            prop_assert_eq!(got.kind, want.kind());
            prop_assert_eq!(&got.spec, &format!("{FILE}: partition #{}", i + 1));
            let flag = PartitionRule::parse(&want.spec()).expect("the same rule as a flag");
            prop_assert_eq!(&flag.column, &want.column);
            prop_assert_eq!(flag.kind, want.kind());
            for t in &tables {
                prop_assert_eq!(got.matches(t), flag.matches(t), "{}", t);
            }
        }
    }

    /// A valid file with some of it cut out or something pasted in.
    #[test]
    fn damaged_rules_are_read_or_refused_in_one_line(
        rules in prop::collection::vec(rule(), 1..4),
        at in any::<prop::sample::Index>(),
        cut in 0usize..16,
        paste in any::<String>(),
    ) {
        let text: Vec<char> = rules.iter().map(Rule::toml).collect::<String>().chars().collect();
        let at = at.index(text.len() + 1);
        let end = (at + cut).min(text.len());
        let damaged: String = text[..at].iter().copied().chain(paste.chars()).chain(text[end..].iter().copied()).collect();
        check(&damaged)?;
    }
}
