//! The IAMAT location field: latitude then longitude, ISO 6709 style (`+34.068930-118.445127`).

use super::decimal::Decimal;

/// A position in decimal degrees, converted from a field that [`parse_location`] validated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Location {
    /// Latitude, within [-90, 90].
    pub lat: f64,
    /// Longitude, within [-180, 180].
    pub lng: f64,
}

/// Parses a location field: two adjacent numbers, each exactly one sign (`+` or `-`), one or
/// more digits, optionally a `.` and one or more digits. Latitude must be within [-90, 90] and
/// longitude within [-180, 180], checked exactly on the text at any length (`+90.000` is in,
/// `+90.0000001` is out). None if the field is anything else.
pub fn parse_location(field: &[u8]) -> Option<Location> {
    let (lat, rest) = coordinate(field, 90)?;
    let (lng, rest) = coordinate(rest, 180)?;
    rest.is_empty().then_some(Location { lat, lng })
}

/// True when `field` is a location [`parse_location`] accepts, checked on the text alone (no
/// conversion to floating point: what a server that only stores and forwards an AT line needs).
pub fn is_location(field: &[u8]) -> bool {
    let Some((_, rest)) = coordinate_text(field, 90) else {
        return false;
    };
    matches!(coordinate_text(rest, 180), Some((_, [])))
}

/// Reads one signed number at the start of `s` whose magnitude is at most `limit`, and returns
/// its text with the bytes after it.
fn coordinate_text(s: &[u8], limit: u64) -> Option<(&[u8], &[u8])> {
    let (&sign, unsigned) = s.split_first()?;
    if sign != b'+' && sign != b'-' {
        return None;
    }
    let (magnitude, rest) = Decimal::prefix(unsigned)?;
    if !magnitude.at_most(limit) {
        return None;
    }
    Some(s.split_at(s.len() - rest.len()))
}

/// Reads one signed number at the start of `s` whose magnitude is at most `limit`, and returns
/// its value with the bytes after it.
fn coordinate(s: &[u8], limit: u64) -> Option<(f64, &[u8])> {
    let (text, rest) = coordinate_text(s, limit)?;
    // The text is validated: a sign and plain decimal digits, which `f64::from_str` accepts.
    let value = std::str::from_utf8(text).ok()?.parse::<f64>().ok()?;
    Some((value, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(input: &str, expected: Option<(f64, f64)>) {
        assert_eq!(
            is_location(input.as_bytes()),
            expected.is_some(),
            "is_location({input:?})"
        );
        let expected = expected.map(|(lat, lng)| Location { lat, lng });
        assert_eq!(
            parse_location(input.as_bytes()),
            expected,
            "input {input:?}"
        );
    }

    #[test]
    fn valid() {
        check("+34.068930-118.445127", Some((34.068930, -118.445127)));
        check("-33.86+151.21", Some((-33.86, 151.21)));
        check("+12-118", Some((12.0, -118.0)));
        check("+90+180", Some((90.0, 180.0)));
        check("-90-180", Some((-90.0, -180.0)));
        check("+90.000-180.0", Some((90.0, -180.0)));
        check("-90.0000000000000000000000000+180.00", Some((-90.0, 180.0)));
        check("+0090+0180", Some((90.0, 180.0)));
        check("-0+0", Some((0.0, 0.0)));
        check("+0.0000001-0.5", Some((0.0000001, -0.5)));
        check(
            "+89.99999999999999999999-179.9999999",
            Some((90.0, -179.9999999)),
        );
        check(
            "+0000000000000000000000000000000000000000012.5-0000000000000000000000000000118",
            Some((12.5, -118.0)),
        );
    }

    #[test]
    fn malformed() {
        check("", None);
        check("+", None);
        check("+34", None);
        check("34-118", None); // missing sign
        check("+34118", None); // one number only
        check("34.068930-118.445127", None);
        check("+34.068930118.445127", None);
        check("++34-118", None); // double sign
        check("+-34-118", None);
        check("+34--118", None);
        check("+34-+118", None);
        check("+34.-118", None);
        check("+34.0", None);
        check("+34-", None);
        check("+34.5.6-118", None);
        check("+34-118.5.6", None);
        check("+34-118.", None);
        check("+.5-118", None);
        check("+34,5-118", None);
        check("+3.4e1-118", None); // exponents
        check("+1e1-118", None);
        check("+34-1E2", None);
        check("+nan-118", None);
        check("+34+nan", None);
        check("+inf-118", None);
        check("+34-inf", None);
        check("+NaN+Infinity", None);
        check("+0x1+0", None);
        check("+34 -118", None); // spaces
        check(" +34-118", None);
        check("+34-118 ", None);
        check("+34\t-118", None);
        check("+34-118x", None);
        check("+34-118+", None);
        check("+34-118+5", None);
        check("\u{2212}34-118", None); // MINUS SIGN
    }

    #[test]
    fn out_of_range() {
        check("+90.0000001+0", None);
        check("+90.1+0", None);
        check("+91+0", None);
        check("+100+0", None);
        check("-90.0000001+0", None);
        check("-91+0", None);
        check("+0+180.0000001", None);
        check("+0-180.0000000000000000000001", None);
        check("+0+181", None);
        check("+0-181", None);
        check("+0+1000", None);
        check("+99999999999999999999999999999999999999999+0", None);
        check(
            "+0-99999999999999999999999999999999999999999999999999",
            None,
        );
    }

    /// A valid coordinate text within `limit`: sign, optional leading zeros, digits, fraction.
    fn coord(limit: u32) -> impl Strategy<Value = String> {
        (any::<bool>(), "0{0,3}", 0..=limit, "(\\.[0-9]{1,12})?").prop_map(
            move |(neg, zeros, int, frac)| {
                let frac = if int == limit {
                    frac.replace(|c: char| c.is_ascii_digit(), "0")
                } else {
                    frac
                };
                format!("{}{zeros}{int}{frac}", if neg { '-' } else { '+' })
            },
        )
    }

    proptest! {
        #[test]
        fn accepts_generated(lat in coord(90), lng in coord(180)) {
            let loc = parse_location(format!("{lat}{lng}").as_bytes());
            let expected = Location { lat: lat.parse().unwrap(), lng: lng.parse().unwrap() };
            prop_assert_eq!(loc, Some(expected));
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..48)) {
            if let Some(loc) = parse_location(&bytes) {
                prop_assert!(loc.lat.abs() <= 90.0 && loc.lng.abs() <= 180.0);
            }
        }
    }
}
