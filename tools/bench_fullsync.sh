#!/usr/bin/env bash
# Time of a full sync of N keys (DEBUG POPULATE) to redis-server replicas: Ferrous master vs
# redis-server master, disk and diskless, alternating.
# Usage: tools/bench_fullsync.sh [--replicas R] [--rounds K] [--modes "yes no"] [keys=1000000]
#   --replicas R: R replicas asked to sync at the same instant; the masters run with
#     repl-diskless-sync-max-replicas R and the default 5 s delay, so one transfer serves
#     them all as soon as all R wait (R=1: delay 0). `seconds`: from REPLICAOF until the
#     last link is up; `transfer`: from the master's "Starting BGSAVE for SYNC" until the
#     last replica has loaded (both read from the logs).
set -euo pipefail
R=1 ROUNDS=2 MODES="yes no"
while [ $# -gt 0 ]; do
  case $1 in
    --replicas) R=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --modes) MODES=$2; shift 2 ;;
    *) break ;;
  esac
done
N=${1:-1000000}
BIN=${FERROUS_BIN:-target/release/ferrous}
DIR=$(mktemp -d)
trap 'for p in $(cat $DIR/pids 2>/dev/null); do kill $p 2>/dev/null || true; done; sleep 0.2; rm -rf $DIR' EXIT
up() { for _ in $(seq 200); do redis-cli -p $1 ping >/dev/null 2>&1 && return; sleep 0.05; done; }
run() { # kind diskless
  local kind=$1 diskless=$2 mp=7350
  local sync=(--repl-diskless-sync $diskless --repl-diskless-sync-delay 0)
  [ $R -gt 1 ] && sync=(--repl-diskless-sync $diskless --repl-diskless-sync-delay 5 --repl-diskless-sync-max-replicas $R)
  rm -rf $DIR/m $DIR/r*; mkdir -p $DIR/m
  if [ $kind = ferrous ]; then $BIN --port $mp --save '' --dir $DIR/m --enable-debug-command yes "${sync[@]}" >$DIR/m/log 2>&1 &
  else redis-server --port $mp --save '' --dir $DIR/m --enable-debug-command yes "${sync[@]}" --logfile $DIR/m/log & fi
  echo $! >> $DIR/pids; local mpid=$!; up $mp
  redis-cli -p $mp debug populate $N key 16 >/dev/null
  local rpids=() ports=()
  for i in $(seq $R); do
    local rp=$((7350 + i)); mkdir -p $DIR/r$i
    redis-server --port $rp --save '' --dir $DIR/r$i --logfile $DIR/r$i/log & echo $! >> $DIR/pids; rpids+=($!); ports+=($rp)
  done
  for rp in "${ports[@]}"; do up $rp; done
  local t0=$(date +%s.%N)
  local asks=()
  for rp in "${ports[@]}"; do redis-cli -p $rp replicaof 127.0.0.1 $mp >/dev/null & asks+=($!); done
  wait "${asks[@]}"
  for rp in "${ports[@]}"; do
    until redis-cli -p $rp info replication | grep -q "master_link_status:up"; do sleep 0.01; done
  done
  local t1=$(date +%s.%N)
  local keys="" rp
  for rp in "${ports[@]}"; do keys="$keys$(redis-cli -p $rp dbsize),"; done
  local full=$(redis-cli -p $mp info stats | tr -d '\r' | grep '^sync_full:' | cut -d: -f2)
  local transfers=$(grep -c 'Starting BGSAVE for SYNC' $DIR/m/log || true)
  kill $mpid "${rpids[@]}"; wait $mpid "${rpids[@]}" 2>/dev/null || true
  # From the master's first "Starting BGSAVE for SYNC" to the last replica's loaded data:
  # the transfer itself, without the wait before it (Redis looks for max-replicas once a
  # second, in replicationCron).
  local transfer=$(python3 - "$DIR" $R <<'PY'
import sys, datetime
d, r = sys.argv[1], int(sys.argv[2])
def at(path, text, last=False):
    hits = [l for l in open(path, errors="replace") if text in l]
    line = hits[-1] if last else hits[0]
    stamp = " ".join(line.split()[1:5])
    return datetime.datetime.strptime(stamp, "%d %b %Y %H:%M:%S.%f")
start = at(f"{d}/m/log", "Starting BGSAVE for SYNC")
end = max(at(f"{d}/r{i}/log", "MASTER <-> REPLICA sync: Finished with success", True) for i in range(1, r + 1))
print("%.3f" % (end - start).total_seconds())
PY
)
  python3 -c "print('$kind diskless=$diskless replicas=$R keys=${keys%,} sync_full=$full transfers=$transfers seconds=%.3f transfer=$transfer' % ($t1-$t0))"
}
for d in $MODES; do for round in $(seq $ROUNDS); do run redis $d; run ferrous $d; done; done
