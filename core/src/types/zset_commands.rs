//! The sorted-set commands (ZADD, ZRANGE and its older forms, ZUNIONSTORE, ...): their typed
//! form and parsing, with Redis 7's option rules and error texts. Running them is
//! `zset_exec.rs`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::hash_commands::parse_rand;
use super::scan::{self, ScanOptions};
use super::zset::{LexBound, ScoreBound};
use crate::command::{CommandName, ParseError, ARGUMENT_OVERHEAD};
use crate::number::parse_f64;
use crate::parse::{invalid, positive, Parser};
use crate::reply::errors;

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

const NOT_FLOAT_RANGE: &str = "ERR min or max is not a float";
const NOT_LEX_RANGE: &str = "ERR min or max not valid string range item";
const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";

/// Parses a sorted-set command's arguments (the name is the parser's).
pub(crate) fn parse(parser: &Parser<'_>) -> Result<ZSetCommand, ParseError> {
    use CommandName as N;
    let (name, args) = (parser.name, parser.args);
    let key_and_rest = || match args {
        [key, rest @ ..] => Ok((key.clone(), rest)),
        [] => Err(parser.wrong_arity()),
    };
    Ok(match name {
        N::ZAdd => parse_add(parser)?,
        N::ZRem | N::ZMScore => {
            let (key, members) = key_and_rest()?;
            let members = members.to_vec();
            if name == N::ZRem {
                ZSetCommand::Rem { key, members }
            } else {
                ZSetCommand::MScore { key, members }
            }
        }
        N::ZScore => {
            let [key, member] = parser.exactly()?;
            ZSetCommand::Score { key: key.clone(), member: member.clone() }
        }
        N::ZIncrBy => {
            let [key, delta, member] = parser.exactly()?;
            let delta = parse_f64(delta).ok_or_else(|| invalid(errors::NOT_FLOAT))?;
            ZSetCommand::IncrBy { key: key.clone(), delta, member: member.clone() }
        }
        N::ZCard => ZSetCommand::Card { key: parser.one_key()? },
        N::ZCount => {
            let [key, min, max] = parser.exactly()?;
            ZSetCommand::Count { key: key.clone(), min: score_bound(min)?, max: score_bound(max)? }
        }
        N::ZLexCount => {
            let [key, min, max] = parser.exactly()?;
            ZSetCommand::LexCount { key: key.clone(), min: lex_bound(min)?, max: lex_bound(max)? }
        }
        N::ZRange
        | N::ZRevRange
        | N::ZRangeByScore
        | N::ZRevRangeByScore
        | N::ZRangeByLex
        | N::ZRevRangeByLex
        | N::ZRangeStore => parse_range(parser)?,
        N::ZRank | N::ZRevRank => {
            let [key, member] = parser.exactly()?;
            ZSetCommand::Rank { name, key: key.clone(), member: member.clone() }
        }
        N::ZRemRangeByRank | N::ZRemRangeByScore | N::ZRemRangeByLex => {
            let [key, min, max] = parser.exactly()?;
            let by = match name {
                N::ZRemRangeByRank => RangeBy::Rank(parser.integer(min)?, parser.integer(max)?),
                N::ZRemRangeByScore => RangeBy::Score(score_bound(min)?, score_bound(max)?),
                _ => RangeBy::Lex(lex_bound(min)?, lex_bound(max)?),
            };
            ZSetCommand::RemRange { name, key: key.clone(), by }
        }
        N::ZPopMin | N::ZPopMax => match args {
            [key] => ZSetCommand::Pop { name, key: key.clone(), count: None },
            [key, count] => {
                ZSetCommand::Pop { name, key: key.clone(), count: Some(positive(count, NOT_POSITIVE)?) }
            }
            _ => return Err(parser.wrong_arity()),
        },
        N::ZUnion | N::ZInter | N::ZDiff | N::ZUnionStore | N::ZInterStore | N::ZDiffStore => {
            parse_combine(parser)?
        }
        N::ZScan => {
            let (key, cursor, options) = scan::parse(parser)?;
            ZSetCommand::Scan { key, cursor, options }
        }
        N::BZPopMin | N::BZPopMax => {
            let [keys @ .., timeout] = args else { return Err(parser.wrong_arity()) };
            let timeout_ms = super::list_commands::timeout_ms(timeout)?;
            ZSetCommand::BlockingPop { name, keys: keys.to_vec(), timeout_ms, deadline_ms: None }
        }
        N::ZRandMember => {
            let (key, count, with_scores) = parse_rand(parser, b"withscores")?;
            ZSetCommand::RandMember { key, count, with_scores, seed: 0 }
        }
        other => unreachable!("{} is not a sorted-set command", other.as_str()),
    })
}

