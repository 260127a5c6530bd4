//! One generation of a lease as stored, `_work/lease/<n>.json`, and how messages name its run
//! and time. Apart because the lease's folder reads and writes these records, and the
//! finalize step reads them to learn whether another attempt published.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// What a lease generation says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaseState {
    Held,
    Released,
    Published,
}

/// One generation of a lease, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub generation: u64,
    pub state: LeaseState,
    /// The run that wrote this generation.
    pub run: String,
    pub host: String,
    pub pid: u32,
    /// When the run took (or released, or published) the lease.
    pub since: DateTime<Utc>,
}

impl LeaseRecord {
    /// `run 1a2b3c4d5e6f7a8b (host h, pid 42)`
    pub(super) fn who(&self) -> String {
        format!("run {} (host {}, pid {})", self.run, self.host, self.pid)
    }

    pub(super) fn when(&self) -> String {
        self.since.to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}
