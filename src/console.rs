//! The bridge between the servers and the console crate (`tui/`).
//!
//! The console knows nothing of sockets or of this crate: it asks a [`herd_tui::Backend`] for
//! snapshots and flow items, and sends back operator commands. This module implements that
//! trait over one server (`herd run NAME --console`) or a whole in-process herd (`herd demo`),
//! reading counters and subscribing to events; it changes server state only when the operator
//! sends a command.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use herd_tui::model::{self as m, FlowDir, FlowItem, FlowKind, OperatorCommand};

use crate::events::{self, Dir, Event, EventKind};
use crate::herd::LocalHerd;
use crate::net::{PeerLink, Server, Stop};
use crate::protocol::parse_at;
use crate::sync::lock;
use crate::{logging, rt};

/// Most flow items taken per frame.
const FLOW_PER_FRAME: usize = 1000;

/// Most client rows a snapshot carries per server (the newest reports).
const CLIENT_ROWS: usize = 1000;

/// What the console watches.
enum Source {
    /// One server in this process; its neighbours are remote.
    Single(Arc<Server>),
    /// A whole herd in this process.
    Herd(Arc<LocalHerd>),
}

/// Event subscriptions, following servers across restarts.
struct Taps {
    /// Server name -> (the instance subscribed to, its events).
    subs: HashMap<String, (Arc<Server>, async_channel::Receiver<Event>)>,
    /// Connection id -> remote address, per server, to label client lines.
    addrs: HashMap<(String, u64), String>,
}

/// The console's view of this process.
pub struct Bridge {
    /// What is watched.
    source: Source,
    /// Event subscriptions.
    taps: Mutex<Taps>,
    /// Updates sent per (server, neighbour), kept across restarts of the server, so a link's
    /// flow count never goes back when one end stops or starts again.
    sent: Mutex<HashMap<(String, String), Counted>>,
}

/// A counter of a server that restarts from zero with each instance, made cumulative.
#[derive(Default)]
struct Counted {
    /// The incarnation of the instance last read.
    incarnation: u64,
    /// Its count when last read.
    last: u64,
    /// What the earlier instances counted.
    before: u64,
}

impl Counted {
    /// Everything counted so far, given the running instance's incarnation and count (none
    /// while the server is stopped).
    fn total(&mut self, now: Option<(u64, u64)>) -> u64 {
        if let Some((incarnation, count)) = now {
            if incarnation != self.incarnation {
                self.before += self.last;
                self.incarnation = incarnation;
            }
            self.last = count;
        }
        self.before + self.last
    }
}

impl Bridge {
    fn servers(&self) -> Vec<(String, Option<Arc<Server>>)> {
        match &self.source {
            Source::Single(s) => vec![(s.name.to_string(), Some(s.clone()))],
            Source::Herd(h) => h
                .names()
                .into_iter()
                .map(|n| {
                    let s = h.server(&n);
                    (n, s)
                })
                .collect(),
        }
    }

    fn new(source: Source) -> Bridge {
        Bridge {
            source,
            taps: Mutex::new(Taps {
                subs: HashMap::new(),
                addrs: HashMap::new(),
            }),
            sent: Mutex::new(HashMap::new()),
        }
    }
}

fn link_state(s: events::LinkState) -> m::LinkState {
    match s {
        events::LinkState::Up => m::LinkState::Up,
        events::LinkState::Connecting => m::LinkState::Connecting,
        events::LinkState::Down => m::LinkState::Down,
        events::LinkState::Cut => m::LinkState::Cut,
    }
}

/// A stopped server as the console shows it.
fn stopped(name: &str, listen: String) -> m::ServerSnapshot {
    m::ServerSnapshot {
        name: name.to_string(),
        listen,
        running: false,
        remote: false,
        uptime: Duration::ZERO,
        clients_known: 0,
        lines_in: 0,
        lines_out: 0,
        bytes_in: 0,
        bytes_out: 0,
        floods_sent: 0,
        floods_received: 0,
        floods_ignored: 0,
        connections: Vec::new(),
        peers: Vec::new(),
        clients: Vec::new(),
        log_level: logging::level().to_string(),
    }
}

