//! What the checker reports: the anomalies of Adya's isolation levels as Elle finds them in
//! list-append histories, the dependency edges a cycle is made of, and the words that explain
//! each.
//!
//! Transactions are named by their position in the history, written `T<position>`.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::history::{Element, Key};

/// The kind of a dependency between two transactions, mildest first: a cycle search prefers the
/// earlier kinds, and explanations use the mildest edge between two transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EdgeKind {
    /// Write-write: the second overwrote (appended after) the first.
    WriteWrite,
    /// Write-read: the second observed the first's write.
    WriteRead,
    /// Read-write anti-dependency: the first did not observe the second's write.
    ReadWrite,
    /// Real time: the first completed before the second was invoked.
    Realtime,
}

impl EdgeKind {
    /// The short name Elle uses: `ww`, `wr`, `rw` or `rt`.
    pub fn name(self) -> &'static str {
        match self {
            EdgeKind::WriteWrite => "ww",
            EdgeKind::WriteRead => "wr",
            EdgeKind::ReadWrite => "rw",
            EdgeKind::Realtime => "rt",
        }
    }
}

/// Why one transaction must come before another: an edge of the dependency graph, with the
/// observation that justifies it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dependency {
    /// The later transaction appended `element` directly after the earlier one's `prior` in the
    /// key's version order.
    WriteWrite {
        /// The key.
        key: Key,
        /// The earlier transaction's element.
        prior: Element,
        /// The later transaction's element, next in the version order.
        element: Element,
    },
    /// The later transaction read a list whose last element, `element`, the earlier one appended.
    WriteRead {
        /// The key.
        key: Key,
        /// The last element of the read.
        element: Element,
    },
    /// The earlier transaction read a list ending at `last`, and the later one appended
    /// `element`, the next element of the version order, so the read did not observe it.
    ReadWrite {
        /// The key.
        key: Key,
        /// The last element of the read; `None` when it read the empty list.
        last: Option<Element>,
        /// The element the read missed.
        element: Element,
    },
    /// The earlier transaction completed before the later one was invoked.
    Realtime {
        /// When the earlier one completed.
        completed: u64,
        /// When the later one was invoked.
        invoked: u64,
    },
}

impl Dependency {
    /// The kind of edge it justifies.
    pub fn kind(&self) -> EdgeKind {
        match self {
            Dependency::WriteWrite { .. } => EdgeKind::WriteWrite,
            Dependency::WriteRead { .. } => EdgeKind::WriteRead,
            Dependency::ReadWrite { .. } => EdgeKind::ReadWrite,
            Dependency::Realtime { .. } => EdgeKind::Realtime,
        }
    }

    /// The key it is about, if any.
    pub fn key(&self) -> Option<Key> {
        match *self {
            Dependency::WriteWrite { key, .. }
            | Dependency::WriteRead { key, .. }
            | Dependency::ReadWrite { key, .. } => Some(key),
            Dependency::Realtime { .. } => None,
        }
    }

    /// Says in words why `T<from>` comes before `T<to>`.
    pub fn explain(&self, from: usize, to: usize) -> String {
        let mut text = format!("T{from} < T{to} because ");
        let _ = match *self {
            Dependency::WriteWrite { key, prior, element } => {
                write!(text, "T{to} appended {element} after T{from} appended {prior} to key {key}")
            }
            Dependency::WriteRead { key, element } => {
                write!(text, "T{to} observed T{from}'s append of {element} to key {key}")
            }
            Dependency::ReadWrite { key, last, element } => {
                let _ = write!(text, "T{from} did not observe T{to}'s append of {element} to key {key} ");
                match last {
                    Some(last) => write!(text, "(it read the list ending at {last})"),
                    None => write!(text, "(it read the empty list)"),
                }
            }
            Dependency::Realtime { completed, invoked } => {
                write!(text, "T{from} completed at {completed}, before T{to} was invoked at {invoked}")
            }
        };
        text
    }
}

/// One edge of a cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The earlier transaction.
    pub from: usize,
    /// The later transaction.
    pub to: usize,
    /// Why `from` comes before `to`.
    pub dependency: Dependency,
    /// The same in words, like "T1 < T2 because T2 appended 3 after T1 appended 2 to key 5".
    pub explanation: String,
}

