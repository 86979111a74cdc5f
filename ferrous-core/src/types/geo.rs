//! Geo indexes: Redis's geohash arithmetic over sorted sets, the access-level operations the
//! GEO* handlers share with the typed API, and the typed API itself.
//!
//! A geo set is an ordinary sorted set whose scores are 52-bit interleaved geohashes
//! (`TYPE` says `zset`, ZRANGE works on it). Everything here reproduces Redis 7.0's
//! `geohash.c`, `geohash_helper.c` and `geo.c` arithmetic operation for operation, because
//! the answers depend on the last bit:
//!
//! - [`encode`] / [`decode_score`]: coordinates to a 52-bit score and back. Latitude covers
//!   Redis's Web-Mercator limits (±85.05112878), not ±90; decoding returns the centre of the
//!   26-bit cell, clamped to the limits.
//! - [`distance`]: Redis's haversine on a sphere of radius [`EARTH_RADIUS_M`].
//! - [`search_areas`]: the nine geohash boxes (centre + neighbours) Redis scans for a radius
//!   or box query, with its step estimate, its "one step coarser when a neighbour does not
//!   reach the edge of the bounding box" rule, the boxes it drops, and its duplicate
//!   skipping. [`search`] walks their score ranges in Redis's order and keeps the members
//!   inside the shape, so the same members are found, in the same order, at every edge.
//! - [`sort_points`]: glibc's stable merge sort (full results) and Redis's partial quicksort
//!   `pqsort` (COUNT without ANY) with Redis's comparator, so members at equal distance come
//!   out in Redis's order too.
//! - [`fmt_distance`] / [`fmt_human`] / [`fmt_fixed`]: the 4-decimal text of distances
//!   (Redis's `fixedpoint_d2string`, which rounds the scaled double, not the exact value),
//!   the `%.17Lf`-trimmed text of coordinates and the `%f` of error messages (both correctly
//!   rounded, ties to even, as glibc's printf).
//!
//! The operations (`geoadd`, `geopos`, ...) take an [`Access`]; the `impl Database` block at
//! the end is the typed API ([`GeoSearch`] in, [`GeoMatch`] out).
use crate::access::Access;
use crate::db::Database;
use crate::error::{Error, Result};
use crate::propagate;
use crate::types::zset::{self, ScoreRange, Span, ZAddOptions, ZSet, ZSetLimits};
use crate::value::Value;

/// Longitude limits.
pub const LONG_MIN: f64 = -180.0;
/// Longitude limits.
pub const LONG_MAX: f64 = 180.0;
/// Latitude limits (EPSG:900913 / Web Mercator: the poles cannot be indexed).
pub const LAT_MIN: f64 = -85.05112878;
/// Latitude limits.
pub const LAT_MAX: f64 = 85.05112878;
/// Bits per coordinate in a stored score (26 + 26 = 52, exact in a double).
pub const STEP_MAX: u8 = 26;
/// Redis's Earth radius in meters (quadratic mean radius of WGS-84).
pub const EARTH_RADIUS_M: f64 = 6372797.560856;
/// Half the equator in Web Mercator meters: the start of the step estimate.
const MERCATOR_MAX: f64 = 20037726.37;
/// Degrees to radians, as C folds `M_PI / 180.0`.
const D_R: f64 = std::f64::consts::PI / 180.0;

#[inline]
fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

#[inline]
fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

// ---------------------------------------------------------------------------------------
// Geohash bits
// ---------------------------------------------------------------------------------------

/// A geohash of `step` bits per coordinate: longitude bits at odd positions, latitude bits
/// at even ones. `{0, 0}` marks a dropped search box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HashBits {
    /// The interleaved bits (2 * step of them, or more at the +180 edge).
    pub bits: u64,
    /// Precision in bits per coordinate.
    pub step: u8,
}

impl HashBits {
    const ZERO: HashBits = HashBits { bits: 0, step: 0 };

    #[inline]
    fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

/// Spreads the 32 bits of `v` to the even positions of a u64.
#[inline]
fn spread(v: u32) -> u64 {
    let mut x = v as u64;
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// Gathers the even bits of `v` into a u32.
#[inline]
fn gather(v: u64) -> u32 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    ((x | (x >> 16)) & 0xFFFF_FFFF) as u32
}

/// Latitude cells `lat` at even bits, longitude cells `lon` at odd bits.
#[inline]
fn interleave(lat: u32, lon: u32) -> u64 {
    spread(lat) | (spread(lon) << 1)
}

/// A coordinate range.
#[derive(Debug, Clone, Copy)]
struct Range {
    min: f64,
    max: f64,
}

const LONG_RANGE: Range = Range { min: LONG_MIN, max: LONG_MAX };
const LAT_RANGE: Range = Range { min: LAT_MIN, max: LAT_MAX };

/// Redis's `geohashEncode`: `None` outside the global limits or the given ranges. The
/// offsets are truncated to integers, so +180 lands one cell past the last (bit 2*step+1),
/// as in Redis.
fn encode_in(lon_range: Range, lat_range: Range, lon: f64, lat: f64, step: u8) -> Option<HashBits> {
    if step == 0 || step > 32 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_range.min || lat > lat_range.max || lon < lon_range.min || lon > lon_range.max {
        return None;
    }
    let cells = (1u64 << step) as f64;
    let lat_offset = (lat - lat_range.min) / (lat_range.max - lat_range.min) * cells;
    let lon_offset = (lon - lon_range.min) / (lon_range.max - lon_range.min) * cells;
    // C converts the doubles through a 64-bit integer and keeps the low 32 bits.
    Some(HashBits { bits: interleave(lat_offset as i64 as u32, lon_offset as i64 as u32), step })
}

/// The score of a point: its 26-bit geohash aligned to 52 bits. `None` outside
/// [`LONG_MIN`]..[`LONG_MAX`] / [`LAT_MIN`]..[`LAT_MAX`].
///
/// ```
/// use ferrous_core::types::geo;
/// assert_eq!(geo::encode(13.361389, 38.115556), Some(3479099956230698));
/// ```
pub fn encode(lon: f64, lat: f64) -> Option<u64> {
    encode_in(LONG_RANGE, LAT_RANGE, lon, lat, STEP_MAX).map(align52)
}

/// `geohashAlign52Bits`.
#[inline]
fn align52(h: HashBits) -> u64 {
    h.bits << (52 - 2 * h.step as u32)
}

/// The cell a geohash covers.
#[derive(Debug, Clone, Copy, Default)]
struct Area {
    lon_min: f64,
    lon_max: f64,
    lat_min: f64,
    lat_max: f64,
}

/// `geohashDecode` over Redis's coordinate ranges.
fn decode_area(h: HashBits) -> Area {
    let lat_cell = gather(h.bits);
    let lon_cell = gather(h.bits >> 1);
    let cells = (1u64 << h.step) as f64;
    let lat_scale = LAT_MAX - LAT_MIN;
    let lon_scale = LONG_MAX - LONG_MIN;
    // `ilato + 1` is computed in 32 bits in C (it wraps at the top cell of a garbage score).
    Area {
        lat_min: LAT_MIN + (lat_cell as f64 / cells) * lat_scale,
        lat_max: LAT_MIN + (lat_cell.wrapping_add(1) as f64 / cells) * lat_scale,
        lon_min: LONG_MIN + (lon_cell as f64 / cells) * lon_scale,
        lon_max: LONG_MIN + (lon_cell.wrapping_add(1) as f64 / cells) * lon_scale,
    }
}

/// C's `(uint64_t)` conversion of a double as x86-64 code does it: below 2^63 (and NaN)
/// through the signed conversion, which gives 2^63 when out of range; above, reduced by
/// 2^63 first. Only garbage scores (set with ZADD) are negative or beyond 2^52.
fn score_bits(score: f64) -> u64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    fn cvtt(x: f64) -> u64 {
        if x.is_nan() || !(-TWO63..TWO63).contains(&x) {
            1 << 63
        } else {
            x as i64 as u64
        }
    }
    if score >= TWO63 {
        cvtt(score - TWO63) ^ (1 << 63)
    } else {
        cvtt(score)
    }
}

