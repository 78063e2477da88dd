//! Who appended each element: since an element is appended to a key at most once, a read names
//! the transactions it observed.

use std::collections::HashMap;

use super::history::{Element, HistoryError, Key, MicroOp, Transaction};

/// The transaction that appended an element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Writer {
    /// Its position in the history.
    pub(super) transaction: usize,
    /// Whether it failed, so the element should never be seen.
    pub(super) failed: bool,
    /// Its last append to the same key; a read ending at any other of its elements saw a state it
    /// never committed.
    pub(super) final_element: Element,
}

/// Every append in the history, by key and element.
#[derive(Debug, Default)]
pub(super) struct Writers {
    by_element: HashMap<(Key, Element), Writer>,
}

impl Writers {
    /// Indexes the appends of every transaction, whatever its outcome.
    ///
    /// # Errors
    ///
    /// [`HistoryError::DuplicateAppend`] when an element is appended to a key twice.
    pub(super) fn new(history: &[Transaction]) -> Result<Self, HistoryError> {
        let mut by_element = HashMap::new();
        // The last element each transaction appends to each key, reused between transactions.
        let mut finals: HashMap<Key, Element> = HashMap::new();
        for (position, transaction) in history.iter().enumerate() {
            finals.clear();
            for op in &transaction.ops {
                if let MicroOp::Append(key, element) = *op {
                    finals.insert(key, element);
                }
            }
            for op in &transaction.ops {
                let MicroOp::Append(key, element) = *op else {
                    continue;
                };
                let writer = Writer {
                    transaction: position,
                    failed: transaction.is_failed(),
                    final_element: finals.get(&key).copied().unwrap_or(element),
                };
                if let Some(first) = by_element.insert((key, element), writer) {
                    return Err(HistoryError::DuplicateAppend {
                        key,
                        element,
                        first: first.transaction,
                        second: position,
                    });
                }
            }
        }
        Ok(Self { by_element })
    }

    /// Who appended `element` to `key`, if anyone did.
    pub(super) fn get(&self, key: Key, element: Element) -> Option<Writer> {
        self.by_element.get(&(key, element)).copied()
    }

    /// Who appended `element` to `key`, if a transaction that may have committed did.
    pub(super) fn committed(&self, key: Key, element: Element) -> Option<usize> {
        self.get(key, element).filter(|writer| !writer.failed).map(|writer| writer.transaction)
    }
}
