//! Version orders: the order in which each key's elements were appended, as the reads show it.
//!
//! Every read of a key returns the key's whole list, so in a history without anomalies the reads
//! of a key are all prefixes of one another and the longest of them is the key's version order
//! (as far as anyone observed it). A read that is not a prefix of the longest means the key's
//! history forked ([`Anomaly::IncompatibleOrder`]); a list holding an element twice means an
//! append was applied twice ([`Anomaly::DuplicateElements`]).

use std::collections::{HashMap, HashSet};

use super::anomaly::{Anomaly, ObservedRead};
use super::history::{Element, Key, MicroOp, Transaction};

/// One read by a transaction that completed `ok`.
#[derive(Debug, Clone, Copy)]
pub(super) struct KeyRead<'a> {
    /// The reading transaction's position in the history.
    pub(super) transaction: usize,
    /// The key.
    pub(super) key: Key,
    /// The list read; empty for an absent key.
    pub(super) value: &'a [Element],
    /// Whether it is a prefix of the key's version order.
    pub(super) compatible: bool,
}

/// The reads of committed transactions, and each key's version order.
#[derive(Debug)]
pub(super) struct VersionOrders<'a> {
    /// Every read of an `ok` transaction, in history order.
    pub(super) reads: Vec<KeyRead<'a>>,
    /// The longest read of each key, as a position in `reads`: the key's version order.
    longest: HashMap<Key, usize>,
}

impl<'a> VersionOrders<'a> {
    /// Collects the reads and version orders, reporting forked and duplicated lists (once per
    /// key, with the first read in history order that shows it).
    pub(super) fn new(history: &'a [Transaction], anomalies: &mut Vec<Anomaly>) -> Self {
        let mut reads = Vec::new();
        let mut longest: HashMap<Key, usize> = HashMap::new();
        for (position, transaction) in history.iter().enumerate().filter(|(_, t)| t.is_ok()) {
            for op in &transaction.ops {
                let MicroOp::Read(key, value) = op else {
                    continue;
                };
                let value = value.as_deref().unwrap_or_default();
                let index = reads.len();
                reads.push(KeyRead { transaction: position, key: *key, value, compatible: true });
                let best = longest.entry(*key).or_insert(index);
                if reads[*best].value.len() < value.len() {
                    *best = index;
                }
            }
        }
        let mut orders = Self { reads, longest };
        orders.check(anomalies);
        orders
    }

    /// Marks the reads that are not prefixes of their key's order, and reports the first such
    /// read of each key and the first read of each key holding a duplicate.
    fn check(&mut self, anomalies: &mut Vec<Anomaly>) {
        // Where each key's order first repeats an element: a prefix of the order holds a
        // duplicate exactly when it is longer than that.
        let repeats: HashMap<Key, usize> = self
            .longest
            .iter()
            .filter_map(|(&key, &read)| first_repeat(self.reads[read].value).map(|at| (key, at)))
            .collect();
        let mut forked: HashSet<Key> = HashSet::new();
        let mut duplicated: HashSet<Key> = HashSet::new();
        for index in 0..self.reads.len() {
            let read = self.reads[index];
            let order = self.order(read.key);
            let compatible = order.starts_with(read.value);
            self.reads[index].compatible = compatible;
            if !compatible && forked.insert(read.key) {
                let longest = self.longest.get(&read.key).map_or(index, |&at| at);
                anomalies.push(Anomaly::IncompatibleOrder {
                    key: read.key,
                    read: observed(&read),
                    longest: observed(&self.reads[longest]),
                });
            }
            let repeat = if compatible {
                repeats.get(&read.key).filter(|&&at| at < read.value.len()).copied()
            } else {
                first_repeat(read.value)
            };
            if let Some(at) = repeat {
                if duplicated.insert(read.key) {
                    anomalies.push(Anomaly::DuplicateElements {
                        transaction: read.transaction,
                        key: read.key,
                        read: read.value.to_vec(),
                        element: read.value[at],
                    });
                }
            }
        }
    }

    /// The key's version order: its longest read, or empty when nobody read it.
    pub(super) fn order(&self, key: Key) -> &'a [Element] {
        self.longest.get(&key).map_or(&[], |&read| self.reads[read].value)
    }

    /// Every key that was read, in ascending order, with its version order.
    pub(super) fn orders(&self) -> Vec<(Key, &'a [Element])> {
        let mut orders: Vec<(Key, &'a [Element])> =
            self.longest.iter().map(|(&key, &read)| (key, self.reads[read].value)).collect();
        orders.sort_unstable_by_key(|&(key, _)| key);
        orders
    }
}

/// The position of the first element of `list` that repeats an earlier one.
fn first_repeat(list: &[Element]) -> Option<usize> {
    let mut seen = HashSet::with_capacity(list.len());
    list.iter().position(|element| !seen.insert(*element))
}

fn observed(read: &KeyRead<'_>) -> ObservedRead {
    ObservedRead { transaction: read.transaction, value: read.value.to_vec() }
}
