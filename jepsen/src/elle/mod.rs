//! A transactional checker for list-append histories, after Jepsen's Elle (Kingsbury & Alvaro,
//! "Elle: Inferring Isolation Anomalies from Experimental Observations", VLDB 2020).
//!
//! Each transaction appends unique elements to lists and reads whole lists
//! ([`MicroOp`]). Because a read returns every element ever appended to its key, in
//! order, the reads reveal each key's version order (`order`), and from it which transaction
//! observed which: the dependency graph (`graph`). The history is serializable only if that
//! graph, without real-time edges, is acyclic, and strictly serializable only if it is acyclic
//! with them; cycles are found and named in `cycle`. Some anomalies need no cycle at all and
//! are found read by read (`reads`).
//!
//! ```
//! use jepsen::elle::{check, MicroOp, Outcome, Transaction};
//!
//! let txn = |invoke, complete, ops| Transaction { process: 0, invoke, complete, outcome: Outcome::Ok, ops };
//! let history = vec![
//!     txn(0, 10, vec![MicroOp::Append(1, 1)]),
//!     // Invoked after the append completed, yet it does not see it: a stale read.
//!     txn(20, 30, vec![MicroOp::Read(1, None)]),
//!     txn(40, 50, vec![MicroOp::Read(1, Some(vec![1]))]),
//! ];
//! let result = check(&history).unwrap();
//! assert!(!result.valid && result.serializable);
//! assert_eq!(result.anomalies[0].name(), "G-single-realtime");
//! ```
//!
//! The modules form layers, each using only those below it: `history` (the input); `anomaly`
//! (the output); `writers` and `csr`; `order`, `realtime`, `scc` and `path`; `reads` and
//! `graph`; `cycle` and `render`; and this module, the checker.

mod anomaly;
mod csr;
mod cycle;
mod graph;
mod history;
mod order;
mod path;
mod reads;
mod realtime;
mod render;
mod scc;
mod writers;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

pub use anomaly::{Anomaly, Cycle, CycleKind, Dependency, EdgeKind, Expectation, ObservedRead, Step};
pub use history::{Element, HistoryError, Key, MicroOp, Outcome, Transaction};
pub use render::{cycle_dot, cycle_svg, edge_label};

/// What the checker found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Whether the history is strictly serializable as far as the checker can tell: it found no
    /// anomaly at all.
    pub valid: bool,
    /// Whether it found no anomaly other than cycles that need real-time edges: the history may
    /// still be serializable.
    pub serializable: bool,
    /// Every anomaly found: read anomalies first, in history order, then one cycle per strongly
    /// connected component of the dependency graph.
    pub anomalies: Vec<Anomaly>,
    /// How many transactions the history holds.
    pub transaction_count: usize,
    /// How many dependency edges were inferred, one per pair of transactions and kind.
    pub edge_count: usize,
    /// Whether the search for cycles with a single anti-dependency ran out of steps, so a
    /// component reported with a G2 cycle might also hold a G-single one.
    pub search_exhausted: bool,
}

impl CheckResult {
    /// The names of the anomalies found (see [`Anomaly::name`]).
    pub fn anomaly_names(&self) -> BTreeSet<&'static str> {
        self.anomalies.iter().map(Anomaly::name).collect()
    }

    /// The anomalies with the given name.
    pub fn anomalies_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Anomaly> + 'a {
        self.anomalies.iter().filter(move |anomaly| anomaly.name() == name)
    }
}

/// Checks a list-append history, given as transactions in any order; each is named by its
/// position in `history`. Failed transactions are taken not to have happened, and the reads of
/// transactions that did not complete `ok` are ignored.
///
/// # Errors
///
/// [`HistoryError`] when the history cannot be checked: an element appended twice to a key, or
/// an `ok` transaction completing before its invocation.
pub fn check(history: &[Transaction]) -> Result<CheckResult, HistoryError> {
    for (position, transaction) in history.iter().enumerate() {
        if transaction.is_ok() && transaction.complete < transaction.invoke {
            return Err(HistoryError::CompletesBeforeInvoke {
                transaction: position,
                invoke: transaction.invoke,
                complete: transaction.complete,
            });
        }
    }
    let writers = writers::Writers::new(history)?;
    let mut anomalies = Vec::new();
    let orders = order::VersionOrders::new(history, &mut anomalies);
    reads::check(history, &writers, &orders, &mut anomalies);
    let graph = graph::Graph::new(history, &writers, &orders);
    let (cycles, search_exhausted) = cycle::find_cycles(&graph);
    anomalies.extend(cycles.into_iter().map(Anomaly::Cycle));
    Ok(CheckResult {
        valid: anomalies.is_empty(),
        serializable: anomalies.iter().all(Anomaly::is_realtime_only),
        anomalies,
        transaction_count: history.len(),
        edge_count: graph.edges.len(),
        search_exhausted,
    })
}
