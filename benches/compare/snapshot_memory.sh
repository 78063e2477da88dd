#!/usr/bin/env bash
# What a snapshot of KEYS keys costs a running node (16-byte keys, 16-byte values, loaded with
# `redis-cli --pipe`): its resident memory before SAVE and at its peak during SAVE (sampled every
# 2 ms from /proc), how long SAVE takes, and the slowest SET a probe client saw in the second
# before SAVE and during it (the apply path's pause). A write load (redis-benchmark, SET of the
# same keys at random, 16-byte values) runs throughout, so that the snapshot is taken while its
# keys are overwritten.
#
# With BASELINE=/path/to/redraft-server (another build, e.g. of an older commit), the two builds
# alternate (A B A B ...) and the script prints both and the ratios; otherwise it measures this
# build alone. Loopback only; prints figures and asserts nothing about them.
#
# Environment: KEYS (1000000), ROUNDS (2), BASELINE (unset).
# Needs redis-benchmark and redis-cli (apt-get install redis-tools).
set -euo pipefail
cd "$(dirname "$0")/../.."

keys=${KEYS:-1000000}
rounds=${ROUNDS:-2}
source benches/compare/common.sh
require snapshot_memory redis-benchmark redis-cli python3
cargo build --release -q -p redraft-server
builds=("target/release/redraft-server")
[ -n "${BASELINE:-}" ] && builds+=("$BASELINE")

python3 - "$keys" >"$work/load.resp" <<'PY'
import sys
out = sys.stdout.buffer
for i in range(int(sys.argv[1])):
    key, value = b"key:%012d" % i, b"value:%010d" % i
    out.write(b"*3\r\n$3\r\nSET\r\n$16\r\n" + key + b"\r\n$16\r\n" + value + b"\r\n")
PY

# Samples the resident memory of pid $1 every 2 ms and, on a RESP connection to port $2, times a
# SET after another; prints "peak_rss_mb max_set_ms_before max_set_ms_during save_s" once SAVE
# (sent on another connection when the probe has run for a second) has answered.
measure() {
    python3 - "$1" "$2" <<'PY'
import socket, sys, threading, time
pid, port = sys.argv[1], int(sys.argv[2])
def rss_kib():
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
def connect():
    s = socket.create_connection(("127.0.0.1", port)); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1); return s
def call(s, *args):
    s.sendall(b"".join([b"*%d\r\n" % len(args)] + [b"$%d\r\n%s\r\n" % (len(a), a) for a in args]))
    reply = b""
    while not reply.endswith(b"\r\n"):
        reply += s.recv(4096)
    return reply
done, saving = threading.Event(), threading.Event()
peak = [rss_kib()]
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], rss_kib()); time.sleep(0.002)
worst = {"before": 0.0, "during": 0.0}
def probe():
    s = connect()
    while not done.is_set():
        start = time.perf_counter(); call(s, b"SET", b"probe", b"x")
        phase = "during" if saving.is_set() else "before"
        worst[phase] = max(worst[phase], time.perf_counter() - start)
        time.sleep(0.001)
threads = [threading.Thread(target=sample), threading.Thread(target=probe)]
for t in threads: t.start()
time.sleep(1)
saver = connect(); saving.set(); start = time.perf_counter()
reply = call(saver, b"SAVE"); save_s = time.perf_counter() - start
done.set()
for t in threads: t.join()
assert reply == b"+OK\r\n", reply
print(f"{peak[0] / 1024:.1f} {worst['before'] * 1000:.1f} {worst['during'] * 1000:.1f} {save_s:.2f}")
PY
}

results="$work/results.csv"
echo "build,rss_before_mb,rss_peak_mb,peak_ratio,max_set_ms_before,max_set_ms_during,save_s" >"$results"
for round in $(seq "$rounds"); do
    for build in "${builds[@]}"; do
        dir="$work/data-$round-$(basename "$(dirname "$(dirname "$build")")")"
        port=$(free_port)
        "${server_cpu[@]}" "$build" --data-dir "$dir" --resp-addr "127.0.0.1:$port" --http-addr "" \
            --raft-addr "127.0.0.1:$(free_port)" --fsync no --log-level warn >>"$work/redraft.log" 2>&1 &
        pid=$!
        track "$pid"
        wait_ping "$port"
        redis-cli -p "$port" --pipe <"$work/load.resp" >/dev/null
        [ "$(redis-cli -p "$port" DBSIZE)" = "$keys" ] || { echo "the load did not store $keys keys" >&2; exit 1; }
        "${client_cpu[@]}" redis-benchmark -p "$port" -t set -r "$keys" -d 16 -c 4 -n 100000000 -q >/dev/null 2>&1 &
        load=$!
        sleep 3
        before=$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")
        read -r peak set_before set_during save_s < <(measure "$pid" "$port")
        kill "$load"; wait "$load" 2>/dev/null || true
        ratio=$(python3 -c "print(f'{$peak / $before:.2f}')")
        echo "$build,$before,$peak,$ratio,$set_before,$set_during,$save_s" | tee -a "$results"
        stop_all
        rm -rf "$dir"
    done
done

python3 - "$results" "${builds[@]}" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
fields = ["rss_before_mb", "rss_peak_mb", "peak_ratio", "max_set_ms_before", "max_set_ms_during", "save_s"]
print(f"\nmedians over rounds ({len(rows) // len(sys.argv[2:])} each):")
print(f"{'build':40} " + " ".join(f"{f:>17}" for f in fields))
medians = {}
for build in sys.argv[2:]:
    mine = [r for r in rows if r["build"] == build]
    medians[build] = [statistics.median(float(r[f]) for r in mine) for f in fields]
    print(f"{build[-40:]:40} " + " ".join(f"{m:17.2f}" for m in medians[build]))
if len(sys.argv) > 3:
    a, b = medians[sys.argv[2]], medians[sys.argv[3]]
    print(f"{'ratio (this build / baseline)':40} " + " ".join(f"{x / y if y else float('nan'):17.2f}" for x, y in zip(a, b)))
PY
