//! Deterministic sample data for tests (this crate's and the server crate's).
//!
//! The sample herd is the classic five: Bailey, Bona, Campbell, Clark and
//! Jaquez, with links Clark-Jaquez, Clark-Bona, Campbell-Bailey, Campbell-Bona,
//! Campbell-Jaquez and Bona-Bailey. Every link state appears once or more, and
//! the herd is partitioned ({Clark, Jaquez} | {Bailey, Bona, Campbell}) the way
//! those states imply: each side lacks the one update made after the split.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::model::{
    ClientRow, ConnKind, ConnSnapshot, FlowDir, FlowItem, FlowKind, HerdSnapshot, LinkSnapshot,
    LinkState, PeerSnapshot, ServerSnapshot,
};

/// Names of the sample servers, in snapshot order.
pub const SERVERS: [&str; 5] = ["Bailey", "Bona", "Campbell", "Clark", "Jaquez"];

/// Wall-clock instant the sample data is anchored at (2018-03-02 20:52:14 UTC).
pub fn sample_epoch() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_520_023_934)
}

/// A realistic five-server herd snapshot, identical on every call.
pub fn sample_snapshot() -> HerdSnapshot {
    let servers = SERVERS
        .iter()
        .enumerate()
        .map(|(i, name)| server(i, name))
        .collect();
    HerdSnapshot {
        servers,
        links: LINKS
            .iter()
            .map(|&(a, b, state, flows)| LinkSnapshot {
                a: a.to_owned(),
                b: b.to_owned(),
                state,
                flows,
            })
            .collect(),
    }
}

/// A short, deterministic flow feed matching the sample herd, oldest first.
pub fn sample_flow() -> Vec<FlowItem> {
    FLOW.iter()
        .enumerate()
        .map(|(i, &(server, dir, kind, peer, text))| FlowItem {
            at: sample_epoch() + Duration::from_millis(137 * i as u64),
            server: server.to_owned(),
            dir,
            kind,
            peer: peer.to_owned(),
            text: text.to_owned(),
        })
        .collect()
}

/// `(server, dir, kind, peer, text)` of the sample flow items.
#[rustfmt::skip]
const FLOW: [(&str, FlowDir, FlowKind, &str, &str); 14] = {
    use FlowDir::{In, Out};
    use FlowKind::{Client, Flood, Link, Reply};
    const KIWI: &str = "AT Clark +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1520023934.918963997";
    const ROSE: &str = "AT Bailey +0.730000019 rose.bowl +34.161327-118.167648 1520023935.000000000";
    [
        ("Clark", In, Client, "127.0.0.1:50412", "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1520023934.918963997"),
        ("Clark", Out, Reply, "127.0.0.1:50412", KIWI),
        ("Clark", Out, Flood, "Jaquez", KIWI),
        ("Jaquez", In, Flood, "Clark", KIWI),
        ("Campbell", Out, Link, "Jaquez", "heartbeat timeout after 3s, link down"),
        ("Campbell", In, Client, "127.0.0.1:50533", "WHATSAT kiwi.cs.ucla.edu 10 5"),
        ("Campbell", Out, Reply, "127.0.0.1:50533", KIWI),
        ("Bailey", In, Client, "127.0.0.1:50601", "IAMAT rose.bowl +34.161327-118.167648 1520023935.000000000"),
        ("Bailey", Out, Flood, "Campbell", ROSE),
        ("Bailey", Out, Flood, "Bona", ROSE),
        ("Bona", In, Flood, "Bailey", ROSE),
        ("Campbell", In, Flood, "Bailey", ROSE),
        ("Bona", Out, Link, "Clark", "link cut by operator"),
        ("Jaquez", In, Client, "127.0.0.1:50777", "IAMAT santa.monica.pier +34.008636-118.498802 1520023936.250000000"),
    ]
};

