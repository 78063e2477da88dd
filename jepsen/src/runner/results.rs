//! The results of a run: the run's part of `results.json` (beside the checker's result), the
//! rows of the report's Run table, and the lines `jepsen run` prints at the end. The run itself
//! is orchestrated in [`super`]; the report's page is [`crate::report`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::config::RunConfig;
use super::faults::{FaultRecord, NemesisLog};
use super::proxy::ProxyStats;
use crate::harness::Recorder;
use crate::operation::{Operation, Outcome};
use crate::{CheckResult, Verdict};

/// What a run that went to the end measured after its clients stopped ([`super::execute`]
/// hands it back).
#[derive(Debug)]
pub struct Finish {
    /// When the final heal was recorded.
    pub heal_ns: u64,
    /// How long after the final heal every node served, if within the bound.
    pub recovered: Option<Duration>,
    /// Keys whose final read never succeeded.
    pub unread: Vec<String>,
    /// Nodes that had to be killed at the end because SIGTERM did not stop them.
    pub killed_at_stop: Vec<String>,
    /// Where each node listened.
    pub addresses: BTreeMap<String, NodeAddresses>,
    /// What each node's peer proxy saw.
    pub proxies: Vec<(String, ProxyStats)>,
}

/// The checker's result with the run's figures under `"run"`: still readable as the checker's
/// result type ([`CheckResult`], or the list-append checker's), which ignores the extra field.
pub fn results_json(result: &impl Serialize, run: &impl Serialize) -> String {
    let mut value = serde_json::to_value(result).expect("a checker's result always serializes");
    value["run"] = serde_json::to_value(run).expect("the run's results always serialize");
    let mut text = serde_json::to_string_pretty(&value).expect("a JSON value always serializes");
    text.push('\n');
    text
}

/// Operation counts by outcome.
#[derive(Debug, Default, Serialize)]
struct OperationCounts {
    total: usize,
    ok: usize,
    fail: usize,
    info: usize,
    /// Invoked and never completed (the run ended or was interrupted first); as `info`.
    pending: usize,
}

/// Milliseconds: how many values, their median and maximum.
#[derive(Debug, Default, Serialize)]
struct Spread {
    count: usize,
    median_ms: Option<f64>,
    max_ms: Option<f64>,
}

impl Spread {
    fn of(mut values: Vec<f64>) -> Spread {
        values.sort_by(f64::total_cmp);
        Spread {
            count: values.len(),
            median_ms: values.get(values.len() / 2).copied(),
            max_ms: values.last().copied(),
        }
    }

    fn text(&self) -> String {
        match (self.median_ms, self.max_ms) {
            (Some(median), Some(max)) => {
                format!("median {median:.0} ms, max {max:.0} ms (of {})", self.count)
            }
            _ => "-".to_owned(),
        }
    }
}

/// Recovery after the final heal.
#[derive(Debug, Serialize)]
struct FinalHeal {
    /// Seconds into the history.
    heal_s: f64,
    /// From the heal until every node answered a linearizable read; `None` if not within the
    /// recovery bound.
    all_nodes_serving_ms: Option<f64>,
    /// From the heal until the first operation invoked after it (a final read) completed `ok`.
    next_ok_ms: Option<f64>,
    /// Keys no final read succeeded for.
    unread_keys: Vec<String>,
}

/// The run's part of `results.json`.
#[derive(Debug, Serialize)]
pub struct RunResults {
    test: String,
    started: String,
    seed: u64,
    nodes: usize,
    workload: &'static str,
    nemesis: Vec<&'static str>,
    time_limit_s: f64,
    nemesis_interval_s: f64,
    rate: f64,
    concurrency: usize,
    server_bin: String,
    /// The length of the history, in seconds.
    duration_s: f64,
    operations: OperationCounts,
    /// Why operations did not end `ok`: the first word of the server's error, `connect`,
    /// `timeout` or `connection`, or `cas-not-equal` for a compare-and-set that found another
    /// value; for append transactions also the reply that did not fit (`exec-aborted`,
    /// `exec-malformed`, `multi-refused`, `not-queued`, `read-malformed`, ...: see
    /// `append::exchange`).
    errors: BTreeMap<String, u64>,
    faults_applied: BTreeMap<&'static str, usize>,
    faults: Vec<FaultRecord>,
    /// Over all faults: from each heal until every node served (where that happened before the
    /// next fault), and until the next `ok` operation.
    recovery_all_nodes_serving: Spread,
    recovery_next_ok: Spread,
    final_heal: FinalHeal,
    /// Whether the cluster served again after the final heal and every key was read.
    recovered: bool,
    unexpected_exits: Vec<(String, f64, String)>,
    killed_at_stop: Vec<String>,
    /// Where each node listened: clients, its proxy (its peers' address for it), Raft.
    addresses: BTreeMap<String, NodeAddresses>,
    proxies: BTreeMap<String, ProxyStats>,
}