/// The coordinates `(longitude, latitude)` a score stands for: the centre of its cell,
/// clamped to the limits. Any score decodes (Redis decodes whatever ZADD stored).
pub fn decode_score(score: f64) -> (f64, f64) {
    let a = decode_area(HashBits { bits: score_bits(score), step: STEP_MAX });
    let lon = ((a.lon_min + a.lon_max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((a.lat_min + a.lat_max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// The standard 11-character geohash of a score (GEOHASH): decoded, re-encoded over
/// latitude ±90, the 11th character always `0` (52 bits make 10.4 characters).
pub fn geohash_string(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = decode_score(score);
    let bits = encode_in(LONG_RANGE, Range { min: -90.0, max: 90.0 }, lon, lat, STEP_MAX).map_or(0, |h| h.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().enumerate().take(10) {
        *c = ALPHABET[((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize];
    }
    out
}

fn move_x(h: &mut HashBits, d: i8) {
    let x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = h.bits & 0x5555_5555_5555_5555;
    let shift = 64 - 2 * h.step as u32;
    let zz = 0x5555_5555_5555_5555u64 >> shift;
    let x = if d > 0 { x.wrapping_add(zz + 1) } else { (x | zz).wrapping_sub(zz + 1) };
    h.bits = (x & (0xaaaa_aaaa_aaaa_aaaa >> shift)) | y;
}

fn move_y(h: &mut HashBits, d: i8) {
    let x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = h.bits & 0x5555_5555_5555_5555;
    let shift = 64 - 2 * h.step as u32;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    let y = if d > 0 { y.wrapping_add(zz + 1) } else { (y | zz).wrapping_sub(zz + 1) };
    h.bits = x | (y & (0x5555_5555_5555_5555 >> shift));
}

/// The eight neighbours, wrapping around at the edges of the map.
#[derive(Debug, Clone, Copy)]
struct Neighbors {
    north: HashBits,
    south: HashBits,
    east: HashBits,
    west: HashBits,
    north_east: HashBits,
    north_west: HashBits,
    south_east: HashBits,
    south_west: HashBits,
}

fn neighbors(h: HashBits) -> Neighbors {
    let moved = |dx: i8, dy: i8| {
        let mut n = h;
        if dx != 0 {
            move_x(&mut n, dx);
        }
        if dy != 0 {
            move_y(&mut n, dy);
        }
        n
    };
    Neighbors {
        east: moved(1, 0),
        west: moved(-1, 0),
        south: moved(0, -1),
        north: moved(0, 1),
        north_west: moved(-1, 1),
        north_east: moved(1, 1),
        south_east: moved(1, -1),
        south_west: moved(-1, -1),
    }
}

// ---------------------------------------------------------------------------------------
// Distances and shapes
// ---------------------------------------------------------------------------------------

/// Redis's haversine distance in meters between two `(longitude, latitude)` points. When the
/// longitudes are equal (the sine of their half difference is 0) Redis 7.0.15 takes the
/// arc along the meridian, `R * |lat2 - lat1|` in radians, which can differ from the
/// haversine in the last bit; so does this.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// The distance along a meridian (`geohashGetLatDistance`).
#[inline]
fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// A distance unit (M, KM, MI, FT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GeoUnit {
    /// Meters.
    #[default]
    Meters,
    /// Kilometers.
    Kilometers,
    /// Miles (1609.34 m, Redis's factor).
    Miles,
    /// Feet (0.3048 m).
    Feet,
}

impl GeoUnit {
    /// Meters per unit.
    pub fn to_meters(self) -> f64 {
        match self {
            GeoUnit::Meters => 1.0,
            GeoUnit::Kilometers => 1000.0,
            GeoUnit::Miles => 1609.34,
            GeoUnit::Feet => 0.3048,
        }
    }

    /// Parses `m`, `km`, `mi`, `ft` (any case); Redis's error otherwise.
    pub fn parse(arg: &[u8]) -> Result<GeoUnit> {
        // strcasecmp on a C string: the argument ends at its first NUL.
        let arg = arg.split(|&c| c == 0).next().unwrap_or(arg);
        if arg.eq_ignore_ascii_case(b"m") {
            Ok(GeoUnit::Meters)
        } else if arg.eq_ignore_ascii_case(b"km") {
            Ok(GeoUnit::Kilometers)
        } else if arg.eq_ignore_ascii_case(b"ft") {
            Ok(GeoUnit::Feet)
        } else if arg.eq_ignore_ascii_case(b"mi") {
            Ok(GeoUnit::Miles)
        } else {
            Err(Error::msg("ERR unsupported unit provided. please use M, KM, FT, MI"))
        }
    }
}

/// The area of a search, in the search's unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GeoShape {
    /// BYRADIUS radius.
    Radius(f64),
    /// BYBOX width height (centred on the origin, axis-aligned).
    Box {
        /// East-west size.
        width: f64,
        /// North-south size.
        height: f64,
    },
}

/// A resolved query: centre, shape and unit factor (Redis's `GeoShape`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Query {
    pub lon: f64,
    pub lat: f64,
    pub shape: GeoShape,
    /// Meters per unit.
    pub conversion: f64,
}

impl Query {
    /// `geohashBoundingBox`: `[min_lon, min_lat, max_lon, max_lat]`.
    fn bounding_box(&self) -> [f64; 4] {
        let (height, width) = match self.shape {
            GeoShape::Radius(r) => (self.conversion * r, self.conversion * r),
            GeoShape::Box { width, height } => (self.conversion * (height / 2.0), self.conversion * (width / 2.0)),
        };
        let lat_delta = rad_deg(height / EARTH_RADIUS_M);
        let long_delta_top = rad_deg(width / EARTH_RADIUS_M / deg_rad(self.lat + lat_delta).cos());
        let long_delta_bottom = rad_deg(width / EARTH_RADIUS_M / deg_rad(self.lat - lat_delta).cos());
        let long_delta = if self.lat < 0.0 { long_delta_bottom } else { long_delta_top };
        [self.lon - long_delta, self.lat - lat_delta, self.lon + long_delta, self.lat + lat_delta]
    }

    /// The distance from the centre in meters if `(lon, lat)` is inside the shape.
    #[inline]
    fn within(&self, lon: f64, lat: f64) -> Option<f64> {
        match self.shape {
            GeoShape::Radius(r) => {
                let d = distance(self.lon, self.lat, lon, lat);
                // `d > radius` rejects; a NaN distance is kept, as in Redis.
                (d.partial_cmp(&(r * self.conversion)) != Some(std::cmp::Ordering::Greater)).then_some(d)
            }
            GeoShape::Box { width, height } => {
                let (w, h) = (width * self.conversion, height * self.conversion);
                if lat_distance(lat, self.lat) > h / 2.0 || distance(lon, lat, self.lon, lat) > w / 2.0 {
                    return None;
                }
                Some(distance(self.lon, self.lat, lon, lat))
            }
        }
    }
}

/// `geohashEstimateStepsByRadius`.
fn estimate_steps(mut range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_meters < MERCATOR_MAX {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// The boxes Redis scans for `q`, in its order (centre, N, S, E, W, NE, NW, SE, SW);
/// dropped boxes are zero (`geohashCalculateAreasByShapeWGS84`).
pub(crate) fn search_areas(q: &Query) -> [HashBits; 9] {
    let [min_lon, min_lat, max_lon, max_lat] = q.bounding_box();
    let radius_meters = match q.shape {
        GeoShape::Radius(r) => r,
        GeoShape::Box { width, height } => ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt(),
    } * q.conversion;
    let mut steps = estimate_steps(radius_meters, q.lat);
    let centre =
        |steps| encode_in(LONG_RANGE, LAT_RANGE, q.lon, q.lat, steps).unwrap_or(HashBits { bits: 0, step: steps });
    let mut hash = centre(steps);
    let mut n = neighbors(hash);
    let mut area = decode_area(hash);
    // One step coarser when a neighbour does not reach the edge of the bounding box.
    let decrease = decode_area(n.north).lat_max < max_lat
        || decode_area(n.south).lat_min > min_lat
        || decode_area(n.east).lon_max < max_lon
        || decode_area(n.west).lon_min > min_lon;
    if steps > 1 && decrease {
        steps -= 1;
        hash = centre(steps);
        n = neighbors(hash);
        area = decode_area(hash);
    }
    // Boxes entirely beyond the bounding box are not scanned.
    if steps >= 2 {
        if area.lat_min < min_lat {
            n.south = HashBits::ZERO;
            n.south_west = HashBits::ZERO;
            n.south_east = HashBits::ZERO;
        }
        if area.lat_max > max_lat {
            n.north = HashBits::ZERO;
            n.north_east = HashBits::ZERO;
            n.north_west = HashBits::ZERO;
        }
        if area.lon_min < min_lon {
            n.west = HashBits::ZERO;
            n.south_west = HashBits::ZERO;
            n.north_west = HashBits::ZERO;
        }
        if area.lon_max > max_lon {
            n.east = HashBits::ZERO;
            n.south_east = HashBits::ZERO;
            n.north_east = HashBits::ZERO;
        }
    }
    [hash, n.north, n.south, n.east, n.west, n.north_east, n.north_west, n.south_east, n.south_west]
}

/// A member found by a search (borrowing its name from the set).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Point<'a> {
    pub member: &'a [u8],
    pub lon: f64,
    pub lat: f64,
    /// Meters from the centre.
    pub dist: f64,
    pub score: f64,
}

/// `membersOfAllNeighbors`: the members of `z` inside `q`, box by box in Redis's order
/// (a member can appear twice when huge searches make distant boxes coincide, as in Redis).
/// With `limit > 0` (COUNT ANY) the walk stops once that many were found.
pub(crate) fn search<'a>(z: &'a ZSet, q: &Query, limit: usize) -> Vec<Point<'a>> {
    let boxes = search_areas(q);
    let mut out = Vec::new();
    let mut last_processed = 0;
    for (i, b) in boxes.iter().enumerate() {
        if b.is_zero() {
            continue;
        }
        // Redis skips a box equal to the last one scanned, except after the centre box.
        if last_processed != 0 && *b == boxes[last_processed] {
            continue;
        }
        if limit > 0 && out.len() >= limit {
            break;
        }
        let min = align52(*b);
        let max = align52(HashBits { bits: b.bits.wrapping_add(1), step: b.step });
        let range = ScoreRange { min: min as f64, min_exclusive: false, max: max as f64, max_exclusive: true };
        let (lo, hi) = z.score_bounds(&range);
        if hi > lo {
            for (member, score) in z.range(Span { first: lo, count: hi - lo, rev: false }) {
                let (lon, lat) = decode_score(score);
                if let Some(dist) = q.within(lon, lat) {
                    out.push(Point { member, lon, lat, dist, score });
                }
                if limit > 0 && out.len() >= limit {
                    break;
                }
            }
        }
        last_processed = i;
    }
    out
}

// ---------------------------------------------------------------------------------------
// Sorting as Redis does
// ---------------------------------------------------------------------------------------

/// Redis's `sort_gp_asc` (NaN compares below everything, and everything below NaN).
#[inline]
fn cmp_asc(a: &Point<'_>, b: &Point<'_>) -> i32 {
    if a.dist > b.dist {
        1
    } else if a.dist == b.dist {
        0
    } else {
        -1
    }
}

/// Sorts `points` by distance (descending when `desc`) as Redis does, with its comparator:
/// the whole array with glibc's `qsort` (a stable merge sort), or, when only the first
/// `keep` are returned (COUNT), with Redis's partial quicksort `pqsort`, which decides which
/// of several members at the same distance COUNT keeps.
pub(crate) fn sort_points(points: &mut [Point<'_>], desc: bool, keep: usize) {
    let cmp = |a: &Point<'_>, b: &Point<'_>| if desc { -cmp_asc(a, b) } else { cmp_asc(a, b) };
    if keep >= points.len() {
        merge_sort(points, &cmp);
    } else if keep > 0 {
        pqsort(points, 0, keep - 1, &cmp);
    }
}

/// glibc's `msort`: top-down, first half `n / 2`, ties taken from the left.
fn merge_sort<T: Copy>(v: &mut [T], cmp: &impl Fn(&T, &T) -> i32) {
    let mut tmp = v.to_vec();
    merge_rec(v, &mut tmp, cmp);
}

fn merge_rec<T: Copy>(v: &mut [T], tmp: &mut [T], cmp: &impl Fn(&T, &T) -> i32) {
    let n = v.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    {
        let (a, b) = v.split_at_mut(n1);
        let (ta, tb) = tmp.split_at_mut(n1);
        merge_rec(a, ta, cmp);
        merge_rec(b, tb, cmp);
    }
    let (mut i, mut j, mut k) = (0, n1, 0);
    while i < n1 && j < n {
        if cmp(&v[i], &v[j]) <= 0 {
            tmp[k] = v[i];
            i += 1;
        } else {
            tmp[k] = v[j];
            j += 1;
        }
        k += 1;
    }
    // What is left of the second half is already in place.
    while i < n1 {
        tmp[k] = v[i];
        i += 1;
        k += 1;
    }
    v[..k].copy_from_slice(&tmp[..k]);
}

/// Redis's `pqsort` (a BSD quicksort that only recurses into partitions overlapping the
/// index range `lrange..=rrange`), step for step: median-of-three (ninther above 40
/// elements) pivots, Bentley-McIlroy partitioning, insertion sort below 7 elements. Redis
/// 7.0 dropped BSD's "no swap: switch to insertion sort" shortcut (checked against
/// redis-server 7.0.15 on 250 random tie-heavy searches), so it is not here either.
fn pqsort<T: Copy>(v: &mut [T], lrange: usize, rrange: usize, cmp: &impl Fn(&T, &T) -> i32) {
    pq_rec(v, 0, v.len(), lrange, rrange, cmp);
}

fn med3<T>(v: &[T], a: usize, b: usize, c: usize, cmp: &impl Fn(&T, &T) -> i32) -> usize {
    if cmp(&v[a], &v[b]) < 0 {
        if cmp(&v[b], &v[c]) < 0 {
            b
        } else if cmp(&v[a], &v[c]) < 0 {
            c
        } else {
            a
        }
    } else if cmp(&v[b], &v[c]) > 0 {
        b
    } else if cmp(&v[a], &v[c]) < 0 {
        a
    } else {
        c
    }
}

/// Swaps `n` elements starting at `a` with `n` starting at `b` (`vecswap`).
fn vecswap<T>(v: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        v.swap(a + i, b + i);
    }
}

fn insertion_sort<T>(v: &mut [T], base: usize, n: usize, cmp: &impl Fn(&T, &T) -> i32) {
    for pm in base + 1..base + n {
        let mut pl = pm;
        while pl > base && cmp(&v[pl - 1], &v[pl]) > 0 {
            v.swap(pl, pl - 1);
            pl -= 1;
        }
    }
}

/// True when the partition `[base, base + n)` holds an index of `lrange..=rrange`.
#[inline]
fn overlaps(base: usize, n: usize, lrange: usize, rrange: usize) -> bool {
    rrange >= base && lrange < base + n
}

/// Sorts `v[base..base + n]` (indexes are absolute, as Redis compares element addresses).
fn pq_rec<T: Copy>(
    v: &mut [T],
    mut base: usize,
    mut n: usize,
    lrange: usize,
    rrange: usize,
    cmp: &impl Fn(&T, &T) -> i32,
) {
    loop {
        if n < 7 {
            insertion_sort(v, base, n, cmp);
            return;
        }
        let mut pm = base + n / 2;
        if n > 7 {
            let mut pl = base;
            let mut pn = base + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(base, pm);
        let mut pa = base + 1;
        let mut pb = pa;
        // `pc`/`pd` are one past their C counterparts so that they never go below zero.
        let mut pc = base + n;
        let mut pd = pc;
        loop {
            while pb < pc {
                let r = cmp(&v[pb], &v[base]);
                if r > 0 {
                    break;
                }
                if r == 0 {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb < pc {
                let r = cmp(&v[pc - 1], &v[base]);
                if r < 0 {
                    break;
                }
                if r == 0 {
                    v.swap(pc - 1, pd - 1);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb >= pc {
                break;
            }
            v.swap(pb, pc - 1);
            pb += 1;
            pc -= 1;
        }
        let pn = base + n;
        let r = (pa - base).min(pb - pa);
        vecswap(v, base, pb - r, r);
        let r = (pd - pc).min(pn - pd);
        vecswap(v, pb, pn - r, r);
        let left = pb - pa;
        if left > 1 && overlaps(base, left, lrange, rrange) {
            pq_rec(v, base, left, lrange, rrange, cmp);
        }
        let right = pd - pc;
        if right > 1 {
            base = pn - right;
            n = right;
            if overlaps(base, n, lrange, rrange) {
                continue;
            }
        }
        return;
    }
}

// ---------------------------------------------------------------------------------------
// Number text
// ---------------------------------------------------------------------------------------

/// `printf("%.{prec}f", x)` as glibc prints it: the exact binary value rounded to `prec`
/// decimals, ties to even.
pub fn fmt_fixed(x: f64, prec: u32) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            if x.is_sign_negative() { "-nan" } else { "nan" }.to_string()
        } else if x < 0.0 {
            "-inf".to_string()
        } else {
            "inf".to_string()
        };
    }
    let bits = x.to_bits();
    let neg = bits >> 63 == 1;
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    let (m, e) = if exp == 0 { (frac, -1074) } else { (frac | (1 << 52), exp - 1075) };
    let scale = 10u128.pow(prec.min(30));
    let q: u128 = if e >= 0 {
        match (m as u128).checked_shl(e as u32).filter(|v| v.leading_zeros() >= 1).and_then(|v| v.checked_mul(scale)) {
            Some(v) if e < 64 => v,
            // Huge values: Rust's exact formatting (no rounding happens at these sizes).
            _ => return format!("{x:.p$}", p = prec as usize),
        }
    } else {
        let scaled = m as u128 * scale;
        let sh = (-e) as u32;
        if sh >= 128 {
            0
        } else {
            let q = scaled >> sh;
            let rem = scaled & ((1u128 << sh) - 1);
            let half = 1u128 << (sh - 1);
            if rem > half || (rem == half && q & 1 == 1) {
                q + 1
            } else {
                q
            }
        }
    };
    let digits = format!("{q:0>w$}", w = prec as usize + 1);
    let (int_part, frac_part) = digits.split_at(digits.len() - prec as usize);
    let mut s = String::with_capacity(digits.len() + 2);
    if neg {
        s.push('-');
    }
    s.push_str(int_part);
    if prec > 0 {
        s.push('.');
        s.push_str(frac_part);
    }
    s
}

/// The text of a distance (GEODIST, WITHDIST) as Redis 7.0.15 writes it with
/// `fixedpoint_d2string(.., 4)`: the double times 10^4 rounded to an integer by `llrint`
/// (ties to even on the rounded product, so `…048.5` after the multiplication gives `…048`
/// where `printf("%.4f")` of the exact value would round up), then printed with 4 decimals.
pub fn fmt_distance(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".to_string();
    }
    let scaled = (d * 10000.0).round_ties_even();
    // x86-64's conversion gives i64::MIN for NaN and out-of-range values.
    let limit = 2f64.powi(63);
    let v = if scaled.is_nan() || !(-limit..limit).contains(&scaled) { i64::MIN } else { scaled as i64 };
    let sign = if v < 0 { "-" } else { "" };
    let u = v.unsigned_abs();
    format!("{sign}{}.{:04}", u / 10000, u % 10000)
}

/// Redis's "human" long double text of a coordinate: `%.17Lf` with trailing zeros (and a
/// trailing dot) removed, `-0` as `0`.
pub fn fmt_human(x: f64) -> String {
    let mut s = fmt_fixed(x, 17);
    if s.contains('.') {
        let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(trimmed);
    }
    if s == "-0" {
        s.remove(0);
    }
    s
}

// ---------------------------------------------------------------------------------------
// Typed options and results
// ---------------------------------------------------------------------------------------

/// Where a search is centred.
#[derive(Debug, Clone, PartialEq)]
pub enum GeoFrom {
    /// FROMMEMBER member (GEORADIUSBYMEMBER): the member's position.
    Member(Vec<u8>),
    /// FROMLONLAT longitude latitude (GEORADIUS).
    LonLat(f64, f64),
}

/// Result order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeoOrder {
    /// Nearest first.
    Asc,
    /// Farthest first.
    Desc,
}

/// A GEOSEARCH query.
///
/// ```
/// use ferrous_core::Database;
/// use ferrous_core::types::geo::{GeoFrom, GeoSearch, GeoShape, GeoUnit};
/// let db = Database::new();
/// db.geoadd("Sicily", &[(13.361389, 38.115556, "Palermo"), (15.087269, 37.502669, "Catania")]).unwrap();
/// let q = GeoSearch::new(GeoFrom::LonLat(15.0, 37.0), GeoShape::Radius(200.0), GeoUnit::Kilometers)
///     .asc()
///     .with_dist();
/// let found = db.geosearch("Sicily", &q).unwrap();
/// assert_eq!(found[0].member, b"Catania");
/// assert!((found[0].dist.unwrap() - 56.4413).abs() < 1e-4);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct GeoSearch {
    /// The centre.
    pub from: GeoFrom,
    /// BYRADIUS / BYBOX, in `unit`.
    pub shape: GeoShape,
    /// Unit of the shape and of the returned distances.
    pub unit: GeoUnit,
    /// ASC / DESC (`None`: the order of the scan, unless `count` without `any` forces ASC).
    pub order: Option<GeoOrder>,
    /// COUNT n.
    pub count: Option<usize>,
    /// ANY: stop at the first `count` matches instead of the nearest `count`.
    pub any: bool,
    /// WITHCOORD.
    pub with_coord: bool,
    /// WITHDIST.
    pub with_dist: bool,
    /// WITHHASH.
    pub with_hash: bool,
}

impl GeoSearch {
    /// A query with no options.
    pub fn new(from: GeoFrom, shape: GeoShape, unit: GeoUnit) -> GeoSearch {
        GeoSearch {
            from,
            shape,
            unit,
            order: None,
            count: None,
            any: false,
            with_coord: false,
            with_dist: false,
            with_hash: false,
        }
    }
    /// ASC.
    pub fn asc(mut self) -> Self {
        self.order = Some(GeoOrder::Asc);
        self
    }
    /// DESC.
    pub fn desc(mut self) -> Self {
        self.order = Some(GeoOrder::Desc);
        self
    }
    /// COUNT n.
    pub fn count(mut self, n: usize) -> Self {
        self.count = Some(n);
        self
    }
    /// COUNT n ANY.
    pub fn count_any(mut self, n: usize) -> Self {
        self.count = Some(n);
        self.any = true;
        self
    }
    /// WITHCOORD.
    pub fn with_coord(mut self) -> Self {
        self.with_coord = true;
        self
    }
    /// WITHDIST.
    pub fn with_dist(mut self) -> Self {
        self.with_dist = true;
        self
    }
    /// WITHHASH.
    pub fn with_hash(mut self) -> Self {
        self.with_hash = true;
        self
    }
}

/// One member found by a search, with what the query asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct GeoMatch {
    /// The member.
    pub member: Vec<u8>,
    /// Distance from the centre in the query's unit (WITHDIST; not rounded).
    pub dist: Option<f64>,
    /// The stored 52-bit geohash score (WITHHASH).
    pub hash: Option<u64>,
    /// `(longitude, latitude)` (WITHCOORD).
    pub coord: Option<(f64, f64)>,
}

/// GEOADD's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GeoAddOptions {
    /// NX: only add new members.
    pub nx: bool,
    /// XX: only update existing members.
    pub xx: bool,
    /// CH: count changed members too.
    pub ch: bool,
}

/// Redis's error for coordinates outside the limits (`%f` of each).
pub fn invalid_pair(lon: f64, lat: f64) -> Error {
    Error::msg(format!("ERR invalid longitude,latitude pair {},{}", fmt_fixed(lon, 6), fmt_fixed(lat, 6)))
}

/// Checks a pair against the limits (Redis's `extractLongLatOrReply` after parsing).
pub fn check_pair(lon: f64, lat: f64) -> Result<()> {
    if (LONG_MIN..=LONG_MAX).contains(&lon) && (LAT_MIN..=LAT_MAX).contains(&lat) {
        Ok(())
    } else {
        Err(invalid_pair(lon, lat))
    }
}

/// Redis's error for FROMMEMBER / GEORADIUSBYMEMBER of a missing member.
pub fn member_error() -> Error {
    Error::msg("ERR could not decode requested zset member")
}

// ---------------------------------------------------------------------------------------
// Access-level operations
// ---------------------------------------------------------------------------------------

/// GEOADD: `(longitude, latitude, member)` triples become ZADD of their scores. Returns
/// what ZADD returns (added, or added + changed with CH) and the scores (for propagation).
pub fn geoadd(acc: &Access<'_>, key: &[u8], items: &[(f64, f64, &[u8])], opts: GeoAddOptions) -> Result<usize> {
    if opts.nx && opts.xx {
        return Err(Error::Syntax);
    }
    let mut scored = Vec::with_capacity(items.len());
    for &(lon, lat, member) in items {
        let score = encode(lon, lat).ok_or_else(|| invalid_pair(lon, lat))?;
        scored.push((score as f64, member));
    }
    let zopts = ZAddOptions { nx: opts.nx, xx: opts.xx, ch: opts.ch, ..Default::default() };
    Ok(zset::zadd(acc, key, &scored, zopts)?.reply_count(opts.ch))
}

/// GEOPOS: each member's `(longitude, latitude)`.
pub fn geopos(acc: &Access<'_>, key: &[u8], members: &[&[u8]]) -> Result<Vec<Option<(f64, f64)>>> {
    zset::read(acc, key, |z| members.iter().map(|m| z.and_then(|z| z.score(m)).map(decode_score)).collect())
}

/// GEODIST: the distance between two members in `unit` (`None` if either is missing).
pub fn geodist(acc: &Access<'_>, key: &[u8], a: &[u8], b: &[u8], unit: GeoUnit) -> Result<Option<f64>> {
    zset::read(acc, key, |z| {
        let z = z?;
        let (sa, sb) = (z.score(a)?, z.score(b)?);
        let ((lon1, lat1), (lon2, lat2)) = (decode_score(sa), decode_score(sb));
        Some(distance(lon1, lat1, lon2, lat2) / unit.to_meters())
    })
}

/// GEOHASH: each member's 11-character geohash.
pub fn geohash(acc: &Access<'_>, key: &[u8], members: &[&[u8]]) -> Result<Vec<Option<String>>> {
    zset::read(acc, key, |z| {
        members
            .iter()
            .map(|m| z.and_then(|z| z.score(m)).map(|s| String::from_utf8_lossy(&geohash_string(s)).into_owned()))
            .collect()
    })
}

/// Checks a query's numbers as Redis's argument parsing does.
fn check_query(q: &GeoSearch) -> Result<()> {
    if let GeoFrom::LonLat(lon, lat) = q.from {
        check_pair(lon, lat)?;
    }
    match q.shape {
        GeoShape::Radius(r) if r.is_nan() || r < 0.0 => Err(Error::msg("ERR radius cannot be negative")),
        GeoShape::Box { width, height } if width.is_nan() || height.is_nan() || width < 0.0 || height < 0.0 => {
            Err(Error::msg("ERR height or width cannot be negative"))
        }
        _ if q.count == Some(0) => Err(Error::msg("ERR COUNT must be > 0")),
        _ if q.any && q.count.is_none() => Err(Error::msg("ERR the ANY argument requires COUNT argument")),
        _ => Ok(()),
    }
}

/// Runs `q` on `z`: the members in Redis's order, at most `count`.
pub(crate) fn run_query<'a>(z: &'a ZSet, centre: (f64, f64), q: &GeoSearch) -> Vec<Point<'a>> {
    let query = Query { lon: centre.0, lat: centre.1, shape: q.shape, conversion: q.unit.to_meters() };
    let count = q.count.unwrap_or(0);
    let mut points = search(z, &query, if q.any { count } else { 0 });
    let order = match q.order {
        None if count > 0 && !q.any => Some(GeoOrder::Asc),
        o => o,
    };
    let keep = if count == 0 { points.len() } else { count.min(points.len()) };
    if let Some(o) = order {
        sort_points(&mut points, o == GeoOrder::Desc, keep);
    }
    points.truncate(keep);
    points
}

