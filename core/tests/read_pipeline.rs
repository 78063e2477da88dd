//! `StateMachine::read_pipeline`, which a connection's pipelined reads go through, answers each
//! read as `StateMachine::read` does on its own: in runs under one set of locks, in runs of
//! single reads where a command names no key, and across the runs' bound.

mod common;

use bytes::Bytes;
use common::Node;
use proptest::prelude::*;
use redraft_core::command::Command;

/// Reads of every shape: one key, several, a key of the wrong type, none (the whole keyspace).
const READS: &[&[&str]] = &[
    &["GET", "KEY"],
    &["STRLEN", "KEY"],
    &["EXISTS", "KEY", "other"],
    &["MGET", "KEY", "s0", "s1"],
    &["TYPE", "KEY"],
    &["HGET", "KEY", "f"],
    &["LRANGE", "KEY", "0", "-1"],
    &["TTL", "KEY"],
    &["DBSIZE"],
];

/// The keyspace: strings, a hash, a list, a key with a TTL, one that expired.
fn keyspace() -> Node {
    let mut n = Node::new();
    for i in 0..8 {
        n.run(&["SET", &format!("s{i}"), &format!("value {i}")]);
    }
    n.run(&["HSET", "h", "f", "1"]);
    n.run(&["RPUSH", "l", "a", "b"]);
    n.run(&["SET", "t", "v", "PX", "100000"]);
    n.run(&["SET", "gone", "v", "PX", "5"]);
    n.advance_ms(10);
    n
}

fn read(template: &[&str], key: &str) -> Command {
    let args: Vec<Bytes> = template
        .iter()
        .map(|arg| Bytes::copy_from_slice(if *arg == "KEY" { key } else { arg }.as_bytes()))
        .collect();
    Command::parse(&args).expect("a valid read")
}

proptest! {
    #[test]
    fn a_pipeline_answers_each_read_as_it_would_alone(
        picks in prop::collection::vec((0..READS.len(), 0..14usize), 0..150),
    ) {
        let n = keyspace();
        let keys = ["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "h", "l", "t", "gone", "absent", "s0"];
        let commands: Vec<Command> = picks.iter().map(|&(template, key)| read(READS[template], keys[key])).collect();
        let borrowed: Vec<&Command> = commands.iter().collect();
        let mut together = Vec::new();
        n.sm.read_pipeline(&borrowed, |reply| together.push(reply));
        let alone: Vec<_> = commands.iter().map(|command| n.sm.read(command)).collect();
        prop_assert_eq!(together, alone);
    }
}
