//! A whole five-server herd in this process, on ephemeral loopback ports.

use std::io::Write;
use std::net::TcpStream;

use crate::support::*;

const NAMES: [&str; 5] = ["Bailey", "Bona", "Campbell", "Clark", "Jaquez"];

#[test]
fn iamat_replies_exact_bytes_and_every_server_answers_whatsat_with_the_origin_line() {
    let h = TestHerd::start(fast_config());
    let time = now_text();
    let reply = talk_str(
        h.addr("Clark"),
        &format!("IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 {time}\n"),
    );
    assert_at(
        &reply,
        "Clark",
        "kiwi.cs.ucla.edu",
        "+34.068930-118.445127",
        &time,
    );
    let at = reply.trim_end().to_string();
    // The diff is server time minus client time: small and non-negative on one machine.
    assert!(at.split(' ').nth(2).unwrap().starts_with("+0."), "{at}");
    for name in NAMES {
        h.wait_holds(name, "kiwi.cs.ucla.edu", &at);
        let out = talk_str(h.addr(name), "WHATSAT kiwi.cs.ucla.edu 10 3\n");
        let (first, json) = out.split_once('\n').unwrap();
        assert_eq!(
            first, at,
            "{name} answers with Clark's AT line byte for byte"
        );
        assert!(
            json.ends_with("}\n\n") && !json.ends_with("}\n\n\n"),
            "{name}: {out:?}"
        );
        assert!(
            !json.trim_end().contains("\n\n"),
            "no blank line inside the JSON"
        );
        let doc: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(doc["status"], "OK", "{name}");
        let n = doc["results"].as_array().unwrap().len();
        assert!((1..=3).contains(&n), "{name}: bound 3, got {n}");
    }
}

#[test]
fn a_whatsat_right_after_the_at_reply_sees_the_update_at_a_neighbour() {
    let h = TestHerd::start(fast_config());
    // Clark and Bona are neighbours: the flood starts before the reply is written.
    for i in 0..20 {
        let client = format!("quick{i}");
        let time = now_text();
        let reply = talk_str(
            h.addr("Clark"),
            &format!("IAMAT {client} +1.5-2.5 {time}\n"),
        );
        assert!(reply.starts_with("AT Clark "), "{reply}");
        h.wait_holds("Bona", &client, reply.trim_end());
    }
}

#[test]
fn newest_wins_whatever_the_arrival_order() {
    let h = TestHerd::start(fast_config());
    // The newer report reaches Bailey first, the older reaches Jaquez after; and the reverse.
    let newer = talk_str(h.addr("Bailey"), "IAMAT c1 +10+10 1700000002\n");
    let older = talk_str(h.addr("Jaquez"), "IAMAT c1 +20+20 1700000001\n");
    assert!(
        older.starts_with("AT Jaquez"),
        "an older report still gets its AT reply"
    );
    let older2 = talk_str(h.addr("Jaquez"), "IAMAT c2 +20+20 1700000001\n");
    let newer2 = talk_str(h.addr("Bailey"), "IAMAT c2 +10+10 1700000002\n");
    assert!(older2.starts_with("AT Jaquez"));
    for name in NAMES {
        h.wait_holds(name, "c1", newer.trim_end());
        h.wait_holds(name, "c2", newer2.trim_end());
    }
    // Equal client times: every server settles on the same line (the greater AT line).
    let a = talk_str(h.addr("Bailey"), "IAMAT tie +1+1 1700000005\n");
    let b = talk_str(h.addr("Jaquez"), "IAMAT tie +1+1 1700000005\n");
    let winner = std::cmp::max(a.trim_end(), b.trim_end()).to_string();
    for name in NAMES {
        h.wait_holds(name, "tie", &winner);
    }
}

