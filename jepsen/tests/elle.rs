//! The list-append checker on hand-built histories, each showing one anomaly that must be named
//! correctly, and on generated histories that are serializable by construction and must pass.

use std::collections::{BTreeSet, HashMap};

use jepsen::elle::{
    check, cycle_dot, cycle_svg, Anomaly, CheckResult, Cycle, Dependency, EdgeKind, Expectation,
    HistoryError, MicroOp, Outcome, Transaction,
};
use proptest::prelude::*;

const X: u64 = 0;
const Y: u64 = 1;

fn append(key: u64, element: u64) -> MicroOp {
    MicroOp::Append(key, element)
}

fn read(key: u64, list: &[u64]) -> MicroOp {
    MicroOp::Read(key, Some(list.to_vec()))
}

/// A committed transaction running from `invoke` to `complete`.
fn ok(invoke: u64, complete: u64, ops: Vec<MicroOp>) -> Transaction {
    Transaction { process: invoke, invoke, complete, outcome: Outcome::Ok, ops }
}

/// A committed transaction concurrent with every other one built this way, so real time orders
/// nothing.
fn concurrent(ops: Vec<MicroOp>) -> Transaction {
    ok(0, 1_000, ops)
}

fn with_outcome(mut transaction: Transaction, outcome: Outcome) -> Transaction {
    transaction.outcome = outcome;
    transaction
}

fn checked(history: &[Transaction]) -> CheckResult {
    check(history).expect("the history is well formed")
}

fn names(result: &CheckResult) -> BTreeSet<&'static str> {
    result.anomaly_names()
}

/// The only cycle reported.
fn the_cycle(result: &CheckResult) -> &Cycle {
    let cycles: Vec<&Cycle> = result
        .anomalies
        .iter()
        .filter_map(|anomaly| match anomaly {
            Anomaly::Cycle(cycle) => Some(cycle),
            _ => None,
        })
        .collect();
    assert_eq!(cycles.len(), 1, "expected one cycle in {result:#?}");
    cycles[0]
}

fn kinds(cycle: &Cycle) -> Vec<EdgeKind> {
    cycle.steps.iter().map(|step| step.dependency.kind()).collect()
}

fn transactions(cycle: &Cycle) -> BTreeSet<usize> {
    cycle.transactions().into_iter().collect()
}

#[test]
fn g0_write_cycle() {
    // T0 appended before T1 on x, after it on y.
    let history = [
        concurrent(vec![append(X, 1), append(Y, 2)]),
        concurrent(vec![append(X, 2), append(Y, 1)]),
        concurrent(vec![read(X, &[1, 2]), read(Y, &[1, 2])]),
    ];
    let result = checked(&history);
    assert_eq!(names(&result), BTreeSet::from(["G0"]));
    assert!(!result.valid && !result.serializable);
    let cycle = the_cycle(&result);
    assert_eq!(transactions(cycle), BTreeSet::from([0, 1]));
    assert_eq!(kinds(cycle), vec![EdgeKind::WriteWrite; 2]);
    assert_eq!(cycle.steps[0].explanation, "T0 < T1 because T1 appended 2 after T0 appended 1 to key 0");
    assert_eq!(cycle.steps[1].explanation, "T1 < T0 because T0 appended 2 after T1 appended 1 to key 1");
}

#[test]
fn g1a_aborted_read() {
    let history =
        [with_outcome(concurrent(vec![append(X, 1)]), Outcome::Fail), concurrent(vec![read(X, &[1])])];
    let result = checked(&history);
    assert_eq!(names(&result), BTreeSet::from(["G1a"]));
    assert_eq!(result.anomalies, vec![Anomaly::G1a { reader: 1, writer: 0, key: X, element: 1 }]);
}

#[test]
fn g1b_intermediate_read() {
    // T1 saw T0's first append but not its second: a state T0 never committed.
    let history = [
        concurrent(vec![append(X, 1), append(X, 2)]),
        concurrent(vec![read(X, &[1])]),
        concurrent(vec![read(X, &[1, 2])]),
    ];
    let result = checked(&history);
    assert!(names(&result).contains("G1b"), "{result:#?}");
    let g1b: Vec<&Anomaly> = result.anomalies_named("G1b").collect();
    assert_eq!(g1b, vec![&Anomaly::G1b { reader: 1, writer: 0, key: X, element: 1, final_element: 2 }]);
}

