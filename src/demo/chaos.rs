//! `--chaos`: stop a server, cut a link, bring the server back, heal the link.
//!
//! Each step waits for what the previous one should have caused, never for an instant on the
//! clock: the herd must have answered updates before a server is stopped, a stopped server must
//! have missed updates before it returns, and the link is healed only once the returned server
//! has its other links up again. On a loaded machine the script runs slower, never out of order.
//! The console demo adds a minimum dwell per step so that a person can watch each one.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::events::LinkState;
use crate::herd::LocalHerd;

/// IAMATs the herd must answer before the first step, and between steps.
const UPDATES_PER_STEP: u64 = 3;

/// Where the script is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Waiting for every link to be up and the herd to answer updates.
    WarmUp,
    /// The victim is stopped; waiting for updates it misses.
    Stopped,
    /// The link is cut too; waiting for more updates.
    Cut,
    /// The victim runs again; waiting for its links (bar the cut one) to come up.
    Restarted,
    /// The link is restored; waiting for it to come up.
    Healed,
    /// Everything is back.
    Done,
}

/// One run of the script over a herd.
pub struct Chaos {
    /// The server that is stopped and restarted.
    pub victim: String,
    /// The link that is cut and healed (one that does not touch the victim when there is one).
    pub link: Option<(String, String)>,
    /// Where the script is.
    step: Step,
    /// IAMATs answered when the current step began.
    mark: u64,
    /// When the current step began (for the dwell and the report).
    since: Instant,
    /// When the script began (times in the report are relative to it).
    start: Instant,
    /// Least time each step is held (zero headless; a few seconds in the console).
    dwell: Duration,
    /// What was done, one indented line per step, for the headless report.
    pub log: String,
}

impl Chaos {
    /// A script over `herd` that stops the server at `round` (modulo the herd's size, starting
    /// in the middle) and cuts a link away from it; `dwell` is the least time per step.
    pub fn new(herd: &LocalHerd, round: usize, dwell: Duration) -> Chaos {
        let names = herd.names();
        let victim = names
            .get((names.len() / 2 + round) % names.len().max(1))
            .cloned()
            .unwrap_or_default();
        let links = &herd.config.links;
        let away: Vec<&(String, String)> = links
            .iter()
            .filter(|(a, b)| *a != victim && *b != victim)
            .collect();
        let link = match away.is_empty() {
            false => away.get(round % away.len()).map(|l| (*l).clone()),
            true => links.first().cloned(),
        };
        let now = Instant::now();
        Chaos {
            victim,
            link,
            step: Step::WarmUp,
            mark: 0,
            since: now,
            start: now,
            dwell,
            log: String::new(),
        }
    }

    /// Where the script is.
    pub fn step(&self) -> Step {
        self.step
    }

    /// Takes the next step if what it waits for has happened; `answered` counts the IAMATs the
    /// herd has answered so far. Returns the step reached.
    pub async fn advance(&mut self, herd: &LocalHerd, answered: u64) -> Step {
        if self.since.elapsed() < self.dwell {
            return self.step;
        }
        let fresh = answered >= self.mark + UPDATES_PER_STEP;
        match self.step {
            Step::WarmUp if fresh && herd.names().iter().all(|n| self.links_up(herd, n, false)) => {
                herd.stop_server(&self.victim).await;
                let note = format!("stopped {}", self.victim);
                self.next(Step::Stopped, answered, &note);
            }
            Step::Stopped if fresh => {
                let note = match &self.link {
                    Some((a, b)) if herd.cut_link(a, b) => format!("cut link {a}-{b}"),
                    _ => "no link to cut".to_string(),
                };
                self.next(Step::Cut, answered, &note);
            }
            Step::Cut if fresh => {
                let note = match herd.start_server(&self.victim).await {
                    Ok(()) => format!("restarted {}", self.victim),
                    Err(e) => format!("could not restart {}: {e}", self.victim),
                };
                self.next(Step::Restarted, answered, &note);
            }
            Step::Restarted if self.links_up(herd, &self.victim, true) => {
                let note = match &self.link {
                    Some((a, b)) if herd.restore_link(a, b) => format!("healed link {a}-{b}"),
                    _ => "no link to heal".to_string(),
                };
                self.next(Step::Healed, answered, &note);
            }
            Step::Healed => {
                let up = match &self.link {
                    Some((a, b)) => self.links_up(herd, a, false) && self.links_up(herd, b, false),
                    None => true,
                };
                if up {
                    self.next(Step::Done, answered, "every server and link is back");
                }
            }
            _ => {}
        }
        self.step
    }

    fn next(&mut self, step: Step, answered: u64, note: &str) {
        let _ = writeln!(
            self.log,
            "  {:>6.2}s  {note}",
            self.start.elapsed().as_secs_f64()
        );
        log::info!("chaos: {note}");
        self.step = step;
        self.mark = answered;
        self.since = Instant::now();
    }

    /// True when `name` runs and each of its links to a running neighbour is up; with
    /// `skip_cut`, the script's own link is left out (it is still cut).
    fn links_up(&self, herd: &LocalHerd, name: &str, skip_cut: bool) -> bool {
        let Some(server) = herd.server(name) else {
            return false;
        };
        let is_ours = |other: &str| {
            self.link
                .as_ref()
                .is_some_and(|(a, b)| (a == name && b == other) || (b == name && a == other))
        };
        server.peers.iter().all(|p| {
            herd.server(&p.name).is_none()
                || (skip_cut && is_ours(&p.name))
                || p.status().state == LinkState::Up
        })
    }
}
