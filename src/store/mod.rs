//! Durability: every update a server accepts is appended to a log in its data folder; the log
//! is compacted into a snapshot when it grows past `compact_factor` times the table; at start
//! the server replays snapshot then log before it listens.
//!
//! Files, per server: `<dir>/<Name>.lock` (held while the store is open: one process per server
//! and folder, see [`lock`]), `<dir>/<Name>.snap` (the table as of the last compaction) and
//! `<dir>/<Name>.wal` (every accepted update since; not `.log`, so a data folder may be the log
//! folder). Both are sequences of [`record`]s, each one AT line. Replay is order-insensitive:
//! the table's "newest wins" merge makes applying a record twice, or an older record after a
//! newer one, harmless, which is what makes a crash between any two steps of a compaction safe.
//!
//! Damage found at start is repaired without silent loss ([`repair`]): the unreadable bytes go
//! to `<file>.corrupt-<time>`, the good records after them are kept. While running, a failed
//! append or fsync is rolled back before anything else is appended ([`commit`]), and under
//! `Fsync::Always` appends share fsyncs made by a committer thread (group commit).
//!
//! The record encoding is pure; the file IO is here and in `lock`, `repair` and `commit`.

pub mod commit;
pub mod lock;
pub mod record;
pub mod repair;

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Fsync;
use crate::state::Update;

pub use commit::{Durable, StoreStats};
pub use lock::DirLock;
pub use record::Damage;
pub use repair::Repair;

/// A log never compacts while it holds fewer records than this, however small the table.
const MIN_COMPACT_RECORDS: usize = 1024;

/// The first wait after a failed compaction; it doubles up to [`MAX_COMPACT_BACKOFF`].
const FIRST_COMPACT_BACKOFF: Duration = Duration::from_secs(1);

/// The longest wait between two compaction attempts after failures.
const MAX_COMPACT_BACKOFF: Duration = Duration::from_secs(300);

/// What a replay found.
#[derive(Debug, Default)]
pub struct Replay {
    /// Every update read, snapshot first (apply each; newest wins).
    pub updates: Vec<Update>,
    /// Records read from the snapshot.
    pub snapshot_records: usize,
    /// Records read from the log.
    pub log_records: usize,
    /// What was done to which file at start (damage kept aside, stale temporary files removed);
    /// `Store::open` logs each one.
    pub repairs: Vec<Repair>,
    /// How long the replay took.
    pub took: Duration,
}

/// One server's open log.
pub struct Store {
    /// The folder lock, held while the store is open.
    lock: DirLock,
    /// The log file and its tickets, shared with the committer thread.
    shared: Arc<commit::Shared>,
    /// The committer thread (`Fsync::Always` only), joined on drop.
    committer: Option<std::thread::JoinHandle<()>>,
    /// `<dir>/<Name>.snap`.
    snap_path: PathBuf,
    /// When appends reach the disk.
    fsync: Fsync,
    /// Compact when the log holds this many times the table's records.
    compact_factor: usize,
    /// After a failed compaction: no new attempt before this instant.
    compact_not_before: Option<Instant>,
    /// The wait after the next failure (doubles, reset by a success).
    compact_backoff: Duration,
    /// Reused encoding buffer.
    buf: Vec<u8>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("log", &self.shared.path)
            .field("lock", &self.lock.path)
            .field("fsync", &self.fsync)
            .finish()
    }
}

