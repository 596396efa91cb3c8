//! Google Places API (New): `POST <base>/v1/places:searchNearby`, answered in the legacy shape.
//!
//! The request carries `X-Goog-Api-Key` and an `X-Goog-FieldMask` that asks only for the fields
//! the legacy shape needs (which also keeps the call in the cheaper billing tier). The answer's
//! `places` are mapped to legacy `results` by [`to_legacy`], a pure function.

use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::google::{agent, scrub};
use super::{status_doc, NearbyQuery, Places};

/// Google's base URL for the new API.
pub const GOOGLE_NEW_BASE: &str = "https://places.googleapis.com";

/// The fields requested.
pub const FIELD_MASK: &str = "places.id,places.displayName,places.location,places.types,places.shortFormattedAddress,places.formattedAddress,places.rating,places.userRatingCount,places.businessStatus";

/// The Places API (New) provider.
pub struct GoogleNew {
    /// A pooled HTTP agent.
    agent: ureq::Agent,
    /// Scheme and host, no trailing slash.
    base: String,
    /// The API key; never logged.
    key: String,
}

impl GoogleNew {
    /// A provider for `base` (Google's legacy default base is swapped for the new API's host).
    pub fn new(base: &str, key: String, timeout: Duration) -> Self {
        let base = if base == super::google::GOOGLE_BASE {
            GOOGLE_NEW_BASE
        } else {
            base
        };
        let base = base.trim_end_matches('/').to_string();
        GoogleNew {
            agent: agent(&base, timeout),
            base,
            key,
        }
    }
}

/// The request body for `q`.
pub fn request_body(q: &NearbyQuery) -> Value {
    json!({
        "maxResultCount": q.bound.clamp(1, 20),
        "locationRestriction": { "circle": {
            "center": { "latitude": q.lat, "longitude": q.lng },
            "radius": q.radius_m_f64,
        }},
    })
}

/// Maps a new-API answer (with its HTTP status) to a legacy-shaped document.
pub fn to_legacy(http_status: u16, doc: &Value) -> Value {
    if let Some(err) = doc.get("error") {
        let message = err
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("error");
        return status_doc(
            legacy_status(http_status, err.get("status").and_then(Value::as_str)),
            Some(message),
        );
    }
    if !(200..300).contains(&http_status) {
        return status_doc(
            legacy_status(http_status, None),
            Some(&format!("HTTP {http_status}")),
        );
    }
    let results: Vec<Value> = doc
        .get("places")
        .and_then(Value::as_array)
        .map(|ps| ps.iter().map(place_to_result).collect())
        .unwrap_or_default();
    let status = if results.is_empty() {
        "ZERO_RESULTS"
    } else {
        "OK"
    };
    json!({ "html_attributions": [], "results": results, "status": status })
}

fn legacy_status(http_status: u16, status: Option<&str>) -> &'static str {
    match (http_status, status) {
        (_, Some("INVALID_ARGUMENT")) | (400, _) => "INVALID_REQUEST",
        (_, Some("PERMISSION_DENIED")) | (_, Some("UNAUTHENTICATED")) | (401 | 403, _) => {
            "REQUEST_DENIED"
        }
        (_, Some("RESOURCE_EXHAUSTED")) | (429, _) => "OVER_QUERY_LIMIT",
        _ => "UNKNOWN_ERROR",
    }
}

fn place_to_result(p: &Value) -> Value {
    let mut r = Map::new();
    if let Some(s) = p.get("businessStatus") {
        r.insert("business_status".into(), s.clone());
    }
    let loc = p.get("location");
    let coord = |k: &str| loc.and_then(|l| l.get(k)).cloned().unwrap_or(Value::Null);
    r.insert(
        "geometry".into(),
        json!({ "location": { "lat": coord("latitude"), "lng": coord("longitude") } }),
    );
    let name = p
        .pointer("/displayName/text")
        .cloned()
        .unwrap_or(Value::String(String::new()));
    r.insert("name".into(), name);
    r.insert(
        "place_id".into(),
        p.get("id").cloned().unwrap_or(Value::String(String::new())),
    );
    if let Some(v) = p.get("rating") {
        r.insert("rating".into(), v.clone());
    }
    r.insert("types".into(), p.get("types").cloned().unwrap_or(json!([])));
    if let Some(v) = p.get("userRatingCount") {
        r.insert("user_ratings_total".into(), v.clone());
    }
    let vicinity = p
        .get("shortFormattedAddress")
        .or_else(|| p.get("formattedAddress"))
        .cloned();
    r.insert(
        "vicinity".into(),
        vicinity.unwrap_or(Value::String(String::new())),
    );
    Value::Object(r)
}

