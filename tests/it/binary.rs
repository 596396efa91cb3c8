//! The real binary as processes: five `herd run` on free loopback ports, driven the grader way
//! (one command per connection, half-close, read to EOF), stopped with SIGTERM.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::procs::free_ports;
use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_herd");

/// A copy of the 2023 herd with clients on `ports[..5]` and links on `ports[5..]`, with fast
/// timings and optional extra RON fields.
fn write_config(dir: &Path, ports: &[u16], extra: &str) -> std::path::PathBuf {
    let names = ["Bailey", "Bona", "Campbell", "Clark", "Jaquez"];
    let servers: String = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let (p, q) = (ports[i], ports[i + 5]);
            format!(
                "(name: \"{n}\", listen: \"127.0.0.1:{p}\", peer_listen: Some(\"127.0.0.1:{q}\")),"
            )
        })
        .collect();
    let text = format!(
        "(servers: [{servers}], links: [(\"Clark\", \"Jaquez\"), (\"Clark\", \"Bona\"), (\"Campbell\", \"Bailey\"), \
         (\"Campbell\", \"Bona\"), (\"Campbell\", \"Jaquez\"), (\"Bona\", \"Bailey\")], \
         places: (provider: Offline), \
         timings: (heartbeat_ms: 50, peer_timeout_ms: 500, backoff_initial_ms: 10, backoff_max_ms: 100), {extra})"
    );
    let path = dir.join("herd.ron");
    std::fs::write(&path, text).unwrap();
    path
}

struct Proc(Child);

impl Proc {
    fn spawn(name: &str, cfg: &Path, logs: &Path, env: &[(&str, &str)]) -> Proc {
        let mut c = Command::new(BIN);
        c.args(["run", name, "--config"])
            .arg(cfg)
            .arg("--log-dir")
            .arg(logs)
            .arg("--no-data");
        c.env_remove("GOOGLE_PLACES_API_KEY")
            .env_remove("HERD_SECRET");
        for (k, v) in env {
            c.env(k, v);
        }
        Proc(
            c.stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }

    fn term(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = self.0.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < end, "no exit within 10 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_listening(addr: SocketAddr) {
    wait_until(&format!("{addr} listening"), || {
        TcpStream::connect(addr).is_ok()
    });
}

#[test]
fn five_processes_form_a_herd_that_a_grader_can_drive() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(10);
    let cfg = write_config(dir.path(), &ports, "");
    let logs = dir.path().join("logs");
    let names = ["Bailey", "Bona", "Campbell", "Clark", "Jaquez"];
    let mut procs: Vec<Proc> = names
        .iter()
        .map(|n| Proc::spawn(n, &cfg, &logs, &[]))
        .collect();
    let addr = |i: usize| SocketAddr::from(([127, 0, 0, 1], ports[i]));
    for i in 0..5 {
        wait_listening(addr(i));
    }
    // The herd has formed when every server logged every one of its links up.
    let cfg_text = herd::config::Config::load(&cfg).unwrap();
    for name in names {
        for n in cfg_text.neighbours(name) {
            let needle = format!("link to {n} up");
            wait_until(&format!("{name}: {needle}"), || {
                std::fs::read_to_string(logs.join(format!("{name}.log")))
                    .is_ok_and(|l| l.contains(&needle))
            });
        }
    }
    let time = now_text();
    let at = talk_str(
        addr(3),
        &format!("IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 {time}\n"),
    );
    assert_at(
        &at,
        "Clark",
        "kiwi.cs.ucla.edu",
        "+34.068930-118.445127",
        &time,
    );
    // Bailey is two hops from Clark (via Bona); poll it the grader way until the update arrives.
    for (i, name) in names.iter().enumerate() {
        wait_until(&format!("{name} has kiwi"), || {
            talk_str(addr(i), "WHATSAT kiwi.cs.ucla.edu 10 2\n").starts_with(at.as_str())
        });
    }
    for (i, p) in procs.iter_mut().enumerate() {
        let st = p.term();
        assert!(st.success(), "{} exits 0 on SIGTERM: {st:?}", names[i]);
    }
    // Each server logged its input, its output and its links to its own file.
    let clark = std::fs::read_to_string(logs.join("Clark.log")).unwrap();
    assert!(
        clark.contains("in  127.0.0.1:") && clark.contains("IAMAT kiwi.cs.ucla.edu"),
        "{clark}"
    );
    assert!(
        clark.contains("out 127.0.0.1:") && clark.contains("AT Clark"),
        "{clark}"
    );
    assert!(clark.contains("link to Bona up"), "{clark}");
    // The binary runs on the runtime this test suite was built for.
    let want = if cfg!(feature = "rt-smol") {
        "runtime smol"
    } else {
        "runtime async-std"
    };
    assert!(clark.contains(want), "{want}: {clark}");
    assert_eq!(herd::rt::RUNTIME, &want["runtime ".len()..]);
    let bailey = std::fs::read_to_string(logs.join("Bailey.log")).unwrap();
    // Through Bona (two hops) or Campbell (three): whichever came first was applied. Floods
    // are summed up per link at info level (one line each at debug).
    assert!(bailey.contains("received, 1 applied"), "{bailey}");
}

#[test]
fn a_killed_server_restarts_and_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(10);
    let cfg = write_config(dir.path(), &ports, "");
    let logs = dir.path().join("logs");
    let names = ["Bailey", "Bona", "Campbell", "Clark", "Jaquez"];
    let mut procs: Vec<Option<Proc>> = names
        .iter()
        .map(|n| Some(Proc::spawn(n, &cfg, &logs, &[])))
        .collect();
    let addr = |i: usize| SocketAddr::from(([127, 0, 0, 1], ports[i]));
    for i in 0..5 {
        wait_listening(addr(i));
    }
    // kill -9 Jaquez; an update made meanwhile must reach it after it returns.
    procs[4].take();
    let at = talk_str(addr(0), "IAMAT missed +1+1 1700000000\n");
    wait_until("Clark has it", || {
        talk_str(addr(3), "WHATSAT missed 1 1\n").starts_with(at.as_str())
    });
    procs[4] = Some(Proc::spawn("Jaquez", &cfg, &logs, &[]));
    // Listening again is a condition polled for (bounded), not a time it must beat.
    wait_listening(addr(4));
    wait_until("Jaquez caught up", || {
        talk_str(addr(4), "WHATSAT missed 1 1\n").starts_with(at.as_str())
    });
}

