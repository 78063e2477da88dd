//! Parsing a client's arguments into a [`Command`], with Redis 7's arity checks, options and
//! error texts. Parsing is pure and total: any argument list gives a command or an error reply,
//! never a panic. Each command's name, arity and read/write flag are its entry in
//! [`crate::spec`]; this module looks them up there and adds only the rules a spec cannot state
//! (options, numbers, limits). The typed commands themselves are [`crate::command`].

mod args;
mod bitmap;
mod hash;
mod inspect;
mod list;
mod set;
mod zset;

use bytes::Bytes;

use crate::command::{
    Command, CommandName, ExpireCondition, Expiry, ParseError, SetCommand, SetCondition, SetExpiry,
};
use crate::limits::{ARRAY_LEN_MAX, KEY_BYTES_MAX, SCAN_COUNT_MAX, VALUE_BYTES_MAX};
use crate::number::{parse_f64, parse_u64};
use crate::reply::errors;
use args::{invalid, Parser};

impl Command {
    /// Parses a client's arguments, the command name first.
    ///
    /// # Errors
    /// [`ParseError::UnknownCommand`] for a name that is not a data command, and
    /// [`ParseError::Invalid`] with Redis's error text for wrong arity, syntax, numbers out of
    /// range, or a key or value over its limit.
    pub fn parse(args: &[Bytes]) -> Result<Command, ParseError> {
        let name = args.first().and_then(|n| CommandName::parse(n)).ok_or(ParseError::UnknownCommand)?;
        Command::parse_named(name, args)
    }

    /// As [`Command::parse`], for arguments whose first names the data command `name`, which
    /// the caller has looked up already (the RESP server, for its metrics label).
    ///
    /// # Errors
    /// As [`Command::parse`]'s, but for the unknown name.
    pub fn parse_named(name: CommandName, args: &[Bytes]) -> Result<Command, ParseError> {
        debug_assert_eq!(args.first().and_then(|n| CommandName::parse(n)), Some(name));
        if args.len() > ARRAY_LEN_MAX {
            return Err(invalid(format!("ERR {} arguments, the limit is {ARRAY_LEN_MAX}", args.len())));
        }
        // Arity is the spec's, as Redis checks it before the command sees its arguments; the
        // parser below adds only what arity cannot say (MSET's pairs, FLUSHALL's one option).
        if !name.spec().accepts_arg_count(args.len()) {
            return Err(invalid(errors::wrong_arity(name.as_str())));
        }
        let parser = Parser { name, args: &args[1..] };
        let command = parser.parse()?;
        check_sizes(&command)?;
        Ok(command)
    }
}

fn check_sizes(command: &Command) -> Result<(), ParseError> {
    let mut longest_key = 0;
    command.for_each_key(|key| longest_key = longest_key.max(key.len()));
    if longest_key > KEY_BYTES_MAX {
        return Err(invalid(format!("ERR key is {longest_key} bytes, the limit is {KEY_BYTES_MAX}")));
    }
    let value_bytes = match command {
        Command::Set(set) => set.value.len(),
        Command::SetNx { value, .. } | Command::Append { value, .. } | Command::SetRange { value, .. } => {
            value.len()
        }
        Command::MSet { pairs } | Command::MSetNx { pairs } => {
            pairs.iter().map(|(_, v)| v.len()).max().unwrap_or(0)
        }
        Command::Hash(hash) => hash.elements().iter().map(|e| e.len()).max().unwrap_or(0),
        Command::List(list) => list.elements().iter().map(|e| e.len()).max().unwrap_or(0),
        Command::Sets(sets) => sets.elements().iter().map(|e| e.len()).max().unwrap_or(0),
        Command::ZSet(zset) => zset.elements().iter().map(|e| e.len()).max().unwrap_or(0),
        Command::Publish { message, .. } => message.len(),
        _ => 0,
    };
    if value_bytes > VALUE_BYTES_MAX {
        return Err(invalid(format!("ERR value is {value_bytes} bytes, the limit is {VALUE_BYTES_MAX}")));
    }
    Ok(())
}