#[test]
fn invalid_lines_get_question_mark_and_a_copy() {
    let h = TestHerd::start(fast_config());
    let addr = h.addr("Campbell");
    talk_str(addr, "IAMAT known +1+1 1700000000\n");
    let cases: &[&str] = &[
        "IAMAT Clark +12-118",
        "AS Clark +0.25 testuser +12-118 1234",
        "AT Clark +0.263873386 kiwi +34-118 1621464827.959498503",
        "",
        "   \t",
        "iamat kiwi +1+1 1",
        "IAMAT kiwi +91+1 1",
        "IAMAT kiwi +1+181 1",
        "IAMAT kiwi 34-118 1",
        "IAMAT kiwi +1+1 -5",
        "IAMAT kiwi +1+1 1e9",
        "IAMAT kiwi +1+1 1.1234567890",
        "IAMAT kiwi +1+1 1 extra",
        "WHATSAT known 0 5",
        "WHATSAT known 50.1 5",
        "WHATSAT known 10 0",
        "WHATSAT known 10 21",
        "WHATSAT known 10 5.0",
        "WHATSAT nobody 10 5",
        "HERD/1 PROOF 00",
        "UPDATE AT Clark +0.000000000 evil +1+1 9999999999",
    ];
    for line in cases {
        let reply = talk(addr, format!("{line}\n").as_bytes());
        assert_eq!(reply, format!("? {line}\n").into_bytes(), "{line:?}");
    }
    // CRLF: the CR belongs to the terminator.
    assert_eq!(talk(addr, b"bogus line\r\n"), b"? bogus line\n");
    // Non-UTF-8 bytes come back exactly.
    assert_eq!(talk(addr, b"\xff\xfe x\n"), b"? \xff\xfe x\n");
    // A client that spoke a server message changed nothing.
    assert!(h.h().server("Campbell").unwrap().lookup(b"evil").is_none());
}

#[test]
fn nc_style_session_gets_each_reply_as_it_goes_and_a_final_line_without_newline() {
    let h = TestHerd::start(fast_config());
    let mut s = TcpStream::connect(h.addr("Bona")).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    s.write_all(b"IAMAT nc1 +34.068930-118.445127 1700000000.5\n")
        .unwrap();
    assert_at(
        &read_line(&mut s),
        "Bona",
        "nc1",
        "+34.068930-118.445127",
        "1700000000.5",
    );
    s.write_all(b"bad\n").unwrap();
    assert_eq!(read_line(&mut s), "? bad\n");
    s.write_all(b"WHATSAT nc1 5 2\n").unwrap();
    let w = read_whatsat(&mut s);
    assert!(w.starts_with("AT Bona "), "{w}");
    // Several lines in one write are answered in order.
    s.write_all(b"x1\nx2\r\nIAMAT nc2 -33.86+151.21 1700000001\nx3")
        .unwrap();
    assert_eq!(read_line(&mut s), "? x1\n");
    assert_eq!(read_line(&mut s), "? x2\n");
    assert!(read_line(&mut s).starts_with("AT Bona "));
    // The last command has no newline: it is answered at EOF, then the server closes.
    s.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_line(&mut s), "? x3\n");
    assert_eq!(read_line(&mut s), "", "closed after the last reply");
}

