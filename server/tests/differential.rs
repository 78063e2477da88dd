//! Random sequences of string, keyspace, hash, list and set commands, sent to a real
//! `redis-server` and to redraft, must get the same replies, error texts included: Redis is the
//! reference, not a list of replies written by hand. The keys are shared by every type, so
//! WRONGTYPE, overwrites and RENAME across types come up. The only differences allowed are the
//! ones time makes (a TTL left counts down between the two), the order of replies Redis does not
//! define (KEYS, HGETALL, HKEYS, HVALS, SMEMBERS, the set algebra, HSCAN and SSCAN), and the last
//! digits of an INCRBYFLOAT or HINCRBYFLOAT past 2^53 (`float_within_precision`).
//!
//! Both servers publish every keyspace notification (`notify-keyspace-events KEAn`), and a
//! subscriber on each must receive the same messages in the same order for every case.
#![cfg(not(madsim))]
// Real processes on real time: the determinism lint is for code that runs in simulation.
#![allow(clippy::disallowed_methods)]

mod common;
#[path = "differential/notifications.rs"]
mod notifications;

use std::cell::RefCell;

use common::redis_server::RedisServer;
use common::{ServerProcess, SyncClient};
use notifications::EventListener;
use proptest::prelude::*;
use redraft_net::resp::Frame;

const KEYS: [&str; 3] = ["k0", "k1", "k2"];
const VALUES: [&str; 8] = ["1", "-3", "abc", "", "10.5", "9223372036854775807", "0x10", " 7"];

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(&KEYS[..]).prop_map(str::to_owned)
}

fn value() -> impl Strategy<Value = String> {
    prop::sample::select(&VALUES[..]).prop_map(str::to_owned)
}

fn number() -> impl Strategy<Value = String> {
    prop::sample::select(&["0", "5", "-2", "abc", "9223372036854775807", "1.5"][..]).prop_map(str::to_owned)
}

fn words(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|part| (*part).to_owned()).collect()
}

/// `words` followed by the words of `options`.
fn with_options(mut words: Vec<String>, options: &str) -> Vec<String> {
    words.extend(options.split_whitespace().map(str::to_owned));
    words
}

/// One case: a sequence of commands that dwells on one type (so that its aggregates grow enough
/// for order and repeats to matter), with the other types mixed in for WRONGTYPE and overwrites.
fn case() -> impl Strategy<Value = Vec<Vec<String>>> {
    let sequence = |command| prop::collection::vec(command, 1..40);
    prop_oneof![
        sequence(
            prop_oneof![string_command(), hash_command(), list_command(), set_command(), zset_command()]
                .boxed()
        ),
        sequence(prop_oneof![4 => hash_command(), 1 => string_command(), 1 => set_command()].boxed()),
        sequence(prop_oneof![4 => list_command(), 1 => string_command(), 1 => hash_command()].boxed()),
        sequence(prop_oneof![4 => set_command(), 1 => string_command(), 1 => list_command()].boxed()),
        sequence(prop_oneof![4 => zset_command(), 1 => set_command(), 1 => hash_command()].boxed()),
    ]
}

fn field() -> impl Strategy<Value = String> {
    prop::sample::select(&["f0", "f1", "f2", "10"][..]).prop_map(str::to_owned)
}

fn index() -> impl Strategy<Value = String> {
    prop::sample::select(&["0", "1", "-1", "-3", "5", "x"][..]).prop_map(str::to_owned)
}

/// `name key` followed by `count` pairs of `first(i) second(i)`: enough elements (past 128, or
/// an element past 64 bytes) to take a hash or sorted set out of its small form, in Redis and
/// in redraft.
fn grown(
    name: &str,
    key: &str,
    count: usize,
    first: impl Fn(usize) -> String,
    second: impl Fn(usize) -> String,
) -> Vec<String> {
    let mut command = words(&[name, key]);
    for i in 0..count {
        command.push(first(i));
        command.push(second(i));
    }
    command
}

