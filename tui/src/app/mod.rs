//! Console state and its pure update functions; no terminal involved.
//!
//! The run loop feeds [`App::on_snapshot`], [`App::on_flow`] and [`App::on_key`];
//! the `ui` module draws from the read-only accessors. Sorting, filtering and
//! selection live here so that drawing holds no logic.

mod conn_sort;
mod flowlog;
mod keys;
mod pulse;
mod rates;
mod selection;
#[cfg(test)]
mod tests;

use std::time::Instant;

pub use conn_sort::ConnSort;
pub use flowlog::{FlowLog, FLOW_CAPACITY};
pub use rates::{RateHistory, RATE_HISTORY, RATE_INTERVAL};

use crate::model::{
    ClientRow, ConnSnapshot, ConsoleOptions, FlowItem, HerdSnapshot, OperatorCommand, PeerSnapshot,
    ServerSnapshot,
};
use pulse::LinkPulses;
use rates::RateTracker;
use selection::Selection;

/// The log levels `l` cycles through, in order.
pub const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

/// A view of the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tab {
    /// Servers, rates and the herd map.
    Overview,
    /// Open connections of the selected server.
    Connections,
    /// Neighbours of the selected server.
    Peers,
    /// Live feed of traffic and link events.
    Flow,
    /// Location table of the selected server.
    Clients,
}

impl Tab {
    /// Every view, in tab order (keys 1 to 5).
    pub const ALL: [Tab; 5] = [
        Tab::Overview,
        Tab::Connections,
        Tab::Peers,
        Tab::Flow,
        Tab::Clients,
    ];

    /// Title shown in the tab bar.
    pub fn title(self) -> &'static str {
        match self {
            Tab::Overview => "Overview",
            Tab::Connections => "Connections",
            Tab::Peers => "Peers",
            Tab::Flow => "Flow",
            Tab::Clients => "Clients",
        }
    }

    /// Position in [`Tab::ALL`].
    pub fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    /// The next view, wrapping around.
    pub fn next(self) -> Tab {
        Tab::ALL[(self.index() + 1) % Tab::ALL.len()]
    }

    /// The previous view, wrapping around.
    pub fn prev(self) -> Tab {
        Tab::ALL[(self.index() + Tab::ALL.len() - 1) % Tab::ALL.len()]
    }
}

/// What the run loop must do after a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing beyond the state change (the next tick draws it).
    None,
    /// Leave the console.
    Quit,
    /// Send this command to the backend, then report with [`App::on_command_result`].
    Command(OperatorCommand),
}

/// Where typed characters go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputMode {
    /// Keys are commands.
    Normal,
    /// Typing the Flow filter (after `/` in Flow).
    FlowFilter,
    /// Typing the Clients search (after `/` in Clients).
    ClientSearch,
}

/// Tone of the status line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusKind {
    /// A hint from the console itself.
    Info,
    /// A command the backend accepted.
    Ok,
    /// A command the backend refused.
    Error,
}

/// The status line: the last command result or hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Tone (colour) of the message.
    pub kind: StatusKind,
    /// The message.
    pub text: String,
}

/// The whole console state.
#[derive(Clone, Debug)]
pub struct App {
    /// Title shown in the tab bar.
    title: String,
    /// Whole-herd demo: server stop/start keys enabled.
    demo: bool,
    /// Frames a link pulses after its flows counter grew.
    pulse_frames: u32,
    /// The view shown.
    tab: Tab,
    /// The latest snapshot.
    snapshot: HerdSnapshot,
    /// Snapshots received (drives pulse animation).
    frame: u64,
    /// The server the per-server views show (also the Overview row).
    server: Selection<String>,
    /// Selected connection, by id.
    conn: Selection<u64>,
    /// Sort column of the Connections table.
    conn_sort: ConnSort,
    /// Sort direction of the Connections table.
    conn_desc: bool,
    /// Selected peer, by name.
    peer: Selection<String>,
    /// Selected client row, by client id.
    client: Selection<String>,
    /// Clients search text.
    client_search: String,
    /// The flow feed.
    flow: FlowLog,
    /// Where typed characters go.
    input: InputMode,
    /// Help overlay shown.
    help_open: bool,
    /// The status line.
    status: Option<Status>,
    /// Message rate histories.
    rates: RateTracker,
    /// Link pulses.
    pulses: LinkPulses,
    /// A stop or start the backend accepted but has not finished: the status line says so
    /// until a snapshot shows it done (or it takes too long).
    pending: Option<Pending>,
    /// Snapshots a stop or start may take before the status line calls it late (10 s).
    pending_frames: u64,
}

