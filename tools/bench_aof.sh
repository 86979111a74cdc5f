#!/usr/bin/env bash
# SET throughput with the AOF on, Ferrous next to Redis 7.0 in the same run (loopback).
#
# For each appendfsync policy (everysec, always) and pipeline depth (-P 1, -P 16): both
# servers start with `--appendonly yes --appendfsync <policy>` in fresh directories, then
# `redis-benchmark -t set -c 50 -r 100000` runs against each, alternating, --rounds times;
# the table shows the medians and the ratio ferrous / redis (above 1: Ferrous is faster).
#
# Usage: tools/bench_aof.sh [-n requests] [--rounds N] [--no-build]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/lib.sh
source "$ROOT/tools/lib.sh"
N=200000
ROUNDS=3
BUILD=1
while [ $# -gt 0 ]; do
    case "$1" in
        -n) N=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
[ "$BUILD" = 1 ] && (cd "$ROOT" && cargo build --release -q -p ferrous)
FERROUS_BIN=${FERROUS_BIN:-$ROOT/target/release/ferrous}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

rate() { # port P
    redis-benchmark -p "$1" -t set -n "$N" -P "$2" -c 50 -r 100000 -q 2>/dev/null | grep -o '[0-9.]* requests' | head -1 | cut -d' ' -f1
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-9s %-4s %12s %12s %7s\n' policy P redis ferrous ratio
for policy in everysec always; do
    rp=$(free_port); fp=$(free_port)
    mkdir -p "$WORK/$policy/r" "$WORK/$policy/f"
    redis-server --port "$rp" --bind 127.0.0.1 --save '' --appendonly yes --appendfsync "$policy" \
        --dir "$WORK/$policy/r" --daemonize no --logfile "$WORK/redis-$policy.log" & rpid=$!
    "$FERROUS_BIN" --port "$fp" --bind 127.0.0.1 --save '' --appendonly yes --appendfsync "$policy" \
        --dir "$WORK/$policy/f" --logfile "$WORK/ferrous-$policy.log" & fpid=$!
    PIDS+=("$rpid" "$fpid")
    wait_ready "$rp" "$rpid" "redis-$policy"; wait_ready "$fp" "$fpid" "ferrous-$policy"
    for P in 1 16; do
        rs=(); fs=()
        for _ in $(seq "$ROUNDS"); do rs+=("$(rate "$rp" "$P")"); fs+=("$(rate "$fp" "$P")"); done
        r=$(printf '%s\n' "${rs[@]}" | median); f=$(printf '%s\n' "${fs[@]}" | median)
        printf '%-9s %-4s %12s %12s %7.2f\n' "$policy" "$P" "$r" "$f" "$(echo "$f / $r" | bc -l)"
    done
    redis-cli -p "$rp" shutdown nosave >/dev/null 2>&1 || true
    redis-cli -p "$fp" shutdown nosave >/dev/null 2>&1 || true
done
