//! A client that keeps its connection busy must not keep the server's other tasks from running.
//! The async-std build runs each task on one thread and nothing steals it from there, so a task
//! that never waits would hold every other task of its thread: here, with one worker thread,
//! the accept loop and every other client.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::procs::{free_ports, path_str, spawn_herd, try_iamat, wait_listening};
use crate::support::wait_until;

/// Stops and reaps the server even when an assertion fails.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_client_that_never_waits_does_not_starve_the_others() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_ports(1)[0];
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let cfg = dir.path().join("solo.ron");
    std::fs::write(
        &cfg,
        format!(
            "(servers: [(name: \"Solo\", listen: \"{addr}\")], links: [], \
             places: (provider: Offline), log: (level: \"warn\"))"
        ),
    )
    .expect("write config");
    let logs = dir.path().join("logs");
    let args = [
        "run",
        "Solo",
        "--config",
        path_str(&cfg),
        "--log-dir",
        path_str(&logs),
        "--no-data",
        "--threads",
        "1",
    ];
    let _server = Killed(spawn_herd(&args, None, &[]));
    wait_listening(addr);

    // The busy client pipelines IAMATs from one thread and drains the replies from another, so
    // its connection always has a command to read and room for the replies. Both stop when told
    // to, or after 20 s at most.
    let busy = TcpStream::connect(addr).expect("connect");
    let mut reader = busy.try_clone().expect("clone");
    let mut writer = busy;
    let stop = Arc::new(AtomicBool::new(false));
    let replied = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(20);
    let chunk = "IAMAT busy +34.068930-118.445127 1621464827.959498503\n".repeat(2_000);
    let w = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Relaxed) && Instant::now() < end {
                if writer.write_all(chunk.as_bytes()).is_err() {
                    break;
                }
            }
        })
    };
    let r = {
        let (stop, replied) = (stop.clone(), replied.clone());
        std::thread::spawn(move || {
            let _ = reader.set_read_timeout(Some(Duration::from_millis(200)));
            let mut buf = vec![0u8; 1 << 16];
            while !stop.load(Relaxed) && Instant::now() < end {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        replied.fetch_add(n as u64, Relaxed);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => break,
                }
            }
        })
    };
    wait_until("the busy client's replies flowing", || {
        replied.load(Relaxed) > 1 << 20
    });

    // Meanwhile a new client connects and is answered.
    let other = try_iamat(addr, "other", "1621464827.959498503");
    let busy_bytes = replied.load(Relaxed);
    stop.store(true, Relaxed);
    let _ = w.join();
    let _ = r.join();
    let other = other.expect("a new client is answered while another keeps its connection busy");
    assert!(
        other.starts_with("AT Solo ") && other.ends_with(" other +1+1 1621464827.959498503"),
        "{other}"
    );
    assert!(busy_bytes > 1 << 20, "the busy client was answered too");
}
