//! The writer: RDB version 10 items and DUMP payloads, appended to a `Vec<u8>`.
//!
//! Each value is written in the RDB type of its current encoding, with the bytes Redis 7.0's
//! `rdbSaveObject` produces for it:
//!
//! | value                    | type                 | body                                  |
//! |--------------------------|----------------------|---------------------------------------|
//! | string                   | STRING (0)           | string (below)                        |
//! | list                     | QUICKLIST_2 (18)     | node count, per node its container (2 = listpack, 1 = plain element) and blob |
//! | hash, listpack           | HASH_LISTPACK (16)   | the listpack as a string              |
//! | hash, hashtable          | HASH (4)             | pair count, field, value, ...         |
//! | set, intset              | SET_INTSET (11)      | the intset as a string                |
//! | set, hashtable           | SET (2)              | member count, members                 |
//! | zset, listpack           | ZSET_LISTPACK (17)   | the listpack (member, score, ...)     |
//! | zset, skiplist           | ZSET_2 (5)           | count, then member + f64le from the highest rank down (Redis walks its skiplist from the tail so that loading inserts at the head) |
//!
//! Strings follow `rdbSaveRawString`: up to 11 bytes that are a canonical integer in `i32`
//! get the INT8/16/32 encodings; with compression, strings over 20 bytes are LZF-compressed
//! when that saves at least 4 bytes; anything else is length + bytes. Blobs (listpacks,
//! intsets) go through the same function, so they are compressed too.
//!
//! Hot path: a string value costs no allocation. Blobs are built in a per-thread scratch
//! buffer (reused across calls) and then copied or compressed into the output.
use super::listpack::LpWriter;
use super::*;
use crate::types::list::Elem as ListElem;
use crate::types::zset::Span;
use crate::value::Value;
use std::cell::RefCell;

thread_local! {
    /// Scratch for blobs before they are written as strings (see the module docs).
    static BLOB: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with an empty scratch buffer (a fresh one if the thread's is in use).
fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    BLOB.with(|b| match b.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            let r = f(&mut buf);
            // Do not keep a huge buffer alive after one huge value.
            if buf.capacity() > 1 << 20 {
                *buf = Vec::new();
            }
            r
        }
        Err(_) => f(&mut Vec::new()),
    })
}

/// `rdbSaveLen`.
#[inline]
pub(crate) fn write_len(out: &mut Vec<u8>, len: u64) {
    let (buf, n) = len_bytes(len);
    out.extend_from_slice(&buf[..n]);
}

/// The bytes of `rdbSaveLen(len)`: 1, 2, 5 or 9 of them.
#[inline]
fn len_bytes(len: u64) -> ([u8; 9], usize) {
    let mut b = [0u8; 9];
    let n = if len < 1 << 6 {
        b[0] = len as u8;
        1
    } else if len < 1 << 14 {
        b[0] = (LEN_14BIT << 6) | (len >> 8) as u8;
        b[1] = len as u8;
        2
    } else if len <= u32::MAX as u64 {
        b[0] = LEN_32BIT;
        b[1..5].copy_from_slice(&(len as u32).to_be_bytes());
        5
    } else {
        b[0] = LEN_64BIT;
        b[1..9].copy_from_slice(&len.to_be_bytes());
        9
    };
    (b, n)
}

