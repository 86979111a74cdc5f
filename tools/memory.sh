#!/usr/bin/env bash
# Memory per key of Ferrous next to Redis.
#
# Starts `redis-server` and `ferrous-server` on two free loopback ports (no persistence),
# loads the same data into both with `redis-cli --pipe`, and compares each server's resident
# memory (VmRSS from /proc/PID/status) before and after loading: the growth per key and the
# ratio ferrous / redis.
#
# Without --shape: KEYS string keys (`SET key:<n> <value>`, VALUE_SIZE-byte values), the
# servers' RSS before and after, bytes per key and the ratio.
#
# With --shape NAME (or a comma-separated list, or `all`): one fresh pair of servers per
# shape, and one table row per shape: bytes per key of each server (RSS growth / keys) and
# the ratio. Shapes cover every family in each of its encodings, with integers and short
# strings (encodings are Redis 7.0's, default configuration):
#   str-int      100k strings holding small integers (int-encoded in Redis)
#   str-16       100k strings of 16 bytes (embstr)
#   str-16-ttl   the same, each with a TTL (SET ... EX 100000)
#   str-1k       100k strings of 1 KB (raw)
#   set-int      10k sets of 100 small integers (intset)
#   set-str      10k sets of 100 short strings (hashtable: 7.0 has no set listpack)
#   list-str     10k lists of 100 six-byte items (quicklist of one listpack node)
#   list-int     10k lists of 100 small integers (same, integer entries)
#   hash-10      10k hashes of 10 short fields (listpack)
#   hash-1000    1k hashes of 1000 short fields (hashtable)
#   zset-10      10k sorted sets of 10 members (listpack)
#   zset-1000    1k sorted sets of 1000 members (skiplist)
#   huge-list, huge-set, huge-hash, huge-zset
#                one key of 1M elements each (quicklist / hashtable / hashtable / skiplist;
#                the set's members are strings)
#   stream-10k   10k streams of 100 entries (one node each)
#   stream-1m    one stream of 1M entries (10k nodes of 100)
#                stream entries: `XADD key <ms>-0 field v<5 digits>`, one entry per
#                millisecond from 1700000000000 (explicit IDs: both servers hold the same
#                bytes; one field, so entries store only their value: SAMEFIELDS)
# --keys N overrides the number of keys of the chosen shapes. Each shape is loaded twice,
# under two key names (`warm:<n>`, then `key:<n>`), and only the second load is measured,
# so one-time costs of either server do not count as data (--no-warm-up measures the first
# load instead).
#
# Usage: tools/memory.sh [--keys N] [--value-size N] [--shape NAME[,NAME...]|all]
#                        [--no-warm-up] [--no-build] [--ferrous-args "..."]
#   defaults: 1000000 keys, 16-byte values.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KEYS=
VALUE_SIZE=16
BUILD=1
FERROUS_ARGS=
SHAPES=
MODE=warm
ALL_SHAPES=str-int,str-16,str-16-ttl,str-1k,set-int,set-str,list-str,list-int,hash-10,hash-1000,zset-10,zset-1000,huge-list,huge-set,huge-hash,huge-zset,stream-10k,stream-1m
while [[ $# -gt 0 ]]; do
    case $1 in
        --keys) KEYS=$2; shift 2 ;;
        --value-size) VALUE_SIZE=$2; shift 2 ;;
        --shape) SHAPES=$2; shift 2 ;;
        --no-warm-up) MODE=cold; shift ;;
        --no-build) BUILD=0; shift ;;
        --ferrous-args) FERROUS_ARGS=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ $SHAPES == all ]] && SHAPES=$ALL_SHAPES

for tool in redis-server redis-cli; do
    command -v "$tool" >/dev/null || { echo "$tool not found" >&2; exit 1; }
done
FERROUS_BIN=${FERROUS_BIN:-$ROOT/target/release/ferrous-server}
if [[ $BUILD == 1 ]]; then
    echo "building the release server..." >&2
    (cd "$ROOT" && cargo build --release -q -p ferrous-server)
fi
[[ -x $FERROUS_BIN ]] || { echo "no server binary at $FERROUS_BIN" >&2; exit 1; }