#[test]
fn a_transaction_may_read_its_own_intermediate_state() {
    let history = [
        concurrent(vec![append(X, 1), read(X, &[1]), append(X, 2), read(X, &[1, 2])]),
        concurrent(vec![read(X, &[1, 2])]),
    ];
    assert!(checked(&history).valid);
}

#[test]
fn g1c_circular_information_flow() {
    // Each transaction saw the other's write.
    let history =
        [concurrent(vec![append(X, 1), read(Y, &[1])]), concurrent(vec![append(Y, 1), read(X, &[1])])];
    let result = checked(&history);
    assert_eq!(names(&result), BTreeSet::from(["G1c"]));
    let cycle = the_cycle(&result);
    assert_eq!(kinds(cycle), vec![EdgeKind::WriteRead; 2]);
    assert_eq!(cycle.steps[0].explanation, "T0 < T1 because T1 observed T0's append of 1 to key 0");
}

#[test]
fn g_single_read_skew() {
    // T1 missed T0's append to x but saw its append to y.
    let history = [
        concurrent(vec![append(X, 1), append(Y, 1)]),
        concurrent(vec![read(X, &[]), read(Y, &[1])]),
        concurrent(vec![read(X, &[1])]),
    ];
    let result = checked(&history);
    assert_eq!(names(&result), BTreeSet::from(["G-single"]));
    let cycle = the_cycle(&result);
    assert_eq!(transactions(cycle), BTreeSet::from([0, 1]));
    assert_eq!(kinds(cycle), vec![EdgeKind::WriteRead, EdgeKind::ReadWrite]);
    assert_eq!(
        cycle.steps[1].explanation,
        "T1 < T0 because T1 did not observe T0's append of 1 to key 0 (it read the empty list)"
    );
}

#[test]
fn g_single_lost_update() {
    // Both read x empty and appended; the later append should have seen the earlier one.
    let history = [
        concurrent(vec![read(X, &[]), append(X, 1)]),
        concurrent(vec![read(X, &[]), append(X, 2)]),
        concurrent(vec![read(X, &[1, 2])]),
    ];
    let result = checked(&history);
    assert_eq!(names(&result), BTreeSet::from(["G-single"]));
    let cycle = the_cycle(&result);
    let mut found = kinds(cycle);
    found.sort();
    assert_eq!(found, vec![EdgeKind::WriteWrite, EdgeKind::ReadWrite]);
}

#[test]
fn g2_write_skew() {
    // Each read the key the other appended to, and missed the other's append.
    let history = [
        concurrent(vec![read(X, &[]), append(Y, 1)]),
        concurrent(vec![read(Y, &[]), append(X, 1)]),
        ok(2_000, 2_010, vec![read(X, &[1]), read(Y, &[1])]),
    ];
    let result = checked(&history);
    assert_eq!(names(&result), BTreeSet::from(["G2"]));
    assert!(!result.serializable);
    let cycle = the_cycle(&result);
    assert_eq!(transactions(cycle), BTreeSet::from([0, 1]));
    assert_eq!(kinds(cycle), vec![EdgeKind::ReadWrite; 2]);
}

#[test]
fn stale_read_is_g_single_realtime() {
    // T0's append completed before T1 was invoked, yet T1 does not see it.
    let history =
        [ok(0, 10, vec![append(X, 1)]), ok(20, 30, vec![read(X, &[])]), ok(40, 50, vec![read(X, &[1])])];
    let result = checked(&history);
    assert_eq!(names(&result), BTreeSet::from(["G-single-realtime"]));
    assert!(!result.valid);
    assert!(result.serializable, "only strict serializability is violated");
    let cycle = the_cycle(&result);
    assert_eq!(kinds(cycle), vec![EdgeKind::Realtime, EdgeKind::ReadWrite]);
    assert_eq!(cycle.steps[0].dependency, Dependency::Realtime { completed: 10, invoked: 20 });
    assert_eq!(cycle.steps[0].explanation, "T0 < T1 because T0 completed at 10, before T1 was invoked at 20");
}

