//! The `AT` line: the reply to IAMAT, stored and repeated byte for byte by WHATSAT.
//!
//! `AT <server> <diff> <client> <location> <time>`, fields separated by one space.

use super::lex::is_ws;
use super::location::{is_location, parse_location, Location};
use super::time::{format_diff, parse_diff, parse_time, Timestamp};

/// Appends `AT <server> <diff> <client> <location> <time>` to `out`, with no newline. The diff
/// is printed by [`format_diff`]; the last three fields are copied byte for byte.
pub fn format_at(
    out: &mut Vec<u8>,
    server: &str,
    diff_nanos: i128,
    client: &[u8],
    location_raw: &[u8],
    time_raw: &[u8],
) {
    out.extend_from_slice(b"AT ");
    out.extend_from_slice(server.as_bytes());
    out.push(b' ');
    format_diff(diff_nanos, out);
    for field in [client, location_raw, time_raw] {
        out.push(b' ');
        out.extend_from_slice(field);
    }
}

/// The longest AT line a server named with `name_len` bytes can produce from an IAMAT line of
/// at most `max_line` bytes (terminator excluded).
///
/// The IAMAT's three fields take at most `max_line - 8` bytes (`IAMAT` and three separators);
/// the AT line adds `AT`, the server name, the time difference and five single spaces.
pub fn max_at_len(max_line: usize, name_len: usize) -> usize {
    let fields = max_line.saturating_sub(b"IAMAT".len() + 3);
    (b"AT".len() + 5)
        .saturating_add(name_len)
        .saturating_add(super::time::MAX_DIFF_LEN)
        .saturating_add(fields)
}

/// A validated AT line, borrowing its fields from the line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AtLine<'a> {
    /// The name of the server that received the IAMAT.
    pub server: &'a [u8],
    /// The signed time difference as printed (see [`parse_diff`] for its value).
    pub diff_raw: &'a [u8],
    /// The client ID.
    pub client: &'a [u8],
    /// The location field as the client sent it.
    pub location_raw: &'a [u8],
    /// The validated location.
    pub location: Location,
    /// The time field as the client sent it.
    pub time_raw: &'a [u8],
    /// The client's send time.
    pub time: Timestamp,
}

/// What a server that stores and forwards an AT line needs of it: the client and the client's
/// time, after the whole line was validated as [`parse_at`] does (but without converting the
/// location to floating point).
pub fn at_key(line: &[u8]) -> Option<(&[u8], super::Timestamp)> {
    let [_, _, _, client, location_raw, time_raw] = at_fields(line)?;
    is_location(location_raw).then_some(())?;
    Some((client, parse_time(time_raw)?))
}

/// The six fields of an AT line: single spaces, none empty, no other white space, `AT` first,
/// the difference as [`format_diff`] prints it.
fn at_fields(line: &[u8]) -> Option<[&[u8]; 6]> {
    // White space other than a space, anywhere: one pass with no early exit, which the
    // compiler vectorises (every line a neighbour sends comes through here).
    if line
        .iter()
        .fold(false, |bad, &b| bad | (is_ws(b) & (b != b' ')))
    {
        return None;
    }
    let mut f: [&[u8]; 6] = [&[]; 6];
    let mut rest = line;
    for (i, slot) in f.iter_mut().enumerate() {
        let space = memchr::memchr(b' ', rest);
        let (field, after) = match space {
            Some(at) if i < 5 => (&rest[..at], &rest[at + 1..]),
            None if i == 5 => (rest, &b""[..]),
            // Too few fields, or a space after the sixth.
            _ => return None,
        };
        if field.is_empty() {
            return None;
        }
        *slot = field;
        rest = after;
    }
    if f[0] != b"AT" {
        return None;
    }
    parse_diff(f[2])?;
    Some(f)
}

