//! The series read at scrape time from what a server already counts (the same counters the
//! console shows), so serving them costs the hot paths nothing.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::events::{ConnKind, LinkState};
use crate::net::Server;
use crate::store::StoreStats;

/// Reads one server's counters, links, table, Places and store at each scrape.
pub struct ServerCollector {
    /// The server.
    pub server: Arc<Server>,
    /// Its store's counters, when it keeps a data folder.
    pub store: Option<Arc<StoreStats>>,
}

impl std::fmt::Debug for ServerCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCollector")
            .field("server", &&*self.server.name)
            .finish()
    }
}

/// One series of a family: its labels and its value.
type Row<'a, V> = (Vec<(&'static str, &'a str)>, V);

/// Encodes a counter family (`_total` is added to `name`).
fn counters(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: &[Row<'_, u64>],
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in rows {
        ConstCounter::new(*v).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

/// Encodes a gauge family.
fn gauges(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: &[Row<'_, f64>],
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in rows {
        ConstGauge::new(*v).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

fn state_name(s: LinkState) -> &'static str {
    match s {
        LinkState::Up => "up",
        LinkState::Connecting => "connecting",
        LinkState::Down => "down",
        LinkState::Cut => "cut",
    }
}

impl Collector for ServerCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.server;
        let e = &mut enc;
        let places = s.places.name();
        let info = [
            ("version", env!("CARGO_PKG_VERSION")),
            ("runtime", crate::rt::RUNTIME),
            ("places_provider", places),
        ];
        gauges(
            e,
            "info",
            "Build and setup of this server (always 1)",
            &[(info.to_vec(), 1.0)],
        )?;
        gauges(
            e,
            "uptime_seconds",
            "Seconds since this server started",
            &[(vec![], s.started.elapsed().as_secs_f64())],
        )?;
        gauges(
            e,
            "clients_known",
            "Clients in the location table",
            &[(vec![], s.clients_known() as f64)],
        )?;
        let conns = s.connections();
        let peers = conns.iter().filter(|c| c.kind() == ConnKind::Peer).count();
        gauges(
            e,
            "connections",
            "Open connections by kind (client, peer)",
            &[
                (vec![("kind", "client")], (conns.len() - peers) as f64),
                (vec![("kind", "peer")], peers as f64),
            ],
        )?;
        let st = &s.stats;
        counters(
            e,
            "client_lines",
            "Client lines by direction (in: commands, out: replies)",
            &[
                (vec![("direction", "in")], st.lines_in.load(Relaxed)),
                (vec![("direction", "out")], st.lines_out.load(Relaxed)),
            ],
        )?;
        counters(
            e,
            "client_bytes",
            "Client bytes by direction",
            &[
                (vec![("direction", "in")], st.bytes_in.load(Relaxed)),
                (vec![("direction", "out")], st.bytes_out.load(Relaxed)),
            ],
        )?;
        counters(
            e,
            "updates",
            "Updates exchanged with neighbours (sent, received, ignored: received but not newer)",
            &[
                (vec![("direction", "sent")], st.floods_sent.load(Relaxed)),
                (
                    vec![("direction", "received")],
                    st.floods_received.load(Relaxed),
                ),
                (
                    vec![("direction", "ignored")],
                    st.floods_ignored.load(Relaxed),
                ),
            ],
        )?;
        self.links(e)?;
        self.places(e, places)?;
        if let Some(store) = &self.store {
            encode_store(e, store)?;
        }
        counters(
            e,
            "log_dropped_bytes",
            "Log bytes that could not be written (disk full or failing)",
            &[(vec![], crate::logging::dropped_bytes())],
        )?;
        Ok(())
    }
}

impl ServerCollector {
    /// Per-neighbour link series.
    fn links(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let peers = &self.server.peers;
        let status: Vec<_> = peers.iter().map(|p| (p, p.status())).collect();
        let states = [
            LinkState::Up,
            LinkState::Connecting,
            LinkState::Down,
            LinkState::Cut,
        ];
        let rows: Vec<Row<'_, f64>> = status
            .iter()
            .flat_map(|(p, st)| {
                states.iter().map(move |s| {
                    (
                        vec![("neighbour", &*p.name), ("state", state_name(*s))],
                        f64::from(u8::from(st.state == *s)),
                    )
                })
            })
            .collect();
        gauges(
            e,
            "link_state",
            "Link to each neighbour: 1 for its current state (up, connecting, down, cut)",
            &rows,
        )?;
        let rtt: Vec<Row<'_, f64>> = status
            .iter()
            .filter_map(|(p, st)| Some((vec![("neighbour", &*p.name)], st.rtt?.as_secs_f64())))
            .collect();
        gauges(
            e,
            "link_rtt_seconds",
            "Round-trip time of the last PING on each link (absent until measured)",
            &rtt,
        )?;
        let heard: Vec<Row<'_, f64>> = status
            .iter()
            .filter_map(|(p, st)| {
                Some((
                    vec![("neighbour", &*p.name)],
                    st.last_heard?.elapsed().as_secs_f64(),
                ))
            })
            .collect();
        gauges(
            e,
            "link_heard_seconds",
            "Seconds since anything was heard on each link",
            &heard,
        )?;
        let queue: Vec<Row<'_, f64>> = peers
            .iter()
            .map(|p| (vec![("neighbour", &*p.name)], p.queue_depth() as f64))
            .collect();
        gauges(
            e,
            "link_queue_depth",
            "Updates waiting to be sent to each neighbour",
            &queue,
        )?;
        let updates: Vec<Row<'_, u64>> = peers
            .iter()
            .flat_map(|p| {
                [
                    ("sent", &p.sent),
                    ("received", &p.received),
                    ("ignored", &p.ignored),
                ]
                .map(|(d, n)| {
                    (
                        vec![("neighbour", &*p.name), ("direction", d)],
                        n.load(Relaxed),
                    )
                })
            })
            .collect();
        counters(
            e,
            "link_updates",
            "Updates per neighbour (sent, received, ignored: received but not newer)",
            &updates,
        )?;
        let bytes: Vec<Row<'_, u64>> = peers
            .iter()
            .flat_map(|p| {
                [("sent", &p.bytes_sent), ("received", &p.bytes_received)].map(|(d, n)| {
                    (
                        vec![("neighbour", &*p.name), ("direction", d)],
                        n.load(Relaxed),
                    )
                })
            })
            .collect();
        counters(
            e,
            "link_bytes",
            "Bytes on each neighbour's link connections, handshakes included, by direction",
            &bytes,
        )?;
        let writes: Vec<Row<'_, u64>> = peers
            .iter()
            .map(|p| (vec![("neighbour", &*p.name)], p.writes.load(Relaxed)))
            .collect();
        counters(
            e,
            "link_writes",
            "Writes on each neighbour's link connections (each carries a batch of messages)",
            &writes,
        )?;
        let frames: Vec<Row<'_, u64>> = peers
            .iter()
            .map(|p| (vec![("neighbour", &*p.name)], p.skipped.load(Relaxed)))
            .collect();
        counters(
            e,
            "link_frames_dropped",
            "Frames from each neighbour dropped for being over the link's limit",
            &frames,
        )?;
        let ups: Vec<Row<'_, u64>> = peers
            .iter()
            .map(|p| (vec![("neighbour", &*p.name)], p.reconnects.load(Relaxed)))
            .collect();
        counters(e, "link_ups", "Times each link came up", &ups)
    }

    /// Places lookups and the cache.
    fn places(&self, e: &mut DescriptorEncoder, provider: &str) -> Result<(), std::fmt::Error> {
        let answered = self.server.places.answered();
        let rows: Vec<Row<'_, u64>> = answered
            .iter()
            .map(|(status, n)| (vec![("provider", provider), ("status", *status)], *n))
            .collect();
        counters(
            e,
            "places_requests",
            "Places lookups answered, by provider and status",
            &rows,
        )?;
        if let Some(c) = self.server.places.cache_stats() {
            counters(
                e,
                "places_cache_lookups",
                "Places cache lookups (hit, miss, join: shared a request in flight)",
                &[
                    (vec![("outcome", "hit")], c.hits),
                    (vec![("outcome", "miss")], c.misses),
                    (vec![("outcome", "join")], c.joins),
                ],
            )?;
            gauges(
                e,
                "places_cache_entries",
                "Answers in the Places cache",
                &[(vec![], c.entries as f64)],
            )?;
        }
        Ok(())
    }
}

/// The store's series.
fn encode_store(e: &mut DescriptorEncoder, s: &StoreStats) -> Result<(), std::fmt::Error> {
    counters(
        e,
        "store_appends",
        "Appends to the durable log (ok, error: not in the log)",
        &[
            (vec![("result", "ok")], s.appends.load(Relaxed)),
            (vec![("result", "error")], s.append_errors.load(Relaxed)),
        ],
    )?;
    counters(
        e,
        "store_rolled_back",
        "Records removed from the log after a failed fsync (not acknowledged)",
        &[(vec![], s.rolled_back.load(Relaxed))],
    )?;
    counters(
        e,
        "store_fsyncs",
        "fsyncs of the durable log (ok, error)",
        &[
            (
                vec![("result", "ok")],
                s.fsyncs
                    .load(Relaxed)
                    .saturating_sub(s.fsync_errors.load(Relaxed)),
            ),
            (vec![("result", "error")], s.fsync_errors.load(Relaxed)),
        ],
    )?;
    let m = e.encode_descriptor(
        "store_fsync_seconds",
        "Latency of fsyncs of the durable log",
        None,
        MetricType::Histogram,
    )?;
    s.fsync_seconds.encode(m)?;
    let m = e.encode_descriptor(
        "store_fsync_batch",
        "Records made durable by one group-commit fsync",
        None,
        MetricType::Histogram,
    )?;
    s.fsync_batch.encode(m)?;
    counters(
        e,
        "store_compactions",
        "Compactions of the log into a snapshot (ok, error)",
        &[
            (vec![("result", "ok")], s.compactions.load(Relaxed)),
            (vec![("result", "error")], s.compaction_errors.load(Relaxed)),
        ],
    )
}
