//! What ACL rules name: Redis 7's command categories (`+@read`), and the commands a rule can
//! allow or deny one by one (`+get`, `-config|set`), each with the categories Redis 7 gives it.
//!
//! A container command (ACL, CLIENT, CONFIG) is checked by its subcommand, as Redis checks it:
//! `config|get` is `@admin @slow @dangerous`, `client|id` only `@slow @connection`. Every other
//! command in [`crate::spec::COMMANDS`] is one entry. The categories are Redis 7.0's, as
//! `COMMAND INFO` reports them; a test holds them to a running `redis-server`.

use crate::spec::COMMANDS;

/// A command category, in the order `ACL CAT` lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, std::hash::Hash)]
pub enum Category {
    Keyspace,
    Read,
    Write,
    Set,
    SortedSet,
    List,
    Hash,
    String,
    Bitmap,
    HyperLogLog,
    Geo,
    Stream,
    PubSub,
    Admin,
    Fast,
    Slow,
    Blocking,
    Dangerous,
    Connection,
    Transaction,
    Scripting,
}

/// Every category, in [`Category`]'s order (as `ACL CAT` lists them).
pub const CATEGORIES: [Category; 21] = [
    Category::Keyspace,
    Category::Read,
    Category::Write,
    Category::Set,
    Category::SortedSet,
    Category::List,
    Category::Hash,
    Category::String,
    Category::Bitmap,
    Category::HyperLogLog,
    Category::Geo,
    Category::Stream,
    Category::PubSub,
    Category::Admin,
    Category::Fast,
    Category::Slow,
    Category::Blocking,
    Category::Dangerous,
    Category::Connection,
    Category::Transaction,
    Category::Scripting,
];

impl Category {
    /// The name as rules and `ACL CAT` spell it, without the `@`.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Keyspace => "keyspace",
            Category::Read => "read",
            Category::Write => "write",
            Category::Set => "set",
            Category::SortedSet => "sortedset",
            Category::List => "list",
            Category::Hash => "hash",
            Category::String => "string",
            Category::Bitmap => "bitmap",
            Category::HyperLogLog => "hyperloglog",
            Category::Geo => "geo",
            Category::Stream => "stream",
            Category::PubSub => "pubsub",
            Category::Admin => "admin",
            Category::Fast => "fast",
            Category::Slow => "slow",
            Category::Blocking => "blocking",
            Category::Dangerous => "dangerous",
            Category::Connection => "connection",
            Category::Transaction => "transaction",
            Category::Scripting => "scripting",
        }
    }

    /// A category by name, in any ASCII case.
    pub fn parse(name: &[u8]) -> Option<Category> {
        CATEGORIES.into_iter().find(|c| c.as_str().as_bytes().eq_ignore_ascii_case(name))
    }
}

/// One command as ACL rules name it: a command, or a container's subcommand (`config|get`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AclCommand {
    /// Lower case; a subcommand as `container|sub`.
    pub name: &'static str,
    pub categories: &'static [Category],
}

/// The commands checked by their subcommand.
pub const CONTAINERS: [&str; 7] = ["acl", "client", "config", "object", "memory", "function", "pubsub"];

use Category::{
    Admin, Bitmap, Blocking, Connection, Dangerous, Fast, Hash, Keyspace, List, PubSub, Read, Scripting, Set,
    Slow, SortedSet, String as Str, Transaction, Write as W,
};

