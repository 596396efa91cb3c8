//! The Google providers against a real HTTP server on loopback.

use std::sync::{Arc, Mutex};
use std::thread;

use crate::support::*;

/// A loopback HTTP server that answers every request with `status` and `body`, recording
/// each request's URL, headers and body.
/// One request: URL, headers, body.
type Seen = (String, Vec<(String, String)>, String);

struct FakeGoogle {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    server: Arc<tiny_http::Server>,
}

impl FakeGoogle {
    fn start(status: u16, body: &'static str) -> FakeGoogle {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (srv, log) = (server.clone(), seen.clone());
        thread::spawn(move || {
            for mut req in srv.incoming_requests() {
                let mut b = String::new();
                let _ = req.as_reader().read_to_string(&mut b);
                let headers = req
                    .headers()
                    .iter()
                    .map(|h| (h.field.to_string(), h.value.to_string()))
                    .collect();
                log.lock()
                    .unwrap()
                    .push((req.url().to_string(), headers, b));
                let _ =
                    req.respond(tiny_http::Response::from_string(body).with_status_code(status));
            }
        });
        FakeGoogle { url, seen, server }
    }
}

impl Drop for FakeGoogle {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

const LEGACY_OK: &str = r#"{"html_attributions": [], "next_page_token": "tok",
 "results": [{"name": "A", "place_id": "a"}, {"name": "B", "place_id": "b"}, {"name": "C", "place_id": "c"}],
 "status": "OK"}"#;

fn provider(kind: herd::config::Provider, url: &str) -> Arc<herd::places::Guarded> {
    let p = herd::config::PlacesConfig {
        provider: kind,
        url: Some(url.to_string()),
        timeout_ms: 2000,
        ..Default::default()
    };
    // The key comes from the environment in production; tests build the provider directly.
    let inner: Arc<dyn herd::places::Places> = match kind {
        herd::config::Provider::GoogleNew => Arc::new(herd::places::google_new::GoogleNew::new(
            url,
            "test-key".into(),
            std::time::Duration::from_secs(2),
        )),
        _ => Arc::new(herd::places::google::GoogleLegacy::new(
            url,
            "test-key".into(),
            std::time::Duration::from_secs(2),
        )),
    };
    Arc::new(herd::places::Guarded::new(
        inner,
        p.max_concurrent,
        std::time::Duration::from_millis(p.timeout_ms),
    ))
}

fn whatsat_through(places: Arc<herd::places::Guarded>, radius: &str, bound: u8) -> String {
    let herd =
        herd::rt::block_on(herd::herd::LocalHerd::start(fast_config(), places, true)).unwrap();
    let addr = herd.addr("Clark").unwrap();
    talk_str(
        addr,
        "IAMAT kiwi +34.068930-118.445127 1621464827.959498503\n",
    );
    let out = talk_str(addr, &format!("WHATSAT kiwi {radius} {bound}\n"));
    herd::rt::block_on(herd.shutdown());
    out
}

#[test]
fn legacy_request_and_reply() {
    let g = FakeGoogle::start(200, LEGACY_OK);
    let out = whatsat_through(
        provider(herd::config::Provider::GoogleLegacy, &g.url),
        "0.5",
        2,
    );
    let (at, json) = out.split_once('\n').unwrap();
    assert!(at.starts_with("AT Clark "), "{at}");
    let doc: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(
        doc["results"].as_array().unwrap().len(),
        2,
        "cut to the bound"
    );
    assert!(doc.get("next_page_token").is_none());
    assert!(
        json.starts_with("{\n   \"html_attributions\" : [],\n   \"results\" : [\n"),
        "{json}"
    );
    let seen = g.seen.lock().unwrap();
    let url = &seen[0].0;
    assert!(
        url.starts_with("/maps/api/place/nearbysearch/json?"),
        "{url}"
    );
    assert!(
        url.contains("location=34.068930%2C-118.445127")
            || url.contains("location=34.068930,-118.445127"),
        "{url}"
    );
    assert!(
        url.contains("radius=500&") || url.ends_with("radius=500"),
        "km to m: {url}"
    );
    assert!(url.contains("key=test-key"), "{url}");
}

#[test]
fn legacy_failures_still_get_a_well_formed_reply() {
    let g = FakeGoogle::start(
        200,
        r#"{"html_attributions": [], "results": [], "status": "REQUEST_DENIED", "error_message": "bad key"}"#,
    );
    let out = whatsat_through(
        provider(herd::config::Provider::GoogleLegacy, &g.url),
        "10",
        5,
    );
    assert!(out.ends_with("}\n\n"), "{out}");
    let doc: serde_json::Value = serde_json::from_str(out.split_once('\n').unwrap().1).unwrap();
    assert_eq!(doc["status"], "REQUEST_DENIED");
    // Garbage from the service, and a service that is not there at all.
    let g2 = FakeGoogle::start(502, "<html>bad gateway</html>");
    let out = whatsat_through(
        provider(herd::config::Provider::GoogleLegacy, &g2.url),
        "10",
        5,
    );
    let doc: serde_json::Value = serde_json::from_str(out.split_once('\n').unwrap().1).unwrap();
    assert_eq!(doc["status"], "UNKNOWN_ERROR");
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let out = whatsat_through(
        provider(herd::config::Provider::GoogleLegacy, &url),
        "10",
        5,
    );
    let doc: serde_json::Value = serde_json::from_str(out.split_once('\n').unwrap().1).unwrap();
    assert_eq!(doc["status"], "UNKNOWN_ERROR");
    assert_eq!(doc["results"], serde_json::json!([]));
}

#[test]
fn a_slow_service_is_cut_at_the_deadline() {
    // A listener that accepts and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let inner: Arc<dyn herd::places::Places> = Arc::new(herd::places::google::GoogleLegacy::new(
        &url,
        "k".into(),
        std::time::Duration::from_secs(30),
    ));
    let guarded = Arc::new(herd::places::Guarded::new(
        inner,
        4,
        std::time::Duration::from_millis(200),
    ));
    let start = std::time::Instant::now();
    let out = whatsat_through(guarded, "10", 5);
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    let doc: serde_json::Value = serde_json::from_str(out.split_once('\n').unwrap().1).unwrap();
    assert_eq!(doc["status"], "UNKNOWN_ERROR");
    assert!(
        doc["error_message"].as_str().unwrap().contains("timed out"),
        "{doc}"
    );
    drop(silent);
}

#[test]
fn places_new_request_and_mapping() {
    let g = FakeGoogle::start(
        200,
        r#"{"places": [{"id": "p1", "displayName": {"text": "Royce Hall"},
        "location": {"latitude": 34.07, "longitude": -118.44}, "types": ["university"], "shortFormattedAddress": "UCLA"}]}"#,
    );
    let out = whatsat_through(
        provider(herd::config::Provider::GoogleNew, &g.url),
        "1.5",
        3,
    );
    let doc: serde_json::Value = serde_json::from_str(out.split_once('\n').unwrap().1).unwrap();
    assert_eq!(doc["status"], "OK");
    assert_eq!(doc["results"][0]["name"], "Royce Hall");
    assert_eq!(doc["results"][0]["geometry"]["location"]["lat"], 34.07);
    let seen = g.seen.lock().unwrap();
    let (url, headers, body) = &seen[0];
    assert_eq!(url, "/v1/places:searchNearby");
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("X-Goog-Api-Key").as_deref(), Some("test-key"));
    assert!(header("X-Goog-FieldMask")
        .unwrap()
        .contains("places.displayName"));
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["maxResultCount"], 3);
    assert_eq!(body["locationRestriction"]["circle"]["radius"], 1500.0);
}
