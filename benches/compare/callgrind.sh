#!/usr/bin/env bash
# Where the RESP path spends its instructions: runs a release redraft-server (`--fsync no`, one
# node) under valgrind's callgrind, sends it REQUESTS pipelined requests with redis-benchmark,
# stops it, and prints the functions that cost the most instructions, by their own cost and by
# everything they call (inclusive), per request. Instruction counts repeat from run to run on a
# noisy machine, where timings do not; compare two builds by running this on each.
#
# Usage: benches/compare/callgrind.sh [set|get] [redraft|redis] (default set, redraft): `redis`
# profiles redis-server (`appendonly no`) under the same load, for the instructions per request
# beside redraft's. Environment: REQUESTS (200000),
# PIPELINE (16), CLIENTS (10), VALUE_SIZE (16), TOP (25), BIN (a redraft-server binary to
# profile instead of building this checkout's, e.g. a copy of an older build), CACHE_SIM (1:
# also simulate the caches, and print the misses of the last level per request: a repeatable
# measure of memory traffic, where timings are not). The profile is kept in
# target/callgrind-SYSTEM-TEST.out for callgrind_annotate. Needs valgrind, redis-benchmark,
# redis-cli (apt-get install valgrind redis-tools).
set -euo pipefail
cd "$(dirname "$0")/../.."

test=${1:-set}
system=${2:-redraft}
requests=${REQUESTS:-200000}
pipeline=${PIPELINE:-16}
clients=${CLIENTS:-10}
value_size=${VALUE_SIZE:-16}
top=${TOP:-25}
cache_sim=()
[ "${CACHE_SIM:-0}" = 1 ] && cache_sim=(--cache-sim=yes)
source benches/compare/common.sh
require callgrind valgrind callgrind_annotate redis-benchmark redis-cli python3
port=$(free_port)
if [ "$system" = redis ]; then
    require callgrind redis-server
    valgrind --tool=callgrind "${cache_sim[@]}" --callgrind-out-file="$work/callgrind.out" --instr-atstart=no \
        redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
        >>"$work/server.log" 2>&1 &
else
    bin=${BIN:-}
    if [ -z "$bin" ]; then
        cargo build --release -q -p redraft-server
        bin=target/release/redraft-server
    fi
    valgrind --tool=callgrind "${cache_sim[@]}" --callgrind-out-file="$work/callgrind.out" --instr-atstart=no \
        "$bin" --data-dir "$work/data" --resp-addr "127.0.0.1:$port" --http-addr "" \
        --raft-addr "127.0.0.1:$(free_port)" --fsync no --log-level warn >>"$work/server.log" 2>&1 &
fi
server=$!
track $server
for _ in $(seq 600); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
if [ "$test" = get ]; then
    # The keys GET reads, written first (their cost is in the profile too, and printed apart).
    redis-benchmark -p "$port" -t set -n "$requests" -P "$pipeline" -c "$clients" -d "$value_size" \
        -r 100000 -q >/dev/null
fi
# Instrumentation starts here: start-up and the keys for GET run uninstrumented.
callgrind_control --instr=on "$server" >/dev/null
redis-benchmark -p "$port" -t "$test" -n "$requests" -P "$pipeline" -c "$clients" -d "$value_size" \
    -r 100000 -q | tr '\r' '\n' | grep -v '^ *$' | tail -1
# And ends here: a shutdown's teardown (redraft drops its map, Redis exits without freeing its
# dataset) is no request's cost.
callgrind_control --instr=off "$server" >/dev/null
kill -INT "$server"
while kill -0 "$server" 2>/dev/null; do sleep 0.1; done
# The profile after the zeroing is the last dump written.
out=target/callgrind-$system-$test.out
cp "$(ls -t "$work"/callgrind.out* | head -1)" "$out"
echo "profile kept in $out (callgrind_annotate $out)"
summary=$(callgrind_annotate "$out" 2>/dev/null | grep -E '^Events shown:|PROGRAM TOTALS' | head -2)
echo "callgrind: $system $test, $requests requests, -P $pipeline, -c $clients, -d $value_size"
python3 - "$requests" "$summary" <<'EOF'
import sys
requests, summary = int(sys.argv[1]), sys.argv[2].splitlines()
events = summary[0].split(":", 1)[1].split()
counts = [int(c.replace(",", "")) for c in summary[1].split() if c.replace(",", "").isdigit()][: len(events)]
total = dict(zip(events, counts))
print(f"instructions: {total['Ir']:,} in all, {total['Ir'] / requests:,.0f} per request")
if "DLmr" in total:
    # Misses of the simulated caches, first level and last, by data reads and writes (a write
    # that misses fetches its line first).
    for level in ("1", "L"):
        print(f"level {level} data misses per request: {total[f'D{level}mr'] / requests:.2f} reads, "
              f"{total[f'D{level}mw'] / requests:.2f} writes")
EOF
echo
echo "== by own cost (top $top) =="
callgrind_annotate --threshold=100 "$out" 2>/dev/null | sed -n '/Ir.*file:function/,$p' | sed -n "2,$((top + 1))p"
echo
echo "== inclusive (top $top) =="
callgrind_annotate --inclusive=yes --threshold=100 "$out" 2>/dev/null |
    sed -n '/Ir.*file:function/,$p' | sed -n "2,$((top + 1))p"