/// Everything the console shows of one running server.
pub fn server_snapshot(s: &Server) -> m::ServerSnapshot {
    let now = SystemTime::now();
    let now_ns = crate::protocol::Timestamp::from_system_time(now).0;
    let mut updates = s.all_updates();
    let newest_first = |u: &crate::state::Update| std::cmp::Reverse(u.time);
    if updates.len() > CLIENT_ROWS {
        updates.select_nth_unstable_by_key(CLIENT_ROWS, newest_first);
        updates.truncate(CLIENT_ROWS);
    }
    updates.sort_by_key(newest_first);
    let clients = updates
        .iter()
        .filter_map(|u| {
            let at = parse_at(&u.at)?;
            Some(m::ClientRow {
                client: String::from_utf8_lossy(at.client).into_owned(),
                origin: String::from_utf8_lossy(at.server).into_owned(),
                diff: String::from_utf8_lossy(at.diff_raw).into_owned(),
                location: String::from_utf8_lossy(at.location_raw).into_owned(),
                age: Duration::from_nanos(u64::try_from(now_ns - u.time.0).unwrap_or(0)),
            })
        })
        .collect();
    let connections = s
        .connections()
        .iter()
        .map(|c| m::ConnSnapshot {
            id: c.id,
            addr: c.addr.to_string(),
            kind: match c.kind() {
                events::ConnKind::Client => m::ConnKind::Client,
                events::ConnKind::Peer => m::ConnKind::Peer,
            },
            age: c.opened.elapsed(),
            idle: c.idle(),
            lines_in: c.lines_in.load(Relaxed),
            lines_out: c.lines_out.load(Relaxed),
            bytes_in: c.bytes_in.load(Relaxed),
            bytes_out: c.bytes_out.load(Relaxed),
            last_command: c.last().as_str().to_string(),
        })
        .collect();
    let peers = s
        .peers
        .iter()
        .map(|p| {
            let st = p.status();
            m::PeerSnapshot {
                name: p.name.to_string(),
                state: link_state(st.state),
                since: st.since.elapsed(),
                rtt: st.rtt,
                heartbeat_age: st.last_heard.map(|t| t.elapsed()),
                sent: p.sent.load(Relaxed),
                received: p.received.load(Relaxed),
                ignored: p.ignored.load(Relaxed),
                queue_depth: p.queue_depth(),
                reconnects: p.reconnects.load(Relaxed),
                last_error: st.last_error,
                incarnation: st.incarnation,
            }
        })
        .collect();
    let st = &s.stats;
    m::ServerSnapshot {
        name: s.name.to_string(),
        listen: s.local_addr.to_string(),
        running: true,
        remote: false,
        uptime: s.started.elapsed(),
        clients_known: s.clients_known(),
        lines_in: st.lines_in.load(Relaxed),
        lines_out: st.lines_out.load(Relaxed),
        bytes_in: st.bytes_in.load(Relaxed),
        bytes_out: st.bytes_out.load(Relaxed),
        floods_sent: st.floods_sent.load(Relaxed),
        floods_received: st.floods_received.load(Relaxed),
        floods_ignored: st.floods_ignored.load(Relaxed),
        connections,
        peers,
        clients,
        log_level: logging::level().to_string(),
    }
}

impl herd_tui::Backend for Bridge {
    fn snapshot(&self) -> m::HerdSnapshot {
        let servers = self.servers();
        let mut snaps: Vec<m::ServerSnapshot> = servers
            .iter()
            .map(|(name, s)| match s {
                Some(s) => server_snapshot(s),
                None => {
                    let listen = match &self.source {
                        Source::Herd(h) => h.addr(name).map(|a| a.to_string()).unwrap_or_default(),
                        Source::Single(_) => String::new(),
                    };
                    stopped(name, listen)
                }
            })
            .collect();
        let mut links = Vec::new();
        match &self.source {
            Source::Herd(h) => {
                let mut sent = lock(&self.sent);
                for (a, b) in &h.config.links {
                    // Each running end: its server's incarnation and its side of the link.
                    let side = |x: &str, y: &str| {
                        let s = h.server(x)?;
                        s.peer(y).map(|p| (s.incarnation, p.clone()))
                    };
                    let (pa, pb) = (side(a, b), side(b, a));
                    let mut total = |x: &str, y: &str, p: &Option<(u64, Arc<PeerLink>)>| {
                        let now = p.as_ref().map(|(i, p)| (*i, p.sent.load(Relaxed)));
                        let key = (x.to_string(), y.to_string());
                        sent.entry(key).or_default().total(now)
                    };
                    let flows = total(a, b, &pa) + total(b, a, &pb);
                    let states: Vec<events::LinkState> = [&pa, &pb]
                        .iter()
                        .filter_map(|p| p.as_ref().map(|(_, p)| p.status().state))
                        .collect();
                    let state = if states.contains(&events::LinkState::Cut) {
                        m::LinkState::Cut
                    } else if states.len() == 2
                        && states.iter().all(|s| *s == events::LinkState::Up)
                    {
                        m::LinkState::Up
                    } else if states.contains(&events::LinkState::Connecting) {
                        m::LinkState::Connecting
                    } else {
                        m::LinkState::Down
                    };
                    links.push(m::LinkSnapshot {
                        a: a.clone(),
                        b: b.clone(),
                        state,
                        flows,
                    });
                }
            }
            Source::Single(s) => {
                // Remote neighbours: shown as running while their link is up.
                for p in &s.peers {
                    let st = link_state(p.status().state);
                    let mut remote = stopped(&p.name, p.addr.to_string());
                    remote.running = st == m::LinkState::Up;
                    remote.remote = true;
                    snaps.push(remote);
                    links.push(m::LinkSnapshot {
                        a: s.name.to_string(),
                        b: p.name.to_string(),
                        state: st,
                        flows: p.sent.load(Relaxed) + p.received.load(Relaxed),
                    });
                }
            }
        }
        m::HerdSnapshot {
            servers: snaps,
            links,
        }
    }

