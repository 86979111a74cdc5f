//! In-process tests of the bitmap commands (SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD
//! BITFIELD_RO) and of their typed API.
//!
//! The command scripts below are `COMMAND args => reply` lines whose replies are what
//! redis-server 7.0.15 answered to the same lines on an empty database. Replies are written
//! as `+simple`, `-error`, `:integer`, `"bulk"` (with `\xNN` escapes), `(nil)` and
//! `[array, ...]`; arguments are split on spaces, `"..."` quotes one with escapes.
use ferrous_core::bitmaps::{BitOp, BitPosRange, BitRange, BitUnit, BitfieldOp, BitfieldOverflow, BitfieldType};
use ferrous_core::value::Value;
use ferrous_core::{Config, ConnectionInfo, Database, Error, RespValue};
use std::sync::atomic::Ordering::Relaxed;

#[path = "support/script.rs"]
mod script;
use script::*;

#[test]
fn setbit_getbit() {
    check(
        r#"
        SETBIT b 7 1                   => :0
        GET b                          => "\x01"
        SETBIT b 7 1                   => :1
        SETBIT b 7 0                   => :1
        GET b                          => "\x00"
        GETBIT b 7                     => :0
        GETBIT b 0                     => :0
        GETBIT b 100                   => :0
        GETBIT nokey 0                 => :0
        SETBIT b 10 1                  => :0
        GET b                          => "\x00 "
        SETBIT b 10 true               => -ERR bit is not an integer or out of range
        SETBIT b 10 -1                 => -ERR bit is not an integer or out of range
        SETBIT b 10 2                  => -ERR bit is not an integer or out of range
        SETBIT b 10 01                 => -ERR bit is not an integer or out of range
        SETBIT b 10 " 1"               => -ERR bit is not an integer or out of range
        SETBIT b 10 ""                 => -ERR bit is not an integer or out of range
        SETBIT b -1 1                  => -ERR bit offset is not an integer or out of range
        SETBIT b abc 1                 => -ERR bit offset is not an integer or out of range
        SETBIT b 1.5 1                 => -ERR bit offset is not an integer or out of range
        SETBIT b #1 1                  => -ERR bit offset is not an integer or out of range
        GETBIT b -1                    => -ERR bit offset is not an integer or out of range
        GETBIT b abc                   => -ERR bit offset is not an integer or out of range
        GETBIT b #1                    => -ERR bit offset is not an integer or out of range
        SETBIT b 4294967296 1          => -ERR bit offset is not an integer or out of range
        SETBIT b 4294967296 2          => -ERR bit offset is not an integer or out of range
        SETBIT b 9223372036854775807 1 => -ERR bit offset is not an integer or out of range
        GETBIT b 4294967296            => -ERR bit offset is not an integer or out of range
        GETBIT b 4294967295            => :0
        SET num 12                     => +OK
        GETBIT num 2                   => :1
        GETBIT num 3                   => :1
        GETBIT num 15                  => :0
        SETBIT num 0 1                 => :0
        GET num                        => "\xb12"
        SET num 12                     => +OK
        SETBIT num 2 1                 => :1
        GET num                        => "12"
        SETBIT e 0 0                   => :0
        GET e                          => "\x00"
    "#,
    );
}