#[test]
fn stale_read_through_a_chain_of_real_time() {
    // The append and the stale read are linked only through T1, T2 and T3 in real time: the
    // frontier construction must keep them connected.
    let history = [
        ok(0, 10, vec![append(X, 1)]),
        ok(5, 20, vec![append(Y, 1)]),
        ok(15, 30, vec![append(Y, 2)]),
        ok(25, 40, vec![append(Y, 3)]),
        ok(50, 60, vec![read(X, &[])]),
        ok(70, 80, vec![read(X, &[1]), read(Y, &[1, 2, 3])]),
    ];
    let result = checked(&history);
    assert_eq!(names(&result), BTreeSet::from(["G-single-realtime"]));
}

#[test]
fn concurrent_read_may_miss_an_append() {
    // The same shape as the stale read, but the read began before the append completed.
    let history =
        [ok(0, 30, vec![append(X, 1)]), ok(20, 40, vec![read(X, &[])]), ok(50, 60, vec![read(X, &[1])])];
    let result = checked(&history);
    assert!(result.valid, "{result:#?}");
    // Nor does a completion at the very moment of an invocation order them.
    let history =
        [ok(0, 20, vec![append(X, 1)]), ok(20, 40, vec![read(X, &[])]), ok(50, 60, vec![read(X, &[1])])];
    assert!(checked(&history).valid);
}

#[test]
fn incompatible_order() {
    let history = [
        concurrent(vec![append(X, 1)]),
        concurrent(vec![append(X, 2)]),
        concurrent(vec![read(X, &[1, 2])]),
        concurrent(vec![read(X, &[2])]),
    ];
    let result = checked(&history);
    let incompatible: Vec<&Anomaly> = result.anomalies_named("IncompatibleOrder").collect();
    assert_eq!(incompatible.len(), 1, "{result:#?}");
    let Anomaly::IncompatibleOrder { key, read, longest } = incompatible[0] else {
        unreachable!("named IncompatibleOrder");
    };
    assert_eq!((*key, read.transaction, &read.value[..]), (X, 3, &[2][..]));
    assert_eq!((longest.transaction, &longest.value[..]), (2, &[1, 2][..]));
}

#[test]
fn garbage_read() {
    let history = [concurrent(vec![append(X, 1)]), concurrent(vec![read(X, &[1, 9])])];
    let result = checked(&history);
    assert_eq!(names(&result), BTreeSet::from(["GarbageRead"]));
    assert_eq!(result.anomalies, vec![Anomaly::GarbageRead { transaction: 1, key: X, element: 9 }]);
}

#[test]
fn duplicate_elements() {
    let history = [concurrent(vec![append(X, 1)]), concurrent(vec![read(X, &[1, 1])])];
    let result = checked(&history);
    assert!(names(&result).contains("DuplicateElements"), "{result:#?}");
}

#[test]
fn internal_inconsistency() {
    // The transaction's own append is missing from its read.
    let history = [concurrent(vec![append(X, 1), read(X, &[])])];
    let result = checked(&history);
    assert_eq!(
        result.anomalies,
        vec![Anomaly::Internal {
            transaction: 0,
            key: X,
            expected: Expectation::EndsWith(vec![1]),
            read: vec![]
        }]
    );
    // A second read must be the first plus the transaction's appends since.
    let history = [concurrent(vec![read(X, &[]), append(X, 1), read(X, &[1, 1])])];
    assert!(names(&checked(&history)).contains("Internal"));
}

#[test]
fn info_transactions_may_or_may_not_have_happened() {
    // An unknown append that was seen, one that was not, and an unknown read whose result was
    // recorded anyway: none of them is evidence of anything.
    let history = [
        with_outcome(concurrent(vec![append(X, 1)]), Outcome::Info),
        with_outcome(concurrent(vec![append(X, 2)]), Outcome::Info),
        with_outcome(concurrent(vec![read(X, &[77])]), Outcome::Info),
        ok(2_000, 2_010, vec![read(X, &[1])]),
    ];
    let result = checked(&history);
    assert!(result.valid, "{result:#?}");
}

