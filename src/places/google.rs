//! Google Places Nearby Search (legacy): `GET <base>/maps/api/place/nearbysearch/json`.
//!
//! Blocking HTTPS through ureq on the runtime's blocking pool, so the core stays runtime-free.
//! The base URL comes from config or `HERD_PLACES_URL` (tests point it at a loopback server).

use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;

use super::{status_doc, NearbyQuery, Places};

/// Google's own base URL.
pub const GOOGLE_BASE: &str = "https://maps.googleapis.com";

/// The legacy Nearby Search provider.
pub struct GoogleLegacy {
    /// A pooled HTTP agent (cheap to clone).
    agent: ureq::Agent,
    /// Scheme and host (and optional path prefix), no trailing slash.
    base: String,
    /// The API key; never logged.
    key: String,
}

/// An HTTP agent with a global deadline; proxies from the environment are ignored for loopback
/// bases, so tests never send a byte off the machine.
pub fn agent(base: &str, timeout: Duration) -> ureq::Agent {
    let mut cfg = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false);
    if is_loopback_url(base) {
        cfg = cfg.proxy(None);
    }
    cfg.build().into()
}

/// True for `http(s)://127.x.x.x`, `localhost` and `[::1]` bases.
pub fn is_loopback_url(base: &str) -> bool {
    let rest = base.split("://").nth(1).unwrap_or(base);
    let host = rest.split('/').next().unwrap_or("");
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Removes the API key from a message that may quote the request (it goes to clients and logs).
pub fn scrub(message: &str, key: &str) -> String {
    if key.is_empty() {
        message.to_string()
    } else {
        message.replace(key, "<key>")
    }
}

impl GoogleLegacy {
    /// A provider for `base` with `key`, each request bounded by `timeout`.
    pub fn new(base: &str, key: String, timeout: Duration) -> Self {
        let base = base.trim_end_matches('/').to_string();
        GoogleLegacy {
            agent: agent(&base, timeout),
            base,
            key,
        }
    }
}

impl Places for GoogleLegacy {
    fn name(&self) -> &'static str {
        "google-legacy"
    }

    fn nearby(&self, q: NearbyQuery) -> BoxFuture<'static, Value> {
        let agent = self.agent.clone();
        let url = format!("{}/maps/api/place/nearbysearch/json", self.base);
        let key = self.key.clone();
        Box::pin(crate::rt::spawn_blocking(move || {
            let location = format!("{},{}", q.lat_text, q.lng_text);
            let resp = agent
                .get(&url)
                .query("location", &location)
                .query("radius", &q.radius_m)
                .query("key", &key)
                .call();
            match resp {
                Ok(mut resp) => {
                    let code = resp.status();
                    match resp.body_mut().read_json::<Value>() {
                        Ok(doc) if doc.get("status").is_some() => doc,
                        Ok(_) => status_doc(
                            "UNKNOWN_ERROR",
                            Some(&format!("HTTP {code}: no status in the answer")),
                        ),
                        Err(e) => status_doc("UNKNOWN_ERROR", Some(&format!("HTTP {code}: {e}"))),
                    }
                }
                Err(e) => status_doc("UNKNOWN_ERROR", Some(&format!("request failed: {e}"))),
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_leave_in_messages() {
        assert_eq!(
            scrub("GET /x?key=s3cret&radius=1 failed", "s3cret"),
            "GET /x?key=<key>&radius=1 failed"
        );
        assert_eq!(scrub("plain", ""), "plain");
    }

    #[test]
    fn loopback_bases() {
        for (base, want) in [
            ("http://127.0.0.1:8080", true),
            ("http://127.3.4.5", true),
            ("http://localhost:1/x", true),
            ("http://[::1]:80", true),
            ("https://maps.googleapis.com", false),
            ("http://10.0.0.1", false),
        ] {
            assert_eq!(is_loopback_url(base), want, "{base}");
        }
    }
}
