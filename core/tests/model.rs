//! Model-based property test: random command sequences with random clock advances and active
//! expiry, applied to the core state machine and to a plain reference model (a `BTreeMap` with
//! expiry times and modification indexes, written as directly as the Redis documentation reads).
//! Every reply must match, and after every step the whole stored state (keys, values, TTLs,
//! modification indexes) must match.

mod common;

use std::collections::BTreeMap;

use bytes::Bytes;
use common::Node;
use proptest::prelude::*;
use redraft_core::pin::pin;
use redraft_core::snapshot::write_snapshot;
use redraft_core::{Payload, Reply};

const KEYS: &[&str] = &["a", "b", "c", "d", "user:1"];
const VALUES: &[&str] = &["", "0", "1", "-5", "10", "abc", "9223372036854775807", "x y"];

#[derive(Clone, Debug)]
enum Cond {
    Always,
    Nx,
    Xx,
    IfEq(&'static str),
}

#[derive(Clone, Debug)]
enum Ttl {
    None,
    ExSecs(u64),
    PxMs(u64),
    Keep,
}

#[derive(Clone, Debug)]
enum Op {
    Get(&'static str),
    Set { key: &'static str, value: &'static str, cond: Cond, ttl: Ttl, get: bool },
    Del(Vec<&'static str>),
    Exists(Vec<&'static str>),
    IncrBy(&'static str, i64),
    Append(&'static str, &'static str),
    StrLen(&'static str),
    Expire { key: &'static str, amount: i64, millis: bool, flag: Option<&'static str> },
    Persist(&'static str),
    Ttl(&'static str, bool),
    Rename(&'static str, &'static str, bool),
    Copy(&'static str, &'static str, bool),
    MSet(Vec<(&'static str, &'static str)>),
    MGet(Vec<&'static str>),
    GetDel(&'static str),
    SetRange(&'static str, u64, &'static str),
    Keys,
    DbSize,
    Advance(u64),
    ActiveExpire(usize),
}

fn key() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(KEYS)
}

fn value() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(VALUES)
}

fn op() -> impl Strategy<Value = Op> {
    let cond = prop_oneof![
        3 => Just(Cond::Always),
        1 => Just(Cond::Nx),
        1 => Just(Cond::Xx),
        1 => value().prop_map(Cond::IfEq),
    ];
    let ttl = prop_oneof![
        3 => Just(Ttl::None),
        1 => (1u64..4).prop_map(Ttl::ExSecs),
        1 => (1u64..4000).prop_map(Ttl::PxMs),
        1 => Just(Ttl::Keep),
    ];
    let flag = proptest::option::of(proptest::sample::select(&["NX", "XX", "GT", "LT"][..]));
    prop_oneof![
        4 => key().prop_map(Op::Get),
        6 => (key(), value(), cond, ttl, any::<bool>())
            .prop_map(|(key, value, cond, ttl, get)| Op::Set { key, value, cond, ttl, get }),
        2 => proptest::collection::vec(key(), 1..4).prop_map(Op::Del),
        1 => proptest::collection::vec(key(), 1..4).prop_map(Op::Exists),
        3 => (key(), -3i64..4).prop_map(|(k, d)| Op::IncrBy(k, d)),
        2 => (key(), value()).prop_map(|(k, v)| Op::Append(k, v)),
        1 => key().prop_map(Op::StrLen),
        3 => (key(), -1500i64..5000, any::<bool>(), flag)
            .prop_map(|(key, amount, millis, flag)| Op::Expire {
                key,
                amount: if millis { amount } else { amount / 1000 },
                millis,
                flag,
            }),
        1 => key().prop_map(Op::Persist),
        2 => (key(), any::<bool>()).prop_map(|(k, ms)| Op::Ttl(k, ms)),
        1 => (key(), key(), any::<bool>()).prop_map(|(a, b, nx)| Op::Rename(a, b, nx)),
        1 => (key(), key(), any::<bool>()).prop_map(|(a, b, r)| Op::Copy(a, b, r)),
        1 => proptest::collection::vec((key(), value()), 1..4).prop_map(Op::MSet),
        1 => proptest::collection::vec(key(), 1..4).prop_map(Op::MGet),
        1 => key().prop_map(Op::GetDel),
        1 => (key(), 0u64..6, value()).prop_map(|(k, o, v)| Op::SetRange(k, o, v)),
        1 => Just(Op::Keys),
        1 => Just(Op::DbSize),
        3 => (0u64..3000).prop_map(Op::Advance),
        1 => (1usize..4).prop_map(Op::ActiveExpire),
    ]
}

#[derive(Clone, Debug, PartialEq)]
struct Stored {
    value: Vec<u8>,
    expire_at_ms: Option<u64>,
    mod_index: u64,
}

/// The reference: one ordered map, no shards, no heaps, no indexes.
#[derive(Default)]
struct Model {
    map: BTreeMap<Vec<u8>, Stored>,
    now_ms: u64,
    log_index: u64,
    /// Whether writes share the entry the caller counted in `log_index` (one batch entry),
    /// instead of each being an entry of its own.
    in_batch: bool,
}

impl Model {
    fn live(&self, key: &str) -> Option<&Stored> {
        self.map.get(key.as_bytes()).filter(|s| s.expire_at_ms.is_none_or(|at| at > self.now_ms))
    }

    fn value(&self, key: &str) -> Reply {
        self.live(key).map_or(Reply::Nil, |s| Reply::Bulk(Bytes::from(s.value.clone())))
    }

    fn put(&mut self, key: &str, value: Vec<u8>, expire_at_ms: Option<u64>) {
        let mod_index = self.log_index;
        self.map.insert(key.as_bytes().to_vec(), Stored { value, expire_at_ms, mod_index });
    }

    /// Applies one operation; `clock_ms` is the leader's clock that stamps writes.
    fn apply(&mut self, op: &Op, clock_ms: u64) -> Reply {
        if is_write(op) {
            self.log_index += u64::from(!self.in_batch);
            self.now_ms = self.now_ms.max(clock_ms);
        }
        match op {
            Op::Get(key) => self.value(key),
            Op::Set { key, value, cond, ttl, get } => {
                let old = self.live(key).cloned();
                let allowed = match cond {
                    Cond::Always => true,
                    Cond::Nx => old.is_none(),
                    Cond::Xx => old.is_some(),
                    Cond::IfEq(expected) => old.as_ref().is_some_and(|o| o.value == expected.as_bytes()),
                };
                let expire = match ttl {
                    Ttl::None => None,
                    Ttl::ExSecs(s) => Some(self.now_ms + s * 1000),
                    Ttl::PxMs(ms) => Some(self.now_ms + ms),
                    Ttl::Keep => old.as_ref().and_then(|o| o.expire_at_ms),
                };
                if allowed {
                    self.put(key, value.as_bytes().to_vec(), expire);
                }
                match (get, allowed) {
                    (true, _) => old.map_or(Reply::Nil, |o| Reply::Bulk(Bytes::from(o.value))),
                    (false, true) => Reply::Ok,
                    (false, false) => Reply::Nil,
                }
            }
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
            Op::Exists(keys) => Reply::Integer(keys.iter().filter(|k| self.live(k).is_some()).count() as i64),
            Op::IncrBy(key, delta) => {
                let old = self.live(key).cloned();
                let current = match &old {
                    None => 0,
                    Some(o) => match std::str::from_utf8(&o.value).ok().and_then(strict_i64) {
                        Some(n) => n,
                        None => return Reply::Error("ERR value is not an integer or out of range".into()),
                    },
                };
                match current.checked_add(*delta) {
                    None => Reply::Error("ERR increment or decrement would overflow".into()),
                    Some(new) => {
                        self.put(key, new.to_string().into_bytes(), old.and_then(|o| o.expire_at_ms));
                        Reply::Integer(new)
                    }
                }
            }
            Op::Append(key, value) => {
                let old = self.live(key).cloned();
                let mut bytes = old.as_ref().map_or(Vec::new(), |o| o.value.clone());
                bytes.extend_from_slice(value.as_bytes());
                let length = bytes.len() as i64;
                self.put(key, bytes, old.and_then(|o| o.expire_at_ms));
                Reply::Integer(length)
            }
            Op::StrLen(key) => Reply::Integer(self.live(key).map_or(0, |s| s.value.len() as i64)),
            Op::Expire { key, amount, millis, flag } => {
                let ms = if *millis { *amount } else { amount * 1000 };
                let when = self.now_ms as i64 + ms;
                let Some(old) = self.live(key).cloned() else { return Reply::Integer(0) };
                if common::expire_refused(*flag, old.expire_at_ms, when) {
                    return Reply::Integer(0);
                }
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
            Op::Ttl(key, millis) => Reply::Integer(match self.live(key) {
                None => -2,
                Some(Stored { expire_at_ms: None, .. }) => -1,
                Some(Stored { expire_at_ms: Some(at), .. }) => {
                    let left = (at - self.now_ms) as i64;
                    if *millis {
                        left
                    } else {
                        (left + 500) / 1000
                    }
                }
            }),
            Op::Rename(from, to, nx) => {
                let Some(old) = self.live(from).cloned() else {
                    return Reply::Error("ERR no such key".into());
                };
                if from == to {
                    return if *nx { Reply::Integer(0) } else { Reply::Ok };
                }
                if *nx && self.live(to).is_some() {
                    return Reply::Integer(0);
                }
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
                    return Reply::Error("ERR source and destination objects are the same".into());
                }
                let Some(old) = self.live(from).cloned() else { return Reply::Integer(0) };
                if !replace && self.live(to).is_some() {
                    return Reply::Integer(0);
                }
                self.put(to, old.value, old.expire_at_ms);
                Reply::Integer(1)
            }
            Op::MSet(pairs) => {
                for (key, value) in pairs {
                    self.put(key, value.as_bytes().to_vec(), None);
                }
                Reply::Ok
            }
            Op::MGet(keys) => Reply::Array(keys.iter().map(|k| self.value(k)).collect()),
            Op::GetDel(key) => {
                let reply = self.value(key);
                if reply != Reply::Nil {
                    self.map.remove(key.as_bytes());
                }
                reply
            }
            Op::SetRange(key, offset, value) => {
                let old = self.live(key).cloned();
                let mut bytes = old.as_ref().map_or(Vec::new(), |o| o.value.clone());
                if value.is_empty() {
                    return Reply::Integer(bytes.len() as i64);
                }
                let end = *offset as usize + value.len();
                if bytes.len() < end {
                    bytes.resize(end, 0);
                }
                bytes[*offset as usize..end].copy_from_slice(value.as_bytes());
                let length = bytes.len() as i64;
                self.put(key, bytes, old.and_then(|o| o.expire_at_ms));
                Reply::Integer(length)
            }
            Op::Keys => Reply::Array(
                self.map
                    .iter()
                    .filter(|(_, s)| s.expire_at_ms.is_none_or(|at| at > self.now_ms))
                    .map(|(k, _)| Reply::Bulk(Bytes::from(k.clone())))
                    .collect(),
            ),
            Op::DbSize => Reply::Integer(self.map.len() as i64),
            Op::Advance(_) | Op::ActiveExpire(_) => unreachable!("driven by the test loop"),
        }
    }
}

fn is_write(op: &Op) -> bool {
    !matches!(
        op,
        Op::Get(_) | Op::Exists(_) | Op::StrLen(_) | Op::Ttl(..) | Op::MGet(_) | Op::Keys | Op::DbSize
    )
}

fn strict_i64(text: &str) -> Option<i64> {
    // The model's own reading of Redis's rule: canonical decimal text only.
    let n: i64 = text.parse().ok()?;
    (n.to_string() == text).then_some(n)
}

fn args(op: &Op) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
    match op {
        Op::Get(k) => push(&["GET", k]),
        Op::Set { key, value, cond, ttl, get } => {
            push(&["SET", key, value]);
            match cond {
                Cond::Always => {}
                Cond::Nx => push(&["NX"]),
                Cond::Xx => push(&["XX"]),
                Cond::IfEq(v) => push(&["IFEQ", v]),
            }
            match ttl {
                Ttl::None => {}
                Ttl::ExSecs(s) => push(&["EX", &s.to_string()]),
                Ttl::PxMs(ms) => push(&["PX", &ms.to_string()]),
                Ttl::Keep => push(&["KEEPTTL"]),
            }
            if *get {
                push(&["GET"]);
            }
        }
        Op::Del(keys) => {
            push(&["DEL"]);
            push(keys);
        }
        Op::Exists(keys) => {
            push(&["EXISTS"]);
            push(keys);
        }
        Op::IncrBy(k, d) => push(&["INCRBY", k, &d.to_string()]),
        Op::Append(k, v) => push(&["APPEND", k, v]),
        Op::StrLen(k) => push(&["STRLEN", k]),
        Op::Expire { key, amount, millis, flag } => {
            push(&[if *millis { "PEXPIRE" } else { "EXPIRE" }, key, &amount.to_string()]);
            if let Some(flag) = flag {
                push(&[flag]);
            }
        }
        Op::Persist(k) => push(&["PERSIST", k]),
        Op::Ttl(k, ms) => push(&[if *ms { "PTTL" } else { "TTL" }, k]),
        Op::Rename(a, b, nx) => push(&[if *nx { "RENAMENX" } else { "RENAME" }, a, b]),
        Op::Copy(a, b, replace) => {
            push(&["COPY", a, b]);
            if *replace {
                push(&["REPLACE"]);
            }
        }
        Op::MSet(pairs) => {
            push(&["MSET"]);
            for (k, v) in pairs {
                push(&[k, v]);
            }
        }
        Op::MGet(keys) => {
            push(&["MGET"]);
            push(keys);
        }
        Op::GetDel(k) => push(&["GETDEL", k]),
        Op::SetRange(k, o, v) => push(&["SETRANGE", k, &o.to_string(), v]),
        Op::Keys => push(&["KEYS", "*"]),
        Op::DbSize => push(&["DBSIZE"]),
        Op::Advance(_) | Op::ActiveExpire(_) => unreachable!(),
    }
    a
}

fn stored_state(node: &Node) -> BTreeMap<Vec<u8>, Stored> {
    node.sm
        .freeze()
        .keys
        .into_iter()
        .map(|(k, e)| {
            (
                k.to_vec(),
                Stored {
                    value: e.value.as_string().expect("the model writes strings").to_vec(),
                    expire_at_ms: e.expire_at_ms,
                    mod_index: e.mod_index,
                },
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Replies and stored state of the core equal the reference model's after every step.
    #[test]
    fn core_matches_reference_model(ops in proptest::collection::vec(op(), 1..80), seed in any::<u64>()) {
        let mut node = Node::with_seed(seed);
        let mut model = Model { now_ms: 0, ..Model::default() };
        for (step, op) in ops.iter().enumerate() {
            match op {
                Op::Advance(ms) => {
                    node.advance_ms(*ms);
                    model.log_index += 1;
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
                                s.expire_at_ms.is_some_and(|at| at <= model.now_ms) && !keys.iter().any(|c| c[..] == k[..])
                            })
                            .count();
                        prop_assert_eq!(left, 0, "step {}: expired keys left uncollected", step);
                    }
                    let removed = node.append(Payload::ExpireBatch { keys: keys.clone() });
                    model.log_index += 1;
                    model.now_ms = model.now_ms.max(node.clock_ms);
                    for key in &keys {
                        model.map.remove(&key[..]);
                    }
                    prop_assert_eq!(removed, Reply::Integer(keys.len() as i64));
                }
                op => {
                    let args = args(op);
                    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
                    let got = node.run(&argv);
                    let want = model.apply(op, node.clock_ms);
                    prop_assert_eq!(got, want, "step {}: {:?}", step, argv);
                }
            }
            prop_assert_eq!(node.sm.time_ms(), model.now_ms, "time after step {}", step);
            prop_assert_eq!(stored_state(&node), model.map.clone(), "state after step {}", step);
        }
    }

    /// The same with consecutive writes packed into batch entries of up to `cuts[i]` writes, as
    /// the leader's proposer packs them: each write of a batch answers what it answers alone,
    /// in order, sees the writes before it in its batch, and is stamped with the batch's index.
    #[test]
    fn batches_of_writes_match_the_reference_model(
        ops in proptest::collection::vec(op(), 1..80),
        cuts in proptest::collection::vec(1usize..8, 80),
        seed in any::<u64>(),
    ) {
        let mut node = Node::with_seed(seed);
        let mut model = Model { now_ms: 0, ..Model::default() };
        let (mut step, mut batches) = (0, 0);
        while step < ops.len() {
            let op = &ops[step];
            match op {
                Op::Advance(ms) => {
                    node.advance_ms(*ms);
                    model.log_index += 1;
                    model.now_ms = node.clock_ms;
                    step += 1;
                }
                Op::ActiveExpire(max) => {
                    let keys = node.sm.collect_expired(node.clock_ms, *max);
                    node.append(Payload::ExpireBatch { keys: keys.clone() });
                    model.log_index += 1;
                    model.now_ms = model.now_ms.max(node.clock_ms);
                    for key in &keys {
                        model.map.remove(&key[..]);
                    }
                    step += 1;
                }
                op if !is_write(op) => {
                    let args = args(op);
                    let got = node.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
                    prop_assert_eq!(got, model.apply(op, node.clock_ms), "step {}: {:?}", step, args);
                    step += 1;
                }
                _ => {
                    let end = (step..ops.len())
                        .take(cuts[batches % cuts.len()])
                        .take_while(|&i| is_write(&ops[i]) && !matches!(ops[i], Op::Advance(_) | Op::ActiveExpire(_)))
                        .last()
                        .expect("this step is a write")
                        + 1;
                    batches += 1;
                    let writes: Vec<_> = ops[step..end]
                        .iter()
                        .map(|op| {
                            let args = args(op);
                            node.parse_write(&args.iter().map(String::as_str).collect::<Vec<_>>())
                                .expect("the model's writes parse")
                        })
                        .collect();
                    let got = node.append_all(Payload::Batch { writes: writes.into() });
                    model.log_index += 1;
                    model.in_batch = true;
                    let want: Vec<Reply> = ops[step..end].iter().map(|op| model.apply(op, node.clock_ms)).collect();
                    model.in_batch = false;
                    prop_assert_eq!(got, want, "steps {}..{}: {:?}", step, end, &ops[step..end]);
                    step = end;
                }
            }
            prop_assert_eq!(node.sm.time_ms(), model.now_ms, "time before step {}", step);
            prop_assert_eq!(stored_state(&node), model.map.clone(), "state before step {}", step);
        }
    }

    /// A snapshot pinned at any step (`pin.rs`) and written after every later step holds the
    /// state at its step, byte for byte what a copy frozen then writes: every command that
    /// replaces or removes a record keeps the pinned one.
    #[test]
    fn a_pin_holds_the_state_at_its_step(
        ops in proptest::collection::vec(op(), 1..80),
        seed in any::<u64>(),
        pin_step in 0usize..80,
    ) {
        let mut node = Node::with_seed(seed);
        let mut pinned = None;
        for (step, op) in ops.iter().enumerate() {
            if step == pin_step {
                let frozen = write_snapshot(Vec::new(), &node.sm.freeze(), None, Bytes::new()).unwrap();
                pinned = Some((pin(&node.sm).expect("no pin is held"), frozen));
            }
            match op {
                Op::Advance(ms) => node.advance_ms(*ms),
                Op::ActiveExpire(max) => {
                    let keys = node.sm.collect_expired(node.clock_ms, *max);
                    node.append(Payload::ExpireBatch { keys });
                }
                op => {
                    let args = args(op);
                    node.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
                }
            }
        }
        if let Some((pinned, frozen)) = pinned {
            let written = pinned.write(Vec::new(), None, Bytes::new()).unwrap();
            prop_assert!(written == frozen, "the pin at step {} wrote another state", pin_step);
        }
    }
}