#[test]
fn bitcount() {
    check(
        r#"
        BITCOUNT nokey                                          => :0
        BITCOUNT nokey 1                                        => :0
        BITCOUNT nokey a b                                      => :0
        BITCOUNT nokey 0 1 foo                                  => :0
        SET s foobar                                            => +OK
        BITCOUNT s                                              => :26
        BITCOUNT s 0 0                                          => :4
        BITCOUNT s 1 1                                          => :6
        BITCOUNT s 1 -1                                         => :22
        BITCOUNT s 0 -1 bit                                     => :26
        BITCOUNT s 5 30 BIT                                     => :17
        BITCOUNT s 5 30 byte                                    => :4
        BITCOUNT s -1 -2                                        => :0
        BITCOUNT s -1 -2 foo                                    => :0
        BITCOUNT s -2 -1                                        => :7
        BITCOUNT s -2 -1 bit                                    => :1
        BITCOUNT s -100 100                                     => :26
        BITCOUNT s 100 200                                      => :0
        BITCOUNT s 3 2                                          => :0
        BITCOUNT s 9223372036854775807 9223372036854775807 bit  => :0
        BITCOUNT s -9223372036854775808 9223372036854775807 bit => :26
        BITCOUNT s 1                                            => -ERR syntax error
        BITCOUNT s 0 1 foo                                      => -ERR syntax error
        BITCOUNT s 0 1 byte extra                               => -ERR syntax error
        BITCOUNT s a b                                          => -ERR value is not an integer or out of range
        BITCOUNT s 0 b                                          => -ERR value is not an integer or out of range
        BITCOUNT s 0 1.5                                        => -ERR value is not an integer or out of range
        SET e ""                                                => +OK
        BITCOUNT e                                              => :0
        BITCOUNT e 0 -1                                         => :0
        BITCOUNT e 0 -1 bit                                     => :0
        SET n 12345                                             => +OK
        BITCOUNT n                                              => :17
        BITCOUNT n 1 1 bit                                      => :0
    "#,
    );
}

#[test]
fn bitpos() {
    check(
        r#"
        BITPOS nokey 0           => :0
        BITPOS nokey 1           => :-1
        BITPOS nokey 2           => -ERR The bit argument must be 1 or 0.
        BITPOS nokey -1          => -ERR The bit argument must be 1 or 0.
        BITPOS nokey abc         => -ERR value is not an integer or out of range
        BITPOS nokey 1 a         => :-1
        BITPOS nokey 0 0 0 foo   => :0
        SET s foobar             => +OK
        BITPOS s 2               => -ERR The bit argument must be 1 or 0.
        BITPOS s 1               => :1
        BITPOS s 0               => :0
        BITPOS s 1 a             => -ERR value is not an integer or out of range
        BITPOS s 1 0 a           => -ERR value is not an integer or out of range
        BITPOS s 1 0 1 foo       => -ERR syntax error
        BITPOS s 1 a b foo       => -ERR value is not an integer or out of range
        BITPOS s 1 0 a foo       => -ERR syntax error
        BITPOS s 1 0 1 bit extra => -ERR syntax error
        BITPOS s 1 1             => :9
        BITPOS s 1 2 -1 byte     => :17
        BITPOS s 1 7 15 bit      => :9
        BITPOS s 1 -3 -1 BIT     => :46
        BITPOS s 0 -3 -1 BIT     => :45
        SET ff "\xff\xff\xff"    => +OK
        BITPOS ff 0              => :24
        BITPOS ff 0 1            => :24
        BITPOS ff 0 0 -1         => :-1
        BITPOS ff 0 0 -1 bit     => :-1
        BITPOS ff 0 0 bit        => -ERR value is not an integer or out of range
        BITPOS ff 0 10           => :-1
        BITPOS ff 0 -100         => :24
        BITPOS ff 0 2 1          => :-1
        BITPOS ff 1 2 1          => :-1
        BITPOS ff 1 -1 -2 bit    => :-1
        SET z "\x00\x00\x00"     => +OK
        BITPOS z 1               => :-1
        BITPOS z 0               => :0
        BITPOS z 1 0 -1          => :-1
        BITPOS z 1 1 20 bit      => :-1
        BITPOS z 0 5 5 bit       => :5
        SET e ""                 => +OK
        BITPOS e 0               => :-1
        BITPOS e 1               => :-1
        BITPOS e 0 0 -1          => :-1
        SET mix "\x00\x10\xff"   => +OK
        BITPOS mix 1             => :11
        BITPOS mix 1 12 bit      => -ERR value is not an integer or out of range
        BITPOS mix 1 12 12 bit   => :-1
        BITPOS mix 1 11 11 bit   => :11
        BITPOS mix 0 2           => :24
        BITPOS mix 0 16 23 bit   => :-1
        BITPOS mix 0 16 -1 bit   => :-1
    "#,
    );
}

