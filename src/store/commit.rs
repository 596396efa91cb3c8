//! The open log file, shared by the appending side and the committer thread, and group commit.
//!
//! Appends write their record at once (one `write`, into the OS's cache) and, under
//! `Fsync::Always`, get a [`Durable`] ticket that completes when a `fsync` has covered them. A
//! committer thread makes those fsyncs: it takes the log's end as it is now, syncs, and
//! completes every ticket up to that end; the appends that arrive meanwhile wait for the next
//! fsync, which covers them all. So concurrent appends share one disk flush, and no async thread
//! ever waits for the disk. The ticket is a `futures` oneshot, so any runtime can await it.
//!
//! A failed write or fsync never leaves a torn or unacknowledged record in the file for later
//! appends to follow: the file is truncated back to the last good (or, after a failed fsync,
//! last synced) end before anything else is appended, and the tickets of the records removed
//! fail.

use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::io::{self, Write};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Instant;

use futures::channel::oneshot;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

/// Counters of one store, read by the metrics endpoint at scrape time.
#[derive(Debug)]
pub struct StoreStats {
    /// Records appended.
    pub appends: AtomicU64,
    /// Appends that failed (the record is not in the log; the file was rolled back).
    pub append_errors: AtomicU64,
    /// Records removed again after a failed fsync (their updates were not acknowledged).
    pub rolled_back: AtomicU64,
    /// fsyncs of the log made (fewer than appends under `Always` when appends share them).
    pub fsyncs: AtomicU64,
    /// fsyncs of the log, with their latency in seconds.
    pub fsync_seconds: Histogram,
    /// Records made durable by each group-commit fsync (how well concurrent appends share one).
    pub fsync_batch: Histogram,
    /// fsyncs that failed.
    pub fsync_errors: AtomicU64,
    /// Compactions done.
    pub compactions: AtomicU64,
    /// Compactions that failed.
    pub compaction_errors: AtomicU64,
}

impl Default for StoreStats {
    fn default() -> Self {
        StoreStats {
            appends: AtomicU64::new(0),
            append_errors: AtomicU64::new(0),
            rolled_back: AtomicU64::new(0),
            fsyncs: AtomicU64::new(0),
            fsync_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            fsync_batch: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            fsync_errors: AtomicU64::new(0),
            compactions: AtomicU64::new(0),
            compaction_errors: AtomicU64::new(0),
        }
    }
}

/// Completes when an appended update is durable under the store's policy; `Err` says why it
/// is not (and then it must not be acknowledged).
#[derive(Debug)]
pub struct Durable(Option<oneshot::Receiver<Result<(), String>>>);

impl Durable {
    /// A ticket that is complete already (policies other than `Always`).
    pub fn done() -> Durable {
        Durable(None)
    }
}

impl Future for Durable {
    type Output = Result<(), String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            None => Poll::Ready(Ok(())),
            Some(rx) => Pin::new(rx).poll(cx).map(|r| {
                r.unwrap_or_else(|_| Err("the store closed before the update was synced".into()))
            }),
        }
    }
}

/// The log file and where it stands.
pub(super) struct LogState {
    /// `<dir>/<Name>.wal`, opened for appending.
    pub file: File,
    /// End of the last good record.
    pub len: u64,
    /// End of what the last successful fsync covered.
    pub synced: u64,
    /// Records in the file.
    pub records: usize,
    /// Tickets waiting for an fsync: (end of their record, where to say it is durable).
    waiting: VecDeque<(u64, oneshot::Sender<Result<(), String>>)>,
    /// A truncation that failed and must succeed before the next append (the file's end).
    pub rollback_to: Option<u64>,
    /// Bumped when the file is emptied (compaction), so an fsync of the old content does not
    /// count for the new one.
    pub epoch: u64,
    /// Set when the store closes: the committer syncs what waits, then ends.
    closing: bool,
}

/// What the appending side and the committer share.
pub(super) struct Shared {
    /// The log and its tickets.
    pub state: Mutex<LogState>,
    /// Wakes the committer.
    wake: Condvar,
    /// The log's path, for messages.
    pub path: PathBuf,
    /// The `log` target of the server that owns the log, so its messages reach its file.
    pub log_target: String,
    /// Counters for the metrics.
    pub stats: Arc<StoreStats>,
}

impl Shared {
    /// The shared state of the log `file` at `path`, whose first `len` bytes are good.
    pub fn new(file: File, path: PathBuf, log_target: String, len: u64, records: usize) -> Shared {
        Shared {
            state: Mutex::new(LogState {
                file,
                len,
                synced: len,
                records,
                waiting: VecDeque::new(),
                rollback_to: None,
                epoch: 0,
                closing: false,
            }),
            wake: Condvar::new(),
            path,
            log_target,
            stats: Arc::new(StoreStats::default()),
        }
    }

