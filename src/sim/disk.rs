//! A simulated data folder: the store's snapshot and log as lists of records, what reached the
//! device (fsync), and what a crash leaves behind. The bytes a restart reads are encoded and
//! scanned by the store's own pure record code ([`crate::store::record`]), torn tails and all.
//!
//! - A process crash (kill -9) loses nothing written: the data is in the OS's page cache.
//! - A power loss keeps the snapshot and the synced records, and a random prefix of the
//!   unsynced bytes (the device wrote some of them): a torn tail. Under `Fsync::Always` every
//!   acknowledged record is synced, so the torn tail can only be an append under way when the
//!   power went, whose client never got a reply.
//!
//! Compaction follows the store's rule (at least 1024 log records, and `compact_factor` times
//! the table), writing the table as the new snapshot and emptying the log.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Fsync;
use crate::state::Update;
use crate::store::record;

/// A log never compacts below this many records (as `store::MIN_COMPACT_RECORDS`).
const MIN_COMPACT_RECORDS: usize = 1024;

/// One server's data folder.
#[derive(Debug)]
pub struct Disk {
    /// The snapshot's records (the table at the last compaction); always synced.
    snap: Vec<Arc<[u8]>>,
    /// The log's records since, in append order (shared with the table's AT lines).
    log: Vec<Arc<[u8]>>,
    /// How many records of `log` reached the device.
    synced: usize,
    /// `EverySecond`: when the next periodic fsync runs.
    next_sync: Duration,
    /// When appends reach the device.
    fsync: Fsync,
    /// Compact when the log holds this many times the table.
    compact_factor: usize,
}

/// What a crash left in the data folder: the bytes of the two files.
#[derive(Debug, Clone, Default)]
pub struct Image {
    /// `<Name>.snap`.
    pub snap: Vec<u8>,
    /// `<Name>.wal`.
    pub log: Vec<u8>,
}

/// What a replay found.
#[derive(Debug, Default)]
pub struct Replayed {
    /// Every update read, snapshot first.
    pub updates: Vec<Update>,
    /// Records read.
    pub records: usize,
    /// Bytes that could not be read (a torn tail, damage), which the store keeps aside.
    pub damaged_bytes: usize,
}

impl Disk {
    /// An empty data folder.
    pub fn new(fsync: Fsync, compact_factor: usize) -> Disk {
        Disk {
            snap: Vec::new(),
            log: Vec::new(),
            synced: 0,
            next_sync: Duration::from_secs(1),
            fsync,
            compact_factor: compact_factor.max(2),
        }
    }

    /// Runs the periodic fsync of `EverySecond` if one came due before `now`.
    fn tick(&mut self, now: Duration) {
        if self.fsync == Fsync::EverySecond && now >= self.next_sync {
            // Every record in the log was appended before the due fsync (an append after it
            // would have run this first), so that fsync covered all of them.
            self.synced = self.log.len();
            self.next_sync = Duration::from_secs(now.as_secs() + 1);
        }
    }

    /// Appends an accepted update at `now`.
    pub fn append(&mut self, at: Arc<[u8]>, now: Duration) {
        self.tick(now);
        self.log.push(at);
        if self.fsync == Fsync::Always {
            self.synced = self.log.len();
        }
    }

    /// True when the log should be compacted for a table of `clients`.
    pub fn should_compact(&self, clients: usize) -> bool {
        self.log.len() >= MIN_COMPACT_RECORDS
            && self.log.len() >= self.compact_factor.saturating_mul(clients)
    }

    /// Writes `table` as the snapshot (synced, renamed into place) and empties the log.
    pub fn compact(&mut self, table: Vec<Arc<[u8]>>) {
        self.snap = table;
        self.log.clear();
        self.synced = 0;
    }

    /// Records in the log.
    pub fn log_records(&self) -> usize {
        self.log.len()
    }

    /// What the files hold after a crash at `now`: everything written after a process crash;
    /// after a power loss the synced part and a random prefix of the rest, or under
    /// `Fsync::Always` possibly part of a record whose append was under way (`server` names
    /// it).
    pub fn crash(
        &mut self,
        now: Duration,
        power: bool,
        server: &str,
        rng: &mut fastrand::Rng,
    ) -> Image {
        self.tick(now);
        let mut image = Image::default();
        for r in &self.snap {
            record::encode(r, &mut image.snap);
        }
        let kept = if power { self.synced } else { self.log.len() };
        for r in &self.log[..kept] {
            record::encode(r, &mut image.log);
        }
        if power {
            let mut rest = Vec::new();
            for r in &self.log[kept..] {
                record::encode(r, &mut rest);
            }
            if self.fsync == Fsync::Always && rng.bool() {
                let line = format!("AT {server} +0.000000000 append-under-way +0+0 0");
                record::encode(line.as_bytes(), &mut rest);
                rest.pop(); // never complete: it was not acknowledged
            }
            let torn = rng.usize(..=rest.len());
            image.log.extend_from_slice(&rest[..torn]);
        }
        image
    }
}

