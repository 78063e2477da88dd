//! The commands the server knows, as `COMMAND` describes them (Redis 7's arity, flags and key
//! positions, enough for redis-cli's hints and for client libraries that route by key), and the
//! bounded set of names metrics are labelled with.

use redraft_net::resp::Frame;

/// One command as `COMMAND INFO` and `COMMAND DOCS` describe it.
pub struct CommandSpec {
    pub name: &'static str,
    /// Redis's arity: exact when positive, a minimum when negative; the name counts.
    pub arity: i64,
    pub flags: &'static [&'static str],
    pub first_key: i64,
    pub last_key: i64,
    pub step: i64,
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
}

const W: &[&str] = &["write", "denyoom"];
const WF: &[&str] = &["write", "denyoom", "fast"];
const WD: &[&str] = &["write"];
const WDF: &[&str] = &["write", "fast"];
const R: &[&str] = &["readonly"];
const RF: &[&str] = &["readonly", "fast"];
const C: &[&str] = &["noscript", "loading", "stale", "fast"];
const CS: &[&str] = &["noscript", "loading", "stale"];

macro_rules! spec {
    ($name:literal, $arity:literal, $flags:ident, $first:literal, $last:literal, $step:literal, $group:literal, $since:literal, $summary:literal) => {
        CommandSpec {
            name: $name,
            arity: $arity,
            flags: $flags,
            first_key: $first,
            last_key: $last,
            step: $step,
            group: $group,
            since: $since,
            summary: $summary,
        }
    };
}

