//! The hash commands' typed form (HSET, HGET, HINCRBY, HSCAN, ...), as the log carries them;
//! parsing them is `parse/hash.rs`, running them `exec/hash.rs`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::scan::ScanOptions;
use crate::command_name::CommandName;
use crate::limits::ARGUMENT_OVERHEAD;

/// A hash command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum HashCommand {
    /// HSET and HMSET: fields and values in order (a field given twice keeps its last value).
    Set { name: CommandName, key: Bytes, pairs: Vec<(Bytes, Bytes)> },
    /// HSETNX key field value.
    SetNx { key: Bytes, field: Bytes, value: Bytes },
    /// HGET key field.
    Get { key: Bytes, field: Bytes },
    /// HMGET key field [field ...].
    MGet { key: Bytes, fields: Vec<Bytes> },
    /// HGETALL, HKEYS and HVALS.
    GetAll { name: CommandName, key: Bytes },
    /// HDEL key field [field ...].
    Del { key: Bytes, fields: Vec<Bytes> },
    /// HEXISTS key field.
    Exists { key: Bytes, field: Bytes },
    /// HLEN key.
    Len { key: Bytes },
    /// HSTRLEN key field.
    StrLen { key: Bytes, field: Bytes },
    /// HINCRBY key field increment.
    IncrBy { key: Bytes, field: Bytes, delta: i64 },
    /// HINCRBYFLOAT key field increment.
    IncrByFloat { key: Bytes, field: Bytes, delta: f64 },
    /// HSCAN key cursor [MATCH pattern] [COUNT count].
    Scan { key: Bytes, cursor: u64, options: ScanOptions },
    /// HRANDFIELD key [count [WITHVALUES]]; `seed` drawn by the server (`types/random.rs`).
    RandField { key: Bytes, count: Option<i64>, with_values: bool, seed: u64 },
}

impl HashCommand {
    pub fn name(&self) -> CommandName {
        use CommandName as N;
        match self {
            HashCommand::Set { name, .. } | HashCommand::GetAll { name, .. } => *name,
            HashCommand::SetNx { .. } => N::HSetNx,
            HashCommand::Get { .. } => N::HGet,
            HashCommand::MGet { .. } => N::HMGet,
            HashCommand::Del { .. } => N::HDel,
            HashCommand::Exists { .. } => N::HExists,
            HashCommand::Len { .. } => N::HLen,
            HashCommand::StrLen { .. } => N::HStrLen,
            HashCommand::IncrBy { .. } => N::HIncrBy,
            HashCommand::IncrByFloat { .. } => N::HIncrByFloat,
            HashCommand::Scan { .. } => N::HScan,
            HashCommand::RandField { .. } => N::HRandField,
        }
    }

    /// The one key a hash command names.
    pub fn key(&self) -> &Bytes {
        match self {
            HashCommand::Set { key, .. }
            | HashCommand::SetNx { key, .. }
            | HashCommand::Get { key, .. }
            | HashCommand::MGet { key, .. }
            | HashCommand::GetAll { key, .. }
            | HashCommand::Del { key, .. }
            | HashCommand::Exists { key, .. }
            | HashCommand::Len { key }
            | HashCommand::StrLen { key, .. }
            | HashCommand::IncrBy { key, .. }
            | HashCommand::IncrByFloat { key, .. }
            | HashCommand::Scan { key, .. }
            | HashCommand::RandField { key, .. } => key,
        }
    }

    /// Every field and value the command carries, for the size limits and the entry weight.
    pub fn elements(&self) -> Vec<&Bytes> {
        match self {
            HashCommand::Set { pairs, .. } => pairs.iter().flat_map(|(f, v)| [f, v]).collect(),
            HashCommand::SetNx { field, value, .. } => vec![field, value],
            HashCommand::Get { field, .. }
            | HashCommand::Exists { field, .. }
            | HashCommand::StrLen { field, .. }
            | HashCommand::IncrBy { field, .. }
            | HashCommand::IncrByFloat { field, .. } => vec![field],
            HashCommand::MGet { fields, .. } | HashCommand::Del { fields, .. } => fields.iter().collect(),
            HashCommand::Scan { options, .. } => options.pattern.iter().collect(),
            HashCommand::GetAll { .. } | HashCommand::Len { .. } | HashCommand::RandField { .. } => {
                Vec::new()
            }
        }
    }

    /// About how many bytes the command takes in a log entry (see `Command::weight`).
    pub fn weight(&self) -> usize {
        let elements: usize = self.elements().iter().map(|e| e.len() + ARGUMENT_OVERHEAD).sum();
        self.key().len() + 2 * ARGUMENT_OVERHEAD + elements
    }
}