WORK=$(mktemp -d /tmp/ferrous-memory.XXXXXX)
PIDS=()
stop_servers() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
}
cleanup() {
    stop_servers
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=tools/lib.sh
source "$ROOT/tools/lib.sh"

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# Writes the RESP commands of shape $1 with $2 keys to stdout. Every command is one RESP
# array; a collection key gets its elements in commands of at most 1000 of them.
generate() { # shape keys value-size [key-prefix]
    awk -v shape="$1" -v n="$2" -v size="$3" -v prefix="${4:-key:}" '
    function cmd(argc, args,    i, s) {
        s = "*" argc "\r\n"
        for (i = 1; i <= argc; i++) s = s "$" length(args[i]) "\r\n" args[i] "\r\n"
        printf "%s", s
    }
    # Sends verb key followed by the elements elem(key, 0..count-1) (pairs for hashes and
    # zsets), batch elements per command.
    function fill(verb, key, count, pairs, kind, batch,    j, argc, args) {
        argc = 0
        for (j = 0; j < count; j++) {
            if (argc == 0) { args[1] = verb; args[2] = key; argc = 2 }
            if (kind == "int") { args[++argc] = j }
            else if (kind == "six") { args[++argc] = sprintf("v%05d", j % 100000) }
            else if (kind == "str") { args[++argc] = "member:" j }
            else if (kind == "hash") { args[++argc] = "field:" j; args[++argc] = "value:" j }
            else if (kind == "zset") { args[++argc] = j * 1.5; args[++argc] = "member:" j }
            if ((j + 1) % batch == 0 || j == count - 1) { cmd(argc, args); argc = 0 }
        }
    }
    # XADD key <ms>-0 field v<j>, count entries, one per millisecond.
    function xadds(key, count,    j, a) {
        a[1] = "XADD"; a[2] = key; a[4] = "field"
        for (j = 0; j < count; j++) {
            a[3] = sprintf("%.0f-0", 1700000000000 + j); a[5] = sprintf("v%05d", j % 100000); cmd(5, a)
        }
    }
    BEGIN {
        pad = ""; for (i = 0; i < (size > 1024 ? size : 1024); i++) pad = pad "x"
        for (i = 0; i < n; i++) {
            k = prefix i
            if (shape == "strings") { a[1] = "SET"; a[2] = k; a[3] = substr(i "" pad, 1, size); cmd(3, a) }
            else if (shape == "str-int") { a[1] = "SET"; a[2] = k; a[3] = i % 10000; cmd(3, a) }
            else if (shape == "str-16") { a[1] = "SET"; a[2] = k; a[3] = substr(i "" pad, 1, 16); cmd(3, a) }
            else if (shape == "str-16-ttl") { a[1] = "SET"; a[2] = k; a[3] = substr(i "" pad, 1, 16); a[4] = "EX"; a[5] = 100000; cmd(5, a) }
            else if (shape == "str-1k") { a[1] = "SET"; a[2] = k; a[3] = substr(i "" pad, 1, 1024); cmd(3, a) }
            else if (shape == "set-int") fill("SADD", k, 100, 0, "int", 1000)
            else if (shape == "set-str") fill("SADD", k, 100, 0, "str", 1000)
            else if (shape == "list-str") fill("RPUSH", k, 100, 0, "six", 1000)
            else if (shape == "list-int") fill("RPUSH", k, 100, 0, "int", 1000)
            else if (shape == "hash-10") fill("HSET", k, 10, 1, "hash", 1000)
            else if (shape == "hash-1000") fill("HSET", k, 1000, 1, "hash", 500)
            else if (shape == "zset-10") fill("ZADD", k, 10, 1, "zset", 1000)
            else if (shape == "zset-1000") fill("ZADD", k, 1000, 1, "zset", 500)
            else if (shape == "huge-list") fill("RPUSH", k, 1000000, 0, "six", 1000)
            else if (shape == "huge-set") fill("SADD", k, 1000000, 0, "str", 1000)
            else if (shape == "huge-hash") fill("HSET", k, 1000000, 1, "hash", 500)
            else if (shape == "huge-zset") fill("ZADD", k, 1000000, 1, "zset", 500)
            else if (shape == "stream-10k") xadds(k, 100)
            else if (shape == "stream-1m") xadds(k, 1000000)
            else { print "unknown shape: " shape > "/dev/stderr"; exit 2 }
        }
    }'
}

default_keys() { # shape
    case $1 in
        strings) echo 1000000 ;;
        str-*) echo 100000 ;;
        hash-1000|zset-1000) echo 1000 ;;
        huge-*|stream-1m) echo 1 ;;
        *) echo 10000 ;;
    esac
}

