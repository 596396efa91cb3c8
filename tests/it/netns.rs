//! Across hosts, as containers run: each server in a network namespace of its own, bound to
//! `0.0.0.0` on the same two ports, its neighbours named by host names that resolve through
//! per-namespace hosts files (`/etc/netns/<ns>/hosts`, which `ip netns exec` mounts over
//! `/etc/hosts`), links over TLS with certificates made at test time. Each server runs the
//! command deploy/compose.yaml gives it, on deploy/herd.ron (its secret paths pointed at a
//! temporary folder). The herd floods; a partition between two groups keeps both serving and
//! heals to one view; a server moved to another address under the same name is found again,
//! and while its name resolves nowhere the links to it stay down with the reason logged.
//!
//! Needs root and `ip` (iproute2): without them the test says it is skipped, on stderr past
//! the test harness's capture, and where the environment variable `CI` is set it fails
//! instead. Every address (10.199.0.x) lives only in namespaces this test creates; they, their
//! veths and their hosts files are removed even when it fails.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::certs;
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

/// The command deploy/compose.yaml runs for server `name` (`deploy.rs` checks that it does).
pub fn compose_command(name: &str) -> Vec<String> {
    let args = [
        "--config",
        "/etc/herd/herd.ron",
        "--data-dir",
        "/var/lib/herd",
    ];
    let mut v: Vec<String> = ["run", name]
        .iter()
        .chain(&args)
        .map(|s| s.to_string())
        .collect();
    v.extend(["--log-dir", "/var/log/herd"].map(String::from));
    v
}

/// Namespace slots: one per server, and a spare one a server moves to.
const SLOTS: usize = 6;
const SPARE: usize = 5;

/// The address of namespace slot `i`.
fn slot_ip(i: usize) -> String {
    format!("10.199.0.{}", 10 + i)
}

/// A bridge in a hub namespace, a namespace per slot on it, their hosts files; dropping it
/// kills the servers and removes all of it.
struct Net {
    /// The namespace that holds the bridge.
    hub: String,
    /// The slots' namespaces.
    slots: Vec<String>,
    /// True when this test made /etc/netns (so it removes it when empty).
    made_etc_netns: bool,
    /// Running servers by name.
    procs: HashMap<String, Child>,
}

impl Drop for Net {
    fn drop(&mut self) {
        for p in self.procs.values_mut() {
            let _ = p.kill();
            let _ = p.wait();
        }
        // Deleting a namespace deletes the veth ends inside it, and so their peers.
        for ns in self.slots.iter().chain([&self.hub]) {
            let _ = ip(&["netns", "del", ns]);
            let _ = std::fs::remove_dir_all(format!("/etc/netns/{ns}"));
        }
        if self.made_etc_netns {
            let _ = std::fs::remove_dir("/etc/netns");
        }
    }
}

