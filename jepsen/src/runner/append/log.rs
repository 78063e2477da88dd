//! The transactions of an append run, as the list-append checker takes them, recorded by every
//! client as each ends; and `transactions.jsonl`, where they are kept.
//!
//! A transaction is named by its position in the log (`T0`, `T1`, ...), which is how the
//! checker's explanations name it, and the file keeps that order: `Tn` is line n + 1.

use std::io::{self, Write as _};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::elle::{Outcome, Transaction};
use crate::harness::Counts;

/// Every transaction so far, in the order they ended.
#[derive(Debug, Default)]
pub struct TransactionLog {
    inner: Mutex<Logged>,
}

#[derive(Debug, Default)]
struct Logged {
    transactions: Vec<Transaction>,
    counts: Counts,
}

impl TransactionLog {
    /// An empty log.
    pub fn new() -> TransactionLog {
        TransactionLog::default()
    }

    fn lock(&self) -> MutexGuard<'_, Logged> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a transaction that ended.
    pub fn record(&self, transaction: Transaction) {
        let mut logged = self.lock();
        match transaction.outcome {
            Outcome::Ok => logged.counts.ok += 1,
            Outcome::Fail => logged.counts.fail += 1,
            Outcome::Info | Outcome::Pending => logged.counts.info += 1,
        }
        logged.transactions.push(transaction);
    }

    /// The counts by outcome so far.
    pub fn counts(&self) -> Counts {
        self.lock().counts
    }

    /// A copy of the transactions so far.
    pub fn transactions(&self) -> Vec<Transaction> {
        self.lock().transactions.clone()
    }
}

/// Writes `transactions` to `path`, one JSON object a line, in order.
///
/// # Errors
/// What the file system said.
pub fn write_jsonl(path: &Path, transactions: &[Transaction]) -> io::Result<()> {
    let mut out = io::BufWriter::new(std::fs::File::create(path)?);
    for transaction in transactions {
        serde_json::to_writer(&mut out, transaction)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elle::MicroOp;

    #[test]
    fn transactions_are_counted_and_kept_in_order() {
        let log = TransactionLog::new();
        let transaction = |process, outcome| Transaction {
            process,
            invoke: 1,
            complete: 2,
            outcome,
            ops: vec![MicroOp::Append(1, process), MicroOp::Read(1, Some(vec![process]))],
        };
        log.record(transaction(1, Outcome::Ok));
        log.record(transaction(2, Outcome::Info));
        log.record(transaction(3, Outcome::Fail));
        assert_eq!(log.counts(), Counts { ok: 1, fail: 1, info: 1 });
        let kept = log.transactions();
        assert_eq!(kept.iter().map(|t| t.process).collect::<Vec<_>>(), vec![1, 2, 3]);

        let path = std::env::temp_dir().join(format!("jepsen-append-log-{}.jsonl", std::process::id()));
        write_jsonl(&path, &kept).expect("written");
        let text = std::fs::read_to_string(&path).expect("read back");
        let _ = std::fs::remove_file(&path);
        let back: Vec<Transaction> =
            text.lines().map(|line| serde_json::from_str(line).expect("a transaction")).collect();
        assert_eq!(back, kept);
    }
}