/// The centre of `q` over `z` (a missing member is Redis's decode error).
pub(crate) fn centre_of(z: &ZSet, from: &GeoFrom) -> Result<(f64, f64)> {
    match from {
        GeoFrom::LonLat(lon, lat) => Ok((*lon, *lat)),
        GeoFrom::Member(m) => z.score(m).map(decode_score).ok_or_else(member_error),
    }
}

/// GEOSEARCH: the matches of `q` in `key`.
pub fn geosearch(acc: &Access<'_>, key: &[u8], q: &GeoSearch) -> Result<Vec<GeoMatch>> {
    check_query(q)?;
    let conversion = q.unit.to_meters();
    zset::read(acc, key, |z| {
        let Some(z) = z else { return Ok(Vec::new()) };
        let centre = centre_of(z, &q.from)?;
        Ok(run_query(z, centre, q)
            .into_iter()
            .map(|p| GeoMatch {
                member: p.member.to_vec(),
                dist: q.with_dist.then_some(p.dist / conversion),
                hash: q.with_hash.then_some(p.score as i64 as u64),
                coord: q.with_coord.then_some((p.lon, p.lat)),
            })
            .collect())
    })?
}

/// The members a store variant writes: `(member, score)` with the geohash score, or the
/// distance in the query's unit with STOREDIST.
pub(crate) fn store_items(points: &[Point<'_>], storedist: bool, conversion: f64) -> Vec<(Vec<u8>, f64)> {
    points.iter().map(|p| (p.member.to_vec(), if storedist { p.dist / conversion } else { p.score })).collect()
}

/// Stores search results at `dst` (locks held): a new zset, or `dst` deleted when empty.
pub(crate) fn store_results(
    m: &mut crate::access::MultiShard<'_>,
    acc: &Access<'_>,
    dst: &[u8],
    items: &[(Vec<u8>, f64)],
    limits: &ZSetLimits,
) -> usize {
    // Redis inserts the results into a fresh set one by one: a repeated member (huge
    // searches can find one twice) keeps its first score.
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    let mut refs: Vec<(&[u8], f64)> = Vec::with_capacity(items.len());
    for (mem, s) in items {
        if seen.insert(mem.as_slice()) {
            refs.push((mem.as_slice(), *s));
        }
    }
    refs.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(b.0)));
    zset::store_locked(m, acc, dst, &refs, limits);
    items.len()
}

