//! The Wing–Gong linearizability search with Lowe's memoisation, as Porcupine's `checker.go`
//! implements it, for the operations of one key.
//!
//! Call and return events sit in a doubly linked list in history order. The search walks the list
//! from the front, tries to linearize each call it meets (lifting the call and its return out of
//! the list), and backtracks when it reaches the return of an operation it has not linearized.
//! A cache of (set of linearized operations, model state) pairs already explored keeps it from
//! repeating work (Lowe, "Testing for linearizability", 2017).
//!
//! Operations whose outcome is unknown have their return at +infinity and are optional: the search
//! succeeds as soon as every required operation is linearized. Because every required return
//! precedes every optional one in the list, reaching an optional return means exactly that.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::model::Input;

/// One operation as the search sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SearchOp {
    /// The position of the call event in the history.
    pub(crate) call: usize,
    /// The position of the return event; `None` for an optional operation (return at +infinity).
    pub(crate) ret: Option<usize>,
    pub(crate) input: Input,
}

/// Why a search stopped without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownReason {
    /// The search took `steps_max` steps on one key.
    StepsExhausted,
    /// The cache of explored states reached `cache_states_max` on one key.
    CacheFull,
    /// The check ran past its `time_limit`.
    TimeLimit,
}

/// The answer for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SearchOutcome {
    Linearizable,
    NotLinearizable,
    Unknown(UnknownReason),
}

/// The bounds of one search.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) steps_max: Option<u64>,
    pub(crate) cache_states_max: Option<usize>,
    pub(crate) deadline: Option<Instant>,
}

/// How often, in steps, the wall clock is consulted when there is a deadline. Reading the clock on
/// every step would cost more than the step.
const STEPS_PER_CLOCK_READ: u64 = 4096;

/// Marks the end of the linked list.
const NIL: usize = usize::MAX;
/// The list's head sentinel sits in slot 0.
const HEAD: usize = 0;

/// Searches for a linearization of `ops` from `initial_state`, adding the steps taken to `steps`.
pub(crate) fn search(
    ops: &[SearchOp],
    initial_state: i64,
    limits: &Limits,
    steps: &mut u64,
) -> SearchOutcome {
    let mut list = EventList::new(ops);
    let mut pruning = Pruning::new(ops);
    let mut linearized = Bitset::new(ops.len());
    let mut cache = Cache::default();
    // The calls linearized so far, innermost last, with the state before each.
    let mut calls: Vec<(usize, i64)> = Vec::new();
    let mut state = initial_state;
    let mut entry = list.next[HEAD];
    let mut steps_here: u64 = 0;
    loop {
        if list.next[HEAD] == NIL {
            return SearchOutcome::Linearizable;
        }
        steps_here += 1;
        *steps += 1;
        if limits.steps_max.is_some_and(|max| steps_here > max) {
            return SearchOutcome::Unknown(UnknownReason::StepsExhausted);
        }
        // `u64::is_multiple_of` is stable from Rust 1.87; the workspace's rust-version is 1.85.
        #[allow(clippy::manual_is_multiple_of)]
        if steps_here % STEPS_PER_CLOCK_READ == 0 {
            if let Some(deadline) = limits.deadline {
                #[allow(clippy::disallowed_methods)] // Offline tool; the deadline is opt-in.
                let now = Instant::now();
                if now >= deadline {
                    return SearchOutcome::Unknown(UnknownReason::TimeLimit);
                }
            }
        }
        let op = list.op[entry];
        if list.is_call[entry] {
            let Some(next_state) = ops[op].input.step(state) else {
                entry = list.next[entry];
                continue;
            };
            if ops[op].ret.is_none() && !pruning.is_useful(op, state, next_state, &linearized) {
                entry = list.next[entry];
                continue;
            }
            linearized.set(op);
            if cache.insert(&linearized, next_state) {
                if limits.cache_states_max.is_some_and(|max| cache.len > max) {
                    return SearchOutcome::Unknown(UnknownReason::CacheFull);
                }
                calls.push((entry, state));
                state = next_state;
                list.lift(entry);
                pruning.linearize(op);
                entry = list.next[HEAD];
            } else {
                linearized.clear(op);
                entry = list.next[entry];
            }
        } else {
            if ops[op].ret.is_none() {
                return SearchOutcome::Linearizable;
            }
            let Some((call, previous_state)) = calls.pop() else {
                return SearchOutcome::NotLinearizable;
            };
            state = previous_state;
            linearized.clear(list.op[call]);
            pruning.unlinearize(list.op[call]);
            list.unlift(call);
            entry = list.next[call];
        }
    }
}