/// A server stop or start under way.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pending {
    /// The server.
    server: String,
    /// Whether it should end up running (start) or not (stop).
    running: bool,
    /// The snapshot count past which it is late.
    deadline: u64,
}

impl App {
    /// A console with no data yet.
    pub fn new(opts: &ConsoleOptions, demo: bool) -> Self {
        Self {
            title: opts.title.clone(),
            demo,
            pulse_frames: (opts.fps * 4 / 10).max(2),
            tab: Tab::Overview,
            snapshot: HerdSnapshot::default(),
            frame: 0,
            server: Selection::default(),
            conn: Selection::default(),
            conn_sort: ConnSort::Id,
            conn_desc: false,
            peer: Selection::default(),
            client: Selection::default(),
            client_search: String::new(),
            flow: FlowLog::default(),
            input: InputMode::Normal,
            help_open: false,
            status: None,
            rates: RateTracker::default(),
            pulses: LinkPulses::default(),
            pending: None,
            pending_frames: u64::from(opts.fps.max(1)) * 10,
        }
    }

    /// Take a new snapshot, read at `now`: updates rates, pulses and selections.
    pub fn on_snapshot(&mut self, snap: HerdSnapshot, now: Instant) {
        self.rates.observe(&snap.servers, now);
        self.pulses.observe(&snap.links, self.pulse_frames);
        self.snapshot = snap;
        self.frame += 1;
        self.sync_selections();
        self.settle_pending();
    }

    /// Replaces "stopping X" / "starting X" by the outcome once the snapshot shows it.
    fn settle_pending(&mut self) {
        let Some(p) = &self.pending else { return };
        let now = self.snapshot.servers.iter().find(|s| s.name == p.server);
        let (verb, past) = if p.running {
            ("start", "started")
        } else {
            ("stop", "stopped")
        };
        if now.is_some_and(|s| s.running == p.running) {
            self.status = Some(Status {
                kind: StatusKind::Ok,
                text: format!("{} {past}", p.server),
            });
        } else if self.frame >= p.deadline {
            self.status = Some(Status {
                kind: StatusKind::Error,
                text: format!("{} did not {verb} within 10 s (see the logs)", p.server),
            });
        } else {
            return;
        }
        self.pending = None;
    }

    /// Append new flow items to the feed.
    pub fn on_flow(&mut self, items: Vec<FlowItem>) {
        self.flow.push(items);
    }

    /// Show the backend's answer to a command in the status line.
    pub fn on_command_result(&mut self, cmd: &OperatorCommand, result: Result<String, String>) {
        self.pending = match (cmd, &result) {
            (OperatorCommand::StopServer(s) | OperatorCommand::StartServer(s), Ok(_)) => {
                Some(Pending {
                    server: s.clone(),
                    running: matches!(cmd, OperatorCommand::StartServer(_)),
                    deadline: self.frame + self.pending_frames,
                })
            }
            _ => None,
        };
        self.status = Some(match result {
            Ok(msg) if msg.is_empty() => Status {
                kind: StatusKind::Ok,
                text: format!("{cmd}: ok"),
            },
            Ok(msg) => Status {
                kind: StatusKind::Ok,
                text: msg,
            },
            Err(reason) => Status {
                kind: StatusKind::Error,
                text: format!("{cmd} failed: {reason}"),
            },
        });
    }

    /// Title shown in the tab bar.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// True in the whole-herd demo.
    pub fn demo(&self) -> bool {
        self.demo
    }

