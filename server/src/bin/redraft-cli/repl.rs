//! The interactive mode: read a command line, split it as redis-cli does, run it, print the reply,
//! repeat until `quit`, `exit` or end of input.
//!
//! On a terminal lines come from rustyline, with a prompt, hints, completion and history in
//! `~/.redraftcli_history`. From a pipe they are read plainly, without a prompt or history, as
//! redis-cli (linenoise) reads them; so `printf 'SET k v\nGET k\n' | redraft-cli` works like
//! redis-cli. A lost connection is reported and reopened before the next command; while it cannot
//! be reopened the prompt reads `not connected> `.

use std::io::{BufRead, IsTerminal, StdinLock, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use bytes::Bytes;
use redraft_net::resp::{split_inline, Frame};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::Editor;

use crate::connection::Connection;
use crate::format::OutputMode;
use crate::hints::{help_text, CommandHelper};
use crate::{execute, RunError, Settings};

/// Runs the REPL until the input ends or the user quits.
pub fn run(settings: Settings) -> ExitCode {
    let mut session = Session::new(settings);
    // Like redis-cli, connect up front so a wrong address shows at once, but keep going: every
    // command tries again.
    session.connect();
    let mut input = Input::open();
    loop {
        let Some(line) = input.read_line(&session.prompt()) else { return ExitCode::SUCCESS };
        match session.handle_line(&line, &mut input) {
            Ok(Flow::Continue) => {}
            Ok(Flow::Quit) => return ExitCode::SUCCESS,
            // Standard output is gone; there is no one left to answer.
            Err(_) => return ExitCode::FAILURE,
        }
    }
}

enum Flow {
    Continue,
    Quit,
}

/// The connection and what the REPL tracks about it for the prompt and for reconnecting.
struct Session {
    settings: Settings,
    connection: Option<Connection>,
    /// The database in use, shown in the prompt and selected again after a reconnect.
    db: i64,
    /// Whether a MULTI is open, shown in the prompt as `(TX)`.
    in_multi: bool,
    /// The database before MULTI: a failed or discarded transaction's SELECT did not happen.
    db_before_multi: i64,
}

impl Session {
    fn new(settings: Settings) -> Session {
        let db = settings.db;
        Session { settings, connection: None, db, in_multi: false, db_before_multi: db }
    }

    /// Opens the connection if there is none; reports a failure on standard error.
    fn connect(&mut self) -> bool {
        if self.connection.is_some() {
            return true;
        }
        match Connection::open(
            &self.settings.endpoint,
            self.settings.auth.as_ref(),
            self.db,
            self.settings.resp3,
        ) {
            Ok(connection) => {
                self.db = connection.db();
                // A transaction does not survive its connection.
                self.in_multi = false;
                self.connection = Some(connection);
                true
            }
            Err(error) => {
                eprintln!("{error}");
                false
            }
        }
    }

    /// redis-cli's prompt: `host:port`, `[db]` unless it is 0, `(TX)` inside MULTI.
    fn prompt(&self) -> String {
        if self.connection.is_none() {
            return "not connected> ".to_owned();
        }
        let mut prompt = self.settings.endpoint.prompt_address();
        if self.db != 0 {
            prompt.push_str(&format!("[{}]", self.db));
        }
        if self.in_multi {
            prompt.push_str("(TX)");
        }
        prompt.push_str("> ");
        prompt
    }

    fn handle_line(&mut self, line: &[u8], input: &mut Input) -> Result<Flow, std::io::Error> {
        let Ok(args) = split_inline(line) else {
            // redis-cli's answer to unbalanced quotes, on standard output.
            write_stdout(b"Invalid argument(s)\n")?;
            return Ok(Flow::Continue);
        };
        let Some(first) = args.first() else { return Ok(Flow::Continue) };
        let is = |word: &str| first.eq_ignore_ascii_case(word.as_bytes());
        if is("quit") || is("exit") {
            return Ok(Flow::Quit);
        }
        if is("help") || is("?") {
            let topic: Vec<String> =
                args[1..].iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
            write_stdout(help_text(&topic).as_bytes())?;
            return Ok(Flow::Continue);
        }
        if is("clear") && args.len() == 1 {
            input.clear_screen()?;
            return Ok(Flow::Continue);
        }
        if is("connect") && args.len() == 3 {
            // redis-cli's `connect host port`, which switches servers without leaving the REPL.
            let Some(port) = std::str::from_utf8(&args[2]).ok().and_then(|p| p.parse().ok()) else {
                write_stdout(b"Invalid port, expected a number from 0 to 65535\n")?;
                return Ok(Flow::Continue);
            };
            self.settings.endpoint.host = String::from_utf8_lossy(&args[1]).into_owned();
            self.settings.endpoint.port = port;
            self.connection = None;
            self.connect();
            return Ok(Flow::Continue);
        }
        // `3 INCR k` runs INCR three times, as in redis-cli: a leading number is a repeat count
        // when a command follows it, and redis-cli 7.0 refuses a count that is not positive.
        let (repeat, command) = match repeat_count(first) {
            Some(count) if args.len() > 1 => match count {
                Some(count) if count > 0 => (count, &args[1..]),
                _ => {
                    write_stdout(b"Invalid redis-cli repeat command option value.\n")?;
                    return Ok(Flow::Continue);
                }
            },
            _ => (1, &args[..]),
        };
        self.run_command(command, repeat)?;
        Ok(Flow::Continue)
    }

    /// redis-cli's `issueCommandRepeat`: (re)connect, run the command `repeat` times, and forget
    /// the connection if it fails; the failed command is not retried, since it may have run.
    fn run_command(&mut self, command: &[Bytes], repeat: i64) -> Result<(), std::io::Error> {
        if !self.connect() {
            return Ok(());
        }
        // Held outside `self` while commands run, so `track` can update the session; it goes
        // back only if every command got its reply.
        let mut connection = self.connection.take().expect("connect() returned true");
        // The wall clock only feeds redis-cli's `(1.23s)` note for slow commands; it never
        // changes what is sent or received.
        #[allow(clippy::disallowed_methods)]
        let started = std::time::Instant::now();
        let mut remaining = repeat;
        while remaining != 0 {
            remaining -= remaining.signum();
            match execute(&mut connection, command, self.settings.output) {
                Ok(reply) => self.track(command, &reply),
                Err(RunError::Request(error)) => {
                    eprintln!("Error: {error}");
                    return Ok(());
                }
                Err(RunError::Stdout(error)) => return Err(error),
            }
            if remaining != 0 && !self.settings.interval.is_zero() {
                std::thread::sleep(self.settings.interval);
            }
        }
        self.connection = Some(connection);
        let elapsed = started.elapsed();
        if elapsed.as_millis() >= 500 && self.settings.output == OutputMode::Standard {
            write_stdout(format!("({:.2}s)\n", elapsed.as_secs_f64()).as_bytes())?;
        }
        Ok(())
    }

    /// Follows the state a successful command changed, as redis-cli's `cliSendCommand` does.
    fn track(&mut self, command: &[Bytes], reply: &Frame) {
        let is = |word: &str| command[0].eq_ignore_ascii_case(word.as_bytes());
        let failed = matches!(reply, Frame::Error(_));
        let alone = command.len() == 1;
        if is("select") && command.len() == 2 && !failed {
            self.db = std::str::from_utf8(&command[1]).ok().and_then(|d| d.trim().parse().ok()).unwrap_or(0);
        } else if is("multi") && alone && !failed {
            self.in_multi = true;
            self.db_before_multi = self.db;
        } else if is("exec") && alone && self.in_multi {
            self.in_multi = false;
            if failed || matches!(reply, Frame::Null | Frame::NullArray) {
                self.db = self.db_before_multi;
            }
        } else if is("discard") && alone && !failed {
            self.in_multi = false;
            self.db = self.db_before_multi;
        } else if is("reset") && alone && !failed {
            self.in_multi = false;
            self.db = 0;
        }
    }
}

/// Reads a word as redis-cli's `strtol` would: `None` if it is not a number at all, `Some(None)`
/// if it is one but does not fit an `i64`.
fn repeat_count(word: &[u8]) -> Option<Option<i64>> {
    let digits = word.strip_prefix(b"+").or_else(|| word.strip_prefix(b"-")).unwrap_or(word);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(std::str::from_utf8(word).ok().and_then(|text| text.parse().ok()))
}

fn write_stdout(bytes: &[u8]) -> Result<(), std::io::Error> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes)?;
    stdout.flush()
}

