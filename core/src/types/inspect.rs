//! The typed form of the commands that look at a key rather than its value (OBJECT, MEMORY
//! USAGE) and of LCS, which compares two strings; parsing them is `parse/inspect.rs`, running
//! them `exec/inspect.rs`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::command_name::CommandName;

/// OBJECT's subcommands, and MEMORY USAGE.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InspectCommand {
    /// OBJECT ENCODING, FREQ, IDLETIME or REFCOUNT key.
    Object { sub: ObjectSub, key: Bytes },
    /// OBJECT HELP.
    ObjectHelp,
    /// MEMORY USAGE key [SAMPLES count].
    MemoryUsage { key: Bytes },
    /// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]; an option error is kept for
    /// after the keys' types are checked, as Redis orders its checks.
    Lcs { a: Bytes, b: Bytes, options: Result<LcsOptions, String> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectSub {
    Encoding,
    Freq,
    IdleTime,
    RefCount,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LcsOptions {
    pub len: bool,
    pub idx: bool,
    pub min_match_len: u64,
    pub with_match_len: bool,
}

impl InspectCommand {
    pub fn name(&self) -> CommandName {
        match self {
            InspectCommand::Object { .. } | InspectCommand::ObjectHelp => CommandName::Object,
            InspectCommand::MemoryUsage { .. } => CommandName::Memory,
            InspectCommand::Lcs { .. } => CommandName::Lcs,
        }
    }

    pub fn for_each_key<'a>(&'a self, mut visit: impl FnMut(&'a Bytes)) {
        match self {
            InspectCommand::Object { key, .. } | InspectCommand::MemoryUsage { key } => visit(key),
            InspectCommand::ObjectHelp => {}
            InspectCommand::Lcs { a, b, .. } => {
                visit(a);
                visit(b);
            }
        }
    }
}

/// The largest dynamic-programming table LCS builds (four bytes a cell): 64 MiB, where Redis
/// allows up to `proto-max-bulk-len` (512 MiB). The table is built while the two keys' shards
/// are read-locked, so it is kept small enough not to stall their writes for long.
pub const LCS_TABLE_BYTES_MAX: u64 = 64 * 1024 * 1024;
