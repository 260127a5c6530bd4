//! Every retry snapex makes, in one place: which layer retries what, how often and how far
//! apart. Each path retries a thing in one layer only, so retries never multiply:
//!
//! - **A chunk**, on the command line: [`RetryPolicy::cli`], in-process (`pipeline::chunks`).
//! - **A chunk**, serverless: one attempt per invocation ([`RetryPolicy::serverless`]); the
//!   state machine's `Retry` on the ExportChunk state (`statemachine/export.asl.json`) invokes
//!   it again. That definition is the serverless path's one retry policy for every step.
//! - **A create-if-absent write** (the lease, the manifest): [`CONDITIONAL_WRITE`], in
//!   `sink::Destination::put_new`; the store client does not retry a write that is not
//!   idempotent.
//! - **One request to the store**: object_store's own retry (its defaults: 10 retries, up to
//!   3 minutes) repeats one request inside an attempt; it is not a chunk retry.
//! - **One AWS API call** from a Lambda: the SDK's standard mode, [`AWS_CALL_ATTEMPTS`]
//!   attempts ([`GLUE_CALL_ATTEMPTS`] for the Glue registration, whose batch calls Glue
//!   throttles most), then the step fails `Retryable` and the state machine retries it.
//! - **A throttled Glue call** in the registration, the one place two layers retry one call:
//!   after the SDK's attempts, [`GLUE_THROTTLED`] tries it again (a throttled call did
//!   nothing, so a retry repeats nothing), so a registration of many tables slows down under
//!   throttling instead of failing and starting over.

/// Attempts per AWS SDK call from the serverless steps, the first included.
pub const AWS_CALL_ATTEMPTS: u32 = 4;

/// Attempts per Glue call in the registration (batch partition calls especially): the SDK's
/// standard mode backs off exponentially with jitter and spends from a retry budget, so a
/// throttled registration slows down rather than fails.
pub const GLUE_CALL_ATTEMPTS: u32 = 5;

/// A Glue call still throttled once the SDK's [`GLUE_CALL_ATTEMPTS`] are spent on it (the
/// registration, `snapex-glue`): 6 more tries, 1 s doubling to 16 s. The throttled call was
/// not performed, so trying it again repeats nothing; the registration paces its calls with a
/// token bucket first, so this is for the account's other Glue clients' bursts.
pub const GLUE_THROTTLED: RetryPolicy = RetryPolicy {
    retries: 6,
    min_delay: std::time::Duration::from_secs(1),
    max_delay: std::time::Duration::from_secs(16),
};

/// A create-if-absent write: 4 retries, 200 ms apart and doubling.
pub const CONDITIONAL_WRITE: RetryPolicy = RetryPolicy {
    retries: 4,
    min_delay: std::time::Duration::from_millis(200),
    max_delay: std::time::Duration::from_millis(1600),
};

/// How a chunk that fails with a retryable error (a dropped connection, a restarting server,
/// a store's 5xx once its own retries are spent) is tried again, and by which layer: each
/// path retries a chunk in one place only, so retries do not multiply.
///
/// - The command line ([`RetryPolicy::cli`]) reads the chunk again in-process: nothing else
///   would. `retries` more attempts, with exponential backoff and full jitter between them.
/// - The serverless ExportChunk ([`RetryPolicy::serverless`]) makes one attempt per invocation
///   and fails with `Retryable`; the state machine's `Retry` invokes it again, so every attempt
///   is in the execution history and its backoff is the definition's. Retrying in both layers
///   would read one chunk up to 6 times in each of 7 invocations: 42 reads.
///
/// Each attempt reads the chunk again from its start and writes its files to the same keys.
/// Requests to the store and to AWS are retried a few times inside one attempt (the store's and
/// the SDK's own retries): those repeat one request, not a chunk.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RetryPolicy {
    /// Attempts after the first (`--retries`).
    pub retries: u32,
    /// The first delay; each next one doubles, up to `max_delay`.
    pub min_delay: std::time::Duration,
    pub max_delay: std::time::Duration,
}

impl RetryPolicy {
    /// The command line's: 5 retries, from 1 s to 30 s apart.
    pub const fn cli() -> RetryPolicy {
        RetryPolicy {
            retries: 5,
            min_delay: std::time::Duration::from_secs(1),
            max_delay: std::time::Duration::from_secs(30),
        }
    }

    /// The serverless chunk step's: one attempt; the state machine retries the step.
    pub const fn serverless() -> RetryPolicy {
        RetryPolicy {
            retries: 0,
            ..RetryPolicy::cli()
        }
    }

    /// Reads of a chunk at most, the first included.
    pub const fn attempts(&self) -> u32 {
        self.retries + 1
    }

    /// The delays before each retry, jittered (at most `retries` of them).
    pub fn delays(&self) -> impl Iterator<Item = std::time::Duration> + use<> {
        use backon::BackoffBuilder;
        backon::ExponentialBuilder::new()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.retries as usize)
            .with_jitter()
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::RetryPolicy;

    #[test]
    fn the_command_line_retries_in_process_and_the_serverless_step_does_not() {
        assert_eq!(RetryPolicy::cli().attempts(), 6);
        assert_eq!(RetryPolicy::cli().delays().count(), 5);
        assert_eq!(RetryPolicy::serverless().attempts(), 1);
        assert_eq!(RetryPolicy::serverless().delays().count(), 0);
    }
}
