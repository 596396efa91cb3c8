//! A cache in front of the remote Places providers (Google legacy and New).
//!
//! Keys are the centre rounded to a grid of `cache_grid_deg` degrees plus the radius in metres
//! (its exact text). Every centre within one grid cell therefore shares one answer: at the
//! default 0.001° a cell is about 111 m north-south (less east-west away from the equator), and
//! the answer is the one fetched for the first centre of the cell that missed. The inner provider
//! is always asked for [`MAX_BOUND`] places, and each lookup is cut to its own bound, so one entry
//! serves every bound.
//!
//! - Size: at most `cache_entries` answers. When full, the **oldest inserted** entry goes first
//!   (FIFO). All entries share one time to live, so the oldest inserted is also the one closest to
//!   expiry; a hit does not renew an entry, and it stays the cheap read of a hash map.
//! - Age: an answer older than `cache_ttl_ms` is refetched. Expired entries are dropped when a
//!   lookup meets them and, from the oldest, whenever a new answer is stored.
//! - Only `OK` and `ZERO_RESULTS` answers are stored; errors and timeouts are asked again.
//! - Identical lookups in flight at once share one request (a [`Shared`] future kept in the table
//!   while pending). The first to poll drives it; if that caller goes away, another takes over;
//!   when every caller has gone, the pending entry is removed and the request dropped, so a
//!   hung or abandoned request never wedges its key.
//!
//! The cache reads the clock through an injectable [`Clock`] (default [`Instant::now`]), so
//! tests move time by hand.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, FutureExt, Shared};
use serde_json::Value;

use super::{cut_to_bound, status_of, NearbyQuery, Places};
use crate::config::PlacesConfig;

/// The largest WHATSAT bound, and the most one Google page holds: what the cache always asks for.
pub const MAX_BOUND: usize = 20;

/// The grid used when the one given is not a positive finite number (config validation rejects
/// such values before they get here).
pub const DEFAULT_GRID_DEG: f64 = 0.001;

/// A source of the current time, injectable so expiry tests never sleep.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// Wraps `inner` in a [`Cached`] configured by `cfg`, or returns it as is when
/// `cfg.cache_entries` is 0.
pub fn wrap(inner: Arc<dyn Places>, cfg: &PlacesConfig) -> Arc<dyn Places> {
    if cfg.cache_entries == 0 {
        return inner;
    }
    Arc::new(Cached::new(
        inner,
        cfg.cache_entries,
        Duration::from_millis(cfg.cache_ttl_ms),
        cfg.cache_grid_deg,
    ))
}

/// Counters of a [`Cached`], read with [`Cached::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from a fresh entry.
    pub hits: u64,
    /// Lookups that started a request to the inner provider (expired entries included).
    pub misses: u64,
    /// Lookups that joined an identical request already in flight.
    pub joins: u64,
    /// Answers held now (expired ones included until they are dropped).
    pub entries: usize,
}

/// A cache in front of a remote provider; see the module documentation.
pub struct Cached {
    /// The provider asked on a miss.
    inner: Arc<dyn Places>,
    /// Size of a grid cell, degrees.
    grid_deg: f64,
    /// The table, shared with the requests in flight (they store their own answers).
    core: Arc<Core>,
    /// Lookups answered from the table.
    hits: AtomicU64,
    /// Lookups that started a request.
    misses: AtomicU64,
    /// Lookups that joined a request in flight.
    joins: AtomicU64,
}

/// What the cache and its requests in flight share.
struct Core {
    /// Most answers held.
    capacity: usize,
    /// How long an answer stays fresh.
    ttl: Duration,
    /// The time source.
    now: Clock,
    /// Answers and requests in flight; never locked across an await.
    table: Mutex<Table>,
}

/// A grid cell and a radius.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    /// Latitude divided by the grid, rounded.
    lat: i64,
    /// Longitude divided by the grid, rounded.
    lng: i64,
    /// Radius in metres, the exact text sent to Google.
    radius_m: String,
}

/// A request in flight, shared by every identical lookup.
type Fetch = Shared<BoxFuture<'static, Arc<Value>>>;

