//! Unsigned decimal numbers as text (`digits` or `digits.digits`), compared exactly on the text.

/// An unsigned decimal as written: one or more integer digits, then optionally a dot and one
/// or more fraction digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Decimal<'a> {
    /// The integer digits, never empty; leading zeros are kept.
    pub(super) int: &'a [u8],
    /// The fraction digits after the dot; empty when there was no dot.
    pub(super) frac: &'a [u8],
}

/// How many ASCII digits `s` starts with.
fn digit_run(s: &[u8]) -> usize {
    s.iter().take_while(|b| b.is_ascii_digit()).count()
}

/// The value of a run of ASCII digits, or None if it does not fit a `u64` (or is not digits).
pub(super) fn digits_value(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

impl<'a> Decimal<'a> {
    /// Reads the longest decimal at the start of `s` and returns it with the bytes after it.
    /// None if `s` does not start with a digit or a dot follows the digits without a digit
    /// after it (`"5."`, `"5.x"`).
    pub(super) fn prefix(s: &'a [u8]) -> Option<(Self, &'a [u8])> {
        let (int, rest) = s.split_at(digit_run(s));
        if int.is_empty() {
            return None;
        }
        match rest.split_first() {
            Some((b'.', after)) => {
                let (frac, rest) = after.split_at(digit_run(after));
                if frac.is_empty() {
                    return None;
                }
                Some((Decimal { int, frac }, rest))
            }
            _ => Some((Decimal { int, frac: &[] }, rest)),
        }
    }

    /// Reads a decimal that must make up all of `s`.
    pub(super) fn whole(s: &'a [u8]) -> Option<Self> {
        match Self::prefix(s)? {
            (d, []) => Some(d),
            _ => None,
        }
    }

    /// The integer digits without leading zeros (empty for zero).
    pub(super) fn significant_int(&self) -> &'a [u8] {
        let mut int = self.int;
        while let [b'0', tail @ ..] = int {
            int = tail;
        }
        int
    }

    /// True if every digit is zero.
    pub(super) fn is_zero(&self) -> bool {
        self.int.iter().chain(self.frac).all(|&b| b == b'0')
    }

    /// True if the value is at most `limit`, decided exactly on the digits at any length.
    pub(super) fn at_most(&self, limit: u64) -> bool {
        match digits_value(self.significant_int()) {
            Some(v) if v < limit => true,
            Some(v) if v == limit => self.frac.iter().all(|&b| b == b'0'),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders `prefix` as "int.frac|rest", and `at_most(50)` after it.
    fn check(input: &str, expected: &str) {
        let got = match Decimal::prefix(input.as_bytes()) {
            None => "none".to_string(),
            Some((d, rest)) => format!(
                "{}.{}|{} {}",
                String::from_utf8_lossy(d.int),
                String::from_utf8_lossy(d.frac),
                String::from_utf8_lossy(rest),
                if d.at_most(50) { "<=50" } else { ">50" },
            ),
        };
        assert_eq!(got, expected, "input {input:?}");
    }

    #[test]
    fn prefixes() {
        check("", "none");
        check(".5", "none");
        check("5.", "none");
        check("5.x", "none");
        check("+5", "none");
        check("5", "5.| <=50");
        check("5x", "5.|x <=50");
        check("05.25-1", "05.25|-1 <=50");
        check("50", "50.| <=50");
        check("50.000", "50.000| <=50");
        check("0050.0", "0050.0| <=50");
        check("50.0001", "50.0001| >50");
        check("51", "51.| >50");
        check("49.999999999999999999999", "49.999999999999999999999| <=50");
        check(
            "99999999999999999999999999",
            "99999999999999999999999999.| >50",
        );
        check("5.5.5", "5.5|.5 <=50");
    }

    #[test]
    fn values() {
        assert_eq!(digits_value(b""), Some(0));
        assert_eq!(digits_value(b"0020"), Some(20));
        assert_eq!(digits_value(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(digits_value(b"18446744073709551616"), None);
        assert_eq!(digits_value(b"1x"), None);
    }
}
