//! The AWS side of snapex's serverless pipeline. The decisions live in the core
//! (`snapex::service`), without AWS; this crate makes the AWS calls they lead to and is the
//! only one, with `snapex-glue`, that depends on the AWS SDK:
//!
//! - [`context`]: SDK clients (with `AWS_ENDPOINT_URL` honoured, for moto) and the functions'
//!   settings from their environment;
//! - [`rds`], [`sfn`], [`secrets`]: the adapters, idempotent where they create or delete;
//! - [`steps`]: one `handle(input, &Context)` per function (trigger and its hourly sweep,
//!   restore, check-instance, plan, export-chunk, finalize, cleanup, watch), callable
//!   in-process;
//! - [`error`]: [`StepError`], whose name Step Functions sees as the error, and the
//!   classification of SDK errors;
//! - [`lambda`]: running a handler under the Lambda runtime with JSON logs;
//! - [`source`]: the source URL the export steps connect with.

pub mod context;
pub mod error;
pub mod lambda;
pub mod rds;
pub mod secrets;
pub mod sfn;
pub mod source;
pub mod steps;

pub use context::{Clients, Context, Settings};
pub use error::StepError;
pub use source::source_url;
