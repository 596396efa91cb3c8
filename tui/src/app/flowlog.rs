//! The bounded ring buffer behind the Flow view, with filter, pause and scroll.

use std::collections::VecDeque;

use crate::model::FlowItem;

/// Flow items kept in memory; older ones are dropped first.
pub const FLOW_CAPACITY: usize = 5_000;

/// The live flow feed.
#[derive(Clone, Debug)]
pub struct FlowLog {
    /// Items with their sequence number, oldest first, at most `capacity`.
    items: VecDeque<(u64, FlowItem)>,
    /// Maximum number of items kept.
    capacity: usize,
    /// Sequence number the next item gets (= items received so far).
    next_seq: u64,
    /// While paused, the sequence number of the first item not shown.
    paused_at: Option<u64>,
    /// Case-insensitive filter, as typed.
    filter: String,
    /// Lines scrolled up from the newest shown item.
    scroll: usize,
}

impl Default for FlowLog {
    fn default() -> Self {
        Self::with_capacity(FLOW_CAPACITY)
    }
}

impl FlowLog {
    /// An empty feed keeping at most `capacity` items (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            items: VecDeque::new(),
            capacity: capacity.max(1),
            next_seq: 0,
            paused_at: None,
            filter: String::new(),
            scroll: 0,
        }
    }

    /// Append new items, dropping the oldest beyond the capacity.
    pub fn push(&mut self, items: Vec<FlowItem>) {
        for item in items {
            self.items.push_back((self.next_seq, item));
            self.next_seq += 1;
            if self.items.len() > self.capacity {
                self.items.pop_front();
            }
        }
    }

    /// Number of items held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when no item is held.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Items received so far, including those dropped from the buffer.
    pub fn total(&self) -> u64 {
        self.next_seq
    }

    /// True while the feed is frozen.
    pub fn paused(&self) -> bool {
        self.paused_at.is_some()
    }

    /// Items that arrived since the feed was paused (0 when not paused).
    pub fn new_since_pause(&self) -> u64 {
        self.paused_at.map_or(0, |at| self.next_seq - at)
    }

    /// Freeze the feed, or resume following the newest items.
    pub fn toggle_pause(&mut self) {
        if self.paused_at.is_some() {
            self.paused_at = None;
            self.scroll = 0;
        } else {
            self.paused_at = Some(self.next_seq);
        }
    }

    /// The filter text.
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// Replace the filter text; the view goes back to the newest items.
    pub fn set_filter(&mut self, filter: String) {
        self.filter = filter;
        self.scroll = 0;
    }

    /// Lines scrolled up from the newest shown item.
    pub fn scroll(&self) -> usize {
        self.scroll
    }

    /// Scroll towards older items; this pauses the feed so the view holds still.
    pub fn scroll_up(&mut self, lines: usize) {
        if self.paused_at.is_none() {
            self.paused_at = Some(self.next_seq);
        }
        let max = self.visible().len().saturating_sub(1);
        self.scroll = (self.scroll + lines).min(max);
    }

    /// Scroll towards newer items.
    pub fn scroll_down(&mut self, lines: usize) {
        self.scroll = self.scroll.saturating_sub(lines);
    }

    /// Jump to the newest items and follow them again.
    pub fn follow(&mut self) {
        self.paused_at = None;
        self.scroll = 0;
    }

    /// The items to show, oldest first: not newer than the pause point, matching the filter.
    pub fn visible(&self) -> Vec<&FlowItem> {
        let needle = self.filter.to_lowercase();
        self.items
            .iter()
            .filter(|(seq, _)| self.paused_at.is_none_or(|at| *seq < at))
            .map(|(_, item)| item)
            .filter(|item| needle.is_empty() || matches(item, &needle))
            .collect()
    }
}

/// True if any field of `item` contains `needle` (already lowercase).
fn matches(item: &FlowItem, needle: &str) -> bool {
    [
        item.server.as_str(),
        item.peer.as_str(),
        item.text.as_str(),
        item.kind.label(),
        item.dir.arrow(),
    ]
    .iter()
    .any(|field| field.to_lowercase().contains(needle))
}
