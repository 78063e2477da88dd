//! The end of an append run: its transactions checked by the list-append checker, and what it
//! found written up: `transactions.jsonl`, `results.json` (the checker's result with a verdict,
//! counts by anomaly, and the run's figures under `"run"`), the report page with a drawing of
//! each cycle ([`super::page`]), and the lines `jepsen run` prints.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;

use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use super::log::write_jsonl;
use super::page::{self, Page};
use super::AppendState;
use crate::elle::{self, CheckResult, MicroOp, Transaction};
use crate::history::OpFunction;
use crate::operation::Operation;
use crate::runner::results::results_json;
use crate::runner::{Ran, RunError, RunSummary};
use crate::Verdict;

/// Anomalies of each class (cycles and others) whose explanations `jepsen run` prints; the
/// report lists more.
const ANOMALIES_PRINTED: usize = 5;
/// Lines of one explanation `jepsen run` prints (a long cycle has a line per step).
const LINES_PRINTED: usize = 12;

/// Checks the run's transactions and writes everything up; see the module documentation.
/// `interrupt` ends a long check early.
///
/// # Errors
/// [`RunError`]: a file could not be written, the transactions could not be checked (a bug in
/// the runner), or the check was interrupted. Anomalies are not an error: see
/// [`RunSummary::verdict`].
pub(in crate::runner) async fn conclude(
    mut ran: Ran<'_>,
    state: &AppendState,
    mut interrupt: Pin<&mut impl Future<Output = ()>>,
) -> Result<RunSummary, RunError> {
    let transactions = state.log.transactions();
    let path = ran.dir.join("transactions.jsonl");
    write_jsonl(&path, &transactions).map_err(|source| RunError::Store { path, source })?;
    ran.progress.line(&format!("jepsen run: checking {} transactions", transactions.len()));
    let checked_at = Instant::now();
    // On a thread of its own, so that Ctrl-C still ends a long check.
    let checking = tokio::task::spawn_blocking(move || {
        let result = elle::check(&transactions);
        (transactions, result)
    });
    let (transactions, result) = tokio::select! {
        biased;
        () = &mut interrupt => return Err(RunError::Interrupted { dir: ran.dir }),
        checked = checking => checked.expect("the checker does not panic"),
    };
    let result = result?;
    let check_elapsed = checked_at.elapsed();

    let operations = as_operations(&transactions);
    let results = ran.results(&operations);
    let title = format!("{} {}", ran.test, ran.stamp);
    let run_rows = results.rows(ran.config);
    let shown = Page {
        title: &title,
        result: &result,
        transactions: &transactions,
        operations: &operations,
        nemesis: &ran.nemesis,
        run_rows,
        check_elapsed,
    };
    page::write(&ran.dir, &shown)?;
    let checked = Checked::new(&result, &transactions);
    ran.write_results(&results_json(&checked, &results))?;
    let mut text = summary_text(&result, &checked);
    text.push_str(&results.figures_text(&ran.dir));
    ran.progress.log_only(&text);
    let verdict = if result.valid { Verdict::Valid } else { Verdict::Invalid };
    Ok(RunSummary { text, recovered: ran.recovered(), dir: ran.dir, verdict })
}

/// `results.json` beside the run's figures: the checker's result with a verdict in the words of
/// the other workloads' results, and counts people look for first.
#[derive(Debug, Serialize)]
struct Checked<'a> {
    /// `valid` (no anomaly: strictly serializable as far as the checker can tell) or `invalid`.
    verdict: &'static str,
    /// Which checker: `list-append`.
    checker: &'static str,
    /// Anomalies found, by name.
    anomaly_counts: BTreeMap<&'static str, usize>,
    /// Transactions that ended `ok` with at least one read.
    ok_with_reads: usize,
    /// Steps of `ok` transactions: appends and reads.
    ok_appends: usize,
    ok_reads: usize,
    #[serde(flatten)]
    result: &'a CheckResult,
}

