# Shell helpers shared by tools/bench.sh, tools/bench_custom.sh and tools/memory.sh.
# Source it after setting WORK (a scratch directory holding the servers' <name>.log files).

# A loopback port nobody listens on, from a random start so parallel runs rarely collide.
# Below Linux's ephemeral range (32768-60999): a port there can be the local end of a client
# connection (redis-benchmark opens 50), which nobody listens on but a server cannot bind.
free_port() {
    local p=$(( 20000 + RANDOM % 12000 ))
    while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || [[ " ${USED_PORTS:-} " == *" $p "* ]]; do
        p=$(( p + 1 ))
    done
    USED_PORTS="${USED_PORTS:-} $p"
    echo "$p"
}

# Waits until the server on port $1 (pid $2, log $WORK/$3.log) answers PING.
wait_ready() { # port pid name
    for _ in $(seq 1 200); do
        if [[ $(redis-cli -p "$1" ping 2>/dev/null) == PONG ]]; then return 0; fi
        kill -0 "$2" 2>/dev/null || { echo "$3 exited during start-up; its log:" >&2; cat "$WORK/$3.log" >&2; exit 1; }
        sleep 0.05
    done
    echo "$3 did not answer PING on port $1" >&2
    exit 1
}

# Starts redis-server and $FERROUS_BIN (plus the words of $1 as options) on two free loopback
# ports, without persistence, logging to $WORK/redis.log and $WORK/ferrous.log, and waits for
# both. Sets REDIS_PORT, FERROUS_PORT, REDIS_PID, FERROUS_PID and appends the pids to PIDS.
start_servers() { # ferrous-args
    REDIS_PORT=$(free_port)
    FERROUS_PORT=$(free_port)
    (cd "$WORK" && exec redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize no --logfile "$WORK/redis.log") &
    REDIS_PID=$!
    PIDS+=("$REDIS_PID")
    # shellcheck disable=SC2086 # the options are a list of words on purpose
    (cd "$WORK" && exec "$FERROUS_BIN" --port "$FERROUS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --logfile "$WORK/ferrous.log" $1) &
    FERROUS_PID=$!
    PIDS+=("$FERROUS_PID")
    wait_ready "$REDIS_PORT" "$REDIS_PID" redis
    wait_ready "$FERROUS_PORT" "$FERROUS_PID" ferrous
}
