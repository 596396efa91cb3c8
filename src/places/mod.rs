//! Places: where WHATSAT finds what is near a client.
//!
//! A [`Places`] provider turns a centre, a radius and a bound into a document in the shape of
//! Google's legacy Nearby Search response. Providers: the embedded GeoNames table (offline, the
//! default without a key), Google legacy Nearby Search, and Google Places API (New) mapped to the
//! legacy shape. [`Guarded`] puts a deadline and a concurrency cap in front of any of them, so a
//! slow service never holds a client: past the deadline the reply carries a non-OK status.
//! The remote providers sit behind a [`cache::Cached`] unless `cache_entries` is 0.

pub mod cache;
pub mod google;
pub mod google_new;
pub mod json;
pub mod offline;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{json, Value};

/// The environment variable that holds the Google API key.
pub const KEY_ENV: &str = "GOOGLE_PLACES_API_KEY";

/// The environment variable that overrides the Google base URL.
pub const URL_ENV: &str = "HERD_PLACES_URL";

/// Builds the configured provider behind its deadline and cap; a remote (Google) provider also
/// behind a cache when `cfg.cache_entries` is not 0. Errors say what is missing.
pub fn build(cfg: &crate::config::PlacesConfig) -> Result<Arc<Guarded>, String> {
    use crate::config::Provider;
    let key = std::env::var(KEY_ENV).ok().filter(|k| !k.trim().is_empty());
    let base = std::env::var(URL_ENV)
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| cfg.url.clone())
        .unwrap_or_else(|| google::GOOGLE_BASE.to_string());
    let deadline = Duration::from_millis(cfg.timeout_ms);
    let need_key = |what: &str| format!("places provider {what} needs an API key in {KEY_ENV}");
    // The cap sits under the cache, so hits never queue behind slow misses.
    let capped =
        |p: Arc<dyn Places>| -> Arc<dyn Places> { Arc::new(Capped::new(p, cfg.max_concurrent)) };
    let provider: Arc<dyn Places> = match (cfg.provider, key) {
        (Provider::GoogleLegacy, Some(k)) | (Provider::Auto, Some(k)) => cache::wrap(
            capped(Arc::new(google::GoogleLegacy::new(&base, k, deadline))),
            cfg,
        ),
        (Provider::GoogleLegacy, None) => return Err(need_key("GoogleLegacy")),
        (Provider::GoogleNew, Some(k)) => cache::wrap(
            capped(Arc::new(google_new::GoogleNew::new(&base, k, deadline))),
            cfg,
        ),
        (Provider::GoogleNew, None) => return Err(need_key("GoogleNew")),
        (Provider::Offline, _) | (Provider::Auto, None) => match &cfg.data_file {
            Some(path) => {
                let table = offline::OfflinePlaces::from_file(path)
                    .map_err(|e| format!("places.data_file {}: {e}", path.display()))?;
                capped(Arc::new(Offline(Arc::new(table))))
            }
            // The embedded table is known good; it loads while the server starts listening.
            None => capped(Arc::new(LazyOffline::start())),
        },
    };
    Ok(Arc::new(Guarded::with_deadline(provider, deadline)))
}

/// What a WHATSAT asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct NearbyQuery {
    /// Centre latitude, degrees.
    pub lat: f64,
    /// Centre longitude, degrees.
    pub lng: f64,
    /// Centre latitude as the client wrote it, without a `+` (for query strings).
    pub lat_text: String,
    /// Centre longitude as the client wrote it, without a `+`.
    pub lng_text: String,
    /// Radius in metres, exact decimal text (`"500"` for 0.5 km).
    pub radius_m: String,
    /// Radius in metres as a number.
    pub radius_m_f64: f64,
    /// Most results to return (1..=20).
    pub bound: usize,
}

