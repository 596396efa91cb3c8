//! What one flooded update costs a neighbour in CPU, without sockets or tasks:
//! `cargo run --release --example flood_cost [UPDATES]` (default 1,000,000).
//!
//! The updates are the ones `herd bench` puts on Clark's links (50 clients reporting in turn,
//! each with a newer time, on Clark's spanning tree of the default herd), received by Bona, which
//! forwards each to its two children in that tree (Campbell and Bailey). Each stage runs over all of them in turn and
//! prints nanoseconds per update: decoding the UPDATE line, validating the AT line (`at_key`),
//! the node's merge (`neighbour_update`, which includes `at_key`), the flooding decision
//! (`forward`), and queueing for the two neighbours, taking the queues in batches of 32 and
//! encoding them. The median of 5 rounds is printed with the range. A number to compare builds
//! by on the same machine (BENCHMARKS.md, "Per-update work at a neighbour"), not a target.

use std::time::{Duration, Instant};

use herd::config::Config;
use herd::node::{FromNeighbour, Node, Tree};
use herd::outbox::Outbox;
use herd::wire::{self, PeerMsg};

/// Rounds; the median is printed.
const ROUNDS: usize = 5;

fn main() {
    let updates: usize = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 1_000_000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("flood_cost: UPDATES must be a positive whole number");
            std::process::exit(2);
        }
    };
    let Some(bona) = bona() else {
        eprintln!("flood_cost: the embedded herd has no server Bona on a spanning tree");
        std::process::exit(1);
    };
    let via = bona.tree().map(|t| t.token().to_vec()).unwrap_or_default();
    let clients = 50;
    let mut input = Vec::new();
    for i in 0..updates {
        let at = format!(
            "AT Clark +0.000123456 bench1-c{} +34.068930-118.445127 {}.{:09}",
            i % clients,
            1_621_464_827 + i / 1000,
            (i % 1000) * 1000
        );
        wire::encode(
            &PeerMsg::Update {
                via: &via,
                at: at.as_bytes(),
            },
            &mut input,
        );
    }
    let lines: Vec<&[u8]> = input
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut rounds: Vec<[Duration; 5]> = (0..ROUNDS).map(|_| round(&lines)).collect();
    let names = [
        "decode UPDATE",
        "at_key",
        "decode + neighbour_update",
        "forward",
        "queue, take, encode (2 neighbours)",
    ];
    println!("per update, median of {ROUNDS} rounds of {updates} (range):");
    let mut total = Vec::new();
    for (i, name) in names.iter().enumerate() {
        rounds.sort_by_key(|r| r[i]);
        let ns = |d: Duration| d.as_nanos() as f64 / updates as f64;
        println!(
            "  {name:<36} {:>6.0} ns ({:.0}-{:.0})",
            ns(rounds[ROUNDS / 2][i]),
            ns(rounds[0][i]),
            ns(rounds[ROUNDS - 1][i])
        );
        total.push(ns(rounds[ROUNDS / 2][i]));
    }
    println!(
        "  {:<36} {:>6.0} ns (decode + neighbour_update + forward + queue)",
        "a forwarded update",
        total[2] + total[3] + total[4]
    );
}

/// Bona of the embedded herd, on its spanning trees, with an empty table.
fn bona() -> Option<Node> {
    let cfg = Config::embedded().ok()?;
    let neighbours: Vec<std::sync::Arc<str>> = cfg
        .neighbours("Bona")
        .iter()
        .map(|n| n.as_str().into())
        .collect();
    let servers: Vec<&str> = cfg.servers.iter().map(|s| s.name.as_str()).collect();
    let links: Vec<(&str, &str)> = cfg
        .links
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let tree = Tree::plan("Bona", &neighbours, &servers, &links)?;
    Some(Node::new("Bona".into(), neighbours, 1_000_000).with_tree(Some(tree)))
}

/// One round over every line: each stage's time.
fn round(lines: &[&[u8]]) -> [Duration; 5] {
    let Some(node) = bona() else {
        return [Duration::ZERO; 5];
    };
    let mut sink = 0usize;
    let t = Instant::now();
    for line in lines {
        if let Some(PeerMsg::Update { at, .. }) = wire::decode(line) {
            sink += at.len();
        }
    }
    let decode = t.elapsed();
    let t = Instant::now();
    for line in lines {
        if let Some(PeerMsg::Update { at, .. }) = wire::decode(line) {
            sink += herd::protocol::at::at_key(at).map_or(0, |(client, _)| client.len());
        }
    }
    let at_key = t.elapsed().saturating_sub(decode);
    let t = Instant::now();
    let mut effects = Vec::with_capacity(lines.len());
    for line in lines {
        if let Some(PeerMsg::Update { via, at }) = wire::decode(line) {
            // Neighbour 0: Clark, the origin.
            if let FromNeighbour::Applied(e) = node.neighbour_update(0, at, via) {
                effects.push(e);
            }
        }
    }
    let update = t.elapsed();
    let t = Instant::now();
    let routes: Vec<_> = effects
        .iter()
        .map(|e| node.forward(&e.flood, |_| true))
        .collect();
    let forward = t.elapsed();
    let mut boxes = [Outbox::new(), Outbox::new(), Outbox::new()];
    let mut out = Vec::with_capacity(1 << 16);
    let t = Instant::now();
    for (j, (e, (targets, seen))) in effects.iter().zip(&routes).enumerate() {
        for &i in targets {
            if let Some(b) = boxes.get_mut(i) {
                b.push(e.update.clone(), seen.clone());
            }
        }
        if j % 32 == 31 {
            for b in &mut boxes {
                for o in b.take(usize::MAX) {
                    let msg = PeerMsg::Update {
                        via: &o.seen,
                        at: &o.update.at,
                    };
                    wire::encode(&msg, &mut out);
                }
            }
            sink += out.len();
            out.clear();
        }
    }
    let queue = t.elapsed();
    std::hint::black_box(sink);
    [decode, at_key, update, forward, queue]
}