/// GEOSEARCHSTORE: stores the matches of `q` at `dst` (scores: geohashes, or distances
/// with `storedist`); returns how many.
pub fn geosearchstore(acc: &Access<'_>, dst: &[u8], src: &[u8], q: &GeoSearch, storedist: bool) -> Result<usize> {
    check_query(q)?;
    let limits = ZSetLimits::from_config(acc);
    let existed = zset::exists_if_notifying(acc, dst);
    let n = acc.write_many(&[src, dst], |m| -> Result<usize> {
        let hs = acc.hash(src);
        let items = match m.shard(hs).get_mut(hs, src, acc.now) {
            None => Vec::new(),
            Some(node) => match &node.value {
                Value::ZSet(z) => {
                    let centre = centre_of(z, &q.from)?;
                    store_items(&run_query(z, centre, q), storedist, q.unit.to_meters())
                }
                _ => return Err(Error::WrongType),
            },
        };
        Ok(store_results(m, acc, dst, &items, &limits))
    })?;
    zset::announce_store(acc, "geosearchstore", dst, n, existed);
    Ok(n)
}

// ---------------------------------------------------------------------------------------
// Typed API
// ---------------------------------------------------------------------------------------

impl GeoUnit {
    /// The unit as a command argument.
    fn word(self) -> &'static str {
        match self {
            GeoUnit::Meters => "m",
            GeoUnit::Kilometers => "km",
            GeoUnit::Miles => "mi",
            GeoUnit::Feet => "ft",
        }
    }
}

