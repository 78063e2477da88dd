#!/usr/bin/env bash
# Two redraft binaries beside each other and beside Redis 7, in one run: redis-benchmark against
# each in turn (the order alternates every round, so a noisy machine disturbs all alike), then
# the medians and the ratios. For measuring one change: build the server before and after it and
# pass both binaries.
#
#   benches/compare/ab.sh OLD_BINARY NEW_BINARY
#
# Environment: ROUNDS (5), TESTS (get; comma-separated: get,set), PIPELINES ("1 16"), FSYNC (no; Redis gets appendonly no,
# or appendfsync always for FSYNC=always), REQUESTS_P1 (100000), REQUESTS_P16 (1000000), VALUE_BYTES (16). The
# servers run on CPU 0 and redis-benchmark on CPU 1 when there are two CPUs. Loopback only.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 OLD_BINARY NEW_BINARY" >&2; exit 2; }
old=$(realpath "$1") new=$(realpath "$2")
rounds=${ROUNDS:-5} tests=${TESTS:-get} pipelines=${PIPELINES:-"1 16"} fsync=${FSYNC:-no}
requests_p1=${REQUESTS_P1:-100000} requests_p16=${REQUESTS_P16:-1000000} value_bytes=${VALUE_BYTES:-16}
# redis-benchmark takes its tests comma-separated, and prints nothing for a list it does not read.
[[ "$tests" =~ ^[a-z0-9_]+(,[a-z0-9_]+)*$ ]] ||
    { echo "ab: TESTS must be comma-separated names, as redis-benchmark -t takes them (get,set): '$tests'" >&2; exit 2; }
cd "$(dirname "$0")/../.."
source benches/compare/common.sh
require ab redis-server redis-benchmark redis-cli python3

declare -A port
for name in old new; do
    binary=$old; [ "$name" = new ] && binary=$new
    port[$name]=$(free_port)
    "${server_cpu[@]}" "$binary" --data-dir "$work/$name" --resp-addr "127.0.0.1:${port[$name]}" --http-addr "" \
        --raft-addr "127.0.0.1:$(free_port)" --fsync "$fsync" --log-level warn >"$work/$name.log" 2>&1 &
    track $!
    wait_ping "${port[$name]}"
done
port[redis]=$(free_port)
aof=(--appendonly no)
[ "$fsync" = always ] && aof=(--appendonly yes --appendfsync always)
mkdir -p "$work/redis"
"${server_cpu[@]}" redis-server --port "${port[redis]}" --bind 127.0.0.1 --save "" --dir "$work/redis" "${aof[@]}" \
    >"$work/redis.log" 2>&1 &
track $!
wait_ping "${port[redis]}"

results="$work/results.csv"
for round in $(seq "$rounds"); do
    order="old new redis"
    [ $((round % 2)) -eq 0 ] && order="new old redis"
    for pipeline in $pipelines; do
        n=$requests_p1
        [ "$pipeline" -gt 1 ] && n=$requests_p16
        for name in $order; do
            "${client_cpu[@]}" redis-benchmark -p "${port[$name]}" -t "$tests" -n "$n" -c 50 -P "$pipeline" -d "$value_bytes" \
                -r 100000 --csv 2>/dev/null |
                awk -F, -v s="$name" -v p="$pipeline" 'NR > 1 { gsub(/"/, ""); print s "," p "," $1 "," $2 }' |
                tee -a "$results"
        done
    done
done

echo
echo "medians over $rounds rounds (requests/s), fsync $fsync; $(nproc) CPUs"
python3 - "$results" <<'PY'
import csv, statistics, sys
groups = {}
for name, pipeline, test, rps in csv.reader(open(sys.argv[1])):
    groups.setdefault((pipeline, test, name), []).append(float(rps))
print(f"{'P':>3} {'test':5} {'old':>10} {'new':>10} {'redis':>10} {'new/old':>8} {'new/redis':>10}")
for pipeline, test in sorted({(p, t) for p, t, _ in groups}, key=lambda k: (int(k[0]), k[1])):
    old, new, redis = (statistics.median(groups[(pipeline, test, n)]) for n in ("old", "new", "redis"))
    print(f"{pipeline:>3} {test:5} {old:10.0f} {new:10.0f} {redis:10.0f} {new / old:8.2f} {new / redis:10.2f}")
PY