impl NearbyQuery {
    /// Builds a query from an ISO 6709 location field as the client sent it (`+34.06-118.44`).
    pub fn new(location_raw: &[u8], radius_m: String, bound: usize) -> Option<NearbyQuery> {
        let text = std::str::from_utf8(location_raw).ok()?;
        // The longitude starts at the second sign.
        let split = text
            .char_indices()
            .skip(1)
            .find(|(_, c)| *c == '+' || *c == '-')?
            .0;
        let (lat, lng) = text.split_at(split);
        let plain = |s: &str| s.strip_prefix('+').unwrap_or(s).to_string();
        let radius_m_f64: f64 = radius_m.parse().ok()?;
        Some(NearbyQuery {
            lat: lat.parse().ok()?,
            lng: lng.parse().ok()?,
            lat_text: plain(lat),
            lng_text: plain(lng),
            radius_m,
            radius_m_f64,
            bound,
        })
    }
}

/// A source of nearby places, answering in Google's legacy shape. Never fails: a failure is a
/// document with a non-OK `status`.
pub trait Places: Send + Sync + 'static {
    /// A short name for logs (`offline`, `google-legacy`, `google-new`).
    fn name(&self) -> &'static str;
    /// The places near `q`, at most `q.bound` of them.
    fn nearby(&self, q: NearbyQuery) -> BoxFuture<'static, Value>;
    /// The counters of a cache, for providers that are one ([`cache::Cached`]).
    fn cache_stats(&self) -> Option<cache::CacheStats> {
        None
    }
}

/// A document with no results and the given status (and a message for the log and the client).
pub fn status_doc(status: &str, message: Option<&str>) -> Value {
    let mut doc = json!({ "html_attributions": [], "results": [], "status": status });
    if let (Some(m), Some(obj)) = (message, doc.as_object_mut()) {
        obj.insert("error_message".into(), Value::String(m.to_string()));
    }
    doc
}

/// Cuts `results` to `bound` entries and drops `next_page_token` (the page no longer matches).
pub fn cut_to_bound(doc: &mut Value, bound: usize) {
    if let Some(obj) = doc.as_object_mut() {
        obj.shift_remove("next_page_token");
        if let Some(Value::Array(results)) = obj.get_mut("results") {
            results.truncate(bound);
        }
    }
}

/// The status of a document, for logs.
pub fn status_of(doc: &Value) -> &str {
    doc.get("status").and_then(Value::as_str).unwrap_or("?")
}

/// The offline GeoNames table as a provider (a lookup takes microseconds: it runs inline).
pub struct Offline(pub Arc<offline::OfflinePlaces>);

impl Places for Offline {
    fn name(&self) -> &'static str {
        "offline"
    }

    fn nearby(&self, q: NearbyQuery) -> BoxFuture<'static, Value> {
        let table = self.0.clone();
        Box::pin(async move { table.nearby(q.lat, q.lng, q.radius_m_f64, q.bound) })
    }
}

/// The embedded table, loaded on a thread of its own so that a server listens at once (the
/// load takes tens of milliseconds); a lookup that comes before it is ready waits for it on the
/// blocking pool, within the usual deadline.
pub struct LazyOffline(Arc<OnceLock<Result<Arc<offline::OfflinePlaces>, String>>>);

impl LazyOffline {
    /// Starts loading the embedded table.
    pub fn start() -> Self {
        fn load() -> Result<Arc<offline::OfflinePlaces>, String> {
            offline::OfflinePlaces::embedded()
                .map(Arc::new)
                .map_err(|e| format!("embedded places table: {e}"))
        }
        let cell = Arc::new(OnceLock::new());
        let filler = cell.clone();
        let spawned = std::thread::Builder::new()
            .name("places-load".into())
            .spawn(move || {
                let _ = filler.set(load());
            });
        if spawned.is_err() {
            let _ = cell.set(load());
        }
        LazyOffline(cell)
    }
}

