#!/usr/bin/env bash
# SET throughput with maxmemory reached and eviction running, Ferrous next to Redis.
#
# Starts redis-server and ferrous-server (no persistence) with the same maxmemory and
# policy, fills both past the limit, then runs `redis-benchmark -t set -P 16` against each,
# alternating ROUNDS times, and prints requests per second and the ratio ferrous / redis.
#
# Usage: tools/bench_eviction.sh [--policy allkeys-lru] [--maxmemory 50mb] [--rounds 3]
#   [--requests 1000000] [--pipeline 16] [--no-build]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
POLICY=allkeys-lru; MAXMEMORY=50mb; ROUNDS=3; REQUESTS=1000000; PIPELINE=16; BUILD=1
while [[ $# -gt 0 ]]; do
    case $1 in
        --policy) POLICY=$2; shift 2 ;;
        --maxmemory) MAXMEMORY=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --requests) REQUESTS=$2; shift 2 ;;
        --pipeline) PIPELINE=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done
[[ $BUILD == 1 ]] && (cd "$ROOT" && cargo build --release -q -p ferrous-server)
FERROUS_BIN=${FERROUS_BIN:-$ROOT/target/release/ferrous-server}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RP=$(free_port); FP=$(free_port)
WORK=$(mktemp -d /tmp/ferrous-evict.XXXXXX)
redis-server --port "$RP" --save "" --appendonly no --dir "$WORK" --maxmemory "$MAXMEMORY" --maxmemory-policy "$POLICY" >"$WORK/redis.log" 2>&1 &
RPID=$!
"$FERROUS_BIN" --port "$FP" --save "" --appendonly no --dir "$WORK" --maxmemory "$MAXMEMORY" --maxmemory-policy "$POLICY" ${FERROUS_ARGS:-} >"$WORK/ferrous.log" 2>&1 &
FPID=$!
trap 'kill $RPID $FPID 2>/dev/null; rm -rf "$WORK"' EXIT
for p in $RP $FP; do for _ in $(seq 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done; done
rps() { redis-benchmark -p "$1" -t set -n "$REQUESTS" -r 10000000 -d 100 -P "$PIPELINE" -c 50 --csv 2>/dev/null | awk -F'"' '/"SET"/ {print $4}'; }
# Fill past the limit so every round evicts.
rps "$RP" >/dev/null; rps "$FP" >/dev/null
echo "policy $POLICY maxmemory $MAXMEMORY -P $PIPELINE"
for r in $(seq "$ROUNDS"); do
    R=$(rps "$RP"); F=$(rps "$FP")
    printf 'round %s: redis %s ferrous %s ratio %.2f\n' "$r" "$R" "$F" "$(echo "$F / $R" | bc -l)"
done
for p in $RP $FP; do
    printf 'port %s: evicted_keys %s dbsize %s used_memory %s\n' "$p" "$(redis-cli -p "$p" info stats | tr -d '\r' | awk -F: '/^evicted_keys/ {print $2}')" "$(redis-cli -p "$p" dbsize)" "$(redis-cli -p "$p" info memory | tr -d '\r' | awk -F: '/^used_memory:/ {print $2}')"
done
