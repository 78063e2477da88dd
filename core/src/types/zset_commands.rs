//! The sorted-set commands' typed form (ZADD, ZRANGE and its older forms, ZUNIONSTORE, ...), as
//! the log carries them; parsing them is `parse/zset.rs`, running them `exec/zset.rs`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::scan::ScanOptions;
use super::zset::{LexBound, ScoreBound};
use crate::command_name::CommandName;
use crate::limits::ARGUMENT_OVERHEAD;

/// A sorted-set command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ZSetCommand {
    /// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...].
    Add { key: Bytes, options: AddOptions, pairs: Vec<(f64, Bytes)> },
    /// ZREM key member [member ...].
    Rem { key: Bytes, members: Vec<Bytes> },
    /// ZSCORE key member.
    Score { key: Bytes, member: Bytes },
    /// ZMSCORE key member [member ...].
    MScore { key: Bytes, members: Vec<Bytes> },
    /// ZINCRBY key increment member.
    IncrBy { key: Bytes, delta: f64, member: Bytes },
    /// ZCARD key.
    Card { key: Bytes },
    /// ZCOUNT key min max.
    Count { key: Bytes, min: ScoreBound, max: ScoreBound },
    /// ZLEXCOUNT key min max.
    LexCount { key: Bytes, min: LexBound, max: LexBound },
    /// ZRANGE and its older forms (ZREVRANGE, ZRANGEBYSCORE, ...), and ZRANGESTORE.
    Range { name: CommandName, destination: Option<Bytes>, range: RangeSpec },
    /// ZRANK and ZREVRANK.
    Rank { name: CommandName, key: Bytes, member: Bytes },
    /// ZREMRANGEBYRANK, ZREMRANGEBYSCORE and ZREMRANGEBYLEX.
    RemRange { name: CommandName, key: Bytes, by: RangeBy },
    /// ZPOPMIN and ZPOPMAX, with a count when one was given.
    Pop { name: CommandName, key: Bytes, count: Option<usize> },
    /// ZUNION, ZINTER, ZDIFF and their STORE forms.
    Combine { name: CommandName, destination: Option<Bytes>, keys: Vec<Bytes>, combine: CombineOptions },
    /// ZSCAN key cursor [MATCH pattern] [COUNT count].
    Scan { key: Bytes, cursor: u64, options: ScanOptions },
    /// ZRANDMEMBER key [count [WITHSCORES]]; `seed` drawn by the server (`types/random.rs`).
    RandMember { key: Bytes, count: Option<i64>, with_scores: bool, seed: u64 },
    /// BZPOPMIN and BZPOPMAX: one attempt, as a list's `BlockingPop`.
    BlockingPop { name: CommandName, keys: Vec<Bytes>, timeout_ms: u64, deadline_ms: Option<u64> },
}

/// ZADD's options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddOptions {
    pub only_new: bool,
    pub only_existing: bool,
    pub greater: bool,
    pub less: bool,
    /// CH: count changed members, not only added ones.
    pub changed: bool,
    /// INCR: add the score to the member's, and answer the new score.
    pub incr: bool,
}

/// What a ZRANGE reads: which elements, in which direction, how many, with scores or not.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RangeSpec {
    pub key: Bytes,
    pub by: RangeBy,
    /// REV: from the highest (the range's bounds are then given highest first).
    pub rev: bool,
    /// LIMIT offset count (count negative for all).
    pub limit: Option<(i64, i64)>,
    pub with_scores: bool,
}

/// A range by rank, score or member.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RangeBy {
    Rank(i64, i64),
    Score(ScoreBound, ScoreBound),
    Lex(LexBound, LexBound),
}

/// How ZUNION and ZINTER combine scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CombineOptions {
    /// One weight per key (1 when not given).
    pub weights: Vec<f64>,
    pub aggregate: AggregateBy,
    pub with_scores: bool,
    /// What is wrong with the options, if anything: Redis reports it only after it has checked
    /// the input keys' types.
    pub error: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AggregateBy {
    Sum,
    Min,
    Max,
}

