//! Links on a port of their own, with real processes: stopping a server the course-script way
//! (`lsof -ti:PORT | xargs kill`) stops that server alone, and a restarted server is linked as
//! soon as it listens.

use std::time::Duration;

use crate::procs::*;
use crate::support::*;

#[test]
fn the_pids_on_a_client_port_are_that_servers_alone_and_a_restart_links_at_once() {
    // Debug logs: each applied flood gets its own line with its time.
    let mut h = ProcHerd::new("log: (level: \"debug\")");
    // Slow back-off: without a starting server's own dial, a neighbour would take a second or
    // more to link with it again.
    let slow = std::fs::read_to_string(&h.cfg)
        .unwrap()
        .replace("backoff_initial_ms: 10", "backoff_initial_ms: 1000")
        .replace("backoff_max_ms: 100", "backoff_max_ms: 3000");
    std::fs::write(&h.cfg, slow).unwrap();
    h.start_all();
    for (a, b) in LINKS {
        h.wait_log(ProcHerd::index(a), &format!("link to {b} up"));
        h.wait_log(ProcHerd::index(b), &format!("link to {a} up"));
    }
    // A client on every server too, so client ports have connections as well as listeners.
    let clients: Vec<std::net::TcpStream> = (0..5)
        .map(|i| std::net::TcpStream::connect(h.addr(i)).unwrap())
        .collect();
    let pids = h.pids();
    for (i, name) in NAMES.iter().enumerate() {
        assert_eq!(
            pids_on_port(&pids, h.ports[i]),
            [h.pid(i)],
            "{name}'s client port"
        );
    }
    drop(clients);

    // Stop Bona as a course script would: every pid holding its client port gets SIGTERM.
    let bona = ProcHerd::index("Bona");
    assert!(h.term(bona), "Bona exits cleanly");
    assert_eq!(h.pids().len(), 4, "the other four still run");
    // They keep serving and stay linked: an update at Bailey reaches Jaquez through Campbell.
    let at = try_iamat(
        h.addr(ProcHerd::index("Bailey")),
        "without-bona",
        "1700000000",
    )
    .unwrap();
    wait_until("Jaquez holds Bailey's update", || {
        held(h.addr(ProcHerd::index("Jaquez")), &["without-bona".into()])
            .is_some_and(|v| v[0].as_deref() == Some(at.as_str()))
    });

    // Restart Bona: an update made at a neighbour after Bona listens reaches it within 300 ms.
    // Timed with the server's own log timestamps: a WHATSAT would also time the places table
    // loading at start.
    h.spawn(bona);
    wait_listening(h.addr(bona));
    let at = try_iamat(
        h.addr(ProcHerd::index("Bailey")),
        "after-restart",
        &now_text(),
    )
    .unwrap();
    let applied = format!("applied: {at}");
    h.wait_log(bona, &applied);
    let log = h.log(bona);
    let stamp = |needle: &str| {
        let line = log
            .lines()
            .rfind(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} in\n{log}"));
        let ts = line.split(' ').next().unwrap();
        humantime::parse_rfc3339(ts).unwrap_or_else(|e| panic!("{ts:?}: {e}"))
    };
    let took = stamp(&applied)
        .duration_since(stamp("Bona listening"))
        .unwrap();
    assert!(
        took < Duration::from_millis(300),
        "Bona got the update {took:?} after it listened:\n{log}"
    );
}
