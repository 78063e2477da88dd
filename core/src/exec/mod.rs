//! How each command reads and changes the keyspace, with Redis 7's replies.
//!
//! Execution sees the map only through a set of locked shards ([`Locked`]), which the caller
//! chose from the command's keys, so a command is atomic. Time is the state-machine time `now_ms`
//! and every change is stamped with the log index of the entry that made it.

mod bitmap;
pub(crate) mod context;
mod hash;
mod inspect;
mod list;
mod set;
mod zset;

use std::ops::Deref;

use bytes::{Bytes, BytesMut};

use crate::command::{Command, CommandName, Expiry, SetCommand, SetCondition, SetExpiry};
use crate::glob;
use crate::keyspace_event::EventClass;
use crate::limits::VALUE_BYTES_MAX;
use crate::map::{Locked, Shard, WriteSet};
use crate::number::{format_f64, format_i64, parse_f64, parse_i64};
use crate::reply::{errors, Reply};
use crate::stored_key::StoredKey;
use crate::types::random::Random;
use context::{string, Exec};

/// Runs a read-only command.
///
/// # Panics
/// If `command` is a write, or the shards it needs are not locked: both are caller bugs.
pub fn read<G: Deref<Target = Shard>>(command: &Command, view: &Locked<'_, G>, now_ms: u64) -> Reply {
    match command {
        Command::Get { key } => match string(view.live(key, now_ms)) {
            Ok(stored) => Reply::bulk_or_nil(stored.map(StoredKey::value_bytes)),
            Err(wrong_type) => wrong_type,
        },
        Command::MGet { keys } => Reply::Array(
            keys.iter()
                .map(|k| {
                    // MGET answers nil for a key of another type, as Redis does.
                    let stored = view.live(k, now_ms).filter(|s| s.aggregate().is_none());
                    Reply::bulk_or_nil(stored.map(StoredKey::value_bytes))
                })
                .collect(),
        ),
        Command::Exists { keys } | Command::Touch { keys } => {
            Reply::Integer(keys.iter().filter(|k| view.live(k, now_ms).is_some()).count() as i64)
        }
        Command::Inspect(inspect) => inspect::read(inspect, view, now_ms),
        Command::Bits(bits) => bitmap::read(bits, view, now_ms),
        Command::StrLen { key } => match string(view.live(key, now_ms)) {
            Ok(stored) => Reply::Integer(stored.map_or(0, |e| e.value().len() as i64)),
            Err(wrong_type) => wrong_type,
        },
        Command::GetRange { key, start, end } => match string(view.live(key, now_ms)) {
            Ok(stored) => {
                let value = stored.map(StoredKey::value_bytes).unwrap_or_default();
                Reply::Bulk(get_range(&value, *start, *end))
            }
            Err(wrong_type) => wrong_type,
        },
        Command::Ttl { name, key } => {
            Reply::Integer(match view.live(key, now_ms).map(|e| e.expire_at_ms()) {
                None => -2,
                Some(None) => -1,
                Some(Some(at)) => {
                    let left_ms = to_i64(at - now_ms);
                    if *name == CommandName::PTtl {
                        left_ms
                    } else {
                        // TTL rounds to the nearest second, as Redis's `ttlGenericCommand` does.
                        (left_ms + 500) / 1000
                    }
                }
            })
        }
        Command::ExpireTime { name, key } => {
            Reply::Integer(match view.live(key, now_ms).map(|e| e.expire_at_ms()) {
                None => -2,
                Some(None) => -1,
                Some(Some(at)) if *name == CommandName::PExpireTime => to_i64(at),
                Some(Some(at)) => to_i64(at / 1000),
            })
        }
        Command::Type { key } => {
            Reply::Status(view.live(key, now_ms).map_or("none", |s| s.kind().as_str()).to_owned())
        }
        Command::Keys { pattern } => {
            let mut keys: Vec<Bytes> = view
                .shards()
                .flat_map(|shard| shard.iter())
                .filter(|stored| stored.is_live(now_ms) && glob::matches(pattern, stored.key()))
                .map(|stored| Bytes::copy_from_slice(stored.key()))
                .collect();
            // Shard placement depends on the per-process hash seed; sorting makes the reply the
            // same on every replica.
            keys.sort_unstable();
            Reply::Array(keys.into_iter().map(Reply::Bulk).collect())
        }
        Command::Scan { cursor, pattern, count, type_filter } => {
            let (next, keys) = view.scan(*cursor, *count, now_ms, |stored| {
                type_filter.as_deref().is_none_or(|t| t == stored.kind().as_str())
                    && pattern.as_ref().is_none_or(|p| glob::matches(p, stored.key()))
            });
            Reply::Array(vec![
                Reply::Bulk(Bytes::from(next.to_string())),
                Reply::Array(keys.into_iter().map(Reply::Bulk).collect()),
            ])
        }
        Command::DbSize => Reply::Integer(view.shards().map(|s| s.len() as i64).sum()),
        Command::Hash(hash) => hash::read(hash, view, now_ms),
        Command::List(list) => list::read(list, view, now_ms),
        Command::Sets(sets) => set::read(sets, view, now_ms),
        Command::ZSet(zset) => zset::read(zset, view, now_ms),
        Command::RandomKey { seed } => Reply::bulk_or_nil(random_key(view, *seed, now_ms)),
        write => panic!("{} is a write and cannot run on the read path", write.name().as_str()),
    }
}

