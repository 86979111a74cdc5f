//! GEO command tests: every command's replies against Redis 7.0 (`support/geo.cases`,
//! recorded from redis-server 7.0.15 in both protocols: options, errors in Redis's order,
//! poles, the antimeridian, boxes, ties at equal distance, garbage scores set with ZADD),
//! propagation (GEOADD becomes `zadd`), keyspace events, the typed API, and a model check of
//! searches against a brute-force scan: a radius search must return exactly the members
//! whose distance is within the radius (the nine boxes may miss nothing).
#[path = "support/cases.rs"]
mod cases;
#[path = "support/oracle.rs"]
mod oracle;

use ferrous_core::types::geo::{
    self, GeoAddOptions, GeoFrom, GeoMatch, GeoOrder, GeoSearch, GeoShape, GeoUnit, LAT_MAX, LAT_MIN,
};
use ferrous_core::{Database, Error};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

#[test]
fn replies_match_redis() {
    cases::assert_replay(include_str!("support/geo.cases"));
}

/// Replays an extra case file named by `FERROUS_EXTRA_CASES` (see `support/cases.rs`).
#[test]
fn extra_cases_from_env() {
    cases::assert_extra_cases_from_env();
}

#[test]
fn typed_api() {
    let db = Database::new();
    let added = db.geoadd("Sicily", &[(13.361389, 38.115556, "Palermo"), (15.087269, 37.502669, "Catania")]).unwrap();
    assert_eq!(added, 2);
    assert_eq!(db.zscore("Sicily", "Palermo").unwrap(), Some(3479099956230698.0));
    let opts = GeoAddOptions { xx: true, ch: true, ..Default::default() };
    assert_eq!(db.geoadd_with("Sicily", &[(13.0, 38.0, "Palermo"), (1.0, 1.0, "New")], opts).unwrap(), 1);
    assert_eq!(db.zcard("Sicily").unwrap(), 2);
    db.geoadd("Sicily", &[(13.361389, 38.115556, "Palermo")]).unwrap();
    let bad = GeoAddOptions { nx: true, xx: true, ch: false };
    assert!(matches!(db.geoadd_with("Sicily", &[(1.0, 1.0, "a")], bad), Err(Error::Syntax)));
    let err = db.geoadd("Sicily", &[(200.0, 1.0, "x")]).unwrap_err();
    assert_eq!(err.to_string(), "ERR invalid longitude,latitude pair 200.000000,1.000000");

    let pos = db.geopos("Sicily", &["Palermo", "nope"]).unwrap();
    let (lon, lat) = pos[0].unwrap();
    assert_eq!(
        (geo::fmt_human(lon), geo::fmt_human(lat)),
        ("13.36138933897018433".into(), "38.11555639549629859".into())
    );
    assert_eq!(pos[1], None);
    let d = db.geodist("Sicily", "Palermo", "Catania", GeoUnit::Kilometers).unwrap().unwrap();
    assert_eq!(geo::fmt_fixed(d, 4), "166.2742");
    assert_eq!(db.geodist("Sicily", "Palermo", "nope", GeoUnit::Meters).unwrap(), None);
    assert_eq!(db.geohash("Sicily", &["Palermo", "x"]).unwrap(), vec![Some("sqc8b49rny0".to_string()), None]);

    let q = GeoSearch::new(GeoFrom::LonLat(15.0, 37.0), GeoShape::Radius(200.0), GeoUnit::Kilometers)
        .desc()
        .with_dist()
        .with_hash()
        .with_coord();
    let found = db.geosearch("Sicily", &q).unwrap();
    let names: Vec<&[u8]> = found.iter().map(|m| m.member.as_slice()).collect();
    assert_eq!(names, vec![&b"Palermo"[..], b"Catania"]);
    assert_eq!(geo::fmt_fixed(found[0].dist.unwrap(), 4), "190.4424");
    assert_eq!(found[0].hash, Some(3479099956230698));
    assert!(found[0].coord.is_some());
    let plain = db.geosearch("Sicily", &GeoSearch { with_dist: false, ..q.clone() }.count(1)).unwrap();
    assert_eq!(
        plain,
        vec![GeoMatch { member: b"Palermo".to_vec(), dist: None, hash: Some(3479099956230698), coord: plain[0].coord }]
    );
    let by_member = GeoSearch::new(
        GeoFrom::Member(b"Palermo".to_vec()),
        GeoShape::Box { width: 400.0, height: 400.0 },
        GeoUnit::Kilometers,
    );
    assert_eq!(db.geosearch("Sicily", &by_member).unwrap().len(), 2);
    let missing = GeoSearch::new(GeoFrom::Member(b"nope".to_vec()), GeoShape::Radius(1.0), GeoUnit::Meters);
    assert_eq!(db.geosearch("Sicily", &missing).unwrap_err().to_string(), "ERR could not decode requested zset member");
    assert_eq!(db.geosearch("nokey", &missing).unwrap(), vec![]);
    let neg = GeoSearch::new(GeoFrom::LonLat(0.0, 0.0), GeoShape::Radius(-1.0), GeoUnit::Meters);
    assert_eq!(db.geosearch("Sicily", &neg).unwrap_err().to_string(), "ERR radius cannot be negative");
    let any = GeoSearch { any: true, ..q.clone() };
    assert_eq!(db.geosearch("Sicily", &any).unwrap_err().to_string(), "ERR the ANY argument requires COUNT argument");

    let n = db.geosearchstore("dst", "Sicily", &q.clone().count(1), true).unwrap();
    assert_eq!(n, 1);
    let stored = db.zrange("dst", &ferrous_core::zset::ZRange::rank(0, -1)).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0, b"Palermo");
    assert_eq!(geo::fmt_fixed(stored[0].1, 4), "190.4424");
    let far = GeoSearch::new(GeoFrom::LonLat(0.0, 0.0), GeoShape::Radius(1.0), GeoUnit::Meters);
    assert_eq!(db.geosearchstore("dst", "Sicily", &far, false).unwrap(), 0);
    assert!(!db.exists("dst"));
    db.set("str", "x").unwrap();
    assert!(matches!(db.geosearch("str", &q), Err(Error::WrongType)));
    assert!(matches!(db.geopos("str", &["a"]), Err(Error::WrongType)));
    let _ = GeoOrder::Asc;
}