/// Rules that stop the search from linearizing optional operations that cannot help, without
/// which a key with many `info` operations (or a shrinker trial, which makes many operations
/// optional) explores every subset of them. Each rule keeps at least one linearization whenever
/// there is one:
///
/// - An optional operation that leaves the state unchanged can be left out of any linearization.
/// - Of two optional operations with the same input, the one invoked earlier can stand in for the
///   later one wherever the later one is placed (optional operations have no return to respect),
///   so the later one is only tried once the earlier one is linearized.
/// - An optional write or cas that sets the register to a value no unlinearized operation needs
///   (as a read's result or a cas's expected value) can be left out: whatever follows it must be
///   a write, which hides it.
struct Pruning {
    /// For each operation, the local number of the value it needs the state to hold.
    needs: Vec<Option<usize>>,
    /// For each optional write or cas, the local number of the value it sets.
    sets: Vec<Option<usize>>,
    /// For each optional operation, the previous optional operation with the same input.
    twin: Vec<Option<usize>>,
    /// For each local value, how many unlinearized operations need it.
    need_count: Vec<u32>,
}

impl Pruning {
    fn new(ops: &[SearchOp]) -> Self {
        let mut values: HashMap<i64, usize> = HashMap::new();
        let mut local = |value: i64| {
            let next = values.len();
            *values.entry(value).or_insert(next)
        };
        let mut needs = Vec::with_capacity(ops.len());
        let mut sets = Vec::with_capacity(ops.len());
        for op in ops {
            let optional = op.ret.is_none();
            let (need, set) = match op.input {
                Input::Read(value) => (Some(local(value)), None),
                Input::Cas(expected, new) => (Some(local(expected)), optional.then(|| local(new))),
                Input::Write(value) => (None, optional.then(|| local(value))),
                Input::Incr(_) => (None, None),
            };
            needs.push(need);
            sets.push(set);
        }
        let mut need_count = vec![0; values.len()];
        for &value in needs.iter().flatten() {
            need_count[value] += 1;
        }
        // The search needs the twin invoked just before; operations are not sorted by call.
        let mut by_call: Vec<usize> = (0..ops.len()).filter(|&op| ops[op].ret.is_none()).collect();
        by_call.sort_unstable_by_key(|&op| ops[op].call);
        let mut last_with_input: HashMap<Input, usize> = HashMap::new();
        let mut twin = vec![None; ops.len()];
        for op in by_call {
            twin[op] = last_with_input.insert(ops[op].input, op);
        }
        Self { needs, sets, twin, need_count }
    }

    /// Whether linearizing optional operation `op`, taking `state` to `next_state`, may help.
    fn is_useful(&self, op: usize, state: i64, next_state: i64, linearized: &Bitset) -> bool {
        if state == next_state {
            return false;
        }
        if self.twin[op].is_some_and(|twin| !linearized.contains(twin)) {
            return false;
        }
        self.sets[op].is_none_or(|value| self.need_count[value] > 0)
    }

    fn linearize(&mut self, op: usize) {
        if let Some(value) = self.needs[op] {
            self.need_count[value] -= 1;
        }
    }

    fn unlinearize(&mut self, op: usize) {
        if let Some(value) = self.needs[op] {
            self.need_count[value] += 1;
        }
    }
}

/// The call and return events in a doubly linked list over arrays, so lifting and unlifting are
/// pointer swaps (Knuth's dancing links). Slot 0 is the head; the other slots are events.
struct EventList {
    next: Vec<usize>,
    prev: Vec<usize>,
    /// The operation each event belongs to.
    op: Vec<usize>,
    is_call: Vec<bool>,
    /// For a call event, the slot of its return event.
    matching: Vec<usize>,
}

impl EventList {
    fn new(ops: &[SearchOp]) -> Self {
        // Sort events by position; optional returns go after every finite event, in operation
        // order. Positions are distinct, so the order is total.
        let mut events: Vec<(usize, usize, bool)> = Vec::with_capacity(2 * ops.len());
        for (index, op) in ops.iter().enumerate() {
            events.push((op.call, index, true));
            events.push((op.ret.unwrap_or(usize::MAX), index, false));
        }
        events.sort_unstable();
        let slots = events.len() + 1;
        let mut list = EventList {
            next: vec![NIL; slots],
            prev: vec![NIL; slots],
            op: vec![usize::MAX; slots],
            is_call: vec![false; slots],
            matching: vec![NIL; slots],
        };
        let mut call_slot = vec![NIL; ops.len()];
        for (offset, &(_, index, is_call)) in events.iter().enumerate() {
            let slot = offset + 1;
            list.prev[slot] = slot - 1;
            list.next[slot - 1] = slot;
            list.op[slot] = index;
            list.is_call[slot] = is_call;
            if is_call {
                call_slot[index] = slot;
            } else {
                debug_assert_ne!(call_slot[index], NIL, "a call precedes its return");
                list.matching[call_slot[index]] = slot;
            }
        }
        list
    }

    /// Takes a call and its return out of the list.
    fn lift(&mut self, call: usize) {
        let (prev, next) = (self.prev[call], self.next[call]);
        self.next[prev] = next;
        if next != NIL {
            self.prev[next] = prev;
        }
        let ret = self.matching[call];
        let (prev, next) = (self.prev[ret], self.next[ret]);
        self.next[prev] = next;
        if next != NIL {
            self.prev[next] = prev;
        }
    }

