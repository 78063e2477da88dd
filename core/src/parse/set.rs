//! Parsing the set commands, with Redis 7's arities, options and error texts.

use super::args::{invalid, positive, random_count, scan_options, Parser};
use crate::command::{CommandName, ParseError};
use crate::reply::errors;
use crate::types::set_commands::SetsCommand;

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
            let (key, cursor, options) = scan_options(parser)?;
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
                SetsCommand::RandMember { key: key.clone(), count: Some(random_count(count)?), seed: 0 }
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
