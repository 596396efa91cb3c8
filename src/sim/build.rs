//! Building a run: the topology, the herd's settings (a config's when there is one), the
//! servers with their real nodes and link settings, the clients and the fault schedule.

use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

use super::check::Expect;
use super::clients::Clients;
use super::disk::Disk;
use super::faults;
use super::server::{Dialer, Peer, Server};
use super::topology::{self, Topology};
use super::trace::Trace;
use super::track::{Ctx, Tracker};
use super::world::{Event, Slot, World};
use super::{Options, Shape};
use crate::config::Config;
use crate::link::Settings;
use crate::node::{Node, Tree};
use crate::outbox::Outbox;
use crate::owner;

/// The herd secret of every simulated run (the MACs are computed as in a real herd).
const SECRET: &[u8] = b"simulated herd secret, 32+ bytes long";

/// Seeds of the separate random sources, so that changing one concern (say, the loss rate)
/// leaves the others' draws (the topology, the clients, the faults) as they were.
fn seeds(seed: u64) -> [u64; 4] {
    let mut r = fastrand::Rng::with_seed(seed);
    [r.u64(..), r.u64(..), r.u64(..), r.u64(..)]
}

/// The topology a run asks for, and the config it comes from (if it does).
fn topology(opts: &Options, rng: &mut fastrand::Rng) -> Result<(Topology, Option<Config>), String> {
    let n = opts.servers;
    Ok(match &opts.shape {
        Shape::Ring { chords } => (topology::ring(n, chords.unwrap_or(n / 2), rng), None),
        Shape::Regular { degree } => (topology::regular(n, *degree, rng)?, None),
        Shape::Grid => (topology::grid(n), None),
        Shape::Classic(year) => {
            let (t, cfg) = Topology::classic(year)?;
            (t, Some(cfg))
        }
        Shape::Config(path) => {
            let cfg = Config::load(path).map_err(|e| e.to_string())?;
            let t = Topology::from_config(&cfg, format!("the herd of {}", path.display()))?;
            (t, Some(cfg))
        }
    })
}

impl World {
    /// Builds a run: nothing has happened yet; the servers start at time 0.
    pub fn new(opts: Options) -> Result<World, String> {
        let [s_topo, s_net, s_clients, s_faults] = seeds(opts.seed);
        let mut rng_topo = fastrand::Rng::with_seed(s_topo);
        let (topo, cfg) = topology(&opts, &mut rng_topo)?;
        if topo.len() < 2 {
            return Err("a herd of at least two servers is needed".into());
        }
        if topo.diameter().is_none() {
            return Err(format!(
                "{} is not connected: its servers could never agree",
                topo.kind
            ));
        }
        let planted = match &opts.planted_bug {
            Some(name) => Some(
                topo.names
                    .iter()
                    .position(|n| **n == **name)
                    .ok_or_else(|| format!("no server {name:?} to plant the bug in"))?
                    as u32,
            ),
            None => None,
        };
        let longest = topo.names.iter().map(|n| n.len()).max().unwrap_or(0);
        let latency = topo
            .links
            .iter()
            .map(|_| opts.net.draw_latency(&mut rng_topo))
            .collect();
        let mut link_ends = vec![[(0, 0); 2]; topo.links.len()];
        for (s, adj) in topo.adj.iter().enumerate() {
            for (p, &(_, l)) in adj.iter().enumerate() {
                let side = usize::from(topo.links[l as usize].0 != s as u32);
                link_ends[l as usize][side] = (s as u32, p as u32);
            }
        }
        let span = Duration::from_secs_f64(opts.updates as f64 / opts.rate.max(1e-9));
        let mut rng_faults = fastrand::Rng::with_seed(s_faults);
        let faults = faults::schedule(&opts, topo.len(), span, &mut rng_faults);
        let n = topo.len();
        let mut ctx = Ctx {
            track: Tracker::new(n),
            planted,
            ..Ctx::default()
        };
        ctx.new_window("start".into(), Duration::ZERO, None);
        let clients = Clients::new(
            s_clients,
            opts.clients,
            opts.updates,
            opts.rate,
            opts.backwards,
            opts.ties,
        );
        let (timings, limits, store) = match cfg {
            Some(c) => (c.timings, c.limits, c.store),
            None => Default::default(),
        };
        let mut w = World {
            timings,
            max_clients: limits.max_clients,
            max_frame: crate::wire::max_frame(limits.max_line, longest),
            compact_factor: store.compact_factor,
            secret: SECRET.into(),
            latency,
            link_ends,
            slots: (0..n)
                .map(|_| Slot {
                    run: None,
                    down: None,
                    epoch: 0,
                    host_down: false,
                })
                .collect(),
            conns: Vec::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            now: Duration::ZERO,
            rng: fastrand::Rng::with_seed(s_net),
            rng_faults,
            clients,
            ctx,
            expect: Expect::default(),
            trace: Trace::new(),
            group: vec![0; n],
            faults_pending: faults.len() as u32,
            faults,
            done: false,
            settled_at: None,
            scratch: Vec::new(),
            pool: Vec::new(),
            topo,
            opts,
        };
        for s in 0..n as u32 {
            let server = w.new_server(s);
            let peers = server.peers.len() as u32;
            w.slots[s as usize].run = Some(server);
            for p in 0..peers {
                w.redial(s, p);
            }
        }
        for i in 0..w.faults.len() {
            let at = w.faults[i].0;
            w.at(at, Event::Fault(i as u32));
        }
        if w.clients.total > 0 {
            let gap = w.clients.gap();
            w.at(gap, Event::Client);
        }
        w.at(span, Event::Settle);
        Ok(w)
    }

