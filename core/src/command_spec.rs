//! What the spec table (`spec.rs`) is made of: one command's description ([`CommandSpec`]), its
//! flags and CLI lines, and the `spec!` macro and flag sets its entries are written with.

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
    /// `flags` as a set of bits ([`Flag::bit`]), for [`CommandSpec::has`]: asked of every
    /// request (whether it writes, whether it may block), where a search of `flags` cost 10 to
    /// 20 instructions each.
    pub flag_bits: u16,
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
    /// The flag's bit in [`CommandSpec::flag_bits`].
    pub const fn bit(self) -> u16 {
        1 << self as u16
    }

    /// The bits of `flags`.
    pub const fn bits(flags: &[Flag]) -> u16 {
        let (mut bits, mut at) = (0, 0);
        while at < flags.len() {
            bits |= flags[at].bit();
            at += 1;
        }
        bits
    }

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
        self.has(Flag::Write)
    }

    /// Whether the command has `flag`.
    pub fn has(&self, flag: Flag) -> bool {
        self.flag_bits & flag.bit() != 0
    }
}

/// One entry of the spec table (`crate::spec::COMMANDS`): name, the [`CommandName`] variant (or `server` for a command the
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
            flag_bits: Flag::bits($flags),
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
pub(crate) use spec;

pub(crate) const WRITE_DENYOOM: &[Flag] = &[Flag::Write, Flag::DenyOom];
pub(crate) const WRITE_DENYOOM_FAST: &[Flag] = &[Flag::Write, Flag::DenyOom, Flag::Fast];
pub(crate) const WRITE: &[Flag] = &[Flag::Write];
pub(crate) const WRITE_FAST: &[Flag] = &[Flag::Write, Flag::Fast];
pub(crate) const READONLY: &[Flag] = &[Flag::ReadOnly];
pub(crate) const WRITE_BLOCKING: &[Flag] = &[Flag::Write, Flag::Blocking];
pub(crate) const WRITE_DENYOOM_BLOCKING: &[Flag] = &[Flag::Write, Flag::DenyOom, Flag::Blocking];
pub(crate) const WRITE_FAST_BLOCKING: &[Flag] = &[Flag::Write, Flag::Fast, Flag::Blocking];
/// PUBLISH: Redis's flags, and `write` because it goes through the log.
pub(crate) const WRITE_PUBSUB: &[Flag] = &[Flag::Write, Flag::PubSub, Flag::Loading, Flag::Stale, Flag::Fast];
/// SUBSCRIBE and the like.
pub(crate) const PUBSUB: &[Flag] = &[Flag::PubSub, Flag::NoScript, Flag::Loading, Flag::Stale];
/// Containers of subcommands (OBJECT, MEMORY), flagged by their subcommands, as Redis does.
pub(crate) const NONE: &[Flag] = &[];
pub(crate) const READONLY_FAST: &[Flag] = &[Flag::ReadOnly, Flag::Fast];
/// Connection and server commands, as Redis flags PING or MULTI.
pub(crate) const CONNECTION: &[Flag] = &[Flag::NoScript, Flag::Loading, Flag::Stale, Flag::Fast];
/// Connection and server commands that are not O(1), as Redis flags INFO or CLIENT.
pub(crate) const CONNECTION_SLOW: &[Flag] = &[Flag::NoScript, Flag::Loading, Flag::Stale];

/// The CLI line for the command itself.
pub(crate) const fn usage(syntax: &'static str, summary: &'static str) -> Usage {
    Usage { subcommand: "", syntax, summary }
}

/// The CLI line for one subcommand.
pub(crate) const fn subcommand(
    subcommand: &'static str,
    syntax: &'static str,
    summary: &'static str,
) -> Usage {
    Usage { subcommand, syntax, summary }
}
