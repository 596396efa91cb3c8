//! Property tests through a running server: every invalid client line gets exactly `? <copy>`
//! on the wire, and garbage from an authenticated neighbour closes its link and nothing else.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::OnceLock;
use std::time::Duration;

use herd::protocol::{parse_command, Command};
use herd::wire::{self, PeerMsg, Role, Transcript};
use proptest::prelude::*;

use crate::support::*;

/// One herd for all cases (starting one per case would be slow).
fn herd() -> &'static TestHerd {
    static HERD: OnceLock<TestHerd> = OnceLock::new();
    HERD.get_or_init(|| TestHerd::start(fast_config()))
}

/// Client lines (no LF): raw bytes, or soups of the protocol's own words.
fn client_line() -> impl Strategy<Value = Vec<u8>> {
    let vocab = prop::sample::select(vec![
        "IAMAT",
        "WHATSAT",
        "AT",
        "iamat",
        "kiwi",
        "nobody",
        "+34.068930-118.445127",
        "+91+0",
        "-90-180",
        "+1+1",
        "1621464827.959498503",
        "1e9",
        "1.0000000001",
        "10",
        "50",
        "50.1",
        "0",
        "20",
        "21",
        "UPDATE",
        "HERD/1",
        "HELLO",
        "PING",
        "\u{e9}",
    ]);
    let sep = prop::sample::select(vec![" ", "\t", "  ", "\x0b", "\x0c"]);
    let soup = prop::collection::vec((vocab, sep), 1..7).prop_map(|parts| {
        parts
            .into_iter()
            .flat_map(|(w, s)| [w, s])
            .collect::<String>()
            .into_bytes()
    });
    prop_oneof![
        prop::collection::vec(any::<u8>().prop_filter("no LF", |b| *b != b'\n'), 0..80),
        soup
    ]
    // A CR at the very end belongs to the terminator; keep lines whose copy is unambiguous.
    .prop_filter("no trailing CR", |l| l.last() != Some(&b'\r'))
    // A first line that is a HELLO turns the connection into a neighbour link.
    .prop_filter("not a HELLO", |l| !wire::is_hello(l))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_invalid_line_gets_exactly_a_question_mark_and_a_copy(
        lines in prop::collection::vec(client_line(), 1..8)
    ) {
        // WHATSAT for a client the server knows answers with a document; leave those out.
        let lines: Vec<Vec<u8>> = lines
            .into_iter()
            .filter(|l| !matches!(parse_command(l), Ok(Command::WhatsAt(w)) if herd().h().server("Clark").and_then(|s| s.lookup(w.client)).is_some()))
            .collect();
        let mut input = Vec::new();
        for l in &lines {
            input.extend_from_slice(l);
            input.push(b'\n');
        }
        let out = talk(herd().addr("Clark"), &input);
        let replies: Vec<&[u8]> = out.split(|b| *b == b'\n').collect();
        prop_assert_eq!(replies.last(), Some(&&b""[..]), "ends with a newline");
        prop_assert_eq!(replies.len() - 1, lines.len(), "one reply a line");
        for (line, reply) in lines.iter().zip(&replies) {
            match parse_command(line) {
                Ok(Command::IAmAt(_)) => prop_assert!(reply.starts_with(b"AT Clark ")),
                _ => prop_assert_eq!(reply.to_vec(), [&b"? "[..], line].concat()),
            }
        }
    }

    #[test]
    fn garbage_from_a_neighbour_closes_its_link_and_nothing_else(
        garbage in prop::collection::vec(any::<u8>().prop_filter("no LF", |b| *b != b'\n'), 1..120)
    ) {
        prop_assume!(wire::decode(&garbage).is_none());
        let clark = herd().addr("Clark");
        let mut s = TcpStream::connect(herd().h().peer_addr("Clark").unwrap()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // Be Bona (who dials Clark), with the empty secret the herd runs with.
        let nonce = [9u8; 16];
        let mut out = Vec::new();
        wire::encode(&PeerMsg::Hello { from: "Bona", to: "Clark", incarnation: 1, nonce }, &mut out);
        s.write_all(&out).unwrap();
        let welcome = read_line(&mut s);
        let Some(PeerMsg::Welcome { incarnation, nonce: theirs, .. }) = wire::decode(welcome.trim_end().as_bytes()) else {
            panic!("{welcome:?}");
        };
        let t = Transcript {
            dialer: "Bona".into(), acceptor: "Clark".into(),
            dialer_incarnation: 1, acceptor_incarnation: incarnation,
            dialer_nonce: nonce, acceptor_nonce: theirs,
        };
        out.clear();
        wire::encode(&PeerMsg::Proof { mac: t.mac(b"", Role::Dialer) }, &mut out);
        out.extend_from_slice(&garbage);
        out.push(b'\n');
        s.write_all(&out).unwrap();
        // The link is closed; whatever Clark sent first (summary, pings) is all there is.
        let mut rest = Vec::new();
        let r = s.read_to_end(&mut rest);
        let timed_out = matches!(&r, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut));
        prop_assert!(!timed_out, "the link was closed, not left open");
        prop_assert!(rest.split(|b| *b == b'\n').all(|l| l.is_empty() || wire::decode(l).is_some()));
        // Clark still serves clients.
        let reply = talk_str(clark, "IAMAT afterwards +1+1 1700000000\n");
        prop_assert!(reply.starts_with("AT Clark "), "{}", reply);
    }
}
