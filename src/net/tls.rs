//! The socket under a link: plain TCP, or TLS when the config has a `tls` section. With TLS,
//! the dialer checks that the neighbour's certificate is valid for the neighbour's name, and
//! the acceptor checks that the name the dialer's HELLO claims is one its certificate is valid
//! for (before the session sees the HELLO); a plaintext dialer is refused. The HMAC handshake
//! runs inside, as on plain TCP.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::io::BufReader;
use futures::{AsyncBufReadExt, AsyncRead, AsyncWrite};
use futures_rustls::{client, server};
use rustls_pki_types::ServerName;

use crate::rt;
use crate::tls::LinkTls;
use crate::wire::{self, PeerMsg};

/// A link's connection, as `drive::run` reads and writes it.
pub(super) enum LinkStream {
    /// Plain TCP (no `tls` configured).
    Plain(rt::TcpStream),
    /// TLS, dialed by us.
    Dialed(Box<client::TlsStream<rt::TcpStream>>),
    /// TLS, accepted by us; the dialer's HELLO is checked against its certificate.
    Accepted(Box<HelloCheck<server::TlsStream<BufReader<rt::TcpStream>>>>),
}

/// Dials `neighbour` over `tcp`: TLS when `tls` is set, checking that the neighbour's
/// certificate is signed by the herd's CA and valid for `neighbour`.
pub(super) async fn dial(
    tls: Option<&LinkTls>,
    tcp: rt::TcpStream,
    neighbour: &str,
    deadline: Duration,
) -> Result<LinkStream, String> {
    let Some(tls) = tls else {
        return Ok(LinkStream::Plain(tcp));
    };
    let name = ServerName::try_from(neighbour.to_string())
        .map_err(|_| format!("TLS: {neighbour:?} cannot be a certificate's name"))?;
    match rt::timeout(deadline, tls.connector.connect(name, tcp)).await {
        None => Err(format!(
            "TLS handshake timed out after {} ms",
            deadline.as_millis()
        )),
        Some(Err(e)) => Err(format!(
            "TLS handshake with {neighbour} failed: {}",
            tls_reason(&e)
        )),
        Some(Ok(s)) => Ok(LinkStream::Dialed(Box::new(s))),
    }
}

/// Accepts a connection to the peer port: with `tls`, the TLS handshake (a plaintext dialer
/// is refused); `max_line` bounds the HELLO line that is checked against the certificate.
pub(super) async fn accept(
    tls: Option<&Arc<LinkTls>>,
    tcp: rt::TcpStream,
    deadline: Duration,
    max_line: usize,
) -> Result<LinkStream, String> {
    let Some(tls) = tls else {
        return Ok(LinkStream::Plain(tcp));
    };
    let handshake = async {
        let mut buffered = BufReader::new(tcp);
        let first = buffered
            .fill_buf()
            .await
            .map_err(|e| format!("read error: {e}"))?;
        if first.is_empty() {
            return Err("closed before the TLS handshake".to_string());
        }
        if first.starts_with(b"HERD/") {
            return Err(
                "a plaintext link: this server has tls configured, so links must use TLS".into(),
            );
        }
        let s = tls
            .acceptor
            .accept(buffered)
            .await
            .map_err(|e| format!("TLS handshake failed: {}", tls_reason(&e)))?;
        Ok(LinkStream::Accepted(Box::new(HelloCheck {
            inner: s,
            tls: tls.clone(),
            held: Vec::new(),
            passed: None,
            max_line,
        })))
    };
    match rt::timeout(deadline, handshake).await {
        None => Err(format!(
            "TLS handshake timed out after {} ms",
            deadline.as_millis()
        )),
        Some(r) => r,
    }
}

/// The reason rustls gave, without the IO wrapping.
fn tls_reason(e: &io::Error) -> String {
    match e.get_ref() {
        Some(inner) => inner.to_string(),
        None => e.to_string(),
    }
}

