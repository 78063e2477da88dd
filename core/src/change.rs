//! What applying an entry changed, key by key: the stream that watch (`/v1/watch`) and keyspace
//! notifications read (DESIGN.md §9). Every change carries its revision, the log index of the
//! entry that made it, so the stream is in revision order and one entry's changes share one.

use bytes::Bytes;

use crate::keyspace_event::Event;
use crate::types::Kind;

/// One change to the keyspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The log index of the entry that made the change.
    pub revision: u64,
    pub kind: ChangeKind,
}

/// What changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// A key was written (created or replaced); the key now holds `value`.
    Put {
        key: Bytes,
        value: Bytes,
        /// The revision that created the key (equal to the change's own for a new key).
        create_revision: u64,
        /// When the key expires, in state-machine milliseconds.
        expire_at_ms: Option<u64>,
    },
    /// A hash, list or set was created or changed (its elements are not carried: a watcher
    /// reads them if it wants them).
    Update {
        key: Bytes,
        kind: Kind,
        /// The revision that created the key.
        create_revision: u64,
        /// When the key expires, in state-machine milliseconds.
        expire_at_ms: Option<u64>,
    },
    /// A key was removed.
    Delete { key: Bytes, reason: DeleteReason },
    /// Every key was removed (FLUSHALL, FLUSHDB): one change, not one per key.
    Flush,
    /// A message was published (PUBLISH); no key changed. The server hands these to its
    /// subscribers and keeps them out of the watch feed.
    Message { channel: Bytes, message: Bytes },
    /// A command raised a keyspace event about `key` (recorded only while a node publishes
    /// keyspace notifications). The server publishes these to its subscribers and keeps them
    /// out of the watch feed, whose puts and deletes already say what changed.
    Event { event: Event, key: Bytes },
}

/// Why a key was removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteReason {
    /// A client command removed it (DEL, GETDEL, RENAME's source, a transaction's delete).
    Client,
    /// Active expiry removed it after its deadline.
    Expiry,
}

impl ChangeKind {
    /// The key changed; `None` for a flush, a message and an event.
    pub fn key(&self) -> Option<&Bytes> {
        match self {
            ChangeKind::Put { key, .. } | ChangeKind::Update { key, .. } | ChangeKind::Delete { key, .. } => {
                Some(key)
            }
            ChangeKind::Flush | ChangeKind::Message { .. } | ChangeKind::Event { .. } => None,
        }
    }

    /// The strings the change holds (its key, value, channel or message), to be changed in place.
    pub fn bytes_mut(&mut self) -> impl Iterator<Item = &mut Bytes> {
        let (first, second) = match self {
            ChangeKind::Put { key, value, .. } => (Some(key), Some(value)),
            ChangeKind::Update { key, .. }
            | ChangeKind::Delete { key, .. }
            | ChangeKind::Event { key, .. } => (Some(key), None),
            ChangeKind::Message { channel, message } => (Some(channel), Some(message)),
            ChangeKind::Flush => (None, None),
        };
        first.into_iter().chain(second)
    }

    /// About how many bytes the change holds, for bounding a history of changes.
    pub fn weight(&self) -> usize {
        const OVERHEAD: usize = 64;
        match self {
            ChangeKind::Put { key, value, .. } => OVERHEAD + key.len() + value.len(),
            ChangeKind::Update { key, .. }
            | ChangeKind::Delete { key, .. }
            | ChangeKind::Event { key, .. } => OVERHEAD + key.len(),
            ChangeKind::Flush => OVERHEAD,
            ChangeKind::Message { channel, message } => OVERHEAD + channel.len() + message.len(),
        }
    }
}