fn hash_command() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        (key(), prop::bool::ANY).prop_map(|(k, many)| if many {
            grown("HSET", &k, 130, |i| format!("g{i}"), |i| i.to_string())
        } else {
            grown("HSET", &k, 1, |_| "f1".into(), |_| "v".repeat(65))
        }),
        (key(), field(), value()).prop_map(|(k, f, v)| words(&["HSET", &k, &f, &v])),
        (key(), field(), value(), field(), value())
            .prop_map(|(k, f, v, g, w)| words(&["HSET", &k, &f, &v, &g, &w])),
        (key(), field(), value()).prop_map(|(k, f, v)| words(&["HMSET", &k, &f, &v])),
        (key(), field(), value()).prop_map(|(k, f, v)| words(&["HSETNX", &k, &f, &v])),
        (key(), field()).prop_map(|(k, f)| words(&["HGET", &k, &f])),
        (key(), field(), field()).prop_map(|(k, f, g)| words(&["HMGET", &k, &f, &g])),
        (key(), prop::sample::select(&["HGETALL", "HKEYS", "HVALS", "HLEN"][..]))
            .prop_map(|(k, name)| words(&[name, &k])),
        (key(), field(), field()).prop_map(|(k, f, g)| words(&["HDEL", &k, &f, &g])),
        (key(), field()).prop_map(|(k, f)| words(&["HEXISTS", &k, &f])),
        (key(), field()).prop_map(|(k, f)| words(&["HSTRLEN", &k, &f])),
        (key(), field(), number()).prop_map(|(k, f, n)| words(&["HINCRBY", &k, &f, &n])),
        (key(), field(), prop::sample::select(&["1.5", "-0.25", "abc", "1e3"][..]))
            .prop_map(|(k, f, by)| words(&["HINCRBYFLOAT", &k, &f, by])),
        // A COUNT below the hash's size walks Redis's buckets and redraft's hash order in
        // different pieces, under cursors that are opaque to clients: only whole pages compare.
        (key(), prop::sample::select(&["0", "0 MATCH f*", "0 COUNT 20", "x", "0 COUNT 0", "0 COUNT"][..]))
            .prop_map(|(k, rest)| with_options(words(&["HSCAN", &k]), rest)),
        key().prop_map(|k| words(&["HSET", &k, "f"])),
        (key(), prop::sample::select(&["", "10", "10 WITHVALUES", "-2", "0", "1 NOPE"][..]))
            .prop_map(|(k, rest)| with_options(words(&["HRANDFIELD", &k]), rest)),
    ]
}

/// A list item: few, so that lists hold repeats for LREM, LPOS and LINSERT to tell apart.
fn item() -> impl Strategy<Value = String> {
    prop::sample::select(&["a", "b", "1"][..]).prop_map(str::to_owned)
}

fn list_command() -> impl Strategy<Value = Vec<String>> {
    let end = || prop::sample::select(&["LEFT", "RIGHT", "UP"][..]);
    prop_oneof![
        (prop::sample::select(&["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"][..]), key(), item(), item())
            .prop_map(|(name, k, v, w)| words(&[name, &k, &v, &w])),
        (
            prop::sample::select(&["LPOP", "RPOP"][..]),
            key(),
            prop::sample::select(&["", "1", "2", "0", "-1"][..])
        )
            .prop_map(|(name, k, count)| with_options(words(&[name, &k]), count)),
        key().prop_map(|k| words(&["LLEN", &k])),
        (key(), index(), index()).prop_map(|(k, a, b)| words(&["LRANGE", &k, &a, &b])),
        (key(), index()).prop_map(|(k, i)| words(&["LINDEX", &k, &i])),
        (key(), index(), item()).prop_map(|(k, i, v)| words(&["LSET", &k, &i, &v])),
        (key(), prop::sample::select(&["BEFORE", "AFTER", "NEAR"][..]), item(), item())
            .prop_map(|(k, place, pivot, v)| words(&["LINSERT", &k, place, &pivot, &v])),
        (key(), prop::sample::select(&["0", "1", "-1", "-2", "x"][..]), item())
            .prop_map(|(k, n, v)| words(&["LREM", &k, n, &v])),
        (key(), index(), index()).prop_map(|(k, a, b)| words(&["LTRIM", &k, &a, &b])),
        (
            key(),
            item(),
            prop::sample::select(&["", "RANK 2", "RANK -1", "COUNT 0", "RANK 0", "MAXLEN 2 COUNT 2"][..])
        )
            .prop_map(|(k, v, options)| with_options(words(&["LPOS", &k, &v]), options)),
        (key(), key(), end(), end()).prop_map(|(a, b, x, y)| words(&["LMOVE", &a, &b, x, y])),
        (key(), key()).prop_map(|(a, b)| words(&["RPOPLPUSH", &a, &b])),
        // Blocking pops with a short timeout: served at once when there is something, else nil
        // (after up to 100 ms: Redis checks blocked clients' timeouts ten times a second, which
        // is why these are few).
        (prop::sample::select(&["BLPOP", "BRPOP", "BLMOVE", "BLPOP-1"][..]), key(), key()).prop_map(
            |(name, a, b)| {
                match name {
                    "BLMOVE" => words(&["BLMOVE", &a, &b, "RIGHT", "LEFT", "0.01"]),
                    "BLPOP-1" => words(&["BLPOP", &a, "-1"]),
                    _ => words(&[name, &a, &b, "0.01"]),
                }
            }
        ),
    ]
}

