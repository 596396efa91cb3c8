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

use prometheus_client::registry::Registry;
use std::sync::Arc;

use crate::net::Server;
use crate::store::StoreStats;

pub use crate::counters::{CommandKind, CommandResult, Metrics};

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
    use std::time::Duration;

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
        // Only the series used so far appear (the handles are made on first use).
        assert!(!text.contains("kind=\"whatsat\""), "{text}");
        assert!(!text.contains("result=\"refused\""), "{text}");
    }

    #[test]
    fn every_kind_and_result_lands_in_its_own_series() {
        let m = Metrics::default();
        let kinds = [
            CommandKind::IAmAt,
            CommandKind::WhatsAt,
            CommandKind::Invalid,
        ];
        let results = [
            CommandResult::Ok,
            CommandResult::Refused,
            CommandResult::NotDurable,
        ];
        for (i, kind) in kinds.into_iter().enumerate() {
            for (j, result) in results.into_iter().enumerate() {
                for _ in 0..(1 + i * 3 + j) {
                    m.observe_command(kind, result, Duration::from_micros(10));
                }
            }
        }
        let mut r = Registry::with_prefix("herd");
        register_hot(&mut r, &m);
        let text = render(&r);
        for (i, kind) in kinds.into_iter().enumerate() {
            for (j, result) in results.into_iter().enumerate() {
                let want = format!(
                    "herd_commands_total{{kind=\"{}\",result=\"{}\"}} {}",
                    kind.as_str(),
                    result.as_str(),
                    1 + i * 3 + j
                );
                assert!(text.contains(&want), "{want} in\n{text}");
            }
            let want = format!(
                "herd_command_seconds_count{{kind=\"{}\"}} {}",
                kind.as_str(),
                (1 + i * 3) * 3 + 3
            );
            assert!(text.contains(&want), "{want} in\n{text}");
        }
    }
}