#[test]
fn bitop() {
    check(
        r#"
        SETBIT sb 10 1             => :0
        BITOP and d1 nokey sb      => :2
        GET d1                     => "\x00\x00"
        BITOP or d2 sb nokey       => :2
        GET d2                     => "\x00 "
        BITOP xor d3 sb sb         => :2
        GET d3                     => "\x00\x00"
        BITOP not d4 sb            => :2
        GET d4                     => "\xff\xdf"
        BITOP NOT d4 sb sb         => -ERR BITOP NOT must be called with a single source key.
        BITOP foo d sb             => -ERR syntax error
        BITOP nor d sb             => -ERR syntax error
        BITOP not d nokey          => :0
        EXISTS d                   => :0
        SET d x                    => +OK
        BITOP and d nokey nokey2   => :0
        EXISTS d                   => :0
        MSET a "\xff\x0f" b "\x0f" => +OK
        BITOP and r a b            => :2
        GET r                      => "\x0f\x00"
        BITOP or r a b             => :2
        GET r                      => "\xff\x0f"
        BITOP xor r a b            => :2
        GET r                      => "\xf0\x0f"
        BITOP and r a a a          => :2
        GET r                      => "\xff\x0f"
        SET n 12                   => +OK
        BITOP not r n              => :2
        GET r                      => "\xce\xcd"
        MSET a "" b ""             => +OK
        BITOP or r a b             => :0
        EXISTS r                   => :0
        BITOP and a a b            => :0
        EXISTS a                   => :0
    "#,
    );
}

#[test]
fn bitfield() {
    check(
        r#"
        BITFIELD bf                                                               => []
        BITFIELD bf GET u8 0                                                      => [:0]
        EXISTS bf                                                                 => :0
        BITFIELD bf SET u8 0 255 GET u8 0                                         => [:0, :255]
        BITFIELD bf INCRBY u2 100 1 OVERFLOW SAT INCRBY u2 102 1                  => [:1, :1]
        GET bf                                                                    => "\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05"
        BITFIELD bf GET u8                                                        => -ERR syntax error
        BITFIELD bf GET u8 0 SET                                                  => -ERR syntax error
        BITFIELD bf SET u8 0                                                      => -ERR syntax error
        BITFIELD bf INCRBY u8 0                                                   => -ERR syntax error
        BITFIELD bf FOO                                                           => -ERR syntax error
        BITFIELD bf OVERFLOW                                                      => -ERR syntax error
        BITFIELD bf OVERFLOW foo GET u8 0                                         => -ERR Invalid OVERFLOW type specified
        BITFIELD bf overflow sat get u8 0                                         => [:255]
        BITFIELD bf GET u64 0                                                     => -ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.
        BITFIELD bf GET i64 0                                                     => [:-72057594037927936]
        BITFIELD bf GET u63 0                                                     => [:9187343239835811840]
        BITFIELD bf GET i65 0                                                     => -ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.
        BITFIELD bf GET i0 0                                                      => -ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.
        BITFIELD bf GET u-1 0                                                     => -ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.
        BITFIELD bf GET I8 0                                                      => -ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.
        BITFIELD bf GET u08 0                                                     => -ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.
        BITFIELD bf GET x8 0                                                      => -ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.
        BITFIELD bf GET u 0                                                       => -ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.
        BITFIELD bf GET "" 0                                                      => -ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.
        BITFIELD bf GET i8 -1                                                     => -ERR bit offset is not an integer or out of range
        BITFIELD bf GET i8 #1                                                     => [:0]
        BITFIELD bf GET i8 #-1                                                    => -ERR bit offset is not an integer or out of range
        BITFIELD bf GET i8 #                                                      => -ERR bit offset is not an integer or out of range
        BITFIELD bf GET i8 ""                                                     => -ERR bit offset is not an integer or out of range
        BITFIELD bf GET i8 4294967296                                             => -ERR bit offset is not an integer or out of range
        BITFIELD bf GET i8 4294967295                                             => [:0]
        BITFIELD bf GET i8 #536870911                                             => [:0]
        BITFIELD bf GET i8 #536870912                                             => -ERR bit offset is not an integer or out of range
        BITFIELD bf GET i64 #1152921504606846976                                  => [:-72057594037927936]
        BITFIELD bf SET i8 #1152921504606846976 1                                 => -ERR bit offset is not an integer or out of range
        BITFIELD bf SET i8 0 abc                                                  => -ERR value is not an integer or out of range
        BITFIELD bf INCRBY i8 0 1.5                                               => -ERR value is not an integer or out of range
        BITFIELD bf GET u8 0 GET u8 abc                                           => -ERR bit offset is not an integer or out of range
        BITFIELD bf SET i8 0 200                                                  => [:-1]
        BITFIELD bf GET u8 0                                                      => [:200]
        BITFIELD bf OVERFLOW FAIL SET i8 0 200                                    => [(nil)]
        BITFIELD bf OVERFLOW SAT SET i8 0 200 GET i8 0                            => [:-56, :127]
        BITFIELD bf OVERFLOW SAT SET i8 0 -200 GET i8 0                           => [:127, :-128]
        BITFIELD bf OVERFLOW WRAP INCRBY i8 0 -200 GET i8 0                       => [:-72, :-72]
        BITFIELD bf OVERFLOW FAIL INCRBY u8 0 1000                                => [(nil)]
        BITFIELD bf OVERFLOW FAIL INCRBY u8 0 1000 OVERFLOW WRAP INCRBY u8 0 1000 => [(nil), :160]
        GET bf                                                                    => "\xa0\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05"
        BITFIELD new OVERFLOW FAIL SET u2 0 5                                     => [(nil)]
        EXISTS new                                                                => :1
        GET new                                                                   => "\x00"
        BITFIELD new2 GET u8 100 SET u8 #3 1                                      => [:0, :0]
        GET new2                                                                  => "\x00\x00\x00\x01"
        BITFIELD new3 SET u1 4294967295 1                                         => [:0]
        STRLEN new3                                                               => :536870912
    "#,
    );
}