/// Every command, in the order `COMMAND` lists them.
pub const COMMANDS: &[CommandSpec] = &[
    spec!("get", 2, RF, 1, 1, 1, "string", "1.0.0", "Returns the string value of a key."),
    spec!("set", -3, W, 1, 1, 1, "string", "1.0.0", "Sets the string value of a key, ignoring its type."),
    spec!(
        "setnx",
        3,
        WF,
        1,
        1,
        1,
        "string",
        "1.0.0",
        "Set the string value of a key only when the key doesn't exist."
    ),
    spec!("setex", 4, W, 1, 1, 1, "string", "2.0.0", "Sets the string value and expiration time of a key."),
    spec!(
        "psetex",
        4,
        W,
        1,
        1,
        1,
        "string",
        "2.6.0",
        "Sets both string value and expiration time in milliseconds of a key."
    ),
    spec!(
        "getset",
        3,
        WF,
        1,
        1,
        1,
        "string",
        "1.0.0",
        "Returns the previous string value of a key after setting it to a new value."
    ),
    spec!(
        "getdel",
        2,
        WDF,
        1,
        1,
        1,
        "string",
        "6.2.0",
        "Returns the string value of a key after deleting the key."
    ),
    spec!(
        "getex",
        -2,
        WDF,
        1,
        1,
        1,
        "string",
        "6.2.0",
        "Returns the string value of a key after setting its expiration time."
    ),
    spec!(
        "mget",
        -2,
        RF,
        1,
        -1,
        1,
        "string",
        "1.0.0",
        "Atomically returns the string values of one or more keys."
    ),
    spec!(
        "mset",
        -3,
        W,
        1,
        -1,
        2,
        "string",
        "1.0.1",
        "Atomically creates or modifies the string values of one or more keys."
    ),
    spec!(
        "msetnx",
        -3,
        W,
        1,
        -1,
        2,
        "string",
        "1.0.1",
        "Atomically modifies the string values of one or more keys only when all keys don't exist."
    ),
    spec!("del", -2, WD, 1, -1, 1, "generic", "1.0.0", "Deletes one or more keys."),
    spec!("unlink", -2, WDF, 1, -1, 1, "generic", "4.0.0", "Asynchronously deletes one or more keys."),
    spec!("exists", -2, RF, 1, -1, 1, "generic", "1.0.0", "Determines whether one or more keys exist."),
    spec!("incr", 2, WF, 1, 1, 1, "string", "1.0.0", "Increments the integer value of a key by one."),
    spec!("decr", 2, WF, 1, 1, 1, "string", "1.0.0", "Decrements the integer value of a key by one."),
    spec!("incrby", 3, WF, 1, 1, 1, "string", "1.0.0", "Increments the integer value of a key by a number."),
    spec!(
        "decrby",
        3,
        WF,
        1,
        1,
        1,
        "string",
        "1.0.0",
        "Decrements a number from the integer value of a key."
    ),
    spec!(
        "incrbyfloat",
        3,
        WF,
        1,
        1,
        1,
        "string",
        "2.6.0",
        "Increment the floating point value of a key by a number."
    ),
    spec!("append", 3, WF, 1, 1, 1, "string", "2.0.0", "Appends a string to the value of a key."),
    spec!("strlen", 2, RF, 1, 1, 1, "string", "2.2.0", "Returns the length of a string value."),
    spec!("getrange", 4, R, 1, 1, 1, "string", "2.4.0", "Returns a substring of the string stored at a key."),
    spec!(
        "setrange",
        4,
        W,
        1,
        1,
        1,
        "string",
        "2.2.0",
        "Overwrites a part of a string value with another by an offset."
    ),
    spec!("expire", -3, WDF, 1, 1, 1, "generic", "1.0.0", "Sets the expiration time of a key in seconds."),
    spec!(
        "pexpire",
        -3,
        WDF,
        1,
        1,
        1,
        "generic",
        "2.6.0",
        "Sets the expiration time of a key in milliseconds."
    ),
    spec!(
        "expireat",
        -3,
        WDF,
        1,
        1,
        1,
        "generic",
        "1.2.0",
        "Sets the expiration time of a key to a Unix timestamp."
    ),
    spec!(
        "pexpireat",
        -3,
        WDF,
        1,
        1,
        1,
        "generic",
        "2.6.0",
        "Sets the expiration time of a key to a Unix milliseconds timestamp."
    ),
    spec!("ttl", 2, RF, 1, 1, 1, "generic", "1.0.0", "Returns the expiration time in seconds of a key."),
    spec!(
        "pttl",
        2,
        RF,
        1,
        1,
        1,
        "generic",
        "2.6.0",
        "Returns the expiration time in milliseconds of a key."
    ),
    spec!(
        "expiretime",
        2,
        RF,
        1,
        1,
        1,
        "generic",
        "7.0.0",
        "Returns the expiration time of a key as a Unix timestamp."
    ),
    spec!(
        "pexpiretime",
        2,
        RF,
        1,
        1,
        1,
        "generic",
        "7.0.0",
        "Returns the expiration time of a key as a Unix milliseconds timestamp."
    ),
    spec!("persist", 2, WDF, 1, 1, 1, "generic", "2.2.0", "Removes the expiration time of a key."),
    spec!("type", 2, RF, 1, 1, 1, "generic", "1.0.0", "Determines the type of value stored at a key."),
    spec!("rename", 3, WD, 1, 2, 1, "generic", "1.0.0", "Renames a key and overwrites the destination."),
    spec!(
        "renamenx",
        3,
        WDF,
        1,
        2,
        1,
        "generic",
        "1.0.0",
        "Renames a key only when the target key name doesn't exist."
    ),
    spec!("copy", -3, W, 1, 2, 1, "generic", "6.2.0", "Copies the value of a key to a new key."),
    spec!("keys", 2, R, 0, 0, 0, "generic", "1.0.0", "Returns all key names that match a pattern."),
    spec!("scan", -2, R, 0, 0, 0, "generic", "2.8.0", "Iterates over the key names in the database."),
    spec!("dbsize", 1, RF, 0, 0, 0, "server", "1.0.0", "Returns the number of keys in the database."),
    spec!("flushdb", -1, WD, 0, 0, 0, "server", "1.0.0", "Removes all keys from the current database."),
    spec!("flushall", -1, WD, 0, 0, 0, "server", "1.0.0", "Removes all keys from all databases."),
    spec!("multi", 1, C, 0, 0, 0, "transactions", "1.2.0", "Starts a transaction."),
    spec!("exec", 1, CS, 0, 0, 0, "transactions", "1.2.0", "Executes all commands in a transaction."),
    spec!("discard", 1, C, 0, 0, 0, "transactions", "2.0.0", "Discards a transaction."),
    spec!(
        "watch",
        -2,
        C,
        1,
        -1,
        1,
        "transactions",
        "2.2.0",
        "Monitors changes to keys to determine the execution of a transaction."
    ),
    spec!("unwatch", 1, C, 0, 0, 0, "transactions", "2.2.0", "Forgets about watched keys of a transaction."),
    spec!("ping", -1, C, 0, 0, 0, "connection", "1.0.0", "Returns the server's liveliness response."),
    spec!("echo", 2, C, 0, 0, 0, "connection", "1.0.0", "Returns the given string."),
    spec!("hello", -1, C, 0, 0, 0, "connection", "6.0.0", "Handshakes with the Redis server."),
    spec!("auth", -2, C, 0, 0, 0, "connection", "1.0.0", "Authenticates the connection."),
    spec!("select", 2, C, 0, 0, 0, "connection", "1.0.0", "Changes the selected database."),
    spec!("client", -2, CS, 0, 0, 0, "connection", "2.4.0", "A container for client connection commands."),
    spec!("quit", -1, C, 0, 0, 0, "connection", "1.0.0", "Closes the connection."),
    spec!("reset", 1, C, 0, 0, 0, "connection", "6.2.0", "Resets the connection."),
    spec!("info", -1, CS, 0, 0, 0, "server", "1.0.0", "Returns information and statistics about the server."),
    spec!("config", -2, CS, 0, 0, 0, "server", "2.0.0", "A container for server configuration commands."),
    spec!("command", -1, CS, 0, 0, 0, "server", "2.8.13", "Returns detailed information about all commands."),
    spec!(
        "readonly",
        1,
        C,
        0,
        0,
        0,
        "cluster",
        "3.0.0",
        "Enables stale reads from this node's own state for the connection."
    ),
    spec!(
        "readwrite",
        1,
        C,
        0,
        0,
        0,
        "cluster",
        "3.0.0",
        "Turns stale reads off again: reads are linearizable."
    ),
    spec!(
        "raft.info",
        1,
        CS,
        0,
        0,
        0,
        "cluster",
        "0.1.0",
        "Shows this node's view of the Raft cluster: role, leader, indexes, members and their lag."
    ),
    spec!(
        "raft.add",
        -4,
        CS,
        0,
        0,
        0,
        "cluster",
        "0.1.0",
        "Adds a node (id raft-addr resp-addr [LEARNER]); it catches up, then becomes a voter."
    ),
    spec!("raft.promote", 2, CS, 0, 0, 0, "cluster", "0.1.0", "Makes a learner a voter."),
    spec!("raft.remove", 2, CS, 0, 0, 0, "cluster", "0.1.0", "Removes a node from the cluster."),
];

