//! The ceiling: a minimal line-echo server on the same runtime as the herd.
//!
//! It does what any line server must (read, find the line ends, write the complete lines back,
//! answer a final line at end of stream, close) and nothing else, so the herd's throughput as a
//! ratio of it says what the herd's own work costs. `examples/echo.rs` runs it standalone.

use std::net::SocketAddr;

use futures::{AsyncReadExt, AsyncWriteExt};

use crate::net::{stop_channel, Stop, StopHandle};
use crate::rt;

/// Bytes asked for per read.
const CHUNK: usize = 16 * 1024;

/// A running echo server; dropping it stops accepting and ends its connections.
pub struct Echo {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Fires on drop.
    _stop: StopHandle,
}

/// Binds `addr` and serves line echo in the background.
pub async fn start(addr: SocketAddr) -> std::io::Result<Echo> {
    let listener = rt::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (handle, stop) = stop_channel();
    rt::spawn(accept_loop(listener, stop));
    Ok(Echo {
        addr,
        _stop: handle,
    })
}

/// Serves line echo on `addr` until the process ends (the example's entry point).
pub async fn serve_forever(addr: SocketAddr) -> std::io::Result<()> {
    let listener = rt::bind(addr).await?;
    println!("echo listening on {}", listener.local_addr()?);
    let (_handle, stop) = stop_channel();
    accept_loop(listener, stop).await;
    Ok(())
}

async fn accept_loop(listener: rt::TcpListener, stop: Stop) {
    loop {
        let Some(accepted) = stop.until(listener.accept()).await else {
            return;
        };
        match accepted {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                let stop = stop.clone();
                rt::spawn(async move {
                    stop.until(echo(stream)).await;
                });
            }
            Err(_) => rt::sleep(std::time::Duration::from_millis(5)).await,
        }
    }
}

/// Echoes complete lines as they arrive (all complete lines of a read in one write), and the
/// unterminated rest at end of stream.
async fn echo(mut stream: rt::TcpStream) {
    let mut buf = vec![0u8; CHUNK];
    let mut len = 0;
    loop {
        if len == buf.len() {
            // A line longer than the buffer: echo what there is (the ceiling never grows memory).
            if stream.write_all(&buf[..len]).await.is_err() {
                return;
            }
            len = 0;
        }
        let n = match stream.read(&mut buf[len..]).await {
            Ok(0) | Err(_) => {
                if len > 0 {
                    let _ = stream.write_all(&buf[..len]).await;
                }
                return;
            }
            Ok(n) => n,
        };
        let end = len + n;
        match memchr::memrchr(b'\n', &buf[len..end]) {
            Some(i) => {
                let cut = len + i + 1;
                if stream.write_all(&buf[..cut]).await.is_err() {
                    return;
                }
                buf.copy_within(cut..end, 0);
                len = end - cut;
            }
            None => len = end,
        }
    }
}