/// The accepted side of a TLS link until the dialer's first line is read: the HELLO's name
/// must be one the dialer's certificate is valid for. After that it only passes bytes.
pub(super) struct HelloCheck<S> {
    /// The TLS stream.
    inner: S,
    /// This server's TLS, which checks names against certificates.
    tls: Arc<LinkTls>,
    /// What was read while the first line was incomplete, handed on once it is checked.
    held: Vec<u8>,
    /// How much of `held` is handed on; `None` until the first line is checked.
    passed: Option<usize>,
    /// The longest first line waited for.
    max_line: usize,
}

impl HelloCheck<server::TlsStream<BufReader<rt::TcpStream>>> {
    /// Checks the first line, which `held` holds whole.
    fn check(&self, line: &[u8]) -> Result<(), String> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(PeerMsg::Hello { from, .. }) = wire::decode(line) else {
            return Err("the first line is not a HELLO".into());
        };
        let certs = self.inner.get_ref().1.peer_certificates().unwrap_or(&[]);
        self.tls.check_name(certs, from)
    }

    fn poll_read_checked(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            if let Some(at) = self.passed {
                if at < self.held.len() {
                    let n = out.len().min(self.held.len() - at);
                    out[..n].copy_from_slice(&self.held[at..at + n]);
                    self.passed = Some(at + n);
                    return Poll::Ready(Ok(n));
                }
                if !self.held.is_empty() {
                    self.held = Vec::new();
                }
                return Pin::new(&mut self.inner).poll_read(cx, out);
            }
            let mut chunk = [0u8; 1024];
            let n = match Pin::new(&mut self.inner).poll_read(cx, &mut chunk) {
                Poll::Ready(Ok(n)) => n,
                other => return other,
            };
            if n == 0 {
                // Closed before a whole line: the session sees what came, then the end.
                self.passed = Some(0);
                if self.held.is_empty() {
                    return Poll::Ready(Ok(0));
                }
                continue;
            }
            self.held.extend_from_slice(&chunk[..n]);
            if let Some(end) = memchr::memchr(b'\n', &self.held) {
                self.check(&self.held[..end])
                    .map_err(|why| io::Error::new(io::ErrorKind::PermissionDenied, why))?;
                self.passed = Some(0);
            } else if self.held.len() > self.max_line {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("no HELLO line within {} bytes", self.max_line),
                )));
            }
        }
    }
}

/// Sends TLS records rustls still holds. `drive` writes only when the session has output,
/// and a write the socket took only in part leaves the rest in rustls: every read tries to
/// send it, so it leaves as soon as the socket has room.
fn send_held<S: AsyncWrite + Unpin>(s: &mut S, cx: &mut Context<'_>) -> io::Result<()> {
    match Pin::new(s).poll_flush(cx) {
        Poll::Ready(Err(e)) => Err(e),
        _ => Ok(()),
    }
}

/// A neighbour that went away without TLS's close_notify (it crashed, or closed a
/// connection the owner rule dropped) has closed the link, as on plain TCP: lines are framed,
/// so a cut-short stream cannot pass for a whole one.
fn eof(read: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
    match read {
        Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => Poll::Ready(Ok(0)),
        other => other,
    }
}

impl AsyncRead for LinkStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            LinkStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            LinkStream::Dialed(s) => {
                send_held(&mut **s, cx)?;
                eof(Pin::new(&mut **s).poll_read(cx, buf))
            }
            LinkStream::Accepted(s) => {
                send_held(&mut s.inner, cx)?;
                eof(s.poll_read_checked(cx, buf))
            }
        }
    }
}

impl AsyncWrite for LinkStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            LinkStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            LinkStream::Dialed(s) => Pin::new(&mut **s).poll_write(cx, buf),
            LinkStream::Accepted(s) => Pin::new(&mut s.inner).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            LinkStream::Plain(s) => Pin::new(s).poll_flush(cx),
            LinkStream::Dialed(s) => Pin::new(&mut **s).poll_flush(cx),
            LinkStream::Accepted(s) => Pin::new(&mut s.inner).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            LinkStream::Plain(s) => Pin::new(s).poll_close(cx),
            LinkStream::Dialed(s) => Pin::new(&mut **s).poll_close(cx),
            LinkStream::Accepted(s) => Pin::new(&mut s.inner).poll_close(cx),
        }
    }
}
