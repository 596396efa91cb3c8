//! Any bytes as one client line: the parser never panics, an invalid line gets exactly
//! `? <copy>`, and a valid IAMAT formats an AT line that parses back to the same fields.
#![no_main]

use herd::protocol::{format_at, invalid_reply, parse_at, parse_command, Command};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &[u8]| {
    match parse_command(line) {
        Err(_) => {
            let mut out = Vec::new();
            invalid_reply(line, &mut out);
            assert_eq!(out, [&b"? "[..], line, b"\n"].concat());
        }
        Ok(Command::IAmAt(c)) => {
            let mut at = Vec::new();
            format_at(&mut at, "Fuzz", 0, c.client, c.location_raw, c.time_raw);
            let back = parse_at(&at).expect("our own AT line parses");
            assert_eq!(back.client, c.client);
        }
        Ok(Command::WhatsAt(w)) => {
            let _ = herd::protocol::radius_metres(w.radius_raw);
        }
    }
});
