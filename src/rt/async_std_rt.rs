//! async-std behind the seam (the default; discontinued upstream, see RUSTSEC-2025-0052).

use std::future::Future;
use std::time::Duration;

pub use async_std::net::{TcpListener, TcpStream};

pub const NAME: &str = "async-std";

pub fn spawn<F: Future<Output = ()> + Send + 'static>(fut: F) {
    // The JoinHandle detaches on drop.
    drop(async_std::task::spawn(fut));
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

/// Sets the number of worker threads; call before the runtime is first used.
pub fn set_threads(n: usize) {
    // Read once, when async-std's global executor starts.
    std::env::set_var("ASYNC_STD_THREAD_COUNT", n.to_string());
}
