//! `WHATSAT <client> <radius km> <bound>`: find the client's stored AT line, ask the places
//! provider (the caller does, since that may wait), and answer with both.

use std::sync::Arc;

use super::{Node, Outcome};
use crate::places::json::whatsat_reply;
use crate::places::NearbyQuery;
use crate::protocol::{invalid_reply, parse_at, radius_metres, WhatsAt};

/// A WHATSAT waiting for its places.
#[derive(Clone, Debug, PartialEq)]
pub struct Lookup {
    /// The stored AT line of the client asked about, byte for byte as its origin made it.
    pub at: Arc<[u8]>,
    /// What to ask the places provider.
    pub query: NearbyQuery,
}

impl Lookup {
    /// The reply: the AT line, the places document, an empty line.
    pub fn reply(&self, doc: &serde_json::Value, out: &mut Vec<u8>) {
        whatsat_reply(&self.at, doc, out);
    }
}

/// Plans a WHATSAT: a lookup for a known client, `? line` for one never heard of.
pub fn apply(node: &Node, line: &[u8], cmd: &WhatsAt<'_>, out: &mut Vec<u8>) -> Outcome {
    let held = node.lookup(cmd.client);
    let query = held.as_ref().and_then(|u| {
        let at = parse_at(&u.at)?;
        NearbyQuery::new(
            at.location_raw,
            radius_metres(cmd.radius_raw),
            usize::from(cmd.bound),
        )
    });
    match (held, query) {
        (Some(u), Some(query)) => Outcome::Lookup(Lookup { at: u.at, query }),
        _ => {
            invalid_reply(line, out);
            Outcome::UnknownClient
        }
    }
}
