#!/usr/bin/env bash
# RDB persistence of Ferrous next to Redis 7.0, measured in the same run on loopback.
#
# (a) SAVE: wall time of SAVE and size of the dump.rdb it writes, for four data sets loaded
#     identically into both servers with `redis-cli --pipe`: KEYS strings of 16 bytes,
#     COLLECTIONS hashes, sorted sets and lists of ELEMENTS elements each.
# (b) Load: each server restarted on its own dump.rdb; time from process start to the first
#     PING answered PONG (not -LOADING), and the key count checked.
# (c) BGSAVE under load: the strings data set, `redis-benchmark -t set -P 16` running against
#     the server; server throughput (total_commands_processed from INFO stats) while BGSAVEs
#     run vs over the same length of time without, and the peak extra memory during the
#     saves: VmRSS of the server plus its children (Redis's fork child, whose RSS counts the
#     pages it shares with the parent too), and PSS (/proc/PID/smaps_rollup, shared pages
#     split between the processes: the memory really added).
#
# Prints one table per part, with ratios ferrous / redis (below 1: Ferrous is faster or
# smaller). A step Ferrous cannot do (SAVE/BGSAVE unknown, dump.rdb not loaded) shows n/a.
#
# Usage: tools/bench_persistence.sh [options]
#   --keys N           string keys (default 1000000)
#   --collections N    hashes / sorted sets / lists (default 10000 each)
#   --elements N       elements per collection (default 100)
#   --quick            100000 keys, 1000 collections (a smoke run of well under a minute)
#   --window S         seconds of load measured without a save (default 3)
#   --min-save-time S  keep running BGSAVEs under load until they add up to S seconds
#                      (default 3; at most 20 saves)
#   --ferrous-args S   extra arguments for ferrous-server (e.g. "--io-threads 2")
#   --no-build         use the existing target/release/ferrous-server (or $FERROUS_BIN)
#   --csv FILE         also write both tables as CSV
#
# Everything talks to 127.0.0.1 only; servers and redis-benchmark are killed on exit. With
# the defaults the run takes about 2-4 minutes on two cores (bounded well under 10).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KEYS=1000000
COLLECTIONS=10000
ELEMENTS=100
WINDOW=3
MIN_SAVE_TIME=3
FERROUS_ARGS=
BUILD=1
CSV_OUT=
# Upper bounds of single steps (seconds), so a hung server cannot hang the run.
STEP_TIMEOUT=180

while [[ $# -gt 0 ]]; do
    case $1 in
        --keys) KEYS=$2; shift 2 ;;
        --collections) COLLECTIONS=$2; shift 2 ;;
        --elements) ELEMENTS=$2; shift 2 ;;
        --quick) KEYS=100000; COLLECTIONS=1000; WINDOW=2; MIN_SAVE_TIME=1; shift ;;
        --window) WINDOW=$2; shift 2 ;;
        --min-save-time) MIN_SAVE_TIME=$2; shift 2 ;;
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

WORK=$(mktemp -d /tmp/ferrous-bench-persistence.XXXXXX)
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

now_ns() { date +%s%N; }
secs_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }
# ratio A B: A/B with two decimals, or n/a when either is n/a or B is 0.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }

# Starts server $1 (redis|ferrous) on port $3 with directory $2 (no save points, DEBUG
# allowed). Sets SERVER_PID; does not wait.
start_server() { # kind dir port
    local kind=$1 dir=$2 port=$3
    if [[ $kind == redis ]]; then
        (cd "$dir" && exec redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
            --dir "$dir" --enable-debug-command yes --logfile "$WORK/redis.log") &
    else
        # shellcheck disable=SC2086 # the options are a list of words on purpose
        (cd "$dir" && exec "$FERROUS_BIN" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
            --dir "$dir" --enable-debug-command yes --logfile "$WORK/ferrous.log" $FERROUS_ARGS) &
    fi
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
}

# Stops the server on port $1 (pid $2) without saving.
stop_server() { # port pid
    redis-cli -p "$1" shutdown nosave >/dev/null 2>&1 || true
    for _ in $(seq 1 200); do
        kill -0 "$2" 2>/dev/null || break
        sleep 0.05
    done
    kill -9 "$2" 2>/dev/null || true
    wait "$2" 2>/dev/null || true
}

