//! What every command's parser uses: the arguments being parsed, and the readings of numbers,
//! patterns and options that several commands share, each with Redis's error text.

use bytes::Bytes;

use crate::command::{CommandName, ParseError};
use crate::limits::{ARRAY_LEN_MAX, PATTERN_BYTES_MAX, SCAN_COUNT_MAX};
use crate::number::{parse_i64, parse_u64};
use crate::reply::errors;
use crate::types::scan::ScanOptions;

/// Parses one command's arguments. [`Command::parse`] has already checked the count against the
/// spec's arity, so the shapes asked for here hold; where one does not (a spec and a parser that
/// disagree), the request gets the wrong-arity error rather than a panic.
pub(crate) struct Parser<'a> {
    pub(crate) name: CommandName,
    /// The arguments after the command name.
    pub(crate) args: &'a [Bytes],
}

impl Parser<'_> {
    pub(crate) fn pattern(&self, pattern: &Bytes) -> Result<Bytes, ParseError> {
        if pattern.len() > PATTERN_BYTES_MAX {
            return Err(invalid(format!(
                "ERR pattern is {} bytes, the limit is {PATTERN_BYTES_MAX}",
                pattern.len()
            )));
        }
        Ok(pattern.clone())
    }

    pub(crate) fn integer(&self, arg: &[u8]) -> Result<i64, ParseError> {
        parse_i64(arg).ok_or_else(|| invalid(errors::NOT_INTEGER))
    }

    pub(crate) fn one_key(&self) -> Result<Bytes, ParseError> {
        let [key] = self.exactly()?;
        Ok(key.clone())
    }

    /// The arguments as an array of the length the command's form has.
    pub(crate) fn exactly<const N: usize>(&self) -> Result<&[Bytes; N], ParseError> {
        self.args.try_into().map_err(|_| self.wrong_arity())
    }

    pub(crate) fn wrong_arity(&self) -> ParseError {
        invalid(errors::wrong_arity(self.name.as_str()))
    }
}

pub(crate) fn invalid(text: impl Into<String>) -> ParseError {
    ParseError::Invalid(text.into())
}

/// A number at least 0, as Redis's `getPositiveLongFromObjectOrReply` reads one: anything else,
/// a word included, is refused with `error`.
pub(crate) fn positive(arg: &[u8], error: &str) -> Result<usize, ParseError> {
    let number = parse_i64(arg).and_then(|n| usize::try_from(n).ok());
    number.ok_or_else(|| invalid(error))
}

/// HSCAN's and SSCAN's arguments: key cursor [MATCH pattern] [COUNT count]. A bad cursor is
/// refused here; a bad option is kept in [`ScanOptions::error`].
pub(crate) fn scan_options(parser: &Parser<'_>) -> Result<(Bytes, u64, ScanOptions), ParseError> {
    let [key, cursor, rest @ ..] = parser.args else { return Err(parser.wrong_arity()) };
    let cursor = parse_u64(cursor).ok_or_else(|| invalid(errors::INVALID_CURSOR))?;
    let mut options = ScanOptions { pattern: None, count: 10, error: None };
    let mut rest = rest.iter();
    while let Some(option) = rest.next() {
        let error = match rest.next() {
            Some(value) if option.eq_ignore_ascii_case(b"match") => {
                options.pattern = Some(parser.pattern(value)?);
                None
            }
            Some(value) if option.eq_ignore_ascii_case(b"count") => match parse_i64(value) {
                Some(wanted) if wanted >= 1 => {
                    options.count = usize::try_from(wanted).unwrap_or(usize::MAX).min(SCAN_COUNT_MAX);
                    None
                }
                Some(_) => Some(errors::SYNTAX),
                None => Some(errors::NOT_INTEGER),
            },
            _ => Some(errors::SYNTAX),
        };
        if options.error.is_none() {
            options.error = error.map(str::to_owned);
        }
    }
    Ok((key.clone(), cursor, options))
}

/// HRANDFIELD's and ZRANDMEMBER's arguments: key [count [WITH...]], the count read before the
/// option is checked, as Redis reads them.
pub(crate) fn parse_rand(parser: &Parser<'_>, with: &[u8]) -> Result<(Bytes, Option<i64>, bool), ParseError> {
    match parser.args {
        [key] => Ok((key.clone(), None, false)),
        [key, count, rest @ ..] => {
            let count = random_count(count)?;
            match rest {
                [] => Ok((key.clone(), Some(count), false)),
                [option] if option.eq_ignore_ascii_case(with) => Ok((key.clone(), Some(count), true)),
                _ => Err(invalid(errors::SYNTAX)),
            }
        }
        [] => Err(parser.wrong_arity()),
    }
}

/// A blocking command's timeout in seconds (a float, 0 for none), in milliseconds, as Redis's
/// `getTimeoutFromObjectOrReply` reads it.
pub(crate) fn timeout_ms(arg: &[u8]) -> Result<u64, ParseError> {
    let seconds = crate::number::parse_f64(arg)
        .filter(|s| s.is_finite())
        .ok_or_else(|| invalid("ERR timeout is not a float or out of range"))?;
    if seconds < 0.0 {
        return Err(invalid("ERR timeout is negative"));
    }
    let ms = (seconds * 1000.0).ceil();
    if ms > i64::MAX as f64 {
        return Err(invalid("ERR timeout is out of range"));
    }
    Ok(ms as u64)
}

/// A count for SRANDMEMBER, HRANDFIELD or ZRANDMEMBER: any integer but `i64::MIN`, as Redis reads
/// it; a negative one (repeats allowed) at most [`ARRAY_LEN_MAX`] in size, since it asks for that
/// many elements whatever the aggregate holds.
pub(crate) fn random_count(arg: &[u8]) -> Result<i64, ParseError> {
    let count = crate::number::parse_i64(arg).ok_or_else(|| invalid(crate::reply::errors::NOT_INTEGER))?;
    if count == i64::MIN {
        return Err(invalid(format!(
            "ERR value is out of range, value must between {} and {}",
            i64::MIN + 1,
            i64::MAX
        )));
    }
    if count.unsigned_abs() > ARRAY_LEN_MAX as u64 && count < 0 {
        return Err(invalid(format!("ERR count is {count}, the limit is -{ARRAY_LEN_MAX}")));
    }
    Ok(count)
}
