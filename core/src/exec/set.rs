//! Running the set commands, with Redis 7's replies and error texts. SMEMBERS and the set
//! algebra are O(N), as in Redis.

use std::ops::Deref;

use bytes::Bytes;

use super::context::{aggregate_of, Exec};
use crate::command::CommandName;
use crate::keyspace_event::EventClass;
use crate::map::{Locked, Shard};
use crate::reply::Reply;
use crate::types::random::{pick, Random};
use crate::types::scan;
use crate::types::set_commands::SetsCommand;
use crate::types::{Aggregate, Kind, Set, Value};

/// The sets under `keys` (an absent key is an empty set), or WRONGTYPE if any holds another
/// type.
fn sets_of<'v, G: Deref<Target = Shard>>(
    keys: &[Bytes],
    view: &'v Locked<'_, G>,
    now_ms: u64,
) -> Result<Vec<Option<&'v Set>>, Reply> {
    keys.iter().map(|key| Ok(aggregate_of(view.live(key, now_ms), Kind::Set)?.and_then(as_set))).collect()
}

/// SINTER, SUNION or SDIFF of `sets`, in the order of the first set (of the smallest, for an
/// intersection); `limit` stops an intersection early (0 for none).
fn combine(name: CommandName, sets: &[Option<&Set>], limit: usize) -> Vec<Bytes> {
    let copy = |member: &[u8]| Bytes::copy_from_slice(member);
    let contains = |set: &Option<&Set>, member: &[u8]| set.is_some_and(|s| s.contains(member));
    match name {
        CommandName::SInter | CommandName::SInterStore | CommandName::SInterCard => {
            if sets.iter().any(Option::is_none) {
                return Vec::new();
            }
            let smallest = sets.iter().flatten().min_by_key(|s| s.len()).expect("at least one set");
            let members = smallest.iter().filter(|m| sets.iter().all(|s| contains(s, m)));
            members.take(if limit == 0 { usize::MAX } else { limit }).map(copy).collect()
        }
        CommandName::SUnion | CommandName::SUnionStore => {
            let mut union = Set::default();
            for member in sets.iter().flatten().flat_map(|s| s.iter()) {
                union.insert(member);
            }
            union.iter().map(copy).collect()
        }
        _ => {
            let (first, others) = sets.split_first().expect("at least one key");
            let members = first.iter().flat_map(|s| s.iter());
            members.filter(|m| !others.iter().any(|s| contains(s, m))).map(copy).collect()
        }
    }
}

/// Runs a read-only set command.
pub(crate) fn read<G: Deref<Target = Shard>>(
    command: &SetsCommand,
    view: &Locked<'_, G>,
    now_ms: u64,
) -> Reply {
    let bulk = |member: &[u8]| Reply::Bulk(Bytes::copy_from_slice(member));
    match command {
        SetsCommand::Combine { name, keys } => match sets_of(keys, view, now_ms) {
            Ok(sets) => Reply::Set(combine(*name, &sets, 0).into_iter().map(Reply::Bulk).collect()),
            Err(wrong_type) => wrong_type,
        },
        SetsCommand::InterCard { keys, limit } => match sets_of(keys, view, now_ms) {
            Ok(sets) => Reply::Integer(combine(CommandName::SInterCard, &sets, *limit).len() as i64),
            Err(wrong_type) => wrong_type,
        },
        SetsCommand::Members { key }
        | SetsCommand::IsMember { key, .. }
        | SetsCommand::MIsMember { key, .. }
        | SetsCommand::Card { key }
        | SetsCommand::Scan { key, .. }
        | SetsCommand::RandMember { key, .. } => {
            let set = match aggregate_of(view.live(key, now_ms), Kind::Set) {
                Ok(found) => found.and_then(as_set),
                Err(wrong_type) => return wrong_type,
            };
            let has = |member: &[u8]| Reply::Integer(i64::from(set.is_some_and(|s| s.contains(member))));
            match command {
                SetsCommand::Members { .. } => {
                    Reply::Set(set.into_iter().flat_map(Set::iter).map(bulk).collect())
                }
                SetsCommand::IsMember { member, .. } => has(member),
                SetsCommand::MIsMember { members, .. } => {
                    Reply::Array(members.iter().map(|m| has(m)).collect())
                }
                SetsCommand::Card { .. } => Reply::Integer(set.map_or(0, |s| s.len() as i64)),
                SetsCommand::Scan { cursor, options, .. } => {
                    let Some(set) = set else { return scan::reply(0, Vec::new()) };
                    match scan::scan(set.iter().map(|m| (m, ())), set.len(), *cursor, options) {
                        Ok((next, found)) => {
                            scan::reply(next, found.into_iter().map(|(m, ())| bulk(m)).collect())
                        }
                        Err(error) => error,
                    }
                }
                SetsCommand::RandMember { count, seed, .. } => {
                    let mut random = Random::new(*seed);
                    match (set, count) {
                        (None, None) => Reply::Nil,
                        (None, Some(_)) => Reply::Array(Vec::new()),
                        (Some(set), None) => bulk(set.get_index(random.below(set.len())).expect("in range")),
                        (Some(set), Some(count)) => {
                            let picked = pick(set.len(), *count, &mut random).into_iter();
                            Reply::Array(
                                picked.map(|at| bulk(set.get_index(at).expect("in range"))).collect(),
                            )
                        }
                    }
                }
                _ => unreachable!("matched above"),
            }
        }
        write => panic!("{} is a write and cannot run on the read path", write.name().as_str()),
    }
}

