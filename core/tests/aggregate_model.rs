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

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use common::Node;
use proptest::prelude::*;
use redraft_core::snapshot::{write_snapshot, LogId};
use redraft_core::snapshot_reader::SnapshotReader;
use redraft_core::types::{Aggregate, Value as CoreValue};
use redraft_core::{Payload, Reply};

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

/// What a key holds, in the plainest form that has the type's semantics.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Str(Vec<u8>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    List(Vec<Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
    ZSet(BTreeMap<Vec<u8>, f64>),
}

impl Value {
    /// The name TYPE answers.
    fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::Hash(hash) => hash.is_empty(),
            Value::List(list) => list.is_empty(),
            Value::Set(set) => set.is_empty(),
            Value::ZSet(zset) => zset.is_empty(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Stored {
    value: Value,
    expire_at_ms: Option<u64>,
}

/// The reference: one ordered map, no shards, no heaps, no indexes.
#[derive(Default)]
struct Model {
    map: BTreeMap<Vec<u8>, Stored>,
    now_ms: u64,
}

fn bulk(bytes: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(bytes))
}

fn error(text: &str) -> Reply {
    Reply::Error(text.to_owned())
}

/// A sorted set's members lowest first: by score, then by member.
fn by_score(zset: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
    let mut members: Vec<(Vec<u8>, f64)> = zset.iter().map(|(m, s)| (m.clone(), *s)).collect();
    members.sort_by(|a, b| a.1.partial_cmp(&b.1).expect("no NaN score").then_with(|| a.0.cmp(&b.0)));
    members
}

/// A score as ZADD reads it (the test only uses texts Rust reads alike).
fn score(text: &str) -> f64 {
    text.parse().expect("a score")
}

/// Whether `score` lies past the lower bound `min` (`(` makes it exclusive).
fn above(s: f64, min: &str) -> bool {
    match min.strip_prefix('(') {
        Some(bound) => s > score(bound),
        None => s >= score(min),
    }
}

/// Whether `s` lies below the upper bound `max`.
fn below(s: f64, max: &str) -> bool {
    match max.strip_prefix('(') {
        Some(bound) => s < score(bound),
        None => s <= score(max),
    }
}

fn strict_i64(bytes: &[u8]) -> Option<i64> {
    // Redis's reading: canonical decimal text only.
    let text = std::str::from_utf8(bytes).ok()?;
    let n: i64 = text.parse().ok()?;
    (n.to_string() == text).then_some(n)
}

/// A Redis index (negative from the end) as a position in a list of `len`, if inside it.
fn position(index: i64, len: usize) -> Option<usize> {
    let at = if index < 0 { len as i64 + index } else { index };
    usize::try_from(at).ok().filter(|at| *at < len)
}

macro_rules! typed {
    ($model:expr, $key:expr, $variant:ident) => {
        match $model.live($key).cloned() {
            None => None,
            Some(Stored { value: Value::$variant(inner), expire_at_ms }) => Some((inner, expire_at_ms)),
            Some(_) => return error(WRONG_TYPE),
        }
    };
}

impl Model {
    fn live(&self, key: &str) -> Option<&Stored> {
        self.map.get(key.as_bytes()).filter(|s| s.expire_at_ms.is_none_or(|at| at > self.now_ms))
    }

    fn put(&mut self, key: &str, value: Value, expire_at_ms: Option<u64>) {
        self.map.insert(key.as_bytes().to_vec(), Stored { value, expire_at_ms });
    }

    /// Stores an aggregate a command has changed: with the TTL it had when it was live, and
    /// removed with its key when left empty. An empty one that was not live leaves the key as it
    /// was (nothing was created).
    fn store(&mut self, key: &str, value: Value, old: Option<Option<u64>>) {
        if !value.is_empty() {
            self.put(key, value, old.flatten());
        } else if old.is_some() {
            self.map.remove(key.as_bytes());
        }
    }

