//! smol behind the seam (`--no-default-features --features rt-smol`).

use std::future::Future;
use std::time::Duration;

pub use smol::net::{TcpListener, TcpStream};

pub const NAME: &str = "smol";

/// smol's threads share one executor, so a group places nothing.
pub fn spawn<F: Future<Output = ()> + Send + 'static>(_group: Option<u64>, fut: F) {
    smol::spawn(fut).detach();
}

pub async fn sleep(d: Duration) {
    smol::Timer::after(d).await;
}

pub async fn spawn_blocking<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    smol::unblock(f).await
}

pub fn block_on<F: Future>(fut: F) -> F::Output {
    smol::block_on(fut)
}

pub async fn yield_now() {
    smol::future::yield_now().await
}

/// Sets the number of worker threads; call before the runtime is first used.
pub fn set_threads(n: usize) {
    // Read once, when smol's global executor starts.
    std::env::set_var("SMOL_THREADS", n.to_string());
}
