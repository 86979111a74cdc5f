//! In-process tests of the string commands (GET SET SETNX SETEX PSETEX GETEX GETDEL GETSET
//! MGET MSET MSETNX APPEND STRLEN INCR DECR INCRBY DECRBY INCRBYFLOAT GETRANGE SUBSTR SETRANGE
//! LCS) and of their typed API.
//!
//! The command scripts below are `COMMAND args => reply` lines whose replies are what
//! redis-server 7.0.15 answered to the same lines on an empty database. Replies are written
//! as `+simple`, `-error`, `:integer`, `"bulk"` (with `\xNN` escapes), `(nil)` and
//! `[array, ...]`; arguments are split on spaces, `"..."` quotes one with escapes.
use ferrous_core::strings::{GetExExpiry, LcsMatch};
use ferrous_core::value::Value;
use ferrous_core::{
    Config, ConnectionInfo, Database, Error, ManualClock, RespValue, SetCondition, SetExpiry, SetOptions,
};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

#[path = "support/script.rs"]
mod script;
use script::*;

/// Stores a list under `key`: with LPUSH when this build has it, else directly in the
/// keyspace (only the value's type matters to the string commands).
fn make_non_string(db: &Database, key: &str) {
    if db.execute(["LPUSH", key, "a"]) == RespValue::Integer(1) {
        return;
    }
    let acc = db.access();
    acc.write(key.as_bytes(), |shard, h| {
        shard.set(h, key.as_bytes(), Value::List(Box::default()), None, acc.now);
    });
}

