# Sourced by the comparison scripts beside it: a scratch directory and the servers started in it,
# both gone when the script ends however it ends; the tools it needs; CPU pinning (servers on
# CPU 0, the load generator on CPU 1, when there are two CPUs); free loopback ports; waiting for a
# server's PONG. Loopback only.

work=$(mktemp -d)
# The servers started so far, one pid per line: a file, not a variable, because servers are
# started inside command substitutions (`port=$(start_server)`), whose variables do not come back.
touch "$work/pids"
track() { echo "$1" >>"$work/pids"; }
# Stops every server started so far (a script may start a new set afterwards) and waits for each
# to exit.
stop_all() {
    local pid
    while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$work/pids"
    while read -r pid; do
        while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    done <"$work/pids"
    : >"$work/pids"
}
trap 'stop_all; rm -rf "$work"' EXIT INT TERM

# require NAME TOOL...: exits 2 naming the first tool missing.
require() {
    local name=$1
    shift
    for tool in "$@"; do
        command -v "$tool" >/dev/null ||
            { echo "$name: $tool is missing (apt-get install redis-server redis-tools)" >&2; exit 2; }
    done
}

server_cpu=() client_cpu=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    server_cpu=(taskset -c 0) client_cpu=(taskset -c 1)
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ping() {
    for _ in $(seq 200); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
    echo "no PONG on port $1" >&2
    exit 1
}
