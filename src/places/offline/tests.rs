//! Tests of the offline provider: parsing, geometry, R-tree search against a brute-force scan,
//! and the shape of the answers.

use std::f64::consts::PI;

use serde_json::Value;

use super::geo::{haversine_m, unit_vector, EARTH_RADIUS_M};
use super::table::HEADER;
use super::{LoadError, OfflinePlaces, ATTRIBUTION, EMBEDDED_TABLE};

/// (distance in whole millimetres, geonameid) of each place in range, by the R-tree path.
fn indexed(
    places: &OfflinePlaces,
    lat: f64,
    lng: f64,
    radius_m: f64,
    bound: usize,
) -> Vec<(u64, u64)> {
    places
        .search(lat, lng, radius_m, bound)
        .iter()
        .map(|hit| {
            assert_eq!(hit.rank.1, places.places[hit.index].geonameid);
            hit.rank
        })
        .collect()
}

/// The same answer by scanning every place, with no index: the reference for the R-tree.
fn brute_force(
    places: &OfflinePlaces,
    lat: f64,
    lng: f64,
    radius_m: f64,
    bound: usize,
) -> Vec<(u64, u64)> {
    // Nearest first to the millimetre, then by geonameid (written out again, independently).
    let mut all: Vec<(u64, u64)> = places
        .places
        .iter()
        .map(|p| (haversine_m(lat, lng, p.lat, p.lng), p.geonameid))
        .filter(|&(d, _)| d <= radius_m)
        .map(|(d, id)| ((d * 1000.0).round() as u64, id))
        .collect();
    all.sort_unstable();
    all.truncate(bound);
    all
}

/// Checks the R-tree against the scan for each centre (all places in range, and cut to 20);
/// returns how many places were found in all, so callers can check the test was not vacuous.
fn check_agreement(places: &OfflinePlaces, centres: &[(f64, f64, f64)]) -> usize {
    let mut found = 0;
    for &(lat, lng, radius_m) in centres {
        let expected = brute_force(places, lat, lng, radius_m, usize::MAX);
        let got = indexed(places, lat, lng, radius_m, usize::MAX);
        assert_eq!(got, expected, "centre {lat},{lng} radius {radius_m}");
        let cut = indexed(places, lat, lng, radius_m, 20);
        assert_eq!(
            cut[..],
            expected[..expected.len().min(20)],
            "bound 20 at {lat},{lng}"
        );
        found += expected.len();
    }
    found
}

/// A table in the committed format from (geonameid, name, lat, lng) rows.
fn table_text(rows: &[(u64, &str, f64, f64)]) -> String {
    let mut text = format!("# synthetic\n{HEADER}\n");
    for (id, name, lat, lng) in rows {
        text.push_str(&format!("{id}\t{name}\t{lat}\t{lng}\tZZ\t\t0\tPPL\n"));
    }
    text
}

fn place_ids(doc: &Value) -> Vec<String> {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["place_id"].as_str().unwrap().to_string())
        .collect()
}

fn names(doc: &Value) -> Vec<&str> {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect()
}

/// A uniformly random point on the sphere.
fn random_point(rng: &mut fastrand::Rng) -> (f64, f64) {
    let z = rng.f64() * 2.0 - 1.0;
    (z.asin().to_degrees(), rng.f64() * 360.0 - 180.0)
}

/// A radius in (0, 50 km].
fn random_radius(rng: &mut fastrand::Rng) -> f64 {
    50_000.0 * (1.0 - rng.f64())
}

#[test]
fn embedded_table_loads_every_row() {
    let places = OfflinePlaces::embedded().unwrap();
    let rows = EMBEDDED_TABLE
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count()
        - 1;
    assert_eq!(places.len(), rows);
    assert!(places.len() > 30_000, "{} places", places.len());
    assert!(!places.is_empty());
    let la = places
        .places
        .iter()
        .find(|p| p.geonameid == 5368361)
        .unwrap();
    assert_eq!(
        (&*la.name, la.lat, la.lng),
        ("Los Angeles", 34.05223, -118.24368)
    );
    assert_eq!((la.country(), &*la.admin1), ("US", "CA"));
}

