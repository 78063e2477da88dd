//! Running the list commands, with Redis 7's replies and error texts. LRANGE, LREM, LINSERT,
//! LPOS and LTRIM are O(N), as in Redis.

use std::ops::Deref;

use bytes::Bytes;

use super::context::{aggregate_of, Exec};
use crate::command::CommandName;
use crate::keyspace_event::EventClass;
use crate::map::{Locked, Shard};
use crate::reply::{errors, Reply};
use crate::types::list_commands::ListCommand;
use crate::types::{Aggregate, Element, Kind, List};

/// Runs a read-only list command.
pub(crate) fn read<G: Deref<Target = Shard>>(
    command: &ListCommand,
    view: &Locked<'_, G>,
    now_ms: u64,
) -> Reply {
    let mut key = None;
    command.for_each_key(|k| key = key.or(Some(k)));
    let key = key.expect("a list command names a key");
    let list = match aggregate_of(view.live(key, now_ms), Kind::List) {
        Ok(found) => found.and_then(as_list),
        Err(wrong_type) => return wrong_type,
    };
    let len = list.map_or(0, List::len);
    match command {
        ListCommand::Len { .. } => Reply::Integer(len as i64),
        ListCommand::Range { start, stop, .. } => {
            let Some((start, stop)) = range(*start, *stop, len) else { return Reply::Array(Vec::new()) };
            let list = list.expect("a non-empty range has a list");
            Reply::Array(list.iter().skip(start).take(stop - start + 1).map(bulk).collect())
        }
        ListCommand::Index { index, .. } => {
            let Some(list) = list else { return Reply::Nil };
            let Some(index) = index else { return Reply::Error(errors::NOT_INTEGER.to_owned()) };
            position(*index, len).and_then(|at| list.get(at)).map_or(Reply::Nil, bulk)
        }
        ListCommand::Pos { item, rank, count, max_len, .. } => {
            let mut found = Vec::new();
            if let Some(list) = list {
                let wanted = count.map_or(1, |c| if c == 0 { usize::MAX } else { c });
                let limit = if *max_len == 0 { len } else { (*max_len).min(len) };
                let skip = rank.unsigned_abs() as usize - 1;
                let matches = |(_, element): &(usize, &[u8])| *element == &item[..];
                let positions: Box<dyn Iterator<Item = usize>> = if *rank > 0 {
                    Box::new(list.iter().enumerate().take(limit).filter(matches).map(|(at, _)| at))
                } else {
                    Box::new(list.iter().enumerate().rev().take(limit).filter(matches).map(|(at, _)| at))
                };
                found.extend(positions.skip(skip).take(wanted));
            }
            match count {
                None => found.first().map_or(Reply::Nil, |at| Reply::Integer(*at as i64)),
                Some(_) => Reply::Array(found.into_iter().map(|at| Reply::Integer(at as i64)).collect()),
            }
        }
        write => panic!("{} is a write and cannot run on the read path", write.name().as_str()),
    }
}