/// `(a, b, state, flows)` of every link.
#[rustfmt::skip]
const LINKS: [(&str, &str, LinkState, u64); 6] = [
    ("Clark", "Jaquez", LinkState::Up, 1_843),
    ("Clark", "Bona", LinkState::Cut, 412),
    ("Campbell", "Bailey", LinkState::Up, 2_210),
    ("Campbell", "Bona", LinkState::Connecting, 975),
    ("Campbell", "Jaquez", LinkState::Down, 1_301),
    ("Bona", "Bailey", LinkState::Up, 1_588),
];

/// `(client, origin, diff, location, base age in seconds)` of every update.
#[rustfmt::skip]
const CLIENTS: [(&str, &str, &str, &str, u64); 8] = [
    ("kiwi.cs.ucla.edu",     "Clark",    "+0.263873386", "+34.068930-118.445127", 4),
    ("lax.airport",          "Campbell", "+0.041220117", "+33.941589-118.408530", 95),
    ("jpl.nasa.gov",         "Bailey",   "-0.002184550", "+34.201092-118.171280", 312),
    ("santa.monica.pier",    "Jaquez",   "+1.508002113", "+34.008636-118.498802", 2),
    ("griffith.observatory", "Bona",     "+0.120004776", "+34.118434-118.300393", 1_260),
    ("ucsd.triton",          "Clark",    "+0.387114202", "+32.880060-117.234014", 47),
    ("getty.center",         "Campbell", "+0.009921544", "+34.078036-118.474095", 9),
    ("rose.bowl",            "Bailey",   "+0.730000019", "+34.161327-118.167648", 1),
];

/// True if `server` has the update of `client` made at `origin`: every update
/// predates the split except santa.monica.pier and getty.center, which only
/// their own side of the partition has.
fn knows(server: &str, client: &str, origin: &str) -> bool {
    let east = |s: &str| s == "Clark" || s == "Jaquez";
    match client {
        "santa.monica.pier" | "getty.center" => east(server) == east(origin),
        _ => true,
    }
}

/// `(neighbour, state, since s, rtt µs, heartbeat age ms, sent, received,
/// ignored, queue, reconnects, last error)`.
type PeerRow = (
    &'static str,
    LinkState,
    u64,
    Option<u64>,
    Option<u64>,
    u64,
    u64,
    u64,
    usize,
    u64,
    Option<&'static str>,
);

/// The neighbours of a sample server, consistent with [`LINKS`].
#[rustfmt::skip]
fn peers_of(name: &str) -> Vec<PeerRow> {
    use LinkState::{Connecting, Cut, Down, Up};
    match name {
        "Bailey" => vec![
            ("Campbell", Up, 7_921, Some(412), Some(800), 1_130, 1_080, 211, 0, 1, None),
            ("Bona", Up, 8_012, Some(385), Some(300), 812, 776, 190, 0, 0, None),
        ],
        "Bona" => vec![
            ("Clark", Cut, 184, None, None, 203, 209, 57, 0, 0, Some("cut by operator")),
            ("Campbell", Connecting, 6, None, None, 480, 495, 98, 3, 12, Some("connect 127.0.0.1:12002: connection refused (os error 111)")),
            ("Bailey", Up, 8_012, Some(391), Some(300), 776, 812, 166, 0, 0, None),
        ],
        "Campbell" => vec![
            ("Bailey", Up, 7_921, Some(420), Some(500), 1_080, 1_130, 240, 0, 1, None),
            ("Bona", Connecting, 6, None, None, 495, 480, 101, 2, 11, Some("handshake with Bona timed out after 2s")),
            ("Jaquez", Down, 41, None, Some(44_200), 650, 651, 120, 5, 3, Some("heartbeat timeout after 3s (no PONG from Jaquez)")),
        ],
        "Clark" => vec![
            ("Jaquez", Up, 8_100, Some(1_240), Some(200), 922, 921, 88, 0, 0, None),
            ("Bona", Cut, 184, None, None, 209, 203, 41, 0, 0, Some("cut by operator")),
        ],
        _ => vec![
            ("Clark", Up, 8_100, Some(1_310), Some(700), 921, 922, 93, 0, 0, None),
            ("Campbell", Down, 41, None, Some(44_600), 651, 650, 110, 4, 3, Some("connection reset by peer (os error 104)")),
        ],
    }
}

