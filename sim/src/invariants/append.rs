//! The append workload's transactions, checked as Elle checks list-append histories
//! (`jepsen::elle`): every key's version order from the reads, the dependencies between
//! transactions that follow from it and from real time, and no cycle among them (strict
//! serializability), nor an aborted, intermediate or garbage read.

use jepsen::elle::{check, cycle_svg, Anomaly, Transaction};

/// How many anomalies a failure names (the first of each kind come first).
const SHOWN: usize = 3;

/// Files that show a failure: their name's ending and contents.
pub type Artefacts = Vec<(&'static str, String)>;

/// Checks the transactions (none outside append runs: then there is nothing to check). A
/// failure comes with the transactions as JSON (`append.json`, for `jepsen::elle::check`) and
/// the first cycle found drawn (`cycle.svg`).
pub fn check_transactions(transactions: &[Transaction]) -> Result<(), (String, Artefacts)> {
    if transactions.is_empty() {
        return Ok(());
    }
    let mut artefacts: Artefacts = Vec::new();
    if let Ok(json) = serde_json::to_string(transactions) {
        artefacts.push(("append.json", json));
    }
    let result = match check(transactions) {
        Ok(result) => result,
        Err(e) => return Err((format!("the append history cannot be checked: {e}"), artefacts)),
    };
    if result.valid {
        return Ok(());
    }
    let cycle = result.anomalies.iter().find_map(|a| if let Anomaly::Cycle(c) = a { Some(c) } else { None });
    if let Some(cycle) = cycle {
        artefacts.push(("cycle.svg", cycle_svg(cycle)));
    }
    let shown: Vec<String> =
        result.anomalies.iter().take(SHOWN).map(|a| a.explain().replace('\n', " / ")).collect();
    let reason = format!(
        "the append history is not strictly serializable ({} anomalies, {:?}): {}",
        result.anomalies.len(),
        result.anomaly_names(),
        shown.join("; ")
    );
    Err((reason, artefacts))
}
