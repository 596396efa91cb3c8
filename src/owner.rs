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

/// What the owner rule decides when a connection completes its handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attach {
    /// The live connection stays; the new one closes.
    Refused,
    /// The new connection becomes the live link. `close_old`: this end closes the one it
    /// replaces. It does not when the owner's own dial replaces a connection the neighbour
    /// dialed: the neighbour, which accepted the owner's connection, closes the other, so
    /// neither end sees the link go down (and if it never does, the replaced connection closes
    /// itself after the silence timeout).
    Replaces {
        /// This end closes the replaced connection.
        close_old: bool,
    },
}

/// The owner rule for connection `new`, which this end `dialed` or accepted, when `live` is
/// the link (if any).
pub fn attach(live: Option<Claim>, new: Claim, dialed: bool) -> Attach {
    let Some(old) = live else {
        return Attach::Replaces { close_old: false };
    };
    let same_instance = old.incarnation == new.incarnation;
    if old.by_owner && !new.by_owner && same_instance {
        return Attach::Refused;
    }
    let owner_wins_here = new.by_owner && !old.by_owner && dialed && same_instance;
    Attach::Replaces {
        close_old: !owner_wins_here,
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
        use Attach::*;
        assert!(owns("Bona", "Clark") && !owns("Clark", "Bona"));
        let close = Replaces { close_old: true };
        assert_eq!(
            attach(None, claim(false, 1), true),
            Replaces { close_old: false }
        );
        assert_eq!(
            attach(Some(claim(true, 1)), claim(false, 1), false),
            Refused
        );
        assert_eq!(
            attach(Some(claim(true, 1)), claim(false, 2), true),
            close,
            "restart"
        );
        assert_eq!(
            attach(Some(claim(true, 1)), claim(true, 1), true),
            close,
            "newer wins"
        );
        assert_eq!(
            attach(Some(claim(false, 1)), claim(false, 1), true),
            close,
            "newer wins"
        );
        // The owner's connection replaces the neighbour's: only its acceptor closes the other.
        let owner_dialed = attach(Some(claim(false, 1)), claim(true, 1), true);
        assert_eq!(owner_dialed, Replaces { close_old: false });
        assert_eq!(attach(Some(claim(false, 1)), claim(true, 1), false), close);
        assert_eq!(
            attach(Some(claim(false, 1)), claim(true, 2), true),
            close,
            "restart"
        );
    }
}
