#!/usr/bin/env bash
# Where the HTTP key API spends its instructions: runs a release redraft-server (one node,
# `--fsync always`, as benches/compare/etcd_http.sh runs it) under valgrind's callgrind, loads it
# with wrk and benches/compare/wrk/kv.lua (the same requests as the etcd comparison: PUT or GET
# of 256-byte values on random keys out of 10,000), stops it, and prints the instructions per
# request and the functions that cost the most. A warm-up run fills the keys uninstrumented.
# Instruction counts repeat from run to run on a noisy machine, where timings do not; compare
# two builds by running this on each. Timers fire by the wall clock, which runs about fifty
# times slower under valgrind, so periodic duties weigh more per request here than they do.
#
# Usage: benches/compare/callgrind_http.sh [put|get] (default put). Environment: DURATION
# (seconds of instrumented load, 20), CONNECTIONS (50), TOP (25). The profile is kept in
# target/callgrind-http-OP.out for callgrind_annotate. Needs valgrind, wrk, curl and python3
# (apt-get install valgrind wrk curl).
set -euo pipefail
cd "$(dirname "$0")/../.."

op=${1:-put}
duration=${DURATION:-20}
connections=${CONNECTIONS:-50}
top=${TOP:-25}
source benches/compare/common.sh
for tool in valgrind callgrind_control callgrind_annotate wrk curl python3; do
    command -v "$tool" >/dev/null ||
        { echo "callgrind_http: $tool is missing (apt-get install valgrind wrk curl)" >&2; exit 2; }
done
cargo build --release -q -p redraft-server
http=127.0.0.1:$(free_port)
valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" --instr-atstart=no \
    target/release/redraft-server --data-dir "$work/data" --http-addr "$http" \
    --resp-addr "127.0.0.1:$(free_port)" --raft-addr "127.0.0.1:$(free_port)" --fsync always \
    --log-level warn >>"$work/server.log" 2>&1 &
server=$!
track $server
for _ in $(seq 600); do curl -sf "$http/readyz" >/dev/null && break; sleep 0.1; done
load() { wrk -t 1 -c "$connections" -d "$1" -s benches/compare/wrk/kv.lua "http://$http" -- redraft "$2" 10000 256; }
# Warm-up, uninstrumented: every key written once at least, as the etcd comparison prefills them.
load 5s put >/dev/null
callgrind_control --instr=on "$server" >/dev/null 2>&1
requests=$(load "${duration}s" "$op" | awk '/requests in/ {print $1}')
callgrind_control --instr=off "$server" >/dev/null 2>&1
kill -INT "$server"
while kill -0 "$server" 2>/dev/null; do sleep 0.1; done
out=target/callgrind-http-$op.out
cp "$(ls -t "$work"/callgrind.out* | head -1)" "$out"
echo "profile kept in $out (callgrind_annotate $out)"
total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}')
echo "callgrind: redraft HTTP $op, $requests requests in ${duration}s, $connections connections, 256-byte values, fsync always"
python3 -c "import sys; t, n = int(sys.argv[1]), int(sys.argv[2]); print(f'instructions: {t:,} in all, {t / n:,.0f} per request')" \
    "$total" "$requests"
echo
echo "== by own cost (top $top) =="
callgrind_annotate --threshold=100 "$out" 2>/dev/null | sed -n '/Ir.*file:function/,$p' | sed -n "2,$((top + 1))p"
