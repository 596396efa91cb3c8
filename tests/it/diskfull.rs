//! A full disk under a real `herd run`: the server keeps answering, the log says so once on
//! stderr, and once space returns every update acknowledged from then on survives a restart
//! (no half-written record was left in the middle of the log). Needs root for a small tmpfs;
//! skipped with a message elsewhere, and failed instead where `CI` is set (CI runs as root).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::ops::{solo, solo_args, Run};
use crate::procs::held;
use crate::support::*;

/// A tmpfs mounted for the test; unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` at `dir`, or says why it cannot.
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root (a tmpfs mount needs root)".into());
        }
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A 512 KiB tmpfs under `dir`; where it cannot be mounted, a failure under CI and a SKIPPED
/// line for `test` elsewhere (`None`).
fn small_disk(dir: &Path, test: &str) -> Option<Tmpfs> {
    match Tmpfs::mount(&dir.join("small"), "512k") {
        Ok(t) => Some(t),
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("the disk-full test must run under CI: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED {test}: {why}");
            None
        }
    }
}

/// Fills the file system of `dir` with `filler` until it refuses a byte.
fn fill(filler: &Path) {
    let mut f = std::fs::File::create(filler).expect("filler");
    let chunk = [0u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.write_all(&chunk[..1]);
    while f.write_all(&chunk[..1]).is_ok() {}
}

#[test]
fn a_full_disk_keeps_the_server_answering_and_loses_nothing_acknowledged_after_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let Some(tmpfs) = small_disk(dir.path(), "a_full_disk_keeps_the_server_answering...") else {
        return;
    };
    let (cfg, addr): (PathBuf, SocketAddr) = solo(dir.path(), "");
    let (logs, data) = (tmpfs.0.join("logs"), tmpfs.0.join("data"));
    let args = solo_args(&cfg, &logs, Some(&data), &[]);
    let mut s = Run::start(dir.path(), "full", &args);
    s.wait_listening(addr);
    let filler = tmpfs.0.join("filler");
    fill(&filler);
    // Full: every line still gets its one reply, and the server stays up.
    for i in 0..30 {
        let r = talk_str(addr, &format!("IAMAT during{i} +1+1 1700000000.{i}\n"));
        assert!(r.starts_with("AT Solo ") || r.starts_with("? "), "{r}");
    }
    wait_until("the log failure reported on stderr", || {
        s.stderr().contains("cannot write log file")
    });
    std::fs::remove_file(&filler).unwrap();
    let clients: Vec<String> = (0..30).map(|i| format!("after{i}")).collect();
    let mut acked = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        let r = talk_str(addr, &format!("IAMAT {c} +1+1 1700000100.{i}\n"));
        assert!(r.starts_with("AT Solo "), "{r}");
        acked.push(Some(r.trim_end().to_string()));
    }
    assert_eq!(s.term(), 0, "{}", s.stderr());
    let err = s.stderr();
    assert_eq!(
        err.matches("cannot write log file").count(),
        1,
        "rate-limited: {err}"
    );
    let mut again = Run::start(dir.path(), "again", &args);
    again.wait_listening(addr);
    assert_eq!(
        held(addr, &clients),
        Some(acked),
        "every update acknowledged after space returned"
    );
    let damaged: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("corrupt"))
        .collect();
    assert!(
        damaged.is_empty(),
        "no torn record was left to cut: {damaged:?}"
    );
}

#[test]
fn under_fsync_always_an_update_that_cannot_be_made_durable_is_not_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let Some(tmpfs) = small_disk(dir.path(), "under_fsync_always_...") else {
        return;
    };
    let (cfg, addr) = solo(dir.path(), "store: (fsync: Always)");
    // The log files elsewhere: only the data folder fills up.
    let (logs, data) = (dir.path().join("logs"), tmpfs.0.join("data"));
    let args = solo_args(&cfg, &logs, Some(&data), &[]);
    let mut s = Run::start(dir.path(), "always", &args);
    s.wait_listening(addr);
    // Filled while the log is still empty: its first record needs a page the disk has not
    // got (an append into a page already allocated would still succeed, and be durable).
    let filler = tmpfs.0.join("filler");
    fill(&filler);
    // Full: the update is not durable, so the client is told `? ` and not acknowledged.
    for i in 0..5 {
        let line = format!("IAMAT full{i} +1+1 1700000001");
        assert_eq!(talk_str(addr, &format!("{line}\n")), format!("? {line}\n"));
    }
    std::fs::remove_file(&filler).unwrap();
    let after = talk_str(addr, "IAMAT after +1+1 1700000002\n");
    assert!(after.starts_with("AT Solo "), "{after}");
    assert_eq!(s.term(), 0, "{}", s.stderr());
    let log = std::fs::read_to_string(logs.join("Solo.log")).unwrap();
    assert!(log.contains("not acknowledged (fsync Always)"), "{log}");
    // Every acknowledged update survives a restart.
    let mut again = Run::start(dir.path(), "always-again", &args);
    again.wait_listening(addr);
    assert_eq!(
        held(addr, &["after".into(), "full0".into()]),
        Some(vec![Some(after.trim_end().to_string()), None]),
        "the acknowledged update survives; the refused one was never in the log"
    );
}
