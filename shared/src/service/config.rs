//! The export configuration: which databases are exported when a snapshot of their instance
//! or cluster appears, and how. One TOML file, read by the trigger from `SNAPEX_CONFIG`:
//!
//! ```toml
//! destination = "s3://lake/exports"       # defaults for every [[database]] below
//! instance_class = "db.t4g.medium"
//! max_concurrency = 8
//! restore_deadline_minutes = 120
//! target_file_size = "256MiB"
//! glue_database = "analytics"
//! pieces_per_chunk = 64                   # optional: small pieces sharing one chunk
//! max_chunk_size = "20GiB"                # optional: what one ExportChunk call may read
//! fold_schemas = true                     # optional: one Glue table per table across schemas
//! glue_max_tables_per_database = 200000   # optional: the Glue quotas Plan checks (raised
//! glue_max_tables_per_account = 1000000   #   quotas exist; these are AWS's defaults)
//! glue_requests_per_second = 25           # optional: the Glue registration's calls a second
//!
//! [[database]]
//! source = "orders-db"                    # the DB instance or cluster identifier
//! database = "shop"                       # the database (MySQL: schema) inside it
//! snapshots = "automated"                 # all (default), manual or automated
//! include = ["public.*"]
//! exclude = ["public.tmp_*"]
//! partition_by = ["public.events=created_at:day"]
//! instance_class = "db.r6g.large"         # any default can be overridden per database
//! ```
//!
//! Unknown keys are errors: a misspelt setting must not silently fall back to a default.
//!
//! The deployed stack ([`Deployment`], from the functions' environment) gives two more
//! defaults and two limits: with no `destination`, exports go to
//! `s3://<SNAPEX_EXPORT_BUCKET>/exports`; with no `glue_database`, tables are registered in
//! `SNAPEX_GLUE_DATABASE`. A destination outside the export bucket, or a Glue database whose
//! name does not start with the stack's, is one the functions' policies refuse: the trigger
//! refuses to start such an export ([`Deployment::refusal`]) rather than fail after the
//! restore (or, for Glue, after publishing).

use serde::Deserialize;

use super::error::ServiceError;
use crate::catalog::quotas::GlueQuotas;
use crate::config::parse_size;
use crate::partitioning::PartitionRule;
use crate::sink::{Destination, Target};
use crate::source::TableFilter;

/// The instance class used when the configuration names none: small, burstable, and offered
/// for PostgreSQL, MySQL, MariaDB and both Aurora engines.
pub const DEFAULT_INSTANCE_CLASS: &str = "db.t4g.medium";
pub const DEFAULT_MAX_CONCURRENCY: usize = 4;
pub const DEFAULT_RESTORE_DEADLINE_MINUTES: u32 = 120;
/// The same default as `snapex export --target-file-size`.
pub const DEFAULT_TARGET_FILE_SIZE: &str = "128MiB";

/// The folder of the export bucket that exports go to when the configuration names no
/// destination: `s3://<bucket>/exports`.
pub const DEFAULT_EXPORT_PREFIX: &str = "exports";

/// What the deployed stack gives the configuration: its defaults and the limits its IAM
/// policies set. Empty (outside a deployment, and in the CLI): no default, no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deployment {
    /// `SNAPEX_EXPORT_BUCKET`: the bucket every function may write, and the only one.
    pub export_bucket: Option<String>,
    /// `SNAPEX_GLUE_DATABASE`: the stack's Glue database; Finalize may register only in
    /// databases whose names start with it (its policy names `database/<name>*`).
    pub glue_database: Option<String>,
}

impl Deployment {
    /// The destination of an export whose configuration names none.
    pub fn default_destination(&self) -> Option<String> {
        self.export_bucket
            .as_ref()
            .map(|b| format!("s3://{b}/{DEFAULT_EXPORT_PREFIX}"))
    }

    /// Why the deployed policies would refuse exporting as `db` says, in one line; `None`
    /// when they allow it.
    pub fn refusal(&self, db: &DatabaseExport) -> Option<String> {
        if let Some(bucket) = &self.export_bucket {
            let inside = matches!(
                Target::parse(&db.destination),
                Ok(Target::S3 { bucket: b, .. }) if b == *bucket
            );
            if !inside {
                return Some(format!(
                    "{}: destination {} is outside the export bucket {bucket} \
                     (SNAPEX_EXPORT_BUCKET), the only one the functions may write; use \
                     s3://{bucket}/... or leave destination out for s3://{bucket}/{DEFAULT_EXPORT_PREFIX}",
                    db.source, db.destination
                ));
            }
        }
        if let Some(stack) = &self.glue_database {
            let name = db.glue_database.as_deref().unwrap_or_default();
            if !name.starts_with(stack.as_str()) {
                let name = match &db.glue_database {
                    Some(n) => format!("{n:?}"),
                    None => "named after the source database".into(),
                };
                return Some(format!(
                    "{}: Glue database {name} does not start with the stack's Glue database \
                     {stack:?} (SNAPEX_GLUE_DATABASE), so the stack's functions may not \
                     register in it; set glue_database to {stack:?} or a name starting with \
                     it, or leave it out",
                    db.source
                ));
            }
        }
        None
    }
}

