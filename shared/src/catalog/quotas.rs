//! Glue Data Catalog quotas, and the check that an export's catalog fits them. By default an
//! AWS account holds at most 1,000,000 tables, and one Glue database 200,000; both quotas can
//! be raised on request, so they are configuration ([`GlueQuotas`]), defaulting to AWS's.
//!
//! An export that would register more tables than a quota allows is refused while it is
//! planned, before anything is written, with [`Error::GlueQuota`]: it names the count, the
//! quota and the ways out. There are two: folding tables of the same name and columns across
//! schemas into one Glue table each (`--fold-schemas`, see [`super::fold`]), which helps with
//! both quotas; and spreading the tables over several Glue databases, which helps with the
//! per-database quota only. No flag spreads yet: the message says how with the flags there
//! are (exporting the schemas in parts, each with its own `--glue-database`).
//!
//! The count is taken as discovery streams the tables ([`GlueTableCount`]): a table adds its
//! fold shape's hash, so the count with folding is known whether or not folding is on (and
//! the refusal can say what folding would give) without keeping any table's description.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use crate::error::{Error, GlueQuotaKind, Result};
use crate::model::TableDesc;

/// AWS's default quota of tables in one Glue database.
pub const DEFAULT_TABLES_PER_DATABASE: u64 = 200_000;
/// AWS's default quota of tables in one account's Glue Data Catalog.
pub const DEFAULT_TABLES_PER_ACCOUNT: u64 = 1_000_000;

/// The Glue quotas an export's catalog must fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlueQuotas {
    /// `--glue-max-tables-per-database`.
    pub tables_per_database: u64,
    /// `--glue-max-tables-per-account`. An export cannot know how many tables the account
    /// already holds: this is checked against the export's own tables.
    pub tables_per_account: u64,
}

impl Default for GlueQuotas {
    fn default() -> Self {
        GlueQuotas {
            tables_per_database: DEFAULT_TABLES_PER_DATABASE,
            tables_per_account: DEFAULT_TABLES_PER_ACCOUNT,
        }
    }
}

impl GlueQuotas {
    /// Rejects a quota of 0, with the flag's name in the message.
    pub fn validate(&self) -> Result<()> {
        for (value, flag) in [
            (self.tables_per_database, "--glue-max-tables-per-database"),
            (self.tables_per_account, "--glue-max-tables-per-account"),
        ] {
            if value == 0 {
                return Err(Error::InvalidInput(format!("{flag} must be at least 1")));
            }
        }
        Ok(())
    }
}

/// How the export's tables are to be laid out in Glue: the switches the check needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GlueLayout {
    /// `--fold-schemas`.
    pub fold_schemas: bool,
}

/// The number of Glue tables an export makes, without and with folding, counted as tables
/// are discovered. Only hashes of fold shapes are kept, and no more of them than the account
/// quota allows tables: past that the count with folding is "more than the quota" anyway.
#[derive(Debug, Default)]
pub struct GlueTableCount {
    /// Exported tables: the Glue tables without folding.
    tables: u64,
    /// One hash per Glue table with folding.
    shapes: HashSet<u64>,
    /// True once `shapes` stopped growing at the cap.
    capped: bool,
}

