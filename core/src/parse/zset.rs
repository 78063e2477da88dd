//! Parsing the sorted-set commands, with Redis 7's option rules and error texts.

use bytes::Bytes;

use super::args::{invalid, parse_rand, positive, scan_options, timeout_ms, Parser};
use crate::command::{CommandName, ParseError};
use crate::number::parse_f64;
use crate::reply::errors;
use crate::types::zset::{LexBound, ScoreBound};
use crate::types::zset_commands::{AddOptions, AggregateBy, CombineOptions, RangeBy, RangeSpec, ZSetCommand};

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
            let (key, cursor, options) = scan_options(parser)?;
            ZSetCommand::Scan { key, cursor, options }
        }
        N::BZPopMin | N::BZPopMax => {
            let [keys @ .., timeout] = args else { return Err(parser.wrong_arity()) };
            let timeout_ms = timeout_ms(timeout)?;
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