/// `rdbEncodeInteger`: the INT8/16/32 string encodings, for values in `i32`.
#[inline]
fn write_encoded_int(out: &mut Vec<u8>, v: i64) -> bool {
    let enc = |e: u8| (LEN_ENCVAL << 6) | e;
    if let Ok(b) = i8::try_from(v) {
        out.extend_from_slice(&[enc(ENC_INT8), b as u8]);
    } else if let Ok(h) = i16::try_from(v) {
        out.push(enc(ENC_INT16));
        out.extend_from_slice(&h.to_le_bytes());
    } else if let Ok(w) = i32::try_from(v) {
        out.push(enc(ENC_INT32));
        out.extend_from_slice(&w.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// `rdbSaveRawString`: a string in the smallest form Redis would choose.
#[inline]
pub(crate) fn write_string(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    if s.len() <= 11 {
        if let Some(v) = ferrous_resp::parse_i64(s) {
            if write_encoded_int(out, v) {
                return;
            }
        }
    }
    if compress && s.len() > 20 && write_lzf(out, s) {
        return;
    }
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// `rdbSaveLzfStringObject`: writes `s` LZF-compressed if that saves at least 4 bytes.
fn write_lzf(out: &mut Vec<u8>, s: &[u8]) -> bool {
    let start = out.len();
    let max_out = s.len() - 4;
    // The header (encoding, compressed length, length) goes first, but the compressed
    // length is only known after compressing: room is left for the longest it can be
    // (`max_out`'s), and the bytes are moved only when the result is in a shorter length
    // class than that (rare: a blob of a few hundred bytes compressing below 64).
    let (u, un) = len_bytes(s.len() as u64);
    let cn_max = len_bytes(max_out as u64).1;
    let head = 1 + cn_max + un;
    out.extend_from_slice(&[0u8; 1 + 9 + 9][..head]);
    if !super::lzf::compress(s, out, max_out) {
        out.truncate(start);
        return false;
    }
    let clen = out.len() - start - head;
    let (c, cn) = len_bytes(clen as u64);
    if cn < cn_max {
        out.copy_within(start + head.., start + head - (cn_max - cn));
        out.truncate(out.len() - (cn_max - cn));
    }
    out[start] = (LEN_ENCVAL << 6) | ENC_LZF;
    out[start + 1..start + 1 + cn].copy_from_slice(&c[..cn]);
    out[start + 1 + cn..start + 1 + cn + un].copy_from_slice(&u[..un]);
    true
}

/// `rdbSaveLongLongAsStringObject`: an integer-encoded string value.
#[inline]
fn write_int_string(out: &mut Vec<u8>, v: i64) {
    if !write_encoded_int(out, v) {
        let mut buf = [0u8; 20];
        let pos = ferrous_resp::write::int_digits(v, &mut buf);
        write_len(out, (buf.len() - pos) as u64);
        out.extend_from_slice(&buf[pos..]);
    }
}

/// Appends the file header: `REDIS` and the version, `REDIS0010`.
pub fn write_header(out: &mut Vec<u8>) {
    out.extend_from_slice(b"REDIS");
    out.extend_from_slice(format!("{RDB_VERSION:04}").as_bytes());
}

/// Appends an AUX field (`rdbSaveAuxFieldStrStr`): integer-looking strings get the integer
/// encodings. Aux values are short, so they are written uncompressed (see
/// [`write_aux_with`] to compress as Redis does with `rdbcompression yes`).
pub fn write_aux(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    write_aux_with(out, key, value, &EncodeOptions { compress: false });
}

/// [`write_aux`] with explicit options.
pub fn write_aux_with(out: &mut Vec<u8>, key: &[u8], value: &[u8], opts: &EncodeOptions) {
    out.push(OP_AUX);
    write_string(out, key, opts.compress);
    write_string(out, value, opts.compress);
}

/// Appends an AUX field with an integer value (`rdbSaveAuxFieldStrInt`).
pub fn write_aux_int(out: &mut Vec<u8>, key: &[u8], value: i64) {
    let mut buf = [0u8; 20];
    let pos = ferrous_resp::write::int_digits(value, &mut buf);
    write_aux(out, key, &buf[pos..]);
}

/// Appends SELECTDB.
pub fn write_select_db(out: &mut Vec<u8>, db: u64) {
    out.push(OP_SELECTDB);
    write_len(out, db);
}

/// Appends RESIZEDB (the key counts of the database that follows, a loading hint).
pub fn write_resize_db(out: &mut Vec<u8>, db_size: u64, expires_size: u64) {
    out.push(OP_RESIZEDB);
    write_len(out, db_size);
    write_len(out, expires_size);
}

/// Appends a function library (FUNCTION2: its code, as FUNCTION LOAD received it). Written
/// uncompressed; see [`write_function_with`].
pub fn write_function(out: &mut Vec<u8>, library_code: &[u8]) {
    write_function_with(out, library_code, &EncodeOptions { compress: false });
}

/// [`write_function`] with explicit options (Redis compresses library code with
/// `rdbcompression yes`).
pub fn write_function_with(out: &mut Vec<u8>, library_code: &[u8], opts: &EncodeOptions) {
    out.push(OP_FUNCTION2);
    write_string(out, library_code, opts.compress);
}

/// Appends an `IDLE` opcode: the next key's LRU idle time in seconds.
pub fn write_idle(out: &mut Vec<u8>, seconds: u64) {
    out.push(OP_IDLE);
    write_len(out, seconds);
}

/// Appends a `FREQ` opcode: the next key's LFU counter.
pub fn write_freq(out: &mut Vec<u8>, freq: u8) {
    out.push(OP_FREQ);
    out.push(freq);
}

/// Appends one key: `[EXPIRETIME_MS t]`, the value's type, the key, the value.
pub fn write_entry(out: &mut Vec<u8>, key: &[u8], value: &Value, expire_ms: Option<i64>, opts: &EncodeOptions) {
    if let Some(t) = expire_ms {
        out.push(OP_EXPIRETIME_MS);
        out.extend_from_slice(&t.to_le_bytes());
    }
    out.push(value_type(value));
    write_string(out, key, opts.compress);
    write_object(out, value, opts);
}

/// Appends the value's type byte and body (`rdbSaveObjectType` + `rdbSaveObject`), as DUMP
/// uses them.
pub fn write_value(out: &mut Vec<u8>, value: &Value, opts: &EncodeOptions) {
    out.push(value_type(value));
    write_object(out, value, opts);
}

/// Appends EOF and the checksum of everything before it (little-endian; 0 = none).
pub fn write_eof(out: &mut Vec<u8>, checksum: u64) {
    out.push(OP_EOF);
    out.extend_from_slice(&checksum.to_le_bytes());
}

/// DUMP's payload: type and body, the RDB version (u16le), and the CRC-64 (u64le) of all
/// that.
pub fn dump_payload(value: &Value, opts: &EncodeOptions) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(&mut out, value, opts);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = Crc64::checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The RDB type byte of a value in its current encoding.
fn value_type(v: &Value) -> u8 {
    match v {
        Value::Str(_) | Value::Int(_) => TYPE_STRING,
        Value::List(_) => TYPE_LIST_QUICKLIST_2,
        Value::Hash(h) if h.is_table() => TYPE_HASH,
        Value::Hash(_) => TYPE_HASH_LISTPACK,
        Value::Set(s) if s.is_table() => TYPE_SET,
        Value::Set(_) => TYPE_SET_INTSET,
        Value::ZSet(z) if z.encoding() == "listpack" => TYPE_ZSET_LISTPACK,
        Value::ZSet(_) => TYPE_ZSET_2,
        Value::Stream(_) => TYPE_STREAM_LISTPACKS_2,
    }
}

/// Writes a blob built by `build` as a string (compressed when allowed and worthwhile).
fn write_blob(out: &mut Vec<u8>, compress: bool, build: impl FnOnce(&mut Vec<u8>)) {
    with_scratch(|blob| {
        build(blob);
        if compress && blob.len() > 20 && write_lzf(out, blob) {
            return;
        }
        write_len(out, blob.len() as u64);
        out.extend_from_slice(blob);
    })
}

fn write_object(out: &mut Vec<u8>, value: &Value, opts: &EncodeOptions) {
    let compress = opts.compress;
    match value {
        Value::Str(s) => write_string(out, s, compress),
        Value::Int(i) => write_int_string(out, *i),
        Value::List(l) => {
            write_len(out, l.node_count() as u64);
            for (i, node) in l.nodes().enumerate() {
                if node.len() == 1 {
                    if let Some(ListElem::Bytes(b)) = node.clone().next() {
                        if b.len() >= super::packed_threshold() {
                            write_len(out, CONTAINER_PLAIN);
                            write_string(out, b, compress);
                            continue;
                        }
                    }
                }
                write_len(out, CONTAINER_PACKED);
                if let Some((entries, count)) = l.node_listpack_entries(i) {
                    // The node's bytes are the listpack's entries: copied whole.
                    write_blob(out, compress, |blob| LpWriter::raw(blob, entries, count));
                    continue;
                }
                write_blob(out, compress, |blob| {
                    let mut lp = LpWriter::new(blob);
                    for e in node {
                        match e {
                            ListElem::Int(i) => lp.int(i),
                            ListElem::Bytes(b) => lp.str(b),
                        }
                    }
                    lp.finish();
                });
            }
        }
        Value::Hash(h) if !h.is_table() => write_blob(out, compress, |blob| {
            let mut lp = LpWriter::new(blob);
            lp.entries(|o| h.write_listpack_entries(o).unwrap_or(0));
            lp.finish();
        }),
        Value::Hash(h) => {
            write_len(out, h.len() as u64);
            for (f, v) in h.iter() {
                write_string(out, &f, compress);
                write_string(out, &v, compress);
            }
        }
        Value::Set(s) => match s.intset() {
            Some(is) => {
                write_blob(out, compress, |blob| super::intset::encode(is.len(), |i| is.get(i), is.byte_width(), blob))
            }
            None => {
                write_len(out, s.len() as u64);
                for m in s.iter() {
                    write_string(out, &m, compress);
                }
            }
        },
        Value::ZSet(z) if z.encoding() == "listpack" => write_blob(out, compress, |blob| {
            let mut lp = LpWriter::new(blob);
            lp.entries(|o| z.write_listpack_entries(o).unwrap_or(0));
            lp.finish();
        }),
        Value::Stream(st) => write_stream(out, st, compress),
        Value::ZSet(z) => {
            let n = z.len();
            write_len(out, n as u64);
            let span = Span { first: n.saturating_sub(1), count: n, rev: true };
            for (m, score) in z.range(span) {
                write_string(out, m, compress);
                out.extend_from_slice(&score.to_le_bytes());
            }
        }
    }
}

/// A stream as `rdbSaveObject` writes `RDB_TYPE_STREAM_LISTPACKS_2`: the nodes (master ID,
/// listpack bytes copied whole), the metadata, then each group's PEL and consumers.
fn write_stream(out: &mut Vec<u8>, s: &crate::types::stream::Stream, compress: bool) {
    write_len(out, s.node_count() as u64);
    for (master, lp) in s.nodes() {
        write_string(out, &master.to_be_bytes(), compress);
        write_string(out, lp, compress);
    }
    write_len(out, s.len());
    for id in [s.last_id, s.first_id, s.max_deleted_id] {
        write_len(out, id.ms);
        write_len(out, id.seq);
    }
    write_len(out, s.entries_added);
    write_len(out, s.group_count() as u64);
    for (name, g) in s.groups() {
        write_string(out, name, compress);
        write_len(out, g.last_id.ms);
        write_len(out, g.last_id.seq);
        write_len(out, g.entries_read as u64);
        write_len(out, g.pel.len() as u64);
        for (id, n) in &g.pel {
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&n.delivery_time.to_le_bytes());
            write_len(out, n.delivery_count);
        }
        write_len(out, g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            write_string(out, cname, compress);
            out.extend_from_slice(&c.seen_time.to_le_bytes());
            write_len(out, c.pel.len() as u64);
            for id in &c.pel {
                out.extend_from_slice(&id.to_be_bytes());
            }
        }
    }
}

/// A score in a listpack, as Redis 7.0's `zzlInsertAt` stores it: an integer entry when the
/// score is an integer within +-2^62 (`double2ll`; -0 becomes 0), else its `%.17g` text
/// (which then always has a `.`, an exponent, or is `inf`: never an integer entry).
#[cfg(test)]
fn write_lp_score(lp: &mut LpWriter<'_>, score: f64) {
    lp.entries(|o| {
        super::listpack::append_score(o, score);
        1
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex_of(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        hex::encode(out)
    }

    #[test]
    fn lengths() {
        for (len, want) in [
            (0u64, "00"),
            (63, "3f"),
            (64, "4040"),
            (16383, "7fff"),
            (16384, "8000004000"),
            (u32::MAX as u64, "80ffffffff"),
            (u32::MAX as u64 + 1, "810000000100000000"),
        ] {
            assert_eq!(hex_of(|o| write_len(o, len)), want, "{len}");
        }
    }

    #[test]
    fn strings() {
        let s = |b: &[u8], c| hex_of(|o| write_string(o, b, c));
        assert_eq!(s(b"12", true), "c00c");
        assert_eq!(s(b"-128", true), "c080");
        assert_eq!(s(b"128", true), "c18000");
        assert_eq!(s(b"-32769", true), "c2ff7fffff");
        assert_eq!(s(b"2147483647", true), "c2ffffff7f");
        assert_eq!(s(b"2147483648", true), "0a32313437343833363438");
        assert_eq!(s(b"007", true), "03303037");
        assert_eq!(s(b"", true), "00");
        // From redis-server 7.0.15 (DUMP of SET s <116 x 'a'>).
        assert_eq!(s(&[b'a'; 116], true), "c3094074016161e06700016161");
        assert_eq!(s(&[b'a'; 21], false), format!("15{}", "61".repeat(21)));
        // Incompressible: stored raw even with compression on.
        let noise: Vec<u8> = (0..64u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        assert_eq!(s(&noise, true), format!("4040{}", hex::encode(&noise)));
        let v = |x: &Value| hex_of(|o| write_object(o, x, &EncodeOptions::default()));
        assert_eq!(v(&Value::Int(5_000_000_000)), "0a35303030303030303030");
        assert_eq!(v(&Value::Int(-1)), "c0ff");
    }

    #[test]
    fn header_and_opcodes() {
        assert_eq!(hex_of(write_header), hex::encode("REDIS0010"));
        assert_eq!(hex_of(|o| write_aux_int(o, b"redis-bits", 64)), format!("fa0a{}c040", hex::encode("redis-bits")));
        assert_eq!(hex_of(|o| write_select_db(o, 3)), "fe03");
        assert_eq!(hex_of(|o| write_resize_db(o, 100, 2)), "fb406402");
        assert_eq!(hex_of(|o| write_eof(o, 0x0102)), "ff0201000000000000");
    }

    /// List nodes are copied whole as listpack entries: the same bytes as encoding each
    /// element.
    #[test]
    fn list_nodes_copied_whole() {
        use crate::types::list::List;
        // Nodes of at most 8 KB (copied), and one of about 20 KB (encoded element by element).
        for fill in [-2, -5] {
            let mut l = List::with_fill(fill);
            let ints =
                [0i64, 127, 128, -1, -4096, 4095, 4096, 32767, -32768, 8_388_607, -8_388_609, i64::MAX, i64::MIN];
            for (i, v) in ints.iter().enumerate() {
                l.push_back(v.to_string().as_bytes());
                l.push_back(&vec![b'a' + i as u8; [0, 1, 63, 64, 4095, 4096, 300][i % 7]]);
            }
            l.push_back(b"007");
            assert!((0..l.node_count()).any(|i| l.node_listpack_entries(i).is_some()) == (fill == -2));
            let opts = EncodeOptions { compress: false };
            let got = hex_of(|o| write_object(o, &Value::List(Box::new(l.clone())), &opts));
            let mut want = Vec::new();
            write_len(&mut want, l.node_count() as u64);
            for node in l.nodes() {
                write_len(&mut want, CONTAINER_PACKED);
                let mut blob = Vec::new();
                let mut lp = LpWriter::new(&mut blob);
                for e in node {
                    match e {
                        ListElem::Int(i) => lp.int(i),
                        ListElem::Bytes(b) => lp.str(b),
                    }
                }
                lp.finish();
                write_string(&mut want, &blob, false);
            }
            assert_eq!(got, hex::encode(want), "fill {fill}");
        }
    }

    #[test]
    fn lp_scores() {
        let lp = |s: f64| {
            let mut out = Vec::new();
            let mut w = LpWriter::new(&mut out);
            write_lp_score(&mut w, s);
            w.finish();
            hex::encode(&out[6..out.len() - 1])
        };
        // Redis 7.0.15 stores 1e18 as an integer, 5e18 as text, -0 as 0.
        assert_eq!(lp(-0.0), "0001");
        assert_eq!(lp(3.0), "0301");
        assert_eq!(lp(1e18), "f4000064a7b3b6e00d09");
        assert_eq!(lp(5e18), format!("85{}06", hex::encode("5e+18")));
        assert_eq!(lp(1.5), format!("83{}04", hex::encode("1.5")));
        assert_eq!(lp(f64::INFINITY), format!("83{}04", hex::encode("inf")));
        assert_eq!(lp(12.25), format!("85{}06", hex::encode("12.25")));
        assert_eq!(lp(0.1), format!("93{}14", hex::encode("0.10000000000000001")));
    }
}