fn set_command() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        (key(), prop::bool::ANY).prop_map(|(k, many)| if many {
            grown("SADD", &k, 65, |i| format!("g{i}"), |i| format!("h{i}"))
        } else {
            words(&["SADD", &k, &"m".repeat(65)])
        }),
        (key(), field(), field()).prop_map(|(k, m, n)| words(&["SADD", &k, &m, &n])),
        (key(), field(), field()).prop_map(|(k, m, n)| words(&["SREM", &k, &m, &n])),
        (key(), prop::sample::select(&["SMEMBERS", "SCARD"][..])).prop_map(|(k, name)| words(&[name, &k])),
        (key(), field()).prop_map(|(k, m)| words(&["SISMEMBER", &k, &m])),
        (key(), field(), field()).prop_map(|(k, m, n)| words(&["SMISMEMBER", &k, &m, &n])),
        (prop::sample::select(&["SINTER", "SUNION", "SDIFF"][..]), key(), key())
            .prop_map(|(name, a, b)| words(&[name, &a, &b])),
        (prop::sample::select(&["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"][..]), key(), key(), key())
            .prop_map(|(name, d, a, b)| words(&[name, &d, &a, &b])),
        (
            key(),
            key(),
            prop::sample::select(&["2", "0", "3", "x"][..]),
            prop::sample::select(&["", "LIMIT 1", "LIMIT -1"][..])
        )
            .prop_map(|(a, b, n, limit)| with_options(words(&["SINTERCARD", n, &a, &b]), limit)),
        (key(), key(), field()).prop_map(|(a, b, m)| words(&["SMOVE", &a, &b, &m])),
        (key(), prop::sample::select(&["0", "0 MATCH f*", "0 COUNT 20", "abc"][..]))
            .prop_map(|(k, rest)| with_options(words(&["SSCAN", &k]), rest)),
        // Picks at random: only what does not depend on the draw is compared (`comparable`).
        // SPOP of one member would leave the two servers holding different sets: it pops all.
        (key(), prop::sample::select(&["200", "0", "-3", "x"][..]))
            .prop_map(|(k, count)| words(&["SPOP", &k, count])),
        (key(), prop::sample::select(&["", "10", "0", "-3", "x"][..]))
            .prop_map(|(k, count)| with_options(words(&["SRANDMEMBER", &k]), count)),
    ]
}

fn score() -> impl Strategy<Value = String> {
    prop::sample::select(&["1", "2", "-1.5", "0.1", "inf", "x", "3"][..]).prop_map(str::to_owned)
}

fn score_bound() -> impl Strategy<Value = String> {
    prop::sample::select(&["-inf", "+inf", "1", "(1", "2", "(2", "x", "0.1"][..]).prop_map(str::to_owned)
}