impl Net {
    fn setup() -> Result<Net, String> {
        let id = std::process::id();
        let made_etc_netns = !Path::new("/etc/netns").exists();
        let mut net = Net {
            hub: format!("herd{id}hub"),
            slots: Vec::new(),
            made_etc_netns,
            procs: HashMap::new(),
        };
        let hub = net.hub.clone();
        ip(&["netns", "add", &hub])?;
        ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &hub, "link", "set", "br0", "up"])?;
        for i in 0..SLOTS {
            let ns = format!("herd{id}s{i}");
            ip(&["netns", "add", &ns])?;
            net.slots.push(ns.clone());
            let (inner, outer) = (format!("h{id}a{i}"), format!("h{id}b{i}"));
            ip(&[
                "link", "add", &inner, "netns", &ns, "type", "veth", "peer", "name", &outer,
                "netns", &hub,
            ])?;
            ip(&["-n", &hub, "link", "set", &outer, "master", "br0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/24", slot_ip(i)),
                "dev",
                &inner,
            ])?;
            ip(&["-n", &ns, "link", "set", &inner, "up"])?;
            let dir = format!("/etc/netns/{ns}");
            std::fs::create_dir_all(&dir).map_err(|e| format!("{dir}: {e}"))?;
            // DNS stays inside the namespace: a name not in its hosts file fails at once.
            std::fs::write(
                format!("{dir}/resolv.conf"),
                "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
            )
            .map_err(|e| format!("{dir}/resolv.conf: {e}"))?;
        }
        Ok(net)
    }

    /// Writes every namespace's hosts file: each server's service name at its slot's address.
    /// In place (same inode), so the copies `ip netns exec` mounted see it at once.
    fn hosts(&self, placed: &[(&str, usize)]) {
        let mut text = String::from("127.0.0.1 localhost\n");
        for (name, slot) in placed {
            text.push_str(&format!("{} {}\n", slot_ip(*slot), name.to_lowercase()));
        }
        for ns in &self.slots {
            std::fs::write(format!("/etc/netns/{ns}/hosts"), &text).expect("hosts file");
        }
    }

    /// Makes the slots in `a` and those in `b` unreachable from each other, or reachable
    /// again.
    fn partition(&self, a: &[usize], b: &[usize], cut: bool) -> Result<(), String> {
        for (from, to) in [(a, b), (b, a)] {
            for &f in from {
                for &t in to {
                    let dest = format!("{}/32", slot_ip(t));
                    let verb = if cut { "replace" } else { "del" };
                    ip(&["-n", &self.slots[f], "route", verb, "unreachable", &dest])?;
                }
            }
        }
        Ok(())
    }
}