dbsize() { redis-cli -p "$1" dbsize 2>/dev/null | tr -d '\r'; }
info_field() { # port section field
    redis-cli -p "$1" info "$2" 2>/dev/null | tr -d '\r' | awk -F: -v f="$3" '$1 == f { print $2 }'
}

# Starts server $1 on directory $2 (holding dump.rdb) and sets LOAD_S to the seconds from
# spawn to the first PONG, and LOADED to its DBSIZE ("n/a" when it exited or timed out).
timed_start() { # kind dir port
    local t0 reply
    t0=$(now_ns)
    start_server "$1" "$2" "$3"
    LOAD_S=n/a
    LOADED=n/a
    while :; do
        reply=$(redis-cli -p "$3" ping 2>/dev/null || true)
        if [[ $reply == PONG ]]; then
            LOAD_S=$(secs_since "$t0")
            LOADED=$(dbsize "$3")
            return
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "$1 exited while loading $2/dump.rdb; log tail:" >&2
            tail -5 "$WORK/$1.log" >&2
            return
        fi
        if (( ($(now_ns) - t0) / 1000000000 > STEP_TIMEOUT )); then
            echo "$1 still loading after ${STEP_TIMEOUT}s" >&2
            return
        fi
        sleep 0.002
    done
}

# --- the data sets, as RESP, identical for both servers --------------------------------
echo "generating the data sets ($KEYS strings; $COLLECTIONS x $ELEMENTS hashes, zsets, lists)..." >&2
awk -v n="$KEYS" 'BEGIN {
    for (i = 0; i < n; i++) {
        k = "key:" i; v = substr(i "-abcdefghijklmnop", 1, 16)
        printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v
    }
}' >"$WORK/strings.resp"
gen_collections() { # command key-prefix kind(hash|zset|list)
    awk -v n="$COLLECTIONS" -v m="$ELEMENTS" -v cmd="$1" -v prefix="$2" -v kind="$3" 'BEGIN {
        per = (kind == "list") ? 1 : 2
        for (i = 0; i < n; i++) {
            k = prefix i
            printf "*%d\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", 2 + per * m, length(cmd), cmd, length(k), k
            for (j = 0; j < m; j++) {
                if (kind == "hash") { a = "field:" j; b = "value:" (i * 31 + j) % 10007 }
                else if (kind == "zset") { a = sprintf("%.2f", (i * 7 + j * 13) % 1000 / 4); b = "member:" j }
                else { a = "element:" (i + j) % 10007 }
                printf "$%d\r\n%s\r\n", length(a), a
                if (per == 2) printf "$%d\r\n%s\r\n", length(b), b
            }
        }
    }'
}
gen_collections HSET "hash:" hash >"$WORK/hashes.resp"
gen_collections ZADD "zset:" zset >"$WORK/zsets.resp"
gen_collections RPUSH "list:" list >"$WORK/lists.resp"

# Loads $2.resp into the server on port $1; checks the key count is $3.
load_resp() { # port dataset expected-keys
    local out n
    out=$(timeout "$STEP_TIMEOUT" redis-cli -p "$1" --pipe <"$WORK/$2.resp" 2>&1) || {
        echo "loading $2 into port $1 failed: $out" >&2; return 1; }
    n=$(dbsize "$1")
    [[ $n == "$3" ]] || { echo "port $1 holds $n keys after loading $2 ($3 expected): $out" >&2; return 1; }
}

# --- (a) SAVE and (b) load ----------------------------------------------------------------
DATASETS=(strings hashes zsets lists)
declare -A EXPECTED=([strings]=$KEYS [hashes]=$COLLECTIONS [zsets]=$COLLECTIONS [lists]=$COLLECTIONS)
declare -A LABEL=([strings]="strings ${KEYS}x16B" [hashes]="hashes ${COLLECTIONS}x${ELEMENTS}"
    [zsets]="zsets ${COLLECTIONS}x${ELEMENTS}" [lists]="lists ${COLLECTIONS}x${ELEMENTS}")