/// `(id, address, kind, age s, idle s, lines in, lines out, bytes in, bytes out, last command)`.
type ConnRow = (
    u64,
    &'static str,
    ConnKind,
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    &'static str,
);

/// The open connections of a sample server: one per neighbour link that is up, and clients.
#[rustfmt::skip]
fn conns_of(name: &str) -> Vec<ConnRow> {
    use ConnKind::{Client, Peer};
    match name {
        "Bailey" => vec![
            (3, "127.0.0.1:12002", Peer, 7_921, 0, 1_080, 1_130, 131_200, 139_880, "AT Campbell"),
            (4, "127.0.0.1:51022", Peer, 8_012, 1, 776, 812, 94_102, 99_340, "AT Bona"),
            (17, "127.0.0.1:50601", Client, 64, 1, 12, 12, 1_034, 1_288, "IAMAT rose.bowl"),
            (18, "127.0.0.1:50614", Client, 305, 290, 3, 3, 220, 4_012, "WHATSAT jpl.nasa.gov"),
        ],
        "Bona" => vec![
            (2, "127.0.0.1:12000", Peer, 8_012, 1, 812, 776, 99_340, 94_102, "AT Bailey"),
            (9, "127.0.0.1:50690", Client, 1_262, 1_250, 1, 1, 97, 124, "IAMAT griffith.observatory"),
        ],
        "Campbell" => vec![
            (5, "127.0.0.1:51007", Peer, 7_921, 0, 1_130, 1_080, 139_880, 131_200, "AT Bailey"),
            (21, "127.0.0.1:50533", Client, 3_140, 2, 214, 214, 9_870, 61_420, "WHATSAT kiwi.cs.ucla.edu 10 5"),
            (22, "127.0.0.1:50540", Client, 98, 93, 1, 1, 74, 112, "IAMAT lax.airport"),
            (23, "127.0.0.1:50588", Client, 12, 9, 1, 1, 76, 114, "IAMAT getty.center"),
        ],
        "Clark" => vec![
            (1, "127.0.0.1:12004", Peer, 8_100, 0, 921, 922, 112_880, 113_004, "AT Clark"),
            (11, "127.0.0.1:50412", Client, 5_410, 4, 1_204, 1_204, 96_300, 151_700, "IAMAT kiwi.cs.ucla.edu"),
            (12, "127.0.0.1:50420", Client, 4_877, 47, 310, 310, 27_400, 1_920_512, "WHATSAT ucsd.triton 50 20"),
            (14, "127.0.0.1:50455", Client, 620, 620, 0, 0, 0, 0, ""),
            (15, "127.0.0.1:50471", Client, 45, 45, 1, 1, 80, 118, "BOGUS hello"),
        ],
        _ => vec![
            (6, "127.0.0.1:51031", Peer, 8_100, 0, 922, 921, 113_004, 112_880, "AT Jaquez"),
            (8, "127.0.0.1:50777", Client, 30, 2, 4, 4, 330, 410, "IAMAT santa.monica.pier"),
        ],
    }
}

/// The sample incarnation of a server (random at each start in a real herd).
fn incarnation(name: &str) -> u64 {
    let i = SERVERS.iter().position(|s| *s == name).unwrap_or(0) as u64;
    0x2415_e045_1b26_096b_u64.wrapping_mul(i + 1)
}

