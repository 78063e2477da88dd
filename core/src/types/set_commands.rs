//! The set commands (SADD, SINTER, SMOVE, SSCAN, ...): their typed form, parsing and execution,
//! with Redis 7's replies and error texts. SMEMBERS and the set algebra are O(N), as in Redis.

use std::ops::Deref;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::random::{self, pick, Random};
use super::scan::{self, ScanOptions};
use super::{Aggregate, Kind, Set};
use crate::command::{CommandName, ParseError, ARGUMENT_OVERHEAD};
use crate::exec::{aggregate_of, Exec};
use crate::map::{Locked, Shard};
use crate::parse::{invalid, positive, Parser};
use crate::reply::{errors, Reply};

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

/// Parses a set command's arguments (the name is the parser's).
pub(crate) fn parse(parser: &Parser<'_>) -> Result<SetsCommand, ParseError> {
    use CommandName as N;
    let (name, args) = (parser.name, parser.args);
    let key_and_members = || match args {
        [key, members @ ..] => Ok((key.clone(), members.to_vec())),
        [] => Err(parser.wrong_arity()),
    };
    Ok(match name {
        N::SAdd => {
            let (key, members) = key_and_members()?;
            SetsCommand::Add { key, members }
        }
        N::SRem => {
            let (key, members) = key_and_members()?;
            SetsCommand::Rem { key, members }
        }
        N::SMIsMember => {
            let (key, members) = key_and_members()?;
            SetsCommand::MIsMember { key, members }
        }
        N::SMembers => SetsCommand::Members { key: parser.one_key()? },
        N::SCard => SetsCommand::Card { key: parser.one_key()? },
        N::SIsMember => {
            let [key, member] = parser.exactly()?;
            SetsCommand::IsMember { key: key.clone(), member: member.clone() }
        }
        N::SInter | N::SUnion | N::SDiff => SetsCommand::Combine { name, keys: args.to_vec() },
        N::SInterStore | N::SUnionStore | N::SDiffStore => {
            let (destination, keys) = key_and_members()?;
            SetsCommand::Store { name, destination, keys }
        }
        N::SInterCard => parse_inter_card(parser)?,
        N::SMove => {
            let [from, to, member] = parser.exactly()?;
            SetsCommand::Move { from: from.clone(), to: to.clone(), member: member.clone() }
        }
        N::SScan => {
            let (key, cursor, options) = scan::parse(parser)?;
            SetsCommand::Scan { key, cursor, options }
        }
        N::SPop | N::SRandMember => match args {
            [key] if name == N::SPop => SetsCommand::Pop { key: key.clone(), count: None, seed: 0 },
            [key] => SetsCommand::RandMember { key: key.clone(), count: None, seed: 0 },
            [key, count] if name == N::SPop => {
                let count = Some(positive(count, "ERR value is out of range, must be positive")?);
                SetsCommand::Pop { key: key.clone(), count, seed: 0 }
            }
            [key, count] => {
                SetsCommand::RandMember { key: key.clone(), count: Some(random::count(count)?), seed: 0 }
            }
            _ => return Err(invalid(errors::SYNTAX)),
        },
        other => unreachable!("{} is not a set command", other.as_str()),
    })
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit], checked as Redis's `sinterCardCommand` does.
fn parse_inter_card(parser: &Parser<'_>) -> Result<SetsCommand, ParseError> {
    let [numkeys, rest @ ..] = parser.args else { return Err(parser.wrong_arity()) };
    // Redis answers a number that is not one with the same words as one out of range.
    const NUMKEYS: &str = "ERR numkeys should be greater than 0";
    let numkeys = positive(numkeys, NUMKEYS).ok().filter(|n| *n > 0).ok_or_else(|| invalid(NUMKEYS))?;
    if numkeys > rest.len() {
        return Err(invalid("ERR Number of keys can't be greater than number of args"));
    }
    let (keys, options) = rest.split_at(numkeys);
    let mut limit = 0;
    let mut options = options.iter();
    while let Some(option) = options.next() {
        match options.next() {
            Some(value) if option.eq_ignore_ascii_case(b"limit") => {
                limit = positive(value, "ERR LIMIT can't be negative")?;
            }
            _ => return Err(invalid(errors::SYNTAX)),
        }
    }
    Ok(SetsCommand::InterCard { keys: keys.to_vec(), limit })
}

/// The sets under `keys` (an absent key is an empty set), or WRONGTYPE if any holds another
/// type.
fn sets_of<'v, G: Deref<Target = Shard>>(
    keys: &[Bytes],
    view: &'v Locked<'_, G>,
    now_ms: u64,
) -> Result<Vec<Option<&'v Set>>, Reply> {
    keys.iter().map(|key| Ok(aggregate_of(view.live(key, now_ms), Kind::Set)?.and_then(as_set))).collect()
}

