//! The serverless pipeline's core: what the state machine carries between steps ([`job`]) and
//! the decisions its functions make, all without AWS. The functions in `functions/` only
//! parse their event, call in here (and the AWS SDK where a step is an AWS call), and return.
//!
//! - [`config`]: the export configuration file the trigger reads;
//! - [`events`], [`decide`], [`naming`]: the trigger's reading of an event and its decision;
//! - [`sweep`]: the scheduled sweep's decision for the snapshots it lists;
//! - [`restore`], [`readiness`]: the temporary instance's engine, deadline and readiness;
//! - [`registration`]: how Finalize spreads the Glue registration over a Map of batches;
//! - [`cleanup`], [`failures`]: what Cleanup deletes and which error it reports;
//! - [`temporary`]: which temporary instances the scheduled watch counts, and their ages;
//! - [`credentials`]: the secret's shape and the source URL made from it;
//! - [`error`]: the steps' error type and the names Step Functions sees.

pub mod cleanup;
pub mod config;
pub mod credentials;
pub mod decide;
pub mod error;
pub mod events;
pub mod failures;
pub mod job;
pub mod naming;
pub mod readiness;
pub mod registration;
pub mod restore;
pub mod sweep;
pub mod temporary;

pub use error::ServiceError;