/// Says the test is skipped where a developer sees it, or fails under CI.
fn skip(why: &str) {
    crate::support::prerequisite("netns test", Some(why.to_string()));
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

/// Where the test keeps what the containers would have at fixed paths.
struct Files {
    /// Config, secrets, data and logs.
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        let dir = tempfile::tempdir().expect("tempdir");
        let secrets = dir.path().join("secrets");
        let ca = certs::good_herd(&secrets, &NAMES);
        std::fs::write(secrets.join("herd-ca.crt"), &ca.pem).expect("ca");
        std::fs::write(secrets.join("herd_secret"), "a".repeat(64) + "\n").expect("secret");
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/herd.ron");
        let text = std::fs::read_to_string(&deploy).expect("deploy/herd.ron");
        let text = text.replace("/run/secrets/", &format!("{}/", secrets.display()));
        std::fs::write(dir.path().join("herd.ron"), text).expect("config");
        Files { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// The compose command for `name`, its container paths mapped to the test's folder.
    fn command(&self, name: &str) -> Vec<String> {
        let map = [
            ("/etc/herd/herd.ron", self.path("herd.ron")),
            ("/var/lib/herd", self.path("data")),
            ("/var/log/herd", self.path("logs")),
        ];
        compose_command(name)
            .into_iter()
            .map(|a| match map.iter().find(|(from, _)| *from == a) {
                Some((_, to)) => to.display().to_string(),
                None => a,
            })
            .collect()
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.path("logs").join(format!("{name}.log"))).unwrap_or_default()
    }
}

fn start(net: &mut Net, files: &Files, name: &str, slot: usize) {
    let args = files.command(name);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let secret = files.path("secrets/herd_secret");
    let child = spawn_herd(
        &args,
        Some(&["ip", "netns", "exec", &net.slots[slot]]),
        &[("HERD_SECRET_FILE", path_str(&secret))],
    );
    net.procs.insert(name.to_string(), child);
}

#[test]
fn a_herd_across_namespaces_finds_its_neighbours_by_name_over_tls_heals_and_follows_a_move_needs_root(
) {
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return skip("needs root for `ip netns`");
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return skip("needs `ip` (iproute2; .ci/run installs it)");
    }
    let mut net = match Net::setup() {
        Ok(n) => n,
        Err(e) => return skip(&format!("cannot build namespaces ({e})")),
    };
    let files = Files::new();
    let mut slot_of: HashMap<&str, usize> =
        NAMES.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let placed = |slot_of: &HashMap<&str, usize>| -> Vec<(&'static str, usize)> {
        NAMES
            .iter()
            .filter_map(|n| slot_of.get(n).map(|s| (*n, *s)))
            .collect()
    };
    net.hosts(&placed(&slot_of));
    for (i, name) in NAMES.iter().enumerate() {
        start(&mut net, &files, name, i);
    }
    let slots = net.slots.clone();
    let client = |slot: usize| -> SocketAddr {
        format!("{}:10000", slot_ip(slot)).parse().expect("address")
    };
    let ask = |slot: usize, clients: Vec<String>| {
        let a = client(slot);
        in_ns(&slots[slot], move || held(a, &clients))
    };
    let iamat = |slot: usize, c: &str, t: &str| {
        let (a, c, t) = (client(slot), c.to_string(), t.to_string());
        in_ns(&slots[slot], move || try_iamat(a, &c, &t))
    };
    // Every server in `group` holds exactly `acked` for each of its clients.
    let agree = |group: &[usize], acked: &HashMap<String, String>| {
        let clients: Vec<String> = acked.keys().cloned().collect();
        group.iter().all(|&s| {
            ask(s, clients.clone()).is_some_and(|v| {
                v.iter()
                    .zip(&clients)
                    .all(|(got, c)| got.as_deref() == Some(acked[c].as_str()))
            })
        })
    };
    let all = [0, 1, 2, 3, 4];

    until("all listening, linked over TLS, flooding", 30, || {
        iamat(3, "probe", "1700000000")
            .is_some_and(|at| agree(&all, &HashMap::from([("probe".to_string(), at)])))
    });
    assert!(
        files.log("Clark").contains("over TLS"),
        "{}",
        files.log("Clark")
    );

    let (west, east) = ([0, 1, 2], [3, 4]);
    net.partition(&west, &east, true).expect("cut");
    let log_has = |name: &str, text: &str| files.log(name).contains(text);
    // Updates accepted from here on cross only by catch-up once the links are back.
    until("the links across the cut time out", 20, || {
        log_has("Clark", "link to Bona down") && log_has("Jaquez", "link to Campbell down")
    });
    let in_west = iamat(1, "west", "1700000001").expect("Bona serves during the cut");
    let in_east = iamat(4, "east", "1700000001").expect("Jaquez serves during the cut");
    let w = HashMap::from([("west".to_string(), in_west.clone())]);
    let e = HashMap::from([("east".to_string(), in_east.clone())]);
    until("the west floods within itself", 20, || agree(&west, &w));
    until("the east floods within itself", 20, || agree(&east, &e));
    assert_eq!(
        ask(3, vec!["west".into()]),
        Some(vec![None]),
        "nothing crossed the cut"
    );
    net.partition(&west, &east, false).expect("heal");
    let both = HashMap::from([("west".to_string(), in_west), ("east".to_string(), in_east)]);
    until("every server converges after the heal", 30, || {
        agree(&all, &both)
    });

    // Jaquez goes away; while its name resolves nowhere its neighbours say why they cannot
    // reach it, then it comes back at another address under the same name.
    if let Some(mut p) = net.procs.remove("Jaquez") {
        let _ = p.kill();
        let _ = p.wait();
    }
    slot_of.remove("Jaquez");
    net.hosts(&placed(&slot_of));
    until("Clark logs that jaquez does not resolve", 20, || {
        log_has("Clark", "cannot resolve jaquez")
    });
    slot_of.insert("Jaquez", SPARE);
    net.hosts(&placed(&slot_of));
    start(&mut net, &files, "Jaquez", SPARE);
    let moved = [0, 1, 2, 3, SPARE];
    until(
        "Jaquez answers at its new address with what it missed",
        30,
        || {
            iamat(SPARE, "moved", "1700000002")
                .is_some_and(|at| agree(&moved, &HashMap::from([("moved".to_string(), at)])))
        },
    );
    let from_clark = iamat(3, "after-move", "1700000003").expect("Clark serves");
    until("an update from Clark reaches the moved Jaquez", 30, || {
        agree(
            &[SPARE],
            &HashMap::from([("after-move".to_string(), from_clark.clone())]),
        )
    });
}