impl GlueTableCount {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one exported table.
    pub fn add(&mut self, t: &TableDesc, quotas: &GlueQuotas) {
        self.tables += 1;
        if self.capped {
            return;
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        match super::fold::shape(t) {
            Some(shape) => (0u8, shape).hash(&mut h),
            // Never folded: a Glue table of its own.
            None => (1u8, &t.name).hash(&mut h),
        }
        self.shapes.insert(h.finish());
        if self.shapes.len() as u64 > quotas.tables_per_account {
            self.capped = true;
        }
    }

    /// Tables exported (Glue tables without folding).
    pub fn tables(&self) -> u64 {
        self.tables
    }

    /// Glue tables with folding: exact unless [`Self::folded_is_lower_bound`].
    pub fn folded(&self) -> u64 {
        self.shapes.len() as u64
    }

    /// True when [`Self::folded`] stopped counting past the account quota.
    pub fn folded_is_lower_bound(&self) -> bool {
        self.capped
    }

    /// Refuses an export whose Glue tables, laid out as `layout` asks, exceed `quotas`.
    pub fn check(&self, quotas: &GlueQuotas, layout: GlueLayout) -> Result<()> {
        let glue_tables = if layout.fold_schemas {
            self.folded()
        } else {
            self.tables
        };
        let folded = Some(self.folded()).filter(|_| !self.capped);
        let refuse = |kind: GlueQuotaKind, quota: u64| {
            Err(Error::GlueQuota {
                tables: self.tables,
                folded,
                kind,
                quota,
                folding: layout.fold_schemas,
                account_quota: quotas.tables_per_account,
            })
        };
        if glue_tables > quotas.tables_per_account {
            return refuse(GlueQuotaKind::PerAccount, quotas.tables_per_account);
        }
        if glue_tables > quotas.tables_per_database {
            return refuse(GlueQuotaKind::PerDatabase, quotas.tables_per_database);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::fold::tests::table;

    /// 20 tenants with the same two tables, one of them with an extra column.
    fn tenants(quotas: &GlueQuotas) -> GlueTableCount {
        let mut count = GlueTableCount::new();
        for i in 0..20 {
            let schema = format!("t{i:02}");
            count.add(&table(&schema, "users", &["id"]), quotas);
            let orders: &[&str] = if i == 7 { &["id", "extra"] } else { &["id"] };
            count.add(&table(&schema, "orders", orders), quotas);
        }
        count
    }

    #[test]
    fn defaults_are_aws_defaults() {
        let q = GlueQuotas::default();
        assert_eq!(q.tables_per_database, 200_000);
        assert_eq!(q.tables_per_account, 1_000_000);
        assert!(q.validate().is_ok());
        let zero = GlueQuotas {
            tables_per_database: 0,
            ..q
        };
        assert!(
            zero.validate()
                .unwrap_err()
                .to_string()
                .contains("--glue-max-tables-per-database")
        );
    }

    #[test]
    fn folding_counts_one_glue_table_per_name_and_columns() {
        let q = GlueQuotas::default();
        let count = tenants(&q);
        assert_eq!(count.tables(), 40);
        // users, orders, and t07's orders on its own.
        assert_eq!(count.folded(), 3);
        assert!(!count.folded_is_lower_bound());
    }

    #[test]
    fn an_export_over_the_database_quota_is_refused_with_both_ways_out() {
        let q = GlueQuotas {
            tables_per_database: 10,
            tables_per_account: 1_000,
        };
        let count = tenants(&q);
        let e = count.check(&q, GlueLayout::default()).unwrap_err();
        assert_eq!(e.class(), crate::ErrorClass::InvalidInput);
        let msg = e.to_string();
        for says in [
            "40 tables",
            "quota of 10 tables per database",
            "--glue-max-tables-per-database",
            "--fold-schemas",
            "3 Glue tables",
            "several Glue databases",
            "--glue-database",
        ] {
            assert!(msg.contains(says), "{says:?} in {msg}");
        }
        // Folding is accepted.
        let fold = GlueLayout { fold_schemas: true };
        assert!(count.check(&q, fold).is_ok());
    }

    #[test]
    fn the_account_quota_is_refused_and_spreading_cannot_help() {
        let q = GlueQuotas {
            tables_per_database: 100,
            tables_per_account: 20,
        };
        let count = tenants(&q);
        let msg = count
            .check(&q, GlueLayout::default())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("quota of 20 tables per account"), "{msg}");
        assert!(msg.contains("--glue-max-tables-per-account"), "{msg}");
        assert!(msg.contains("--fold-schemas"), "{msg}");
        assert!(msg.contains("cannot help here"), "{msg}");
        assert!(count.check(&q, GlueLayout { fold_schemas: true }).is_ok());
    }

    #[test]
    fn folding_that_is_not_enough_says_so() {
        let q = GlueQuotas {
            tables_per_database: 2,
            tables_per_account: 100,
        };
        let count = tenants(&q);
        let fold = GlueLayout { fold_schemas: true };
        let msg = count.check(&q, fold).unwrap_err().to_string();
        assert!(msg.contains("with --fold-schemas, 3 Glue tables"), "{msg}");
        assert!(msg.contains("--glue-database"), "{msg}");
    }

    #[test]
    fn the_count_with_folding_stops_at_the_account_quota() {
        let q = GlueQuotas {
            tables_per_database: 2,
            tables_per_account: 5,
        };
        let mut count = GlueTableCount::new();
        for i in 0..50 {
            count.add(&table("s", &format!("t{i}"), &["id"]), &q);
        }
        assert_eq!(count.tables(), 50);
        assert!(count.folded_is_lower_bound());
        assert_eq!(count.folded(), 6);
        let msg = count
            .check(&q, GlueLayout { fold_schemas: true })
            .unwrap_err()
            .to_string();
        assert!(msg.contains("more than 5"), "{msg}");
    }
}
