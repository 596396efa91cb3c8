//! Spherical geometry for the offline provider: haversine distances and the unit-sphere points
//! the R-tree is built on.
//!
//! The Earth is a sphere of radius [`EARTH_RADIUS_M`] (the IUGG mean radius). Distances are
//! great-circle distances by the haversine formula. The R-tree holds each place as a point on the
//! unit sphere in 3D (x, y, z), where the straight-line (chord) distance between two points is a
//! strictly increasing function of their great-circle distance and has no seams: neither the poles
//! nor the ±180° meridian need special cases.

/// Mean Earth radius in metres (IUGG R1 = 6,371,008.8 m), used for every distance.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance in metres between two points given in decimal degrees, by the
/// haversine formula on a sphere of radius [`EARTH_RADIUS_M`].
pub(super) fn haversine_m(lat1: f64, lng1: f64, lat2: f64, lng2: f64) -> f64 {
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let half_dphi = (phi2 - phi1) / 2.0;
    let half_dlambda = (lng2 - lng1).to_radians() / 2.0;
    let a = half_dphi.sin().powi(2) + phi1.cos() * phi2.cos() * half_dlambda.sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
}

/// The point on the unit sphere for a latitude and longitude in decimal degrees.
pub(super) fn unit_vector(lat: f64, lng: f64) -> [f64; 3] {
    let (phi, lambda) = (lat.to_radians(), lng.to_radians());
    [
        phi.cos() * lambda.cos(),
        phi.cos() * lambda.sin(),
        phi.sin(),
    ]
}

/// A squared chord length on the unit sphere that every point within `radius_m` metres
/// (great-circle) of a centre is guaranteed to be within, for the R-tree's
/// `locate_within_distance`.
///
/// The exact chord for a great-circle distance d is 2 sin(d / 2R); it is widened by a relative
/// 1e-9 and an absolute 1e-12 (about 6 µm) so that rounding in the 3D coordinates can never drop
/// a place that the exact haversine test keeps. The caller filters the candidates by haversine.
/// A radius of half the circumference or more covers the whole sphere (chord 2).
pub(super) fn chord2_bound(radius_m: f64) -> f64 {
    let angle = radius_m / EARTH_RADIUS_M;
    let chord = if angle >= std::f64::consts::PI {
        2.0
    } else {
        2.0 * (angle / 2.0).sin()
    };
    let widened = chord * (1.0 + 1e-9) + 1e-12;
    widened * widened
}
