//! Durability: every update a server accepts is appended to a log in its data folder; the log
//! is compacted into a snapshot when it grows past `compact_factor` times the table; at start
//! the server replays snapshot then log before it listens.
//!
//! Files, per server: `<dir>/<Name>.snap` (the table as of the last compaction) and
//! `<dir>/<Name>.wal` (every accepted update since; not `.log`, so a data folder may be the log folder). Both are sequences of [`record`]s, each one
//! AT line. Replay is order-insensitive: the table's "newest wins" merge makes applying a record
//! twice, or an older record after a newer one, harmless, which is what makes a crash between
//! any two steps of a compaction safe. A torn or corrupt tail of the log is cut off (and
//! reported) so that appends continue after the last good record.
//!
//! The record encoding is pure; the file IO is in the few functions of this file.

pub mod record;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::Fsync;
use crate::state::Update;

pub use record::Damage;

/// A log never compacts while it holds fewer records than this, however small the table.
const MIN_COMPACT_RECORDS: usize = 1024;

/// What a replay found.
#[derive(Debug, Default)]
pub struct Replay {
    /// Every update read, snapshot first (apply each; newest wins).
    pub updates: Vec<Update>,
    /// Records read from the snapshot.
    pub snapshot_records: usize,
    /// Records read from the log.
    pub log_records: usize,
    /// Damage found and cut: which file, at which offset, how many bytes dropped, and why.
    pub cut: Vec<(PathBuf, u64, u64, Damage)>,
    /// Records whose checksum held but which were not AT lines (skipped).
    pub skipped: usize,
    /// How long the replay took.
    pub took: Duration,
}

/// One server's open log.
#[derive(Debug)]
pub struct Store {
    /// `<dir>/<Name>.wal`, opened for appending.
    log: File,
    /// Its path.
    log_path: PathBuf,
    /// `<dir>/<Name>.snap`.
    snap_path: PathBuf,
    /// When appends reach the disk.
    fsync: Fsync,
    /// Compact when the log holds this many times the table's records.
    compact_factor: usize,
    /// Records in the log now.
    log_records: usize,
    /// Appended since the last sync.
    dirty: bool,
    /// Reused encoding buffer.
    buf: Vec<u8>,
}

impl Store {
    /// Opens (creating when missing) the data of server `name` in `dir`, replays it, and cuts
    /// any damaged tail of the log.
    pub fn open(
        dir: &Path,
        name: &str,
        fsync: Fsync,
        compact_factor: usize,
    ) -> io::Result<(Store, Replay)> {
        let started = Instant::now();
        fs::create_dir_all(dir)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        let log_path = dir.join(format!("{name}.wal"));
        let snap_path = dir.join(format!("{name}.snap"));
        let mut replay = Replay::default();

        // A snapshot is written whole then renamed into place, so damage there means the disk
        // lied; keep its valid prefix and say so.
        if let Some(bytes) = read_if_exists(&snap_path)? {
            let (n, damage) = collect(&bytes, &mut replay);
            replay.snapshot_records = n.0;
            if let Some(d) = damage {
                replay
                    .cut
                    .push((snap_path.clone(), n.1 as u64, (bytes.len() - n.1) as u64, d));
            }
        }
        let bytes = read_if_exists(&log_path)?.unwrap_or_default();
        let (n, damage) = collect(&bytes, &mut replay);
        replay.log_records = n.0;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", log_path.display())))?;
        if let Some(d) = damage {
            log.set_len(n.1 as u64)?;
            log.sync_all()?;
            replay
                .cut
                .push((log_path.clone(), n.1 as u64, (bytes.len() - n.1) as u64, d));
        }
        replay.took = started.elapsed();
        let store = Store {
            log,
            log_path,
            snap_path,
            fsync,
            compact_factor: compact_factor.max(2),
            log_records: replay.log_records,
            dirty: false,
            buf: Vec::with_capacity(256),
        };
        Ok((store, replay))
    }

    /// Appends one accepted update; with `Fsync::Always` it is on disk when this returns.
    pub fn append(&mut self, at: &[u8]) -> io::Result<()> {
        self.buf.clear();
        record::encode(at, &mut self.buf);
        // One write per record: a crash tears at most the last one.
        self.log.write_all(&self.buf)?;
        self.log_records += 1;
        self.dirty = true;
        if self.fsync == Fsync::Always {
            self.sync()?;
        }
        Ok(())
    }