impl Step {
    /// The step from `from` to `to` that `dependency` justifies.
    pub fn new(from: usize, to: usize, dependency: Dependency) -> Self {
        let explanation = dependency.explain(from, to);
        Self { from, to, dependency, explanation }
    }
}

/// Adya's cycle anomalies, by the dependency edges the cycle needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CycleKind {
    /// Write cycle: only ww edges.
    G0,
    /// Circular information flow: ww and wr edges, at least one wr.
    G1c,
    /// Single anti-dependency cycle: exactly one rw edge (read skew, lost update).
    GSingle,
    /// Anti-dependency cycle: two or more rw edges (write skew).
    G2,
}

impl CycleKind {
    /// The name without a real-time suffix: `G0`, `G1c`, `G-single` or `G2`.
    pub fn name(self) -> &'static str {
        match self {
            CycleKind::G0 => "G0",
            CycleKind::G1c => "G1c",
            CycleKind::GSingle => "G-single",
            CycleKind::G2 => "G2",
        }
    }
}

/// A dependency cycle: no serial order of the transactions agrees with all of its edges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cycle {
    /// Which anomaly its non-real-time edges make.
    pub kind: CycleKind,
    /// Whether it needs a real-time edge: then it rules out strict serializability only.
    pub realtime: bool,
    /// The edges, each starting where the previous one ended; the last ends where the first
    /// starts.
    pub steps: Vec<Step>,
}

impl Cycle {
    /// Classifies a cycle by its edges, as Elle does: rw edges first (two or more make G2, one
    /// makes G-single), then wr (G1c), else G0; any rt edge adds the real-time variant.
    pub fn new(steps: Vec<Step>) -> Self {
        let count = |kind| steps.iter().filter(|step| step.dependency.kind() == kind).count();
        let kind = match (count(EdgeKind::ReadWrite), count(EdgeKind::WriteRead)) {
            (0, 0) => CycleKind::G0,
            (0, _) => CycleKind::G1c,
            (1, _) => CycleKind::GSingle,
            _ => CycleKind::G2,
        };
        Self { kind, realtime: count(EdgeKind::Realtime) > 0, steps }
    }

    /// The anomaly's name: `G0`, `G1c`, `G-single` or `G2`, with `-realtime` appended when the
    /// cycle needs a real-time edge.
    pub fn name(&self) -> &'static str {
        match (self.kind, self.realtime) {
            (kind, false) => kind.name(),
            (CycleKind::G0, true) => "G0-realtime",
            (CycleKind::G1c, true) => "G1c-realtime",
            (CycleKind::GSingle, true) => "G-single-realtime",
            (CycleKind::G2, true) => "G2-realtime",
        }
    }

    /// The transactions on the cycle, in cycle order.
    pub fn transactions(&self) -> Vec<usize> {
        self.steps.iter().map(|step| step.from).collect()
    }

    /// The cycle in words: one explanation per line, then why that is impossible.
    pub fn explain(&self) -> String {
        let mut text = String::new();
        for step in &self.steps {
            let _ = writeln!(text, "{}", step.explanation);
        }
        match self.steps.first() {
            Some(first) => {
                let _ = write!(text, "so T{} < T{}: a contradiction", first.from, first.from);
            }
            None => text.push_str("(empty cycle)"),
        }
        text
    }
}

/// A read and the transaction that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedRead {
    /// The transaction's position in the history.
    pub transaction: usize,
    /// The list it read.
    pub value: Vec<Element>,
}

/// What a transaction's own earlier steps say its read of a key must return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expectation {
    /// Exactly this list: an earlier read of the key, plus the transaction's appends since.
    Exactly(Vec<Element>),
    /// A list ending with these elements: the transaction's appends, with no earlier read.
    EndsWith(Vec<Element>),
}