impl Parser<'_> {
    fn parse(&self) -> Result<Command, ParseError> {
        use CommandName as N;
        let a = self.args;
        Ok(match self.name {
            N::Get => Command::Get { key: self.one_key()? },
            N::Set => self.set()?,
            N::SetNx => {
                let [key, value] = self.exactly()?;
                Command::SetNx { key: key.clone(), value: value.clone() }
            }
            N::SetEx | N::PSetEx => {
                let [key, amount, value] = self.exactly()?;
                let amount = self.integer(amount)?;
                let ms = self.positive_expiry(amount, self.name == N::SetEx)?;
                Command::Set(SetCommand {
                    name: self.name,
                    key: key.clone(),
                    value: value.clone(),
                    condition: SetCondition::Always,
                    expiry: SetExpiry::Set(Expiry::InMs(ms)),
                    get: false,
                })
            }
            N::GetSet => {
                let [key, value] = self.exactly()?;
                Command::Set(SetCommand {
                    name: N::GetSet,
                    key: key.clone(),
                    value: value.clone(),
                    condition: SetCondition::Always,
                    expiry: SetExpiry::Clear,
                    get: true,
                })
            }
            N::GetDel => Command::GetDel { key: self.one_key()? },
            N::GetEx => self.getex()?,
            N::MGet => Command::MGet { keys: a.to_vec() },
            N::MSet | N::MSetNx => {
                // The arity says "at least a pair"; whole pairs are this command's own rule.
                if !a.len().is_multiple_of(2) {
                    return Err(self.wrong_arity());
                }
                let pairs = a.chunks_exact(2).map(|p| (p[0].clone(), p[1].clone())).collect();
                if self.name == N::MSet {
                    Command::MSet { pairs }
                } else {
                    Command::MSetNx { pairs }
                }
            }
            N::Del | N::Unlink => Command::Del { name: self.name, keys: a.to_vec() },
            N::Exists => Command::Exists { keys: a.to_vec() },
            N::Incr | N::Decr => {
                let key = self.one_key()?;
                let delta = if self.name == N::Incr { 1 } else { -1 };
                Command::IncrBy { name: self.name, key, delta }
            }
            N::IncrBy | N::DecrBy => {
                let [key, amount] = self.exactly()?;
                let amount = self.integer(amount)?;
                let delta = if self.name == N::IncrBy {
                    amount
                } else {
                    amount.checked_neg().ok_or_else(|| invalid(errors::DECREMENT_OVERFLOW))?
                };
                Command::IncrBy { name: self.name, key: key.clone(), delta }
            }
            N::IncrByFloat => {
                let [key, delta] = self.exactly()?;
                // Redis checks the key's type and value before the increment, so an increment
                // that is not a number is kept as NaN (which no number parses to) and refused
                // when applied.
                let delta = parse_f64(delta).unwrap_or(f64::NAN);
                Command::IncrByFloat { key: key.clone(), delta }
            }
            N::Append => {
                let [key, value] = self.exactly()?;
                Command::Append { key: key.clone(), value: value.clone() }
            }
            N::StrLen => Command::StrLen { key: self.one_key()? },
            N::GetRange => {
                let [key, start, end] = self.exactly()?;
                Command::GetRange { key: key.clone(), start: self.integer(start)?, end: self.integer(end)? }
            }
            N::SetRange => {
                let [key, offset, value] = self.exactly()?;
                let offset = self.integer(offset)?;
                let offset = u64::try_from(offset).map_err(|_| invalid(errors::OFFSET_OUT_OF_RANGE))?;
                Command::SetRange { key: key.clone(), offset, value: value.clone() }
            }
            N::Expire | N::PExpire | N::ExpireAt | N::PExpireAt => self.expire()?,
            N::Ttl | N::PTtl => Command::Ttl { name: self.name, key: self.one_key()? },
            N::ExpireTime | N::PExpireTime => Command::ExpireTime { name: self.name, key: self.one_key()? },
            N::Persist => Command::Persist { key: self.one_key()? },
            N::Type => Command::Type { key: self.one_key()? },
            N::Rename | N::RenameNx => {
                let [from, to] = self.exactly()?;
                Command::Rename { name: self.name, from: from.clone(), to: to.clone() }
            }
            N::Copy => self.copy()?,
            N::Keys => {
                let [pattern] = self.exactly()?;
                Command::Keys { pattern: self.pattern(pattern)? }
            }
            N::Scan => self.scan()?,
            N::DbSize => {
                let [] = self.exactly()?;
                Command::DbSize
            }
            N::FlushDb | N::FlushAll => {
                // Redis's arity for FLUSHALL is -1; more than one option is its own check.
                match a {
                    [] => {}
                    [mode] if mode.eq_ignore_ascii_case(b"sync") || mode.eq_ignore_ascii_case(b"async") => {}
                    [_] => return Err(invalid(errors::SYNTAX)),
                    _ => return Err(self.wrong_arity()),
                }
                Command::FlushAll { name: self.name }
            }
            N::HSet
            | N::HMSet
            | N::HSetNx
            | N::HGet
            | N::HMGet
            | N::HGetAll
            | N::HKeys
            | N::HVals
            | N::HDel
            | N::HExists
            | N::HLen
            | N::HStrLen
            | N::HIncrBy
            | N::HIncrByFloat
            | N::HScan => Command::Hash(hash::parse(self)?),
            N::LPush
            | N::RPush
            | N::LPushX
            | N::RPushX
            | N::LPop
            | N::RPop
            | N::LLen
            | N::LRange
            | N::LIndex
            | N::LSet
            | N::LInsert
            | N::LRem
            | N::LTrim
            | N::LPos
            | N::LMove
            | N::RPopLPush => Command::List(list::parse(self)?),
            N::SAdd
            | N::SRem
            | N::SMembers
            | N::SIsMember
            | N::SMIsMember
            | N::SCard
            | N::SInter
            | N::SUnion
            | N::SDiff
            | N::SInterStore
            | N::SUnionStore
            | N::SDiffStore
            | N::SInterCard
            | N::SMove
            | N::SScan => Command::Sets(set::parse(self)?),
            N::ZAdd
            | N::ZRem
            | N::ZScore
            | N::ZMScore
            | N::ZIncrBy
            | N::ZCard
            | N::ZCount
            | N::ZLexCount
            | N::ZRange
            | N::ZRevRange
            | N::ZRangeByScore
            | N::ZRevRangeByScore
            | N::ZRangeByLex
            | N::ZRevRangeByLex
            | N::ZRangeStore
            | N::ZRank
            | N::ZRevRank
            | N::ZRemRangeByRank
            | N::ZRemRangeByScore
            | N::ZRemRangeByLex
            | N::ZPopMin
            | N::ZPopMax
            | N::ZUnion
            | N::ZInter
            | N::ZDiff
            | N::ZUnionStore
            | N::ZInterStore
            | N::ZDiffStore
            | N::ZScan
            | N::ZRandMember => Command::ZSet(Box::new(zset::parse(self)?)),
            N::SPop | N::SRandMember => Command::Sets(set::parse(self)?),
            N::HRandField => Command::Hash(hash::parse(self)?),
            N::Touch => Command::Touch { keys: a.to_vec() },
            N::SetBit | N::GetBit | N::BitCount | N::BitPos | N::BitOp | N::BitField | N::BitFieldRo => {
                Command::Bits(bitmap::parse(self)?)
            }
            N::Publish => {
                let [channel, message] = self.exactly()?;
                Command::Publish { channel: channel.clone(), message: message.clone() }
            }
            N::BLPop | N::BRPop | N::BLMove | N::BRPopLPush => Command::List(list::parse(self)?),
            N::BZPopMin | N::BZPopMax => Command::ZSet(Box::new(zset::parse(self)?)),
            N::Object | N::Memory | N::Lcs => Command::Inspect(inspect::parse(self)?),
            N::RandomKey => {
                let [] = self.exactly()?;
                Command::RandomKey { seed: 0 }
            }
        })
    }

    /// SET key value [NX | XX | IFEQ value] [GET] [EX s | PX ms | EXAT s | PXAT ms | KEEPTTL],
    /// with the option rules of Redis's `parseExtendedStringArgumentsOrReply`.
    fn set(&self) -> Result<Command, ParseError> {
        let [key, value, options @ ..] = self.args else { return Err(self.wrong_arity()) };
        let (mut condition, mut expiry, mut get) = (SetCondition::Always, SetExpiry::Clear, false);
        let mut options = options.iter();
        while let Some(option) = options.next() {
            let is = |word: &str| option.eq_ignore_ascii_case(word.as_bytes());
            let unconditional = condition == SetCondition::Always;
            if is("nx") && matches!(condition, SetCondition::Always | SetCondition::IfAbsent) {
                condition = SetCondition::IfAbsent;
            } else if is("xx") && matches!(condition, SetCondition::Always | SetCondition::IfPresent) {
                condition = SetCondition::IfPresent;
            } else if is("ifeq") && unconditional {
                let expected = options.next().ok_or_else(|| invalid(errors::SYNTAX))?;
                condition = SetCondition::IfEqual(Box::new(expected.clone()));
            } else if is("get") {
                get = true;
            } else if is("keepttl") && matches!(expiry, SetExpiry::Clear | SetExpiry::Keep) {
                expiry = SetExpiry::Keep;
            } else if (is("ex") || is("px") || is("exat") || is("pxat")) && expiry == SetExpiry::Clear {
                let amount = options.next().ok_or_else(|| invalid(errors::SYNTAX))?;
                let amount = self.integer(amount)?;
                let ms = self.positive_expiry(amount, is("ex") || is("exat"))?;
                let at = if is("ex") || is("px") { Expiry::InMs(ms) } else { Expiry::AtMs(ms) };
                expiry = SetExpiry::Set(at);
            } else {
                return Err(invalid(errors::SYNTAX));
            }
        }
        Ok(Command::Set(SetCommand {
            name: CommandName::Set,
            key: key.clone(),
            value: value.clone(),
            condition,
            expiry,
            get,
        }))
    }

    /// GETEX key [EX s | PX ms | EXAT s | PXAT ms | PERSIST].
    fn getex(&self) -> Result<Command, ParseError> {
        let [key, options @ ..] = self.args else { return Err(self.wrong_arity()) };
        let mut expiry = None;
        let mut options = options.iter();
        while let Some(option) = options.next() {
            let is = |word: &str| option.eq_ignore_ascii_case(word.as_bytes());
            if is("persist") && expiry.is_none() {
                expiry = Some(Expiry::Persist);
            } else if (is("ex") || is("px") || is("exat") || is("pxat")) && expiry.is_none() {
                let amount = options.next().ok_or_else(|| invalid(errors::SYNTAX))?;
                let amount = self.integer(amount)?;
                // Redis looks the key up before it judges the amount: a missing key answers nil
                // whatever the amount, so an amount that is not positive is refused by the
                // execution (`exec.rs`), after the lookup, not here.
                let ms =
                    if amount > 0 { self.positive_expiry(amount, is("ex") || is("exat"))? } else { amount };
                expiry = Some(if is("ex") || is("px") { Expiry::InMs(ms) } else { Expiry::AtMs(ms) });
            } else {
                return Err(invalid(errors::SYNTAX));
            }
        }
        Ok(Command::GetEx { key: key.clone(), expiry })
    }

    /// EXPIRE key seconds [NX | XX | GT | LT], and its millisecond and absolute forms.
    fn expire(&self) -> Result<Command, ParseError> {
        use CommandName as N;
        let [key, amount, options @ ..] = self.args else { return Err(self.wrong_arity()) };
        let mut condition = ExpireCondition::default();
        for option in options {
            match option.to_ascii_lowercase().as_slice() {
                b"nx" => condition.no_ttl = true,
                b"xx" => condition.has_ttl = true,
                b"gt" => condition.later = true,
                b"lt" => condition.earlier = true,
                _ => {
                    return Err(invalid(format!(
                        "ERR Unsupported option {}",
                        String::from_utf8_lossy(option)
                    )))
                }
            }
        }
        if condition.no_ttl && (condition.has_ttl || condition.later || condition.earlier) {
            return Err(invalid(errors::EXPIRE_NX_CONFLICT));
        }
        if condition.later && condition.earlier {
            return Err(invalid(errors::EXPIRE_GT_LT_CONFLICT));
        }
        // Redis reads the options before the amount, so an option error wins.
        let amount = self.integer(amount)?;
        let ms = if matches!(self.name, N::Expire | N::ExpireAt) {
            amount.checked_mul(1000).ok_or_else(|| invalid(errors::invalid_expire(self.name.as_str())))?
        } else {
            amount
        };
        let at =
            if matches!(self.name, N::Expire | N::PExpire) { Expiry::InMs(ms) } else { Expiry::AtMs(ms) };
        Ok(Command::Expire { name: self.name, key: key.clone(), at, condition })
    }

    /// COPY source destination [DB destination-db] [REPLACE]; only database 0 exists.
    fn copy(&self) -> Result<Command, ParseError> {
        let [from, to, options @ ..] = self.args else { return Err(self.wrong_arity()) };
        let mut replace = false;
        let mut options = options.iter();
        while let Some(option) = options.next() {
            if option.eq_ignore_ascii_case(b"replace") {
                replace = true;
            } else if option.eq_ignore_ascii_case(b"db") {
                let db = options.next().ok_or_else(|| invalid(errors::SYNTAX))?;
                if self.integer(db)? != 0 {
                    return Err(invalid(errors::DB_OUT_OF_RANGE));
                }
            } else {
                return Err(invalid(errors::SYNTAX));
            }
        }
        Ok(Command::Copy { from: from.clone(), to: to.clone(), replace })
    }

    /// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type].
    fn scan(&self) -> Result<Command, ParseError> {
        let [cursor, options @ ..] = self.args else { return Err(self.wrong_arity()) };
        let cursor = parse_u64(cursor).ok_or_else(|| invalid(errors::INVALID_CURSOR))?;
        let (mut pattern, mut count, mut type_filter) = (None, 10usize, None);
        let mut options = options.iter();
        while let Some(option) = options.next() {
            let value = options.next().ok_or_else(|| invalid(errors::SYNTAX))?;
            if option.eq_ignore_ascii_case(b"match") {
                pattern = Some(self.pattern(value)?);
            } else if option.eq_ignore_ascii_case(b"count") {
                let wanted = self.integer(value)?;
                if wanted < 1 {
                    return Err(invalid(errors::SYNTAX));
                }
                count = usize::try_from(wanted).unwrap_or(usize::MAX).min(SCAN_COUNT_MAX);
            } else if option.eq_ignore_ascii_case(b"type") {
                let name = String::from_utf8_lossy(value).to_ascii_lowercase();
                if !KNOWN_TYPES.contains(&name.as_str()) {
                    return Err(invalid(format!(
                        "ERR unknown type name '{}'",
                        String::from_utf8_lossy(value)
                    )));
                }
                type_filter = Some(name);
            } else {
                return Err(invalid(errors::SYNTAX));
            }
        }
        Ok(Command::Scan { cursor, pattern, count, type_filter })
    }

    /// Turns a SET-style expire amount into milliseconds: it must be positive, and seconds must
    /// not overflow when multiplied.
    fn positive_expiry(&self, amount: i64, seconds: bool) -> Result<i64, ParseError> {
        let ms = if seconds { amount.checked_mul(1000) } else { Some(amount) };
        match ms {
            Some(ms) if amount > 0 => Ok(ms),
            _ => Err(invalid(errors::invalid_expire(self.name.as_str()))),
        }
    }
}

