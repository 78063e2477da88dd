//! Running the sorted-set commands (`types/zset_commands.rs`), with Redis 7's replies. A write that
//! would change nothing leaves the key as it was, its revision included.

use std::ops::Deref;

use bytes::Bytes;

use super::context::{aggregate_of, Exec};
use crate::command::CommandName;
use crate::keyspace_event::EventClass;
use crate::map::{Locked, Shard};
use crate::reply::{errors, Reply};
use crate::stored_key::StoredKey;
use crate::types::random::{pick, Random};
use crate::types::scan;
use crate::types::zset::ZSet;
use crate::types::zset_commands::{AddOptions, AggregateBy, CombineOptions, RangeBy, RangeSpec, ZSetCommand};
use crate::types::{Aggregate, Kind, Value};

/// A sorted set's members and scores, owned, in order.
type Members = Vec<(Bytes, f64)>;

/// Runs a read-only sorted-set command.
pub(crate) fn read<G: Deref<Target = Shard>>(
    command: &ZSetCommand,
    view: &Locked<'_, G>,
    now_ms: u64,
) -> Reply {
    match command {
        ZSetCommand::Range { range, .. } => match zset_of(view.live(&range.key, now_ms)) {
            Ok(zset) => members_reply(select(zset, range), range.with_scores),
            Err(wrong_type) => wrong_type,
        },
        ZSetCommand::Combine { name, keys, combine, .. } => {
            match combined(*name, keys, combine, view, now_ms) {
                Ok(members) => members_reply(members, combine.with_scores),
                Err(wrong_type) => wrong_type,
            }
        }
        _ => {
            let mut key = None;
            command.for_each_key(|k| key = key.or(Some(k)));
            let zset = match zset_of(view.live(key.expect("a key"), now_ms)) {
                Ok(zset) => zset,
                Err(wrong_type) => return wrong_type,
            };
            read_one(command, zset)
        }
    }
}

fn read_one(command: &ZSetCommand, zset: Option<&ZSet>) -> Reply {
    let score = |member: &[u8]| zset.and_then(|z| z.score(member)).map_or(Reply::Nil, Reply::Double);
    match command {
        ZSetCommand::Score { member, .. } => score(member),
        ZSetCommand::MScore { members, .. } => Reply::Array(members.iter().map(|m| score(m)).collect()),
        ZSetCommand::Card { .. } => Reply::Integer(zset.map_or(0, |z| z.len() as i64)),
        ZSetCommand::Count { min, max, .. } => {
            Reply::Integer(zset.map_or(0, |z| z.by_score(*min, *max).count() as i64))
        }
        ZSetCommand::LexCount { min, max, .. } => {
            Reply::Integer(zset.map_or(0, |z| z.by_lex(min, max).count() as i64))
        }
        ZSetCommand::Rank { name, member, .. } => {
            let Some(zset) = zset else { return Reply::Nil };
            match zset.rank(member) {
                Some(rank) if *name == CommandName::ZRevRank => {
                    Reply::Integer((zset.len() - 1 - rank) as i64)
                }
                Some(rank) => Reply::Integer(rank as i64),
                None => Reply::Nil,
            }
        }
        ZSetCommand::Scan { cursor, options, .. } => {
            let Some(zset) = zset else { return scan::reply(0, Vec::new()) };
            match scan::scan(zset.iter(), zset.len(), *cursor, options) {
                Ok((next, found)) => scan::reply(
                    next,
                    found
                        .into_iter()
                        .flat_map(|(m, s)| {
                            [bulk(m), Reply::Bulk(Bytes::from(crate::types::zset::format_score(s)))]
                        })
                        .collect(),
                ),
                Err(error) => error,
            }
        }
        ZSetCommand::RandMember { count, with_scores, seed, .. } => {
            let mut random = Random::new(*seed);
            let Some(zset) = zset else {
                return if count.is_some() { Reply::Array(Vec::new()) } else { Reply::Nil };
            };
            // The B-tree has no positions: the members are listed once, O(N), as SRANDMEMBER's
            // set would not need.
            let members: Vec<(&[u8], f64)> = zset.iter().collect();
            match count {
                None => bulk(members[random.below(members.len())].0),
                Some(count) => {
                    let picked = pick(members.len(), *count, &mut random).into_iter().map(|at| members[at]);
                    if *with_scores {
                        Reply::Pairs(picked.map(|(m, s)| (bulk(m), Reply::Double(s))).collect())
                    } else {
                        Reply::Array(picked.map(|(m, _)| bulk(m)).collect())
                    }
                }
            }
        }
        write => panic!("{} is a write and cannot run on the read path", write.name().as_str()),
    }
}

