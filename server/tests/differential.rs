//! Random sequences of string and keyspace commands, sent to a real `redis-server` and to
//! redraft, must get the same replies, error texts included: Redis is the reference, not a list
//! of replies written by hand. The only differences allowed are the ones time makes (a TTL left
//! counts down between the two), the order of KEYS, which Redis does not define, and the last
//! digits of an INCRBYFLOAT past 2^53 (`float_within_precision`).
#![cfg(not(madsim))]
// Real processes on real time: the determinism lint is for code that runs in simulation.
#![allow(clippy::disallowed_methods)]

mod common;

use std::cell::RefCell;

use common::redis_server::RedisServer;
use common::{ServerProcess, SyncClient};
use proptest::prelude::*;
use redraft_net::resp::Frame;

const KEYS: [&str; 3] = ["k0", "k1", "k2"];
const VALUES: [&str; 8] = ["1", "-3", "abc", "", "10.5", "9223372036854775807", "0x10", " 7"];

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(&KEYS[..]).prop_map(str::to_owned)
}

fn value() -> impl Strategy<Value = String> {
    prop::sample::select(&VALUES[..]).prop_map(str::to_owned)
}

fn number() -> impl Strategy<Value = String> {
    prop::sample::select(&["0", "5", "-2", "abc", "9223372036854775807", "1.5"][..]).prop_map(str::to_owned)
}

fn words(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|part| (*part).to_owned()).collect()
}

/// `words` followed by the words of `options`.
fn with_options(mut words: Vec<String>, options: &str) -> Vec<String> {
    words.extend(options.split_whitespace().map(str::to_owned));
    words
}

/// One command, as its arguments.
fn command() -> impl Strategy<Value = Vec<String>> {
    let set_option =
        prop::sample::select(&["", "NX", "XX", "GET", "KEEPTTL", "EX 100", "PX 0", "NX GET"][..]);
    let expire_option = prop::sample::select(&["", "NX", "XX", "GT", "LT"][..]);
    prop_oneof![
        (key(), value(), set_option).prop_map(|(k, v, option)| with_options(words(&["SET", &k, &v]), option)),
        key().prop_map(|k| words(&["GET", &k])),
        (key(), key()).prop_map(|(a, b)| words(&["DEL", &a, &b])),
        (key(), key()).prop_map(|(a, b)| words(&["EXISTS", &a, &b])),
        key().prop_map(|k| words(&["INCR", &k])),
        key().prop_map(|k| words(&["DECR", &k])),
        (key(), number()).prop_map(|(k, n)| words(&["INCRBY", &k, &n])),
        (key(), number()).prop_map(|(k, n)| words(&["DECRBY", &k, &n])),
        (key(), value()).prop_map(|(k, v)| words(&["APPEND", &k, &v])),
        key().prop_map(|k| words(&["STRLEN", &k])),
        (key(), number(), number()).prop_map(|(k, a, b)| words(&["GETRANGE", &k, &a, &b])),
        (key(), prop::sample::select(&["0", "2", "-1", "x"][..]), value())
            .prop_map(|(k, at, v)| words(&["SETRANGE", &k, at, &v])),
        (key(), key()).prop_map(|(a, b)| words(&["MGET", &a, &b])),
        (key(), value(), key(), value()).prop_map(|(a, x, b, y)| words(&["MSET", &a, &x, &b, &y])),
        (key(), value(), key(), value()).prop_map(|(a, x, b, y)| words(&["MSETNX", &a, &x, &b, &y])),
        (key(), value()).prop_map(|(k, v)| words(&["SETNX", &k, &v])),
        (key(), value()).prop_map(|(k, v)| words(&["GETSET", &k, &v])),
        key().prop_map(|k| words(&["GETDEL", &k])),
        key().prop_map(|k| words(&["TYPE", &k])),
        (key(), key()).prop_map(|(a, b)| words(&["RENAME", &a, &b])),
        (key(), key()).prop_map(|(a, b)| words(&["RENAMENX", &a, &b])),
        (key(), key(), prop::bool::ANY).prop_map(|(a, b, replace)| {
            let mut words = words(&["COPY", &a, &b]);
            if replace {
                words.push("REPLACE".into());
            }
            words
        }),
        (key(), prop::sample::select(&["100", "200", "0", "-1", "x"][..]), expire_option)
            .prop_map(|(k, seconds, option)| with_options(words(&["EXPIRE", &k, seconds]), option)),
        key().prop_map(|k| words(&["PERSIST", &k])),
        (key(), prop::sample::select(&["1.5", "-0.25", "abc", "1e3", "0", "3"][..]))
            .prop_map(|(k, by)| words(&["INCRBYFLOAT", &k, by])),
        (key(), prop::sample::select(&["PERSIST", "EX 100", "PX 0", ""][..]))
            .prop_map(|(k, option)| with_options(words(&["GETEX", &k]), option)),
        (key(), prop::sample::select(&["100", "0", "-5"][..]), value())
            .prop_map(|(k, seconds, v)| words(&["SETEX", &k, seconds, &v])),
        (key(), key()).prop_map(|(a, b)| words(&["UNLINK", &a, &b])),
        key().prop_map(|k| words(&["TTL", &k])),
        key().prop_map(|k| words(&["PTTL", &k])),
        Just(words(&["DBSIZE"])),
        Just(words(&["KEYS", "*"])),
        // Wrong arities and unknown options, for the error texts.
        Just(words(&["GET"])),
        (key(), value()).prop_map(|(k, v)| words(&["SET", &k, &v, "BOGUS"])),
        key().prop_map(|k| words(&["INCRBY", &k])),
    ]
}