/// The type names SCAN's TYPE accepts; those redraft does not hold yet match nothing.
const KNOWN_TYPES: &[&str] = &["string", "list", "set", "zset", "hash", "stream"];

#[cfg(test)]
mod tests {
    use super::*;

    /// The parser answers "wrong number of arguments" exactly when the spec's arity refuses the
    /// count, except for the rules arity cannot say: MSET, MSETNX, HSET and HMSET take whole pairs,
    /// FLUSHDB and FLUSHALL at most one option, LPOP, RPOP, ZPOPMIN and ZPOPMAX at most a count.
    /// Every argument is "1", which any position accepts as a key, a value or a number, so no
    /// other error hides an arity error.
    #[test]
    fn parser_arity_is_the_specs() {
        use CommandName as N;
        for &name in CommandName::ALL {
            for count in 1..=7 {
                let mut args = vec![Bytes::from(name.as_str())];
                args.extend((1..count).map(|_| Bytes::from_static(b"1")));
                let wrong_arity = Command::parse(&args) == Err(invalid(errors::wrong_arity(name.as_str())));
                let own_rule = match name {
                    N::MSet | N::MSetNx => count % 2 == 0,
                    N::FlushDb | N::FlushAll => count > 2,
                    N::HSet | N::HMSet => count % 2 == 1,
                    N::LPop | N::RPop | N::ZPopMin | N::ZPopMax => count > 3,
                    _ => false,
                };
                let refused = !name.spec().accepts_arg_count(count) || own_rule;
                assert_eq!(wrong_arity, refused, "{} with {count} arguments", name.as_str());
            }
        }
    }
}
