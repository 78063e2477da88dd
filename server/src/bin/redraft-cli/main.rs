//! `redraft-cli`: a command-line client that behaves like `redis-cli`, so scripts and habits built
//! around `redis-cli` work unchanged against redraft (and against Redis itself).
//!
//! With a command on the command line it runs it once and prints the reply (one-shot mode);
//! without one it reads commands line by line (the REPL in `repl.rs`). Replies are printed the
//! way redis-cli 7 prints them (`format.rs`): quoted and annotated on a terminal, raw when
//! standard output is a pipe. The RESP codec itself lives in `redraft_net::resp`; this binary
//! only moves bytes between it, a blocking socket and the terminal. `redraft-cli cluster
//! status|add|promote|remove` manages membership (`cluster.rs`); `redraft-cli snapshot
//! save|verify FILE` takes and checks backups (`snapshot.rs`); `redraft-cli import --from
//! redis://...` copies a Redis's keys in (`import.rs`).

mod cluster;
mod connection;
mod format;
mod hints;
mod import;
mod repl;
mod snapshot;

use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use clap::{ArgAction, Parser};
use redraft_net::resp::Frame;

use connection::{Connection, Credentials, Endpoint, RequestError};
use format::OutputMode;

/// Options follow redis-cli's names; `-h` is the host, as in redis-cli, so clap's `-h` help flag
/// is replaced by `--help` alone.
#[derive(Debug, Parser)]
#[command(
    name = "redraft-cli",
    version,
    about = "A redis-cli compatible client for redraft",
    disable_help_flag = true,
    // redis-cli lets a later option override an earlier one (`-p 1 -p 2`).
    args_override_self = true,
    // Like redis-cli, options end at the first word of the command: `redraft-cli INCRBY k -1`
    // passes `-1` to the server instead of reading it as an option.
    trailing_var_arg = true
)]
struct Args {
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
    /// Server hostname.
    #[arg(short = 'h', value_name = "hostname", default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(short = 'p', value_name = "port", default_value_t = 6379)]
    port: u16,
    /// The node's HTTP address, for `snapshot save` [default: the host, port + 1000].
    #[arg(long, value_name = "host:port")]
    http_addr: Option<String>,
    /// Database number, selected after connecting.
    #[arg(short = 'n', value_name = "db", default_value_t = 0)]
    db: i64,
    /// Password to log in with (AUTH); REDISCLI_AUTH gives it without showing it in `ps`.
    #[arg(short = 'a', long = "pass", value_name = "password")]
    password: Option<String>,
    /// User to log in as (with -a or REDISCLI_AUTH).
    #[arg(long, value_name = "username")]
    user: Option<String>,
    /// Do not warn that a password on the command line may not be safe.
    #[arg(long)]
    no_auth_warning: bool,
    /// Start the session in RESP3 protocol mode (sends `HELLO 3` first).
    #[arg(short = '3')]
    resp3: bool,
    /// Execute the command N times (a negative N repeats forever).
    #[arg(short = 'r', value_name = "repeat", default_value_t = 1, allow_negative_numbers = true)]
    repeat: i64,
    /// When -r is used, wait this many seconds (fractions allowed) between commands.
    #[arg(short = 'i', value_name = "interval", default_value_t = 0.0)]
    interval_secs: f64,
    /// Read the last argument from standard input.
    #[arg(short = 'x')]
    stdin_last_arg: bool,
    /// Use raw formatting for replies (the default when standard output is not a terminal).
    #[arg(long, overrides_with = "no_raw")]
    raw: bool,
    /// Force formatted output even when standard output is not a terminal.
    #[arg(long, overrides_with = "raw")]
    no_raw: bool,
    /// The command and its arguments; without one, commands are read interactively.
    #[arg(value_name = "cmd", allow_hyphen_values = true)]
    command: Vec<OsString>,
}