/// The raw RESP3 reply of one command.
fn resp3(db: &Database, args: &[&str]) -> String {
    let mut client = db.connect(ConnectionInfo::default());
    client.authenticated = true;
    client.resp = 3;
    let argv: ferrous_resp::ArgsBuf = args.iter().collect();
    let mut out = Vec::new();
    db.dispatch(&mut client, argv.as_args(), &mut out);
    db.disconnect(&client);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn get_set_basics() {
    check(
        r#"
        GET nokey                  => (nil)
        SET k v                    => +OK
        GET k                      => "v"
        SET k ""                   => +OK
        GET k                      => ""
        SET k "bin\x00\xff\r\n"    => +OK
        GET k                      => "bin\x00\xff\x0d\x0a"
        STRLEN k                   => :7
        SET k 12345                => +OK
        GET k                      => "12345"
        STRLEN k                   => :5
        SET k -0                   => +OK
        GET k                      => "-0"
        SET k 007                  => +OK
        STRLEN k                   => :3
        SET k -9223372036854775808 => +OK
        STRLEN k                   => :20
        GET k                      => "-9223372036854775808"
    "#,
    );
}

#[test]
fn set_options() {
    check(
        r#"
        SET k v NX GET                   => (nil)
        SET k v2 NX GET                  => "v"
        SET k v3 XX GET                  => "v"
        GET k                            => "v3"
        SET k v4 NX                      => (nil)
        SET k v4 XX                      => +OK
        GET k                            => "v4"
        SET k v5 nx xx                   => -ERR syntax error
        SET k v5 XX NX                   => -ERR syntax error
        SET k v5 GET GET                 => "v4"
        SET k v6 nx nx                   => (nil)
        SET nokey v XX                   => (nil)
        SET nokey v XX GET               => (nil)
        EXISTS nokey                     => :0
        SET k v FOO                      => -ERR syntax error
        SET k v KEEPTTL EX 10            => -ERR syntax error
        SET k v EX 10 KEEPTTL            => -ERR syntax error
        SET k v PX 100 KEEPTTL           => -ERR syntax error
        SET k v ex 10 px 10              => -ERR syntax error
        SET k v EXAT 10 PXAT 10          => -ERR syntax error
        SET k v EX 10 EX 20              => +OK
        SET k v EX                       => -ERR syntax error
        SET k v PX                       => -ERR syntax error
        SET k v EX 0                     => -ERR invalid expire time in 'set' command
        SET k v EX -1                    => -ERR invalid expire time in 'set' command
        SET k v PX 0                     => -ERR invalid expire time in 'set' command
        SET k v EXAT 0                   => -ERR invalid expire time in 'set' command
        SET k v PXAT 0                   => -ERR invalid expire time in 'set' command
        SET k v EX abc                   => -ERR value is not an integer or out of range
        SET k v PX 1.5                   => -ERR value is not an integer or out of range
        SET k v EX 9223372036854775807   => -ERR invalid expire time in 'set' command
        SET k v PX 9223372036854775807   => -ERR invalid expire time in 'set' command
        SET k v EXAT 9223372036854775807 => -ERR invalid expire time in 'set' command
        SET k v EX 92233720368547758     => -ERR invalid expire time in 'set' command
        SET k v PXAT 9223372036854775807 => +OK
        SET k v EXAT 9223372036854775    => +OK
        SET k v KEEPTTL                  => +OK
        SET k v KEEPTTL KEEPTTL GET      => "v"
        // a deadline in the past: the write succeeds and the key is gone at once
        SET k v EXAT 1                   => +OK
        EXISTS k                         => :0
        GET k                            => (nil)
        SET k v PXAT 1 GET               => (nil)
        EXISTS k                         => :0
    "#,
    );
}

#[test]
fn set_get_and_expire_validation_order() {
    check(
        r#"
        // the expire time is validated before GET reads the old value
        SET k v             => +OK
        SET k v2 EX 0 GET   => -ERR invalid expire time in 'set' command
        GET k               => "v"
        SET k v2 EX abc GET => -ERR value is not an integer or out of range
    "#,
    );
}

#[test]
fn setnx_setex_psetex() {
    check(
        r#"
        SETNX k v                      => :1
        SETNX k v2                     => :0
        GET k                          => "v"
        SETEX k 0 v                    => -ERR invalid expire time in 'setex' command
        SETEX k -5 v                   => -ERR invalid expire time in 'setex' command
        SETEX k abc v                  => -ERR value is not an integer or out of range
        SETEX k 9223372036854775807 v  => -ERR invalid expire time in 'setex' command
        SETEX k 10 v                   => +OK
        GET k                          => "v"
        PSETEX k 0 v                   => -ERR invalid expire time in 'psetex' command
        PSETEX k -1 v                  => -ERR invalid expire time in 'psetex' command
        PSETEX k 1.5 v                 => -ERR value is not an integer or out of range
        PSETEX k 9223372036854775807 v => -ERR invalid expire time in 'psetex' command
        PSETEX k 10000 v2              => +OK
        GET k                          => "v2"
    "#,
    );
}

#[test]
fn getex() {
    check(
        r#"
        GETEX nokey                      => (nil)
        GETEX nokey EX -1                => (nil)
        GETEX nokey EX abc               => (nil)
        GETEX nokey PERSIST              => (nil)
        GETEX nokey FOO                  => -ERR syntax error
        GETEX nokey EX                   => -ERR syntax error
        SET s foobar                     => +OK
        GETEX s                          => "foobar"
        GETEX s EX 0                     => -ERR invalid expire time in 'getex' command
        GETEX s EX -1                    => -ERR invalid expire time in 'getex' command
        GETEX s PX 0                     => -ERR invalid expire time in 'getex' command
        GETEX s EXAT 0                   => -ERR invalid expire time in 'getex' command
        GETEX s PXAT -5                  => -ERR invalid expire time in 'getex' command
        GETEX s EX abc                   => -ERR value is not an integer or out of range
        GETEX s EX 9223372036854775807   => -ERR invalid expire time in 'getex' command
        GETEX s PX 9223372036854775807   => -ERR invalid expire time in 'getex' command
        GETEX s EX 100                   => "foobar"
        GETEX s PERSIST                  => "foobar"
        GETEX s persist PERSIST          => "foobar"
        GETEX s PERSIST EX 10            => -ERR syntax error
        GETEX s EX 10 PERSIST            => -ERR syntax error
        GETEX s EX 10 EX 20              => "foobar"
        GETEX s EX 10 PX 20              => -ERR syntax error
        GETEX s PX 10 EXAT 20            => -ERR syntax error
        GETEX s KEEPTTL                  => -ERR syntax error
        GETEX s NX                       => -ERR syntax error
        GETEX s GET                      => -ERR syntax error
        GETEX s EX                       => -ERR syntax error
        GETEX s ex 5 foo                 => -ERR syntax error
        GETEX s EXAT 1                   => "foobar"
        EXISTS s                         => :0
        GET s                            => (nil)
        SET s foobar                     => +OK
        GETEX s PXAT 1                   => "foobar"
        EXISTS s                         => :0
        SET s 42                         => +OK
        GETEX s PX 100000                => "42"
        GETEX s pxat 9223372036854775807 => "42"
    "#,
    );
}

#[test]
fn getdel_getset() {
    check(
        r#"
        GETDEL nokey   => (nil)
        SET k v        => +OK
        GETDEL k       => "v"
        GETDEL k       => (nil)
        EXISTS k       => :0
        GETSET k new   => (nil)
        GETSET k newer => "new"
        GET k          => "newer"
        SET n 10       => +OK
        GETSET n 11    => "10"
        INCR n         => :12
    "#,
    );
}

#[test]
fn mget_mset_msetnx() {
    check(
        r#"
        MSET a                => -ERR wrong number of arguments for 'mset' command
        MSET a 1 b            => -ERR wrong number of arguments for 'mset' command
        MSET a 1 b 2          => +OK
        MGET a b nokey a      => ["1", "2", (nil), "1"]
        MSET a x a y          => +OK
        GET a                 => "y"
        MSETNX a 1 c 2        => :0
        MSETNX c 1 d 2        => :1
        MGET c d              => ["1", "2"]
        MSETNX e 1 e 2        => :1
        MSETNX e 1            => :0
        MSETNX f 1 g          => -ERR wrong number of arguments for 'msetnx' command
        MGET e f g            => ["2", (nil), (nil)]
        MSET n 123 s "he llo" => +OK
        MGET n s              => ["123", "he llo"]
    "#,
    );
}

#[test]
fn append_strlen() {
    check(
        r#"
        APPEND k hello        => :5
        APPEND k " world"     => :11
        GET k                 => "hello world"
        STRLEN k              => :11
        APPEND k ""           => :11
        STRLEN k              => :11
        STRLEN nokey          => :0
        APPEND n 123          => :3
        APPEND n 456          => :6
        GET n                 => "123456"
        INCR n                => :123457
        APPEND n -            => :7
        GET n                 => "123457-"
        APPEND e ""           => :0
        EXISTS e              => :1
        GET e                 => ""
        STRLEN e              => :0
        APPEND bin "\x00\x01" => :2
        APPEND bin "\xff"     => :3
        GET bin               => "\x00\x01\xff"
        STRLEN bin            => :3
    "#,
    );
}

#[test]
fn incr_decr() {
    check(
        r#"
        INCR k                             => :1
        INCR k                             => :2
        INCRBY k 10                        => :12
        DECR k                             => :11
        DECRBY k 5                         => :6
        DECRBY k -5                        => :11
        INCRBY k -100                      => :-89
        GET k                              => "-89"
        INCRBY k abc                       => -ERR value is not an integer or out of range
        INCRBY k 1.5                       => -ERR value is not an integer or out of range
        INCRBY k ""                        => -ERR value is not an integer or out of range
        INCRBY k 9223372036854775808       => -ERR value is not an integer or out of range
        DECRBY k -9223372036854775808      => -ERR decrement would overflow
        DECRBY k 9223372036854775807       => -ERR increment or decrement would overflow
        DECRBY k 9223372036854775807       => -ERR increment or decrement would overflow
        SET k 9223372036854775806          => +OK
        INCR k                             => :9223372036854775807
        INCR k                             => -ERR increment or decrement would overflow
        SET k -9223372036854775807         => +OK
        DECR k                             => :-9223372036854775808
        DECR k                             => -ERR increment or decrement would overflow
        INCRBY k -1                        => -ERR increment or decrement would overflow
        SET k abc                          => +OK
        INCR k                             => -ERR value is not an integer or out of range
        SET k " 1"                         => +OK
        INCR k                             => -ERR value is not an integer or out of range
        SET k "1 "                         => +OK
        INCR k                             => -ERR value is not an integer or out of range
        SET k 1.0                          => +OK
        INCR k                             => -ERR value is not an integer or out of range
        SET k 0123                         => +OK
        INCR k                             => -ERR value is not an integer or out of range
        SET k -0                           => +OK
        INCR k                             => -ERR value is not an integer or out of range
        SET k +1                           => +OK
        INCR k                             => -ERR value is not an integer or out of range
        SET k 99999999999999999999         => +OK
        INCR k                             => -ERR value is not an integer or out of range
        SET k ""                           => +OK
        INCR k                             => -ERR value is not an integer or out of range
        DECRBY nokey -9223372036854775808  => -ERR decrement would overflow
        INCRBY nokey2 -9223372036854775808 => :-9223372036854775808
        GET nokey2                         => "-9223372036854775808"
    "#,
    );
}

#[test]
fn incrbyfloat_values() {
    check(
        r#"
        INCRBYFLOAT a 0.1                             => "0.1"
        INCRBYFLOAT a 0.2                             => "0.3"
        INCRBYFLOAT b 10.5                            => "10.5"
        INCRBYFLOAT b 0.1                             => "10.6"
        INCRBYFLOAT c 3.0e3                           => "3000"
        INCRBYFLOAT d 5.0e3                           => "5000"
        INCRBYFLOAT d 2.0e2                           => "5200"
        INCRBYFLOAT e 1.1                             => "1.1"
        INCRBYFLOAT e 2.2                             => "3.3"
        INCRBYFLOAT f 1e30                            => "1000000000000000000024696061952"
        INCRBYFLOAT f 1                               => "1000000000000000000024696061952"
        INCRBYFLOAT g 1e17                            => "100000000000000000"
        INCRBYFLOAT g 0.5                             => "100000000000000000.5"
        INCRBYFLOAT h 1.23456789012345678901234567890 => "1.23456789012345679"
        INCRBYFLOAT i -0.1                            => "-0.1"
        INCRBYFLOAT i 0.1                             => "0"
        INCRBYFLOAT j 0.1                             => "0.1"
        INCRBYFLOAT j -0.3                            => "-0.2"
        INCRBYFLOAT k 1e-17                           => "0.00000000000000001"
        INCRBYFLOAT k2 5e-18                          => "0"
        INCRBYFLOAT k3 4e-18                          => "0"
        INCRBYFLOAT k4 -4e-18                         => "0"
        INCRBYFLOAT l 1e-400                          => "0"
        INCRBYFLOAT m 1e400                           => "10000000000000000000281880683947586514586453433629052038625910693539685534008629862039363994848324160522094053927317616200295822777259255734023828976593340661017797447434546173917862448116674971723778943824391593338047470675026246684401359237513603830343735485505244955964979021825038280091068414947402456898653040951017512658092615827588920183472511643316591362664138176309734806343732497430221946880"
        INCRBYFLOAT m -1e400                          => "0"
        INCRBYFLOAT n 9223372036854775807             => "9223372036854775807"
        INCRBYFLOAT n 1                               => "9223372036854775808"
        INCRBYFLOAT p 3.14159265358979323846          => "3.14159265358979324"
        INCRBYFLOAT q 0.3333333333333333              => "0.3333333333333333"
        INCRBYFLOAT q 0.3333333333333333              => "0.6666666666666666"
        INCRBYFLOAT q 0.3333333333333334              => "1"
        INCRBYFLOAT r 123456789.123456789             => "123456789.12345678899873747"
        INCRBYFLOAT r -123456789                      => "0.12345678899873747"
        INCRBYFLOAT s 2.5                             => "2.5"
        INCRBYFLOAT s -5                              => "-2.5"
        INCRBYFLOAT t 1.5e-5                          => "0.000015"
        INCRBYFLOAT t 1E5                             => "100000.00001499999999766"
        INCRBYFLOAT u 0x10                            => "16"
        INCRBYFLOAT u 0x1p-2                          => "16.25"
        INCRBYFLOAT u 0X1.8P1                         => "19.25"
        INCRBYFLOAT u 0x.8                            => "19.75"
        INCRBYFLOAT v .5                              => "0.5"
        INCRBYFLOAT v 5.                              => "5.5"
        INCRBYFLOAT v +1                              => "6.5"
        INCRBYFLOAT v -0                              => "6.5"
        INCRBYFLOAT w 1e4933                          => -ERR value is not a valid float
        SET w2 1.18e4932                              => +OK
        INCRBYFLOAT w2 1.18e4932                      => -ERR increment would produce NaN or Infinity
        INCRBYFLOAT x 1e-4950                         => "0"
        INCRBYFLOAT y 0.000000000000000005            => "0"
        INCRBYFLOAT y2 0.000000000000000015           => "0.00000000000000002"
        INCRBYFLOAT y3 0.000000000000000025           => "0.00000000000000002"
        INCRBYFLOAT z 99999999999999999999999         => "100000000000000000000000"
        INCRBYFLOAT z2 1.00000000000000000000001      => "1"
    "#,
    );
}

#[test]
fn incrbyfloat_errors_and_stored_values() {
    check(
        r#"
        INCRBYFLOAT k 1e        => -ERR value is not a valid float
        INCRBYFLOAT k abc       => -ERR value is not a valid float
        INCRBYFLOAT k nan       => -ERR value is not a valid float
        INCRBYFLOAT k NaN       => -ERR value is not a valid float
        INCRBYFLOAT k inf       => -ERR increment would produce NaN or Infinity
        INCRBYFLOAT k -inf      => -ERR increment would produce NaN or Infinity
        INCRBYFLOAT k +Infinity => -ERR increment would produce NaN or Infinity
        INCRBYFLOAT k infinit   => -ERR value is not a valid float
        INCRBYFLOAT k ""        => -ERR value is not a valid float
        INCRBYFLOAT k " 1"      => -ERR value is not a valid float
        INCRBYFLOAT k "1 "      => -ERR value is not a valid float
        INCRBYFLOAT k "1\x002"  => -ERR value is not a valid float
        INCRBYFLOAT k "\x00"    => -ERR value is not a valid float
        INCRBYFLOAT k 1e-5000   => -ERR value is not a valid float
        INCRBYFLOAT k 1e5000    => -ERR value is not a valid float
        INCRBYFLOAT k 0x        => -ERR value is not a valid float
        INCRBYFLOAT k 0x1p      => -ERR value is not a valid float
        INCRBYFLOAT k 1e+       => -ERR value is not a valid float
        INCRBYFLOAT k 1.2.3     => -ERR value is not a valid float
        INCRBYFLOAT k .         => -ERR value is not a valid float
        INCRBYFLOAT k -         => -ERR value is not a valid float
        INCRBYFLOAT k 1,5       => -ERR value is not a valid float
        EXISTS k                => :0
        SET k 10                => +OK
        INCRBYFLOAT k 1.5       => "11.5"
        GET k                   => "11.5"
        SET k abc               => +OK
        INCRBYFLOAT k 1         => -ERR value is not a valid float
        INCRBYFLOAT k abc       => -ERR value is not a valid float
        SET k " 1"              => +OK
        INCRBYFLOAT k 1         => -ERR value is not a valid float
        SET k "1 "              => +OK
        INCRBYFLOAT k 1         => -ERR value is not a valid float
        SET k 0x10              => +OK
        INCRBYFLOAT k 1         => "17"
        SET k inf               => +OK
        INCRBYFLOAT k 1         => -ERR increment would produce NaN or Infinity
        INCRBYFLOAT k -inf      => -ERR increment would produce NaN or Infinity
        SET k 5.0e3             => +OK
        INCRBYFLOAT k 0         => "5000"
        SET k 1.5               => +OK
        INCRBYFLOAT k -1.5      => "0"
        GET k                   => "0"
        SET k -1.5              => +OK
        INCRBYFLOAT k 1.5       => "0"
        SET k 1e308             => +OK
        INCRBYFLOAT k 1e308     => "199999999999999999993371759311691291321120199694831134415594095989843469737676123744200253843777078640893494450108026446304269499187921167194841628860392837535918200039206381557326219209014213335878306791577877829121087126122536729803237260434173178506889763247582601711514636284849020905456510092687857156096"
    "#,
    );
}

#[test]
fn getrange_substr() {
    check(
        r#"
        SET s hello                                         => +OK
        GETRANGE s 0 -1                                     => "hello"
        GETRANGE s 0 -100                                   => "h"
        GETRANGE s -100 -200                                => ""
        GETRANGE s -1 -5                                    => ""
        GETRANGE s -5 -1                                    => "hello"
        GETRANGE s 10 20                                    => ""
        GETRANGE s 4 4                                      => "o"
        GETRANGE s 3 1                                      => ""
        GETRANGE s -3 -1                                    => "llo"
        GETRANGE s 1 100                                    => "ello"
        GETRANGE s -100 2                                   => "hel"
        GETRANGE s 0 0                                      => "h"
        GETRANGE s 9223372036854775807 9223372036854775807  => ""
        GETRANGE s -9223372036854775808 9223372036854775807 => "hello"
        GETRANGE s a 1                                      => -ERR value is not an integer or out of range
        GETRANGE s 1 b                                      => -ERR value is not an integer or out of range
        GETRANGE s 1.5 2                                    => -ERR value is not an integer or out of range
        GETRANGE nokey 0 -1                                 => ""
        GETRANGE nokey a 1                                  => -ERR value is not an integer or out of range
        SUBSTR s 1 3                                        => "ell"
        SUBSTR s -2 -1                                      => "lo"
        SET n 12345                                         => +OK
        GETRANGE n 1 2                                      => "23"
        GETRANGE n -2 -1                                    => "45"
        SET e ""                                            => +OK
        GETRANGE e 0 -1                                     => ""
        GETRANGE e 0 0                                      => ""
        GETRANGE e -1 0                                     => ""
    "#,
    );
}

#[test]
fn setrange() {
    check(
        r#"
        SETRANGE new 0 ""                    => :0
        EXISTS new                           => :0
        SETRANGE new -1 x                    => -ERR offset is out of range
        SETRANGE new abc x                   => -ERR value is not an integer or out of range
        SETRANGE new 3 ab                    => :5
        GET new                              => "\x00\x00\x00ab"
        SETRANGE new 0 xyz                   => :5
        GET new                              => "xyzab"
        SETRANGE new 1 ""                    => :5
        SETRANGE new 10 ""                   => :5
        GET new                              => "xyzab"
        SETRANGE new 7 !                     => :8
        GET new                              => "xyzab\x00\x00!"
        SETRANGE n 0 x                       => :1
        SET n 12345                          => +OK
        SETRANGE n 0 9                       => :5
        GET n                                => "92345"
        INCR n                               => :92346
        SETRANGE n 5 "\x00"                  => :6
        GET n                                => "92346\x00"
        STRLEN n                             => :6
        SETRANGE big 536870911 ab            => -ERR string exceeds maximum allowed size (proto-max-bulk-len)
        SETRANGE big 536870912 a             => -ERR string exceeds maximum allowed size (proto-max-bulk-len)
        SETRANGE big 9223372036854775807 ab  => -ERR string exceeds maximum allowed size (proto-max-bulk-len)
        SETRANGE big 536870911 ""            => :0
        SETRANGE big -9223372036854775808 ab => -ERR offset is out of range
        EXISTS big                           => :0
    "#,
    );
}

#[test]
fn lcs() {
    check(
        r#"
        MSET key1 ohmytext key2 mynewtext                                   => +OK
        LCS key1 key2                                                       => "mytext"
        LCS key1 key2 LEN                                                   => :6
        LCS key1 key2 len                                                   => :6
        LCS key1 key2 IDX                                                   => ["matches", [[[:4, :7], [:5, :8]], [[:2, :3], [:0, :1]]], "len", :6]
        LCS key1 key2 idx MINMATCHLEN 4                                     => ["matches", [[[:4, :7], [:5, :8]]], "len", :6]
        LCS key1 key2 IDX MINMATCHLEN 4 WITHMATCHLEN                        => ["matches", [[[:4, :7], [:5, :8], :4]], "len", :6]
        LCS key1 key2 IDX WITHMATCHLEN                                      => ["matches", [[[:4, :7], [:5, :8], :4], [[:2, :3], [:0, :1], :2]], "len", :6]
        LCS key1 key2 WITHMATCHLEN IDX MINMATCHLEN 2                        => ["matches", [[[:4, :7], [:5, :8], :4], [[:2, :3], [:0, :1], :2]], "len", :6]
        LCS key1 key2 LEN IDX                                               => -ERR If you want both the length and indexes, please just use IDX.
        LCS key1 key2 IDX LEN                                               => -ERR If you want both the length and indexes, please just use IDX.
        LCS key1 key2 LEN WITHMATCHLEN                                      => :6
        LCS key1 key2 LEN MINMATCHLEN 100                                   => :6
        LCS key1 key2 MINMATCHLEN 2                                         => "mytext"
        LCS key1 key2 MINMATCHLEN                                           => -ERR syntax error
        LCS key1 key2 MINMATCHLEN abc                                       => -ERR value is not an integer or out of range
        LCS key1 key2 MINMATCHLEN -5 IDX                                    => ["matches", [[[:4, :7], [:5, :8]], [[:2, :3], [:0, :1]]], "len", :6]
        LCS key1 key2 IDX MINMATCHLEN 9223372036854775807                   => ["matches", [], "len", :6]
        LCS key1 key2 FOO                                                   => -ERR syntax error
        LCS key1 key2 IDX IDX                                               => ["matches", [[[:4, :7], [:5, :8]], [[:2, :3], [:0, :1]]], "len", :6]
        LCS key2 key1                                                       => "mytext"
        LCS key2 key1 IDX WITHMATCHLEN                                      => ["matches", [[[:5, :8], [:4, :7], :4], [[:0, :1], [:2, :3], :2]], "len", :6]
        LCS nokey nokey2                                                    => ""
        LCS nokey nokey2 IDX                                                => ["matches", [], "len", :0]
        LCS nokey nokey2 LEN                                                => :0
        LCS key1 nokey IDX                                                  => ["matches", [], "len", :0]
        LCS key1 key1 IDX WITHMATCHLEN                                      => ["matches", [[[:0, :7], [:0, :7], :8]], "len", :8]
        SET n1 12345                                                        => +OK
        SET n2 2345                                                         => +OK
        LCS n1 n2 IDX                                                       => ["matches", [[[:1, :4], [:0, :3]]], "len", :4]
        LCS n1 n2                                                           => "2345"
        MSET a abcabcabc b cbacbacba                                        => +OK
        LCS a b                                                             => "cbabc"
        LCS a b IDX WITHMATCHLEN                                            => ["matches", [[[:8, :8], [:6, :6], :1], [[:7, :7], [:4, :4], :1], [[:6, :6], [:2, :2], :1], [[:4, :4], [:1, :1], :1], [[:2, :2], [:0, :0], :1]], "len", :5]
        MSET a "\x00\x01\x02\xff" b "\xff\x01\x00\x02"                      => +OK
        LCS a b                                                             => "\x01\x02"
        LCS a b IDX                                                         => ["matches", [[[:2, :2], [:3, :3]], [[:1, :1], [:1, :1]]], "len", :2]
        MSET a ACCGGTCGAGTGCGCGGAAGCCGGCCGAA b GTCGTTCGGAATGCCGTTGCTCTGTAAA => +OK
        LCS a b                                                             => "GTCGTCGGAAGCCGGCCGAA"
        LCS a b IDX MINMATCHLEN 2 WITHMATCHLEN                              => ["matches", [[[:27, :28], [:26, :27], :2], [[:23, :24], [:18, :19], :2], [[:19, :22], [:12, :15], :4], [[:14, :18], [:6, :10], :5], [[:9, :10], [:3, :4], :2], [[:4, :6], [:0, :2], :3]], "len", :20]
    "#,
    );
}

#[test]
fn encodings() {
    check(
        r#"
        SET i 12345                                         => +OK
        OBJECT ENCODING i                                   => "int"
        SET s hello                                         => +OK
        OBJECT ENCODING s                                   => "embstr"
        SET l 012345678901234567890123456789012345678901234 => +OK
        OBJECT ENCODING l                                   => "raw"
        APPEND i 6                                          => :6
        OBJECT ENCODING i                                   => "raw"
        SET i 12                                            => +OK
        SETRANGE i 0 3                                      => :2
        OBJECT ENCODING i                                   => "raw"
        SET i 12                                            => +OK
        SETRANGE i 0 ""                                     => :2
        OBJECT ENCODING i                                   => "int"
        APPEND a 123                                        => :3
        OBJECT ENCODING a                                   => "int"
        APPEND a ""                                         => :3
        OBJECT ENCODING a                                   => "raw"
        APPEND b hello                                      => :5
        OBJECT ENCODING b                                   => "embstr"
        SETRANGE c 0 12                                     => :2
        OBJECT ENCODING c                                   => "raw"
        INCR c                                              => :13
        OBJECT ENCODING c                                   => "int"
        INCRBYFLOAT f 3                                     => "3"
        OBJECT ENCODING f                                   => "embstr"
        INCRBYFLOAT f 1.5                                   => "4.5"
        OBJECT ENCODING f                                   => "embstr"
        SET g 7                                             => +OK
        INCRBYFLOAT g 1                                     => "8"
        OBJECT ENCODING g                                   => "embstr"
        INCR g                                              => :9
        OBJECT ENCODING g                                   => "int"
        GETSET s 99                                         => "hello"
        OBJECT ENCODING s                                   => "int"
        MSET m1 1 m2 x                                      => +OK
        OBJECT ENCODING m1                                  => "int"
        OBJECT ENCODING m2                                  => "embstr"
        SETEX e 100 5                                       => +OK
        OBJECT ENCODING e                                   => "int"
        SET r x                                             => +OK
        APPEND r y                                          => :2
        SET r x KEEPTTL                                     => +OK
        OBJECT ENCODING r                                   => "embstr"
        APPEND r y                                          => :2
        SET r z                                             => +OK
        OBJECT ENCODING r                                   => "embstr"
    "#,
    );
}

#[test]
fn wrongtype() {
    let db = Database::builder().build();
    make_non_string(&db, "l");
    check_on(
        &db,
        r#"
        SET s foobar      => +OK
        GET l             => -WRONGTYPE Operation against a key holding the wrong kind of value
        GETEX l           => -WRONGTYPE Operation against a key holding the wrong kind of value
        GETEX l EX -1     => -WRONGTYPE Operation against a key holding the wrong kind of value
        GETEX l PERSIST   => -WRONGTYPE Operation against a key holding the wrong kind of value
        GETEX l FOO       => -ERR syntax error
        GETDEL l          => -WRONGTYPE Operation against a key holding the wrong kind of value
        GETSET l x        => -WRONGTYPE Operation against a key holding the wrong kind of value
        SET l x GET       => -WRONGTYPE Operation against a key holding the wrong kind of value
        SET l x NX GET    => -WRONGTYPE Operation against a key holding the wrong kind of value
        SET l x EX 0 GET  => -ERR invalid expire time in 'set' command
        STRLEN l          => -WRONGTYPE Operation against a key holding the wrong kind of value
        APPEND l x        => -WRONGTYPE Operation against a key holding the wrong kind of value
        APPEND l ""       => -WRONGTYPE Operation against a key holding the wrong kind of value
        SETRANGE l 0 x    => -WRONGTYPE Operation against a key holding the wrong kind of value
        SETRANGE l -1 x   => -ERR offset is out of range
        SETRANGE l 0 ""   => -WRONGTYPE Operation against a key holding the wrong kind of value
        SETRANGE l abc "" => -ERR value is not an integer or out of range
        GETRANGE l 0 1    => -WRONGTYPE Operation against a key holding the wrong kind of value
        GETRANGE l a 1    => -ERR value is not an integer or out of range
        SUBSTR l 0 1      => -WRONGTYPE Operation against a key holding the wrong kind of value
        INCR l            => -WRONGTYPE Operation against a key holding the wrong kind of value
        DECR l            => -WRONGTYPE Operation against a key holding the wrong kind of value
        INCRBY l 1        => -WRONGTYPE Operation against a key holding the wrong kind of value
        INCRBY l x        => -ERR value is not an integer or out of range
        DECRBY l 1        => -WRONGTYPE Operation against a key holding the wrong kind of value
        INCRBYFLOAT l 1   => -WRONGTYPE Operation against a key holding the wrong kind of value
        INCRBYFLOAT l x   => -WRONGTYPE Operation against a key holding the wrong kind of value
        LCS l s           => -ERR The specified keys must contain string values
        LCS s l           => -ERR The specified keys must contain string values
        LCS l nokey FOO   => -ERR The specified keys must contain string values
        LCS s nokey FOO   => -ERR syntax error
        MGET l s nokey    => [(nil), "foobar", (nil)]
        MSETNX l 1 z 2    => :0
        EXISTS z          => :0
        SETNX l x         => :0
        SET l x XX        => +OK
        GET l             => "x"
    "#,
    );
}

#[test]
fn resp3_replies() {
    let db = Database::builder().build();
    db.mset(&[("a", "ohmytext"), ("b", "mynewtext")]);
    assert_eq!(
        resp3(&db, &["LCS", "a", "b", "IDX", "WITHMATCHLEN"]),
        "%2\r\n$7\r\nmatches\r\n*2\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n*3\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n:2\r\n$3\r\nlen\r\n:6\r\n"
    );
    assert_eq!(resp3(&db, &["LCS", "nokey", "nokey2", "IDX"]), "%2\r\n$7\r\nmatches\r\n*0\r\n$3\r\nlen\r\n:0\r\n");
    assert_eq!(resp3(&db, &["GET", "nokey"]), "_\r\n");
    assert_eq!(resp3(&db, &["GETEX", "nokey"]), "_\r\n");
    assert_eq!(resp3(&db, &["MGET", "a", "nokey"]), "*2\r\n$8\r\nohmytext\r\n_\r\n");
    assert_eq!(resp3(&db, &["INCRBYFLOAT", "f", "1.5"]), "$3\r\n1.5\r\n");
}

/// A database on a manual clock, for exact TTLs.
fn clocked() -> (Database, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::at(1_700_000_000_000));
    let db = Database::builder().clock(clock.clone()).active_expire(false).build();
    (db, clock)
}

