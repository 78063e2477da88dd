//! Hand-built histories with a known answer: each anomaly must be rejected with the operations
//! that show it, and each legal interleaving accepted.

mod common;

use common::{violation_invokes, History};
use jepsen::{check, Budget, HistoryError, ModelKind, UnknownReason, Verdict};
use serde_json::{json, Value};

use ModelKind::{Counter, Register};

#[test]
fn sequential_writes_and_reads_are_valid() {
    // The plain case: each read sees the latest completed write, starting from absent.
    let mut h = History::new();
    h.saw(0, "x", Value::Null).wrote(0, "x", json!(1)).saw(1, "x", json!(1)).wrote(1, "x", json!(2)).saw(
        0,
        "x",
        json!(2),
    );
    assert_eq!(h.check(Register).verdict, Verdict::Valid);
}

#[test]
fn stale_read_is_invalid() {
    // Write 1, then write 2, then a read that still sees 1: all three operations are needed.
    let mut h = History::new();
    h.wrote(0, "x", json!(1)).wrote(0, "x", json!(2)).saw(1, "x", json!(1));
    let result = h.check(Register);
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(violation_invokes(&result), vec![0, 2, 4]);
    assert!(result.violation.as_ref().is_some_and(|v| v.minimal));
}

#[test]
fn lost_write_is_invalid() {
    // A completed write followed by a read of absent: the write was lost.
    let mut h = History::new();
    h.wrote(0, "x", json!(1)).saw(1, "x", Value::Null);
    let result = h.check(Register);
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(violation_invokes(&result), vec![0, 2]);
}

#[test]
fn read_of_a_value_never_written_is_invalid_on_its_own() {
    // Nobody wrote 7, so the read alone is the evidence; the write of 1 is not needed.
    let mut h = History::new();
    h.wrote(0, "x", json!(1)).saw(1, "x", json!(7));
    let result = h.check(Register);
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(violation_invokes(&result), vec![2]);
}

#[test]
fn cas_from_the_wrong_value_is_invalid() {
    // The register holds 1, yet a cas expecting 2 claims success.
    let mut h = History::new();
    h.wrote(0, "x", json!(1)).cas(1, "x", json!(2), json!(3)).ok(1);
    let result = h.check(Register);
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(violation_invokes(&result), vec![2]);
}

#[test]
fn cas_from_the_right_value_and_failed_cas_are_valid() {
    // A successful cas changes the value; a cas recorded as fail did not happen.
    let mut h = History::new();
    h.wrote(0, "x", json!(1))
        .cas(1, "x", json!(1), json!(3))
        .ok(1)
        .cas(0, "x", json!(9), json!(4))
        .fail(0)
        .saw(1, "x", json!(3))
        .cas(1, "x", Value::Null, json!(5))
        .fail(1);
    assert_eq!(h.check(Register).verdict, Verdict::Valid);
}

#[test]
fn cas_from_absent_works_on_a_fresh_key() {
    // A cas expecting null succeeds on a key never written.
    let mut h = History::new();
    h.cas(0, "x", Value::Null, json!(1)).ok(0).saw(0, "x", json!(1));
    assert_eq!(h.check(Register).verdict, Verdict::Valid);
}

#[test]
fn write_seen_then_gone_is_invalid() {
    // A read sees 1 and a later read sees absent; nothing can delete the value.
    let mut h = History::new();
    h.wrote(0, "x", json!(1)).saw(1, "x", json!(1)).saw(2, "x", Value::Null);
    let result = h.check(Register);
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(violation_invokes(&result), vec![2, 4]);
}

#[test]
fn info_write_seen_by_a_later_read_is_valid() {
    // The write's outcome is unknown, and a later read shows it happened.
    let mut h = History::new();
    h.write(0, "x", json!(1)).info(0).saw(1, "x", json!(1));
    assert_eq!(h.check(Register).verdict, Verdict::Valid);
}

