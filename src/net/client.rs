//! One task per client connection: framing, deadlines and writes. What a line means and
//! what it changes is the node's ([`crate::node::Node::client_line`]); this file performs the
//! effects (persist, flood) and the Places lookup a WHATSAT needs, and writes the replies.
//!
//! Replies go out in command order. Lines already buffered are answered together in one write
//! (a batch never splits a reply); a WHATSAT first flushes what is waiting, so nothing waits on a
//! Places lookup but the lines behind it.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::future::{self, Either};
use futures::AsyncWriteExt;

use super::lines::LineReader;
use super::{rt, ConnInfo, LastCommand, Server, TaskGuard};
use crate::config::Fsync;
use crate::counters::{CommandKind, CommandResult};
use crate::events::{ConnKind, Dir, EventKind};
use crate::frame::Framed;
use crate::logging::Bytes;
use crate::node::Outcome;
use crate::protocol::{invalid_reply, Timestamp};

/// Why a connection ended.
enum End {
    /// The client half-closed or closed.
    Eof,
    /// Another reason, for the log.
    Other(String),
}

/// Serves one connection until it ends.
pub(super) async fn serve(
    server: Arc<Server>,
    stream: rt::TcpStream,
    addr: SocketAddr,
    _task: TaskGuard,
) {
    let (info, killed) = server.register(addr, ConnKind::Client);
    let reader = LineReader::new(stream.clone(), server.config.limits.max_line);
    let end = Conn {
        server: &server,
        info: &info,
        peer: addr.to_string(),
        writer: stream,
        out: Vec::new(),
    }
    .run(reader, killed)
    .await;
    // A client that says goodbye is routine (a grader's every command): debug. Anything else
    // (a deadline, an error, the operator) is worth an operator's eye.
    let reason = match &end {
        End::Eof => {
            log::debug!(target: &server.log_target, "client {addr} (conn {}) closed by client", info.id);
            "closed by client".to_string()
        }
        End::Other(r) => {
            log::info!(target: &server.log_target, "client {addr} (conn {}) closed: {r}", info.id);
            r.clone()
        }
    };
    server.unregister(&info, &reason);
}

/// One client connection's state.
struct Conn<'a> {
    /// The server.
    server: &'a Arc<Server>,
    /// The console's view of this connection.
    info: &'a Arc<ConnInfo>,
    /// The client's address as text, formatted once for the log lines.
    peer: String,
    /// Where replies go.
    writer: rt::TcpStream,
    /// Replies waiting for the next write.
    out: Vec<u8>,
}

