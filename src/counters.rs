//! The series the connection and link tasks count as things happen, for the metrics endpoint
//! ([`crate::metrics`] registers them). Depends on nothing of the server, so `net` owns a
//! [`Metrics`] and `metrics` reads the server, with no import cycle between them.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

/// What a client line was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommandKind {
    /// `IAMAT`.
    IAmAt,
    /// `WHATSAT`.
    WhatsAt,
    /// Anything else (answered `? `).
    Invalid,
}

impl CommandKind {
    /// How many kinds there are (the last variant's index plus one: keep `Invalid` last).
    const COUNT: usize = CommandKind::Invalid as usize + 1;

    /// The `kind` label.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandKind::IAmAt => "iamat",
            CommandKind::WhatsAt => "whatsat",
            CommandKind::Invalid => "invalid",
        }
    }
}

/// How a client line was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommandResult {
    /// An AT reply (IAMAT accepted, WHATSAT answered).
    Ok,
    /// `? ` for a well-formed command that could not be served (unknown client, table full),
    /// or for an invalid line.
    Refused,
    /// `? ` for an IAMAT whose update could not be made durable (`fsync: Always`).
    NotDurable,
}

impl CommandResult {
    /// How many results there are (the last variant's index plus one: keep `NotDurable` last).
    const COUNT: usize = CommandResult::NotDurable as usize + 1;

    /// The `result` label.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandResult::Ok => "ok",
            CommandResult::Refused => "refused",
            CommandResult::NotDurable => "not_durable",
        }
    }
}

/// Labels of a command counter.
type CommandLabels = [(&'static str, &'static str); 2];

/// Labels with one entry (a kind, a direction).
type OneLabel = [(&'static str, &'static str); 1];

/// The series the server's tasks count as things happen (everything else is read at scrape
/// time). Cheap to call from any thread: atomics and one short lock per histogram.
#[derive(Debug)]
pub struct Metrics {
    /// Client commands by kind and result.
    pub(crate) commands: Family<CommandLabels, Counter>,
    /// Time from a command's line being read to its reply being ready, by kind.
    pub(crate) command_seconds: Family<OneLabel, Histogram>,
    /// Catch-up exchanges run (one per link-up).
    pub(crate) catchup_runs: Counter,
    /// Catch-up bytes (summaries and the entries they asked for), by direction.
    pub(crate) catchup_bytes: Family<OneLabel, Counter>,
    /// The series of `commands` and `command_seconds` once first used (a handle shares the
    /// family's series), so a command costs no label hashing or family lock; a series still
    /// appears only once used.
    command_counts: [[OnceLock<Counter>; CommandResult::COUNT]; CommandKind::COUNT],
    /// `command_seconds` by kind, the same way.
    command_latency: [OnceLock<Histogram>; CommandKind::COUNT],
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            commands: Family::default(),
            command_seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.000_025, 2.0, 18))
            }),
            catchup_runs: Counter::default(),
            catchup_bytes: Family::default(),
            command_counts: Default::default(),
            command_latency: Default::default(),
        }
    }
}

impl Metrics {
    /// Counts one client command and how long it took to answer.
    pub fn observe_command(&self, kind: CommandKind, result: CommandResult, latency: Duration) {
        self.command_counts[kind as usize][result as usize]
            .get_or_init(|| {
                self.commands
                    .get_or_create(&[("kind", kind.as_str()), ("result", result.as_str())])
                    .clone()
            })
            .inc();
        self.command_latency[kind as usize]
            .get_or_init(|| {
                self.command_seconds
                    .get_or_create(&[("kind", kind.as_str())])
                    .clone()
            })
            .observe(latency.as_secs_f64());
    }

    /// Counts one catch-up exchange starting (a link came up).
    pub fn catch_up_started(&self) {
        self.catchup_runs.inc();
    }

    /// Counts catch-up bytes: `sent` true for ours, false for the neighbour's.
    pub fn catch_up_bytes(&self, sent: bool, bytes: u64) {
        let dir = if sent { "sent" } else { "received" };
        self.catchup_bytes
            .get_or_create(&[("direction", dir)])
            .inc_by(bytes);
    }
}