/// SINTER, SUNION or SDIFF of `sets`, in the order of the first set (of the smallest, for an
/// intersection); `limit` stops an intersection early (0 for none).
fn combine(name: CommandName, sets: &[Option<&Set>], limit: usize) -> Vec<Bytes> {
    let copy = |member: &[u8]| Bytes::copy_from_slice(member);
    let contains = |set: &Option<&Set>, member: &[u8]| set.is_some_and(|s| s.contains(member));
    match name {
        CommandName::SInter | CommandName::SInterStore | CommandName::SInterCard => {
            if sets.iter().any(Option::is_none) {
                return Vec::new();
            }
            let smallest = sets.iter().flatten().min_by_key(|s| s.len()).expect("at least one set");
            let members = smallest.iter().filter(|m| sets.iter().all(|s| contains(s, m)));
            members.take(if limit == 0 { usize::MAX } else { limit }).map(copy).collect()
        }
        CommandName::SUnion | CommandName::SUnionStore => {
            let mut union = Set::default();
            for member in sets.iter().flatten().flat_map(|s| s.iter()) {
                union.insert(member);
            }
            union.iter().map(copy).collect()
        }
        _ => {
            let (first, others) = sets.split_first().expect("at least one key");
            let members = first.iter().flat_map(|s| s.iter());
            members.filter(|m| !others.iter().any(|s| contains(s, m))).map(copy).collect()
        }
    }
}

/// Runs a read-only set command.
pub(crate) fn read<G: Deref<Target = Shard>>(
    command: &SetsCommand,
    view: &Locked<'_, G>,
    now_ms: u64,
) -> Reply {
    let bulk = |member: &[u8]| Reply::Bulk(Bytes::copy_from_slice(member));
    match command {
        SetsCommand::Combine { name, keys } => match sets_of(keys, view, now_ms) {
            Ok(sets) => Reply::Set(combine(*name, &sets, 0).into_iter().map(Reply::Bulk).collect()),
            Err(wrong_type) => wrong_type,
        },
        SetsCommand::InterCard { keys, limit } => match sets_of(keys, view, now_ms) {
            Ok(sets) => Reply::Integer(combine(CommandName::SInterCard, &sets, *limit).len() as i64),
            Err(wrong_type) => wrong_type,
        },
        SetsCommand::Members { key }
        | SetsCommand::IsMember { key, .. }
        | SetsCommand::MIsMember { key, .. }
        | SetsCommand::Card { key }
        | SetsCommand::Scan { key, .. }
        | SetsCommand::RandMember { key, .. } => {
            let set = match aggregate_of(view.live(key, now_ms), Kind::Set) {
                Ok(found) => found.and_then(as_set),
                Err(wrong_type) => return wrong_type,
            };
            let has = |member: &[u8]| Reply::Integer(i64::from(set.is_some_and(|s| s.contains(member))));
            match command {
                SetsCommand::Members { .. } => {
                    Reply::Set(set.into_iter().flat_map(Set::iter).map(bulk).collect())
                }
                SetsCommand::IsMember { member, .. } => has(member),
                SetsCommand::MIsMember { members, .. } => {
                    Reply::Array(members.iter().map(|m| has(m)).collect())
                }
                SetsCommand::Card { .. } => Reply::Integer(set.map_or(0, |s| s.len() as i64)),
                SetsCommand::Scan { cursor, options, .. } => {
                    let Some(set) = set else { return scan::reply(0, Vec::new()) };
                    match scan::scan(set.iter().map(|m| (m, ())), set.len(), *cursor, options) {
                        Ok((next, found)) => {
                            scan::reply(next, found.into_iter().map(|(m, ())| bulk(m)).collect())
                        }
                        Err(error) => error,
                    }
                }
                SetsCommand::RandMember { count, seed, .. } => {
                    let mut random = Random::new(*seed);
                    match (set, count) {
                        (None, None) => Reply::Nil,
                        (None, Some(_)) => Reply::Array(Vec::new()),
                        (Some(set), None) => bulk(set.get_index(random.below(set.len())).expect("in range")),
                        (Some(set), Some(count)) => {
                            let picked = pick(set.len(), *count, &mut random).into_iter();
                            Reply::Array(
                                picked.map(|at| bulk(set.get_index(at).expect("in range"))).collect(),
                            )
                        }
                    }
                }
                _ => unreachable!("matched above"),
            }
        }
        write => panic!("{} is a write and cannot run on the read path", write.name().as_str()),
    }
}