impl<'a> Checked<'a> {
    fn new(result: &'a CheckResult, transactions: &[Transaction]) -> Checked<'a> {
        let mut anomaly_counts = BTreeMap::new();
        for anomaly in &result.anomalies {
            *anomaly_counts.entry(anomaly.name()).or_default() += 1;
        }
        let ok: Vec<&Transaction> = transactions.iter().filter(|t| t.is_ok()).collect();
        let is_read = |op: &&MicroOp| matches!(op, MicroOp::Read(..));
        let ok_reads = ok.iter().map(|t| t.ops.iter().filter(is_read).count()).sum();
        let ok_steps: usize = ok.iter().map(|t| t.ops.len()).sum();
        Checked {
            verdict: if result.valid { "valid" } else { "invalid" },
            checker: "list-append",
            anomaly_counts,
            ok_with_reads: ok.iter().filter(|t| t.ops.iter().any(|op| is_read(&op))).count(),
            ok_appends: ok_steps - ok_reads,
            ok_reads,
            result,
        }
    }
}

/// The verdict, the anomalies by name, and the first few explained.
fn summary_text(result: &CheckResult, checked: &Checked<'_>) -> String {
    let mut out = String::new();
    if result.valid {
        let _ = writeln!(
            out,
            "valid: {} transactions, {} ok with reads; no anomaly in {} dependency edges (list-append)",
            result.transaction_count, checked.ok_with_reads, result.edge_count
        );
    } else {
        let counts: Vec<String> =
            checked.anomaly_counts.iter().map(|(name, count)| format!("{name} {count}")).collect();
        let _ = writeln!(
            out,
            "INVALID: {} anomal{} in {} transactions ({}): {}",
            result.anomalies.len(),
            if result.anomalies.len() == 1 { "y" } else { "ies" },
            result.transaction_count,
            if result.serializable {
                "serializable, but not strictly: each cycle needs real-time order"
            } else {
                "not serializable"
            },
            counts.join(", ")
        );
        let printed = page::selected(&result.anomalies, ANOMALIES_PRINTED);
        for &(number, anomaly) in &printed {
            let explanation = page::explain(anomaly);
            let lines: Vec<&str> = explanation.lines().collect();
            let _ = write!(out, "  {number}. {}:", anomaly.name());
            if lines.len() == 1 {
                let _ = writeln!(out, " {}", lines[0]);
                continue;
            }
            out.push('\n');
            for line in lines.iter().take(LINES_PRINTED) {
                let _ = writeln!(out, "      {line}");
            }
            if lines.len() > LINES_PRINTED {
                let _ = writeln!(out, "      ... {} more lines in the report", lines.len() - LINES_PRINTED);
            }
        }
        if result.anomalies.len() > printed.len() {
            let _ = writeln!(out, "  ... and {} more in the report", result.anomalies.len() - printed.len());
        }
    }
    if result.search_exhausted {
        out.push_str("  the search for G-single cycles ran out of steps: a G2 reported may hide one\n");
    }
    out
}

/// The transactions as operations, for the run's figures and the latency and throughput plots:
/// a read-only transaction as a `read`, one that appends as a `write`, each numbered by its
/// position.
pub(super) fn as_operations(transactions: &[Transaction]) -> Vec<Operation> {
    transactions
        .iter()
        .enumerate()
        .map(|(position, transaction)| {
            let appends = transaction.ops.iter().any(|op| matches!(op, MicroOp::Append(..)));
            Operation {
                process: transaction.process,
                key: None,
                f: if appends { OpFunction::Write } else { OpFunction::Read },
                value: Value::Null,
                outcome: transaction.outcome,
                invoke_index: position as u64,
                invoke_time: transaction.invoke,
                invoke_position: position,
                complete_index: Some(position as u64),
                complete_time: Some(transaction.complete),
                complete_position: Some(position),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elle::Outcome;

    /// Circular information flow: each transaction read the other's append (G1c).
    fn g1c() -> Vec<Transaction> {
        let transaction =
            |process, ops| Transaction { process, invoke: 10, complete: 20, outcome: Outcome::Ok, ops };
        vec![
            transaction(0, vec![MicroOp::Append(1, 1), MicroOp::Read(2, Some(vec![1]))]),
            transaction(1, vec![MicroOp::Append(2, 1), MicroOp::Read(1, Some(vec![1]))]),
            transaction(2, vec![MicroOp::Append(3, 1)]),
        ]
    }

    #[test]
    fn the_summary_names_and_explains_each_anomaly_once() {
        let transactions = g1c();
        let result = elle::check(&transactions).expect("checkable");
        let checked = Checked::new(&result, &transactions);
        assert_eq!((checked.ok_with_reads, checked.ok_appends, checked.ok_reads), (2, 3, 2));
        let text = summary_text(&result, &checked);
        assert!(
            text.starts_with("INVALID: 1 anomaly in 3 transactions (not serializable): G1c 1\n"),
            "{text}"
        );
        assert!(text.contains("  1. G1c:\n      T"), "{text}");
        assert_eq!(text.matches("G1c").count(), 2, "named in the counts and once above its steps: {text}");

        let valid = elle::check(&transactions[2..]).expect("checkable");
        let text = summary_text(&valid, &Checked::new(&valid, &transactions[2..]));
        assert!(text.starts_with("valid: 1 transactions, 0 ok with reads"), "{text}");
    }

    #[test]
    fn the_page_links_a_drawing_of_each_cycle() {
        let transactions = g1c();
        let result = elle::check(&transactions).expect("checkable");
        let operations = as_operations(&transactions);
        assert_eq!(operations[2].f, OpFunction::Write);
        let dir = std::env::temp_dir().join(format!("jepsen-append-page-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory");
        let shown = Page {
            title: "append-none test",
            result: &result,
            transactions: &transactions,
            operations: &operations,
            nemesis: &[],
            run_rows: vec![("seed".to_owned(), "7".to_owned())],
            check_elapsed: std::time::Duration::from_millis(1),
        };
        page::write(&dir, &shown).expect("written");
        let html = std::fs::read_to_string(dir.join("report.html")).expect("the page");
        let svg = std::fs::read_to_string(dir.join("cycle-1.svg")).expect("the cycle's drawing");
        let dot = std::fs::read_to_string(dir.join("cycle-1.dot")).expect("the cycle as DOT");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(html.contains("<p class=\"verdict invalid\">invalid</p>"), "{html}");
        assert!(html.contains("<h3>1. G1c</h3>") && html.contains("href=\"cycle-1.svg\""), "{html}");
        assert!(html.contains("T0: process 0, ok, 10 ns to 20 ns: append 1 to append:1; read append:2 = [1]"));
        assert!(svg.starts_with("<?xml") && svg.contains("G1c"), "{svg}");
        assert!(dot.starts_with("digraph"), "{dot}");
    }
}