#[test]
fn neighbours_with_different_secrets_never_link() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(10);
    let cfg = write_config(dir.path(), &ports, "");
    let logs = dir.path().join("logs");
    let _bona = Proc::spawn(
        "Bona",
        &cfg,
        &logs,
        &[("HERD_SECRET", "one-one-one-one-one-one-one-one-one")],
    );
    let _clark = Proc::spawn(
        "Clark",
        &cfg,
        &logs,
        &[("HERD_SECRET", "two-two-two-two-two-two-two-two-two")],
    );
    let (bona, clark) = (
        SocketAddr::from(([127, 0, 0, 1], ports[1])),
        SocketAddr::from(([127, 0, 0, 1], ports[3])),
    );
    wait_listening(bona);
    wait_listening(clark);
    wait_until("Bona logs the failed proof", || {
        std::fs::read_to_string(logs.join("Bona.log"))
            .is_ok_and(|l| l.contains("failed authentication"))
    });
    talk_str(bona, "IAMAT secret +1+1 1700000000\n");
    // A negative: nothing may cross, so watch Clark for a while (load can only make it pass).
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_millis(500) {
        assert!(
            talk_str(clark, "WHATSAT secret 1 1\n").starts_with("? "),
            "nothing crossed"
        );
    }
    let bona_log = std::fs::read_to_string(logs.join("Bona.log")).unwrap();
    assert!(
        !bona_log.contains("one") || !bona_log.contains("HERD_SECRET=one"),
        "the secret is never logged"
    );
}

fn run_bin(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_server_that_cannot_start_says_why_on_stderr_once_and_in_its_log_file() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(10);
    let cfg = write_config(dir.path(), &ports, "");
    // Something else holds Clark's client port.
    let _taken = std::net::TcpListener::bind(("127.0.0.1", ports[3])).unwrap();
    let logs = dir.path().join("logs");
    let (code, _, err) = run_bin(&[
        "run",
        "Clark",
        "--config",
        cfg.to_str().unwrap(),
        "--log-dir",
        logs.to_str().unwrap(),
        "--no-data",
    ]);
    assert_eq!(code, 2, "{err}");
    let why = format!("cannot listen for clients on 127.0.0.1:{}", ports[3]);
    assert_eq!(err.matches(&why).count(), 1, "said once on stderr: {err}");
    assert!(
        err.starts_with("herd: error: Clark cannot start: "),
        "{err}"
    );
    let log = std::fs::read_to_string(logs.join("Clark.log")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("[ERROR] stopping: Clark cannot start: ") && l.contains(&why)),
        "the log file says why the daemon stopped: {log:?}"
    );
}

