//! Snapex's core: read a relational database in key ranges and write Parquet that Athena can
//! query, with a manifest that accounts for every table, file, row and lossy value.
//!
//! Both front ends are thin callers of [`pipeline`]: the `snapex` CLI (feature `cli`) and the
//! Lambda functions in `functions/`.

pub mod budget;
pub mod catalog;
pub mod columns;
pub mod config;
pub mod error;
pub mod floors;
pub mod layout;
pub mod limits;
pub mod manifest;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod partitioning;
pub mod pipeline;
pub mod plan;
pub mod published;
pub mod retry;
pub mod service;
pub mod sink;
pub mod source;
pub mod stop;
pub mod types;
pub mod work;

pub use config::ExportConfig;
pub use error::{Error, ErrorClass, Result};
