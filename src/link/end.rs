//! How a link's connection ends, as a type: the dial loop's back-off and the log's wording
//! depend on which end it was, never on a message's text.

use std::fmt;
use std::time::Duration;

/// Why a link's connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// The neighbour closed the connection.
    Closed,
    /// The neighbour said it is shutting down (`BYE`).
    Departed,
    /// Nothing was heard for this long.
    Silent(Duration),
    /// The handshake did not complete within this long.
    HandshakeTimeout(Duration),
    /// The named neighbour's MAC did not verify (a different herd secret?).
    AuthFailed(String),
    /// The address we dialed answered as another server.
    WrongServer {
        /// Who we dialed.
        expected: String,
        /// Who answered.
        got: String,
    },
    /// This side refused the neighbour (not a neighbour, link cut, HELLO for another server...).
    Refused(String),
    /// A message that has no place here (escaped).
    Unexpected(String),
    /// An UPDATE that is not a valid AT line.
    Malformed(String),
    /// Another connection for the same link won (see the owner rule in `net::neighbour`).
    Superseded,
    /// Closed on this side: operator, cut, or the server stopping.
    Local(String),
    /// A socket error.
    Io(String),
    /// Our writes made no progress for this long (the neighbour does not read).
    WriteStalled(Duration),
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::Closed => write!(f, "closed by the neighbour"),
            End::Departed => write!(f, "the neighbour is shutting down"),
            End::Silent(d) => write!(f, "nothing heard for {} ms", d.as_millis()),
            End::HandshakeTimeout(d) => write!(f, "no handshake within {} ms", d.as_millis()),
            End::AuthFailed(who) => {
                write!(f, "{who} failed authentication (different herd secret?)")
            }
            End::WrongServer { expected, got } => {
                write!(f, "expected {expected} but {got} answered")
            }
            End::Refused(why) => write!(f, "refused: {why}"),
            End::Unexpected(what) => write!(f, "unexpected message: {what}"),
            End::Malformed(what) => write!(f, "malformed update: {what}"),
            End::Superseded => write!(f, "replaced by another connection for the same link"),
            End::Local(why) => write!(f, "{why}"),
            End::Io(e) => write!(f, "{e}"),
            End::WriteStalled(d) => write!(
                f,
                "write stalled for {} ms (neighbour not reading)",
                d.as_millis()
            ),
        }
    }
}

/// A line for a log message: escaped, and cut after a few dozen bytes.
pub(super) fn escaped(line: &[u8]) -> String {
    const SHOWN: usize = 120;
    let mut s = line[..line.len().min(SHOWN)].escape_ascii().to_string();
    if line.len() > SHOWN {
        s.push_str(&format!("... ({} bytes)", line.len()));
    }
    s
}