#[test]
fn bitfield_64_bit_types() {
    check(
        r#"
        BITFIELD big SET i64 0 -1 GET u63 0 GET i64 0 INCRBY i64 0 1 GET i64 0                        => [:0, :9223372036854775807, :-1, :0, :0]
        BITFIELD big SET i64 0 9223372036854775807 INCRBY i64 0 1                                     => [:0, :-9223372036854775808]
        BITFIELD big OVERFLOW SAT SET i64 0 9223372036854775807 INCRBY i64 0 1                        => [:-9223372036854775808, :9223372036854775807]
        BITFIELD big OVERFLOW SAT INCRBY i64 0 -9223372036854775808 INCRBY i64 0 -9223372036854775808 => [:-1, :-9223372036854775808]
        BITFIELD big OVERFLOW FAIL INCRBY i64 0 -1                                                    => [(nil)]
        BITFIELD big OVERFLOW FAIL SET u63 0 -1                                                       => [(nil)]
        BITFIELD big OVERFLOW SAT SET u63 0 -1 GET u63 0                                              => [:4611686018427387904, :9223372036854775807]
        BITFIELD big OVERFLOW WRAP SET u63 0 -1 GET u63 0                                             => [:9223372036854775807, :9223372036854775807]
        BITFIELD big OVERFLOW SAT INCRBY u63 0 9223372036854775807                                    => [:9223372036854775807]
        BITFIELD big OVERFLOW WRAP INCRBY u63 0 9223372036854775807                                   => [:9223372036854775806]
        BITFIELD big OVERFLOW SAT INCRBY u8 0 -1000 GET u8 0                                          => [:0, :0]
        BITFIELD big OVERFLOW WRAP INCRBY u8 0 -1000 GET u8 0                                         => [:24, :24]
        BITFIELD big OVERFLOW SAT INCRBY i5 3 100 INCRBY i5 3 -100                                    => [:15, :-16]
        BITFIELD big OVERFLOW WRAP INCRBY i5 3 100 INCRBY i5 3 -100                                   => [:-12, :-16]
        BITFIELD big SET i1 0 1 GET i1 0 SET u1 1 2 GET u1 1                                          => [:0, :-1, :0, :0]
        GET big                                                                                       => "\x90\xff\xff\xff\xff\xff\xff\xfc"
        SET num 12                                                                                    => +OK
        BITFIELD num GET u8 0 GET u16 0 GET u24 0 GET i64 0                                           => [:49, :12594, :3224064, :3544895856694001664]
    "#,
    );
}

