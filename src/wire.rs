//! Server-to-server messages: encoding, decoding and the link handshake's MACs. Pure.
//!
//! A neighbour connects to the peer port, never the client port, and must open with a
//! `HERD/1 HELLO` line; on the client port these lines are invalid client lines, so no client
//! line can ever be taken for a server message. The handshake is a challenge-response over
//! HMAC-SHA256 keyed by the herd secret (an empty key when none is configured, in which case the
//! acceptor also insists on a loopback peer address):
//!
//! ```text
//! dialer   -> acceptor   HERD/1 HELLO <dialer> <acceptor> <dialer-incarnation> <dialer-nonce>
//! acceptor -> dialer     HERD/1 WELCOME <acceptor> <acceptor-incarnation> <acceptor-nonce> <mac>
//! dialer   -> acceptor   HERD/1 PROOF <mac>
//! then, both ways:       SUMMARY <bits> <first> <hash>... (catch-up, right after the handshake
//!                                                         and then every `timings.resync_ms`)
//!                        UPDATE [<via>] <AT line> | PING <n> | PONG <n>
//! last, from a server shutting down: BYE
//! ```
//!
//! `SUMMARY` carries a run of bucket digests (see [`crate::digest`]): `2^bits` buckets, this
//! line's first bucket index, then one 16-hex-digit digest per bucket.
//!
//! `UPDATE` may say how the update travels (`<via>`, see [`crate::node::Node::forward`]):
//! - `~<seen>`, a flood: the comma-separated names of servers that have already been sent this
//!   update (at most [`MAX_SEEN`]); a receiver that did not hold it forwards it to all its other
//!   neighbours but those. No `<via>` at all is a flood with no names.
//! - `^<herd>`, a copy on the spanning tree of its origin (the AT line's server): `<herd>` is 8
//!   hex digits naming the herd's servers and links ([`crate::node::Tree::token`]); a receiver
//!   that did not hold it forwards it to its children in that tree.
//! - `!<seen>`, a detour around a link that is down: as `~`, but forwarded also by a receiver
//!   that already held it (a tree may have brought it there without passing it on).
//!
//! The AT line always starts with `AT `, so the forms cannot be confused.
//!
//! Both MACs cover both names, both incarnations and both nonces, with the role first, so
//! neither can be replayed as the other or on another link.

use hmac::{KeyInit, Mac};
use sha2::Sha256;

use crate::protocol::fields;

/// The first word of every handshake line.
pub const MAGIC: &[u8] = b"HERD/1";

type HmacSha256 = hmac::Hmac<Sha256>;

/// A nonce: 16 random bytes.
pub type Nonce = [u8; 16];

/// A MAC: 32 bytes of HMAC-SHA256.
pub type MacBytes = [u8; 32];

/// The most server names an UPDATE's seen list carries (a shorter list is always safe: it only
/// means more copies).
pub const MAX_SEEN: usize = 16;

/// The longest line a link must carry (terminator excluded), for a herd whose clients may send
/// lines of `max_line` bytes and whose longest server name has `name_len` bytes.
///
/// Derived from the client limit, never configured apart from it: an `UPDATE` carries the AT
/// line a server made from the longest IAMAT a client may send ([`crate::protocol::max_at_len`]),
/// and the handshake lines carry two names, an incarnation, a nonce and a MAC. A link whose
/// frame limit were smaller than what it must carry would fail on an ordinary client's line.
pub fn max_frame(max_line: usize, name_len: usize) -> usize {
    // `UPDATE ~<names> <AT line>`: `~`, at most MAX_SEEN names, their commas, a space.
    let seen = 1 + MAX_SEEN * (name_len + 1);
    let update = b"UPDATE ".len() + seen + crate::protocol::max_at_len(max_line, name_len);
    // `HERD/1 WELCOME <name> <16 hex> <32 hex> <64 hex>` and HELLO's two names, with room.
    let handshake = 2 * name_len + 160;
    update.max(handshake)
}

