//! The operator's view of a real `herd run`: the metrics endpoint, log rotation and SIGHUP,
//! the data folder's lock, and durability by default across a whole-herd restart.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::procs::{free_ports, held, herd_ron, try_iamat, wait_listening, BIN, NAMES};
use crate::support::*;

/// A `herd run` process whose stdout and stderr go to files beside it.
pub struct Run {
    pub child: Option<Child>,
    pub out: PathBuf,
    pub err: PathBuf,
}

impl Run {
    /// Starts `herd run <args>` in `cwd`.
    pub fn start(cwd: &Path, tag: &str, args: &[&str]) -> Run {
        let out = cwd.join(format!("{tag}.stdout"));
        let err = cwd.join(format!("{tag}.stderr"));
        let child = Command::new(BIN)
            .arg("run")
            .args(args)
            .current_dir(cwd)
            .env_remove("GOOGLE_PLACES_API_KEY")
            .env_remove("HERD_SECRET")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .spawn()
            .expect("spawn herd");
        Run {
            child: Some(child),
            out,
            err,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Waits (bounded) for the exit; its code, or -1 when killed by a signal.
    pub fn wait_exit(&mut self) -> i32 {
        let mut c = self.child.take().expect("running");
        let mut code = None;
        wait_until("the process exits", || match c.try_wait() {
            Ok(Some(st)) => {
                code = Some(st.code().unwrap_or(-1));
                true
            }
            _ => false,
        });
        code.unwrap_or(-1)
    }

    /// SIGTERM and the exit code.
    pub fn term(&mut self) -> i32 {
        self.signal(libc::SIGTERM);
        self.wait_exit()
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits (bounded) until `addr` accepts connections; if the process exits first, panics
    /// with what it wrote to stderr (why it could not start) instead of waiting out the bound.
    pub fn wait_listening(&mut self, addr: SocketAddr) {
        wait_until(&format!("{addr} listening"), || {
            if let Some(Ok(Some(st))) = self.child.as_mut().map(Child::try_wait) {
                panic!("herd run exited ({st}) before listening: {}", self.stderr());
            }
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        });
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// One server, `Solo`, on a free port, with `extra` RON fields; returns the config and address.
pub fn solo(dir: &Path, extra: &str) -> (PathBuf, SocketAddr) {
    let port = free_ports(1)[0];
    let cfg = dir.join("solo.ron");
    std::fs::write(
        &cfg,
        format!(
            "(servers: [(name: \"Solo\", listen: \"127.0.0.1:{port}\", peer_listen: Some(\"127.0.0.1:0\"))], links: [], \
             places: (provider: Offline), {extra})"
        ),
    )
    .expect("config");
    (cfg, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// `herd run` arguments for `Solo`: its config, its log folder, its data folder (or
/// `--no-data`), then `extra`.
pub fn solo_args<'a>(
    cfg: &'a Path,
    logs: &'a Path,
    data: Option<&'a Path>,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec!["Solo", "--config", p(cfg), "--log-dir", p(logs)];
    match data {
        Some(d) => args.extend(["--data-dir", p(d)]),
        None => args.push("--no-data"),
    }
    args.extend_from_slice(extra);
    args
}

pub fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// `GET path` over HTTP/1.1; the body of a 200 response.
fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect to metrics");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let (head, body) = out.split_once("\r\n\r\n").expect("a response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    body.to_string()
}

/// The value of the series `name` whose labels include every `k="v"` of `labels`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?;
        let (lbl, v) = match rest.strip_prefix('{') {
            Some(r) => r.split_once("} ")?,
            None => ("", rest.strip_prefix(' ')?),
        };
        labels
            .iter()
            .all(|(k, want)| lbl.split(',').any(|kv| kv == format!("{k}=\"{want}\"")))
            .then(|| v.trim().parse().ok())?
    })
}

#[test]
fn the_metrics_endpoint_shows_series_that_move_as_commands_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(6);
    let cfg = dir.path().join("two.ron");
    std::fs::write(
        &cfg,
        format!(
            "(servers: [(name: \"A\", listen: \"127.0.0.1:{}\", metrics_listen: Some(\"127.0.0.1:{}\"), \
             peer_listen: Some(\"127.0.0.1:{}\")), \
             (name: \"B\", listen: \"127.0.0.1:{}\", peer_listen: Some(\"127.0.0.1:{}\"))], links: [(\"A\", \"B\")], \
             places: (provider: Offline), \
             timings: (heartbeat_ms: 50, peer_timeout_ms: 500, backoff_initial_ms: 10, backoff_max_ms: 100))",
            ports[0], ports[1], ports[5], ports[2], ports[4]
        ),
    )
    .unwrap();
    let at = |i: usize| SocketAddr::from(([127, 0, 0, 1], ports[i]));
    let logs = dir.path().join("logs");
    let a = Run::start(
        dir.path(),
        "A",
        &["A", "--config", p(&cfg), "--log-dir", p(&logs), "--no-data"],
    );
    // --metrics overrides the config's address.
    let metrics_b = at(3).to_string();
    let b = Run::start(
        dir.path(),
        "B",
        &[
            "B",
            "--config",
            p(&cfg),
            "--log-dir",
            p(&logs),
            "--no-data",
            "--metrics",
            &metrics_b,
        ],
    );
    for i in 0..4 {
        wait_listening(at(i));
    }
    wait_until("A's start line names its metrics", || {
        a.stdout()
            .contains(&format!("metrics on http://{}/metrics", at(1)))
    });
    // B's metrics port accepts a moment before B prints its start line.
    wait_until("B's start line says it keeps no data", || {
        b.stdout().contains("no data folder")
    });
    let scrape = || http_get(at(1), "/metrics");
    let first = scrape();
    for family in [
        "herd_info",
        "herd_uptime_seconds",
        "herd_clients_known",
        "herd_connections",
        "herd_client_lines_total",
        "herd_updates_total",
        "herd_link_state",
        "herd_link_queue_depth",
        "herd_link_updates_total",
        "herd_places_requests_total",
        "herd_log_dropped_bytes_total",
    ] {
        assert!(
            first.contains(&format!("# TYPE {family}")),
            "{family} in\n{first}"
        );
    }
    assert!(
        value(
            &first,
            "herd_info",
            &[("server", "A"), ("places_provider", "offline")]
        )
        .is_some(),
        "{first}"
    );
    wait_until("A's link to B is up in the metrics", || {
        value(
            &scrape(),
            "herd_link_state",
            &[("neighbour", "B"), ("state", "up")],
        ) == Some(1.0)
    });
    let before = scrape();
    let lines_in = |t: &str| {
        value(
            t,
            "herd_client_lines_total",
            &[("server", "A"), ("direction", "in")],
        )
    };
    let sent_to_b = |t: &str| {
        value(
            t,
            "herd_link_updates_total",
            &[("neighbour", "B"), ("direction", "sent")],
        )
    };
    for i in 0..3 {
        let r = talk_str(
            at(0),
            &format!("IAMAT metrics{i} +34.068930-118.445127 1700000000.{i}\n"),
        );
        assert!(r.starts_with("AT A "), "{r}");
    }
    let r = talk_str(at(0), "WHATSAT metrics0 10 1\n");
    assert!(r.starts_with("AT A "), "{r}");
    // At least three: when both ends dialed at start, the connection that loses can take an
    // update to its grave, and catch-up on the one that stays sends it again (counted again).
    wait_until("three updates sent to B", || {
        sent_to_b(&scrape()) >= Some(sent_to_b(&before).unwrap_or(0.0) + 3.0)
    });
    let after = scrape();
    assert_eq!(
        lines_in(&after),
        Some(lines_in(&before).unwrap_or(0.0) + 4.0),
        "{after}"
    );
    assert_eq!(
        value(&after, "herd_clients_known", &[]),
        Some(3.0),
        "{after}"
    );
    assert_eq!(
        value(
            &after,
            "herd_places_requests_total",
            &[("provider", "offline"), ("status", "OK")]
        ),
        Some(1.0),
        "{after}"
    );
    // B's endpoint is its own, on the address given on its command line; B holds the three
    // clients (it may have received a copy twice, see above).
    wait_until("B's metrics show the three clients", || {
        value(&http_get(at(3), "/metrics"), "herd_clients_known", &[]) == Some(3.0)
    });
    let of_b = http_get(at(3), "/metrics");
    let received = value(
        &of_b,
        "herd_updates_total",
        &[("server", "B"), ("direction", "received")],
    );
    assert!(received >= Some(3.0), "{of_b}");
}

#[test]
fn logs_rotate_at_their_size_keeping_the_files_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, addr) = solo(dir.path(), "log: (max_bytes: 4096, keep: 2)");
    let logs = dir.path().join("logs");
    let mut s = Run::start(dir.path(), "solo", &solo_args(&cfg, &logs, None, &[]));
    s.wait_listening(addr);
    let mut input = String::new();
    for i in 0..100 {
        input.push_str(&format!("IAMAT rotate{i} +1+1 1700000000.{i}\n"));
    }
    let names = || {
        let mut v: Vec<String> = std::fs::read_dir(&logs)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    // About 25 KiB of log per round: rotated several times over.
    wait_until("two rotated files", || {
        talk_str(addr, &input);
        names().len() == 3
    });
    for _ in 0..3 {
        talk_str(addr, &input);
    }
    assert_eq!(names(), ["Solo.log", "Solo.log.1", "Solo.log.2"]);
}

