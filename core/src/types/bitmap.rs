//! Bitmaps: SETBIT, GETBIT, BITCOUNT, BITPOS and BITOP, on string values, with Redis 7's rules
//! (bit 0 is the most significant bit of the first byte; ranges count from the end when negative,
//! in bytes or, with BIT, in bits).

use std::ops::Deref;

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use crate::command::{CommandName, ParseError, ARGUMENT_OVERHEAD};
use crate::exec::Exec;
use crate::limits::VALUE_BYTES_MAX;
use crate::map::{Locked, Shard};
use crate::number::parse_i64;
use crate::parse::{invalid, Parser};
use crate::reply::{errors, Reply};
use crate::stored_key::StoredKey;

/// A bitmap command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BitCommand {
    /// SETBIT key offset value.
    SetBit { key: Bytes, offset: u64, bit: bool },
    /// GETBIT key offset.
    GetBit { key: Bytes, offset: u64 },
    /// BITCOUNT key [start end [BYTE|BIT]]; an error in the range is kept for after the key's
    /// type is checked, as Redis orders its checks (also BITPOS's).
    Count { key: Bytes, range: Result<Option<BitRange>, String> },
    /// BITPOS key bit [start [end [BYTE|BIT]]].
    Pos { key: Bytes, bit: bool, range: Result<PosRange, String> },
    /// BITOP AND|OR|XOR|NOT destkey key [key ...].
    Op { op: BitOp, destination: Bytes, keys: Vec<Bytes> },
}

/// A BITCOUNT range: inclusive ends, in bytes or (with BIT) in bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BitRange {
    pub start: i64,
    pub end: i64,
    pub bits: bool,
}

/// BITPOS's range: optional start and end, in bytes or (with BIT) bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PosRange {
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub bits: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

impl BitCommand {
    pub fn name(&self) -> CommandName {
        match self {
            BitCommand::SetBit { .. } => CommandName::SetBit,
            BitCommand::GetBit { .. } => CommandName::GetBit,
            BitCommand::Count { .. } => CommandName::BitCount,
            BitCommand::Pos { .. } => CommandName::BitPos,
            BitCommand::Op { .. } => CommandName::BitOp,
        }
    }

    pub fn for_each_key<'a>(&'a self, mut visit: impl FnMut(&'a Bytes)) {
        match self {
            BitCommand::SetBit { key, .. }
            | BitCommand::GetBit { key, .. }
            | BitCommand::Count { key, .. }
            | BitCommand::Pos { key, .. } => visit(key),
            BitCommand::Op { destination, keys, .. } => {
                visit(destination);
                keys.iter().for_each(visit);
            }
        }
    }

    pub fn weight(&self) -> usize {
        let mut weight = 4 * ARGUMENT_OVERHEAD;
        self.for_each_key(|key| weight += key.len() + ARGUMENT_OVERHEAD);
        weight
    }
}

/// Offsets go up to the largest string, in bits (2^32 - 1 for 512 MB, as Redis's).
const BIT_OFFSET_MAX: u64 = VALUE_BYTES_MAX as u64 * 8 - 1;

fn offset(arg: &[u8]) -> Result<u64, ParseError> {
    let offset = parse_i64(arg).and_then(|o| u64::try_from(o).ok()).filter(|o| *o <= BIT_OFFSET_MAX);
    offset.ok_or_else(|| invalid("ERR bit offset is not an integer or out of range"))
}

/// BYTE or BIT: whether it is BIT.
fn unit(arg: &[u8]) -> Result<bool, ParseError> {
    if arg.eq_ignore_ascii_case(b"bit") {
        Ok(true)
    } else if arg.eq_ignore_ascii_case(b"byte") {
        Ok(false)
    } else {
        Err(invalid(errors::SYNTAX))
    }
}

/// Parses a bitmap command's arguments (the name is the parser's).
pub(crate) fn parse(parser: &Parser<'_>) -> Result<BitCommand, ParseError> {
    let args = parser.args;
    Ok(match parser.name {
        CommandName::SetBit => {
            let [key, at, value] = parser.exactly()?;
            let at = offset(at)?;
            let bit = match &value[..] {
                b"0" => false,
                b"1" => true,
                _ => return Err(invalid("ERR bit is not an integer or out of range")),
            };
            BitCommand::SetBit { key: key.clone(), offset: at, bit }
        }
        CommandName::GetBit => {
            let [key, at] = parser.exactly()?;
            BitCommand::GetBit { key: key.clone(), offset: offset(at)? }
        }
        CommandName::BitCount => {
            let [key, rest @ ..] = args else { return Err(parser.wrong_arity()) };
            let range = match rest {
                [] => Ok(None),
                [start, end, unit_arg @ ..] if unit_arg.len() <= 1 => (|| {
                    let (start, end) = (parser.integer(start)?, parser.integer(end)?);
                    let bits = unit_arg.first().map(|u| unit(u)).transpose()?.unwrap_or(false);
                    Ok(Some(BitRange { start, end, bits }))
                })()
                .map_err(|e: ParseError| e.to_string()),
                _ => Err(errors::SYNTAX.to_owned()),
            };
            BitCommand::Count { key: key.clone(), range }
        }
        CommandName::BitPos => {
            let [key, bit, rest @ ..] = args else { return Err(parser.wrong_arity()) };
            let bit = match parse_i64(bit) {
                Some(0) => false,
                Some(1) => true,
                Some(_) => return Err(invalid("ERR The bit argument must be 1 or 0.")),
                None => return Err(invalid(errors::NOT_INTEGER)),
            };
            let range = (|| {
                if rest.len() > 3 {
                    return Err(invalid(errors::SYNTAX));
                }
                let start = rest.first().map(|s| parser.integer(s)).transpose()?;
                let end = rest.get(1).map(|e| parser.integer(e)).transpose()?;
                let bits = rest.get(2).map(|u| unit(u)).transpose()?.unwrap_or(false);
                Ok(PosRange { start, end, bits })
            })()
            .map_err(|e: ParseError| e.to_string());
            BitCommand::Pos { key: key.clone(), bit, range }
        }
        CommandName::BitOp => {
            let [op, destination, keys @ ..] = args else { return Err(parser.wrong_arity()) };
            let op = match op.to_ascii_lowercase().as_slice() {
                b"and" => BitOp::And,
                b"or" => BitOp::Or,
                b"xor" => BitOp::Xor,
                b"not" => BitOp::Not,
                _ => return Err(invalid(errors::SYNTAX)),
            };
            if op == BitOp::Not && keys.len() != 1 {
                return Err(invalid("ERR BITOP NOT must be called with a single source key."));
            }
            BitCommand::Op { op, destination: destination.clone(), keys: keys.to_vec() }
        }
        other => unreachable!("{} is not a bitmap command", other.as_str()),
    })
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
            exec.put(key, bytes.freeze(), expire_at_ms);
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
                exec.view.remove(destination, exec.log_index);
            } else {
                exec.put(destination, Bytes::from(result), None);
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
    if value.is_empty() {
        return if bit { -1 } else { 0 };
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
