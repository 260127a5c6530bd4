//! The state of one export execution, as the state machine carries it: the trigger's [`Job`]
//! and each step's result under its own key (see `statemachine/README.md`). Small, and never a
//! password: credentials live in Secrets Manager and only the secret's ARN travels.

use serde::{Deserialize, Serialize};

/// Which kind of RDS snapshot an export starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotKind {
    /// `RDS DB Snapshot Event`: restored to a DB instance.
    Instance,
    /// `RDS DB Cluster Snapshot Event` (Aurora): restored to a cluster plus one instance.
    Cluster,
}

/// The snapshot being exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRef {
    pub kind: SnapshotKind,
    /// `rds:mydb-2026-12-01-03-10` (automated) or `my-manual-snapshot`.
    pub identifier: String,
    pub arn: String,
    /// The DB instance or cluster the snapshot was taken of.
    pub source: String,
    /// When the snapshot was created (RDS's `SnapshotCreateTime`), RFC 3339.
    pub created_at: String,
}

/// The temporary instance (or cluster) the snapshot is restored to. Its identifiers are fixed
/// by the trigger, so a retried restore and the cleanup find the same one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemporaryInstance {
    /// The DB instance identifier (also the cluster identifier's base for a cluster).
    pub identifier: String,
    /// For a cluster snapshot: the restored cluster's identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_identifier: Option<String>,
    /// e.g. `db.r6g.large`.
    pub class: String,
    /// Give up waiting for the instance after this many minutes.
    pub deadline_minutes: u32,
}

/// The state machine's input, made by the trigger from the snapshot event and the export
/// configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The export's folder under the destination, and the execution's idempotency key.
    pub export_id: String,
    pub snapshot: SnapshotRef,
    /// The database inside the instance to export (PostgreSQL database, MySQL schema).
    pub database: String,
    /// `s3://bucket/prefix`.
    pub destination: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glue_database: Option<String>,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// `TABLE=COLUMN:KIND[:WIDTH]` rules, as `--partition-by` takes them.
    #[serde(default)]
    pub partition_by: Vec<String>,
    /// Target Parquet file size in bytes.
    pub target_file_bytes: u64,
    /// Chunks exported at once at most (the Map's concurrency is also capped by the instance).
    pub max_concurrency: usize,
    /// At most this many small pieces share one chunk (one Lambda invocation); the planner's
    /// default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pieces_per_chunk: Option<usize>,
    /// The most source bytes one chunk may read, as configured; when absent, Plan computes it
    /// from ExportChunk's memory size and timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_chunk_bytes: Option<u64>,
    /// `fold_schemas` in the configuration (`--fold-schemas`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fold_schemas: bool,
    /// The Glue quotas Plan checks (`glue_max_tables_per_database` and
    /// `glue_max_tables_per_account` in the configuration); AWS's defaults when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glue_max_tables_per_database: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glue_max_tables_per_account: Option<u64>,
    /// `glue_requests_per_second` in the configuration: the Glue registration's calls a
    /// second in all, which Finalize spreads over the RegisterTables Map; its default when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glue_requests_per_second: Option<u32>,
    pub instance: TemporaryInstance,
}

/// Restore's result (`$.instance`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restored {
    pub identifier: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_identifier: Option<String>,
    /// `postgres`, `mysql`, `mariadb`, `aurora-postgresql`, `aurora-mysql`.
    pub engine: String,
    /// The Secrets Manager secret holding `{"username", "password"}` for the instance.
    pub secret_arn: String,
    /// Unix seconds after which CheckInstance fails with `RestoreDeadline`.
    pub deadline: i64,
    /// How long the Wait state waits between checks.
    pub poll_seconds: u32,
}

/// Where the instance listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

/// CheckInstance's result (`$.ready`), which the next check receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    pub ready: bool,
    /// The instance's RDS status, for the execution history.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Endpoint>,
    /// The temporary instance has existed (for a cluster: its instance was created): a later
    /// check that finds none knows it is gone, not yet to be created.
    #[serde(default)]
    pub instance_seen: bool,
}

