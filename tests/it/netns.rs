//! Across hosts: two groups of servers in two network namespaces joined by a veth pair. The
//! network between them is cut (an unreachable route each way), each side keeps serving and
//! flooding within itself, then the network heals and every server converges.
//!
//! Needs root and `ip netns`; skipped with a message otherwise. All addresses (10.199.x) live
//! only in the namespaces this test creates, which it deletes even when it fails.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::procs::*;

/// Runs `f` on a thread that has entered network namespace `ns`.
fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("namespace file");
        // SAFETY: setns(2) on a valid namespace fd; it affects this thread only.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}");
        f()
    })
    .join()
    .expect("namespace thread")
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The two namespaces and the servers in them; dropping it kills the servers and deletes the
/// namespaces.
struct Net {
    a: String,
    b: String,
    procs: Vec<Child>,
}

impl Drop for Net {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.wait();
        }
        // Deleting a namespace deletes the veth end inside it, and so its peer.
        let _ = ip(&["netns", "del", &self.a]);
        let _ = ip(&["netns", "del", &self.b]);
    }
}

const A_HOST: &str = "10.199.1.1";
const B_HOST: &str = "10.199.2.1";

impl Net {
    fn setup() -> Result<Net, String> {
        let id = std::process::id();
        let net = Net {
            a: format!("herdA{id}"),
            b: format!("herdB{id}"),
            procs: Vec::new(),
        };
        let (a, b) = (net.a.as_str(), net.b.as_str());
        ip(&["netns", "add", a])?;
        ip(&["netns", "add", b])?;
        let (va, vb) = (format!("hva{id}"), format!("hvb{id}"));
        ip(&[
            "link", "add", &va, "netns", a, "type", "veth", "peer", "name", &vb, "netns", b,
        ])?;
        for (ns, dev, transit, host) in [
            (a, &va, "10.199.0.1/30", A_HOST),
            (b, &vb, "10.199.0.2/30", B_HOST),
        ] {
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "addr", "add", &format!("{host}/32"), "dev", "lo"])?;
            ip(&["-n", ns, "addr", "add", transit, "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        net.heal()?;
        Ok(net)
    }

    /// Routes each group's host address through the veth.
    fn heal(&self) -> Result<(), String> {
        ip(&[
            "-n",
            &self.a,
            "route",
            "replace",
            &format!("{B_HOST}/32"),
            "via",
            "10.199.0.2",
        ])?;
        ip(&[
            "-n",
            &self.b,
            "route",
            "replace",
            &format!("{A_HOST}/32"),
            "via",
            "10.199.0.1",
        ])
    }

    /// Makes each group unreachable from the other.
    fn cut(&self) -> Result<(), String> {
        ip(&[
            "-n",
            &self.a,
            "route",
            "replace",
            "unreachable",
            &format!("{B_HOST}/32"),
        ])?;
        ip(&[
            "-n",
            &self.b,
            "route",
            "replace",
            "unreachable",
            &format!("{A_HOST}/32"),
        ])
    }
}

/// Bailey, Bona, Campbell in namespace A; Clark, Jaquez in B. Cross links: Clark-Bona and
/// Campbell-Jaquez.
fn group_of(i: usize) -> bool {
    i < 3
}

fn addr(i: usize) -> SocketAddr {
    let host = if group_of(i) { A_HOST } else { B_HOST };
    format!("{host}:{}", 10000 + i).parse().expect("address")
}

fn until(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for: {what}");
}

#[test]
fn a_partitioned_herd_keeps_serving_on_both_sides_and_converges_when_healed_needs_root() {
    const TEST: &str = "netns test";
    // SAFETY: geteuid(2) has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let missing = (!root).then(|| "needs root for `ip netns`".to_string());
    if !crate::support::prerequisite(TEST, missing) {
        return;
    }
    let mut net = match Net::setup() {
        Ok(n) => n,
        Err(e) => {
            crate::support::prerequisite(TEST, Some(format!("cannot build namespaces ({e})")));
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let hosts: Vec<String> = (0..5).map(|i| addr(i).ip().to_string()).collect();
    let ports: Vec<u16> = (0..5).map(|i| addr(i).port()).collect();
    let peer_ports: Vec<u16> = ports.iter().map(|p| p + 100).collect();
    let cfg = dir.path().join("herd.ron");
    std::fs::write(&cfg, herd_ron(&hosts, &ports, &peer_ports, "")).unwrap();
    let logs = dir.path().join("logs");
    // Neighbours are not on loopback, so links need the herd secret.
    for (i, name) in NAMES.iter().enumerate() {
        let ns = if group_of(i) {
            net.a.clone()
        } else {
            net.b.clone()
        };
        net.procs.push(spawn_herd(
            &[
                "run",
                name,
                "--config",
                path_str(&cfg),
                "--log-dir",
                path_str(&logs),
                "--no-data",
            ],
            Some(&["ip", "netns", "exec", &ns]),
            &[("HERD_SECRET", "netns-test-secret-netns-test-secret")],
        ));
    }
    let ns_of = |i: usize| {
        if group_of(i) {
            net.a.clone()
        } else {
            net.b.clone()
        }
    };
    let ask = |i: usize, clients: Vec<String>| {
        let a = addr(i);
        in_ns(&ns_of(i), move || held(a, &clients))
    };
    let iamat = |i: usize, client: &str, time: &str| {
        let (a, c, t) = (addr(i), client.to_string(), time.to_string());
        in_ns(&ns_of(i), move || try_iamat(a, &c, &t))
    };
    // Every server holds at least `acked` (same line everywhere) for each client.
    let agree = |group: &[usize], acked: &HashMap<String, String>| {
        let clients: Vec<String> = acked.keys().cloned().collect();
        let views: Vec<_> = group.iter().map(|&i| ask(i, clients.clone())).collect();
        views.iter().all(|v| {
            v.as_ref().is_some_and(|v| {
                v.iter()
                    .zip(&clients)
                    .all(|(got, c)| got.as_deref() == Some(acked[c].as_str()))
            })
        })
    };

    until("all listening and linked across", 20, || {
        iamat(3, "probe", "1700000000").is_some_and(|at| {
            agree(
                &[0, 1, 2, 3, 4],
                &HashMap::from([("probe".to_string(), at)]),
            )
        })
    });

    net.cut().expect("cut");
    let in_a = iamat(1, "west", "1700000001").expect("Bona serves during the cut");
    let in_b = iamat(4, "east", "1700000001").expect("Jaquez serves during the cut");
    let west = HashMap::from([("west".to_string(), in_a.clone())]);
    let east = HashMap::from([("east".to_string(), in_b.clone())]);
    until("group A floods within itself", 10, || {
        agree(&[0, 1, 2], &west)
    });
    until("group B floods within itself", 10, || agree(&[3, 4], &east));
    assert_eq!(
        ask(3, vec!["west".into()]),
        Some(vec![None]),
        "nothing crossed the cut"
    );

    net.heal().expect("heal");
    let all = HashMap::from([("west".to_string(), in_a), ("east".to_string(), in_b)]);
    until("every server converges after the heal", 20, || {
        agree(&[0, 1, 2, 3, 4], &all)
    });
}
