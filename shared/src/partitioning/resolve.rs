//! Resolving the partition rules against the discovered tables: the last matching rule gives
//! a table its [`Partitioning`] (column checked, key named), and a rule that matches nothing
//! is an error.

use crate::catalog::names;
use crate::error::{Error, Result};
use crate::model::{Granularity, PartitionBy, Partitioning, TableDesc};
use crate::types::ValueKind;

use super::rules::{PartitionRule, RuleKind};

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