/// Runs any sorted-set command, read or write, as the entry at `exec.log_index`.
pub(crate) fn write(command: &ZSetCommand, exec: &mut Exec<'_, '_>) -> Reply {
    let now_ms = exec.now_ms;
    match command {
        ZSetCommand::Add { key, options, pairs } => {
            let zset = match zset_of(exec.view.live(key, now_ms)) {
                Ok(zset) => zset,
                Err(wrong_type) => return wrong_type,
            };
            add(exec, key, zset.cloned_scores(pairs), options, pairs)
        }
        ZSetCommand::IncrBy { key, delta, member } => {
            let zset = match zset_of(exec.view.live(key, now_ms)) {
                Ok(zset) => zset,
                Err(wrong_type) => return wrong_type,
            };
            let pairs = [(*delta, member.clone())];
            let options = AddOptions { incr: true, ..AddOptions::default() };
            add(exec, key, zset.cloned_scores(&pairs), &options, &pairs)
        }
        ZSetCommand::Rem { key, members } => {
            let zset = match zset_of(exec.view.live(key, now_ms)) {
                Ok(zset) => zset,
                Err(wrong_type) => return wrong_type,
            };
            if !zset.is_some_and(|z| members.iter().any(|m| z.score(m).is_some())) {
                return Reply::Integer(0);
            }
            let removed = exec.update(key, Kind::ZSet, |a| {
                let zset = as_zset_mut(a);
                members.iter().filter(|m| zset.remove(m)).count()
            });
            exec.notify_changed(EventClass::ZSet, "zrem", key);
            Reply::Integer(removed as i64)
        }
        ZSetCommand::RemRange { name, key, by } => {
            let doomed = match zset_of(exec.view.live(key, now_ms)) {
                Ok(zset) => {
                    let range = RangeSpec {
                        key: key.clone(),
                        by: by.clone(),
                        rev: false,
                        limit: None,
                        with_scores: false,
                    };
                    select(zset, &range)
                }
                Err(wrong_type) => return wrong_type,
            };
            if doomed.is_empty() {
                return Reply::Integer(0);
            }
            exec.update(key, Kind::ZSet, |a| {
                let zset = as_zset_mut(a);
                doomed.iter().for_each(|(m, _)| {
                    zset.remove(m);
                });
            });
            let event = match name {
                CommandName::ZRemRangeByRank => "zremrangebyrank",
                CommandName::ZRemRangeByScore => "zremrangebyscore",
                _ => "zremrangebylex",
            };
            exec.notify_changed(EventClass::ZSet, event, key);
            Reply::Integer(doomed.len() as i64)
        }
        ZSetCommand::Pop { name, key, count } => {
            let popped = match zset_of(exec.view.live(key, now_ms)) {
                Ok(Some(zset)) => {
                    let wanted = count.unwrap_or(1);
                    let members = zset.iter().map(|(m, s)| (Bytes::copy_from_slice(m), s));
                    if *name == CommandName::ZPopMax {
                        members.rev().take(wanted).collect::<Members>()
                    } else {
                        members.take(wanted).collect::<Members>()
                    }
                }
                Ok(None) => Vec::new(),
                Err(wrong_type) => return wrong_type,
            };
            if !popped.is_empty() {
                exec.update(key, Kind::ZSet, |a| {
                    let zset = as_zset_mut(a);
                    popped.iter().for_each(|(m, _)| {
                        zset.remove(m);
                    });
                });
                let event = if *name == CommandName::ZPopMax { "zpopmax" } else { "zpopmin" };
                exec.notify_changed(EventClass::ZSet, event, key);
            }
            match count {
                // Without a count, one member and its score, flat, in either protocol.
                None => Reply::Array(
                    popped.into_iter().flat_map(|(m, s)| [Reply::Bulk(m), Reply::Double(s)]).collect(),
                ),
                Some(_) => members_reply(popped, true),
            }
        }
        ZSetCommand::BlockingPop { name, keys, deadline_ms, .. } => {
            if deadline_ms.is_some_and(|deadline| now_ms > deadline) {
                return Reply::NilArray;
            }
            let Some(key) = keys.iter().find(|key| exec.view.live(key, now_ms).is_some()) else {
                return Reply::NilArray;
            };
            let (member, score) = match zset_of(exec.view.live(key, now_ms)) {
                Ok(Some(zset)) => {
                    let mut members = zset.iter();
                    let (member, score) =
                        if *name == CommandName::BZPopMax { members.next_back() } else { members.next() }
                            .expect("a stored sorted set is never empty");
                    (Bytes::copy_from_slice(member), score)
                }
                Ok(None) => return Reply::NilArray,
                Err(wrong_type) => return wrong_type,
            };
            exec.update(key, Kind::ZSet, |a| as_zset_mut(a).remove(&member));
            let event = if *name == CommandName::BZPopMax { "zpopmax" } else { "zpopmin" };
            exec.notify_changed(EventClass::ZSet, event, key);
            Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Bulk(member), Reply::Double(score)])
        }
        ZSetCommand::Range { destination: Some(destination), range, .. } => {
            let members = match zset_of(exec.view.live(&range.key, now_ms)) {
                Ok(zset) => select(zset, range),
                Err(wrong_type) => return wrong_type,
            };
            store(exec, destination, members, "zrangestore")
        }
        ZSetCommand::Combine { name, destination: Some(destination), keys, combine } => {
            let members = match combined(*name, keys, combine, exec.view, now_ms) {
                Ok(members) => members,
                Err(wrong_type) => return wrong_type,
            };
            let event = match name {
                CommandName::ZUnionStore => "zunionstore",
                CommandName::ZInterStore => "zinterstore",
                _ => "zdiffstore",
            };
            store(exec, destination, members, event)
        }
        read_only => read(read_only, exec.view, now_ms),
    }
}

