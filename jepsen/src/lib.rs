//! Jepsen-style testing for redraft: the history model (DESIGN.md §6, with nemesis events as in
//! Jepsen), the linearizability checker, HTML/SVG reports of the result ([`report`]), the
//! vocabulary the simulator and the runner share to record histories and plan faults
//! ([`harness`]), and the runner that drives real server processes under faults and checks what
//! they did ([`runner`], the `jepsen run` command). The runner sees redraft only as a binary and
//! its client protocol, never its internals.
//!
//! A history is read with [`history::read_history`] (or streamed with
//! [`history::HistoryReader`]), paired into operations, split by key and searched:
//!
//! ```
//! use jepsen::{check, read_history, Budget, ModelKind, Verdict};
//!
//! let text = r#"
//! {"index": 0, "time": 10, "process": 0, "type": "invoke", "f": "write", "key": "k", "value": 1}
//! {"index": 1, "time": 20, "process": 0, "type": "ok", "f": "write", "key": "k", "value": 1}
//! {"index": 2, "time": 30, "process": 1, "type": "invoke", "f": "read", "key": "k"}
//! {"index": 3, "time": 40, "process": 1, "type": "ok", "f": "read", "key": "k", "value": null}
//! "#;
//! let ops = read_history(text.as_bytes()).unwrap();
//! let result = check(&ops, ModelKind::Register, &Budget::default()).unwrap();
//! assert_eq!(result.verdict, Verdict::Invalid); // The write was lost.
//! ```

pub mod checker;
pub mod elle;
pub mod generate;
// Built in both worlds: the simulator records and plans with it too.
pub mod harness;
pub mod history;
pub mod model;
pub mod nemesis;
pub mod operation;
mod plot;
pub mod report;
// Real processes, sockets and signals: never built into the simulator (DESIGN.md §5).
#[cfg(not(madsim))]
pub mod runner;
mod search;
mod svg;
mod timeline;

pub use checker::{check, check_operations, Budget, CheckResult, KeyCheck, UnknownKey, Verdict, Violation};
pub use generate::{generate_history, GeneratorConfig};
pub use history::{
    read_events, read_history, write_events, write_history, Event, HistoryReader, HistoryWriter,
    NemesisEvent, Op, OpFunction, OpType, ReadError, WriteError,
};
pub use model::ModelKind;
pub use nemesis::{NemesisInterval, NemesisMark, NemesisTimeline};
pub use operation::{pair_operations, HistoryError, Operation, Outcome};
pub use report::{Report, ReportError};
pub use search::UnknownReason;
