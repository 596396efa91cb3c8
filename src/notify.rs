//! systemd's service notifications (`Type=notify`, through the `sd-notify` crate): READY once
//! the server has replayed its data and bound both ports, STOPPING when it starts to shut
//! down, and the watchdog kept alive by a task on the runtime, so a runtime that stops
//! running tasks stops the keep-alives and systemd restarts the service. Outside systemd
//! (`NOTIFY_SOCKET` unset) every call does nothing.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use futures::future::{self, Either};
use sd_notify::NotifyState;

use crate::net::Stop;
use crate::rt;

/// Tells systemd the server is ready, with a status line for `systemctl status`.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Tells systemd the server is shutting down.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// How often to ping the watchdog: half of `WatchdogSec` (as sd_watchdog_enabled(3)
/// advises), or `None` when systemd set no watchdog for this process.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2)
}

/// Pings the watchdog every `every` until `stop` fires. Spawn it on the runtime.
pub async fn watchdog(every: Duration, stop: Stop) {
    loop {
        send(&[NotifyState::Watchdog]);
        let tick = std::pin::pin!(rt::sleep(every));
        let stopped = std::pin::pin!(stop.wait());
        if let Either::Right(_) = future::select(tick, stopped).await {
            break;
        }
    }
}

/// Set once a failure to notify was logged, so a failing watchdog does not flood the log.
static FAILED: AtomicBool = AtomicBool::new(false);

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        // The server runs on without systemd hearing of it; said once.
        if !FAILED.swap(true, Relaxed) {
            log::warn!("cannot notify systemd ({states:?}): {e}");
        }
    }
}
