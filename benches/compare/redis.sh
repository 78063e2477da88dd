#!/usr/bin/env bash
# redraft beside Redis 7, measured in one run with redis-benchmark: SET and GET, pipelines of 1
# and 16, 50 clients, for redraft `--fsync no` beside Redis `appendonly no`, and redraft
# `--fsync always` beside Redis `appendonly yes, appendfsync always`. The two servers alternate
# (A B A B ...) so that a shared, noisy machine disturbs both alike; each server is pinned to CPU 0
# and redis-benchmark to CPU 1 when there are two CPUs. Prints every run and then the medians.
#
# Environment: ROUNDS (default 3), REQUESTS_P1 (100000), REQUESTS_P16 (1000000), VALUE_BYTES (16).
# Needs redis-server and redis-benchmark (apt-get install redis-server redis-tools).
set -euo pipefail
cd "$(dirname "$0")/../.."

rounds=${ROUNDS:-3}
requests_p1=${REQUESTS_P1:-100000}
requests_p16=${REQUESTS_P16:-1000000}
value_bytes=${VALUE_BYTES:-16}
source benches/compare/common.sh
require compare redis-server redis-benchmark redis-cli python3
cargo build --release -q -p redraft-server

start_redraft() { # fsync -> port
    local port dir
    port=$(free_port); dir="$work/redraft-$1-$port"
    "${server_cpu[@]}" target/release/redraft-server --data-dir "$dir" --resp-addr "127.0.0.1:$port" --http-addr "" --raft-addr "127.0.0.1:$(free_port)" \
        --fsync "$1" --log-level warn >"$work/redraft-$port.log" 2>&1 &
    pids+=($!)
    wait_ping "$port"; echo "$port"
}
start_redis() { # fsync -> port
    local port dir aof=(--appendonly no)
    port=$(free_port); dir="$work/redis-$1-$port"; mkdir -p "$dir"
    [ "$1" = always ] && aof=(--appendonly yes --appendfsync always)
    "${server_cpu[@]}" redis-server --port "$port" --bind 127.0.0.1 --save "" --dir "$dir" "${aof[@]}" \
        >"$work/redis-$port.log" 2>&1 &
    pids+=($!)
    wait_ping "$port"; echo "$port"
}

results="$work/results.csv"
echo "system,fsync,pipeline,test,rps" >"$results"
bench() { # system fsync port pipeline
    local n=$requests_p1
    [ "$4" -gt 1 ] && n=$requests_p16
    "${client_cpu[@]}" redis-benchmark -p "$3" -t set,get -n "$n" -c 50 -P "$4" -d "$value_bytes" -r 100000 --csv 2>/dev/null |
        awk -F, -v s="$1" -v f="$2" -v p="$4" 'NR > 1 { gsub(/"/, ""); print s "," f "," p "," $1 "," $2 }' |
        tee -a "$results"
}

for fsync in no always; do
    redraft_port=$(start_redraft "$fsync")
    redis_port=$(start_redis "$fsync")
    for round in $(seq "$rounds"); do
        for pipeline in 1 16; do
            bench redraft "$fsync" "$redraft_port" "$pipeline"
            bench redis "$fsync" "$redis_port" "$pipeline"
        done
    done
done

echo
echo "medians over $rounds rounds (requests/s; redraft/redis ratio); $(nproc) CPUs"
python3 - "$results" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
groups = {}
for r in rows:
    groups.setdefault((r["fsync"], r["pipeline"], r["test"], r["system"]), []).append(float(r["rps"]))
print(f"{'fsync':7} {'P':>3} {'test':5} {'redraft':>12} {'redis':>12} {'ratio':>6}")
for fsync in ["no", "always"]:
    for pipeline in ["1", "16"]:
        for test in ["SET", "GET"]:
            a = groups.get((fsync, pipeline, test, "redraft"))
            b = groups.get((fsync, pipeline, test, "redis"))
            if not a or not b:
                continue
            ma, mb = statistics.median(a), statistics.median(b)
            print(f"{fsync:7} {pipeline:>3} {test:5} {ma:12.0f} {mb:12.0f} {ma / mb:6.2f}")
PY
