//! The one description of every command redraft serves: its name, Redis 7's arity, flags and key
//! positions (what `COMMAND INFO` reports), its group and summary (`COMMAND DOCS`), and the syntax
//! and summary `redraft-cli` shows as hints and `help`.
//!
//! Everything that needs to know about a command reads this table: the parser looks names and
//! arities up here ([`crate::command`]), the server answers `COMMAND` and labels its metrics from
//! it, and the CLI builds its hints from it. A data command's entry carries its [`CommandName`];
//! the connection and cluster commands the server answers itself (PING, MULTI, RAFT.ADD, ...)
//! carry none, and how they run lives in `redraft-server`'s `resp` module. Rendering an entry as
//! RESP frames is the server's (this crate knows no wire format).
//!
//! The table is plain data, so it lives in core next to the parser it must agree with. Data
//! commands come first, in [`CommandName`]'s order; a constant assertion below holds the table
//! to that, so a new [`CommandName`] variant without an entry does not compile.

use crate::command_name::CommandName;

/// One command as `COMMAND`, the parser and the CLI see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandSpec {
    /// The lower-case name, as replies, error texts and metrics labels spell it.
    pub name: &'static str,
    /// The data command this is, or `None` for a command the server answers itself.
    pub data: Option<CommandName>,
    /// Redis's arity: the exact argument count when positive, a minimum when negative; the name
    /// counts as an argument.
    pub arity: i64,
    pub flags: &'static [Flag],
    /// Position of the first key argument (0 when there are none), as `COMMAND INFO` reports it.
    pub first_key: i64,
    /// Position of the last key argument; -1 means the last argument.
    pub last_key: i64,
    /// Distance between key arguments (2 for MSET's `key value` pairs).
    pub step: i64,
    /// Redis's command group (`string`, `generic`, `server`, ...).
    pub group: &'static str,
    /// The Redis version that introduced the command (redraft's own version for RAFT.*).
    pub since: &'static str,
    /// `COMMAND DOCS`'s summary, in Redis 7.2's words.
    pub summary: &'static str,
    /// What `redraft-cli` shows: one line per form (`COMMAND` alone and `COMMAND COUNT` are two),
    /// in the words of redis-cli 7.0's `help.h`, so a hint reads the same in either client. Empty
    /// for a command the CLI does not list.
    pub usage: &'static [Usage],
}

/// One form of a command as the CLI describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// The subcommand, upper case (`SETNAME` in `CLIENT SETNAME`), or empty for the command itself.
    pub subcommand: &'static str,
    /// The arguments after the name (and subcommand), as redis-cli's hints show them.
    pub syntax: &'static str,
    pub summary: &'static str,
}

/// A command flag, as `COMMAND INFO` lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flag {
    Write,
    ReadOnly,
    DenyOom,
    Fast,
    NoScript,
    Loading,
    Stale,
    Blocking,
    PubSub,
}

impl Flag {
    /// The flag as Redis spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::Write => "write",
            Flag::ReadOnly => "readonly",
            Flag::DenyOom => "denyoom",
            Flag::Fast => "fast",
            Flag::NoScript => "noscript",
            Flag::Loading => "loading",
            Flag::Stale => "stale",
            Flag::Blocking => "blocking",
            Flag::PubSub => "pubsub",
        }
    }
}

impl CommandSpec {
    /// Whether a request of `arg_count` arguments, the name included, has the right arity.
    pub fn accepts_arg_count(&self, arg_count: usize) -> bool {
        let count = i64::try_from(arg_count).unwrap_or(i64::MAX);
        if self.arity >= 0 {
            count == self.arity
        } else {
            count >= -self.arity
        }
    }

    /// Whether the command may change the keyspace (it has the `write` flag), and so must go
    /// through the log.
    pub fn is_write(&self) -> bool {
        self.flags.contains(&Flag::Write)
    }
}

impl CommandName {
    /// The lower-case name, as Redis spells it in replies and `INFO commandstats`.
    pub fn as_str(self) -> &'static str {
        self.spec().name
    }

    /// Looks a data command up by name, ignoring ASCII case.
    pub fn parse(name: &[u8]) -> Option<CommandName> {
        find(name).and_then(|spec| spec.data)
    }

    /// The command's entry in [`COMMANDS`].
    pub fn spec(self) -> &'static CommandSpec {
        // The data commands open the table in variant order, as a constant assertion below the
        // table checks when the crate compiles.
        &COMMANDS[self as usize]
    }
}

/// The spec of a command, by name in any ASCII case.
pub fn find(name: &[u8]) -> Option<&'static CommandSpec> {
    position(name).map(|at| &COMMANDS[at])
}

/// Where a command is in [`COMMANDS`], by name in any ASCII case. A scan of the table: the
/// commands most sent (GET, SET, ...) come first, and a scan that compares lengths first beat a
/// hash lookup of the lower-cased name for them (callgrind: about 50 instructions against 175).
pub fn position(name: &[u8]) -> Option<usize> {
    COMMANDS.iter().position(|spec| spec.name.as_bytes().eq_ignore_ascii_case(name))
}

/// One entry of [`COMMANDS`]: name, the [`CommandName`] variant (or `server` for a command the
/// server answers itself), arity, flags, (first key, last key, step), group, since, summary, and
/// the CLI's usage lines.
macro_rules! spec {
    (@entry $name:literal, $data:expr, $arity:literal, $flags:ident,
        ($first:literal, $last:literal, $step:literal), $group:literal, $since:literal, $summary:literal,
        [$($usage:expr),* $(,)?]) => {
        CommandSpec {
            name: $name,
            data: $data,
            arity: $arity,
            flags: $flags,
            first_key: $first,
            last_key: $last,
            step: $step,
            group: $group,
            since: $since,
            summary: $summary,
            usage: &[$($usage),*],
        }
    };
    ($name:literal, server, $($rest:tt)*) => { spec!(@entry $name, None, $($rest)*) };
    ($name:literal, $data:ident, $($rest:tt)*) => {
        spec!(@entry $name, Some(CommandName::$data), $($rest)*)
    };
}

