//! Catch-up when a link comes up: how many bytes and how long, for identical tables and for one
//! empty side. `HERD_CATCHUP_N` sets the table size (default 10,000; the numbers in
//! ARCHITECTURE.md were taken with 100,000).

use std::time::{Duration, Instant};

use herd::config::Config;
use herd::net::Server;
use herd::state::Update;

use crate::support::*;

fn two_servers() -> Config {
    let text = r#"(servers: [(name: "A", listen: "127.0.0.1:0"), (name: "B", listen: "127.0.0.1:0")],
        links: [("A", "B")], places: (provider: Offline),
        timings: (heartbeat_ms: 1000, peer_timeout_ms: 10000, backoff_initial_ms: 10, backoff_max_ms: 50,
                  write_timeout_ms: 10000))"#;
    Config::parse(text, "two.ron").expect("config")
}

fn n_clients() -> usize {
    std::env::var("HERD_CATCHUP_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

fn update(i: usize, origin: &str) -> Update {
    let line = format!(
        "AT {origin} +0.000000001 client{i}.example.org +34.068930-118.445127 1700000000.{:09}",
        i
    );
    Update::from_at_line(line.as_bytes()).expect("AT line")
}

/// Bytes written on the live peer connection of `s`.
fn peer_bytes(s: &Server) -> (u64, u64) {
    s.connections()
        .iter()
        .filter(|c| c.kind() == herd::events::ConnKind::Peer)
        .map(|c| {
            (
                c.bytes_out.load(std::sync::atomic::Ordering::Relaxed),
                c.bytes_in.load(std::sync::atomic::Ordering::Relaxed),
            )
        })
        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
}

fn sorted(s: &Server) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = s.all_updates().iter().map(|u| u.at.to_vec()).collect();
    v.sort();
    v
}

/// What B holds when the link comes up.
#[derive(Clone, Copy)]
enum B {
    /// The same table as A.
    Same,
    /// Nothing.
    Empty,
    /// A's table but with newer reports for this many clients.
    Newer(usize),
}

/// Loads the tables with the link cut, restores it and measures until both sides are quiet
/// and equal. Returns (bytes both ways, time).
fn measure(n: usize, fill_b: B) -> (u64, Duration) {
    let h = TestHerd::start(two_servers());
    let (a, b) = (h.h().server("A").unwrap(), h.h().server("B").unwrap());
    h.h().cut_link("A", "B");
    for i in 0..n {
        let u = update(i, "A");
        a.node.restore([&u]);
        match fill_b {
            B::Same => {
                b.node.restore([&u]);
            }
            B::Newer(k) if i % (n / k) == 0 => {
                let line = format!("AT B +0.000000001 client{i}.example.org +1+1 1800000000");
                b.node
                    .restore([&Update::from_at_line(line.as_bytes()).unwrap()]);
            }
            B::Newer(_) => {
                b.node.restore([&u]);
            }
            B::Empty => {}
        }
    }
    let start = Instant::now();
    h.h().restore_link("A", "B");
    let mut last = (u64::MAX, u64::MAX);
    let mut stable = 0;
    let end = start + Duration::from_secs(20);
    loop {
        assert!(
            Instant::now() < end,
            "catch-up of {n} never settled: {:?} {:?} {} {}",
            peer_bytes(&a),
            peer_bytes(&b),
            a.clients_known(),
            b.clients_known()
        );
        let up = [&a, &b].iter().all(|s| {
            s.peers
                .iter()
                .all(|p| p.status().state == herd::events::LinkState::Up && p.queue_depth() == 0)
        });
        let (ao, ai) = peer_bytes(&a);
        let (bo, bi) = peer_bytes(&b);
        // Every byte of a link counts on its connection, handshake included: quiet means all
        // that one side wrote, the other has read.
        let quiet = up && ao > 0 && bo > 0 && bi == ao && ai == bo;
        // Quiet alone could be a starved writer on a loaded machine: the tables must agree too.
        if quiet
            && (ao, bo) == last
            && a.clients_known() == n
            && b.clients_known() == n
            && sorted(&a) == sorted(&b)
        {
            stable += 1;
            if stable == 3 {
                break;
            }
        } else {
            stable = 0;
        }
        last = (ao, bo);
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = start.elapsed().saturating_sub(Duration::from_millis(40));
    let (sa, sb) = (sorted(&a), sorted(&b));
    if sa != sb {
        let only_a: Vec<String> = sa
            .iter()
            .filter(|l| !sb.contains(l))
            .take(5)
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        let only_b: Vec<String> = sb
            .iter()
            .filter(|l| !sa.contains(l))
            .take(5)
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        panic!("the two tables differ; only in A (first 5): {only_a:?}; only in B: {only_b:?}");
    }
    let (ao, _) = peer_bytes(&a);
    let (bo, _) = peer_bytes(&b);
    (ao + bo, took)
}

#[test]
fn catch_up_is_sized_to_the_difference() {
    let n = n_clients();
    let (same_bytes, same_time) = measure(n, B::Same);
    let (empty_bytes, empty_time) = measure(n, B::Empty);
    let (diff_bytes, diff_time) = measure(n, B::Newer(100));
    eprintln!(
        "catch-up with {n} clients: identical tables {same_bytes} bytes in {same_time:?}; \
         one side empty {empty_bytes} bytes in {empty_time:?}; \
         100 clients newer on one side {diff_bytes} bytes in {diff_time:?}"
    );
    // A whole-table push costs about 90 bytes a client each way; identical tables cost only the
    // summaries (17 bytes a bucket of about 32 clients), and an empty side costs one push.
    let whole = 90 * n as u64;
    assert!(same_bytes < whole / 20, "identical: {same_bytes} bytes");
    assert!(
        empty_bytes > whole * 9 / 10 && empty_bytes < whole * 11 / 10,
        "one side empty: {empty_bytes} bytes"
    );
    // About 100 buckets of about 32 clients differ, and both sides send theirs.
    assert!(
        diff_bytes < same_bytes + 2 * 100 * 64 * 90,
        "100 differ: {diff_bytes} bytes"
    );
}
