//! The owner rule for neighbour links, pure: which side owns a link, and which connection stays
//! when two are up for the same link. `net::neighbour` applies it to sockets; the simulator
//! (`crate::sim`) applies the same functions to simulated connections, so both follow one rule.
//!
//! Each link has one owner, the lexically smaller name. Both sides dial when they start; only the
//! owner redials. When a second connection for a link completes its handshake while one is live,
//! both ends keep the same one: a connection the owner dialed beats one the other side dialed,
//! otherwise the newer wins, and a connection from a new incarnation of the neighbour (a restart)
//! always wins, since the old one is dead even if this side has not noticed yet.

/// True when the server named `me` owns its link to `neighbour` (and so redials it).
pub fn owns(me: &str, neighbour: &str) -> bool {
    me < neighbour
}

/// What the owner rule needs to know of a connection that completed its handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The link's owner dialed it.
    pub by_owner: bool,
    /// The neighbour's incarnation on it.
    pub incarnation: u64,
}

/// True when `new` becomes the live connection, replacing `live` (which then closes); false
/// when `live` stays and `new` must close.
pub fn replaces(live: Option<Claim>, new: Claim) -> bool {
    match live {
        None => true,
        Some(old) => !(old.by_owner && !new.by_owner && old.incarnation == new.incarnation),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(by_owner: bool, incarnation: u64) -> Claim {
        Claim {
            by_owner,
            incarnation,
        }
    }

    #[test]
    fn the_owners_connection_stays_unless_the_neighbour_restarted() {
        assert!(owns("Bona", "Clark") && !owns("Clark", "Bona"));
        assert!(
            replaces(None, claim(false, 1)),
            "no live link: any connection"
        );
        assert!(!replaces(Some(claim(true, 1)), claim(false, 1)));
        assert!(replaces(Some(claim(true, 1)), claim(false, 2)), "restart");
        assert!(replaces(Some(claim(false, 1)), claim(true, 1)));
        assert!(replaces(Some(claim(true, 1)), claim(true, 1)), "newer wins");
        assert!(
            replaces(Some(claim(false, 1)), claim(false, 1)),
            "newer wins"
        );
    }
}
