//! The catch-up half of a session: our summary out (at link-up, periodically, on request),
//! the neighbour's compared with our table, and the updates to send pulled from the host
//! (catch-up entries first, then floods).

use std::time::Duration;

use super::{Host, Session, BATCH, HIGH_WATER};
use crate::digest::{Digest, Reconcile};
use crate::outbox::{Outgoing, Seen};
use crate::wire::{self, PeerMsg};

impl Session {
    /// Sends our summary: the neighbour pushes every entry of the buckets that differ.
    pub(super) fn send_summary(&mut self, summary: &Digest, host: &mut dyn Host) {
        let per_line = (self.settings.max_frame.saturating_sub(32) / 17).clamp(1, 512);
        let before = self.out.len();
        for (first, run) in summary.runs(per_line) {
            let msg = PeerMsg::Summary {
                bits: summary.bits,
                first,
                hashes: run.to_vec(),
            };
            wire::encode(&msg, &mut self.out);
        }
        host.catch_up_bytes(true, self.out.len() - before);
    }

    /// Asks for our summary to go out within `delay` (a neighbour link was lost: a copy this
    /// neighbour skipped because the lost one was to carry it comes back this way).
    pub fn request_resync(&mut self, now: Duration, delay: Duration) {
        self.next_resync = self.next_resync.min(now + delay);
    }

    /// Compares a run of the neighbour's summary with our table and queues the entries of
    /// every bucket that differs.
    pub(super) fn compare(&mut self, bits: u8, first: u32, hashes: &[u64], host: &mut dyn Host) {
        // A summary starts at bucket 0: each one is compared with the table as it is then.
        let r = match &mut self.reconcile {
            Some(r) if r.bits == bits && first != 0 => r,
            slot => slot.insert(Reconcile::of_hashed(host.snapshot().into_iter(), bits)),
        };
        let mut queued = 0usize;
        let catch_up = &mut self.catch_up;
        r.compare(first, hashes, |u| {
            catch_up.push_back(u);
            queued += 1;
        });
        let done = r.done();
        if done {
            self.reconcile = None;
        }
        host.compared(queued, done);
    }

    /// Takes updates to send while there is room: catch-up entries first, then floods.
    pub fn fill(&mut self, host: &mut dyn Host) {
        if self.end.is_some() || !self.is_up() {
            return;
        }
        while self.out.len() - self.out_pos < HIGH_WATER {
            let catching_up = !self.catch_up.is_empty();
            let batch: Vec<Outgoing> = if catching_up {
                let n = self.catch_up.len().min(BATCH);
                let none = Seen::from(&b""[..]);
                self.catch_up
                    .drain(..n)
                    .map(|update| Outgoing {
                        update,
                        seen: none.clone(),
                    })
                    .collect()
            } else {
                host.take_updates(BATCH)
            };
            if batch.is_empty() {
                return;
            }
            let before = self.out.len();
            for o in &batch {
                let msg = PeerMsg::Update {
                    via: &o.seen,
                    at: &o.update.at,
                };
                wire::encode(&msg, &mut self.out);
            }
            if catching_up {
                host.catch_up_bytes(true, self.out.len() - before);
            }
            host.sent(&batch);
        }
    }

    /// Catch-up entries still waiting.
    pub fn catch_up_waiting(&self) -> usize {
        self.catch_up.len()
    }
}
