//! Keeping a link: each neighbour has one task that dials it. Both sides dial when the server
//! starts (a restarted server is linked as soon as both listen); after that only the owner
//! redials: at once after a link that worked drops, with exponential back-off and jitter after
//! failures or after a link that drops right after coming up (so a link that fails the same way
//! again and again costs a dial per back-off step, not a busy loop). Failures are logged as
//! the operator needs them: a neighbour that is not up yet is "waiting for", a warning only if
//! it stays down past `timings.link_down_warn_ms`, and a repeated failure once per interval
//! with a count.
//!
//! A neighbour named by a host name is resolved at every dial, so one that moved (a
//! rescheduled pod) is found at its new address; a name that does not resolve is a failed
//! dial like a refused connect: the link stays down, the reason is logged, and the dial is
//! retried with the same back-off.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::{self, Either};

use super::drive::{self, Ran};
use super::neighbour::PeerLink;
use super::{nonce, tls, Server, TaskGuard};
use crate::addr::PeerAddr;
use crate::backoff::backoff;
use crate::events::{ConnKind, EventKind, LinkState};
use crate::link::{End, Session};
use crate::ratelog::RateLog;
use crate::rt;
use crate::tls::LinkTls;

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

/// Keeps the link to `link` until the server stops; over TLS when `tls` is set.
pub(super) async fn keep(
    server: Arc<Server>,
    link: Arc<PeerLink>,
    tls: Option<Arc<LinkTls>>,
    _task: TaskGuard,
) {
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
        let dialed = dial_once(&server, &link, tls.as_deref()).await;
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

/// One dial: resolve, connect, TLS when configured, handshake, run until the connection ends.
async fn dial_once(server: &Arc<Server>, link: &Arc<PeerLink>, tls: Option<&LinkTls>) -> Dialed {
    let t = &server.config.timings;
    let (stream, addr) = match connect(server, &link.addr).await {
        Ok(c) => c,
        Err(why) => return Dialed::Failed(why),
    };
    let _ = stream.set_nodelay(true);
    let (info, killed) = server.register(addr, ConnKind::Peer);
    info.set_last(super::LastCommand::Peer);
    let handshake = Duration::from_millis(t.handshake_timeout_ms);
    let stream = match tls::dial(tls, stream, &link.name, handshake).await {
        Ok(s) => s,
        Err(why) => {
            server.unregister(&info, &why);
            return Dialed::Failed(why);
        }
    };
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
        // Another connection is (or became) the link: nothing failed.
        Ran {
            end: End::Superseded,
            ..
        } => Dialed::NotNeeded,
        Ran {
            up_at: Some(at),
            end,
            ..
        } => Dialed::Ended {
            up_for: at.elapsed(),
            end,
        },
        Ran { end, .. } => Dialed::Failed(end.to_string()),
    }
}

/// How long a name may take to resolve before the dial counts as failed (the system
/// resolver's own retries can take longer; the lookup then finishes in the background).
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to `addr`: a host name is resolved now, and its addresses are tried in turn.
async fn connect(server: &Server, addr: &PeerAddr) -> Result<(rt::TcpStream, SocketAddr), String> {
    let t = &server.config.timings;
    let candidates = match addr {
        PeerAddr::Ip(a) => vec![*a],
        PeerAddr::Name { host, port } => {
            match rt::timeout(RESOLVE_TIMEOUT, rt::resolve(host, *port)).await {
                None => {
                    return Err(format!(
                        "cannot resolve {host}: no answer within {} s",
                        RESOLVE_TIMEOUT.as_secs()
                    ))
                }
                Some(Err(e)) => return Err(format!("cannot resolve {host}: {e}")),
                Some(Ok(v)) if v.is_empty() => {
                    return Err(format!("cannot resolve {host}: no address"))
                }
                Some(Ok(v)) => v,
            }
        }
    };
    let mut why = String::new();
    for a in candidates {
        let connect = rt::timeout(Duration::from_millis(t.connect_timeout_ms), rt::connect(a));
        match connect.await {
            Some(Ok(s)) => return Ok((s, a)),
            None => why = format!("connect to {a} timed out after {} ms", t.connect_timeout_ms),
            Some(Err(e)) => why = format!("connect to {a}: {e}"),
        }
    }
    Err(why)
}