/// How a typed GEOADD propagates: as the `zadd` it becomes (lowercase, integer scores), as
/// the GEOADD handler (and Redis) propagates it.
fn geoadd_form(key: &[u8], items: &[(f64, f64, &[u8])], opts: GeoAddOptions) -> Vec<Vec<Vec<u8>>> {
    let mut a = propagate::args([&b"zadd"[..], key]);
    for (on, word) in [(opts.nx, "NX"), (opts.xx, "XX"), (opts.ch, "CH")] {
        if on {
            a.push(word.as_bytes().to_vec());
        }
    }
    for &(lon, lat, member) in items {
        a.push(encode(lon, lat).unwrap_or_default().to_string().into_bytes());
        a.push(member.to_vec());
    }
    vec![a]
}

/// `GEOSEARCHSTORE dst src ...` for a typed query (coordinates and sizes as `%.17g`, which
/// read back exactly).
fn geosearchstore_form(dst: &[u8], src: &[u8], q: &GeoSearch, storedist: bool) -> Vec<Vec<Vec<u8>>> {
    let num = |v: f64| crate::util::fmt_double(v).into_bytes();
    let mut a = propagate::args([&b"GEOSEARCHSTORE"[..], dst, src]);
    match &q.from {
        GeoFrom::Member(m) => a.extend([b"FROMMEMBER".to_vec(), m.clone()]),
        GeoFrom::LonLat(lon, lat) => a.extend([b"FROMLONLAT".to_vec(), num(*lon), num(*lat)]),
    }
    match q.shape {
        GeoShape::Radius(r) => a.extend([b"BYRADIUS".to_vec(), num(r)]),
        GeoShape::Box { width, height } => a.extend([b"BYBOX".to_vec(), num(width), num(height)]),
    }
    a.push(q.unit.word().as_bytes().to_vec());
    match q.order {
        Some(GeoOrder::Asc) => a.push(b"ASC".to_vec()),
        Some(GeoOrder::Desc) => a.push(b"DESC".to_vec()),
        None => {}
    }
    if let Some(n) = q.count {
        a.extend([b"COUNT".to_vec(), n.to_string().into_bytes()]);
        if q.any {
            a.push(b"ANY".to_vec());
        }
    }
    if storedist {
        a.push(b"STOREDIST".to_vec());
    }
    vec![a]
}