/// Every command a rule can name, in a fixed order: [`COMMANDS`]' order, a container replaced by
/// its subcommands. Its index is the command's bit in a user's allowed set.
pub const ACL_COMMANDS: &[AclCommand] = &[
    c("get", &[Read, Str, Fast]),
    c("set", &[W, Str, Slow]),
    c("setnx", &[W, Str, Fast]),
    c("setex", &[W, Str, Slow]),
    c("psetex", &[W, Str, Slow]),
    c("getset", &[W, Str, Fast]),
    c("getdel", &[W, Str, Fast]),
    c("getex", &[W, Str, Fast]),
    c("mget", &[Read, Str, Fast]),
    c("mset", &[W, Str, Slow]),
    c("msetnx", &[W, Str, Slow]),
    c("del", &[Keyspace, W, Slow]),
    c("unlink", &[Keyspace, W, Fast]),
    c("exists", &[Keyspace, Read, Fast]),
    c("incr", &[W, Str, Fast]),
    c("decr", &[W, Str, Fast]),
    c("incrby", &[W, Str, Fast]),
    c("decrby", &[W, Str, Fast]),
    c("incrbyfloat", &[W, Str, Fast]),
    c("append", &[W, Str, Fast]),
    c("strlen", &[Read, Str, Fast]),
    c("getrange", &[Read, Str, Slow]),
    c("setrange", &[W, Str, Slow]),
    c("expire", &[Keyspace, W, Fast]),
    c("pexpire", &[Keyspace, W, Fast]),
    c("expireat", &[Keyspace, W, Fast]),
    c("pexpireat", &[Keyspace, W, Fast]),
    c("ttl", &[Keyspace, Read, Fast]),
    c("pttl", &[Keyspace, Read, Fast]),
    c("expiretime", &[Keyspace, Read, Fast]),
    c("pexpiretime", &[Keyspace, Read, Fast]),
    c("persist", &[Keyspace, W, Fast]),
    c("type", &[Keyspace, Read, Fast]),
    c("rename", &[Keyspace, W, Slow]),
    c("renamenx", &[Keyspace, W, Fast]),
    c("copy", &[Keyspace, W, Slow]),
    c("keys", &[Keyspace, Read, Slow, Dangerous]),
    c("scan", &[Keyspace, Read, Slow]),
    c("dbsize", &[Keyspace, Read, Fast]),
    c("flushdb", &[Keyspace, W, Slow, Dangerous]),
    c("flushall", &[Keyspace, W, Slow, Dangerous]),
    c("hset", &[W, Hash, Fast]),
    c("hmset", &[W, Hash, Fast]),
    c("hsetnx", &[W, Hash, Fast]),
    c("hget", &[Read, Hash, Fast]),
    c("hmget", &[Read, Hash, Fast]),
    c("hgetall", &[Read, Hash, Slow]),
    c("hkeys", &[Read, Hash, Slow]),
    c("hvals", &[Read, Hash, Slow]),
    c("hdel", &[W, Hash, Fast]),
    c("hexists", &[Read, Hash, Fast]),
    c("hlen", &[Read, Hash, Fast]),
    c("hstrlen", &[Read, Hash, Fast]),
    c("hincrby", &[W, Hash, Fast]),
    c("hincrbyfloat", &[W, Hash, Fast]),
    c("hscan", &[Read, Hash, Slow]),
    c("lpush", &[W, List, Fast]),
    c("rpush", &[W, List, Fast]),
    c("lpushx", &[W, List, Fast]),
    c("rpushx", &[W, List, Fast]),
    c("lpop", &[W, List, Fast]),
    c("rpop", &[W, List, Fast]),
    c("llen", &[Read, List, Fast]),
    c("lrange", &[Read, List, Slow]),
    c("lindex", &[Read, List, Slow]),
    c("lset", &[W, List, Slow]),
    c("linsert", &[W, List, Slow]),
    c("lrem", &[W, List, Slow]),
    c("ltrim", &[W, List, Slow]),
    c("lpos", &[Read, List, Slow]),
    c("lmove", &[W, List, Slow]),
    c("rpoplpush", &[W, List, Slow]),
    c("sadd", &[W, Set, Fast]),
    c("srem", &[W, Set, Fast]),
    c("smembers", &[Read, Set, Slow]),
    c("sismember", &[Read, Set, Fast]),
    c("smismember", &[Read, Set, Fast]),
    c("scard", &[Read, Set, Fast]),
    c("sinter", &[Read, Set, Slow]),
    c("sunion", &[Read, Set, Slow]),
    c("sdiff", &[Read, Set, Slow]),
    c("sinterstore", &[W, Set, Slow]),
    c("sunionstore", &[W, Set, Slow]),
    c("sdiffstore", &[W, Set, Slow]),
    c("sintercard", &[Read, Set, Slow]),
    c("smove", &[W, Set, Fast]),
    c("sscan", &[Read, Set, Slow]),
    c("zadd", &[W, SortedSet, Fast]),
    c("zrem", &[W, SortedSet, Fast]),
    c("zscore", &[Read, SortedSet, Fast]),
    c("zmscore", &[Read, SortedSet, Fast]),
    c("zincrby", &[W, SortedSet, Fast]),
    c("zcard", &[Read, SortedSet, Fast]),
    c("zcount", &[Read, SortedSet, Fast]),
    c("zlexcount", &[Read, SortedSet, Fast]),
    c("zrange", &[Read, SortedSet, Slow]),
    c("zrevrange", &[Read, SortedSet, Slow]),
    c("zrangebyscore", &[Read, SortedSet, Slow]),
    c("zrevrangebyscore", &[Read, SortedSet, Slow]),
    c("zrangebylex", &[Read, SortedSet, Slow]),
    c("zrevrangebylex", &[Read, SortedSet, Slow]),
    c("zrangestore", &[W, SortedSet, Slow]),
    c("zrank", &[Read, SortedSet, Fast]),
    c("zrevrank", &[Read, SortedSet, Fast]),
    c("zremrangebyrank", &[W, SortedSet, Slow]),
    c("zremrangebyscore", &[W, SortedSet, Slow]),
    c("zremrangebylex", &[W, SortedSet, Slow]),
    c("zpopmin", &[W, SortedSet, Fast]),
    c("zpopmax", &[W, SortedSet, Fast]),
    c("zunion", &[Read, SortedSet, Slow]),
    c("zinter", &[Read, SortedSet, Slow]),
    c("zdiff", &[Read, SortedSet, Slow]),
    c("zunionstore", &[W, SortedSet, Slow]),
    c("zinterstore", &[W, SortedSet, Slow]),
    c("zdiffstore", &[W, SortedSet, Slow]),
    c("zscan", &[Read, SortedSet, Slow]),
    c("spop", &[W, Set, Fast]),
    c("srandmember", &[Read, Set, Slow]),
    c("hrandfield", &[Read, Hash, Slow]),
    c("zrandmember", &[Read, SortedSet, Slow]),
    c("randomkey", &[Keyspace, Read, Slow]),
    c("touch", &[Keyspace, Read, Fast]),
    c("blpop", &[W, List, Slow, Blocking]),
    c("brpop", &[W, List, Slow, Blocking]),
    c("blmove", &[W, List, Slow, Blocking]),
    c("brpoplpush", &[W, List, Slow, Blocking]),
    c("bzpopmin", &[W, SortedSet, Fast, Blocking]),
    c("bzpopmax", &[W, SortedSet, Fast, Blocking]),
    c("object|encoding", &[Keyspace, Read, Slow]),
    c("object|freq", &[Keyspace, Read, Slow]),
    c("object|idletime", &[Keyspace, Read, Slow]),
    c("object|refcount", &[Keyspace, Read, Slow]),
    c("object|help", &[Keyspace, Slow]),
    c("memory|usage", &[Read, Slow]),
    c("lcs", &[Read, Str, Slow]),
    c("time", &[Fast]),
    c("publish", &[PubSub, Fast]),
    c("setbit", &[W, Bitmap, Slow]),
    c("getbit", &[Read, Bitmap, Fast]),
    c("bitcount", &[Read, Bitmap, Slow]),
    c("bitpos", &[Read, Bitmap, Slow]),
    c("bitop", &[W, Bitmap, Slow]),
    c("bitfield", &[W, Bitmap, Slow]),
    c("bitfield_ro", &[Read, Bitmap, Fast]),
    c("subscribe", &[PubSub, Slow]),
    c("psubscribe", &[PubSub, Slow]),
    c("unsubscribe", &[PubSub, Slow]),
    c("punsubscribe", &[PubSub, Slow]),
    c("pubsub|channels", &[PubSub, Slow]),
    c("pubsub|numsub", &[PubSub, Slow]),
    c("pubsub|numpat", &[PubSub, Slow]),
    c("pubsub|help", &[Slow]),
    c("function|flush", &[W, Slow, Scripting]),
    c("multi", &[Fast, Transaction]),
    c("exec", &[Slow, Transaction]),
    c("discard", &[Fast, Transaction]),
    c("watch", &[Fast, Transaction]),
    c("unwatch", &[Fast, Transaction]),
    c("ping", &[Fast, Connection]),
    c("echo", &[Fast, Connection]),
    c("hello", &[Fast, Connection]),
    c("auth", &[Fast, Connection]),
    c("select", &[Fast, Connection]),
    c("client|id", &[Slow, Connection]),
    c("client|getname", &[Slow, Connection]),
    c("client|setname", &[Slow, Connection]),
    // CLIENT SETINFO came in Redis 7.2, with these categories.
    c("client|setinfo", &[Slow, Connection]),
    c("client|info", &[Slow, Connection]),
    c("client|list", &[Admin, Slow, Dangerous, Connection]),
    c("client|help", &[Slow, Connection]),
    c("quit", &[Fast, Connection]),
    c("reset", &[Fast, Connection]),
    c("info", &[Slow, Dangerous]),
    c("config|get", &[Admin, Slow, Dangerous]),
    c("config|set", &[Admin, Slow, Dangerous]),
    c("config|resetstat", &[Admin, Slow, Dangerous]),
    c("config|help", &[Slow]),
    c("command", &[Slow, Connection]),
    c("readonly", &[Fast, Connection]),
    c("readwrite", &[Fast, Connection]),
    // redraft's own: reading the cluster's state is like INFO; changing its membership is
    // administration, as CONFIG SET is.
    c("raft.info", &[Slow, Dangerous]),
    // Snapshots, and a backup of the whole keyspace (`GET /v1/snapshot` needs SAVE's permission).
    c("save", &[Admin, Slow, Dangerous]),
    c("bgsave", &[Admin, Slow, Dangerous]),
    c("lastsave", &[Admin, Fast, Dangerous]),
    c("raft.add", &[Admin, Slow, Dangerous]),
    c("raft.promote", &[Admin, Slow, Dangerous]),
    c("raft.remove", &[Admin, Slow, Dangerous]),
    c("acl|setuser", &[Admin, Slow, Dangerous]),
    c("acl|getuser", &[Admin, Slow, Dangerous]),
    c("acl|deluser", &[Admin, Slow, Dangerous]),
    c("acl|list", &[Admin, Slow, Dangerous]),
    c("acl|users", &[Admin, Slow, Dangerous]),
    c("acl|whoami", &[Slow]),
    c("acl|cat", &[Slow]),
    c("acl|log", &[Admin, Slow, Dangerous]),
    c("acl|genpass", &[Slow]),
    c("acl|help", &[Slow]),
];

