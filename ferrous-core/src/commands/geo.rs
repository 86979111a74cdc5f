//! Geo commands: GEOADD GEODIST GEOHASH GEOPOS GEORADIUS GEORADIUSBYMEMBER (and their `_RO`
//! forms) GEOSEARCH GEOSEARCHSTORE.
//!
//! A geo set is a sorted set (see [`crate::types::geo`] for the arithmetic). The handlers
//! parse in Redis's order, so a wrong argument list fails with Redis's error: the source
//! key's type is checked first, then the arguments left to right (a FROMMEMBER member is
//! looked up when its option is read), then the option conflicts. GEOADD runs as the ZADD it
//! becomes and is propagated as that `zadd` (lowercase, scores as integers), as Redis does.
//!
//! Replies: distances are bulk strings with 4 decimals in both protocols, hashes
//! integers, coordinates Redis's "human" long double text: bulk strings in RESP2, doubles in
//! RESP3.
use super::{Ctx, Handler, Reply};
use crate::error::{Error, Result};
use crate::types::geo::{
    self, check_pair, decode_score, fmt_human, member_error, GeoFrom, GeoOrder, GeoSearch, GeoShape, GeoUnit, Point,
};
use crate::types::zset::{self as zops, parse_score, ZAddOptions, ZSet, ZSetLimits};
use crate::util::parse_int;
use crate::value::Value;
use ferrous_resp::Args;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("geoadd", geoadd),
    ("geodist", geodist),
    ("geohash", geohash),
    ("geopos", geopos),
    ("georadius", georadius),
    ("georadiusbymember", georadiusbymember),
    ("georadius_ro", georadius_ro),
    ("georadiusbymember_ro", georadiusbymember_ro),
    ("geosearch", geosearch),
    ("geosearchstore", geosearchstore),
];

#[inline]
fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// A float argument as Redis's `getDoubleFromObjectOrReply` reads it, with its error text.
fn float_arg(arg: &[u8], err: &'static str) -> Result<f64> {
    parse_score(arg).ok_or(Error::msg(err))
}

/// `longitude latitude` at `i`: parsed, then checked against the limits.
fn lon_lat(args: &Args<'_>, i: usize) -> Result<(f64, f64)> {
    let lon = parse_score(args.at(i)).ok_or(Error::NotFloat)?;
    let lat = parse_score(args.at(i + 1)).ok_or(Error::NotFloat)?;
    check_pair(lon, lat)?;
    Ok((lon, lat))
}

/// A coordinate in Redis's human long double text: bulk in RESP2, double in RESP3.
fn coordinate(out: &mut Reply<'_>, x: f64) {
    let text = fmt_human(x);
    if out.resp3() {
        out.raw(b",");
        out.raw(text.as_bytes());
        out.raw(b"\r\n");
    } else {
        out.bulk(text.as_bytes());
    }
}

// ---------------------------------------------------------------------------------------
// GEOADD
// ---------------------------------------------------------------------------------------