/// One decoded server-to-server line.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerMsg<'a> {
    /// The dialer introduces itself.
    Hello {
        /// Dialer's name.
        from: &'a str,
        /// The server the dialer believes it reached.
        to: &'a str,
        /// Dialer's incarnation (changes at every start).
        incarnation: u64,
        /// Dialer's challenge.
        nonce: Nonce,
    },
    /// The acceptor answers and proves it knows the secret.
    Welcome {
        /// Acceptor's name.
        from: &'a str,
        /// Acceptor's incarnation.
        incarnation: u64,
        /// Acceptor's challenge.
        nonce: Nonce,
        /// Acceptor's proof.
        mac: MacBytes,
    },
    /// The dialer proves it knows the secret.
    Proof {
        /// Dialer's proof.
        mac: MacBytes,
    },
    /// A location update: the AT line as the origin server produced it.
    Update {
        /// How it travels: `~`, `^` or `!` and what follows (see the module docs); empty for a
        /// flood with no names.
        via: &'a [u8],
        /// The AT line.
        at: &'a [u8],
    },
    /// A run of the sender's bucket digests, for catch-up.
    Summary {
        /// The sender's table is split into `2^bits` buckets.
        bits: u8,
        /// The bucket of `hashes[0]`.
        first: u32,
        /// One digest per bucket, from `first` on.
        hashes: Vec<u64>,
    },
    /// Liveness probe.
    Ping(u64),
    /// The sender is shutting down: its link going down is expected, not a fault.
    Bye,
    /// Answer to a probe.
    Pong(u64),
}

/// True if a connection's first line is a neighbour's HELLO (the only way into peer mode).
pub fn is_hello(line: &[u8]) -> bool {
    let mut f = fields(line);
    f.next() == Some(MAGIC) && f.next() == Some(b"HELLO".as_slice())
}

/// Decodes one line (terminator removed); `None` for anything malformed.
pub fn decode(line: &[u8]) -> Option<PeerMsg<'_>> {
    if let Some(rest) = line.strip_prefix(b"UPDATE ") {
        return match rest.first() {
            Some(b'~' | b'^' | b'!') => {
                let space = memchr::memchr(b' ', rest)?;
                let (via, at) = (&rest[..space], &rest[space + 1..]);
                (via.len() > 1).then_some(PeerMsg::Update { via, at })
            }
            _ => Some(PeerMsg::Update { via: b"", at: rest }),
        };
    }
    let f: Vec<&[u8]> = fields(line).collect();
    match f.as_slice() {
        [b"PING", n] => Some(PeerMsg::Ping(parse_u64(n)?)),
        [b"BYE"] => Some(PeerMsg::Bye),
        [b"PONG", n] => Some(PeerMsg::Pong(parse_u64(n)?)),
        [b"SUMMARY", bits, first, hashes @ ..] if !hashes.is_empty() => {
            let bits: u8 = std::str::from_utf8(bits).ok()?.parse().ok()?;
            let first: u32 = std::str::from_utf8(first).ok()?.parse().ok()?;
            if bits > crate::digest::MAX_BITS
                || u64::from(first) + hashes.len() as u64 > 1u64 << bits
            {
                return None;
            }
            let hashes = hashes
                .iter()
                .map(|h| (h.len() == 16).then(|| parse_hex_u64(h)).flatten())
                .collect::<Option<Vec<u64>>>()?;
            Some(PeerMsg::Summary {
                bits,
                first,
                hashes,
            })
        }
        [m, b"HELLO", from, to, inc, nonce] if *m == MAGIC => Some(PeerMsg::Hello {
            from: name(from)?,
            to: name(to)?,
            incarnation: parse_hex_u64(inc)?,
            nonce: parse_hex(nonce)?,
        }),
        [m, b"WELCOME", from, inc, nonce, mac] if *m == MAGIC => Some(PeerMsg::Welcome {
            from: name(from)?,
            incarnation: parse_hex_u64(inc)?,
            nonce: parse_hex(nonce)?,
            mac: parse_hex(mac)?,
        }),
        [m, b"PROOF", mac] if *m == MAGIC => Some(PeerMsg::Proof {
            mac: parse_hex(mac)?,
        }),
        _ => None,
    }
}

