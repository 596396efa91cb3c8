//! Keeping a link: each neighbour has one task that dials it. Both sides dial when the server
//! starts (a restarted server is linked as soon as both listen); after that only the owner
//! redials: at once after a link that worked drops, with exponential back-off and jitter after
//! failures or after a link that drops right after coming up (so a link that fails the same way
//! again and again costs a dial per back-off step, not a busy loop). Failures are logged as
//! the operator needs them: a neighbour that is not up yet is "waiting for", a warning only if
//! it stays down past `timings.link_down_warn_ms`, and a repeated failure once per interval
//! with a count.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::{self, Either};

use super::drive::{self, Ran};
use super::neighbour::PeerLink;
use super::{nonce, Server, TaskGuard};
use crate::backoff::backoff;
use crate::events::{ConnKind, EventKind, LinkState};
use crate::link::{End, Session};
use crate::ratelog::RateLog;
use crate::rt;

/// A repeated dial failure is logged at most once per this long.
const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// What one dial came to.
enum Dialed {
    /// It never became the link (connect failed, handshake failed, or another connection won).
    Failed(String),
    /// Another connection became the link first (the neighbour dialed too): nothing to do.
    NotNeeded,
    /// It was the link for `up_for`, then ended.
    Ended {
        /// How long it was up.
        up_for: Duration,
        /// Why it ended.
        end: End,
    },
}

/// Keeps the link to `link` until the server stops.
pub(super) async fn keep(server: Arc<Server>, link: Arc<PeerLink>, _task: TaskGuard) {
    let t = server.config.timings.clone();
    let warn_after = Duration::from_millis(t.link_down_warn_ms);
    // A link that drops sooner than this after coming up failed, as far as back-off goes.
    let stable = Duration::from_millis(t.peer_timeout_ms.max(t.backoff_max_ms));
    let changed = link.changed();
    let mut failures = 0u32;
    let mut first = true;
    let mut ever_up = false;
    let mut down_since = Instant::now();
    let mut warned = false;
    let mut log = RateLog::new(FAILURE_LOG_INTERVAL);
    while !server.stop.is_set() {
        if link.is_up() {
            ever_up = true;
            first = false;
            failures = 0;
            log.reset();
        }
        let idle = link.is_up() || link.is_cut() || (!first && !link.we_own);
        if idle {
            // Nothing to dial now: wait for a change, or for the moment a down link is worth a
            // warning.
            let warn_at =
                (!link.is_up() && !link.is_cut() && !warned).then(|| down_since + warn_after);
            let wake = std::pin::pin!(changed.recv());
            let stop = std::pin::pin!(server.stop.wait());
            let timer = std::pin::pin!(async {
                match warn_at {
                    Some(at) => rt::sleep(at.saturating_duration_since(Instant::now())).await,
                    None => future::pending::<()>().await,
                }
            });
            if let Either::Left((Either::Right(_), _)) =
                future::select(future::select(wake, timer), stop).await
            {
                if !link.is_up() && !link.is_cut() {
                    warned = true;
                    let why = link.status().last_error.unwrap_or_default();
                    log::warn!(target: &server.log_target, "link to {} down for {} s: {why}",
                        link.name, down_since.elapsed().as_secs());
                }
            }
            if link.is_up() || link.is_cut() {
                down_since = Instant::now();
                warned = false;
                failures = 0;
            }
            continue;
        }
        if failures > 0 {
            let d = backoff(
                failures,
                t.backoff_initial_ms,
                t.backoff_max_ms,
                fastrand::f64(),
            );
            let sleep = std::pin::pin!(rt::sleep(d));
            let stop = std::pin::pin!(server.stop.wait());
            if let Either::Right(_) = future::select(sleep, stop).await {
                break;
            }
            if link.is_up() || link.is_cut() {
                continue;
            }
        }
        if failures == 0 {
            // Retries stay Down, so "down since" counts from the first failure.
            link.set_state(LinkState::Connecting, None);
        }
        first = false;
        let dialed = dial_once(&server, &link).await;
        if server.stop.is_set() {
            break;
        }
        match dialed {
            Dialed::NotNeeded => {}
            Dialed::Ended { up_for, end } => {
                down_since = Instant::now();
                warned = false;
                failures = if up_for < stable {
                    failures.saturating_add(1)
                } else {
                    0
                };
                if failures > 0 {
                    log::info!(target: &server.log_target,
                        "link to {} lasted only {} ms ({end}); redialing after a back-off", link.name, up_for.as_millis());
                }
            }
            Dialed::Failed(why) => {
                failures = failures.saturating_add(1);
                if !link.is_up() && !link.is_cut() {
                    link.set_state(LinkState::Down, Some(why.clone()));
                }
                if let Some(held) = log.admit(&why, Instant::now()) {
                    let again = if held > 0 {
                        format!(" ({held} more times since the last report)")
                    } else {
                        String::new()
                    };
                    if ever_up || warned {
                        log::warn!(target: &server.log_target, "link to {} at {} failed: {why}{again}", link.name, link.addr);
                    } else {
                        log::info!(target: &server.log_target, "waiting for {} at {}: {why}{again}", link.name, link.addr);
                    }
                }
                server.events.publish(|| EventKind::Link {
                    peer: link.name.clone(),
                    state: LinkState::Down,
                    reason: Some(why),
                });
            }
        }
    }
}

/// One dial: connect, handshake, run until the connection ends.
async fn dial_once(server: &Arc<Server>, link: &Arc<PeerLink>) -> Dialed {
    let t = &server.config.timings;
    let connect = rt::timeout(
        Duration::from_millis(t.connect_timeout_ms),
        rt::connect(link.addr),
    );
    let stream = match connect.await {
        None => {
            return Dialed::Failed(format!(
                "connect timed out after {} ms",
                t.connect_timeout_ms
            ))
        }
        Some(Err(e)) => return Dialed::Failed(format!("connect: {e}")),
        Some(Ok(s)) => s,
    };
    let _ = stream.set_nodelay(true);
    let (info, killed) = server.register(link.addr, ConnKind::Peer);
    info.set_last(super::LastCommand::Peer);
    let session = Session::dial(
        server.settings.clone(),
        link.name.clone(),
        nonce(),
        server.now(),
    );
    let ran = drive::run(server, stream, &info, killed, session, Some(link.clone())).await;
    server.unregister(&info, &ran.end.to_string());
    server.link_ended(link, &ran.end, ran.was_live);
    match ran {
        Ran {
            up_at: Some(at),
            end,
            ..
        } => Dialed::Ended {
            up_for: at.elapsed(),
            end,
        },
        Ran {
            end: End::Superseded,
            ..
        } => Dialed::NotNeeded,
        Ran { end, .. } => Dialed::Failed(end.to_string()),
    }
}
