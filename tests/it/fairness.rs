//! A client that keeps its connection busy must not keep the server's other tasks from running.
//! The async-std build runs each task on one thread and nothing steals it from there, so a task
//! that never waits would hold every other task of its thread: here, with one worker thread,
//! the accept loop and every other client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ops::{solo, solo_args, Run};
use crate::procs::try_iamat;
use crate::support::wait_until;

#[test]
fn a_client_that_never_waits_does_not_starve_the_others() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Its own peer port too (`solo` binds it to port 0): a default one (client port + 10000)
    // can be in the kernel's ephemeral range, taken by another test's connection, and the
    // server then cannot start.
    let (cfg, addr) = solo(dir.path(), "log: (level: \"warn\")");
    let logs = dir.path().join("logs");
    let args = solo_args(&cfg, &logs, None, &["--threads", "1"]);
    let mut server = Run::start(dir.path(), "solo", &args);
    server.wait_listening(addr);

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