/// Appends the encoding of `msg` and a newline.
pub fn encode(msg: &PeerMsg<'_>, out: &mut Vec<u8>) {
    let text = match msg {
        PeerMsg::Update { via, at } => {
            out.extend_from_slice(b"UPDATE ");
            if !via.is_empty() {
                out.extend_from_slice(via);
                out.push(b' ');
            }
            out.extend_from_slice(at);
            out.push(b'\n');
            return;
        }
        PeerMsg::Summary {
            bits,
            first,
            hashes,
        } => {
            let mut t = format!("SUMMARY {bits} {first}");
            for h in hashes {
                t.push_str(&format!(" {h:016x}"));
            }
            t
        }
        PeerMsg::Ping(n) => format!("PING {n}"),
        PeerMsg::Bye => "BYE".to_string(),
        PeerMsg::Pong(n) => format!("PONG {n}"),
        PeerMsg::Hello {
            from,
            to,
            incarnation,
            nonce,
        } => format!(
            "HERD/1 HELLO {from} {to} {incarnation:016x} {}",
            hex::encode(nonce)
        ),
        PeerMsg::Welcome {
            from,
            incarnation,
            nonce,
            mac,
        } => format!(
            "HERD/1 WELCOME {from} {incarnation:016x} {} {}",
            hex::encode(nonce),
            hex::encode(mac)
        ),
        PeerMsg::Proof { mac } => format!("HERD/1 PROOF {}", hex::encode(mac)),
    };
    out.extend_from_slice(text.as_bytes());
    out.push(b'\n');
}

/// Which side of the handshake a MAC proves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The side that dialed.
    Dialer,
    /// The side that accepted.
    Acceptor,
}

/// Everything both sides know once HELLO and WELCOME have crossed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transcript {
    /// Dialer's name.
    pub dialer: String,
    /// Acceptor's name.
    pub acceptor: String,
    /// Dialer's incarnation.
    pub dialer_incarnation: u64,
    /// Acceptor's incarnation.
    pub acceptor_incarnation: u64,
    /// Dialer's nonce.
    pub dialer_nonce: Nonce,
    /// Acceptor's nonce.
    pub acceptor_nonce: Nonce,
}

impl Transcript {
    fn keyed(&self, secret: &[u8], role: Role) -> HmacSha256 {
        // HMAC accepts keys of any length, the empty one included.
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        let role = match role {
            Role::Dialer => "dialer",
            Role::Acceptor => "acceptor",
        };
        let text = format!(
            "herd/1|{role}|{}|{}|{:016x}|{:016x}|{}|{}",
            self.dialer,
            self.acceptor,
            self.dialer_incarnation,
            self.acceptor_incarnation,
            hex::encode(self.dialer_nonce),
            hex::encode(self.acceptor_nonce)
        );
        mac.update(text.as_bytes());
        mac
    }

    /// The MAC that `role` sends.
    pub fn mac(&self, secret: &[u8], role: Role) -> MacBytes {
        self.keyed(secret, role).finalize().into_bytes().into()
    }

    /// Checks, in constant time, the MAC that `role` sent.
    pub fn verify(&self, secret: &[u8], role: Role, mac: &MacBytes) -> bool {
        self.keyed(secret, role).verify_slice(mac).is_ok()
    }
}

fn name(b: &[u8]) -> Option<&str> {
    std::str::from_utf8(b).ok()
}

fn parse_u64(b: &[u8]) -> Option<u64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

fn parse_hex_u64(b: &[u8]) -> Option<u64> {
    // from_str_radix would also take a sign: only hex digits are ours.
    if b.is_empty() || !b.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(b).ok()?, 16).ok()
}

