//! The linearizability checker: splits a history by key (P-compositionality: a history is
//! linearizable exactly when each key's sub-history is, Herlihy & Wing 1990 §3.3), searches each
//! key with [`crate::search`], and for a key that fails, shrinks the evidence to a small set of
//! operations that cannot be linearized.
//!
//! How operations count:
//! - `ok` operations took effect between invocation and completion, and must be linearized.
//! - `fail` operations did not happen and are dropped.
//! - `info` operations, and invocations the history never completes, may take effect at any time
//!   after their invocation, or never: their return is at +infinity and they are optional.
//! - A read that did not complete `ok` observed nothing, so it is dropped.
//!
//! Drawing a violation is [`crate::report`]'s job; [`CheckResult`] is serde-serializable so a report
//! can also be drawn from a saved result.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::history::Op;
use crate::model::{Encoder, Input, ModelKind, INITIAL_STATE};
use crate::operation::{pair_operations, HistoryError, Operation, Outcome};
use crate::search::{search, Limits, SearchOp, SearchOutcome, UnknownReason};

/// How much work the checker may do before it answers [`Verdict::Unknown`] instead of hanging.
///
/// The step and cache bounds make the answer deterministic: the same history and budget always
/// give the same verdict. `time_limit` is for interactive use and makes it depend on the machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// Search steps allowed for one key, and again for shrinking a violation. A step tries one
    /// call or undoes one. `None` is unbounded.
    pub steps_max: Option<u64>,
    /// Distinct (linearized set, state) pairs the cache may hold for one key. Each costs about
    /// `operations_on_the_key / 8 + 40` bytes. `None` is unbounded.
    pub cache_states_max: Option<usize>,
    /// Wall-clock time for the whole check, shrinking included. `None` is unbounded.
    pub time_limit: Option<Duration>,
    /// Searches the shrinker may run while minimising a violation. 0 reports the violation as
    /// found, unshrunk.
    pub shrink_checks_max: usize,
    /// Invalid keys to find evidence for, in key order; later invalid keys are only named. Each
    /// costs a shrink, so a history broken on every key does not take a shrink per key.
    #[serde(default = "default_violations_max")]
    pub violations_max: usize,
}

fn default_violations_max() -> usize {
    VIOLATIONS_MAX_DEFAULT
}

/// Enough evidence for a report to show a handful of broken keys.
const VIOLATIONS_MAX_DEFAULT: usize = 8;

impl Default for Budget {
    /// Bounds that let a 100,000-operation history with ordinary concurrency finish, while keeping
    /// the cache under about a gigabyte on a pathological key.
    fn default() -> Self {
        Self {
            steps_max: Some(50_000_000),
            cache_states_max: Some(4_000_000),
            time_limit: None,
            shrink_checks_max: 2_000,
            violations_max: VIOLATIONS_MAX_DEFAULT,
        }
    }
}

impl Budget {
    /// No bounds at all: the check may run for as long as the search needs.
    pub fn unlimited() -> Self {
        Self {
            steps_max: None,
            cache_states_max: None,
            time_limit: None,
            shrink_checks_max: usize::MAX,
            violations_max: usize::MAX,
        }
    }
}

/// The overall answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every key's operations have a linearization.
    Valid,
    /// At least one key's operations have none.
    Invalid,
    /// No key is known to be invalid, but the budget ran out on at least one.
    Unknown,
}

/// What the checker found, in a form a report can draw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The model checked against.
    pub model: ModelKind,
    /// The answer.
    pub verdict: Verdict,
    /// How many keys the history touches.
    pub key_count: usize,
    /// How many operations the search considered (after dropping `fail`s and unanswered reads).
    pub operation_count: usize,
    /// Search steps taken over all keys and shrinking; a machine-independent measure of effort.
    pub steps: u64,
    /// Every key found invalid, in key order.
    pub invalid_keys: Vec<Option<String>>,
    /// The evidence for the first invalid key, when the verdict is `Invalid`.
    pub violation: Option<Violation>,
    /// Evidence for the invalid keys after the first, in key order, up to
    /// [`Budget::violations_max`] violations in all (counting `violation`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub further_violations: Vec<Violation>,
    /// The keys the budget ran out on, in key order.
    pub unknown_keys: Vec<UnknownKey>,
    /// The answer for every key the search considered, in key order.
    #[serde(default)]
    pub keys: Vec<KeyCheck>,
}

impl CheckResult {
    /// Every violation with evidence, first invalid key first.
    pub fn violations(&self) -> impl Iterator<Item = &Violation> {
        self.violation.iter().chain(&self.further_violations)
    }
}

/// The answer for one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyCheck {
    /// The key.
    pub key: Option<String>,
    /// Valid, invalid, or unknown when the budget ran out on it.
    pub verdict: Verdict,
    /// How many of the key's operations the search considered.
    pub operation_count: usize,
    /// Search steps spent on the key, shrinking included: how hard it was, independent of the
    /// machine.
    pub steps: u64,
}