# Fills a fresh server with a data set, SAVEs (time, size), restarts it on the file (load
# time). Sets SAVE_S, SIZE_MB and LOAD_S, n/a where the server could not. (Results go through
# globals, not a subshell's output, so every server started is in PIDS for the cleanup.)
save_and_load() { # kind dataset
    local kind=$1 ds=$2 dir port pid t0 out
    SAVE_S=n/a; SIZE_MB=n/a; LOAD_S=n/a
    dir="$WORK/$kind-$ds"
    mkdir -p "$dir"
    port=$(free_port)
    start_server "$kind" "$dir" "$port"
    pid=$SERVER_PID
    wait_ready "$port" "$pid" "$kind" >&2
    if ! load_resp "$port" "$ds" "${EXPECTED[$ds]}"; then
        stop_server "$port" "$pid"
        return
    fi
    t0=$(now_ns)
    out=$(timeout "$STEP_TIMEOUT" redis-cli -p "$port" save 2>&1 | tr -d '\r') || true
    if [[ $out == OK && -f $dir/dump.rdb ]]; then
        SAVE_S=$(secs_since "$t0")
        SIZE_MB=$(awk -v b="$(stat -c %s "$dir/dump.rdb")" 'BEGIN { printf "%.1f", b / 1048576 }')
    else
        echo "$kind: SAVE replied \"$out\"" >&2
    fi
    stop_server "$port" "$pid"
    if [[ $SAVE_S != n/a ]]; then
        port=$(free_port)
        timed_start "$kind" "$dir" "$port"
        if [[ $LOADED != "${EXPECTED[$ds]}" ]]; then
            [[ $LOAD_S != n/a ]] && echo "$kind: $LOADED keys after loading $ds (${EXPECTED[$ds]} expected)" >&2
            LOAD_S=n/a
        fi
        stop_server "$port" "$SERVER_PID"
    fi
    rm -rf "$dir"
}

SAVE_ROWS=()
echo
printf '%-22s %9s %9s %6s %10s %10s %6s %9s %9s %6s\n' "data set" redis_save ferr_save ratio redis_MB ferr_MB ratio \
    redis_load ferr_load ratio
for ds in "${DATASETS[@]}"; do
    # Sequential: the two servers never run their saves or loads at the same time.
    save_and_load redis "$ds"
    r_save=$SAVE_S r_size=$SIZE_MB r_load=$LOAD_S
    save_and_load ferrous "$ds"
    f_save=$SAVE_S f_size=$SIZE_MB f_load=$LOAD_S
    row=("${LABEL[$ds]}" "$r_save" "$f_save" "$(ratio "$f_save" "$r_save")" "$r_size" "$f_size" \
        "$(ratio "$f_size" "$r_size")" "$r_load" "$f_load" "$(ratio "$f_load" "$r_load")")
    SAVE_ROWS+=("$(IFS=,; echo "${row[*]}")")
    printf '%-22s %9s %9s %6s %10s %10s %6s %9s %9s %6s\n' "${row[@]}"
done
echo "(save/load in seconds; load = process start to first PONG on its own dump.rdb; MB = dump.rdb size)"

# --- (c) BGSAVE under write load ------------------------------------------------------------
# Memory of a process and its children, in kB: "rss pss".
mem_kb() { # pid
    local p rss=0 pss=0 r s
    for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || true)
        s=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || true)
        rss=$(( rss + ${r:-0} ))
        pss=$(( pss + ${s:-0} ))
    done
    echo "$rss $pss"
}
commands() { info_field "$1" stats total_commands_processed; }

