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
# PIPELINE (16), CLIENTS (10), VALUE_SIZE (16), TOP (25). The profile is kept in
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
source benches/compare/common.sh
require callgrind valgrind callgrind_annotate redis-benchmark redis-cli python3
port=$(free_port)
if [ "$system" = redis ]; then
    require callgrind redis-server
    valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" --instr-atstart=no \
        redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
        >>"$work/server.log" 2>&1 &
else
    cargo build --release -q -p redraft-server
    valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" --instr-atstart=no \
        target/release/redraft-server --data-dir "$work/data" --resp-addr "127.0.0.1:$port" --http-addr "" \
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
total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}')
echo "callgrind: $system $test, $requests requests, -P $pipeline, -c $clients, -d $value_size"
python3 - "$total" "$requests" <<'EOF'
import sys
total, requests = int(sys.argv[1]), int(sys.argv[2])
print(f"instructions: {total:,} in all, {total / requests:,.0f} per request")
EOF
echo
echo "== by own cost (top $top) =="
callgrind_annotate --threshold=100 "$out" 2>/dev/null | sed -n '/Ir.*file:function/,$p' | sed -n "2,$((top + 1))p"
echo
echo "== inclusive (top $top) =="
callgrind_annotate --inclusive=yes --threshold=100 "$out" 2>/dev/null |
    sed -n '/Ir.*file:function/,$p' | sed -n "2,$((top + 1))p"