/// Runs any command, read or write, with its shards write-locked; `log_index` is the index of
/// the entry that carries it and becomes the modification index of every key it changes.
pub fn write(command: &Command, view: &mut WriteSet<'_>, now_ms: u64, log_index: u64) -> Reply {
    let mut exec = Exec { view, now_ms, log_index };
    match command {
        Command::Set(set) => exec.set(set),
        Command::SetNx { key, value } => {
            if exec.live(key).is_some() {
                Reply::Integer(0)
            } else {
                exec.put(key, value.clone(), None);
                exec.notify(EventClass::String, "set", key);
                Reply::Integer(1)
            }
        }
        Command::GetDel { key } => match string(exec.view.live(key, now_ms)) {
            Ok(Some(_)) => {
                let value =
                    exec.view.remove_with(key, log_index, |s| s.value_bytes()).expect("live just above");
                exec.notify(EventClass::Generic, "del", key);
                Reply::Bulk(value)
            }
            Ok(None) => Reply::Nil,
            Err(wrong_type) => wrong_type,
        },
        Command::GetEx { key, expiry } => exec.getex(key, *expiry),
        Command::MSet { pairs } => {
            for (key, value) in pairs {
                exec.put(key, value.clone(), None);
                exec.notify(EventClass::String, "set", key);
            }
            Reply::Ok
        }
        Command::MSetNx { pairs } => {
            if pairs.iter().any(|(key, _)| exec.live(key).is_some()) {
                return Reply::Integer(0);
            }
            for (key, value) in pairs {
                exec.put(key, value.clone(), None);
                exec.notify(EventClass::String, "set", key);
            }
            Reply::Integer(1)
        }
        Command::Del { keys, .. } => {
            let mut removed = 0;
            for key in keys {
                // An expired key still stored is removed too, but does not count, as in Redis.
                if let Some(live) = exec.view.remove_with(key, log_index, |s| s.is_live(now_ms)) {
                    removed += i64::from(live);
                    if live {
                        exec.notify(EventClass::Generic, "del", key);
                    }
                }
            }
            Reply::Integer(removed)
        }
        Command::IncrBy { key, delta, .. } => exec.incr_by(key, *delta),
        Command::IncrByFloat { key, delta } => exec.incr_by_float(key, *delta),
        Command::Append { key, value } => {
            let current = match string(exec.view.live(key, now_ms)) {
                Ok(current) => current,
                Err(wrong_type) => return wrong_type,
            };
            let old = current.map_or(&b""[..], |e| e.value());
            if old.len() + value.len() > VALUE_BYTES_MAX {
                return Reply::Error(errors::STRING_TOO_LONG.to_owned());
            }
            let mut joined = BytesMut::with_capacity(old.len() + value.len());
            joined.extend_from_slice(old);
            joined.extend_from_slice(value);
            let length = joined.len() as i64;
            let expire_at_ms = current.and_then(|e| e.expire_at_ms());
            exec.put(key, joined.freeze(), expire_at_ms);
            exec.notify(EventClass::String, "append", key);
            Reply::Integer(length)
        }
        Command::SetRange { key, offset, value } => exec.set_range(key, *offset, value),
        Command::Expire { name, key, at, condition } => {
            let when = match exec.absolute(*at, *name) {
                Ok(when) => when,
                Err(reply) => return reply,
            };
            let Some(current) = exec.view.live(key, now_ms).map(StoredKey::expire_at_ms) else {
                return Reply::Integer(0);
            };
            let current = current.map(to_i64);
            let refused = (condition.no_ttl && current.is_some())
                || (condition.has_ttl && current.is_none())
                || (condition.later && current.is_none_or(|c| when <= c))
                || (condition.earlier && current.is_some_and(|c| when >= c));
            if refused {
                return Reply::Integer(0);
            }
            exec.set_expiry(key, when);
            Reply::Integer(1)
        }
        Command::Persist { key } => match exec.view.live(key, now_ms).map(StoredKey::expire_at_ms) {
            Some(Some(_)) => {
                exec.view.set_expiry(key, None, log_index);
                exec.notify(EventClass::Generic, "persist", key);
                Reply::Integer(1)
            }
            _ => Reply::Integer(0),
        },
        Command::Rename { name, from, to } => {
            let only_if_absent = *name == CommandName::RenameNx;
            if exec.view.live(from, now_ms).is_none() {
                return Reply::Error(errors::NO_SUCH_KEY.to_owned());
            }
            if from == to {
                return if only_if_absent { Reply::Integer(0) } else { Reply::Ok };
            }
            if only_if_absent && exec.view.live(to, now_ms).is_some() {
                return Reply::Integer(0);
            }
            // Redis removes the target first and adds the key anew, so `new` is raised either way.
            if exec.view.live(to, now_ms).is_some() {
                exec.notify(EventClass::New, "new", to);
            }
            let entry = exec.view.take(from, log_index).expect("live just above");
            exec.put(to, entry.value, entry.expire_at_ms);
            exec.notify(EventClass::Generic, "rename_from", from);
            exec.notify(EventClass::Generic, "rename_to", to);
            if only_if_absent {
                Reply::Integer(1)
            } else {
                Reply::Ok
            }
        }
        Command::Copy { from, to, replace } => {
            if from == to {
                return Reply::Error(errors::SAME_OBJECT.to_owned());
            }
            if !replace && exec.view.live(to, now_ms).is_some() {
                return Reply::Integer(0);
            }
            let Some(entry) = exec.live(from) else { return Reply::Integer(0) };
            // Redis removes a target it replaces and adds the copy anew, raising `new` either way.
            if exec.view.live(to, now_ms).is_some() {
                exec.notify(EventClass::New, "new", to);
            }
            exec.put(to, entry.value, entry.expire_at_ms);
            exec.notify(EventClass::Generic, "copy_to", to);
            Reply::Integer(1)
        }
        Command::FlushAll { .. } => {
            exec.view.clear(log_index);
            Reply::Ok
        }
        Command::Hash(hash) => hash::write(hash, &mut exec),
        Command::List(list) => list::write(list, &mut exec),
        Command::Sets(sets) => set::write(sets, &mut exec),
        Command::ZSet(zset) => zset::write(zset, &mut exec),
        Command::Bits(bits) => bitmap::write(bits, &mut exec),
        Command::Publish { channel, message } => {
            exec.view.record_message(log_index, channel, message);
            // How many receive it is each node's to count (the server answers PUBLISH).
            Reply::Integer(0)
        }
        read_only => read(read_only, exec.view, now_ms),
    }
}

