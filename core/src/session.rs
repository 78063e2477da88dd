//! Client sessions, so that a retried write is applied at most once (Raft thesis §6.3).
//!
//! A client that may retry (a follower forwarding a write, a client library) numbers its
//! requests 1, 2, 3, ... under a client id and sends a retry with the same number. The table
//! remembers, per client, the newest number applied and its reply: a retry gets the remembered
//! reply instead of a second application. The table is bounded: when full, the session whose
//! last request is oldest in the log is dropped; a later request from it that does not start a
//! session (sequence 1) is refused as expired, because it might have been applied already.
//!
//! One gap remains, as in the thesis without registration: a retry of a client's *first*
//! request after its session was evicted would apply again. Eviction needs
//! [`SESSION_COUNT_MAX`] newer sessions to be used in between, far more than in any retry window.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::entry::SessionRef;
use crate::limits::{SESSION_COUNT_MAX, SESSION_REPLIES_BYTES_MAX, SESSION_REPLY_BYTES_MAX};
use crate::reply::{errors, Reply};

/// What the table says about a request before it is applied.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionCheck {
    /// A new request: apply it, then [`SessionTable::record`] its reply.
    Apply,
    /// A retry of the newest request: answer with its reply, do not apply.
    Duplicate(Reply),
    /// Not applicable: answer with this error, do not apply.
    Refuse(Reply),
}

/// One client's newest applied request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub sequence: u64,
    /// Index of the entry that applied it; orders sessions for eviction.
    pub log_index: u64,
    pub reply: Reply,
}

/// The sessions of all clients, bounded by a capacity.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionTable {
    sessions: BTreeMap<u64, Session>,
    /// Invariant: holds `(log_index, client_id)` for every session and nothing else. A batch
    /// entry carries many sessions, so sessions share indexes; the client id breaks the tie, the
    /// same on every replica.
    by_log_index: BTreeSet<(u64, u64)>,
    capacity: usize,
    /// Invariant: the sum of the sessions' replies' [`Reply::approx_bytes`], at most
    /// [`SESSION_REPLIES_BYTES_MAX`].
    reply_bytes: usize,
}

/// What a session keeps instead of a reply larger than [`SESSION_REPLY_BYTES_MAX`].
pub const REPLY_NOT_KEPT: &str =
    "ERR the write was applied, but its reply was too large to keep for a retry; read the keys it changed";

impl Default for SessionTable {
    fn default() -> SessionTable {
        SessionTable::with_capacity(SESSION_COUNT_MAX)
    }
}

impl SessionTable {
    /// An empty table holding at most `capacity` sessions (at least one).
    pub fn with_capacity(capacity: usize) -> SessionTable {
        SessionTable {
            sessions: BTreeMap::new(),
            by_log_index: BTreeSet::new(),
            capacity: capacity.max(1),
            reply_bytes: 0,
        }
    }

    /// Decides what to do with a request.
    pub fn check(&self, request: SessionRef) -> SessionCheck {
        match self.sessions.get(&request.client_id) {
            Some(session) if request.sequence.get() == session.sequence => {
                SessionCheck::Duplicate(session.reply.clone())
            }
            Some(session) if request.sequence.get() < session.sequence => {
                SessionCheck::Refuse(Reply::Error(errors::STALE_SEQUENCE.to_owned()))
            }
            Some(_) => SessionCheck::Apply,
            None if request.sequence.get() == 1 => SessionCheck::Apply,
            None => SessionCheck::Refuse(Reply::Error(errors::SESSION_EXPIRED.to_owned())),
        }
    }

    /// Remembers the reply to an applied request (an error saying so, for a reply larger than
    /// [`SESSION_REPLY_BYTES_MAX`]), evicting the least recently used sessions while the table
    /// is full or its replies too large together.
    pub fn record(&mut self, request: SessionRef, log_index: u64, reply: Reply) {
        let reply = if reply.approx_bytes() > SESSION_REPLY_BYTES_MAX {
            Reply::Error(REPLY_NOT_KEPT.to_owned())
        } else {
            reply
        };
        let session = Session { sequence: request.sequence.get(), log_index, reply };
        self.insert(request.client_id, session);
    }

