//! Client commands: `IAMAT` and `WHATSAT` lines, and the `? line` reply to anything else.

use super::decimal::{digits_value, Decimal};
use super::lex::fields;
use super::location::{parse_location, Location};
use super::time::{parse_time, Timestamp};

/// A valid client command, borrowing its fields from the line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Command<'a> {
    /// `IAMAT <client> <location> <time>`: a client reports where it is.
    IAmAt(IAmAt<'a>),
    /// `WHATSAT <client> <radius km> <bound>`: a client asks what is near another client.
    WhatsAt(WhatsAt<'a>),
}

/// `IAMAT <client> <location> <time>`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IAmAt<'a> {
    /// The client ID: any non-empty run of non-white-space bytes.
    pub client: &'a [u8],
    /// The location field as received; the AT reply copies it byte for byte.
    pub location_raw: &'a [u8],
    /// The validated location.
    pub location: Location,
    /// The time field as received; the AT reply copies it byte for byte.
    pub time_raw: &'a [u8],
    /// The client's send time, exact to the nanosecond.
    pub time: Timestamp,
}

/// `WHATSAT <client> <radius km> <bound>`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WhatsAt<'a> {
    /// The client whose last known location is the centre (unknown clients are the caller's
    /// to reject).
    pub client: &'a [u8],
    /// The radius field as received, in kilometres; see [`radius_metres`].
    pub radius_raw: &'a [u8],
    /// The radius in kilometres, within (0, 50].
    pub radius_km: f64,
    /// The most places to return, within [1, 20].
    pub bound: u8,
}

/// Why a line is not a valid command. Every invalid line gets the same `? line` reply; the
/// reason is for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// The line is empty or only white space.
    Empty,
    /// The first field is neither `IAMAT` nor `WHATSAT` (case-sensitive; `AT` included).
    UnknownCommand,
    /// The command does not have exactly 4 fields.
    FieldCount,
    /// The IAMAT location is malformed or out of range.
    Location,
    /// The IAMAT time is malformed or too large.
    Time,
    /// The WHATSAT radius is not a plain decimal within (0, 50].
    Radius,
    /// The WHATSAT bound is not an integer within [1, 20].
    Bound,
}

impl Invalid {
    /// A short human-readable reason, for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Invalid::Empty => "empty line",
            Invalid::UnknownCommand => "unknown command",
            Invalid::FieldCount => "wrong number of fields (expected 4)",
            Invalid::Location => "malformed or out-of-range location",
            Invalid::Time => "malformed time",
            Invalid::Radius => "radius not a plain decimal in (0, 50] km",
            Invalid::Bound => "bound not an integer in [1, 20]",
        }
    }
}

/// Parses one client line, given WITHOUT its terminator (see
/// [`strip_terminator`](super::lex::strip_terminator)).
pub fn parse_command(line: &[u8]) -> Result<Command<'_>, Invalid> {
    let mut words = fields(line);
    let is_iamat = match words.next().ok_or(Invalid::Empty)? {
        b"IAMAT" => true,
        b"WHATSAT" => false,
        _ => return Err(Invalid::UnknownCommand),
    };
    let mut args: [&[u8]; 3] = [&[]; 3];
    for slot in &mut args {
        *slot = words.next().ok_or(Invalid::FieldCount)?;
    }
    if words.next().is_some() {
        return Err(Invalid::FieldCount);
    }
    let [client, third, fourth] = args;
    if is_iamat {
        Ok(Command::IAmAt(IAmAt {
            client,
            location_raw: third,
            location: parse_location(third).ok_or(Invalid::Location)?,
            time_raw: fourth,
            time: parse_time(fourth).ok_or(Invalid::Time)?,
        }))
    } else {
        Ok(Command::WhatsAt(WhatsAt {
            client,
            radius_raw: third,
            radius_km: parse_radius(third).ok_or(Invalid::Radius)?,
            bound: parse_bound(fourth).ok_or(Invalid::Bound)?,
        }))
    }
}

/// A plain decimal radius within (0, 50], checked exactly on the text.
fn parse_radius(field: &[u8]) -> Option<f64> {
    let d = Decimal::whole(field)?;
    if d.is_zero() || !d.at_most(50) {
        return None;
    }
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// An integer bound within [1, 20]: ASCII digits only, leading zeros allowed.
fn parse_bound(field: &[u8]) -> Option<u8> {
    if field.is_empty() {
        return None;
    }
    let v = digits_value(field)?;
    if (1..=20).contains(&v) {
        u8::try_from(v).ok()
    } else {
        None
    }
}

/// Appends the reply to an invalid line: `? `, the line as received (without terminator), `\n`.
pub fn invalid_reply(line: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"? ");
    out.extend_from_slice(line);
    out.push(b'\n');
}

