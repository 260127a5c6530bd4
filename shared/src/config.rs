//! One typed configuration for a whole export, validated once. The CLI builds it from flags;
//! the Lambdas from the job in their payload (`service::job`) and their environment.

use crate::error::{Error, Result};
use crate::plan::PlanConfig;
use crate::retry::RetryPolicy;
use crate::sink::ParquetOptions;
use crate::source::SourceUrl;

use crate::limits::BatchLimits;

#[derive(Debug, Clone)]
pub struct ExportConfig {
    pub source: SourceUrl,
    /// A folder, `file:///path` or `s3://bucket/prefix`.
    pub destination: String,
    /// S3 endpoint override (else `AWS_ENDPOINT_URL`, else AWS).
    pub endpoint: Option<String>,
    /// The export's folder name under the destination; defaults to `<database>-<UTC time>`.
    pub export_id: Option<String>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// Chunks read at once (one source connection each).
    pub concurrency: usize,
    pub plan: PlanConfig,
    pub parquet: ParquetOptions,
    pub batch: BatchLimits,
    /// How MySQL/MariaDB readers line up on one instant.
    pub mysql_consistency: crate::source::mysql::Consistency,
    /// The Glue database the catalog files name; defaults to the source database's name
    /// reduced to Athena's characters (see [`crate::catalog::names`]).
    pub glue_database: Option<String>,
    /// Glue's quotas on tables, which the export's catalog must fit (see
    /// [`crate::catalog::quotas`]).
    pub glue_quotas: crate::catalog::quotas::GlueQuotas,
    /// Fold tables of the same name and columns across schemas into one Glue table each,
    /// partitioned by schema (see [`crate::catalog::fold`]).
    pub fold_schemas: bool,
    /// Hive partition layouts by table, in order: the last rule matching a table decides.
    pub partition_rules: Vec<crate::partitioning::PartitionRule>,
    /// Finish an interrupted export (same `export_id`) instead of starting one.
    pub resume: bool,
    /// How a chunk that fails with a retryable error is tried again.
    pub retry: RetryPolicy,
    /// Asks the export to stop (the command line's Ctrl-C and SIGTERM): it takes no new chunk,
    /// abandons the pieces it is reading and ends with [`crate::Error::Interrupted`]. Never,
    /// by default.
    pub stop: crate::stop::Stop,
    /// Tables (and left-out tables) per manifest shard, the first (inline in `manifest.json`)
    /// included: see [`crate::manifest`]. Small values are for tests.
    pub manifest_shard_entries: usize,
}

impl ExportConfig {
    /// A configuration with defaults for everything but the two URLs.
    pub fn new(source: &str, destination: &str) -> Result<ExportConfig> {
        Ok(ExportConfig {
            source: SourceUrl::parse(source)?,
            destination: destination.to_string(),
            endpoint: None,
            export_id: None,
            include: vec![],
            exclude: vec![],
            concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            plan: PlanConfig::default(),
            parquet: ParquetOptions::default(),
            batch: BatchLimits::default(),
            mysql_consistency: Default::default(),
            glue_database: None,
            glue_quotas: Default::default(),
            fold_schemas: false,
            partition_rules: vec![],
            resume: false,
            retry: RetryPolicy::cli(),
            stop: crate::stop::Stop::default(),
            manifest_shard_entries: crate::manifest::DEFAULT_SHARD_ENTRIES,
        })
    }

    /// Rejects settings that cannot work, with the flag's name in the message.
    pub fn validate(&self) -> Result<()> {
        if self.concurrency == 0 {
            return Err(Error::InvalidInput(
                "--concurrency must be at least 1".into(),
            ));
        }
        if self.manifest_shard_entries == 0 {
            return Err(Error::InvalidInput(
                "--manifest-shard-entries must be at least 1".into(),
            ));
        }
        if self.plan.target_file_bytes < 1024 * 1024 {
            return Err(Error::InvalidInput(
                "--target-file-size must be at least 1MiB".into(),
            ));
        }
        if let Some(id) = &self.export_id
            && (id.is_empty() || id.contains('/'))
        {
            return Err(Error::InvalidInput(format!(
                "--export-id {id:?} must be non-empty and contain no '/'"
            )));
        }
        if let Some(name) = &self.glue_database {
            crate::catalog::names::check_database_name(name)?;
        }
        self.glue_quotas.validate()?;
        if !(1..=22).contains(&self.parquet.zstd_level) {
            return Err(Error::InvalidInput(
                "--zstd-level must be between 1 and 22".into(),
            ));
        }
        if !(1024 * 1024..=1024 * 1024 * 1024).contains(&self.parquet.row_group_bytes) {
            return Err(Error::InvalidInput(
                "--row-group-size must be between 1MiB and 1GiB".into(),
            ));
        }
        Ok(())
    }

    /// How the export's tables are laid out in Glue, as the quota check needs it.
    pub fn glue_layout(&self) -> crate::catalog::quotas::GlueLayout {
        crate::catalog::quotas::GlueLayout {
            fold_schemas: self.fold_schemas,
        }
    }
}

/// What `--config FILE` may hold (TOML; unknown keys are errors): `[[partition]]` rules, and
/// the Glue settings the flags of the same names (with `-` for `_`) give; a flag given
/// overrides the file.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub partition: Vec<crate::partitioning::RuleEntry>,
    pub fold_schemas: Option<bool>,
    pub glue_max_tables_per_database: Option<u64>,
    pub glue_max_tables_per_account: Option<u64>,
}

impl ConfigFile {
    /// Parses the file's text; `file` names it in messages.
    pub fn parse(text: &str, file: &str) -> Result<ConfigFile> {
        toml::from_str(text).map_err(|e| {
            let message = crate::error::toml_error(text, &e);
            Error::InvalidInput(format!("config file {file}: {message}"))
        })
    }

    /// Sets what the file sets in `cfg`: its partition rules, then its Glue settings.
    pub fn apply(&self, cfg: &mut ExportConfig, file: &str) -> Result<()> {
        cfg.partition_rules = crate::partitioning::rules_from_entries(&self.partition, file)?;
        if let Some(fold) = self.fold_schemas {
            cfg.fold_schemas = fold;
        }
        if let Some(n) = self.glue_max_tables_per_database {
            cfg.glue_quotas.tables_per_database = n;
        }
        if let Some(n) = self.glue_max_tables_per_account {
            cfg.glue_quotas.tables_per_account = n;
        }
        Ok(())
    }
}

/// Parses a size as `--target-file-size` and the export configuration's `target_file_size`
/// take it: `123`, `64KiB`, `128MiB`, `1GiB` (also KB/MB/GB as powers of 1000).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 128MiB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => return Err(format!("unknown size unit {other:?}: use KiB, MiB or GiB")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod size_tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("128MiB"), Ok(128 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("10 MB"), Ok(10_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12XB").is_err());
        assert!(parse_size("MiB").is_err());
    }
}

#[cfg(test)]
mod batch_tests {
    use super::BatchLimits;

    #[test]
    fn builders_reserve_less_for_wide_tables() {
        let l = BatchLimits {
            rows: 65_536,
            bytes: 16 << 20,
        };
        assert_eq!(l.initial_rows(3), 8192);
        assert_eq!(l.initial_rows(1600), 655);
        assert_eq!(l.initial_rows(100_000), 256);
        let few = BatchLimits {
            rows: 100,
            bytes: 1 << 20,
        };
        assert_eq!(few.initial_rows(1), 100);
    }
}