impl Places for LazyOffline {
    fn name(&self) -> &'static str {
        "offline"
    }

    fn nearby(&self, q: NearbyQuery) -> BoxFuture<'static, Value> {
        let cell = self.0.clone();
        Box::pin(async move {
            let table = match cell.get() {
                Some(t) => t.clone(),
                None => crate::rt::spawn_blocking(move || cell.wait().clone()).await,
            };
            match table {
                Ok(t) => t.nearby(q.lat, q.lng, q.radius_m_f64, q.bound),
                Err(e) => status_doc("UNKNOWN_ERROR", Some(&e)),
            }
        })
    }
}

/// A cap on the lookups in flight at once through a provider; the rest wait their turn.
pub struct Capped {
    /// The provider.
    inner: Arc<dyn Places>,
    /// One permit per lookup in flight.
    permits: Arc<async_lock::Semaphore>,
}

impl Capped {
    /// At most `max_concurrent` lookups through `inner` at once.
    pub fn new(inner: Arc<dyn Places>, max_concurrent: usize) -> Self {
        Capped {
            inner,
            permits: Arc::new(async_lock::Semaphore::new(max_concurrent.max(1))),
        }
    }
}

impl Places for Capped {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn nearby(&self, q: NearbyQuery) -> BoxFuture<'static, Value> {
        let (inner, permits) = (self.inner.clone(), self.permits.clone());
        Box::pin(async move {
            let _permit = permits.acquire().await;
            inner.nearby(q).await
        })
    }

    fn cache_stats(&self) -> Option<cache::CacheStats> {
        self.inner.cache_stats()
    }
}

/// The statuses a lookup can end with (Google's, plus `OTHER` for anything else), so the
/// metrics' label set stays bounded whatever a service answers.
pub const STATUSES: [&str; 8] = [
    "OK",
    "ZERO_RESULTS",
    "OVER_QUERY_LIMIT",
    "REQUEST_DENIED",
    "INVALID_REQUEST",
    "UNKNOWN_ERROR",
    "NOT_FOUND",
    "OTHER",
];

/// A deadline in front of a provider: a client never waits longer, and the answer is cut to
/// the bound.
pub struct Guarded {
    /// The provider (capped, maybe cached).
    inner: Arc<dyn Places>,
    /// Longest a client waits.
    deadline: Duration,
    /// Lookups answered, by status (indexes of [`STATUSES`]), for the metrics.
    answered: [std::sync::atomic::AtomicU64; STATUSES.len()],
}

impl Guarded {
    /// `inner` behind a concurrency cap and a deadline.
    pub fn new(inner: Arc<dyn Places>, max_concurrent: usize, deadline: Duration) -> Self {
        Self::with_deadline(Arc::new(Capped::new(inner, max_concurrent)), deadline)
    }

    /// `inner` (already capped where that matters) behind a deadline.
    pub fn with_deadline(inner: Arc<dyn Places>, deadline: Duration) -> Self {
        Guarded {
            inner,
            deadline,
            answered: Default::default(),
        }
    }

    /// Lookups answered so far, by status (every entry of [`STATUSES`], in that order).
    pub fn answered(&self) -> Vec<(&'static str, u64)> {
        STATUSES
            .iter()
            .zip(&self.answered)
            .map(|(s, n)| (*s, n.load(std::sync::atomic::Ordering::Relaxed)))
            .collect()
    }