/// Which snapshots of a source start an export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotFilter {
    #[default]
    All,
    Manual,
    Automated,
}

/// The settings that have a top-level default and a per-database override. Spelled out in
/// both raw structs below rather than flattened: serde's `flatten` loses the list of expected
/// keys from the unknown-key error.
#[derive(Debug, Clone, Default)]
struct Defaults {
    destination: Option<String>,
    instance_class: Option<String>,
    max_concurrency: Option<usize>,
    restore_deadline_minutes: Option<u32>,
    target_file_size: Option<String>,
    glue_database: Option<String>,
    pieces_per_chunk: Option<usize>,
    max_chunk_size: Option<String>,
    fold_schemas: Option<bool>,
    glue_max_tables_per_database: Option<u64>,
    glue_max_tables_per_account: Option<u64>,
    glue_requests_per_second: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    source: String,
    database: String,
    #[serde(default)]
    snapshots: SnapshotFilter,
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    partition_by: Vec<String>,
    destination: Option<String>,
    instance_class: Option<String>,
    max_concurrency: Option<usize>,
    restore_deadline_minutes: Option<u32>,
    target_file_size: Option<String>,
    glue_database: Option<String>,
    pieces_per_chunk: Option<usize>,
    max_chunk_size: Option<String>,
    fold_schemas: Option<bool>,
    glue_max_tables_per_database: Option<u64>,
    glue_max_tables_per_account: Option<u64>,
    glue_requests_per_second: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    destination: Option<String>,
    instance_class: Option<String>,
    max_concurrency: Option<usize>,
    restore_deadline_minutes: Option<u32>,
    target_file_size: Option<String>,
    glue_database: Option<String>,
    pieces_per_chunk: Option<usize>,
    max_chunk_size: Option<String>,
    fold_schemas: Option<bool>,
    glue_max_tables_per_database: Option<u64>,
    glue_max_tables_per_account: Option<u64>,
    glue_requests_per_second: Option<u32>,
    #[serde(default)]
    database: Vec<RawEntry>,
}

/// One configured database, every default applied and every value checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseExport {
    /// The DB instance or cluster identifier, lowercase as RDS stores it.
    pub source: String,
    pub database: String,
    pub snapshots: SnapshotFilter,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub partition_by: Vec<String>,
    /// `s3://bucket[/prefix]`.
    pub destination: String,
    pub instance_class: String,
    pub max_concurrency: usize,
    pub restore_deadline_minutes: u32,
    pub target_file_bytes: u64,
    pub glue_database: Option<String>,
    /// At most this many small pieces per chunk; the planner's default when absent.
    pub pieces_per_chunk: Option<usize>,
    /// The most source bytes one chunk (one ExportChunk call) may read; when absent, Plan
    /// computes it from ExportChunk's memory size and timeout (`snapex::budget`).
    pub max_chunk_bytes: Option<u64>,
    /// Fold tables of the same name and columns across schemas into one Glue table each
    /// (`--fold-schemas`; see `catalog::fold`).
    pub fold_schemas: bool,
    /// The Glue quotas Plan checks the export against (`glue_max_tables_per_database` and
    /// `glue_max_tables_per_account`; AWS's defaults unless raised).
    pub glue_quotas: GlueQuotas,
    /// The Glue registration's calls a second in all (`glue_requests_per_second`); the
    /// registration's default when absent.
    pub glue_requests_per_second: Option<u32>,
}

/// The whole configuration: the databases to export, at most one per source.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceConfig {
    pub databases: Vec<DatabaseExport>,
    /// The stack it was read for: its defaults are applied, its limits are for the trigger
    /// to check ([`Deployment::refusal`]).
    pub deployment: Deployment,
}