#[test]
fn info_write_may_take_effect_after_its_info() {
    // An info write may land late: absent, then 1, both after the info, is fine.
    let mut h = History::new();
    h.write(0, "x", json!(1)).info(0).saw(1, "x", Value::Null).saw(1, "x", json!(1));
    assert_eq!(h.check(Register).verdict, Verdict::Valid);
}

#[test]
fn info_write_may_never_happen() {
    // Reads of absent after an info write are fine: the write may not have happened.
    let mut h = History::new();
    h.write(0, "x", json!(1)).info(0).saw(1, "x", Value::Null);
    assert_eq!(h.check(Register).verdict, Verdict::Valid);
}

#[test]
fn info_write_cannot_explain_a_read_before_its_invocation() {
    // The read of 1 returns before the info write of 1 is invoked, so it cannot be explained.
    let mut h = History::new();
    h.saw(1, "x", json!(1)).write(0, "x", json!(1)).info(0);
    let result = h.check(Register);
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(violation_invokes(&result), vec![0]);
}

#[test]
fn info_write_cannot_explain_a_value_going_back() {
    // 1 is seen, then 2, then 1 again; an info write of 2 cannot bring 1 back.
    let mut h = History::new();
    h.wrote(0, "x", json!(1)).write(2, "x", json!(2)).info(2).saw(1, "x", json!(2)).saw(1, "x", json!(1));
    assert_eq!(h.check(Register).verdict, Verdict::Invalid);
}

#[test]
fn invocation_without_completion_is_treated_like_info() {
    // A write still pending when the history ends may have happened.
    let mut h = History::new();
    h.write(0, "x", json!(1)).saw(1, "x", json!(1)).saw(1, "x", json!(1));
    assert_eq!(h.check(Register).verdict, Verdict::Valid);
}

#[test]
fn failed_write_cannot_explain_a_read() {
    // A write recorded as fail certainly did not happen.
    let mut h = History::new();
    h.write(0, "x", json!(1)).fail(0).saw(1, "x", json!(1));
    assert_eq!(h.check(Register).verdict, Verdict::Invalid);
}

#[test]
fn overlapping_write_is_valid_only_because_it_overlaps() {
    // A read concurrent with a write may see it; the same read finishing before the write starts
    // may not.
    let mut concurrent = History::new();
    concurrent.write(0, "x", json!(1)).read(1, "x").ok_with(1, json!(1)).ok(0);
    assert_eq!(concurrent.check(Register).verdict, Verdict::Valid);

    let mut sequential = History::new();
    sequential.saw(1, "x", json!(1)).wrote(0, "x", json!(1));
    assert_eq!(sequential.check(Register).verdict, Verdict::Invalid);
}

#[test]
fn concurrent_writes_may_be_ordered_either_way_but_not_both() {
    // Two concurrent writes; later reads seeing 2 then 1 need write 1 to be ordered last, which
    // is allowed while write 1 is still running and not once it has returned.
    let mut late = History::new();
    late.write(0, "x", json!(1))
        .write(1, "x", json!(2))
        .ok(1)
        .saw(2, "x", json!(2))
        .read(2, "x")
        .ok(0)
        .ok_with(2, json!(1));
    assert_eq!(late.check(Register).verdict, Verdict::Valid);

    let mut done = History::new();
    done.write(0, "x", json!(1)).write(1, "x", json!(2)).ok(1).ok(0).saw(2, "x", json!(2)).saw(
        2,
        "x",
        json!(1),
    );
    assert_eq!(done.check(Register).verdict, Verdict::Invalid);
}

#[test]
fn string_and_object_values_compare_as_json() {
    // Values need not be integers: strings and objects are compared by JSON equality.
    let mut h = History::new();
    h.wrote(0, "x", json!("a")).saw(1, "x", json!("a")).wrote(0, "y", json!({"n": 1, "s": "t"})).saw(
        1,
        "y",
        json!({"s": "t", "n": 1}),
    );
    assert_eq!(h.check(Register).verdict, Verdict::Valid);
    h.saw(1, "x", json!("b"));
    assert_eq!(h.check(Register).verdict, Verdict::Invalid);
}

