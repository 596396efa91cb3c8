//! Compact text for numbers, sizes, durations, clock times and sparklines.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Age-like duration: `45s`, `12m05s`, `3h04m`, `2d03h`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3_600 => format!("{}m{:02}s", s / 60, s % 60),
        3_600..86_400 => format!("{}h{:02}m", s / 3_600, (s % 3_600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3_600),
    }
}

/// Round-trip-like duration: `850µs`, `4.2ms`, `37ms`, `1.5s`.
pub fn rtt(d: Duration) -> String {
    let us = d.as_micros();
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 10_000 {
        format!("{:.1}ms", us as f64 / 1_000.0)
    } else if us < 1_000_000 {
        format!("{}ms", us / 1_000)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// An optional duration shown with [`rtt`], or `-`.
pub fn opt_rtt(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".to_owned(), rtt)
}

/// An incarnation in 16 hex digits, as the logs write it.
pub fn incarnation(i: u64) -> String {
    format!("{i:016x}")
}

/// A count: `987`, `9999`, `12k`, `456k`, `7.8M`.
pub fn count(n: u64) -> String {
    scaled(n, 1_000, &["", "k", "M", "G", "T"])
}

/// A byte size: `512B`, `1.2K`, `34M` (powers of 1024).
pub fn bytes(n: u64) -> String {
    scaled(n, 1_024, &["B", "K", "M", "G", "T"])
}

fn scaled(n: u64, base: u64, units: &[&str]) -> String {
    let mut value = n as f64;
    let mut unit = 0;
    let limit = if base == 1_000 { 10_000.0 } else { 1_024.0 };
    if value < limit {
        return format!("{n}{}", units[0]);
    }
    while value >= base as f64 && unit + 1 < units.len() {
        value /= base as f64;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.1}{}", units[unit])
    } else {
        format!("{value:.0}{}", units[unit])
    }
}

/// Wall-clock time of day in UTC: `HH:MM:SS.mmm`.
pub fn clock(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let day = since.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day / 3_600,
        (day % 3_600) / 60,
        day % 60,
        since.subsec_millis()
    )
}

/// Bars from empty to full, for text sparklines.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A one-line sparkline of the newest `width` values, right-aligned, scaled to their maximum.
///
/// A zero shows as the lowest bar, so a quiet server still draws a baseline;
/// slots without history are blank.
pub fn sparkline<'a>(values: impl DoubleEndedIterator<Item = &'a u64>, width: usize) -> String {
    let mut newest: Vec<u64> = values.rev().take(width).copied().collect();
    newest.reverse();
    let max = newest.iter().copied().max().unwrap_or(0);
    let mut out = " ".repeat(width - newest.len());
    for v in newest {
        let level = if max == 0 {
            0
        } else {
            ((v * 7).div_ceil(max)) as usize
        };
        out.push(BARS[level.min(7)]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_compact() {
        assert_eq!(duration(Duration::from_secs(45)), "45s");
        assert_eq!(duration(Duration::from_secs(725)), "12m05s");
        assert_eq!(
            duration(Duration::from_secs(3 * 3600 + 4 * 60 + 59)),
            "3h04m"
        );
        assert_eq!(
            duration(Duration::from_secs(2 * 86_400 + 3 * 3600)),
            "2d03h"
        );
    }

    #[test]
    fn rtts_keep_precision() {
        assert_eq!(rtt(Duration::from_micros(850)), "850µs");
        assert_eq!(rtt(Duration::from_micros(4_240)), "4.2ms");
        assert_eq!(rtt(Duration::from_millis(37)), "37ms");
        assert_eq!(rtt(Duration::from_millis(1_500)), "1.5s");
        assert_eq!(opt_rtt(None), "-");
    }

    #[test]
    fn counts_and_bytes_scale() {
        assert_eq!(count(987), "987");
        assert_eq!(count(9_999), "9999");
        assert_eq!(count(12_345), "12k");
        assert_eq!(count(7_800_000), "7.8M");
        assert_eq!(bytes(512), "512B");
        assert_eq!(bytes(1_229), "1.2K");
        assert_eq!(bytes(34 * 1024 * 1024), "34M");
    }

    #[test]
    fn clock_is_utc_time_of_day() {
        let at = UNIX_EPOCH + Duration::from_millis(1_520_023_934_918);
        assert_eq!(clock(at), "20:52:14.918");
    }

    #[test]
    fn sparkline_scales_to_max_and_pads_left() {
        assert_eq!(sparkline([0, 7, 14].iter(), 5), "  ▁▅█");
        assert_eq!(sparkline([1, 2, 3, 4].iter(), 2), "▇█");
        assert_eq!(sparkline([0, 0].iter(), 3), " ▁▁");
    }
}
