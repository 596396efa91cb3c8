//! The session as a table of bytes in, bytes out: two sessions wired back to back, hosts that
//! record what they are told, and a clock the test moves.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::digest::{bits_for, Digest};
use crate::outbox::{Outgoing, Seen};
use crate::state::{Hashed, Update};
use crate::wire::{Role, Transcript};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

fn settings(name: &str, secret: &[u8], incarnation: u64) -> Arc<Settings> {
    Arc::new(Settings {
        name: name.into(),
        incarnation,
        secret: secret.into(),
        heartbeat: Duration::from_millis(100),
        silence: Duration::from_millis(400),
        handshake: Duration::from_millis(300),
        max_frame: 200,
        resync: Duration::from_millis(1000),
    })
}

fn u(client: &str, t: u32) -> Update {
    Update::from_at_line(format!("AT S +0.000000000 {client} +1+1 {t}").as_bytes()).unwrap()
}

/// A server as the session sees it, recording every call.
#[derive(Default)]
struct Rec {
    /// Refuse HELLOs with this reason.
    refuse: Option<String>,
    /// The table: summary and snapshot.
    table: Vec<Update>,
    /// Floods waiting.
    outbox: Vec<Outgoing>,
    /// `up` calls: neighbour and incarnation.
    ups: Vec<(String, u64)>,
    /// AT lines received.
    applied: Vec<String>,
    /// The seen lists they came with.
    seen: Vec<String>,
    /// Summaries taken for resyncs.
    summaries: usize,
    /// AT lines encoded for sending.
    sent: Vec<String>,
    /// Snapshots taken.
    snapshots: usize,
    /// Entries queued by catch-up, and whether their summary was compared in full.
    compared: (usize, bool),
    /// Round trips measured.
    rtts: Vec<Duration>,
    /// Frames dropped for length.
    skipped: Vec<usize>,
    /// Catch-up bytes (sent, received).
    catch_up: (usize, usize),
}

