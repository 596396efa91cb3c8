//! The console against a fake five-server herd whose numbers keep changing.
//!
//! Run with `cargo run --example fake` in a terminal (try it in tmux), quit with `q`.
//! Commands act on the fake: cut/restore links, stop/start servers, drop connections.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use futures::channel::mpsc;
use herd_tui::testing::sample_snapshot;
use herd_tui::{
    Backend, ConsoleOptions, FlowDir, FlowItem, FlowKind, HerdSnapshot, LinkState, OperatorCommand,
};

/// Frames per second of the tick thread.
const FPS: u32 = 10;

/// The simulated herd.
struct Sim {
    /// The herd as it is now.
    snap: HerdSnapshot,
    /// When the simulation last moved.
    last: Instant,
    /// Flow items not yet drained.
    flow: VecDeque<FlowItem>,
    /// xorshift state for the fake traffic.
    rng: u64,
}

impl Sim {
    fn random(&mut self, n: u64) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % n.max(1)
    }

    /// Move time forward: uptimes grow, links reconnect, clients send updates that flood.
    fn advance(&mut self) {
        let dt = self.last.elapsed();
        self.last = Instant::now();
        for s in self.snap.servers.iter_mut().filter(|s| s.running) {
            s.uptime += dt;
            for c in &mut s.connections {
                c.age += dt;
                c.idle += dt;
            }
            for p in &mut s.peers {
                p.since += dt;
            }
        }
        // Connecting links come up after about two seconds (at 10 fps) if both ends run.
        let running: Vec<String> = self.running();
        for i in 0..self.snap.links.len() {
            let lucky = self.random(20) == 0;
            let l = &mut self.snap.links[i];
            let both = running.contains(&l.a) && running.contains(&l.b);
            if l.state == LinkState::Connecting && both && lucky {
                l.state = LinkState::Up;
            }
            if l.state == LinkState::Down && both {
                l.state = LinkState::Connecting;
            }
        }
        self.sync_peers();
        let updates = self.random(6);
        for _ in 0..updates {
            self.client_update();
        }
    }

    fn running(&self) -> Vec<String> {
        let running = self.snap.servers.iter().filter(|s| s.running);
        running.map(|s| s.name.clone()).collect()
    }

    /// One IAMAT at a random running server, replied to and flooded over its links up.
    fn client_update(&mut self) {
        let running = self.running();
        if running.is_empty() {
            return;
        }
        let server = running[self.random(running.len() as u64) as usize].clone();
        let client = format!("client{}.example", self.random(30));
        let port = 50_000 + self.random(900);
        let line = format!("IAMAT {client} +34.068930-118.445127 1520023934.918963997");
        let at = format!("AT {server} +0.26 {client} +34.068930-118.445127 1520023934.918963997");
        self.push(
            &server,
            FlowDir::In,
            FlowKind::Client,
            &format!("127.0.0.1:{port}"),
            &line,
        );
        self.push(
            &server,
            FlowDir::Out,
            FlowKind::Reply,
            &format!("127.0.0.1:{port}"),
            &at,
        );
        let mut sent = 0;
        let links: Vec<(String, String)> = self
            .snap
            .links
            .iter_mut()
            .filter(|l| l.state == LinkState::Up && (l.a == server || l.b == server))
            .map(|l| {
                l.flows += 1;
                (l.a.clone(), l.b.clone())
            })
            .collect();
        for (a, b) in links {
            let other = if a == server { b } else { a };
            self.push(&server, FlowDir::Out, FlowKind::Flood, &other, &at);
            self.push(&other, FlowDir::In, FlowKind::Flood, &server, &at);
            self.count_flood(&server, &other);
            sent += 1;
        }
        if let Some(s) = self.snap.servers.iter_mut().find(|s| s.name == server) {
            s.lines_in += 1;
            s.lines_out += 1 + sent;
            s.bytes_in += line.len() as u64 + 1;
            s.bytes_out += (at.len() as u64 + 1) * (1 + sent);
            s.floods_sent += sent;
        }
    }

    /// Count one flood from `from` to `to` on both ends.
    fn count_flood(&mut self, from: &str, to: &str) {
        for s in &mut self.snap.servers {
            let (mine, theirs) = if s.name == from {
                (true, to)
            } else if s.name == to {
                (false, from)
            } else {
                continue;
            };
            if !mine {
                s.lines_in += 1;
                s.floods_received += 1;
            }
            if let Some(p) = s.peers.iter_mut().find(|p| p.name == theirs) {
                if mine {
                    p.sent += 1;
                } else {
                    p.received += 1;
                }
                p.heartbeat_age = Some(Duration::from_millis(p.sent % 900));
                p.rtt = Some(Duration::from_micros(350 + p.received % 800));
            }
        }
    }

    fn push(&mut self, server: &str, dir: FlowDir, kind: FlowKind, peer: &str, text: &str) {
        self.flow.push_back(FlowItem {
            at: SystemTime::now(),
            server: server.to_owned(),
            dir,
            kind,
            peer: peer.to_owned(),
            text: text.to_owned(),
        });
        // The fake keeps at most a few thousand undrained items, like a real bounded queue.
        while self.flow.len() > 5_000 {
            self.flow.pop_front();
        }
    }

    /// Copy each link's state to the peer rows of both ends.
    fn sync_peers(&mut self) {
        let links = self.snap.links.clone();
        for s in &mut self.snap.servers {
            for p in &mut s.peers {
                let link = links
                    .iter()
                    .find(|l| (l.a == s.name && l.b == p.name) || (l.b == s.name && l.a == p.name));
                if let Some(l) = link {
                    if p.state != l.state {
                        p.state = l.state;
                        p.since = Duration::ZERO;
                        match l.state {
                            LinkState::Up => p.queue_depth = 0,
                            LinkState::Connecting => p.reconnects += 1,
                            LinkState::Down => {
                                p.rtt = None;
                                p.last_error = Some("connection refused (os error 111)".to_owned());
                            }
                            LinkState::Cut => {
                                p.rtt = None;
                                p.last_error = Some("cut by operator".to_owned());
                            }
                        }
                    }
                }
            }
        }
    }

    fn set_link(
        &mut self,
        a: &str,
        b: &str,
        from: &[LinkState],
        to: LinkState,
    ) -> Result<String, String> {
        let link = self
            .snap
            .links
            .iter_mut()
            .find(|l| (l.a == a && l.b == b) || (l.a == b && l.b == a));
        match link {
            None => Err(format!("no link {a}-{b}")),
            Some(l) if !from.contains(&l.state) => Err(format!("link {a}-{b} is {}", l.state)),
            Some(l) => {
                l.state = to;
                self.sync_peers();
                Ok(format!("link {a}-{b} is now {to}"))
            }
        }
    }

    fn set_running(&mut self, name: &str, running: bool) -> Result<String, String> {
        let Some(s) = self.snap.servers.iter_mut().find(|s| s.name == name) else {
            return Err(format!("no server {name}"));
        };
        if s.running == running {
            return Err(format!(
                "{name} is already {}",
                if running { "running" } else { "stopped" }
            ));
        }
        s.running = running;
        s.uptime = Duration::ZERO;
        s.connections.clear();
        for l in &mut self.snap.links {
            if (l.a == name || l.b == name) && l.state != LinkState::Cut {
                l.state = if running {
                    LinkState::Connecting
                } else {
                    LinkState::Down
                };
            }
        }
        self.sync_peers();
        Ok(format!(
            "{name} {}",
            if running { "started" } else { "stopped" }
        ))
    }
}

