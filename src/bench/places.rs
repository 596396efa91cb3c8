//! Offline Places lookups: radius 50 km, bound 20, on the embedded table, on one thread.

use std::time::{Duration, Instant};

use super::load::{micros, new_histogram};
use super::report::{Percentiles, PlacesBench};
use crate::places::offline::OfflinePlaces;

/// Centres near cities on every continent (jittered per lookup), so lookups find places.
const CENTRES: &[(f64, f64)] = &[
    (34.0689, -118.4451),
    (40.7128, -74.0060),
    (51.5074, -0.1278),
    (48.8566, 2.3522),
    (35.6762, 139.6503),
    (-33.8688, 151.2093),
    (19.4326, -99.1332),
    (-23.5505, -46.6333),
    (28.6139, 77.2090),
    (30.0444, 31.2357),
    (-1.2921, 36.8219),
    (55.7558, 37.6173),
    (39.9042, 116.4074),
    (1.3521, 103.8198),
    (64.1466, -21.9426),
    (-41.2865, 174.7762),
];

/// Radius of every lookup, metres.
pub const RADIUS_M: f64 = 50_000.0;
/// Bound of every lookup.
pub const BOUND: usize = 20;

/// Looks up until `duration` or `count` runs out.
pub fn run(duration: Duration, count: u64) -> Result<PlacesBench, String> {
    let t0 = Instant::now();
    let table = OfflinePlaces::embedded().map_err(|e| format!("embedded places table: {e}"))?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let mut rng = fastrand::Rng::with_seed(7);
    let mut hist = new_histogram();
    let mut results = 0u64;
    let mut lookups = 0u64;
    let start = Instant::now();
    let end = start + duration;
    while lookups < count && Instant::now() < end {
        let (lat, lng) = CENTRES[lookups as usize % CENTRES.len()];
        let lat = lat + (rng.f64() - 0.5);
        let lng = lng + (rng.f64() - 0.5);
        let t = Instant::now();
        let doc = table.nearby(lat, lng, RADIUS_M, BOUND);
        hist.saturating_record(micros(t.elapsed()));
        results += doc["results"].as_array().map_or(0, |r| r.len() as u64);
        lookups += 1;
    }
    let elapsed = start.elapsed().as_secs_f64().max(1e-9);
    Ok(PlacesBench {
        table: table.len(),
        load_ms,
        radius_m: RADIUS_M,
        bound: BOUND,
        lookups,
        per_second: lookups as f64 / elapsed,
        mean_results: results as f64 / (lookups.max(1)) as f64,
        latency_us: Percentiles::of(&hist),
    })
}