#[test]
fn sighup_after_a_rename_writes_to_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, addr) = solo(dir.path(), "log: (max_bytes: 0)");
    let logs = dir.path().join("logs");
    let mut s = Run::start(dir.path(), "solo", &solo_args(&cfg, &logs, None, &[]));
    s.wait_listening(addr);
    let log = logs.join("Solo.log");
    let moved = logs.join("Solo.log.moved");
    talk_str(addr, "IAMAT before +1+1 1700000000\n");
    wait_until("the log has the first line", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("IAMAT before"))
    });
    std::fs::rename(&log, &moved).unwrap();
    s.signal(libc::SIGHUP);
    wait_until("a new log file", || {
        talk_str(addr, "IAMAT after +1+1 1700000001\n");
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("IAMAT after"))
    });
    let old = std::fs::read_to_string(&moved).unwrap();
    assert!(old.contains("IAMAT before"), "{old}");
}

/// Every file of `dir` (recursively) and its bytes.
pub fn contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(contents(&path));
        } else {
            out.insert(path.clone(), std::fs::read(&path).unwrap());
        }
    }
    out
}

#[test]
fn a_second_process_for_the_same_folder_is_refused_and_leaves_it_byte_for_byte_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, addr) = solo(dir.path(), "");
    let data = dir.path().join("data");
    let logs = dir.path().join("logs");
    let args = solo_args(&cfg, &logs, Some(&data), &[]);
    let mut first = Run::start(dir.path(), "first", &args);
    first.wait_listening(addr);
    let mut acked = Vec::new();
    for i in 0..50 {
        acked
            .push(try_iamat(addr, &format!("held{i}"), &format!("1700000000.{i}")).expect("acked"));
    }
    let before = contents(&data);
    assert!(
        before.keys().any(|k| k.ends_with("Solo.wal")),
        "{:?}",
        before.keys()
    );
    let mut second = Run::start(dir.path(), "second", &args);
    let code = second.wait_exit();
    assert_ne!(code, 0);
    let err = second.stderr();
    assert!(
        err.contains("Solo.lock")
            && err.contains(&format!("in use by another process (pid {})", first.pid())),
        "{err}"
    );
    assert_eq!(
        contents(&data),
        before,
        "the folder is byte for byte unchanged"
    );
    let clients: Vec<String> = (0..50).map(|i| format!("held{i}")).collect();
    let got = held(addr, &clients).expect("the first server still answers");
    assert_eq!(got, acked.into_iter().map(Some).collect::<Vec<_>>());
}