    /// Locks the state, shrugging off poisoning (the state is consistent between calls).
    pub fn lock(&self) -> MutexGuard<'_, LogState> {
        crate::sync::lock(&self.state)
    }

    /// Appends one encoded record; with `ticket`, returns a [`Durable`] that the committer
    /// completes. On failure the file is back at its last good end (or will be before the
    /// next append) and the error names the file.
    pub fn append(&self, rec: &[u8], ticket: bool) -> io::Result<Option<Durable>> {
        let mut st = self.lock();
        let named = |what: &str, e: io::Error| {
            io::Error::new(e.kind(), format!("{}: {what}: {e}", self.path.display()))
        };
        if let Some(to) = st.rollback_to {
            st.file.set_len(to).map_err(|e| {
                named(
                    "cannot cut a failed append back off, so nothing more is appended",
                    e,
                )
            })?;
            st.rollback_to = None;
        }
        if let Err(e) = st.file.write_all(rec) {
            // A partial write (a full disk) leaves half a record: cut it off now.
            let good = st.len;
            if st.file.set_len(good).is_err() {
                st.rollback_to = Some(good);
            }
            self.stats.append_errors.fetch_add(1, Relaxed);
            return Err(named(
                "append failed (the file was cut back to its last good record)",
                e,
            ));
        }
        st.len += rec.len() as u64;
        st.records += 1;
        self.stats.appends.fetch_add(1, Relaxed);
        if !ticket {
            return Ok(None);
        }
        let (tx, rx) = oneshot::channel();
        let end = st.len;
        st.waiting.push_back((end, tx));
        drop(st);
        self.wake.notify_one();
        Ok(Some(Durable(Some(rx))))
    }

    /// fsyncs the log now, on this thread, if anything was appended since the last fsync.
    pub fn sync_now(&self) -> io::Result<()> {
        let mut st = self.lock();
        if st.synced >= st.len {
            return Ok(());
        }
        let target = st.len;
        let t0 = Instant::now();
        let res = st.file.sync_data();
        self.stats.fsyncs.fetch_add(1, Relaxed);
        self.stats.fsync_seconds.observe(t0.elapsed().as_secs_f64());
        match res {
            Ok(()) => {
                st.synced = target;
                complete(&mut st, target, &self.stats);
                Ok(())
            }
            Err(e) => {
                self.stats.fsync_errors.fetch_add(1, Relaxed);
                Err(io::Error::new(
                    e.kind(),
                    format!("{}: fsync failed: {e}", self.path.display()),
                ))
            }
        }
    }

    /// Undoes everything after the last successful fsync (after an fsync under `Always`
    /// failed: those records are not acknowledged, so they must not come back at restart).
    pub fn roll_back_unsynced(&self, st: &mut LogState, why: &str) {
        let to = st.synced;
        if st.file.set_len(to).is_err() {
            st.rollback_to = Some(to);
        }
        let mut dropped = 0;
        for (_, tx) in st.waiting.drain(..) {
            let _ = tx.send(Err(why.to_string()));
            dropped += 1;
        }
        st.records = st.records.saturating_sub(dropped);
        st.len = to;
        self.stats.rolled_back.fetch_add(dropped as u64, Relaxed);
    }

    /// After a compaction wrote everything the log holds into a synced snapshot: every ticket
    /// is complete, and when the file could be emptied (`emptied`) the log starts over.
    pub fn snapshot_taken(&self, st: &mut LogState, emptied: bool) {
        if emptied {
            st.len = 0;
            st.synced = 0;
            st.records = 0;
            st.epoch += 1;
        }
        for (_, tx) in st.waiting.drain(..) {
            let _ = tx.send(Ok(()));
        }
    }

    /// Asks the committer to finish: it syncs what waits, then returns.
    pub fn close(&self) {
        self.lock().closing = true;
        self.wake.notify_all();
    }

    /// The committer thread's loop (`sync_file` is a second handle on the log).
    pub fn commit_forever(&self, sync_file: File) {
        loop {
            let (target, epoch) = {
                let mut st = self.lock();
                while st.waiting.is_empty() && !st.closing {
                    st = self
                        .wake
                        .wait(st)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                if st.waiting.is_empty() {
                    return;
                }
                (st.len, st.epoch)
            };
            let t0 = Instant::now();
            let res = sync_file.sync_data();
            self.stats.fsyncs.fetch_add(1, Relaxed);
            self.stats.fsync_seconds.observe(t0.elapsed().as_secs_f64());
            let mut st = self.lock();
            if st.epoch != epoch {
                continue; // Compacted meanwhile: its tickets were completed then.
            }
            match res {
                Ok(()) => {
                    st.synced = st.synced.max(target);
                    complete(&mut st, target, &self.stats);
                }
                Err(e) => {
                    self.stats.fsync_errors.fetch_add(1, Relaxed);
                    let why = format!("{}: fsync failed: {e}", self.path.display());
                    log::error!(target: &self.log_target, "{why}; the updates not yet synced were removed from the log and not acknowledged");
                    self.roll_back_unsynced(&mut st, &why);
                }
            }
        }
    }
}

/// Completes every ticket whose record ends at or before `target`.
fn complete(st: &mut LogState, target: u64, stats: &StoreStats) {
    let mut n = 0u32;
    while st.waiting.front().is_some_and(|(end, _)| *end <= target) {
        if let Some((_, tx)) = st.waiting.pop_front() {
            let _ = tx.send(Ok(()));
            n += 1;
        }
    }
    if n > 0 {
        stats.fsync_batch.observe(f64::from(n));
    }
}