    fn drain_flow(&self, max: usize) -> Vec<FlowItem> {
        // At most this many items a frame: a busy server's feed becomes a sample (the rest are
        // dropped, cheaply, at the full channel) instead of costing the server its CPU.
        let max = max.min(FLOW_PER_FRAME);
        let mut taps = lock(&self.taps);
        let mut out = Vec::new();
        for (name, server) in self.servers() {
            let Some(server) = server else {
                taps.subs.remove(&name);
                continue;
            };
            let fresh = taps
                .subs
                .get(&name)
                .is_none_or(|(s, _)| !Arc::ptr_eq(s, &server));
            if fresh {
                let rx = server.events.subscribe(2 * FLOW_PER_FRAME);
                taps.subs.insert(name.clone(), (server, rx));
            }
            let Some((_, rx)) = taps.subs.get(&name) else {
                continue;
            };
            let rx = rx.clone();
            while out.len() < max {
                let Ok(ev) = rx.try_recv() else { break };
                if let Some(item) = flow_item(&mut taps.addrs, ev) {
                    out.push(item);
                }
            }
        }
        // Servers are drained one after another: put the batch back in time order.
        out.sort_by_key(|f| f.at);
        out
    }

    fn command(&self, cmd: OperatorCommand) -> Result<String, String> {
        match (&self.source, cmd) {
            (_, OperatorCommand::SetLogLevel(level)) => {
                let l: log::LevelFilter = level
                    .parse()
                    .map_err(|_| format!("unknown log level {level:?}"))?;
                logging::set_level(l);
                log::warn!("operator set the log level to {l}");
                Ok(format!("log level is now {l}"))
            }
            (_, OperatorCommand::DropConnection { server, id }) => {
                let s = self
                    .servers()
                    .into_iter()
                    .find(|(n, _)| *n == server)
                    .and_then(|(_, s)| s)
                    .ok_or_else(|| format!("{server} is not running"))?;
                if s.drop_connection(id) {
                    Ok(format!("dropped connection {id} on {server}"))
                } else {
                    Err(format!("no connection {id} on {server}"))
                }
            }
            (Source::Single(s), OperatorCommand::CutLink { a, b }) => single_link(s, &a, &b, true),
            (Source::Single(s), OperatorCommand::RestoreLink { a, b }) => {
                single_link(s, &a, &b, false)
            }
            (Source::Herd(h), OperatorCommand::CutLink { a, b }) => {
                if h.cut_link(&a, &b) {
                    Ok(format!("cut link {a}-{b}"))
                } else {
                    Err(format!("no link {a}-{b}"))
                }
            }
            (Source::Herd(h), OperatorCommand::RestoreLink { a, b }) => {
                if h.restore_link(&a, &b) {
                    Ok(format!("restored link {a}-{b}"))
                } else {
                    Err(format!("no link {a}-{b}"))
                }
            }
            (Source::Herd(h), OperatorCommand::StopServer(name)) => {
                if h.server(&name).is_none() {
                    return Err(format!("{name} is not running"));
                }
                let h = h.clone();
                let n = name.clone();
                rt::spawn(async move {
                    h.stop_server(&n).await;
                });
                Ok(format!("stopping {name}"))
            }
            (Source::Herd(h), OperatorCommand::StartServer(name)) => {
                if h.server(&name).is_some() {
                    return Err(format!("{name} is already running"));
                }
                let h = h.clone();
                let n = name.clone();
                rt::spawn(async move {
                    if let Err(e) = h.start_server(&n).await {
                        log::error!("cannot restart {n}: {e}");
                    }
                });
                Ok(format!("starting {name}"))
            }
            (
                Source::Single(_),
                OperatorCommand::StopServer(_) | OperatorCommand::StartServer(_),
            ) => Err("stopping and starting servers is for the demo".into()),
        }
    }

    fn demo(&self) -> bool {
        matches!(self.source, Source::Herd(_))
    }
}

