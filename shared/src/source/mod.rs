//! Sources: one module per engine, and the table filter they share.

pub mod postgres;

use glob::Pattern;

use crate::error::{Error, Result};
use crate::model::TableName;

/// Which tables to export: `schema.table` glob patterns (`*`, `?`, `[...]`). A pattern without
/// a dot matches a table of that name in any schema. No include pattern means every table.
#[derive(Debug, Clone, Default)]
pub struct TableFilter {
    include: Vec<(String, Pattern)>,
    exclude: Vec<(String, Pattern)>,
}

fn compile(patterns: &[String]) -> Result<Vec<(String, Pattern)>> {
    patterns
        .iter()
        .map(|p| {
            let full = if p.contains('.') {
                p.clone()
            } else {
                format!("*.{p}")
            };
            Pattern::new(&full)
                .map(|pat| (p.clone(), pat))
                .map_err(|e| Error::InvalidInput(format!("table pattern {p:?}: {e}")))
        })
        .collect()
}

impl TableFilter {
    pub fn new(include: &[String], exclude: &[String]) -> Result<TableFilter> {
        Ok(TableFilter {
            include: compile(include)?,
            exclude: compile(exclude)?,
        })
    }

    /// The include patterns that select `table` (empty when there are none), or `None` if the
    /// table is not selected.
    pub fn selects(&self, table: &TableName) -> Option<Vec<usize>> {
        let s = table.to_string();
        if self.exclude.iter().any(|(_, p)| p.matches(&s)) {
            return None;
        }
        if self.include.is_empty() {
            return Some(vec![]);
        }
        let hits: Vec<usize> = self
            .include
            .iter()
            .enumerate()
            .filter(|(_, (_, p))| p.matches(&s))
            .map(|(i, _)| i)
            .collect();
        (!hits.is_empty()).then_some(hits)
    }

    /// Fails on the first include pattern that matched nothing: a typo must not export less.
    pub fn check_all_matched(&self, matched: &[bool]) -> Result<()> {
        for ((raw, _), hit) in self.include.iter().zip(matched) {
            if !hit {
                return Err(Error::NoSuchTable {
                    pattern: raw.clone(),
                });
            }
        }
        Ok(())
    }

    pub fn include_count(&self) -> usize {
        self.include.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_exclude_and_bare_names() {
        let f = TableFilter::new(
            &["public.*".into(), "audit".into()],
            &["public.tmp_*".into()],
        )
        .unwrap();
        assert_eq!(
            f.selects(&TableName::new("public", "orders")),
            Some(vec![0])
        );
        assert_eq!(f.selects(&TableName::new("public", "tmp_x")), None);
        assert_eq!(f.selects(&TableName::new("ops", "audit")), Some(vec![1]));
        assert_eq!(f.selects(&TableName::new("ops", "other")), None);
        assert!(matches!(
            f.check_all_matched(&[true, false]),
            Err(Error::NoSuchTable { .. })
        ));
        assert!(TableFilter::new(&["[".into()], &[]).is_err());
        let all = TableFilter::new(&[], &[]).unwrap();
        assert_eq!(all.selects(&TableName::new("a", "b")), Some(vec![]));
    }
}
