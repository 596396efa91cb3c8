//! A simulated data folder: what reached the device (fsync), what a crash leaves, and the
//! replay. The bytes a restart reads are encoded and scanned by the store's own pure record
//! code ([`crate::store::record`]), torn tails and all.
//!
//! - A process crash (kill -9) loses nothing written: the data is in the OS's page cache.
//! - A power loss keeps what was synced, and a random prefix of the unsynced bytes (the device
//!   wrote some of them): a torn tail. Under `Fsync::Always` every acknowledged record is
//!   synced, so the torn tail can only be an append under way when the power went, whose client
//!   never got a reply.
//!
//! What is kept in memory is folded: the synced records (snapshot and log) as newest wins per
//! client, and the records appended since the last fsync in order. A replay applies newest wins,
//! so an older synced record for a client could never come back: folding it away changes no
//! restart, only how many records a replay reads (and it keeps a thousand simulated servers
//! from holding every superseded AT line their logs would hold). Compaction follows the store's
//! rule (at least 1024 log records, and `compact_factor` times the table); it syncs the table
//! as the new snapshot, which here means that everything appended is synced.

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
    /// Newest wins over everything on the device (snapshot and synced log), by client.
    synced: foldhash::HashMap<Arc<[u8]>, Update>,
    /// Records appended since the last fsync, in order (in the page cache only).
    unsynced: Vec<Update>,
    /// Records in the log file (synced or not) since the last compaction.
    log_records: usize,
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
    /// The synced records, as one file (`<Name>.snap` and the synced part of `<Name>.wal`).
    pub snap: Vec<u8>,
    /// The rest of `<Name>.wal`: what was written but not synced (torn after a power loss).
    pub log: Vec<u8>,
}

/// What a replay found.
#[derive(Debug, Default)]
pub struct Replayed {
    /// Every update read, synced ones first.
    pub updates: Vec<Update>,
    /// Records read.
    pub records: usize,
    /// Bytes that could not be read (a torn tail, damage), which the store keeps aside.
    pub damaged_bytes: usize,
}

/// Keeps `u` in `map` unless the map holds a newer update for its client.
fn fold(map: &mut foldhash::HashMap<Arc<[u8]>, Update>, u: Update) {
    match map.get_mut(&u.client) {
        Some(held) if !u.is_newer_than(held) => {}
        Some(held) => *held = u,
        None => {
            map.insert(u.client.clone(), u);
        }
    }
}

impl Disk {
    /// An empty data folder.
    pub fn new(fsync: Fsync, compact_factor: usize) -> Disk {
        Disk {
            synced: foldhash::HashMap::default(),
            unsynced: Vec::new(),
            log_records: 0,
            next_sync: Duration::from_secs(1),
            fsync,
            compact_factor: compact_factor.max(2),
        }
    }

    /// Everything appended reaches the device.
    fn sync(&mut self) {
        for u in self.unsynced.drain(..) {
            fold(&mut self.synced, u);
        }
    }

    /// Runs the periodic fsync of `EverySecond` if one came due before `now`.
    fn tick(&mut self, now: Duration) {
        if self.fsync == Fsync::EverySecond && now >= self.next_sync {
            // Every record appended so far came before the due fsync (an append after it would
            // have run this first), so that fsync covered all of them.
            self.sync();
            self.next_sync = Duration::from_secs(now.as_secs() + 1);
        }
    }

    /// Appends an accepted update at `now`.
    pub fn append(&mut self, u: &Update, now: Duration) {
        self.tick(now);
        self.log_records += 1;
        if self.fsync == Fsync::Always {
            fold(&mut self.synced, u.clone());
        } else {
            self.unsynced.push(u.clone());
        }
    }

    /// True when the log should be compacted for a table of `clients`.
    pub fn should_compact(&self, clients: usize) -> bool {
        self.log_records >= MIN_COMPACT_RECORDS
            && self.log_records >= self.compact_factor.saturating_mul(clients)
    }

    /// Writes the table as the snapshot (synced, renamed into place) and empties the log. The
    /// table is newest wins over everything appended, so here that is a sync.
    pub fn compact(&mut self) {
        self.sync();
        self.log_records = 0;
    }

    /// Records in the log.
    pub fn log_records(&self) -> usize {
        self.log_records
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
        let mut synced: Vec<&Update> = self.synced.values().collect();
        synced.sort_unstable_by(|a, b| a.client.cmp(&b.client));
        for u in synced {
            record::encode(&u.at, &mut image.snap);
        }
        let mut rest = Vec::new();
        for u in &self.unsynced {
            record::encode(&u.at, &mut rest);
        }
        if !power {
            image.log = rest;
            return image;
        }
        if self.fsync == Fsync::Always && rng.bool() {
            let line = format!("AT {server} +0.000000000 append-under-way +0+0 0");
            record::encode(line.as_bytes(), &mut rest);
            rest.pop(); // never complete: it was not acknowledged
        }
        let torn = rng.usize(..=rest.len());
        image.log.extend_from_slice(&rest[..torn]);
        image
    }
}