#[test]
fn haversine_known_distances() {
    let quarter = PI * EARTH_RADIUS_M / 2.0;
    let degree = PI * EARTH_RADIUS_M / 180.0;
    let cases = [
        // (lat1, lng1, lat2, lng2, expected metres)
        (0.0, 0.0, 0.0, 0.0, 0.0),
        (0.0, 0.0, 90.0, 0.0, quarter),
        (0.0, 0.0, 0.0, 90.0, quarter),
        (0.0, 0.0, 0.0, 180.0, 2.0 * quarter),
        (90.0, 0.0, -90.0, 0.0, 2.0 * quarter),
        (0.0, 179.5, 0.0, -179.5, degree),
        (0.0, 180.0, 0.0, -180.0, 0.0),
        (90.0, 0.0, 90.0, 123.0, 0.0),
        (89.0, 0.0, 89.0, 180.0, 2.0 * degree),
        (-89.5, 90.0, -89.5, -90.0, degree),
    ];
    for (lat1, lng1, lat2, lng2, expected) in cases {
        let d = haversine_m(lat1, lng1, lat2, lng2);
        assert!(
            (d - expected).abs() < 1e-6,
            "{lat1},{lng1} -> {lat2},{lng2}: {d} vs {expected}"
        );
        let back = haversine_m(lat2, lng2, lat1, lng1);
        assert!((d - back).abs() < 1e-6);
    }
}

#[test]
fn haversine_agrees_with_the_chord_formula() {
    // An independent formula: great-circle distance from the 3D chord, 2R asin(c / 2).
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..2000 {
        let (lat1, lng1) = random_point(&mut rng);
        let (lat2, lng2) = if rng.bool() {
            random_point(&mut rng)
        } else {
            (lat1 + rng.f64() - 0.5, lng1 + rng.f64() - 0.5)
        };
        let (a, b) = (unit_vector(lat1, lng1), unit_vector(lat2, lng2));
        let chord = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt();
        let expected = 2.0 * EARTH_RADIUS_M * (chord / 2.0).min(1.0).asin();
        let d = haversine_m(lat1, lng1, lat2, lng2);
        assert!(
            (d - expected).abs() < 1e-3 + 1e-9 * expected,
            "{d} vs {expected}"
        );
    }
}

#[test]
fn rtree_agrees_with_brute_force_on_the_embedded_table() {
    let places = OfflinePlaces::embedded().unwrap();
    let mut rng = fastrand::Rng::with_seed(2024);
    let mut centres = Vec::new();
    // Dense areas: jittered around random places (most places are in crowded regions).
    for _ in 0..200 {
        let p = &places.places[rng.usize(..places.len())];
        let lat = (p.lat + 0.4 * rng.f64() - 0.2).clamp(-90.0, 90.0);
        let lng = (p.lng + 0.4 * rng.f64() - 0.2).clamp(-180.0, 180.0);
        centres.push((lat, lng, random_radius(&mut rng)));
    }
    // Known crowded places, 50 km: Los Angeles, Tokyo, Mumbai, Cairo, Jakarta, Dhaka.
    for (lat, lng) in [
        (34.06893, -118.445127),
        (35.6895, 139.69171),
        (19.07283, 72.88261),
        (30.06263, 31.24967),
        (-6.21462, 106.84513),
        (23.7104, 90.40744),
    ] {
        centres.push((lat, lng, 50_000.0));
    }
    // Anywhere on Earth.
    for _ in 0..100 {
        let (lat, lng) = random_point(&mut rng);
        centres.push((lat, lng, random_radius(&mut rng)));
    }
    // Near the poles and the antimeridian, including exactly on them.
    for _ in 0..50 {
        let lat = 90.0 - 5.0 * rng.f64();
        let sign = if rng.bool() { 1.0 } else { -1.0 };
        centres.push((
            sign * lat,
            rng.f64() * 360.0 - 180.0,
            random_radius(&mut rng),
        ));
        let lng = 180.0 - 2.0 * rng.f64();
        centres.push((
            rng.f64() * 120.0 - 60.0,
            sign * lng,
            random_radius(&mut rng),
        ));
    }
    centres.extend([
        (90.0, 0.0, 50_000.0),
        (-90.0, 0.0, 50_000.0),
        (-17.8, 180.0, 50_000.0),
        (-17.8, -180.0, 50_000.0),
        (-16.5, 179.4, 50_000.0),
    ]);
    assert!(centres.len() >= 400);
    let found = check_agreement(&places, &centres);
    assert!(
        found > 2_000,
        "only {found} places found: the comparison proves little"
    );
}

