#!/usr/bin/env bash
# BGREWRITEAOF of a large dataset while clients write: Ferrous next to Redis 7.0.
#
# Both servers start with `--appendonly yes --appendfsync everysec` (automatic rewrites
# off) and get KEYS keys of 16 bytes (DEBUG POPULATE). Then, per round and per server:
#   - a baseline: `redis-benchmark -t set -P 1 -c 50 -r KEYS` for REQUESTS requests;
#   - the same run with a BGREWRITEAOF started one second in; the rewrite's wall time is
#     taken by polling INFO persistence every 10 ms.
# Prints, per server, the medians over the rounds: rewrite time, throughput, p99 and max
# latency with and without the rewrite (redis-benchmark's own percentiles). A write stall
# shows as a max latency far above the baseline's (Redis's comes from fork and
# copy-on-write; Ferrous never forks: writers copy what the snapshot has not reached yet).
#
# Usage: tools/bench_rewrite.sh [--keys N] [--requests N] [--rounds N] [--no-build]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KEYS=1000000
REQUESTS=400000
ROUNDS=3
BUILD=1
while [[ $# -gt 0 ]]; do
    case $1 in
        --keys) KEYS=$2; shift 2 ;;
        --requests) REQUESTS=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
FERROUS_BIN=${FERROUS_BIN:-$ROOT/target/release/ferrous-server}
if [[ $BUILD == 1 ]]; then (cd "$ROOT" && cargo build --release -q -p ferrous-server); fi
WORK=$(mktemp -d)
# shellcheck source=tools/lib.sh
source "$ROOT/tools/lib.sh"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

AOF_ARGS=(--appendonly yes --appendfsync everysec --auto-aof-rewrite-percentage 0 --enable-debug-command yes)
RP=$(free_port)
FP=$(free_port)
mkdir -p "$WORK/r" "$WORK/f"
(cd "$WORK/r" && exec redis-server --port "$RP" --bind 127.0.0.1 --save '' "${AOF_ARGS[@]}" --dir "$WORK/r" \
    --logfile "$WORK/redis.log") &
PIDS+=($!); wait_ready "$RP" "${PIDS[-1]}" redis
(cd "$WORK/f" && exec "$FERROUS_BIN" --port "$FP" --bind 127.0.0.1 --save '' "${AOF_ARGS[@]}" --dir "$WORK/f" \
    --logfile "$WORK/ferrous.log") &
PIDS+=($!); wait_ready "$FP" "${PIDS[-1]}" ferrous

info() { redis-cli -p "$1" info persistence | tr -d '\r' | awk -F: -v f="$2" '$1 == f { print $2 }'; }
for p in $RP $FP; do
    redis-cli -p "$p" debug populate "$KEYS" key 16 >/dev/null
    # A first rewrite, so both start from a base holding the dataset.
    redis-cli -p "$p" bgrewriteaof >/dev/null
    while [[ $(info "$p" aof_rewrite_in_progress) != 0 || $(info "$p" aof_rewrite_scheduled) != 0 ]]; do sleep 0.1; done
done

bench() { # port -> "rps p99 max"
    redis-benchmark -p "$1" -t set -P 1 -c 50 -r "$KEYS" -n "$REQUESTS" --csv 2>/dev/null |
        awk -F'"' '/^"SET"/ { print $4, $14, $16 }'
}
rewrite_during() { # port -> "seconds rps p99 max"
    local port=$1
    bench "$port" > "$WORK/bench.out" &
    local b=$!
    sleep 1
    local t0 t1
    t0=$(date +%s.%N)
    redis-cli -p "$port" bgrewriteaof >/dev/null
    while [[ $(info "$port" aof_rewrite_in_progress) != 0 || $(info "$port" aof_rewrite_scheduled) != 0 ]]; do
        sleep 0.01
    done
    t1=$(date +%s.%N)
    wait "$b"
    echo "$(echo "$t1 - $t0" | bc -l) $(cat "$WORK/bench.out")"
}

: > "$WORK/rows"
for round in $(seq "$ROUNDS"); do
    for name in redis ferrous; do
        port=$RP; [[ $name == ferrous ]] && port=$FP
        read -r rps p99 max < <(bench "$port")
        read -r secs wrps wp99 wmax < <(rewrite_during "$port")
        echo "$name $secs $rps $p99 $max $wrps $wp99 $wmax" >> "$WORK/rows"
        printf 'round %s %-7s rewrite %.2fs | baseline %s rps p99 %s ms max %s ms | during rewrite %s rps p99 %s ms max %s ms\n' \
            "$round" "$name" "$secs" "$rps" "$p99" "$max" "$wrps" "$wp99" "$wmax"
    done
done
python3 - "$WORK/rows" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
cols = ["rewrite_s", "rps", "p99_ms", "max_ms", "rps_rw", "p99_ms_rw", "max_ms_rw"]
med = {}
for name in ("redis", "ferrous"):
    vals = [list(map(float, r[1:])) for r in rows if r[0] == name]
    med[name] = [statistics.median(v[i] for v in vals) for i in range(len(cols))]
print(f"{'median':<8}" + "".join(f"{c:>11}" for c in cols))
for name in ("redis", "ferrous"):
    print(f"{name:<8}" + "".join(f"{v:>11.3f}" for v in med[name]))
print(f"{'ratio':<8}" + "".join(f"{(f / r if r else 0):>11.2f}" for f, r in zip(med['ferrous'], med['redis'])))
PY
