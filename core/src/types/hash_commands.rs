//! The hash commands (HSET, HGET, HINCRBY, HSCAN, ...): their typed form, parsing and execution,
//! with Redis 7's replies and error texts.

use std::ops::Deref;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::random::{self, pick, Random};
use super::scan::{self, ScanOptions};
use super::{Aggregate, Hash, Kind};
use crate::command::{CommandName, ParseError, ARGUMENT_OVERHEAD};
use crate::exec::{aggregate_of, Exec};
use crate::map::{Locked, Shard};
use crate::number::{format_f64, format_i64, parse_f64, parse_i64};
use crate::parse::{invalid, Parser};
use crate::reply::{errors, Reply};

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

/// Parses a hash command's arguments (the name is the parser's).
pub(crate) fn parse(parser: &Parser<'_>) -> Result<HashCommand, ParseError> {
    use CommandName as N;
    let args = parser.args;
    let name = parser.name;
    Ok(match name {
        N::HSet | N::HMSet => {
            let [key, pairs @ ..] = args else { return Err(parser.wrong_arity()) };
            if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
                return Err(parser.wrong_arity());
            }
            let pairs = pairs.chunks_exact(2).map(|p| (p[0].clone(), p[1].clone())).collect();
            HashCommand::Set { name, key: key.clone(), pairs }
        }
        N::HSetNx => {
            let [key, field, value] = parser.exactly()?;
            HashCommand::SetNx { key: key.clone(), field: field.clone(), value: value.clone() }
        }
        N::HGet => {
            let [key, field] = parser.exactly()?;
            HashCommand::Get { key: key.clone(), field: field.clone() }
        }
        N::HMGet | N::HDel => {
            let [key, fields @ ..] = args else { return Err(parser.wrong_arity()) };
            let (key, fields) = (key.clone(), fields.to_vec());
            if name == N::HMGet {
                HashCommand::MGet { key, fields }
            } else {
                HashCommand::Del { key, fields }
            }
        }
        N::HGetAll | N::HKeys | N::HVals => HashCommand::GetAll { name, key: parser.one_key()? },
        N::HExists => {
            let [key, field] = parser.exactly()?;
            HashCommand::Exists { key: key.clone(), field: field.clone() }
        }
        N::HLen => HashCommand::Len { key: parser.one_key()? },
        N::HStrLen => {
            let [key, field] = parser.exactly()?;
            HashCommand::StrLen { key: key.clone(), field: field.clone() }
        }
        N::HIncrBy => {
            let [key, field, delta] = parser.exactly()?;
            HashCommand::IncrBy { key: key.clone(), field: field.clone(), delta: parser.integer(delta)? }
        }
        N::HIncrByFloat => {
            let [key, field, delta] = parser.exactly()?;
            let delta = parse_f64(delta).ok_or_else(|| invalid(errors::NOT_FLOAT))?;
            HashCommand::IncrByFloat { key: key.clone(), field: field.clone(), delta }
        }
        N::HScan => {
            let (key, cursor, options) = scan::parse(parser)?;
            HashCommand::Scan { key, cursor, options }
        }
        N::HRandField => {
            let (key, count, with_values) = parse_rand(parser, b"withvalues")?;
            HashCommand::RandField { key, count, with_values, seed: 0 }
        }
        other => unreachable!("{} is not a hash command", other.as_str()),
    })
}

/// Runs a read-only hash command.
pub(crate) fn read<G: Deref<Target = Shard>>(
    command: &HashCommand,
    view: &Locked<'_, G>,
    now_ms: u64,
) -> Reply {
    let hash = match aggregate_of(view.live(command.key(), now_ms), Kind::Hash) {
        Ok(found) => found.and_then(as_hash),
        Err(wrong_type) => return wrong_type,
    };
    let get = |field: &[u8]| hash.and_then(|h| h.get(field));
    let bulk = |bytes: &[u8]| Reply::Bulk(Bytes::copy_from_slice(bytes));
    match command {
        HashCommand::Get { field, .. } => get(field).map_or(Reply::Nil, bulk),
        HashCommand::MGet { fields, .. } => {
            Reply::Array(fields.iter().map(|f| get(f).map_or(Reply::Nil, bulk)).collect())
        }
        HashCommand::GetAll { name, .. } => {
            let pairs = hash.into_iter().flat_map(Hash::iter);
            match name {
                CommandName::HKeys => Reply::Array(pairs.map(|(field, _)| bulk(field)).collect()),
                CommandName::HVals => Reply::Array(pairs.map(|(_, value)| bulk(value)).collect()),
                _ => Reply::Map(pairs.map(|(field, value)| (bulk(field), bulk(value))).collect()),
            }
        }
        HashCommand::Exists { field, .. } => Reply::Integer(i64::from(get(field).is_some())),
        HashCommand::Len { .. } => Reply::Integer(hash.map_or(0, |h| h.len() as i64)),
        HashCommand::StrLen { field, .. } => Reply::Integer(get(field).map_or(0, |v| v.len() as i64)),
        HashCommand::Scan { cursor, options, .. } => {
            let Some(hash) = hash else { return scan::reply(0, Vec::new()) };
            match scan::scan(hash.iter(), hash.len(), *cursor, options) {
                Ok((next, found)) => {
                    scan::reply(next, found.into_iter().flat_map(|(f, v)| [bulk(f), bulk(v)]).collect())
                }
                Err(error) => error,
            }
        }
        HashCommand::RandField { count, with_values, seed, .. } => {
            let mut random = Random::new(*seed);
            let entry = |at: usize| hash.and_then(|h| h.get_index(at)).expect("in range");
            match (hash, count) {
                (None, None) => Reply::Nil,
                (None, Some(_)) => Reply::Array(Vec::new()),
                (Some(hash), None) => bulk(entry(random.below(hash.len())).0),
                (Some(hash), Some(count)) => {
                    let picked = pick(hash.len(), *count, &mut random).into_iter().map(entry);
                    if *with_values {
                        Reply::Pairs(picked.map(|(f, v)| (bulk(f), bulk(v))).collect())
                    } else {
                        Reply::Array(picked.map(|(f, _)| bulk(f)).collect())
                    }
                }
            }
        }
        write => panic!("{} is a write and cannot run on the read path", write.name().as_str()),
    }
}