fn server(i: usize, name: &str) -> ServerSnapshot {
    let clients: Vec<ClientRow> = CLIENTS
        .iter()
        .filter(|(client, origin, ..)| knows(name, client, origin))
        .map(|&(client, origin, diff, location, age)| ClientRow {
            client: client.to_owned(),
            origin: origin.to_owned(),
            diff: diff.to_owned(),
            location: location.to_owned(),
            age: Duration::from_secs(age + i as u64),
        })
        .collect();
    let connections: Vec<ConnSnapshot> = conns_of(name)
        .into_iter()
        .map(
            |(id, addr, kind, age, idle, li, lo, bi, bo, cmd)| ConnSnapshot {
                id,
                addr: addr.to_owned(),
                kind,
                age: Duration::from_secs(age),
                idle: Duration::from_secs(idle),
                lines_in: li,
                lines_out: lo,
                bytes_in: bi,
                bytes_out: bo,
                last_command: cmd.to_owned(),
            },
        )
        .collect();
    let peers: Vec<PeerSnapshot> = peers_of(name)
        .into_iter()
        .map(
            |(peer, state, since, rtt, hb, sent, received, ignored, queue, reconnects, err)| {
                PeerSnapshot {
                    name: peer.to_owned(),
                    state,
                    since: Duration::from_secs(since),
                    rtt: rtt.map(Duration::from_micros),
                    heartbeat_age: hb.map(Duration::from_millis),
                    sent,
                    received,
                    ignored,
                    queue_depth: queue,
                    reconnects,
                    last_error: err.map(str::to_owned),
                    incarnation: (state != LinkState::Connecting).then(|| incarnation(peer)),
                }
            },
        )
        .collect();
    let sum = |f: fn(&ConnSnapshot) -> u64| connections.iter().map(f).sum::<u64>();
    let base = 10_000 * (i as u64 + 1);
    ServerSnapshot {
        name: name.to_owned(),
        listen: format!("127.0.0.1:{}", 12_000 + i),
        running: true,
        remote: false,
        uptime: Duration::from_secs(8_130 + 17 * i as u64),
        clients_known: clients.len(),
        lines_in: base + sum(|c| c.lines_in),
        lines_out: base + sum(|c| c.lines_out),
        bytes_in: 40 * base + sum(|c| c.bytes_in),
        bytes_out: 52 * base + sum(|c| c.bytes_out),
        floods_sent: peers.iter().map(|p| p.sent).sum(),
        floods_received: peers.iter().map(|p| p.received).sum(),
        floods_ignored: peers.iter().map(|p| p.ignored).sum(),
        connections,
        peers,
        clients,
        log_level: if name == "Campbell" { "debug" } else { "info" }.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_link_is_a_peer_on_both_ends_with_the_same_state() {
        let snap = sample_snapshot();
        let names: Vec<&str> = snap.servers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, SERVERS);
        let mut peer_count = 0;
        for link in &snap.links {
            for (me, other) in [(&link.a, &link.b), (&link.b, &link.a)] {
                let server = snap.servers.iter().find(|s| &s.name == me).unwrap();
                let peer = server.peers.iter().find(|p| &p.name == other).unwrap();
                assert_eq!(peer.state, link.state, "{me} -> {other}");
                peer_count += 1;
            }
        }
        let total: usize = snap.servers.iter().map(|s| s.peers.len()).sum();
        assert_eq!(total, peer_count, "no peer without a link");
    }

    #[test]
    fn counters_are_consistent() {
        for s in sample_snapshot().servers {
            assert_eq!(s.clients_known, s.clients.len(), "{}", s.name);
            let up = s.peers.iter().filter(|p| p.state == LinkState::Up).count();
            let peer_conns = s.connections.iter().filter(|c| c.kind == ConnKind::Peer);
            assert_eq!(peer_conns.count(), up, "one peer connection per link up");
            assert!(s.lines_in >= s.connections.iter().map(|c| c.lines_in).sum());
        }
        let flow = sample_flow();
        assert_eq!(flow.first().map(|i| i.at), Some(sample_epoch()));
        assert!(flow.windows(2).all(|w| w[0].at < w[1].at));
    }
}