/// The mutable part of the cache.
#[derive(Default)]
struct Table {
    /// Stored answers.
    fresh: HashMap<Key, Entry>,
    /// Stored answers by insertion number, oldest first: the eviction order.
    order: BTreeMap<u64, Key>,
    /// Requests in flight.
    pending: HashMap<Key, Pending>,
    /// The next insertion or request number.
    next_id: u64,
}

/// A stored answer.
struct Entry {
    /// The whole answer, up to [`MAX_BOUND`] places.
    doc: Arc<Value>,
    /// When it was stored, by the cache's clock.
    stored: Instant,
    /// Its insertion number (its key in `Table::order`).
    id: u64,
}

/// A request in flight.
struct Pending {
    /// Tells this request from a later one for the same key.
    id: u64,
    /// The request; clones join it.
    fetch: Fetch,
    /// Lookups waiting for it; the last one to go away removes the entry.
    waiters: usize,
}

/// Locks a mutex, carrying on after a panic elsewhere (the table stays consistent: every
/// change is made in full under one lock, with nothing that can panic half-way).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether an answer may be stored.
fn cacheable(doc: &Value) -> bool {
    matches!(status_of(doc), "OK" | "ZERO_RESULTS")
}

/// The grid cell index of a coordinate.
fn cell(v: f64, grid_deg: f64) -> i64 {
    // `as` saturates; coordinates are validated to [-180, 180] anyway.
    (v / grid_deg).round() as i64
}

/// A copy of `doc` cut to `bound` places.
fn cut(doc: &Value, bound: usize) -> Value {
    let mut out = doc.clone();
    cut_to_bound(&mut out, bound);
    out
}

impl Cached {
    /// A cache of at most `capacity` answers, each fresh for `ttl`, keyed on a grid of
    /// `grid_deg` degrees, reading [`Instant::now`].
    pub fn new(inner: Arc<dyn Places>, capacity: usize, ttl: Duration, grid_deg: f64) -> Self {
        Cached::with_clock(inner, capacity, ttl, grid_deg, Arc::new(Instant::now))
    }

    /// [`Cached::new`] reading the time from `now` (tests move it by hand).
    pub fn with_clock(
        inner: Arc<dyn Places>,
        capacity: usize,
        ttl: Duration,
        grid_deg: f64,
        now: Clock,
    ) -> Self {
        let grid_deg = if grid_deg.is_finite() && grid_deg > 0.0 {
            grid_deg
        } else {
            DEFAULT_GRID_DEG
        };
        Cached {
            inner,
            grid_deg,
            core: Arc::new(Core {
                capacity,
                ttl,
                now,
                table: Mutex::new(Table::default()),
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            joins: AtomicU64::new(0),
        }
    }

    /// Hits, misses, joins and entries so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            joins: self.joins.load(Ordering::Relaxed),
            entries: lock(&self.core.table).fresh.len(),
        }
    }

    /// The key of `q`.
    fn key(&self, q: &NearbyQuery) -> Key {
        Key {
            lat: cell(q.lat, self.grid_deg),
            lng: cell(q.lng, self.grid_deg),
            radius_m: q.radius_m.clone(),
        }
    }

    /// A request to the inner provider for `q` at the maximum bound, which stores its own
    /// answer (request number `id`) when it ends, whoever is polling it then.
    fn fetch(&self, key: Key, id: u64, q: NearbyQuery) -> Fetch {
        let inner = self.inner.clone();
        let core = self.core.clone();
        let q = NearbyQuery {
            bound: MAX_BOUND,
            ..q
        };
        async move {
            // Called on the first poll, so the provider is never called under the table lock.
            let doc = Arc::new(inner.nearby(q).await);
            core.finish(key, id, doc.clone());
            doc
        }
        .boxed()
        .shared()
    }
}

impl Core {
    /// Ends request `id` for `key`: removes it from the table and stores a cacheable answer.
    fn finish(&self, key: Key, id: u64, doc: Arc<Value>) {
        let done = {
            let mut t = lock(&self.table);
            let done = match t.pending.get(&key) {
                Some(p) if p.id == id => t.pending.remove(&key),
                _ => None,
            };
            if self.capacity > 0 && cacheable(&doc) {
                let now = (self.now)();
                t.store(key, doc, now, self.ttl, self.capacity);
            }
            done
        };
        // Our own clone of the request: dropped outside the lock.
        drop(done);
    }

