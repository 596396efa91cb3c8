//! Any bytes as one client line, through the real path a server takes
//! ([`herd::node::Node::client_line`]): it never panics, an invalid line gets exactly
//! `? <copy>`, and an accepted IAMAT is answered with the AT line it stored, which parses back
//! to the client's fields.
#![no_main]

use herd::node::{Node, Outcome};
use herd::protocol::{parse_at, parse_command, Command, Timestamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &[u8]| {
    let node = Node::new("Fuzz".into(), vec!["Other".into()], 16);
    let mut out = Vec::new();
    let now = Timestamp(1_700_000_000_123_456_789);
    match node.client_line(line, now, &mut out) {
        Outcome::Accepted(effects) => {
            assert_eq!(out, [&effects.update.at[..], b"\n"].concat());
            let back = parse_at(&effects.update.at).expect("our own AT line parses");
            let Ok(Command::IAmAt(c)) = parse_command(line) else {
                panic!("accepted a line that is not an IAMAT");
            };
            assert_eq!(back.client, c.client);
            assert_eq!(back.location_raw, c.location_raw);
            assert_eq!(back.time_raw, c.time_raw);
            assert_eq!(effects.flood.targets().collect::<Vec<_>>(), [0]);
        }
        Outcome::Invalid { .. } | Outcome::UnknownClient | Outcome::Full => {
            assert_eq!(out, [&b"? "[..], line, b"\n"].concat());
        }
        // A fresh node holds nothing: nothing can be older than what it holds, or looked up.
        Outcome::NotNewer | Outcome::Lookup(_) => panic!("impossible on an empty node"),
    }
});