/// Parses and validates an AT line (without terminator), as one arrives from another server:
/// exactly six non-empty fields separated by single spaces, no other white space, the first
/// `AT`, the diff as [`format_diff`] prints it, and location and time valid as in IAMAT.
pub fn parse_at(line: &[u8]) -> Option<AtLine<'_>> {
    let [_, server, diff_raw, client, location_raw, time_raw] = at_fields(line)?;
    Some(AtLine {
        server,
        diff_raw,
        client,
        location_raw,
        location: parse_location(location_raw)?,
        time_raw,
        time: parse_time(time_raw)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_iamat_gives_the_longest_at_line() {
        use crate::protocol::{parse_command, Command};
        // Single spaces, a 29-digit time (so the difference has 29 digits too), the rest of
        // the line in the client ID: exactly `max_line` bytes.
        let max_line = 300;
        let time = "9".repeat(crate::protocol::time::MAX_TIME_INT_DIGITS) + ".999999999";
        let fixed = format!("IAMAT  +90-180 {time}").len();
        let line = format!("IAMAT {} +90-180 {time}", "c".repeat(max_line - fixed));
        assert_eq!(line.len(), max_line);
        let Ok(Command::IAmAt(c)) = parse_command(line.as_bytes()) else {
            panic!("valid IAMAT");
        };
        let mut at = Vec::new();
        format_at(
            &mut at,
            "Name",
            1 - c.time.0,
            c.client,
            c.location_raw,
            c.time_raw,
        );
        assert_eq!(at.len(), max_at_len(max_line, 4));
    }
    use proptest::prelude::*;

    fn text(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    /// Renders a parsed AT line with its parsed values in brackets, or "none".
    fn check(input: &[u8], expected: &str) {
        // The store-and-forward check agrees with the full parse on every line.
        assert_eq!(
            at_key(input),
            parse_at(input).map(|a| (a.client, a.time)),
            "at_key {:?}",
            text(input)
        );
        let got = match parse_at(input) {
            None => "none".to_string(),
            Some(a) => format!(
                "{} {} {} {} [{} {}] {} [{}]",
                text(a.server),
                text(a.diff_raw),
                text(a.client),
                text(a.location_raw),
                a.location.lat,
                a.location.lng,
                text(a.time_raw),
                a.time.0,
            ),
        };
        assert_eq!(got, expected, "input {:?}", text(input));
    }

    #[test]
    fn parses() {
        let ok =
            "Clark +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 [34.06893 -118.445127] \
                  1621464827.959498503 [1621464827959498503]";
        let line =
            b"AT Clark +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503";
        check(line, ok);
        check(
            b"AT Bona -8204308575.843603617 c -33.86+151.21 9825773403.803102120",
            "Bona -8204308575.843603617 c -33.86+151.21 [-33.86 151.21] 9825773403.803102120 [9825773403803102120]",
        );
        check(&[&line[..], b"\n"].concat(), "none");
        check(&[&line[..], b" "].concat(), "none");
        check(&[b" ", &line[..]].concat(), "none");
        check(b"AT Clark +0.263873386 kiwi +12-118", "none");
        check(b"AT Clark +0.263873386 kiwi +12-118 1 x", "none");
        check(b"AT  Clark +0.263873386 kiwi +12-118 1", "none");
        check(b"AT\tClark +0.263873386 kiwi +12-118 1", "none");
        check(b"AT Cl\x0bark +0.263873386 kiwi +12-118 1", "none");
        check(b"at Clark +0.263873386 kiwi +12-118 1", "none");
        check(b"IAMAT Clark +0.263873386 kiwi +12-118 1", "none");
        check(b"AT Clark 0.263873386 kiwi +12-118 1", "none");
        check(b"AT Clark +0.26387338 kiwi +12-118 1", "none");
        check(b"AT Clark +.263873386 kiwi +12-118 1", "none");
        check(b"AT Clark +2.6e-1 kiwi +12-118 1", "none");
        check(b"AT Clark +0.263873386 kiwi 12-118 1", "none");
        check(b"AT Clark +0.263873386 kiwi +91-118 1", "none");
        check(b"AT Clark +0.263873386 kiwi +12-118 -1", "none");
        check(b"AT Clark +0.263873386 kiwi +12-118 1.", "none");
        check(b"", "none");
    }

    #[test]
    fn formats() {
        let mut out = b"x".to_vec();
        format_at(
            &mut out,
            "Clark",
            263_873_386,
            b"kiwi.cs.ucla.edu",
            b"+34.068930-118.445127",
            b"1621464827.959498503",
        );
        assert_eq!(
            text(&out),
            "xAT Clark +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503"
        );
    }

    /// A valid coordinate text within `limit`.
    fn coord(limit: u32) -> impl Strategy<Value = String> {
        (any::<bool>(), "0{0,2}", 0..=limit, "(\\.[0-9]{1,9})?").prop_map(
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
        fn round_trips(
            server in "[A-Za-z0-9._-]{1,12}",
            diff in any::<i128>(),
            client in prop::collection::vec(any::<u8>().prop_filter("not white space", |&b| !is_ws(b)), 1..20),
            lat in coord(90),
            lng in coord(180),
            time in "[0-9]{1,29}(\\.[0-9]{1,9})?",
        ) {
            let location = format!("{lat}{lng}");
            let mut out = Vec::new();
            format_at(&mut out, &server, diff, &client, location.as_bytes(), time.as_bytes());
            let at = parse_at(&out).unwrap();
            prop_assert_eq!(at.server, server.as_bytes());
            prop_assert_eq!(parse_diff(at.diff_raw), Some(diff));
            prop_assert_eq!(at.client, &client[..]);
            prop_assert_eq!(at.location_raw, location.as_bytes());
            prop_assert_eq!(Some(at.location), parse_location(location.as_bytes()));
            prop_assert_eq!(at.time_raw, time.as_bytes());
            prop_assert_eq!(Some(at.time), parse_time(time.as_bytes()));
        }

        #[test]
        fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
            let _ = parse_at(&bytes);
        }
    }
}