impl Database {
    /// `GEOADD key longitude latitude member [...]`: adds members at positions (a sorted set
    /// with geohash scores); returns the number of new members.
    ///
    /// ```
    /// use ferrous_core::Database;
    /// use ferrous_core::types::geo::GeoUnit;
    /// let db = Database::new();
    /// db.geoadd("Sicily", &[(13.361389, 38.115556, "Palermo"), (15.087269, 37.502669, "Catania")]).unwrap();
    /// let d = db.geodist("Sicily", "Palermo", "Catania", GeoUnit::Kilometers).unwrap().unwrap();
    /// assert_eq!(ferrous_core::types::geo::fmt_fixed(d, 4), "166.2742");
    /// ```
    pub fn geoadd<M: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, items: &[(f64, f64, M)]) -> Result<usize> {
        self.geoadd_with(key, items, GeoAddOptions::default())
    }

    /// GEOADD with NX / XX / CH.
    pub fn geoadd_with<M: AsRef<[u8]>>(
        &self,
        key: impl AsRef<[u8]>,
        items: &[(f64, f64, M)],
        opts: GeoAddOptions,
    ) -> Result<usize> {
        if items.is_empty() {
            return Err(Error::Syntax);
        }
        let items: Vec<(f64, f64, &[u8])> = items.iter().map(|(lon, lat, m)| (*lon, *lat, m.as_ref())).collect();
        let key = key.as_ref();
        let r = self.write_typed(|acc| geoadd(acc, key, &items, opts), |_, _| geoadd_form(key, &items, opts));
        self.serve_blocked(r)
    }

    /// `GEOPOS key member [...]`: `(longitude, latitude)` of each member.
    pub fn geopos<M: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, members: &[M]) -> Result<Vec<Option<(f64, f64)>>> {
        let members: Vec<&[u8]> = members.iter().map(|m| m.as_ref()).collect();
        geopos(&self.access(), key.as_ref(), &members)
    }

    /// `GEODIST key a b [unit]`: the distance (not rounded; the command replies `%.4f`).
    pub fn geodist(
        &self,
        key: impl AsRef<[u8]>,
        a: impl AsRef<[u8]>,
        b: impl AsRef<[u8]>,
        unit: GeoUnit,
    ) -> Result<Option<f64>> {
        geodist(&self.access(), key.as_ref(), a.as_ref(), b.as_ref(), unit)
    }

    /// `GEOHASH key member [...]`: each member's 11-character geohash.
    pub fn geohash<M: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, members: &[M]) -> Result<Vec<Option<String>>> {
        let members: Vec<&[u8]> = members.iter().map(|m| m.as_ref()).collect();
        geohash(&self.access(), key.as_ref(), &members)
    }

    /// `GEOSEARCH key ...`: the members inside a radius or box (see [`GeoSearch`]).
    pub fn geosearch(&self, key: impl AsRef<[u8]>, query: &GeoSearch) -> Result<Vec<GeoMatch>> {
        geosearch(&self.access(), key.as_ref(), query)
    }

    /// `GEOSEARCHSTORE dst src ... [STOREDIST]`: stores the matches at `dst`; returns how
    /// many. The WITH* flags of `query` are ignored.
    pub fn geosearchstore(
        &self,
        dst: impl AsRef<[u8]>,
        src: impl AsRef<[u8]>,
        query: &GeoSearch,
        storedist: bool,
    ) -> Result<usize> {
        let (dst, src) = (dst.as_ref(), src.as_ref());
        let r = self.write_typed(
            |acc| geosearchstore(acc, dst, src, query, storedist),
            |_, _| geosearchstore_form(dst, src, query, storedist),
        );
        self.serve_blocked(r)
    }
}