impl Exec<'_, '_> {
    /// SET with every option (Redis's `setGenericCommand`, plus Valkey's IFEQ).
    fn set(&mut self, set: &SetCommand) -> Reply {
        // Only what the options need of the current value: a plain SET does not even look it up
        // (the insert finds the key once), and copies nothing.
        let plain = matches!(
            (&set.condition, &set.expiry),
            (SetCondition::Always, SetExpiry::Clear | SetExpiry::Set(_))
        );
        let stored = if plain && !set.get { None } else { self.view.live(&set.key, self.now_ms) };
        // SET ... GET and IFEQ read the old value, which must be a string; SET alone overwrites
        // any type, as in Redis.
        let reads_old = set.get || matches!(set.condition, SetCondition::IfEqual(_));
        if reads_old && stored.is_some_and(|s| s.aggregate().is_some()) {
            return Reply::Error(errors::WRONG_TYPE.to_owned());
        }
        let exists = stored.is_some();
        let current_expiry = stored.and_then(|e| e.expire_at_ms());
        let old_value = if set.get { stored.map(StoredKey::value_bytes) } else { None };
        let equal = match &set.condition {
            SetCondition::IfEqual(expected) => stored.is_some_and(|e| e.value() == &expected[..]),
            _ => false,
        };
        let expire_at_ms = match &set.expiry {
            SetExpiry::Clear => None,
            SetExpiry::Keep => current_expiry,
            SetExpiry::Set(at) => match self.absolute(*at, set.name) {
                // The parser admits only positive amounts, so `when` is positive.
                Ok(when) => Some(when as u64),
                Err(reply) => return reply,
            },
        };
        let allowed = match &set.condition {
            SetCondition::Always => true,
            SetCondition::IfAbsent => !exists,
            SetCondition::IfPresent => exists,
            SetCondition::IfEqual(_) => equal,
        };
        if allowed {
            self.put(&set.key, set.value.clone(), expire_at_ms);
            self.notify(EventClass::String, "set", &set.key);
            if matches!(set.expiry, SetExpiry::Set(_)) {
                self.notify(EventClass::Generic, "expire", &set.key);
            }
        }
        match (set.get, allowed) {
            (true, _) => Reply::bulk_or_nil(old_value),
            (false, true) => Reply::Ok,
            (false, false) => Reply::Nil,
        }
    }