/// The spec of a command, by name in any case.
pub fn find(name: &[u8]) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
}

/// Whether the server knows the command.
pub fn is_known(name: &[u8]) -> bool {
    find(name).is_some()
}

/// The metrics label for a command: its name when known, `unknown` otherwise, so clients cannot
/// create series.
pub fn label(name: &[u8]) -> &'static str {
    find(name).map_or("unknown", |c| c.name)
}

impl CommandSpec {
    /// The command as `COMMAND INFO` describes it (Redis 7's ten fields).
    pub fn info(&self) -> Frame {
        Frame::Array(vec![
            Frame::text(self.name),
            Frame::Integer(self.arity),
            Frame::Set(self.flags.iter().map(|f| Frame::simple(f)).collect()),
            Frame::Integer(self.first_key),
            Frame::Integer(self.last_key),
            Frame::Integer(self.step),
            Frame::Set(vec![Frame::simple(&format!("@{}", self.group))]),
            Frame::Set(Vec::new()),
            Frame::Array(Vec::new()),
            Frame::Array(Vec::new()),
        ])
    }

    /// The command as `COMMAND DOCS` describes it.
    pub fn docs(&self) -> Frame {
        Frame::Map(vec![
            (Frame::text("summary"), Frame::text(self.summary)),
            (Frame::text("since"), Frame::text(self.since)),
            (Frame::text("group"), Frame::text(self.group)),
        ])
    }
}
