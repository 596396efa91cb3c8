//! The client protocol of the herd, sans IO: bytes in, typed values or reply bytes out.
//!
//! This module implements the wire contract of `PROTOCOL.md` to the byte. It never touches a
//! socket, a clock or a log: callers read lines, take the time, and write what it produces.
//!
//! - [`lex`]: white space, fields and line terminators.
//! - [`time`]: exact nanosecond timestamps and the signed time difference of AT lines.
//! - [`location`]: ISO 6709 style `+lat-lng` fields, range-checked on their text.
//! - [`command`]: `IAMAT` / `WHATSAT` parsing, the `? line` reply, the radius in metres.
//! - [`at`]: formatting the `AT` reply line and validating AT lines from other servers.
//!
//! Invariants: no function here panics on any input, no value goes through a float before its
//! text has been validated, and times are integer nanoseconds end to end.

pub mod at;
pub mod command;
mod decimal;
pub mod lex;
pub mod location;
pub mod time;

pub use self::at::{format_at, max_at_len, parse_at, AtLine};
pub use self::command::{
    invalid_reply, parse_command, radius_metres, Command, IAmAt, Invalid, WhatsAt,
};
pub use self::lex::{fields, is_ws, strip_terminator};
pub use self::location::{parse_location, Location};
pub use self::time::{format_diff, parse_diff, parse_time, Timestamp};

#[cfg(test)]
mod tests {
    //! End to end through the whole module: a raw line as read from a socket to reply bytes.
    use super::*;

    /// What a server does with one raw line (terminator included) received at `now`.
    fn respond(raw: &[u8], server: &str, now: Timestamp) -> Vec<u8> {
        let line = strip_terminator(raw);
        let mut out = Vec::new();
        match parse_command(line) {
            Ok(Command::IAmAt(c)) => {
                format_at(
                    &mut out,
                    server,
                    now.0 - c.time.0,
                    c.client,
                    c.location_raw,
                    c.time_raw,
                );
                out.push(b'\n');
            }
            Ok(Command::WhatsAt(w)) => {
                out.extend_from_slice(b"(whatsat ");
                out.extend_from_slice(w.client);
                out.extend_from_slice(
                    format!(" {} {})\n", radius_metres(w.radius_raw), w.bound).as_bytes(),
                );
            }
            Err(_) => invalid_reply(line, &mut out),
        }
        out
    }

    fn check(raw: &[u8], now: &str, expected: &[u8]) {
        let now = parse_time(now.as_bytes()).unwrap();
        let got = respond(raw, "Clark", now);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "input {:?}",
            String::from_utf8_lossy(raw)
        );
    }

    #[test]
    fn protocol_md_examples() {
        let iamat = b"IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503";
        let at =
            b"AT Clark +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503\n";
        let now = "1621464828.223371889";
        check(&[&iamat[..], b"\n"].concat(), now, at);
        check(&[&iamat[..], b"\r\n"].concat(), now, at);
        check(iamat, now, at);
        // Clock skew: the client's clock is ahead of ours.
        check(
            b"IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 9825773403.803102120\n",
            "1621464827.959498503",
            b"AT Clark -8204308575.843603617 kiwi.cs.ucla.edu +34.068930-118.445127 9825773403.803102120\n",
        );
        // Same instant: zero prints with a plus sign.
        check(
            b"IAMAT c +12-118 1621464827.5\n",
            "1621464827.500000000",
            b"AT Clark +0.000000000 c +12-118 1621464827.5\n",
        );
        check(b"IAMAT Clark +12-118\n", now, b"? IAMAT Clark +12-118\n");
        check(
            b"AS Clark +0.25 testuser +12-118 1234\r\n",
            now,
            b"? AS Clark +0.25 testuser +12-118 1234\n",
        );
        check(
            b"WHATSAT kiwi.cs.ucla.edu 10 5\n",
            now,
            b"(whatsat kiwi.cs.ucla.edu 10000 5)\n",
        );
    }

    #[test]
    fn raw_lines() {
        let now = "100";
        // Fields are copied byte for byte, whatever white space surrounded them.
        check(
            b"\x0b\tIAMAT\x0c c\r+00.10-0 000.5 \r\n",
            now,
            b"AT Clark +99.500000000 c +00.10-0 000.5\n",
        );
        check(b"\n", now, b"? \n");
        check(b"\r\n", now, b"? \n");
        check(b"", now, b"? \n");
        check(b" \t \r\n", now, b"?  \t \n");
        // A CR that does not end the line is echoed as received.
        check(b"IAMAT x\r", now, b"? IAMAT x\r\n");
        check(b"bad\r\r\n", now, b"? bad\r\n");
        check(
            b"AT Clark +0.263873386 kiwi +12-118 1\n",
            now,
            b"? AT Clark +0.263873386 kiwi +12-118 1\n",
        );
    }
}