impl Store {
    /// Opens (creating when missing) the data of server `name` in `dir`: takes the folder lock
    /// before reading anything, removes stale temporary files, replays snapshot and log, and
    /// repairs damage (kept aside, logged on the server's log target).
    pub fn open(
        dir: &Path,
        name: &str,
        fsync: Fsync,
        compact_factor: usize,
    ) -> io::Result<(Store, Replay)> {
        let started = Instant::now();
        fs::create_dir_all(dir)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        let lock = lock::acquire(dir, name)?;
        let log_path = dir.join(format!("{name}.wal"));
        let snap_path = dir.join(format!("{name}.snap"));
        let mut replay = Replay::default();
        for p in [&snap_path, &log_path] {
            replay.repairs.extend(repair::remove_stale_tmp(p)?);
        }
        let snap = repair::load(&snap_path)?;
        let log = repair::load(&log_path)?;
        replay.snapshot_records = snap.records.len();
        replay.log_records = log.records.len();
        replay.repairs.extend(snap.repair);
        replay.repairs.extend(log.repair);
        replay.updates = snap
            .records
            .iter()
            .chain(&log.records)
            .filter_map(|r| Update::from_at_line(r))
            .collect();
        let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", log_path.display()));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(named)?;
        let target = crate::logging::log_target(name);
        for r in &replay.repairs {
            log::warn!(target: &target, "{r}");
        }
        let shared = Arc::new(commit::Shared::new(
            file,
            log_path.clone(),
            target,
            log.len,
            log.records.len(),
        ));
        let committer = if fsync == Fsync::Always {
            let sync_file = shared.lock().file.try_clone().map_err(named)?;
            let s = shared.clone();
            Some(
                std::thread::Builder::new()
                    .name(format!("commit-{name}"))
                    .spawn(move || s.commit_forever(sync_file))
                    .map_err(|e| io::Error::other(format!("cannot start the committer: {e}")))?,
            )
        } else {
            None
        };
        replay.took = started.elapsed();
        let store = Store {
            lock,
            shared,
            committer,
            snap_path,
            fsync,
            compact_factor: compact_factor.max(2),
            compact_not_before: None,
            compact_backoff: FIRST_COMPACT_BACKOFF,
            buf: Vec::with_capacity(256),
        };
        Ok((store, replay))
    }

    /// Appends one accepted update and returns at once with a ticket that completes when the
    /// update is durable under the policy (`Always`: a shared fsync by the committer thread;
    /// otherwise complete already). An error means the update is not in the log.
    pub fn submit(&mut self, at: &[u8]) -> io::Result<Durable> {
        self.buf.clear();
        record::encode(at, &mut self.buf);
        let ticket = self.fsync == Fsync::Always;
        Ok(self
            .shared
            .append(&self.buf, ticket)?
            .unwrap_or_else(Durable::done))
    }

    /// Appends one accepted update; with `Fsync::Always` it is synced on this thread before
    /// this returns (one fsync per call; [`Store::submit`] shares them). On an error the
    /// update is not in the log.
    pub fn append(&mut self, at: &[u8]) -> io::Result<()> {
        self.buf.clear();
        record::encode(at, &mut self.buf);
        self.shared.append(&self.buf, false)?;
        if self.fsync == Fsync::Always {
            if let Err(e) = self.shared.sync_now() {
                let mut st = self.shared.lock();
                self.shared.roll_back_unsynced(&mut st, &e.to_string());
                return Err(e);
            }
        }
        Ok(())
    }

    /// Flushes appends to the disk if any are pending (`EverySecond`, shutdown).
    pub fn sync(&mut self) -> io::Result<()> {
        self.shared.sync_now()
    }

    /// The fsync policy.
    pub fn fsync(&self) -> Fsync {
        self.fsync
    }

    /// Records in the log now.
    pub fn log_records(&self) -> usize {
        self.shared.lock().records
    }

    /// The store's counters (appends, fsyncs and their latency, compactions).
    pub fn stats(&self) -> Arc<StoreStats> {
        self.shared.stats.clone()
    }

    /// True when the log has grown past `compact_factor` times a table of `clients`, and no
    /// failed compaction asked to wait.
    pub fn should_compact(&self, clients: usize) -> bool {
        let records = self.log_records();
        records >= MIN_COMPACT_RECORDS
            && records >= self.compact_factor.saturating_mul(clients)
            && self.compact_not_before.is_none_or(|t| Instant::now() >= t)
    }