/// `GEOADD key [NX | XX] [CH] longitude latitude member [longitude latitude member ...]`
fn geoadd(ctx: &mut Ctx<'_>) -> Result<()> {
    let (mut nx, mut xx, mut ch) = (false, false, false);
    let mut first = 2;
    while first < ctx.argc() {
        let a = ctx.arg(first);
        if is(a, "nx") {
            nx = true;
        } else if is(a, "xx") {
            xx = true;
        } else if is(a, "ch") {
            ch = true;
        } else {
            break;
        }
        first += 1;
    }
    if (ctx.argc() - first) % 3 != 0 || (nx && xx) {
        return Err(Error::Syntax);
    }
    let mut items = Vec::with_capacity((ctx.argc() - first) / 3);
    for i in (first..ctx.argc()).step_by(3) {
        let (lon, lat) = lon_lat(&ctx.args, i)?;
        let score = geo::encode(lon, lat).ok_or_else(|| geo::invalid_pair(lon, lat))?;
        items.push((score, ctx.arg(i + 2)));
    }
    // Redis hands `zadd key [options] score member ...` to ZADD (which rejects an empty list).
    if items.is_empty() {
        return Err(Error::Syntax);
    }
    let scored: Vec<(f64, &[u8])> = items.iter().map(|&(s, m)| (s as f64, m)).collect();
    let opts = ZAddOptions { nx, xx, ch, ..Default::default() };
    let res = zops::zadd(&ctx.access, ctx.arg(1), &scored, opts)?;
    ctx.out.int(res.reply_count(ch) as i64);
    let scores: Vec<String> = items.iter().map(|(s, _)| s.to_string()).collect();
    let mut parts: Vec<&[u8]> = Vec::with_capacity(first + items.len() * 2);
    parts.push(b"zadd");
    parts.extend((1..first).map(|i| ctx.arg(i)));
    for (s, (_, m)) in scores.iter().zip(&items) {
        parts.push(s.as_bytes());
        parts.push(m);
    }
    ctx.propagate_as(parts);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// GEODIST, GEOHASH, GEOPOS
// ---------------------------------------------------------------------------------------

/// `GEODIST key member1 member2 [M | KM | FT | MI]`
fn geodist(ctx: &mut Ctx<'_>) -> Result<()> {
    let unit = match ctx.argc() {
        5 => GeoUnit::parse(ctx.arg(4))?,
        n if n > 5 => return Err(Error::Syntax),
        _ => GeoUnit::Meters,
    };
    match geo::geodist(&ctx.access, ctx.arg(1), ctx.arg(2), ctx.arg(3), unit)? {
        Some(d) => ctx.out.bulk(geo::fmt_distance(d).as_bytes()),
        None => ctx.out.null(),
    }
    Ok(())
}

/// `GEOHASH key [member [member ...]]`
fn geohash(ctx: &mut Ctx<'_>) -> Result<()> {
    let (acc, args) = (ctx.access, ctx.args);
    let out = &mut ctx.out;
    zops::read(&acc, args.at(1), |z| {
        out.array(args.len() - 2);
        for i in 2..args.len() {
            match z.and_then(|z| z.score(args.at(i))) {
                Some(s) => out.bulk(&geo::geohash_string(s)),
                None => out.null(),
            }
        }
    })
}

/// `GEOPOS key [member [member ...]]`
fn geopos(ctx: &mut Ctx<'_>) -> Result<()> {
    let (acc, args) = (ctx.access, ctx.args);
    let out = &mut ctx.out;
    zops::read(&acc, args.at(1), |z| {
        out.array(args.len() - 2);
        for i in 2..args.len() {
            match z.and_then(|z| z.score(args.at(i))) {
                Some(s) => {
                    let (lon, lat) = decode_score(s);
                    out.array(2);
                    coordinate(out, lon);
                    coordinate(out, lat);
                }
                None => out.null_array(),
            }
        }
    })
}

// ---------------------------------------------------------------------------------------
// GEORADIUS family and GEOSEARCH
// ---------------------------------------------------------------------------------------

/// Which command of the family runs (Redis's `georadiusGeneric` flags).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// GEORADIUS / GEORADIUS_RO: centre and radius as arguments 2-5.
    Coords { store: bool },
    /// GEORADIUSBYMEMBER / _RO: centre member and radius as arguments 2-4.
    Member { store: bool },
    /// GEOSEARCH / GEOSEARCHSTORE.
    Search { store: bool },
}

impl Variant {
    fn search(self) -> bool {
        matches!(self, Variant::Search { .. })
    }
    /// STORE / STOREDIST key accepted (GEORADIUS, GEORADIUSBYMEMBER).
    fn radius_store(self) -> bool {
        matches!(self, Variant::Coords { store: true } | Variant::Member { store: true })
    }
    fn src_index(self) -> usize {
        if self == (Variant::Search { store: true }) {
            2
        } else {
            1
        }
    }
}

/// A parsed search (before it meets the data).
struct Parsed<'a> {
    /// The centre; `None` when FROMMEMBER / BYMEMBER named a member of a missing key.
    centre: Option<(f64, f64)>,
    query: GeoSearch,
    store: Option<&'a [u8]>,
    storedist: bool,
}