    /// The provider's name.
    pub fn name(&self) -> &'static str {
        self.inner.name()
    }

    /// The provider's cache counters, when it is behind a cache.
    pub fn cache_stats(&self) -> Option<cache::CacheStats> {
        self.inner.cache_stats()
    }

    /// Looks up `q`, waiting at most the deadline (queueing for a permit included).
    pub async fn nearby(&self, q: NearbyQuery) -> Value {
        let bound = q.bound;
        let mut doc = match crate::rt::timeout(self.deadline, self.inner.nearby(q)).await {
            Some(doc) => doc,
            None => status_doc(
                "UNKNOWN_ERROR",
                Some(&format!(
                    "places lookup timed out after {} ms",
                    self.deadline.as_millis()
                )),
            ),
        };
        cut_to_bound(&mut doc, bound);
        let status = status_of(&doc);
        let i = STATUSES
            .iter()
            .position(|s| *s == status)
            .unwrap_or(STATUSES.len() - 1);
        self.answered[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        doc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_keep_the_clients_digits() {
        let q = NearbyQuery::new(b"+34.068930-118.445127", "10000".into(), 5).unwrap();
        assert_eq!(
            (q.lat_text.as_str(), q.lng_text.as_str()),
            ("34.068930", "-118.445127")
        );
        assert_eq!(
            (q.lat, q.lng, q.radius_m_f64),
            (34.06893, -118.445127, 10000.0)
        );
        let q = NearbyQuery::new(b"-33.86+151.21", "500".into(), 1).unwrap();
        assert_eq!(
            (q.lat_text.as_str(), q.lng_text.as_str()),
            ("-33.86", "151.21")
        );
        assert!(NearbyQuery::new(b"+34", "1".into(), 1).is_none());
    }

    /// Never answers for a 1 km radius; answers at once otherwise.
    struct SlowForOneKm;

    impl Places for SlowForOneKm {
        fn name(&self) -> &'static str {
            "slow"
        }
        fn nearby(&self, q: NearbyQuery) -> BoxFuture<'static, Value> {
            if q.radius_m == "1000" {
                Box::pin(futures::future::pending())
            } else {
                Box::pin(futures::future::ready(status_doc("ZERO_RESULTS", None)))
            }
        }
    }

    #[test]
    fn cache_hits_do_not_queue_behind_slow_lookups() {
        use futures::FutureExt;
        let cfg = crate::config::PlacesConfig::default();
        let cached = cache::wrap(Arc::new(Capped::new(Arc::new(SlowForOneKm), 1)), &cfg);
        let q = |m: &str| NearbyQuery::new(b"+34-118", m.to_string(), 5).unwrap();
        futures::executor::block_on(async {
            cached.nearby(q("2000")).await;
            // The slow lookup takes the only permit and never finishes...
            let mut slow = cached.nearby(q("1000"));
            assert!(futures::poll!(&mut slow).is_pending());
            // ...yet the cached answer comes back at once.
            let hit = cached.nearby(q("2000")).now_or_never();
            assert_eq!(
                hit.map(|d| d["status"].clone()),
                Some(json!("ZERO_RESULTS"))
            );
            // A miss does wait for the permit.
            assert!(cached.nearby(q("3000")).now_or_never().is_none());
        });
    }

    #[test]
    fn the_lazy_embedded_table_answers_its_first_lookup() {
        let p = LazyOffline::start();
        let q = NearbyQuery::new(b"+34.068930-118.445127", "10000".into(), 3).unwrap();
        let doc = crate::rt::block_on(p.nearby(q));
        assert_eq!(status_of(&doc), "OK", "{doc}");
        assert_eq!(doc["results"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn answers_are_counted_by_status() {
        let g = Guarded::new(Arc::new(SlowForOneKm), 4, Duration::from_millis(20));
        let q = |m: &str| NearbyQuery::new(b"+34-118", m.to_string(), 5).unwrap();
        crate::rt::block_on(async {
            g.nearby(q("2000")).await;
            g.nearby(q("1000")).await; // times out
        });
        let got: Vec<_> = g.answered().into_iter().filter(|(_, n)| *n > 0).collect();
        assert_eq!(got, [("ZERO_RESULTS", 1), ("UNKNOWN_ERROR", 1)]);
    }

    #[test]
    fn documents_are_cut_to_the_bound() {
        let mut doc = json!({"html_attributions": [], "next_page_token": "x", "results": [1, 2, 3], "status": "OK"});
        cut_to_bound(&mut doc, 2);
        assert_eq!(
            doc,
            json!({"html_attributions": [], "results": [1, 2], "status": "OK"})
        );
        assert_eq!(status_of(&doc), "OK");
        let e = status_doc("REQUEST_DENIED", Some("no key"));
        assert_eq!(e["error_message"], "no key");
        assert_eq!(e["results"], json!([]));
    }
}