#[test]
fn servers_stopped_are_routed_around_and_a_restarted_server_catches_up() {
    let h = TestHerd::start(fast_config());
    // Stop Bona: Clark still reaches Bailey through Jaquez and Campbell.
    h.stop("Bona");
    let r = talk_str(h.addr("Clark"), "IAMAT around +1+1 1700000010\n");
    for name in ["Bailey", "Campbell", "Clark", "Jaquez"] {
        h.wait_holds(name, "around", r.trim_end());
    }
    // Stop Jaquez too: Clark is cut off, the rest keep serving each other.
    h.stop("Jaquez");
    let r2 = talk_str(h.addr("Bailey"), "IAMAT island +2+2 1700000011\n");
    h.wait_holds("Campbell", "island", r2.trim_end());
    let clark_alone = talk_str(h.addr("Clark"), "IAMAT alone +3+3 1700000012\n");
    assert!(
        clark_alone.starts_with("AT Clark"),
        "a cut-off server keeps serving"
    );
    // Restart both: they learn what flooded while they were away, and Clark's update spreads.
    h.restart("Bona");
    h.restart("Jaquez");
    h.wait_all_links_up();
    for name in NAMES {
        h.wait_holds(name, "around", r.trim_end());
        h.wait_holds(name, "island", r2.trim_end());
        h.wait_holds(name, "alone", clark_alone.trim_end());
    }
    // And new updates after the restart.
    let r3 = talk_str(h.addr("Bona"), "IAMAT after +4+4 1700000013\n");
    for name in NAMES {
        h.wait_holds(name, "after", r3.trim_end());
    }
}

#[test]
fn operator_cut_and_restore_of_a_link() {
    let h = TestHerd::start(fast_config());
    // Clark's only other route is through Jaquez; cut Clark-Bona and Clark-Jaquez.
    assert!(h.h().cut_link("Clark", "Bona"));
    assert!(h.h().cut_link("Clark", "Jaquez"));
    assert!(!h.h().cut_link("Clark", "Bailey"), "no such link");
    let r = talk_str(h.addr("Clark"), "IAMAT cut +5+5 1700000020\n");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        h.h().server("Bona").unwrap().lookup(b"cut").is_none(),
        "cut links carry nothing"
    );
    assert!(h.h().restore_link("Clark", "Bona"));
    assert!(h.h().restore_link("Clark", "Jaquez"));
    for name in NAMES {
        h.wait_holds(name, "cut", r.trim_end());
    }
}

#[test]
fn a_line_longer_than_the_limit_closes_the_connection() {
    let h = TestHerd::start(fast_config());
    let mut big = vec![b'x'; 16 * 1024 * 1024];
    big.push(b'\n');
    let mut s = TcpStream::connect(h.addr("Clark")).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    s.write_all(b"ok\n").unwrap();
    // The server stops reading after the limit, so the write may fail with a reset: fine.
    let _ = s.write_all(&big);
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut s, &mut rest);
    assert!(
        rest.starts_with(b"? ok\n"),
        "earlier lines are still answered"
    );
    assert!(
        !rest.windows(3).any(|w| w == b"xxx"),
        "nothing of the long line is echoed"
    );
    // The server is fine.
    assert_eq!(talk(h.addr("Clark"), b"still\n"), b"? still\n");
}

/// An IAMAT of exactly `len` bytes with the longest time difference a server can print.
fn longest_iamat(len: usize, client_char: char) -> String {
    let time = "9".repeat(herd::protocol::time::MAX_TIME_INT_DIGITS) + ".999999999";
    let fixed = format!("IAMAT  +90-180 {time}").len();
    let client: String = std::iter::repeat_n(client_char, len.saturating_sub(fixed)).collect();
    format!("IAMAT {client} +90-180 {time}")
}

