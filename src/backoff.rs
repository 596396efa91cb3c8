//! The dialer's back-off: exponential, capped, with jitter. Pure.

use std::time::Duration;

/// The wait before retry number `failures` (1 = after the first failed attempt).
///
/// `initial_ms * 2^(failures-1)`, capped at `max_ms`, then scaled by a jitter factor in
/// [0.5, 1.0) taken from `rand01` (a uniform number in [0, 1)), so servers that lost the same
/// neighbour do not retry in lock-step.
pub fn backoff(failures: u32, initial_ms: u64, max_ms: u64, rand01: f64) -> Duration {
    let exp = failures.saturating_sub(1).min(32);
    let base = initial_ms.saturating_mul(1u64 << exp).min(max_ms);
    let jitter = 0.5 + 0.5 * rand01.clamp(0.0, 1.0);
    Duration::from_millis((base as f64 * jitter) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(failures: u32, rand01: f64, expected_ms: u64) {
        assert_eq!(
            backoff(failures, 50, 1000, rand01),
            Duration::from_millis(expected_ms),
            "{failures} {rand01}"
        );
    }

    #[test]
    fn doubles_up_to_the_cap_with_jitter() {
        check(1, 1.0, 50);
        check(2, 1.0, 100);
        check(3, 1.0, 200);
        check(5, 1.0, 800);
        check(6, 1.0, 1000);
        check(u32::MAX, 1.0, 1000);
        check(1, 0.0, 25);
        check(6, 0.0, 500);
        check(6, 0.5, 750);
    }
}