/// Where one node listened.
#[derive(Debug, Clone, Serialize)]
pub struct NodeAddresses {
    /// Clients'.
    pub resp: String,
    /// Its proxy's: its peers' address for it.
    pub proxy: String,
    /// Its Raft listener's.
    pub raft: String,
}

impl RunResults {
    pub fn new(
        config: &RunConfig,
        test: &str,
        stamp: &str,
        operations: &[Operation],
        recorder: &Recorder,
        log: NemesisLog,
        finish: &Finish,
    ) -> RunResults {
        let mut counts = OperationCounts { total: operations.len(), ..OperationCounts::default() };
        for operation in operations {
            match operation.outcome {
                Outcome::Ok => counts.ok += 1,
                Outcome::Fail => counts.fail += 1,
                Outcome::Info => counts.info += 1,
                Outcome::Pending => counts.pending += 1,
            }
        }
        let next_ok_ms = |heal_ns: u64| -> Option<f64> {
            operations
                .iter()
                .filter(|operation| operation.outcome.is_ok() && operation.invoke_time >= heal_ns)
                .filter_map(|operation| operation.complete_time)
                .min()
                .map(|time| (time - heal_ns) as f64 / 1e6)
        };
        let mut faults = log.faults;
        let mut faults_applied = BTreeMap::new();
        for record in &mut faults {
            record.next_ok_ms = record.heal_ns.and_then(next_ok_ms);
            *faults_applied.entry(record.fault).or_default() += 1;
        }
        let end_ns = operations.iter().filter_map(|operation| operation.complete_time).max().unwrap_or(0);
        RunResults {
            test: test.to_owned(),
            started: stamp.to_owned(),
            seed: config.seed,
            nodes: config.nodes,
            workload: config.workload.name(),
            nemesis: config.faults.iter().map(|fault| fault.name()).collect(),
            time_limit_s: config.time_limit.as_secs_f64(),
            nemesis_interval_s: config.nemesis_interval.as_secs_f64(),
            rate: config.rate,
            concurrency: config.concurrency,
            server_bin: config.server_bin.display().to_string(),
            duration_s: end_ns as f64 / 1e9,
            operations: counts,
            errors: recorder.errors(),
            faults_applied,
            recovery_all_nodes_serving: Spread::of(
                faults.iter().filter_map(|f| f.all_nodes_serving_ms).collect(),
            ),
            recovery_next_ok: Spread::of(faults.iter().filter_map(|f| f.next_ok_ms).collect()),
            faults,
            final_heal: FinalHeal {
                heal_s: finish.heal_ns as f64 / 1e9,
                all_nodes_serving_ms: finish.recovered.map(|took| took.as_secs_f64() * 1e3),
                next_ok_ms: next_ok_ms(finish.heal_ns),
                unread_keys: finish.unread.clone(),
            },
            recovered: finish.recovered.is_some() && finish.unread.is_empty(),
            unexpected_exits: log.unexpected_exits,
            killed_at_stop: finish.killed_at_stop.clone(),
            addresses: finish.addresses.clone(),
            proxies: finish.proxies.iter().cloned().collect(),
        }
    }

