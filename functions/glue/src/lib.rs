//! Registers a published snapex export in the AWS Glue Data Catalog, so Athena can query it:
//! reads the export's `_catalog/` files ([`ExportCatalog`]) and converges Glue onto them
//! ([`register`]): the database created if missing, every table created or updated, and each
//! table's partitions made exactly the export's. Registering the same export twice changes
//! nothing the second time; registering a newer export of the same database switches every
//! table and partition to it.
//!
//! A registration can also be done in batches of tables, for a state machine to fan out: the
//! database step once ([`Registrar::register_database`]), then each batch
//! ([`ExportCatalog::read_tables`] by index, or [`ExportCatalog::batches`] and
//! [`ExportCatalog::read_batch`], which check the whole catalog once rather than in every
//! batch; then [`Registrar::register_tables`]). Every Glue call is paced
//! by a request rate shared by the tables converged at once, and a call Glue throttles is
//! retried with backoff ([`rate`]).
//!
//! This crate, not the core, depends on the AWS SDK: the core (`snapex`) only writes files.

mod convert;
mod error;
mod export;
pub mod rate;
mod register;

pub use error::GlueError;
pub use export::{BATCH_ITEM_BYTES, BatchTable, CatalogTable, ExportCatalog, TableBatch};
pub use rate::DEFAULT_REQUESTS_PER_SECOND;
pub use register::{Counts, Registrar, Report, TABLES_AT_ONCE, register};

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_sdk_glue::config::{ProvideCredentials, Region};

/// The region used when neither `region` nor the environment or profile names one, as
/// `snapex export` does for S3.
pub const DEFAULT_REGION: &str = "us-east-1";

/// A Glue client from the usual AWS configuration (environment, profile, web identity,
/// container or instance role), with `endpoint` (else `AWS_ENDPOINT_URL` or
/// `AWS_ENDPOINT_URL_GLUE`, else AWS) and `region` (else the configured one, else
/// [`DEFAULT_REGION`]) overriding it. Fails early, and as an input error, when no credentials
/// can be found, rather than on the first call.
pub async fn connect(
    endpoint: Option<&str>,
    region: Option<&str>,
) -> Result<aws_sdk_glue::Client, GlueError> {
    let region = RegionProviderChain::first_try(region.map(|r| Region::new(r.to_string())))
        .or_default_provider()
        .or_else(DEFAULT_REGION);
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .retry_config(RetryConfig::standard().with_max_attempts(snapex::retry::GLUE_CALL_ATTEMPTS));
    if let Some(url) = endpoint {
        loader = loader.endpoint_url(url);
    }
    let config = loader.load().await;
    let Some(credentials) = config.credentials_provider() else {
        return Err(GlueError::Credentials("no credentials provider".into()));
    };
    credentials
        .provide_credentials()
        .await
        .map_err(|e| GlueError::Credentials(e.to_string()))?;
    Ok(aws_sdk_glue::Client::new(&config))
}
