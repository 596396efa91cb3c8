//! Faults with real processes and signals: kill -9 under load, every pair of servers down in
//! turn, a simultaneous start, a neighbour that never reads, slowloris and huge lines, and
//! connection churn. Everything on 127.0.0.1, every loop bounded in count and time.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herd::wire::{self, PeerMsg, Role, Transcript};

use crate::procs::*;
use crate::support::*;

/// Waits until every server in `group` holds, for every client, an AT line at least as new as
/// `acked` (nothing acknowledged is lost) and all of them hold the same line.
fn wait_converged(h: &ProcHerd, group: &[usize], acked: &HashMap<String, String>, what: &str) {
    let clients: Vec<String> = acked.keys().cloned().collect();
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let views: Vec<Option<Vec<Option<String>>>> =
            group.iter().map(|&i| held(h.addr(i), &clients)).collect();
        let ok = views.iter().all(|v| v.is_some())
            && views.windows(2).all(|w| w[0] == w[1])
            && views[0].as_ref().is_some_and(|v| {
                v.iter().zip(&clients).all(|(got, c)| {
                    got.as_ref()
                        .is_some_and(|g| at_time(g) >= at_time(&acked[c]))
                })
            });
        if ok {
            return;
        }
        let last = format!("{views:?}");
        if Instant::now() >= end {
            // What each server last logged says why (a link down, a refused handshake...).
            let tails: String = group
                .iter()
                .map(|&i| {
                    let log = h.log(i);
                    let lines: Vec<&str> = log.lines().collect();
                    let tail = lines[lines.len().saturating_sub(25)..].join("\n");
                    format!("--- {} ---\n{tail}\n", NAMES[i])
                })
                .collect();
            panic!(
                "{what}: servers {group:?} never converged; last views {}\n{tails}",
                &last[..last.len().min(2000)]
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn kill_9_under_load_then_restart_and_whole_herd_restart_lose_nothing_acknowledged() {
    let mut h = ProcHerd::new("");
    h.start_all();
    let addrs: Vec<_> = (0..5).map(|i| h.addr(i)).collect();
    let acked: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let sent = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let load = {
        let (acked, sent, done) = (acked.clone(), sent.clone(), done.clone());
        std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(20);
            for k in 0..800usize {
                if Instant::now() > end {
                    break;
                }
                let client = format!("load{}", k % 40);
                // Later sends carry later client times, so the newest acknowledged is the last.
                let time = format!("{}.{k:09}", 1_700_000_000 + k);
                if let Some(at) = try_iamat(addrs[k % 5], &client, &time) {
                    acked.lock().unwrap().insert(client, at);
                }
                sent.store(k + 1, SeqCst);
            }
            done.store(true, SeqCst);
        })
    };
    let clark = ProcHerd::index("Clark");
    wait_until("load under way", || sent.load(SeqCst) >= 200);
    h.kill9(clark);
    wait_until("load goes on without Clark", || sent.load(SeqCst) >= 450);
    h.start(clark);
    load.join().unwrap();
    assert!(done.load(SeqCst));
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), 40);
    wait_converged(&h, &[0, 1, 2, 3, 4], &acked, "after restart");
    h.wait_log(clark, "restored ");
    // Its neighbours saw a new incarnation.
    h.wait_log(ProcHerd::index("Jaquez"), "Clark restarted (incarnation ");
    // The whole herd dies at once (kill -9) and comes back: every server reloads its own log,
    // so every acknowledged update is still served everywhere.
    for i in 0..5 {
        h.kill9(i);
    }
    h.start_all();
    wait_converged(
        &h,
        &[0, 1, 2, 3, 4],
        &acked,
        "after the whole herd restarted",
    );
}