impl ServiceConfig {
    /// Parses and checks a configuration file's text, outside any deployment; `origin` (its
    /// URL) names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<ServiceConfig, ServiceError> {
        ServiceConfig::parse_for(text, origin, &Deployment::default())
    }

    /// Parses and checks a configuration file's text with `deployment`'s defaults.
    pub fn parse_for(
        text: &str,
        origin: &str,
        deployment: &Deployment,
    ) -> Result<ServiceConfig, ServiceError> {
        let bad = |detail: String| ServiceError::Config {
            origin: origin.to_string(),
            detail,
        };
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| bad(crate::error::toml_error(text, &e)))?;
        let defaults = Defaults {
            destination: raw.destination.or_else(|| deployment.default_destination()),
            instance_class: raw.instance_class,
            max_concurrency: raw.max_concurrency,
            restore_deadline_minutes: raw.restore_deadline_minutes,
            target_file_size: raw.target_file_size,
            glue_database: raw
                .glue_database
                .or_else(|| deployment.glue_database.clone()),
            pieces_per_chunk: raw.pieces_per_chunk,
            max_chunk_size: raw.max_chunk_size,
            fold_schemas: raw.fold_schemas,
            glue_max_tables_per_database: raw.glue_max_tables_per_database,
            glue_max_tables_per_account: raw.glue_max_tables_per_account,
            glue_requests_per_second: raw.glue_requests_per_second,
        };
        let mut databases: Vec<DatabaseExport> = Vec::new();
        for (i, entry) in raw.database.into_iter().enumerate() {
            let what = format!("[[database]] #{} ({:?})", i + 1, entry.source);
            let db = resolve(entry, &defaults).map_err(|e| bad(format!("{what}: {e}")))?;
            if databases.iter().any(|d| d.source == db.source) {
                return Err(bad(format!(
                    "{what}: source {:?} is configured twice; a snapshot starts one export",
                    db.source
                )));
            }
            databases.push(db);
        }
        Ok(ServiceConfig {
            databases,
            deployment: deployment.clone(),
        })
    }

    /// The configured export of `source` (a DB instance or cluster identifier), if any.
    /// RDS identifiers are case-insensitive.
    pub fn find(&self, source: &str) -> Option<&DatabaseExport> {
        let source = source.to_ascii_lowercase();
        self.databases.iter().find(|d| d.source == source)
    }

    /// Reads and parses the configuration at `url`, for `deployment`: `s3://bucket/key`
    /// (through the core's object store, `endpoint` else `AWS_ENDPOINT_URL` else AWS) or a
    /// local file path.
    pub async fn load(
        url: &str,
        endpoint: Option<&str>,
        deployment: &Deployment,
    ) -> Result<ServiceConfig, ServiceError> {
        let (folder, file) = url.rsplit_once('/').ok_or_else(|| ServiceError::Config {
            origin: url.to_string(),
            detail: "expected s3://bucket/key or a file path".into(),
        })?;
        let folder = if folder.is_empty() { "/" } else { folder };
        let dest = Destination::open(folder, endpoint)?;
        let path = dest.root.clone().join(file);
        let bytes = match read(&dest, &path).await {
            Err(crate::Error::Store {
                cause: object_store::Error::NotFound { .. },
                ..
            }) => {
                return Err(ServiceError::Config {
                    origin: url.to_string(),
                    detail: "no such file: put the export configuration there, or point \
                             SNAPEX_CONFIG at it"
                        .into(),
                });
            }
            read => read?,
        };
        let text = String::from_utf8(bytes).map_err(|_| ServiceError::Config {
            origin: url.to_string(),
            detail: "not UTF-8 text".into(),
        })?;
        ServiceConfig::parse_for(&text, url, deployment)
    }
}

async fn read(dest: &Destination, path: &object_store::path::Path) -> crate::Result<Vec<u8>> {
    use object_store::ObjectStoreExt;
    let store_err = |e| crate::Error::Store {
        url: format!("{}/{}", dest.url.trim_end_matches('/'), path),
        cause: e,
    };
    let got = dest.store.get(path).await.map_err(store_err)?;
    Ok(got.bytes().await.map_err(store_err)?.to_vec())
}