    /// One waiter of request `id` for `key` went away (answered or dropped). The last one
    /// removes a request that has not ended, which drops it.
    fn leave(&self, key: &Key, id: u64) {
        let abandoned = {
            let mut t = lock(&self.table);
            match t.pending.get_mut(key) {
                Some(p) if p.id == id => {
                    p.waiters = p.waiters.saturating_sub(1);
                    if p.waiters == 0 {
                        t.pending.remove(key)
                    } else {
                        None
                    }
                }
                _ => None,
            }
        };
        // Possibly the last clone of the request, and so the request itself.
        drop(abandoned);
    }
}

impl Table {
    /// A fresh entry for `key`, or `None` (dropping an expired one).
    fn fresh(&mut self, key: &Key, now: Instant, ttl: Duration) -> Option<Arc<Value>> {
        let e = self.fresh.get(key)?;
        if now.saturating_duration_since(e.stored) < ttl {
            return Some(e.doc.clone());
        }
        if let Some(old) = self.fresh.remove(key) {
            self.order.remove(&old.id);
        }
        None
    }

    /// Stores `doc` for `key`, first dropping expired entries from the oldest, then the oldest
    /// entries past `capacity - 1`.
    fn store(&mut self, key: Key, doc: Arc<Value>, now: Instant, ttl: Duration, capacity: usize) {
        if let Some(old) = self.fresh.remove(&key) {
            self.order.remove(&old.id);
        }
        while let Some((_, oldest)) = self.order.first_key_value() {
            let expired = self
                .fresh
                .get(oldest)
                .is_none_or(|e| now.saturating_duration_since(e.stored) >= ttl);
            if !expired && self.fresh.len() < capacity {
                break;
            }
            if let Some((_, oldest)) = self.order.pop_first() {
                self.fresh.remove(&oldest);
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        self.order.insert(id, key.clone());
        self.fresh.insert(
            key,
            Entry {
                doc,
                stored: now,
                id,
            },
        );
    }
}

/// A lookup waiting for a request; tells the table when it goes away.
struct Waiter {
    /// The table.
    core: Arc<Core>,
    /// What it waits for.
    key: Key,
    /// Which request.
    id: u64,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.core.leave(&self.key, self.id);
    }
}

impl Places for Cached {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn nearby(&self, q: NearbyQuery) -> BoxFuture<'static, Value> {
        let bound = q.bound;
        let key = self.key(&q);
        let now = (self.core.now)();
        let (fetch, id) = {
            let mut t = lock(&self.core.table);
            if let Some(doc) = t.fresh(&key, now, self.core.ttl) {
                drop(t);
                self.hits.fetch_add(1, Ordering::Relaxed);
                let doc = cut(&doc, bound);
                return Box::pin(futures::future::ready(doc));
            }
            if let Some(p) = t.pending.get_mut(&key) {
                p.waiters += 1;
                self.joins.fetch_add(1, Ordering::Relaxed);
                (p.fetch.clone(), p.id)
            } else {
                let id = t.next_id;
                t.next_id += 1;
                let fetch = self.fetch(key.clone(), id, q);
                t.pending.insert(
                    key.clone(),
                    Pending {
                        id,
                        fetch: fetch.clone(),
                        waiters: 1,
                    },
                );
                self.misses.fetch_add(1, Ordering::Relaxed);
                (fetch, id)
            }
        };
        let waiter = Waiter {
            core: self.core.clone(),
            key,
            id,
        };
        Box::pin(async move {
            let doc = fetch.await;
            drop(waiter);
            cut(&doc, bound)
        })
    }