impl ZSetCommand {
    pub fn name(&self) -> CommandName {
        use CommandName as N;
        match self {
            ZSetCommand::Range { name, .. }
            | ZSetCommand::Rank { name, .. }
            | ZSetCommand::RemRange { name, .. }
            | ZSetCommand::Pop { name, .. }
            | ZSetCommand::Combine { name, .. }
            | ZSetCommand::BlockingPop { name, .. } => *name,
            ZSetCommand::Add { .. } => N::ZAdd,
            ZSetCommand::Rem { .. } => N::ZRem,
            ZSetCommand::Score { .. } => N::ZScore,
            ZSetCommand::MScore { .. } => N::ZMScore,
            ZSetCommand::IncrBy { .. } => N::ZIncrBy,
            ZSetCommand::Card { .. } => N::ZCard,
            ZSetCommand::Count { .. } => N::ZCount,
            ZSetCommand::LexCount { .. } => N::ZLexCount,
            ZSetCommand::Scan { .. } => N::ZScan,
            ZSetCommand::RandMember { .. } => N::ZRandMember,
        }
    }

    /// Calls `visit` with each key, in order (a destination first).
    pub fn for_each_key<'a>(&'a self, mut visit: impl FnMut(&'a Bytes)) {
        match self {
            ZSetCommand::Add { key, .. }
            | ZSetCommand::Rem { key, .. }
            | ZSetCommand::Score { key, .. }
            | ZSetCommand::MScore { key, .. }
            | ZSetCommand::IncrBy { key, .. }
            | ZSetCommand::Card { key }
            | ZSetCommand::Count { key, .. }
            | ZSetCommand::LexCount { key, .. }
            | ZSetCommand::Rank { key, .. }
            | ZSetCommand::RemRange { key, .. }
            | ZSetCommand::Pop { key, .. }
            | ZSetCommand::Scan { key, .. }
            | ZSetCommand::RandMember { key, .. } => visit(key),
            ZSetCommand::Range { destination, range, .. } => {
                destination.iter().for_each(&mut visit);
                visit(&range.key);
            }
            ZSetCommand::Combine { destination, keys, .. } => {
                destination.iter().for_each(&mut visit);
                keys.iter().for_each(visit);
            }
            ZSetCommand::BlockingPop { keys, .. } => keys.iter().for_each(visit),
        }
    }

    /// Every member (and bound or pattern) the command carries, for the size limits and weight.
    pub fn elements(&self) -> Vec<&Bytes> {
        fn lex(bound: &LexBound) -> Option<&Bytes> {
            match bound {
                LexBound::Inclusive(b) | LexBound::Exclusive(b) => Some(b),
                LexBound::Min | LexBound::Max => None,
            }
        }
        match self {
            ZSetCommand::Add { pairs, .. } => pairs.iter().map(|(_, m)| m).collect(),
            ZSetCommand::Rem { members, .. } | ZSetCommand::MScore { members, .. } => {
                members.iter().collect()
            }
            ZSetCommand::Score { member, .. }
            | ZSetCommand::IncrBy { member, .. }
            | ZSetCommand::Rank { member, .. } => {
                vec![member]
            }
            ZSetCommand::LexCount { min, max, .. }
            | ZSetCommand::RemRange { by: RangeBy::Lex(min, max), .. }
            | ZSetCommand::Range { range: RangeSpec { by: RangeBy::Lex(min, max), .. }, .. } => {
                lex(min).into_iter().chain(lex(max)).collect()
            }
            ZSetCommand::Scan { options, .. } => options.pattern.iter().collect(),
            _ => Vec::new(),
        }
    }

    /// About how many bytes the command takes in a log entry (see `Command::weight`).
    pub fn weight(&self) -> usize {
        let mut weight = 8 * ARGUMENT_OVERHEAD;
        self.for_each_key(|key| weight += key.len() + ARGUMENT_OVERHEAD);
        weight + self.elements().iter().map(|e| e.len() + 2 * ARGUMENT_OVERHEAD).sum::<usize>()
    }
}