#[test]
fn every_pair_down_in_turn_then_all_converge() {
    let mut h = ProcHerd::new("");
    h.start_all();
    let mut acked: HashMap<String, String> = HashMap::new();
    let mut round = 0;
    for a in 0..5 {
        for b in a + 1..5 {
            round += 1;
            h.kill9(a);
            h.kill9(b);
            let up: Vec<usize> = (0..5).filter(|i| *i != a && *i != b).collect();
            let mut this_round = HashMap::new();
            for &i in &up {
                let client = format!("r{round}s{i}");
                let at = try_iamat(h.addr(i), &client, &format!("{}", 1_700_000_000 + round))
                    .unwrap_or_else(|| panic!("{} answers", NAMES[i]));
                this_round.insert(client, at);
            }
            // Servers still connected agree on what was sent within their group.
            for group in components(&up) {
                let mine: HashMap<String, String> = this_round
                    .iter()
                    .filter(|(c, _)| group.iter().any(|i| c.ends_with(&format!("s{i}"))))
                    .map(|(c, a)| (c.clone(), a.clone()))
                    .collect();
                wait_converged(&h, &group, &mine, &format!("round {round} group {group:?}"));
            }
            acked.extend(this_round);
            h.start(a);
            h.start(b);
            wait_converged(
                &h,
                &[0, 1, 2, 3, 4],
                &acked,
                &format!("round {round} restart"),
            );
        }
    }
    assert_eq!(round, 10);
}

#[test]
fn a_simultaneous_start_builds_exactly_one_link_per_pair() {
    let mut h = ProcHerd::new("");
    for i in 0..5 {
        h.spawn(i);
    }
    for i in 0..5 {
        wait_listening(h.addr(i));
    }
    for (a, b) in LINKS {
        h.wait_log(ProcHerd::index(a), &format!("link to {b} up"));
        h.wait_log(ProcHerd::index(b), &format!("link to {a} up"));
    }
    let at = try_iamat(h.addr(ProcHerd::index("Clark")), "sync", "1700000000").unwrap();
    let acked = HashMap::from([("sync".to_string(), at)]);
    wait_converged(&h, &[0, 1, 2, 3, 4], &acked, "flood");
    // Both ends of every pair dialed at once; whichever connections came up, each pair ends
    // with exactly one (the owner rule closes the other at both ends).
    wait_until("one connection per link", || {
        established_on(&h.peer_ports).len() == LINKS.len()
    });
    for (i, name) in NAMES.iter().enumerate() {
        assert!(h.term(i), "{name} exits cleanly");
    }
    for (a, b) in LINKS {
        for (me, other) in [(a, b), (b, a)] {
            let log = h.log(ProcHerd::index(me));
            let ups = log.matches(&format!("link to {other} up")).count();
            // Every connection that passes the handshake logs "up": at most the two dialed at
            // start, never a string of replacements.
            assert!(
                (1..=2).contains(&ups),
                "{me} brought its link to {other} up {ups} times:\n{log}"
            );
        }
    }
}