    fn read(&self, read: Read, key: &str) -> Reply {
        let Some(stored) = self.live(key) else {
            return match read {
                Read::HGetAll => Reply::Map(Vec::new()),
                Read::LRange => Reply::Array(Vec::new()),
                Read::SMembers => Reply::Set(Vec::new()),
                Read::ZRange => Reply::Pairs(Vec::new()),
                Read::HLen | Read::LLen | Read::SCard | Read::ZCard => Reply::Integer(0),
            };
        };
        match (read, &stored.value) {
            (Read::HGetAll, Value::Hash(hash)) => {
                Reply::Map(hash.iter().map(|(f, v)| (bulk(f), bulk(v))).collect())
            }
            (Read::HLen, Value::Hash(hash)) => Reply::Integer(hash.len() as i64),
            (Read::LRange, Value::List(list)) => Reply::Array(list.iter().map(|i| bulk(i)).collect()),
            (Read::LLen, Value::List(list)) => Reply::Integer(list.len() as i64),
            (Read::SMembers, Value::Set(set)) => Reply::Set(set.iter().map(|m| bulk(m)).collect()),
            (Read::SCard, Value::Set(set)) => Reply::Integer(set.len() as i64),
            (Read::ZRange, Value::ZSet(zset)) => {
                Reply::Pairs(by_score(zset).into_iter().map(|(m, s)| (bulk(&m), Reply::Double(s))).collect())
            }
            (Read::ZCard, Value::ZSet(zset)) => Reply::Integer(zset.len() as i64),
            _ => error(WRONG_TYPE),
        }
    }

