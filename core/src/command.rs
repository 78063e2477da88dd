//! Commands in their typed form, as replicated in the log; parsing them from a client's
//! arguments is [`crate::parse`].
//!
//! Times that depend on the clock stay relative here (`SET k v EX 10` carries 10,000 ms); the
//! state machine turns them into absolute times with the stamp of the entry that carries them
//! (DESIGN.md §3). Connection commands (PING, HELLO, MULTI, WATCH, ...) belong to the server.
//!
//! Each command's name, arity and read/write flag are its entry in [`crate::spec`].

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

pub use crate::command_name::CommandName;
pub use crate::limits::ARGUMENT_OVERHEAD;
use crate::map::KEYS_INLINE;
use crate::types::bitmap::BitCommand;
use crate::types::hash_commands::HashCommand;
use crate::types::inspect::InspectCommand;
use crate::types::list_commands::ListCommand;
use crate::types::set_commands::SetsCommand;
use crate::types::zset_commands::ZSetCommand;

/// A data command, ready to apply or to read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// GET key.
    Get { key: Bytes },
    /// SET and the commands that are SET with fixed options (SETEX, PSETEX, GETSET). Held inline:
    /// a box cost every SET an allocation and its free (its IFEQ value is boxed instead, so that
    /// [`SetCommand`] keeps [`Command`] within [`COMMAND_BYTES_MAX`]).
    Set(SetCommand),
    /// SETNX key value: replies 1 or 0 where SET NX replies OK or nil.
    SetNx { key: Bytes, value: Bytes },
    /// GETDEL key.
    GetDel { key: Bytes },
    /// GETEX key [EX|PX|EXAT|PXAT|PERSIST]; `expiry` is `None` when no option was given.
    GetEx { key: Bytes, expiry: Option<Expiry> },
    /// MGET key [key ...].
    MGet { keys: Vec<Bytes> },
    /// MSET key value [key value ...].
    MSet { pairs: Vec<(Bytes, Bytes)> },
    /// MSETNX key value [key value ...].
    MSetNx { pairs: Vec<(Bytes, Bytes)> },
    /// DEL and UNLINK.
    Del { name: CommandName, keys: Vec<Bytes> },
    /// EXISTS key [key ...]; a key named twice counts twice.
    Exists { keys: Vec<Bytes> },
    /// INCR, DECR, INCRBY, DECRBY.
    IncrBy { name: CommandName, key: Bytes, delta: i64 },
    /// INCRBYFLOAT key increment; NaN for an increment that is not a number (refused when applied,
    /// after the key's type and value are checked, as Redis orders its checks).
    IncrByFloat { key: Bytes, delta: f64 },
    /// APPEND key value.
    Append { key: Bytes, value: Bytes },
    /// STRLEN key.
    StrLen { key: Bytes },
    /// GETRANGE key start end.
    GetRange { key: Bytes, start: i64, end: i64 },
    /// SETRANGE key offset value.
    SetRange { key: Bytes, offset: u64, value: Bytes },
    /// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT.
    Expire { name: CommandName, key: Bytes, at: Expiry, condition: ExpireCondition },
    /// TTL and PTTL.
    Ttl { name: CommandName, key: Bytes },
    /// EXPIRETIME and PEXPIRETIME.
    ExpireTime { name: CommandName, key: Bytes },
    /// PERSIST key.
    Persist { key: Bytes },
    /// TYPE key.
    Type { key: Bytes },
    /// RENAME and RENAMENX.
    Rename { name: CommandName, from: Bytes, to: Bytes },
    /// COPY source destination [DB 0] [REPLACE].
    Copy { from: Bytes, to: Bytes, replace: bool },
    /// KEYS pattern.
    Keys { pattern: Bytes },
    /// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type].
    Scan { cursor: u64, pattern: Option<Bytes>, count: usize, type_filter: Option<String> },
    /// DBSIZE.
    DbSize,
    /// FLUSHALL and FLUSHDB (there is one database).
    FlushAll { name: CommandName },
    /// The hash commands (`types/hash_commands.rs`).
    Hash(HashCommand),
    /// The list commands (`types/list_commands.rs`).
    List(ListCommand),
    /// The set commands (`types/set_commands.rs`); named so as not to be taken for SET.
    Sets(SetsCommand),
    /// The sorted-set commands (`types/zset_commands.rs`).
    ZSet(Box<ZSetCommand>),
    /// RANDOMKEY; `seed` drawn by the server that took the command (`types/random.rs`).
    RandomKey { seed: u64 },
    /// TOUCH key [key ...]: as EXISTS (redraft tracks no access times to update).
    Touch { keys: Vec<Bytes> },
    /// OBJECT, MEMORY USAGE and LCS (`types/inspect.rs`).
    Inspect(InspectCommand),
    /// PUBLISH channel message: applied, it changes no key and records the message among the
    /// entry's changes, from which every node delivers it to its own subscribers.
    Publish { channel: Bytes, message: Bytes },
    /// SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP (`types/bitmap.rs`).
    Bits(BitCommand),
}

