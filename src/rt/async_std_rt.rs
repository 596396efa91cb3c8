//! async-std behind the seam (the default; discontinued upstream, see RUSTSEC-2025-0052).
//! Sockets, timers, the blocking pool and `block_on` are async-std's; spawned tasks run on
//! [`super::pool`], per-thread executors of the crates async-std is built on.

use std::future::Future;
use std::time::Duration;

pub use async_std::net::{TcpListener, TcpStream};

pub const NAME: &str = "async-std";

pub fn spawn<F: Future<Output = ()> + Send + 'static>(group: Option<u64>, fut: F) {
    if let Err(fut) = super::pool::spawn(group, fut) {
        // Not one worker thread could start: async-std's own pool (its JoinHandle detaches
        // on drop).
        drop(async_std::task::spawn(fut));
    }
}

pub async fn sleep(d: Duration) {
    async_std::task::sleep(d).await
}

pub async fn spawn_blocking<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    async_std::task::spawn_blocking(f).await
}

pub fn block_on<F: Future>(fut: F) -> F::Output {
    async_std::task::block_on(fut)
}

pub async fn yield_now() {
    async_std::task::yield_now().await
}

/// Sets the number of worker threads; call before the first spawn.
pub fn set_threads(n: usize) {
    super::pool::set_threads(n);
}