fn resolve(e: RawEntry, d: &Defaults) -> Result<DatabaseExport, String> {
    let o = Defaults {
        destination: e.destination.clone(),
        instance_class: e.instance_class.clone(),
        max_concurrency: e.max_concurrency,
        restore_deadline_minutes: e.restore_deadline_minutes,
        target_file_size: e.target_file_size.clone(),
        glue_database: e.glue_database.clone(),
        pieces_per_chunk: e.pieces_per_chunk,
        max_chunk_size: e.max_chunk_size.clone(),
        fold_schemas: e.fold_schemas,
        glue_max_tables_per_database: e.glue_max_tables_per_database,
        glue_max_tables_per_account: e.glue_max_tables_per_account,
        glue_requests_per_second: e.glue_requests_per_second,
    };
    let source = e.source.trim().to_ascii_lowercase();
    check_source(&source)?;
    if e.database.is_empty() {
        return Err("database is empty".into());
    }
    let destination = o
        .destination
        .clone()
        .or_else(|| d.destination.clone())
        .ok_or(
            "no destination: set destination at the top or in the entry (a deployment's \
             default is its export bucket)",
        )?;
    match Target::parse(&destination).map_err(|e| e.to_string())? {
        Target::S3 { .. } => {}
        Target::Local(_) => {
            return Err(format!(
                "destination {destination:?} must be s3://bucket[/prefix]"
            ));
        }
    }
    let instance_class = o
        .instance_class
        .clone()
        .or_else(|| d.instance_class.clone())
        .unwrap_or_else(|| DEFAULT_INSTANCE_CLASS.into());
    if !instance_class.starts_with("db.") {
        return Err(format!(
            "instance_class {instance_class:?} is not an RDS instance class (e.g. db.r6g.large)"
        ));
    }
    let max_concurrency = o
        .max_concurrency
        .or(d.max_concurrency)
        .unwrap_or(DEFAULT_MAX_CONCURRENCY);
    if max_concurrency == 0 {
        return Err("max_concurrency must be at least 1".into());
    }
    let restore_deadline_minutes = o
        .restore_deadline_minutes
        .or(d.restore_deadline_minutes)
        .unwrap_or(DEFAULT_RESTORE_DEADLINE_MINUTES);
    if restore_deadline_minutes == 0 {
        return Err("restore_deadline_minutes must be at least 1".into());
    }
    let size = o
        .target_file_size
        .clone()
        .or_else(|| d.target_file_size.clone())
        .unwrap_or_else(|| DEFAULT_TARGET_FILE_SIZE.into());
    let target_file_bytes = parse_size(&size).map_err(|e| format!("target_file_size: {e}"))?;
    if target_file_bytes < 1 << 20 {
        return Err("target_file_size must be at least 1MiB".into());
    }
    let glue_database = o.glue_database.clone().or_else(|| d.glue_database.clone());
    if let Some(name) = &glue_database {
        crate::catalog::names::check_database_name(name)
            .map_err(|e| as_setting(&e, "--glue-database", "glue_database"))?;
    }
    let pieces_per_chunk = o.pieces_per_chunk.or(d.pieces_per_chunk);
    if pieces_per_chunk == Some(0) {
        return Err("pieces_per_chunk must be at least 1".into());
    }
    let max_chunk_bytes = match o
        .max_chunk_size
        .clone()
        .or_else(|| d.max_chunk_size.clone())
    {
        None => None,
        Some(size) => match parse_size(&size).map_err(|e| format!("max_chunk_size: {e}"))? {
            0 => return Err("max_chunk_size must be more than 0".into()),
            n => Some(n),
        },
    };
    let fold_schemas = o.fold_schemas.or(d.fold_schemas).unwrap_or(false);
    let mut glue_quotas = GlueQuotas::default();
    if let Some(n) = o
        .glue_max_tables_per_database
        .or(d.glue_max_tables_per_database)
    {
        glue_quotas.tables_per_database = n;
    }
    if let Some(n) = o
        .glue_max_tables_per_account
        .or(d.glue_max_tables_per_account)
    {
        glue_quotas.tables_per_account = n;
    }
    glue_quotas.validate().map_err(|e| {
        e.to_string()
            .replace(
                "--glue-max-tables-per-database",
                "glue_max_tables_per_database",
            )
            .replace(
                "--glue-max-tables-per-account",
                "glue_max_tables_per_account",
            )
    })?;
    let glue_requests_per_second = o.glue_requests_per_second.or(d.glue_requests_per_second);
    if glue_requests_per_second == Some(0) {
        return Err(
            "glue_requests_per_second is 0: the registration would never call Glue; give at \
             least 1, or leave it out for the default"
                .into(),
        );
    }
    TableFilter::new(&e.include, &e.exclude).map_err(|e| e.to_string())?;
    for rule in &e.partition_by {
        PartitionRule::parse(rule).map_err(|e| as_setting(&e, "--partition-by", "partition_by"))?;
    }
    Ok(DatabaseExport {
        source,
        database: e.database,
        snapshots: e.snapshots,
        include: e.include,
        exclude: e.exclude,
        partition_by: e.partition_by,
        destination,
        instance_class,
        max_concurrency,
        restore_deadline_minutes,
        target_file_bytes,
        glue_database,
        pieces_per_chunk,
        max_chunk_bytes,
        fold_schemas,
        glue_quotas,
        glue_requests_per_second,
    })
}

/// A core message about a command-line flag, reworded for the configuration key.
fn as_setting(e: &crate::Error, flag: &str, key: &str) -> String {
    e.to_string().replace(flag, key)
}