    fn getex(&mut self, key: &Bytes, expiry: Option<Expiry>) -> Reply {
        let (value, expire_at_ms) = match self.live_string(key) {
            Ok(Some(found)) => found,
            Ok(None) => return Reply::Nil,
            Err(wrong_type) => return wrong_type,
        };
        match expiry {
            None => {}
            Some(Expiry::InMs(ms) | Expiry::AtMs(ms)) if ms <= 0 => {
                return Reply::Error(errors::invalid_expire(CommandName::GetEx.as_str()))
            }
            Some(Expiry::Persist) if expire_at_ms.is_some() => {
                self.view.set_expiry(key, None, self.log_index);
                self.notify(EventClass::Generic, "persist", key);
            }
            Some(Expiry::Persist) => {}
            Some(at) => match self.absolute(at, CommandName::GetEx) {
                Ok(when) => self.set_expiry(key, when),
                Err(reply) => return reply,
            },
        }
        Reply::Bulk(value)
    }

    fn incr_by(&mut self, key: &Bytes, delta: i64) -> Reply {
        let current = match self.live_string(key) {
            Ok(current) => current,
            Err(wrong_type) => return wrong_type,
        };
        let old = match &current {
            None => 0,
            Some((value, _)) => match parse_i64(value) {
                Some(old) => old,
                None => return Reply::Error(errors::NOT_INTEGER.to_owned()),
            },
        };
        let Some(new) = old.checked_add(delta) else {
            return Reply::Error(errors::OVERFLOW.to_owned());
        };
        self.put(key, format_i64(new), current.and_then(|(_, at)| at));
        self.notify(EventClass::String, "incrby", key);
        Reply::Integer(new)
    }

    fn incr_by_float(&mut self, key: &Bytes, delta: f64) -> Reply {
        let current = match self.live_string(key) {
            Ok(current) => current,
            Err(wrong_type) => return wrong_type,
        };
        let old = match &current {
            None => 0.0,
            Some((value, _)) => match parse_f64(value) {
                Some(old) => old,
                None => return Reply::Error(errors::NOT_FLOAT.to_owned()),
            },
        };
        if delta.is_nan() {
            // The parser's mark of an increment that is not a number.
            return Reply::Error(errors::NOT_FLOAT.to_owned());
        }
        let new = old + delta;
        if !new.is_finite() {
            return Reply::Error(errors::NAN_OR_INFINITY.to_owned());
        }
        let text = format_f64(new);
        self.put(key, text.clone(), current.and_then(|(_, at)| at));
        self.notify(EventClass::String, "incrbyfloat", key);
        Reply::Bulk(text)
    }