/// `need numeric radius`, `radius cannot be negative`, then the unit.
fn radius_args(args: &Args<'_>, i: usize) -> Result<(f64, GeoUnit)> {
    let r = float_arg(args.at(i), "ERR need numeric radius")?;
    if r < 0.0 {
        return Err(Error::msg("ERR radius cannot be negative"));
    }
    Ok((r, GeoUnit::parse(args.at(i + 1))?))
}

/// `width height unit`, as `extractBoxOrReply`.
fn box_args(args: &Args<'_>, i: usize) -> Result<(f64, f64, GeoUnit)> {
    let w = float_arg(args.at(i), "ERR need numeric width")?;
    let h = float_arg(args.at(i + 1), "ERR need numeric height")?;
    if h < 0.0 || w < 0.0 {
        return Err(Error::msg("ERR height or width cannot be negative"));
    }
    Ok((w, h, GeoUnit::parse(args.at(i + 2))?))
}

fn member_centre(z: &ZSet, member: &[u8]) -> Result<(f64, f64)> {
    z.score(member).map(decode_score).ok_or_else(member_error)
}

fn named_error(prefix: &str, name: &[u8]) -> Error {
    let mut msg = prefix.as_bytes().to_vec();
    msg.extend_from_slice(name);
    Error::Bytes(msg)
}