    /// True when server `s` keeps a data folder that a restart may read back: the run keeps
    /// data folders, and `s` crashes in it. A data folder nothing ever reads is not simulated:
    /// no step could observe it, and at a thousand servers it would cost a third of the memory
    /// and of the time.
    fn crashes(&self, s: u32) -> bool {
        self.opts.data
            && self.faults.iter().any(
                |(_, f)| matches!(f, super::faults::Fault::Crash { server, .. } if *server == s),
            )
    }

    /// A fresh run of server `s`: a new incarnation, an empty table, an empty data folder when
    /// it keeps one (see [`World::crashes`]), every neighbour down and not dialed yet.
    pub fn new_server(&mut self, s: u32) -> Server {
        let names = &self.topo.names;
        let name = names[s as usize].clone();
        let t = &self.timings;
        let settings = Arc::new(Settings {
            name: name.clone(),
            incarnation: self.rng.u64(..),
            secret: self.secret.clone(),
            heartbeat: Duration::from_millis(t.heartbeat_ms),
            silence: Duration::from_millis(t.peer_timeout_ms),
            handshake: Duration::from_millis(t.handshake_timeout_ms),
            max_frame: self.max_frame,
            resync: Duration::from_millis(t.resync_ms),
        });
        let adj = &self.topo.adj[s as usize];
        let neighbours: Vec<Arc<str>> = adj
            .iter()
            .map(|&(m, _)| names[m as usize].clone())
            .collect();
        // Small herds send updates on spanning trees, as `herd run` does (`Tree::plan` says
        // which; a large one is refused before anything is worked out).
        let tree = if names.len() <= crate::wire::MAX_SEEN {
            let servers: Vec<&str> = names.iter().map(|n| &**n).collect();
            let links: Vec<(&str, &str)> = (self.topo.links.iter())
                .map(|&(a, b)| (&*names[a as usize], &*names[b as usize]))
                .collect();
            Tree::plan(&name, &neighbours, &servers, &links)
        } else {
            None
        };
        let node = Node::new(name.clone(), neighbours, self.max_clients).with_tree(tree);
        let peers = adj
            .iter()
            .map(|&(m, link)| Peer {
                server: m,
                link,
                we_own: owner::owns(&name, &names[m as usize]),
                outbox: Outbox::new(),
                live: None,
                incarnation: None,
                dialer: Dialer::new(),
                dirty: false,
            })
            .collect();
        Server {
            index: s,
            node,
            settings,
            peers,
            disk: self
                .crashes(s)
                .then(|| Disk::new(self.opts.fsync, self.compact_factor)),
            generation: 0,
        }
    }
}