impl Places for GoogleNew {
    fn name(&self) -> &'static str {
        "google-new"
    }

    fn nearby(&self, q: NearbyQuery) -> BoxFuture<'static, Value> {
        let agent = self.agent.clone();
        let url = format!("{}/v1/places:searchNearby", self.base);
        let key = self.key.clone();
        Box::pin(crate::rt::spawn_blocking(move || {
            let resp = agent
                .post(&url)
                .header("X-Goog-Api-Key", &key)
                .header("X-Goog-FieldMask", FIELD_MASK)
                .send_json(request_body(&q));
            match resp {
                Ok(mut resp) => {
                    let code = resp.status().as_u16();
                    match resp.body_mut().read_json::<Value>() {
                        Ok(doc) => to_legacy(code, &doc),
                        Err(e) => status_doc(
                            "UNKNOWN_ERROR",
                            Some(&scrub(&format!("HTTP {code}: {e}"), &key)),
                        ),
                    }
                }
                Err(e) => status_doc(
                    "UNKNOWN_ERROR",
                    Some(&scrub(&format!("request failed: {e}"), &key)),
                ),
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: u16, doc: Value, expected: Value) {
        assert_eq!(to_legacy(status, &doc), expected, "{doc}");
    }

    #[test]
    fn new_answers_map_to_the_legacy_shape() {
        check(
            200,
            json!({"places": [{
                "id": "ChIJ1", "displayName": {"text": "Royce Hall", "languageCode": "en"},
                "location": {"latitude": 34.07, "longitude": -118.44}, "types": ["university"],
                "shortFormattedAddress": "340 Royce Dr, Los Angeles", "rating": 4.8, "userRatingCount": 12,
                "businessStatus": "OPERATIONAL"
            }]}),
            json!({"html_attributions": [], "results": [{
                "business_status": "OPERATIONAL",
                "geometry": {"location": {"lat": 34.07, "lng": -118.44}},
                "name": "Royce Hall", "place_id": "ChIJ1", "rating": 4.8, "types": ["university"],
                "user_ratings_total": 12, "vicinity": "340 Royce Dr, Los Angeles"
            }], "status": "OK"}),
        );
        check(
            200,
            json!({}),
            json!({"html_attributions": [], "results": [], "status": "ZERO_RESULTS"}),
        );
    }

    #[test]
    fn errors_keep_a_legacy_status() {
        let err = |code: u16, status: &str| json!({"error": {"code": code, "message": "m", "status": status}});
        for (code, status, want) in [
            (400, "INVALID_ARGUMENT", "INVALID_REQUEST"),
            (403, "PERMISSION_DENIED", "REQUEST_DENIED"),
            (429, "RESOURCE_EXHAUSTED", "OVER_QUERY_LIMIT"),
            (500, "INTERNAL", "UNKNOWN_ERROR"),
        ] {
            let got = to_legacy(code, &err(code, status));
            assert_eq!(got["status"], want);
            assert_eq!(got["error_message"], "m");
            assert_eq!(got["results"], json!([]));
        }
        assert_eq!(to_legacy(503, &json!("x"))["status"], "UNKNOWN_ERROR");
    }

    #[test]
    fn the_request_asks_for_the_circle_and_the_bound() {
        let q = NearbyQuery::new(b"+34.068930-118.445127", "10000".into(), 5).unwrap();
        let body = request_body(&q);
        assert_eq!(body["maxResultCount"], 5);
        assert_eq!(body["locationRestriction"]["circle"]["radius"], 10000.0);
        assert_eq!(
            body["locationRestriction"]["circle"]["center"]["latitude"],
            34.06893
        );
    }
}
