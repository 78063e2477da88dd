//! What the REPL knows about commands without asking the server: the syntax hint shown in grey
//! after a typed command name, Tab completion of command names, and `help <command>`.
//!
//! The table covers the commands redraft serves. Syntax strings are redis-cli 7.0's (its
//! `help.h`), so a hint reads the same in either client; redis-cli also asks the server's
//! `COMMAND` for commands missing from its table, which this client does not.

use std::borrow::Cow;

use redraft_net::resp::split_inline;
use rustyline::completion::Completer;
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::{Context, Helper, Validator};

/// One command (or `COMMAND SUBCOMMAND`) as the REPL describes it.
#[derive(Clone, Copy, Debug)]
pub struct CommandHelp {
    /// The name as typed, upper case; two words for a subcommand.
    pub name: &'static str,
    /// The arguments' syntax, as in redis-cli's hints.
    pub params: &'static str,
    pub summary: &'static str,
}

const fn entry(name: &'static str, params: &'static str, summary: &'static str) -> CommandHelp {
    CommandHelp { name, params, summary }
}

/// Every command redraft serves, in the order `help` lists them.
pub const COMMANDS: &[CommandHelp] = &[
    entry("GET", "key", "Get the value of a key"),
    entry(
        "SET",
        "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]",
        "Set the string value of a key",
    ),
    entry("SETNX", "key value", "Set the value of a key, only if the key does not exist"),
    entry("SETEX", "key seconds value", "Set the value and expiration of a key"),
    entry("PSETEX", "key milliseconds value", "Set the value and expiration in milliseconds of a key"),
    entry("GETSET", "key value", "Set the string value of a key and return its old value"),
    entry("GETDEL", "key", "Get the value of a key and delete the key"),
    entry(
        "GETEX",
        "key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|PERSIST]",
        "Get the value of a key and optionally set its expiration",
    ),
    entry("MGET", "key [key ...]", "Get the values of all the given keys"),
    entry("MSET", "key value [key value ...]", "Set multiple keys to multiple values"),
    entry("MSETNX", "key value [key value ...]", "Set multiple keys to multiple values, only if none of the keys exist"),
    entry("DEL", "key [key ...]", "Delete a key"),
    entry("UNLINK", "key [key ...]", "Delete a key asynchronously in another thread"),
    entry("EXISTS", "key [key ...]", "Determine if a key exists"),
    entry("INCR", "key", "Increment the integer value of a key by one"),
    entry("DECR", "key", "Decrement the integer value of a key by one"),
    entry("INCRBY", "key increment", "Increment the integer value of a key by the given amount"),
    entry("DECRBY", "key decrement", "Decrement the integer value of a key by the given number"),
    entry("INCRBYFLOAT", "key increment", "Increment the float value of a key by the given amount"),
    entry("APPEND", "key value", "Append a value to a key"),
    entry("STRLEN", "key", "Get the length of the value stored in a key"),
    entry("GETRANGE", "key start end", "Get a substring of the string stored at a key"),
    entry("SETRANGE", "key offset value", "Overwrite part of a string at key starting at the specified offset"),
    entry("EXPIRE", "key seconds [NX|XX|GT|LT]", "Set a key's time to live in seconds"),
    entry("PEXPIRE", "key milliseconds [NX|XX|GT|LT]", "Set a key's time to live in milliseconds"),
    entry("EXPIREAT", "key unix-time-seconds [NX|XX|GT|LT]", "Set the expiration for a key as a UNIX timestamp"),
    entry(
        "PEXPIREAT",
        "key unix-time-milliseconds [NX|XX|GT|LT]",
        "Set the expiration for a key as a UNIX timestamp specified in milliseconds",
    ),
    entry("TTL", "key", "Get the time to live for a key in seconds"),
    entry("PTTL", "key", "Get the time to live for a key in milliseconds"),
    entry("EXPIRETIME", "key", "Get the expiration Unix timestamp for a key"),
    entry("PEXPIRETIME", "key", "Get the expiration Unix timestamp for a key in milliseconds"),
    entry("PERSIST", "key", "Remove the expiration from a key"),
    entry("TYPE", "key", "Determine the type stored at key"),
    entry("RENAME", "key newkey", "Rename a key"),
    entry("RENAMENX", "key newkey", "Rename a key, only if the new key does not exist"),
    entry("COPY", "source destination [DB destination-db] [REPLACE]", "Copy a key"),
    entry("KEYS", "pattern", "Find all keys matching the given pattern"),
    entry("SCAN", "cursor [MATCH pattern] [COUNT count] [TYPE type]", "Incrementally iterate the keys space"),
    entry("DBSIZE", "", "Return the number of keys in the selected database"),
    entry("FLUSHDB", "[ASYNC|SYNC]", "Remove all keys from the current database"),
    entry("FLUSHALL", "[ASYNC|SYNC]", "Remove all keys from all databases"),
    entry("PING", "[message]", "Ping the server"),
    entry("ECHO", "message", "Echo the given string"),
    entry("HELLO", "[protover [AUTH username password] [SETNAME clientname]]", "Handshake with Redis"),
    entry("SELECT", "index", "Change the selected database for the current connection"),
    entry("CLIENT ID", "", "Returns the client ID for the current connection"),
    entry("CLIENT INFO", "", "Returns information about the current client connection."),
    entry(
        "CLIENT LIST",
        "[TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID client-id [client-id ...]]",
        "Get the list of client connections",
    ),
    entry("CLIENT GETNAME", "", "Get the current connection name"),
    entry("CLIENT SETNAME", "connection-name", "Set the current connection name"),
    entry("INFO", "[section [section ...]]", "Get information and statistics about the server"),
    entry("CONFIG GET", "parameter [parameter ...]", "Get the values of configuration parameters"),
    entry("CONFIG SET", "parameter value [parameter value ...]", "Set configuration parameters to the given values"),
    entry("CONFIG RESETSTAT", "", "Reset the stats returned by INFO"),
    entry("COMMAND", "", "Get array of Redis command details"),
    entry("COMMAND COUNT", "", "Get total number of Redis commands"),
    entry("COMMAND DOCS", "[command-name [command-name ...]]", "Get array of specific Redis command documentation"),
    entry("COMMAND INFO", "[command-name [command-name ...]]", "Get array of specific Redis command details"),
    entry(
        "COMMAND LIST",
        "[FILTERBY MODULE module-name|ACLCAT category|PATTERN pattern]",
        "Get an array of Redis command names",
    ),
    entry("QUIT", "", "Close the connection"),
    entry("RESET", "", "Reset the connection"),
    entry("MULTI", "", "Mark the start of a transaction block"),
    entry("EXEC", "", "Execute all commands issued after MULTI"),
    entry("DISCARD", "", "Discard all commands issued after MULTI"),
    entry("WATCH", "key [key ...]", "Watch the given keys to determine execution of the MULTI/EXEC block"),
    entry("UNWATCH", "", "Forget about all watched keys"),
];