/// Operations on one key that cannot be linearized.
///
/// The claim is: these `ok` operations have no linearization even if every other operation on
/// the key may take effect at any time after its invocation, or not at all. Each of them is
/// needed for that (when `minimal`): making any one of them optional too leaves a linearization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    /// The key.
    pub key: Option<String>,
    /// The operations, in order of invocation.
    pub operations: Vec<Operation>,
    /// Whether shrinking finished: `false` when its budget ran out first, so some operation in
    /// `operations` might not be needed.
    pub minimal: bool,
    /// How many operations the key had before shrinking.
    pub key_operation_count: usize,
}

/// A key the checker could not settle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnknownKey {
    /// The key.
    pub key: Option<String>,
    /// Which bound ran out.
    pub reason: UnknownReason,
}

/// Checks a history read from a file or recorded by a runner.
///
/// # Errors
///
/// [`HistoryError`] when the events do not pair up into operations, or an operation does not fit
/// the model; the history needs fixing, and checking it again will not help.
pub fn check(ops: &[Op], model: ModelKind, budget: &Budget) -> Result<CheckResult, HistoryError> {
    check_operations(&pair_operations(ops)?, model, budget)
}

/// Checks operations already paired by [`pair_operations`].
///
/// # Errors
///
/// [`HistoryError`] when an operation does not fit the model.
pub fn check_operations(
    operations: &[Operation],
    model: ModelKind,
    budget: &Budget,
) -> Result<CheckResult, HistoryError> {
    #[allow(clippy::disallowed_methods)] // Offline tool; the deadline is opt-in.
    let deadline = budget.time_limit.map(|limit| Instant::now() + limit);
    let limits = Limits { steps_max: budget.steps_max, cache_states_max: budget.cache_states_max, deadline };

    // Encode in history order, so an input error names the first bad operation in the file.
    let mut encoder = Encoder::new(model);
    let mut by_key: BTreeMap<Option<&str>, Vec<(usize, SearchOp)>> = BTreeMap::new();
    for (slot, operation) in operations.iter().enumerate() {
        let Some(search_op) = search_op(operation, &mut encoder)? else {
            continue;
        };
        by_key.entry(operation.key.as_deref()).or_default().push((slot, search_op));
    }

    let mut result = CheckResult {
        model,
        verdict: Verdict::Valid,
        key_count: by_key.len(),
        operation_count: by_key.values().map(Vec::len).sum(),
        steps: 0,
        invalid_keys: Vec::new(),
        violation: None,
        further_violations: Vec::new(),
        unknown_keys: Vec::new(),
        keys: Vec::with_capacity(by_key.len()),
    };
    let mut violation_count = 0;
    for (key, entries) in &by_key {
        let ops: Vec<SearchOp> = entries.iter().map(|(_, op)| *op).collect();
        let steps_before = result.steps;
        let verdict = match search(&ops, INITIAL_STATE, &limits, &mut result.steps) {
            SearchOutcome::Linearizable => Verdict::Valid,
            SearchOutcome::NotLinearizable => {
                result.invalid_keys.push(key.map(str::to_owned));
                if violation_count < budget.violations_max {
                    violation_count += 1;
                    let shrunk = shrink(&ops, &limits, budget.shrink_checks_max, &mut result.steps);
                    let violation = Violation {
                        key: key.map(str::to_owned),
                        operations: shrunk
                            .required
                            .iter()
                            .map(|&op| operations[entries[op].0].clone())
                            .collect(),
                        minimal: shrunk.minimal,
                        key_operation_count: ops.len(),
                    };
                    if result.violation.is_none() {
                        result.violation = Some(violation);
                    } else {
                        result.further_violations.push(violation);
                    }
                }
                Verdict::Invalid
            }
            SearchOutcome::Unknown(reason) => {
                result.unknown_keys.push(UnknownKey { key: key.map(str::to_owned), reason });
                Verdict::Unknown
            }
        };
        result.keys.push(KeyCheck {
            key: key.map(str::to_owned),
            verdict,
            operation_count: ops.len(),
            steps: result.steps - steps_before,
        });
    }
    result.verdict = if !result.invalid_keys.is_empty() {
        Verdict::Invalid
    } else if !result.unknown_keys.is_empty() {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    Ok(result)
}

/// The operation as the search sees it, or `None` when it cannot matter.
fn search_op(operation: &Operation, encoder: &mut Encoder) -> Result<Option<SearchOp>, HistoryError> {
    let ret = match operation.outcome {
        Outcome::Fail => return Ok(None),
        Outcome::Ok => Some(operation.complete_position.expect("an ok operation has a completion event")),
        Outcome::Info | Outcome::Pending => None,
    };
    if ret.is_none() && operation.f == crate::history::OpFunction::Read {
        return Ok(None);
    }
    Ok(Some(SearchOp { call: operation.invoke_position, ret, input: encoder.encode(operation)? }))
}

/// The shrinker's answer: offsets into the key's operations, in invocation order.
struct Shrunk {
    required: Vec<usize>,
    minimal: bool,
}

/// Shrinks a key known to be non-linearizable to a small set of required operations, by making
/// operations optional (return at +infinity) while the key stays non-linearizable.
///
/// Making an operation optional only loosens the history, so every history tried is implied by the
/// original: if it has no linearization, neither has the original. Deleting operations instead
/// would be unsound: dropping the write a read saw makes that read look wrong.
///
/// First it looks for a single operation that is invalid on its own. Then it cuts the history at the earliest return where it is already non-linearizable (binary
/// search; operations invoked after the cut cannot be ordered before the required ones, so they
/// are left out). Then it relaxes chunks of required operations, halving the chunk size down to
/// one, in the manner of delta debugging. A final pass at size one leaves a set where relaxing any
/// single member gives a linearizable history, because relaxing is monotone.
fn shrink(ops: &[SearchOp], limits: &Limits, checks_max: usize, steps: &mut u64) -> Shrunk {
    let mut trial = Trial {
        ops,
        limits: *limits,
        steps_left: limits.steps_max,
        checks_left: checks_max,
        steps,
        exhausted: false,
    };
    let all: Vec<usize> = (0..ops.len()).filter(|&op| ops[op].ret.is_some()).collect();

    // Many violations are one operation that nothing can explain (a read of a value never
    // written). Trials with a single required operation are cheap, as the pruning in the search
    // drops nearly every optional one, so try those first. One operation is trivially minimal.
    for &op in &all {
        if trial.exhausted {
            break;
        }
        if trial.is_invalid(&[op], usize::MAX) {
            return Shrunk { required: vec![op], minimal: true };
        }
    }

    // Cut: find the earliest required return such that the operations invoked before it, with
    // only those returning by it required, are still non-linearizable.
    let mut returns: Vec<usize> = all.iter().filter_map(|&op| ops[op].ret).collect();
    returns.sort_unstable();
    let required_by = |cut: usize| -> Vec<usize> {
        all.iter().copied().filter(|&op| ops[op].ret.is_some_and(|ret| ret <= cut)).collect()
    };
    // Invariant: the cut at `returns[high]` is non-linearizable. It holds at the start, because
    // the operations left out then are all optional, and omitting optional operations from a
    // linearization of the rest gives one of the whole.
    let mut high = returns.len().saturating_sub(1);
    let mut low = 0;
    while low < high && !trial.exhausted {
        let middle = low + (high - low) / 2;
        if trial.is_invalid(&required_by(returns[middle]), returns[middle]) {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    let cut = returns.get(high).copied().unwrap_or(usize::MAX);
    let mut required = required_by(cut);

    // Relax chunks of required operations.
    let mut chunk = (required.len() / 2).max(1);
    loop {
        let mut start = 0;
        while start < required.len() && !trial.exhausted {
            let end = (start + chunk).min(required.len());
            let candidate: Vec<usize> = required[..start].iter().chain(&required[end..]).copied().collect();
            if !candidate.is_empty() && trial.is_invalid(&candidate, cut) {
                required = candidate;
            } else {
                start = end;
            }
        }
        if chunk == 1 || trial.exhausted {
            break;
        }
        chunk = (chunk / 2).max(1);
    }
    let minimal = !trial.exhausted;
    required.sort_unstable_by_key(|&op| ops[op].call);
    Shrunk { required, minimal }
}

/// Runs the shrinker's searches against its share of the budget.
struct Trial<'a> {
    ops: &'a [SearchOp],
    limits: Limits,
    steps_left: Option<u64>,
    checks_left: usize,
    steps: &'a mut u64,
    /// Set once any budget ran out or a search answered unknown: minimality is then not assured.
    exhausted: bool,
}

impl Trial<'_> {
    /// Whether the key is non-linearizable when only `required` must be linearized, and only
    /// operations invoked before `cut` take part. Unknown counts as no.
    fn is_invalid(&mut self, required: &[usize], cut: usize) -> bool {
        if self.checks_left == 0 || self.steps_left == Some(0) {
            self.exhausted = true;
            return false;
        }
        self.checks_left -= 1;
        let mut is_required = vec![false; self.ops.len()];
        for &op in required {
            is_required[op] = true;
        }
        let ops: Vec<SearchOp> = self
            .ops
            .iter()
            .zip(&is_required)
            .filter(|(op, &required)| op.call < cut && (required || !Input::is_read(op.input)))
            .map(|(op, &required)| SearchOp { ret: if required { op.ret } else { None }, ..*op })
            .collect();
        let limits = Limits { steps_max: self.steps_left, ..self.limits };
        let before = *self.steps;
        let outcome = search(&ops, INITIAL_STATE, &limits, self.steps);
        if let Some(left) = self.steps_left.as_mut() {
            *left = left.saturating_sub(*self.steps - before);
        }
        match outcome {
            SearchOutcome::NotLinearizable => true,
            SearchOutcome::Linearizable => false,
            SearchOutcome::Unknown(_) => {
                self.exhausted = true;
                false
            }
        }
    }
}