/// ZADD, with the option rules of Redis's `zaddGenericCommand`.
fn parse_add(parser: &Parser<'_>) -> Result<ZSetCommand, ParseError> {
    let [key, rest @ ..] = parser.args else { return Err(parser.wrong_arity()) };
    let mut options = AddOptions::default();
    let mut at = 0;
    while let Some(option) = rest.get(at) {
        let flag = match option.to_ascii_lowercase().as_slice() {
            b"nx" => &mut options.only_new,
            b"xx" => &mut options.only_existing,
            b"gt" => &mut options.greater,
            b"lt" => &mut options.less,
            b"ch" => &mut options.changed,
            b"incr" => &mut options.incr,
            _ => break,
        };
        *flag = true;
        at += 1;
    }
    let pairs = &rest[at..];
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return Err(invalid(errors::SYNTAX));
    }
    if options.only_new && options.only_existing {
        return Err(invalid("ERR XX and NX options at the same time are not compatible"));
    }
    if (options.greater && options.less) || ((options.greater || options.less) && options.only_new) {
        return Err(invalid("ERR GT, LT, and/or NX options at the same time are not compatible"));
    }
    if options.incr && pairs.len() > 2 {
        return Err(invalid("ERR INCR option supports a single increment-element pair"));
    }
    let pairs = pairs
        .chunks_exact(2)
        .map(|pair| Ok((parse_f64(&pair[0]).ok_or_else(|| invalid(errors::NOT_FLOAT))?, pair[1].clone())))
        .collect::<Result<_, ParseError>>()?;
    Ok(ZSetCommand::Add { key: key.clone(), options, pairs })
}

