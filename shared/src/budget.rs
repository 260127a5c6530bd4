//! How much one ExportChunk call may read: the source bytes a worker reads, at the throughput
//! measured for its memory size, in a safe fraction of the Lambda timeout. The planner never
//! plans a chunk bigger than this (it splits the table, or refuses it at Plan), because a call
//! that reaches its timeout is not retried and would fail the export on every run.
//!
//! The figures are docs/performance.md's ("Sizing ExportChunk and `max_concurrency`"): a
//! worker needs about 1 CPU-second per 210 MB of the source's COPY stream, Lambda gives one vCPU at
//! 1,769 MB (proportionally less below), and one worker never goes faster than one backend
//! sends, about 150 MB/s.

/// CPU-bound speed of one worker: MB (10^6 bytes) of COPY stream per CPU-second.
pub const MB_PER_CPU_SECOND: u64 = 210;
/// The most one worker reads, whatever its CPU: one backend's COPY, MB per second.
pub const MAX_MB_PER_SECOND: u64 = 150;
/// Lambda's memory size (MB) at which a function has one full vCPU.
pub const MB_PER_VCPU: u64 = 1_769;
/// The share of the timeout a chunk is planned to take. Half, because the throughput was
/// measured on x86_64 cores, not on Lambda's (Graviton cores and real network paths are
/// slower), the catalog's size is an estimate (statistics lag the table; TOAST values are sent
/// decompressed), and the instance may serve the chunk more slowly than one backend can send
/// when several chunks share its CPU or network: a chunk planned at half the timeout still
/// finishes when all of that halves the speed.
pub const SAFETY_NUMERATOR: u64 = 1;
pub const SAFETY_DENOMINATOR: u64 = 2;

/// The template's ExportChunk memory size (MB), assumed when Plan is not told it.
pub const DEFAULT_MEMORY_MB: u32 = 3_008;
/// ExportChunk's timeout in the template (the Lambda maximum), assumed when Plan is not told it.
pub const DEFAULT_TIMEOUT_SECONDS: u32 = 900;

/// The per-chunk limit of a serverless export: the configured `max_chunk_size` when there is
/// one, else the budget of ExportChunk's memory size and timeout (the template's when unset).
pub fn chunk_limit(
    configured: Option<u64>,
    memory_mb: Option<u32>,
    timeout_seconds: Option<u32>,
) -> u64 {
    configured.unwrap_or_else(|| {
        chunk_budget_bytes(
            memory_mb.unwrap_or(DEFAULT_MEMORY_MB),
            timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS),
        )
    })
}

/// Expected throughput, in bytes per second, of one ExportChunk call given `memory_mb`: CPU
/// bound (210 MB per vCPU-second, vCPUs in proportion to memory: 120 MB/s at 1,024 MB), and
/// never more than the backend's 150 MB/s (reached at about 1,264 MB, so at 1,769 MB and
/// above).
pub fn throughput_bytes_per_second(memory_mb: u32) -> u64 {
    let cpu_bound = MB_PER_CPU_SECOND * 1_000_000 * u64::from(memory_mb) / MB_PER_VCPU;
    cpu_bound.min(MAX_MB_PER_SECOND * 1_000_000)
}

/// The most source bytes one ExportChunk call of `memory_mb` and `timeout_seconds` is
/// planned to read: its throughput for the safe fraction of its timeout.
pub fn chunk_budget_bytes(memory_mb: u32, timeout_seconds: u32) -> u64 {
    throughput_bytes_per_second(memory_mb) * u64::from(timeout_seconds) * SAFETY_NUMERATOR
        / SAFETY_DENOMINATOR
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_follows_the_readme_table() {
        // 0.58 vCPU x 210 MB/s: "about 120 MB/s".
        assert_eq!(throughput_bytes_per_second(1_024), 121_560_203);
        assert_eq!(throughput_bytes_per_second(1_769), 150_000_000);
        assert_eq!(throughput_bytes_per_second(3_008), 150_000_000);
        assert_eq!(throughput_bytes_per_second(10_240), 150_000_000);
        // The smallest Lambda: 128 MB is 0.07 vCPU.
        assert_eq!(throughput_bytes_per_second(128), 15_195_025);
        // Below the knee (0.71 vCPU, where 210 MB per CPU-second reaches the backend's
        // 150 MB/s) more memory is faster; above it, not.
        assert!(throughput_bytes_per_second(1_100) < throughput_bytes_per_second(1_200));
        assert_eq!(throughput_bytes_per_second(1_264), 150_000_000);
        assert!(throughput_bytes_per_second(1_263) < 150_000_000);
        assert_eq!(throughput_bytes_per_second(0), 0);
    }

    #[test]
    fn budget_is_half_the_timeout_at_that_throughput() {
        // The template's defaults: 3,008 MB, 900 s: 150 MB/s x 450 s.
        assert_eq!(chunk_budget_bytes(3_008, 900), 67_500_000_000);
        assert_eq!(chunk_budget_bytes(1_024, 900), 54_702_091_350);
        assert_eq!(chunk_budget_bytes(1_769, 60), 4_500_000_000);
        assert_eq!(chunk_budget_bytes(10_240, 0), 0);
        // No overflow at the largest sizes Lambda has.
        assert_eq!(
            chunk_budget_bytes(10_240, u32::MAX),
            322_122_547_125_000_000
        );
    }

    #[test]
    fn a_configured_limit_wins_over_the_functions_budget() {
        assert_eq!(chunk_limit(Some(1 << 20), Some(128), Some(900)), 1 << 20);
        assert_eq!(chunk_limit(None, Some(1_024), Some(900)), 54_702_091_350);
        assert_eq!(chunk_limit(None, None, None), 67_500_000_000);
        assert_eq!(chunk_limit(None, Some(1_769), None), 67_500_000_000);
        assert_eq!(chunk_limit(None, None, Some(300)), 22_500_000_000);
    }
}