    /// Inserts a session as restored from a snapshot or recorded after an apply.
    pub fn insert(&mut self, client_id: u64, session: Session) {
        if let Some(old) = self.sessions.remove(&client_id) {
            self.by_log_index.remove(&(old.log_index, client_id));
            self.reply_bytes -= old.reply.approx_bytes();
        }
        let bytes = session.reply.approx_bytes();
        while self.sessions.len() >= self.capacity
            || (!self.sessions.is_empty() && self.reply_bytes + bytes > SESSION_REPLIES_BYTES_MAX)
        {
            let (_, oldest) = self.by_log_index.pop_first().expect("index mirrors a non-empty table");
            let evicted = self.sessions.remove(&oldest).expect("index mirrors the table");
            self.reply_bytes -= evicted.reply.approx_bytes();
        }
        self.by_log_index.insert((session.log_index, client_id));
        self.reply_bytes += bytes;
        self.sessions.insert(client_id, session);
    }

    /// Every session by client id, in client-id order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Session)> {
        self.sessions.iter().map(|(id, s)| (*id, s))
    }

    /// The number of sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether no session is remembered.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU64;

    use super::*;

    fn request(client_id: u64, sequence: u64) -> SessionRef {
        SessionRef { client_id, sequence: NonZeroU64::new(sequence).expect("sequences start at 1") }
    }

    /// A retry of the newest request gets the recorded reply; older ones are refused.
    #[test]
    fn retry_returns_recorded_reply_and_older_is_refused() {
        let mut table = SessionTable::default();
        assert_eq!(table.check(request(7, 1)), SessionCheck::Apply);
        table.record(request(7, 1), 10, Reply::Integer(1));
        assert_eq!(table.check(request(7, 1)), SessionCheck::Duplicate(Reply::Integer(1)));
        assert_eq!(table.check(request(7, 3)), SessionCheck::Apply);
        table.record(request(7, 3), 11, Reply::Integer(2));
        assert!(matches!(table.check(request(7, 2)), SessionCheck::Refuse(_)));
    }

    /// When full, the session used longest ago is evicted, and its next request is refused as
    /// expired rather than applied again.
    #[test]
    fn full_table_evicts_oldest_and_refuses_its_retries() {
        let mut table = SessionTable::with_capacity(2);
        table.record(request(1, 1), 10, Reply::Ok);
        table.record(request(2, 1), 11, Reply::Ok);
        table.record(request(1, 2), 12, Reply::Ok);
        table.record(request(3, 1), 13, Reply::Ok);
        assert_eq!(table.len(), 2);
        assert!(matches!(table.check(request(2, 2)), SessionCheck::Refuse(_)));
        assert_eq!(table.check(request(1, 2)), SessionCheck::Duplicate(Reply::Ok));
        assert_eq!(table.check(request(3, 1)), SessionCheck::Duplicate(Reply::Ok));
    }

    /// Sessions recorded by one batch entry share its index: the oldest index goes first and the
    /// lowest client id breaks the tie, whatever order the sessions were recorded in, so every
    /// replica (and every snapshot restore) evicts the same one.
    #[test]
    fn sessions_sharing_an_index_are_evicted_in_client_order() {
        for order in [[9, 4], [4, 9]] {
            let mut table = SessionTable::with_capacity(2);
            for client in order {
                table.record(request(client, 1), 10, Reply::Ok);
            }
            table.record(request(5, 1), 11, Reply::Ok);
            let kept: Vec<u64> = table.iter().map(|(id, _)| id).collect();
            assert_eq!(kept, [5, 9], "recorded in order {order:?}");
        }
    }

    /// A reply too large to keep is kept as an error saying the write was applied; replies
    /// together past their bound evict the oldest sessions, as a full table does.
    #[test]
    fn large_replies_are_not_kept_and_their_total_is_bounded() {
        let mut table = SessionTable::default();
        let big = Reply::Bulk(bytes::Bytes::from(vec![b'x'; SESSION_REPLY_BYTES_MAX + 1]));
        table.record(request(1, 1), 10, big);
        match table.check(request(1, 1)) {
            SessionCheck::Duplicate(Reply::Error(text)) => assert_eq!(text, REPLY_NOT_KEPT),
            other => panic!("a retry gets the stand-in error, got {other:?}"),
        }
        let largest = Reply::Bulk(bytes::Bytes::from(vec![b'y'; SESSION_REPLY_BYTES_MAX - 64]));
        let fit = SESSION_REPLIES_BYTES_MAX / largest.approx_bytes();
        for client in 2..(2 + fit as u64 + 5) {
            table.record(request(client, 1), 10 + client, largest.clone());
        }
        assert!(table.reply_bytes <= SESSION_REPLIES_BYTES_MAX);
        assert!(table.len() <= fit, "{} sessions kept, {fit} fit", table.len());
        assert!(matches!(table.check(request(1, 2)), SessionCheck::Refuse(_)), "the oldest was evicted");
    }
}
