//! Arbitrary bytes given to the RDB codec: as a whole file to `Reader`, as the body of a
//! file behind a valid header (so the fuzzer need not discover the magic), and as a DUMP
//! payload to `restore_payload`; checksums off, deep sanitization on or off.
//!
//! Input: one control byte (bit 0: deep sanitization; bit 1: tiny encoding thresholds, so
//! conversions to hash tables/skiplists and node splits happen; bits 4-7: the header's
//! version, 1-10), then the bytes.
//!
//! Must hold: no panic, no hang, no huge allocation; every value that comes out satisfies
//! its type's invariants (nodes well formed, no repeated members, sorted sets in order,
//! lookups agree with iteration), and re-encoding it reads back to the same contents.
#![no_main]
use ferrous_core::rdb::{self, DecodeOptions, EncodeOptions, Item, Reader, ValueLimits};
use ferrous_core::value::Value;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&control, body)) = data.split_first() else { return };
    let limits = if control & 2 != 0 {
        ValueLimits {
            list_max_listpack_size: 2,
            hash_max_listpack_entries: 2,
            hash_max_listpack_value: 4,
            set_max_intset_entries: 2,
            zset_max_listpack_entries: 2,
            zset_max_listpack_value: 4,
        }
    } else {
        ValueLimits::default()
    };
    let opts = DecodeOptions { limits, verify_checksum: false, deep_sanitize: control & 1 != 0 };

    read_file(body, &opts);
    let version = ((control >> 4) % 10) as u16 + 1;
    let mut file = format!("REDIS{version:04}").into_bytes();
    file.extend_from_slice(body);
    read_file(&file, &opts);

    if let Ok(v) = rdb::restore_payload(body, &opts) {
        check(&v, &opts);
    }
});

fn read_file(bytes: &[u8], opts: &DecodeOptions) {
    let Ok(mut r) = Reader::new(bytes, opts.clone()) else { return };
    let mut last = r.offset();
    loop {
        match r.next_item() {
            Ok(Item::Eof) | Err(_) => return,
            Ok(Item::Entry(e)) => check(&e.value, opts),
            Ok(_) => {}
        }
        // Every item consumes input: no endless loop.
        assert!(r.offset() > last);
        last = r.offset();
    }
}

/// The value's invariants, and a DUMP round trip to the same contents.
fn check(v: &Value, opts: &DecodeOptions) {
    match v {
        Value::List(l) => {
            l.check_invariants().unwrap();
            assert!(!l.is_empty());
        }
        Value::Hash(h) => {
            assert!(!h.is_empty());
            let mut n = 0;
            for (f, val) in h.iter() {
                assert_eq!(h.get(&f).as_deref(), Some(&*val));
                n += 1;
            }
            assert_eq!(n, h.len());
        }
        Value::Set(s) => {
            assert!(!s.is_empty());
            let mut m: Vec<Vec<u8>> = s.iter().map(|x| x.to_vec()).collect();
            assert!(m.iter().all(|x| s.contains(x)));
            m.sort();
            m.dedup();
            assert_eq!(m.len(), s.len());
        }
        Value::ZSet(z) => {
            assert!(!z.is_empty());
            let items: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
            assert_eq!(items.len(), z.len());
            for w in items.windows(2) {
                assert!(w[0].1 < w[1].1 || (w[0].1 == w[1].1 && w[0].0 < w[1].0));
            }
            for (m, s) in &items {
                assert_eq!(z.score(m), Some(*s));
            }
        }
        _ => {}
    }
    let payload = rdb::dump_payload(v, &EncodeOptions { compress: true });
    let back = rdb::restore_payload(&payload, opts).expect("a DUMP of a loaded value restores");
    assert_eq!(contents(&back), contents(v));
}

/// A value's contents in a canonical order (scores compared as numbers: -0 == 0).
fn contents(v: &Value) -> (Vec<Vec<u8>>, Vec<f64>) {
    let mut scores = Vec::new();
    let mut items: Vec<Vec<u8>> = match v {
        Value::List(l) => return (l.iter().map(|e| e.to_vec()).collect(), scores),
        Value::Hash(h) => h.iter().map(|(f, x)| [&*f, b"\0", &*x].concat()).collect(),
        Value::Set(s) => s.iter().map(|m| m.to_vec()).collect(),
        Value::ZSet(z) => {
            scores = z.iter().map(|(_, s)| s).collect();
            return (z.iter().map(|(m, _)| m.to_vec()).collect(), scores);
        }
        v => vec![v.as_str().map(|s| s.to_vec()).unwrap_or_default()],
    };
    items.sort();
    (items, scores)
}
