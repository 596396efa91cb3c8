//! Simulated clients for the demo: a handful of clients wander around, report where they are
//! (IAMAT) to a random running server and ask what is near another client (WHATSAT) at another
//! server, over real loopback TCP, the grader way (one command per connection).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures::{AsyncReadExt, AsyncWriteExt};

use crate::herd::LocalHerd;
use crate::net::Stop;
use crate::rt;
use crate::sync::lock;

/// One wandering client.
#[derive(Clone, Debug)]
struct Walker {
    /// Its client ID.
    id: String,
    /// Latitude, degrees.
    lat: f64,
    /// Longitude, degrees.
    lng: f64,
}

/// What the simulated clients saw, for the headless report.
#[derive(Debug, Default)]
pub struct SimLog {
    /// AT line -> (origin server, when the client got the reply).
    pub replies: HashMap<Vec<u8>, (String, SystemTime)>,
    /// IAMATs answered.
    pub iamats: u64,
    /// WHATSATs answered with places.
    pub whatsats: u64,
    /// Commands that failed (server down, refused).
    pub failures: u64,
}

/// Sends one command the grader way and returns the reply.
async fn exchange(addr: SocketAddr, line: &str) -> std::io::Result<Vec<u8>> {
    let mut s = rt::connect(addr).await?;
    s.write_all(line.as_bytes()).await?;
    // Half-close the grader way (`close()` on these streams does not send FIN).
    s.shutdown(std::net::Shutdown::Write)?;
    let mut out = Vec::new();
    let read = rt::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    match read {
        Some(r) => r.map(|_| out),
        None => Err(std::io::Error::other("no reply within 5 s")),
    }
}

fn now_text() -> String {
    let d = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// Formats a coordinate pair the ISO 6709 way the protocol wants.
pub fn iso6709(lat: f64, lng: f64) -> String {
    format!("{lat:+.6}{lng:+.6}")
}

/// Runs `clients` wanderers until `stop` fires, one command every `interval` in all.
pub async fn run(
    herd: Arc<LocalHerd>,
    clients: usize,
    interval: Duration,
    log: Arc<Mutex<SimLog>>,
    stop: Stop,
) {
    // Start around UCLA, where the classic herd's examples are.
    let mut walkers: Vec<Walker> = (0..clients.max(1))
        .map(|i| Walker {
            id: format!("demo-{i}.cs.ucla.edu"),
            lat: 34.068930 + (fastrand::f64() - 0.5) * 0.2,
            lng: -118.445127 + (fastrand::f64() - 0.5) * 0.2,
        })
        .collect();
    let names = herd.names();
    let mut tick: u64 = 0;
    let started = Instant::now();
    while !stop.is_set() {
        tick += 1;
        let running: Vec<&String> = names.iter().filter(|n| herd.server(n).is_some()).collect();
        if running.is_empty() {
            rt::sleep(interval).await;
            continue;
        }
        let server = running[fastrand::usize(..running.len())].clone();
        let Some(addr) = herd.addr(&server) else {
            continue;
        };
        let w = fastrand::usize(..walkers.len());
        let line = if tick.is_multiple_of(4) {
            // Ask about somebody else, somewhere else.
            let other = &walkers[fastrand::usize(..walkers.len())].id;
            format!("WHATSAT {other} 10 3\n")
        } else {
            let walker = &mut walkers[w];
            walker.lat = (walker.lat + (fastrand::f64() - 0.5) * 0.01).clamp(-89.0, 89.0);
            walker.lng = (walker.lng + (fastrand::f64() - 0.5) * 0.01).clamp(-179.0, 179.0);
            format!(
                "IAMAT {} {} {}\n",
                walker.id,
                iso6709(walker.lat, walker.lng),
                now_text()
            )
        };
        let res = exchange(addr, &line).await;
        let at = SystemTime::now();
        {
            let mut l = lock(&log);
            match res {
                Ok(reply) if reply.starts_with(b"AT ") && line.starts_with("IAMAT") => {
                    let at_line = reply.strip_suffix(b"\n").unwrap_or(&reply).to_vec();
                    l.replies.insert(at_line, (server.clone(), at));
                    l.iamats += 1;
                }
                Ok(reply) if reply.starts_with(b"AT ") => l.whatsats += 1,
                Ok(_) => {}
                Err(_) => l.failures += 1,
            }
        }
        // Pace to the interval from the start, so slow replies do not slow the herd's load.
        let due = interval.saturating_mul(u32::try_from(tick).unwrap_or(u32::MAX));
        let wait = due.saturating_sub(started.elapsed());
        if !wait.is_zero() {
            rt::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso6709_signs_every_number() {
        assert_eq!(
            super::iso6709(34.06893, -118.445127),
            "+34.068930-118.445127"
        );
        assert_eq!(super::iso6709(-33.86, 151.21), "-33.860000+151.210000");
        assert_eq!(super::iso6709(0.0, 0.0), "+0.000000+0.000000");
    }
}