/// The hint for a partly typed line, as redis-cli 7.0's `hintsCallback` computes it: find the
/// entry whose words (`CLIENT LIST` has two) are the longest prefix of the typed words, then drop
/// one word of its syntax per further argument typed, stopping at the first optional `[...]`.
/// Without a trailing space the hint starts with one, so it does not touch the typed word.
pub fn hint_for(line: &str) -> Option<String> {
    let typed = split_inline(line.as_bytes()).ok()?;
    if typed.is_empty() {
        return None;
    }
    let mut best: Option<(usize, &CommandHelp)> = None;
    for command in COMMANDS {
        let words: Vec<&str> = command.name.split(' ').collect();
        let matches = words.len() <= typed.len()
            && words.iter().zip(&typed).all(|(word, arg)| arg.eq_ignore_ascii_case(word.as_bytes()));
        if matches && best.is_none_or(|(count, _)| words.len() > count) {
            best = Some((words.len(), command));
        }
    }
    let (matched, command) = best?;
    let mut hint = command.params;
    let mut to_remove = typed.len() - matched;
    while to_remove > 0 && !hint.is_empty() && !hint.starts_with('[') {
        if hint.starts_with(' ') {
            to_remove -= 1;
        }
        hint = &hint[1..];
    }
    if hint.trim().is_empty() {
        // redis-cli would show a lone space; nothing visible is lost.
        return None;
    }
    let ends_in_space = line.ends_with(|c: char| c.is_ascii_whitespace());
    Some(if ends_in_space { hint.to_owned() } else { format!(" {hint}") })
}

/// Command names for Tab completion: every entry whose name starts with the whole line, as
/// redis-cli's `completionCallback` does; `help ` followed by a name completes too.
pub fn completions_for(line: &str) -> Vec<String> {
    let (kept, typed) = match line.get(..5) {
        Some(head) if head.eq_ignore_ascii_case("help ") => {
            let rest = &line[5..];
            let start = line.len() - rest.trim_start().len();
            line.split_at(start)
        }
        _ => ("", line),
    };
    COMMANDS
        .iter()
        .filter(|c| c.name.get(..typed.len()).is_some_and(|head| head.eq_ignore_ascii_case(typed)))
        .map(|c| format!("{kept}{}", c.name))
        .collect()
}

