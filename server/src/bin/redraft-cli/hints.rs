//! What the REPL knows about commands without asking the server: the syntax hint shown in grey
//! after a typed command name, Tab completion of command names, and `help <command>`.
//!
//! The lines come from core's command table ([`redraft_core::spec`]), each command's `usage`:
//! syntax and summaries in redis-cli 7.0's words (its `help.h`), so a hint reads the same in
//! either client. redis-cli also asks the server's `COMMAND` for commands missing from its
//! table, which this client does not.

use std::borrow::Cow;

use redraft_core::spec::COMMANDS;
use redraft_net::resp::split_inline;
use rustyline::completion::Completer;
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::{Context, Helper, Validator};

/// One command (or `COMMAND SUBCOMMAND`) as the REPL describes it.
#[derive(Clone, Debug)]
pub struct CommandHelp {
    /// The name as typed, upper case; two words for a subcommand.
    pub name: String,
    /// The arguments' syntax, as in redis-cli's hints.
    pub params: &'static str,
    pub summary: &'static str,
}

/// Every command form the REPL describes, in the order of core's table (the order `help` and
/// Tab list them).
pub fn commands() -> Vec<CommandHelp> {
    let mut out = Vec::new();
    for spec in COMMANDS {
        for usage in spec.usage {
            let mut name = spec.name.to_ascii_uppercase();
            if !usage.subcommand.is_empty() {
                name.push(' ');
                name.push_str(usage.subcommand);
            }
            out.push(CommandHelp { name, params: usage.syntax, summary: usage.summary });
        }
    }
    out
}

/// The hint for a partly typed line, as redis-cli 7.0's `hintsCallback` computes it: find the
/// entry whose words (`CLIENT LIST` has two) are the longest prefix of the typed words, then drop
/// one word of its syntax per further argument typed, stopping at the first optional `[...]`.
/// Without a trailing space the hint starts with one, so it does not touch the typed word.
pub fn hint_for(line: &str) -> Option<String> {
    let typed = split_inline(line.as_bytes()).ok()?;
    if typed.is_empty() {
        return None;
    }
    let commands = commands();
    let mut best: Option<(usize, &CommandHelp)> = None;
    for command in &commands {
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
    commands()
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
    for command in commands() {
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

/// The rustyline helper for the REPL: hints and completion from [`commands`].
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
        let commands = commands();
        let mut names: Vec<&str> = commands.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count);
    }
}
