//! Prometheus metrics of one server, built with `prometheus-client`, served by [`http`].
//!
//! Most series are read at scrape time from what the server already counts for the console
//! ([`collect::ServerCollector`]: connections, links, table, Places, the store, dropped log
//! bytes), so the hot paths pay nothing for them. What nothing counted before is counted by
//! [`Metrics`], whose methods the connection and link code call: commands by kind and result
//! with their latency, and catch-up runs and bytes.
//!
//! Every series is named `herd_*` and carries a `server` label.

pub mod collect;
pub mod http;

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::net::Server;
use crate::store::StoreStats;

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
    commands: Family<CommandLabels, Counter>,
    /// Time from a command's line being read to its reply being ready, by kind.
    command_seconds: Family<OneLabel, Histogram>,
    /// Catch-up exchanges run (one per link-up).
    catchup_runs: Counter,
    /// Catch-up bytes (summaries and the entries they asked for), by direction.
    catchup_bytes: Family<OneLabel, Counter>,
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
        }
    }
}

impl Metrics {
    /// Counts one client command and how long it took to answer.
    pub fn observe_command(&self, kind: CommandKind, result: CommandResult, latency: Duration) {
        self.commands
            .get_or_create(&[("kind", kind.as_str()), ("result", result.as_str())])
            .inc();
        self.command_seconds
            .get_or_create(&[("kind", kind.as_str())])
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

/// Everything the endpoint of one server shows.
pub struct Sources {
    /// The server, read at scrape time.
    pub server: Arc<Server>,
    /// The counters the connection and link tasks feed.
    pub hot: Arc<Metrics>,
    /// The store's counters, when the server keeps a data folder.
    pub store: Option<Arc<StoreStats>>,
}

/// The registry of one server: its hot-path families and a collector over its state.
pub fn registry(sources: Sources) -> Registry {
    let name = sources.server.name.to_string();
    let mut r = Registry::with_prefix_and_labels(
        "herd",
        [(
            std::borrow::Cow::Borrowed("server"),
            std::borrow::Cow::Owned(name),
        )]
        .into_iter(),
    );
    register_hot(&mut r, &sources.hot);
    r.register_collector(Box::new(collect::ServerCollector {
        server: sources.server,
        store: sources.store,
    }));
    r
}

/// Registers the families the hot paths feed.
fn register_hot(r: &mut Registry, hot: &Metrics) {
    r.register(
        "commands",
        "Client commands by kind (iamat, whatsat, invalid) and result (ok, refused, not_durable)",
        hot.commands.clone(),
    );
    r.register(
        "command_seconds",
        "Time from reading a client command to its reply being ready, by kind",
        hot.command_seconds.clone(),
    );
    r.register(
        "catchup_runs",
        "Catch-up exchanges run with neighbours (one per link-up)",
        hot.catchup_runs.clone(),
    );
    r.register(
        "catchup_bytes",
        "Catch-up bytes (summaries and the entries they asked for), by direction",
        hot.catchup_bytes.clone(),
    );
}

/// The registry in the Prometheus text format (version 0.0.4).
pub fn render(registry: &Registry) -> String {
    let mut out = String::with_capacity(8 * 1024);
    // Writing into a String cannot fail; an encoder error would be a bug in a collector.
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, registry) {
        out.push_str(&format!("# encoding failed: {e}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_counted_by_kind_and_result() {
        let m = Metrics::default();
        m.observe_command(
            CommandKind::IAmAt,
            CommandResult::Ok,
            Duration::from_micros(80),
        );
        m.observe_command(
            CommandKind::IAmAt,
            CommandResult::Ok,
            Duration::from_micros(90),
        );
        m.observe_command(
            CommandKind::IAmAt,
            CommandResult::NotDurable,
            Duration::from_millis(3),
        );
        m.catch_up_started();
        m.catch_up_bytes(true, 1200);
        let mut r = Registry::with_prefix("herd");
        register_hot(&mut r, &m);
        let text = render(&r);
        for want in [
            "herd_commands_total{kind=\"iamat\",result=\"ok\"} 2",
            "herd_commands_total{kind=\"iamat\",result=\"not_durable\"} 1",
            "herd_command_seconds_count{kind=\"iamat\"} 3",
            "herd_catchup_runs_total 1",
            "herd_catchup_bytes_total{direction=\"sent\"} 1200",
        ] {
            assert!(text.contains(want), "{want} in\n{text}");
        }
    }
}