/// The most a [`Command`] may take inline. A command is moved by value from the parser through
/// the connection to the proposer or the read path, half a dozen times per request; up to this
/// size a move is a few vector stores, past it a call to `memcpy` (boxing the two largest
/// variants, SET's 128 bytes and ZSET's 184, took 7 % off a pipelined GET's instructions; SET
/// is held inline again since its IFEQ value is boxed instead and it takes 104 bytes).
pub const COMMAND_BYTES_MAX: usize = 128;
const _: () = assert!(std::mem::size_of::<Command>() <= COMMAND_BYTES_MAX);

/// SET with its options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetCommand {
    /// Which command this came from, for error texts and replies.
    pub name: CommandName,
    pub key: Bytes,
    pub value: Bytes,
    pub condition: SetCondition,
    pub expiry: SetExpiry,
    /// Reply with the old value (SET ... GET, GETSET).
    pub get: bool,
}

/// When SET writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetCondition {
    Always,
    /// NX: only if the key is absent.
    IfAbsent,
    /// XX: only if the key exists.
    IfPresent,
    /// IFEQ (Valkey 8.1): only if the key holds exactly this value. Boxed: the condition takes 16
    /// bytes instead of 40, and only IFEQ, which is rare, allocates.
    IfEqual(Box<Bytes>),
}

/// What SET does to the TTL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetExpiry {
    /// No option: the key loses any TTL, as in Redis.
    Clear,
    /// KEEPTTL.
    Keep,
    /// EX, PX, EXAT or PXAT.
    Set(Expiry),
}

/// An expiry time, relative to the state-machine time or absolute, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiry {
    /// GETEX PERSIST: remove the TTL.
    Persist,
    /// EX or PX (and EXPIRE, PEXPIRE): milliseconds from the state-machine time.
    InMs(i64),
    /// EXAT or PXAT (and EXPIREAT, PEXPIREAT): Unix milliseconds.
    AtMs(i64),
}

/// EXPIRE's NX, XX, GT and LT, checked one after another as Redis does: XX may be combined with
/// GT or LT, NX with nothing, GT not with LT.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpireCondition {
    /// NX: only if the key has no TTL.
    pub no_ttl: bool,
    /// XX: only if the key has a TTL.
    pub has_ttl: bool,
    /// GT: only if the new expiry is later; no TTL counts as infinitely late, so never.
    pub later: bool,
    /// LT: only if the new expiry is earlier; no TTL counts as infinitely late, so always.
    pub earlier: bool,
}

/// Why arguments did not make a command.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not a data command; the server may know it (PING, MULTI, ...) or answer with
    /// [`crate::reply::unknown_command`].
    #[error("unknown command")]
    UnknownCommand,
    /// A known command used wrongly; the text is the error reply, as Redis words it.
    #[error("{0}")]
    Invalid(String),
}

