//! When a repeated message deserves a log line: the first time, whenever it changes, and then
//! at most once per interval with the count of those held back. A link that fails a thousand
//! times a second, or a peer port under a flood of bad handshakes, costs a line per interval,
//! not a gigabyte of log. Pure: the time comes in as an argument.

use std::time::{Duration, Instant};

/// One stream of repeated messages.
#[derive(Debug)]
pub struct RateLog {
    /// At most one line per this long for the same message.
    interval: Duration,
    /// The message last logged, and when.
    last: Option<(String, Instant)>,
    /// Messages held back since.
    held: u64,
}

impl RateLog {
    /// A stream that logs a repeated message at most once per `interval`.
    pub fn new(interval: Duration) -> Self {
        RateLog {
            interval,
            last: None,
            held: 0,
        }
    }

    /// `Some(n)` when `message` should be logged now, `n` being how many were held back since
    /// the last line; `None` to stay quiet (it is counted).
    pub fn admit(&mut self, message: &str, now: Instant) -> Option<u64> {
        let quiet = match &self.last {
            Some((m, at)) => m == message && now.saturating_duration_since(*at) < self.interval,
            None => false,
        };
        if quiet {
            self.held += 1;
            return None;
        }
        let held = std::mem::take(&mut self.held);
        self.last = Some((message.to_string(), now));
        Some(held)
    }

    /// Forgets the last message (after a success), so the next failure is logged at once.
    pub fn reset(&mut self) -> u64 {
        self.last = None;
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_changed_and_once_per_interval_with_the_count() {
        let t0 = Instant::now();
        let s = |ms| t0 + Duration::from_millis(ms);
        let mut r = RateLog::new(Duration::from_millis(100));
        let got: Vec<Option<u64>> = [
            ("a", 0),
            ("a", 10),
            ("a", 50),
            ("b", 60),
            ("b", 70),
            ("b", 159),
            ("b", 160),
            ("b", 170),
        ]
        .iter()
        .map(|(m, t)| r.admit(m, s(*t)))
        .collect();
        assert_eq!(
            got,
            [Some(0), None, None, Some(2), None, None, Some(2), None]
        );
        assert_eq!(r.reset(), 1);
        assert_eq!(r.admit("b", s(171)), Some(0));
    }
}