#[test]
fn kill_9_leaves_no_lock_that_blocks_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, addr) = solo(dir.path(), "");
    let data = dir.path().join("data");
    let logs = dir.path().join("logs");
    let args = solo_args(&cfg, &logs, Some(&data), &[]);
    let mut s = Run::start(dir.path(), "one", &args);
    s.wait_listening(addr);
    let at = try_iamat(addr, "survivor", "1700000000.5").expect("acked");
    s.kill9();
    let mut again = Run::start(dir.path(), "two", &args);
    again.wait_listening(addr);
    assert_eq!(
        held(addr, &["survivor".to_string()]),
        Some(vec![Some(at)]),
        "{}",
        again.stderr()
    );
}

#[test]
fn a_whole_herd_restarted_with_default_settings_keeps_every_acknowledged_update() {
    let dir = tempfile::tempdir().unwrap();
    let mut ports = free_ports(10);
    let peer_ports = ports.split_off(5);
    let cfg = dir.path().join("herd.ron");
    std::fs::write(
        &cfg,
        herd_ron(&vec!["127.0.0.1".to_string(); 5], &ports, &peer_ports, ""),
    )
    .unwrap();
    let addr = |i: usize| SocketAddr::from(([127, 0, 0, 1], ports[i]));
    // No --data-dir: the default folder, relative to the working directory.
    let start = |round: &str| -> Vec<Run> {
        let runs: Vec<Run> = NAMES
            .iter()
            .map(|n| {
                Run::start(
                    dir.path(),
                    &format!("{n}-{round}"),
                    &[n, "--config", p(&cfg)],
                )
            })
            .collect();
        for i in 0..5 {
            wait_listening(addr(i));
        }
        runs
    };
    let mut runs = start("one");
    assert!(
        runs[0].stdout().contains("data in herd-data"),
        "{}",
        runs[0].stdout()
    );
    let mut acked = Vec::new();
    for k in 0..40 {
        let client = format!("durable{k}");
        acked.push((
            client.clone(),
            try_iamat(addr(k % 5), &client, &format!("1700000000.{k}")).expect("acked"),
        ));
    }
    let clients: Vec<String> = acked.iter().map(|(c, _)| c.clone()).collect();
    let want: Vec<Option<String>> = acked.iter().map(|(_, at)| Some(at.clone())).collect();
    for (i, name) in NAMES.iter().enumerate() {
        wait_until(&format!("{name} holds every update"), || {
            held(addr(i), &clients).as_ref() == Some(&want)
        });
    }
    for r in &mut runs {
        assert_eq!(r.term(), 0, "{}", r.stderr());
    }
    for n in NAMES {
        assert!(
            dir.path()
                .join("herd-data")
                .join(format!("{n}.wal"))
                .exists(),
            "{n}"
        );
    }
    let _runs = start("two");
    // Each server answers from its own data at once; no neighbour is needed for that.
    for (i, name) in NAMES.iter().enumerate() {
        assert_eq!(held(addr(i), &clients).as_ref(), Some(&want), "{name}");
    }
}

