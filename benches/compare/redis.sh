#!/usr/bin/env bash
# redraft beside Redis 7, measured in one run. Prints every run, then four tables:
#
# 1. Throughput (redis-benchmark, SET and GET, pipelines of 1 and 16, 50 clients, values of 16 and
#    256 bytes): redraft `--fsync no` beside Redis `appendonly no`, and redraft `--fsync always`
#    beside Redis `appendonly yes, appendfsync always`. Rows `no/aof` put redraft `--fsync no`
#    beside Redis `appendonly yes, appendfsync no`, the setting that makes Redis the same promise:
#    a write acknowledged survives the process being killed (it is in the kernel before the
#    reply; under `appendonly no` Redis keeps nothing written since its last RDB save).
# 2. A 3-node redraft cluster with fsync always (benchmarked through its leader) beside a single
#    Redis with appendfsync always, 16-byte values.
# 3. Memory for KEYS keys (12-byte keys, 16-byte values, loaded with `redis-cli --pipe`): the
#    resident set of each process just after the load and 10 s later (redraft's snapshot during
#    the load leaves freed memory that the allocator returns over a few seconds), and each one's
#    `used_memory` (INFO memory: the allocator's count).
# 4. Restart with those keys: from starting the process until it serves the last key written,
#    the median of RESTARTS restarts of each, alternating. Redis loads the RDB file written by
#    SAVE. redraft three times: as the load left it when stopped 10 s later (its snapshot, taken
#    when the log passed 16 MiB, and the log since, replayed), after a SAVE as Redis had (the
#    snapshot alone), and killed (SIGKILL) the moment the load's last reply came (a crash: the
#    log written since the last finished snapshot, up to 16 MiB and what came while one was
#    being built, replayed). Beside them, the writes each start replayed (the node logs them).
#
# The servers alternate (A B A B ...) so that a shared, noisy machine disturbs both alike; servers
# run on CPU 0 and redis-benchmark on CPU 1 when there are two CPUs (the cluster's three nodes
# share CPU 0). The script prints figures and asserts nothing about them.
#
# Environment: ROUNDS (3), REQUESTS_P1 (100000), REQUESTS_P16 (1000000), VALUE_SIZES ("16 256"),
# AOF_NO (1; 0 skips the no/aof rows), CLUSTER (1; 0 skips table 2), KEYS (1000000; 0 skips
# tables 3 and 4), RESTARTS (3).
# Needs redis-server, redis-benchmark and redis-cli (apt-get install redis-server redis-tools).
set -euo pipefail
cd "$(dirname "$0")/../.."

rounds=${ROUNDS:-3}
requests_p1=${REQUESTS_P1:-100000}
requests_p16=${REQUESTS_P16:-1000000}
value_sizes=${VALUE_SIZES:-"16 256"}
cluster=${CLUSTER:-1}
keys=${KEYS:-1000000}
fsync_modes="no always"
[ "${AOF_NO:-1}" != 0 ] && fsync_modes="no no/aof always"
restarts=${RESTARTS:-3}
source benches/compare/common.sh
require compare redis-server redis-benchmark redis-cli python3
cargo build --release -q -p redraft-server

start_redraft() { # fsync dir -> port
    local port fsync=${1%/aof}
    port=$(free_port)
    "${server_cpu[@]}" target/release/redraft-server --data-dir "$2" --resp-addr "127.0.0.1:$port" --http-addr "" --raft-addr "127.0.0.1:$(free_port)" \
        --fsync "$fsync" --log-level warn >>"$work/redraft.log" 2>&1 &
    track $!
    wait_ping "$port"; echo "$port"
}
start_redis() { # fsync dir -> port
    local port aof=(--appendonly no)
    port=$(free_port); mkdir -p "$2"
    [ "$1" = always ] && aof=(--appendonly yes --appendfsync always)
    [ "$1" = no/aof ] && aof=(--appendonly yes --appendfsync no)
    "${server_cpu[@]}" redis-server --port "$port" --bind 127.0.0.1 --save "" --dir "$2" "${aof[@]}" \
        >>"$work/redis.log" 2>&1 &
    track $!
    wait_ping "$port"; echo "$port"
}
# A 3-node cluster on loopback; prints its leader's RESP port.
start_cluster() {
    local peers="" resp=() raft=() leader
    for i in 1 2 3; do
        resp[$i]=$(free_port); raft[$i]=$(free_port)
        peers+="${peers:+,}$i=127.0.0.1:${raft[$i]}/127.0.0.1:${resp[$i]}"
    done
    for i in 1 2 3; do
        "${server_cpu[@]}" target/release/redraft-server --node-id "$i" --data-dir "$work/cluster-$RANDOM-$i" --http-addr "" \
            --resp-addr "127.0.0.1:${resp[$i]}" --raft-addr "127.0.0.1:${raft[$i]}" --peers "$peers" \
            --fsync always --log-level error >>"$work/cluster.log" 2>&1 &
        track $!
    done
    for _ in $(seq 200); do
        leader=$({ redis-cli -p "${resp[1]}" RAFT.INFO 2>/dev/null || true; } | tr -d '\r' | sed -n 's/^leader://p')
        if [ -n "$leader" ] && [ "$leader" != none ]; then
            wait_ping "${resp[$leader]}"; echo "${resp[$leader]}"; return 0
        fi
        sleep 0.05
    done
    echo "compare: the cluster elected no leader; its log ends:" >&2
    tail -n 20 "$work/cluster.log" >&2
    exit 1
}

