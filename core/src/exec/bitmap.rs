//! Running the bitmap commands (bit 0 is the most significant bit of the first byte; ranges
//! count from the end when negative, in bytes or, with BIT, in bits), with Redis 7's replies.

use std::ops::Deref;

use bytes::{Bytes, BytesMut};

use super::context::Exec;
use crate::keyspace_event::EventClass;
use crate::map::{Locked, Shard};
use crate::reply::{errors, Reply};
use crate::stored_key::StoredKey;
use crate::types::bitfield::{FieldAction, FieldOp};
use crate::types::bitmap::{BitCommand, BitOp};

/// BITFIELD with at least one SET or INCRBY (Redis's `bitfieldGeneric`): the string is first
/// grown with zeros to hold the farthest field written, even one that OVERFLOW FAIL then
/// refuses, and `setbit` is raised when a field was written.
fn bit_field(exec: &mut Exec<'_, '_>, key: &Bytes, ops: &[FieldOp]) -> Reply {
    let stored = exec.view.live(key, exec.now_ms);
    let expire_at_ms = stored.and_then(StoredKey::expire_at_ms);
    let value = match string_of(stored) {
        Ok(value) => value,
        Err(wrong_type) => return wrong_type,
    };
    let last_bit = ops.iter().filter(|op| op.action != FieldAction::Get).map(|op| op.field.last_bit()).max();
    let needed = last_bit.map_or(0, |bit| (bit / 8 + 1) as usize);
    let mut bytes = BytesMut::from(&value[..]);
    if bytes.len() < needed {
        bytes.resize(needed, 0);
    }
    let mut written = false;
    let replies: Vec<Reply> = ops
        .iter()
        .map(|op| {
            let old = op.field.get(&bytes);
            let (new, answer) = match op.action {
                FieldAction::Get => return Reply::Integer(old),
                FieldAction::Set(value) => (op.field.add(value, 0, op.overflow), old),
                FieldAction::IncrBy(incr) => {
                    let new = op.field.add(old, incr, op.overflow);
                    (new, new.unwrap_or(0))
                }
            };
            match new {
                Some(new) => {
                    op.field.put(&mut bytes, new as u64);
                    written = true;
                    Reply::Integer(answer)
                }
                None => Reply::Nil,
            }
        })
        .collect();
    exec.put(key, bytes.freeze(), expire_at_ms);
    if written {
        exec.notify(EventClass::String, "setbit", key);
    }
    Reply::Array(replies)
}

/// A live key's string (empty when absent); WRONGTYPE for an aggregate.
fn string_of(stored: Option<&StoredKey>) -> Result<Bytes, Reply> {
    match stored {
        Some(s) if s.aggregate().is_some() => Err(Reply::Error(errors::WRONG_TYPE.to_owned())),
        Some(s) => Ok(s.value_bytes()),
        None => Ok(Bytes::new()),
    }
}

/// Runs GETBIT, BITCOUNT or BITPOS.
pub(crate) fn read<G: Deref<Target = Shard>>(
    command: &BitCommand,
    view: &Locked<'_, G>,
    now_ms: u64,
) -> Reply {
    let mut key = None;
    command.for_each_key(|k| key = key.or(Some(k)));
    let stored = view.live(key.expect("a key"), now_ms);
    // A missing key answers before its range is read: no set bit, and (for BITPOS) all clear.
    match command {
        BitCommand::Pos { bit, .. } if stored.is_none() => return Reply::Integer(if *bit { -1 } else { 0 }),
        BitCommand::Count { .. } if stored.is_none() => return Reply::Integer(0),
        _ => {}
    }
    let value = match string_of(stored) {
        Ok(value) => value,
        Err(wrong_type) => return wrong_type,
    };
    match command {
        BitCommand::GetBit { offset, .. } => Reply::Integer(i64::from(bit_at(&value, *offset))),
        BitCommand::Field { ops, .. } => {
            Reply::Array(ops.iter().map(|op| Reply::Integer(op.field.get(&value))).collect())
        }
        BitCommand::Count { range, .. } => {
            let range = match range {
                Ok(range) => range,
                Err(error) => return Reply::Error(error.clone()),
            };
            let Some(range) = range else {
                return Reply::Integer(value.iter().map(|b| b.count_ones() as i64).sum());
            };
            let total = if range.bits { value.len() as i64 * 8 } else { value.len() as i64 };
            let Some((start, end)) = clamp(range.start, range.end, total) else { return Reply::Integer(0) };
            let count = if range.bits {
                (start..=end).filter(|at| bit_at(&value, *at as u64)).count()
            } else {
                value[start as usize..=end as usize].iter().map(|b| b.count_ones() as usize).sum()
            };
            Reply::Integer(count as i64)
        }
        BitCommand::Pos { bit, range, .. } => match range {
            Ok(range) => Reply::Integer(position(&value, *bit, range.start, range.end, range.bits)),
            Err(error) => Reply::Error(error.clone()),
        },
        write => panic!("{} is a write and cannot run on the read path", write.name().as_str()),
    }
}