    fn cache_stats(&self) -> Option<CacheStats> {
        Some(self.stats())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::{Context, Poll};

    use futures::task::noop_waker_ref;
    use serde_json::json;

    /// A provider that counts its calls, records what it was asked, answers `MAX_BOUND` places
    /// with the status set, and holds its answers while a gate is set.
    #[derive(Default)]
    struct Fake {
        calls: AtomicUsize,
        asked: Mutex<Vec<NearbyQuery>>,
        status: Mutex<String>,
        gate: Mutex<Option<async_channel::Receiver<()>>>,
    }

    impl Fake {
        fn new() -> Arc<Fake> {
            let f = Fake::default();
            *lock(&f.status) = "OK".into();
            Arc::new(f)
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }

        fn answer(&self, status: &str) {
            *lock(&self.status) = status.into();
        }

        /// Holds every answer until the returned sender is dropped.
        fn hold(&self) -> async_channel::Sender<()> {
            let (tx, rx) = async_channel::bounded(1);
            *lock(&self.gate) = Some(rx);
            tx
        }
    }

    impl Places for Fake {
        fn name(&self) -> &'static str {
            "fake"
        }

        fn nearby(&self, q: NearbyQuery) -> BoxFuture<'static, Value> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let status = lock(&self.status).clone();
            let gate = lock(&self.gate).clone();
            let results: Vec<Value> = if status == "OK" {
                (0..q.bound)
                    .map(|i| json!({ "name": format!("p{i}") }))
                    .collect()
            } else {
                vec![]
            };
            lock(&self.asked).push(q);
            Box::pin(async move {
                if let Some(gate) = gate {
                    let _ = gate.recv().await;
                }
                json!({"html_attributions": [], "next_page_token": "t", "results": results, "status": status})
            })
        }
    }

    /// A clock moved by hand.
    struct Hand(Arc<Mutex<Instant>>);

    impl Hand {
        fn clock(&self) -> Clock {
            let t = self.0.clone();
            Arc::new(move || *lock(&t))
        }

        fn advance(&self, ms: u64) {
            *lock(&self.0) += Duration::from_millis(ms);
        }
    }

    const TTL_MS: u64 = 60_000;

    fn setup(capacity: usize) -> (Arc<Fake>, Cached, Hand) {
        let fake = Fake::new();
        let hand = Hand(Arc::new(Mutex::new(Instant::now())));
        let cache = Cached::with_clock(
            fake.clone(),
            capacity,
            Duration::from_millis(TTL_MS),
            0.001,
            hand.clock(),
        );
        (fake, cache, hand)
    }

    fn q(loc: &str, radius_m: &str, bound: usize) -> NearbyQuery {
        NearbyQuery::new(loc.as_bytes(), radius_m.into(), bound).unwrap()
    }

    fn look(cache: &Cached, q: NearbyQuery) -> Value {
        crate::rt::block_on(cache.nearby(q))
    }

    fn count(doc: &Value) -> usize {
        doc["results"].as_array().unwrap().len()
    }

    fn stats(hits: u64, misses: u64, joins: u64, entries: usize) -> CacheStats {
        CacheStats {
            hits,
            misses,
            joins,
            entries,
        }
    }

    const UCLA: &str = "+34.068930-118.445127";

    #[test]
    fn a_repeat_is_a_hit_and_every_bound_is_served_from_one_entry() {
        let (fake, cache, _) = setup(10);
        let a = look(&cache, q(UCLA, "500", 5));
        assert_eq!((count(&a), fake.calls()), (5, 1));
        assert!(a.get("next_page_token").is_none());
        assert_eq!(lock(&fake.asked)[0].bound, MAX_BOUND, "asks for the most");
        assert_eq!(
            lock(&fake.asked)[0].lat_text,
            "34.068930",
            "the client's digits"
        );
        let b = look(&cache, q(UCLA, "500", 20));
        let c = look(&cache, q(UCLA, "500", 1));
        assert_eq!((count(&b), count(&c), fake.calls()), (20, 1, 1));
        assert_eq!(c["results"][0]["name"], "p0");
        assert_eq!(cache.stats(), stats(2, 1, 0, 1));
        assert_eq!(cache.cache_stats(), Some(cache.stats()));
        assert_eq!(cache.name(), "fake");
    }

    #[test]
    fn centres_in_one_grid_cell_share_an_answer() {
        let (fake, cache, _) = setup(10);
        look(&cache, q("+34.0689-118.4451", "500", 3));
        // Within half a cell (0.0005°) of the same grid point, on both sides.
        look(&cache, q("+34.0692-118.4448", "500", 3));
        look(&cache, q("+34.0686-118.4454", "500", 3));
        assert_eq!(fake.calls(), 1);
        // The next cell north, and the next one west.
        look(&cache, q("+34.0696-118.4451", "500", 3));
        look(&cache, q("+34.0689-118.4456", "500", 3));
        assert_eq!(fake.calls(), 3);
        // Negative and positive coordinates near zero do not collide with their mirror.
        look(&cache, q("-0.0020+0.0020", "500", 3));
        look(&cache, q("+0.0020-0.0020", "500", 3));
        assert_eq!(fake.calls(), 5);
        assert_eq!(cache.stats(), stats(2, 5, 0, 5));
    }

    #[test]
    fn the_radius_is_part_of_the_key() {
        let (fake, cache, _) = setup(10);
        look(&cache, q(UCLA, "500", 3));
        look(&cache, q(UCLA, "500.5", 3));
        look(&cache, q(UCLA, "10000", 3));
        look(&cache, q(UCLA, "10000", 3));
        assert_eq!(fake.calls(), 3);
        let radii: Vec<String> = lock(&fake.asked)
            .iter()
            .map(|q| q.radius_m.clone())
            .collect();
        assert_eq!(radii, ["500", "500.5", "10000"]);
    }

    #[test]
    fn an_expired_answer_is_refetched() {
        let (fake, cache, hand) = setup(10);
        look(&cache, q(UCLA, "500", 3));
        hand.advance(TTL_MS - 1);
        look(&cache, q(UCLA, "500", 3));
        assert_eq!(fake.calls(), 1, "still fresh");
        hand.advance(1);
        look(&cache, q(UCLA, "500", 3));
        assert_eq!(fake.calls(), 2, "expired at the TTL");
        look(&cache, q(UCLA, "500", 3));
        assert_eq!(cache.stats(), stats(2, 2, 0, 1));
        // Storing drops expired entries, oldest first.
        hand.advance(TTL_MS);
        look(&cache, q("+1+1", "500", 3));
        assert_eq!(cache.stats().entries, 1);
    }

    #[test]
    fn the_oldest_inserted_answer_is_evicted_first() {
        let (fake, cache, _) = setup(2);
        look(&cache, q("+1+1", "500", 3));
        look(&cache, q("+2+2", "500", 3));
        // A hit does not renew the oldest: eviction is by insertion order.
        look(&cache, q("+1+1", "500", 3));
        look(&cache, q("+3+3", "500", 3));
        assert_eq!((fake.calls(), cache.stats().entries), (3, 2));
        look(&cache, q("+2+2", "500", 3));
        look(&cache, q("+3+3", "500", 3));
        assert_eq!(fake.calls(), 3, "the two newest stayed");
        look(&cache, q("+1+1", "500", 3));
        assert_eq!(fake.calls(), 4, "the oldest was evicted");
        assert_eq!(cache.stats(), stats(3, 4, 0, 2));
    }

    #[test]
    fn only_ok_and_zero_results_are_stored() {
        let (fake, cache, _) = setup(10);
        for status in [
            "REQUEST_DENIED",
            "OVER_QUERY_LIMIT",
            "UNKNOWN_ERROR",
            "INVALID_REQUEST",
        ] {
            fake.answer(status);
            let before = fake.calls();
            assert_eq!(look(&cache, q(UCLA, "500", 3))["status"], status);
            assert_eq!(look(&cache, q(UCLA, "500", 3))["status"], status);
            assert_eq!(fake.calls(), before + 2, "{status} is asked again");
        }
        assert_eq!(cache.stats().entries, 0);
        fake.answer("ZERO_RESULTS");
        look(&cache, q(UCLA, "500", 3));
        fake.answer("OK");
        let doc = look(&cache, q(UCLA, "500", 3));
        assert_eq!(
            (doc["status"].as_str(), count(&doc)),
            (Some("ZERO_RESULTS"), 0)
        );
        assert_eq!((fake.calls(), cache.stats().entries), (9, 1));
    }

    #[test]
    fn concurrent_identical_lookups_make_one_request() {
        let (fake, cache, _) = setup(10);
        let gate = fake.hold();
        let mut lookups: Vec<_> = (1..=8).map(|b| cache.nearby(q(UCLA, "500", b))).collect();
        for l in &mut lookups {
            assert!(poll_once(l).is_pending());
        }
        assert_eq!(fake.calls(), 1);
        drop(gate);
        let docs = crate::rt::block_on(futures::future::join_all(lookups));
        let counts: Vec<usize> = docs.iter().map(count).collect();
        assert_eq!(
            counts,
            [1, 2, 3, 4, 5, 6, 7, 8],
            "each cut to its own bound"
        );
        assert_eq!(fake.calls(), 1);
        assert_eq!(cache.stats(), stats(0, 1, 7, 1));
        look(&cache, q(UCLA, "500", 3));
        assert_eq!((fake.calls(), cache.stats().hits), (1, 1));
    }

    fn poll_once(f: &mut BoxFuture<'static, Value>) -> Poll<Value> {
        f.poll_unpin(&mut Context::from_waker(noop_waker_ref()))
    }

    #[test]
    fn a_dropped_request_does_not_wedge_its_key() {
        let (fake, cache, _) = setup(10);
        let gate = fake.hold();
        let mut a = cache.nearby(q(UCLA, "500", 3));
        assert!(poll_once(&mut a).is_pending());
        assert_eq!(fake.calls(), 1);
        // The only caller gives up (a deadline): the request goes with it.
        drop(a);
        let mut b = cache.nearby(q(UCLA, "500", 3));
        assert!(poll_once(&mut b).is_pending());
        assert_eq!(fake.calls(), 2, "a new request, not a join of the dead one");
        assert_eq!(cache.stats(), stats(0, 2, 0, 0));
        drop(gate);
        let doc = crate::rt::block_on(b);
        assert_eq!(count(&doc), 3);
        look(&cache, q(UCLA, "500", 3));
        assert_eq!((fake.calls(), cache.stats().hits), (2, 1));
    }

    #[test]
    fn when_the_caller_driving_a_request_goes_another_takes_over() {
        let (fake, cache, _) = setup(10);
        let gate = fake.hold();
        let mut a = cache.nearby(q(UCLA, "500", 3));
        let b = cache.nearby(q(UCLA, "500", 4));
        assert!(poll_once(&mut a).is_pending(), "a drives the request");
        drop(a);
        drop(gate);
        let doc = crate::rt::block_on(b);
        assert_eq!((count(&doc), fake.calls()), (4, 1));
        assert_eq!(cache.stats(), stats(0, 1, 1, 1));
    }

    #[test]
    fn a_failed_shared_request_reaches_every_waiter_and_is_asked_again() {
        let (fake, cache, _) = setup(10);
        fake.answer("UNKNOWN_ERROR");
        let gate = fake.hold();
        let lookups: Vec<_> = (0..3).map(|_| cache.nearby(q(UCLA, "500", 3))).collect();
        drop(gate);
        let docs = crate::rt::block_on(futures::future::join_all(lookups));
        assert!(docs.iter().all(|d| d["status"] == "UNKNOWN_ERROR"));
        assert_eq!(fake.calls(), 1);
        fake.answer("OK");
        assert_eq!(look(&cache, q(UCLA, "500", 3))["status"], "OK");
        assert_eq!(fake.calls(), 2);
        assert_eq!(cache.stats(), stats(0, 2, 2, 1));
    }

    #[test]
    fn wrap_follows_the_config() {
        let fake: Arc<dyn Places> = Fake::new();
        let mut cfg = PlacesConfig {
            cache_entries: 0,
            ..PlacesConfig::default()
        };
        let same = wrap(fake.clone(), &cfg);
        assert!(Arc::ptr_eq(&same, &fake));
        assert_eq!(same.cache_stats(), None);
        cfg.cache_entries = 5;
        let cached = wrap(fake, &cfg);
        assert_eq!(cached.cache_stats(), Some(CacheStats::default()));
        // A grid that is not positive falls back to the default.
        let odd = Cached::new(Fake::new(), 1, Duration::from_secs(1), f64::NAN);
        assert_eq!(odd.grid_deg, DEFAULT_GRID_DEG);
        // The offline table is local: never cached.
        let offline = PlacesConfig {
            provider: crate::config::Provider::Offline,
            ..PlacesConfig::default()
        };
        assert_eq!(crate::places::build(&offline).unwrap().cache_stats(), None);
    }
}
