#!/usr/bin/env bash
# Time of a full sync of N keys (DEBUG POPULATE) to a redis-server replica: Ferrous master vs
# redis-server master, disk and diskless. Usage: tools/bench_fullsync.sh [keys=1000000]
set -euo pipefail
N=${1:-1000000}
BIN=${FERROUS_BIN:-target/release/ferrous}
DIR=$(mktemp -d)
trap 'for p in $(cat $DIR/pids 2>/dev/null); do kill $p 2>/dev/null || true; done; sleep 0.2; rm -rf $DIR' EXIT
up() { for _ in $(seq 200); do redis-cli -p $1 ping >/dev/null 2>&1 && return; sleep 0.05; done; }
run() { # kind diskless
  local kind=$1 diskless=$2 mp=7350 rp=7351
  rm -rf $DIR/m $DIR/r; mkdir -p $DIR/m $DIR/r
  if [ $kind = ferrous ]; then $BIN --port $mp --save '' --dir $DIR/m --enable-debug-command yes --repl-diskless-sync $diskless --repl-diskless-sync-delay 0 >$DIR/m/log 2>&1 &
  else redis-server --port $mp --save '' --dir $DIR/m --enable-debug-command yes --repl-diskless-sync $diskless --repl-diskless-sync-delay 0 --logfile $DIR/m/log & fi
  echo $! >> $DIR/pids; local mpid=$!; up $mp
  redis-cli -p $mp debug populate $N key 16 >/dev/null
  redis-server --port $rp --save '' --dir $DIR/r --logfile $DIR/r/log & echo $! >> $DIR/pids; local rpid=$!; up $rp
  local t0=$(date +%s.%N)
  redis-cli -p $rp replicaof 127.0.0.1 $mp >/dev/null
  until redis-cli -p $rp info replication | grep -q "master_link_status:up"; do sleep 0.01; done
  local t1=$(date +%s.%N)
  local keys=$(redis-cli -p $rp dbsize)
  kill $rpid $mpid; wait $rpid $mpid 2>/dev/null || true
  python3 -c "print('$kind diskless=$diskless keys=$keys seconds=%.3f' % ($t1-$t0))"
}
for d in yes no; do for round in 1 2; do run redis $d; run ferrous $d; done; done
