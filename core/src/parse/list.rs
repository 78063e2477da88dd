//! Parsing the list commands, with Redis 7's arities, options and error texts.

use super::args::{invalid, positive, timeout_ms, Parser};
use crate::command::{CommandName, ParseError};
use crate::number::parse_i64;
use crate::reply::errors;
use crate::types::list_commands::ListCommand;

/// LPOP's and LPOS's "must be positive" errors.
const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";

/// Parses a list command's arguments (the name is the parser's).
pub(crate) fn parse(parser: &Parser<'_>) -> Result<ListCommand, ParseError> {
    use CommandName as N;
    let (name, args) = (parser.name, parser.args);
    Ok(match name {
        N::LPush | N::RPush | N::LPushX | N::RPushX => {
            let [key, items @ ..] = args else { return Err(parser.wrong_arity()) };
            ListCommand::Push { name, key: key.clone(), items: items.to_vec() }
        }
        N::LPop | N::RPop => match args {
            [key] => ListCommand::Pop { name, key: key.clone(), count: None },
            [key, count] => {
                let count = positive(count, NOT_POSITIVE)?;
                ListCommand::Pop { name, key: key.clone(), count: Some(count) }
            }
            _ => return Err(parser.wrong_arity()),
        },
        N::LLen => ListCommand::Len { key: parser.one_key()? },
        N::LRange | N::LTrim => {
            let [key, start, stop] = parser.exactly()?;
            let (key, start, stop) = (key.clone(), parser.integer(start)?, parser.integer(stop)?);
            if name == N::LRange {
                ListCommand::Range { key, start, stop }
            } else {
                ListCommand::Trim { key, start, stop }
            }
        }
        N::LIndex => {
            let [key, index] = parser.exactly()?;
            ListCommand::Index { key: key.clone(), index: parse_i64(index) }
        }
        N::LSet => {
            let [key, index, item] = parser.exactly()?;
            ListCommand::Set { key: key.clone(), index: parse_i64(index), item: item.clone() }
        }
        N::LInsert => {
            let [key, place, pivot, item] = parser.exactly()?;
            let before = if place.eq_ignore_ascii_case(b"before") {
                true
            } else if place.eq_ignore_ascii_case(b"after") {
                false
            } else {
                return Err(invalid(errors::SYNTAX));
            };
            ListCommand::Insert { key: key.clone(), before, pivot: pivot.clone(), item: item.clone() }
        }
        N::LRem => {
            let [key, count, item] = parser.exactly()?;
            ListCommand::Rem { key: key.clone(), count: parser.integer(count)?, item: item.clone() }
        }
        N::LPos => parse_pos(parser)?,
        N::LMove | N::RPopLPush => {
            let (from, to, from_left, to_left) = match args {
                [from, to] if name == N::RPopLPush => (from, to, false, true),
                [from, to, from_end, to_end] if name == N::LMove => {
                    (from, to, left(from_end)?, left(to_end)?)
                }
                _ => return Err(parser.wrong_arity()),
            };
            ListCommand::Move { name, from: from.clone(), to: to.clone(), from_left, to_left }
        }
        N::BLPop | N::BRPop => {
            let [keys @ .., timeout] = args else { return Err(parser.wrong_arity()) };
            let timeout_ms = timeout_ms(timeout)?;
            let from_left = name == N::BLPop;
            let keys = keys.to_vec();
            ListCommand::BlockingPop {
                name,
                keys,
                to: None,
                from_left,
                to_left: false,
                timeout_ms,
                deadline_ms: None,
            }
        }
        N::BLMove | N::BRPopLPush => {
            let (from, to, from_left, to_left, timeout) = match args {
                [from, to, timeout] if name == N::BRPopLPush => (from, to, false, true, timeout),
                [from, to, from_end, to_end, timeout] if name == N::BLMove => {
                    (from, to, left(from_end)?, left(to_end)?, timeout)
                }
                _ => return Err(parser.wrong_arity()),
            };
            let timeout_ms = timeout_ms(timeout)?;
            let (keys, to) = (vec![from.clone()], Some(to.clone()));
            ListCommand::BlockingPop { name, keys, to, from_left, to_left, timeout_ms, deadline_ms: None }
        }
        other => unreachable!("{} is not a list command", other.as_str()),
    })
}

/// LEFT or RIGHT: whether it is LEFT.
fn left(end: &[u8]) -> Result<bool, ParseError> {
    if end.eq_ignore_ascii_case(b"left") {
        Ok(true)
    } else if end.eq_ignore_ascii_case(b"right") {
        Ok(false)
    } else {
        Err(invalid(errors::SYNTAX))
    }
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len], checked as Redis's
/// `lposCommand` checks it.
fn parse_pos(parser: &Parser<'_>) -> Result<ListCommand, ParseError> {
    let [key, item, options @ ..] = parser.args else { return Err(parser.wrong_arity()) };
    let (mut rank, mut count, mut max_len) = (1i64, None, 0usize);
    let mut options = options.iter();
    while let Some(option) = options.next() {
        let value = options.next().ok_or_else(|| invalid(errors::SYNTAX))?;
        if option.eq_ignore_ascii_case(b"rank") {
            rank = parser.integer(value)?;
            if rank == i64::MIN {
                return Err(invalid(format!(
                    "ERR value is out of range, value must between {} and {}",
                    i64::MIN + 1,
                    i64::MAX
                )));
            }
            if rank == 0 {
                return Err(invalid(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... \
                     or use negative to start from the end of the list",
                ));
            }
        } else if option.eq_ignore_ascii_case(b"count") {
            count = Some(positive(value, "ERR COUNT can't be negative")?);
        } else if option.eq_ignore_ascii_case(b"maxlen") {
            max_len = positive(value, "ERR MAXLEN can't be negative")?;
        } else {
            return Err(invalid(errors::SYNTAX));
        }
    }
    Ok(ListCommand::Pos { key: key.clone(), item: item.clone(), rank, count, max_len })
}
