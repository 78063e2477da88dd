//! Generates random histories that are linearizable by construction, for tests and benchmarks.
//!
//! A simulated set of processes runs operations against the model. Each operation takes effect
//! atomically at a random instant between its invocation and its completion, so the history it
//! records always has a linearization: the order of those instants. Some operations end `fail`
//! (and never take effect), some `info` (and take effect before the `info`, later, or never), and
//! the history stops with a few operations still pending. As in Jepsen, a process that records
//! `info` is retired and its slot continues under a new process number.
//!
//! Generation is deterministic in the seed; the generator has its own small PRNG so the library
//! needs no `rand` dependency.

use serde_json::{json, Value};

use crate::history::{Op, OpFunction, OpType};
use crate::model::ModelKind;

/// The shape of a generated history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorConfig {
    /// The model the operations are for.
    pub model: ModelKind,
    /// How many processes run at once.
    pub processes: u64,
    /// How many keys, named `k0`, `k1`, ...
    pub keys: u64,
    /// How many operations to invoke.
    pub operations: usize,
    /// Per mille of operations that end `fail`.
    pub fail_per_mille: u32,
    /// Per mille of operations that end `info`.
    pub info_per_mille: u32,
    /// The PRNG seed.
    pub seed: u64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            model: ModelKind::Register,
            processes: 5,
            keys: 1,
            operations: 100,
            fail_per_mille: 50,
            info_per_mille: 20,
            seed: 0,
        }
    }
}

/// Generates a linearizable history; see the module documentation.
///
/// # Panics
///
/// When `processes` or `keys` is 0, which leaves nothing to generate with.
pub fn generate_history(config: &GeneratorConfig) -> Vec<Op> {
    assert!(config.processes > 0 && config.keys > 0, "a history needs processes and keys");
    Simulation::new(config).run()
}

/// An operation in flight.
#[derive(Debug, Clone)]
struct Pending {
    f: OpFunction,
    key: u64,
    /// The argument: the written value, `[expected, new]`, or the delta.
    value: Value,
    /// The result once applied: the value read, or whether a cas found its expected value.
    result: Option<Applied>,
}

#[derive(Debug, Clone)]
enum Applied {
    Read(Value),
    Done,
    CasMismatch,
}

#[derive(Debug)]
struct Slot {
    process: u64,
    pending: Option<Pending>,
}

struct Simulation<'a> {
    config: &'a GeneratorConfig,
    rng: SplitMix64,
    slots: Vec<Slot>,
    /// The model: the register value (`null` when absent) or the count of each key.
    state: Vec<Value>,
    /// Operations that ended `info` before taking effect and may still take effect.
    ghosts: Vec<Pending>,
    /// The next value a write or cas will store; values are unique so reads identify writes.
    next_value: i64,
    invoked: usize,
    time: u64,
    history: Vec<Op>,
}

impl<'a> Simulation<'a> {
    fn new(config: &'a GeneratorConfig) -> Self {
        let initial = match config.model {
            ModelKind::Register => Value::Null,
            ModelKind::Counter => json!(0),
        };
        Self {
            config,
            rng: SplitMix64(config.seed),
            slots: (0..config.processes).map(|process| Slot { process, pending: None }).collect(),
            state: vec![initial; usize::try_from(config.keys).expect("key count fits in memory")],
            ghosts: Vec::new(),
            next_value: 1,
            invoked: 0,
            time: 0,
            history: Vec::with_capacity(config.operations * 2),
        }
    }

    fn run(mut self) -> Vec<Op> {
        // After the last invocation, a few more steps complete some operations and leave others
        // pending, as a run cut off by its deadline would.
        let mut tail_steps = self.config.processes * 3;
        while self.invoked < self.config.operations || tail_steps > 0 {
            if self.invoked >= self.config.operations {
                tail_steps -= 1;
            }
            if !self.ghosts.is_empty() && self.rng.below(20) == 0 {
                let ghost = self.rng.below(self.ghosts.len() as u64) as usize;
                let mut ghost = self.ghosts.swap_remove(ghost);
                self.apply(&mut ghost);
                continue;
            }
            let slot = self.rng.below(self.config.processes) as usize;
            self.step(slot);
        }
        self.history
    }