#[test]
fn keys_are_checked_independently_and_the_bad_key_is_named() {
    // A value written to one key and read from another is a violation on the reading key only.
    let mut h = History::new();
    h.wrote(0, "a", json!(1)).saw(1, "a", json!(1)).wrote(0, "b", json!(2)).saw(1, "c", json!(2));
    let result = h.check(Register);
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(result.key_count, 3);
    assert_eq!(result.invalid_keys, vec![Some("c".to_owned())]);
    assert_eq!(result.violation.as_ref().and_then(|v| v.key.as_deref()), Some("c"));
}

#[test]
fn shrinking_keeps_only_the_operations_that_matter() {
    // A long valid prefix, then a stale read. Three operations from the tail suffice: the new write,
    // the stale read, and either the write of 49 or the earlier read of 49 (49 cannot be seen on
    // both sides of the write of 100). None of the first 96 operations is needed.
    let mut h = History::new();
    for value in 0..50 {
        h.wrote(value % 3, "x", json!(value)).saw(3, "x", json!(value));
    }
    let last_write = h.ops.len() as u64;
    h.wrote(0, "x", json!(100)).saw(1, "x", json!(49));
    let result = h.check(Register);
    assert_eq!(result.verdict, Verdict::Invalid);
    let violation = result.violation.as_ref().expect("invalid");
    assert!(violation.minimal);
    assert_eq!(violation.key_operation_count, 102);
    let invokes = violation_invokes(&result);
    assert_eq!(invokes.len(), 3, "{invokes:?}");
    assert!(invokes[0] == last_write - 4 || invokes[0] == last_write - 2, "{invokes:?}");
    assert_eq!(invokes[1..], [last_write, last_write + 2]);
}

#[test]
fn counter_with_info_incr_allows_either_outcome() {
    // incr 1 ok and incr 2 info: the count may be 1 or 3, never 2 or 4.
    for (seen, verdict) in
        [(1, Verdict::Valid), (3, Verdict::Valid), (2, Verdict::Invalid), (4, Verdict::Invalid)]
    {
        let mut h = History::new();
        h.incr(0, "c", 1).ok(0).incr(1, "c", 2).info(1).saw(2, "c", json!(seen));
        assert_eq!(h.check(Counter).verdict, verdict, "read of {seen}");
    }
}

#[test]
fn counter_reads_must_not_go_backwards() {
    // With positive increments, a read of 3 followed by a read of 1 is impossible, whatever the
    // increments did: the two reads alone are the evidence.
    let mut h = History::new();
    h.incr(0, "c", 1).ok(0).incr(1, "c", 2).info(1).saw(2, "c", json!(3)).saw(2, "c", json!(1));
    let result = h.check(Counter);
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(violation_invokes(&result), vec![4, 6]);
}

#[test]
fn counter_read_of_null_is_zero_and_concurrent_incr_may_be_seen() {
    // An unset counter reads as null; a read overlapping an incr may see it or not.
    let mut h = History::new();
    h.saw(0, "c", Value::Null)
        .incr(1, "c", 5)
        .read(0, "c")
        .ok_with(0, json!(5))
        .read(2, "c")
        .ok(1)
        .ok_with(2, json!(5));
    assert_eq!(h.check(Counter).verdict, Verdict::Valid);
}

#[test]
fn exhausted_budget_answers_unknown_not_valid() {
    // With one search step per key, the checker must say it does not know.
    let mut h = History::new();
    h.wrote(0, "x", json!(1)).saw(1, "x", json!(1));
    let budget = Budget { steps_max: Some(1), ..Budget::default() };
    let result = check(&h.ops, Register, &budget).expect("well formed");
    assert_eq!(result.verdict, Verdict::Unknown);
    assert_eq!(result.unknown_keys.len(), 1);
    assert_eq!(result.unknown_keys[0].reason, UnknownReason::StepsExhausted);
}