/// A synthetic table crowded at both poles and along the ±180° meridian, with exact pole and
/// meridian points and duplicated coordinates, where the embedded table has few places.
fn polar_and_antimeridian_table(rng: &mut fastrand::Rng) -> OfflinePlaces {
    let mut rows: Vec<(u64, &str, f64, f64)> = Vec::new();
    let mut id = 1000u64;
    let mut next = |rows: &mut Vec<_>, lat: f64, lng: f64| {
        id += 7;
        rows.push((
            id,
            "P",
            (lat * 1e6).round() / 1e6,
            (lng * 1e6).round() / 1e6,
        ));
    };
    for _ in 0..1500 {
        let lng = rng.f64() * 360.0 - 180.0;
        next(&mut rows, 90.0 - rng.f64() * rng.f64(), lng);
        next(&mut rows, -90.0 + rng.f64() * rng.f64(), lng);
        let edge = 180.0 - rng.f64() * rng.f64();
        let side = if rng.bool() { edge } else { -edge };
        next(&mut rows, rng.f64() * 170.0 - 85.0, side);
    }
    for (lat, lng) in [
        (90.0, 0.0),
        (-90.0, 37.0),
        (0.0, 180.0),
        (0.0, -180.0),
        (10.0, 180.0),
    ] {
        next(&mut rows, lat, lng);
        next(&mut rows, lat, lng);
    }
    OfflinePlaces::parse(&table_text(&rows)).unwrap()
}

#[test]
fn rtree_agrees_with_brute_force_at_the_poles_and_the_antimeridian() {
    let mut rng = fastrand::Rng::with_seed(99);
    let places = polar_and_antimeridian_table(&mut rng);
    let mut centres = Vec::new();
    for _ in 0..150 {
        let sign = if rng.bool() { 1.0 } else { -1.0 };
        let lat = 90.0 - 2.0 * rng.f64() * rng.f64();
        centres.push((
            sign * lat,
            rng.f64() * 360.0 - 180.0,
            random_radius(&mut rng),
        ));
        let lng = 180.0 - rng.f64() * rng.f64();
        centres.push((
            rng.f64() * 170.0 - 85.0,
            sign * lng,
            random_radius(&mut rng),
        ));
    }
    for (lat, lng) in [
        (90.0, 0.0),
        (90.0, 180.0),
        (-90.0, -45.0),
        (0.0, 180.0),
        (0.0, -180.0),
    ] {
        centres.push((lat, lng, 50_000.0));
        centres.push((lat, lng, 1_000.0));
        centres.push((lat, lng, 0.0));
    }
    // Larger radii, up to the whole sphere, exercise the chord bound beyond 50 km.
    for radius_m in [
        500_000.0,
        5_000_000.0,
        19_000_000.0,
        21_000_000.0,
        f64::INFINITY,
    ] {
        centres.push((45.0, 179.9, radius_m));
    }
    let found = check_agreement(&places, &centres);
    assert!(
        found > 20_000,
        "only {found} places found: the comparison proves little"
    );
}

