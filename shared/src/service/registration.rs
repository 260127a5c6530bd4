//! How Finalize spreads the Glue registration of a published export over the RegisterTables
//! Map: how many batches run at once, how fast each calls Glue, and how much work one batch
//! takes on.
//!
//! One Lambda call cannot register a large export: a registration's Glue calls are paced
//! (Glue throttles per account and Region), so at a share of 25 calls a second a million
//! tables of two calls each take about 22 hours, far past a Lambda's 15 minutes. Each batch
//! is therefore sized to finish well within its call, and the batches run a few at a time,
//! their rates adding up to the registration's share of the account's rate.

/// Batches registered at once at most.
pub const REGISTER_CONCURRENCY: usize = 5;

/// The RegisterTables function's timeout in seconds (`template.yaml`).
pub const REGISTER_TIMEOUT_SECONDS: u64 = 900;

/// How a registration is spread (see the module's note).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spread {
    /// The Map's concurrency.
    pub concurrency: usize,
    /// Glue calls a second for each batch.
    pub requests_per_second: u32,
    /// The Glue calls one batch may plan for.
    pub calls_per_batch: usize,
}

/// Spreads a registration allowed `requests_per_second` Glue calls a second in all over
/// batches run by a function with `timeout_seconds`: at most [`REGISTER_CONCURRENCY`] at
/// once (fewer when the rate is too low to give each at least one call a second), each
/// planned for half its time at its rate, the other half left for throttled calls' backoff
/// and the reads of its files.
pub fn spread(requests_per_second: u32, timeout_seconds: u64) -> Spread {
    let total = requests_per_second.max(1);
    let concurrency = REGISTER_CONCURRENCY.min(total as usize).max(1);
    let each = (total / concurrency as u32).max(1);
    let calls_per_batch = (u64::from(each) * timeout_seconds / 2).max(1) as usize;
    Spread {
        concurrency,
        requests_per_second: each,
        calls_per_batch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_batches_rates_add_up_to_the_registrations_and_each_fits_half_its_time() {
        let s = spread(25, REGISTER_TIMEOUT_SECONDS);
        assert_eq!(s.concurrency, 5);
        assert_eq!(s.requests_per_second, 5);
        // 5 calls a second for 450 s.
        assert_eq!(s.calls_per_batch, 2_250);
        assert!(s.concurrency as u32 * s.requests_per_second <= 25);
    }

    #[test]
    fn a_low_rate_runs_fewer_batches_at_once_never_none() {
        let s = spread(2, 900);
        assert_eq!((s.concurrency, s.requests_per_second), (2, 1));
        let s = spread(0, 900);
        assert_eq!((s.concurrency, s.requests_per_second), (1, 1));
        assert_eq!(s.calls_per_batch, 450);
        // A rate that does not divide evenly rounds each batch's share down: never above it.
        let s = spread(27, 900);
        assert_eq!((s.concurrency, s.requests_per_second), (5, 5));
    }
}