/// RDS identifiers: 1 to 63 letters, digits and hyphens, starting with a letter.
fn check_source(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "source {s:?} is not a DB instance or cluster identifier (letters, digits and hyphens, starting with a letter)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
destination = "s3://lake/exports"
instance_class = "db.r6g.large"
max_concurrency = 8
restore_deadline_minutes = 90
target_file_size = "256MiB"
glue_database = "analytics"

[[database]]
source = "Orders-DB"
database = "shop"
snapshots = "automated"
include = ["public.*"]
exclude = ["public.tmp_*"]
partition_by = ["public.events=created_at:day", "orders=id:buckets:1000"]

[[database]]
source = "billing-cluster"
database = "billing"
destination = "s3://other/prefix"
max_concurrency = 2
target_file_size = "64MiB"
glue_database = "billing_raw"
max_chunk_size = "2GiB"
"#;

    #[test]
    fn defaults_apply_and_entries_override_them() {
        let c = ServiceConfig::parse(FULL, "s3://cfg/snapex.toml").unwrap();
        let orders = c.find("orders-db").unwrap();
        assert_eq!(orders.source, "orders-db");
        assert_eq!(orders.snapshots, SnapshotFilter::Automated);
        assert_eq!(orders.destination, "s3://lake/exports");
        assert_eq!(orders.instance_class, "db.r6g.large");
        assert_eq!(orders.max_concurrency, 8);
        assert_eq!(orders.restore_deadline_minutes, 90);
        assert_eq!(orders.target_file_bytes, 256 << 20);
        assert_eq!(orders.glue_database.as_deref(), Some("analytics"));
        assert_eq!(orders.partition_by.len(), 2);

        let billing = c.find("BILLING-cluster").unwrap();
        assert_eq!(billing.snapshots, SnapshotFilter::All);
        assert_eq!(billing.destination, "s3://other/prefix");
        assert_eq!(billing.instance_class, "db.r6g.large");
        assert_eq!(billing.max_concurrency, 2);
        assert_eq!(billing.target_file_bytes, 64 << 20);
        assert_eq!(billing.glue_database.as_deref(), Some("billing_raw"));
        assert_eq!(billing.max_chunk_bytes, Some(2 << 30));
        assert_eq!(orders.max_chunk_bytes, None);
        assert!(c.find("other").is_none());
    }

    #[test]
    fn fold_schemas_is_a_default_an_entry_overrides_and_reaches_the_export() {
        let text = "destination = \"s3://lake\"\nfold_schemas = true\n\
                    [[database]]\nsource = \"tenants\"\ndatabase = \"app\"\n\
                    [[database]]\nsource = \"single\"\ndatabase = \"app\"\nfold_schemas = false\n";
        let c = ServiceConfig::parse(text, "cfg").unwrap();
        let tenants = c.find("tenants").unwrap();
        assert!(tenants.fold_schemas);
        assert!(!c.find("single").unwrap().fold_schemas);
        let minimal =
            "destination = \"s3://lake\"\n[[database]]\nsource = \"db1\"\ndatabase = \"app\"\n";
        assert!(!ServiceConfig::parse(minimal, "cfg").unwrap().databases[0].fold_schemas);
    }

    #[test]
    fn a_minimal_file_takes_the_built_in_defaults() {
        let text =
            "destination = \"s3://lake\"\n[[database]]\nsource = \"db1\"\ndatabase = \"app\"\n";
        let c = ServiceConfig::parse(text, "cfg").unwrap();
        let d = &c.databases[0];
        assert_eq!(d.instance_class, DEFAULT_INSTANCE_CLASS);
        assert_eq!(d.max_concurrency, DEFAULT_MAX_CONCURRENCY);
        assert_eq!(d.restore_deadline_minutes, DEFAULT_RESTORE_DEADLINE_MINUTES);
        assert_eq!(d.target_file_bytes, 128 << 20);
        assert_eq!(d.glue_database, None);
        assert!(
            ServiceConfig::parse("", "cfg")
                .unwrap()
                .databases
                .is_empty()
        );
    }

    fn error(text: &str) -> String {
        let e = ServiceConfig::parse(text, "s3://cfg/snapex.toml").unwrap_err();
        assert_eq!(e.name(), "InvalidInput");
        let msg = e.to_string();
        assert!(
            msg.starts_with("export configuration s3://cfg/snapex.toml: "),
            "{msg}"
        );
        assert_eq!(msg.lines().count(), 1, "{msg}");
        msg
    }

    #[test]
    fn unknown_keys_are_errors_that_name_the_key() {
        let top = error("# snapex\ndestinaton = \"s3://lake\"\n");
        assert!(top.contains("line 2: unknown field `destinaton`"), "{top}");
        assert!(top.contains("`destination`"), "the expected keys: {top}");
        let entry = error(
            "destination = \"s3://lake\"\n[[database]]\nsource = \"a\"\ndatabase = \"b\"\nsnapshot = \"all\"\n",
        );
        assert!(entry.contains("snapshot"), "{entry}");
    }

    #[test]
    fn bad_values_are_errors_that_name_the_entry_and_the_setting() {
        let base =
            "destination = \"s3://lake\"\n[[database]]\nsource = \"db1\"\ndatabase = \"app\"\n";
        for (extra, says) in [
            (
                "partition_by = [\"events=created_at\"]",
                "partition_by \"events=created_at\"",
            ),
            (
                "partition_by = [\"events=created_at:fortnight\"]",
                "fortnight",
            ),
            ("include = [\"[\"]", "table pattern"),
            ("target_file_size = \"12XB\"", "target_file_size"),
            ("target_file_size = \"1KiB\"", "at least 1MiB"),
            ("max_concurrency = 0", "max_concurrency"),
            ("restore_deadline_minutes = 0", "restore_deadline_minutes"),
            ("pieces_per_chunk = 0", "pieces_per_chunk"),
            (
                "max_chunk_size = \"0\"",
                "max_chunk_size must be more than 0",
            ),
            ("max_chunk_size = \"big\"", "max_chunk_size"),
            ("instance_class = \"r6g.large\"", "instance class"),
            ("destination = \"/tmp/lake\"", "must be s3://"),
            ("glue_database = \"Bad-Name\"", "Bad-Name"),
        ] {
            let msg = error(&format!("{base}{extra}\n"));
            assert!(msg.contains("[[database]] #1 (\"db1\")"), "{msg}");
            assert!(msg.contains(says), "{extra}: {msg}");
        }
        // Type errors are the parser's: they name the line.
        let msg = error(&format!("{base}snapshots = \"weekly\"\n"));
        assert!(msg.contains("line 5: unknown variant `weekly`"), "{msg}");
        let msg = error("[[database]]\nsource = \"db1\"\ndatabase = \"app\"\n");
        assert!(msg.contains("no destination"), "{msg}");
        let msg = error(&format!(
            "{base}[[database]]\nsource = \"DB1\"\ndatabase = \"x\"\n"
        ));
        assert!(msg.contains("configured twice"), "{msg}");
        let msg = error(
            "destination = \"s3://lake\"\n[[database]]\nsource = \"1db\"\ndatabase = \"x\"\n",
        );
        assert!(msg.contains("identifier"), "{msg}");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("123"), Ok(123));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("99999999999999GiB").is_err());
    }

    #[tokio::test]
    async fn loads_a_local_file() {
        let dir = std::env::temp_dir().join(format!("snapex-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("snapex.toml");
        std::fs::write(&file, FULL).unwrap();
        let c = ServiceConfig::load(file.to_str().unwrap(), None, &Deployment::default())
            .await
            .unwrap();
        assert_eq!(c.databases.len(), 2);
        let nope = dir.join("nope.toml");
        let missing = ServiceConfig::load(nope.to_str().unwrap(), None, &Deployment::default())
            .await
            .unwrap_err();
        assert_eq!(missing.name(), "InvalidInput", "{missing}");
        assert_eq!(
            missing.to_string(),
            format!(
                "export configuration {}: no such file: put the export configuration there, or \
                 point SNAPEX_CONFIG at it",
                nope.display()
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Property tests: any text is a configuration or an `InvalidInput` error of one line that
/// names the file; never a panic. A configuration written from known values reads back as them.
#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    const ORIGIN: &str = "s3://cfg/snapex.toml";

    /// The invariants of a parse, whatever the text.
    fn check(text: &str) -> Result<Option<ServiceConfig>, TestCaseError> {
        match ServiceConfig::parse(text, ORIGIN) {
            Ok(c) => Ok(Some(c)),
            Err(e) => {
                prop_assert_eq!(e.name(), "InvalidInput");
                let message = e.to_string();
                let prefix = format!("export configuration {ORIGIN}: ");
                prop_assert!(message.starts_with(&prefix), "{}", message);
                prop_assert!(message.len() > prefix.len(), "{}", message);
                prop_assert_eq!(message.lines().count(), 1, "{}", message);
                Ok(None)
            }
        }
    }

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

    fn list(items: &[String]) -> String {
        let quoted: Vec<String> = items.iter().map(|s| quoted(s)).collect();
        format!("[{}]", quoted.join(", "))
    }

    /// The settings with a top-level default and a per-database override.
    #[derive(Debug, Clone, Default)]
    struct Settings {
        destination: Option<String>,
        instance_class: Option<String>,
        max_concurrency: Option<usize>,
        restore_deadline_minutes: Option<u32>,
        /// MiB.
        target_file_mib: Option<u64>,
        glue_database: Option<String>,
        pieces_per_chunk: Option<usize>,
    }

    impl Settings {
        fn render(&self, out: &mut String) {
            let mut line = |k: &str, v: Option<String>| {
                if let Some(v) = v {
                    out.push_str(&format!("{k} = {v}\n"));
                }
            };
            line("destination", self.destination.as_deref().map(quoted));
            line("instance_class", self.instance_class.as_deref().map(quoted));
            line(
                "max_concurrency",
                self.max_concurrency.map(|n| n.to_string()),
            );
            line(
                "restore_deadline_minutes",
                self.restore_deadline_minutes.map(|n| n.to_string()),
            );
            line(
                "target_file_size",
                self.target_file_mib.map(|n| match n % 1024 {
                    0 => quoted(&format!("{}GiB", n / 1024)),
                    _ => quoted(&format!("{n}MiB")),
                }),
            );
            line("glue_database", self.glue_database.as_deref().map(quoted));
            line(
                "pieces_per_chunk",
                self.pieces_per_chunk.map(|n| n.to_string()),
            );
        }
    }

    #[derive(Debug, Clone)]
    struct Entry {
        source: String,
        database: String,
        snapshots: Option<SnapshotFilter>,
        include: Vec<String>,
        exclude: Vec<String>,
        partition_by: Vec<String>,
        settings: Settings,
    }

    fn settings() -> impl Strategy<Value = Settings> {
        (
            prop::option::of("s3://[a-z0-9][a-z0-9-]{2,20}(/[a-z0-9_]{1,10}){0,2}"),
            prop::option::of("db\\.[a-z0-9]{2,6}\\.[a-z0-9]{2,8}"),
            prop::option::of(1usize..1000),
            prop::option::of(1u32..10_000),
            prop::option::of(prop_oneof![1u64..4096, (1u64..8).prop_map(|g| g * 1024)]),
            prop::option::of("[a-z0-9_]{1,30}"),
            prop::option::of(1usize..10_000),
        )
            .prop_map(|(d, i, m, r, t, g, p)| Settings {
                destination: d,
                instance_class: i,
                max_concurrency: m,
                restore_deadline_minutes: r,
                target_file_mib: t,
                glue_database: g,
                pieces_per_chunk: p,
            })
    }

    fn entry() -> impl Strategy<Value = Entry> {
        // Globs: `**` is not one (it only spans path components, which table names lack).
        let pattern = "(\\*?[a-z?]){1,6}(\\.(\\*?[a-z?]){1,6})?\\*?";
        let rule = "(\\*?[a-z]){1,6}(\\.(\\*?[a-z]){1,6})?=[a-z_]{1,8}:(year|month|day|hour|value|buckets|buckets:[1-9][0-9]{0,5})";
        (
            "[a-zA-Z][a-zA-Z0-9-]{0,50}",
            // Any name RDS might hold: the file's escaping must carry it through.
            any::<String>().prop_filter("a database is named", |s| !s.is_empty()),
            prop::option::of(prop_oneof![
                Just(SnapshotFilter::All),
                Just(SnapshotFilter::Manual),
                Just(SnapshotFilter::Automated),
            ]),
            prop::collection::vec(pattern, 0..3),
            prop::collection::vec(pattern, 0..3),
            prop::collection::vec(rule, 0..3),
            settings(),
        )
            .prop_map(
                |(source, database, snapshots, include, exclude, partition_by, settings)| Entry {
                    source,
                    database,
                    snapshots,
                    include,
                    exclude,
                    partition_by,
                    settings,
                },
            )
    }

    fn render(top: &Settings, entries: &[Entry]) -> String {
        let mut out = String::from("# generated\n");
        top.render(&mut out);
        for e in entries {
            out.push_str("\n[[database]]\n");
            out.push_str(&format!("source = {}\n", quoted(&e.source)));
            out.push_str(&format!("database = {}\n", quoted(&e.database)));
            if let Some(s) = e.snapshots {
                let s = match s {
                    SnapshotFilter::All => "all",
                    SnapshotFilter::Manual => "manual",
                    SnapshotFilter::Automated => "automated",
                };
                out.push_str(&format!("snapshots = {}\n", quoted(s)));
            }
            for (k, v) in [
                ("include", &e.include),
                ("exclude", &e.exclude),
                ("partition_by", &e.partition_by),
            ] {
                if !v.is_empty() {
                    out.push_str(&format!("{k} = {}\n", list(v)));
                }
            }
            e.settings.render(&mut out);
        }
        out
    }

    /// What the parser must make of one entry: every default applied.
    fn expected(e: &Entry, top: &Settings) -> Option<DatabaseExport> {
        let s = &e.settings;
        Some(DatabaseExport {
            source: e.source.to_ascii_lowercase(),
            database: e.database.clone(),
            snapshots: e.snapshots.unwrap_or_default(),
            include: e.include.clone(),
            exclude: e.exclude.clone(),
            partition_by: e.partition_by.clone(),
            destination: s.destination.clone().or(top.destination.clone())?,
            instance_class: s
                .instance_class
                .clone()
                .or(top.instance_class.clone())
                .unwrap_or_else(|| DEFAULT_INSTANCE_CLASS.into()),
            max_concurrency: s
                .max_concurrency
                .or(top.max_concurrency)
                .unwrap_or(DEFAULT_MAX_CONCURRENCY),
            restore_deadline_minutes: s
                .restore_deadline_minutes
                .or(top.restore_deadline_minutes)
                .unwrap_or(DEFAULT_RESTORE_DEADLINE_MINUTES),
            target_file_bytes: s
                .target_file_mib
                .or(top.target_file_mib)
                .map_or(128 << 20, |m| m << 20),
            glue_database: s.glue_database.clone().or(top.glue_database.clone()),
            pieces_per_chunk: s.pieces_per_chunk.or(top.pieces_per_chunk),
            max_chunk_bytes: None,
            // Not generated: the defaults.
            glue_quotas: GlueQuotas::default(),
            glue_requests_per_second: None,
            fold_schemas: false,
        })
    }

    /// A TOML value of any type, right or wrong for whatever key it lands on.
    fn toml_value() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>().prop_map(|s| quoted(&s)),
            "[a-z0-9:/._*=-]{0,20}".prop_map(|s| quoted(&s)),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<bool>().prop_map(|b| b.to_string()),
            Just("1.5e3".to_string()),
            Just("1979-05-27T07:32:00Z".to_string()),
            prop::collection::vec(any::<String>(), 0..3).prop_map(|v| list(&v)),
            Just("{ a = 1 }".to_string()),
            Just("\"\"\"multi\nline\"\"\"".to_string()),
            Just("\"unterminated".to_string()),
        ]
    }

    const SOUP_KEYS: &[&str] = &[
        "destination",
        "instance_class",
        "max_concurrency",
        "restore_deadline_minutes",
        "target_file_size",
        "glue_database",
        "pieces_per_chunk",
        "max_chunk_size",
        "source",
        "database",
        "snapshots",
        "include",
        "exclude",
        "partition_by",
        "destinaton",
        "\"quoted key\"",
        "a.b",
    ];

    const SOUP_HEADERS: &[&str] = &["[database]", "[[ database ]]", "[x]", "[[database]"];

    /// Lines that look like a configuration: known keys (and near misses), table headers,
    /// and anything at all.
    fn toml_soup() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            proptest::sample::select(SOUP_KEYS).prop_map(str::to_string),
            "[a-z_]{1,12}",
        ];
        let line = prop_oneof![
            6 => (key, toml_value()).prop_map(|(k, v)| format!("{k} = {v}")),
            2 => Just("[[database]]".to_string()),
            1 => proptest::sample::select(SOUP_HEADERS).prop_map(str::to_string),
            1 => any::<String>(),
        ];
        prop::collection::vec(line, 0..16).prop_map(|lines| lines.join("\n"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_text_is_a_configuration_or_a_one_line_error(text in any::<String>()) {
            check(&text)?;
        }

        #[test]
        fn configuration_like_text_is_a_configuration_or_a_one_line_error(text in toml_soup()) {
            check(&text)?;
        }

        /// Written from known values, a configuration reads back as exactly those values.
        #[test]
        fn written_configurations_read_back(
            top in settings(),
            entries in prop::collection::vec(entry(), 0..4),
        ) {
            // One entry per source: RDS identifiers are case-insensitive.
            let mut entries = entries;
            for (i, e) in entries.iter_mut().enumerate() {
                e.source = format!("{}-{i}", e.source);
            }
            let text = render(&top, &entries);
            let want: Option<Vec<DatabaseExport>> =
                entries.iter().map(|e| expected(e, &top)).collect();
            match (check(&text)?, want) {
                (Some(got), Some(want)) => prop_assert_eq!(got.databases, want),
                (None, None) => {
                    let e = ServiceConfig::parse(&text, ORIGIN).unwrap_err().to_string();
                    prop_assert!(e.contains("no destination"), "{}", e);
                }
                (got, want) => prop_assert!(false, "{text}\ngot {got:?}\nwant {want:?}"),
            }
        }

        /// A valid file with some of it cut out or something pasted in.
        #[test]
        fn damaged_configurations_are_read_or_refused_in_one_line(
            top in settings(),
            entries in prop::collection::vec(entry(), 1..3),
            at in any::<prop::sample::Index>(),
            cut in 0usize..20,
            paste in prop_oneof![any::<String>(), toml_value()],
        ) {
            let text: Vec<char> = render(&top, &entries).chars().collect();
            let at = at.index(text.len() + 1);
            let end = (at + cut).min(text.len());
            let damaged: String = text[..at]
                .iter()
                .chain(paste.chars().collect::<Vec<_>>().iter())
                .chain(&text[end..])
                .collect();
            check(&damaged)?;
        }
    }
}
