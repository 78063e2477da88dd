//! The reference model the aggregate model test holds the core to: one ordered map of plain
//! values (a `Vec`, a `BTreeMap` or a `BTreeSet` for each aggregate), written as directly as the
//! Redis documentation reads.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use redraft_core::Reply;

use super::{common, is_write, Op, Read, NOT_POSITIVE, WRONG_TYPE};

/// What a key holds, in the plainest form that has the type's semantics.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(Vec<u8>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    List(Vec<Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
    ZSet(BTreeMap<Vec<u8>, f64>),
}

impl Value {
    /// The name TYPE answers.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    pub fn is_empty(&self) -> bool {
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
pub struct Stored {
    pub value: Value,
    pub expire_at_ms: Option<u64>,
}

/// The reference: one ordered map, no shards, no heaps, no indexes.
#[derive(Default)]
pub struct Model {
    pub map: BTreeMap<Vec<u8>, Stored>,
    pub now_ms: u64,
}

fn bulk(bytes: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(bytes))
}

fn error(text: &str) -> Reply {
    Reply::Error(text.to_owned())
}

/// A sorted set's members lowest first: by score, then by member.
pub fn by_score(zset: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
    let mut members: Vec<(Vec<u8>, f64)> = zset.iter().map(|(m, s)| (m.clone(), *s)).collect();
    members.sort_by(|a, b| a.1.partial_cmp(&b.1).expect("no NaN score").then_with(|| a.0.cmp(&b.0)));
    members
}

/// A score as ZADD reads it (the test only uses texts Rust reads alike).
pub fn score(text: &str) -> f64 {
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
    pub fn apply(&mut self, op: &Op, clock_ms: u64) -> Reply {
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