    /// Writes `updates` (the whole table) as the new snapshot, then empties the log. Every step
    /// is safe to crash after: the old snapshot stays until the new one is complete and renamed,
    /// and a log replayed over the new snapshot changes nothing. On failure the temporary file
    /// is removed, the error names the file, and the next attempt waits (1 s, doubling to 5 min).
    pub fn compact<'a>(&mut self, updates: impl Iterator<Item = &'a Update>) -> io::Result<()> {
        let records: Vec<&[u8]> = updates.map(|u| &*u.at).collect();
        let res = repair::rewrite(&self.snap_path, &records).and_then(|()| {
            let mut st = self.shared.lock();
            let emptied = st.file.set_len(0).and_then(|()| st.file.sync_all());
            // The snapshot holds everything the log did, durably: every ticket is complete.
            self.shared.snapshot_taken(&mut st, emptied.is_ok());
            emptied.map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "{}: cannot empty the log after writing the snapshot (harmless: it is replayed over the snapshot): {e}",
                        self.shared.path.display()
                    ),
                )
            })
        });
        let stats = &self.shared.stats;
        match &res {
            Ok(()) => {
                stats.compactions.fetch_add(1, Relaxed);
                self.compact_not_before = None;
                self.compact_backoff = FIRST_COMPACT_BACKOFF;
            }
            Err(_) => {
                stats.compaction_errors.fetch_add(1, Relaxed);
                self.compact_not_before = Some(Instant::now() + self.compact_backoff);
                self.compact_backoff = (self.compact_backoff * 2).min(MAX_COMPACT_BACKOFF);
            }
        }
        res
    }

    /// The log's path, for messages.
    pub fn log_path(&self) -> &Path {
        &self.shared.path
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.shared.close();
        if let Some(t) = self.committer.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::LocationTable;

    fn at(client: &str, t: u32) -> String {
        format!("AT S +0.000000000 {client} +1+1 {t}")
    }

    /// Replays `dir` into a table: client -> AT line.
    fn reopen(dir: &Path) -> (Store, Replay, LocationTable) {
        let (s, r) = Store::open(dir, "S", Fsync::Never, 4).unwrap();
        let mut t = LocationTable::new(1 << 20);
        for u in &r.updates {
            t.apply(u);
        }
        (s, r, t)
    }

    /// Every file of `dir` but the lock, by name.
    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".lock"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn appends_survive_a_reopen_and_newest_wins() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, r) = Store::open(dir.path(), "S", Fsync::Always, 4).unwrap();
        assert!(r.updates.is_empty() && r.repairs.is_empty());
        s.append(at("a", 2).as_bytes()).unwrap();
        s.append(at("a", 1).as_bytes()).unwrap();
        s.append(at("b", 1).as_bytes()).unwrap();
        drop(s);
        let (_, r, t) = reopen(dir.path());
        assert_eq!(r.log_records, 3);
        assert_eq!(&*t.get(b"a").unwrap().at, at("a", 2).as_bytes());
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn a_torn_tail_is_kept_aside_and_appends_go_on_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Store::open(dir.path(), "S", Fsync::Never, 4).unwrap();
        s.append(at("a", 1).as_bytes()).unwrap();
        s.append(at("b", 1).as_bytes()).unwrap();
        let path = s.log_path().to_path_buf();
        drop(s);
        let len = fs::metadata(&path).unwrap().len();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 3).unwrap();
        let (mut s, r, t) = reopen(dir.path());
        assert_eq!(r.repairs.len(), 1, "{:?}", r.repairs);
        let rep = &r.repairs[0];
        assert!(rep.what.starts_with("torn record"), "{rep}");
        let aside = rep.kept_aside.clone().unwrap();
        let torn = len as usize / 2 - 3;
        assert_eq!(fs::metadata(&aside).unwrap().len() as usize, torn);
        assert!(rep.what.contains(&aside.display().to_string()), "{rep}");
        assert_eq!(t.len(), 1);
        assert!(t.get(b"a").is_some());
        s.append(at("c", 1).as_bytes()).unwrap();
        drop(s);
        let (_, r, t) = reopen(dir.path());
        assert!(r.repairs.is_empty(), "{:?}", r.repairs);
        assert_eq!(t.len(), 2);
        assert!(t.get(b"c").is_some());
    }

    #[test]
    fn a_corrupt_record_in_the_middle_loses_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Store::open(dir.path(), "S", Fsync::Never, 4).unwrap();
        for i in 0..10 {
            s.append(at(&format!("c{i}"), 1).as_bytes()).unwrap();
        }
        let path = s.log_path().to_path_buf();
        drop(s);
        let mut bytes = fs::read(&path).unwrap();
        let one = bytes.len() / 10;
        bytes[5 * one + record::HEADER + 1] ^= 1;
        fs::write(&path, &bytes).unwrap();
        let (_, r, t) = reopen(dir.path());
        assert_eq!(t.len(), 9);
        assert!(t.get(b"c5").is_none() && t.get(b"c9").is_some());
        let rep = &r.repairs[0];
        assert!(
            rep.what.contains("at offset") && rep.what.contains("4 of them after"),
            "{rep}"
        );
        let kept = fs::read(rep.kept_aside.as_ref().unwrap()).unwrap();
        assert_eq!(kept, &bytes[5 * one..6 * one], "the cut bytes, exactly");
        assert_eq!(fs::metadata(&path).unwrap().len() as usize, 9 * one);
        assert_eq!(files(dir.path()).len(), 2, "{:?}", files(dir.path()));
    }

    #[test]
    fn a_garbage_snapshot_is_kept_aside_and_rewritten_with_its_good_records() {
        let dir = tempfile::tempdir().unwrap();
        let snap = dir.path().join("S.snap");
        let mut bytes = Vec::new();
        record::encode(at("a", 1).as_bytes(), &mut bytes);
        bytes.extend_from_slice(&[0x5a; 3000]);
        fs::write(&snap, &bytes).unwrap();
        fs::write(dir.path().join("S.snap.tmp"), b"half a compaction").unwrap();
        let (_, r, t) = reopen(dir.path());
        assert_eq!(t.len(), 1);
        let text: Vec<String> = r.repairs.iter().map(|r| r.to_string()).collect();
        assert!(text[0].contains("S.snap.tmp: removed it"), "{text:?}");
        assert!(
            text[1].contains("S.snap: ") && text[1].contains("moved the last 3000 bytes"),
            "{text:?}"
        );
        assert_eq!(
            fs::metadata(&snap).unwrap().len() as usize,
            bytes.len() - 3000
        );
        let (_, r, _) = reopen(dir.path());
        assert!(r.repairs.is_empty(), "repaired for good: {:?}", r.repairs);
    }

    #[test]
    fn compaction_keeps_the_table_and_empties_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Store::open(dir.path(), "S", Fsync::EverySecond, 4).unwrap();
        let mut t = LocationTable::new(100);
        let mut compactions = 0;
        for i in 0..5000u32 {
            let line = at(&format!("c{}", i % 10), i);
            let u = Update::from_at_line(line.as_bytes()).unwrap();
            t.apply(&u);
            s.append(line.as_bytes()).unwrap();
            if s.should_compact(t.len()) {
                s.compact(t.updates()).unwrap();
                compactions += 1;
            }
        }
        s.sync().unwrap();
        assert_eq!(
            compactions, 4,
            "every 1024 records (the minimum) for a table of 10"
        );
        assert!(s.log_records() < 1024);
        drop(s);
        let (_, r, t2) = reopen(dir.path());
        assert_eq!(r.snapshot_records, 10);
        assert_eq!(t2.len(), 10);
        for u in t.updates() {
            assert_eq!(t2.get(&u.client).unwrap().at, u.at);
        }
    }

    #[test]
    fn a_failed_compaction_removes_its_temporary_file_names_it_and_backs_off() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Store::open(dir.path(), "S", Fsync::Never, 2).unwrap();
        let u = Update::from_at_line(at("a", 1).as_bytes()).unwrap();
        for _ in 0..MIN_COMPACT_RECORDS {
            s.append(&u.at).unwrap();
        }
        assert!(s.should_compact(1));
        // A folder where the snapshot should be: the rename fails.
        fs::create_dir(dir.path().join("S.snap")).unwrap();
        let e = s.compact(std::iter::once(&u)).unwrap_err().to_string();
        assert!(e.contains("S.snap.tmp") && e.contains("S.snap"), "{e}");
        assert!(
            !dir.path().join("S.snap.tmp").exists(),
            "temporary file removed"
        );
        assert!(
            !s.should_compact(1),
            "backs off instead of retrying at every update"
        );
        assert_eq!(s.stats().compaction_errors.load(Relaxed), 1);
    }

    #[test]
    fn a_crash_between_snapshot_and_log_truncation_is_harmless() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Store::open(dir.path(), "S", Fsync::Never, 4).unwrap();
        s.append(at("a", 1).as_bytes()).unwrap();
        s.append(at("a", 2).as_bytes()).unwrap();
        let log = fs::read(s.log_path()).unwrap();
        let u = Update::from_at_line(at("a", 2).as_bytes()).unwrap();
        s.compact(std::iter::once(&u)).unwrap();
        // As if the truncation never happened: the old log is replayed over the new snapshot.
        fs::write(s.log_path(), &log).unwrap();
        drop(s);
        let (_, r, t) = reopen(dir.path());
        assert_eq!((r.snapshot_records, r.log_records), (1, 2));
        assert_eq!(&*t.get(b"a").unwrap().at, at("a", 2).as_bytes());
    }

    #[test]
    fn concurrent_submissions_share_fsyncs_and_every_ticket_completes() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _) = Store::open(dir.path(), "S", Fsync::Always, 4).unwrap();
        let s = std::sync::Mutex::new(s);
        let n = 8 * 200;
        std::thread::scope(|scope| {
            for w in 0..8 {
                let s = &s;
                scope.spawn(move || {
                    for i in 0..200 {
                        let line = at(&format!("w{w}-{i}"), 1);
                        let ticket = s.lock().unwrap().submit(line.as_bytes()).unwrap();
                        futures::executor::block_on(ticket).unwrap();
                    }
                });
            }
        });
        let s = s.into_inner().unwrap();
        let stats = s.stats();
        assert_eq!(stats.appends.load(Relaxed), n);
        let fsyncs = stats.fsyncs.load(Relaxed);
        assert!(fsyncs > 0 && fsyncs <= n, "{fsyncs} fsyncs for {n} appends");
        drop(s);
        let (_, r, _) = reopen(dir.path());
        assert_eq!(r.log_records as u64, n);
    }

    #[test]
    fn a_second_open_from_another_process_is_refused_before_anything_is_read() {
        // The in-process check: another open file description on the lock file holds it.
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("S.lock"), b"4242\n").unwrap();
        let held = std::fs::File::open(dir.path().join("S.lock")).unwrap();
        held.lock().unwrap();
        fs::write(dir.path().join("S.wal"), b"junk that a replay would cut").unwrap();
        let e = Store::open(dir.path(), "S", Fsync::Never, 4).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ResourceBusy);
        assert!(
            e.to_string()
                .contains("in use by another process (pid 4242)"),
            "{e}"
        );
        assert_eq!(
            fs::read(dir.path().join("S.wal")).unwrap(),
            b"junk that a replay would cut"
        );
        assert_eq!(files(dir.path()), ["S.wal"]);
    }
}
