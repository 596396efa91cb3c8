//! The metrics endpoint: `GET /metrics` over HTTP/1.x on its own listener, served by the
//! project's runtime through the seam (`rt::bind`, `rt::spawn`, the `futures` IO traits), so it
//! pulls in no other runtime and no HTTP server. One request per connection (the response says
//! `Connection: close`); requests are parsed by `httparse`; a client gets a deadline, so a
//! stalled scraper cannot hold a task.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt};
use prometheus_client::registry::Registry;

use crate::net::Stop;
use crate::rt;

/// Longest request head accepted.
const MAX_HEAD: usize = 8 * 1024;

/// A scrape must be read and answered within this long.
const DEADLINE: Duration = Duration::from_secs(10);

/// Binds `addr` and serves `registry` there until `stop` fires; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    registry: Registry,
    stop: Stop,
    log_target: String,
) -> std::io::Result<SocketAddr> {
    let listener = rt::bind(addr).await?;
    let local = listener.local_addr()?;
    let registry = Arc::new(registry);
    rt::spawn(async move {
        loop {
            let Some(accepted) = stop.until(listener.accept()).await else {
                break;
            };
            match accepted {
                Ok((stream, _)) => {
                    let registry = registry.clone();
                    rt::spawn(async move {
                        let _ = rt::timeout(DEADLINE, answer(stream, &registry)).await;
                    });
                }
                Err(e) => {
                    log::warn!(target: &log_target, "metrics listener: accept failed: {e}");
                    rt::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(local)
}

/// Reads one request and writes its response.
async fn answer(mut stream: rt::TcpStream, registry: &Registry) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let (status, ctype, body) = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n]);
        match route(&head, registry) {
            Some(r) => break r,
            None if head.len() > MAX_HEAD => {
                break (431, TEXT, "request head too large\n".to_string())
            }
            None => {}
        }
    };
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Request Header Fields Too Large",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.flush().await
}

/// The content type of everything but the metrics.
const TEXT: &str = "text/plain; charset=utf-8";

/// The status, content type and body for a request head; `None` while it is incomplete.
fn route(head: &[u8], registry: &Registry) -> Option<(u16, &'static str, String)> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Partial) => None,
        Err(e) => Some((400, TEXT, format!("bad request: {e}\n"))),
        Ok(httparse::Status::Complete(_)) => Some(match (req.method, req.path) {
            (Some("GET"), Some("/metrics")) => (
                200,
                prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                super::render(registry),
            ),
            (Some("GET"), Some("/")) => (200, TEXT, "herd metrics: GET /metrics\n".to_string()),
            (Some("GET"), _) => (404, TEXT, "not found; try /metrics\n".to_string()),
            _ => (405, TEXT, "only GET is served\n".to_string()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_routed() {
        let r = Registry::default();
        assert_eq!(route(b"GET /metrics HTTP/1.1\r\nHost: x", &r), None);
        assert_eq!(
            route(b"GET /metrics HTTP/1.1\r\n\r\n", &r).map(|x| x.0),
            Some(200)
        );
        assert_eq!(
            route(b"GET /nope HTTP/1.0\r\n\r\n", &r).map(|x| x.0),
            Some(404)
        );
        assert_eq!(
            route(b"POST /metrics HTTP/1.1\r\n\r\n", &r).map(|x| x.0),
            Some(405)
        );
        assert_eq!(route(b"\x00\x01 junk\r\n\r\n", &r).map(|x| x.0), Some(400));
    }
}
