# Shell helpers shared by tools/bench.sh, tools/bench_custom.sh and tools/memory.sh.
# Source it after setting WORK (a scratch directory holding the servers' <name>.log files).

# A loopback port nobody listens on, from a random start so parallel runs rarely collide.
free_port() {
    local p=$(( 20000 + RANDOM % 20000 ))
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
