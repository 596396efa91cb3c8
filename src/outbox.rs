//! A neighbour's queue of updates waiting to be sent. Pure.
//!
//! It coalesces by client: only the newest update for a client waits, so its size never exceeds
//! the number of clients the server knows, however far behind the neighbour falls. Updates
//! leave in the order their clients first entered the queue.

use std::collections::hash_map::Entry;
use std::collections::VecDeque;
use std::sync::Arc;

use crate::state::Update;

/// How an update travels, as an UPDATE carries it after `UPDATE ` (see [`crate::wire`]): `~`
/// or `!` and the comma-separated names of servers already sent it (see
/// [`crate::wire::MAX_SEEN`]), or `^` and the herd's shape; empty for a flood naming no one.
pub type Seen = Arc<[u8]>;

/// An update waiting to be sent, with the servers known to have been sent it.
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    /// The update.
    pub update: Update,
    /// Who has been sent it already (the receiver forwards it to none of them).
    pub seen: Seen,
}

/// Updates waiting for one neighbour.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Clients in the order they entered the queue.
    order: VecDeque<Arc<[u8]>>,
    /// The newest waiting update per client (foldhash, as the location table).
    waiting: foldhash::HashMap<Arc<[u8]>, Outgoing>,
}

impl Outbox {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `update`, replacing an older waiting update for the same client.
    pub fn push(&mut self, update: Update, seen: Seen) {
        // One hash of the client, whether it waits already or not.
        match self.waiting.entry(update.client.clone()) {
            Entry::Occupied(mut held) => {
                let waiting = held.get_mut();
                if update.is_newer_than(&waiting.update) {
                    held.insert(Outgoing { update, seen });
                } else if seen.first() == Some(&b'!') && *waiting.update.at == *update.at {
                    // The same update, now on a detour: the receiver must pass it on even if
                    // it holds it, which the copy waiting may not have told it.
                    waiting.seen = seen;
                }
            }
            Entry::Vacant(slot) => {
                self.order.push_back(update.client.clone());
                slot.insert(Outgoing { update, seen });
            }
        }
    }

    /// Forgets the waiting update for `update`'s client unless it is newer than `update`; true
    /// if one was forgotten. For a neighbour that just sent us `update`: it holds that or
    /// newer, so an older or equal copy from us would only be ignored there. (The client's
    /// place in `order` is skipped by [`take`](Self::take).)
    pub fn cancel(&mut self, update: &Update) -> bool {
        match self.waiting.get(&update.client) {
            Some(w) if !w.update.is_newer_than(update) => {
                self.waiting.remove(&update.client);
                true
            }
            _ => false,
        }
    }

    /// Takes up to `max` updates, oldest client first.
    pub fn take(&mut self, max: usize) -> Vec<Outgoing> {
        let mut out = Vec::with_capacity(max.min(self.order.len()));
        while out.len() < max {
            let Some(client) = self.order.pop_front() else {
                break;
            };
            if let Some(u) = self.waiting.remove(&client) {
                out.push(u);
            }
        }
        out
    }

    /// Updates waiting.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Forgets everything waiting.
    pub fn clear(&mut self) {
        self.order.clear();
        self.waiting.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(client: &str, t: u32) -> Update {
        let line = format!("AT S +0.000000000 {client} +1+1 {t}");
        Update::from_at_line(line.as_bytes()).unwrap()
    }

    fn check(pushes: &[(&str, u32)], expected: &[(&str, u32)]) {
        let mut q = Outbox::new();
        for (c, t) in pushes {
            q.push(u(c, *t), Seen::from(&b""[..]));
        }
        assert_eq!(q.len(), expected.len());
        let got: Vec<Update> = q.take(usize::MAX).into_iter().map(|o| o.update).collect();
        let want: Vec<Update> = expected.iter().map(|(c, t)| u(c, *t)).collect();
        assert_eq!(got, want, "{pushes:?}");
        assert!(q.is_empty());
    }

    #[test]
    fn coalesces_by_client_keeping_the_newest() {
        check(&[("a", 1), ("b", 1), ("a", 2)], &[("a", 2), ("b", 1)]);
        check(&[("a", 2), ("a", 1)], &[("a", 2)]);
        check(
            &[("a", 1), ("b", 2), ("c", 3)],
            &[("a", 1), ("b", 2), ("c", 3)],
        );
        check(&[], &[]);
    }

    #[test]
    fn the_same_update_on_a_detour_takes_the_waiting_copys_place() {
        let mut q = Outbox::new();
        let via = |v: &str| Seen::from(v.as_bytes());
        q.push(u("a", 2), via("^0123abcd"));
        q.push(u("a", 2), via("!S,T"));
        // An older one on a detour changes nothing; neither does a flood of the same.
        q.push(u("a", 1), via("!U"));
        q.push(u("a", 2), via("~V"));
        let got: Vec<(Update, String)> = q
            .take(usize::MAX)
            .into_iter()
            .map(|o| (o.update, String::from_utf8_lossy(&o.seen).into_owned()))
            .collect();
        assert_eq!(got, vec![(u("a", 2), "!S,T".to_string())]);
    }

    #[test]
    fn cancel_forgets_only_what_the_neighbour_has() {
        let none = || Seen::from(&b""[..]);
        let mut q = Outbox::new();
        q.push(u("a", 2), none());
        q.push(u("b", 2), Seen::from(&b"X,Y"[..]));
        assert!(!q.cancel(&u("a", 1)), "ours is newer: it still goes");
        assert!(q.cancel(&u("a", 2)), "the neighbour has exactly it");
        assert!(!q.cancel(&u("c", 1)), "nothing waits for c");
        q.push(u("a", 3), none());
        assert_eq!(q.len(), 2);
        let taken = q.take(usize::MAX);
        assert_eq!(
            taken
                .iter()
                .map(|o| (o.update.clone(), &*o.seen))
                .collect::<Vec<_>>(),
            vec![(u("a", 3), &b""[..]), (u("b", 2), &b"X,Y"[..])]
        );
        assert!(q.take(usize::MAX).is_empty());
    }

    #[test]
    fn take_respects_the_batch_size() {
        let mut q = Outbox::new();
        for i in 0..10 {
            q.push(u(&format!("c{i}"), i), Seen::from(&b""[..]));
        }
        assert_eq!(q.take(4).len(), 4);
        assert_eq!(q.len(), 6);
        q.clear();
        assert!(q.take(4).is_empty());
    }
}