impl Command {
    /// The command's name.
    pub fn name(&self) -> CommandName {
        use CommandName as N;
        match self {
            Command::Get { .. } => N::Get,
            Command::Set(set) => set.name,
            Command::SetNx { .. } => N::SetNx,
            Command::GetDel { .. } => N::GetDel,
            Command::GetEx { .. } => N::GetEx,
            Command::MGet { .. } => N::MGet,
            Command::MSet { .. } => N::MSet,
            Command::MSetNx { .. } => N::MSetNx,
            Command::Exists { .. } => N::Exists,
            Command::IncrByFloat { .. } => N::IncrByFloat,
            Command::Append { .. } => N::Append,
            Command::StrLen { .. } => N::StrLen,
            Command::GetRange { .. } => N::GetRange,
            Command::SetRange { .. } => N::SetRange,
            Command::Persist { .. } => N::Persist,
            Command::Type { .. } => N::Type,
            Command::Copy { .. } => N::Copy,
            Command::Keys { .. } => N::Keys,
            Command::Scan { .. } => N::Scan,
            Command::DbSize => N::DbSize,
            Command::Del { name, .. }
            | Command::IncrBy { name, .. }
            | Command::Expire { name, .. }
            | Command::Ttl { name, .. }
            | Command::ExpireTime { name, .. }
            | Command::Rename { name, .. }
            | Command::FlushAll { name } => *name,
            Command::Hash(hash) => hash.name(),
            Command::List(list) => list.name(),
            Command::Sets(sets) => sets.name(),
            Command::ZSet(zset) => zset.name(),
            Command::RandomKey { .. } => N::RandomKey,
            Command::Touch { .. } => N::Touch,
            Command::Inspect(inspect) => inspect.name(),
            Command::Publish { .. } => N::Publish,
            Command::Bits(bits) => bits.name(),
        }
    }

    /// Whether the command may change the keyspace, and so must go through the log: its spec has
    /// the `write` flag. GETEX counts as a write even without options, as in Redis.
    pub fn is_write(&self) -> bool {
        self.name().spec().is_write()
    }