#[test]
fn concurrent_but_serializable() {
    // Serial order T1, T0, T2, T3, although T0 was invoked first.
    let history = [
        ok(0, 100, vec![read(Y, &[1]), append(X, 2)]),
        ok(10, 50, vec![append(Y, 1), append(X, 1)]),
        ok(20, 90, vec![read(X, &[1, 2]), append(Y, 2)]),
        ok(200, 210, vec![read(X, &[1, 2]), read(Y, &[1, 2])]),
    ];
    let result = checked(&history);
    assert!(result.valid, "{result:#?}");
    assert!(result.edge_count > 0);
}

#[test]
fn malformed_histories_are_errors() {
    let history = [concurrent(vec![append(X, 1)]), concurrent(vec![append(X, 1)])];
    assert_eq!(
        check(&history),
        Err(HistoryError::DuplicateAppend { key: X, element: 1, first: 0, second: 1 })
    );
    let history = [ok(10, 5, vec![append(X, 1)])];
    assert!(matches!(check(&history), Err(HistoryError::CompletesBeforeInvoke { transaction: 0, .. })));
}

#[test]
fn a_cycle_renders_as_dot_and_svg() {
    let history = [
        concurrent(vec![read(X, &[]), append(Y, 1)]),
        concurrent(vec![read(Y, &[]), append(X, 1)]),
        concurrent(vec![read(X, &[1]), read(Y, &[1])]),
    ];
    let result = checked(&history);
    let cycle = the_cycle(&result);
    let dot = cycle_dot(cycle);
    assert!(dot.contains("T0 -> T1 [label=\"rw key 0: missed 1\""), "{dot}");
    let svg = cycle_svg(cycle);
    let document = roxmltree::Document::parse(&svg).expect("the SVG is well-formed XML");
    let texts: Vec<&str> = document.descendants().filter_map(|node| node.text()).collect();
    assert!(texts.contains(&"G2") && texts.contains(&"T0") && texts.contains(&"T1"), "{texts:?}");
    assert!(texts.iter().any(|text| text.starts_with("T1 < T0 because T1 did not observe")), "{texts:?}");
}

/// How a generated transaction ends.
#[derive(Debug, Clone, Copy)]
enum Fate {
    Ok,
    /// Applied, but the client never heard back.
    InfoApplied,
    /// Never applied, and the client never heard back.
    InfoLost,
    Fail,
}

/// A transaction to run: `(is_append, key)` steps, its fate, and how far its invocation and
/// completion lie before and after the moment it takes effect.
type Plan = (Vec<(bool, u64)>, Fate, u64, u64);

/// Runs the plans one at a time against an in-memory store, the `i`th taking effect at time
/// `100 * (i + 1)`, within its interval. The history is strictly serializable by construction.
fn run_serially(plans: &[Plan]) -> Vec<Transaction> {
    let mut store: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut next_element: HashMap<u64, u64> = HashMap::new();
    let mut history = Vec::with_capacity(plans.len());
    for (index, (steps, fate, before, after)) in plans.iter().enumerate() {
        // The keys this transaction touched, as it sees them.
        let mut view: HashMap<u64, Vec<u64>> = HashMap::new();
        let mut ops = Vec::with_capacity(steps.len());
        for &(is_append, key) in steps {
            let list = view.entry(key).or_insert_with(|| store.get(&key).cloned().unwrap_or_default());
            if is_append {
                let element = next_element.entry(key).or_default();
                *element += 1;
                list.push(*element);
                ops.push(MicroOp::Append(key, *element));
            } else {
                let known = matches!(fate, Fate::Ok);
                ops.push(MicroOp::Read(key, known.then(|| list.clone())));
            }
        }
        if matches!(fate, Fate::Ok | Fate::InfoApplied) {
            store.extend(view);
        }
        let at = 100 * (index as u64 + 1);
        history.push(Transaction {
            process: index as u64 % 5,
            invoke: at.saturating_sub(*before),
            complete: at + after,
            outcome: match fate {
                Fate::Ok => Outcome::Ok,
                Fate::InfoApplied | Fate::InfoLost => Outcome::Info,
                Fate::Fail => Outcome::Fail,
            },
            ops,
        });
    }
    history
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![6 => Just(Fate::Ok), 1 => Just(Fate::InfoApplied), 1 => Just(Fate::InfoLost), 1 => Just(Fate::Fail)]
}