/// Runs any list command, read or write, as the entry at `exec.log_index`. A write that changes
/// nothing (a push to a list that must exist and does not, a removal that finds nothing) leaves
/// the key as it was, its revision included.
pub(crate) fn write(command: &ListCommand, exec: &mut Exec<'_, '_>) -> Reply {
    use CommandName as N;
    if let ListCommand::BlockingPop { name, keys, to, from_left, to_left, deadline_ms, .. } = command {
        return blocking_pop(exec, *name, keys, to.as_ref(), (*from_left, *to_left), *deadline_ms);
    }
    let mut keys = Vec::new();
    command.for_each_key(|key| keys.push(key));
    for (at, key) in keys.iter().enumerate() {
        match exec.check(key, Kind::List) {
            Err(wrong_type) => return wrong_type,
            // LMOVE from a missing list answers nil before its destination is looked at.
            Ok(false) if at == 0 && keys.len() > 1 => return Reply::Nil,
            Ok(_) => {}
        }
    }
    let key = keys[0];
    let list = exec.view.live(key, exec.now_ms).and_then(|s| s.aggregate()).and_then(as_list);
    let len = list.map_or(0, List::len);
    let update = |exec: &mut Exec<'_, '_>, f: &mut dyn FnMut(&mut List) -> Reply| {
        exec.update(key, Kind::List, |aggregate| f(as_list_mut(aggregate)))
    };
    match command {
        ListCommand::Push { name, items, .. } => {
            if matches!(name, N::LPushX | N::RPushX) && list.is_none() {
                return Reply::Integer(0);
            }
            let front = matches!(name, N::LPush | N::LPushX);
            let reply = update(exec, &mut |list| {
                for item in items {
                    if front {
                        list.push_front(item);
                    } else {
                        list.push_back(item);
                    }
                }
                Reply::Integer(list.len() as i64)
            });
            exec.notify(EventClass::List, if front { "lpush" } else { "rpush" }, key);
            reply
        }
        ListCommand::Pop { name, count, .. } => {
            let front = *name == N::LPop;
            let reply = match (list.is_some(), count) {
                (false, None) => return Reply::Nil,
                (false, Some(_)) => return Reply::NilArray,
                (true, Some(0)) => return Reply::Array(Vec::new()),
                (true, None) => update(exec, &mut |list| pop(list, front).map_or(Reply::Nil, |i| bulk(&i))),
                (true, Some(count)) => update(exec, &mut |list| {
                    let popped = (0..*count).map_while(|_| pop(list, front));
                    Reply::Array(popped.map(|item| bulk(&item)).collect())
                }),
            };
            exec.notify_changed(EventClass::List, if front { "lpop" } else { "rpop" }, key);
            reply
        }
        ListCommand::Set { index, item, .. } => {
            if list.is_none() {
                return Reply::Error(errors::NO_SUCH_KEY.to_owned());
            }
            let Some(index) = index else { return Reply::Error(errors::NOT_INTEGER.to_owned()) };
            let Some(at) = position(*index, len) else { return Reply::Error(INDEX_OUT_OF_RANGE.to_owned()) };
            update(exec, &mut |list| {
                list.set(at, item);
                Reply::Ok
            });
            exec.notify(EventClass::List, "lset", key);
            Reply::Ok
        }
        ListCommand::Insert { before, pivot, item, .. } => {
            let Some(list) = list else { return Reply::Integer(0) };
            let Some(at) = list.iter().position(|element| element == &pivot[..]) else {
                return Reply::Integer(-1);
            };
            let at = if *before { at } else { at + 1 };
            let reply = update(exec, &mut |list| {
                list.insert(at, item);
                Reply::Integer(list.len() as i64)
            });
            exec.notify(EventClass::List, "linsert", key);
            reply
        }
        ListCommand::Rem { count, item, .. } => {
            let Some(list) = list else { return Reply::Integer(0) };
            let wanted = if *count == 0 { usize::MAX } else { count.unsigned_abs() as usize };
            let matching = |(at, element): (usize, &[u8])| (element == &item[..]).then_some(at);
            let mut doomed: Vec<usize> = if *count >= 0 {
                list.iter().enumerate().filter_map(matching).take(wanted).collect()
            } else {
                list.iter().enumerate().rev().filter_map(matching).take(wanted).collect()
            };
            if doomed.is_empty() {
                return Reply::Integer(0);
            }
            doomed.sort_unstable();
            let reply = update(exec, &mut |list| {
                for at in doomed.iter().rev() {
                    list.remove(*at);
                }
                Reply::Integer(doomed.len() as i64)
            });
            exec.notify_changed(EventClass::List, "lrem", key);
            reply
        }
        ListCommand::Trim { start, stop, .. } => {
            if list.is_none() {
                return Reply::Ok;
            }
            let kept = range(*start, *stop, len);
            // Redis counts the key modified and raises `ltrim` even when nothing is trimmed (a
            // WATCH on it fails).
            update(exec, &mut |list| {
                match kept {
                    Some((start, stop)) => list.keep(start, stop + 1),
                    None => list.keep(0, 0),
                }
                Reply::Ok
            });
            exec.notify_changed(EventClass::List, "ltrim", key);
            Reply::Ok
        }
        ListCommand::Move { from, to, from_left, to_left, .. } => {
            let Some(source) = list else { return Reply::Nil };
            let item = Bytes::copy_from_slice(
                if *from_left { source.iter().next() } else { source.iter().next_back() }
                    .expect("never empty"),
            );
            let push = |list: &mut List| {
                if *to_left {
                    list.push_front(&item);
                } else {
                    list.push_back(&item);
                }
            };
            if from == to {
                // A rotation: the list never empties, so the key is never removed and made again.
                exec.update(from, Kind::List, |aggregate| {
                    let list = as_list_mut(aggregate);
                    pop(list, *from_left);
                    push(list);
                });
            } else {
                exec.update(from, Kind::List, |aggregate| pop(as_list_mut(aggregate), *from_left));
                exec.update(to, Kind::List, |aggregate| push(as_list_mut(aggregate)));
            }
            // The push is raised first, then the pop (and the source's `del`), as in Redis.
            exec.notify(EventClass::List, if *to_left { "lpush" } else { "rpush" }, to);
            exec.notify_changed(EventClass::List, if *from_left { "lpop" } else { "rpop" }, from);
            Reply::Bulk(item)
        }
        read_only => read(read_only, exec.view, exec.now_ms),
    }
}