/// Sorted-set commands (the BYLEX forms are left out: Redis defines them only on sets whose
/// scores are all equal, and answers otherwise by how its skiplist happens to be laid out).
fn zset_command() -> impl Strategy<Value = Vec<String>> {
    let add_options =
        prop::sample::select(&["", "NX", "XX", "GT", "LT", "CH", "INCR", "XX CH", "NX GT", "GT CH"][..]);
    let range_options = prop::sample::select(&["", "WITHSCORES", "REV", "REV WITHSCORES", "LIMIT 0 1"][..]);
    let score_options =
        prop::sample::select(&["", "WITHSCORES", "LIMIT 0 2", "LIMIT 1 -1 WITHSCORES", "LIMIT -1 1"][..]);
    let combine =
        prop::sample::select(&["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE", "ZUNION", "ZINTER", "ZDIFF"][..]);
    let combine_options = prop::sample::select(
        &["", "WEIGHTS 2 -1", "AGGREGATE MAX", "AGGREGATE MIN", "WITHSCORES", "WEIGHTS 1"][..],
    );
    prop_oneof![
        (key(), prop::bool::ANY).prop_map(|(k, many)| if many {
            grown("ZADD", &k, 130, |i| (i % 7).to_string(), |i| format!("g{i}"))
        } else {
            grown("ZADD", &k, 1, |_| "2".into(), |_| "m".repeat(65))
        }),
        (key(), add_options, score(), field()).prop_map(|(k, o, s, m)| {
            let mut command = with_options(words(&["ZADD", &k]), o);
            command.extend([s, m]);
            command
        }),
        (key(), score(), field(), score(), field())
            .prop_map(|(k, s, m, t, n)| words(&["ZADD", &k, &s, &m, &t, &n])),
        (key(), field(), field()).prop_map(|(k, m, n)| words(&["ZREM", &k, &m, &n])),
        (key(), field()).prop_map(|(k, m)| words(&["ZSCORE", &k, &m])),
        (key(), field(), field()).prop_map(|(k, m, n)| words(&["ZMSCORE", &k, &m, &n])),
        (key(), score(), field()).prop_map(|(k, by, m)| words(&["ZINCRBY", &k, &by, &m])),
        key().prop_map(|k| words(&["ZCARD", &k])),
        (key(), score_bound(), score_bound()).prop_map(|(k, a, b)| words(&["ZCOUNT", &k, &a, &b])),
        (key(), index(), index(), range_options)
            .prop_map(|(k, a, b, o)| with_options(words(&["ZRANGE", &k, &a, &b]), o)),
        (key(), score_bound(), score_bound(), prop::bool::ANY, score_options.clone()).prop_map(
            |(k, a, b, rev, o)| {
                let name = if rev { "ZREVRANGEBYSCORE" } else { "ZRANGEBYSCORE" };
                with_options(words(&[name, &k, &a, &b]), o)
            }
        ),
        (key(), score_bound(), score_bound(), score_options)
            .prop_map(|(k, a, b, o)| with_options(words(&["ZRANGE", &k, &a, &b, "BYSCORE"]), o)),
        (key(), index(), index()).prop_map(|(k, a, b)| words(&["ZREVRANGE", &k, &a, &b, "WITHSCORES"])),
        (key(), key()).prop_map(|(d, k)| words(&["ZRANGESTORE", &d, &k, "0", "-1"])),
        (prop::sample::select(&["ZRANK", "ZREVRANK"][..]), key(), field())
            .prop_map(|(name, k, m)| words(&[name, &k, &m])),
        (key(), index(), index()).prop_map(|(k, a, b)| words(&["ZREMRANGEBYRANK", &k, &a, &b])),
        (key(), score_bound(), score_bound()).prop_map(|(k, a, b)| words(&["ZREMRANGEBYSCORE", &k, &a, &b])),
        (prop::sample::select(&["BZPOPMIN", "BZPOPMAX"][..]), key(), key())
            .prop_map(|(name, a, b)| words(&[name, &a, &b, "0.01"])),
        (
            prop::sample::select(&["ZPOPMIN", "ZPOPMAX"][..]),
            key(),
            prop::sample::select(&["", "1", "2", "-1", "0"][..])
        )
            .prop_map(|(name, k, count)| with_options(words(&[name, &k]), count)),
        (combine, key(), key(), key(), combine_options).prop_map(|(name, d, a, b, o)| {
            let mut command = words(&[name]);
            if name.ends_with("STORE") {
                command.push(d);
            }
            command.extend(["2".to_owned(), a, b]);
            with_options(command, o)
        }),
        (key(), prop::sample::select(&["0", "0 MATCH f*", "x"][..]))
            .prop_map(|(k, rest)| with_options(words(&["ZSCAN", &k]), rest)),
        (key(), prop::sample::select(&["", "10", "10 WITHSCORES", "-2", "0"][..]))
            .prop_map(|(k, rest)| with_options(words(&["ZRANDMEMBER", &k]), rest)),
    ]
}