#[test]
fn the_longest_iamat_a_client_may_send_reaches_every_server_and_links_stay_up() {
    let mut cfg = fast_config();
    // Only a link that fails may count here: a loaded machine can starve heartbeats for 400 ms,
    // so silence ends no link during this test (a frame error still would, at once).
    cfg.timings.peer_timeout_ms = 60_000;
    let max = cfg.limits.max_line;
    let h = TestHerd::start(cfg);
    let reconnects = |h: &TestHerd| -> u64 {
        NAMES
            .iter()
            .filter_map(|n| h.h().server(n))
            .flat_map(|s| {
                s.peers
                    .iter()
                    .map(|p| p.reconnects.load(std::sync::atomic::Ordering::Relaxed))
                    .collect::<Vec<_>>()
            })
            .sum()
    };
    let before = reconnects(&h);
    let line = longest_iamat(max, 'L');
    assert_eq!(line.len(), max);
    let reply = talk_str(h.addr("Bailey"), &format!("{line}\n"));
    let at = reply.trim_end().to_string();
    assert!(at.starts_with("AT Bailey -"), "{}", &at[..40]);
    let client = line.split(' ').nth(1).unwrap();
    // A later, ordinary update crosses the same links behind it.
    let small = talk_str(
        h.addr("Bailey"),
        &format!("IAMAT after +1+1 {}\n", now_text()),
    );
    for name in NAMES {
        h.wait_holds(name, client, &at);
        h.wait_holds(name, "after", small.trim_end());
    }
    h.wait_all_links_up();
    assert_eq!(reconnects(&h), before, "no link was re-established");

    // One byte longer is refused at the client port: the connection is closed, nothing applied.
    let too_long = longest_iamat(max + 1, 'M');
    let out = talk(h.addr("Bailey"), format!("{too_long}\n").as_bytes());
    assert!(out.is_empty(), "{:?}", String::from_utf8_lossy(&out));
    assert!(h
        .h()
        .server("Bailey")
        .unwrap()
        .lookup(too_long.split(' ').nth(1).unwrap().as_bytes())
        .is_none());
}

/// Timings under which no resync happens while a test runs: neither the periodic one nor the
/// one a server asks of its other links when it loses one (a heartbeat after the loss).
fn no_resync_config() -> herd::config::Config {
    let mut cfg = fast_config();
    cfg.timings.resync_ms = 600_000;
    cfg.timings.heartbeat_ms = 300_000;
    cfg.timings.peer_timeout_ms = 900_000;
    cfg
}

/// Link messages received and ignored, over the whole herd.
fn floods(h: &TestHerd) -> (u64, u64) {
    use std::sync::atomic::Ordering::Relaxed;
    NAMES.iter().fold((0, 0), |(r, i), name| {
        let s = h.h().server(name).expect("running");
        (
            r + s.stats.floods_received.load(Relaxed),
            i + s.stats.floods_ignored.load(Relaxed),
        )
    })
}

#[test]
fn with_every_link_up_an_update_crosses_each_server_once() {
    let h = TestHerd::start(no_resync_config());
    for (origin, client) in [
        ("Clark", "once-c"),
        ("Bailey", "once-b"),
        ("Jaquez", "once-j"),
    ] {
        let before = floods(&h);
        let r = talk_str(h.addr(origin), &format!("IAMAT {client} +1+1 1700000040\n"));
        for name in NAMES {
            h.wait_holds(name, client, r.trim_end());
        }
        let after = floods(&h);
        // On the origin's spanning tree: one copy for each of the four other servers.
        assert_eq!(
            (after.0 - before.0, after.1 - before.1),
            (4, 0),
            "link messages received and ignored for {origin}'s update"
        );
    }
}

#[test]
fn an_update_goes_around_a_tree_link_that_is_down_without_waiting_for_a_resync() {
    let h = TestHerd::start(no_resync_config());
    // Bailey's tree: Bailey -> Bona -> Clark, Bailey -> Campbell -> Jaquez. With Bona-Clark
    // cut, Clark is reached only by a detour from Bona, which Campbell and Jaquez (holding the
    // update already, from the tree) must pass on.
    assert!(h.h().cut_link("Bona", "Clark"));
    let r = talk_str(h.addr("Bailey"), "IAMAT detour +1+1 1700000050\n");
    for name in NAMES {
        h.wait_holds(name, "detour", r.trim_end());
    }
    // Clark's own update: its tree goes Clark -> Bona -> Bailey, Campbell, and Clark cannot
    // reach Bona, so it detours through Jaquez.
    let r = talk_str(h.addr("Clark"), "IAMAT detour2 +1+1 1700000051\n");
    for name in NAMES {
        h.wait_holds(name, "detour2", r.trim_end());
    }
}
