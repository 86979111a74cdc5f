#!/usr/bin/env bash
# Memory per key of Ferrous next to Redis.
#
# Starts `redis-server` and `ferrous-server` on two free loopback ports (no persistence),
# loads the same KEYS string keys into both with `redis-cli --pipe` (`SET key:<n> <value>`,
# VALUE_SIZE-byte values), then prints each server's resident memory (VmRSS from
# /proc/PID/status) before and after, the bytes per key, and the ratio ferrous / redis.
#
# Usage: tools/memory.sh [--keys N] [--value-size N] [--no-build] [--ferrous-args "..."]
#   defaults: 1000000 keys, 16-byte values.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KEYS=1000000
VALUE_SIZE=16
BUILD=1
FERROUS_ARGS=
while [[ $# -gt 0 ]]; do
    case $1 in
        --keys) KEYS=$2; shift 2 ;;
        --value-size) VALUE_SIZE=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --ferrous-args) FERROUS_ARGS=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
done

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
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=tools/lib.sh
source "$ROOT/tools/lib.sh"

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

start_servers "$FERROUS_ARGS"

# The same data for both: SET key:<n> <value of VALUE_SIZE bytes, unique per key>, as RESP.
echo "generating $KEYS SET commands..." >&2
awk -v n="$KEYS" -v size="$VALUE_SIZE" 'BEGIN {
    pad = ""; for (i = 0; i < size; i++) pad = pad "x";
    for (i = 0; i < n; i++) {
        k = "key:" i
        v = substr(i "" pad, 1, size)
        printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v
    }
}' >"$WORK/load.resp"

load() { # port name pid
    local before after
    before=$(rss_kb "$3")
    redis-cli -p "$1" --pipe <"$WORK/load.resp" >"$WORK/$2.pipe" 2>&1 || {
        echo "loading $2 failed:" >&2; cat "$WORK/$2.pipe" >&2; exit 1; }
    local n
    n=$(redis-cli -p "$1" dbsize)
    [[ $n == "$KEYS" ]] || { echo "$2 holds $n keys after loading $KEYS" >&2; exit 1; }
    sleep 1 # let allocator background threads settle
    after=$(rss_kb "$3")
    echo "$before $after"
}

read -r r_before r_after < <(load "$REDIS_PORT" redis "$REDIS_PID")
read -r f_before f_after < <(load "$FERROUS_PORT" ferrous "$FERROUS_PID")
r_used=$(redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory:/ { print $2 }' | tr -d '\r')

awk -v k="$KEYS" -v vs="$VALUE_SIZE" -v rb="$r_before" -v ra="$r_after" -v fb="$f_before" -v fa="$f_after" -v ru="$r_used" 'BEGIN {
    printf "%d keys, %d-byte values\n", k, vs
    printf "%-8s %12s %12s %14s %16s\n", "server", "rss_before", "rss_after", "bytes/key(rss)", "bytes/key(delta)"
    printf "%-8s %10.1fMB %10.1fMB %14.1f %16.1f\n", "redis", rb/1024, ra/1024, ra*1024/k, (ra-rb)*1024/k
    printf "%-8s %10.1fMB %10.1fMB %14.1f %16.1f\n", "ferrous", fb/1024, fa/1024, fa*1024/k, (fa-fb)*1024/k
    printf "ratio ferrous/redis: %.2f (total RSS), %.2f (growth per key)\n", fa/ra, (fa-fb)/(ra-rb)
    printf "(redis used_memory: %.1f bytes/key)\n", ru/k
}'
