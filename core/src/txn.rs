//! etcd-style transactions, as the HTTP API's `/v1/kv`, `/v1/txn` and `/v1/batch` send them:
//! compares on keys (value, revisions, existence, TTL), then one list of operations if every
//! compare holds, another if not, applied atomically at one log index (DESIGN.md §9).
//!
//! A transaction rides in a log entry as [`crate::Write::Txn`], under the write locks of every
//! key it names, like a MULTI/EXEC block. Its reply is a core [`Reply`] (so that client sessions
//! keep it as they keep any other); its shape is this module's alone, read back by
//! [`TxnOutcome::from_reply`]:
//! `[succeeded: 0|1, revision, [one result per operation]]`, where a put's result is 1 when it
//! created the key, a delete's the number of keys it removed, and a get's a key ([`KeyValue`])
//! or nil.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::command::ARGUMENT_OVERHEAD;
use crate::keyspace_event::{Event, EventClass};
use crate::map::{Entry, WriteSet};
use crate::reply::Reply;
use crate::stored_key::StoredKey;
use crate::types::Kind;

/// A transaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Txn {
    pub compares: Vec<Compare>,
    /// Applied when every compare holds.
    pub success: Vec<TxnOp>,
    /// Applied otherwise.
    pub failure: Vec<TxnOp>,
}

/// One condition on a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compare {
    pub key: Bytes,
    pub op: CompareOp,
    pub target: CompareTarget,
}

/// How the key's attribute compares with the target: `attribute op target`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareOp {
    Equal,
    NotEqual,
    Greater,
    Less,
}

/// Which attribute of the key is compared, and with what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareTarget {
    /// The value, byte-wise; no compare on the value of an absent key holds (as in etcd).
    Value(Bytes),
    /// The revision that last changed the key; 0 for an absent key.
    ModRevision(u64),
    /// The revision that created the key; 0 for an absent key.
    CreateRevision(u64),
    /// Milliseconds left before the key expires, as PTTL answers: -1 for a key without a TTL,
    /// -2 for an absent key.
    TtlMs(i64),
    /// Whether the key exists (only `Equal` and `NotEqual` mean anything; the others never hold).
    Exists(bool),
}

/// One operation of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnOp {
    /// Stores `value` under `key`: with a TTL of `ttl_ms` when given, else keeping the key's TTL
    /// when `keep_ttl`, else without a TTL (as SET does).
    Put { key: Bytes, value: Bytes, ttl_ms: Option<u64>, keep_ttl: bool },
    /// Removes `key`.
    Delete { key: Bytes },
    /// Reads `key` as it is at this point of the transaction.
    Get { key: Bytes },
}

impl TxnOp {
    /// The key the operation is on.
    pub fn key(&self) -> &Bytes {
        match self {
            TxnOp::Put { key, .. } | TxnOp::Delete { key } | TxnOp::Get { key } => key,
        }
    }
}

impl Txn {
    /// Every key the transaction names (compares and both branches), which its apply locks.
    pub fn keys(&self) -> impl Iterator<Item = &Bytes> {
        let compared = self.compares.iter().map(|c| &c.key);
        compared.chain(self.success.iter().chain(&self.failure).map(TxnOp::key))
    }

    /// The number of compares and operations, which [`crate::limits::TRANSACTION_COMMANDS_MAX`]
    /// bounds as it bounds a MULTI block.
    pub fn len(&self) -> usize {
        self.compares.len() + self.success.len() + self.failure.len()
    }

    /// Whether the transaction has neither compares nor operations.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// About how many bytes the transaction adds to an entry (see `Write::weight`).
    pub fn weight(&self) -> usize {
        let bytes = |b: &Bytes| b.len() + ARGUMENT_OVERHEAD;
        let compares = self.compares.iter().map(|c| {
            bytes(&c.key)
                + match &c.target {
                    CompareTarget::Value(value) => bytes(value),
                    _ => ARGUMENT_OVERHEAD,
                }
        });
        let ops = self.success.iter().chain(&self.failure).map(|op| match op {
            TxnOp::Put { key, value, .. } => bytes(key) + bytes(value) + ARGUMENT_OVERHEAD,
            TxnOp::Delete { key } | TxnOp::Get { key } => bytes(key),
        });
        ARGUMENT_OVERHEAD + compares.sum::<usize>() + ops.sum::<usize>()
    }

