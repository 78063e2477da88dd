//! The replicated entries openraft carries in its log. Their bytes on disk are the server's
//! storage format (`server/src/storage/log_store.rs`), pinned in `server/tests/formats.rs`.
//!
//! Every entry is stamped by the leader with its clock reading in milliseconds, never lower than
//! the last stamp it applied; the state-machine time is the stamp of the last applied entry, so
//! every replica agrees on what exists at every log index (DESIGN.md §3).

use std::num::NonZeroU64;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::command::Command;
use crate::encoded_string::EncodedString;
use crate::txn::Txn;

/// One replicated entry.
#[derive(Clone, Serialize, Deserialize)]
pub struct LogEntry {
    /// The proposing leader's clock, in Unix milliseconds.
    pub stamp_ms: u64,
    /// What to apply.
    pub payload: Payload,
    /// This entry's encoding ([`codec::encode_into`]), once the server's log has written it or a
    /// follower has received it: sending the entry to followers, and a follower writing it to its
    /// log, then copy these bytes instead of encoding the entry again (each encoding walks every
    /// write in it). Neither encoded nor compared; an entry is not changed once it has one.
    #[serde(skip)]
    encoding: Option<Bytes>,
    /// Where `encoding` holds the keys and values of the entry's writes, when the leader's log
    /// encoded it and noted them ([`LogEntry::set_encoding_placed`]): the state machine's
    /// record of changes shares them from the encoding instead of copying them. Neither encoded
    /// nor compared.
    #[serde(skip)]
    placed: Option<Arc<[EncodedString]>>,
}

impl LogEntry {
    /// An entry with no encoding known yet.
    pub fn new(stamp_ms: u64, payload: Payload) -> LogEntry {
        LogEntry { stamp_ms, payload, encoding: None, placed: None }
    }

    /// The entry's encoding, if [`LogEntry::set_encoding`] gave it one.
    pub fn encoding(&self) -> Option<&Bytes> {
        self.encoding.as_ref()
    }

    /// Remembers `bytes` as the entry's encoding: the caller encoded or decoded the entry whole
    /// from them. Debug builds check that they encode this entry (up to a megabyte of them).
    pub fn set_encoding(&mut self, bytes: Bytes) {
        debug_assert!(
            bytes.len() > 1 << 20 || {
                let mut encoded = Vec::new();
                codec::encode_into(&*self, &mut encoded);
                encoded == bytes
            },
            "the bytes given as an entry's encoding encode another entry"
        );
        self.encoding = Some(bytes);
    }

    /// [`LogEntry::set_encoding`], with where the encoding holds the writes' strings
    /// (`encode_log_entry_placing` noted them, counted from the encoding's start).
    pub fn set_encoding_placed(&mut self, bytes: Bytes, placed: &[EncodedString]) {
        debug_assert!(placed.iter().all(|p| p.at + p.len <= bytes.len()), "a string noted past the encoding");
        self.set_encoding(bytes);
        self.placed = (!placed.is_empty()).then(|| placed.into());
    }

    /// Where the encoding holds the writes' strings, if that was noted.
    pub fn placed(&self) -> Option<&Arc<[EncodedString]>> {
        self.placed.as_ref()
    }
}

impl PartialEq for LogEntry {
    fn eq(&self, other: &LogEntry) -> bool {
        self.stamp_ms == other.stamp_ms && self.payload == other.payload
    }
}

impl std::fmt::Debug for LogEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogEntry").field("stamp_ms", &self.stamp_ms).field("payload", &self.payload).finish()
    }
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
    /// Client writes gathered by the leader's proposer from every client waiting while the
    /// previous entry was in flight (format version 2): applied in order, at this entry's index
    /// and time, under one set of shard locks, with one reply each. What a lone `Command` or
    /// `Transaction` entry (version 1 logs) does, each write here does in turn. Shared, so that
    /// the copies openraft takes of an entry (one to apply it, one per follower it is sent to)
    /// do not copy its writes; encoded as the list itself.
    Batch { writes: Arc<Vec<Write>> },
}