/// Replays a crash image as the store does at start: scan each file past damage, keep the
/// valid records (snapshot first), and leave a repaired folder (damage kept aside, which the
/// simulator only counts).
pub fn replay(image: &Image, fsync: Fsync, compact_factor: usize) -> (Disk, Replayed) {
    let mut disk = Disk::new(fsync, compact_factor);
    let mut out = Replayed::default();
    let is_update = |p: &[u8]| Update::from_at_line(p).is_some();
    for (bytes, is_snap) in [(&image.snap, true), (&image.log, false)] {
        let scan = record::scan(bytes, is_update);
        out.damaged_bytes += scan.bad.iter().map(|(r, _)| r.len()).sum::<usize>();
        for payload in scan.records {
            let Some(u) = Update::from_at_line(payload) else {
                continue;
            };
            out.records += 1;
            if is_snap {
                disk.snap.push(u.at.clone());
            } else {
                disk.log.push(u.at.clone());
            }
            out.updates.push(u);
        }
    }
    disk.synced = disk.log.len();
    (disk, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(i: u32) -> Arc<[u8]> {
        format!("AT S +0.000000000 c{i} +1+1 {i}").as_bytes().into()
    }

    fn fill(fsync: Fsync) -> Disk {
        let mut d = Disk::new(fsync, 4);
        for i in 0..10 {
            d.append(at(i), Duration::from_millis(300 * u64::from(i)));
        }
        d
    }

    #[test]
    fn a_process_crash_loses_nothing_and_a_power_loss_only_what_was_not_synced() {
        let mut rng = fastrand::Rng::with_seed(1);
        for fsync in [Fsync::Always, Fsync::EverySecond, Fsync::Never] {
            let image = fill(fsync).crash(Duration::from_secs(3), false, "S", &mut rng);
            assert_eq!(replay(&image, fsync, 4).1.records, 10, "{fsync:?}");
        }
        for seed in 0..20 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let t = Duration::from_millis(2800);
            let always = replay(
                &fill(Fsync::Always).crash(t, true, "S", &mut rng),
                Fsync::Always,
                4,
            );
            assert_eq!(always.1.records, 10, "every acknowledged record is synced");
            // Appends at 0..2.7 s; the fsyncs at 1 s and 2 s covered the first 7.
            let every = replay(
                &fill(Fsync::EverySecond).crash(t, true, "S", &mut rng),
                Fsync::EverySecond,
                4,
            );
            assert!((7..=10).contains(&every.1.records), "{}", every.1.records);
            let never = replay(
                &fill(Fsync::Never).crash(t, true, "S", &mut rng),
                Fsync::Never,
                4,
            );
            assert!(never.1.records <= 10);
        }
    }

    #[test]
    fn a_torn_tail_is_cut_and_appends_go_on_after_it() {
        let mut torn = 0;
        for seed in 0..20 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let image = fill(Fsync::Never).crash(Duration::from_secs(3), true, "S", &mut rng);
            let (mut disk, r) = replay(&image, Fsync::Never, 4);
            torn += usize::from(r.damaged_bytes > 0);
            disk.append(at(99), Duration::from_secs(4));
            let again = disk.crash(Duration::from_secs(5), false, "S", &mut rng);
            let (_, r2) = replay(&again, Fsync::Never, 4);
            assert_eq!((r2.records, r2.damaged_bytes), (r.records + 1, 0));
        }
        assert!(torn > 5, "most random cuts fall inside a record: {torn}");
    }

    #[test]
    fn compaction_keeps_the_table_as_the_snapshot() {
        let mut d = Disk::new(Fsync::Always, 4);
        for i in 0..1100 {
            d.append(at(i % 5), Duration::ZERO);
        }
        assert!(d.should_compact(5) && !d.should_compact(1000));
        d.compact((0..5).map(at).collect());
        assert_eq!(d.log_records(), 0);
        let mut rng = fastrand::Rng::with_seed(1);
        let (_, r) = replay(
            &d.crash(Duration::ZERO, true, "S", &mut rng),
            Fsync::Always,
            4,
        );
        assert_eq!(r.records, 5);
    }
}