/// A [`Backend`] over the simulation.
struct FakeBackend(Mutex<Sim>);

impl FakeBackend {
    fn lock(&self) -> MutexGuard<'_, Sim> {
        // A panic while holding the lock only leaves fake numbers half-updated.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Backend for FakeBackend {
    fn snapshot(&self) -> HerdSnapshot {
        let mut sim = self.lock();
        sim.advance();
        sim.snap.clone()
    }

    fn drain_flow(&self, max: usize) -> Vec<FlowItem> {
        let mut sim = self.lock();
        let n = sim.flow.len().min(max);
        sim.flow.drain(..n).collect()
    }

    fn command(&self, cmd: OperatorCommand) -> Result<String, String> {
        let mut sim = self.lock();
        match cmd {
            OperatorCommand::DropConnection { server, id } => {
                let s = sim.snap.servers.iter_mut().find(|s| s.name == server);
                let conns = s.map(|s| &mut s.connections).ok_or("no such server")?;
                let before = conns.len();
                conns.retain(|c| c.id != id);
                if conns.len() < before {
                    Ok(format!("dropped connection {id} on {server}"))
                } else {
                    Err(format!("no connection {id} on {server}"))
                }
            }
            OperatorCommand::CutLink { a, b } => sim.set_link(
                &a,
                &b,
                &[LinkState::Up, LinkState::Connecting, LinkState::Down],
                LinkState::Cut,
            ),
            OperatorCommand::RestoreLink { a, b } => {
                sim.set_link(&a, &b, &[LinkState::Cut], LinkState::Connecting)
            }
            OperatorCommand::SetLogLevel(level) => {
                for s in &mut sim.snap.servers {
                    s.log_level = level.clone();
                }
                Ok(format!("log level is now {level}"))
            }
            OperatorCommand::StopServer(name) => sim.set_running(&name, false),
            OperatorCommand::StartServer(name) => sim.set_running(&name, true),
        }
    }

    fn demo(&self) -> bool {
        true
    }
}

fn main() -> std::io::Result<()> {
    let backend = Arc::new(FakeBackend(Mutex::new(Sim {
        snap: sample_snapshot(),
        last: Instant::now(),
        flow: VecDeque::new(),
        rng: 0x2545_F491_4F6C_DD1D,
    })));
    // The caller owns the timer: a plain thread ticking into a channel of one
    // (a tick is skipped, not queued, when the console is still drawing).
    let (mut tx, ticks) = mpsc::channel::<()>(1);
    thread::spawn(move || loop {
        thread::sleep(Duration::from_secs(1) / FPS);
        if let Err(err) = tx.try_send(()) {
            if err.is_disconnected() {
                break;
            }
        }
    });
    let opts = ConsoleOptions {
        fps: FPS,
        title: "herd".to_owned(),
    };
    futures::executor::block_on(herd_tui::run(backend, ticks, opts))
}