/// The radius in metres, for Google: the kilometre text with its dot moved three places right,
/// exactly (`"0.5"` -> `"500"`, `"10.0005"` -> `"10000.5"`, `"0.0001"` -> `"0.1"`). No leading
/// zeros except a lone `0` before a dot, no trailing fraction zeros, no trailing dot. Meant for a
/// radius that [`parse_command`] accepted; other bytes are shifted the same way without panic.
pub fn radius_metres(radius_raw: &[u8]) -> String {
    let (int, frac) = match radius_raw.iter().position(|&b| b == b'.') {
        Some(dot) => {
            let (int, dotted) = radius_raw.split_at(dot);
            (int, dotted.split_first().map_or(&[][..], |(_, frac)| frac))
        }
        None => (radius_raw, &[][..]),
    };
    let (moved, mut rest) = frac.split_at(frac.len().min(3));
    let mut out: Vec<u8> = int
        .iter()
        .chain(moved)
        .copied()
        .skip_while(|&b| b == b'0')
        .collect();
    if out.is_empty() {
        out.push(b'0');
    } else {
        out.resize(out.len() + 3 - moved.len(), b'0');
    }
    while let [head @ .., b'0'] = rest {
        rest = head;
    }
    if !rest.is_empty() {
        out.push(b'.');
        out.extend_from_slice(rest);
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    /// Renders a parse result on one line: the raw fields, then the parsed values in brackets.
    fn render(r: Result<Command<'_>, Invalid>) -> String {
        match r {
            Ok(Command::IAmAt(c)) => format!(
                "IAMAT {} {} [{} {}] {} [{}]",
                text(c.client),
                text(c.location_raw),
                c.location.lat,
                c.location.lng,
                text(c.time_raw),
                c.time.0
            ),
            Ok(Command::WhatsAt(w)) => format!(
                "WHATSAT {} {} [{}] {}",
                text(w.client),
                text(w.radius_raw),
                w.radius_km,
                w.bound
            ),
            Err(e) => format!("{e:?}"),
        }
    }

    fn check(input: &[u8], expected: &str) {
        assert_eq!(
            render(parse_command(input)),
            expected,
            "input {:?}",
            text(input)
        );
    }

    #[test]
    fn iamat() {
        check(
            b"IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503",
            "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 [34.06893 -118.445127] 1621464827.959498503 [1621464827959498503]",
        );
        check(
            b"IAMAT c -33.86+151.21 0",
            "IAMAT c -33.86+151.21 [-33.86 151.21] 0 [0]",
        );
        check(
            b"IAMAT \xff\x00 +90-180 1.5",
            "IAMAT \u{FFFD}\0 +90-180 [90 -180] 1.5 [1500000000]",
        );
        // Client IDs may look like anything, commands included.
        check(
            b"IAMAT IAMAT +1+1 1",
            "IAMAT IAMAT +1+1 [1 1] 1 [1000000000]",
        );
    }

    #[test]
    fn white_space() {
        let ok = "IAMAT c +1+2 [1 2] 3 [3000000000]";
        for sep in [" ", "\t", "\r", "\n", "\x0b", "\x0c", " \t\r\n\x0b\x0c"] {
            let line = ["IAMAT", "c", "+1+2", "3"].join(sep);
            check(line.as_bytes(), ok);
            check(format!("{sep}{line}").as_bytes(), ok);
            check(format!("{line}{sep}").as_bytes(), ok);
            check(format!("{sep}{line}{sep}{sep}").as_bytes(), ok);
        }
    }

    #[test]
    fn invalid_lines() {
        check(b"", "Empty");
        check(b" ", "Empty");
        check(b" \t\r\n\x0b\x0c", "Empty");
        check(b"iamat c +1+2 3", "UnknownCommand");
        check(b"Iamat c +1+2 3", "UnknownCommand");
        check(b"whatsat c 10 5", "UnknownCommand");
        check(b"AT Clark +0.263873386 kiwi +12-118 1", "UnknownCommand");
        check(b"AT c +1+2 3", "UnknownCommand");
        check(b"AS Clark +0.25 testuser +12-118 1234", "UnknownCommand");
        check(b"IAMATX c +1+2 3", "UnknownCommand");
        check(b"\"IAMAT\" c +1+2 3", "UnknownCommand");
        check(b"IAMAT", "FieldCount");
        check(b"IAMAT Clark +12-118", "FieldCount");
        check(b"IAMAT c +1+2 3 4", "FieldCount");
        check(b"IAMAT c +1+2 3 extra", "FieldCount");
        check(b"WHATSAT c 10", "FieldCount");
        check(b"WHATSAT c 10 5 5", "FieldCount");
        check(b"IAMAT c +1+2 3\x00", "Time");
        check(b"IAMAT c 34-118 3", "Location");
        check(b"IAMAT c +91+0 3", "Location");
        check(b"IAMAT c +34.-118 3", "Location");
        check(b"IAMAT c +34 -118 3", "FieldCount");
        check(b"IAMAT c +34-118 -3", "Time");
        check(b"IAMAT c +34-118 1.1234567890", "Time");
        check(b"IAMAT c +34-118 1e9", "Time");
        check(b"IAMAT c bad bad", "Location");
    }

    #[test]
    fn whatsat() {
        check(
            b"WHATSAT kiwi.cs.ucla.edu 10 5",
            "WHATSAT kiwi.cs.ucla.edu 10 [10] 5",
        );
        check(b"WHATSAT c 0.5 1", "WHATSAT c 0.5 [0.5] 1");
        check(b"WHATSAT c 50 20", "WHATSAT c 50 [50] 20");
        check(b"WHATSAT c 50.0 05", "WHATSAT c 50.0 [50] 5");
        check(b"WHATSAT c 050.000 020", "WHATSAT c 050.000 [50] 20");
        check(
            b"WHATSAT c 0.000000000000000000001 1",
            "WHATSAT c 0.000000000000000000001 [0.000000000000000000001] 1",
        );
        check(
            b"WHATSAT c 49.99999999999999999999 1",
            "WHATSAT c 49.99999999999999999999 [50] 1",
        );
        check(b"WHATSAT c 0 5", "Radius");
        check(b"WHATSAT c 0.0 5", "Radius");
        check(b"WHATSAT c 0.000 5", "Radius");
        check(b"WHATSAT c 000 5", "Radius");
        check(b"WHATSAT c 50.1 5", "Radius");
        check(b"WHATSAT c 50.00000000001 5", "Radius");
        check(b"WHATSAT c 51 5", "Radius");
        check(
            b"WHATSAT c 99999999999999999999999999999999999999 5",
            "Radius",
        );
        check(b"WHATSAT c -1 5", "Radius");
        check(b"WHATSAT c +1 5", "Radius");
        check(b"WHATSAT c 1e1 5", "Radius");
        check(b"WHATSAT c .5 5", "Radius");
        check(b"WHATSAT c 5. 5", "Radius");
        check(b"WHATSAT c nan 5", "Radius");
        check(b"WHATSAT c inf 5", "Radius");
        check(b"WHATSAT c 10 0", "Bound");
        check(b"WHATSAT c 10 00", "Bound");
        check(b"WHATSAT c 10 1", "WHATSAT c 10 [10] 1");
        check(b"WHATSAT c 10 20", "WHATSAT c 10 [10] 20");
        check(b"WHATSAT c 10 21", "Bound");
        check(b"WHATSAT c 10 5.0", "Bound");
        check(b"WHATSAT c 10 +5", "Bound");
        check(b"WHATSAT c 10 -5", "Bound");
        check(b"WHATSAT c 10 05", "WHATSAT c 10 [10] 5");
        check(
            b"WHATSAT c 10 0000000000000000000000000000000000000005",
            "WHATSAT c 10 [10] 5",
        );
        check(
            b"WHATSAT c 10 1000000000000000000000000000000000000005",
            "Bound",
        );
        check(b"WHATSAT c 10 5e0", "Bound");
        check(b"WHATSAT c 10 five", "Bound");
        check(b"WHATSAT c 0 0", "Radius");
    }

    #[test]
    fn reasons_are_distinct() {
        use Invalid::*;
        let all = [
            Empty,
            UnknownCommand,
            FieldCount,
            Location,
            Time,
            Radius,
            Bound,
        ];
        let reasons: std::collections::HashSet<_> = all.iter().map(Invalid::reason).collect();
        assert_eq!(reasons.len(), all.len());
        assert!(reasons.iter().all(|r| !r.is_empty()));
    }

    fn check_reply(line: &[u8], expected: &[u8]) {
        let mut out = b"prior ".to_vec();
        invalid_reply(line, &mut out);
        assert_eq!(text(&out), text(&[&b"prior "[..], expected].concat()));
    }

    #[test]
    fn invalid_replies() {
        check_reply(b"IAMAT Clark +12-118", b"? IAMAT Clark +12-118\n");
        check_reply(
            b"AS Clark +0.25 testuser +12-118 1234",
            b"? AS Clark +0.25 testuser +12-118 1234\n",
        );
        check_reply(b"", b"? \n");
        check_reply(b" \t x\r", b"?  \t x\r\n");
    }

    fn check_metres(km: &str, expected: &str) {
        assert_eq!(radius_metres(km.as_bytes()), expected, "input {km:?}");
    }

    #[test]
    fn metres() {
        check_metres("10", "10000");
        check_metres("0.5", "500");
        check_metres("10.0005", "10000.5");
        check_metres("0.0001", "0.1");
        check_metres("0.00012", "0.12");
        check_metres("50", "50000");
        check_metres("50.000", "50000");
        check_metres("050.0", "50000");
        check_metres("1.5", "1500");
        check_metres("1.25", "1250");
        check_metres("1.234", "1234");
        check_metres("1.2345", "1234.5");
        check_metres("1.23450", "1234.5");
        check_metres("0.001", "1");
        check_metres("0.000000000000000000001", "0.000000000000000001");
        check_metres("0", "0");
        check_metres("", "0");
        check_metres("x", "x000");
    }

    fn line_strategy() -> impl Strategy<Value = Vec<u8>> {
        let vocab = prop::sample::select(vec![
            "IAMAT",
            "WHATSAT",
            "AT",
            "iamat",
            "kiwi",
            "+34-118",
            "+34.068930-118.445127",
            "+90.1+0",
            "1621464827.959498503",
            "1.",
            "10",
            "0.5",
            "50",
            "50.1",
            "0",
            "5",
            "20",
            "21",
            "05",
            "-1",
            "\u{e9}",
        ]);
        let sep = prop::sample::select(vec![" ", "\t", "\r", "\n", "\x0b", "\x0c", "  "]);
        let soup = prop::collection::vec((sep.clone(), vocab), 0..7).prop_map(|parts| {
            parts
                .into_iter()
                .flat_map(|(s, w)| [s, w])
                .collect::<String>()
                .into_bytes()
        });
        prop_oneof![prop::collection::vec(any::<u8>(), 0..64), soup]
    }

    proptest! {
        #[test]
        fn replies(line in line_strategy()) {
            match parse_command(&line) {
                Err(_) => {
                    let mut out = Vec::new();
                    invalid_reply(&line, &mut out);
                    prop_assert_eq!(out, [&b"? "[..], &line, b"\n"].concat());
                }
                Ok(cmd) => {
                    let f: Vec<&[u8]> = fields(&line).collect();
                    prop_assert_eq!(f.len(), 4);
                    match cmd {
                        Command::IAmAt(c) => {
                            prop_assert_eq!([f[0], f[1], f[2], f[3]], [&b"IAMAT"[..], c.client, c.location_raw, c.time_raw]);
                        }
                        Command::WhatsAt(w) => {
                            prop_assert_eq!([f[0], f[1], f[2]], [&b"WHATSAT"[..], w.client, w.radius_raw]);
                            prop_assert!(w.radius_km > 0.0 && w.radius_km <= 50.0 && (1..=20).contains(&w.bound));
                        }
                    }
                }
            }
        }

        #[test]
        fn metres_match_scaled_value(int in 0u32..=50, frac in "[0-9]{0,12}") {
            let km = if frac.is_empty() { int.to_string() } else { format!("{int}.{frac}") };
            let metres = radius_metres(km.as_bytes());
            // Same value: compare as exact integers scaled to 10^-12 km.
            let scaled = |s: &str, extra: usize| {
                let (i, f) = s.split_once('.').unwrap_or((s, ""));
                let digits = format!("{i}{f}{}", "0".repeat(extra + 12 - f.len()));
                digits.parse::<u128>().unwrap()
            };
            prop_assert_eq!(scaled(&metres, 0), scaled(&km, 3));
            prop_assert!(!metres.ends_with('.'));
            prop_assert!(!(metres.contains('.') && metres.ends_with('0')), "{}", metres);
            prop_assert!(metres == "0" || metres.starts_with("0.") || !metres.starts_with('0'));
        }
    }
}