results="$work/results.csv"
echo "system,fsync,bytes,pipeline,test,rps" >"$results"
bench() { # system fsync port pipeline bytes
    local n=$requests_p1
    [ "$4" -gt 1 ] && n=$requests_p16
    "${client_cpu[@]}" redis-benchmark -p "$3" -t set,get -n "$n" -c 50 -P "$4" -d "$5" -r 100000 --csv 2>/dev/null |
        awk -F, -v s="$1" -v f="$2" -v p="$4" -v b="$5" 'NR > 1 { gsub(/"/, ""); print s "," f "," b "," p "," $1 "," $2 }' |
        tee -a "$results"
}

for fsync in $fsync_modes; do
    redraft_port=$(start_redraft "$fsync" "$work/redraft-${fsync/\//-}")
    redis_port=$(start_redis "$fsync" "$work/redis-${fsync/\//-}")
    for round in $(seq "$rounds"); do
        for bytes in $value_sizes; do
            for pipeline in 1 16; do
                bench redraft "$fsync" "$redraft_port" "$pipeline" "$bytes"
                bench redis "$fsync" "$redis_port" "$pipeline" "$bytes"
            done
        done
    done
    stop_all
done

if [ "$cluster" != 0 ]; then
    leader_port=$(start_cluster)
    redis_port=$(start_redis always "$work/redis-cluster-peer")
    for round in $(seq "$rounds"); do
        for pipeline in 1 16; do
            bench "redraft 3 nodes" always "$leader_port" "$pipeline" 16
            # A label of its own: pooled with the main table's Redis rows, these would pair the
            # cluster with runs made in another phase, and the main table's Redis with these.
            bench "redis beside the cluster" always "$redis_port" "$pipeline" 16
        done
    done
    stop_all
fi

memory="$work/memory.csv"
echo "system,rss_mb,rss_settled_mb,used_memory_mb,restart_s,restart_saved_s,restart_killed_s" >"$memory"
if [ "$keys" != 0 ]; then
    # KEYS SETs of 12-byte keys and 16-byte values, as RESP, for redis-cli --pipe.
    python3 - "$keys" >"$work/load.resp" <<'PY'
import sys
out = sys.stdout.buffer
for i in range(int(sys.argv[1])):
    key, value = b"key:%08d" % i, b"value:%010d" % i
    out.write(b"*3\r\n$3\r\nSET\r\n$12\r\n" + key + b"\r\n$16\r\n" + value + b"\r\n")
PY
    last_key=$(printf 'key:%08d' $((keys - 1))) last_value=$(printf 'value:%010d' $((keys - 1)))
    rss_mb() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
    # INFO memory's used_memory: the allocator's count of allocated bytes, in both servers.
    used_memory_mb() { redis-cli -p "$1" INFO memory | tr -d '\r' | awk -F: '/^used_memory:/ { printf "%.1f", $2 / 1048576 }'; }
    # Seconds from $2 (a Unix time) until the server on port $1 answers GET of the last key with
    # its value. One process asks every millisecond on one connection, reconnecting while the
    # port is closed: a redis-cli started per try would add its own start-up to each step and
    # take CPU from the server starting. It runs on the client CPU.
    served_after() {
        "${client_cpu[@]}" python3 - "$1" "$2" "$last_key" "$last_value" <<'PY'
import socket, sys, time
port, start, key, value = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3].encode(), sys.argv[4].encode()
request = b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key), key)
expected = b"$%d\r\n%s\r\n" % (len(value), value)
deadline = time.time() + 60
while time.time() < deadline:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
            while time.time() < deadline:
                connection.sendall(request)
                reply = connection.recv(4096)
                if reply == expected:
                    print(f"{time.time() - start:.3f}")
                    sys.exit(0)
                if not reply:
                    break
                time.sleep(0.001)
    except OSError:
        time.sleep(0.001)