/// A reply with what time and ordering may change taken out: a positive TTL is counted down
/// between the two servers, and KEYS has no defined order.
fn comparable(command: &[String], reply: Frame) -> Frame {
    match (command[0].as_str(), reply) {
        ("TTL" | "PTTL", Frame::Integer(left)) if left > 0 => Frame::Integer(1),
        ("KEYS", Frame::Array(mut keys)) => {
            keys.sort_by_key(|key| format!("{key:?}"));
            Frame::Array(keys)
        }
        (_, reply) => reply,
    }
}

/// Redis's INCRBYFLOAT sums in `long double` (80 bits on x86), redraft's in `f64`: past 2^53
/// the two can print different digits for the same sum. Returns Redis's value when that is the
/// only difference (the two agree to 15 significant digits).
fn float_within_precision(command: &[String], ours: &Frame, theirs: &Frame) -> Option<String> {
    let (Frame::Bulk(ours), Frame::Bulk(theirs)) = (ours, theirs) else { return None };
    if command[0] != "INCRBYFLOAT" || ours == theirs {
        return None;
    }
    let parse = |bytes: &[u8]| std::str::from_utf8(bytes).ok()?.parse::<f64>().ok();
    let (a, b) = (parse(ours)?, parse(theirs)?);
    ((a - b).abs() <= b.abs() * 1e-15).then(|| String::from_utf8_lossy(theirs).into_owned())
}

fn call(client: &mut SyncClient, command: &[String]) -> Frame {
    let args: Vec<&str> = command.iter().map(String::as_str).collect();
    client.call(&args).expect("the server answers")
}

#[test]
fn string_commands_answer_as_redis_does() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let redraft = ServerProcess::start(dir.path(), &["--fsync", "no"]);
    // The runner's closure may not borrow mutably; the clients are used one case at a time.
    let theirs = RefCell::new(SyncClient::connect(&redis.addr().to_string()).expect("redis-server"));
    let ours = RefCell::new(redraft.client());
    let config = ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(commands in prop::collection::vec(command(), 1..16))| {
        let (mut theirs, mut ours) = (theirs.borrow_mut(), ours.borrow_mut());
        call(&mut theirs, &words(&["FLUSHALL"]));
        call(&mut ours, &words(&["FLUSHALL"]));
        for (step, command) in commands.iter().enumerate() {
            let expected = comparable(command, call(&mut theirs, command));
            let found = comparable(command, call(&mut ours, command));
            if let Some(value) = float_within_precision(command, &found, &expected) {
                // The same sum in f64 (redraft) and long double (Redis); carry Redis's on.
                call(&mut ours, &words(&["SET", &command[1], &value, "KEEPTTL"]));
                continue;
            }
            prop_assert_eq!(&found, &expected, "step {} of {:?}: {:?}", step, commands, command);
        }
    });
}
