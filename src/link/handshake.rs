//! The handshake half of a session: HELLO, WELCOME, PROOF, with the MACs of
//! [`crate::wire::Transcript`]. Pure.

use std::sync::Arc;

use super::{escaped, End, Host, Settings};
use crate::wire::{self, Nonce, PeerMsg, Role, Transcript};

/// Where a session is in the handshake.
#[derive(Debug)]
pub(super) enum Handshake {
    /// Dialer: HELLO sent, waiting for WELCOME.
    AwaitWelcome {
        /// Who we dialed.
        neighbour: Arc<str>,
        /// Our challenge, sent in the HELLO.
        nonce: Nonce,
    },
    /// Acceptor: waiting for the first line, which must be a HELLO.
    AwaitHello {
        /// Our challenge, for the WELCOME.
        nonce: Nonce,
    },
    /// Acceptor: WELCOME sent, waiting for PROOF.
    AwaitProof {
        /// Who said HELLO.
        neighbour: Arc<str>,
        /// What both MACs cover.
        transcript: Transcript,
    },
    /// Done: the neighbour is authenticated.
    Up {
        /// Its name.
        neighbour: Arc<str>,
    },
}

/// What a handshake line calls for.
pub(super) enum Reply {
    /// Send this line (WELCOME).
    Send(Vec<u8>),
    /// Send this line (PROOF); the link is up with a neighbour of this incarnation.
    SendThenUp(Vec<u8>, u64),
    /// The link is up with a neighbour of this incarnation.
    Up(u64),
}

fn encoded(msg: &PeerMsg<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(200);
    wire::encode(msg, &mut out);
    out
}

/// Advances the handshake by one received line.
pub(super) fn step(
    state: &mut Handshake,
    settings: &Settings,
    line: &[u8],
    host: &mut dyn Host,
) -> Result<Reply, End> {
    let msg = wire::decode(line);
    match (&*state, msg) {
        (
            Handshake::AwaitWelcome { neighbour, nonce },
            Some(PeerMsg::Welcome { from, incarnation, nonce: theirs, mac }),
        ) => {
            if from != &**neighbour {
                return Err(End::WrongServer {
                    expected: neighbour.to_string(),
                    got: from.to_string(),
                });
            }
            let t = Transcript {
                dialer: settings.name.to_string(),
                acceptor: neighbour.to_string(),
                dialer_incarnation: settings.incarnation,
                acceptor_incarnation: incarnation,
                dialer_nonce: *nonce,
                acceptor_nonce: theirs,
            };
            if !t.verify(&settings.secret, Role::Acceptor, &mac) {
                return Err(End::AuthFailed(neighbour.to_string()));
            }
            let proof = encoded(&PeerMsg::Proof {
                mac: t.mac(&settings.secret, Role::Dialer),
            });
            let neighbour = neighbour.clone();
            *state = Handshake::Up { neighbour };
            Ok(Reply::SendThenUp(proof, incarnation))
        }
        (Handshake::AwaitWelcome { .. }, _) => Err(End::Unexpected(format!(
            "expected WELCOME, got {}",
            escaped(line)
        ))),
        (
            Handshake::AwaitHello { nonce },
            Some(PeerMsg::Hello { from, to, incarnation, nonce: theirs }),
        ) => {
            if to != &*settings.name {
                return Err(End::Refused(format!(
                    "HELLO is for {to:?}, this is {}",
                    settings.name
                )));
            }
            host.admit(from, incarnation).map_err(End::Refused)?;
            let t = Transcript {
                dialer: from.to_string(),
                acceptor: settings.name.to_string(),
                dialer_incarnation: incarnation,
                acceptor_incarnation: settings.incarnation,
                dialer_nonce: theirs,
                acceptor_nonce: *nonce,
            };
            let welcome = encoded(&PeerMsg::Welcome {
                from: &settings.name,
                incarnation: settings.incarnation,
                nonce: *nonce,
                mac: t.mac(&settings.secret, Role::Acceptor),
            });
            *state = Handshake::AwaitProof {
                neighbour: from.into(),
                transcript: t,
            };
            Ok(Reply::Send(welcome))
        }
        (Handshake::AwaitHello { .. }, _) => Err(End::Unexpected(format!(
            "the first line on the peer port must be a HELLO (client commands go to the client port), got {}",
            escaped(line)
        ))),
        (Handshake::AwaitProof { neighbour, transcript }, Some(PeerMsg::Proof { mac })) => {
            if !transcript.verify(&settings.secret, Role::Dialer, &mac) {
                return Err(End::AuthFailed(neighbour.to_string()));
            }
            let incarnation = transcript.dialer_incarnation;
            let neighbour = neighbour.clone();
            *state = Handshake::Up { neighbour };
            Ok(Reply::Up(incarnation))
        }
        (Handshake::AwaitProof { .. }, _) => Err(End::Unexpected(format!(
            "expected PROOF, got {}",
            escaped(line)
        ))),
        (Handshake::Up { .. }, _) => Err(End::Unexpected(escaped(line))),
    }
}
