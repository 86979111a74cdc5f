#!/usr/bin/env bash
# Throughput and CPU cost of Ferrous next to Redis, measured with redis-benchmark.
#
# Builds the release server, starts `redis-server` and `ferrous-server` on two free loopback
# ports (no persistence), runs each redis-benchmark test against each server in turn, without
# and with pipelining, and reads each server's CPU time (utime+stime from /proc/PID/stat)
# around every run. Prints, per test: ops/s of both, their ratio, server CPU µs per op of
# both, and the CPU ratio (ferrous / redis: below 1 means Ferrous spends less CPU per op).
#
# Usage: tools/bench.sh [options]
#   -n N             requests per test without pipelining (default 200000)
#   --pipelined-n N  requests per test with -P 16 (default 1000000)
#   -c N             parallel connections (default 50)
#   --pipelines L    pipeline depths, comma-separated (default 1,16)
#   --tests L        redis-benchmark -t tests, comma-separated
#                    (default ping_inline,ping_mbulk,set,get,incr,mset; env BENCH_TESTS)
#   --keyspace N     -r N: random keys from a space of N (default 100000; 0 = one key)
#   --threads N      redis-benchmark --threads N (default: its single thread)
#   --ferrous-args S extra arguments for ferrous-server (e.g. "--io-threads 2")
#   --no-build       use the existing target/release/ferrous-server (or $FERROUS_BIN)
#   --csv FILE       also write the table as CSV
#
# Everything talks to 127.0.0.1 only; both servers are killed on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=200000
NP=1000000
CONNS=50
PIPELINES=1,16
TESTS=${BENCH_TESTS:-ping_inline,ping_mbulk,set,get,incr,mset}
KEYSPACE=100000
THREADS=
FERROUS_ARGS=
BUILD=1
CSV_OUT=

while [[ $# -gt 0 ]]; do
    case $1 in
        -n) N=$2; shift 2 ;;
        --pipelined-n) NP=$2; shift 2 ;;
        -c) CONNS=$2; shift 2 ;;
        --pipelines) PIPELINES=$2; shift 2 ;;
        --tests) TESTS=$2; shift 2 ;;
        --keyspace) KEYSPACE=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --ferrous-args) FERROUS_ARGS=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --csv) CSV_OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
done

for tool in redis-server redis-benchmark redis-cli; do
    command -v "$tool" >/dev/null || { echo "$tool not found (apt-get install redis-server redis-tools)" >&2; exit 1; }
done

FERROUS_BIN=${FERROUS_BIN:-$ROOT/target/release/ferrous-server}
if [[ $BUILD == 1 ]]; then
    echo "building the release server..." >&2
    (cd "$ROOT" && cargo build --release -q -p ferrous-server)
fi
[[ -x $FERROUS_BIN ]] || { echo "no server binary at $FERROUS_BIN" >&2; exit 1; }

WORK=$(mktemp -d /tmp/ferrous-bench.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=tools/lib.sh
source "$ROOT/tools/lib.sh"

start_servers "$FERROUS_ARGS"

TICK=$(getconf CLK_TCK)
# CPU time of a whole process (all threads), in clock ticks.
cpu_ticks() {
    local stat rest
    stat=$(<"/proc/$1/stat")
    rest=${stat##*) } # fields after "pid (comm) "; utime/stime are fields 14/15 overall
    read -r -a f <<<"$rest"
    echo $(( f[11] + f[12] ))
}

# Prints "rps cpu_ticks" for one redis-benchmark test against one server.
run_one() { # port pid test pipeline requests
    local args=(-p "$1" -c "$CONNS" -n "$5" -t "$3" -P "$4" --csv)
    [[ $KEYSPACE != 0 ]] && args+=(-r "$KEYSPACE")
    [[ -n $THREADS ]] && args+=(--threads "$THREADS")
    local before after out rps
    redis-cli -p "$1" flushall >/dev/null
    before=$(cpu_ticks "$2")
    out=$(redis-benchmark "${args[@]}" 2>"$WORK/bench.err") || {
        echo "redis-benchmark failed against port $1 ($3): $(cat "$WORK/bench.err")" >&2
        kill -0 "$2" 2>/dev/null || echo "the server (pid $2) is gone" >&2
        echo "0 0"
        return
    }
    after=$(cpu_ticks "$2")
    # --csv: a header line, then "TEST","rps",...; take the first data row's rps.
    rps=$(printf '%s\n' "$out" | awk -F'","' 'NR > 1 && NF > 1 { print $2; exit }')
    echo "${rps:-0} $(( after - before ))"
}

ROWS=()
printf '%-12s %3s %13s %13s %7s %11s %11s %8s\n' test P redis_ops/s ferrous_ops/s ratio redis_us/op ferrous_us/op cpu_ratio
IFS=, read -r -a TEST_LIST <<<"$TESTS"
IFS=, read -r -a PIPE_LIST <<<"$PIPELINES"
for p in "${PIPE_LIST[@]}"; do
    n=$N
    (( p > 1 )) && n=$NP
    for t in "${TEST_LIST[@]}"; do
        read -r r_rps r_ticks < <(run_one "$REDIS_PORT" "$REDIS_PID" "$t" "$p" "$n")
        read -r f_rps f_ticks < <(run_one "$FERROUS_PORT" "$FERROUS_PID" "$t" "$p" "$n")
        row=$(awk -v t="$t" -v p="$p" -v n="$n" -v rr="$r_rps" -v fr="$f_rps" -v rt="$r_ticks" -v ft="$f_ticks" -v hz="$TICK" 'BEGIN {
            rus = rt * 1e6 / hz / n; fus = ft * 1e6 / hz / n
            ratio = rr > 0 ? fr / rr : 0; cpur = rus > 0 ? fus / rus : 0
            printf "%s,%s,%.0f,%.0f,%.2f,%.2f,%.2f,%.2f", t, p, rr, fr, ratio, rus, fus, cpur }')
        ROWS+=("$row")
        IFS=, read -r -a c <<<"$row"
        printf '%-12s %3s %13s %13s %7s %11s %11s %8s\n' "${c[@]}"
    done
done

if ! kill -0 "$FERROUS_PID" 2>/dev/null; then
    echo "ferrous-server died during the benchmark; log tail:" >&2
    tail -20 "$WORK/ferrous.log" >&2
    exit 1
fi
echo "(ratio = ferrous/redis ops/s; cpu_ratio = ferrous/redis server CPU per op; $CONNS clients, keyspace ${KEYSPACE}, CPU resolution $((1000000 / TICK)) µs per tick over the run)"
if [[ -n $CSV_OUT ]]; then
    { echo "test,pipeline,redis_ops,ferrous_ops,ratio,redis_cpu_us_per_op,ferrous_cpu_us_per_op,cpu_ratio"; printf '%s\n' "${ROWS[@]}"; } >"$CSV_OUT"
fi