/// Replays a crash image as the store does at start: scan each file past damage, keep the
/// valid records, and leave a repaired folder (damage kept aside, which the simulator only
/// counts) in which everything read is synced.
pub fn replay(image: &Image, fsync: Fsync, compact_factor: usize) -> (Disk, Replayed) {
    let mut disk = Disk::new(fsync, compact_factor);
    let mut out = Replayed::default();
    let is_update = |p: &[u8]| Update::from_at_line(p).is_some();
    for (bytes, in_log) in [(&image.snap, false), (&image.log, true)] {
        let scan = record::scan(bytes, is_update);
        out.damaged_bytes += scan.bad.iter().map(|(r, _)| r.len()).sum::<usize>();
        for payload in scan.records {
            let Some(u) = Update::from_at_line(payload) else {
                continue;
            };
            out.records += 1;
            disk.log_records += usize::from(in_log);
            fold(&mut disk.synced, u.clone());
            out.updates.push(u);
        }
    }
    (disk, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(i: u32) -> Update {
        let line = format!("AT S +0.000000000 c{i} +1+1 {i}");
        Update::from_at_line(line.as_bytes()).unwrap()
    }

    fn fill(fsync: Fsync) -> Disk {
        let mut d = Disk::new(fsync, 4);
        for i in 0..10 {
            d.append(&u(i), Duration::from_millis(300 * u64::from(i)));
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
            let image = fill(Fsync::Always).crash(t, true, "S", &mut rng);
            let always = replay(&image, Fsync::Always, 4);
            assert_eq!(always.1.records, 10, "every acknowledged record is synced");
            // Appends at 0..2.7 s; the fsyncs at 1 s and 2 s covered the first 7.
            let image = fill(Fsync::EverySecond).crash(t, true, "S", &mut rng);
            let every = replay(&image, Fsync::EverySecond, 4);
            assert!((7..=10).contains(&every.1.records), "{}", every.1.records);
            let image = fill(Fsync::Never).crash(t, true, "S", &mut rng);
            assert!(replay(&image, Fsync::Never, 4).1.records <= 10);
        }
    }

    #[test]
    fn a_power_loss_brings_back_the_newest_synced_record_not_a_newer_unsynced_one() {
        let mut d = Disk::new(Fsync::EverySecond, 4);
        let old = Update::from_at_line(b"AT S +0.000000000 c +1+1 1").unwrap();
        let new = Update::from_at_line(b"AT S +0.000000000 c +2+2 2").unwrap();
        d.append(&old, Duration::from_millis(100));
        d.append(&new, Duration::from_millis(1500)); // the fsync at 1 s covered `old` only
        for seed in 0..20 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let image = d.crash(Duration::from_millis(1600), true, "S", &mut rng);
            let (_, r) = replay(&image, Fsync::EverySecond, 4);
            let mut table = crate::state::LocationTable::new(10);
            for x in &r.updates {
                table.apply(x);
            }
            let held = table.get(b"c").unwrap();
            assert!(held.at == old.at || held.at == new.at, "{held:?}");
        }
        let (_, r) = replay(
            &d.crash(
                Duration::from_millis(1600),
                false,
                "S",
                &mut fastrand::Rng::with_seed(0),
            ),
            Fsync::EverySecond,
            4,
        );
        assert_eq!(r.updates.last().map(|x| x.at.clone()), Some(new.at));
    }

    #[test]
    fn a_torn_tail_is_cut_and_appends_go_on_after_it() {
        let mut torn = 0;
        for seed in 0..20 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let image = fill(Fsync::Never).crash(Duration::from_secs(3), true, "S", &mut rng);
            let (mut disk, r) = replay(&image, Fsync::Never, 4);
            torn += usize::from(r.damaged_bytes > 0);
            disk.append(&u(99), Duration::from_secs(4));
            let again = disk.crash(Duration::from_secs(5), false, "S", &mut rng);
            let (_, r2) = replay(&again, Fsync::Never, 4);
            assert_eq!((r2.records, r2.damaged_bytes), (r.records + 1, 0));
        }
        assert!(torn > 5, "most random cuts fall inside a record: {torn}");
    }

    #[test]
    fn compaction_syncs_and_empties_the_log() {
        let mut d = Disk::new(Fsync::Never, 4);
        for i in 0..1100 {
            d.append(&u(i % 5), Duration::ZERO);
        }
        assert!(d.should_compact(5) && !d.should_compact(1000));
        d.compact();
        assert_eq!(d.log_records(), 0);
        let mut rng = fastrand::Rng::with_seed(1);
        let (_, r) = replay(
            &d.crash(Duration::ZERO, true, "S", &mut rng),
            Fsync::Never,
            4,
        );
        assert_eq!(
            r.records, 5,
            "the table survives a power loss once compacted"
        );
    }
}