#[test]
fn bad_configs_name_the_file_the_field_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("(servers: [(name: \"A\", listen: \"127.0.0.1:1\")], links: [(\"A\", \"B\")])", "links[0]: unknown server \"B\""),
        ("(servers: [(name: \"A\", listen: \"127.0.0.1:1\")], links: [(\"A\", \"A\")])", "links[0]: \"A\" cannot link to itself"),
        ("(servers: [(name: \"A\", listen: \"127.0.0.1:1\"), (name: \"B\", listen: \"127.0.0.1:1\")], links: [])", "servers[1].listen: duplicate address"),
        ("(servers: [(name: \"A\", listen: \"127.0.0.1:1\")],\n links: [],\n oops: 1)", "line 3, column"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.ron"));
        std::fs::write(&path, text).unwrap();
        let (code, _, err) = run_bin(&["check", "--config", path.to_str().unwrap()]);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains(path.to_str().unwrap()) && err.contains(want),
            "{err}"
        );
    }
    let (code, _, err) = run_bin(&["check", "--config", "/nonexistent/herd.ron"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("/nonexistent/herd.ron") && err.contains("cannot read"),
        "{err}"
    );
    let (code, _, err) = run_bin(&["run", "Nobody", "--config", "config/herd.ron"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no server named \"Nobody\"") && err.contains("Clark"),
        "{err}"
    );
    let (code, out, _) = run_bin(&["check", "--config", "config/herd-2018.ron"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("config/herd-2018.ron: ok, 5 servers, 6 links\n")
            && out.contains("Goloman")
            && out.contains("127.0.0.1:11877"),
        "{out}"
    );
    // Every problem, each with file, field and reason.
    let path = dir.path().join("many.ron");
    let long = "N".repeat(9000);
    std::fs::write(
        &path,
        format!(
            "(servers: [(name: \"{long}\", listen: \"127.0.0.1:1\"), (name: \"B\", listen: \"127.0.0.1:1\")], \
             links: [(\"B\", \"C\")], limits: (max_line: 18446744073709551615))"
        ),
    )
    .unwrap();
    let p = path.to_str().unwrap();
    let (code, _, err) = run_bin(&["check", "--config", p]);
    assert_eq!(code, 2, "{err}");
    for want in [
        format!("4 problems in {p}"),
        format!("{p}: servers[0].name: a name of 9000 characters is too long"),
        format!("{p}: servers[1].listen: duplicate address 127.0.0.1:1"),
        format!("{p}: links[0]: unknown server \"C\""),
        format!("{p}: limits.max_line: 18446744073709551615 is outside"),
    ] {
        assert!(err.contains(&want), "{want}:\n{err}");
    }
    // Without --config and without config/herd.ron, check says it used the built-in herd.
    let out = Command::new(BIN)
        .arg("check")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.starts_with("the built-in 2023 herd"),
        "{text}"
    );
    let (code, out, _) = run_bin(&["--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("run")
            && out.contains("check")
            && out.contains("client")
            && out.contains("GOOGLE_PLACES_API_KEY"),
        "{out}"
    );
}

#[test]
fn check_into_a_reader_that_stops_early_exits_quietly() {
    // A herd large enough that its listing overflows a pipe's buffer (64 KiB).
    let dir = tempfile::tempdir().unwrap();
    let servers: String = (0..3000)
        .map(|i| {
            format!(
                "(name: \"server-{i}\", listen: \"127.0.0.1:{}\"),",
                20000 + i
            )
        })
        .collect();
    let links: String = (1..3000)
        .map(|i| format!("(\"server-0\", \"server-{i}\"),"))
        .collect();
    let path = dir.path().join("big.ron");
    std::fs::write(&path, format!("(servers: [{servers}], links: [{links}])")).unwrap();
    let mut child = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // `| head -c 400`: read a little, then close the pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 400];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(first.starts_with(path.to_str().unwrap().as_bytes()));
}

#[test]
fn headless_demo_with_chaos_converges_and_reports_latency_by_hops() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let out = Command::new(BIN)
        .args([
            "demo",
            "--headless",
            "--duration",
            "2s",
            "--chaos",
            "--ephemeral",
            "--rate",
            "100",
        ])
        .arg("--log-dir")
        .arg(&logs)
        .env_remove("GOOGLE_PLACES_API_KEY")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The chaos script ran to its end, in order.
    let steps = [
        "stopped Campbell",
        "cut link ",
        "restarted Campbell",
        "healed link ",
        "every server and link is back",
    ];
    let at: Vec<Option<usize>> = steps.iter().map(|w| text.find(w)).collect();
    assert!(
        at.iter().all(Option::is_some) && at.windows(2).all(|w| w[0] < w[1]),
        "{text}"
    );
    assert!(
        text.contains("every running server holds the same table"),
        "{text}"
    );
    // Hop counts 1 and 2 both appear in the 2023 herd.
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    assert!(
        rows.iter().any(|r| r.trim_start().starts_with("1 ")),
        "{text}"
    );
    assert!(
        rows.iter().any(|r| r.trim_start().starts_with("2 ")),
        "{text}"
    );
    for name in ["Bailey", "Bona", "Campbell", "Clark", "Jaquez"] {
        assert!(
            logs.join(format!("{name}.log")).exists(),
            "{name} has its own log file"
        );
    }
}