    /// The seed of a command that picks at random (SPOP, SRANDMEMBER, HRANDFIELD, ZRANDMEMBER,
    /// RANDOMKEY), for the server to draw when it takes the command: the parser leaves it 0.
    pub fn seed_mut(&mut self) -> Option<&mut u64> {
        use crate::types::set_commands::SetsCommand as S;
        match self {
            Command::Sets(S::Pop { seed, .. } | S::RandMember { seed, .. })
            | Command::Hash(HashCommand::RandField { seed, .. })
            | Command::RandomKey { seed } => Some(seed),
            Command::ZSet(zset) => match zset.as_mut() {
                ZSetCommand::RandMember { seed, .. } => Some(seed),
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether the command may block its client (its spec has the `blocking` flag).
    pub fn blocks(&self) -> bool {
        self.name().spec().has(crate::spec::Flag::Blocking)
    }

    /// For a blocking pop (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BZPOPMIN, BZPOPMAX): its timeout in
    /// milliseconds (0 waits for ever) and the deadline the server sets on each attempt.
    pub fn blocking_mut(&mut self) -> Option<(u64, &mut Option<u64>)> {
        use crate::types::list_commands::ListCommand as L;
        match self {
            Command::List(L::BlockingPop { timeout_ms, deadline_ms, .. }) => Some((*timeout_ms, deadline_ms)),
            Command::ZSet(zset) => match zset.as_mut() {
                ZSetCommand::BlockingPop { timeout_ms, deadline_ms, .. } => Some((*timeout_ms, deadline_ms)),
                _ => None,
            },
            _ => None,
        }
    }

    /// The keys the command touches, or `None` when it sees the whole keyspace.
    pub fn keys(&self) -> Option<SmallVec<[&Bytes; KEYS_INLINE]>> {
        let mut keys = SmallVec::new();
        self.for_each_key(|key| keys.push(key)).then_some(keys)
    }

    /// Calls `visit` with each key the command touches, in order; `false` (having called it for
    /// none) when the command sees the whole keyspace. [`Command::keys`] without a list.
    pub fn for_each_key<'a>(&'a self, mut visit: impl FnMut(&'a Bytes)) -> bool {
        match self {
            Command::Get { key }
            | Command::SetNx { key, .. }
            | Command::GetDel { key }
            | Command::GetEx { key, .. }
            | Command::IncrBy { key, .. }
            | Command::IncrByFloat { key, .. }
            | Command::Append { key, .. }
            | Command::StrLen { key }
            | Command::GetRange { key, .. }
            | Command::SetRange { key, .. }
            | Command::Expire { key, .. }
            | Command::Ttl { key, .. }
            | Command::ExpireTime { key, .. }
            | Command::Persist { key }
            | Command::Type { key } => visit(key),
            Command::Set(set) => visit(&set.key),
            Command::MGet { keys }
            | Command::Del { keys, .. }
            | Command::Exists { keys }
            | Command::Touch { keys } => keys.iter().for_each(visit),
            Command::MSet { pairs } | Command::MSetNx { pairs } => pairs.iter().for_each(|(k, _)| visit(k)),
            Command::Rename { from, to, .. } | Command::Copy { from, to, .. } => {
                visit(from);
                visit(to);
            }
            Command::Keys { .. }
            | Command::Scan { .. }
            | Command::DbSize
            | Command::FlushAll { .. }
            | Command::RandomKey { .. } => return false,
            Command::Publish { .. } => {}
            Command::Hash(hash) => visit(hash.key()),
            Command::List(list) => list.for_each_key(visit),
            Command::Sets(sets) => sets.for_each_key(visit),
            Command::ZSet(zset) => zset.for_each_key(visit),
            Command::Inspect(inspect) => inspect.for_each_key(visit),
            Command::Bits(bits) => bits.for_each_key(visit),
        }
        true
    }

    /// About how many bytes the command takes in a log entry: its keys' and values' lengths
    /// plus [`ARGUMENT_OVERHEAD`] per argument. Used to bound a batch before it is encoded.
    pub fn weight(&self) -> usize {
        let bytes = |b: &Bytes| b.len() + ARGUMENT_OVERHEAD;
        ARGUMENT_OVERHEAD
            + match self {
                Command::Set(set) => {
                    bytes(&set.key)
                        + bytes(&set.value)
                        + match &set.condition {
                            SetCondition::IfEqual(expected) => bytes(expected),
                            _ => ARGUMENT_OVERHEAD,
                        }
                }
                Command::SetNx { key, value } | Command::Append { key, value } => bytes(key) + bytes(value),
                Command::SetRange { key, value, .. } => bytes(key) + bytes(value) + ARGUMENT_OVERHEAD,
                Command::MSet { pairs } | Command::MSetNx { pairs } => {
                    pairs.iter().map(|(k, v)| bytes(k) + bytes(v)).sum()
                }
                Command::Keys { pattern } => bytes(pattern),
                Command::Publish { channel, message } => bytes(channel) + bytes(message),
                Command::Bits(bits) => bits.weight(),
                Command::Hash(hash) => hash.weight(),
                Command::List(list) => list.weight(),
                Command::Sets(sets) => sets.weight(),
                Command::ZSet(zset) => zset.weight(),
                Command::Scan { pattern, .. } => pattern.as_ref().map_or(0, bytes) + 3 * ARGUMENT_OVERHEAD,
                other => {
                    let mut sum = 0;
                    other.for_each_key(|key| sum += bytes(key));
                    sum + 2 * ARGUMENT_OVERHEAD
                }
            }
    }
}
