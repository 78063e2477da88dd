//! The list commands' typed form (LPUSH, LRANGE, LMOVE, the blocking pops, ...), as the log
//! carries them; parsing them is `parse/list.rs`, running them `exec/list.rs`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::command_name::CommandName;
use crate::limits::ARGUMENT_OVERHEAD;

/// A list command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ListCommand {
    /// LPUSH, RPUSH, LPUSHX and RPUSHX.
    Push { name: CommandName, key: Bytes, items: Vec<Bytes> },
    /// LPOP and RPOP, with a count when one was given.
    Pop { name: CommandName, key: Bytes, count: Option<usize> },
    /// LLEN key.
    Len { key: Bytes },
    /// LRANGE key start stop.
    Range { key: Bytes, start: i64, stop: i64 },
    /// LINDEX key index; `None` for an index that is not an integer, which Redis reports only
    /// once it has found the list.
    Index { key: Bytes, index: Option<i64> },
    /// LSET key index element; the index as LINDEX's.
    Set { key: Bytes, index: Option<i64>, item: Bytes },
    /// LINSERT key BEFORE|AFTER pivot element.
    Insert { key: Bytes, before: bool, pivot: Bytes, item: Bytes },
    /// LREM key count element.
    Rem { key: Bytes, count: i64, item: Bytes },
    /// LTRIM key start stop.
    Trim { key: Bytes, start: i64, stop: i64 },
    /// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]; `count` is `None` without
    /// COUNT (the reply is then one position or nil), `max_len` 0 for no bound.
    Pos { key: Bytes, item: Bytes, rank: i64, count: Option<usize>, max_len: usize },
    /// LMOVE and RPOPLPUSH: pop at one end of `from`, push at one end of `to`.
    Move { name: CommandName, from: Bytes, to: Bytes, from_left: bool, to_left: bool },
    /// BLPOP, BRPOP (`to` is `None`), BLMOVE and BRPOPLPUSH (one key, and `to`). Applied, it is
    /// one attempt: a pop from the first key that holds a list, or nothing; the waiting between
    /// attempts is the server's (`server/src/resp/blocking.rs`). The server sets `deadline_ms`
    /// (state-machine time) on each attempt, and an attempt applied past it pops nothing, so no
    /// element goes to a client that has stopped waiting; `None` (inside MULTI) never expires.
    BlockingPop {
        name: CommandName,
        keys: Vec<Bytes>,
        to: Option<Bytes>,
        from_left: bool,
        to_left: bool,
        timeout_ms: u64,
        deadline_ms: Option<u64>,
    },
}

impl ListCommand {
    pub fn name(&self) -> CommandName {
        use CommandName as N;
        match self {
            ListCommand::Push { name, .. }
            | ListCommand::Pop { name, .. }
            | ListCommand::Move { name, .. }
            | ListCommand::BlockingPop { name, .. } => *name,
            ListCommand::Len { .. } => N::LLen,
            ListCommand::Range { .. } => N::LRange,
            ListCommand::Index { .. } => N::LIndex,
            ListCommand::Set { .. } => N::LSet,
            ListCommand::Insert { .. } => N::LInsert,
            ListCommand::Rem { .. } => N::LRem,
            ListCommand::Trim { .. } => N::LTrim,
            ListCommand::Pos { .. } => N::LPos,
        }
    }

    /// Calls `visit` with each key, in order.
    pub fn for_each_key<'a>(&'a self, mut visit: impl FnMut(&'a Bytes)) {
        match self {
            ListCommand::Move { from, to, .. } => {
                visit(from);
                visit(to);
            }
            ListCommand::BlockingPop { keys, to, .. } => {
                keys.iter().for_each(&mut visit);
                to.iter().for_each(visit);
            }
            ListCommand::Push { key, .. }
            | ListCommand::Pop { key, .. }
            | ListCommand::Len { key }
            | ListCommand::Range { key, .. }
            | ListCommand::Index { key, .. }
            | ListCommand::Set { key, .. }
            | ListCommand::Insert { key, .. }
            | ListCommand::Rem { key, .. }
            | ListCommand::Trim { key, .. }
            | ListCommand::Pos { key, .. } => visit(key),
        }
    }

    /// Every element the command carries, for the size limits and the entry weight.
    pub fn elements(&self) -> Vec<&Bytes> {
        match self {
            ListCommand::Push { items, .. } => items.iter().collect(),
            ListCommand::Set { item, .. } | ListCommand::Rem { item, .. } | ListCommand::Pos { item, .. } => {
                vec![item]
            }
            ListCommand::Insert { pivot, item, .. } => vec![pivot, item],
            _ => Vec::new(),
        }
    }

    /// About how many bytes the command takes in a log entry (see `Command::weight`).
    pub fn weight(&self) -> usize {
        let mut weight = 4 * ARGUMENT_OVERHEAD;
        self.for_each_key(|key| weight += key.len() + ARGUMENT_OVERHEAD);
        weight + self.elements().iter().map(|e| e.len() + ARGUMENT_OVERHEAD).sum::<usize>()
    }
}