# Sets BG to "ops_without ops_during saves save_s extra_rss_mb extra_pss_mb" for one server.
bgsave_under_load() { # kind
    local kind=$1 dir port pid bench t0 c0 c1 base_ops rss0 pss0 rss pss peak_rss peak_pss
    local saves=0 save_ns=0 save_cmds=0 reply deadline
    dir="$WORK/$kind-bgsave"
    mkdir -p "$dir"
    port=$(free_port)
    start_server "$kind" "$dir" "$port"
    pid=$SERVER_PID
    wait_ready "$port" "$pid" "$kind" >&2
    BG="n/a n/a 0 n/a n/a n/a"
    load_resp "$port" strings "$KEYS" || { stop_server "$port" "$pid"; return; }
    redis-benchmark -p "$port" -c 50 -P 16 -t set -n 2000000000 -r "$KEYS" -d 16 -q >/dev/null 2>&1 &
    bench=$!
    PIDS+=("$bench")
    sleep 1 # connections up, steady state
    # Without a save.
    c0=$(commands "$port"); t0=$(now_ns)
    sleep "$WINDOW"
    c1=$(commands "$port")
    base_ops=$(awk -v c="$(( c1 - c0 ))" -v t="$(( $(now_ns) - t0 ))" 'BEGIN { printf "%.0f", c / (t / 1e9) }')
    read -r rss0 pss0 < <(mem_kb "$pid")
    peak_rss=$rss0; peak_pss=$pss0
    # BGSAVEs back to back until they add up to MIN_SAVE_TIME (at most 20).
    deadline=$(( $(now_ns) + STEP_TIMEOUT * 1000000000 ))
    while (( saves < 20 )) && awk -v s="$save_ns" -v m="$MIN_SAVE_TIME" 'BEGIN { exit !(s / 1e9 < m) }'; do
        c0=$(commands "$port"); t0=$(now_ns)
        reply=$(redis-cli -p "$port" bgsave 2>&1 | tr -d '\r')
        if [[ $reply != "Background saving started" ]]; then
            echo "$kind: BGSAVE replied \"$reply\"" >&2
            break
        fi
        while [[ $(info_field "$port" persistence rdb_bgsave_in_progress) == 1 ]]; do
            read -r rss pss < <(mem_kb "$pid")
            (( rss > peak_rss )) && peak_rss=$rss
            (( pss > peak_pss )) && peak_pss=$pss
            (( $(now_ns) < deadline )) || { echo "$kind: BGSAVE still running after ${STEP_TIMEOUT}s" >&2; break 2; }
            sleep 0.05 # sampling spawns processes: keep it off the CPU the server and client need
        done
        c1=$(commands "$port")
        save_ns=$(( save_ns + $(now_ns) - t0 ))
        save_cmds=$(( save_cmds + c1 - c0 ))
        saves=$(( saves + 1 ))
        [[ $(info_field "$port" persistence rdb_last_bgsave_status) == ok ]] || echo "$kind: BGSAVE failed" >&2
    done
    kill "$bench" 2>/dev/null || true
    wait "$bench" 2>/dev/null || true
    stop_server "$port" "$pid"
    rm -rf "$dir"
    if (( saves == 0 )); then
        BG="$base_ops n/a 0 n/a n/a n/a"
        return
    fi
    BG=$(awk -v base="$base_ops" -v c="$save_cmds" -v t="$save_ns" -v n="$saves" -v r="$(( peak_rss - rss0 ))" \
        -v p="$(( peak_pss - pss0 ))" 'BEGIN {
        printf "%s %.0f %d %.3f %.1f %.1f", base, c / (t / 1e9), n, t / 1e9 / n, r / 1024, p / 1024 }')
}

echo
echo "BGSAVE of $KEYS strings while redis-benchmark -t set -P 16 -c 50 writes:"
bgsave_under_load redis
read -r r_base r_during r_saves r_save_s r_rss r_pss <<<"$BG"
bgsave_under_load ferrous
read -r f_base f_during f_saves f_save_s f_rss f_pss <<<"$BG"
r_keep=$(ratio "$r_during" "$r_base")
f_keep=$(ratio "$f_during" "$f_base")
BG_ROWS=()
printf '%-8s %13s %13s %8s %6s %8s %15s %15s\n' server ops/s_without ops/s_during kept saves save_s extra_rss_MB \
    extra_pss_MB
for row in "redis $r_base $r_during $r_keep $r_saves $r_save_s $r_rss $r_pss" \
    "ferrous $f_base $f_during $f_keep $f_saves $f_save_s $f_rss $f_pss" \
    "ratio $(ratio "$f_base" "$r_base") $(ratio "$f_during" "$r_during") $(ratio "$f_keep" "$r_keep") - \
$(ratio "$f_save_s" "$r_save_s") $(ratio "$f_rss" "$r_rss") $(ratio "$f_pss" "$r_pss")"; do
    read -r -a c <<<"$row"
    BG_ROWS+=("$(IFS=,; echo "${c[*]}")")
    printf '%-8s %13s %13s %8s %6s %8s %15s %15s\n' "${c[@]}"
done
echo "(kept = ops/s during the saves / without; save_s = mean BGSAVE duration under load; extra = peak during"
echo " the saves minus before, server plus children: RSS counts pages a fork child shares twice, PSS splits them)"

if [[ -n $CSV_OUT ]]; then
    {
        echo "dataset,redis_save_s,ferrous_save_s,save_ratio,redis_mb,ferrous_mb,size_ratio,redis_load_s,ferrous_load_s,load_ratio"
        printf '%s\n' "${SAVE_ROWS[@]}"
        echo
        echo "server,ops_without,ops_during,kept,saves,save_s,extra_rss_mb,extra_pss_mb"
        printf '%s\n' "${BG_ROWS[@]}"
    } >"$CSV_OUT"
fi