/// One attempt of a blocking pop (see [`ListCommand::BlockingPop`]): the first key that holds
/// anything decides, as in Redis (WRONGTYPE if it is not a list); nothing to pop, or a deadline
/// passed, answers as a timeout does.
fn blocking_pop(
    exec: &mut Exec<'_, '_>,
    name: CommandName,
    keys: &[Bytes],
    to: Option<&Bytes>,
    (from_left, to_left): (bool, bool),
    deadline_ms: Option<u64>,
) -> Reply {
    // BLMOVE and BRPOPLPUSH too answer a null array when they time out, as in Redis.
    let timed_out = Reply::NilArray;
    if deadline_ms.is_some_and(|deadline| exec.now_ms > deadline) {
        return timed_out;
    }
    let Some(key) = keys.iter().find(|key| exec.view.live(key, exec.now_ms).is_some()) else {
        return timed_out;
    };
    if let Some(to) = to {
        let name = if name == CommandName::BLMove { CommandName::LMove } else { CommandName::RPopLPush };
        return write(
            &ListCommand::Move { name, from: key.clone(), to: to.clone(), from_left, to_left },
            exec,
        );
    }
    if let Err(wrong_type) = exec.check(key, Kind::List) {
        return wrong_type;
    }
    let item = exec.update(key, Kind::List, |aggregate| pop(as_list_mut(aggregate), from_left));
    let item = item.expect("a stored list is never empty");
    exec.notify_changed(EventClass::List, if from_left { "lpop" } else { "rpop" }, key);
    Reply::Array(vec![Reply::Bulk(key.clone()), bulk(&item)])
}

/// LSET past either end.
const INDEX_OUT_OF_RANGE: &str = "ERR index out of range";

fn pop(list: &mut List, front: bool) -> Option<Element> {
    if front {
        list.pop_front()
    } else {
        list.pop_back()
    }
}

fn bulk(bytes: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(bytes))
}

/// A Redis index (negative counts from the end) as a position in a list of `len`, if inside it.
fn position(index: i64, len: usize) -> Option<usize> {
    let at = if index < 0 { len as i64 + index } else { index };
    usize::try_from(at).ok().filter(|at| *at < len)
}

/// LRANGE's and LTRIM's rules (Redis's `listTypeRange`): negative indexes count from the end,
/// both are clamped; the inclusive positions kept, or `None` for an empty range.
fn range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { (len + start).max(0) } else { start };
    let stop = if stop < 0 { len + stop } else { stop.min(len - 1) };
    (start <= stop && start < len && stop >= 0).then_some((start as usize, stop as usize))
}

fn as_list(aggregate: &Aggregate) -> Option<&List> {
    match aggregate {
        Aggregate::List(list) => Some(list),
        _ => None,
    }
}

fn as_list_mut(aggregate: &mut Aggregate) -> &mut List {
    match aggregate {
        Aggregate::List(list) => list,
        other => unreachable!("update_aggregate hands over a list, not a {}", other.kind().as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::{position, range};

    /// Indexes as Redis reads them, on a list of 5.
    #[test]
    fn indexes_and_ranges_follow_redis() {
        assert_eq!(position(0, 5), Some(0));
        assert_eq!(position(-1, 5), Some(4));
        assert_eq!(position(5, 5), None);
        assert_eq!(position(-6, 5), None);
        assert_eq!(range(0, -1, 5), Some((0, 4)));
        assert_eq!(range(-100, 100, 5), Some((0, 4)));
        assert_eq!(range(3, 1, 5), None);
        assert_eq!(range(5, 10, 5), None);
        assert_eq!(range(0, -6, 5), None);
        assert_eq!(range(0, 0, 0), None);
    }
}
