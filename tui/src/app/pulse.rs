//! Link pulses: a link "pulses" for a few frames after its flows counter grew.

use std::collections::BTreeMap;

use crate::model::LinkSnapshot;

/// The key of an undirected link: the two names in order.
pub fn link_key(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_owned(), b.to_owned())
    } else {
        (b.to_owned(), a.to_owned())
    }
}

/// Per-link memory of the last flows counter and the pulse still to show.
#[derive(Clone, Debug, Default)]
pub struct LinkPulses {
    /// Last flows counter and frames of pulse left, by link key.
    links: BTreeMap<(String, String), (u64, u32)>,
}

impl LinkPulses {
    /// Feed the links of a new snapshot; a link whose counter grew pulses for `frames` frames.
    pub fn observe(&mut self, links: &[LinkSnapshot], frames: u32) {
        let mut next = BTreeMap::new();
        for link in links {
            let key = link_key(&link.a, &link.b);
            let left = match self.links.get(&key) {
                Some((flows, _)) if link.flows > *flows => frames,
                Some((_, left)) => left.saturating_sub(1),
                None => 0,
            };
            next.insert(key, (link.flows, left));
        }
        self.links = next;
    }

    /// Frames of pulse left on the link between `a` and `b` (0: not pulsing).
    pub fn pulse(&self, a: &str, b: &str) -> u32 {
        self.links.get(&link_key(a, b)).map_or(0, |(_, left)| *left)
    }
}
