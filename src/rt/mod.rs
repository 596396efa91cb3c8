//! The runtime seam: the only module that names an async runtime crate.
//!
//! Everything else spawns, sleeps, binds, connects and runs blocking calls through these
//! functions, so the protocol, the state and the herd logic compile against `futures` alone.
//! One file per runtime implements the same small surface; a Cargo feature picks which.
//! To add a runtime: add `src/rt/<name>.rs` with the same items and a feature in Cargo.toml.

use std::future::Future;
use std::time::Duration;

use futures::future::{self, Either};

#[cfg(all(feature = "rt-async-std", not(feature = "rt-smol")))]
mod async_std_rt;
#[cfg(all(feature = "rt-async-std", not(feature = "rt-smol")))]
use async_std_rt as imp;
#[cfg(all(feature = "rt-async-std", not(feature = "rt-smol")))]
mod pool;

#[cfg(feature = "rt-smol")]
mod smol_rt;
#[cfg(feature = "rt-smol")]
use smol_rt as imp;

#[cfg(not(any(feature = "rt-async-std", feature = "rt-smol")))]
compile_error!("enable one runtime feature: rt-async-std (default) or rt-smol");

pub use imp::{TcpListener, TcpStream};

/// The name of the runtime this build runs on, for logs and `--version`.
pub const RUNTIME: &str = imp::NAME;

/// Sets how many worker threads run tasks (default: one per CPU with async-std, one with
/// smol). Must be called before anything else of this module, while the process has one thread.
pub fn set_threads(n: usize) {
    imp::set_threads(n.max(1))
}

/// Runs `fut` in the background; it is never joined (tasks end through channels).
pub fn spawn<F>(fut: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    imp::spawn(None, fut)
}

/// Runs `fut` in the background on the worker thread that `group` stands for, beside every
/// other task spawned with the same group: tasks that wake each other at every event (a
/// server's links, where an update read on one is queued on all the others) then wake no
/// other thread. With smol, whose threads share one executor, it is [`spawn`].
pub fn spawn_together<F>(group: u64, fut: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    imp::spawn(Some(group), fut)
}

/// Waits for `d` without blocking a thread.
pub async fn sleep(d: Duration) {
    imp::sleep(d).await
}

/// Runs a blocking closure (HTTP calls, file IO) on the runtime's blocking pool.
pub async fn spawn_blocking<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    imp::spawn_blocking(f).await
}

/// Drives `fut` to completion on the current thread (the binary's entry point, tests).
pub fn block_on<F: Future>(fut: F) -> F::Output {
    imp::block_on(fut)
}

/// Listen backlog. A burst of connects waits in the kernel instead of overflowing the queue
/// (an overflow drops the SYN and costs that client a 1 s retransmit). Linux caps it at
/// `net.core.somaxconn`; the standard library asks for only 128.
const BACKLOG: i32 = 4096;

/// Binds a TCP listener.
pub async fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr).await?;
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: listen(2) again on a listening socket we own only changes its backlog.
        if unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(listener)
}

/// Opens a TCP connection.
pub async fn connect(addr: std::net::SocketAddr) -> std::io::Result<TcpStream> {
    TcpStream::connect(addr).await
}

/// Resolves `host:port` with the system's resolver (`/etc/hosts`, then DNS, as
/// `/etc/nsswitch.conf` says) on the blocking pool, afresh at every call: nothing is cached
/// here, so a name that moves to another address is found at its new one.
pub async fn resolve(host: &str, port: u16) -> std::io::Result<Vec<std::net::SocketAddr>> {
    use std::net::ToSocketAddrs;
    let host = host.to_string();
    spawn_blocking(move || {
        (host.as_str(), port)
            .to_socket_addrs()
            .map(Iterator::collect)
    })
    .await
}

/// Lets every other task that is ready run first (for example, so that a writer woken by one
/// update finds the updates of the tasks behind it and sends them in one write).
pub async fn yield_now() {
    imp::yield_now().await
}

/// A loop's allowance of rounds before it lets the other tasks of its thread run. A loop over a
/// socket that always has more (a pipelining client, a storm of connects) never has to wait,
/// and on the async-std build nothing steals the tasks that share its thread.
pub struct Budget {
    /// Rounds left before the next yield.
    left: u32,
    /// Rounds between yields.
    every: u32,
}

impl Budget {
    /// A yield every `every` rounds.
    pub const fn new(every: u32) -> Budget {
        Budget { left: every, every }
    }

    /// Counts one round; every `every`-th one yields first.
    pub async fn spend(&mut self) {
        self.left = self.left.saturating_sub(1);
        if self.left == 0 {
            self.left = self.every.max(1);
            yield_now().await;
        }
    }
}

/// Runs `fut` for at most `d`; `None` when the time ran out first.
pub async fn timeout<F: Future>(d: Duration, fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    // Most calls finish at once (a write with room in the socket buffer): those need no timer.
    if let std::task::Poll::Ready(out) = futures::poll!(fut.as_mut()) {
        return Some(out);
    }
    let timer = std::pin::pin!(sleep(d));
    match future::select(fut, timer).await {
        Either::Left((out, _)) => Some(out),
        Either::Right(_) => None,
    }
}