/// Where the Distributed Map reads its items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemsLocation {
    pub bucket: String,
    pub key: String,
}

/// Plan's result (`$.plan`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Planned {
    pub tables: usize,
    pub chunks: usize,
    pub items: ItemsLocation,
    /// The Map's `MaxConcurrencyPath`: the job's maximum, capped by what the instance serves.
    pub concurrency: usize,
}

/// One line of the chunk list: the Map item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkItem {
    pub chunk: usize,
}

/// Finalize's result (`$.result`), the execution's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finalized {
    pub export_id: String,
    pub manifest: String,
    pub tables: u64,
    pub files: u64,
    pub rows: u64,
    pub bytes: u64,
    /// The Glue registration still to do, for the RegisterTables Map.
    pub registration: Registration,
}

/// The Glue registration Finalize leaves to the RegisterTables Map, once it has published the
/// export and registered its Glue database (see [`super::registration`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The Glue database the tables go to.
    pub database: String,
    /// The batches, one JSON object per line: the Map's items.
    pub items: ItemsLocation,
    pub batches: usize,
    /// The Map's `MaxConcurrencyPath`.
    pub concurrency: usize,
    /// Glue calls a second for each batch: with `concurrency` batches at once, the
    /// registration's share of the account's Glue rate.
    pub requests_per_second: u32,
}

/// A caught error (`$.error`), as Step Functions writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

/// Cleanup's result (`$.cleanup`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanedUp {
    /// What was deleted (identifiers and secret ARNs); empty when nothing was left.
    pub deleted: Vec<String>,
    /// When the export failed: the error to fail the execution with (a failed chunk's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// What each task receives: the whole state so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepInput {
    pub job: Job,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<Restored>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<Readiness>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Planned>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Finalized>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<CaughtError>,
}

/// What the Map gives each chunk's execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkInput {
    pub job: Job,
    pub instance: Restored,
    pub endpoint: Endpoint,
    pub item: ChunkItem,
}

impl Job {
    /// The export's configuration, reading from `source` (the temporary instance's URL,
    /// credentials included: never logged, never stored).
    pub fn export_config(&self, source: &str) -> crate::Result<crate::ExportConfig> {
        let mut cfg = crate::ExportConfig::new(source, &self.destination)?;
        cfg.export_id = Some(self.export_id.clone());
        cfg.include = self.include.clone();
        cfg.exclude = self.exclude.clone();
        cfg.glue_database = self.glue_database.clone();
        cfg.plan.target_file_bytes = self.target_file_bytes;
        if let Some(n) = self.pieces_per_chunk {
            cfg.plan.max_pieces_per_chunk = n.max(1);
        }
        cfg.plan.max_chunk_bytes = self.max_chunk_bytes;
        cfg.fold_schemas = self.fold_schemas;
        if let Some(n) = self.glue_max_tables_per_database {
            cfg.glue_quotas.tables_per_database = n;
        }
        if let Some(n) = self.glue_max_tables_per_account {
            cfg.glue_quotas.tables_per_account = n;
        }
        cfg.partition_rules = self
            .partition_by
            .iter()
            .map(|rule| crate::partitioning::PartitionRule::parse(rule))
            .collect::<crate::Result<_>>()?;
        // A step reads one chunk with one connection; the Map runs many steps at once.
        cfg.concurrency = 1;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The Map's concurrency: the job's maximum, capped by the connections the instance
    /// serves (each chunk holds one), keeping a few for the steps around the Map.
    pub fn map_concurrency(&self, max_connections: u64) -> usize {
        let serves = max_connections.saturating_sub(RESERVED_CONNECTIONS).max(1);
        self.max_concurrency
            .clamp(1, usize::try_from(serves).unwrap_or(usize::MAX))
    }
}

/// Connections of the instance kept free of chunks: for planning, finalizing and an operator.
const RESERVED_CONNECTIONS: u64 = 3;