#[test]
fn seams_and_ties_table() {
    let places = OfflinePlaces::parse(&table_text(&[
        (1, "East", 0.0, 179.99),
        (2, "West", 0.0, -179.99),
        (3, "FarEast", 0.0, 179.5),
        (20, "PoleA", 89.99, 0.0),
        (11, "PoleB", 89.99, 90.0),
        (12, "PoleC", 89.99, 180.0),
        (13, "PoleD", 89.99, -90.0),
        (14, "PoleFar", 89.95, 45.0),
        (31, "SouthA", -89.99, 10.0),
        (30, "SouthB", -89.99, -170.0),
        (41, "TwinB", 40.0, 20.0),
        (40, "TwinA", 40.0, 20.0),
        (50, "Meridian", 10.0, -180.0),
    ]))
    .unwrap();
    let cases: &[(f64, f64, f64, usize, &[&str])] = &[
        // (lat, lng, radius m, bound, expected names in order)
        (0.0, -179.995, 5_000.0, 20, &["West", "East"]),
        (0.0, 179.995, 5_000.0, 20, &["East", "West"]),
        (0.0, 180.0, 2_000.0, 20, &["East", "West"]),
        (0.0, -180.0, 2_000.0, 20, &["East", "West"]),
        (0.0, 180.0, 60_000.0, 20, &["East", "West", "FarEast"]),
        (0.0, -180.0, 1_000.0, 20, &[]),
        (0.0, 179.999, 5_000.0, 20, &["East", "West"]),
        (0.0, -179.999, 5_000.0, 20, &["West", "East"]),
        (10.0, 180.0, 10.0, 20, &["Meridian"]),
        (10.0, 179.9999999, 10.0, 20, &["Meridian"]),
        // Four places 1.11 km from the North Pole: equal distances, so by geonameid.
        (
            90.0,
            0.0,
            2_000.0,
            20,
            &["PoleB", "PoleC", "PoleD", "PoleA"],
        ),
        (
            90.0,
            0.0,
            6_000.0,
            20,
            &["PoleB", "PoleC", "PoleD", "PoleA", "PoleFar"],
        ),
        (90.0, 0.0, 6_000.0, 2, &["PoleB", "PoleC"]),
        (89.99, 180.0, 500.0, 20, &["PoleC"]),
        (89.995, 0.0, 1_000.0, 20, &["PoleA"]),
        (-90.0, 123.0, 2_000.0, 20, &["SouthB", "SouthA"]),
        (40.0, 20.0, 0.0, 20, &["TwinA", "TwinB"]),
        (40.0, 20.0, 0.0, 1, &["TwinA"]),
        (45.0, 0.0, 50_000.0, 20, &[]),
    ];
    for &(lat, lng, radius_m, bound, expected) in cases {
        let doc = places.nearby(lat, lng, radius_m, bound);
        assert_eq!(
            names(&doc),
            expected,
            "centre {lat},{lng} radius {radius_m} bound {bound}"
        );
        let status = if expected.is_empty() {
            "ZERO_RESULTS"
        } else {
            "OK"
        };
        assert_eq!(doc["status"], status);
    }
}

