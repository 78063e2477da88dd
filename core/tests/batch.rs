//! Batch entries (`Payload::Batch`): many clients' writes in one log entry change no answer.
//! Each write gets the reply it would get in an entry of its own, the keyspace ends the same,
//! WATCH sees a change made earlier in the same batch, and client sessions apply a write at most
//! once even when its retry lands in the same batch.

mod common;

use bytes::Bytes;
use common::{bulk, Node};
use proptest::prelude::*;
use redraft_core::command::Command;
use redraft_core::entry::{Payload, SessionRef, Watch, Write};
use redraft_core::Reply;
use std::num::NonZeroU64;

fn b(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

fn parse(args: &[&str]) -> Command {
    Command::parse(&args.iter().map(|a| b(a)).collect::<Vec<_>>()).expect("valid command")
}

fn command(args: &[&str]) -> Write {
    Write::Command { session: None, command: parse(args) }
}

/// A WATCH taken before a batch sees a change made earlier in that batch: EXEC aborts. A change
/// made later in the batch comes after EXEC, which applies.
#[test]
fn exec_in_a_batch_sees_the_writes_before_it_in_that_batch() {
    let mut n = Node::new();
    n.run(&["SET", "k", "0"]);
    let watched = Watch { key: b("k"), token: n.sm.watch_token(&b("k")) };
    let exec = Write::Transaction {
        session: None,
        watches: vec![watched.clone()],
        commands: vec![parse(&["INCR", "k"])],
    };
    let replies =
        n.append_all(Payload::Batch { writes: vec![command(&["SET", "k", "5"]), exec.clone()].into() });
    assert_eq!(replies, [Reply::Ok, Reply::NilArray]);
    assert_eq!(n.run(&["GET", "k"]), bulk("5"));

    let watched = Watch { key: b("k"), token: n.sm.watch_token(&b("k")) };
    let exec =
        Write::Transaction { session: None, watches: vec![watched], commands: vec![parse(&["INCR", "k"])] };
    let replies = n.append_all(Payload::Batch { writes: vec![exec, command(&["SET", "k", "9"])].into() });
    assert_eq!(replies, [Reply::Array(vec![Reply::Integer(6)]), Reply::Ok]);
    assert_eq!(n.run(&["GET", "k"]), bulk("9"));
}

/// A write and its retry under one session in the same batch apply once; both get the reply.
#[test]
fn a_retry_in_the_same_batch_applies_once() {
    let mut n = Node::new();
    let incr = Write::Command {
        session: Some(SessionRef { client_id: 8, sequence: NonZeroU64::new(1).unwrap() }),
        command: parse(&["INCR", "n"]),
    };
    let other = Write::Command {
        session: Some(SessionRef { client_id: 9, sequence: NonZeroU64::new(1).unwrap() }),
        command: parse(&["INCR", "n"]),
    };
    let replies = n.append_all(Payload::Batch { writes: vec![incr.clone(), other, incr].into() });
    assert_eq!(replies, [Reply::Integer(1), Reply::Integer(2), Reply::Integer(1)]);
    assert_eq!(n.run(&["GET", "n"]), bulk("2"));
}

/// A command that needs the whole keyspace (FLUSHALL) in a batch with keyed writes.
#[test]
fn a_batch_may_mix_keyed_writes_and_whole_keyspace_ones() {
    let mut n = Node::new();
    let writes = vec![command(&["SET", "a", "1"]), command(&["FLUSHALL"]), command(&["SET", "b", "2"])];
    assert_eq!(n.append_all(Payload::Batch { writes: writes.into() }), [Reply::Ok, Reply::Ok, Reply::Ok]);
    assert_eq!(n.run(&["KEYS", "*"]), Reply::Array(vec![bulk("b")]));
}

/// A few keys and the string writes that touch them, conditional ones included.
fn writes() -> impl Strategy<Value = Vec<Vec<String>>> {
    let key = prop::sample::select(vec!["a", "b", "c"]);
    let value = prop::sample::select(vec!["1", "2", "x"]);
    let write = (0..9usize, key.clone(), key, value).prop_map(|(op, k, k2, v)| {
        let args: Vec<&str> = match op {
            0 => vec!["SET", k, v],
            1 => vec!["INCR", k],
            2 => vec!["DEL", k, k2],
            3 => vec!["APPEND", k, v],
            4 => vec!["SET", k, v, "IFEQ", "1"],
            5 => vec!["SET", k, v, "NX", "GET"],
            6 => vec!["MSET", k, v, k2, "2"],
            7 => vec!["GETDEL", k],
            _ => vec!["RENAME", k, k2],
        };
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    });
    prop::collection::vec(write, 1..40)
}

fn args(write: &[String]) -> Vec<&str> {
    write.iter().map(String::as_str).collect()
}

proptest! {
    /// Writes cut into batches anywhere get the replies they get one entry each, and leave the
    /// same keys and values.
    #[test]
    fn batching_changes_no_reply_and_no_value(writes in writes(), cuts in prop::collection::vec(any::<bool>(), 40)) {
        let mut alone = Node::new();
        let expected: Vec<Reply> = writes.iter().map(|w| alone.run(&args(w))).collect();

        let mut batched = Node::new();
        let mut got = Vec::new();
        let mut batch = Vec::new();
        for (i, w) in writes.iter().enumerate() {
            batch.push(batched.parse_write(&args(w)).expect("a write"));
            if cuts[i] || i + 1 == writes.len() {
                got.extend(batched.append_all(Payload::Batch { writes: std::mem::take(&mut batch).into() }));
            }
        }
        prop_assert_eq!(got, expected);
        for key in ["a", "b", "c"] {
            prop_assert_eq!(batched.run(&["GET", key]), alone.run(&["GET", key]), "key {}", key);
        }
    }
}
