//! Model-based property test of the aggregates: random sequences of hash, list, set and sorted-set
//! commands, mixed with strings, DEL, TTLs (EXPIRE, PEXPIRE, PERSIST), RENAME, COPY and TYPE, with
//! random clock advances and active expiry, applied to the core state machine and to a plain
//! reference model (a `BTreeMap` from key to value and expiry time, each aggregate a `Vec`, a
//! `BTreeMap` or a `BTreeSet`, written as directly as the Redis documentation reads: WRONGTYPE on
//! a key of another type, an aggregate left empty removed with its key, the TTL kept when the
//! aggregate changes). Every reply must match (a hash's and a set's members compared as sorted,
//! where Redis leaves their order undefined), and after every step the whole stored state (keys,
//! types, contents, TTLs) must match. At the end a snapshot of the core, loaded into a fresh
//! node, must hold the model's state too, and answer the same reads.

mod common;
#[path = "aggregate_model/reference.rs"]
mod reference;

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use common::Node;
use proptest::prelude::*;
use redraft_core::snapshot::{write_snapshot, LogId};
use redraft_core::snapshot_reader::SnapshotReader;
use redraft_core::types::{Aggregate, Value as CoreValue};
use redraft_core::{Payload, Reply};
use reference::{by_score, Model, Stored, Value};

const KEYS: &[&str] = &["a", "b", "c", "d"];
const FIELDS: &[&str] = &["f", "g", "h"];
const HASH_VALUES: &[&str] = &["0", "1", "-3", "x", ""];
const ITEMS: &[&str] = &["x", "y", "z"];
const SCORES: &[&str] = &["0", "1", "2", "-1", "0.5", "inf", "-inf"];
const SCORE_BOUNDS: &[&str] = &["-inf", "+inf", "(-inf", "(+inf", "0", "1", "(1", "2", "(2", "0.5"];

const WRONG_TYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";

/// A read of a whole aggregate, or of its size.
#[derive(Clone, Copy, Debug)]
enum Read {
    HGetAll,
    HLen,
    LRange,
    LLen,
    SMembers,
    SCard,
    ZRange,
    ZCard,
}