#[test]
fn bitfield_ro() {
    check(
        r#"
        SET bf "\xb8"                         => +OK
        BITFIELD_RO bf GET u8 0 GET i4 4      => [:184, :-8]
        BITFIELD_RO bf SET u8 0 1             => -ERR BITFIELD_RO only supports the GET subcommand
        BITFIELD_RO bf INCRBY u8 0 1          => -ERR BITFIELD_RO only supports the GET subcommand
        BITFIELD_RO bf GET u8 0 INCRBY u8 0 1 => -ERR BITFIELD_RO only supports the GET subcommand
        BITFIELD_RO bf OVERFLOW SAT GET u8 0  => [:184]
        BITFIELD_RO bf OVERFLOW foo GET u8 0  => -ERR Invalid OVERFLOW type specified
        BITFIELD_RO bf FOO                    => -ERR syntax error
        BITFIELD_RO bf GET u64 0              => -ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.
        BITFIELD_RO bf GET u8 -1              => -ERR bit offset is not an integer or out of range
        BITFIELD_RO bf SET u8 0 abc           => -ERR value is not an integer or out of range
        BITFIELD_RO nokey GET u8 0            => [:0]
        BITFIELD_RO nokey SET u8 0 1          => -ERR BITFIELD_RO only supports the GET subcommand
        EXISTS nokey                          => :0
        BITFIELD_RO bf                        => []
        GET bf                                => "\xb8"
    "#,
    );
}

#[test]
fn encodings() {
    check(
        r#"
        SETBIT a 0 1                        => :0
        OBJECT ENCODING a                   => "raw"
        SET n 12                            => +OK
        SETBIT n 0 0                        => :0
        OBJECT ENCODING n                   => "raw"
        SET n 12                            => +OK
        GETBIT n 0                          => :0
        OBJECT ENCODING n                   => "int"
        BITFIELD n GET u8 0                 => [:49]
        OBJECT ENCODING n                   => "int"
        BITFIELD n OVERFLOW FAIL SET u2 0 9 => [(nil)]
        OBJECT ENCODING n                   => "raw"
        GET n                               => "12"
        BITOP or d n                        => :2
        OBJECT ENCODING d                   => "raw"
        BITFIELD f SET u8 0 49              => [:0]
        OBJECT ENCODING f                   => "raw"
    "#,
    );
}

/// Stores a list under `key`: with LPUSH when this build has it, else directly in the
/// keyspace (only the value's type matters to the bitmap commands).
fn make_non_string(db: &Database, key: &str) {
    if db.execute(["LPUSH", key, "a"]) == RespValue::Integer(1) {
        return;
    }
    let acc = db.access();
    acc.write(key.as_bytes(), |shard, h| {
        shard.set(h, key.as_bytes(), Value::List(Box::default()), None, acc.now);
    });
}

