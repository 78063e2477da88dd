//! A small driver shared by the integration tests: it parses client arguments as a server would,
//! sends writes through `StateMachine::apply` as log entries stamped with a test clock, and reads
//! through `StateMachine::read`.
// Each test file uses a different part of this driver.
#![allow(dead_code)]

use std::sync::Arc;

use bytes::Bytes;
use redraft_core::reply::unknown_command;
use redraft_core::{Command, LogEntry, ParseError, Payload, Reply, StateMachine, StateMachineConfig, Write};

pub struct Node {
    pub sm: Arc<StateMachine>,
    pub log_index: u64,
    pub clock_ms: u64,
}

impl Node {
    pub fn new() -> Node {
        Node::with_seed(7)
    }

    pub fn with_seed(hash_seed: u64) -> Node {
        let config = StateMachineConfig { hash_seed, shard_bits: 4, ..StateMachineConfig::default() };
        Node { sm: Arc::new(StateMachine::new(config)), log_index: 0, clock_ms: 1_000_000 }
    }

    /// Moves the leader's clock and replicates a time advance, as the leader does when idle.
    pub fn advance_ms(&mut self, ms: u64) {
        self.clock_ms += ms;
        self.append(Payload::TimeAdvance);
    }

    /// Applies one entry that answers one reply (a lone write, a batch of one, a duty).
    pub fn append(&mut self, payload: Payload) -> Reply {
        let mut replies = self.append_all(payload);
        assert_eq!(replies.len(), 1, "one reply expected: {replies:?}");
        replies.pop().expect("one reply")
    }

    /// Applies one entry and returns every reply it answers (one per write of a batch).
    pub fn append_all(&mut self, payload: Payload) -> Vec<Reply> {
        self.log_index += 1;
        self.sm.apply(self.log_index, &LogEntry::new(self.clock_ms, payload))
    }

    /// Parses a write as a server would; `Err` holds the reply to a command that is not one.
    pub fn parse_write(&self, args: &[&str]) -> Result<Write, Reply> {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())).collect();
        match Command::parse(&args) {
            Err(ParseError::UnknownCommand) => Err(Reply::Error(unknown_command(&args))),
            Err(ParseError::Invalid(text)) => Err(Reply::Error(text)),
            Ok(command) if command.is_write() => Ok(Write::Command { session: None, command }),
            Ok(command) => Err(Reply::Error(format!("{} is not a write", command.name().as_str()))),
        }
    }

    pub fn run(&mut self, args: &[&str]) -> Reply {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())).collect();
        match Command::parse(&args) {
            Err(ParseError::UnknownCommand) => Reply::Error(unknown_command(&args)),
            Err(ParseError::Invalid(text)) => Reply::Error(text),
            // As the server's proposer does, even for a single write.
            Ok(command) if command.is_write() => {
                self.append(Payload::Batch { writes: vec![Write::Command { session: None, command }].into() })
            }
            Ok(command) => self.sm.read(&command),
        }
    }
}

pub fn bulk(text: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

pub fn err(text: &str) -> Reply {
    Reply::Error(text.to_owned())
}

pub fn array(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|i| bulk(i)).collect())
}

/// Whether EXPIRE's flag refuses a new deadline `when` on a key whose deadline is `current`
/// (NX: it has one; XX: it has none; GT: not later; LT: not earlier, no deadline counting as
/// infinitely late), as the Redis documentation reads; for the reference models.
pub fn expire_refused(flag: Option<&str>, current: Option<u64>, when: i64) -> bool {
    let current = current.map(|at| at as i64);
    match flag {
        Some("NX") => current.is_some(),
        Some("XX") => current.is_none(),
        Some("GT") => current.is_none_or(|c| when <= c),
        Some("LT") => current.is_some_and(|c| when >= c),
        _ => false,
    }
}
