//! Neighbour handshake from the outside: only servers that know the secret get in.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use crate::support::*;

#[test]
fn a_forged_hello_is_refused_and_changes_nothing() {
    let h = TestHerd::start(fast_config());
    let peer_port = h.h().peer_addr("Clark").unwrap();
    let mut s = TcpStream::connect(peer_port).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Bona is Clark's neighbour, but Bona < Clark so Bona dials: a HELLO claiming to be Bona
    // gets a WELCOME; without the right proof it is cut and nothing it sends counts.
    s.write_all(b"HERD/1 HELLO Bona Clark 0000000000000001 00000000000000000000000000000000\n")
        .unwrap();
    let welcome = read_line(&mut s);
    assert!(welcome.starts_with("HERD/1 WELCOME Clark "), "{welcome}");
    s.write_all(b"HERD/1 PROOF 0000000000000000000000000000000000000000000000000000000000000000\n")
        .unwrap();
    let _ = s.write_all(b"UPDATE AT Bona +0.000000000 forged +1+1 9999999999\n");
    assert_eq!(read_line(&mut s), "", "closed without another word");
    std::thread::sleep(Duration::from_millis(100));
    assert!(h.h().server("Clark").unwrap().lookup(b"forged").is_none());
    // A HELLO for a server that is not a neighbour is refused at once.
    let mut s = TcpStream::connect(peer_port).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"HERD/1 HELLO Bailey Clark 1 00000000000000000000000000000000\n")
        .unwrap();
    assert_eq!(read_line(&mut s), "");
    // On the client port a HELLO is an invalid line like any other, and the connection stays
    // a client's.
    let hello = "HERD/1 HELLO Bona Clark 0000000000000001 00000000000000000000000000000000";
    let out = talk_str(
        h.addr("Clark"),
        &format!("{hello}\nIAMAT still +1+1 1700000000\n"),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    assert_eq!(lines[0], format!("? {hello}"));
    assert!(
        lines[1].starts_with("AT Clark ") && lines[1].ends_with(" still +1+1 1700000000"),
        "{out:?}"
    );
    // On the peer port a client's command closes the connection without a reply.
    let mut s = TcpStream::connect(peer_port).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"IAMAT sneaky +1+1 1700000000\n").unwrap();
    assert_eq!(read_line(&mut s), "");
    assert!(h.h().server("Clark").unwrap().lookup(b"sneaky").is_none());
}

#[test]
fn servers_sharing_a_secret_link_up() {
    let mut cfg = fast_config();
    cfg.secret = Some("right-right-right-right-right-right".into());
    let h = TestHerd::start(cfg);
    // TestHerd::start waited for every link to come up, each through the MAC handshake.
    let s = h.h().server("Clark").unwrap();
    assert!(s
        .peers
        .iter()
        .all(|p| p.status().state == herd::events::LinkState::Up));
    let r = talk_str(h.addr("Clark"), "IAMAT sec +1+1 1700000000\n");
    h.wait_holds("Bailey", "sec", r.trim_end());
}

#[test]
fn an_idle_client_is_closed_after_the_idle_time_and_not_before() {
    // Traffic every 20 ms against a 1 s idle time: a loaded machine would have to stall this
    // thread fifty times longer than usual to close it early.
    let idle = Duration::from_millis(1000);
    let mut cfg = fast_config();
    cfg.timings.client_idle_ms = idle.as_millis() as u64;
    let h = TestHerd::start(cfg);
    let mut s = TcpStream::connect(h.addr("Clark")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Traffic keeps it open for well past the idle time...
    let open = std::time::Instant::now();
    let mut i = 0;
    while open.elapsed() < idle * 3 / 2 {
        std::thread::sleep(Duration::from_millis(20));
        s.write_all(format!("IAMAT idle{i} +1+1 1700000000\n").as_bytes())
            .unwrap();
        assert!(read_line(&mut s).starts_with("AT Clark "), "line {i}");
        i += 1;
    }
    // ...and silence closes it, never before the idle time (load can only make it later).
    let t = std::time::Instant::now();
    assert_eq!(read_line(&mut s), "", "closed");
    let quiet = t.elapsed();
    assert!(quiet >= idle * 9 / 10, "{quiet:?}");
}