/// Runs SETBIT or BITOP (or a read), as the entry at `exec.log_index`.
pub(crate) fn write(command: &BitCommand, exec: &mut Exec<'_, '_>) -> Reply {
    match command {
        BitCommand::Field { key, ops, .. } if ops.iter().any(|op| op.action != FieldAction::Get) => {
            bit_field(exec, key, ops)
        }
        BitCommand::SetBit { key, offset, bit } => {
            let stored = exec.view.live(key, exec.now_ms);
            let expire_at_ms = stored.and_then(StoredKey::expire_at_ms);
            let value = match string_of(stored) {
                Ok(value) => value,
                Err(wrong_type) => return wrong_type,
            };
            let old = bit_at(&value, *offset);
            let byte = (*offset / 8) as usize;
            let mut bytes = BytesMut::from(&value[..]);
            if bytes.len() <= byte {
                bytes.resize(byte + 1, 0);
            }
            let mask = 0x80u8 >> (offset % 8);
            if *bit {
                bytes[byte] |= mask;
            } else {
                bytes[byte] &= !mask;
            }
            // Redis raises `setbit` only when the key is made or grown, or the bit changes.
            let changed = stored.is_none() || value.len() <= byte || old != *bit;
            exec.put(key, bytes.freeze(), expire_at_ms);
            if changed {
                exec.notify(EventClass::String, "setbit", key);
            }
            Reply::Integer(i64::from(old))
        }
        BitCommand::Op { op, destination, keys } => {
            let mut values = Vec::with_capacity(keys.len());
            for key in keys {
                match string_of(exec.view.live(key, exec.now_ms)) {
                    Ok(value) => values.push(value),
                    Err(wrong_type) => return wrong_type,
                }
            }
            let len = values.iter().map(Bytes::len).max().unwrap_or(0);
            let byte = |value: &Bytes, at: usize| value.get(at).copied().unwrap_or(0);
            let result: Vec<u8> = (0..len)
                .map(|at| match op {
                    BitOp::Not => !byte(&values[0], at),
                    BitOp::And => values.iter().fold(0xff, |acc, v| acc & byte(v, at)),
                    BitOp::Or => values.iter().fold(0, |acc, v| acc | byte(v, at)),
                    BitOp::Xor => values.iter().fold(0, |acc, v| acc ^ byte(v, at)),
                })
                .collect();
            if result.is_empty() {
                if exec.view.remove(destination, exec.log_index) {
                    exec.notify(EventClass::Generic, "del", destination);
                }
            } else {
                exec.put(destination, Bytes::from(result), None);
                exec.notify(EventClass::String, "set", destination);
            }
            Reply::Integer(len as i64)
        }
        read_only => read(read_only, exec.view, exec.now_ms),
    }
}

fn bit_at(value: &[u8], offset: u64) -> bool {
    let byte = (offset / 8) as usize;
    value.get(byte).is_some_and(|b| b & (0x80 >> (offset % 8)) != 0)
}

/// Redis's range rules for BITCOUNT and BITPOS: negative ends count from the end, both are
/// clamped; `None` for an empty range.
fn clamp(start: i64, end: i64, total: i64) -> Option<(i64, i64)> {
    let start = if start < 0 { (total + start).max(0) } else { start };
    let end = if end < 0 { (total + end).max(0) } else { end }.min(total - 1);
    (total > 0 && start <= end).then_some((start, end))
}

/// BITPOS, as Redis's `bitposCommand`: the first `bit` in the range; -1 when there is none,
/// except that looking for a 0 with no end given finds the first bit past the string.
fn position(value: &[u8], bit: bool, start: Option<i64>, end: Option<i64>, bits: bool) -> i64 {
    let end_given = end.is_some();
    // An empty string (a missing key answered before) has no bit at all, set or clear.
    if value.is_empty() {
        return -1;
    }
    let total = if bits { value.len() as i64 * 8 } else { value.len() as i64 };
    let Some((start, end)) = clamp(start.unwrap_or(0), end.unwrap_or(-1), total) else { return -1 };
    let (first_bit, last_bit) = if bits { (start, end) } else { (start * 8, end * 8 + 7) };
    if let Some(found) = (first_bit..=last_bit).find(|at| bit_at(value, *at as u64) == bit) {
        return found;
    }
    // Looking for a clear bit among set ones with no end given: the string is taken as padded
    // with zeros on the right, so the answer is the first bit past the range.
    if !bit && !end_given {
        return last_bit + 1;
    }
    -1
}