/// One string or keyspace command, as its arguments.
/// BITFIELD's operations, errors included, for random sequences of them.
const BITFIELD_OPS: [&str; 26] = [
    "GET u8 0",
    "GET i5 3",
    "GET i64 0",
    "GET u63 1",
    "GET i8 #2",
    "SET u8 0 255",
    "SET i8 #1 -100",
    "SET u4 2 17",
    "SET i16 5 40000",
    "SET u2 7 -1",
    "INCRBY u2 100 1",
    "INCRBY i8 0 127",
    "INCRBY u63 0 -1",
    "INCRBY i64 0 9223372036854775807",
    "INCRBY i3 1 -5",
    "OVERFLOW SAT",
    "OVERFLOW FAIL",
    "OVERFLOW WRAP",
    "OVERFLOW NOPE",
    "GET u64 0",
    "GET x8 0",
    "SET u8 -1 1",
    "GET u8 #x",
    "INCRBY u8 0 abc",
    "SET u8",
    "BOGUS",
];

fn string_command() -> impl Strategy<Value = Vec<String>> {
    let set_option =
        prop::sample::select(&["", "NX", "XX", "GET", "KEEPTTL", "EX 100", "PX 0", "NX GET"][..]);
    let expire_option = prop::sample::select(&["", "NX", "XX", "GT", "LT"][..]);
    prop_oneof![
        (key(), value(), set_option).prop_map(|(k, v, option)| with_options(words(&["SET", &k, &v]), option)),
        key().prop_map(|k| words(&["GET", &k])),
        (key(), key()).prop_map(|(a, b)| words(&["DEL", &a, &b])),
        (key(), key()).prop_map(|(a, b)| words(&["EXISTS", &a, &b])),
        key().prop_map(|k| words(&["INCR", &k])),
        key().prop_map(|k| words(&["DECR", &k])),
        (key(), number()).prop_map(|(k, n)| words(&["INCRBY", &k, &n])),
        (key(), number()).prop_map(|(k, n)| words(&["DECRBY", &k, &n])),
        (key(), value()).prop_map(|(k, v)| words(&["APPEND", &k, &v])),
        key().prop_map(|k| words(&["STRLEN", &k])),
        (key(), number(), number()).prop_map(|(k, a, b)| words(&["GETRANGE", &k, &a, &b])),
        (key(), prop::sample::select(&["0", "2", "-1", "x"][..]), value())
            .prop_map(|(k, at, v)| words(&["SETRANGE", &k, at, &v])),
        (key(), key()).prop_map(|(a, b)| words(&["MGET", &a, &b])),
        (key(), value(), key(), value()).prop_map(|(a, x, b, y)| words(&["MSET", &a, &x, &b, &y])),
        (key(), value(), key(), value()).prop_map(|(a, x, b, y)| words(&["MSETNX", &a, &x, &b, &y])),
        (key(), value()).prop_map(|(k, v)| words(&["SETNX", &k, &v])),
        (key(), value()).prop_map(|(k, v)| words(&["GETSET", &k, &v])),
        key().prop_map(|k| words(&["GETDEL", &k])),
        key().prop_map(|k| words(&["TYPE", &k])),
        (key(), key()).prop_map(|(a, b)| words(&["RENAME", &a, &b])),
        (key(), key()).prop_map(|(a, b)| words(&["RENAMENX", &a, &b])),
        (key(), key(), prop::bool::ANY).prop_map(|(a, b, replace)| {
            let mut words = words(&["COPY", &a, &b]);
            if replace {
                words.push("REPLACE".into());
            }
            words
        }),
        (key(), prop::sample::select(&["100", "200", "0", "-1", "x"][..]), expire_option)
            .prop_map(|(k, seconds, option)| with_options(words(&["EXPIRE", &k, seconds]), option)),
        key().prop_map(|k| words(&["PERSIST", &k])),
        (key(), prop::sample::select(&["1.5", "-0.25", "abc", "1e3", "0", "3"][..]))
            .prop_map(|(k, by)| words(&["INCRBYFLOAT", &k, by])),
        (key(), prop::sample::select(&["PERSIST", "EX 100", "PX 0", ""][..]))
            .prop_map(|(k, option)| with_options(words(&["GETEX", &k]), option)),
        (key(), prop::sample::select(&["100", "0", "-5"][..]), value())
            .prop_map(|(k, seconds, v)| words(&["SETEX", &k, seconds, &v])),
        (key(), key()).prop_map(|(a, b)| words(&["UNLINK", &a, &b])),
        key().prop_map(|k| words(&["TTL", &k])),
        key().prop_map(|k| words(&["PTTL", &k])),
        Just(words(&["DBSIZE"])),
        (key(), key()).prop_map(|(a, b)| words(&["TOUCH", &a, &b])),
        (
            key(),
            prop::sample::select(&["0", "7", "100", "-1", "x", "4294967296"][..]),
            prop::sample::select(&["0", "1", "2"][..])
        )
            .prop_map(|(k, at, bit)| words(&["SETBIT", &k, at, bit])),
        (key(), prop::sample::select(&["0", "3", "1000", "-1"][..]))
            .prop_map(|(k, at)| words(&["GETBIT", &k, at])),
        (
            key(),
            prop::sample::select(
                &["", "0 -1", "1 2 BIT", "0", "-2 -1 BYTE", "0 1 NOPE", "5 2", "-100 100 BIT"][..]
            )
        )
            .prop_map(|(k, range)| with_options(words(&["BITCOUNT", &k]), range)),
        (
            key(),
            prop::sample::select(&["0", "1", "2"][..]),
            prop::sample::select(&["", "0", "1 -1", "0 -1 BIT", "2 9 BIT", "-1", "x", "0 0 0 0"][..])
        )
            .prop_map(|(k, bit, range)| with_options(words(&["BITPOS", &k, bit]), range)),
        (
            prop::sample::select(&["BITFIELD", "BITFIELD", "BITFIELD", "BITFIELD_RO"][..]),
            key(),
            prop::collection::vec(prop::sample::select(&BITFIELD_OPS[..]), 0..5)
        )
            .prop_map(|(name, k, ops)| with_options(words(&[name, &k]), &ops.join(" "))),
        (prop::sample::select(&["AND", "OR", "XOR", "NOT", "NOPE"][..]), key(), key(), key()).prop_map(
            |(op, d, a, b)| if op == "NOT" {
                words(&["BITOP", op, &d, &a])
            } else {
                words(&["BITOP", op, &d, &a, &b])
            }
        ),
        (
            key(),
            key(),
            prop::sample::select(
                &[
                    "",
                    "LEN",
                    "IDX",
                    "IDX MINMATCHLEN 2 WITHMATCHLEN",
                    "LEN IDX",
                    "IDX WITHMATCHLEN",
                    "MINMATCHLEN x",
                    "NOPE"
                ][..]
            )
        )
            .prop_map(|(a, b, options)| with_options(words(&["LCS", &a, &b]), options)),
        (key(), prop::sample::select(&["ENCODING", "REFCOUNT", "NOPE"][..]))
            .prop_map(|(k, sub)| words(&["OBJECT", sub, &k])),
        key().prop_map(|k| words(&["MEMORY", "USAGE", &k])),
        Just(words(&["RANDOMKEY"])),
        Just(words(&["KEYS", "*"])),
        // Wrong arities and unknown options, for the error texts.
        Just(words(&["GET"])),
        (key(), value()).prop_map(|(k, v)| words(&["SET", &k, &v, "BOGUS"])),
        key().prop_map(|k| words(&["INCRBY", &k])),
    ]
}