fn pttl(db: &Database, key: &str) -> i64 {
    db.execute(["PTTL", key]).as_int().expect("PTTL replies an integer")
}

#[test]
fn ttl_kept_or_cleared_like_redis() {
    let (db, clock) = clocked();
    db.setex("k", 100, "x").unwrap();
    assert_eq!(pttl(&db, "k"), 100_000);
    // In-place modifications keep the TTL.
    db.append("k", "y").unwrap();
    db.setrange("k", 0, "z").unwrap();
    assert_eq!(pttl(&db, "k"), 100_000);
    db.psetex("n", 5_000, "1").unwrap();
    db.incr("n").unwrap();
    db.incr_by_float("n", 1.5).unwrap();
    assert_eq!(pttl(&db, "n"), 5_000);
    // KEEPTTL keeps it, a plain SET, GETSET and MSET clear it.
    db.set_with("k", "v", SetOptions { expiry: SetExpiry::Keep, ..Default::default() }).unwrap();
    assert_eq!(pttl(&db, "k"), 100_000);
    db.set("k", "v").unwrap();
    assert_eq!(pttl(&db, "k"), -1);
    db.setex("k", 100, "x").unwrap();
    db.getset("k", "y").unwrap();
    assert_eq!(pttl(&db, "k"), -1);
    db.setex("k", 100, "x").unwrap();
    db.mset(&[("k", "1")]);
    assert_eq!(pttl(&db, "k"), -1);
    // SET ... XX GET with no expire option clears it too.
    db.setex("k", 100, "x").unwrap();
    let xx = SetOptions { condition: SetCondition::IfExists, get: true, ..Default::default() };
    assert_eq!(db.set_with("k", "v2", xx).unwrap().old, Some(b"x".to_vec()));
    assert_eq!(pttl(&db, "k"), -1);
    // Time passes: the key expires.
    db.psetex("k", 1_000, "x").unwrap();
    clock.advance(999);
    assert_eq!(db.get("k").unwrap(), Some(b"x".to_vec()));
    clock.advance(1);
    assert_eq!(db.get("k").unwrap(), None);
    assert_eq!(db.strlen("k").unwrap(), 0);
}