/// One client write: what a client submits and a batch carries. A separate type from
/// [`Payload`] so that a batch cannot hold another batch (decoding never recurses) nor an entry
/// only the leader proposes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Write {
    /// One command.
    Command {
        /// Set when the client retries through a session, so the write applies at most once.
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
    /// A change to the users (store format version 3).
    Acl { session: Option<SessionRef>, change: AclChange },
    /// An etcd-style transaction from the HTTP API (store format version 4).
    Txn { session: Option<SessionRef>, txn: Txn },
}

/// A write is moved from the connection that parsed it to the proposer's queue and into its
/// entry; within this size each move is a few vector stores, past it a call to `memcpy`.
const _: () = assert!(std::mem::size_of::<Write>() <= crate::command::COMMAND_BYTES_MAX);

/// A change to the replicated users ([`crate::acl::Users`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AclChange {
    /// ACL SETUSER name rule...
    SetUser { name: Bytes, rules: Vec<Bytes> },
    /// ACL DELUSER name...
    DelUser { names: Vec<Bytes> },
}

impl Write {
    /// The write's session, if it retries through one.
    pub fn session(&self) -> Option<SessionRef> {
        match self {
            Write::Command { session, .. }
            | Write::Transaction { session, .. }
            | Write::Acl { session, .. }
            | Write::Txn { session, .. } => *session,
        }
    }

    /// The keys its apply locks (its commands' keys and its watched keys), or `None` when a
    /// command in it needs the whole keyspace.
    pub fn keys(&self) -> Option<Vec<&Bytes>> {
        let mut keys = Vec::new();
        self.push_keys(&mut keys).then_some(keys)
    }

    /// Adds the keys its apply locks to `keys`; `false` when a command in it needs the whole
    /// keyspace (and then some of its keys may have been added).
    pub fn push_keys<'a>(&'a self, keys: &mut Vec<&'a Bytes>) -> bool {
        match self {
            Write::Command { command, .. } => command.for_each_key(|key| keys.push(key)),
            Write::Transaction { watches, commands, .. } => {
                keys.extend(watches.iter().map(|w| &w.key));
                commands.iter().all(|command| command.for_each_key(|key| keys.push(key)))
            }
            Write::Acl { .. } => true,
            Write::Txn { txn, .. } => {
                keys.extend(txn.keys());
                true
            }
        }
    }

    /// About how many bytes the write adds to an entry: its arguments' lengths plus a small
    /// overhead per argument. The proposer bounds a batch by this, before encoding it.
    pub fn weight(&self) -> usize {
        match self {
            Write::Command { command, .. } => command.weight(),
            Write::Transaction { watches, commands, .. } => {
                watches.iter().map(|w| w.key.len() + 16).sum::<usize>()
                    + commands.iter().map(Command::weight).sum::<usize>()
            }
            Write::Acl { change: AclChange::SetUser { name, rules }, .. } => {
                name.len() + 16 + rules.iter().map(|r| r.len() + 16).sum::<usize>()
            }
            Write::Acl { change: AclChange::DelUser { names }, .. } => {
                names.iter().map(|n| n.len() + 16).sum()
            }
            Write::Txn { txn, .. } => txn.weight(),
        }
    }
}

/// A client's session and the sequence number of this request (Raft thesis §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRef {
    pub client_id: u64,
    /// Starts at 1 and grows by one for every new request; a retry reuses the number. Never 0,
    /// which lets `Option<SessionRef>` take 16 bytes instead of 24 (and a [`Write`] within the
    /// 128 bytes a move copies without a call to `memcpy`).
    pub sequence: NonZeroU64,
}

/// A key watched by WATCH and the token it had when watched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watch {
    pub key: Bytes,
    pub token: u64,
}
