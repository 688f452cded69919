//! The backoff rule shared by sinks and receivers: exponential with full jitter.

use std::time::Duration;

/// The delay before the next connect attempt after `failures` consecutive failures:
/// uniformly random in `[initial, min(max, initial·2^(failures-1))]`.
pub(crate) fn delay(
    initial: Duration,
    max: Duration,
    failures: u32,
    rng: &mut fastrand::Rng,
) -> Duration {
    let max = max.max(initial);
    let shift = failures.saturating_sub(1).min(30);
    let cap = initial.saturating_mul(1u32 << shift).min(max);
    let lo = u64::try_from(initial.as_nanos()).unwrap_or(u64::MAX);
    let hi = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX).max(lo);
    Duration::from_nanos(rng.u64(lo..=hi))
}
