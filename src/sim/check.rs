//! The invariants that need the whole herd: what every server must hold once the network is
//! healed and quiet, given every update the herd accepted and which of them a crash may
//! legitimately have lost. (The per-step invariants are checked where the table changes, in
//! `host` and `world`.)

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::host::escaped;
use crate::state::Update;

/// An invariant that did not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// When (virtual time).
    #[serde(serialize_with = "super::report::ser_ms", rename = "at_ms")]
    pub at: Duration,
    /// What, in words.
    pub what: String,
}

/// Every update the herd accepted, and those a crash may have lost.
#[derive(Debug, Default)]
pub struct Expect {
    /// Accepted updates by client (an IAMAT newer than what its server held; the client got
    /// its AT reply).
    accepted: HashMap<Arc<[u8]>, Vec<Update>>,
    /// AT lines that a crashed server alone held, and whose data did not survive (no data
    /// folder, a wiped one, or a power loss before fsync): the herd may or may not hold them.
    lost: HashSet<Arc<[u8]>>,
}

impl Expect {
    /// A client's IAMAT was accepted.
    pub fn accepted(&mut self, u: &Update) {
        self.accepted
            .entry(u.client.clone())
            .or_default()
            .push(u.clone());
    }

    /// The update `at` may have been lost with a crashed server.
    pub fn maybe_lost(&mut self, at: Arc<[u8]>) {
        self.lost.insert(at);
    }

    /// Updates that may have been lost.
    pub fn lost(&self) -> usize {
        self.lost.len()
    }

    /// Once healed and quiet: every live server holds the same table (`tables`: name and
    /// table, in server order), and it is the newest-wins result of the accepted updates
    /// (where an update that may have been lost is allowed to have survived).
    pub fn check(&self, tables: &[(Arc<str>, Vec<Update>)]) -> Result<(), String> {
        let Some((first, reference)) = tables.first() else {
            return Ok(());
        };
        let reference: BTreeMap<&[u8], &Update> =
            reference.iter().map(|u| (&*u.client, u)).collect();
        for (name, table) in &tables[1..] {
            if table.len() != reference.len() {
                return Err(format!(
                    "{name} holds {} clients but {first} holds {}",
                    table.len(),
                    reference.len()
                ));
            }
            for u in table {
                match reference.get(&*u.client) {
                    Some(r) if r.at == u.at => {}
                    other => {
                        let theirs = other.map_or("nothing".into(), |r| escaped(&r.at));
                        return Err(format!(
                            "{name} holds {} but {first} holds {theirs}",
                            escaped(&u.at)
                        ));
                    }
                }
            }
        }
        let mut clients: Vec<&[u8]> = self.accepted.keys().map(|c| &**c).collect();
        clients.extend(reference.keys().copied());
        clients.sort_unstable();
        clients.dedup();
        for c in clients {
            let accepted = self.accepted.get(c).map(Vec::as_slice).unwrap_or_default();
            let want = accepted
                .iter()
                .filter(|u| !self.lost.contains(&u.at))
                .reduce(|a, b| if b.is_newer_than(a) { b } else { a });
            let got = reference.get(c).copied();
            let survived =
                |g: &Update| self.lost.contains(&g.at) && accepted.iter().any(|u| u.at == g.at);
            let ok = match (want, got) {
                (None, None) => true,
                (Some(w), Some(g)) => g.at == w.at || (g.is_newer_than(w) && survived(g)),
                (None, Some(g)) => survived(g),
                (Some(_), None) => false,
            };
            if !ok {
                let show = |u: Option<&Update>| u.map_or("nothing".into(), |u| escaped(&u.at));
                return Err(format!(
                    "every server holds {} for {}, but newest wins over the accepted updates gives {}",
                    show(got),
                    escaped(c),
                    show(want)
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(server: &str, client: &str, t: u32) -> Update {
        let line = format!("AT {server} +0.000000000 {client} +1+1 {t}");
        Update::from_at_line(line.as_bytes()).unwrap()
    }

    fn tables(t: &[Vec<Update>]) -> Vec<(Arc<str>, Vec<Update>)> {
        t.iter()
            .enumerate()
            .map(|(i, t)| (format!("s{i}").into(), t.clone()))
            .collect()
    }

    #[test]
    fn the_herd_must_agree_on_the_newest_accepted_update() {
        let mut e = Expect::default();
        e.accepted(&u("A", "c", 1));
        e.accepted(&u("B", "c", 2));
        e.accepted(&u("A", "d", 1));
        let good = vec![u("B", "c", 2), u("A", "d", 1)];
        assert_eq!(e.check(&tables(&[good.clone(), good.clone()])), Ok(()));
        let stale = vec![u("A", "c", 1), u("A", "d", 1)];
        let err = e.check(&tables(&[stale.clone(), stale])).unwrap_err();
        assert!(err.contains("gives AT B"), "{err}");
        let split = e.check(&tables(&[good.clone(), vec![u("B", "c", 2)]]));
        assert!(split.unwrap_err().contains("s1 holds 1 clients"));
        // The newest may be lost with a crashed server, or may have survived it.
        e.maybe_lost(u("B", "c", 2).at);
        let older = vec![u("A", "c", 1), u("A", "d", 1)];
        assert_eq!(e.check(&tables(&[older])), Ok(()));
        assert_eq!(e.check(&tables(&[good])), Ok(()));
        let never = vec![u("C", "c", 9), u("A", "d", 1)];
        assert!(e.check(&tables(&[never])).is_err(), "never accepted");
    }
}
