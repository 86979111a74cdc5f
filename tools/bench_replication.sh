#!/usr/bin/env bash
# SET throughput on a master with N redis-server replicas attached: Ferrous master vs
# redis-server master, same replicas, alternating rounds. Usage:
#   tools/bench_replication.sh [replicas=1] [rounds=3] [pipeline=16]
# Prints requests/s per round and the median ratio Ferrous/Redis.
set -euo pipefail
REPLICAS=${1:-1}; ROUNDS=${2:-3}; P=${3:-16}
BIN=${FERROUS_BIN:-target/release/ferrous}
DIR=$(mktemp -d)
trap 'for p in $(cat $DIR/pids 2>/dev/null); do kill $p 2>/dev/null || true; done; rm -rf $DIR' EXIT
start() { # kind port [args]
  local kind=$1 port=$2; shift 2
  mkdir -p $DIR/$port
  if [ "$kind" = ferrous ]; then $BIN --port $port --save '' --dir $DIR/$port "$@" >$DIR/$port/log 2>&1 &
  else redis-server --port $port --save '' --dir $DIR/$port --logfile $DIR/$port/log "$@" & fi
  echo $! >> $DIR/pids
  for _ in $(seq 100); do redis-cli -p $port ping >/dev/null 2>&1 && return; sleep 0.05; done
}
# Replica lag sampled during a run: master_repl_offset minus the replica's acknowledged
# offset (slave0's offset=), every 0.2 s; prints the largest seen.
lagwatch() {
  local port=$1 max=0
  while [ -f $DIR/bench_running ]; do
    local l=$(redis-cli -p $port info replication 2>/dev/null | tr -d '\r' | awk -F'[:,=]' '/^master_repl_offset/{m=$2} /^slave0/{for(i=1;i<=NF;i++) if($i=="offset") s=$(i+1)} END{if(m!="" && s!="") print m-s; else print 0}')
    [ "$l" -gt "$max" ] && max=$l
    sleep 0.2
  done
  echo $max
}
bench_lag() { touch $DIR/bench_running; lagwatch $1 > $DIR/lag_$1 & local w=$!; local r=$(bench $1); rm -f $DIR/bench_running; wait $w; echo "$r $(cat $DIR/lag_$1)"; }
bench() { redis-benchmark -p $1 -t set -n 1000000 -r 100000 -c 50 -P $P --csv 2>/dev/null | awk -F'"' '/^"SET"/{print $4}'; }
start redis 7320 --repl-diskless-sync-delay 0
start ferrous 7330 --repl-diskless-sync-delay 0
for i in $(seq 1 $REPLICAS); do
  start redis $((7320+i)) --replicaof 127.0.0.1 7320
  start redis $((7330+i)) --replicaof 127.0.0.1 7330
done
sleep 2
r=(); f=()
for round in $(seq $ROUNDS); do
  read rr rl < <(bench_lag 7320); read fr fl < <(bench_lag 7330)
  r+=($rr); f+=($fr)
  echo "round $round: redis $rr (max replica lag $rl bytes) ferrous $fr (max replica lag $fl bytes)"
done
lag() { redis-cli -p $1 info replication | tr -d '\r' | awk -F: '/master_repl_offset/{print $2}'; }
for port in 7320 7330; do
  sleep 1
  m=$(lag $port); s=$(redis-cli -p $((port+1)) info replication | tr -d '\r' | awk -F: '/slave_repl_offset/{print $2}')
  echo "port $port: master offset $m, replica offset $s"
done
python3 - "${r[@]}" -- "${f[@]}" <<'PY'
import sys, statistics
a = sys.argv[1:]; i = a.index('--'); r = list(map(float, a[:i])); f = list(map(float, a[i+1:]))
print(f"median redis {statistics.median(r):.0f} ferrous {statistics.median(f):.0f} ratio {statistics.median(f)/statistics.median(r):.2f}")
PY
