//! The replicated entries openraft carries in its log. Their bytes on disk are the server's
//! storage format (`server/src/storage/log_store.rs`), pinned in `server/tests/formats.rs`.
//!
//! Every entry is stamped by the leader with its clock reading in milliseconds, never lower than
//! the last stamp it applied; the state-machine time is the stamp of the last applied entry, so
//! every replica agrees on what exists at every log index (DESIGN.md §3).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::command::Command;

/// One replicated entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The proposing leader's clock, in Unix milliseconds.
    pub stamp_ms: u64,
    /// What to apply.
    pub payload: Payload,
}

/// What an entry does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Payload {
    /// One command from a client.
    Command {
        /// Set when the client retries through a session, so the entry applies at most once.
        session: Option<SessionRef>,
        command: Command,
    },
    /// A MULTI/EXEC block, applied atomically; the watches are checked first.
    Transaction {
        session: Option<SessionRef>,
        /// Keys watched with WATCH and the token each had then ([`crate::StateMachine::watch_token`]).
        watches: Vec<Watch>,
        commands: Vec<Command>,
    },
    /// Moves the state-machine time forward while no client writes (so TTLs keep expiring).
    TimeAdvance,
    /// Active expiry: delete these keys if they are still expired at this entry's time.
    ExpireBatch { keys: Vec<Bytes> },
}

/// A client's session and the sequence number of this request (Raft thesis §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRef {
    pub client_id: u64,
    /// Starts at 1 and grows by one for every new request; a retry reuses the number.
    pub sequence: u64,
}

/// A key watched by WATCH and the token it had when watched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watch {
    pub key: Bytes,
    pub token: u64,
}
