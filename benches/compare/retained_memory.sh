#!/usr/bin/env bash
# Memory kept by the few survivors of many writes, in redraft and in Redis side by side: KEYS
# SETs of VALUE_SIZE-byte values, sent 15 to a write as a pipelining client sends them; then
# every key deleted but one in 15; then 120,000 SETs of one tiny key, which roll redraft's watch
# history (its last 100,000 changes) past the big writes. Prints each server's used_memory and
# resident memory after the SETs and at the end, beside what the surviving values hold, and
# redraft's own accounts of its keys, its Raft log cache and its watch history.
#
# A value redraft keeps as a shared buffer must not be a slice of the read buffer it arrived in:
# the survivors would keep every such buffer alive (see `copied_on_arrival` in
# core/src/stored_key.rs). Loopback only; prints figures and asserts nothing about them.
# Environment: KEYS (60000), VALUE_SIZE (1000). Needs redis-server, redis-cli and python3.
set -euo pipefail
cd "$(dirname "$0")/../.."

keys=${KEYS:-60000}
value_size=${VALUE_SIZE:-1000}
source benches/compare/common.sh
require retained_memory redis-server redis-cli python3
cargo build --release -q -p redraft-server

# run PORT PID NAME: the workload against the server on PORT, whose process is PID.
run() {
    python3 - "$1" "$2" "$3" "$keys" "$value_size" <<'PY'
import re, socket, sys, time
port, pid, name, n, size = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
sock = socket.create_connection(("127.0.0.1", port))
def command(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out
def send(commands):
    # Every reply here is one line (+OK or :1).
    sock.sendall(b"".join(commands))
    got = b""
    while got.count(b"\r\n") < len(commands):
        got += sock.recv(1 << 20)
def figures():
    time.sleep(12)  # freed pages go back to the system after the allocators' decay time
    sock.sendall(command("INFO", "memory"))
    info = b""
    while b"used_memory:" not in info or not info.endswith(b"\r\n"):
        info += sock.recv(1 << 16)
    used = int(re.search(rb"used_memory:(\d+)", info).group(1)) >> 20
    rss = int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{pid}/status").read()).group(1)) >> 10
    parts = [f"used_memory {used:4d} MB, RSS {rss:4d} MB"]
    # redraft's own accounting: the keys, the Raft log's cache, the watch history.
    for field in (b"used_memory_dataset", b"used_memory_log_cache", b"used_memory_watch_history"):
        found = re.search(field + rb":(\d+)", info)
        if found:
            parts.append(f"{field.decode()[12:]} {int(found.group(1)) >> 20} MB")
    return ", ".join(parts)
value = b"v" * size
for first in range(0, n, 15):
    send([command("SET", "key:%d" % i, value) for i in range(first, min(n, first + 15))])
print(f"{name:8s} after {n} SETs of {size} bytes:      {figures()}")
doomed = [i for i in range(n) if i % 15]
for first in range(0, len(doomed), 100):
    send([command("DEL", "key:%d" % i) for i in doomed[first:first + 100]])
for _ in range(1200):
    send([command("SET", "tiny", "x")] * 100)
kept = (n - len(doomed)) * size >> 20
print(f"{name:8s} with {n - len(doomed)} keys left ({kept} MB of values): {figures()}")
PY
}

port=$(free_port)
"${server_cpu[@]}" target/release/redraft-server --data-dir "$work/redraft" --resp-addr "127.0.0.1:$port" \
    --http-addr "" --raft-addr "127.0.0.1:$(free_port)" --fsync no --log-level warn >>"$work/redraft.log" 2>&1 &
track $!
wait_ping "$port"
run "$port" $! redraft
stop_all
port=$(free_port)
"${server_cpu[@]}" redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
    >>"$work/redis.log" 2>&1 &
track $!
wait_ping "$port"
run "$port" $! redis
