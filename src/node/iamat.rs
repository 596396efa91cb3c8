//! `IAMAT <client> <location> <time>`: format the AT line, merge it, answer with it.

use super::{Effects, Node, Outcome};
use crate::protocol::{format_at, invalid_reply, IAmAt, Timestamp};
use crate::state::{Applied, Update};

/// The update an IAMAT received at `now` by server `name` makes: the AT line with the exact
/// time difference, the client's fields copied byte for byte.
pub fn update(name: &str, cmd: &IAmAt<'_>, now: Timestamp) -> Update {
    let mut at = Vec::with_capacity(
        cmd.client.len() + cmd.location_raw.len() + cmd.time_raw.len() + name.len() + 32,
    );
    format_at(
        &mut at,
        name,
        now.0 - cmd.time.0,
        cmd.client,
        cmd.location_raw,
        cmd.time_raw,
    );
    Update {
        client: cmd.client.into(),
        time: cmd.time,
        at: at.into(),
    }
}

/// Applies an IAMAT: the reply is the AT line (also when an older report changes nothing), or
/// `? line` when the table is full.
pub fn apply(
    node: &Node,
    line: &[u8],
    cmd: &IAmAt<'_>,
    now: Timestamp,
    out: &mut Vec<u8>,
) -> Outcome {
    let update = update(node.name(), cmd, now);
    match node.merge(&update) {
        Applied::Full => {
            invalid_reply(line, out);
            Outcome::Full
        }
        applied => {
            out.extend_from_slice(&update.at);
            out.push(b'\n');
            if applied.changed() {
                Outcome::Accepted(Effects {
                    update,
                    flood: node.client_flood(),
                })
            } else {
                Outcome::NotNewer
            }
        }
    }
}