fn parse_hex<const N: usize>(b: &[u8]) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    hex::decode_to_slice(b, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(msg: PeerMsg<'_>) {
        let mut out = Vec::new();
        encode(&msg, &mut out);
        assert_eq!(out.last(), Some(&b'\n'));
        assert_eq!(decode(&out[..out.len() - 1]), Some(msg));
    }

    #[test]
    fn every_message_roundtrips() {
        for via in ["", "~Clark,Bona", "^0123abcd", "!Bona"] {
            roundtrip(PeerMsg::Update {
                via: via.as_bytes(),
                at: b"AT Clark +0.263873386 kiwi +34-118 1621464827.959498503",
            });
        }
        roundtrip(PeerMsg::Ping(0));
        roundtrip(PeerMsg::Summary {
            bits: 2,
            first: 1,
            hashes: vec![0, u64::MAX, 42],
        });
        roundtrip(PeerMsg::Summary {
            bits: 0,
            first: 0,
            hashes: vec![7],
        });
        roundtrip(PeerMsg::Pong(u64::MAX));
        roundtrip(PeerMsg::Bye);
        roundtrip(PeerMsg::Hello {
            from: "Bona",
            to: "Clark",
            incarnation: 42,
            nonce: [7; 16],
        });
        roundtrip(PeerMsg::Welcome {
            from: "Clark",
            incarnation: u64::MAX,
            nonce: [1; 16],
            mac: [9; 32],
        });
        roundtrip(PeerMsg::Proof { mac: [3; 32] });
    }

    #[test]
    fn the_frame_limit_fits_the_longest_update_and_handshake() {
        let max_line = 8192;
        let name = "N".repeat(40);
        let at = vec![b'x'; crate::protocol::max_at_len(max_line, name.len())];
        let seen = format!("~{}", vec![name.as_str(); MAX_SEEN].join(","));
        let mut out = Vec::new();
        encode(
            &PeerMsg::Update {
                via: seen.as_bytes(),
                at: &at,
            },
            &mut out,
        );
        assert_eq!(out.len() - 1, max_frame(max_line, name.len()));
        out.clear();
        encode(
            &PeerMsg::Hello {
                from: &name,
                to: &name,
                incarnation: u64::MAX,
                nonce: [0xff; 16],
            },
            &mut out,
        );
        assert!(out.len() - 1 <= max_frame(64, name.len()), "{}", out.len());
    }

    fn check_decode(line: &str, ok: bool) {
        assert_eq!(decode(line.as_bytes()).is_some(), ok, "{line:?}");
    }

    #[test]
    fn garbage_is_refused() {
        check_decode("", false);
        check_decode("PING", false);
        check_decode("PING -1", false);
        check_decode("PING 1 2", false);
        check_decode("PONG x", false);
        check_decode("HERD/1 PROOF abc", false);
        check_decode("HERD/1 HELLO a b 1", false);
        check_decode(
            "HERD/1 HELLO a b zz 00000000000000000000000000000000",
            false,
        );
        check_decode("HERD/2 PROOF 00", false);
        check_decode("IAMAT kiwi +1+1 1", false);
        check_decode("PING 18446744073709551615", true);
        check_decode("UPDATE ~A,B AT x", true);
        check_decode("UPDATE ~ AT x", false);
        check_decode("UPDATE ~A,B", false);
        check_decode("UPDATE ^0123abcd AT x", true);
        check_decode("UPDATE ^ AT x", false);
        check_decode("UPDATE !A AT x", true);
        check_decode("UPDATE ! AT x", false);
        check_decode("SUMMARY 0 0 0000000000000000", true);
        check_decode("SUMMARY 0 0", false);
        check_decode("SUMMARY 0 1 0000000000000000", false);
        check_decode(
            "SUMMARY 1 0 0000000000000000 0000000000000000 0000000000000000",
            false,
        );
        check_decode("SUMMARY 17 0 0000000000000000", false);
        check_decode("SUMMARY 1 0 00", false);
        check_decode("SUMMARY 1 0 +000000000000000", false);
        check_decode("SUMMARY -1 0 0000000000000000", false);
    }

    #[test]
    fn hello_is_recognised_only_as_a_first_word_pair() {
        assert!(is_hello(b"HERD/1 HELLO a b 1 00"));
        assert!(is_hello(b"  HERD/1\tHELLO"));
        assert!(!is_hello(b"HERD/1 PROOF"));
        assert!(!is_hello(b"IAMAT HERD/1 HELLO"));
        assert!(!is_hello(b""));
    }

    #[test]
    fn macs_bind_role_secret_and_transcript() {
        let t = Transcript {
            dialer: "Bona".into(),
            acceptor: "Clark".into(),
            dialer_incarnation: 1,
            acceptor_incarnation: 2,
            dialer_nonce: [1; 16],
            acceptor_nonce: [2; 16],
        };
        let d = t.mac(b"s3cret", Role::Dialer);
        assert!(t.verify(b"s3cret", Role::Dialer, &d));
        assert!(!t.verify(b"s3cret", Role::Acceptor, &d), "role is bound");
        assert!(!t.verify(b"other", Role::Dialer, &d), "secret is bound");
        let mut t2 = t.clone();
        t2.acceptor_nonce = [3; 16];
        assert!(!t2.verify(b"s3cret", Role::Dialer, &d), "nonce is bound");
        // The empty key (no secret configured) still works and still binds the transcript.
        let e = t.mac(b"", Role::Acceptor);
        assert!(t.verify(b"", Role::Acceptor, &e));
        assert!(!t2.verify(b"", Role::Acceptor, &e));
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        /// Arbitrary bytes, and word soups close to real messages.
        fn line_strategy() -> impl Strategy<Value = Vec<u8>> {
            let vocab = prop::sample::select(vec![
                "HERD/1",
                "HERD/2",
                "HELLO",
                "WELCOME",
                "PROOF",
                "UPDATE",
                "PING",
                "PONG",
                "SUMMARY",
                "AT",
                "Clark",
                "Bona",
                "0",
                "1",
                "16",
                "17",
                "4294967295",
                "18446744073709551616",
                "-1",
                "+1",
                "00000000000000000000000000000000",
                "ffffffffffffffff",
                "fffffffffffffffff",
                "zz",
                "+34-118",
                "1700000000.5",
                "\u{e9}",
            ]);
            let sep = prop::sample::select(vec![" ", "  ", "\t", "\r", "\x0b"]);
            let soup = prop::collection::vec((sep, vocab), 0..9).prop_map(|parts| {
                parts
                    .into_iter()
                    .flat_map(|(s, w)| [w, s])
                    .collect::<String>()
                    .into_bytes()
            });
            prop_oneof![prop::collection::vec(any::<u8>(), 0..96), soup]
        }

        fn msg_strategy() -> impl Strategy<Value = (u8, u8, u32, Vec<u64>, u64, [u8; 16], [u8; 32])>
        {
            (
                0u8..6,
                0u8..=16,
                any::<u32>(),
                prop::collection::vec(any::<u64>(), 1..20),
                any::<u64>(),
                any::<[u8; 16]>(),
                any::<[u8; 32]>(),
            )
        }

        proptest! {
            #[test]
            fn decode_never_panics_and_what_it_accepts_roundtrips(line in line_strategy()) {
                if let Some(msg) = decode(&line) {
                    let mut out = Vec::new();
                    encode(&msg, &mut out);
                    prop_assert_eq!(decode(&out[..out.len() - 1]), Some(msg));
                }
            }

            #[test]
            fn every_message_encodes_to_one_line_that_decodes_back(
                (kind, bits, first, hashes, n, nonce, mac) in msg_strategy()
            ) {
                let first = if bits == 0 { 0 } else { first % (1u32 << bits) };
                let room = ((1u64 << bits) - u64::from(first)) as usize;
                let hashes: Vec<u64> = hashes.into_iter().take(room.max(1)).collect();
                let msg = match kind {
                    0 => PeerMsg::Hello { from: "Bona", to: "Clark", incarnation: n, nonce },
                    1 => PeerMsg::Welcome { from: "Clark", incarnation: n, nonce, mac },
                    2 => PeerMsg::Proof { mac },
                    3 => PeerMsg::Summary { bits, first, hashes },
                    4 => PeerMsg::Ping(n),
                    _ => PeerMsg::Pong(n),
                };
                let mut out = Vec::new();
                encode(&msg, &mut out);
                prop_assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);
                prop_assert_eq!(decode(&out[..out.len() - 1]), Some(msg));
            }
        }
    }
}