/// ZADD (and ZINCRBY, as ZADD INCR): `current` holds the scores the members have now.
fn add(
    exec: &mut Exec<'_, '_>,
    key: &[u8],
    current: Vec<Option<f64>>,
    options: &AddOptions,
    pairs: &[(f64, Bytes)],
) -> Reply {
    let mut changes = Vec::new();
    let (mut added, mut changed) = (0, 0);
    let mut incr_result = None;
    for ((score, member), old) in pairs.iter().zip(current) {
        // A member named twice sees the score its first mention gave it.
        let old = changes.iter().rev().find(|(m, _)| m == member).map(|(_, s)| Some(*s)).unwrap_or(old);
        if (options.only_new && old.is_some()) || (options.only_existing && old.is_none()) {
            continue;
        }
        let new = match (options.incr, old) {
            (true, Some(old)) => old + score,
            _ => *score,
        };
        if new.is_nan() {
            return Reply::Error("ERR resulting score is not a number (NaN)".to_owned());
        }
        if let Some(old) = old {
            if (options.greater && new <= old) || (options.less && new >= old) {
                continue;
            }
            if new != old {
                changed += 1;
            }
        } else {
            added += 1;
        }
        incr_result = Some(new);
        if old != Some(new) {
            changes.push((member.clone(), new));
        }
    }
    if !changes.is_empty() {
        exec.update(key, Kind::ZSet, |a| {
            let zset = as_zset_mut(a);
            changes.iter().for_each(|(m, s)| {
                zset.insert(m, *s);
            });
        });
        exec.notify(EventClass::ZSet, if options.incr { "zincr" } else { "zadd" }, key);
    }
    if options.incr {
        return incr_result.map_or(Reply::Nil, Reply::Double);
    }
    Reply::Integer(if options.changed { added + changed } else { added })
}

