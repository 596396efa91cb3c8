//! Shared helpers: fast timings, in-process herds, bounded polling, plain TCP clients.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use herd::config::Config;
use herd::herd::LocalHerd;
use herd::places::{self, Guarded};
use herd::rt;

/// The 2023 herd with timings fast enough for tests.
pub fn fast_config() -> Config {
    let mut cfg = Config::embedded().expect("embedded config");
    let t = &mut cfg.timings;
    t.heartbeat_ms = 50;
    t.peer_timeout_ms = 400;
    t.backoff_initial_ms = 10;
    t.backoff_max_ms = 100;
    t.connect_timeout_ms = 500;
    t.handshake_timeout_ms = 1000;
    t.write_timeout_ms = 2000;
    t.shutdown_grace_ms = 2000;
    cfg
}

/// The offline provider (no network).
pub fn offline_places() -> Arc<Guarded> {
    let p = herd::config::PlacesConfig {
        provider: herd::config::Provider::Offline,
        ..Default::default()
    };
    places::build(&p).expect("offline places")
}

/// A herd running in this process on fresh loopback ports.
pub struct TestHerd {
    pub herd: Option<LocalHerd>,
}

impl TestHerd {
    pub fn start(cfg: Config) -> TestHerd {
        let herd =
            rt::block_on(LocalHerd::start(cfg, offline_places(), true)).expect("herd starts");
        let t = TestHerd { herd: Some(herd) };
        t.wait_all_links_up();
        t
    }

    pub fn h(&self) -> &LocalHerd {
        self.herd.as_ref().expect("herd running")
    }

    pub fn addr(&self, name: &str) -> SocketAddr {
        self.h().addr(name).expect("server exists")
    }

    /// Waits until every running server has every link to a running neighbour up.
    pub fn wait_all_links_up(&self) {
        wait_until("all links up", || {
            self.h().names().iter().all(|n| match self.h().server(n) {
                None => true,
                Some(s) => s.peers.iter().all(|p| {
                    self.h().server(&p.name).is_none()
                        || p.is_cut()
                        || p.status().state == herd::events::LinkState::Up
                }),
            })
        });
    }

    /// Waits until server `name` holds exactly `at` for `client`.
    pub fn wait_holds(&self, name: &str, client: &str, at: &str) {
        wait_until(&format!("{name} holds {at}"), || {
            self.h()
                .server(name)
                .and_then(|s| s.lookup(client.as_bytes()))
                .is_some_and(|u| &*u.at == at.as_bytes())
        });
    }

    pub fn stop(&self, name: &str) {
        assert!(
            rt::block_on(self.h().stop_server(name)),
            "{name} was running"
        );
    }

    pub fn restart(&self, name: &str) {
        rt::block_on(self.h().start_server(name)).expect("restart");
    }
}

impl Drop for TestHerd {
    fn drop(&mut self) {
        if let Some(h) = self.herd.take() {
            rt::block_on(h.shutdown());
        }
    }
}

/// Polls `cond` every 5 ms for at most 30 s; panics naming `what` if it never holds. The bound
/// is generous because it costs nothing when the condition holds: on a loaded 2-core machine a
/// debug-build server can take many seconds to reach a condition (a slow reader filling the
/// socket buffers with WHATSAT replies took more than 10 s).
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("timed out waiting for: {what}");
}

/// The grader way: write everything, half-close, read to EOF.
pub fn talk(addr: SocketAddr, input: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(input).expect("write");
    s.shutdown(Shutdown::Write).expect("half-close");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read to EOF");
    out
}

/// `talk` for text.
pub fn talk_str(addr: SocketAddr, input: &str) -> String {
    String::from_utf8_lossy(&talk(addr, input.as_bytes())).into_owned()
}

/// Reads one newline-terminated line.
pub fn read_line(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while s.read(&mut b).expect("read") == 1 {
        out.push(b[0]);
        if b[0] == b'\n' {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads one WHATSAT reply: everything up to and including the blank line.
pub fn read_whatsat(s: &mut TcpStream) -> String {
    let mut out = String::new();
    loop {
        let line = read_line(s);
        if line.is_empty() {
            return out;
        }
        out.push_str(&line);
        if out.ends_with("\n\n") {
            return out;
        }
    }
}

/// Current POSIX time as the classic clients print it.
pub fn now_text() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// Checks an AT reply's shape and that its fields 4-6 are the IAMAT's, byte for byte.
pub fn assert_at(reply: &str, server: &str, client: &str, loc: &str, time: &str) {
    let line = reply
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("no newline: {reply:?}"));
    let f: Vec<&str> = line.split(' ').collect();
    assert_eq!(f.len(), 6, "{reply:?}");
    assert_eq!(
        (f[0], f[1], f[3], f[4], f[5]),
        ("AT", server, client, loc, time),
        "{reply:?}"
    );
    let diff = f[2];
    assert!(diff.starts_with('+') || diff.starts_with('-'), "{diff}");
    let (_, frac) = diff.split_once('.').expect("a dot");
    assert_eq!(frac.len(), 9, "{diff}");
    assert!(frac.bytes().all(|b| b.is_ascii_digit()), "{diff}");
}

/// Checks a test's prerequisite (tmux, root, network namespaces): `missing` says what is
/// missing, if anything. Where `CI` is set the test fails, since CI installs what the tests
/// need; elsewhere it is skipped, and says so on the terminal itself (libtest captures only
/// `print!` and `eprint!`, so a plain `eprintln!` would show only with `--nocapture`).
pub fn prerequisite(test: &str, missing: Option<String>) -> bool {
    let Some(reason) = missing else {
        return true;
    };
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    assert!(
        !ci,
        "{test}: {reason} (CI is set, so this fails instead of skipping)"
    );
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {reason} (set CI=1 to make this a failure)"
    );
    false
}