#[test]
fn tiny_cache_answers_unknown() {
    // The cache bound is enforced as well as the step bound.
    let mut h = History::new();
    h.wrote(0, "x", json!(1)).saw(1, "x", json!(1)).wrote(0, "x", json!(2));
    let budget = Budget { cache_states_max: Some(1), ..Budget::default() };
    let result = check(&h.ops, Register, &budget).expect("well formed");
    assert_eq!(result.verdict, Verdict::Unknown);
    assert_eq!(result.unknown_keys[0].reason, UnknownReason::CacheFull);
}

#[test]
fn invalid_beats_unknown() {
    // One key out of budget does not hide another key's violation.
    let mut h = History::new();
    h.wrote(0, "a", json!(1)).saw(1, "a", json!(1)).saw(1, "a", json!(1));
    h.saw(1, "b", json!(9));
    let budget = Budget { steps_max: Some(2), ..Budget::default() };
    let result = check(&h.ops, Register, &budget).expect("well formed");
    assert_eq!(result.verdict, Verdict::Invalid);
    assert_eq!(result.unknown_keys.len(), 1);
}

#[test]
fn operations_foreign_to_the_model_are_input_errors() {
    // An incr in a register history, and a write in a counter history, are rejected up front.
    let mut h = History::new();
    h.wrote(0, "x", json!(1)).incr(0, "x", 1).ok(0);
    let error = check(&h.ops, Register, &Budget::default()).expect_err("no incr on a register");
    assert!(matches!(error, HistoryError::UnsupportedFunction { position: 2, .. }), "{error}");
    let error = check(&h.ops, Counter, &Budget::default()).expect_err("no write on a counter");
    assert_eq!(error.position(), 0);
}

#[test]
fn result_serializes_for_reports() {
    // The structured result round-trips through JSON, so a report can be drawn from a file.
    let mut h = History::new();
    h.wrote(0, "x", json!(1)).saw(1, "x", json!(2));
    let result = h.check(Register);
    let text = serde_json::to_string(&result).expect("serializable");
    let back: jepsen::CheckResult = serde_json::from_str(&text).expect("deserializable");
    assert_eq!(back, result);
    assert!(text.contains("\"verdict\":\"invalid\""), "{text}");
}

#[test]
fn evidence_is_collected_for_several_invalid_keys_up_to_the_budget() {
    // Three keys each read a value never written. With room for two violations, the first two
    // keys get evidence and the third is only named; every key has its own verdict and steps.
    let mut h = History::new();
    h.saw(0, "a", json!(1)).saw(0, "b", json!(2)).saw(0, "c", json!(3)).saw(0, "d", Value::Null);
    let budget = Budget { violations_max: 2, ..Budget::default() };
    let result = check(&h.ops, Register, &budget).expect("well formed");
    assert_eq!(result.invalid_keys.len(), 3);
    let keys: Vec<Option<&str>> = result.violations().map(|v| v.key.as_deref()).collect();
    assert_eq!(keys, vec![Some("a"), Some("b")]);
    let verdicts: Vec<(Option<&str>, Verdict)> =
        result.keys.iter().map(|key| (key.key.as_deref(), key.verdict)).collect();
    assert_eq!(
        verdicts,
        vec![
            (Some("a"), Verdict::Invalid),
            (Some("b"), Verdict::Invalid),
            (Some("c"), Verdict::Invalid),
            (Some("d"), Verdict::Valid)
        ]
    );
    assert!(result.keys.iter().all(|key| key.operation_count == 1 && key.steps > 0));
    assert_eq!(result.keys.iter().map(|key| key.steps).sum::<u64>(), result.steps);
}
