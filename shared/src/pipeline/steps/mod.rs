//! A serverless run's steps, each a function of its inputs and the records under the export's
//! `_work/` folder, so that each can run in a Lambda that knows nothing of the others, and
//! any of them can be retried:
//!
//! - [`plan_step`] discovers and plans, and writes the plan, one description per chunk, and the
//!   chunk list the Distributed Map reads;
//! - [`chunk_step`] writes one chunk's files and then its completion record (or, on failure, a
//!   failure record); run again, it writes the same files to the same keys, or finds its
//!   record and its files intact and does nothing;
//! - [`finalize_step`] publishes once every planned chunk has its record.
//!
//! One writer per export holds here too (see [`super::lease`]). The plan step takes the
//! export's lease over: within an execution the state machine starts a plan attempt only
//! after giving up the one before, and a second execution for the same snapshot (its export
//! id is the same on purpose) takes it from the first, whose later steps then stop at their
//! next write; once one of them has published, the other's plan step is refused. The chunk
//! and finalize steps work under the lease as the plan step left it. Each chunk attempt also
//! takes its chunk's own lease over (`_work/attempts/<n>/`): the Map retries an item only
//! after giving up the attempt before, which may still be running, and that attempt stops at
//! its next write. Every write is checked against both leases.
//!
//! Each step has a file of its own (`plan`, `chunk`, `finalize`); the `_work/` records they
//! read back are in [`super::records`], which the command line's resume reads too.

mod chunk;
mod finalize;
mod plan;

pub use chunk::chunk_step;
pub use finalize::finalize_step;
pub use plan::{PlanStep, plan_step};
