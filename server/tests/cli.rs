//! `redraft-cli` checked against `redis-cli` itself: each test starts a real `redis-server` on a
//! free loopback port, runs the same command line through both clients, and requires the same
//! standard output, standard error and exit status, byte for byte.
//!
//! Needs `redis-server` and `redis-cli` on the PATH (`apt-get install -y redis-server
//! redis-tools`; ci/test installs them). Both clients write into a pipe here, so their default is
//! redis-cli's raw output; `--no-raw` checks the terminal formatting. The REPL is checked the same
//! way, with command lines piped to standard input, which redis-cli reads line by line too. The
//! interactive terminal side (prompt, hints, history) needs a terminal and is not covered here;
//! the hint rules have unit tests in the binary.

mod common;

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStringExt;
use std::process::{Command, Stdio};

use common::free_port;
use common::redis_server::RedisServer;

/// Runs one command through redis-cli to prepare data; its output is not under test.
fn setup(server: &RedisServer, args: &[&[u8]]) {
    let output = run("redis-cli", server.port, args, b"");
    assert_eq!(output.status, Some(0), "setup command {:?} failed: {}", show_args(args), output.show());
}

/// What a client printed and how it exited.
#[derive(Debug, PartialEq, Eq)]
struct Output {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    status: Option<i32>,
}

impl Output {
    fn show(&self) -> String {
        format!(
            "status {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            String::from_utf8_lossy(&self.stdout).escape_debug(),
            String::from_utf8_lossy(&self.stderr).escape_debug()
        )
    }
}

const REDRAFT_CLI: &str = env!("CARGO_BIN_EXE_redraft-cli");

/// Runs `program -p port args...` with `stdin` piped in.
fn run(program: &str, port: u16, args: &[&[u8]], stdin: &[u8]) -> Output {
    let mut command = Command::new(program);
    command.arg("-p").arg(port.to_string());
    command.args(args.iter().map(|a| OsString::from_vec(a.to_vec())));
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // redis-cli switches to terminal formatting when FAKETTY is set; the comparison must not
    // depend on the environment the tests run in.
    command.env_remove("FAKETTY");
    let mut child = command.spawn().unwrap_or_else(|e| panic!("could not start {program}: {e}"));
    let mut input = child.stdin.take().expect("stdin was piped");
    // A client that exits early (`quit`) closes its end; that is not a failure here.
    let _ = input.write_all(stdin);
    drop(input);
    let output = child.wait_with_output().unwrap_or_else(|e| panic!("{program} did not finish: {e}"));
    Output { stdout: output.stdout, stderr: output.stderr, status: output.status.code() }
}

fn show_args(args: &[&[u8]]) -> Vec<String> {
    args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect()
}

/// One comparison: the data to create first, then the client's command line and input.
struct Case<'a> {
    setup: &'a [&'a [&'a [u8]]],
    args: &'a [&'a [u8]],
    stdin: &'a [u8],
}

const fn case<'a>(setup: &'a [&'a [&'a [u8]]], args: &'a [&'a [u8]]) -> Case<'a> {
    Case { setup, args, stdin: b"" }
}

/// Runs `case` through redis-cli and then redraft-cli, each time on a freshly flushed server
/// with the same setup, and returns both outputs with `mask` applied.
fn both(server: &RedisServer, case: &Case<'_>, mask: fn(Vec<u8>) -> Vec<u8>) -> (Output, Output) {
    let [expected, actual] = ["redis-cli", REDRAFT_CLI].map(|program| {
        setup(server, &[b"FLUSHALL"]);
        for command in case.setup {
            setup(server, command);
        }
        let mut output = run(program, server.port, case.args, case.stdin);
        output.stdout = mask(output.stdout);
        output
    });
    (expected, actual)
}

