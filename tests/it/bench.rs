//! `herd bench` for a tiny bounded count against the in-process herd: the report's shape and
//! sanity (counts add up, ratios computed), never speed.

use herd::bench::{self, BenchArgs, Mode, Phase};

fn tiny() -> BenchArgs {
    let mut a = BenchArgs::defaults();
    a.connections = 4;
    a.count = 200;
    a.duration = 2.0;
    a.whatsat_percent = 20;
    a.phases = vec![Phase::Load, Phase::Propagation];
    a.rate = 500;
    a.propagation_duration = 0.2;
    a
}

fn ordered(p: &bench::report::Percentiles) {
    assert!(
        p.p50 <= p.p99 && p.p99 <= p.p999 && p.p999 <= p.max,
        "{p:?}"
    );
}

#[test]
fn a_tiny_run_reports_consistent_numbers() {
    let r = bench::measure(&tiny()).expect("bench runs");
    assert_eq!(r.whatsat_percent, 20);
    let modes: Vec<Mode> = r.load.iter().map(|p| p.mode).collect();
    assert_eq!(modes, [Mode::Persistent, Mode::PerCommand]);
    for pair in &r.load {
        for s in [&pair.echo, &pair.server] {
            assert_eq!(s.errors, 0, "{s:?}");
            assert_eq!(s.unexpected, 0, "{s:?}");
            assert_eq!(s.requests, s.iamat + s.whatsat + s.unexpected);
            assert!(s.requests > 0 && s.requests <= 200, "{s:?}");
            assert_eq!(s.latency_us.samples, s.iamat + s.whatsat);
            assert!(s.throughput > 0.0);
            ordered(&s.latency_us);
        }
        assert!(
            pair.server.whatsat > 0,
            "the mix has WHATSAT: {:?}",
            pair.server
        );
        let ratio = pair.server.throughput / pair.echo.throughput;
        assert!((pair.ratio - ratio).abs() < 1e-9, "{pair:?}");
    }
    let p = r.propagation.as_ref().expect("propagation measured");
    assert!(p.updates > 0 && p.updates <= 100, "{p:?}");
    assert_eq!(p.errors, 0);
    assert_eq!(p.missing, 0, "{p:?}");
    let hops: Vec<usize> = p.by_hops.iter().map(|h| h.hops).collect();
    assert_eq!(hops, [1, 2], "the 2023 herd is two hops wide");
    let arrived: u64 = p.by_hops.iter().map(|h| h.latency_us.samples).sum();
    assert_eq!(
        arrived,
        p.updates * 4,
        "every update reaches the four other servers"
    );
    for h in &p.by_hops {
        assert_eq!(h.latency_us.samples, h.expected);
        ordered(&h.latency_us);
    }
    assert_eq!(r.targets.len(), 6);
    let text = r.text();
    assert!(text.contains("throughput ratio to the echo"), "{text}");
    for pair in &r.load {
        let f = pair.floods.expect("in-process herd counts its floods");
        assert!(
            f.sent > 0 && f.received > 0 && f.ignored <= f.received,
            "{f:?}"
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(&r).expect("serialises")).expect("JSON");
    assert!(json["load"][0]["ratio"].is_number(), "{json}");
    assert!(json["propagation"]["by_hops"][1]["latency_us"]["p99"].is_number());
}

#[test]
fn only_loopback_targets() {
    let mut a = tiny();
    a.phases = vec![Phase::Load];
    a.target = Some("192.0.2.1:10003".into());
    let e = bench::measure(&a).expect_err("refused");
    assert!(e.contains("not a loopback address"), "{e}");
    a.target = Some("127.0.0.1:10003".into());
    a.phases = vec![Phase::Propagation];
    assert!(
        bench::measure(&a).is_err(),
        "propagation needs the in-process herd"
    );
}

/// The bench starts measuring only once every server answers a WHATSAT (its Places table
/// loaded); the warm-up says so, and refuses a server that does not speak the protocol.
#[test]
fn warm_up_waits_for_a_whatsat_answer() {
    use crate::support::{fast_config, TestHerd};
    use std::time::Duration;
    let herd = TestHerd::start(fast_config());
    let addr = herd.addr("Clark");
    let limit = Duration::from_secs(10);
    bench::load::warm_up(addr, "warm-1", limit).expect("a herd server warms up");
    let held = herd.h().server("Clark").and_then(|s| s.lookup(b"warm-1"));
    assert!(held.is_some(), "the warm-up's IAMAT was applied");
    let echo = herd::rt::block_on(bench::echo::start("127.0.0.1:0".parse().expect("addr")))
        .expect("echo starts");
    let e = bench::load::warm_up(echo.addr, "warm-2", limit).expect_err("an echo is not a server");
    assert!(
        e.contains("unexpected reply") && e.contains("IAMAT warm-2"),
        "{e}"
    );
}

/// `--rounds` repeats the propagation phase too; the report keeps every round and shows the
/// median one.
#[test]
fn propagation_runs_once_per_round() {
    let mut a = tiny();
    a.phases = vec![Phase::Propagation];
    a.rounds = 2;
    let r = bench::measure(&a).expect("bench runs");
    assert_eq!(r.propagation_rounds.len(), 2);
    for p in &r.propagation_rounds {
        assert_eq!((p.missing, p.errors), (0, 0), "{p:?}");
        assert_eq!(p.updates, 100, "500/s for 0.2 s: {p:?}");
        assert!(p.two_hop_p99().is_some(), "{p:?}");
    }
    let shown = r.propagation.as_ref().and_then(|p| p.two_hop_p99());
    let each: Vec<_> = r
        .propagation_rounds
        .iter()
        .map(|p| p.two_hop_p99())
        .collect();
    assert!(each.contains(&shown), "{shown:?} is one of {each:?}");
    assert!(r.text().contains("by round"), "{}", r.text());
}