    /// Applies the transaction on shards locked for its keys, at `now_ms` and `log_index`.
    pub fn apply(&self, view: &mut WriteSet<'_>, now_ms: u64, log_index: u64) -> Reply {
        let succeeded = self.compares.iter().all(|c| c.holds(view, now_ms));
        let ops = if succeeded { &self.success } else { &self.failure };
        let results = ops.iter().map(|op| op.apply(view, now_ms, log_index)).collect();
        Reply::Array(vec![Reply::Integer(i64::from(succeeded)), to_integer(log_index), Reply::Array(results)])
    }
}

impl Compare {
    fn holds(&self, view: &WriteSet<'_>, now_ms: u64) -> bool {
        let live = view.live(&self.key, now_ms);
        let ordered = |found: i64, wanted: i64| match self.op {
            CompareOp::Equal => found == wanted,
            CompareOp::NotEqual => found != wanted,
            CompareOp::Greater => found > wanted,
            CompareOp::Less => found < wanted,
        };
        let revision = |r: u64| i64::try_from(r).unwrap_or(i64::MAX);
        match &self.target {
            // A hash, list or set has no value to compare: such a compare fails, as one on an
            // absent key does.
            CompareTarget::Value(wanted) => {
                live.filter(|s| s.aggregate().is_none()).is_some_and(|stored| match self.op {
                    CompareOp::Equal => stored.value() == &wanted[..],
                    CompareOp::NotEqual => stored.value() != &wanted[..],
                    CompareOp::Greater => stored.value() > &wanted[..],
                    CompareOp::Less => stored.value() < &wanted[..],
                })
            }
            CompareTarget::ModRevision(wanted) => {
                ordered(live.map_or(0, |s| revision(s.mod_index())), revision(*wanted))
            }
            CompareTarget::CreateRevision(wanted) => {
                ordered(live.map_or(0, |s| revision(s.create_index())), revision(*wanted))
            }
            CompareTarget::TtlMs(wanted) => {
                ordered(ttl_left_ms(live.map(|s| s.expire_at_ms()), now_ms), *wanted)
            }
            CompareTarget::Exists(wanted) => match self.op {
                CompareOp::Equal => live.is_some() == *wanted,
                CompareOp::NotEqual => live.is_some() != *wanted,
                CompareOp::Greater | CompareOp::Less => false,
            },
        }
    }
}

impl TxnOp {
    fn apply(&self, view: &mut WriteSet<'_>, now_ms: u64, log_index: u64) -> Reply {
        match self {
            TxnOp::Put { key, value, ttl_ms, keep_ttl } => {
                let live = view.live(key, now_ms);
                let created = live.is_none();
                let expire_at_ms = match ttl_ms {
                    Some(ttl) => Some(now_ms.saturating_add(*ttl)),
                    None if *keep_ttl => live.and_then(|s| s.expire_at_ms()),
                    None => None,
                };
                let entry = Entry {
                    value: value.clone().into(),
                    expire_at_ms,
                    mod_index: log_index,
                    create_index: log_index,
                };
                view.insert(key, entry, now_ms);
                // The keyspace events of SET and SET ... PX.
                view.notify(Event::new(EventClass::String, "set"), key, log_index);
                if ttl_ms.is_some() {
                    view.notify(Event::EXPIRE, key, log_index);
                }
                Reply::Integer(i64::from(created))
            }
            TxnOp::Delete { key } => {
                let live = view.live(key, now_ms).is_some();
                // An expired key still stored goes too, but counts as absent (as DEL counts it).
                let removed = view.remove(key, log_index);
                if live && removed {
                    view.notify(Event::DEL, key, log_index);
                }
                Reply::Integer(i64::from(live && removed))
            }
            TxnOp::Get { key } => match view.live(key, now_ms) {
                Some(stored) => KeyValue::of(stored, now_ms).to_reply(),
                None => Reply::Nil,
            },
        }
    }
}

/// A key as a read finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    /// The string value; empty for a hash, list or set, whose elements only the commands of
    /// its type read.
    pub value: Bytes,
    pub kind: Kind,
    pub create_revision: u64,
    pub mod_revision: u64,
    /// Milliseconds left before the key expires; -1 without a TTL.
    pub ttl_ms: i64,
}

