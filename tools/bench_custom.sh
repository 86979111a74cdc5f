#!/usr/bin/env bash
# Throughput of scripted, pub/sub and custom commands, Ferrous next to Redis, with
# redis-benchmark (complements tools/bench.sh, which runs redis-benchmark's built-in tests).
#
# Runs, against redis-server and ferrous-server on two free loopback ports, at -P 1 and -P 16:
#   EVALSHA of `return redis.call('GET', KEYS[1])` and of an INCR script,
#   PUBLISH to a channel with 1, 10 and 100 subscribers (redis-cli processes),
# and prints ops/s of both and the ratio (ferrous / redis).
#
# Usage: tools/bench_custom.sh [-n N] [--rounds R] [--no-build] [--ferrous-args "ARGS"]
#                              [--only-eval]
# (FERROUS_BIN overrides the binary; --ferrous-args adds server options such as
# "--io-threads 1"; --only-eval skips the PUBLISH rows; --rounds R runs every row R times,
# alternating the two servers, and prints the median of each: on a shared, noisy machine a
# single run of either server can be off by 15%)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=100000
BUILD=1
FARGS=""
ONLY_EVAL=0
ROUNDS=1
while [[ $# -gt 0 ]]; do
    case $1 in
        -n) N=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --ferrous-args) FARGS=$2; shift 2 ;;
        --only-eval) ONLY_EVAL=1; shift ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
FERROUS_BIN=${FERROUS_BIN:-$ROOT/target/release/ferrous-server}
if [[ $BUILD = 1 ]]; then (cd "$ROOT" && cargo build --release -q -p ferrous-server); fi
WORK=$(mktemp -d)
# shellcheck source=tools/lib.sh
source "$ROOT/tools/lib.sh"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
start_servers "$FARGS"
RP=$REDIS_PORT; FP=$FERROUS_PORT

rps() { # port pipeline args... -> requests per second
    local port=$1 p=$2; shift 2
    redis-benchmark -p "$port" -c 50 -n "$N" -P "$p" -q --csv "$@" 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"'
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
row() { # name pipeline args...
    local name=$1 p=$2; shift 2
    local r="" f="" i
    for ((i = 0; i < ROUNDS; i++)); do
        r="$r $(rps "$RP" "$p" "$@")"; f="$f $(rps "$FP" "$p" "$@")"
    done
    r=$(median <<<"$r"); f=$(median <<<"$f")
    awk -v n="$name" -v p="$p" -v r="$r" -v f="$f" \
        'BEGIN { printf "%-28s -P %-3s redis %12.0f  ferrous %12.0f  ratio %5.2f\n", n, p, r, f, (r > 0 ? f / r : 0) }'
}
for port in $RP $FP; do redis-cli -p "$port" set key 1 >/dev/null; done
GET_SHA=$(redis-cli -p "$RP" script load "return redis.call('GET', KEYS[1])")
INCR_SHA=$(redis-cli -p "$RP" script load "return redis.call('INCR', KEYS[1])")
redis-cli -p "$FP" script load "return redis.call('GET', KEYS[1])" >/dev/null
redis-cli -p "$FP" script load "return redis.call('INCR', KEYS[1])" >/dev/null
for P in 1 16; do
    row "EVALSHA GET" $P EVALSHA "$GET_SHA" 1 key
    row "EVALSHA INCR" $P EVALSHA "$INCR_SHA" 1 key
done
[[ $ONLY_EVAL = 1 ]] && exit 0
for subs in 1 10 100; do
    SUBS=()
    for port in $RP $FP; do
        for _ in $(seq "$subs"); do
            redis-cli -p "$port" subscribe ch >/dev/null 2>&1 & SUBS+=($!)
        done
    done
    sleep 1
    for P in 1 16; do row "PUBLISH to $subs subscribers" $P PUBLISH ch hello; done
    for s in "${SUBS[@]}"; do kill "$s" 2>/dev/null || true; done
    wait "${SUBS[@]}" 2>/dev/null || true
done
