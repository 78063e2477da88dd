#!/usr/bin/env bash
# What one hash, list, set and sorted set of ELEMENTS elements cost in redraft and in Redis, side
# by side: each loaded into a fresh server of each (`redis-cli --pipe`, 1,000 elements a
# command), then the key's MEMORY USAGE (Redis with SAMPLES 0, so exact; redraft's own
# accounting), Redis's used_memory growth, and each server's resident memory growth (redraft's
# includes its Raft log, which holds the loading commands until a snapshot; SAVE is run first
# so that it does not). Elements: hash fields `field:%08d` with values `value:%08d`, list items
# `item:%010d`, set members and sorted-set members `member:%08d` (scores 0..N).
#
# Then small aggregates, where Redis uses its compact encodings: SMALL_KEYS keys of each type with
# 10 short elements each (hash fields `f0`.. with values `value:0`.., list items `item:0`.., set
# and sorted-set members `m0`..), the MEMORY USAGE of one such key and the used_memory growth
# per key.
#
# Loopback only; prints figures and asserts nothing about them.
# Environment: ELEMENTS (1000000), SMALL_KEYS (100000). Needs redis-server and redis-cli.
set -euo pipefail
cd "$(dirname "$0")/../.."

elements=${ELEMENTS:-1000000}
small_keys=${SMALL_KEYS:-100000}
source benches/compare/common.sh
require type_memory redis-server redis-cli python3
cargo build --release -q -p redraft-server

# The load of one type, as RESP commands of 1,000 elements each.
load() {
    python3 - "$1" "$elements" <<'PY'
import sys
kind, n = sys.argv[1], int(sys.argv[2])
out = sys.stdout.buffer
def command(args):
    out.write(b"*%d\r\n" % len(args))
    for a in args:
        out.write(b"$%d\r\n%s\r\n" % (len(a), a))
for first in range(0, n, 1000):
    ids = range(first, min(first + 1000, n))
    if kind == "hash":
        args = [b"HSET", b"k"] + [x for i in ids for x in (b"field:%08d" % i, b"value:%08d" % i)]
    elif kind == "list":
        args = [b"RPUSH", b"k"] + [b"item:%010d" % i for i in ids]
    elif kind == "set":
        args = [b"SADD", b"k"] + [b"member:%08d" % i for i in ids]
    else:
        args = [b"ZADD", b"k"] + [x for i in ids for x in (b"%d" % i, b"member:%08d" % i)]
    command(args)
PY
}

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
info_field() { redis-cli -p "$1" info memory | tr -d '\r' | awk -F: -v f="$2" '$1 == f {print $2}'; }
# Starts a fresh server of kind $1 (redis or redraft, the latter with data under $2) on a free
# port, and waits until it answers; sets `port` and `pid`.
start_server() {
    port=$(free_port)
    if [ "$1" = redis ]; then
        "${server_cpu[@]}" redis-server --port "$port" --save "" --appendonly no >/dev/null &
    else
        "${server_cpu[@]}" target/release/redraft-server --data-dir "$2" \
            --resp-addr "127.0.0.1:$port" --http-addr "127.0.0.1:$(free_port)" \
            --raft-addr "127.0.0.1:$(free_port)" --fsync no >"$2.log" 2>&1 &
    fi
    pid=$!
    track "$pid"
    wait_ping "$port"
}

printf '%-6s %-8s %14s %14s %14s\n' type server memory_usage used_memory_Δ rss_Δ
for kind in hash list set zset; do
    load "$kind" >"$work/$kind.resp"
    for server in redis redraft; do
        start_server "$server" "$work/data-$kind"
        before_rss=$(rss_kb "$pid")
        before_used=$(info_field "$port" used_memory)
        redis-cli -p "$port" --pipe <"$work/$kind.resp" >/dev/null
        [ "$server" = redraft ] && redis-cli -p "$port" save >/dev/null
        if [ "$server" = redis ]; then
            usage=$(redis-cli -p "$port" memory usage k samples 0)
        else
            usage=$(redis-cli -p "$port" memory usage k)
        fi
        used=$(( $(info_field "$port" used_memory) - before_used ))
        rss=$(( ($(rss_kb "$pid") - before_rss) * 1024 ))
        printf '%-6s %-8s %14s %14s %14s   (%s bytes an element by MEMORY USAGE)\n' "$kind" "$server" \
            "$usage" "$used" "$rss" "$(( usage / elements ))"
        stop_all
        rm -rf "$work/data-$kind"
    done
done

# Small aggregates: many keys of 10 elements each.
load_small() {
    python3 - "$1" "$small_keys" <<'PY'
import sys
kind, n = sys.argv[1], int(sys.argv[2])
out = sys.stdout.buffer
def command(args):
    out.write(b"*%d\r\n" % len(args))
    for a in args:
        out.write(b"$%d\r\n%s\r\n" % (len(a), a))
for k in range(n):
    key = b"k:%d" % k
    if kind == "hash":
        command([b"HSET", key] + [x for i in range(10) for x in (b"f%d" % i, b"value:%d" % i)])
    elif kind == "list":
        command([b"RPUSH", key] + [b"item:%d" % i for i in range(10)])
    elif kind == "set":
        command([b"SADD", key] + [b"m%d" % i for i in range(10)])
    else:
        command([b"ZADD", key] + [x for i in range(10) for x in (b"%d" % i, b"m%d" % i)])
PY
}
printf '\n%-6s %-8s %20s %22s\n' type server memory_usage_of_one used_memory_Δ_per_key
for kind in hash list set zset; do
    load_small "$kind" >"$work/small-$kind.resp"
    for server in redis redraft; do
        start_server "$server" "$work/data-small-$kind"
        before_used=$(info_field "$port" used_memory)
        redis-cli -p "$port" --pipe <"$work/small-$kind.resp" >/dev/null
        [ "$server" = redraft ] && redis-cli -p "$port" save >/dev/null
        if [ "$server" = redis ]; then
            usage=$(redis-cli -p "$port" memory usage k:7 samples 0)
        else
            usage=$(redis-cli -p "$port" memory usage k:7)
        fi
        used=$(( ($(info_field "$port" used_memory) - before_used) / small_keys ))
        printf '%-6s %-8s %20s %22s\n' "$kind" "$server" "$usage" "$used"
        stop_all
        rm -rf "$work/data-small-$kind"
    done
done
