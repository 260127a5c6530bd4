//! How fast the registration calls Glue: a token bucket every Glue call of one registration
//! takes a token from, shared by all the tables converged at once, and the backoff after a
//! call Glue throttled anyway.
//!
//! Glue throttles API requests per account and per Region ("AWS Glue API requests are
//! throttled for AWS accounts on a per-Region basis", AWS Knowledge Center,
//! glue-throttling-rate-exceeded; the quotas are on the "AWS Glue endpoints and quotas" page,
//! docs.aws.amazon.com/general/latest/gr/glue.html). Neither page gives a per-second figure
//! for the Data Catalog calls, and the account's rate is shared with every other Glue client
//! in it (crawlers, Athena's reads, other jobs), so the default here is a conservative share
//! of it, [`DEFAULT_REQUESTS_PER_SECOND`], and the limit is configurable.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Glue calls per second of one registration by default (see the module's note: no figure
/// is documented, so this is a share of an account's rate that leaves room for its other
/// Glue clients). At this rate a registration makes 90,000 calls in an hour: about 30,000
/// tables of a few calls each.
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 25;

/// Retries of a throttled call after the SDK's own attempts are spent on it
/// ([`snapex::retry::GLUE_THROTTLED`]). With the delays of [`throttled_backoff`] these add
/// less than [`THROTTLED_WAIT_BOUND`] of waiting to one call, on top of the SDK's attempts;
/// then the call fails as `Retryable`, and the registration (or the Lambda's step) is run
/// again, which redoes only what is still missing.
pub const THROTTLED_RETRIES: u32 = snapex::retry::GLUE_THROTTLED.retries;

/// The most [`throttled_backoff`]'s delays add up to: 1, 2, 4, 8, 16 and 16 s, each with
/// up to as much again of jitter, below 2 × 47 s. Well inside a Lambda's 900 s.
pub const THROTTLED_WAIT_BOUND: Duration = Duration::from_secs(94);

/// The delays between the retries of a throttled call: 1 s, doubling, up to 16 s, each with
/// a random part added (up to as much again) so concurrent tables do not retry in step.
pub fn throttled_backoff() -> impl Iterator<Item = Duration> {
    snapex::retry::GLUE_THROTTLED.delays()
}

/// A token bucket: `per_second` tokens a second, up to `per_second` stored (so a burst after
/// a pause is at most one second's worth). A caller that finds no token reserves the next one
/// and sleeps until it is due: callers are served in the order they asked, and the rate holds
/// however many wait.
#[derive(Debug)]
pub struct RequestRate {
    per_second: f64,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// Below zero when tokens are reserved by callers still sleeping.
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// Takes a token at `now` (earning what the time since the last take earned, up to one
    /// second's worth) and returns how long its taker waits for it.
    fn take(&mut self, now: Instant, per_second: f64) -> Duration {
        let earned = now.saturating_duration_since(self.at).as_secs_f64() * per_second;
        self.tokens = (self.tokens + earned).min(per_second);
        self.at = self.at.max(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / per_second)
        }
    }
}

impl RequestRate {
    /// `per_second` calls a second (at least one).
    pub fn new(per_second: u32) -> RequestRate {
        let per_second = f64::from(per_second.max(1));
        RequestRate {
            per_second,
            bucket: Mutex::new(Bucket {
                tokens: per_second,
                at: Instant::now(),
            }),
        }
    }

    /// Calls a second.
    pub fn per_second(&self) -> f64 {
        self.per_second
    }

    /// Waits until a call may be made, and takes its token.
    pub async fn acquire(&self) {
        let wait = self
            .bucket
            .lock()
            // A panic while the lock was held left the bucket's numbers usable.
            .unwrap_or_else(|e| e.into_inner())
            .take(Instant::now(), self.per_second);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_beyond_the_burst_are_spaced_at_the_rate() {
        let start = Instant::now();
        let mut b = Bucket {
            tokens: 10.0,
            at: start,
        };
        // 40 callers at once: the first second's worth now, then one every 100 ms.
        let waits: Vec<Duration> = (0..40).map(|_| b.take(start, 10.0)).collect();
        assert!(waits[..10].iter().all(Duration::is_zero));
        for (i, w) in waits[10..].iter().enumerate() {
            let due = (i + 1) as f64 * 0.1;
            assert!((w.as_secs_f64() - due).abs() < 1e-9, "{i}: {w:?}");
        }
        // Once the reservations are served, a pause earns tokens again, up to one second's.
        let later = start + Duration::from_secs(3);
        assert_eq!(
            b.take(later + Duration::from_secs(10), 10.0),
            Duration::ZERO
        );
        let waits: Vec<Duration> = (0..10)
            .map(|_| b.take(later + Duration::from_secs(10), 10.0))
            .collect();
        assert_eq!(waits.iter().filter(|w| w.is_zero()).count(), 9);
    }

    #[test]
    fn the_throttled_backoff_is_bounded() {
        let delays: Vec<Duration> = throttled_backoff().collect();
        assert_eq!(delays.len(), THROTTLED_RETRIES as usize);
        let total: Duration = delays.iter().sum();
        assert!(total < THROTTLED_WAIT_BOUND, "{total:?}");
        assert!(total >= Duration::from_secs(47), "{total:?}");
    }
}