/// HRANDFIELD's and ZRANDMEMBER's arguments: key [count [WITH...]], the count read before the
/// option is checked, as Redis reads them.
pub(crate) fn parse_rand(parser: &Parser<'_>, with: &[u8]) -> Result<(Bytes, Option<i64>, bool), ParseError> {
    match parser.args {
        [key] => Ok((key.clone(), None, false)),
        [key, count, rest @ ..] => {
            let count = random::count(count)?;
            match rest {
                [] => Ok((key.clone(), Some(count), false)),
                [option] if option.eq_ignore_ascii_case(with) => Ok((key.clone(), Some(count), true)),
                _ => Err(invalid(errors::SYNTAX)),
            }
        }
        [] => Err(parser.wrong_arity()),
    }
}

/// Runs any hash command, read or write, as the entry at `exec.log_index`. A write that would
/// change nothing (HSETNX on a field that exists, HDEL of fields that do not, an increment that
/// fails) leaves the key as it was, its revision included, as Redis leaves it unmodified.
pub(crate) fn write(command: &HashCommand, exec: &mut Exec<'_, '_>) -> Reply {
    let key = command.key();
    let hash = match aggregate_of(exec.view.live(key, exec.now_ms), Kind::Hash) {
        Ok(found) => found.and_then(as_hash),
        Err(wrong_type) => return wrong_type,
    };
    let field_value = |field: &[u8]| hash.and_then(|h| h.get(field));
    match command {
        HashCommand::Set { name, pairs, .. } => {
            let added = exec.update(key, Kind::Hash, |aggregate| {
                let hash = as_hash_mut(aggregate);
                pairs.iter().filter(|(field, value)| hash.insert(field, value)).count()
            });
            if *name == CommandName::HMSet {
                Reply::Ok
            } else {
                Reply::Integer(added as i64)
            }
        }
        HashCommand::SetNx { field, value, .. } => {
            if field_value(field).is_some() {
                return Reply::Integer(0);
            }
            exec.update(key, Kind::Hash, |aggregate| as_hash_mut(aggregate).insert(field, value));
            Reply::Integer(1)
        }
        HashCommand::Del { fields, .. } => {
            if !fields.iter().any(|f| field_value(f).is_some()) {
                return Reply::Integer(0);
            }
            let removed = exec.update(key, Kind::Hash, |aggregate| {
                let hash = as_hash_mut(aggregate);
                fields.iter().filter(|f| hash.remove(f)).count()
            });
            Reply::Integer(removed as i64)
        }
        HashCommand::IncrBy { field, delta, .. } => {
            let old = match field_value(field).map(parse_i64) {
                None => 0,
                Some(Some(old)) => old,
                Some(None) => return Reply::Error(HASH_NOT_INTEGER.to_owned()),
            };
            let Some(new) = old.checked_add(*delta) else { return Reply::Error(errors::OVERFLOW.to_owned()) };
            exec.update(key, Kind::Hash, |aggregate| as_hash_mut(aggregate).insert(field, &format_i64(new)));
            Reply::Integer(new)
        }
        HashCommand::IncrByFloat { field, delta, .. } => {
            let old = match field_value(field).map(parse_f64) {
                None => 0.0,
                Some(Some(old)) => old,
                Some(None) => return Reply::Error(HASH_NOT_FLOAT.to_owned()),
            };
            let new = old + delta;
            if !new.is_finite() {
                return Reply::Error(errors::NAN_OR_INFINITY.to_owned());
            }
            let text = format_f64(new);
            exec.update(key, Kind::Hash, |aggregate| as_hash_mut(aggregate).insert(field, &text));
            Reply::Bulk(text)
        }
        read_only => read(read_only, exec.view, exec.now_ms),
    }
}

/// HINCRBY on a field that does not hold an integer.
const HASH_NOT_INTEGER: &str = "ERR hash value is not an integer";
/// HINCRBYFLOAT on a field that does not hold a number.
const HASH_NOT_FLOAT: &str = "ERR hash value is not a float";

fn as_hash(aggregate: &Aggregate) -> Option<&Hash> {
    match aggregate {
        Aggregate::Hash(hash) => Some(hash),
        _ => None,
    }
}

fn as_hash_mut(aggregate: &mut Aggregate) -> &mut Hash {
    match aggregate {
        Aggregate::Hash(hash) => hash,
        other => unreachable!("update_aggregate hands over a hash, not a {}", other.kind().as_str()),
    }
}