/// Runs any set command, read or write, as the entry at `exec.log_index`. A write that changes
/// nothing (SADD of members all present, SREM of members all absent, an SMOVE that finds nothing
/// to move) leaves the key as it was, its revision included.
pub(crate) fn write(command: &SetsCommand, exec: &mut Exec<'_, '_>) -> Reply {
    let (now_ms, log_index) = (exec.now_ms, exec.log_index);
    fn set_of<'e>(exec: &'e Exec<'_, '_>, key: &[u8], now_ms: u64) -> Result<Option<&'e Set>, Reply> {
        aggregate_of(exec.view.live(key, now_ms), Kind::Set).map(|found| found.and_then(as_set))
    }
    match command {
        SetsCommand::Add { key, members } => {
            let set = match set_of(exec, key, now_ms) {
                Ok(set) => set,
                Err(wrong_type) => return wrong_type,
            };
            if set.is_some_and(|s| members.iter().all(|m| s.contains(m))) {
                return Reply::Integer(0);
            }
            let added = exec.update(key, Kind::Set, |aggregate| {
                let set = as_set_mut(aggregate);
                members.iter().filter(|m| set.insert(m)).count()
            });
            Reply::Integer(added as i64)
        }
        SetsCommand::Rem { key, members } => {
            let set = match set_of(exec, key, now_ms) {
                Ok(set) => set,
                Err(wrong_type) => return wrong_type,
            };
            if !set.is_some_and(|s| members.iter().any(|m| s.contains(m))) {
                return Reply::Integer(0);
            }
            let removed = exec.update(key, Kind::Set, |aggregate| {
                let set = as_set_mut(aggregate);
                members.iter().filter(|m| set.remove(m)).count()
            });
            Reply::Integer(removed as i64)
        }
        SetsCommand::Store { name, destination, keys } => {
            let members = match sets_of(keys, exec.view, now_ms) {
                Ok(sets) => combine(*name, &sets, 0),
                Err(wrong_type) => return wrong_type,
            };
            // The destination is replaced whatever it held, as in Redis.
            exec.view.remove(destination, log_index);
            let count = members.len();
            if count > 0 {
                exec.update(destination, Kind::Set, |aggregate| {
                    let set = as_set_mut(aggregate);
                    members.iter().for_each(|m| {
                        set.insert(m);
                    });
                });
            }
            Reply::Integer(count as i64)
        }
        SetsCommand::Move { from, to, member } => {
            // A missing source answers 0 before either type is checked, as in Redis.
            if exec.view.live(from, now_ms).is_none() {
                return Reply::Integer(0);
            }
            let (source, destination) = match (set_of(exec, from, now_ms), set_of(exec, to, now_ms)) {
                (Ok(source), Ok(destination)) => (source, destination),
                (Err(wrong_type), _) | (_, Err(wrong_type)) => return wrong_type,
            };
            if !source.is_some_and(|s| s.contains(member)) {
                return Reply::Integer(0);
            }
            if from == to {
                return Reply::Integer(1);
            }
            let present = destination.is_some_and(|s| s.contains(member));
            exec.update(from, Kind::Set, |aggregate| as_set_mut(aggregate).remove(member));
            if !present {
                exec.update(to, Kind::Set, |aggregate| as_set_mut(aggregate).insert(member));
            }
            Reply::Integer(1)
        }
        SetsCommand::Pop { key, count, seed } => {
            let set = match set_of(exec, key, now_ms) {
                Ok(set) => set,
                Err(wrong_type) => return wrong_type,
            };
            let Some(set) = set else {
                return if count.is_some() { Reply::Set(Vec::new()) } else { Reply::Nil };
            };
            let wanted = count.unwrap_or(1);
            if wanted == 0 {
                return Reply::Set(Vec::new());
            }
            let mut random = Random::new(*seed);
            let mut positions = pick(set.len(), i64::try_from(wanted).unwrap_or(i64::MAX), &mut random);
            let members: Vec<Bytes> = positions
                .iter()
                .map(|at| Bytes::copy_from_slice(set.get_index(*at).expect("in range")))
                .collect();
            // Removed from the highest position down, so that no removal moves one still to go.
            positions.sort_unstable();
            exec.update(key, Kind::Set, |aggregate| {
                let set = as_set_mut(aggregate);
                for at in positions.iter().rev() {
                    set.remove_index(*at);
                }
            });
            match count {
                None => Reply::Bulk(members.into_iter().next().expect("one picked")),
                Some(_) => Reply::Set(members.into_iter().map(Reply::Bulk).collect()),
            }
        }
        read_only => read(read_only, exec.view, now_ms),
    }
}

fn as_set(aggregate: &Aggregate) -> Option<&Set> {
    match aggregate {
        Aggregate::Set(set) => Some(set),
        _ => None,
    }
}

fn as_set_mut(aggregate: &mut Aggregate) -> &mut Set {
    match aggregate {
        Aggregate::Set(set) => set,
        other => unreachable!("update_aggregate hands over a set, not a {}", other.kind().as_str()),
    }
}