impl Host for Rec {
    fn admit(&mut self, _from: &str, _incarnation: u64) -> Result<(), String> {
        self.refuse.clone().map_or(Ok(()), Err)
    }
    fn up(&mut self, neighbour: &str, incarnation: u64) -> Result<Digest, End> {
        self.ups.push((neighbour.to_string(), incarnation));
        Ok(Digest::of(self.table.iter(), bits_for(self.table.len())))
    }
    fn update(&mut self, at: &[u8], seen: &[u8]) -> Result<(), String> {
        let u = Update::from_at_line(at).ok_or("not an AT line")?;
        self.applied
            .push(String::from_utf8_lossy(&u.at).into_owned());
        self.seen.push(String::from_utf8_lossy(seen).into_owned());
        Ok(())
    }
    fn summary(&mut self) -> Digest {
        self.summaries += 1;
        Digest::of(self.table.iter(), bits_for(self.table.len()))
    }
    fn snapshot(&mut self) -> Vec<Hashed> {
        self.snapshots += 1;
        self.table
            .iter()
            .cloned()
            .map(crate::digest::hashed)
            .collect()
    }
    fn take_updates(&mut self, max: usize) -> Vec<Outgoing> {
        let n = self.outbox.len().min(max);
        self.outbox.drain(..n).collect()
    }
    fn sent(&mut self, batch: &[Outgoing]) {
        self.sent.extend(
            batch
                .iter()
                .map(|o| String::from_utf8_lossy(&o.update.at).into_owned()),
        );
    }
    fn compared(&mut self, queued: usize, done: bool) {
        self.compared.0 += queued;
        self.compared.1 |= done;
    }
    fn rtt(&mut self, rtt: Duration) {
        self.rtts.push(rtt);
    }
    fn skipped(&mut self, bytes: usize) {
        self.skipped.push(bytes);
    }
    fn catch_up_bytes(&mut self, sent: bool, bytes: usize) {
        if sent {
            self.catch_up.0 += bytes;
        } else {
            self.catch_up.1 += bytes;
        }
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Takes what the session wants to write, as text.
fn take(s: &mut Session, host: &mut Rec) -> String {
    s.fill(host);
    let out = String::from_utf8_lossy(s.output()).into_owned();
    let n = s.output().len();
    s.consumed(n);
    out
}

fn line(msg: &PeerMsg<'_>) -> String {
    let mut v = Vec::new();
    wire::encode(msg, &mut v);
    String::from_utf8(v).unwrap()
}

/// Dialer A (incarnation 1, nonce [1; 16]) and acceptor B (incarnation 2, nonce [2; 16]).
fn pair(secret_a: &[u8], secret_b: &[u8]) -> (Session, Session) {
    let a = Session::dial(settings("A", secret_a, 1), "B".into(), [1; 16], ms(0));
    let b = Session::accept(settings("B", secret_b, 2), [2; 16], ms(0));
    (a, b)
}

/// Moves bytes both ways until neither side has anything to say.
fn pump(a: &mut Session, ha: &mut Rec, b: &mut Session, hb: &mut Rec, now: Duration) {
    for _ in 0..20 {
        let ab = take(a, ha);
        let ba = take(b, hb);
        if ab.is_empty() && ba.is_empty() {
            return;
        }
        b.receive(ab.as_bytes(), now, hb);
        a.receive(ba.as_bytes(), now, ha);
    }
    panic!("the sessions never went quiet");
}

const TRANSCRIPT: fn() -> Transcript = || Transcript {
    dialer: "A".into(),
    acceptor: "B".into(),
    dialer_incarnation: 1,
    acceptor_incarnation: 2,
    dialer_nonce: [1; 16],
    acceptor_nonce: [2; 16],
};

#[test]
fn the_handshake_byte_for_byte() {
    let (mut a, mut b) = pair(SECRET, SECRET);
    let (mut ha, mut hb) = (Rec::default(), Rec::default());
    let hello = take(&mut a, &mut ha);
    assert_eq!(
        hello,
        line(&PeerMsg::Hello {
            from: "A",
            to: "B",
            incarnation: 1,
            nonce: [1; 16]
        })
    );
    b.receive(hello.as_bytes(), ms(1), &mut hb);
    let welcome = take(&mut b, &mut hb);
    let t = TRANSCRIPT();
    assert_eq!(
        welcome,
        line(&PeerMsg::Welcome {
            from: "B",
            incarnation: 2,
            nonce: [2; 16],
            mac: t.mac(SECRET, Role::Acceptor)
        })
    );
    a.receive(welcome.as_bytes(), ms(2), &mut ha);
    // The dialer is up: PROOF, then its (empty) summary, then its first PING.
    let after = take(&mut a, &mut ha);
    let proof = line(&PeerMsg::Proof {
        mac: t.mac(SECRET, Role::Dialer),
    });
    assert_eq!(
        after,
        format!("{proof}SUMMARY 0 0 0000000000000000\nPING 1\n")
    );
    assert_eq!(ha.ups, [("B".to_string(), 2)]);
    b.receive(after.as_bytes(), ms(3), &mut hb);
    assert_eq!(hb.ups, [("A".to_string(), 1)]);
    // B compared A's summary (identical empty tables: nothing to send) and answers the PING.
    assert_eq!(hb.compared, (0, true));
    assert_eq!(
        take(&mut b, &mut hb),
        "SUMMARY 0 0 0000000000000000\nPING 1\nPONG 1\n"
    );
    assert_eq!(a.neighbour().map(|n| &**n), Some("B"));
    assert_eq!(b.neighbour().map(|n| &**n), Some("A"));
    assert!(a.end().is_none() && b.end().is_none());
}

/// Feeds the acceptor `input` (after nothing else) and returns how it ended and what it wrote.
fn accept_check(input: &str, refuse: Option<&str>, expected_end: Option<End>, writes: bool) {
    let mut b = Session::accept(settings("B", SECRET, 2), [2; 16], ms(0));
    let mut hb = Rec {
        refuse: refuse.map(str::to_string),
        ..Rec::default()
    };
    b.receive(input.as_bytes(), ms(1), &mut hb);
    assert_eq!(b.end(), expected_end.as_ref(), "{input:?}");
    assert_eq!(!take(&mut b, &mut hb).is_empty(), writes, "{input:?}");
    assert!(hb.ups.is_empty(), "{input:?}");
}

#[test]
fn the_acceptor_refuses_what_is_not_a_good_hello_or_proof() {
    let hello = line(&PeerMsg::Hello {
        from: "A",
        to: "B",
        incarnation: 1,
        nonce: [1; 16],
    });
    // A client's line on the peer port.
    accept_check(
        "IAMAT kiwi +1+1 1\n",
        None,
        Some(End::Unexpected("the first line on the peer port must be a HELLO (client commands go to the client port), got IAMAT kiwi +1+1 1".into())),
        false,
    );
    // A HELLO for somebody else.
    accept_check(
        &line(&PeerMsg::Hello {
            from: "A",
            to: "C",
            incarnation: 1,
            nonce: [1; 16],
        }),
        None,
        Some(End::Refused("HELLO is for \"C\", this is B".into())),
        false,
    );
    // The host says no (not a neighbour, link cut...).
    accept_check(
        &hello,
        Some("not a neighbour"),
        Some(End::Refused("not a neighbour".into())),
        false,
    );
    // A good HELLO gets a WELCOME; a bad PROOF ends it without another word.
    accept_check(&hello, None, None, true);
    let bad = line(&PeerMsg::Proof { mac: [0; 32] });
    accept_check(
        &format!("{hello}{bad}"),
        None,
        Some(End::AuthFailed("A".into())),
        true,
    );
    // Anything but PROOF after the WELCOME.
    accept_check(
        &format!("{hello}PING 1\n"),
        None,
        Some(End::Unexpected("expected PROOF, got PING 1".into())),
        true,
    );
    // An overlong line during the handshake.
    accept_check(
        &format!("{}\n", "x".repeat(500)),
        None,
        Some(End::Unexpected(
            "a line longer than 200 bytes during the handshake".into(),
        )),
        false,
    );
}

#[test]
fn the_dialer_refuses_another_herd_or_another_server() {
    // Different secrets: B's WELCOME does not verify at A.
    let (mut a, mut b) = pair(SECRET, b"another-herd-another-secret-0123");
    let (mut ha, mut hb) = (Rec::default(), Rec::default());
    pump(&mut a, &mut ha, &mut b, &mut hb, ms(1));
    assert_eq!(a.end(), Some(&End::AuthFailed("B".into())));
    assert!(ha.ups.is_empty() && hb.ups.is_empty());
    // C answers where A dialed B.
    let mut a = Session::dial(settings("A", SECRET, 1), "B".into(), [1; 16], ms(0));
    let welcome = line(&PeerMsg::Welcome {
        from: "C",
        incarnation: 3,
        nonce: [3; 16],
        mac: [0; 32],
    });
    a.receive(welcome.as_bytes(), ms(1), &mut ha);
    assert_eq!(
        a.end(),
        Some(&End::WrongServer {
            expected: "B".into(),
            got: "C".into()
        })
    );
    // Silence: the handshake deadline.
    let mut a = Session::dial(settings("A", SECRET, 1), "B".into(), [1; 16], ms(0));
    assert_eq!(a.next_timer(), Some(ms(300)));
    a.on_timer(ms(299), &mut ha);
    assert!(a.end().is_none());
    a.on_timer(ms(300), &mut ha);
    assert_eq!(a.end(), Some(&End::HandshakeTimeout(ms(300))));
}

/// Two sessions up, with these tables.
fn up(table_a: Vec<Update>, table_b: Vec<Update>) -> (Session, Rec, Session, Rec) {
    let (mut a, mut b) = pair(SECRET, SECRET);
    let mut ha = Rec {
        table: table_a,
        ..Rec::default()
    };
    let mut hb = Rec {
        table: table_b,
        ..Rec::default()
    };
    pump(&mut a, &mut ha, &mut b, &mut hb, ms(1));
    assert!(a.end().is_none() && b.end().is_none());
    (a, ha, b, hb)
}

#[test]
fn catch_up_sends_only_what_differs_both_ways() {
    let shared: Vec<Update> = (0..400).map(|i| u(&format!("c{i}"), 1)).collect();
    let mut table_a = shared.clone();
    table_a.push(u("only-a", 5));
    let mut table_b = shared;
    table_b[3] = u("c3", 9); // B holds a newer c3
    let (_a, ha, _b, hb) = up(table_a, table_b);
    // Each received at least the entry it lacked; both compared the other's whole summary.
    assert!(
        hb.applied.iter().any(|l| l.contains(" only-a ")),
        "{:?}",
        hb.applied
    );
    assert!(
        ha.applied.iter().any(|l| l.ends_with(" c3 +1+1 9")),
        "{:?}",
        ha.applied
    );
    assert!(ha.compared.1 && hb.compared.1);
    // Whole buckets travel (16 buckets here), never the whole table.
    assert!(
        hb.applied.len() < 200 && ha.applied.len() < 200,
        "{} {}",
        ha.applied.len(),
        hb.applied.len()
    );
    assert_eq!(ha.snapshots, 1);
    // Each side counts its summary and the entries it pushed as sent, and the other's summary
    // as received: what A sent is what B received of A's summary plus the entries B applied.
    let pushed =
        |applied: &[String]| -> usize { applied.iter().map(|l| "UPDATE \n".len() + l.len()).sum() };
    assert!(ha.catch_up.1 > 0 && hb.catch_up.1 > 0);
    assert_eq!(ha.catch_up.0, hb.catch_up.1 + pushed(&hb.applied));
    assert_eq!(hb.catch_up.0, ha.catch_up.1 + pushed(&ha.applied));
}

#[test]
fn floods_go_out_after_catch_up_and_arrive_as_updates() {
    let (mut a, mut ha, mut b, mut hb) = up(vec![], vec![]);
    let out = |update, seen: &str| Outgoing {
        update,
        seen: Seen::from(seen.as_bytes()),
    };
    ha.outbox = vec![
        out(u("x", 1), ""),
        out(u("y", 2), "~A,B,C"),
        out(u("z", 3), "^0123abcd"),
        out(u("w", 4), "!A"),
    ];
    pump(&mut a, &mut ha, &mut b, &mut hb, ms(2));
    assert_eq!(
        ha.sent,
        [
            "AT S +0.000000000 x +1+1 1",
            "AT S +0.000000000 y +1+1 2",
            "AT S +0.000000000 z +1+1 3",
            "AT S +0.000000000 w +1+1 4"
        ]
    );
    assert_eq!(hb.applied, ha.sent);
    // How each travels goes with it.
    assert_eq!(hb.seen, ["", "~A,B,C", "^0123abcd", "!A"]);
    // A malformed update ends the link.
    b.receive(b"UPDATE AT nonsense\n", ms(3), &mut hb);
    assert!(matches!(b.end(), Some(End::Malformed(_))), "{:?}", b.end());
}

#[test]
fn heartbeats_pong_rtt_and_silence() {
    let (mut a, mut ha, mut b, mut hb) = up(vec![], vec![]);
    // Up at 1 ms: the next PING is due a heartbeat later, silence a timeout after the last byte.
    assert_eq!(a.next_timer(), Some(ms(101)));
    a.on_timer(ms(101), &mut ha);
    assert_eq!(take(&mut a, &mut ha), "PING 2\n");
    b.receive(b"PING 2\n", ms(102), &mut hb);
    assert_eq!(take(&mut b, &mut hb), "PONG 2\n");
    let before = ha.rtts.len();
    a.receive(b"PONG 2\n", ms(131), &mut ha);
    assert_eq!(ha.rtts[before..], [ms(30)]);
    // A PONG for another PING measures nothing.
    a.receive(b"PONG 9\n", ms(140), &mut ha);
    assert_eq!(ha.rtts.len(), before + 1);
    assert_eq!(a.next_timer(), Some(ms(201)));
    // Nothing heard since 140 ms: the link ends at 540 ms, not before.
    for t in [201, 301, 401, 501] {
        a.on_timer(ms(t), &mut ha);
    }
    assert!(a.end().is_none());
    a.on_timer(ms(540), &mut ha);
    assert_eq!(a.end(), Some(&End::Silent(ms(400))));
}

#[test]
fn a_new_connection_carries_nothing_over_from_the_old_one() {
    let table: Vec<Update> = (0..100).map(|i| u(&format!("c{i}"), 1)).collect();
    let (mut a, mut ha, _b, _hb) = up(table.clone(), vec![]);
    // Old connection: a PING arrives (a PONG is owed) and half of a summary (a comparison is
    // under way), then the connection dies before anything is written.
    a.receive(
        b"PING 77\nSUMMARY 2 0 0000000000000000 0000000000000000\n",
        ms(5),
        &mut ha,
    );
    assert!(a.output().ends_with(b"PONG 77\n"));
    let snapshots = ha.snapshots;
    a.close(End::Io("reset".into()));
    drop(a);
    // New connection: nothing owed, nothing half-compared, a fresh summary and PING 1.
    let (mut a2, mut b2) = pair(SECRET, SECRET);
    let mut ha2 = Rec {
        table,
        ..Rec::default()
    };
    let mut hb2 = Rec::default();
    pump(&mut a2, &mut ha2, &mut b2, &mut hb2, ms(10));
    let out = take(&mut a2, &mut ha2);
    assert!(!out.contains("PONG 77"), "{out}");
    assert_eq!(snapshots, 2, "the old comparison took its own snapshot");
    assert_eq!(ha2.snapshots, 1, "the new one compares B's summary afresh");
    assert_eq!(
        hb2.applied.len(),
        100,
        "the empty side receives everything, once"
    );
}

#[test]
fn an_overlong_frame_is_dropped_and_the_link_goes_on() {
    let (_a, _ha, mut b, mut hb) = up(vec![], vec![]);
    // Exactly at the limit: carried. One byte more: dropped, counted, and the next one arrives.
    let base = "UPDATE AT S +0.000000000 ";
    let tail = " +1+1 1";
    let at_limit = format!("{base}{}{tail}", "k".repeat(200 - base.len() - tail.len()));
    let over = format!("{base}{}{tail}", "o".repeat(201 - base.len() - tail.len()));
    assert_eq!((at_limit.len(), over.len()), (200, 201));
    b.receive(
        format!("{at_limit}\n{over}\nUPDATE AT S +0.000000000 after +1+1 1\n").as_bytes(),
        ms(5),
        &mut hb,
    );
    assert!(b.end().is_none());
    assert_eq!(hb.skipped, [201]);
    assert_eq!(hb.applied.len(), 2);
    assert!(hb.applied[1].contains(" after "));
}

#[test]
fn summaries_go_out_again_periodically_and_on_request_and_repair_what_was_missed() {
    let shared: Vec<Update> = (0..50).map(|i| u(&format!("c{i}"), 1)).collect();
    let (mut a, mut ha, mut b, mut hb) = up(shared.clone(), shared);
    // Up at 1 ms, the resync period is 1 s: next summary due at 1001 ms (PINGs before that).
    assert_eq!(a.next_timer(), Some(ms(101)));
    // A copy B never got (its connection from elsewhere was lost): A's table has it.
    ha.table.push(u("missed", 7));
    for t in (101..=1001).step_by(100) {
        a.on_timer(ms(t), &mut ha);
        b.on_timer(ms(t), &mut hb);
        pump(&mut a, &mut ha, &mut b, &mut hb, ms(t));
    }
    // Each side's summary makes the other push what differs: B's brings B what it missed.
    assert_eq!(
        (ha.summaries, hb.summaries),
        (1, 1),
        "one periodic summary each"
    );
    assert!(
        hb.applied.iter().any(|l| l.ends_with(" missed +1+1 7")),
        "{:?}",
        hb.applied
    );
    // On request (another of B's links was lost), sooner than the period.
    ha.table.push(u("other", 8));
    b.request_resync(ms(1002), ms(50));
    assert_eq!(b.next_timer(), Some(ms(1052)));
    b.on_timer(ms(1052), &mut hb);
    pump(&mut a, &mut ha, &mut b, &mut hb, ms(1052));
    assert_eq!(hb.summaries, 2);
    assert!(
        hb.applied.iter().any(|l| l.ends_with(" other +1+1 8")),
        "{:?}",
        hb.applied
    );
}

#[test]
fn a_server_shutting_down_says_bye_and_the_neighbour_ends_without_a_fault() {
    let (mut a, mut ha, mut b, mut hb) = up(vec![], vec![]);
    a.say_bye();
    assert_eq!(take(&mut a, &mut ha), "BYE\n");
    assert_eq!(a.end(), Some(&End::Local("server stopping".into())));
    b.receive(b"BYE\n", ms(5), &mut hb);
    assert_eq!(b.end(), Some(&End::Departed));
    // Before the handshake there is nobody to tell.
    let mut c = Session::dial(settings("A", SECRET, 1), "B".into(), [1; 16], ms(0));
    let hello = take(&mut c, &mut ha);
    c.say_bye();
    assert_eq!(take(&mut c, &mut ha), "", "{hello}");
}