/// Plays the acceptor's side of the handshake (no secret) and returns the socket, never to
/// be read again.
fn fake_acceptor(listener: &TcpListener, me: &str) -> TcpStream {
    let (mut s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let hello = read_line(&mut s);
    let Some(PeerMsg::Hello {
        from,
        incarnation,
        nonce,
        ..
    }) = wire::decode(hello.trim_end().as_bytes())
    else {
        panic!("not a HELLO: {hello:?}");
    };
    let t = Transcript {
        dialer: from.to_string(),
        acceptor: me.to_string(),
        dialer_incarnation: incarnation,
        acceptor_incarnation: 7,
        dialer_nonce: nonce,
        acceptor_nonce: [5; 16],
    };
    let mut out = Vec::new();
    wire::encode(
        &PeerMsg::Welcome {
            from: me,
            incarnation: 7,
            nonce: [5; 16],
            mac: t.mac(b"", Role::Acceptor),
        },
        &mut out,
    );
    s.write_all(&out).unwrap();
    let proof = read_line(&mut s);
    assert!(proof.starts_with("HERD/1 PROOF "), "{proof}");
    s
}

#[test]
fn a_neighbour_that_never_reads_is_cut_and_stalls_nobody() {
    // Bona runs; "Clark" is this test, which completes the handshake and then never reads.
    let fake = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut h = ProcHerd::new("");
    let mut peer_ports = h.peer_ports.clone();
    peer_ports[ProcHerd::index("Clark")] = fake.local_addr().unwrap().port();
    let hosts = vec!["127.0.0.1".to_string(); 5];
    std::fs::write(&h.cfg, herd_ron(&hosts, &h.ports, &peer_ports, "")).unwrap();
    let bona = ProcHerd::index("Bona");
    h.start(bona);
    let stuck = fake_acceptor(&fake, "Clark");
    // It talks (so Bona never drops it for silence) but never reads.
    let pinger = {
        let mut s = stuck.try_clone().unwrap();
        std::thread::spawn(move || {
            for n in 0..300 {
                if s.write_all(format!("PING {n}\n").as_bytes()).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let rss_before = rss_kib(h.pid(bona));
    // 3,000 clients with 3 KiB IDs: about 10 MiB to flood, more than loopback buffers hold.
    let long = "x".repeat(3000);
    let mut s = TcpStream::connect(h.addr(bona)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let writer = {
        let mut s = s.try_clone().unwrap();
        let long = long.clone();
        std::thread::spawn(move || {
            for i in 0..3000 {
                let line = format!("IAMAT {long}{i} +1+1 1700000000\n");
                if s.write_all(line.as_bytes()).is_err() {
                    break;
                }
            }
            let _ = s.shutdown(Shutdown::Write);
        })
    };
    let mut replies = Vec::new();
    s.read_to_end(&mut replies).unwrap();
    writer.join().unwrap();
    let n = replies
        .split(|b| *b == b'\n')
        .filter(|l| l.starts_with(b"AT Bona "))
        .count();
    assert_eq!(n, 3000, "every IAMAT answered while the neighbour is stuck");
    h.wait_log(bona, "write stalled");
    drop(stuck);
    pinger.join().unwrap();
    // Nobody else waits on it: a fresh client is answered at once.
    let started = Instant::now();
    assert!(try_iamat(h.addr(bona), "after", "1700000001").is_some());
    assert!(started.elapsed() < Duration::from_secs(1));
    let grown = rss_kib(h.pid(bona)).saturating_sub(rss_before);
    // The table itself holds about 10 MiB; the queue for the neighbour only refers to it.
    eprintln!("stuck neighbour: Bona grew by {grown} KiB with a 10 MiB table");
    assert!(grown < 48 * 1024, "Bona grew by {grown} KiB");
}

#[test]
fn slowloris_huge_lines_and_server_messages_from_clients_are_cut_or_refused() {
    let mut h = ProcHerd::new("");
    let clark = ProcHerd::index("Clark");
    h.start(clark);
    let addr = h.addr(clark);
    let rss_before = rss_kib(h.pid(clark));

    // Slowloris: a byte every 20 ms, never a newline; the line deadline is 500 ms.
    let mut s = TcpStream::connect(addr).unwrap();
    let started = Instant::now();
    let trickle = {
        let mut s = s.try_clone().unwrap();
        std::thread::spawn(move || {
            for _ in 0..250 {
                if s.write_all(b"I").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 64];
    let r = s.read(&mut buf);
    assert!(matches!(r, Ok(0) | Err(_)), "cut without a reply: {r:?}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "cut after {took:?}");
    trickle.join().unwrap();

    // A 16 MiB line: cut at the line limit, memory stays flat.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let writer = {
        let mut s = s.try_clone().unwrap();
        std::thread::spawn(move || {
            let chunk = vec![b'A'; 64 * 1024];
            for _ in 0..256 {
                if s.write_all(&chunk).is_err() {
                    return;
                }
            }
        })
    };
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(got.is_empty(), "nothing but replies, and there was no line");
    writer.join().unwrap();
    let grown = rss_kib(h.pid(clark)).saturating_sub(rss_before);
    eprintln!("16 MiB line: Clark grew by {grown} KiB");
    assert!(grown < 16 * 1024, "Clark grew by {grown} KiB");

    // A client that speaks server messages gets `? ` and changes nothing; it is logged.
    let out = talk_str(addr, "UPDATE AT Bona +0.1 forged +1+1 1700000000\nPING 1\n");
    assert_eq!(
        out,
        "? UPDATE AT Bona +0.1 forged +1+1 1700000000\n? PING 1\n"
    );
    assert!(talk_str(addr, "WHATSAT forged 1 1\n").starts_with("? "));
    // The server still serves.
    assert!(try_iamat(addr, "fine", "1700000000").is_some());
    h.wait_log(clark, "no complete line within 500 ms");
    h.wait_log(clark, "line longer than 8192 bytes");
    h.wait_log(clark, "sent a server message");
}

#[test]
fn a_client_that_never_reads_its_replies_is_cut_and_stalls_nobody() {
    let mut h = ProcHerd::new("");
    let clark = ProcHerd::index("Clark");
    h.start(clark);
    let addr = h.addr(clark);
    assert!(try_iamat(addr, "centre", "1700000000").is_some());
    let rss_before = rss_kib(h.pid(clark));
    // Pipelined WHATSATs, each answered with a JSON document, and never a read.
    let s = TcpStream::connect(addr).unwrap();
    let flood = {
        let mut s = s.try_clone().unwrap();
        std::thread::spawn(move || {
            let line = b"WHATSAT centre 50 20\n".repeat(100);
            let end = Instant::now() + Duration::from_secs(15);
            for _ in 0..2000 {
                if Instant::now() > end || s.write_all(&line).is_err() {
                    return;
                }
            }
        })
    };
    h.wait_log(clark, "(slow reader)");
    // Others are served meanwhile and after.
    let started = Instant::now();
    assert!(try_iamat(addr, "other", "1700000001").is_some());
    assert!(started.elapsed() < Duration::from_secs(1));
    drop(s);
    flood.join().unwrap();
    let grown = rss_kib(h.pid(clark)).saturating_sub(rss_before);
    eprintln!("slow reader: Clark grew by {grown} KiB");
    assert!(grown < 16 * 1024, "Clark grew by {grown} KiB");
}

/// Like `talk`, but a connection closed early is an answer (empty), not a failure.
fn probe(addr: std::net::SocketAddr, input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if let Ok(mut s) = TcpStream::connect(addr) {
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = s.write_all(input);
        let _ = s.shutdown(Shutdown::Write);
        let _ = s.read_to_end(&mut out);
    }
    out
}

#[test]
fn connection_churn_leaves_no_descriptors_and_the_cap_refuses_politely() {
    let mut h = ProcHerd::new("limits: (max_connections: 100)");
    // A server alone: its dialer to a neighbour that is down opens and closes sockets too, so
    // pick one that dials nobody (Jaquez is the greatest name of all its links).
    let j = ProcHerd::index("Jaquez");
    h.start(j);
    let addr = h.addr(j);
    let pid = h.pid(j);
    wait_until("a served client", || try_iamat(addr, "warm", "1").is_some());
    let baseline = fd_count(pid);
    for batch in 0..20 {
        let mut open: Vec<TcpStream> = (0..100)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        for (k, s) in open.iter_mut().enumerate() {
            // A third send a whole command, a third half a line, a third nothing.
            let _ = match k % 3 {
                0 => s.write_all(format!("IAMAT c{batch}x{k} +1+1 1\n").as_bytes()),
                1 => s.write_all(b"IAMAT half"),
                _ => Ok(()),
            };
        }
        if batch == 0 {
            // The 101st client is refused: closed without a word; the others keep working.
            wait_until("past the cap a client is refused", || {
                probe(addr, b"IAMAT late +1+1 1\n").is_empty()
            });
            let s = &mut open[0];
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let reply = read_line(s);
            assert!(reply.starts_with("AT Jaquez "), "{reply}");
            s.write_all(b"IAMAT still +1+1 2\n").unwrap();
            assert!(read_line(s).starts_with("AT Jaquez "));
        }
        drop(open);
    }
    wait_until("descriptors back to the baseline", || {
        fd_count(pid) <= baseline
    });
    eprintln!(
        "fds: baseline {baseline}, after 2,000 connections {}",
        fd_count(pid)
    );
    h.wait_log(j, "refused connection from");
}