#[test]
fn wrongtype() {
    let db = Database::builder().build();
    make_non_string(&db, "l");
    check_on(
        &db,
        r#"
        SETBIT l 0 1             => -WRONGTYPE Operation against a key holding the wrong kind of value
        SETBIT l 0 2             => -ERR bit is not an integer or out of range
        SETBIT l -1 1            => -ERR bit offset is not an integer or out of range
        GETBIT l 0               => -WRONGTYPE Operation against a key holding the wrong kind of value
        GETBIT l -1              => -ERR bit offset is not an integer or out of range
        BITCOUNT l               => -WRONGTYPE Operation against a key holding the wrong kind of value
        BITCOUNT l 0 -1          => -WRONGTYPE Operation against a key holding the wrong kind of value
        BITCOUNT l a b           => -WRONGTYPE Operation against a key holding the wrong kind of value
        BITCOUNT l 0             => -WRONGTYPE Operation against a key holding the wrong kind of value
        BITPOS l 1               => -WRONGTYPE Operation against a key holding the wrong kind of value
        BITPOS l 5               => -ERR The bit argument must be 1 or 0.
        BITPOS l 1 a             => -WRONGTYPE Operation against a key holding the wrong kind of value
        BITOP and d l            => -WRONGTYPE Operation against a key holding the wrong kind of value
        BITOP or d nokey l       => -WRONGTYPE Operation against a key holding the wrong kind of value
        BITOP not d l            => -WRONGTYPE Operation against a key holding the wrong kind of value
        BITOP foo d l            => -ERR syntax error
        EXISTS d                 => :0
        SET d x                  => +OK
        BITOP and d l            => -WRONGTYPE Operation against a key holding the wrong kind of value
        GET d                    => "x"
        BITFIELD l               => -WRONGTYPE Operation against a key holding the wrong kind of value
        BITFIELD l GET u8 0      => -WRONGTYPE Operation against a key holding the wrong kind of value
        BITFIELD l SET u8 0 1    => -WRONGTYPE Operation against a key holding the wrong kind of value
        BITFIELD l GET u64 0     => -ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.
        BITFIELD_RO l GET u8 0   => -WRONGTYPE Operation against a key holding the wrong kind of value
        BITFIELD_RO l SET u8 0 1 => -ERR BITFIELD_RO only supports the GET subcommand
        SET s ab                 => +OK
        BITOP and l s            => :2
        GET l                    => "ab"
    "#,
    );
}

#[test]
fn bitfield_fail_is_a_null_in_resp3() {
    let db = Database::builder().build();
    let mut client = db.connect(ConnectionInfo::default());
    client.authenticated = true;
    client.resp = 3;
    let argv: ferrous_resp::ArgsBuf =
        ["BITFIELD", "x", "OVERFLOW", "FAIL", "SET", "u2", "0", "9", "GET", "u2", "0"].iter().collect();
    let mut out = Vec::new();
    db.dispatch(&mut client, argv.as_args(), &mut out);
    db.disconnect(&client);
    assert_eq!(out, b"*2\r\n_\r\n:0\r\n");
}

#[test]
fn proto_max_bulk_len_limits_bit_offsets() {
    let mut config = Config::default();
    config.set("proto-max-bulk-len", &["1mb"], true).unwrap();
    let db = Database::builder().config(config).build();
    check_on(
        &db,
        r#"
        SETBIT b 8388607 1          => :0
        SETBIT b 8388608 1          => -ERR bit offset is not an integer or out of range
        GETBIT b 8388608            => -ERR bit offset is not an integer or out of range
        BITFIELD b GET u8 8388607   => [:128]
        BITFIELD b GET u8 8388608   => -ERR bit offset is not an integer or out of range
        BITFIELD b SET u8 8388607 1 => [:128]
        STRLEN b                    => :1048577
    "#,
    );
    assert_eq!(db.setbit("b", 8_388_608, true), Err(Error::BitOffset));
    assert_eq!(db.getbit("b", 8_388_608), Err(Error::BitOffset));
}