sys.exit(f"compare: the server on port {port} did not serve {key.decode()} within 60 s")
PY
    }
    now() { python3 -c 'import time; print(time.time())'; }
    # Seconds one restart by the launcher $1 takes to serve the last key (then it stops).
    # Both ports are found before the clock starts (finding one starts a Python).
    restart_once() {
        local port peer_port start seconds
        port=$(free_port) peer_port=$(free_port); start=$(now); "$1" "$port" "$peer_port"
        seconds=$(served_after "$port" "$start")
        stop_all
        echo "$seconds"
    }
    # SAVE on port $1, which must answer OK (an error would leave the "after SAVE" column measuring
    # something else).
    save() {
        local reply
        reply=$(redis-cli -p "$1" SAVE)
        [ "$reply" = OK ] || { echo "compare: SAVE on port $1 answered: $reply" >&2; exit 1; }
    }
    median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

    # Started by hand, not waited for: the wait is what is measured.
    # redraft snapshots once its log passes 16 MiB, so that like Redis after SAVE it restarts
    # from a snapshot (plus the log written since); the default (256 MiB) would replay the log.
    # The restarts run on a copy of the directory the load left, made anew before each
    # (`fresh_copy`), so that every restart starts from the same files.
    redraft_dir=$work/redraft-keys
    launch_redraft() { # port peer-port
        REDRAFT_SNAPSHOT_LOG_BYTES=16777216 "${server_cpu[@]}" target/release/redraft-server --data-dir "$redraft_dir" --resp-addr "127.0.0.1:$1" \
            --http-addr "" --raft-addr "127.0.0.1:$2" --fsync always --log-level info >>"$work/redraft.log" 2>&1 &
        track $!
    }
    # One restart of the kind $1 from a fresh copy of the directory $2, timed; the writes the
    # start replayed on top of its snapshot (the node logs them) go to $work/replayed-$1.
    restart_redraft() {
        local from
        from=$(($(wc -l <"$work/redraft.log") + 1))
        fresh_copy "$2"; restart_once launch_redraft >>"$work/restart-$1"
        tail -n +"$from" "$work/redraft.log" |
            sed -n 's/.*replaying the committed log entries=[0-9]* writes=\([0-9]*\).*/\1/p' >"$work/replayed-$1"
    }
    replayed() { local writes; writes=$(head -n 1 "$work/replayed-$1"); echo "${writes:-0}"; }
    # A fresh copy of the directory $1 for the next restart, written out before it starts (the
    # restart's own syncs would otherwise write the copy).
    fresh_copy() {
        rm -rf "$work/redraft-run" && cp -a "$1" "$work/redraft-run" && sync
        redraft_dir=$work/redraft-run
    }
    launch_redis() { # port
        mkdir -p "$work/redis-keys"
        "${server_cpu[@]}" redis-server --port "$1" --bind 127.0.0.1 --save "" --dir "$work/redis-keys" \
            --appendonly no >>"$work/redis.log" 2>&1 &
        track $!
    }

    port=$(free_port); launch_redraft "$port" "$(free_port)"; wait_ping "$port"
    redis-cli -p "$port" --pipe <"$work/load.resp" >/dev/null
    redraft_rss=$(rss_mb "$(tail -n 1 "$work/pids")")
    sleep 10
    redraft_settled=$(rss_mb "$(tail -n 1 "$work/pids")")
    redraft_used=$(used_memory_mb "$port")
    stop_all
    # The directory as the load left it, and beside it the same after a SAVE.
    cp -a "$work/redraft-keys" "$work/redraft-saved"
    redraft_dir=$work/redraft-saved
    port=$(free_port); start=$(now); launch_redraft "$port" "$(free_port)"; served_after "$port" "$start" >/dev/null
    save "$port"
    stop_all
    # The same load again, the process killed as soon as the last reply is in.
    redraft_dir=$work/redraft-killed
    port=$(free_port); launch_redraft "$port" "$(free_port)"; wait_ping "$port"
    redis-cli -p "$port" --pipe <"$work/load.resp" >/dev/null
    killed=$(tail -n 1 "$work/pids")
    kill -KILL "$killed"
    wait "$killed" 2>/dev/null || true
    stop_all

    port=$(free_port); launch_redis "$port"; wait_ping "$port"
    redis-cli -p "$port" --pipe <"$work/load.resp" >/dev/null
    redis_rss=$(rss_mb "$(tail -n 1 "$work/pids")")
    sleep 10
    redis_settled=$(rss_mb "$(tail -n 1 "$work/pids")")
    redis_used=$(used_memory_mb "$port")
    save "$port"
    stop_all

    # The three restarts in turn, RESTARTS times (A B C A B C: a noisy machine disturbs all alike).
    : >"$work/restart-auto" >"$work/restart-saved" >"$work/restart-killed" >"$work/restart-redis"
    for _ in $(seq "$restarts"); do
        restart_redraft auto "$work/redraft-keys"
        restart_redraft saved "$work/redraft-saved"
        restart_redraft killed "$work/redraft-killed"
        sync; restart_once launch_redis >>"$work/restart-redis"
    done
    echo "restarts (s): redraft $(tr '\n' ' ' <"$work/restart-auto")| redraft after SAVE $(tr '\n' ' ' <"$work/restart-saved")| redraft after kill -9 $(tr '\n' ' ' <"$work/restart-killed")| redis $(tr '\n' ' ' <"$work/restart-redis")"
    # The after-kill column moves with how much log no finished snapshot covered when the kill
    # came, which differs from run to run.
    echo "writes replayed at start: redraft $(replayed auto) | after SAVE $(replayed saved) | after kill -9 $(replayed killed)"
    redraft_restart=$(median <"$work/restart-auto") redraft_saved=$(median <"$work/restart-saved")
    redraft_killed=$(median <"$work/restart-killed") redis_restart=$(median <"$work/restart-redis")
    echo "redraft,$redraft_rss,$redraft_settled,$redraft_used,$redraft_restart,$redraft_saved,$redraft_killed" >>"$memory"
    echo "redis,$redis_rss,$redis_settled,$redis_used,$redis_restart,$redis_restart,$redis_restart" >>"$memory"
