#!/usr/bin/env bash
# redraft's HTTP key API beside etcd's JSON gateway, measured in one run with one load generator
# (wrk, with benches/compare/wrk/kv.lua for both): PUT and linearizable GET on random keys out of
# KEYS, 50 connections, against 1 and then 3 members of each, on loopback. redraft writes with
# --fsync always, as etcd syncs every commit. Each cluster is prefilled with every key; within a
# round the two alternate (A B A B) so that a noisy machine disturbs both alike. Requests go to
# each cluster's leader. Prints every run, then the medians, the ratio redraft / etcd, and both
# p99 latencies. It asserts nothing about speed.
#
# Environment: ROUNDS (default 2), DURATION (seconds per run, 10), KEYS (10000), VALUE_BYTES (256),
# CONNECTIONS (50).
# Needs etcd, wrk, curl and python3 (apt-get install etcd-server wrk curl).
set -euo pipefail
cd "$(dirname "$0")/../.."

rounds=${ROUNDS:-2}
duration=${DURATION:-10}
keys=${KEYS:-10000}
value_bytes=${VALUE_BYTES:-256}
connections=${CONNECTIONS:-50}
source benches/compare/common.sh
for tool in etcd wrk curl python3; do
    command -v "$tool" >/dev/null || { echo "etcd_http: $tool is missing (apt-get install etcd-server wrk curl)" >&2; exit 2; }
done
cargo build --release -q -p redraft-server
script=benches/compare/wrk/kv.lua

json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)" 2>/dev/null || true; }

start_redraft() { # members -> the leader's HTTP address
    local n=$1 peers="" resp=() raft=() http=()
    for i in $(seq "$n"); do
        resp[$i]=$(free_port); raft[$i]=$(free_port); http[$i]=$(free_port)
        peers+="${peers:+,}$i=127.0.0.1:${raft[$i]}/127.0.0.1:${resp[$i]}"
    done
    [ "$n" -eq 1 ] && peers=""
    for i in $(seq "$n"); do
        "${server_cpu[@]}" target/release/redraft-server --node-id "$i" --data-dir "$work/r$n-$RANDOM-$i" \
            --http-addr "127.0.0.1:${http[$i]}" --resp-addr "127.0.0.1:${resp[$i]}" \
            --raft-addr "127.0.0.1:${raft[$i]}" ${peers:+--peers "$peers"} --fsync always \
            --log-level error >>"$work/redraft.log" 2>&1 &
        track $!
    done
    for _ in $(seq 400); do
        local leader
        leader=$(curl -s "127.0.0.1:${http[1]}/readyz" | json_field '["leader"]')
        if [ -n "$leader" ] && [ "$leader" != None ] && curl -sf "127.0.0.1:${http[$leader]}/readyz" >/dev/null; then
            echo "127.0.0.1:${http[$leader]}"
            return 0
        fi
        sleep 0.05
    done
    echo "etcd_http: redraft elected no leader; its log ends:" >&2
    tail -n 20 "$work/redraft.log" >&2
    exit 1
}

start_etcd() { # members -> the leader's client address
    local n=$1 cluster="" client=() peer=()
    for i in $(seq "$n"); do
        client[$i]=$(free_port); peer[$i]=$(free_port)
        cluster+="${cluster:+,}m$i=http://127.0.0.1:${peer[$i]}"
    done
    for i in $(seq "$n"); do
        "${server_cpu[@]}" etcd --name "m$i" --data-dir "$work/e$n-$RANDOM-$i" \
            --listen-client-urls "http://127.0.0.1:${client[$i]}" --advertise-client-urls "http://127.0.0.1:${client[$i]}" \
            --listen-peer-urls "http://127.0.0.1:${peer[$i]}" --initial-advertise-peer-urls "http://127.0.0.1:${peer[$i]}" \
            --initial-cluster "$cluster" --initial-cluster-state new --log-level error >>"$work/etcd.log" 2>&1 &
        track $!
    done
    for _ in $(seq 400); do
        for i in $(seq "$n"); do
            local status
            status=$(curl -s -XPOST "127.0.0.1:${client[$i]}/v3/maintenance/status" -d '{}')
            if [ -n "$status" ] && [ "$(echo "$status" | json_field '["leader"]')" = "$(echo "$status" | json_field '["header"]["member_id"]')" ]; then
                echo "127.0.0.1:${client[$i]}"
                return 0
            fi
        done
        sleep 0.05
    done
    echo "etcd_http: etcd elected no leader; its log ends:" >&2
    tail -n 20 "$work/etcd.log" >&2
    exit 1
}

prefill() { # redraft_addr etcd_addr: every key, in batches (etcd's transactions hold 128 at most)
    python3 - "$1" "$2" "$keys" "$value_bytes" <<'PY'
import base64, json, sys, urllib.request
redraft, etcd, keys, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
value = "v" * size
b64 = lambda s: base64.b64encode(s.encode()).decode()
def post(url, body, method="POST"):
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method=method)
    urllib.request.urlopen(request).read()
for first in range(1, keys + 1, 100):
    batch = range(first, min(first + 100, keys + 1))
    post(f"http://{redraft}/v1/batch", {"ops": [{"put": {"key": f"bench/{i}", "value": value}} for i in batch]})
    put = lambda i: {"requestPut": {"key": b64(f"bench/{i}"), "value": b64(value)}}
    post(f"http://{etcd}/v3/kv/txn", {"success": [put(i) for i in batch]})
PY
}

results="$work/results.csv"
echo "members,op,side,rps,p99_ms" >"$results"
run() { # members op side address
    local out
    out=$("${client_cpu[@]}" wrk -t 2 -c "$connections" -d "${duration}s" --latency -s "$script" "http://$4" -- "$3" "$2" "$keys" "$value_bytes")
    local rps p99 errors
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}')
    errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}')
    [ -n "$errors" ] && echo "  ($3 $2: $errors)" >&2
    echo "$1,$2,$3,$rps,$p99" | tee -a "$results"
}

for members in 1 3; do
    echo "$members member(s): starting redraft and etcd" >&2
    redraft=$(start_redraft "$members")
    etcd=$(start_etcd "$members")
    prefill "$redraft" "$etcd"
    for round in $(seq "$rounds"); do
        for op in put get; do
            run "$members" "$op" redraft "$redraft"
            run "$members" "$op" etcd "$etcd"
        done
    done
    stop_all
done

echo
echo "medians over $rounds rounds of ${duration}s, $connections connections, $value_bytes-byte values, $keys keys:"
python3 - "$results" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
def median(members, op, side, field):
    values = [float(r[field]) for r in rows if (r["members"], r["op"], r["side"]) == (members, op, side) and r[field]]
    return statistics.median(values) if values else float("nan")
print("| members | op | redraft req/s | etcd req/s | redraft / etcd | redraft p99 ms | etcd p99 ms |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for members in ("1", "3"):
    for op in ("put", "get"):
        r, e = median(members, op, "redraft", "rps"), median(members, op, "etcd", "rps")
        rp, ep = median(members, op, "redraft", "p99_ms"), median(members, op, "etcd", "p99_ms")
        print(f"| {members} | {op} | {r:,.0f} | {e:,.0f} | {r / e:.2f} | {rp:.1f} | {ep:.1f} |")
PY