#[cfg(test)]
// Distances below are Redis's own `%.17g` text, kept exactly as recorded.
#[allow(clippy::excessive_precision)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_redis() {
        assert_eq!(encode(13.361389, 38.115556), Some(3479099956230698));
        assert_eq!(encode(15.087269, 37.502669), Some(3479447370796909));
        // +180 / +85.05112878 land one cell past the last in each coordinate (bits 53, 52).
        assert_eq!(encode(180.0, 85.05112878), Some(13510798882111488));
        assert_eq!(encode(180.1, 0.0), None);
        assert_eq!(encode(0.0, 85.06), None);
        assert_eq!(encode(f64::NAN, 0.0), None);
    }

    #[test]
    fn decodes_like_redis() {
        let (lon, lat) = decode_score(3479099956230698.0);
        assert_eq!(fmt_human(lon), "13.36138933897018433");
        assert_eq!(fmt_human(lat), "38.11555639549629859");
        let (lon, lat) = decode_score(13510798882111488.0);
        assert_eq!((fmt_human(lon).as_str(), fmt_human(lat).as_str()), ("180", "85.0511287799999991"));
        // Garbage scores decode too (clamped), never panic.
        for s in [-1.0, -1e300, 1e300, f64::INFINITY, f64::NEG_INFINITY, 0.5, 9.3e18, 1.9e19] {
            let (lon, lat) = decode_score(s);
            assert!((LONG_MIN..=LONG_MAX).contains(&lon) && (LAT_MIN..=LAT_MAX).contains(&lat), "{s}");
        }
    }

    #[test]
    fn geohash_strings() {
        assert_eq!(&geohash_string(3479099956230698.0), b"sqc8b49rny0");
        assert_eq!(&geohash_string(3479447370796909.0), b"sqdtr74hyu0");
        assert_eq!(&geohash_string(13510798882111488.0), b"bp05b5048p0");
    }

    #[test]
    fn distances_and_text() {
        let (a, b) = (decode_score(3479099956230698.0), decode_score(3479447370796909.0));
        assert_eq!(fmt_fixed(distance(a.0, a.1, b.0, b.1), 4), "166274.1516");
        assert_eq!(fmt_fixed(distance(a.0, a.1, b.0, b.1) / 1000.0, 4), "166.2742");
        assert_eq!(fmt_fixed(0.03125, 4), "0.0312");
        assert_eq!(fmt_fixed(0.09375, 4), "0.0938");
        assert_eq!(fmt_fixed(-0.00001, 4), "-0.0000");
        assert_eq!(fmt_fixed(200.0, 6), "200.000000");
        // 47295135.604850002 ft: printf would say .6049, Redis says .6048.
        assert_eq!(fmt_distance(47295135.604850002), "47295135.6048");
        assert_eq!(fmt_fixed(47295135.604850002, 4), "47295135.6049");
        assert_eq!(fmt_distance(0.0), "0.0000");
        assert_eq!(fmt_distance(0.5), "0.5000");
        assert_eq!(fmt_distance(166.27415156960033), "166.2742");
        assert_eq!(fmt_distance(f64::NAN), "-922337203685477.5808");
        assert_eq!(fmt_fixed(1e300, 1).len(), 303);
        assert_eq!(fmt_human(-0.0), "0");
        assert_eq!(fmt_human(2.5), "2.5");
        assert_eq!(fmt_human(-180.0), "-180");
    }

    #[test]
    fn neighbours_wrap() {
        let h = encode_in(LONG_RANGE, LAT_RANGE, 179.9, 0.0, 4).unwrap();
        let n = neighbors(h);
        // East of the last column is the first column.
        assert_eq!(decode_area(n.east).lon_min, -180.0);
        assert_eq!(decode_area(n.west).lon_max, decode_area(h).lon_min);
        assert_eq!(decode_area(n.north).lat_min, decode_area(h).lat_max);
    }

    #[test]
    fn steps() {
        assert_eq!(estimate_steps(0.0, 0.0), 26);
        assert_eq!(estimate_steps(f64::INFINITY, 0.0), 1);
        assert_eq!(estimate_steps(1000.0, 0.0), 14);
        assert_eq!(estimate_steps(1000.0, 70.0), 13);
        assert_eq!(estimate_steps(1000.0, -81.0), 12);
    }

    fn pts(d: &[f64]) -> Vec<Point<'static>> {
        d.iter().map(|&dist| Point { member: b"", lon: 0.0, lat: 0.0, dist, score: 0.0 }).collect()
    }

    /// A COUNT 34 ASC over 60 tie-heavy distances, as redis-server 7.0.15 ordered it
    /// (`pqsort` without BSD's insertion-sort shortcut; with it, or with a stable sort, the
    /// members at equal distance come out in another order).
    #[test]
    fn partial_sort_matches_redis() {
        let d = [
            317.80194833428874,
            368.6414846112869,
            405.22828306227677,
            405.22828306227677,
            479.51713849441586,
            479.51713849441586,
            479.51713849441586,
            659.17031215556642,
            539.0176131375008,
            539.0176131375008,
            539.0176131375008,
            619.17337694816661,
            619.17337694816661,
            432.99429032111834,
            499.68658105268628,
            499.68658105268628,
            499.68658105268628,
            136.70792756542741,
            136.70792756542741,
            136.70792756542741,
            570.51414376362038,
            570.51414376362038,
            449.60521154401357,
            363.57942486841131,
            462.35909522988618,
            114.93884305944468,
            114.93884305944468,
            114.93884305944468,
            114.93884305944468,
            457.25023693854752,
            457.25023693854752,
            457.25023693854752,
            457.25023693854752,
            457.25023693854752,
            457.25023693854752,
            496.17759144509159,
            731.85989110101207,
            665.84916473231863,
            665.84916473231863,
            665.84916473231863,
            337.75542846780462,
            337.75542846780462,
            337.75542846780462,
            337.75542846780462,
            337.75542846780462,
            337.75542846780462,
            458.87063244505089,
            458.87063244505089,
            458.87063244505089,
            614.21690569165014,
            578.73436482352031,
            544.62649580232608,
            440.92330991302356,
            499.99485207205316,
            442.51539151909822,
            442.51539151909822,
            442.51539151909822,
            253.96734328933712,
            237.52868467217823,
            237.52868467217823,
        ];
        let want = [
            27, 28, 25, 26, 17, 19, 18, 59, 58, 57, 0, 42, 45, 44, 43, 41, 40, 23, 1, 2, 3, 13, 52, 56, 55, 54, 22, 30,
            29, 31, 32, 33, 34, 47,
        ];
        let mut p = pts(&d);
        for (i, p) in p.iter_mut().enumerate() {
            p.score = i as f64;
        }
        sort_points(&mut p, false, want.len());
        let got: Vec<usize> = p[..want.len()].iter().map(|p| p.score as usize).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn sorts_never_panic_and_order() {
        let mut rng = 0x1234_5678u64;
        for n in 0..200 {
            let mut d = Vec::new();
            for _ in 0..n {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                d.push(match rng >> 60 {
                    0 => f64::NAN,
                    1 => 1.0,
                    _ => (rng >> 40) as f64 / 7.0,
                });
            }
            for desc in [false, true] {
                let mut p = pts(&d);
                for (i, p) in p.iter_mut().enumerate() {
                    p.score = i as f64;
                }
                sort_points(&mut p, desc, n);
                if !d.iter().any(|x| x.is_nan()) {
                    // Stable: equal distances keep their scan order.
                    let mut want: Vec<(f64, f64)> = d.iter().enumerate().map(|(i, &x)| (x, i as f64)).collect();
                    want.sort_by(|a, b| if desc { b.0.total_cmp(&a.0) } else { a.0.total_cmp(&b.0) });
                    let got: Vec<(f64, f64)> = p.iter().map(|p| (p.dist, p.score)).collect();
                    assert_eq!(got, want, "n={n} desc={desc}");
                }
                // COUNT: the first `keep` are the nearest (or farthest), in order.
                for keep in [1, 3, n / 2] {
                    if keep == 0 || keep >= n {
                        continue;
                    }
                    let mut p = pts(&d);
                    sort_points(&mut p, desc, keep);
                    if !d.iter().any(|x| x.is_nan()) {
                        let mut want = d.clone();
                        want.sort_by(|a, b| if desc { b.total_cmp(a) } else { a.total_cmp(b) });
                        let got: Vec<f64> = p[..keep].iter().map(|p| p.dist).collect();
                        assert_eq!(got, want[..keep].to_vec(), "n={n} keep={keep} desc={desc}");
                    }
                }
            }
        }
    }
}