#[derive(Clone, Debug)]
enum Op {
    /// A plain SET, so that keys of every type meet.
    Set(&'static str, &'static str),
    HSet(&'static str, Vec<(&'static str, &'static str)>),
    HDel(&'static str, Vec<&'static str>),
    HIncrBy(&'static str, &'static str, i64),
    Push {
        key: &'static str,
        items: Vec<&'static str>,
        left: bool,
    },
    Pop {
        key: &'static str,
        count: Option<i64>,
        left: bool,
    },
    LRem(&'static str, i64, &'static str),
    LSet(&'static str, i64, &'static str),
    LTrim(&'static str, i64, i64),
    SAdd(&'static str, Vec<&'static str>),
    SRem(&'static str, Vec<&'static str>),
    /// ZADD with at most one flag; with INCR, one pair.
    ZAdd {
        key: &'static str,
        flag: Option<&'static str>,
        incr: bool,
        pairs: Vec<(&'static str, &'static str)>,
    },
    ZIncrBy(&'static str, &'static str, &'static str),
    ZRem(&'static str, Vec<&'static str>),
    ZPopMin(&'static str, Option<i64>),
    ZRemRangeByScore(&'static str, &'static str, &'static str),
    ZScore(&'static str, &'static str),
    Read(Read, &'static str),
    Del(Vec<&'static str>),
    Expire {
        key: &'static str,
        amount: i64,
        millis: bool,
        flag: Option<&'static str>,
    },
    Persist(&'static str),
    PTtl(&'static str),
    Rename(&'static str, &'static str, bool),
    Copy(&'static str, &'static str, bool),
    Type(&'static str),
    Advance(u64),
    ActiveExpire(usize),
}

fn pick(from: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    proptest::sample::select(from)
}

fn some(from: &'static [&'static str]) -> impl Strategy<Value = Vec<&'static str>> {
    proptest::collection::vec(pick(from), 1..3)
}

/// A key, most often the one `home` (each type has its own, so that sequences build up deep
/// aggregates), else any: RENAME, COPY, SET and the others mix the types.
fn key_near(home: &'static str) -> impl Strategy<Value = &'static str> {
    prop_oneof![3 => Just(home), 2 => pick(KEYS)]
}

fn op() -> impl Strategy<Value = Op> {
    let key = || pick(KEYS);
    let (hash, list, set, zset) = (|| key_near("a"), || key_near("b"), || key_near("c"), || key_near("d"));
    let count = || proptest::option::of(-1i64..4);
    let zadd_flag = proptest::option::of(pick(&["NX", "XX", "GT", "LT", "CH"]));
    let expire_flag = prop_oneof![2 => Just(None), 1 => pick(&["NX", "XX", "GT", "LT"]).prop_map(Some)];
    let reads = |reads: &'static [Read]| proptest::sample::select(reads);
    prop_oneof![
        1 => (key(), pick(ITEMS)).prop_map(|(k, v)| Op::Set(k, v)),
        4 => (hash(), proptest::collection::vec((pick(FIELDS), pick(HASH_VALUES)), 1..3))
            .prop_map(|(k, pairs)| Op::HSet(k, pairs)),
        2 => (hash(), some(FIELDS)).prop_map(|(k, fields)| Op::HDel(k, fields)),
        2 => (hash(), pick(FIELDS), -2i64..3).prop_map(|(k, f, d)| Op::HIncrBy(k, f, d)),
        2 => (reads(&[Read::HGetAll, Read::HLen]), hash()).prop_map(|(read, k)| Op::Read(read, k)),
        4 => (list(), proptest::collection::vec(pick(ITEMS), 1..4), any::<bool>())
            .prop_map(|(key, items, left)| Op::Push { key, items, left }),
        3 => (list(), count(), any::<bool>()).prop_map(|(key, count, left)| Op::Pop { key, count, left }),
        2 => (list(), -2i64..3, pick(ITEMS)).prop_map(|(k, n, i)| Op::LRem(k, n, i)),
        2 => (list(), -4i64..4, pick(ITEMS)).prop_map(|(k, at, i)| Op::LSet(k, at, i)),
        3 => (list(), -4i64..4, -4i64..4).prop_map(|(k, start, stop)| Op::LTrim(k, start, stop)),
        2 => (reads(&[Read::LRange, Read::LLen]), list()).prop_map(|(read, k)| Op::Read(read, k)),
        4 => (set(), some(ITEMS)).prop_map(|(k, members)| Op::SAdd(k, members)),
        2 => (set(), some(ITEMS)).prop_map(|(k, members)| Op::SRem(k, members)),
        2 => (reads(&[Read::SMembers, Read::SCard]), set()).prop_map(|(read, k)| Op::Read(read, k)),
        4 => (zset(), zadd_flag, any::<bool>(), proptest::collection::vec((pick(SCORES), pick(ITEMS)), 1..3))
            .prop_map(|(key, flag, incr, mut pairs)| {
                if incr {
                    pairs.truncate(1);
                }
                Op::ZAdd { key, flag, incr, pairs }
            }),
        2 => (zset(), pick(SCORES), pick(ITEMS)).prop_map(|(k, d, m)| Op::ZIncrBy(k, d, m)),
        2 => (zset(), some(ITEMS)).prop_map(|(k, members)| Op::ZRem(k, members)),
        2 => (zset(), count()).prop_map(|(k, count)| Op::ZPopMin(k, count)),
        2 => (zset(), pick(SCORE_BOUNDS), pick(SCORE_BOUNDS))
            .prop_map(|(k, min, max)| Op::ZRemRangeByScore(k, min, max)),
        1 => (zset(), pick(ITEMS)).prop_map(|(k, m)| Op::ZScore(k, m)),
        2 => (reads(&[Read::ZRange, Read::ZCard]), zset()).prop_map(|(read, k)| Op::Read(read, k)),
        1 => proptest::collection::vec(key(), 1..3).prop_map(Op::Del),
        5 => (key(), -1000i64..10_000, any::<bool>(), expire_flag)
            .prop_map(|(key, amount, millis, flag)| Op::Expire {
                key,
                amount: if millis { amount } else { amount / 1000 },
                millis,
                flag,
            }),
        1 => key().prop_map(Op::Persist),
        1 => key().prop_map(Op::PTtl),
        1 => (key(), key(), any::<bool>()).prop_map(|(a, b, nx)| Op::Rename(a, b, nx)),
        1 => (key(), key(), any::<bool>()).prop_map(|(a, b, r)| Op::Copy(a, b, r)),
        1 => key().prop_map(Op::Type),
        3 => (0u64..2000).prop_map(Op::Advance),
        1 => (1usize..4).prop_map(Op::ActiveExpire),
    ]
}

fn is_write(op: &Op) -> bool {
    !matches!(op, Op::ZScore(..) | Op::Read(..) | Op::PTtl(_) | Op::Type(_))
}

fn args(op: &Op) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
    match op {
        Op::Set(k, v) => push(&["SET", k, v]),
        Op::HSet(k, pairs) => {
            push(&["HSET", k]);
            for (f, v) in pairs {
                push(&[f, v]);
            }
        }
        Op::HDel(k, fields) => {
            push(&["HDEL", k]);
            push(fields);
        }
        Op::HIncrBy(k, f, d) => push(&["HINCRBY", k, f, &d.to_string()]),
        Op::Push { key, items, left } => {
            push(&[if *left { "LPUSH" } else { "RPUSH" }, key]);
            push(items);
        }
        Op::Pop { key, count, left } => {
            push(&[if *left { "LPOP" } else { "RPOP" }, key]);
            if let Some(count) = count {
                push(&[&count.to_string()]);
            }
        }
        Op::LRem(k, n, i) => push(&["LREM", k, &n.to_string(), i]),
        Op::LSet(k, at, i) => push(&["LSET", k, &at.to_string(), i]),
        Op::LTrim(k, start, stop) => push(&["LTRIM", k, &start.to_string(), &stop.to_string()]),
        Op::SAdd(k, members) => {
            push(&["SADD", k]);
            push(members);
        }
        Op::SRem(k, members) => {
            push(&["SREM", k]);
            push(members);
        }
        Op::ZAdd { key, flag, incr, pairs } => {
            push(&["ZADD", key]);
            if let Some(flag) = flag {
                push(&[flag]);
            }
            if *incr {
                push(&["INCR"]);
            }
            for (s, m) in pairs {
                push(&[s, m]);
            }
        }
        Op::ZIncrBy(k, d, m) => push(&["ZINCRBY", k, d, m]),
        Op::ZRem(k, members) => {
            push(&["ZREM", k]);
            push(members);
        }
        Op::ZPopMin(k, count) => {
            push(&["ZPOPMIN", k]);
            if let Some(count) = count {
                push(&[&count.to_string()]);
            }
        }
        Op::ZRemRangeByScore(k, min, max) => push(&["ZREMRANGEBYSCORE", k, min, max]),
        Op::ZScore(k, m) => push(&["ZSCORE", k, m]),
        Op::Read(read, k) => match read {
            Read::HGetAll => push(&["HGETALL", k]),
            Read::HLen => push(&["HLEN", k]),
            Read::LRange => push(&["LRANGE", k, "0", "-1"]),
            Read::LLen => push(&["LLEN", k]),
            Read::SMembers => push(&["SMEMBERS", k]),
            Read::SCard => push(&["SCARD", k]),
            Read::ZRange => push(&["ZRANGE", k, "0", "-1", "WITHSCORES"]),
            Read::ZCard => push(&["ZCARD", k]),
        },
        Op::Del(keys) => {
            push(&["DEL"]);
            push(keys);
        }
        Op::Expire { key, amount, millis, flag } => {
            push(&[if *millis { "PEXPIRE" } else { "EXPIRE" }, key, &amount.to_string()]);
            if let Some(flag) = flag {
                push(&[flag]);
            }
        }
        Op::Persist(k) => push(&["PERSIST", k]),
        Op::PTtl(k) => push(&["PTTL", k]),
        Op::Rename(a, b, nx) => push(&[if *nx { "RENAMENX" } else { "RENAME" }, a, b]),
        Op::Copy(a, b, replace) => {
            push(&["COPY", a, b]);
            if *replace {
                push(&["REPLACE"]);
            }
        }
        Op::Type(k) => push(&["TYPE", k]),
        Op::Advance(_) | Op::ActiveExpire(_) => unreachable!(),
    }
    a
}

/// Runs `op` on `node`, with the members of a hash or a set sorted, as Redis leaves their order
/// undefined (the model's come sorted).
fn run(node: &mut Node, op: &Op) -> Reply {
    let args = args(op);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let bytes = |reply: &Reply| match reply {
        Reply::Bulk(bytes) => bytes.clone(),
        other => panic!("a bulk string expected, not {other:?}"),
    };
    match node.run(&argv) {
        Reply::Map(mut pairs) => {
            pairs.sort_by_key(|(field, _)| bytes(field));
            Reply::Map(pairs)
        }
        Reply::Set(mut members) => {
            members.sort_by_key(bytes);
            Reply::Set(members)
        }
        other => other,
    }
}

/// The core's stored keys (expired ones not yet removed included) in the model's form, checking
/// on the way that each aggregate's own indexes agree with its contents.
fn stored_state(node: &Node) -> BTreeMap<Vec<u8>, Stored> {
    let copy = |bytes: &[u8]| bytes.to_vec();
    node.sm
        .freeze()
        .keys
        .into_iter()
        .map(|(key, entry)| {
            let value = match &entry.value {
                CoreValue::String(bytes) => Value::Str(bytes.to_vec()),
                CoreValue::Aggregate(aggregate) => match &**aggregate {
                    Aggregate::Hash(hash) => {
                        let fields: BTreeMap<_, _> = hash.iter().map(|(f, v)| (copy(f), copy(v))).collect();
                        assert_eq!(fields.len(), hash.len(), "{key:?}: a field twice");
                        assert!(fields.iter().all(|(f, v)| hash.get(f) == Some(&v[..])), "{key:?}: lookup");
                        Value::Hash(fields)
                    }
                    Aggregate::List(list) => {
                        assert_eq!(list.iter().len(), list.len(), "{key:?}: length");
                        Value::List(list.iter().map(copy).collect())
                    }
                    Aggregate::Set(set) => {
                        let members: BTreeSet<_> = set.iter().map(copy).collect();
                        assert_eq!(members.len(), set.len(), "{key:?}: a member twice");
                        assert!(members.iter().all(|m| set.contains(m)), "{key:?}: lookup");
                        Value::Set(members)
                    }
                    Aggregate::ZSet(zset) => {
                        let ordered: Vec<(Vec<u8>, f64)> = zset.iter().map(|(m, s)| (copy(m), s)).collect();
                        let members: BTreeMap<_, _> = ordered.iter().cloned().collect();
                        assert_eq!(ordered, by_score(&members), "{key:?}: order");
                        assert_eq!(members.len(), zset.len(), "{key:?}: a member twice");
                        assert!(members.iter().all(|(m, s)| zset.score(m) == Some(*s)), "{key:?}: scores");
                        Value::ZSet(members)
                    }
                },
            };
            (key.to_vec(), Stored { value, expire_at_ms: entry.expire_at_ms })
        })
        .collect()
}

/// Every read the test knows, of every key: what a loaded snapshot must answer as the model does.
fn every_read() -> Vec<Op> {
    let reads = [
        Read::HGetAll,
        Read::HLen,
        Read::LRange,
        Read::LLen,
        Read::SMembers,
        Read::SCard,
        Read::ZRange,
        Read::ZCard,
    ];
    KEYS.iter()
        .flat_map(|&key| {
            let whole = reads.into_iter().map(move |read| Op::Read(read, key));
            let members = ITEMS.iter().map(move |&member| Op::ZScore(key, member));
            whole.chain(members).chain([Op::Type(key), Op::PTtl(key)])
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Replies and stored state of the core equal the reference model's after every step, and a
    /// snapshot of the end state loads as the model's state.
    #[test]
    fn aggregates_match_reference_model(ops in proptest::collection::vec(op(), 1..60), seed in any::<u64>()) {
        let mut node = Node::with_seed(seed);
        let mut model = Model::default();
        for (step, op) in ops.iter().enumerate() {
            match op {
                Op::Advance(ms) => {
                    node.advance_ms(*ms);
                    model.now_ms = node.clock_ms;
                }
                Op::ActiveExpire(max) => {
                    let keys = node.sm.collect_expired(node.clock_ms, *max);
                    prop_assert!(keys.len() <= *max);
                    for key in &keys {
                        let stored = model.map.get(&key[..]);
                        prop_assert!(
                            stored.is_some_and(|s| s.expire_at_ms.is_some_and(|at| at <= model.now_ms)),
                            "step {step}: collected {key:?}, which the model has live or absent"
                        );
                    }
                    if keys.len() < *max {
                        let left = model
                            .map
                            .iter()
                            .filter(|(k, s)| {
                                s.expire_at_ms.is_some_and(|at| at <= model.now_ms)
                                    && !keys.iter().any(|c| c[..] == k[..])
                            })
                            .count();
                        prop_assert_eq!(left, 0, "step {}: expired keys left uncollected", step);
                    }
                    let removed = node.append(Payload::ExpireBatch { keys: keys.clone() });
                    model.now_ms = model.now_ms.max(node.clock_ms);
                    for key in &keys {
                        model.map.remove(&key[..]);
                    }
                    prop_assert_eq!(removed, Reply::Integer(keys.len() as i64));
                }
                op => {
                    let got = run(&mut node, op);
                    let want = model.apply(op, node.clock_ms);
                    prop_assert_eq!(got, want, "step {}: {:?}", step, args(op));
                }
            }
            prop_assert_eq!(node.sm.time_ms(), model.now_ms, "time after step {}", step);
            prop_assert_eq!(stored_state(&node), model.map.clone(), "state after step {}", step);
        }

        // The end state through a snapshot, into a node with another hash seed.
        let frozen = node.sm.freeze();
        let last = Some(LogId { term: 1, node_id: 1, index: frozen.applied_index });
        let bytes = write_snapshot(Vec::new(), &frozen, last, Bytes::new()).expect("in memory");
        let (_, read) = SnapshotReader::new(&bytes[..]).expect("a header").read_all().expect("a valid snapshot");
        let mut loaded = Node::with_seed(seed.wrapping_add(1));
        loaded.sm.install(read);
        (loaded.log_index, loaded.clock_ms) = (node.log_index, node.clock_ms);
        prop_assert_eq!(loaded.sm.time_ms(), model.now_ms, "time after loading");
        prop_assert_eq!(stored_state(&loaded), model.map.clone(), "state after loading");
        for op in every_read() {
            let got = run(&mut loaded, &op);
            prop_assert_eq!(got, model.apply(&op, loaded.clock_ms), "after loading: {:?}", args(&op));
        }
        // The loaded TTLs are indexed: once every deadline has passed, active expiry finds them all.
        let later = model.map.values().filter_map(|s| s.expire_at_ms).max().unwrap_or(0).max(loaded.clock_ms);
        let mut collected = loaded.sm.collect_expired(later, KEYS.len() + 1);
        collected.sort();
        let with_ttl: Vec<Bytes> = model
            .map
            .iter()
            .filter(|(_, s)| s.expire_at_ms.is_some())
            .map(|(k, _)| Bytes::copy_from_slice(k))
            .collect();
        prop_assert_eq!(collected, with_ttl, "keys with a TTL after loading");
    }
}