    /// Flushes appends to the disk if any are pending.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.dirty {
            self.log.sync_data()?;
            self.dirty = false;
        }
        Ok(())
    }

    /// The fsync policy.
    pub fn fsync(&self) -> Fsync {
        self.fsync
    }

    /// Records in the log now.
    pub fn log_records(&self) -> usize {
        self.log_records
    }

    /// True when the log has grown past `compact_factor` times a table of `clients`.
    pub fn should_compact(&self, clients: usize) -> bool {
        self.log_records >= MIN_COMPACT_RECORDS
            && self.log_records >= self.compact_factor.saturating_mul(clients)
    }

    /// Writes `updates` (the whole table) as the new snapshot, then empties the log. Every step
    /// is safe to crash after: the old snapshot stays until the new one is complete and renamed,
    /// and a log replayed over the new snapshot changes nothing.
    pub fn compact<'a>(&mut self, updates: impl Iterator<Item = &'a Update>) -> io::Result<()> {
        let mut bytes = Vec::new();
        for u in updates {
            record::encode(&u.at, &mut bytes);
        }
        let tmp = self.snap_path.with_extension("snap.tmp");
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &self.snap_path)?;
        if let Some(dir) = self.snap_path.parent() {
            // Makes the rename durable; not every platform can open a folder, which is harmless.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        self.log.set_len(0)?;
        self.log.sync_all()?;
        self.log_records = 0;
        self.dirty = false;
        Ok(())
    }

    /// The log's path, for messages.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
}

/// Decodes `bytes` into `replay.updates`; returns (records, valid length) and any damage.
fn collect(bytes: &[u8], replay: &mut Replay) -> ((usize, usize), Option<Damage>) {
    let (records, valid, damage) = record::decode_all(bytes);
    let n = records.len();
    for r in records {
        match Update::from_at_line(r) {
            Some(u) => replay.updates.push(u),
            None => replay.skipped += 1,
        }
    }
    ((n, valid), damage)
}

fn read_if_exists(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match File::open(path) {
        Ok(mut f) => {
            let mut out = Vec::new();
            f.read_to_end(&mut out)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            Ok(Some(out))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
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

    #[test]
    fn appends_survive_a_reopen_and_newest_wins() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, r) = Store::open(dir.path(), "S", Fsync::Always, 4).unwrap();
        assert!(r.updates.is_empty() && r.cut.is_empty());
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
    fn a_torn_tail_is_cut_and_appends_go_on_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Store::open(dir.path(), "S", Fsync::Never, 4).unwrap();
        s.append(at("a", 1).as_bytes()).unwrap();
        s.append(at("b", 1).as_bytes()).unwrap();
        let path = s.log_path().to_path_buf();
        drop(s);
        let len = fs::metadata(&path).unwrap().len();
        // Tear the last record, then add garbage.
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 3).unwrap();
        let (mut s, r, t) = reopen(dir.path());
        assert_eq!(r.cut.len(), 1);
        assert_eq!(r.cut[0].3, Damage::Torn);
        assert_eq!(t.len(), 1);
        assert!(t.get(b"a").is_some());
        s.append(at("c", 1).as_bytes()).unwrap();
        drop(s);
        let (_, r, t) = reopen(dir.path());
        assert!(r.cut.is_empty(), "{:?}", r.cut);
        assert_eq!(t.len(), 2);
        assert!(t.get(b"c").is_some());
    }

    #[test]
    fn corruption_in_the_middle_cuts_from_there() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Store::open(dir.path(), "S", Fsync::Never, 4).unwrap();
        for c in ["a", "b", "c"] {
            s.append(at(c, 1).as_bytes()).unwrap();
        }
        let path = s.log_path().to_path_buf();
        drop(s);
        let mut bytes = fs::read(&path).unwrap();
        let one = bytes.len() / 3;
        bytes[one + record::HEADER + 1] ^= 1;
        fs::write(&path, &bytes).unwrap();
        let (_, r, t) = reopen(dir.path());
        assert_eq!(r.cut[0].1, one as u64);
        assert_eq!(r.cut[0].3, Damage::BadChecksum);
        assert_eq!(t.len(), 1);
        assert_eq!(fs::metadata(&path).unwrap().len(), one as u64);
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
}