const fn c(name: &'static str, categories: &'static [Category]) -> AclCommand {
    AclCommand { name, categories }
}

/// The index of a command in [`ACL_COMMANDS`], by its ACL name (`get`, `config|get`) in any
/// ASCII case.
pub fn position(name: &[u8]) -> Option<usize> {
    ACL_COMMANDS.iter().position(|command| command.name.as_bytes().eq_ignore_ascii_case(name))
}

/// The indexes of a command and, for a container, of all its subcommands: what `+name` allows.
/// Empty for an unknown name.
pub fn named(name: &[u8]) -> Vec<usize> {
    if let Some(container) = CONTAINERS.iter().find(|c| c.as_bytes().eq_ignore_ascii_case(name)) {
        let prefix = format!("{container}|");
        return (0..ACL_COMMANDS.len()).filter(|&i| ACL_COMMANDS[i].name.starts_with(&prefix)).collect();
    }
    position(name).into_iter().collect()
}

/// The ACL command a request runs, from its arguments (the name first): a container's known
/// subcommand, or the command itself. `None` for a name no rule can name (an unknown command, or
/// a container's unknown subcommand, which are refused as unknown before any ACL check).
pub fn of_request(args: &[impl AsRef<[u8]>]) -> Option<usize> {
    let name = args.first()?.as_ref();
    if CONTAINERS.iter().any(|c| c.as_bytes().eq_ignore_ascii_case(name)) {
        let sub = args.get(1)?.as_ref();
        let mut full = Vec::with_capacity(name.len() + 1 + sub.len());
        full.extend_from_slice(name);
        full.push(b'|');
        full.extend_from_slice(sub);
        return position(&full);
    }
    position(name)
}

/// Whether every command of the spec table has its ACL entry (checked by a test).
pub fn covers_spec() -> Result<(), String> {
    for spec in COMMANDS {
        if spec.name == "acl" || CONTAINERS.contains(&spec.name) {
            if named(spec.name.as_bytes()).is_empty() {
                return Err(format!("container {} has no subcommands in the ACL table", spec.name));
            }
        } else if position(spec.name.as_bytes()).is_none() {
            return Err(format!("{} has no ACL entry", spec.name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_an_entry_and_names_resolve() {
        covers_spec().expect("the ACL table covers the spec");
        assert_eq!(of_request(&[&b"GET"[..], b"k"]), position(b"get"));
        assert_eq!(of_request(&[&b"config"[..], b"GET", b"x"]), position(b"config|get"));
        assert_eq!(of_request(&[&b"config"[..], b"nosuch"]), None);
        assert_eq!(of_request(&[&b"config"[..]]), None);
        assert_eq!(named(b"CONFIG").len(), 4);
        assert_eq!(Category::parse(b"STRING"), Some(Category::String));
        assert_eq!(Category::parse(b"nosuch"), None);
    }
}