#[test]
fn getex_options_change_the_ttl() {
    let (db, clock) = clocked();
    let now = 1_700_000_000_000;
    db.set("k", "v").unwrap();
    check_on(&db, "GETEX k EX 100 => \"v\"");
    assert_eq!(pttl(&db, "k"), 100_000);
    check_on(&db, "GETEX k PX 1500 => \"v\"");
    assert_eq!(pttl(&db, "k"), 1_500);
    check_on(&db, &format!("GETEX k EXAT {} => \"v\"", now / 1000 + 50));
    assert_eq!(pttl(&db, "k"), 50_000);
    check_on(&db, &format!("GETEX k PXAT {} => \"v\"", now + 2_345));
    assert_eq!(pttl(&db, "k"), 2_345);
    check_on(&db, "GETEX k => \"v\"");
    assert_eq!(pttl(&db, "k"), 2_345);
    check_on(&db, "GETEX k PERSIST => \"v\"");
    assert_eq!(pttl(&db, "k"), -1);
    // A deadline that is already due deletes the key after returning it.
    assert_eq!(db.getex("k", GetExExpiry::At(now)).unwrap(), Some(b"v".to_vec()));
    assert!(!db.exists("k"));
    db.set("k", "v").unwrap();
    assert_eq!(db.getex("k", GetExExpiry::At(now + 10)).unwrap(), Some(b"v".to_vec()));
    clock.advance(10);
    assert_eq!(db.getex("k", GetExExpiry::Keep).unwrap(), None);
}

