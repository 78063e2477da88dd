//! Anomalies one read shows without any cycle: observing an element nobody appended
//! ([`Anomaly::GarbageRead`]), one a failed transaction appended ([`Anomaly::G1a`]), a state
//! another transaction never committed ([`Anomaly::G1b`]), and a read that disagrees with its own
//! transaction's earlier steps ([`Anomaly::Internal`]).
//!
//! An element is reported once, with the first transaction in history order that read it: once
//! one appears in a key, every later read holds it too, and repeating it says nothing new.

use std::collections::{HashMap, HashSet};

use super::anomaly::{Anomaly, Expectation};
use super::history::{Element, Key, MicroOp, Transaction};
use super::order::VersionOrders;
use super::writers::Writers;

/// Reports the read anomalies of the history's committed transactions.
pub(super) fn check(
    history: &[Transaction],
    writers: &Writers,
    orders: &VersionOrders<'_>,
    anomalies: &mut Vec<Anomaly>,
) {
    unwritten(writers, orders, anomalies);
    intermediate(writers, orders, anomalies);
    for (position, transaction) in history.iter().enumerate().filter(|(_, t)| t.is_ok()) {
        internal(position, transaction, anomalies);
    }
}

/// Garbage and aborted reads.
///
/// A read that is a prefix of its key's version order holds exactly the order's first elements,
/// so the order's unwritten elements are found once per key, and each read only moves a cursor
/// over them. Reads off the order are looked at element by element.
fn unwritten(writers: &Writers, orders: &VersionOrders<'_>, anomalies: &mut Vec<Anomaly>) {
    let is_unwritten = |key: Key, element: Element| writers.get(key, element).is_none_or(|w| w.failed);
    // Per key: the positions of the order's unwritten elements, and how many have been reported.
    let mut bad: HashMap<Key, (Vec<usize>, usize)> = HashMap::new();
    for (key, order) in orders.orders() {
        let positions: Vec<usize> = (0..order.len()).filter(|&at| is_unwritten(key, order[at])).collect();
        if !positions.is_empty() {
            bad.insert(key, (positions, 0));
        }
    }
    let mut reported: HashSet<(Key, Element)> = HashSet::new();
    let mut report = |reader: usize, key: Key, element: Element| {
        if !reported.insert((key, element)) {
            return;
        }
        anomalies.push(match writers.get(key, element) {
            Some(writer) => Anomaly::G1a { reader, writer: writer.transaction, key, element },
            None => Anomaly::GarbageRead { transaction: reader, key, element },
        });
    };
    for read in &orders.reads {
        if read.compatible {
            let Some((positions, reported_count)) = bad.get_mut(&read.key) else {
                continue;
            };
            while let Some(&at) = positions.get(*reported_count).filter(|&&at| at < read.value.len()) {
                *reported_count += 1;
                report(read.transaction, read.key, read.value[at]);
            }
        } else {
            for &element in read.value.iter().filter(|&&element| is_unwritten(read.key, element)) {
                report(read.transaction, read.key, element);
            }
        }
    }
}

/// Intermediate reads: a read ending at an element its writer followed with another append to
/// the key. A transaction may read its own intermediate state.
fn intermediate(writers: &Writers, orders: &VersionOrders<'_>, anomalies: &mut Vec<Anomaly>) {
    let mut reported: HashSet<(Key, Element)> = HashSet::new();
    for read in &orders.reads {
        let Some(&element) = read.value.last() else {
            continue;
        };
        let Some(writer) = writers.get(read.key, element) else {
            continue;
        };
        if writer.failed
            || writer.transaction == read.transaction
            || writer.final_element == element
            || !reported.insert((read.key, element))
        {
            continue;
        }
        anomalies.push(Anomaly::G1b {
            reader: read.transaction,
            writer: writer.transaction,
            key: read.key,
            element,
            final_element: writer.final_element,
        });
    }
}

/// What a transaction's steps so far say about a key.
enum Known<'a> {
    /// It read `base`, then appended `appended`.
    Read { base: &'a [Element], appended: Vec<Element> },
    /// It appended these without reading the key first.
    Appended(Vec<Element>),
}

/// Internal consistency: each read of a key must show the transaction's own earlier steps on it.
fn internal(position: usize, transaction: &Transaction, anomalies: &mut Vec<Anomaly>) {
    let mut known: HashMap<Key, Known<'_>> = HashMap::new();
    for op in &transaction.ops {
        match op {
            MicroOp::Append(key, element) => match known.get_mut(key) {
                Some(Known::Read { appended, .. } | Known::Appended(appended)) => appended.push(*element),
                None => {
                    known.insert(*key, Known::Appended(vec![*element]));
                }
            },
            MicroOp::Read(key, value) => {
                let read = value.as_deref().unwrap_or_default();
                let expected = match known.get(key) {
                    Some(Known::Read { base, appended })
                        if read.len() != base.len() + appended.len()
                            || !read.starts_with(base)
                            || !read.ends_with(appended) =>
                    {
                        Some(Expectation::Exactly(base.iter().chain(appended).copied().collect()))
                    }
                    Some(Known::Appended(appended)) if !read.ends_with(appended) => {
                        Some(Expectation::EndsWith(appended.clone()))
                    }
                    _ => None,
                };
                if let Some(expected) = expected {
                    anomalies.push(Anomaly::Internal {
                        transaction: position,
                        key: *key,
                        expected,
                        read: read.to_vec(),
                    });
                }
                // Later reads are held to what this one saw, so one mistake is reported once.
                known.insert(*key, Known::Read { base: read, appended: Vec::new() });
            }
        }
    }
}