#[test]
fn dirty_counts_follow_redis() {
    let db = Database::builder().build();
    // (command, how much Redis 7.0's `rdb_changes_since_last_save` grew)
    let steps: &[(&[&str], u64)] = &[
        (&["SETBIT", "b", "0", "1"], 1),
        (&["SETBIT", "b", "0", "1"], 0),
        (&["SETBIT", "b", "100", "0"], 1),
        (&["SETBIT", "b", "0", "0"], 1),
        (&["BITFIELD", "bf", "SET", "u8", "0", "1", "INCRBY", "u8", "0", "1", "GET", "u8", "0"], 2),
        (&["BITFIELD", "bf", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "1000"], 0),
        (&["BITFIELD", "bf", "GET", "u8", "0"], 0),
        (&["BITOP", "AND", "d", "nokey"], 0),
        (&["BITOP", "AND", "d", "b"], 1),
        (&["BITOP", "AND", "d", "nokey"], 1),
    ];
    for (cmd, grew) in steps {
        let before = db.inner().dirty.load(Relaxed);
        db.execute(cmd.iter().copied());
        assert_eq!(db.inner().dirty.load(Relaxed) - before, *grew, "{cmd:?}");
    }
}

#[test]
fn bitop_is_atomic_with_its_sources() {
    // BITOP reads every source and writes the destination under one set of locks: a reader
    // never sees a destination computed from half of an MSET.
    let db = Database::builder().build();
    db.mset(&[("a", "\x00"), ("b", "\x00")]);
    let writer = {
        let db = db.clone();
        std::thread::spawn(move || {
            for i in 0..2000u32 {
                let v = [(i % 256) as u8];
                db.mset(&[(&b"a"[..], &v[..]), (&b"b"[..], &v[..])]);
            }
        })
    };
    for _ in 0..2000 {
        db.bitop(BitOp::Xor, "d", &["a", "b"]).unwrap();
        let d = db.get("d").unwrap();
        assert!(d.is_none() || d == Some(vec![0]), "{d:?}");
    }
    writer.join().unwrap();
}

#[test]
fn typed_setbit_getbit_bitcount_bitpos() {
    let db = Database::builder().build();
    assert!(!db.setbit("b", 7, true).unwrap());
    assert!(db.setbit("b", 7, true).unwrap());
    assert!(db.getbit("b", 7).unwrap());
    assert!(!db.getbit("b", 1000).unwrap());
    assert!(!db.getbit("nokey", 0).unwrap());
    db.set("s", "foobar").unwrap();
    assert_eq!(db.bitcount("s", None).unwrap(), 26);
    assert_eq!(db.bitcount("s", Some(BitRange { start: 1, end: 1, unit: BitUnit::Byte })).unwrap(), 6);
    assert_eq!(db.bitcount("s", Some(BitRange { start: 5, end: 30, unit: BitUnit::Bit })).unwrap(), 17);
    assert_eq!(db.bitcount("s", Some(BitRange { start: -1, end: -2, unit: BitUnit::Byte })).unwrap(), 0);
    assert_eq!(db.bitcount("nokey", None).unwrap(), 0);
    assert_eq!(db.bitpos("s", true, None).unwrap(), 1);
    let r = |start, end, unit| Some(BitPosRange { start, end, unit });
    assert_eq!(db.bitpos("s", true, r(2, Some(-1), BitUnit::Byte)).unwrap(), 17);
    assert_eq!(db.bitpos("s", true, r(7, Some(15), BitUnit::Bit)).unwrap(), 9);
    db.set("ff", b"\xff\xff").unwrap();
    assert_eq!(db.bitpos("ff", false, None).unwrap(), 16);
    assert_eq!(db.bitpos("ff", false, r(0, None, BitUnit::Byte)).unwrap(), 16);
    assert_eq!(db.bitpos("ff", false, r(0, Some(-1), BitUnit::Byte)).unwrap(), -1);
    assert_eq!(db.bitpos("nokey", false, None).unwrap(), 0);
    assert_eq!(db.bitpos("nokey", true, None).unwrap(), -1);
}

