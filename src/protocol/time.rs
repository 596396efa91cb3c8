//! Exact time: timestamps in integer nanoseconds, the client's time field, and the signed
//! difference printed in AT lines. No float is ever involved.

use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use super::decimal::Decimal;

/// Nanoseconds in one second.
const NANOS_PER_SEC: i128 = 1_000_000_000;

/// The most significant integer digits (after leading zeros) that [`parse_time`] accepts:
/// 29 digits of seconds are below 10^29 s, i.e. below 10^38 ns, which fits an `i128`
/// (max about 1.7 x 10^38). Longer times are rejected as malformed.
pub const MAX_TIME_INT_DIGITS: usize = 29;

/// The longest time difference [`format_diff`] prints for times [`parse_time`] accepts: a
/// sign, [`MAX_TIME_INT_DIGITS`] digits of whole seconds (the difference of two non-negative
/// times below 10^29 s is below 10^29 s in magnitude), a dot and nine digits.
pub const MAX_DIFF_LEN: usize = 1 + MAX_TIME_INT_DIGITS + 1 + 9;

/// An instant as nanoseconds since the Unix epoch (negative before it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i128);

impl Timestamp {
    /// The exact nanoseconds of a system time; times before the epoch give negative values.
    pub fn from_system_time(t: SystemTime) -> Timestamp {
        // `as_nanos` of any Duration is below 2^64 * 10^9 < 2^124, so it fits; saturate anyway.
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp(i128::try_from(d.as_nanos()).unwrap_or(i128::MAX)),
            Err(e) => Timestamp(0i128.saturating_sub_unsigned(e.duration().as_nanos())),
        }
    }
}

/// Parses a client's time field: digits, optionally `.` and one to nine digits (no sign, no
/// exponent, no empty integer part, no trailing dot). Leading zeros are allowed. None if
/// malformed or if the integer part has more than [`MAX_TIME_INT_DIGITS`] significant digits.
pub fn parse_time(field: &[u8]) -> Option<Timestamp> {
    let d = Decimal::whole(field)?;
    let int = d.significant_int();
    if d.frac.len() > 9 || int.len() > MAX_TIME_INT_DIGITS {
        return None;
    }
    let mut frac: u64 = 0;
    for i in 0..9 {
        let digit = d.frac.get(i).map_or(0, |&b| b - b'0');
        frac = frac * 10 + u64::from(digit);
    }
    // Up to 29 digits of seconds times 10^9 fits an i128 (see MAX_TIME_INT_DIGITS); the
    // digits are summed in a u64 while they fit (19 digits), which every real time does.
    let secs = match digits_u64(int) {
        Some(secs) => i128::from(secs),
        None => int.iter().try_fold(0i128, |acc, &b| {
            acc.checked_mul(10)?.checked_add(i128::from(b - b'0'))
        })?,
    };
    secs.checked_mul(NANOS_PER_SEC)?
        .checked_add(i128::from(frac))
        .map(Timestamp)
}

/// The value of at most 19 ASCII digits (validated by the caller), which always fits a `u64`;
/// None for more digits.
fn digits_u64(digits: &[u8]) -> Option<u64> {
    (digits.len() <= 19).then(|| {
        digits
            .iter()
            .fold(0u64, |acc, &b| acc * 10 + u64::from(b - b'0'))
    })
}

/// Appends a time difference as the AT line prints it: `+` (zero and positive) or `-`, the
/// whole seconds, a dot and exactly nine digits, e.g. `+0.263873386`, `-0.000000001`.
pub fn format_diff(nanos: i128, out: &mut Vec<u8>) {
    let sign = if nanos < 0 { '-' } else { '+' };
    let magnitude = nanos.unsigned_abs(); // no overflow, even for i128::MIN
    let per_sec = NANOS_PER_SEC.unsigned_abs();
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        "{sign}{}.{:09}",
        magnitude / per_sec,
        magnitude % per_sec
    );
}

