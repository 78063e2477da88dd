#!/usr/bin/env bash
# redraft as one node beside redraft as three nodes, measured in one run with redis-benchmark:
# SET and GET, pipelines of 1 and 16, 50 clients, against the single node, the cluster's leader,
# and one of its followers (which forwards writes and asks the leader for a read index). The
# setups alternate (A B A B ...) so that a shared, noisy machine disturbs them alike. Prints
# every run and then the medians.
#
# Environment: ROUNDS (default 2), REQUESTS_P1 (50000), REQUESTS_P16 (300000), VALUE_BYTES (16),
# FSYNC (always).
# Needs redis-benchmark and redis-cli (apt-get install redis-tools).
set -euo pipefail
cd "$(dirname "$0")/../.."

rounds=${ROUNDS:-2}
requests_p1=${REQUESTS_P1:-50000}
requests_p16=${REQUESTS_P16:-300000}
value_bytes=${VALUE_BYTES:-16}
fsync=${FSYNC:-always}
source benches/compare/common.sh
require cluster redis-benchmark redis-cli python3
cargo build --release -q -p redraft-server
# Empty while the node does not answer yet (and never an error, which set -e would end on).
info_field() { { redis-cli -p "$1" RAFT.INFO 2>/dev/null || true; } | tr -d '\r' | sed -n "s/^$2://p"; }

start_cluster() { # nodes -> "leader_port follower_port" (follower empty for one node)
    local n=$1 peers="" resp=() raft=()
    for i in $(seq "$n"); do
        resp[$i]=$(free_port); raft[$i]=$(free_port)
        peers+="${peers:+,}$i=127.0.0.1:${raft[$i]}/127.0.0.1:${resp[$i]}"
    done
    [ "$n" -eq 1 ] && peers=""
    for i in $(seq "$n"); do
        target/release/redraft-server --node-id "$i" --data-dir "$work/c$n-$RANDOM-$i" --http-addr "" \
            --resp-addr "127.0.0.1:${resp[$i]}" --raft-addr "127.0.0.1:${raft[$i]}" ${peers:+--peers "$peers"} \
            --fsync "$fsync" --log-level error >>"$work/server.log" 2>&1 &
        track $!
    done
    for _ in $(seq 200); do
        local leader
        leader=$(info_field "${resp[1]}" leader)
        if [ -n "$leader" ] && [ "$leader" != none ] && [ "$(info_field "${resp[$leader]}" role)" = leader ]; then
            local follower=""
            for i in $(seq "$n"); do [ "$i" != "$leader" ] && follower=${resp[$i]} && break; done
            echo "${resp[$leader]} $follower"
            return 0
        fi
        sleep 0.05
    done
    echo "cluster: no leader among $n nodes; the servers' log ends:" >&2
    tail -n 20 "$work/server.log" >&2
    exit 1
}

results="$work/results.csv"
echo "setup,pipeline,test,rps" >"$results"
bench() { # setup port pipeline
    local n=$requests_p1
    [ "$3" -gt 1 ] && n=$requests_p16
    redis-benchmark -p "$2" -t set,get -n "$n" -c 50 -P "$3" -d "$value_bytes" -r 100000 --csv 2>/dev/null |
        tr -d '"' | awk -F, -v s="$1" -v p="$3" 'NR>1 {print s "," p "," $1 "," $2}' | tee -a "$results"
}

for round in $(seq "$rounds"); do
    echo "round $round: one node, fsync $fsync" >&2
    read -r single _ < <(start_cluster 1)
    bench "1 node" "$single" 1; bench "1 node" "$single" 16
    stop_all
    echo "round $round: three nodes, fsync $fsync" >&2
    read -r leader follower < <(start_cluster 3)
    bench "3 nodes leader" "$leader" 1; bench "3 nodes leader" "$leader" 16
    bench "3 nodes follower" "$follower" 1; bench "3 nodes follower" "$follower" 16
    stop_all
done

echo
echo "medians (requests/s), fsync $fsync, $rounds rounds:"
python3 - "$results" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
keys = sorted({(r["pipeline"], r["test"]) for r in rows}, key=lambda k: (int(k[0]), k[1]))
setups = ["1 node", "3 nodes leader", "3 nodes follower"]
print("| P | test | " + " | ".join(setups) + " |")
print("| --- | --- |" + " --- |" * len(setups))
for p, t in keys:
    cells = []
    for s in setups:
        v = [float(r["rps"]) for r in rows if (r["setup"], r["pipeline"], r["test"]) == (s, p, t)]
        cells.append(f"{statistics.median(v):,.0f}" if v else "-")
    print(f"| {p} | {t} | " + " | ".join(cells) + " |")
PY