/// Cuts (or restores) this server's link on the `a`-`b` line: the other end is a neighbour.
fn single_link(s: &Server, a: &str, b: &str, cut: bool) -> Result<String, String> {
    let other = if *s.name == *a { b } else { a };
    let p = s
        .peer(other)
        .ok_or_else(|| format!("{other} is not a neighbour of {}", s.name))?;
    let what = if cut {
        p.cut();
        "cut"
    } else {
        p.restore();
        "restored"
    };
    log::warn!(target: &s.log_target, "operator {what} the link to {other}");
    Ok(format!("{what} link {}-{other}", s.name))
}

/// Turns a server event into a flow item (connection open/close become link-kind items only
/// for neighbours; client connections are remembered to label their lines).
fn flow_item(addrs: &mut HashMap<(String, u64), String>, ev: Event) -> Option<FlowItem> {
    let server = ev.server.to_string();
    let (dir, kind, peer, text) = match ev.kind {
        EventKind::Opened { id, addr } => {
            addrs.insert((server, id), addr.to_string());
            return None;
        }
        EventKind::Closed { id, .. } => {
            addrs.remove(&(server, id));
            return None;
        }
        EventKind::Line { id, dir, text } => {
            let peer = addrs
                .get(&(server.clone(), id))
                .cloned()
                .unwrap_or_else(|| format!("conn {id}"));
            match dir {
                Dir::In => (FlowDir::In, FlowKind::Client, peer, text),
                Dir::Out => (FlowDir::Out, FlowKind::Reply, peer, text),
            }
        }
        EventKind::Link {
            peer,
            state,
            reason,
        } => {
            let text = match reason {
                Some(r) => format!("link {} ({r})", link_state(state)),
                None => format!("link {}", link_state(state)),
            };
            (FlowDir::In, FlowKind::Link, peer.to_string(), text)
        }
        EventKind::Flood {
            peer,
            dir,
            at,
            applied,
        } => {
            let mut text = String::from_utf8_lossy(&at).into_owned();
            if dir == Dir::In && !applied {
                text.push_str("  (ignored: not newer)");
            }
            let d = if dir == Dir::In {
                FlowDir::In
            } else {
                FlowDir::Out
            };
            (d, FlowKind::Flood, peer.to_string(), text)
        }
    };
    Some(FlowItem {
        at: ev.at,
        server,
        dir,
        kind,
        peer,
        text,
    })
}

/// A tick every `1/fps` seconds, from the runtime seam's timer.
fn ticks(fps: u32) -> impl futures::Stream<Item = ()> + Unpin {
    let period = Duration::from_secs_f64(1.0 / f64::from(fps.max(1)));
    Box::pin(futures::stream::unfold((), move |()| async move {
        rt::sleep(period).await;
        Some(((), ()))
    }))
}

async fn run(bridge: Bridge, title: String, stop: Stop) -> Result<(), String> {
    let opts = herd_tui::ConsoleOptions { fps: 10, title };
    let console = std::pin::pin!(herd_tui::run(Arc::new(bridge), ticks(opts.fps), opts));
    let stop = std::pin::pin!(stop.wait());
    match futures::future::select(console, stop).await {
        futures::future::Either::Left((res, _)) => res.map_err(|e| format!("console: {e}")),
        futures::future::Either::Right(_) => Ok(()),
    }
}

/// Runs the console over one server until `q`, Ctrl-C or a signal.
pub async fn run_single(server: Arc<Server>, stop: Stop) -> Result<(), String> {
    // The address is in the Servers table; the tab bar keeps its room for the tabs.
    let title = format!("herd {}", server.name);
    run(Bridge::new(Source::Single(server)), title, stop).await
}

/// Runs the console over a whole in-process herd until `q`, Ctrl-C or a signal.
pub async fn run_herd(herd: Arc<LocalHerd>, title: &str, stop: Stop) -> Result<(), String> {
    run(Bridge::new(Source::Herd(herd)), title.to_string(), stop).await
}

/// The bridge over a herd, for tests that drive the console model without a terminal.
pub fn herd_backend(herd: Arc<LocalHerd>) -> impl herd_tui::Backend {
    Bridge::new(Source::Herd(herd))
}

#[cfg(test)]
mod tests {
    use super::Counted;

    #[test]
    fn a_counter_stays_cumulative_across_stops_and_restarts() {
        let mut c = Counted::default();
        assert_eq!(c.total(Some((7, 10))), 10);
        assert_eq!(c.total(Some((7, 15))), 15);
        // Stopped: what it had counted stays.
        assert_eq!(c.total(None), 15);
        // A new instance counts from zero again.
        assert_eq!(c.total(Some((9, 0))), 15);
        assert_eq!(c.total(Some((9, 4))), 19);
        assert_eq!(c.total(None), 19);
    }
}
