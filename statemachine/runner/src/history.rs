//! What an execution did, in order, so tests can check transitions, attempts and delays.

use serde_json::Value;

/// One event. `scope` is empty for the top-level states and names the Map iteration an event
/// belongs to otherwise: `ExportChunks[3]`, or `Outer[1]/Inner[0]` for nested Maps.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEvent {
    pub scope: String,
    pub event: Event,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    ExecutionStarted {
        input: Value,
    },
    ExecutionSucceeded {
        output: Value,
    },
    ExecutionFailed {
        error: String,
        cause: String,
    },
    StateEntered {
        state: String,
        input: Value,
    },
    StateExited {
        state: String,
        output: Value,
    },
    /// The state failed and nothing caught the error: its state machine fails with it.
    StateFailed {
        state: String,
        error: String,
        cause: String,
    },
    /// `attempt` counts from 1 across all of the state's retries.
    TaskScheduled {
        state: String,
        resource: String,
        input: Value,
        attempt: u64,
    },
    TaskSucceeded {
        state: String,
        resource: String,
        output: Value,
        attempt: u64,
    },
    TaskFailed {
        state: String,
        resource: String,
        error: String,
        cause: String,
        attempt: u64,
    },
    /// Retrier number `retrier` (its index in `Retry`) matched `error` and schedules its
    /// `retry`-th retry (from 1): `computed_seconds` is IntervalSeconds × BackoffRate^(retry-1)
    /// capped at MaxDelaySeconds, `delay_seconds` the delay after jitter (the one slept, times
    /// `RunOptions::delay_scale`).
    RetryScheduled {
        state: String,
        error: String,
        retrier: usize,
        retry: u64,
        computed_seconds: f64,
        delay_seconds: f64,
    },
    /// Catcher number `catcher` matched `error`; the execution goes on at `next`.
    Caught {
        state: String,
        error: String,
        catcher: usize,
        next: String,
    },
    ChoiceMade {
        state: String,
        next: String,
    },
    WaitStarted {
        state: String,
        seconds: f64,
    },
    MapStarted {
        state: String,
        items: usize,
        max_concurrency: usize,
    },
    MapIterationStarted {
        state: String,
        index: usize,
    },
    MapIterationSucceeded {
        state: String,
        index: usize,
        output: Value,
    },
    MapIterationFailed {
        state: String,
        index: usize,
        error: String,
        cause: String,
    },
    MapSucceeded {
        state: String,
    },
    MapFailed {
        state: String,
        error: String,
        cause: String,
    },
}