/// Replaces `destination` with a sorted set of `members` (keeping no TTL), or removes it when
/// there are none, as the STORE commands do, raising `event` or `del`; answers how many it holds.
fn store(exec: &mut Exec<'_, '_>, destination: &[u8], members: Members, event: &'static str) -> Reply {
    if members.is_empty() {
        if exec.view.remove(destination, exec.log_index) {
            exec.notify(EventClass::Generic, "del", destination);
        }
    } else {
        let mut zset = ZSet::default();
        members.iter().for_each(|(m, s)| {
            zset.insert(m, *s);
        });
        exec.put(destination, Value::Aggregate(Box::new(Aggregate::ZSet(zset))), None);
        exec.notify(EventClass::ZSet, event, destination);
    }
    Reply::Integer(members.len() as i64)
}

/// ZUNION, ZINTER or ZDIFF of the keys' sorted sets (a set counts as a sorted set of score 1, as
/// in Redis), weighted and aggregated, in score order.
fn combined<G: Deref<Target = Shard>>(
    name: CommandName,
    keys: &[Bytes],
    options: &CombineOptions,
    view: &Locked<'_, G>,
    now_ms: u64,
) -> Result<Members, Reply> {
    use CommandName as N;
    let mut inputs: Vec<Option<Members>> = Vec::with_capacity(keys.len());
    // The keys' types are checked before the options, as Redis checks them.
    for key in keys {
        let stored = view.live(key, now_ms);
        inputs.push(match stored.and_then(StoredKey::aggregate) {
            None if stored.is_some() => return Err(wrong_type()),
            None => None,
            Some(Aggregate::ZSet(zset)) => {
                Some(zset.iter().map(|(m, s)| (Bytes::copy_from_slice(m), s)).collect())
            }
            Some(Aggregate::Set(set)) => Some(set.iter().map(|m| (Bytes::copy_from_slice(m), 1.0)).collect()),
            Some(_) => return Err(wrong_type()),
        });
    }
    if let Some(error) = &options.error {
        return Err(Reply::Error(error.clone()));
    }
    let weigh = |score: f64, weight: f64| {
        let weighted = score * weight;
        // inf * 0 is NaN in IEEE; Redis makes it 0.
        if weighted.is_nan() {
            0.0
        } else {
            weighted
        }
    };
    let aggregate = |a: f64, b: f64| match options.aggregate {
        AggregateBy::Sum => {
            let sum = a + b;
            if sum.is_nan() {
                0.0
            } else {
                sum
            }
        }
        AggregateBy::Min => a.min(b),
        AggregateBy::Max => a.max(b),
    };
    let mut result = ZSet::default();
    match name {
        N::ZUnion | N::ZUnionStore => {
            for (input, weight) in inputs.iter().zip(&options.weights) {
                for (member, score) in input.iter().flatten() {
                    let score = weigh(*score, *weight);
                    let new = result.score(member).map_or(score, |old| aggregate(old, score));
                    result.insert(member, new);
                }
            }
        }
        N::ZInter | N::ZInterStore => {
            if inputs.iter().all(Option::is_some) {
                let (first, others) = inputs.split_first().expect("at least one key");
                let lookups: Vec<ZSet> = others.iter().flatten().map(to_zset).collect();
                for (member, score) in first.iter().flatten() {
                    let mut total = weigh(*score, options.weights[0]);
                    let mut everywhere = true;
                    for (zset, weight) in lookups.iter().zip(&options.weights[1..]) {
                        match zset.score(member) {
                            Some(other) => total = aggregate(total, weigh(other, *weight)),
                            None => everywhere = false,
                        }
                    }
                    if everywhere {
                        result.insert(member, total);
                    }
                }
            }
        }
        _ => {
            let (first, others) = inputs.split_first().expect("at least one key");
            let lookups: Vec<ZSet> = others.iter().flatten().map(to_zset).collect();
            for (member, score) in first.iter().flatten() {
                if lookups.iter().all(|z| z.score(member).is_none()) {
                    result.insert(member, *score);
                }
            }
        }
    }
    Ok(result.iter().map(|(m, s)| (Bytes::copy_from_slice(m), s)).collect())
}

