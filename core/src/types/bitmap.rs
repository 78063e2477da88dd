//! The bitmap commands' typed form (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD), on string
//! values; parsing them is `parse/bitmap.rs`, running them `exec/bitmap.rs`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::command_name::CommandName;
use crate::limits::ARGUMENT_OVERHEAD;
use crate::types::bitfield::FieldOp;

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
    /// BITFIELD key [GET|SET|INCRBY|OVERFLOW ...] and BITFIELD_RO key [GET ...].
    Field { name: CommandName, key: Bytes, ops: Vec<FieldOp> },
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
            BitCommand::Field { name, .. } => *name,
        }
    }

    pub fn for_each_key<'a>(&'a self, mut visit: impl FnMut(&'a Bytes)) {
        match self {
            BitCommand::SetBit { key, .. }
            | BitCommand::GetBit { key, .. }
            | BitCommand::Count { key, .. }
            | BitCommand::Pos { key, .. }
            | BitCommand::Field { key, .. } => visit(key),
            BitCommand::Op { destination, keys, .. } => {
                visit(destination);
                keys.iter().for_each(visit);
            }
        }
    }

    pub fn weight(&self) -> usize {
        let mut weight = 4 * ARGUMENT_OVERHEAD;
        if let BitCommand::Field { ops, .. } = self {
            weight += ops.len() * 3 * ARGUMENT_OVERHEAD;
        }
        self.for_each_key(|key| weight += key.len() + ARGUMENT_OVERHEAD);
        weight
    }
}