    /// Applies one operation; `clock_ms` is the leader's clock that stamps writes.
    fn apply(&mut self, op: &Op, clock_ms: u64) -> Reply {
        // Refused by the parser: never reaches the log, so time does not move.
        if let Op::Pop { count: Some(count), .. } | Op::ZPopMin(_, Some(count)) = op {
            if *count < 0 {
                return error(NOT_POSITIVE);
            }
        }
        if is_write(op) {
            self.now_ms = self.now_ms.max(clock_ms);
        }
        match op {
            Op::Set(key, value) => {
                self.put(key, Value::Str(value.as_bytes().to_vec()), None);
                Reply::Ok
            }
            Op::HSet(key, pairs) => {
                let old = typed!(self, key, Hash);
                let mut hash = old.as_ref().map_or_else(BTreeMap::new, |(h, _)| h.clone());
                let mut added = 0;
                for (field, value) in pairs {
                    if hash.insert(field.as_bytes().to_vec(), value.as_bytes().to_vec()).is_none() {
                        added += 1;
                    }
                }
                self.store(key, Value::Hash(hash), old.map(|(_, at)| at));
                Reply::Integer(added)
            }
            Op::HDel(key, fields) => {
                let Some((mut hash, at)) = typed!(self, key, Hash) else { return Reply::Integer(0) };
                let removed = fields.iter().filter(|f| hash.remove(f.as_bytes()).is_some()).count();
                self.store(key, Value::Hash(hash), Some(at));
                Reply::Integer(removed as i64)
            }
            Op::HIncrBy(key, field, delta) => {
                let old = typed!(self, key, Hash);
                let mut hash = old.as_ref().map_or_else(BTreeMap::new, |(h, _)| h.clone());
                let current = match hash.get(field.as_bytes()) {
                    None => 0,
                    Some(value) => match strict_i64(value) {
                        Some(n) => n,
                        None => return error("ERR hash value is not an integer"),
                    },
                };
                let Some(new) = current.checked_add(*delta) else {
                    return error("ERR increment or decrement would overflow");
                };
                hash.insert(field.as_bytes().to_vec(), new.to_string().into_bytes());
                self.store(key, Value::Hash(hash), old.map(|(_, at)| at));
                Reply::Integer(new)
            }
            Op::Push { key, items, left } => {
                let old = typed!(self, key, List);
                let mut list = old.as_ref().map_or_else(Vec::new, |(l, _)| l.clone());
                for item in items {
                    if *left {
                        list.insert(0, item.as_bytes().to_vec());
                    } else {
                        list.push(item.as_bytes().to_vec());
                    }
                }
                let len = list.len() as i64;
                self.store(key, Value::List(list), old.map(|(_, at)| at));
                Reply::Integer(len)
            }
            Op::Pop { key, count, left } => {
                let Some((mut list, at)) = typed!(self, key, List) else {
                    return if count.is_some() { Reply::NilArray } else { Reply::Nil };
                };
                let mut popped = Vec::new();
                for _ in 0..count.unwrap_or(1) {
                    if list.is_empty() {
                        break;
                    }
                    popped.push(if *left { list.remove(0) } else { list.pop().expect("not empty") });
                }
                self.store(key, Value::List(list), Some(at));
                match count {
                    None => bulk(&popped[0]),
                    Some(_) => Reply::Array(popped.iter().map(|i| bulk(i)).collect()),
                }
            }
            Op::LRem(key, count, item) => {
                let Some((list, at)) = typed!(self, key, List) else { return Reply::Integer(0) };
                let wanted = if *count == 0 { usize::MAX } else { count.unsigned_abs() as usize };
                let mut removed = 0;
                let mut kept: Vec<Vec<u8>> = Vec::new();
                // From the head for a count of 0 or more, from the tail for a negative one.
                let ordered: Box<dyn Iterator<Item = Vec<u8>>> =
                    if *count >= 0 { Box::new(list.into_iter()) } else { Box::new(list.into_iter().rev()) };
                for element in ordered {
                    if removed < wanted && element == item.as_bytes() {
                        removed += 1;
                    } else {
                        kept.push(element);
                    }
                }
                if *count < 0 {
                    kept.reverse();
                }
                self.store(key, Value::List(kept), Some(at));
                Reply::Integer(removed as i64)
            }
            Op::LSet(key, index, item) => {
                let Some((mut list, at)) = typed!(self, key, List) else { return error("ERR no such key") };
                let Some(index) = position(*index, list.len()) else {
                    return error("ERR index out of range");
                };
                list[index] = item.as_bytes().to_vec();
                self.store(key, Value::List(list), Some(at));
                Reply::Ok
            }
            Op::LTrim(key, start, stop) => {
                let Some((list, at)) = typed!(self, key, List) else { return Reply::Ok };
                // Redis's `ltrimCommand`, step by step.
                let len = list.len() as i64;
                let (mut start, mut end) = (*start, *stop);
                if start < 0 {
                    start += len;
                }
                if end < 0 {
                    end += len;
                }
                if start < 0 {
                    start = 0;
                }
                let kept = if start > end || start >= len {
                    Vec::new()
                } else {
                    end = end.min(len - 1);
                    list[start as usize..=end as usize].to_vec()
                };
                self.store(key, Value::List(kept), Some(at));
                Reply::Ok
            }
            Op::SAdd(key, members) => {
                let old = typed!(self, key, Set);
                let mut set = old.as_ref().map_or_else(BTreeSet::new, |(s, _)| s.clone());
                let added = members.iter().filter(|m| set.insert(m.as_bytes().to_vec())).count();
                self.store(key, Value::Set(set), old.map(|(_, at)| at));
                Reply::Integer(added as i64)
            }
            Op::SRem(key, members) => {
                let Some((mut set, at)) = typed!(self, key, Set) else { return Reply::Integer(0) };
                let removed = members.iter().filter(|m| set.remove(m.as_bytes())).count();
                self.store(key, Value::Set(set), Some(at));
                Reply::Integer(removed as i64)
            }
            Op::ZAdd { key, flag, incr, pairs } => self.zadd(key, *flag, *incr, pairs),
            Op::ZIncrBy(key, delta, member) => self.zadd(key, None, true, &[(*delta, *member)]),
            Op::ZRem(key, members) => {
                let Some((mut zset, at)) = typed!(self, key, ZSet) else { return Reply::Integer(0) };
                let removed = members.iter().filter(|m| zset.remove(m.as_bytes()).is_some()).count();
                self.store(key, Value::ZSet(zset), Some(at));
                Reply::Integer(removed as i64)
            }
            Op::ZPopMin(key, count) => {
                let Some((mut zset, at)) = typed!(self, key, ZSet) else {
                    return if count.is_some() { Reply::Pairs(Vec::new()) } else { Reply::Array(Vec::new()) };
                };
                let popped: Vec<(Vec<u8>, f64)> =
                    by_score(&zset).into_iter().take(count.unwrap_or(1) as usize).collect();
                for (member, _) in &popped {
                    zset.remove(member);
                }
                self.store(key, Value::ZSet(zset), Some(at));
                match count {
                    // Without a count, one member and its score, flat.
                    None => {
                        Reply::Array(popped.iter().flat_map(|(m, s)| [bulk(m), Reply::Double(*s)]).collect())
                    }
                    Some(_) => {
                        Reply::Pairs(popped.iter().map(|(m, s)| (bulk(m), Reply::Double(*s))).collect())
                    }
                }
            }
            Op::ZRemRangeByScore(key, min, max) => {
                let Some((mut zset, at)) = typed!(self, key, ZSet) else { return Reply::Integer(0) };
                let before = zset.len();
                zset.retain(|_, s| !(above(*s, min) && below(*s, max)));
                let removed = before - zset.len();
                self.store(key, Value::ZSet(zset), Some(at));
                Reply::Integer(removed as i64)
            }
            Op::ZScore(key, member) => match typed!(self, key, ZSet) {
                Some((zset, _)) => zset.get(member.as_bytes()).map_or(Reply::Nil, |s| Reply::Double(*s)),
                None => Reply::Nil,
            },
            Op::Read(read, key) => self.read(*read, key),
            Op::Del(keys) => {
                let mut count = 0;
                for key in keys {
                    if self.live(key).is_some() {
                        count += 1;
                    }
                    self.map.remove(key.as_bytes());
                }
                Reply::Integer(count)
            }
            Op::Expire { key, amount, millis, flag } => {
                let ms = if *millis { *amount } else { amount * 1000 };
                let when = self.now_ms as i64 + ms;
                let Some(old) = self.live(key).cloned() else { return Reply::Integer(0) };
                if common::expire_refused(*flag, old.expire_at_ms, when) {
                    return Reply::Integer(0);
                }
                // A time already past deletes the key.
                if when <= self.now_ms as i64 {
                    self.map.remove(key.as_bytes());
                } else {
                    self.put(key, old.value, Some(when as u64));
                }
                Reply::Integer(1)
            }
            Op::Persist(key) => match self.live(key).cloned() {
                Some(old) if old.expire_at_ms.is_some() => {
                    self.put(key, old.value, None);
                    Reply::Integer(1)
                }
                _ => Reply::Integer(0),
            },
            Op::PTtl(key) => Reply::Integer(match self.live(key) {
                None => -2,
                Some(Stored { expire_at_ms: None, .. }) => -1,
                Some(Stored { expire_at_ms: Some(at), .. }) => (at - self.now_ms) as i64,
            }),
            Op::Rename(from, to, nx) => {
                let Some(old) = self.live(from).cloned() else { return error("ERR no such key") };
                if from == to {
                    return if *nx { Reply::Integer(0) } else { Reply::Ok };
                }
                if *nx && self.live(to).is_some() {
                    return Reply::Integer(0);
                }
                // The value moves with its TTL.
                self.map.remove(from.as_bytes());
                self.put(to, old.value, old.expire_at_ms);
                if *nx {
                    Reply::Integer(1)
                } else {
                    Reply::Ok
                }
            }
            Op::Copy(from, to, replace) => {
                if from == to {
                    return error("ERR source and destination objects are the same");
                }
                let Some(old) = self.live(from).cloned() else { return Reply::Integer(0) };
                if !replace && self.live(to).is_some() {
                    return Reply::Integer(0);
                }
                // The copy has the source's TTL.
                self.put(to, old.value, old.expire_at_ms);
                Reply::Integer(1)
            }
            Op::Type(key) => Reply::Status(self.live(key).map_or("none", |s| s.value.kind()).to_owned()),
            Op::Advance(_) | Op::ActiveExpire(_) => unreachable!("driven by the test loop"),
        }
    }