/// Parses the arguments of `variant` as `georadiusGeneric` does, with the source set `z`
/// (already type-checked) at hand for member lookups.
fn parse<'a>(args: &Args<'a>, variant: Variant, z: Option<&ZSet>) -> Result<Parsed<'a>> {
    let mut centre = None;
    let mut shape = None;
    let mut unit = GeoUnit::Meters;
    let mut store = None;
    let base = match variant {
        Variant::Coords { .. } => {
            centre = Some(lon_lat(args, 2)?);
            let (r, u) = radius_args(args, 4)?;
            shape = Some(GeoShape::Radius(r));
            unit = u;
            6
        }
        // Without the key Redis does not even read the radius.
        Variant::Member { .. } if z.is_none() => 5,
        Variant::Member { .. } => {
            centre = Some(member_centre(z.ok_or_else(member_error)?, args.at(2))?);
            let (r, u) = radius_args(args, 3)?;
            shape = Some(GeoShape::Radius(r));
            unit = u;
            5
        }
        Variant::Search { store: true } => {
            store = Some(args.at(1));
            3
        }
        Variant::Search { store: false } => 2,
    };
    let (mut withdist, mut withhash, mut withcoord, mut any, mut storedist) = (false, false, false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut order = None;
    let mut count: i64 = 0;
    let remaining = args.len().saturating_sub(base);
    let mut i = 0;
    while i < remaining {
        let a = args.at(base + i);
        let search = variant.search();
        if is(a, "withdist") {
            withdist = true;
        } else if is(a, "withhash") {
            withhash = true;
        } else if is(a, "withcoord") {
            withcoord = true;
        } else if is(a, "any") {
            any = true;
        } else if is(a, "asc") {
            order = Some(GeoOrder::Asc);
        } else if is(a, "desc") {
            order = Some(GeoOrder::Desc);
        } else if is(a, "count") && i + 1 < remaining {
            count = parse_int(args.at(base + i + 1))?;
            if count <= 0 {
                return Err(Error::msg("ERR COUNT must be > 0"));
            }
            i += 1;
        } else if (is(a, "store") || is(a, "storedist")) && i + 1 < remaining && variant.radius_store() {
            store = Some(args.at(base + i + 1));
            storedist = is(a, "storedist");
            i += 1;
        } else if is(a, "storedist") && variant == (Variant::Search { store: true }) {
            storedist = true;
        } else if is(a, "frommember") && i + 1 < remaining && search && !fromloc {
            // Without the key the member is not looked up; the error comes after parsing.
            if let Some(z) = z {
                centre = Some(member_centre(z, args.at(base + i + 1))?);
            }
            frommember = true;
            i += 1;
        } else if is(a, "fromlonlat") && i + 2 < remaining && search && !frommember {
            centre = Some(lon_lat(args, base + i + 1)?);
            fromloc = true;
            i += 2;
        } else if is(a, "byradius") && i + 2 < remaining && search && !bybox {
            let (r, u) = radius_args(args, base + i + 1)?;
            shape = Some(GeoShape::Radius(r));
            unit = u;
            byradius = true;
            i += 2;
        } else if is(a, "bybox") && i + 3 < remaining && search && !byradius {
            let (width, height, u) = box_args(args, base + i + 1)?;
            shape = Some(GeoShape::Box { width, height });
            unit = u;
            bybox = true;
            i += 3;
        } else {
            return Err(Error::Syntax);
        }
        i += 1;
    }
    if store.is_some() && (withdist || withhash || withcoord) {
        return Err(Error::msg(if variant == (Variant::Search { store: true }) {
            "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        } else {
            "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        }));
    }
    if variant.search() && !(frommember || fromloc) {
        return Err(named_error("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for ", args.at(0)));
    }
    if variant.search() && !(byradius || bybox) {
        return Err(named_error("ERR exactly one of BYRADIUS and BYBOX can be specified for ", args.at(0)));
    }
    if any && count == 0 {
        return Err(Error::msg("ERR the ANY argument requires COUNT argument"));
    }
    let query = GeoSearch {
        // The centre was resolved above; `from` only documents it.
        from: GeoFrom::LonLat(centre.map_or(0.0, |c| c.0), centre.map_or(0.0, |c| c.1)),
        shape: shape.unwrap_or(GeoShape::Radius(0.0)),
        unit,
        order,
        count: (count > 0).then_some(usize::try_from(count).unwrap_or(usize::MAX)),
        any,
        with_coord: withcoord,
        with_dist: withdist,
        with_hash: withhash,
    };
    Ok(Parsed { centre, query, store, storedist })
}

/// The STORE / STOREDIST key of a GEORADIUS / GEORADIUSBYMEMBER, found by walking the
/// options as [`parse`] does (without checking them): the keys to lock before parsing.
fn store_key<'a>(args: &Args<'a>, base: usize) -> Option<&'a [u8]> {
    let remaining = args.len().saturating_sub(base);
    let mut store = None;
    let mut i = 0;
    while i < remaining {
        let a = args.at(base + i);
        if ["withdist", "withhash", "withcoord", "any", "asc", "desc"].iter().any(|w| is(a, w)) {
        } else if is(a, "count") && i + 1 < remaining {
            i += 1;
        } else if (is(a, "store") || is(a, "storedist")) && i + 1 < remaining {
            store = Some(args.at(base + i + 1));
            i += 1;
        } else {
            break;
        }
        i += 1;
    }
    store
}

/// Writes search results (`points` already sorted and cut to COUNT).
fn write_points(out: &mut Reply<'_>, points: &[Point<'_>], q: &GeoSearch) {
    let conversion = q.unit.to_meters();
    let options = q.with_dist as usize + q.with_hash as usize + q.with_coord as usize;
    out.array(points.len());
    for p in points {
        if options > 0 {
            out.array(options + 1);
        }
        out.bulk(p.member);
        if q.with_dist {
            out.bulk(geo::fmt_distance(p.dist / conversion).as_bytes());
        }
        if q.with_hash {
            out.int(p.score as i64);
        }
        if q.with_coord {
            out.array(2);
            coordinate(out, p.lon);
            coordinate(out, p.lat);
        }
    }
}