/// A reply with what time and ordering may change taken out: a positive TTL is counted down
/// between the two servers, and KEYS, HGETALL, HKEYS, HVALS, SMEMBERS, the set algebra and the
/// element scans have no defined order (HGETALL's and HSCAN's field-value pairs stay pairs).
fn comparable(command: &[String], reply: Frame) -> Frame {
    let sorted = |items: Vec<Frame>, chunk: usize| {
        let mut chunks: Vec<Vec<Frame>> = items.chunks(chunk).map(<[Frame]>::to_vec).collect();
        chunks.sort_by_key(|chunk| format!("{chunk:?}"));
        Frame::Array(chunks.into_iter().flatten().collect())
    };
    match (command[0].as_str(), reply) {
        ("TTL" | "PTTL", Frame::Integer(left)) if left > 0 => Frame::Integer(1),
        (
            "KEYS" | "HKEYS" | "HVALS" | "SMEMBERS" | "SINTER" | "SUNION" | "SDIFF",
            Frame::Array(items) | Frame::Set(items),
        ) => sorted(items, 1),
        ("HGETALL", Frame::Array(items)) => sorted(items, 2),
        // What a key costs, and how an aggregate is held, are each server's own.
        ("MEMORY", Frame::Integer(_)) => Frame::Integer(1),
        // (Redis shares small integers among keys, so their REFCOUNT is 2^31 - 1.)
        ("OBJECT", Frame::Integer(_)) if command[1] == "REFCOUNT" => Frame::Integer(1),
        // (Redis's string encodings depend on each value's history: SETRANGE leaves "raw" what
        // SET would make "int".)
        ("OBJECT", Frame::Bulk(_)) if command[1] == "ENCODING" => Frame::Bulk("an encoding".into()),
        // A random pick: one element, or a count that covers the whole aggregate (then all of it,
        // in any order), or a negative count (then only how many).
        ("RANDOMKEY" | "SRANDMEMBER" | "SPOP" | "HRANDFIELD" | "ZRANDMEMBER", Frame::Bulk(_)) => {
            Frame::Bulk("one of them".into())
        }
        ("SRANDMEMBER" | "SPOP" | "HRANDFIELD" | "ZRANDMEMBER", Frame::Array(items) | Frame::Set(items)) => {
            let pair = if command.len() > 3 { 2 } else { 1 };
            match command.get(2).and_then(|count| count.parse::<i64>().ok()) {
                Some(count) if count < 0 => Frame::Integer(items.len() as i64),
                // As many as asked, out of more (a grown aggregate): which ones is random.
                Some(count) if items.len() as i64 == count * pair as i64 => {
                    Frame::Integer(items.len() as i64)
                }
                _ => sorted(items, pair),
            }
        }
        ("HSCAN" | "SSCAN" | "ZSCAN", Frame::Array(mut parts)) if parts.len() == 2 => {
            let pair = if command[0] == "SSCAN" { 1 } else { 2 };
            if let Frame::Array(items) = parts.pop().expect("two parts") {
                parts.push(sorted(items, pair));
            }
            Frame::Array(parts)
        }
        (_, reply) => reply,
    }
}