    /// ZADD key [NX|XX|GT|LT|CH] [INCR] score member ..., as Redis's `zsetAdd` decides member by
    /// member (ZINCRBY is ZADD INCR).
    fn zadd(&mut self, key: &str, flag: Option<&str>, incr: bool, pairs: &[(&str, &str)]) -> Reply {
        let old = typed!(self, key, ZSet);
        let mut zset = old.as_ref().map_or_else(BTreeMap::new, |(z, _)| z.clone());
        let (mut added, mut updated, mut result) = (0, 0, None);
        for (text, member) in pairs {
            let given = score(text);
            let member = member.as_bytes().to_vec();
            match zset.get(&member).copied() {
                Some(current) => {
                    if flag == Some("NX") {
                        continue;
                    }
                    let new = if incr { current + given } else { given };
                    if new.is_nan() {
                        return error("ERR resulting score is not a number (NaN)");
                    }
                    if (flag == Some("GT") && new <= current) || (flag == Some("LT") && new >= current) {
                        continue;
                    }
                    if new != current {
                        zset.insert(member, new);
                        updated += 1;
                    }
                    result = Some(new);
                }
                None => {
                    if flag == Some("XX") {
                        continue;
                    }
                    zset.insert(member, given);
                    added += 1;
                    result = Some(given);
                }
            }
        }
        self.store(key, Value::ZSet(zset), old.map(|(_, at)| at));
        if incr {
            return result.map_or(Reply::Nil, Reply::Double);
        }
        Reply::Integer(if flag == Some("CH") { added + updated } else { added })
    }
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