/// GEOADD is propagated as the ZADD Redis runs: lowercase `zadd`, the options as sent,
/// integer scores; nothing when nothing changed.
#[test]
fn geoadd_propagates_as_zadd() {
    let db = Database::new();
    let feed = db.changes();
    let mut c = oracle::client(&db, 2);
    oracle::run(&db, &mut c, &cases::split("geoadd g CH 13.361389 38.115556 Palermo 15.087269 37.502669 Catania"));
    oracle::run(&db, &mut c, &cases::split("geoadd g 13.361389 38.115556 Palermo"));
    oracle::run(&db, &mut c, &cases::split("georadius g 15 37 200 km store dst"));
    let blocks: Vec<_> = std::iter::from_fn(|| feed.try_recv()).collect();
    let cmds: Vec<Vec<String>> = blocks
        .iter()
        .flat_map(|b| {
            b.changes.iter().map(|c| c.args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect())
        })
        .collect();
    assert_eq!(
        cmds,
        vec![
            vec!["zadd", "g", "CH", "3479099956230698", "Palermo", "3479447370796909", "Catania"],
            vec!["georadius", "g", "15", "37", "200", "km", "store", "dst"],
        ]
    );
}

/// A radius search finds exactly the members a brute-force scan finds (the nine boxes miss
/// nothing), in both encodings, with distances as the scan computes them, sorted.
#[test]
fn radius_search_matches_brute_force() {
    let mut rng = SmallRng::seed_from_u64(7);
    for (n, spread) in [(100, 10.0), (2000, 180.0), (3000, 2.0)] {
        let db = Database::new();
        let cx: f64 = rng.gen_range(-179.0..179.0);
        let cy: f64 = rng.gen_range(-80.0..80.0);
        let mut pts = Vec::new();
        for i in 0..n {
            let lon = (cx + rng.gen_range(-spread..spread)).clamp(-180.0, 180.0);
            let lat = (cy + rng.gen_range(-spread..spread) / 2.0).clamp(LAT_MIN, LAT_MAX);
            pts.push((lon, lat, format!("m{i}")));
        }
        db.geoadd("g", &pts).unwrap();
        for _ in 0..30 {
            let (qx, qy) = (cx + rng.gen_range(-spread..spread) / 2.0, cy + rng.gen_range(-spread..spread) / 4.0);
            let (qx, qy) = (qx.clamp(-180.0, 180.0), qy.clamp(LAT_MIN, LAT_MAX));
            let radius_km = rng.gen_range(0.1..spread * 60.0);
            let q = GeoSearch::new(GeoFrom::LonLat(qx, qy), GeoShape::Radius(radius_km), GeoUnit::Kilometers)
                .asc()
                .with_dist();
            let got = db.geosearch("g", &q).unwrap();
            let mut want: Vec<(String, f64)> = pts
                .iter()
                .filter_map(|(_, _, m)| {
                    let (lon, lat) = db.geopos("g", &[m]).unwrap()[0].unwrap();
                    let d = geo::distance(qx, qy, lon, lat) / 1000.0;
                    (d <= radius_km).then(|| (m.clone(), d))
                })
                .collect();
            want.sort_by(|a, b| a.1.total_cmp(&b.1));
            let got_names: std::collections::BTreeSet<String> =
                got.iter().map(|m| String::from_utf8_lossy(&m.member).into_owned()).collect();
            let want_names: std::collections::BTreeSet<String> = want.iter().map(|(m, _)| m.clone()).collect();
            // Redis's boxes can miss members near the circle's edge on huge radiuses and
            // near the poles (its bounding box assumes a flat band); they never find one
            // outside the circle.
            assert!(got_names.is_subset(&want_names), "n={n} q=({qx},{qy}) r={radius_km}");
            if radius_km < 1000.0 && qy.abs() < 60.0 {
                assert_eq!(got_names, want_names, "n={n} q=({qx},{qy}) r={radius_km}");
            }
            let dists: Vec<f64> = got.iter().map(|m| m.dist.unwrap()).collect();
            assert!(dists.windows(2).all(|w| w[0] <= w[1]));
        }
    }
}