    /// The view shown.
    pub fn tab(&self) -> Tab {
        self.tab
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> &HerdSnapshot {
        &self.snapshot
    }

    /// Snapshots received so far (animation phase of link pulses).
    pub fn frame(&self) -> u64 {
        self.frame
    }

    /// True while the help overlay is open.
    pub fn help_open(&self) -> bool {
        self.help_open
    }

    /// Where typed characters go.
    pub fn input_mode(&self) -> InputMode {
        self.input
    }

    /// The status line, if any.
    pub fn status(&self) -> Option<&Status> {
        self.status.as_ref()
    }

    /// Position of the selected server in the snapshot.
    pub fn selected_server_index(&self) -> Option<usize> {
        self.server.index_in(&self.server_keys())
    }

    /// The server the per-server views show.
    pub fn selected_server(&self) -> Option<&ServerSnapshot> {
        self.selected_server_index()
            .and_then(|i| self.snapshot.servers.get(i))
    }

    /// Connections of the selected server, in the chosen sort order.
    pub fn connections(&self) -> Vec<&ConnSnapshot> {
        let mut conns: Vec<&ConnSnapshot> = self
            .selected_server()
            .map(|s| s.connections.iter().collect())
            .unwrap_or_default();
        conn_sort::sort_connections(&mut conns, self.conn_sort, self.conn_desc);
        conns
    }

    /// Position of the selected connection in [`App::connections`].
    pub fn selected_connection_index(&self) -> Option<usize> {
        self.conn.index_in(&self.conn_keys())
    }

    /// Sort column and whether it is descending.
    pub fn conn_sort(&self) -> (ConnSort, bool) {
        (self.conn_sort, self.conn_desc)
    }

    /// Neighbours of the selected server.
    pub fn peers(&self) -> &[PeerSnapshot] {
        self.selected_server().map_or(&[], |s| s.peers.as_slice())
    }

    /// Position of the selected peer in [`App::peers`].
    pub fn selected_peer_index(&self) -> Option<usize> {
        self.peer.index_in(&self.peer_keys())
    }

    /// Location table of the selected server, matching the search, sorted by client.
    pub fn clients(&self) -> Vec<&ClientRow> {
        let needle = self.client_search.to_lowercase();
        let mut rows: Vec<&ClientRow> = self
            .selected_server()
            .map(|s| s.clients.iter().collect())
            .unwrap_or_default();
        rows.retain(|c| {
            needle.is_empty()
                || [&c.client, &c.origin, &c.location, &c.diff]
                    .iter()
                    .any(|f| f.to_lowercase().contains(&needle))
        });
        rows.sort_by(|a, b| a.client.cmp(&b.client));
        rows
    }

    /// Position of the selected row in [`App::clients`].
    pub fn selected_client_index(&self) -> Option<usize> {
        self.client.index_in(&self.client_keys())
    }

    /// The Clients search text.
    pub fn client_search(&self) -> &str {
        &self.client_search
    }

    /// The flow feed.
    pub fn flow(&self) -> &FlowLog {
        &self.flow
    }

    /// Message rate history of a server.
    pub fn rates(&self, server: &str) -> Option<&RateHistory> {
        self.rates.get(server)
    }

    /// Frames of pulse left on the link between `a` and `b` (0: quiet).
    pub fn pulse(&self, a: &str, b: &str) -> u32 {
        self.pulses.pulse(a, b)
    }

    fn server_keys(&self) -> Vec<String> {
        self.snapshot
            .servers
            .iter()
            .map(|s| s.name.clone())
            .collect()
    }

    fn conn_keys(&self) -> Vec<u64> {
        self.connections().iter().map(|c| c.id).collect()
    }

    fn peer_keys(&self) -> Vec<String> {
        self.peers().iter().map(|p| p.name.clone()).collect()
    }

    fn client_keys(&self) -> Vec<String> {
        self.clients().iter().map(|c| c.client.clone()).collect()
    }

    /// Re-anchor every selection on the rows now shown.
    fn sync_selections(&mut self) {
        let keys = self.server_keys();
        self.server.sync(&keys);
        let keys = self.conn_keys();
        self.conn.sync(&keys);
        let keys = self.peer_keys();
        self.peer.sync(&keys);
        let keys = self.client_keys();
        self.client.sync(&keys);
    }

    fn info(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            kind: StatusKind::Info,
            text: text.into(),
        });
    }
}