/// The text `help` prints: for `help` alone, how to use it; for `help <command>`, the matching
/// entries (`help client` lists every CLIENT subcommand).
pub fn help_text(topic: &[String]) -> String {
    if topic.is_empty() {
        return format!(
            "redraft-cli {}\r\nTo get help about a command, type \"help <command>\".\r\n\
             Use Tab to complete command names.\r\nTo quit, type \"quit\" or \"exit\".\r\n",
            env!("CARGO_PKG_VERSION")
        );
    }
    let wanted = topic.join(" ");
    let mut out = String::new();
    for command in COMMANDS {
        let exact = command.name.eq_ignore_ascii_case(&wanted);
        let family = command.name.split(' ').next().is_some_and(|first| first.eq_ignore_ascii_case(&wanted));
        if exact || family {
            // redis-cli's layout: name in bold, syntax in grey, the summary below.
            out.push_str(&format!(
                "\r\n  \x1b[1m{}\x1b[0m \x1b[90m{}\x1b[0m\r\n  \x1b[33msummary:\x1b[0m {}\r\n",
                command.name, command.params, command.summary
            ));
        }
    }
    out.push_str("\r\n");
    out
}

/// The rustyline helper for the REPL: hints and completion from [`COMMANDS`].
#[derive(Helper, Validator)]
pub struct CommandHelper;

impl Hinter for CommandHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, _: &Context<'_>) -> Option<String> {
        // A hint describes what follows the line; with the cursor inside the line it would be
        // drawn over text already typed.
        if pos < line.len() {
            return None;
        }
        hint_for(line)
    }
}

impl Highlighter for CommandHelper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        // linenoise's colour sequence for redis-cli's hints: not bold, colour 90 (grey).
        Cow::Owned(format!("\x1b[0;90;49m{hint}\x1b[0m"))
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        false
    }
}

impl Completer for CommandHelper {
    type Candidate = String;

    fn complete(&self, line: &str, pos: usize, _: &Context<'_>) -> rustyline::Result<(usize, Vec<String>)> {
        // Completion replaces the line up to the cursor, like linenoise's.
        Ok((0, completions_for(&line[..pos])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_shows_the_syntax_not_yet_typed() {
        // The cases redis-cli 7.0 shows: after the name, after a space, after some arguments, and
        // once only optional arguments remain.
        let set_rest = "[NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|\
                        PXAT unix-time-milliseconds|KEEPTTL]";
        assert_eq!(hint_for("SET ").as_deref(), Some(format!("key value {set_rest}").as_str()));
        assert_eq!(hint_for("set").as_deref(), Some(format!(" key value {set_rest}").as_str()));
        assert_eq!(hint_for("set k ").as_deref(), Some(format!("value {set_rest}").as_str()));
        assert_eq!(hint_for("set k v ").as_deref(), Some(set_rest));
        assert_eq!(hint_for("set k v nx ").as_deref(), Some(set_rest));
        assert_eq!(hint_for("get k"), None);
        assert_eq!(hint_for("nosuchcommand "), None);
        assert_eq!(hint_for(""), None);
        assert_eq!(hint_for("get \"unbalanced"), None);
    }

    #[test]
    fn hint_prefers_the_longest_subcommand_match() {
        // `CLIENT SETNAME` must win over a bare `CLIENT` prefix.
        assert_eq!(hint_for("client setname ").as_deref(), Some("connection-name"));
        assert_eq!(hint_for("CONFIG GET ").as_deref(), Some("parameter [parameter ...]"));
        assert_eq!(hint_for("client "), None);
    }

    #[test]
    fn completion_offers_every_command_with_the_typed_prefix() {
        // Case-insensitive prefix match on the whole line, with `help ` kept in front.
        assert_eq!(completions_for("inc"), vec!["INCR", "INCRBY", "INCRBYFLOAT"]);
        assert_eq!(completions_for("client s"), vec!["CLIENT SETNAME"]);
        assert_eq!(completions_for("help pexpirea"), vec!["help PEXPIREAT"]);
        assert!(completions_for("zz").is_empty());
    }

    #[test]
    fn every_command_is_listed_once() {
        // A duplicated entry would make hints and help ambiguous.
        let mut names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count);
    }
}