/// Plans over `keys` keys, with invocations and completions up to `spread` from the moment each
/// takes effect.
fn plans(keys: u64, spread: u64) -> impl Strategy<Value = Vec<Plan>> {
    let step = (any::<bool>(), 0..keys);
    let plan = (prop::collection::vec(step, 1..6), fate(), 0..=spread, 0..=spread);
    prop::collection::vec(plan, 1..40)
}

proptest! {
    #[test]
    fn serial_executions_are_valid(plans in plans(4, 40), reversed in any::<bool>()) {
        // Non-overlapping intervals; the order of the history does not matter.
        let mut history = run_serially(&plans);
        if reversed {
            history.reverse();
        }
        let result = checked(&history);
        prop_assert!(result.valid, "{:#?}", result.anomalies);
    }

    #[test]
    fn overlapping_executions_in_effect_order_are_valid(plans in plans(3, 350)) {
        // Intervals overlap, but each contains the moment it took effect, so the real-time
        // order agrees with the serial one.
        let history = run_serially(&plans);
        let result = checked(&history);
        prop_assert!(result.valid, "{:#?}", result.anomalies);
    }
}

/// A 64-bit xorshift generator, so the large history needs no strategy.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// `count` plans over a rotating window of eight keys, with about ten transactions in flight.
fn large_plans(count: usize, seed: u64) -> Vec<Plan> {
    let mut state = seed;
    (0..count)
        .map(|index| {
            let steps = (0..1 + xorshift(&mut state) % 5)
                .map(|_| {
                    (xorshift(&mut state).is_multiple_of(2), index as u64 / 20 + xorshift(&mut state) % 8)
                })
                .collect();
            let fate = match xorshift(&mut state) % 20 {
                0 => Fate::InfoApplied,
                1 => Fate::InfoLost,
                2 => Fate::Fail,
                _ => Fate::Ok,
            };
            (steps, fate, xorshift(&mut state) % 500, xorshift(&mut state) % 500)
        })
        .collect()
}

#[test]
#[ignore = "a timing run: cargo test --release -p jepsen --test elle -- --ignored --nocapture"]
fn timing_of_100k_transactions() {
    let mut history = run_serially(&large_plans(100_000, 0x9e37_79b9_7f4a_7c15));
    let timed = |label: &str, history: &[Transaction]| {
        #[allow(clippy::disallowed_methods)] // Timing is this test's output, not its verdict.
        let started = std::time::Instant::now();
        let result = checked(history);
        let elapsed = started.elapsed();
        println!(
            "{label}: {} transactions, {} edges, {} anomalies ({:?}) in {elapsed:?}",
            result.transaction_count,
            result.edge_count,
            result.anomalies.len(),
            result.anomaly_names(),
        );
        result
    };
    assert!(timed("valid", &history).valid);
    // Make one read in a hundred stale by its last element.
    let mut state = 7;
    for transaction in &mut history {
        for op in &mut transaction.ops {
            if let MicroOp::Read(_, Some(list)) = op {
                if xorshift(&mut state).is_multiple_of(100) {
                    list.pop();
                }
            }
        }
    }
    assert!(!timed("with stale reads", &history).valid);
    // Every read stale: most transactions end up in one strongly connected component.
    for transaction in &mut history {
        for op in &mut transaction.ops {
            if let MicroOp::Read(_, Some(list)) = op {
                list.pop();
            }
        }
    }
    assert!(!timed("with every read stale", &history).valid);

    // One strongly connected component of every transaction: each misses its predecessor's
    // append, although it began after that completed.
    let count = 100_000;
    let mut chain: Vec<Transaction> = (0..count)
        .map(|i| {
            let mut ops = vec![append(i, 1)];
            if i > 0 {
                ops.push(read(i - 1, &[]));
            }
            ok(10 * i, 10 * i + 5, ops)
        })
        .collect();
    chain.push(ok(10 * count, 10 * count + 5, (0..count).map(|key| read(key, &[1])).collect()));
    let result = timed("one large component", &chain);
    assert_eq!(result.anomaly_names(), BTreeSet::from(["G-single-realtime"]));
}