    /// The rows of the report's Run table.
    pub fn rows(&self, config: &RunConfig) -> Vec<(String, String)> {
        let mut rows = vec![
            ("test".to_owned(), format!("{} at {}", self.test, self.started)),
            (
                "settings".to_owned(),
                format!(
                    "{} nodes, {} workload, {} s, {} ops/s over {} clients, a fault every ~{} s",
                    self.nodes,
                    self.workload,
                    self.time_limit_s,
                    self.rate,
                    self.concurrency,
                    self.nemesis_interval_s
                ),
            ),
            ("seed".to_owned(), self.seed.to_string()),
            ("again, with the same schedule".to_owned(), config.rerun_command()),
            ("server".to_owned(), self.server_bin.clone()),
            (
                "operations".to_owned(),
                format!(
                    "{} ({} ok, {} fail, {} info, {} pending)",
                    self.operations.total,
                    self.operations.ok,
                    self.operations.fail,
                    self.operations.info,
                    self.operations.pending
                ),
            ),
            ("not ok, by reason".to_owned(), map_text(&self.errors)),
            ("faults applied".to_owned(), map_text(&self.faults_applied)),
            ("recovery: every node serves".to_owned(), self.recovery_all_nodes_serving.text()),
            ("recovery: next ok operation".to_owned(), self.recovery_next_ok.text()),
            (
                "final heal".to_owned(),
                format!(
                    "at {:.1} s; every node served after {}; first ok after {}; {} keys unread",
                    self.final_heal.heal_s,
                    ms_text(self.final_heal.all_nodes_serving_ms),
                    ms_text(self.final_heal.next_ok_ms),
                    self.final_heal.unread_keys.len()
                ),
            ),
        ];
        if !self.unexpected_exits.is_empty() {
            let exits: Vec<String> = self
                .unexpected_exits
                .iter()
                .map(|(node, at, status)| format!("{node} at {at:.1} s ({status})"))
                .collect();
            rows.push(("nodes that exited on their own".to_owned(), exits.join("; ")));
        }
        for record in &self.faults {
            rows.push((
                format!("{:.1} s {}", record.start_s, record.fault),
                format!(
                    "{}; healed at {}; every node served after {}; next ok after {}",
                    match &record.detail {
                        serde_json::Value::String(text) => text.clone(),
                        other => other.to_string(),
                    },
                    record.heal_s.map_or("-".to_owned(), |s| format!("{s:.1} s")),
                    ms_text(record.all_nodes_serving_ms),
                    ms_text(record.next_ok_ms)
                ),
            ));
        }
        rows
    }

    /// What the command prints at the end.
    pub fn text(&self, result: &CheckResult, dir: &Path) -> String {
        let mut out = String::new();
        let verdict = match result.verdict {
            Verdict::Valid => "valid",
            Verdict::Invalid => "INVALID",
            Verdict::Unknown => "unknown (the checker's budget ran out)",
        };
        let _ = writeln!(
            out,
            "{verdict}: {} operations on {} keys ({} model)",
            result.operation_count, result.key_count, result.model
        );
        if !result.invalid_keys.is_empty() {
            let keys: Vec<String> = result
                .invalid_keys
                .iter()
                .map(|key| key.clone().unwrap_or_else(|| "(none)".into()))
                .collect();
            let _ = writeln!(out, "  invalid keys: {}", keys.join(", "));
        }
        out.push_str(&self.figures_text(dir));
        out
    }

    /// The lines under the verdict: what the run did, and where the report is.
    pub fn figures_text(&self, dir: &Path) -> String {
        let mut out = String::new();
        let counts = &self.operations;
        let _ = writeln!(
            out,
            "  operations: {} ({} ok, {} fail, {} info, {} pending) in {:.1} s",
            counts.total, counts.ok, counts.fail, counts.info, counts.pending, self.duration_s
        );
        let _ = writeln!(out, "  faults applied: {}", map_text(&self.faults_applied));
        let _ = writeln!(out, "  recovery, every node serves: {}", self.recovery_all_nodes_serving.text());
        let _ = writeln!(out, "  recovery, next ok operation: {}", self.recovery_next_ok.text());
        let _ = writeln!(
            out,
            "  final heal: every node served after {}{}",
            ms_text(self.final_heal.all_nodes_serving_ms),
            if self.recovered {
                String::new()
            } else {
                format!("; NOT RECOVERED, unread keys: {:?}", self.final_heal.unread_keys)
            }
        );
        if !self.unexpected_exits.is_empty() {
            let _ = writeln!(out, "  nodes that exited on their own: {:?}", self.unexpected_exits);
        }
        let _ = writeln!(out, "  report: {}", dir.join("report.html").display());
        out
    }
}

fn map_text<V: std::fmt::Display>(map: &BTreeMap<impl std::fmt::Display, V>) -> String {
    if map.is_empty() {
        return "none".to_owned();
    }
    map.iter().map(|(name, count)| format!("{name} {count}")).collect::<Vec<_>>().join(", ")
}

fn ms_text(ms: Option<f64>) -> String {
    ms.map_or_else(|| "- (not measured in time)".to_owned(), |ms| format!("{ms:.0} ms"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Budget;

    #[test]
    fn results_json_reads_back_as_a_check_result() {
        // The run's figures ride along under "run" without breaking `jepsen check --json`'s shape.
        let result =
            crate::check(&[], crate::ModelKind::Register, &Budget::default()).expect("empty is fine");
        let text = results_json(&result, &serde_json::json!({ "seed": 7 }));
        let back: CheckResult = serde_json::from_str(&text).expect("the extra field is ignored");
        assert_eq!(back, result);
        let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(value["run"]["seed"], 7);
    }
}
