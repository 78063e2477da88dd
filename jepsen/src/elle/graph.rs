//! The dependency graph: a node per transaction and an edge wherever the history shows one
//! transaction must precede another (Adya's ww, wr and rw dependencies, plus real time).
//!
//! With each key's version order known ([`super::order`]):
//! - ww: the writer of each element precedes the writer of the next one;
//! - wr: the writer of a read's last element precedes the reader;
//! - rw: a reader precedes the writer of the element right after its read's last one (or of the
//!   key's first element, for a read of the empty list), since it did not see that append;
//! - rt: see [`super::realtime`].
//!
//! Elements appended by failed transactions, or by nobody, give no edges: those are reported by
//! [`super::reads`]. A read that is not a prefix of the version order gives no rw edge, because
//! the element after it is unknown. Building it costs a hash lookup per read and per element of
//! each version order, then a sort of the edges.

use super::anomaly::Dependency;
use super::csr::{Arc, Csr};
use super::history::Transaction;
use super::order::VersionOrders;
use super::realtime;
use super::writers::Writers;

/// One edge: `from` precedes `to`, because of `dependency`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Edge {
    /// The earlier transaction's position in the history.
    pub(super) from: usize,
    /// The later transaction's position in the history.
    pub(super) to: usize,
    /// Why.
    pub(super) dependency: Dependency,
}

/// The dependency graph of a history.
#[derive(Debug)]
pub(super) struct Graph {
    /// Every edge, sorted by `from`, `to` and kind, with one edge of each kind per pair.
    pub(super) edges: Vec<Edge>,
    /// The same edges as adjacency lists, one node per transaction.
    pub(super) csr: Csr,
}

impl Graph {
    /// Infers the edges of `history`.
    pub(super) fn new(history: &[Transaction], writers: &Writers, orders: &VersionOrders<'_>) -> Self {
        let mut edges = Vec::new();
        let mut add = |from: usize, to: usize, dependency: Dependency| {
            if from != to {
                edges.push(Edge { from, to, dependency });
            }
        };
        for (key, order) in orders.orders() {
            for pair in order.windows(2) {
                let (prior, element) = (pair[0], pair[1]);
                if let (Some(from), Some(to)) =
                    (writers.committed(key, prior), writers.committed(key, element))
                {
                    add(from, to, Dependency::WriteWrite { key, prior, element });
                }
            }
        }
        for read in &orders.reads {
            let last = read.value.last().copied();
            if let Some(element) = last {
                if let Some(writer) = writers.committed(read.key, element) {
                    add(writer, read.transaction, Dependency::WriteRead { key: read.key, element });
                }
            }
            if !read.compatible {
                continue;
            }
            if let Some(&element) = orders.order(read.key).get(read.value.len()) {
                if let Some(writer) = writers.committed(read.key, element) {
                    add(read.transaction, writer, Dependency::ReadWrite { key: read.key, last, element });
                }
            }
        }
        realtime::add_edges(history, &mut add);

        // Stable, so the first justification found for a pair and kind is the one kept.
        edges.sort_by_key(|edge| (edge.from, edge.to, edge.dependency.kind()));
        edges.dedup_by_key(|edge| (edge.from, edge.to, edge.dependency.kind()));
        let arcs = edges
            .iter()
            .enumerate()
            .map(|(index, edge)| (edge.from, Arc { to: edge.to, kind: edge.dependency.kind(), edge: index }));
        let csr = Csr::new(history.len(), arcs);
        Self { edges, csr }
    }
}