#[test]
fn radius_is_inclusive_to_the_last_bit() {
    let places = OfflinePlaces::parse(&table_text(&[(1, "Here", 48.8566, 2.3522)])).unwrap();
    let mut rng = fastrand::Rng::with_seed(5);
    for _ in 0..200 {
        let (lat, lng) = (
            48.8566 + rng.f64() * 0.8 - 0.4,
            2.3522 + rng.f64() * 0.8 - 0.4,
        );
        let exact = haversine_m(lat, lng, 48.8566, 2.3522);
        assert_eq!(
            places.nearby(lat, lng, exact, 1)["results"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let below = exact.next_down();
        assert_eq!(places.nearby(lat, lng, below, 1)["status"], "ZERO_RESULTS");
    }
}

#[test]
fn mid_ocean_gives_zero_results() {
    let places = OfflinePlaces::embedded().unwrap();
    // Point Nemo, the equatorial Pacific, the mid-Atlantic, the southern Indian Ocean.
    for (lat, lng) in [
        (-48.8767, -123.3933),
        (0.0, -140.0),
        (30.0, -40.0),
        (-40.0, 80.0),
    ] {
        let doc = places.nearby(lat, lng, 50_000.0, 20);
        let expected = serde_json::json!({
            "html_attributions": [ATTRIBUTION],
            "results": [],
            "status": "ZERO_RESULTS",
        });
        assert_eq!(
            serde_json::to_string(&doc).unwrap(),
            serde_json::to_string(&expected).unwrap()
        );
    }
}

#[test]
fn bad_centres_and_radii_find_nothing() {
    let places = OfflinePlaces::embedded().unwrap();
    let (lat, lng) = (34.06893, -118.445127);
    assert_eq!(places.nearby(lat, lng, 50_000.0, 20)["status"], "OK");
    for (lat, lng, radius_m, bound) in [
        (f64::NAN, lng, 50_000.0, 20),
        (lat, f64::INFINITY, 50_000.0, 20),
        (lat, lng, f64::NAN, 20),
        (lat, lng, -1.0, 20),
        (lat, lng, 50_000.0, 0),
    ] {
        assert_eq!(
            places.nearby(lat, lng, radius_m, bound)["status"],
            "ZERO_RESULTS"
        );
    }
}

#[test]
fn bound_is_respected_and_cuts_a_prefix() {
    let places = OfflinePlaces::embedded().unwrap();
    for (lat, lng) in [
        (34.06893, -118.445127),
        (35.6895, 139.69171),
        (51.50853, -0.12574),
    ] {
        let all = indexed(&places, lat, lng, 50_000.0, usize::MAX);
        assert!(all.len() > 20, "{} places near {lat},{lng}", all.len());
        let full = place_ids(&places.nearby(lat, lng, 50_000.0, usize::MAX));
        for bound in 1..=20 {
            let ids = place_ids(&places.nearby(lat, lng, 50_000.0, bound));
            assert_eq!(ids.len(), bound);
            assert_eq!(ids[..], full[..bound]);
        }
    }
}

#[test]
fn finds_the_places_around_ucla() {
    // Checked against an independent haversine scan of data/cities15000.tsv in Python.
    let places = OfflinePlaces::embedded().unwrap();
    let doc = places.nearby(34.068930, -118.445127, 10_000.0, 20);
    assert_eq!(
        names(&doc),
        [
            "Brentwood",
            "Sawtelle",
            "Beverly Hills",
            "Culver City",
            "Santa Monica",
            "Pacific Palisades",
            "West Hollywood",
            "Mid-City",
            "Venice",
            "Sherman Oaks",
            "Studio City",
        ]
    );
    let first = &doc["results"][0];
    assert_eq!(first["place_id"], "geonames:5330643");
    assert_eq!(first["vicinity"], "Brentwood, CA, US");
    assert_eq!(first["types"], serde_json::json!(["locality", "political"]));
    let within_5km = places.nearby(34.068930, -118.445127, 5_000.0, 2);
    assert_eq!(names(&within_5km), ["Brentwood", "Sawtelle"]);
    // Los Angeles itself (city centre 20 km away) is within 50 km.
    let wide = place_ids(&places.nearby(34.068930, -118.445127, 50_000.0, usize::MAX));
    assert!(wide.iter().any(|id| id == "geonames:5368361"));
}

#[test]
fn document_has_google_shape_and_key_order() {
    let text = format!("{HEADER}\n7\tTestville\t10.5\t-20.25\tUS\tCA\t1234\tPPLA\n8\tLyon\t45.75\t4.85\tFR\t84\t0\t\n");
    let places = OfflinePlaces::parse(&text).unwrap();
    let doc = places.nearby(10.5, -20.25, 1.0, 20);
    let expected = format!(
        concat!(
            r#"{{"html_attributions":[{}],"results":[{{"geometry":{{"location":{{"lat":10.5,"lng":-20.25}}}},"#,
            r#""name":"Testville","place_id":"geonames:7","types":["locality","political"],"#,
            r#""vicinity":"Testville, CA, US","population":1234}}],"status":"OK"}}"#
        ),
        serde_json::to_string(ATTRIBUTION).unwrap()
    );
    assert_eq!(serde_json::to_string(&doc).unwrap(), expected);
    let lyon = &places.nearby(45.75, 4.85, 1.0, 20)["results"][0];
    assert_eq!(lyon["vicinity"], "Lyon, FR");
    assert_eq!(lyon["population"], 0);
}

#[test]
fn feature_codes_map_to_google_types() {
    let cases: &[(&str, &[&str])] = &[
        ("", &["locality", "political"]),
        ("PPL", &["locality", "political"]),
        ("PPLC", &["locality", "political"]),
        ("PPLA2", &["locality", "political"]),
        ("PPLX", &["neighborhood", "political"]),
        ("ADM1", &["administrative_area_level_1", "political"]),
        ("ADM3", &["administrative_area_level_3", "political"]),
        ("PCLI", &["country", "political"]),
        ("MT", &["point_of_interest"]),
    ];
    for &(fcode, expected) in cases {
        assert_eq!(super::types_for(fcode), expected, "{fcode}");
    }
}

#[test]
fn from_file_loads_and_reports_errors_with_the_path() {
    let dir = std::env::temp_dir().join(format!("herd-offline-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.tsv");
    std::fs::write(&good, EMBEDDED_TABLE).unwrap();
    let loaded = OfflinePlaces::from_file(&good).unwrap();
    assert_eq!(loaded.len(), OfflinePlaces::embedded().unwrap().len());

    let bad = dir.join("bad.tsv");
    std::fs::write(&bad, format!("{HEADER}\n1\tA\t1\t2\tUS\tCA\t5\n")).unwrap();
    let err = OfflinePlaces::from_file(&bad).unwrap_err();
    assert_eq!(err.line(), Some(2));
    assert!(err.to_string().contains("bad.tsv, line 2:"), "{err}");

    let missing = dir.join("missing.tsv");
    let err = OfflinePlaces::from_file(&missing).unwrap_err();
    assert!(matches!(err, LoadError::Io { .. }), "{err}");
    assert_eq!(err.line(), None);
    assert!(err.to_string().contains("missing.tsv"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
