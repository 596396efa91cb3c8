//! The two listeners: clients on the client port, neighbours on the peer port. A connection
//! never changes sides: the client port serves only the client protocol (a HELLO there is an
//! invalid line like any other), the peer port only links (anything but a HELLO first closes
//! the connection with a logged reason). With TLS configured, the peer port speaks only TLS:
//! a plaintext dialer is refused with a logged reason.

use std::sync::Arc;
use std::time::Duration;

use super::{client, drive, nonce, tls, Server, TaskGuard};
use crate::events::ConnKind;
use crate::link::{End, Session};
use crate::rt;
use crate::tls::LinkTls;

/// Which port a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Port {
    /// Clients: IAMAT and WHATSAT.
    Client,
    /// Neighbours: links.
    Peer,
}

/// Accepts connections until the server stops; links over TLS when `tls` is set.
pub(super) async fn accept_loop(
    server: Arc<Server>,
    listener: rt::TcpListener,
    port: Port,
    tls: Option<Arc<LinkTls>>,
    tasks: TaskGuard,
) {
    let mut backoff = Duration::from_millis(5);
    // A storm of connects keeps `accept` ready.
    let mut budget = rt::Budget::new(32);
    loop {
        budget.spend().await;
        let Some(accepted) = server.stop.until(listener.accept()).await else {
            break;
        };
        match accepted {
            Ok((stream, addr)) => {
                backoff = Duration::from_millis(5);
                let _ = stream.set_nodelay(true);
                match port {
                    Port::Client => {
                        let max = server.config.limits.max_connections;
                        if server.registry.count(ConnKind::Client) >= max {
                            log::warn!(target: &server.log_target,
                                "refused connection from {addr}: {max} connections is the limit");
                            continue;
                        }
                        rt::spawn(client::serve(server.clone(), stream, addr, tasks.clone()));
                    }
                    Port::Peer => {
                        // Links are few; a flood of connections to the peer port is not.
                        let max = 2 * server.peers.len() + 8;
                        if server.registry.count(ConnKind::Peer) >= max {
                            server.note_refused(
                                addr,
                                &format!("{max} neighbour connections is the limit"),
                            );
                            continue;
                        }
                        // With the server's other links (see `rt::spawn_together`).
                        rt::spawn_together(
                            server.incarnation,
                            accept_link(server.clone(), stream, addr, tls.clone(), tasks.clone()),
                        );
                    }
                }
            }
            Err(e) => {
                // Out of file descriptors and the like: back off rather than spin.
                log::error!(target: &server.log_target, "accept failed: {e}; retrying in {backoff:?}");
                rt::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
    let which = match port {
        Port::Client => "clients",
        Port::Peer => "neighbours",
    };
    log::info!(target: &server.log_target, "{} stopped accepting {which}", server.name);
}

/// Serves a connection to the peer port: TLS when configured, the handshake, then the link.
async fn accept_link(
    server: Arc<Server>,
    stream: rt::TcpStream,
    addr: std::net::SocketAddr,
    tls: Option<Arc<LinkTls>>,
    _task: TaskGuard,
) {
    let (info, killed) = server.register(addr, ConnKind::Peer);
    info.set_last(super::LastCommand::Peer);
    let handshake = Duration::from_millis(server.config.timings.handshake_timeout_ms);
    let max_line = server.config.link_max_frame();
    let stream = match tls::accept(tls.as_ref(), stream, handshake, max_line).await {
        Ok(s) => s,
        Err(why) => {
            server.unregister(&info, &why);
            server.note_refused(addr, &why);
            return;
        }
    };
    let session = Session::accept(server.settings.clone(), nonce(), server.now());
    let ran = drive::run(&server, stream, &info, killed, session, None).await;
    server.unregister(&info, &ran.end.to_string());
    match (&ran.up_at, &ran.link) {
        (Some(_), Some(link)) => server.link_ended(link, &ran.end, ran.was_live),
        (None, _) if !matches!(ran.end, End::Superseded | End::Local(_)) => {
            server.note_refused(addr, &ran.end.to_string());
        }
        _ => {}
    }
}