    /// SETRANGE, following Redis's `setrangeCommand` check by check.
    fn set_range(&mut self, key: &Bytes, offset: u64, value: &Bytes) -> Reply {
        let current = match self.live_string(key) {
            Ok(current) => current,
            Err(wrong_type) => return wrong_type,
        };
        let old_len = current.as_ref().map_or(0, |(value, _)| value.len());
        if value.is_empty() {
            return Reply::Integer(old_len as i64);
        }
        let end = offset.checked_add(value.len() as u64);
        let Some(end) = end.filter(|end| *end <= VALUE_BYTES_MAX as u64) else {
            return Reply::Error(errors::STRING_TOO_LONG.to_owned());
        };
        let (offset, end) = (offset as usize, end as usize);
        let mut bytes = BytesMut::from(current.as_ref().map_or(&b""[..], |(value, _)| &value[..]));
        if bytes.len() < end {
            bytes.resize(end, 0);
        }
        bytes[offset..end].copy_from_slice(value);
        let length = bytes.len() as i64;
        self.put(key, bytes.freeze(), current.and_then(|(_, at)| at));
        self.notify(EventClass::String, "setrange", key);
        Reply::Integer(length)
    }

    /// Sets a key's expiry to `when`, deleting the key when that time has already come, as
    /// EXPIRE and GETEX do (Redis's `checkAlreadyExpired`).
    fn set_expiry(&mut self, key: &Bytes, when: i64) {
        if when <= to_i64(self.now_ms) {
            self.view.remove(key, self.log_index);
            self.notify(EventClass::Generic, "del", key);
        } else {
            self.view.set_expiry(key, Some(when as u64), self.log_index);
            self.notify(EventClass::Generic, "expire", key);
        }
    }

    /// Turns an expiry into absolute milliseconds, refusing one that overflows with Redis's
    /// "invalid expire time" error naming the command.
    fn absolute(&self, at: Expiry, name: CommandName) -> Result<i64, Reply> {
        match at {
            Expiry::AtMs(ms) => Ok(ms),
            Expiry::InMs(ms) => {
                let now = to_i64(self.now_ms);
                ms.checked_add(now).ok_or_else(|| Reply::Error(errors::invalid_expire(name.as_str())))
            }
            Expiry::Persist => unreachable!("PERSIST is handled by its caller and has no time"),
        }
    }
}

/// A live key picked at random, as RANDOMKEY picks one: the first key at or after a random
/// point of the hash order (O(log N)); after a few points that find only expired keys, the first
/// live key in hash order.
fn random_key<G: Deref<Target = Shard>>(view: &Locked<'_, G>, seed: u64, now_ms: u64) -> Option<Bytes> {
    let mut random = Random::new(seed);
    for _ in 0..RANDOM_KEY_TRIES {
        let (_, keys) = view.scan(random.next(), 1, now_ms, |_| true);
        if let Some(key) = keys.into_iter().next() {
            return Some(key);
        }
    }
    let mut cursor = 0;
    loop {
        let (next, keys) = view.scan(cursor, crate::limits::SCAN_COUNT_MAX, now_ms, |_| true);
        if let Some(key) = keys.into_iter().next() {
            return Some(key);
        }
        if next == 0 {
            return None;
        }
        cursor = next;
    }
}

/// Random points RANDOMKEY tries before it walks the keys in order.
const RANDOM_KEY_TRIES: usize = 16;

/// GETRANGE's index rules (Redis 7 `getrangeCommand`): negative indexes count from the end, both
/// are clamped, and an empty or inverted range gives the empty string.
fn get_range(value: &Bytes, start: i64, end: i64) -> Bytes {
    let len = value.len() as i64;
    if len == 0 || (start < 0 && end < 0 && start > end) {
        return Bytes::new();
    }
    let start = if start < 0 { (len + start).max(0) } else { start };
    let end = if end < 0 { (len + end).max(0) } else { end.min(len - 1) };
    if start > end {
        return Bytes::new();
    }
    value.slice(start as usize..=end as usize)
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::get_range;
    use bytes::Bytes;

    /// GETRANGE on "This is a string", the example from Redis's documentation, and edge cases.
    #[test]
    fn get_range_follows_redis_indexing() {
        let value = Bytes::from_static(b"This is a string");
        assert_eq!(get_range(&value, 0, 3), "This");
        assert_eq!(get_range(&value, -3, -1), "ing");
        assert_eq!(get_range(&value, 0, -1), "This is a string");
        assert_eq!(get_range(&value, 10, 100), "string");
        assert_eq!(get_range(&value, 5, 3), "");
        assert_eq!(get_range(&value, -1, -5), "");
        assert_eq!(get_range(&value, 0, -100), "T");
        assert_eq!(get_range(&Bytes::new(), 0, -1), "");
    }
}