load() { # port name pid file expected-dbsize
    local before after n
    before=$(rss_kb "$3")
    redis-cli -p "$1" --pipe <"$4" >"$WORK/$2.pipe" 2>&1 || {
        echo "loading $2 failed:" >&2; cat "$WORK/$2.pipe" >&2; exit 1; }
    n=$(redis-cli -p "$1" dbsize)
    [[ $n == "$5" ]] || { echo "$2 holds $n keys after loading, expected $5" >&2; exit 1; }
    sleep 1 # let allocator background threads settle
    after=$(rss_kb "$3")
    echo "$before $after"
}

# One shape on a fresh pair of servers: prints "before after" RSS of redis then of ferrous,
# the growth of Redis's used_memory and the OBJECT ENCODING of key:0 on both. With $3 = warm,
# the same shape is first loaded under other key names ("warm:<n>") and "before" is taken
# after that: what is measured is then the steady cost of the data, without one-time costs
# of the first commands (command table, Lua, connection buffers grown by the pipe, memory a
# warm-up allocated and freed that the data would reuse), which are of the order of MBs and
# so hundreds of bytes per key at 10k keys.
measure() { # shape keys [warm]
    local expect=$2
    generate "$1" "$2" "$VALUE_SIZE" >"$WORK/load.resp"
    start_servers "$FERROUS_ARGS"
    if [[ ${3:-} == warm ]]; then
        generate "$1" "$2" "$VALUE_SIZE" warm: >"$WORK/warm.resp"
        load "$REDIS_PORT" redis "$REDIS_PID" "$WORK/warm.resp" "$2" >/dev/null
        load "$FERROUS_PORT" ferrous "$FERROUS_PID" "$WORK/warm.resp" "$2" >/dev/null
        expect=$(( 2 * $2 ))
    fi
    local r f ru0 ru re fe
    ru0=$(redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory:/ { print $2 }' | tr -d '\r')
    r=$(load "$REDIS_PORT" redis "$REDIS_PID" "$WORK/load.resp" "$expect")
    f=$(load "$FERROUS_PORT" ferrous "$FERROUS_PID" "$WORK/load.resp" "$expect")
    ru=$(redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory:/ { print $2 }' | tr -d '\r')
    re=$(redis-cli -p "$REDIS_PORT" object encoding key:0)
    fe=$(redis-cli -p "$FERROUS_PORT" object encoding key:0)
    stop_servers
    echo "$r $f $((ru - ru0)) $re $fe"
}

if [[ -z $SHAPES ]]; then
    KEYS=${KEYS:-1000000}
    echo "generating $KEYS SET commands..." >&2
    read -r r_before r_after f_before f_after r_used _ < <(measure strings "$KEYS")
    awk -v k="$KEYS" -v vs="$VALUE_SIZE" -v rb="$r_before" -v ra="$r_after" -v fb="$f_before" -v fa="$f_after" -v ru="$r_used" 'BEGIN {
        printf "%d keys, %d-byte values\n", k, vs
        printf "%-8s %12s %12s %14s %16s\n", "server", "rss_before", "rss_after", "bytes/key(rss)", "bytes/key(delta)"
        printf "%-8s %10.1fMB %10.1fMB %14.1f %16.1f\n", "redis", rb/1024, ra/1024, ra*1024/k, (ra-rb)*1024/k
        printf "%-8s %10.1fMB %10.1fMB %14.1f %16.1f\n", "ferrous", fb/1024, fa/1024, fa*1024/k, (fa-fb)*1024/k
        printf "ratio ferrous/redis: %.2f (total RSS), %.2f (growth per key)\n", fa/ra, (fa-fb)/(ra-rb)
        printf "(redis used_memory growth: %.1f bytes/key)\n", ru/k
    }'
    exit 0
fi

printf "%-10s %8s %-10s %-10s %14s %14s %14s %7s\n" shape keys "enc(redis)" "enc(ferrous)" \
    "redis B/key" "ferrous B/key" "redis used/key" ratio
IFS=, read -r -a shape_list <<<"$SHAPES"
for shape in "${shape_list[@]}"; do
    keys=${KEYS:-$(default_keys "$shape")}
    echo "loading $shape ($keys keys)..." >&2
    read -r rb ra fb fa ru re fe < <(measure "$shape" "$keys" "$MODE")
    awk -v s="$shape" -v k="$keys" -v rb="$rb" -v ra="$ra" -v fb="$fb" -v fa="$fa" -v ru="$ru" \
        -v re="$re" -v fe="$fe" 'BEGIN {
        r = (ra - rb) * 1024 / k; f = (fa - fb) * 1024 / k
        printf "%-10s %8d %-10s %-10s %14.1f %14.1f %14.1f %7.2f\n", s, k, re, fe, r, f, ru / k, (r > 0 ? f / r : 0)
    }'
done