fn radius_generic(ctx: &mut Ctx<'_>, variant: Variant) -> Result<()> {
    let args = ctx.args;
    let src = args.at(variant.src_index());
    let dst = match variant {
        Variant::Search { store: true } => Some(args.at(1)),
        Variant::Coords { store: true } => store_key(&args, 6),
        Variant::Member { store: true } => store_key(&args, 5),
        _ => None,
    };
    let acc = ctx.access;
    let Some(dst) = dst else {
        // A read: parse, search and reply under the source's read lock.
        let out = &mut ctx.out;
        return zops::read(&acc, src, |z| -> Result<()> {
            let p = parse(&args, variant, z)?;
            let (Some(z), Some(centre)) = (z, p.centre) else {
                out.array(0);
                return Ok(());
            };
            let points = geo::run_query(z, centre, &p.query);
            write_points(out, &points, &p.query);
            Ok(())
        })?;
    };
    let limits = ZSetLimits::from_config(&acc);
    let existed = zops::exists_if_notifying(&acc, dst);
    let n = acc.write_many(&[src, dst], |m| -> Result<usize> {
        let hs = acc.hash(src);
        let (parsed, items) = {
            let z = match m.shard(hs).get_mut(hs, src, acc.now) {
                None => None,
                Some(node) => match &node.value {
                    Value::ZSet(z) => Some(z),
                    _ => return Err(Error::WrongType),
                },
            };
            let p = parse(&args, variant, z)?;
            let items = match (z, p.centre) {
                (Some(z), Some(centre)) => {
                    let points = geo::run_query(z, centre, &p.query);
                    geo::store_items(&points, p.storedist, p.query.unit.to_meters())
                }
                _ => Vec::new(),
            };
            (p, items)
        };
        if parsed.store != Some(dst) {
            // The pre-scan and the parse walk the options alike; never store elsewhere.
            return Err(Error::Syntax);
        }
        Ok(geo::store_results(m, &acc, dst, &items, &limits))
    })?;
    let event = if variant.search() { "geosearchstore" } else { "georadiusstore" };
    zops::announce_store(&acc, event, dst, n, existed);
    ctx.out.int(n as i64);
    Ok(())
}

/// `GEORADIUS key longitude latitude radius <M | KM | FT | MI> [WITHCOORD] [WITHDIST]
/// [WITHHASH] [COUNT count [ANY]] [ASC | DESC] [STORE key | STOREDIST key]`
fn georadius(ctx: &mut Ctx<'_>) -> Result<()> {
    radius_generic(ctx, Variant::Coords { store: true })
}

/// `GEORADIUSBYMEMBER key member radius <M | KM | FT | MI> [WITHCOORD] [WITHDIST]
/// [WITHHASH] [COUNT count [ANY]] [ASC | DESC] [STORE key | STOREDIST key]`
fn georadiusbymember(ctx: &mut Ctx<'_>) -> Result<()> {
    radius_generic(ctx, Variant::Member { store: true })
}

/// `GEORADIUS_RO key longitude latitude radius <M | KM | FT | MI> [WITHCOORD] [WITHDIST]
/// [WITHHASH] [COUNT count [ANY]] [ASC | DESC]`
fn georadius_ro(ctx: &mut Ctx<'_>) -> Result<()> {
    radius_generic(ctx, Variant::Coords { store: false })
}

/// `GEORADIUSBYMEMBER_RO key member radius <M | KM | FT | MI> [WITHCOORD] [WITHDIST]
/// [WITHHASH] [COUNT count [ANY]] [ASC | DESC]`
fn georadiusbymember_ro(ctx: &mut Ctx<'_>) -> Result<()> {
    radius_generic(ctx, Variant::Member { store: false })
}

/// `GEOSEARCH key <FROMMEMBER member | FROMLONLAT longitude latitude> <BYRADIUS radius
/// <M | KM | FT | MI> | BYBOX width height <M | KM | FT | MI>> [ASC | DESC] [COUNT count
/// [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]`
fn geosearch(ctx: &mut Ctx<'_>) -> Result<()> {
    radius_generic(ctx, Variant::Search { store: false })
}

/// `GEOSEARCHSTORE destination source <FROMMEMBER member | FROMLONLAT longitude latitude>
/// <BYRADIUS radius <M | KM | FT | MI> | BYBOX width height <M | KM | FT | MI>> [ASC | DESC]
/// [COUNT count [ANY]] [STOREDIST]`
fn geosearchstore(ctx: &mut Ctx<'_>) -> Result<()> {
    radius_generic(ctx, Variant::Search { store: true })
}