/// No client input panics: random argument lists over the GEO commands.
#[test]
fn random_arguments_never_panic() {
    let db = Database::new();
    let mut c2 = oracle::client(&db, 2);
    let mut c3 = oracle::client(&db, 3);
    oracle::run(&db, &mut c2, &cases::split("geoadd g 1 1 a 2 2 b 179.9 85 c -180 -85.05112878 d"));
    oracle::run(&db, &mut c2, &cases::split("zadd z -1e308 x inf y -inf w"));
    let words = [
        "g",
        "z",
        "nokey",
        "a",
        "b",
        "x",
        "y",
        "withdist",
        "withhash",
        "withcoord",
        "count",
        "any",
        "asc",
        "desc",
        "store",
        "storedist",
        "frommember",
        "fromlonlat",
        "byradius",
        "bybox",
        "km",
        "m",
        "mi",
        "ft",
        "0",
        "1",
        "-1",
        "180",
        "-180",
        "85.05112878",
        "1e308",
        "inf",
        "-inf",
        "nan",
        "",
        "abc",
        "9223372036854775807",
        "0.0001",
    ];
    let cmds = [
        "geoadd",
        "geodist",
        "geohash",
        "geopos",
        "georadius",
        "georadiusbymember",
        "georadius_ro",
        "georadiusbymember_ro",
        "geosearch",
        "geosearchstore",
    ];
    let mut rng = SmallRng::seed_from_u64(11);
    for i in 0..20000 {
        let mut args: Vec<Vec<u8>> = vec![cmds[rng.gen_range(0..cmds.len())].as_bytes().to_vec()];
        let key = if rng.gen_bool(0.5) { "g" } else { words[rng.gen_range(0..3)] };
        args.push(key.as_bytes().to_vec());
        for _ in 0..rng.gen_range(0..12) {
            args.push(words[rng.gen_range(0..words.len())].as_bytes().to_vec());
        }
        let c = if i % 2 == 0 { &mut c2 } else { &mut c3 };
        let _ = oracle::run(&db, c, &args);
    }
}