#[test]
fn typed_bitop() {
    let db = Database::builder().build();
    db.mset(&[(&b"a"[..], &b"\xff\x0f"[..]), (b"b", b"\x0f")]);
    assert_eq!(db.bitop(BitOp::And, "r", &["a", "b"]).unwrap(), 2);
    assert_eq!(db.get("r").unwrap(), Some(b"\x0f\x00".to_vec()));
    assert_eq!(db.bitop(BitOp::Or, "r", &["a", "b"]).unwrap(), 2);
    assert_eq!(db.get("r").unwrap(), Some(b"\xff\x0f".to_vec()));
    assert_eq!(db.bitop(BitOp::Xor, "r", &["a", "b"]).unwrap(), 2);
    assert_eq!(db.get("r").unwrap(), Some(b"\xf0\x0f".to_vec()));
    assert_eq!(db.bitop(BitOp::Not, "r", &["b"]).unwrap(), 1);
    assert_eq!(db.get("r").unwrap(), Some(b"\xf0".to_vec()));
    assert_eq!(
        db.bitop(BitOp::Not, "r", &["a", "b"]),
        Err(Error::msg("ERR BITOP NOT must be called with a single source key."))
    );
    assert_eq!(db.bitop(BitOp::Or, "r", &["nokey"]).unwrap(), 0);
    assert!(!db.exists("r"));
}

#[test]
fn typed_bitfield() {
    let db = Database::builder().build();
    let i8t = BitfieldType::signed(8).unwrap();
    let u4 = BitfieldType::unsigned(4).unwrap();
    assert_eq!(BitfieldType::unsigned(64), None);
    assert_eq!(BitfieldType::signed(65), None);
    assert_eq!(BitfieldType::parse(b"i64").unwrap(), BitfieldType::signed(64).unwrap());
    assert!(BitfieldType::parse(b"u64").is_err());
    let ops = [
        BitfieldOp::Set(i8t, 0, 100),
        BitfieldOp::IncrBy(i8t, 0, 100),
        BitfieldOp::Overflow(BitfieldOverflow::Sat),
        BitfieldOp::IncrBy(i8t, 0, -1000),
        BitfieldOp::Overflow(BitfieldOverflow::Fail),
        BitfieldOp::IncrBy(i8t, 0, -1),
        BitfieldOp::Get(u4, 0),
    ];
    assert_eq!(db.bitfield("k", &ops).unwrap(), vec![Some(0), Some(-56), Some(-128), None, Some(8)]);
    assert_eq!(db.bitfield_ro("k", &[(i8t, 0), (u4, 4)]).unwrap(), vec![-128, 0]);
    assert_eq!(db.bitfield_ro("nokey", &[(i8t, 0)]).unwrap(), vec![0]);
    db.set("s", "x").unwrap();
    assert_eq!(db.bitfield("s", &[BitfieldOp::Get(u4, 1_000_000)]).unwrap(), vec![Some(0)]);
    assert_eq!(db.strlen("s").unwrap(), 1);
}

#[test]
fn keyspace_events() {
    check_events(
        r#"
        SET b x                                => +OK | new b, set b
        SETBIT b 0 1                           => :0 | setbit b
        SETBIT b 0 1                           => :1 |
        SETBIT b 0 0                           => :1 | setbit b
        SETBIT sbnew 0 0                       => :0 | new sbnew, setbit sbnew
        BITFIELD bf SET u8 0 1 INCRBY u8 0 1   => [:0, :2] | new bf, setbit bf
        BITFIELD bf GET u8 0                   => [:2] |
        BITFIELD bf2 OVERFLOW FAIL SET u2 0 9  => [(nil)] | new bf2
        BITFIELD bf2 OVERFLOW FAIL SET u2 0 9  => [(nil)] |
        BITFIELD bf2 OVERFLOW FAIL SET u2 0 1  => [:0] | setbit bf2
        BITOP and d b                          => :1 | new d, set d
        BITOP and d b                          => :1 | set d
        BITOP and d nokey                      => :0 | del d
        BITOP and d nokey                      => :0 |
        GETBIT b 0                             => :0 |
        BITCOUNT b                             => :4 |
        BITPOS b 1                             => :1 |
    "#,
    );
}