/// Parses a time difference as [`format_diff`] writes it: a sign, one or more digits, a dot and
/// exactly nine digits. Leading zeros and `-0.000000000` are accepted. None if malformed or
/// outside `i128`.
pub fn parse_diff(field: &[u8]) -> Option<i128> {
    let (&sign, rest) = field.split_first()?;
    let negative = match sign {
        b'+' => false,
        b'-' => true,
        _ => return None,
    };
    let d = Decimal::whole(rest)?;
    if d.frac.len() != 9 {
        return None;
    }
    let magnitude: u128 = match (digits_u64(d.int), digits_u64(d.frac)) {
        // Both parts fit a u64 (every real difference): one multiplication.
        (Some(int), Some(frac)) => u128::from(int)
            .checked_mul(NANOS_PER_SEC.unsigned_abs())?
            .checked_add(u128::from(frac))?,
        _ => d.int.iter().chain(d.frac).try_fold(0u128, |acc, &b| {
            acc.checked_mul(10)?.checked_add(u128::from(b - b'0'))
        })?,
    };
    if negative {
        0i128.checked_sub_unsigned(magnitude)
    } else {
        i128::try_from(magnitude).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    fn check_time(input: &str, expected: Option<i128>) {
        assert_eq!(
            parse_time(input.as_bytes()),
            expected.map(Timestamp),
            "input {input:?}"
        );
    }

    #[test]
    fn parses_times() {
        check_time("0", Some(0));
        check_time("1621464827.959498503", Some(1_621_464_827_959_498_503));
        check_time("1621464827", Some(1_621_464_827_000_000_000));
        check_time("1.1", Some(1_100_000_000));
        check_time("1.12", Some(1_120_000_000));
        check_time("1.123", Some(1_123_000_000));
        check_time("1.1234", Some(1_123_400_000));
        check_time("1.12345", Some(1_123_450_000));
        check_time("1.123456", Some(1_123_456_000));
        check_time("1.1234567", Some(1_123_456_700));
        check_time("1.12345678", Some(1_123_456_780));
        check_time("1.123456789", Some(1_123_456_789));
        check_time("0.000000001", Some(1));
        check_time("0.0", Some(0));
        check_time("0001.5", Some(1_500_000_000));
        check_time(
            "00000000000000000000000000000000000000000001",
            Some(NANOS_PER_SEC),
        );
        check_time(
            "99999999999999999999999999999.999999999",
            Some(99_999_999_999_999_999_999_999_999_999_999_999_999),
        );
        // 19 digits of seconds are summed in a u64, 20 and more in an i128: the same values.
        check_time(
            "9999999999999999999.5",
            Some(9_999_999_999_999_999_999_500_000_000),
        );
        check_time(
            "10000000000000000000",
            Some(10_000_000_000_000_000_000_000_000_000),
        );
        check_time("100000000000000000000000000000", None); // 30 digits
        check_time("1.1234567890", None);
        check_time("1.", None);
        check_time(".5", None);
        check_time(".", None);
        check_time("", None);
        check_time("+1", None);
        check_time("-1", None);
        check_time("1e9", None);
        check_time("1E9", None);
        check_time("1.5e3", None);
        check_time("abc", None);
        check_time("nan", None);
        check_time("inf", None);
        check_time("12a", None);
        check_time("1.5.6", None);
        check_time("1,5", None);
        check_time("1.-5", None);
        check_time("0x10", None);
        check_time(" 1", None);
        check_time("1 ", None);
        check_time("\u{0661}", None); // ARABIC-INDIC DIGIT ONE
    }

    fn check_diff(nanos: i128, expected: &str) {
        let mut out = b"x".to_vec();
        format_diff(nanos, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), format!("x{expected}"));
        assert_eq!(parse_diff(expected.as_bytes()), Some(nanos), "{expected}");
    }

    #[test]
    fn formats_diffs() {
        check_diff(0, "+0.000000000");
        check_diff(263_873_386, "+0.263873386");
        check_diff(-8_204_308_575_843_603_617, "-8204308575.843603617");
        check_diff(-1, "-0.000000001");
        check_diff(1, "+0.000000001");
        check_diff(999_999_999, "+0.999999999");
        check_diff(1_000_000_000, "+1.000000000");
        check_diff(-1_000_000_000, "-1.000000000");
        check_diff(-1_000_000_001, "-1.000000001");
        check_diff(12_000_000_050, "+12.000000050");
        // 19 digits of seconds are summed in a u64, 20 and more in a u128: the same values.
        check_diff(
            -9_999_999_999_999_999_999_000_000_005,
            "-9999999999999999999.000000005",
        );
        check_diff(
            10_000_000_000_000_000_000_000_000_000,
            "+10000000000000000000.000000000",
        );
        check_diff(i128::MAX, "+170141183460469231731687303715.884105727");
        check_diff(i128::MIN, "-170141183460469231731687303715.884105728");
    }

    fn check_parse_diff(input: &str, expected: Option<i128>) {
        assert_eq!(parse_diff(input.as_bytes()), expected, "input {input:?}");
    }

    #[test]
    fn parses_diffs() {
        check_parse_diff("-0.000000000", Some(0));
        check_parse_diff("+000.000000002", Some(2));
        check_parse_diff("0.000000000", None);
        check_parse_diff("+0.26387338", None);
        check_parse_diff("+0.2638733860", None);
        check_parse_diff("+0", None);
        check_parse_diff("+0.", None);
        check_parse_diff("+.263873386", None);
        check_parse_diff("++0.263873386", None);
        check_parse_diff("+-0.263873386", None);
        check_parse_diff("+1e3.000000000", None);
        check_parse_diff("", None);
        check_parse_diff("+", None);
        check_parse_diff("+170141183460469231731687303715.884105728", None);
        check_parse_diff("-170141183460469231731687303715.884105729", None);
        check_parse_diff("+99999999999999999999999999999999999999999.000000000", None);
    }

    #[test]
    fn system_time() {
        let check = |t: SystemTime, expected: i128| {
            assert_eq!(Timestamp::from_system_time(t), Timestamp(expected));
        };
        check(UNIX_EPOCH, 0);
        check(
            UNIX_EPOCH + Duration::new(1_621_464_827, 959_498_503),
            1_621_464_827_959_498_503,
        );
        check(UNIX_EPOCH - Duration::new(1, 5), -1_000_000_005);
        check(UNIX_EPOCH - Duration::new(0, 1), -1);
    }

    proptest! {
        #[test]
        fn diff_round_trips(nanos in any::<i128>()) {
            let mut out = Vec::new();
            format_diff(nanos, &mut out);
            prop_assert_eq!(parse_diff(&out), Some(nanos));
            let text = String::from_utf8(out).unwrap();
            let (whole, frac) = text[1..].split_once('.').unwrap();
            prop_assert_eq!(frac.len(), 9);
            prop_assert!(whole == "0" || !whole.starts_with('0'), "{}", text);
        }

        #[test]
        fn time_matches_components(secs in any::<u64>(), frac in "[0-9]{1,9}") {
            let text = format!("{secs}.{frac}");
            let scale = 10i128.pow(9 - frac.len() as u32);
            let expected = i128::from(secs) * NANOS_PER_SEC + frac.parse::<i128>().unwrap() * scale;
            prop_assert_eq!(parse_time(text.as_bytes()), Some(Timestamp(expected)));
        }

        #[test]
        fn time_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..48)) {
            let _ = parse_time(&bytes);
            let _ = parse_diff(&bytes);
        }
    }
}