fi

echo
echo "medians over $rounds rounds (requests/s; redraft/redis ratio); $(nproc) CPUs"
python3 - "$results" "$memory" "$keys" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
groups = {}
for r in rows:
    groups.setdefault((r["system"], r["fsync"], r["bytes"], r["pipeline"], r["test"]), []).append(float(r["rps"]))
def median(key):
    values = groups.get(key)
    return statistics.median(values) if values else None
print(f"{'fsync':7} {'bytes':>5} {'P':>3} {'test':5} {'redraft':>12} {'redis':>12} {'ratio':>6}")
for fsync in ["no", "no/aof", "always"]:
    for size in sorted({r["bytes"] for r in rows}, key=int):
        for pipeline in ["1", "16"]:
            for test in ["SET", "GET"]:
                a = median(("redraft", fsync, size, pipeline, test))
                b = median(("redis", fsync, size, pipeline, test))
                if a and b:
                    print(f"{fsync:7} {size:>5} {pipeline:>3} {test:5} {a:12.0f} {b:12.0f} {a / b:6.2f}")
if any(r["fsync"] == "no/aof" for r in rows):
    print("(no/aof: redraft --fsync no beside Redis appendonly yes, appendfsync no; both keep an")
    print(" acknowledged write when the process is killed, which appendonly no does not)")
cluster = [(p, t) for p in ["1", "16"] for t in ["SET", "GET"] if median(("redraft 3 nodes", "always", "16", p, t))]
if cluster:
    print()
    print("3-node redraft cluster (fsync always, through the leader) beside one Redis (appendfsync always)")
    print(f"{'P':>3} {'test':5} {'cluster':>12} {'redis':>12} {'ratio':>6}")
    for p, t in cluster:
        a, b = median(("redraft 3 nodes", "always", "16", p, t)), median(("redis beside the cluster", "always", "16", p, t))
        print(f"{p:>3} {t:5} {a:12.0f} {b:12.0f} {a / b:6.2f}")
memory = list(csv.DictReader(open(sys.argv[2])))
if memory:
    print()
    print(f"{int(sys.argv[3]):,} keys (12-byte keys, 16-byte values)")
    print(f"{'system':8} {'RSS MB':>8} {'10 s later':>10} {'used_memory MB':>15} {'restart s':>10} {'after SAVE s':>13} {'after kill s':>13}")
    for m in memory:
        print(f"{m['system']:8} {m['rss_mb']:>8} {m['rss_settled_mb']:>10} {m['used_memory_mb']:>15} {m['restart_s']:>10} {m['restart_saved_s']:>13} {m['restart_killed_s']:>13}")
    by = {m["system"]: m for m in memory}
    if "redraft" in by and "redis" in by:
        ratio = lambda f: float(by["redraft"][f]) / float(by["redis"][f])
        print(f"{'ratio':8} {ratio('rss_mb'):8.2f} {ratio('rss_settled_mb'):10.2f} {ratio('used_memory_mb'):15.2f} {ratio('restart_s'):10.2f} {ratio('restart_saved_s'):13.2f} {ratio('restart_killed_s'):13.2f}")
    print("(restart s: redraft stopped 10 s after the load, from its automatic snapshot and the log since;")
    print(" after SAVE: from a snapshot taken by SAVE, as Redis's RDB was; after kill: killed as the load")
    print(" ended, its log since the last snapshot replayed; Redis's three columns are the same restarts)")
PY