/// Redis's INCRBYFLOAT sums in `long double` (80 bits on x86), redraft's in `f64`: past 2^53
/// the two can print different digits for the same sum. Returns Redis's value when that is the
/// only difference (the two agree to 15 significant digits).
fn float_within_precision(command: &[String], ours: &Frame, theirs: &Frame) -> Option<String> {
    let (Frame::Bulk(ours), Frame::Bulk(theirs)) = (ours, theirs) else { return None };
    if !matches!(command[0].as_str(), "INCRBYFLOAT" | "HINCRBYFLOAT") || ours == theirs {
        return None;
    }
    let parse = |bytes: &[u8]| std::str::from_utf8(bytes).ok()?.parse::<f64>().ok();
    let (a, b) = (parse(ours)?, parse(theirs)?);
    ((a - b).abs() <= b.abs() * 1e-15).then(|| String::from_utf8_lossy(theirs).into_owned())
}

fn call(client: &mut SyncClient, command: &[String]) -> Frame {
    let args: Vec<&str> = command.iter().map(String::as_str).collect();
    client.call(&args).expect("the server answers")
}

#[test]
fn commands_of_every_type_answer_as_redis_does() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let redraft = ServerProcess::start(dir.path(), &["--fsync", "no"]);
    // The runner's closure may not borrow mutably; the clients are used one case at a time.
    let theirs = RefCell::new(SyncClient::connect(&redis.addr().to_string()).expect("redis-server"));
    let ours = RefCell::new(redraft.client());
    let listeners = RefCell::new((
        EventListener::start(&mut theirs.borrow_mut(), &redis.addr().to_string()),
        EventListener::start(&mut ours.borrow_mut(), &format!("127.0.0.1:{}", redraft.port())),
    ));
    let config = ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(commands in case())| {
        let (mut theirs, mut ours) = (theirs.borrow_mut(), ours.borrow_mut());
        let mut listeners = listeners.borrow_mut();
        call(&mut theirs, &words(&["FLUSHALL"]));
        call(&mut ours, &words(&["FLUSHALL"]));
        // Whatever an earlier case left unread (one that failed half-way) is read and dropped.
        listeners.0.events_until_mark(&mut theirs);
        listeners.1.events_until_mark(&mut ours);
        let mut fixed_up = false;
        // Once a hash or sorted set has left its small form (in both servers), a scan of it is
        // walked in pieces that differ, under cursors opaque to clients: only errors compare.
        let mut grown = false;
        for (step, command) in commands.iter().enumerate() {
            grown |= command.len() > 100 || command.iter().any(|word| word.len() > 64);
            let expected = comparable(command, call(&mut theirs, command));
            let found = comparable(command, call(&mut ours, command));
            if grown && command[0].ends_with("SCAN") {
                let error = |frame: &Frame| matches!(frame, Frame::Error(_));
                prop_assert_eq!(error(&found), error(&expected), "step {} of {:?}", step, commands);
                continue;
            }
            if let Some(value) = float_within_precision(command, &found, &expected) {
                // The same sum in f64 (redraft) and long double (Redis); carry Redis's on.
                match command[0].as_str() {
                    "HINCRBYFLOAT" => call(&mut ours, &words(&["HSET", &command[1], &command[2], &value])),
                    _ => call(&mut ours, &words(&["SET", &command[1], &value, "KEEPTTL"])),
                };
                // That write raised events of its own.
                fixed_up = true;
                continue;
            }
            prop_assert_eq!(&found, &expected, "step {} of {:?}: {:?}", step, commands, command);
        }
        // Replies alone can miss a difference in what is stored (which of two equal list items
        // LREM took); every key must end up holding the same.
        for key in KEYS {
            prop_assert_eq!(contents(&mut ours, key), contents(&mut theirs, key), "{} after {:?}", key, commands);
        }
        let (expected, found) = (listeners.0.events_until_mark(&mut theirs), listeners.1.events_until_mark(&mut ours));
        if !fixed_up {
            prop_assert_eq!(found, expected, "keyspace notifications of {:?}", commands);
        }
    });
}

/// What `key` holds, read with the commands of its type (in a comparable order).
fn contents(client: &mut SyncClient, key: &str) -> Frame {
    let Frame::Simple(kind) = call(client, &words(&["TYPE", key])) else { panic!("TYPE answers a status") };
    let read = match kind.as_str() {
        "string" => words(&["GET", key]),
        "hash" => words(&["HGETALL", key]),
        "list" => words(&["LRANGE", key, "0", "-1"]),
        "set" => words(&["SMEMBERS", key]),
        "zset" => words(&["ZRANGE", key, "0", "-1", "WITHSCORES"]),
        _ => return Frame::Simple(kind),
    };
    Frame::Array(vec![Frame::Simple(kind), comparable(&read, call(client, &read))])
}