impl Conn<'_> {
    async fn run(
        mut self,
        mut reader: LineReader<rt::TcpStream>,
        killed: async_channel::Receiver<()>,
    ) -> End {
        let idle = Duration::from_millis(self.server.config.timings.client_idle_ms);
        let line_limit = Duration::from_millis(self.server.config.timings.line_timeout_ms);
        let server = self.server;
        // Built once per connection, not per read: the stop signals and one timer, which fires
        // at the idle deadline or, while a line is incomplete, at the line deadline.
        let mut stopped = std::pin::pin!(async {
            let kill = std::pin::pin!(killed.recv());
            let stop = std::pin::pin!(server.stop.wait());
            future::select(kill, stop).await;
        });
        let mut timer = std::pin::pin!(rt::sleep(idle));
        // When the incomplete line now buffered began (slowloris guard).
        let mut partial_since: Option<Instant> = None;
        // A client whose socket always has another command would never let this task wait.
        let mut budget = rt::Budget::new(32);
        loop {
            budget.spend().await;
            let mut got_line = false;
            while let Some(framed) = reader.next_line() {
                got_line = true;
                let range = match framed {
                    Framed::Line(r) => r,
                    // A client's overlong line is refused (`Overlong::Refuse`), never skipped.
                    Framed::TooLong | Framed::Skipped(_) => return self.too_long(&reader).await,
                };
                if let Err(e) = self.line(reader.line(range)).await {
                    return End::Other(e);
                }
                if !self.out.is_empty() && self.out.len() >= 64 * 1024 {
                    if let Err(e) = self.flush().await {
                        return End::Other(e);
                    }
                }
            }
            if let Err(e) = self.flush().await {
                return End::Other(e);
            }
            if got_line || reader.buffered() == 0 {
                partial_since = None;
            }
            if reader.buffered() > 0 && partial_since.is_none() {
                partial_since = Some(Instant::now());
                timer.set(rt::sleep(self.due(idle, line_limit, partial_since)));
            }
            let trickled = reader.buffered();
            let read = loop {
                let fill = std::pin::pin!(reader.fill());
                let wait = future::select(stopped.as_mut(), timer.as_mut());
                match future::select(fill, wait).await {
                    Either::Left((r, _)) => break Some(r),
                    Either::Right((Either::Left(_), _)) => {
                        return End::Other("server stopping or operator drop".into())
                    }
                    Either::Right((Either::Right(_), _)) => {
                        if partial_since.is_some_and(|t| t.elapsed() >= line_limit) {
                            log::warn!(target: &self.server.log_target,
                                "client {} (conn {}): no complete line within {} ms ({} bytes trickled); closing",
                                self.peer, self.info.id, line_limit.as_millis(), trickled);
                            return End::Other(format!(
                                "no complete line within {} ms",
                                line_limit.as_millis()
                            ));
                        }
                        // The idle deadline runs from the last traffic, not from this read.
                        if self.info.idle() >= idle {
                            break None;
                        }
                        timer.set(rt::sleep(self.due(idle, line_limit, partial_since)));
                    }
                }
            };
            match read {
                None => return End::Other(format!("idle for {} ms", idle.as_millis())),
                Some(Err(e)) => return End::Other(format!("read error: {e}")),
                Some(Ok(0)) => {
                    // End of stream: a final command without a newline is still answered.
                    if let Some(rest) = reader.rest() {
                        let rest = rest.to_vec();
                        if let Err(e) = self.line(&rest).await {
                            return End::Other(e);
                        }
                    }
                    return match self.flush().await {
                        Ok(()) => End::Eof,
                        Err(e) => End::Other(e),
                    };
                }
                Some(Ok(n)) => {
                    self.info.bytes_in.fetch_add(n as u64, Relaxed);
                    self.server.stats.bytes_in.fetch_add(n as u64, Relaxed);
                    self.info.touch();
                }
            }
        }
    }

    /// Time until the timer must fire: the idle deadline (from the last traffic) or, while a
    /// line is incomplete, the line deadline if that comes first.
    fn due(
        &self,
        idle: Duration,
        line_limit: Duration,
        partial_since: Option<Instant>,
    ) -> Duration {
        let quiet_left = idle.saturating_sub(self.info.idle());
        match partial_since {
            Some(t) => quiet_left.min(line_limit.saturating_sub(t.elapsed())),
            None => quiet_left,
        }
    }

    async fn too_long<R: futures::AsyncRead + Unpin>(&mut self, reader: &LineReader<R>) -> End {
        let _ = self.flush().await;
        let max = self.server.config.limits.max_line;
        log::warn!(target: &self.server.log_target,
            "client {} (conn {}): line longer than {max} bytes ({} buffered); closing", self.info.addr, self.info.id,
            reader.buffered());
        End::Other(format!("line longer than {max} bytes"))
    }

    /// Answers one line into `out`; an error means a write before a Places lookup failed and
    /// the connection must end.
    async fn line(&mut self, line: &[u8]) -> Result<(), String> {
        let server = self.server;
        server.stats.lines_in.fetch_add(1, Relaxed);
        self.info.lines_in.fetch_add(1, Relaxed);
        log::info!(target: &server.log_target, "in  {} {}", self.peer, Bytes(line));
        server.events.publish(|| EventKind::Line {
            id: self.info.id,
            dir: Dir::In,
            text: String::from_utf8_lossy(line).into_owned(),
        });
        let mut start = self.out.len();
        let received = Instant::now();
        let now = Timestamp::from_system_time(SystemTime::now());
        let (last, kind, result) = match server.node.client_line(line, now, &mut self.out) {
            Outcome::Accepted(effects) => {
                // Durable (as the policy has it) before the reply is written.
                let durable = match server.perform(&effects) {
                    Ok(ticket) => ticket.await,
                    Err(why) => Err(why),
                };
                match durable {
                    Ok(()) => (LastCommand::IAmAt, CommandKind::IAmAt, CommandResult::Ok),
                    Err(why) if server.config.store.fsync == Fsync::Always => {
                        log::error!(target: &server.log_target,
                            "not acknowledged (fsync Always), the update is not durable: {why}: {}", Bytes(line));
                        self.out.truncate(start);
                        invalid_reply(line, &mut self.out);
                        (
                            LastCommand::IAmAt,
                            CommandKind::IAmAt,
                            CommandResult::NotDurable,
                        )
                    }
                    // Logged and counted by the store; acknowledged as the policy allows.
                    Err(_) => (LastCommand::IAmAt, CommandKind::IAmAt, CommandResult::Ok),
                }
            }
            Outcome::NotNewer => (LastCommand::IAmAt, CommandKind::IAmAt, CommandResult::Ok),
            Outcome::Full => {
                log::warn!(target: &server.log_target,
                    "location table full ({} clients): refused {}", server.config.limits.max_clients, Bytes(line));
                (
                    LastCommand::IAmAt,
                    CommandKind::IAmAt,
                    CommandResult::Refused,
                )
            }
            Outcome::Lookup(lookup) => {
                // Replies already waiting go out before the lookup.
                if start > 0 {
                    self.flush().await?;
                    start = 0;
                }
                let doc = server.places.nearby(lookup.query.clone()).await;
                log::info!(target: &server.log_target, "places {} for {}: {}", server.places.name(),
                    Bytes(line), crate::places::status_of(&doc));
                lookup.reply(&doc, &mut self.out);
                (
                    LastCommand::WhatsAt,
                    CommandKind::WhatsAt,
                    CommandResult::Ok,
                )
            }
            Outcome::UnknownClient => (
                LastCommand::WhatsAt,
                CommandKind::WhatsAt,
                CommandResult::Refused,
            ),
            Outcome::Invalid {
                reason,
                server_message,
            } => {
                if server_message {
                    log::warn!(target: &server.log_target,
                        "client {} (conn {}) sent a server message to the client port; it changes nothing: {}",
                        self.peer, self.info.id, Bytes(line));
                }
                log::info!(target: &server.log_target, "invalid from {}: {}", self.peer, reason.reason());
                (
                    LastCommand::Invalid,
                    CommandKind::Invalid,
                    CommandResult::Refused,
                )
            }
        };
        server
            .metrics
            .observe_command(kind, result, received.elapsed());
        self.info.set_last(last);
        let start = start.min(self.out.len());
        let reply = &self.out[start..];
        log::info!(target: &server.log_target, "out {} {}", self.peer,
            Bytes(reply.strip_suffix(b"\n").unwrap_or(reply)));
        server.events.publish(|| EventKind::Line {
            id: self.info.id,
            dir: Dir::Out,
            text: String::from_utf8_lossy(reply).trim_end().to_string(),
        });
        server.stats.lines_out.fetch_add(1, Relaxed);
        self.info.lines_out.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Writes what is waiting, as one write, within the write deadline.
    async fn flush(&mut self) -> Result<(), String> {
        if self.out.is_empty() {
            return Ok(());
        }
        let deadline = Duration::from_millis(self.server.config.timings.write_timeout_ms);
        let n = self.out.len() as u64;
        let res = rt::timeout(deadline, self.writer.write_all(&self.out)).await;
        self.out.clear();
        match res {
            Some(Ok(())) => {
                self.info.bytes_out.fetch_add(n, Relaxed);
                self.server.stats.bytes_out.fetch_add(n, Relaxed);
                self.info.touch();
                Ok(())
            }
            Some(Err(e)) => Err(format!("write error: {e}")),
            None => Err(format!(
                "write stalled for {} ms (slow reader)",
                deadline.as_millis()
            )),
        }
    }
}