fn assert_same(
    server: &RedisServer,
    cases: &[Case<'_>],
    extra_flags: &[&[u8]],
    mask: fn(Vec<u8>) -> Vec<u8>,
) {
    let mut failures = Vec::new();
    for case in cases {
        let args: Vec<&[u8]> = extra_flags.iter().chain(case.args).copied().collect();
        let case = Case { setup: case.setup, args: &args, stdin: case.stdin };
        let (expected, actual) = both(server, &case, mask);
        if expected != actual {
            failures.push(format!(
                "for {:?} with stdin {:?}\n=== redis-cli ===\n{}\n=== redraft-cli ===\n{}",
                show_args(&args),
                String::from_utf8_lossy(case.stdin),
                expected.show(),
                actual.show()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

fn unmasked(stdout: Vec<u8>) -> Vec<u8> {
    stdout
}

/// HELLO's `id` is the connection's number, which differs between the two clients' runs.
fn mask_client_id(stdout: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8_lossy(&stdout);
    let masked: Vec<String> = text
        .split('\n')
        .map(|line| match line.rsplit_once(' ') {
            Some((head, _number)) if line.starts_with("id ") || line.contains("\"id\" => ") => {
                format!("{head} N")
            }
            _ => line.to_owned(),
        })
        .collect();
    masked.join("\n").into_bytes()
}

/// A value with a newline, a control byte, a byte that is not UTF-8, a two-byte UTF-8 character,
/// a quote and a backslash: everything redis-cli escapes differently.
const AWKWARD_VALUE: &[u8] = b"line1\nline2\x01\xff\xc3\xa9\"q\"\\";

/// The one-shot cases both output modes are checked with.
const ONE_SHOT_CASES: &[Case<'static>] = &[
    case(&[], &[b"SET", b"k", b"v"]),
    case(&[&[b"SET", b"k", b"v"]], &[b"GET", b"k"]),
    case(&[], &[b"GET", b"missing"]),
    case(&[], &[b"INCR", b"counter"]),
    case(&[&[b"SET", b"k", b"v"]], &[b"INCR", b"k"]),
    case(&[], &[b"NOSUCHCOMMAND", b"a"]),
    case(&[&[b"SET", b"a", b"1"], &[b"SET", b"c", b"3"]], &[b"MGET", b"a", b"b", b"c"]),
    case(&[], &[b"KEYS", b"nothing*"]),
    case(&[&[b"SET", b"k", AWKWARD_VALUE]], &[b"GET", b"k"]),
    case(&[&[b"SET", b"k", b"v"]], &[b"MGET", b"k", b"nope"]),
    // Three keys stay in one small hash table, so SCAN returns them all in one stable order.
    case(&[&[b"SET", b"k1", b"a"], &[b"SET", b"k2", b"b"], &[b"SET", b"k3", b"c"]], &[b"SCAN", b"0"]),
    // Arrays nested three deep, with integers and simple strings inside.
    case(&[], &[b"COMMAND", b"INFO", b"get"]),
    case(&[], &[b"-r", b"3", b"INCR", b"counter"]),
    case(&[&[b"SET", b"k", b"v"]], &[b"-n", b"0", b"INCRBY", b"n", b"-5"]),
    case(&[], &[b"PING"]),
    case(&[], &[b"ECHO", b""]),
];

#[test]
fn one_shot_raw_output_matches_redis_cli() {
    // With standard output on a pipe both clients print raw replies; `--raw` must print the same.
    let server = RedisServer::start();
    assert_same(&server, ONE_SHOT_CASES, &[], unmasked);
    assert_same(&server, ONE_SHOT_CASES, &[b"--raw"], unmasked);
}

#[test]
fn one_shot_formatted_output_matches_redis_cli() {
    // `--no-raw` forces the terminal form: quotes, escapes, `(integer)`, numbered nested arrays.
    let server = RedisServer::start();
    assert_same(&server, ONE_SHOT_CASES, &[b"--no-raw"], unmasked);
}

#[test]
fn resp3_output_matches_redis_cli() {
    // RESP3 replies (maps, sets, doubles, booleans, empty aggregates) after `-3`, and a HELLO 3
    // sent as an ordinary command, in both output modes.
    let server = RedisServer::start();
    let cases = [
        case(&[], &[b"-3", b"HELLO", b"3"]),
        case(&[], &[b"HELLO", b"3"]),
        case(&[], &[b"-3", b"CONFIG", b"GET", b"maxmemory-policy"]),
        case(&[], &[b"-3", b"HGETALL", b"missing"]),
        case(&[], &[b"-3", b"SMEMBERS", b"missing"]),
        case(&[&[b"SADD", b"s", b"x", b"y", b"z"]], &[b"-3", b"SMEMBERS", b"s"]),
        case(&[&[b"ZADD", b"z", b"1.5", b"m"]], &[b"-3", b"ZSCORE", b"z", b"m"]),
        case(&[], &[b"-3", b"EVAL", b"return true", b"0"]),
        case(&[], &[b"-3", b"EVAL", b"return false", b"0"]),
        // Maps inside maps, and map values of several lines that start on their own line.
        case(&[], &[b"-3", b"COMMAND", b"DOCS", b"get", b"set"]),
        case(&[&[b"SET", b"k", b"v"]], &[b"-3", b"GET", b"k"]),
        case(&[], &[b"-3", b"GET", b"missing"]),
    ];
    assert_same(&server, &cases, &[], mask_client_id);
    assert_same(&server, &cases, &[b"--no-raw"], mask_client_id);
}

#[test]
fn last_argument_from_stdin_matches_redis_cli() {
    // `-x` appends standard input, unchanged, as the command's last argument.
    let server = RedisServer::start();
    let cases = [Case { setup: &[], args: &[b"-x", b"SET", b"k"], stdin: AWKWARD_VALUE }];
    assert_same(&server, &cases, &[], unmasked);
    setup(&server, &[b"SET", b"k", b"unset"]);
    let output = run(REDRAFT_CLI, server.port, &[b"-x", b"SET", b"k"], AWKWARD_VALUE);
    assert_eq!(output.stdout, b"OK\n");
    let output = run(REDRAFT_CLI, server.port, &[b"GET", b"k"], b"");
    assert_eq!(output.stdout, [AWKWARD_VALUE, b"\n"].concat());
}

#[test]
fn unreachable_server_is_reported_like_redis_cli() {
    // Nothing listens on the port: one-shot mode exits 1 with redis-cli's message, and the piped
    // REPL reports the failed connect once at start and once per command, then exits 0.
    let port = free_port();
    let expected_line = format!("Could not connect to Redis at 127.0.0.1:{port}: Connection refused\n");
    let ours = run(REDRAFT_CLI, port, &[b"GET", b"k"], b"");
    assert_eq!(
        ours,
        Output { stdout: Vec::new(), stderr: expected_line.clone().into_bytes(), status: Some(1) }
    );
    assert_eq!(ours, run("redis-cli", port, &[b"GET", b"k"], b""));

    let ours = run(REDRAFT_CLI, port, &[], b"GET k\nGET k\n");
    assert_eq!(ours.stderr, expected_line.repeat(3).into_bytes());
    assert_eq!(ours, run("redis-cli", port, &[], b"GET k\nGET k\n"));
}

/// REPL input exercising the line splitter and the REPL's own words: quotes and escapes, blank
/// lines, unbalanced quotes, repeat counts valid and not, an error reply, and `quit` ending the
/// session before the last line.
const REPL_INPUT: &[u8] = b"SET k v\nget k\nGET missing\n\n   \nset \"a b\" \"x\\ny\\x01\"\nget \"a b\"\n\
    set q 'it\\'s'\nget q\nmget k missing q\nget \"unbalanced\nget \"bad\"close\n3 incr n\n-1 get k\n\
    0 get k\n99999999999999999999 get k\n2x get k\nincr k\nkeys zz*\nscan 0\nget k\r\n\
    multi\nincr n\nexec\nselect 2\nget k\nselect 0\nQUIT\nget k\n";

#[test]
fn piped_repl_matches_redis_cli() {
    // Command lines on standard input run one by one, without prompts, in both output modes.
    let server = RedisServer::start();
    let cases = [Case { setup: &[], args: &[], stdin: REPL_INPUT }];
    assert_same(&server, &cases, &[], unmasked);
    assert_same(&server, &cases, &[b"--no-raw"], unmasked);
    let exit = [Case { setup: &[], args: &[], stdin: b"set k v\nexit\nget k\n" }];
    assert_same(&server, &exit, &[], unmasked);
}

#[test]
fn piped_repl_reconnects_after_the_connection_is_lost() {
    // The server closes the REPL's connection (CLIENT KILL of every normal client, itself
    // included). The next command fails with an error on standard error and is not retried; the
    // one after it reconnects and succeeds. redis-cli behaves the same, but whether the failed
    // command sees EOF or a reset depends on timing, so this checks redraft-cli alone.
    let server = RedisServer::start();
    setup(&server, &[b"SET", b"k", b"v"]);
    let output = run(REDRAFT_CLI, server.port, &[], b"CLIENT KILL TYPE normal SKIPME no\nGET k\nGET k\n");
    assert_eq!(output.status, Some(0), "{}", output.show());
    assert_eq!(output.stdout, b"1\nv\n", "{}", output.show());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{}", output.show());
    assert!(stderr.starts_with("Error: "), "{}", output.show());
}

#[test]
fn passwords_match_redis_cli() {
    // `-a`, `--pass` and `--user` log in after connecting, with redis-cli's warning about a
    // password on the command line (unless `--no-auth-warning`) and its report of a refused AUTH.
    let server = RedisServer::start_with(&["--requirepass", "s3cret"]);
    let cases = [
        case(&[], &[b"-a", b"s3cret", b"PING"]),
        case(&[], &[b"-a", b"wrong", b"PING"]),
        case(&[], &[b"--no-auth-warning", b"-a", b"s3cret", b"ACL", b"WHOAMI"]),
        case(&[], &[b"--user", b"default", b"--pass", b"s3cret", b"PING"]),
        case(&[], &[b"--user", b"nobody", b"--no-auth-warning", b"-a", b"s3cret", b"PING"]),
        case(&[], &[b"PING"]),
    ];
    assert_same(&server, &cases, &[], unmasked);
}