impl KeyValue {
    /// The key as its record holds it at `now_ms`.
    pub fn of(stored: &StoredKey, now_ms: u64) -> KeyValue {
        KeyValue {
            value: stored.value_bytes(),
            kind: stored.kind(),
            create_revision: stored.create_index(),
            mod_revision: stored.mod_index(),
            ttl_ms: ttl_left_ms(Some(stored.expire_at_ms()), now_ms),
        }
    }

    /// The key as a reply: value, create and modify revisions, TTL left, and (for a hash, list
    /// or set only, so that a string's reply keeps its shape) the type's name.
    fn to_reply(&self) -> Reply {
        let mut items = vec![
            Reply::Bulk(self.value.clone()),
            to_integer(self.create_revision),
            to_integer(self.mod_revision),
            Reply::Integer(self.ttl_ms),
        ];
        if self.kind != Kind::String {
            items.push(Reply::Status(self.kind.as_str().to_owned()));
        }
        Reply::Array(items)
    }

    fn from_reply(reply: Reply) -> Option<KeyValue> {
        let Reply::Array(mut items) = reply else { return None };
        let kind = match items.len() {
            5 => match items.pop() {
                Some(Reply::Status(name)) => Kind::parse(name.as_bytes())?,
                _ => return None,
            },
            _ => Kind::String,
        };
        match <[Reply; 4]>::try_from(items).ok()? {
            [Reply::Bulk(value), Reply::Integer(create), Reply::Integer(modified), Reply::Integer(ttl_ms)] => {
                Some(KeyValue {
                    value,
                    kind,
                    create_revision: u64::try_from(create).ok()?,
                    mod_revision: u64::try_from(modified).ok()?,
                    ttl_ms,
                })
            }
            _ => None,
        }
    }
}

/// What a transaction did, read back from its reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnOutcome {
    /// Whether every compare held (so the success branch ran).
    pub succeeded: bool,
    /// The log index the transaction applied at.
    pub revision: u64,
    pub results: Vec<OpResult>,
}

/// The result of one operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpResult {
    Put { created: bool },
    Delete { deleted: u64 },
    Get(Option<KeyValue>),
}

impl TxnOutcome {
    /// Reads a transaction's reply, given the operations of the branch that ran; `None` when the
    /// reply is not a transaction's of that shape (an error reply, a session refusal).
    pub fn from_reply(reply: Reply, txn: &Txn) -> Option<TxnOutcome> {
        let Reply::Array(items) = reply else { return None };
        let [Reply::Integer(succeeded), Reply::Integer(revision), Reply::Array(results)] =
            <[Reply; 3]>::try_from(items).ok()?
        else {
            return None;
        };
        let ops = if succeeded == 1 { &txn.success } else { &txn.failure };
        if ops.len() != results.len() {
            return None;
        }
        let results = ops
            .iter()
            .zip(results)
            .map(|(op, result)| match (op, result) {
                (TxnOp::Put { .. }, Reply::Integer(created)) => Some(OpResult::Put { created: created == 1 }),
                (TxnOp::Delete { .. }, Reply::Integer(n)) => Some(OpResult::Delete { deleted: n as u64 }),
                (TxnOp::Get { .. }, Reply::Nil) => Some(OpResult::Get(None)),
                (TxnOp::Get { .. }, found) => KeyValue::from_reply(found).map(|kv| OpResult::Get(Some(kv))),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        Some(TxnOutcome { succeeded: succeeded == 1, revision: u64::try_from(revision).ok()?, results })
    }
}

/// Milliseconds left before `expire_at_ms` at `now_ms`: -1 for a key without a TTL, -2 for an
/// absent key (`None`), as PTTL answers.
fn ttl_left_ms(expire_at_ms: Option<Option<u64>>, now_ms: u64) -> i64 {
    match expire_at_ms {
        None => -2,
        Some(None) => -1,
        Some(Some(at)) => i64::try_from(at.saturating_sub(now_ms)).unwrap_or(i64::MAX),
    }
}

fn to_integer(index: u64) -> Reply {
    Reply::Integer(i64::try_from(index).unwrap_or(i64::MAX))
}