fn to_zset(members: &Members) -> ZSet {
    let mut zset = ZSet::default();
    members.iter().for_each(|(m, s)| {
        zset.insert(m, *s);
    });
    zset
}

/// The members a ZRANGE selects, in the order it answers them.
fn select(zset: Option<&ZSet>, range: &RangeSpec) -> Members {
    let Some(zset) = zset else { return Vec::new() };
    let owned = |(m, s): (&[u8], f64)| (Bytes::copy_from_slice(m), s);
    let (offset, count) = match range.limit {
        Some((offset, _)) if offset < 0 => return Vec::new(),
        Some((offset, count)) => (offset as usize, usize::try_from(count).unwrap_or(usize::MAX)),
        None => (0, usize::MAX),
    };
    let selected: Box<dyn Iterator<Item = (&[u8], f64)>> = match &range.by {
        RangeBy::Rank(start, stop) => {
            let len = zset.len() as i64;
            let start = if *start < 0 { (len + start).max(0) } else { *start };
            let stop = if *stop < 0 { len + stop } else { (*stop).min(len - 1) };
            if start > stop || start >= len {
                return Vec::new();
            }
            let (skip, take) = (start as usize, (stop - start + 1) as usize);
            if range.rev {
                Box::new(zset.iter().rev().skip(skip).take(take))
            } else {
                Box::new(zset.iter().skip(skip).take(take))
            }
        }
        RangeBy::Score(first, second) if range.rev => Box::new(zset.by_score(*second, *first).rev()),
        RangeBy::Score(min, max) => Box::new(zset.by_score(*min, *max)),
        RangeBy::Lex(first, second) if range.rev => Box::new(zset.by_lex(second, first).rev()),
        RangeBy::Lex(min, max) => Box::new(zset.by_lex(min, max)),
    };
    selected.skip(offset).take(count).map(owned).collect()
}

fn members_reply(members: Members, with_scores: bool) -> Reply {
    if with_scores {
        Reply::Pairs(members.into_iter().map(|(m, s)| (Reply::Bulk(m), Reply::Double(s))).collect())
    } else {
        Reply::Array(members.into_iter().map(|(m, _)| Reply::Bulk(m)).collect())
    }
}

/// A live key's sorted set; Redis's WRONGTYPE error if it holds another type.
fn zset_of(stored: Option<&StoredKey>) -> Result<Option<&ZSet>, Reply> {
    Ok(aggregate_of(stored, Kind::ZSet)?.and_then(|a| match a {
        Aggregate::ZSet(zset) => Some(zset),
        _ => None,
    }))
}

fn as_zset_mut(aggregate: &mut Aggregate) -> &mut ZSet {
    match aggregate {
        Aggregate::ZSet(zset) => zset,
        other => unreachable!("update_aggregate hands over a sorted set, not a {}", other.kind().as_str()),
    }
}

fn wrong_type() -> Reply {
    Reply::Error(errors::WRONG_TYPE.to_owned())
}

fn bulk(bytes: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(bytes))
}

/// The scores some members have now, for ZADD to decide before it changes anything.
trait CurrentScores {
    fn cloned_scores(&self, pairs: &[(f64, Bytes)]) -> Vec<Option<f64>>;
}

impl CurrentScores for Option<&ZSet> {
    fn cloned_scores(&self, pairs: &[(f64, Bytes)]) -> Vec<Option<f64>> {
        pairs.iter().map(|(_, m)| self.and_then(|z| z.score(m))).collect()
    }
}