/// The session's settings, shared by one-shot mode and the REPL.
#[derive(Clone, Debug)]
pub struct Settings {
    pub endpoint: Endpoint,
    /// The node's HTTP address (`snapshot save`).
    pub http_addr: String,
    /// Logged in with on every (re)connection.
    pub auth: Option<Credentials>,
    /// The database to select on every (re)connection.
    pub db: i64,
    pub resp3: bool,
    pub output: OutputMode,
    pub repeat: i64,
    pub interval: Duration,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let output = if args.raw {
        OutputMode::Raw
    } else if args.no_raw || std::io::stdout().is_terminal() || std::env::var_os("FAKETTY").is_some() {
        // redis-cli honours FAKETTY to get terminal formatting into a pipe; so do we.
        OutputMode::Standard
    } else {
        OutputMode::Raw
    };
    let interval = match Duration::try_from_secs_f64(args.interval_secs) {
        Ok(interval) => interval,
        Err(_) => {
            eprintln!("Invalid interval for -i: {}, expected a number of seconds >= 0", args.interval_secs);
            return ExitCode::FAILURE;
        }
    };
    if args.password.is_some() && !args.no_auth_warning {
        eprintln!("Warning: Using a password with '-a' or '-u' option on the command line interface may not be safe.");
    }
    let password = args.password.or_else(|| std::env::var("REDISCLI_AUTH").ok());
    let auth = password.map(|password| Credentials { user: args.user, password });
    let http_addr =
        args.http_addr.unwrap_or_else(|| format!("{}:{}", args.host, u32::from(args.port) + 1000));
    let settings = Settings {
        endpoint: Endpoint { host: args.host, port: args.port },
        http_addr,
        auth,
        db: args.db,
        resp3: args.resp3,
        output,
        repeat: args.repeat,
        interval,
    };
    let mut command: Vec<Bytes> = args.command.into_iter().map(|a| Bytes::from(a.into_vec())).collect();
    if args.stdin_last_arg {
        let mut last = Vec::new();
        if let Err(error) = std::io::stdin().read_to_end(&mut last) {
            eprintln!("Could not read the last argument from standard input: {error}");
            return ExitCode::FAILURE;
        }
        command.push(Bytes::from(last));
    }
    if command.is_empty() {
        repl::run(settings)
    } else if let Some(import_command) = import::parse(&command) {
        import::run(&settings, import_command)
    } else if let Some(snapshot_command) = snapshot::parse(&command) {
        snapshot::run(&settings, snapshot_command)
    } else if let Some(cluster_command) = cluster::parse(&command) {
        cluster::run(&settings, cluster_command)
    } else {
        one_shot(&settings, &command)
    }
}

/// Runs one command (`-r` times) and prints its replies. Exits 1 only when the server cannot be
/// reached or the connection breaks; an error reply is output like any other and exits 0, as
/// redis-cli 7.0 does.
fn one_shot(settings: &Settings, command: &[Bytes]) -> ExitCode {
    let mut connection =
        match Connection::open(&settings.endpoint, settings.auth.as_ref(), settings.db, settings.resp3) {
            Ok(connection) => connection,
            Err(error) => {
                eprintln!("{error}");
                return ExitCode::FAILURE;
            }
        };
    let mut remaining = settings.repeat;
    while remaining != 0 {
        remaining -= remaining.signum();
        match execute(&mut connection, command, settings.output) {
            Ok(_) => {}
            Err(RunError::Request(error)) => {
                eprintln!("Error: {error}");
                return ExitCode::FAILURE;
            }
            Err(RunError::Stdout(_)) => return ExitCode::FAILURE,
        }
        if remaining != 0 && !settings.interval.is_zero() {
            std::thread::sleep(settings.interval);
        }
    }
    ExitCode::SUCCESS
}

/// Why a command could not be run and printed.
#[derive(Debug)]
pub enum RunError {
    /// The connection failed; the reply (if any) is lost.
    Request(RequestError),
    /// Standard output is gone (a closed pipe); nothing more can be shown.
    Stdout(std::io::Error),
}

/// Sends one command, waits for its reply and prints it; returns the reply so the REPL can track
/// state the command changed (the database, a transaction).
///
/// # Errors
/// [`RunError::Request`] when the connection fails, [`RunError::Stdout`] when printing fails.
pub fn execute(
    connection: &mut Connection,
    command: &[Bytes],
    output: OutputMode,
) -> Result<Frame, RunError> {
    let reply = connection.request(command).map_err(RunError::Request)?;
    let text = if prints_verbatim(command) {
        format::format_verbatim(&reply)
    } else {
        format::format_reply(&reply, output)
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&text).and_then(|()| stdout.flush()).map_err(RunError::Stdout)?;
    Ok(reply)
}

/// Commands whose replies are reports meant to be read as they are (INFO's sections, CLIENT
/// LIST's lines): redis-cli prints them raw, without quotes or a trailing newline, even on a
/// terminal. The list is redis-cli 7.0's `cliSendCommand`, kept whole so output from a real Redis
/// matches too.
fn prints_verbatim(command: &[Bytes]) -> bool {
    let is = |index: usize, word: &str| {
        command.get(index).is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
    };
    let argc = command.len();
    is(0, "info")
        || is(0, "lolwut")
        || (argc >= 2
            && is(0, "debug")
            && (is(1, "htstats") || is(1, "htstats-key") || is(1, "client-eviction")))
        || (argc >= 2 && is(0, "memory") && (is(1, "malloc-stats") || is(1, "doctor")))
        || (argc == 2 && is(0, "cluster") && (is(1, "nodes") || is(1, "info")))
        || (argc >= 2 && is(0, "client") && (is(1, "list") || is(1, "info")))
        || (argc == 3 && is(0, "latency") && is(1, "graph"))
        || (argc == 2 && is(0, "latency") && is(1, "doctor"))
        || (argc >= 2 && is(0, "proxy") && is(1, "info"))
}
