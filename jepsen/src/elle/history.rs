//! The shape of a list-append history: transactions of micro-operations on keys whose values are
//! lists, grown by appending unique elements.
//!
//! Against redraft, an append is `APPEND key "element,"` and a read is a `GET` inside the same
//! `MULTI`/`EXEC`, whose comma-separated reply is parsed back into the list.

use serde::{Deserialize, Serialize};

pub use crate::operation::Outcome;

/// A key, named by number; a runner maps it to a store key of its own choosing.
pub type Key = u64;

/// One element of a list. Each element is appended to a given key at most once in a history,
/// which is what lets a read tell exactly which transactions it observed.
pub type Element = u64;

/// One step of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MicroOp {
    /// Appends the element to the end of the key's list.
    Append(Key, Element),
    /// Reads the key's whole list. `None` is an absent key (which reads as the empty list), or a
    /// read whose result is unknown because the transaction did not complete `ok`.
    Read(Key, Option<Vec<Element>>),
}

impl MicroOp {
    /// The key the step acts on.
    pub fn key(&self) -> Key {
        match *self {
            MicroOp::Append(key, _) | MicroOp::Read(key, _) => key,
        }
    }
}

/// One transaction: what a process asked for and how it ended.
///
/// Times are on one clock shared by the whole history: nanoseconds, or positions of events in the
/// history. `T1` precedes `T2` in real time when `T1` completed `ok` strictly before `T2` was
/// invoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// The client that ran it.
    pub process: u64,
    /// When it was invoked.
    pub invoke: u64,
    /// When it completed. Only an `ok` completion orders it before later transactions: an `info`
    /// transaction may take effect at any time after its invocation.
    pub complete: u64,
    /// How it ended. `ok`: it committed and its reads are known. `fail`: it certainly did not take
    /// effect. `info` (and `pending`, treated the same): it may or may not have taken effect, and
    /// its reads are ignored.
    pub outcome: Outcome,
    /// Its steps, in the order the transaction ran them.
    pub ops: Vec<MicroOp>,
}

impl Transaction {
    /// Whether it certainly committed, so its reads are known.
    pub fn is_ok(&self) -> bool {
        self.outcome == Outcome::Ok
    }

    /// Whether it certainly did not take effect, so nothing may observe it.
    pub fn is_failed(&self) -> bool {
        self.outcome == Outcome::Fail
    }
}

/// Why a history cannot be checked at all; the history, not the store, needs fixing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// Two appends of the same element to the same key: reads could not tell them apart.
    #[error(
        "element {element} is appended to key {key} by transaction {first} and again by \
         transaction {second}; elements must be unique per key"
    )]
    DuplicateAppend {
        /// The key.
        key: Key,
        /// The element.
        element: Element,
        /// The first transaction (by position in the history) that appends it.
        first: usize,
        /// The other one; the same as `first` when one transaction appends it twice.
        second: usize,
    },
    /// An `ok` transaction that completed before it was invoked.
    #[error("transaction {transaction} completes at {complete}, before its invocation at {invoke}")]
    CompletesBeforeInvoke {
        /// The transaction's position in the history.
        transaction: usize,
        /// Its invocation time.
        invoke: u64,
        /// Its completion time.
        complete: u64,
    },
}