    fn step(&mut self, slot: usize) {
        let Some(mut pending) = self.slots[slot].pending.take() else {
            if self.invoked < self.config.operations {
                let pending = self.invent();
                self.record(slot, OpType::Invoke, &pending, invoke_value(&pending));
                self.slots[slot].pending = Some(pending);
                self.invoked += 1;
            }
            return;
        };
        let roll = self.rng.below(1000) as u32;
        let fails = roll < self.config.fail_per_mille;
        let infos = !fails && roll < self.config.fail_per_mille + self.config.info_per_mille;
        match &pending.result {
            None if fails => self.record(slot, OpType::Fail, &pending, invoke_value(&pending)),
            None if infos => {
                self.record(slot, OpType::Info, &pending, invoke_value(&pending));
                self.retire(slot);
                if self.rng.below(2) == 0 {
                    self.ghosts.push(pending);
                }
            }
            None => {
                self.apply(&mut pending);
                self.slots[slot].pending = Some(pending);
            }
            Some(_) if infos => {
                self.record(slot, OpType::Info, &pending, invoke_value(&pending));
                self.retire(slot);
            }
            Some(Applied::CasMismatch) => {
                self.record(slot, OpType::Fail, &pending, invoke_value(&pending));
            }
            Some(Applied::Read(value)) => {
                let value = value.clone();
                self.record(slot, OpType::Ok, &pending, value);
            }
            Some(Applied::Done) => self.record(slot, OpType::Ok, &pending, invoke_value(&pending)),
        }
    }

    /// Makes up the next operation.
    fn invent(&mut self) -> Pending {
        let key = self.rng.below(self.config.keys);
        let roll = self.rng.below(10);
        let (f, value) = match self.config.model {
            ModelKind::Register if roll < 4 => (OpFunction::Read, Value::Null),
            ModelKind::Register if roll < 8 => (OpFunction::Write, json!(self.fresh_value())),
            ModelKind::Register => {
                // Usually the current value, so many cas operations succeed.
                let current = &self.state[key as usize];
                let expected = if self.rng.below(10) < 7 || self.next_value == 1 {
                    current.clone()
                } else {
                    json!(1 + self.rng.below(self.next_value as u64 - 1) as i64)
                };
                (OpFunction::Cas, json!([expected, self.fresh_value()]))
            }
            ModelKind::Counter if roll < 5 => (OpFunction::Read, Value::Null),
            ModelKind::Counter => (OpFunction::Incr, json!(1 + self.rng.below(5) as i64)),
        };
        Pending { f, key, value, result: None }
    }

    fn fresh_value(&mut self) -> i64 {
        self.next_value += 1;
        self.next_value - 1
    }

    /// Takes the operation's effect on the model, now.
    fn apply(&mut self, pending: &mut Pending) {
        let state = &mut self.state[pending.key as usize];
        pending.result = Some(match pending.f {
            OpFunction::Read => Applied::Read(state.clone()),
            OpFunction::Write => {
                *state = pending.value.clone();
                Applied::Done
            }
            OpFunction::Cas => {
                if *state == pending.value[0] {
                    *state = pending.value[1].clone();
                    Applied::Done
                } else {
                    Applied::CasMismatch
                }
            }
            OpFunction::Incr => {
                let count = state.as_i64().unwrap_or(0) + pending.value.as_i64().unwrap_or(0);
                *state = json!(count);
                Applied::Done
            }
        });
    }

    fn retire(&mut self, slot: usize) {
        self.slots[slot].process += self.config.processes;
    }

    fn record(&mut self, slot: usize, kind: OpType, pending: &Pending, value: Value) {
        self.time += 1 + self.rng.below(1000);
        self.history.push(Op {
            index: self.history.len() as u64,
            time: self.time,
            process: self.slots[slot].process,
            kind,
            f: pending.f,
            key: Some(format!("k{}", pending.key)),
            value,
        });
    }
}

fn invoke_value(pending: &Pending) -> Value {
    pending.value.clone()
}

/// Sebastiano Vigna's SplitMix64: tiny, fast and plenty random for test histories.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound`; the modulo bias is irrelevant here.
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::pair_operations;

    #[test]
    fn same_seed_gives_the_same_history() {
        // Generation is a pure function of the configuration.
        let config = GeneratorConfig { seed: 7, ..GeneratorConfig::default() };
        assert_eq!(generate_history(&config), generate_history(&config));
    }

    #[test]
    fn generated_histories_are_well_formed() {
        // Every generated history pairs up, with the requested number of operations.
        for model in [ModelKind::Register, ModelKind::Counter] {
            let config = GeneratorConfig { model, keys: 3, operations: 500, ..GeneratorConfig::default() };
            let operations = pair_operations(&generate_history(&config)).expect("well formed");
            assert_eq!(operations.len(), 500);
        }
    }
}
