//! `herd run` under systemd's notify protocol, as deploy/systemd/herd@.service runs it, with a
//! datagram socket standing in for systemd: READY only once the data is replayed and both
//! ports are bound, the watchdog pinged while it runs, STOPPING at SIGTERM; the secret from
//! HERD_SECRET_FILE, as the unit hands it over.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::procs::{free_ports, path_str, BIN};

/// A stand-in for systemd's notification socket.
struct Systemd {
    sock: UnixDatagram,
}

impl Systemd {
    fn new(path: &Path) -> Systemd {
        let sock = UnixDatagram::bind(path).expect("notify socket");
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        Systemd { sock }
    }

    /// Waits (at most 10 s) for a message with the line `want`; returns the message.
    fn expect(&self, want: &str) -> String {
        let end = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 4096];
        while Instant::now() < end {
            if let Ok(n) = self.sock.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                if msg.lines().any(|l| l == want) {
                    return msg;
                }
            }
        }
        panic!("no {want} from herd within 10 s");
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Server {
    fn term(mut self) -> Option<i32> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(st)) = self.0.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

fn run(dir: &Path, env: &[(&str, &str)]) -> Server {
    let child = Command::new(BIN)
        .args(["run", "Clark", "--config", path_str(&dir.join("herd.ron"))])
        .args(["--data-dir", path_str(&dir.join("data"))])
        .args(["--log-dir", path_str(&dir.join("logs"))])
        .env_remove("HERD_SECRET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .env("HERD_SECRET_FILE", dir.join("secret"))
        .env("NOTIFY_SOCKET", dir.join("notify.sock"))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn herd");
    Server(child)
}

fn ask(addr: SocketAddr, line: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("the client port accepts at READY");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(line.as_bytes()).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn herd_run_tells_systemd_ready_after_replay_and_binding_pings_the_watchdog_and_says_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = free_ports(2);
    let cfg = format!(
        "(servers: [(name: \"Clark\", listen: \"127.0.0.1:{}\", peer_listen: \"127.0.0.1:{}\")], \
         links: [], places: (provider: Offline))",
        p[0], p[1]
    );
    std::fs::write(d.join("herd.ron"), cfg).unwrap();
    std::fs::write(d.join("secret"), format!("{}\n", "s".repeat(64))).unwrap();
    let (client, peer) = (
        SocketAddr::from(([127, 0, 0, 1], p[0])),
        SocketAddr::from(([127, 0, 0, 1], p[1])),
    );
    let systemd = Systemd::new(&d.join("notify.sock"));

    let first = run(d, &[]);
    let ready = systemd.expect("READY=1");
    assert!(
        ready.contains(&format!(
            "STATUS=listening for clients on {client} and for neighbours on {peer}"
        )),
        "{ready}"
    );
    let at = ask(client, "IAMAT durable +1+1 1700000000\n");
    assert!(at.starts_with("AT Clark "), "{at}");
    let term = std::thread::spawn(move || first.term());
    systemd.expect("STOPPING=1");
    assert_eq!(term.join().unwrap(), Some(0));

    // Again, with a watchdog: at READY the data is back and both ports accept, at once.
    let second = run(d, &[("WATCHDOG_USEC", "200000")]);
    systemd.expect("READY=1");
    let whatsat = ask(client, "WHATSAT durable 1 1\n");
    assert!(whatsat.starts_with(&at), "{whatsat}");
    TcpStream::connect(peer).expect("the peer port accepts at READY");
    systemd.expect("WATCHDOG=1");
    systemd.expect("WATCHDOG=1");
    let term = std::thread::spawn(move || second.term());
    systemd.expect("STOPPING=1");
    assert_eq!(term.join().unwrap(), Some(0));
}

#[test]
fn a_short_secret_in_herd_secret_file_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = free_ports(2);
    let cfg = format!(
        "(servers: [(name: \"Clark\", listen: \"127.0.0.1:{}\", peer_listen: \"127.0.0.1:{}\")], links: [])",
        p[0], p[1]
    );
    std::fs::write(d.join("herd.ron"), cfg).unwrap();
    std::fs::write(d.join("secret"), "short\n").unwrap();
    let server = run(d, &[]);
    let mut err = String::new();
    let mut child = server;
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}: HERD_SECRET_FILE: too short (5 bytes)",
            d.join("secret").display()
        )),
        "{err}"
    );
}