/// Every command, in the order `COMMAND` lists them: the data commands first, in
/// [`CommandName`]'s order, then the commands the server answers itself.
#[rustfmt::skip] // Laid out by hand: one entry per block, its CLI lines below its summary.
pub const COMMANDS: &[CommandSpec] = &[
    spec! { "get", Get, 2, READONLY_FAST, (1, 1, 1), "string", "1.0.0",
        "Returns the string value of a key.",
        [usage("key", "Get the value of a key")] },
    spec! { "set", Set, -3, WRITE_DENYOOM, (1, 1, 1), "string", "1.0.0",
        "Sets the string value of a key, ignoring its type.",
        [usage(
            "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|\
             PXAT unix-time-milliseconds|KEEPTTL]",
            "Set the string value of a key",
        )] },
    spec! { "setnx", SetNx, 3, WRITE_DENYOOM_FAST, (1, 1, 1), "string", "1.0.0",
        "Set the string value of a key only when the key doesn't exist.",
        [usage("key value", "Set the value of a key, only if the key does not exist")] },
    spec! { "setex", SetEx, 4, WRITE_DENYOOM, (1, 1, 1), "string", "2.0.0",
        "Sets the string value and expiration time of a key.",
        [usage("key seconds value", "Set the value and expiration of a key")] },
    spec! { "psetex", PSetEx, 4, WRITE_DENYOOM, (1, 1, 1), "string", "2.6.0",
        "Sets both string value and expiration time in milliseconds of a key.",
        [usage("key milliseconds value", "Set the value and expiration in milliseconds of a key")] },
    spec! { "getset", GetSet, 3, WRITE_DENYOOM_FAST, (1, 1, 1), "string", "1.0.0",
        "Returns the previous string value of a key after setting it to a new value.",
        [usage("key value", "Set the string value of a key and return its old value")] },
    spec! { "getdel", GetDel, 2, WRITE_FAST, (1, 1, 1), "string", "6.2.0",
        "Returns the string value of a key after deleting the key.",
        [usage("key", "Get the value of a key and delete the key")] },
    spec! { "getex", GetEx, -2, WRITE_FAST, (1, 1, 1), "string", "6.2.0",
        "Returns the string value of a key after setting its expiration time.",
        [usage(
            "key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|PERSIST]",
            "Get the value of a key and optionally set its expiration",
        )] },
    spec! { "mget", MGet, -2, READONLY_FAST, (1, -1, 1), "string", "1.0.0",
        "Atomically returns the string values of one or more keys.",
        [usage("key [key ...]", "Get the values of all the given keys")] },
    spec! { "mset", MSet, -3, WRITE_DENYOOM, (1, -1, 2), "string", "1.0.1",
        "Atomically creates or modifies the string values of one or more keys.",
        [usage("key value [key value ...]", "Set multiple keys to multiple values")] },
    spec! { "msetnx", MSetNx, -3, WRITE_DENYOOM, (1, -1, 2), "string", "1.0.1",
        "Atomically modifies the string values of one or more keys only when all keys don't exist.",
        [usage(
            "key value [key value ...]",
            "Set multiple keys to multiple values, only if none of the keys exist",
        )] },
    spec! { "del", Del, -2, WRITE, (1, -1, 1), "generic", "1.0.0",
        "Deletes one or more keys.",
        [usage("key [key ...]", "Delete a key")] },
    spec! { "unlink", Unlink, -2, WRITE_FAST, (1, -1, 1), "generic", "4.0.0",
        "Asynchronously deletes one or more keys.",
        [usage("key [key ...]", "Delete a key asynchronously in another thread")] },
    spec! { "exists", Exists, -2, READONLY_FAST, (1, -1, 1), "generic", "1.0.0",
        "Determines whether one or more keys exist.",
        [usage("key [key ...]", "Determine if a key exists")] },
    spec! { "incr", Incr, 2, WRITE_DENYOOM_FAST, (1, 1, 1), "string", "1.0.0",
        "Increments the integer value of a key by one.",
        [usage("key", "Increment the integer value of a key by one")] },
    spec! { "decr", Decr, 2, WRITE_DENYOOM_FAST, (1, 1, 1), "string", "1.0.0",
        "Decrements the integer value of a key by one.",
        [usage("key", "Decrement the integer value of a key by one")] },
    spec! { "incrby", IncrBy, 3, WRITE_DENYOOM_FAST, (1, 1, 1), "string", "1.0.0",
        "Increments the integer value of a key by a number.",
        [usage("key increment", "Increment the integer value of a key by the given amount")] },
    spec! { "decrby", DecrBy, 3, WRITE_DENYOOM_FAST, (1, 1, 1), "string", "1.0.0",
        "Decrements a number from the integer value of a key.",
        [usage("key decrement", "Decrement the integer value of a key by the given number")] },
    spec! { "incrbyfloat", IncrByFloat, 3, WRITE_DENYOOM_FAST, (1, 1, 1), "string", "2.6.0",
        "Increment the floating point value of a key by a number.",
        [usage("key increment", "Increment the float value of a key by the given amount")] },
    spec! { "append", Append, 3, WRITE_DENYOOM_FAST, (1, 1, 1), "string", "2.0.0",
        "Appends a string to the value of a key.",
        [usage("key value", "Append a value to a key")] },
    spec! { "strlen", StrLen, 2, READONLY_FAST, (1, 1, 1), "string", "2.2.0",
        "Returns the length of a string value.",
        [usage("key", "Get the length of the value stored in a key")] },
    spec! { "getrange", GetRange, 4, READONLY, (1, 1, 1), "string", "2.4.0",
        "Returns a substring of the string stored at a key.",
        [usage("key start end", "Get a substring of the string stored at a key")] },
    spec! { "setrange", SetRange, 4, WRITE_DENYOOM, (1, 1, 1), "string", "2.2.0",
        "Overwrites a part of a string value with another by an offset.",
        [usage("key offset value", "Overwrite part of a string at key starting at the specified offset")] },
    spec! { "expire", Expire, -3, WRITE_FAST, (1, 1, 1), "generic", "1.0.0",
        "Sets the expiration time of a key in seconds.",
        [usage("key seconds [NX|XX|GT|LT]", "Set a key's time to live in seconds")] },
    spec! { "pexpire", PExpire, -3, WRITE_FAST, (1, 1, 1), "generic", "2.6.0",
        "Sets the expiration time of a key in milliseconds.",
        [usage("key milliseconds [NX|XX|GT|LT]", "Set a key's time to live in milliseconds")] },
    spec! { "expireat", ExpireAt, -3, WRITE_FAST, (1, 1, 1), "generic", "1.2.0",
        "Sets the expiration time of a key to a Unix timestamp.",
        [usage("key unix-time-seconds [NX|XX|GT|LT]", "Set the expiration for a key as a UNIX timestamp")] },
    spec! { "pexpireat", PExpireAt, -3, WRITE_FAST, (1, 1, 1), "generic", "2.6.0",
        "Sets the expiration time of a key to a Unix milliseconds timestamp.",
        [usage(
            "key unix-time-milliseconds [NX|XX|GT|LT]",
            "Set the expiration for a key as a UNIX timestamp specified in milliseconds",
        )] },
    spec! { "ttl", Ttl, 2, READONLY_FAST, (1, 1, 1), "generic", "1.0.0",
        "Returns the expiration time in seconds of a key.",
        [usage("key", "Get the time to live for a key in seconds")] },
    spec! { "pttl", PTtl, 2, READONLY_FAST, (1, 1, 1), "generic", "2.6.0",
        "Returns the expiration time in milliseconds of a key.",
        [usage("key", "Get the time to live for a key in milliseconds")] },
    spec! { "expiretime", ExpireTime, 2, READONLY_FAST, (1, 1, 1), "generic", "7.0.0",
        "Returns the expiration time of a key as a Unix timestamp.",
        [usage("key", "Get the expiration Unix timestamp for a key")] },
    spec! { "pexpiretime", PExpireTime, 2, READONLY_FAST, (1, 1, 1), "generic", "7.0.0",
        "Returns the expiration time of a key as a Unix milliseconds timestamp.",
        [usage("key", "Get the expiration Unix timestamp for a key in milliseconds")] },
    spec! { "persist", Persist, 2, WRITE_FAST, (1, 1, 1), "generic", "2.2.0",
        "Removes the expiration time of a key.",
        [usage("key", "Remove the expiration from a key")] },
    spec! { "type", Type, 2, READONLY_FAST, (1, 1, 1), "generic", "1.0.0",
        "Determines the type of value stored at a key.",
        [usage("key", "Determine the type stored at key")] },
    spec! { "rename", Rename, 3, WRITE, (1, 2, 1), "generic", "1.0.0",
        "Renames a key and overwrites the destination.",
        [usage("key newkey", "Rename a key")] },
    spec! { "renamenx", RenameNx, 3, WRITE_FAST, (1, 2, 1), "generic", "1.0.0",
        "Renames a key only when the target key name doesn't exist.",
        [usage("key newkey", "Rename a key, only if the new key does not exist")] },
    spec! { "copy", Copy, -3, WRITE_DENYOOM, (1, 2, 1), "generic", "6.2.0",
        "Copies the value of a key to a new key.",
        [usage("source destination [DB destination-db] [REPLACE]", "Copy a key")] },
    spec! { "keys", Keys, 2, READONLY, (0, 0, 0), "generic", "1.0.0",
        "Returns all key names that match a pattern.",
        [usage("pattern", "Find all keys matching the given pattern")] },
    spec! { "scan", Scan, -2, READONLY, (0, 0, 0), "generic", "2.8.0",
        "Iterates over the key names in the database.",
        [usage("cursor [MATCH pattern] [COUNT count] [TYPE type]", "Incrementally iterate the keys space")] },
    spec! { "dbsize", DbSize, 1, READONLY_FAST, (0, 0, 0), "server", "1.0.0",
        "Returns the number of keys in the database.",
        [usage("", "Return the number of keys in the selected database")] },
    spec! { "flushdb", FlushDb, -1, WRITE, (0, 0, 0), "server", "1.0.0",
        "Removes all keys from the current database.",
        [usage("[ASYNC|SYNC]", "Remove all keys from the current database")] },
    spec! { "flushall", FlushAll, -1, WRITE, (0, 0, 0), "server", "1.0.0",
        "Removes all keys from all databases.",
        [usage("[ASYNC|SYNC]", "Remove all keys from all databases")] },
    spec! { "hset", HSet, -4, WRITE_DENYOOM_FAST, (1, 1, 1), "hash", "2.0.0",
        "Creates or modifies the value of a field in a hash.",
        [usage("key field value [field value ...]", "Set the string value of a hash field")] },
    spec! { "hmset", HMSet, -4, WRITE_DENYOOM_FAST, (1, 1, 1), "hash", "2.0.0",
        "Sets the values of multiple fields.",
        [usage("key field value [field value ...]", "Set multiple hash fields to multiple values")] },
    spec! { "hsetnx", HSetNx, 4, WRITE_DENYOOM_FAST, (1, 1, 1), "hash", "2.0.0",
        "Sets the value of a field in a hash only when the field doesn't exist.",
        [usage("key field value", "Set the value of a hash field, only if the field does not exist")] },
    spec! { "hget", HGet, 3, READONLY_FAST, (1, 1, 1), "hash", "2.0.0",
        "Returns the value of a field in a hash.",
        [usage("key field", "Get the value of a hash field")] },
    spec! { "hmget", HMGet, -3, READONLY_FAST, (1, 1, 1), "hash", "2.0.0",
        "Returns the values of all fields in a hash.",
        [usage("key field [field ...]", "Get the values of all the given hash fields")] },
    spec! { "hgetall", HGetAll, 2, READONLY, (1, 1, 1), "hash", "2.0.0",
        "Returns all fields and values in a hash.",
        [usage("key", "Get all the fields and values in a hash")] },
    spec! { "hkeys", HKeys, 2, READONLY, (1, 1, 1), "hash", "2.0.0",
        "Returns all fields in a hash.",
        [usage("key", "Get all the fields in a hash")] },
    spec! { "hvals", HVals, 2, READONLY, (1, 1, 1), "hash", "2.0.0",
        "Returns all values in a hash.",
        [usage("key", "Get all the values in a hash")] },
    spec! { "hdel", HDel, -3, WRITE_FAST, (1, 1, 1), "hash", "2.0.0",
        "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.",
        [usage("key field [field ...]", "Delete one or more hash fields")] },
    spec! { "hexists", HExists, 3, READONLY_FAST, (1, 1, 1), "hash", "2.0.0",
        "Determines whether a field exists in a hash.",
        [usage("key field", "Determine if a hash field exists")] },
    spec! { "hlen", HLen, 2, READONLY_FAST, (1, 1, 1), "hash", "2.0.0",
        "Returns the number of fields in a hash.",
        [usage("key", "Get the number of fields in a hash")] },
    spec! { "hstrlen", HStrLen, 3, READONLY_FAST, (1, 1, 1), "hash", "3.2.0",
        "Returns the length of the value of a field.",
        [usage("key field", "Get the length of the value of a hash field")] },
    spec! { "hincrby", HIncrBy, 4, WRITE_DENYOOM_FAST, (1, 1, 1), "hash", "2.0.0",
        "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.",
        [usage("key field increment", "Increment the integer value of a hash field by the given number")] },
    spec! { "hincrbyfloat", HIncrByFloat, 4, WRITE_DENYOOM_FAST, (1, 1, 1), "hash", "2.6.0",
        "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.",
        [usage("key field increment", "Increment the float value of a hash field by the given amount")] },
    spec! { "hscan", HScan, -3, READONLY, (1, 1, 1), "hash", "2.8.0",
        "Iterates over fields and values of a hash.",
        [usage("key cursor [MATCH pattern] [COUNT count]", "Incrementally iterate hash fields and associated values")] },
    spec! { "lpush", LPush, -3, WRITE_DENYOOM_FAST, (1, 1, 1), "list", "1.0.0",
        "Prepends one or more elements to a list. Creates the key if it doesn't exist.",
        [usage("key element [element ...]", "Prepend one or multiple elements to a list")] },
    spec! { "rpush", RPush, -3, WRITE_DENYOOM_FAST, (1, 1, 1), "list", "1.0.0",
        "Appends one or more elements to a list. Creates the key if it doesn't exist.",
        [usage("key element [element ...]", "Append one or multiple elements to a list")] },
    spec! { "lpushx", LPushX, -3, WRITE_DENYOOM_FAST, (1, 1, 1), "list", "2.2.0",
        "Prepends one or more elements to a list only when the list exists.",
        [usage("key element [element ...]", "Prepend an element to a list, only if the list exists")] },
    spec! { "rpushx", RPushX, -3, WRITE_DENYOOM_FAST, (1, 1, 1), "list", "2.2.0",
        "Appends an element to a list only when the list exists.",
        [usage("key element [element ...]", "Append an element to a list, only if the list exists")] },
    spec! { "lpop", LPop, -2, WRITE_FAST, (1, 1, 1), "list", "1.0.0",
        "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.",
        [usage("key [count]", "Remove and get the first elements in a list")] },
    spec! { "rpop", RPop, -2, WRITE_FAST, (1, 1, 1), "list", "1.0.0",
        "Returns and removes the last elements of the list. Deletes the list if the last element was popped.",
        [usage("key [count]", "Remove and get the last elements in a list")] },
    spec! { "llen", LLen, 2, READONLY_FAST, (1, 1, 1), "list", "1.0.0",
        "Returns the length of a list.",
        [usage("key", "Get the length of a list")] },
    spec! { "lrange", LRange, 4, READONLY, (1, 1, 1), "list", "1.0.0",
        "Returns a range of elements from a list.",
        [usage("key start stop", "Get a range of elements from a list")] },
    spec! { "lindex", LIndex, 3, READONLY, (1, 1, 1), "list", "1.0.0",
        "Returns an element from a list by its index.",
        [usage("key index", "Get an element from a list by its index")] },
    spec! { "lset", LSet, 4, WRITE_DENYOOM, (1, 1, 1), "list", "1.0.0",
        "Sets the value of an element in a list by its index.",
        [usage("key index element", "Set the value of an element in a list by its index")] },
    spec! { "linsert", LInsert, 5, WRITE_DENYOOM, (1, 1, 1), "list", "2.2.0",
        "Inserts an element before or after another element in a list.",
        [usage("key BEFORE|AFTER pivot element", "Insert an element before or after another element in a list")] },
    spec! { "lrem", LRem, 4, WRITE, (1, 1, 1), "list", "1.0.0",
        "Removes elements from a list. Deletes the list if the last element was removed.",
        [usage("key count element", "Remove elements from a list")] },
    spec! { "ltrim", LTrim, 4, WRITE, (1, 1, 1), "list", "1.0.0",
        "Removes elements from both ends a list. Deletes the list if all elements were trimmed.",
        [usage("key start stop", "Trim a list to the specified range")] },
    spec! { "lpos", LPos, -3, READONLY, (1, 1, 1), "list", "6.0.6",
        "Returns the index of matching elements in a list.",
        [usage("key element [RANK rank] [COUNT num-matches] [MAXLEN len]", "Return the index of matching elements on a list")] },
    spec! { "lmove", LMove, 5, WRITE_DENYOOM, (1, 2, 1), "list", "6.2.0",
        "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.",
        [usage("source destination LEFT|RIGHT LEFT|RIGHT", "Pop an element from a list, push it to another list and return it")] },
    spec! { "rpoplpush", RPopLPush, 3, WRITE_DENYOOM, (1, 2, 1), "list", "1.2.0",
        "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.",
        [usage("source destination", "Remove the last element in a list, prepend it to another list and return it")] },
    spec! { "sadd", SAdd, -3, WRITE_DENYOOM_FAST, (1, 1, 1), "set", "1.0.0",
        "Adds one or more members to a set. Creates the key if it doesn't exist.",
        [usage("key member [member ...]", "Add one or more members to a set")] },
    spec! { "srem", SRem, -3, WRITE_FAST, (1, 1, 1), "set", "1.0.0",
        "Removes one or more members from a set. Deletes the set if the last member was removed.",
        [usage("key member [member ...]", "Remove one or more members from a set")] },
    spec! { "smembers", SMembers, 2, READONLY, (1, 1, 1), "set", "1.0.0",
        "Returns all members of a set.",
        [usage("key", "Get all the members in a set")] },
    spec! { "sismember", SIsMember, 3, READONLY_FAST, (1, 1, 1), "set", "1.0.0",
        "Determines whether a member belongs to a set.",
        [usage("key member", "Determine if a given value is a member of a set")] },
    spec! { "smismember", SMIsMember, -3, READONLY_FAST, (1, 1, 1), "set", "6.2.0",
        "Determines whether multiple members belong to a set.",
        [usage("key member [member ...]", "Returns the membership associated with the given elements for a set")] },
    spec! { "scard", SCard, 2, READONLY_FAST, (1, 1, 1), "set", "1.0.0",
        "Returns the number of members in a set.",
        [usage("key", "Get the number of members in a set")] },
    spec! { "sinter", SInter, -2, READONLY, (1, -1, 1), "set", "1.0.0",
        "Returns the intersect of multiple sets.",
        [usage("key [key ...]", "Intersect multiple sets")] },
    spec! { "sunion", SUnion, -2, READONLY, (1, -1, 1), "set", "1.0.0",
        "Returns the union of multiple sets.",
        [usage("key [key ...]", "Add multiple sets")] },
    spec! { "sdiff", SDiff, -2, READONLY, (1, -1, 1), "set", "1.0.0",
        "Returns the difference of multiple sets.",
        [usage("key [key ...]", "Subtract multiple sets")] },
    spec! { "sinterstore", SInterStore, -3, WRITE_DENYOOM, (1, -1, 1), "set", "1.0.0",
        "Stores the intersect of multiple sets in a key.",
        [usage("destination key [key ...]", "Intersect multiple sets and store the resulting set in a key")] },
    spec! { "sunionstore", SUnionStore, -3, WRITE_DENYOOM, (1, -1, 1), "set", "1.0.0",
        "Stores the union of multiple sets in a key.",
        [usage("destination key [key ...]", "Add multiple sets and store the resulting set in a key")] },
    spec! { "sdiffstore", SDiffStore, -3, WRITE_DENYOOM, (1, -1, 1), "set", "1.0.0",
        "Stores the difference of multiple sets in a key.",
        [usage("destination key [key ...]", "Subtract multiple sets and store the resulting set in a key")] },
    spec! { "sintercard", SInterCard, -3, READONLY, (0, 0, 0), "set", "7.0.0",
        "Returns the number of members of the intersect of multiple sets.",
        [usage("numkeys key [key ...] [LIMIT limit]", "Intersect multiple sets and return the cardinality of the result")] },
    spec! { "smove", SMove, 4, WRITE_FAST, (1, 2, 1), "set", "1.0.0",
        "Moves a member from one set to another.",
        [usage("source destination member", "Move a member from one set to another")] },
    spec! { "sscan", SScan, -3, READONLY, (1, 1, 1), "set", "2.8.0",
        "Iterates over members of a set.",
        [usage("key cursor [MATCH pattern] [COUNT count]", "Incrementally iterate Set elements")] },
    spec! { "zadd", ZAdd, -4, WRITE_DENYOOM_FAST, (1, 1, 1), "sorted-set", "1.2.0",
        "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.",
        [usage("key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]", "Add one or more members to a sorted set, or update its score if it already exists")] },
    spec! { "zrem", ZRem, -3, WRITE_FAST, (1, 1, 1), "sorted-set", "1.2.0",
        "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.",
        [usage("key member [member ...]", "Remove one or more members from a sorted set")] },
    spec! { "zscore", ZScore, 3, READONLY_FAST, (1, 1, 1), "sorted-set", "1.2.0",
        "Returns the score of a member in a sorted set.",
        [usage("key member", "Get the score associated with the given member in a sorted set")] },
    spec! { "zmscore", ZMScore, -3, READONLY_FAST, (1, 1, 1), "sorted-set", "6.2.0",
        "Returns the score of one or more members in a sorted set.",
        [usage("key member [member ...]", "Get the score associated with the given members in a sorted set")] },
    spec! { "zincrby", ZIncrBy, 4, WRITE_DENYOOM_FAST, (1, 1, 1), "sorted-set", "1.2.0",
        "Increments the score of a member in a sorted set.",
        [usage("key increment member", "Increment the score of a member in a sorted set")] },
    spec! { "zcard", ZCard, 2, READONLY_FAST, (1, 1, 1), "sorted-set", "1.2.0",
        "Returns the number of members in a sorted set.",
        [usage("key", "Get the number of members in a sorted set")] },
    spec! { "zcount", ZCount, 4, READONLY_FAST, (1, 1, 1), "sorted-set", "2.0.0",
        "Returns the count of members in a sorted set that have scores within a range.",
        [usage("key min max", "Count the members in a sorted set with scores within the given values")] },
    spec! { "zlexcount", ZLexCount, 4, READONLY_FAST, (1, 1, 1), "sorted-set", "2.8.9",
        "Returns the number of members in a sorted set within a lexicographical range.",
        [usage("key min max", "Count the number of members in a sorted set between a given lexicographical range")] },
    spec! { "zrange", ZRange, -4, READONLY, (1, 1, 1), "sorted-set", "1.2.0",
        "Returns members in a sorted set within a range of indexes.",
        [usage("key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]", "Return a range of members in a sorted set")] },
    spec! { "zrevrange", ZRevRange, -4, READONLY, (1, 1, 1), "sorted-set", "1.2.0",
        "Returns members in a sorted set within a range of indexes in reverse order.",
        [usage("key start stop [WITHSCORES]", "Return a range of members in a sorted set, by index, with scores ordered from high to low")] },
    spec! { "zrangebyscore", ZRangeByScore, -4, READONLY, (1, 1, 1), "sorted-set", "1.0.5",
        "Returns members in a sorted set within a range of scores.",
        [usage("key min max [WITHSCORES] [LIMIT offset count]", "Return a range of members in a sorted set, by score")] },
    spec! { "zrevrangebyscore", ZRevRangeByScore, -4, READONLY, (1, 1, 1), "sorted-set", "2.2.0",
        "Returns members in a sorted set within a range of scores in reverse order.",
        [usage("key max min [WITHSCORES] [LIMIT offset count]", "Return a range of members in a sorted set, by score, with scores ordered from high to low")] },
    spec! { "zrangebylex", ZRangeByLex, -4, READONLY, (1, 1, 1), "sorted-set", "2.8.9",
        "Returns members in a sorted set within a lexicographical range.",
        [usage("key min max [LIMIT offset count]", "Return a range of members in a sorted set, by lexicographical range")] },
    spec! { "zrevrangebylex", ZRevRangeByLex, -4, READONLY, (1, 1, 1), "sorted-set", "2.8.9",
        "Returns members in a sorted set within a lexicographical range in reverse order.",
        [usage("key max min [LIMIT offset count]", "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.")] },
    spec! { "zrangestore", ZRangeStore, -5, WRITE_DENYOOM, (1, 2, 1), "sorted-set", "6.2.0",
        "Stores a range of members from sorted set in a key.",
        [usage("dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]", "Store a range of members from sorted set into another key")] },
    spec! { "zrank", ZRank, 3, READONLY_FAST, (1, 1, 1), "sorted-set", "2.0.0",
        "Returns the index of a member in a sorted set ordered by ascending scores.",
        [usage("key member", "Determine the index of a member in a sorted set")] },
    spec! { "zrevrank", ZRevRank, 3, READONLY_FAST, (1, 1, 1), "sorted-set", "2.0.0",
        "Returns the index of a member in a sorted set ordered by descending scores.",
        [usage("key member", "Determine the index of a member in a sorted set, with scores ordered from high to low")] },
    spec! { "zremrangebyrank", ZRemRangeByRank, 4, WRITE, (1, 1, 1), "sorted-set", "2.0.0",
        "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.",
        [usage("key start stop", "Remove all members in a sorted set within the given indexes")] },
    spec! { "zremrangebyscore", ZRemRangeByScore, 4, WRITE, (1, 1, 1), "sorted-set", "1.2.0",
        "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.",
        [usage("key min max", "Remove all members in a sorted set within the given scores")] },
    spec! { "zremrangebylex", ZRemRangeByLex, 4, WRITE, (1, 1, 1), "sorted-set", "2.8.9",
        "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.",
        [usage("key min max", "Remove all members in a sorted set between the given lexicographical range")] },
    spec! { "zpopmin", ZPopMin, -2, WRITE_FAST, (1, 1, 1), "sorted-set", "5.0.0",
        "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
        [usage("key [count]", "Remove and return members with the lowest scores in a sorted set")] },
    spec! { "zpopmax", ZPopMax, -2, WRITE_FAST, (1, 1, 1), "sorted-set", "5.0.0",
        "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
        [usage("key [count]", "Remove and return members with the highest scores in a sorted set")] },
    spec! { "zunion", ZUnion, -3, READONLY, (0, 0, 0), "sorted-set", "6.2.0",
        "Returns the union of multiple sorted sets.",
        [usage("numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]", "Add multiple sorted sets")] },
    spec! { "zinter", ZInter, -3, READONLY, (0, 0, 0), "sorted-set", "6.2.0",
        "Returns the intersect of multiple sorted sets.",
        [usage("numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]", "Intersect multiple sorted sets")] },
    spec! { "zdiff", ZDiff, -3, READONLY, (0, 0, 0), "sorted-set", "6.2.0",
        "Returns the difference between multiple sorted sets.",
        [usage("numkeys key [key ...] [WITHSCORES]", "Subtract multiple sorted sets")] },
    spec! { "zunionstore", ZUnionStore, -4, WRITE_DENYOOM, (1, 1, 1), "sorted-set", "2.0.0",
        "Stores the union of multiple sorted sets in a key.",
        [usage("destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX]", "Add multiple sorted sets and store the resulting sorted set in a new key")] },
    spec! { "zinterstore", ZInterStore, -4, WRITE_DENYOOM, (1, 1, 1), "sorted-set", "2.0.0",
        "Stores the intersect of multiple sorted sets in a key.",
        [usage("destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX]", "Intersect multiple sorted sets and store the resulting sorted set in a new key")] },
    spec! { "zdiffstore", ZDiffStore, -4, WRITE_DENYOOM, (1, 1, 1), "sorted-set", "6.2.0",
        "Stores the difference of multiple sorted sets in a key.",
        [usage("destination numkeys key [key ...]", "Subtract multiple sorted sets and store the resulting sorted set in a new key")] },
    spec! { "zscan", ZScan, -3, READONLY, (1, 1, 1), "sorted-set", "2.8.0",
        "Iterates over members and scores of a sorted set.",
        [usage("key cursor [MATCH pattern] [COUNT count]", "Incrementally iterate sorted sets elements and associated scores")] },
    spec! { "spop", SPop, -2, WRITE_FAST, (1, 1, 1), "set", "1.0.0",
        "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.",
        [usage("key [count]", "Remove and return one or multiple random members from a set")] },
    spec! { "srandmember", SRandMember, -2, READONLY, (1, 1, 1), "set", "1.0.0",
        "Get one or multiple random members from a set",
        [usage("key [count]", "Get one or multiple random members from a set")] },
    spec! { "hrandfield", HRandField, -2, READONLY, (1, 1, 1), "hash", "6.2.0",
        "Returns one or more random fields from a hash.",
        [usage("key [count [WITHVALUES]]", "Get one or multiple random fields from a hash")] },
    spec! { "zrandmember", ZRandMember, -2, READONLY, (1, 1, 1), "sorted-set", "6.2.0",
        "Returns one or more random members from a sorted set.",
        [usage("key [count [WITHSCORES]]", "Get one or multiple random elements from a sorted set")] },
    spec! { "randomkey", RandomKey, 1, READONLY, (0, 0, 0), "generic", "1.0.0",
        "Returns a random key name from the database.",
        [usage("", "Return a random key from the keyspace")] },
    spec! { "touch", Touch, -2, READONLY_FAST, (1, -1, 1), "generic", "3.2.1",
        "Returns the number of existing keys out of those specified after updating the time they were last accessed.",
        [usage("key [key ...]", "Alters the last access time of a key(s). Returns the number of existing keys specified.")] },
    spec! { "object", Object, -2, NONE, (0, 0, 0), "generic", "2.2.3",
        "A container for object introspection commands.",
        [
            subcommand("ENCODING", "key", "Inspect the internal encoding of a Redis object"),
            subcommand("FREQ", "key", "Get the logarithmic access frequency counter of a Redis object"),
            subcommand("IDLETIME", "key", "Get the time since a Redis object was last accessed"),
            subcommand("REFCOUNT", "key", "Get the number of references to the value of the key"),
        ] },
    spec! { "memory", Memory, -2, NONE, (0, 0, 0), "server", "4.0.0",
        "A container for memory diagnostics commands.",
        [subcommand("USAGE", "key [SAMPLES count]", "Estimate the memory usage of a key")] },
    spec! { "lcs", Lcs, -3, READONLY, (1, 2, 1), "string", "7.0.0",
        "Finds the longest common substring.",
        [usage("key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]", "Find longest common substring")] },
    spec! { "blpop", BLPop, -3, WRITE_BLOCKING, (1, -2, 1), "list", "2.0.0",
        "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        [usage("key [key ...] timeout", "Remove and get the first element in a list, or block until one is available")] },
    spec! { "brpop", BRPop, -3, WRITE_BLOCKING, (1, -2, 1), "list", "2.0.0",
        "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        [usage("key [key ...] timeout", "Remove and get the last element in a list, or block until one is available")] },
    spec! { "blmove", BLMove, 6, WRITE_DENYOOM_BLOCKING, (1, 2, 1), "list", "6.2.0",
        "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.",
        [usage("source destination LEFT|RIGHT LEFT|RIGHT timeout", "Pop an element from a list, push it to another list and return it; or block until one is available")] },
    spec! { "brpoplpush", BRPopLPush, 4, WRITE_DENYOOM_BLOCKING, (1, 2, 1), "list", "2.2.0",
        "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.",
        [usage("source destination timeout", "Pop an element from a list, push it to another list and return it; or block until one is available")] },
    spec! { "bzpopmin", BZPopMin, -3, WRITE_FAST_BLOCKING, (1, -2, 1), "sorted-set", "5.0.0",
        "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
        [usage("key [key ...] timeout", "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available")] },
    spec! { "bzpopmax", BZPopMax, -3, WRITE_FAST_BLOCKING, (1, -2, 1), "sorted-set", "5.0.0",
        "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.",
        [usage("key [key ...] timeout", "Remove and return the member with the highest score from one or more sorted sets, or block until one is available")] },
    spec! { "publish", Publish, 3, WRITE_PUBSUB, (0, 0, 0), "pubsub", "2.0.0",
        "Posts a message to a channel (through the log, so that it reaches subscribers on every node).",
        [usage("channel message", "Post a message to a channel")] },
    spec! { "setbit", SetBit, 4, WRITE_DENYOOM, (1, 1, 1), "bitmap", "2.2.0",
        "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.",
        [usage("key offset value", "Sets or clears the bit at offset in the string value stored at key")] },
    spec! { "getbit", GetBit, 3, READONLY_FAST, (1, 1, 1), "bitmap", "2.2.0",
        "Returns a bit value by offset.",
        [usage("key offset", "Returns the bit value at offset in the string value stored at key")] },
    spec! { "bitcount", BitCount, -2, READONLY, (1, 1, 1), "bitmap", "2.6.0",
        "Counts the number of set bits (population counting) in a string.",
        [usage("key [start end [BYTE|BIT]]", "Count set bits in a string")] },
    spec! { "bitpos", BitPos, -3, READONLY, (1, 1, 1), "bitmap", "2.8.7",
        "Finds the first set (1) or clear (0) bit in a string.",
        [usage("key bit [start [end [BYTE|BIT]]]", "Find first bit set or clear in a string")] },
    spec! { "bitop", BitOp, -4, WRITE_DENYOOM, (2, -1, 1), "bitmap", "2.6.0",
        "Performs bitwise operations on multiple strings, and stores the result.",
        [usage("AND|OR|XOR|NOT destkey key [key ...]", "Perform bitwise operations between strings")] },
    spec! { "multi", server, 1, CONNECTION, (0, 0, 0), "transactions", "1.2.0",
        "Starts a transaction.",
        [usage("", "Mark the start of a transaction block")] },
    spec! { "exec", server, 1, CONNECTION_SLOW, (0, 0, 0), "transactions", "1.2.0",
        "Executes all commands in a transaction.",
        [usage("", "Execute all commands issued after MULTI")] },
    spec! { "discard", server, 1, CONNECTION, (0, 0, 0), "transactions", "2.0.0",
        "Discards a transaction.",
        [usage("", "Discard all commands issued after MULTI")] },
    spec! { "watch", server, -2, CONNECTION, (1, -1, 1), "transactions", "2.2.0",
        "Monitors changes to keys to determine the execution of a transaction.",
        [usage("key [key ...]", "Watch the given keys to determine execution of the MULTI/EXEC block")] },
    spec! { "unwatch", server, 1, CONNECTION, (0, 0, 0), "transactions", "2.2.0",
        "Forgets about watched keys of a transaction.",
        [usage("", "Forget about all watched keys")] },
    spec! { "ping", server, -1, CONNECTION, (0, 0, 0), "connection", "1.0.0",
        "Returns the server's liveliness response.",
        [usage("[message]", "Ping the server")] },
    spec! { "echo", server, 2, CONNECTION, (0, 0, 0), "connection", "1.0.0",
        "Returns the given string.",
        [usage("message", "Echo the given string")] },
    spec! { "hello", server, -1, CONNECTION, (0, 0, 0), "connection", "6.0.0",
        "Handshakes with the Redis server.",
        [usage("[protover [AUTH username password] [SETNAME clientname]]", "Handshake with Redis")] },
    spec! { "auth", server, -2, CONNECTION, (0, 0, 0), "connection", "1.0.0",
        "Authenticates the connection.",
        [] },
    spec! { "select", server, 2, CONNECTION, (0, 0, 0), "connection", "1.0.0",
        "Changes the selected database.",
        [usage("index", "Change the selected database for the current connection")] },
    spec! { "client", server, -2, CONNECTION_SLOW, (0, 0, 0), "connection", "2.4.0",
        "A container for client connection commands.",
        [
            subcommand("ID", "", "Returns the client ID for the current connection"),
            subcommand("INFO", "", "Returns information about the current client connection."),
            subcommand(
                "LIST",
                "[TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID client-id [client-id ...]]",
                "Get the list of client connections",
            ),
            subcommand("GETNAME", "", "Get the current connection name"),
            subcommand("SETNAME", "connection-name", "Set the current connection name"),
        ] },
    spec! { "quit", server, -1, CONNECTION, (0, 0, 0), "connection", "1.0.0",
        "Closes the connection.",
        [usage("", "Close the connection")] },
    spec! { "reset", server, 1, CONNECTION, (0, 0, 0), "connection", "6.2.0",
        "Resets the connection.",
        [usage("", "Reset the connection")] },
    spec! { "info", server, -1, CONNECTION_SLOW, (0, 0, 0), "server", "1.0.0",
        "Returns information and statistics about the server.",
        [usage("[section [section ...]]", "Get information and statistics about the server")] },
    spec! { "config", server, -2, CONNECTION_SLOW, (0, 0, 0), "server", "2.0.0",
        "A container for server configuration commands.",
        [
            subcommand("GET", "parameter [parameter ...]", "Get the values of configuration parameters"),
            subcommand(
                "SET",
                "parameter value [parameter value ...]",
                "Set configuration parameters to the given values",
            ),
            subcommand("RESETSTAT", "", "Reset the stats returned by INFO"),
        ] },
    spec! { "command", server, -1, CONNECTION_SLOW, (0, 0, 0), "server", "2.8.13",
        "Returns detailed information about all commands.",
        [
            usage("", "Get array of Redis command details"),
            subcommand("COUNT", "", "Get total number of Redis commands"),
            subcommand(
                "DOCS",
                "[command-name [command-name ...]]",
                "Get array of specific Redis command documentation",
            ),
            subcommand(
                "INFO",
                "[command-name [command-name ...]]",
                "Get array of specific Redis command details",
            ),
            subcommand(
                "LIST",
                "[FILTERBY MODULE module-name|ACLCAT category|PATTERN pattern]",
                "Get an array of Redis command names",
            ),
        ] },
    spec! { "readonly", server, 1, CONNECTION, (0, 0, 0), "cluster", "3.0.0",
        "Enables stale reads from this node's own state for the connection.",
        [] },
    spec! { "readwrite", server, 1, CONNECTION, (0, 0, 0), "cluster", "3.0.0",
        "Turns stale reads off again: reads are linearizable.",
        [] },
    spec! { "save", server, 1, CONNECTION_SLOW, (0, 0, 0), "server", "1.0.0",
        "Builds a snapshot of the keyspace now and waits for it (redraft's snapshots are its RDB).",
        [] },
    spec! { "bgsave", server, -1, CONNECTION_SLOW, (0, 0, 0), "server", "1.0.0",
        "Starts building a snapshot of the keyspace and returns at once.",
        [] },
    spec! { "lastsave", server, 1, CONNECTION_SLOW, (0, 0, 0), "server", "1.0.0",
        "The Unix time of the last snapshot this node built or installed, or of its start.",
        [] },
    spec! { "raft.info", server, 1, CONNECTION_SLOW, (0, 0, 0), "cluster", "0.1.0",
        "Shows this node's view of the Raft cluster: role, leader, indexes, members and their lag.",
        [] },
    spec! { "raft.add", server, -4, CONNECTION_SLOW, (0, 0, 0), "cluster", "0.1.0",
        "Adds a node (id raft-addr resp-addr [LEARNER]); it catches up, then becomes a voter.",
        [] },
    spec! { "raft.promote", server, 2, CONNECTION_SLOW, (0, 0, 0), "cluster", "0.1.0",
        "Makes a learner a voter.",
        [] },
    spec! { "raft.remove", server, 2, CONNECTION_SLOW, (0, 0, 0), "cluster", "0.1.0",
        "Removes a node from the cluster.",
        [] },
    spec! { "time", server, 1, CONNECTION, (0, 0, 0), "server", "2.6.0",
        "Returns the server time.",
        [usage("", "Return the current server time")] },
    spec! { "function", server, -2, CONNECTION_SLOW, (0, 0, 0), "scripting", "7.0.0",
        "A container for function commands (redraft has no functions yet; FLUSH is accepted).",
        [subcommand("FLUSH", "[ASYNC|SYNC]", "Deleting all functions")] },
    spec! { "subscribe", server, -2, PUBSUB, (0, 0, 0), "pubsub", "2.0.0",
        "Listens for messages published to channels.",
        [usage("channel [channel ...]", "Listen for messages published to the given channels")] },
    spec! { "psubscribe", server, -2, PUBSUB, (0, 0, 0), "pubsub", "2.0.0",
        "Listens for messages published to channels that match one or more patterns.",
        [usage("pattern [pattern ...]", "Listen for messages published to channels matching the given patterns")] },
    spec! { "unsubscribe", server, -1, PUBSUB, (0, 0, 0), "pubsub", "2.0.0",
        "Stops listening to messages posted to channels.",
        [usage("[channel [channel ...]]", "Stop listening for messages posted to the given channels")] },
    spec! { "punsubscribe", server, -1, PUBSUB, (0, 0, 0), "pubsub", "2.0.0",
        "Stops listening to messages published to channels that match one or more patterns.",
        [usage("[pattern [pattern ...]]", "Stop listening for messages posted to channels matching the given patterns")] },
    spec! { "pubsub", server, -2, CONNECTION_SLOW, (0, 0, 0), "pubsub", "2.8.0",
        "A container for Pub/Sub commands (this node's subscribers).",
        [
            subcommand("CHANNELS", "[pattern]", "List active channels"),
            subcommand("NUMSUB", "[channel [channel ...]]", "Get the count of subscribers for channels"),
            subcommand("NUMPAT", "", "Get the count of unique patterns pattern subscriptions"),
        ] },
    spec! { "acl", server, -2, CONNECTION_SLOW, (0, 0, 0), "server", "6.0.0",
        "A container for Access List Control commands.",
        [
            subcommand("SETUSER", "username [rule [rule ...]]", "Modify or create the rules for a specific ACL user"),
            subcommand("GETUSER", "username", "Get the rules for a specific ACL user"),
            subcommand("DELUSER", "username [username ...]", "Remove the specified ACL users and the associated rules"),
            subcommand("LIST", "", "List the current ACL rules in ACL config file format"),
            subcommand("USERS", "", "List the username of all the configured ACL rules"),
            subcommand("WHOAMI", "", "Return the name of the user associated to the current connection"),
            subcommand("CAT", "[categoryname]", "List the ACL categories or the commands inside a category"),
            subcommand("LOG", "[count|RESET]", "List latest events denied because of ACLs in place"),
            subcommand("GENPASS", "[bits]", "Generate a pseudorandom secure password to use for ACL users"),
        ] },
];

// The data commands lead `COMMANDS` in `CommandName::ALL`'s order and no other entry names one,
// so `CommandName::spec` can index the table and every variant has exactly one entry; a table
// that breaks this does not compile.
const _: () = {
    assert!(COMMANDS.len() >= CommandName::ALL.len(), "every CommandName has an entry");
    let mut index = 0;
    while index < COMMANDS.len() {
        match COMMANDS[index].data {
            Some(name) => assert!(name as usize == index, "data commands lead the table in variant order"),
            None => assert!(index >= CommandName::ALL.len(), "every CommandName has an entry"),
        }
        index += 1;
    }
};

const WRITE_DENYOOM: &[Flag] = &[Flag::Write, Flag::DenyOom];
const WRITE_DENYOOM_FAST: &[Flag] = &[Flag::Write, Flag::DenyOom, Flag::Fast];
const WRITE: &[Flag] = &[Flag::Write];
const WRITE_FAST: &[Flag] = &[Flag::Write, Flag::Fast];
const READONLY: &[Flag] = &[Flag::ReadOnly];
const WRITE_BLOCKING: &[Flag] = &[Flag::Write, Flag::Blocking];
const WRITE_DENYOOM_BLOCKING: &[Flag] = &[Flag::Write, Flag::DenyOom, Flag::Blocking];
const WRITE_FAST_BLOCKING: &[Flag] = &[Flag::Write, Flag::Fast, Flag::Blocking];
/// PUBLISH: Redis's flags, and `write` because it goes through the log.
const WRITE_PUBSUB: &[Flag] = &[Flag::Write, Flag::PubSub, Flag::Loading, Flag::Stale, Flag::Fast];
/// SUBSCRIBE and the like.
const PUBSUB: &[Flag] = &[Flag::PubSub, Flag::NoScript, Flag::Loading, Flag::Stale];
/// Containers of subcommands (OBJECT, MEMORY), flagged by their subcommands, as Redis does.
const NONE: &[Flag] = &[];
const READONLY_FAST: &[Flag] = &[Flag::ReadOnly, Flag::Fast];
/// Connection and server commands, as Redis flags PING or MULTI.
const CONNECTION: &[Flag] = &[Flag::NoScript, Flag::Loading, Flag::Stale, Flag::Fast];
/// Connection and server commands that are not O(1), as Redis flags INFO or CLIENT.
const CONNECTION_SLOW: &[Flag] = &[Flag::NoScript, Flag::Loading, Flag::Stale];

/// The CLI line for the command itself.
const fn usage(syntax: &'static str, summary: &'static str) -> Usage {
    Usage { subcommand: "", syntax, summary }
}

/// The CLI line for one subcommand.
const fn subcommand(subcommand: &'static str, syntax: &'static str, summary: &'static str) -> Usage {
    Usage { subcommand, syntax, summary }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `CommandName` has exactly one entry, found by its own name, and every entry that
    /// names a data command names one that exists: checked from both sides, on top of the
    /// compile-time check of the table's order.
    #[test]
    fn every_command_name_has_exactly_one_entry() {
        for &name in CommandName::ALL {
            let entries: Vec<&CommandSpec> = COMMANDS.iter().filter(|s| s.data == Some(name)).collect();
            assert_eq!(entries.len(), 1, "{name:?} has {} entries", entries.len());
            assert_eq!(find(entries[0].name.as_bytes()).and_then(|s| s.data), Some(name));
            assert_eq!(name.spec(), entries[0]);
        }
        for spec in COMMANDS {
            if let Some(name) = spec.data {
                assert!(CommandName::ALL.contains(&name), "{} names a command not in ALL", spec.name);
            }
        }
    }

    /// A data command without a usage line would get no hint or `help` in redraft-cli.
    #[test]
    fn every_data_command_has_a_usage_line() {
        for &name in CommandName::ALL {
            assert!(!name.spec().usage.is_empty(), "{} has no usage line", name.as_str());
        }
    }

    /// Names are unique and lower case, so `find` is unambiguous and labels are stable.
    /// Every entry is found by its name in any case, and nothing else is: not a prefix, not a
    /// name with a byte more, not a name longer than any command's.
    #[test]
    fn every_entry_is_found_by_its_name_in_any_case() {
        for (at, spec) in COMMANDS.iter().enumerate() {
            assert_eq!(position(spec.name.as_bytes()), Some(at));
            assert_eq!(position(spec.name.to_ascii_uppercase().as_bytes()), Some(at));
            // A name a byte shorter or longer is found only if it is another command's own name
            // (LPUSH and LPUSHX).
            let named = |name: &str| COMMANDS.iter().position(|s| s.name == name);
            let shorter = &spec.name[..spec.name.len() - 1];
            assert_eq!(position(shorter.as_bytes()), named(shorter), "{}", spec.name);
            let longer = format!("{}x", spec.name);
            assert_eq!(position(longer.as_bytes()), named(&longer), "{}", spec.name);
        }
        assert_eq!(position(b""), None);
        assert_eq!(position(&[b'a'; 100]), None);
    }

    #[test]
    fn names_are_unique_and_lower_case() {
        let mut names: Vec<&str> = COMMANDS.iter().map(|s| s.name).collect();
        assert!(names.iter().all(|n| *n == n.to_ascii_lowercase()));
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count);
        assert_eq!(find(b"GeT").map(|s| s.name), Some("get"));
        assert_eq!(find(b"nosuch"), None);
    }

    /// Arity follows Redis: positive is exact, negative a minimum, the name counted.
    #[test]
    fn arity_is_exact_or_a_minimum() {
        let get = CommandName::Get.spec();
        assert!(!get.accepts_arg_count(1) && get.accepts_arg_count(2) && !get.accepts_arg_count(3));
        let set = CommandName::Set.spec();
        assert!(!set.accepts_arg_count(2) && set.accepts_arg_count(3) && set.accepts_arg_count(9));
    }
}