    /// Puts back a call and its return; must undo the latest [`EventList::lift`] still in effect.
    fn unlift(&mut self, call: usize) {
        let ret = self.matching[call];
        self.next[self.prev[ret]] = ret;
        if self.next[ret] != NIL {
            self.prev[self.next[ret]] = ret;
        }
        self.next[self.prev[call]] = call;
        if self.next[call] != NIL {
            self.prev[self.next[call]] = call;
        }
    }
}

/// The set of linearized operations.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bitset {
    words: Vec<u64>,
}

impl Bitset {
    fn new(bits: usize) -> Self {
        Self { words: vec![0; bits.div_ceil(64)] }
    }

    fn set(&mut self, bit: usize) {
        self.words[bit / 64] |= 1 << (bit % 64);
    }

    fn contains(&self, bit: usize) -> bool {
        self.words[bit / 64] & (1 << (bit % 64)) != 0
    }

    fn clear(&mut self, bit: usize) {
        self.words[bit / 64] &= !(1 << (bit % 64));
    }

    fn hash_with(&self, state: i64) -> u64 {
        let mut hasher = FxHasher::default();
        for &word in &self.words {
            hasher.write_u64(word);
        }
        hasher.write_u64(state as u64);
        hasher.finish()
    }
}

/// The words of a linearized set, and the state reached with it.
type CacheEntry = (Box<[u64]>, i64);

/// The (linearized set, state) pairs already explored, bucketed by hash as Porcupine does, so a
/// lookup that hits does not allocate.
#[derive(Default)]
struct Cache {
    buckets: HashMap<u64, Vec<CacheEntry>, BuildHasherDefault<IdentityHasher>>,
    len: usize,
}

impl Cache {
    /// Adds the pair and returns whether it was new.
    fn insert(&mut self, linearized: &Bitset, state: i64) -> bool {
        let bucket = self.buckets.entry(linearized.hash_with(state)).or_default();
        if bucket.iter().any(|(words, seen)| *seen == state && **words == *linearized.words) {
            return false;
        }
        bucket.push((linearized.words.clone().into_boxed_slice(), state));
        self.len += 1;
        true
    }
}

/// The multiply-rotate hash of rustc's FxHasher: fast, and good enough for cache buckets.
#[derive(Default)]
struct FxHasher {
    hash: u64,
}

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.hash
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// The cache keys are already hashes.
#[derive(Default)]
struct IdentityHasher {
    hash: u64,
}

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.hash
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.hash = (self.hash << 8) | u64::from(byte);
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.hash = word;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNLIMITED: Limits = Limits { steps_max: None, cache_states_max: None, deadline: None };

    fn op(call: usize, ret: Option<usize>, input: Input) -> SearchOp {
        SearchOp { call, ret, input }
    }

    fn outcome(ops: &[SearchOp]) -> SearchOutcome {
        search(ops, 0, &UNLIMITED, &mut 0)
    }

    #[test]
    fn empty_history_is_linearizable() {
        // Nothing to order is trivially ordered.
        assert_eq!(outcome(&[]), SearchOutcome::Linearizable);
    }

    #[test]
    fn overlapping_write_may_take_effect_before_a_read() {
        // write(1) spans the read that sees 1, so the write is ordered first.
        let ops = [op(0, Some(3), Input::Write(1)), op(1, Some(2), Input::Read(1))];
        assert_eq!(outcome(&ops), SearchOutcome::Linearizable);
    }

    #[test]
    fn read_before_write_invocation_cannot_see_it() {
        // The read returns before the write is invoked, so it cannot see the write.
        let ops = [op(0, Some(1), Input::Read(1)), op(2, Some(3), Input::Write(1))];
        assert_eq!(outcome(&ops), SearchOutcome::NotLinearizable);
    }

    #[test]
    fn optional_write_may_be_skipped_or_placed_late() {
        // An optional write explains a later read, and is skipped when a read sees the initial state.
        let late = [op(0, None, Input::Write(1)), op(5, Some(6), Input::Read(1))];
        assert_eq!(outcome(&late), SearchOutcome::Linearizable);
        let skipped = [op(0, None, Input::Write(1)), op(5, Some(6), Input::Read(0))];
        assert_eq!(outcome(&skipped), SearchOutcome::Linearizable);
    }

    #[test]
    fn step_budget_gives_unknown() {
        // A budget of one step cannot settle a history needing several.
        let ops = [op(0, Some(3), Input::Write(1)), op(1, Some(2), Input::Read(1))];
        let limits = Limits { steps_max: Some(1), ..UNLIMITED };
        assert_eq!(search(&ops, 0, &limits, &mut 0), SearchOutcome::Unknown(UnknownReason::StepsExhausted));
    }
}