/// One thing the history shows the store got wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Anomaly {
    /// A read holds the same element twice.
    DuplicateElements {
        /// The reading transaction.
        transaction: usize,
        /// The key.
        key: Key,
        /// The list it read.
        read: Vec<Element>,
        /// An element it holds more than once.
        element: Element,
    },
    /// Two reads of a key where neither is a prefix of the other: the key's history forked.
    /// Reported once per key, against the longest read (the version order the checker uses).
    IncompatibleOrder {
        /// The key.
        key: Key,
        /// A read that is not a prefix of `longest`.
        read: ObservedRead,
        /// The longest read of the key.
        longest: ObservedRead,
    },
    /// A read holds an element nobody appended to the key.
    GarbageRead {
        /// The reading transaction.
        transaction: usize,
        /// The key.
        key: Key,
        /// The element.
        element: Element,
    },
    /// A transaction's read disagrees with its own earlier steps on the key.
    Internal {
        /// The transaction.
        transaction: usize,
        /// The key.
        key: Key,
        /// What its earlier steps imply.
        expected: Expectation,
        /// What it read.
        read: Vec<Element>,
    },
    /// Aborted read: a committed transaction observed an element appended only by a transaction
    /// that failed.
    G1a {
        /// The committed reader.
        reader: usize,
        /// The failed writer.
        writer: usize,
        /// The key.
        key: Key,
        /// The element.
        element: Element,
    },
    /// Intermediate read: a read ends at an element its writer later followed with another
    /// append to the same key, so the read saw a state the writer never committed.
    G1b {
        /// The reader.
        reader: usize,
        /// The writer.
        writer: usize,
        /// The key.
        key: Key,
        /// The last element of the read.
        element: Element,
        /// The writer's last append to the key, which the read should have ended at.
        final_element: Element,
    },
    /// A dependency cycle.
    Cycle(Cycle),
}

impl Anomaly {
    /// The anomaly's stable name: `DuplicateElements`, `IncompatibleOrder`, `GarbageRead`,
    /// `Internal`, `G1a`, `G1b`, or a cycle's name (see [`Cycle::name`]).
    pub fn name(&self) -> &'static str {
        match self {
            Anomaly::DuplicateElements { .. } => "DuplicateElements",
            Anomaly::IncompatibleOrder { .. } => "IncompatibleOrder",
            Anomaly::GarbageRead { .. } => "GarbageRead",
            Anomaly::Internal { .. } => "Internal",
            Anomaly::G1a { .. } => "G1a",
            Anomaly::G1b { .. } => "G1b",
            Anomaly::Cycle(cycle) => cycle.name(),
        }
    }

    /// Whether only strict serializability rules it out: a cycle that needs a real-time edge.
    pub fn is_realtime_only(&self) -> bool {
        matches!(self, Anomaly::Cycle(cycle) if cycle.realtime)
    }

    /// The transactions involved, by position in the history.
    pub fn transactions(&self) -> Vec<usize> {
        match self {
            Anomaly::DuplicateElements { transaction, .. }
            | Anomaly::GarbageRead { transaction, .. }
            | Anomaly::Internal { transaction, .. } => vec![*transaction],
            Anomaly::IncompatibleOrder { read, longest, .. } => {
                vec![read.transaction, longest.transaction]
            }
            Anomaly::G1a { reader, writer, .. } | Anomaly::G1b { reader, writer, .. } => {
                vec![*writer, *reader]
            }
            Anomaly::Cycle(cycle) => cycle.transactions(),
        }
    }

    /// The anomaly in words.
    pub fn explain(&self) -> String {
        match self {
            Anomaly::DuplicateElements { transaction, key, read, element } => {
                format!("T{transaction} read key {key} as {read:?}, which holds {element} more than once")
            }
            Anomaly::IncompatibleOrder { key, read, longest } => format!(
                "T{} read key {key} as {:?} and T{} read it as {:?}; neither is a prefix of the other",
                read.transaction, read.value, longest.transaction, longest.value
            ),
            Anomaly::GarbageRead { transaction, key, element } => {
                format!("T{transaction} read {element} in key {key}, which no transaction appended")
            }
            Anomaly::Internal { transaction, key, expected, read } => {
                let expected = match expected {
                    Expectation::Exactly(list) => format!("{list:?}"),
                    Expectation::EndsWith(list) => format!("a list ending with {list:?}"),
                };
                format!(
                    "T{transaction} read key {key} as {read:?}, but its own earlier steps imply {expected}"
                )
            }
            Anomaly::G1a { reader, writer, key, element } => {
                format!("T{reader} observed {element} in key {key}, appended by T{writer}, which failed")
            }
            Anomaly::G1b { reader, writer, key, element, final_element } => format!(
                "T{reader} read key {key} ending at {element}, an intermediate append of T{writer}, \
                 whose last append to the key was {final_element}"
            ),
            Anomaly::Cycle(cycle) => format!("{}:\n{}", cycle.name(), cycle.explain()),
        }
    }
}