/// Where command lines come from.
enum Input {
    /// A terminal: line editing, hints and history.
    Terminal { editor: Box<Editor<CommandHelper, FileHistory>>, history_path: Option<PathBuf> },
    /// A pipe or file: plain lines, no prompt, no history (as redis-cli).
    Pipe(StdinLock<'static>),
}

impl Input {
    fn open() -> Input {
        if !std::io::stdin().is_terminal() {
            return Input::Pipe(std::io::stdin().lock());
        }
        let config = rustyline::Config::builder().auto_add_history(false).build();
        let mut editor = match Editor::<CommandHelper, FileHistory>::with_config(config) {
            Ok(editor) => editor,
            Err(error) => {
                eprintln!("Line editing is unavailable ({error}); reading plain lines");
                return Input::Pipe(std::io::stdin().lock());
            }
        };
        editor.set_helper(Some(CommandHelper));
        let history_path =
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".redraftcli_history"));
        if let Some(path) = &history_path {
            // A missing file is the first session's normal state; a damaged one only costs the
            // old history, as in redis-cli.
            let _ = editor.load_history(path);
        }
        Input::Terminal { editor: Box::new(editor), history_path }
    }

    /// The next line without its newline; `None` at end of input or on Ctrl-C / Ctrl-D, which
    /// leave the REPL as they do in redis-cli.
    fn read_line(&mut self, prompt: &str) -> Option<Vec<u8>> {
        match self {
            Input::Terminal { editor, history_path } => match editor.readline(prompt) {
                Ok(line) => {
                    if !line.is_empty() {
                        // History is a convenience: failing to keep it must not stop the session.
                        let _ = editor.add_history_entry(line.as_str());
                        if let Some(path) = history_path {
                            let _ = editor.save_history(path);
                        }
                    }
                    Some(line.into_bytes())
                }
                Err(ReadlineError::Eof | ReadlineError::Interrupted) => None,
                Err(error) => {
                    eprintln!("Could not read from the terminal: {error}");
                    None
                }
            },
            Input::Pipe(stdin) => {
                let mut line = Vec::new();
                match stdin.read_until(b'\n', &mut line) {
                    Ok(0) => None,
                    Ok(_) => {
                        // Only the newline goes: a `\r` before it is whitespace to the splitter,
                        // as it is to redis-cli's.
                        if line.last() == Some(&b'\n') {
                            line.pop();
                        }
                        Some(line)
                    }
                    Err(error) => {
                        eprintln!("Could not read from standard input: {error}");
                        None
                    }
                }
            }
        }
    }

    fn clear_screen(&mut self) -> Result<(), std::io::Error> {
        match self {
            Input::Terminal { editor, .. } => editor.clear_screen().map_err(std::io::Error::other),
            // linenoise's sequence: cursor home, erase the screen.
            Input::Pipe(_) => write_stdout(b"\x1b[H\x1b[2J"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeat_count_reads_numbers_as_strtol_does() {
        // A sign is allowed, anything else after the digits makes the word a command name, and
        // an overflowing number is a number that cannot be used.
        assert_eq!(repeat_count(b"3"), Some(Some(3)));
        assert_eq!(repeat_count(b"+2"), Some(Some(2)));
        assert_eq!(repeat_count(b"-3"), Some(Some(-3)));
        assert_eq!(repeat_count(b"99999999999999999999"), Some(None));
        assert_eq!(repeat_count(b"2x"), None);
        assert_eq!(repeat_count(b"get"), None);
        assert_eq!(repeat_count(b"-"), None);
    }
}
