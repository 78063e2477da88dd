//! Running the hash commands, with Redis 7's replies and error texts.

use std::ops::Deref;

use bytes::Bytes;

use super::context::{aggregate_of, Exec};
use crate::command::CommandName;
use crate::keyspace_event::EventClass;
use crate::map::{Locked, Shard};
use crate::number::{format_f64, format_i64, parse_f64, parse_i64};
use crate::reply::{errors, Reply};
use crate::types::hash_commands::HashCommand;
use crate::types::random::{pick, Random};
use crate::types::scan;
use crate::types::{Aggregate, Hash, Kind};

/// Runs a read-only hash command.
pub(crate) fn read<G: Deref<Target = Shard>>(
    command: &HashCommand,
    view: &Locked<'_, G>,
    now_ms: u64,
) -> Reply {
    let hash = match aggregate_of(view.live(command.key(), now_ms), Kind::Hash) {
        Ok(found) => found.and_then(as_hash),
        Err(wrong_type) => return wrong_type,
    };
    let get = |field: &[u8]| hash.and_then(|h| h.get(field));
    let bulk = |bytes: &[u8]| Reply::Bulk(Bytes::copy_from_slice(bytes));
    match command {
        HashCommand::Get { field, .. } => get(field).map_or(Reply::Nil, bulk),
        HashCommand::MGet { fields, .. } => {
            Reply::Array(fields.iter().map(|f| get(f).map_or(Reply::Nil, bulk)).collect())
        }
        HashCommand::GetAll { name, .. } => {
            let pairs = hash.into_iter().flat_map(Hash::iter);
            match name {
                CommandName::HKeys => Reply::Array(pairs.map(|(field, _)| bulk(field)).collect()),
                CommandName::HVals => Reply::Array(pairs.map(|(_, value)| bulk(value)).collect()),
                _ => Reply::Map(pairs.map(|(field, value)| (bulk(field), bulk(value))).collect()),
            }
        }
        HashCommand::Exists { field, .. } => Reply::Integer(i64::from(get(field).is_some())),
        HashCommand::Len { .. } => Reply::Integer(hash.map_or(0, |h| h.len() as i64)),
        HashCommand::StrLen { field, .. } => Reply::Integer(get(field).map_or(0, |v| v.len() as i64)),
        HashCommand::Scan { cursor, options, .. } => {
            let Some(hash) = hash else { return scan::reply(0, Vec::new()) };
            match scan::scan(hash.iter(), hash.len(), *cursor, options) {
                Ok((next, found)) => {
                    scan::reply(next, found.into_iter().flat_map(|(f, v)| [bulk(f), bulk(v)]).collect())
                }
                Err(error) => error,
            }
        }
        HashCommand::RandField { count, with_values, seed, .. } => {
            let mut random = Random::new(*seed);
            let entry = |at: usize| hash.and_then(|h| h.get_index(at)).expect("in range");
            match (hash, count) {
                (None, None) => Reply::Nil,
                (None, Some(_)) => Reply::Array(Vec::new()),
                (Some(hash), None) => bulk(entry(random.below(hash.len())).0),
                (Some(hash), Some(count)) => {
                    let picked = pick(hash.len(), *count, &mut random).into_iter().map(entry);
                    if *with_values {
                        Reply::Pairs(picked.map(|(f, v)| (bulk(f), bulk(v))).collect())
                    } else {
                        Reply::Array(picked.map(|(f, _)| bulk(f)).collect())
                    }
                }
            }
        }
        write => panic!("{} is a write and cannot run on the read path", write.name().as_str()),
    }
}

/// Runs any hash command, read or write, as the entry at `exec.log_index`. A write that would
/// change nothing (HSETNX on a field that exists, HDEL of fields that do not, an increment that
/// fails) leaves the key as it was, its revision included, as Redis leaves it unmodified.
pub(crate) fn write(command: &HashCommand, exec: &mut Exec<'_, '_>) -> Reply {
    let key = command.key();
    let hash = match aggregate_of(exec.view.live(key, exec.now_ms), Kind::Hash) {
        Ok(found) => found.and_then(as_hash),
        Err(wrong_type) => return wrong_type,
    };
    let field_value = |field: &[u8]| hash.and_then(|h| h.get(field));
    match command {
        HashCommand::Set { name, pairs, .. } => {
            let added = exec.update(key, Kind::Hash, |aggregate| {
                let hash = as_hash_mut(aggregate);
                pairs.iter().filter(|(field, value)| hash.insert(field, value)).count()
            });
            exec.notify(EventClass::Hash, "hset", key);
            if *name == CommandName::HMSet {
                Reply::Ok
            } else {
                Reply::Integer(added as i64)
            }
        }
        HashCommand::SetNx { field, value, .. } => {
            if field_value(field).is_some() {
                return Reply::Integer(0);
            }
            exec.update(key, Kind::Hash, |aggregate| as_hash_mut(aggregate).insert(field, value));
            exec.notify(EventClass::Hash, "hset", key);
            Reply::Integer(1)
        }
        HashCommand::Del { fields, .. } => {
            if !fields.iter().any(|f| field_value(f).is_some()) {
                return Reply::Integer(0);
            }
            let removed = exec.update(key, Kind::Hash, |aggregate| {
                let hash = as_hash_mut(aggregate);
                fields.iter().filter(|f| hash.remove(f)).count()
            });
            exec.notify_changed(EventClass::Hash, "hdel", key);
            Reply::Integer(removed as i64)
        }
        HashCommand::IncrBy { field, delta, .. } => {
            let old = match field_value(field).map(parse_i64) {
                None => 0,
                Some(Some(old)) => old,
                Some(None) => return Reply::Error(HASH_NOT_INTEGER.to_owned()),
            };
            let Some(new) = old.checked_add(*delta) else { return Reply::Error(errors::OVERFLOW.to_owned()) };
            exec.update(key, Kind::Hash, |aggregate| as_hash_mut(aggregate).insert(field, &format_i64(new)));
            exec.notify(EventClass::Hash, "hincrby", key);
            Reply::Integer(new)
        }
        HashCommand::IncrByFloat { field, delta, .. } => {
            let old = match field_value(field).map(parse_f64) {
                None => 0.0,
                Some(Some(old)) => old,
                Some(None) => return Reply::Error(HASH_NOT_FLOAT.to_owned()),
            };
            let new = old + delta;
            if !new.is_finite() {
                return Reply::Error(errors::NAN_OR_INFINITY.to_owned());
            }
            let text = format_f64(new);
            exec.update(key, Kind::Hash, |aggregate| as_hash_mut(aggregate).insert(field, &text));
            exec.notify(EventClass::Hash, "hincrbyfloat", key);
            Reply::Bulk(text)
        }
        read_only => read(read_only, exec.view, exec.now_ms),
    }
}

/// HINCRBY on a field that does not hold an integer.
const HASH_NOT_INTEGER: &str = "ERR hash value is not an integer";

/// HINCRBYFLOAT on a field that does not hold a number.
const HASH_NOT_FLOAT: &str = "ERR hash value is not a float";

fn as_hash(aggregate: &Aggregate) -> Option<&Hash> {
    match aggregate {
        Aggregate::Hash(hash) => Some(hash),
        _ => None,
    }
}

fn as_hash_mut(aggregate: &mut Aggregate) -> &mut Hash {
    match aggregate {
        Aggregate::Hash(hash) => hash,
        other => unreachable!("update_aggregate hands over a hash, not a {}", other.kind().as_str()),
    }
}