/// ZRANGE (and ZRANGESTORE), with its options; the older forms as the fixed options they are.
fn parse_range(parser: &Parser<'_>) -> Result<ZSetCommand, ParseError> {
    use CommandName as N;
    let name = parser.name;
    let (destination, args) = match (name, parser.args) {
        (N::ZRangeStore, [destination, rest @ ..]) => (Some(destination.clone()), rest),
        (_, args) => (None, args),
    };
    let [key, min, max, options @ ..] = args else { return Err(parser.wrong_arity()) };
    #[derive(PartialEq)]
    enum By {
        Rank,
        Score,
        Lex,
    }
    let (mut by, mut rev) = match name {
        N::ZRangeByScore => (By::Score, false),
        N::ZRevRangeByScore => (By::Score, true),
        N::ZRangeByLex => (By::Lex, false),
        N::ZRevRangeByLex => (By::Lex, true),
        N::ZRevRange => (By::Rank, true),
        _ => (By::Rank, false),
    };
    let unified = matches!(name, N::ZRange | N::ZRangeStore);
    let (mut limit, mut with_scores) = (None, false);
    let mut at = 0;
    while let Some(option) = options.get(at) {
        let option = option.to_ascii_lowercase();
        match option.as_slice() {
            b"withscores"
                if name != N::ZRangeStore && !matches!(name, N::ZRangeByLex | N::ZRevRangeByLex) =>
            {
                with_scores = true
            }
            b"limit" if name != N::ZRevRange && options.len() > at + 2 => {
                limit = Some((parser.integer(&options[at + 1])?, parser.integer(&options[at + 2])?));
                at += 2;
            }
            b"byscore" if unified && by == By::Rank => by = By::Score,
            b"bylex" if unified && by == By::Rank => by = By::Lex,
            b"rev" if unified => rev = true,
            _ => return Err(invalid(errors::SYNTAX)),
        }
        at += 1;
    }
    if limit.is_some() && by == By::Rank {
        return Err(invalid(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if with_scores && by == By::Lex {
        return Err(invalid("ERR syntax error, WITHSCORES not supported in combination with BYLEX"));
    }
    // The older REV forms take their bounds highest first, as REV does.
    let by = match by {
        By::Rank => RangeBy::Rank(parser.integer(min)?, parser.integer(max)?),
        By::Score => RangeBy::Score(score_bound(min)?, score_bound(max)?),
        By::Lex => RangeBy::Lex(lex_bound(min)?, lex_bound(max)?),
    };
    let range = RangeSpec { key: key.clone(), by, rev, limit, with_scores };
    Ok(ZSetCommand::Range { name, destination, range })
}

/// ZUNION, ZINTER, ZDIFF and their STORE forms: [destination] numkeys key [key ...] [WEIGHTS w
/// [w ...]] [AGGREGATE SUM|MIN|MAX] [WITHSCORES].
fn parse_combine(parser: &Parser<'_>) -> Result<ZSetCommand, ParseError> {
    use CommandName as N;
    let name = parser.name;
    let store = matches!(name, N::ZUnionStore | N::ZInterStore | N::ZDiffStore);
    let (destination, args) = match (store, parser.args) {
        (true, [destination, rest @ ..]) => (Some(destination.clone()), rest),
        (_, args) => (None, args),
    };
    let [numkeys, rest @ ..] = args else { return Err(parser.wrong_arity()) };
    let numkeys = parser.integer(numkeys)?;
    if numkeys < 1 {
        return Err(invalid(format!("ERR at least 1 input key is needed for '{}' command", name.as_str())));
    }
    let numkeys = usize::try_from(numkeys).unwrap_or(usize::MAX);
    if numkeys > rest.len() {
        return Err(invalid(errors::SYNTAX));
    }
    let (keys, options) = rest.split_at(numkeys);
    let mut combine = CombineOptions {
        weights: vec![1.0; numkeys],
        aggregate: AggregateBy::Sum,
        with_scores: false,
        error: None,
    };
    if let Err(ParseError::Invalid(error)) = parse_combine_options(name, options, &mut combine) {
        combine.error = Some(error);
    }
    Ok(ZSetCommand::Combine { name, destination, keys: keys.to_vec(), combine })
}

/// ZUNION's, ZINTER's and ZDIFF's options after the keys.
fn parse_combine_options(
    name: CommandName,
    options: &[Bytes],
    combine: &mut CombineOptions,
) -> Result<(), ParseError> {
    use CommandName as N;
    let store = matches!(name, N::ZUnionStore | N::ZInterStore | N::ZDiffStore);
    let diff = matches!(name, N::ZDiff | N::ZDiffStore);
    let numkeys = combine.weights.len();
    let mut at = 0;
    while let Some(option) = options.get(at) {
        let option = option.to_ascii_lowercase();
        match option.as_slice() {
            b"weights" if !diff && options.len() - at > numkeys => {
                for (weight, text) in combine.weights.iter_mut().zip(&options[at + 1..]) {
                    *weight = parse_f64(text).ok_or_else(|| invalid("ERR weight value is not a float"))?;
                }
                at += numkeys;
            }
            b"aggregate" if !diff && options.len() - at > 1 => {
                combine.aggregate = match options[at + 1].to_ascii_lowercase().as_slice() {
                    b"sum" => AggregateBy::Sum,
                    b"min" => AggregateBy::Min,
                    b"max" => AggregateBy::Max,
                    _ => return Err(invalid(errors::SYNTAX)),
                };
                at += 1;
            }
            b"withscores" if !store => combine.with_scores = true,
            _ => return Err(invalid(errors::SYNTAX)),
        }
        at += 1;
    }
    Ok(())
}

/// A score bound as ZRANGEBYSCORE reads it: a float, `(` before it for an exclusive one.
fn score_bound(text: &[u8]) -> Result<ScoreBound, ParseError> {
    let (exclusive, number) = match text.split_first() {
        Some((b'(', rest)) => (true, rest),
        _ => (false, text),
    };
    let score = parse_f64(number).ok_or_else(|| invalid(NOT_FLOAT_RANGE))?;
    Ok(ScoreBound { score, exclusive })
}

/// A member bound as ZRANGEBYLEX reads it: `-`, `+`, or `[` or `(` before a member.
fn lex_bound(text: &Bytes) -> Result<LexBound, ParseError> {
    match text.first() {
        Some(b'-') if text.len() == 1 => Ok(LexBound::Min),
        Some(b'+') if text.len() == 1 => Ok(LexBound::Max),
        Some(b'[') => Ok(LexBound::Inclusive(text.slice(1..))),
        Some(b'(') => Ok(LexBound::Exclusive(text.slice(1..))),
        _ => Err(invalid(NOT_LEX_RANGE)),
    }
}