/// Runs any set command, read or write, as the entry at `exec.log_index`. A write that changes
/// nothing (SADD of members all present, SREM of members all absent, an SMOVE that finds nothing
/// to move) leaves the key as it was, its revision included.
pub(crate) fn write(command: &SetsCommand, exec: &mut Exec<'_, '_>) -> Reply {
    let (now_ms, log_index) = (exec.now_ms, exec.log_index);
    fn set_of<'e>(exec: &'e Exec<'_, '_>, key: &[u8], now_ms: u64) -> Result<Option<&'e Set>, Reply> {
        aggregate_of(exec.view.live(key, now_ms), Kind::Set).map(|found| found.and_then(as_set))
    }
    match command {
        SetsCommand::Add { key, members } => {
            let set = match set_of(exec, key, now_ms) {
                Ok(set) => set,
                Err(wrong_type) => return wrong_type,
            };
            if set.is_some_and(|s| members.iter().all(|m| s.contains(m))) {
                return Reply::Integer(0);
            }
            let added = exec.update(key, Kind::Set, |aggregate| {
                let set = as_set_mut(aggregate);
                members.iter().filter(|m| set.insert(m)).count()
            });
            exec.notify(EventClass::Set, "sadd", key);
            Reply::Integer(added as i64)
        }
        SetsCommand::Rem { key, members } => {
            let set = match set_of(exec, key, now_ms) {
                Ok(set) => set,
                Err(wrong_type) => return wrong_type,
            };
            if !set.is_some_and(|s| members.iter().any(|m| s.contains(m))) {
                return Reply::Integer(0);
            }
            let removed = exec.update(key, Kind::Set, |aggregate| {
                let set = as_set_mut(aggregate);
                members.iter().filter(|m| set.remove(m)).count()
            });
            exec.notify_changed(EventClass::Set, "srem", key);
            Reply::Integer(removed as i64)
        }
        SetsCommand::Store { name, destination, keys } => {
            let members = match sets_of(keys, exec.view, now_ms) {
                Ok(sets) => combine(*name, &sets, 0),
                Err(wrong_type) => return wrong_type,
            };
            // The destination is replaced whatever it held (keeping no TTL), or removed when the
            // result is empty, as in Redis.
            let count = members.len();
            if count > 0 {
                let mut set = Set::default();
                members.iter().for_each(|m| {
                    set.insert(m);
                });
                exec.put(destination, Value::Aggregate(Box::new(Aggregate::Set(set))), None);
                let event = match name {
                    CommandName::SInterStore => "sinterstore",
                    CommandName::SUnionStore => "sunionstore",
                    _ => "sdiffstore",
                };
                exec.notify(EventClass::Set, event, destination);
            } else if exec.view.remove(destination, log_index) {
                exec.notify(EventClass::Generic, "del", destination);
            }
            Reply::Integer(count as i64)
        }
        SetsCommand::Move { from, to, member } => {
            // A missing source answers 0 before either type is checked, as in Redis.
            if exec.view.live(from, now_ms).is_none() {
                return Reply::Integer(0);
            }
            let (source, destination) = match (set_of(exec, from, now_ms), set_of(exec, to, now_ms)) {
                (Ok(source), Ok(destination)) => (source, destination),
                (Err(wrong_type), _) | (_, Err(wrong_type)) => return wrong_type,
            };
            if !source.is_some_and(|s| s.contains(member)) {
                return Reply::Integer(0);
            }
            if from == to {
                return Reply::Integer(1);
            }
            let present = destination.is_some_and(|s| s.contains(member));
            exec.update(from, Kind::Set, |aggregate| as_set_mut(aggregate).remove(member));
            exec.notify_changed(EventClass::Set, "srem", from);
            if !present {
                exec.update(to, Kind::Set, |aggregate| as_set_mut(aggregate).insert(member));
                exec.notify(EventClass::Set, "sadd", to);
            }
            Reply::Integer(1)
        }
        SetsCommand::Pop { key, count, seed } => {
            let set = match set_of(exec, key, now_ms) {
                Ok(set) => set,
                Err(wrong_type) => return wrong_type,
            };
            let Some(set) = set else {
                return if count.is_some() { Reply::Set(Vec::new()) } else { Reply::Nil };
            };
            let wanted = count.unwrap_or(1);
            if wanted == 0 {
                return Reply::Set(Vec::new());
            }
            let mut random = Random::new(*seed);
            let mut positions = pick(set.len(), i64::try_from(wanted).unwrap_or(i64::MAX), &mut random);
            let members: Vec<Bytes> = positions
                .iter()
                .map(|at| Bytes::copy_from_slice(set.get_index(*at).expect("in range")))
                .collect();
            // Removed from the highest position down, so that no removal moves one still to go.
            positions.sort_unstable();
            exec.update(key, Kind::Set, |aggregate| {
                let set = as_set_mut(aggregate);
                for at in positions.iter().rev() {
                    set.remove_index(*at);
                }
            });
            exec.notify_changed(EventClass::Set, "spop", key);
            match count {
                None => Reply::Bulk(members.into_iter().next().expect("one picked")),
                Some(_) => Reply::Set(members.into_iter().map(Reply::Bulk).collect()),
            }
        }
        read_only => read(read_only, exec.view, now_ms),
    }
}

fn as_set(aggregate: &Aggregate) -> Option<&Set> {
    match aggregate {
        Aggregate::Set(set) => Some(set),
        _ => None,
    }
}

fn as_set_mut(aggregate: &mut Aggregate) -> &mut Set {
    match aggregate {
        Aggregate::Set(set) => set,
        other => unreachable!("update_aggregate hands over a set, not a {}", other.kind().as_str()),
    }
}