#[test]
fn proto_max_bulk_len_limits_string_growth() {
    let mut config = Config::default();
    config.set("proto-max-bulk-len", &["1mb"], true).unwrap();
    let db = Database::builder().config(config).build();
    check_on(
        &db,
        r#"
        SETRANGE k 1048575 x  => :1048576
        SETRANGE k 1048576 x  => -ERR string exceeds maximum allowed size (proto-max-bulk-len)
        SETRANGE k 1048575 xy => -ERR string exceeds maximum allowed size (proto-max-bulk-len)
        APPEND k y            => -ERR string exceeds maximum allowed size (proto-max-bulk-len)
        STRLEN k              => :1048576
    "#,
    );
    // LCS's table of (len1 + 1) * (len2 + 1) 4-byte cells may not exceed the limit either.
    db.mset(&[("a", "x".repeat(511)), ("b", "y".repeat(511))]);
    check_on(&db, "LCS a b LEN => :0");
    db.mset(&[("a", "x".repeat(512))]);
    check_on(&db, "LCS a b => -ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
    check_on(&db, "LCS a b LEN => -ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
}

#[test]
fn dirty_counts_follow_redis() {
    let db = Database::builder().build();
    // (command, how much Redis 7.0's `rdb_changes_since_last_save` grew)
    let steps: &[(&[&str], u64)] = &[
        (&["SET", "a", "1"], 1),
        (&["GETEX", "a"], 0),
        (&["GETEX", "a", "PERSIST"], 0),
        (&["GETEX", "a", "EX", "100"], 1),
        (&["GETEX", "a", "PERSIST"], 1),
        (&["MSET", "x", "1", "y", "2", "z", "3"], 3),
        (&["MSETNX", "x", "1", "w", "2"], 0),
        (&["MSETNX", "v", "1", "w", "2"], 2),
        (&["APPEND", "a", "x"], 1),
        (&["SETRANGE", "a", "0", ""], 0),
        (&["SETRANGE", "a", "0", "q"], 1),
        (&["INCRBYFLOAT", "f", "1"], 1),
        (&["GETDEL", "a"], 1),
        (&["GETDEL", "a"], 0),
        (&["SETNX", "a", "1"], 1),
        (&["SETNX", "a", "1"], 0),
        (&["SET", "a", "1", "NX"], 0),
        (&["GETSET", "a", "2"], 1),
        (&["INCR", "a"], 1),
    ];
    for (cmd, grew) in steps {
        let before = db.inner().dirty.load(Relaxed);
        db.execute(cmd.iter().copied());
        assert_eq!(db.inner().dirty.load(Relaxed) - before, *grew, "{cmd:?}");
    }
}

#[test]
fn mset_is_atomic_for_mget() {
    let db = Database::builder().build();
    db.mset(&[("a", "0"), ("b", "0"), ("c", "0")]);
    let writer = {
        let db = db.clone();
        std::thread::spawn(move || {
            for i in 1..=2000 {
                let v = i.to_string();
                db.mset(&[("a", &v), ("b", &v), ("c", &v)]);
            }
        })
    };
    for _ in 0..2000 {
        let vals = db.mget(&["a", "b", "c"]);
        assert!(vals.windows(2).all(|w| w[0] == w[1]), "saw half of an MSET: {vals:?}");
    }
    writer.join().unwrap();
    assert_eq!(db.get("c").unwrap(), Some(b"2000".to_vec()));
}

#[test]
fn typed_api_matches_the_commands() {
    let db = Database::builder().build();
    assert_eq!(db.get("k").unwrap(), None);
    assert!(db.setnx("k", "v").unwrap());
    assert!(!db.setnx("k", "w").unwrap());
    assert_eq!(db.getset("k", "w").unwrap(), Some(b"v".to_vec()));
    assert_eq!(db.append("k", "xyz").unwrap(), 4);
    assert_eq!(db.strlen("k").unwrap(), 4);
    assert_eq!(db.getrange("k", 1, -2).unwrap(), b"xy".to_vec());
    assert_eq!(db.getrange("k", 0, -100).unwrap(), b"w".to_vec());
    assert_eq!(db.setrange("k", 6, "!").unwrap(), 7);
    assert_eq!(db.get("k").unwrap(), Some(b"wxyz\0\0!".to_vec()));
    assert_eq!(db.setrange("k", -1, "!"), Err(Error::OffsetOutOfRange));
    assert_eq!(db.getdel("k").unwrap(), Some(b"wxyz\0\0!".to_vec()));
    assert_eq!(db.getdel("k").unwrap(), None);

    assert_eq!(db.incr("n").unwrap(), 1);
    assert_eq!(db.decr("n").unwrap(), 0);
    assert_eq!(db.decr_by("n", 5).unwrap(), -5);
    assert_eq!(db.decr_by("n", i64::MIN), Err(Error::msg("ERR decrement would overflow")));
    assert_eq!(db.incr_by("n", i64::MIN), Err(Error::Overflow));
    db.set("n", "1.5").unwrap();
    assert_eq!(db.incr("n"), Err(Error::NotInteger));
    assert_eq!(db.incr_by_float("n", 1.1).unwrap(), 2.6);
    assert_eq!(db.get("n").unwrap(), Some(b"2.6".to_vec()));
    assert_eq!(db.incr_by_float("n", 1e30).unwrap(), 1e30);
    assert_eq!(db.incr_by_float("n", f64::INFINITY), Err(Error::NanOrInfinity));
    assert_eq!(db.incr_by_float("n", f64::NAN), Err(Error::NotFloat));
    db.set("n", "abc").unwrap();
    assert_eq!(db.incr_by_float("n", 1.0), Err(Error::NotFloat));

    assert_eq!(db.setex("e", 0, "v"), Err(Error::InvalidExpireTime("setex")));
    assert_eq!(db.setex("e", i64::MAX, "v"), Err(Error::InvalidExpireTime("setex")));
    assert_eq!(db.psetex("e", -1, "v"), Err(Error::InvalidExpireTime("psetex")));

    db.mset(&[("a", "1"), ("b", "2")]);
    assert!(!db.msetnx(&[("b", "3"), ("c", "4")]));
    assert_eq!(db.get("c").unwrap(), None);
    assert!(db.msetnx(&[("c", "3"), ("d", "4")]));
    assert_eq!(
        db.mget(&["a", "b", "c", "d", "x"]),
        vec![Some(b"1".to_vec()), Some(b"2".to_vec()), Some(b"3".to_vec()), Some(b"4".to_vec()), None]
    );
}

#[test]
fn typed_lcs() {
    let db = Database::builder().build();
    db.mset(&[("key1", "ohmytext"), ("key2", "mynewtext")]);
    assert_eq!(db.lcs("key1", "key2").unwrap(), b"mytext".to_vec());
    assert_eq!(db.lcs_len("key1", "key2").unwrap(), 6);
    let idx = db.lcs_idx("key1", "key2", 0).unwrap();
    assert_eq!(idx.len, 6);
    assert_eq!(idx.matches, vec![LcsMatch { a: (4, 7), b: (5, 8), len: 4 }, LcsMatch { a: (2, 3), b: (0, 1), len: 2 }]);
    assert_eq!(db.lcs_idx("key1", "key2", 3).unwrap().matches.len(), 1);
    assert_eq!(db.lcs("nokey", "key2").unwrap(), Vec::<u8>::new());
}

#[test]
fn incrbyfloat_huge_result() {
    // Redis's long double holds 1.18e4932 and prints all 4933 digits of it.
    let db = Database::builder().build();
    let reply = db.execute(["INCRBYFLOAT", "k", "1.18e4932"]);
    let RespValue::Bulk(digits) = reply else { panic!("{reply:?}") };
    assert_eq!(digits.len(), 4933);
    assert!(digits.starts_with(b"11800000000000000000006528129180936992026904371401604717"));
    assert!(digits.ends_with(b"85152"));
}

#[test]
fn keyspace_events() {
    check_events(
        r#"
        SET k v                  => +OK | new k, set k
        SET k v2                 => +OK | set k
        SET k v EX 100           => +OK | set k, expire k
        SET k v NX               => (nil) |
        SET k v XX GET           => "v" | set k
        SET k v KEEPTTL          => +OK | set k
        SETNX a 1                => :1 | new a, set a
        SETNX a 1                => :0 |
        SETEX a 10 v             => +OK | set a, expire a
        PSETEX p 10000 v         => +OK | new p, set p, expire p
        GETEX a                  => "v" |
        GETEX a PERSIST          => "v" | persist a
        GETEX a PERSIST          => "v" |
        GETEX a EX 100           => "v" | expire a
        GETEX a EXAT 1           => "v" | del a
        GETDEL nokey             => (nil) |
        SET a 1                  => +OK | new a, set a
        GETDEL a                 => "1" | del a
        GETSET a 1               => (nil) | new a, set a
        GETSET a 2               => "1" | set a
        MSET a 1 b 2             => +OK | set a, new b, set b
        MSET m m m m             => +OK | new m, set m, set m
        MSETNX a 1 c 2           => :0 |
        MSETNX c 1 d 2           => :1 | new c, set c, new d, set d
        APPEND a x               => :2 | append a
        APPEND new x             => :1 | new new, append new
        APPEND a ""              => :2 | append a
        SETRANGE a 0 y           => :2 | setrange a
        SETRANGE a 0 ""          => :2 |
        SETRANGE n2 2 y          => :3 | new n2, setrange n2
        INCR i                   => :1 | new i, incrby i
        DECR i                   => :0 | incrby i
        INCRBY i 5               => :5 | incrby i
        DECRBY i 5               => :0 | incrby i
        INCRBYFLOAT f 1.5        => "1.5" | new f, incrbyfloat f
        INCRBYFLOAT f 1.5        => "3" | incrbyfloat f
        INCRBYFLOAT f abc        => -ERR value is not a valid float |
        GETRANGE f 0 1           => "3" |
        STRLEN f                 => :1 |
        MGET a b                 => ["yx", "2"] |
        LCS a b                  => "" |
    "#,
    );
}
