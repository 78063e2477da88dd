//! Replies to commands, independent of the wire protocol.
//!
//! The RESP2/RESP3 encoding lives in `redraft-net`; a `Reply` says what to answer, not how. Error
//! texts follow Redis 7 word for word, because Redis clients match on them.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The answer to one command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    /// `+OK`.
    Ok,
    /// A status line such as `string` for TYPE.
    Status(String),
    /// An error; the text starts with its code (`ERR`, `WRONGTYPE`, ...) as Redis sends it.
    Error(String),
    /// An integer.
    Integer(i64),
    /// A bulk string.
    Bulk(Bytes),
    /// The null bulk string (RESP2 `$-1`, RESP3 `_`).
    Nil,
    /// An array of replies.
    Array(Vec<Reply>),
    /// The null array (RESP2 `*-1`, RESP3 `_`), as EXEC answers when a watched key moved.
    NilArray,
    /// A map (RESP3 `%`; in RESP2 a flat array of keys and values), as HGETALL answers.
    Map(Vec<(Reply, Reply)>),
    /// A set (RESP3 `~`; in RESP2 an array), as SMEMBERS answers.
    Set(Vec<Reply>),
    /// A score (RESP3 `,`; in RESP2 a bulk string as Redis 7.0 prints it), as ZSCORE answers.
    Double(f64),
    /// Pairs (in RESP3 an array of two-element arrays; in RESP2 one flat array), as ZRANGE ...
    /// WITHSCORES answers.
    Pairs(Vec<(Reply, Reply)>),
}

impl Reply {
    /// An error reply with the `ERR` code.
    pub fn err(message: impl AsRef<str>) -> Reply {
        Reply::Error(format!("ERR {}", message.as_ref()))
    }

    /// A bulk reply, or nil when absent.
    pub fn bulk_or_nil(value: Option<Bytes>) -> Reply {
        value.map_or(Reply::Nil, Reply::Bulk)
    }

    /// About how many bytes the reply holds: its strings' lengths, plus a little per element.
    pub fn approx_bytes(&self) -> usize {
        16 + match self {
            Reply::Status(text) | Reply::Error(text) => text.len(),
            Reply::Bulk(bytes) => bytes.len(),
            Reply::Array(items) | Reply::Set(items) => items.iter().map(Reply::approx_bytes).sum(),
            Reply::Map(pairs) | Reply::Pairs(pairs) => {
                pairs.iter().map(|(k, v)| k.approx_bytes() + v.approx_bytes()).sum()
            }
            Reply::Double(_) => 8,
            Reply::Ok | Reply::Integer(_) | Reply::Nil | Reply::NilArray => 0,
        }
    }

    /// Whether this reply is an error.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// `Ok(())` for a non-error reply, the error text otherwise; convenient in tests and callers
    /// that only care whether a command succeeded.
    ///
    /// # Errors
    /// The reply's error text when it is an error.
    pub fn into_result(self) -> Result<Reply, String> {
        match self {
            Reply::Error(text) => Err(text),
            other => Ok(other),
        }
    }
}

/// Redis's error texts, in one place so that tests and callers use the very same words.
pub mod errors {
    /// `-ERR syntax error`.
    pub const SYNTAX: &str = "ERR syntax error";
    /// A command of one type used on a key that holds another.
    pub const WRONG_TYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    /// An argument or a stored value that is not a 64-bit integer.
    pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
    /// INCR and friends past `i64` bounds.
    pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
    /// DECRBY with `i64::MIN`, which cannot be negated.
    pub const DECREMENT_OVERFLOW: &str = "ERR decrement would overflow";
    /// A float argument or stored value that does not parse.
    pub const NOT_FLOAT: &str = "ERR value is not a valid float";
    /// INCRBYFLOAT whose result is not finite.
    pub const NAN_OR_INFINITY: &str = "ERR increment would produce NaN or Infinity";
    /// A value that would grow past `proto-max-bulk-len`.
    pub const STRING_TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
    /// SETRANGE with a negative offset, GETRANGE's cousin.
    pub const OFFSET_OUT_OF_RANGE: &str = "ERR offset is out of range";
    /// RENAME of a missing key.
    pub const NO_SUCH_KEY: &str = "ERR no such key";
    /// SCAN with a cursor that is not an unsigned 64-bit integer.
    pub const INVALID_CURSOR: &str = "ERR invalid cursor";
    /// COPY onto itself.
    pub const SAME_OBJECT: &str = "ERR source and destination objects are the same";
    /// A database other than 0.
    pub const DB_OUT_OF_RANGE: &str = "ERR DB index is out of range";
    /// EXPIRE with NX and another condition.
    pub const EXPIRE_NX_CONFLICT: &str =
        "ERR NX and XX, GT or LT options at the same time are not compatible";
    /// EXPIRE with both GT and LT.
    pub const EXPIRE_GT_LT_CONFLICT: &str = "ERR GT and LT options at the same time are not compatible";
    /// A retried write whose session has been evicted: applying it could apply it twice.
    pub const SESSION_EXPIRED: &str =
        "ERR client session expired: the outcome of this request is unknown, read before retrying";
    /// A write older than the newest one the session has already answered.
    pub const STALE_SEQUENCE: &str =
        "ERR request is older than the client session's latest; it was answered already";

    /// `ERR wrong number of arguments for 'get' command`.
    pub fn wrong_arity(command: &str) -> String {
        format!("ERR wrong number of arguments for '{command}' command")
    }

    /// `ERR invalid expire time in 'set' command`.
    pub fn invalid_expire(command: &str) -> String {
        format!("ERR invalid expire time in '{command}' command")
    }
}

/// Redis's reply to a command it does not know:
/// `ERR unknown command 'foo', with args beginning with: 'a' 'b' `.
pub fn unknown_command(args: &[Bytes]) -> String {
    let name = args.first().map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default();
    let mut text = format!("ERR unknown command '{}', with args beginning with: ", truncate(&name));
    for arg in args.iter().skip(1) {
        // Redis stops listing arguments once the text passes 128 characters.
        if text.len() >= 128 {
            break;
        }
        text.push_str(&format!("'{}' ", truncate(&String::from_utf8_lossy(arg))));
    }
    text
}

fn truncate(text: &str) -> &str {
    match text.char_indices().nth(128) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}
