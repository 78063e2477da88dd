//! The set commands' typed form (SADD, SINTER, SMOVE, SSCAN, SPOP, ...), as the log carries
//! them; parsing them is `parse/set.rs`, running them `exec/set.rs`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::scan::ScanOptions;
use crate::command_name::CommandName;
use crate::limits::ARGUMENT_OVERHEAD;

/// A set command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SetsCommand {
    /// SADD key member [member ...].
    Add { key: Bytes, members: Vec<Bytes> },
    /// SREM key member [member ...].
    Rem { key: Bytes, members: Vec<Bytes> },
    /// SMEMBERS key.
    Members { key: Bytes },
    /// SISMEMBER key member.
    IsMember { key: Bytes, member: Bytes },
    /// SMISMEMBER key member [member ...].
    MIsMember { key: Bytes, members: Vec<Bytes> },
    /// SCARD key.
    Card { key: Bytes },
    /// SINTER, SUNION and SDIFF.
    Combine { name: CommandName, keys: Vec<Bytes> },
    /// SINTERSTORE, SUNIONSTORE and SDIFFSTORE.
    Store { name: CommandName, destination: Bytes, keys: Vec<Bytes> },
    /// SINTERCARD numkeys key [key ...] [LIMIT limit]; `limit` 0 for none.
    InterCard { keys: Vec<Bytes>, limit: usize },
    /// SMOVE source destination member.
    Move { from: Bytes, to: Bytes, member: Bytes },
    /// SSCAN key cursor [MATCH pattern] [COUNT count].
    Scan { key: Bytes, cursor: u64, options: ScanOptions },
    /// SPOP key [count]; `seed` drawn by the server that took the command (`types/random.rs`).
    Pop { key: Bytes, count: Option<usize>, seed: u64 },
    /// SRANDMEMBER key [count].
    RandMember { key: Bytes, count: Option<i64>, seed: u64 },
}

impl SetsCommand {
    pub fn name(&self) -> CommandName {
        use CommandName as N;
        match self {
            SetsCommand::Combine { name, .. } | SetsCommand::Store { name, .. } => *name,
            SetsCommand::Add { .. } => N::SAdd,
            SetsCommand::Rem { .. } => N::SRem,
            SetsCommand::Members { .. } => N::SMembers,
            SetsCommand::IsMember { .. } => N::SIsMember,
            SetsCommand::MIsMember { .. } => N::SMIsMember,
            SetsCommand::Card { .. } => N::SCard,
            SetsCommand::InterCard { .. } => N::SInterCard,
            SetsCommand::Move { .. } => N::SMove,
            SetsCommand::Scan { .. } => N::SScan,
            SetsCommand::Pop { .. } => N::SPop,
            SetsCommand::RandMember { .. } => N::SRandMember,
        }
    }

    /// Calls `visit` with each key, in order (a STORE's destination first).
    pub fn for_each_key<'a>(&'a self, mut visit: impl FnMut(&'a Bytes)) {
        match self {
            SetsCommand::Add { key, .. }
            | SetsCommand::Rem { key, .. }
            | SetsCommand::Members { key }
            | SetsCommand::IsMember { key, .. }
            | SetsCommand::MIsMember { key, .. }
            | SetsCommand::Card { key }
            | SetsCommand::Scan { key, .. }
            | SetsCommand::Pop { key, .. }
            | SetsCommand::RandMember { key, .. } => visit(key),
            SetsCommand::Combine { keys, .. } | SetsCommand::InterCard { keys, .. } => {
                keys.iter().for_each(visit)
            }
            SetsCommand::Store { destination, keys, .. } => {
                visit(destination);
                keys.iter().for_each(visit);
            }
            SetsCommand::Move { from, to, .. } => {
                visit(from);
                visit(to);
            }
        }
    }

    /// Every member (and pattern) the command carries, for the size limits and the entry weight.
    pub fn elements(&self) -> Vec<&Bytes> {
        match self {
            SetsCommand::Add { members, .. }
            | SetsCommand::Rem { members, .. }
            | SetsCommand::MIsMember { members, .. } => members.iter().collect(),
            SetsCommand::IsMember { member, .. } | SetsCommand::Move { member, .. } => vec![member],
            SetsCommand::Scan { options, .. } => options.pattern.iter().collect(),
            _ => Vec::new(),
        }
    }

    /// About how many bytes the command takes in a log entry (see `Command::weight`).
    pub fn weight(&self) -> usize {
        let mut weight = 3 * ARGUMENT_OVERHEAD;
        self.for_each_key(|key| weight += key.len() + ARGUMENT_OVERHEAD);
        weight + self.elements().iter().map(|e| e.len() + ARGUMENT_OVERHEAD).sum::<usize>()
    }
}