#[test]
fn bench_against_a_target_says_what_it_writes_and_read_only_writes_one_client_per_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, addr) = solo(dir.path(), "");
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_ports(1)[0]));
    let m = metrics.to_string();
    let logs = dir.path().join("logs");
    let _s = Run::start(
        dir.path(),
        "solo",
        &solo_args(&cfg, &logs, None, &["--metrics", &m]),
    );
    wait_listening(addr);
    wait_listening(metrics);
    let target = addr.to_string();
    for _ in 0..2 {
        let out = Command::new(BIN)
            .args([
                "bench",
                "--target",
                &target,
                "--phases",
                "load",
                "--persistent",
            ])
            .args(["--read-only", "-c", "3", "-d", "0.3", "--json"])
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(
            stderr.contains(&format!("writes 3 synthetic clients into {target}"))
                && stderr.contains("starting bench-ro-"),
            "{stderr}"
        );
        let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
        let server = &report["load"][0]["server"];
        assert_eq!(server["iamat"], 0, "{server}");
        assert!(server["whatsat"].as_u64().unwrap_or(0) > 0, "{server}");
        assert_eq!(server["unexpected"], 0, "{server}");
    }
    let scrape = http_get(metrics, "/metrics");
    assert_eq!(
        value(&scrape, "herd_clients_known", &[]),
        Some(3.0),
        "two runs, three clients"
    );
}
