//! One process per server and data folder: `<dir>/<Name>.lock`, held with an OS file lock
//! (`flock` on Unix, through `std::fs::File::try_lock`) for as long as the store is open.
//!
//! The lock is taken before anything else in the folder is read or written, so a second
//! process for the same server and folder fails without touching the log. The kernel drops the
//! lock when its process dies, however it dies, so a stale lock never blocks a restart; the
//! pid written into the file is only there to name the holder in the error.
//!
//! Within one process (an in-process herd restarting a server while the stopped instance is
//! still being dropped) the lock is shared: the OS lock belongs to the process, and the process
//! runs each server once.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

/// Lock files this process holds, by canonical path (weak: a lock lives as long as its store).
static HELD: Mutex<Vec<(PathBuf, Weak<File>)>> = Mutex::new(Vec::new());

/// A held lock on one server's data in one folder; dropping the last copy releases it.
#[derive(Debug, Clone)]
pub struct DirLock {
    /// The open, locked file (the OS lock lives as long as it is open).
    _file: Arc<File>,
    /// `<dir>/<Name>.lock`, for messages.
    pub path: PathBuf,
}

/// Takes the lock of server `name` in the existing folder `dir`, or says who holds it.
pub fn acquire(dir: &Path, name: &str) -> io::Result<DirLock> {
    let canonical = dir
        .canonicalize()
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    let path = canonical.join(format!("{name}.lock"));
    let mut held = crate::sync::lock(&HELD);
    held.retain(|(_, w)| w.strong_count() > 0);
    if let Some(file) = held
        .iter()
        .find(|(p, _)| *p == path)
        .and_then(|(_, w)| w.upgrade())
    {
        return Ok(DirLock { _file: file, path });
    }
    let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    // Opening an existing file changes nothing in it; it is written only once it is ours.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(named)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let pid = holder.trim();
            let who = if pid.is_empty() {
                "another process".to_string()
            } else {
                format!("another process (pid {pid})")
            };
            return Err(io::Error::new(
                io::ErrorKind::ResourceBusy,
                format!(
                    "{}: the data of {name} in {} is in use by {who}; \
                     stop that server first, or give this one another data folder",
                    path.display(),
                    dir.display()
                ),
            ));
        }
        Err(TryLockError::Error(e)) => return Err(named(e)),
    }
    file.set_len(0).map_err(named)?;
    file.rewind().map_err(named)?;
    writeln!(file, "{}", std::process::id()).map_err(named)?;
    let file = Arc::new(file);
    held.push((path.clone(), Arc::downgrade(&file)));
    Ok(DirLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_is_shared_within_a_process_and_released_with_its_last_holder() {
        let dir = tempfile::tempdir().unwrap();
        let a = acquire(dir.path(), "S").unwrap();
        let b = acquire(dir.path(), "S").unwrap();
        let pid = std::fs::read_to_string(&a.path).unwrap();
        assert_eq!(pid.trim(), std::process::id().to_string());
        // Another open file description (as another process would have) is refused.
        let other = File::open(&a.path).unwrap();
        assert!(matches!(other.try_lock(), Err(TryLockError::WouldBlock)));
        drop((a, b));
        assert!(other.try_lock().is_ok(), "released with the last holder");
        // Each server of a folder has its own lock.
        other.unlock().unwrap();
        let _s = acquire(dir.path(), "S").unwrap();
        let _t = acquire(dir.path(), "T").unwrap();
    }
}
