//! The sequential specifications the checker linearizes against: a register per key (read, write,
//! cas) and a counter per key (incr, read).
//!
//! Both models run on an `i64` state so the search and its cache are shared. For the register,
//! JSON values are interned: 0 is `null` (the key is absent, the initial state) and every other
//! distinct value gets its own positive number. For the counter the state is the count itself.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::history::OpFunction;
use crate::operation::{HistoryError, Operation};

/// Which sequential object every key of the history is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// A register: `read` returns the last value written (`null` before any write), `write`
    /// replaces it, and `cas [expected, new]` replaces it only when it equals `expected`. A `cas`
    /// that found another value must be recorded as `fail`.
    #[default]
    Register,
    /// A counter starting at 0: `incr` adds its integer delta and `read` returns the count. A read
    /// of `null` counts as 0, as reading a counter never incremented returns no value.
    Counter,
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelKind::Register => "register",
            ModelKind::Counter => "counter",
        })
    }
}

/// The state every key starts in, for both models: the absent register, or the count 0.
pub(crate) const INITIAL_STATE: i64 = 0;

/// An operation reduced to what the model needs, with values interned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Input {
    /// Returned this state.
    Read(i64),
    /// Set the state.
    Write(i64),
    /// Set the state to `.1` if it was `.0`.
    Cas(i64, i64),
    /// Add to the state.
    Incr(i64),
}

impl Input {
    /// The state after applying the input, or `None` when the input cannot happen in `state`.
    pub(crate) fn step(self, state: i64) -> Option<i64> {
        match self {
            Input::Read(value) => (value == state).then_some(state),
            Input::Write(value) => Some(value),
            Input::Cas(expected, new) => (expected == state).then_some(new),
            // An overflowing count cannot be the result of any order, so it is not a valid step.
            Input::Incr(delta) => state.checked_add(delta),
        }
    }

    /// Whether the input leaves the state unchanged whenever it can happen. Such an operation
    /// constrains nothing unless its result was observed, so the checker drops it when optional.
    pub(crate) fn is_read(self) -> bool {
        matches!(self, Input::Read(_))
    }
}

/// Turns operations into [`Input`]s for one model, interning register values as it goes.
#[derive(Debug)]
pub(crate) struct Encoder {
    model: ModelKind,
    /// Canonical JSON text of each register value seen so far, to its number (from 1).
    values: HashMap<String, i64>,
}

impl Encoder {
    pub(crate) fn new(model: ModelKind) -> Self {
        Self { model, values: HashMap::new() }
    }

    /// Encodes one operation. A read's value is only meaningful when it completed `ok`; the caller
    /// drops other reads before asking.
    ///
    /// # Errors
    ///
    /// [`HistoryError::UnsupportedFunction`] when the model has no such operation, and
    /// [`HistoryError::BadValue`] when the value has the wrong shape.
    pub(crate) fn encode(&mut self, operation: &Operation) -> Result<Input, HistoryError> {
        let value = &operation.value;
        match (self.model, operation.f) {
            (ModelKind::Register, OpFunction::Read) => Ok(Input::Read(self.intern(value))),
            (ModelKind::Register, OpFunction::Write) => Ok(Input::Write(self.intern(value))),
            (ModelKind::Register, OpFunction::Cas) => match value.as_array().map(Vec::as_slice) {
                Some([expected, new]) => Ok(Input::Cas(self.intern(expected), self.intern(new))),
                _ => Err(bad_value(operation, "[expected, new]")),
            },
            (ModelKind::Counter, OpFunction::Incr) => {
                value.as_i64().map(Input::Incr).ok_or_else(|| bad_value(operation, "an integer delta"))
            }
            (ModelKind::Counter, OpFunction::Read) if value.is_null() => Ok(Input::Read(0)),
            (ModelKind::Counter, OpFunction::Read) => value
                .as_i64()
                .map(Input::Read)
                .ok_or_else(|| bad_value(operation, "an integer count or null")),
            (model, f) => Err(HistoryError::UnsupportedFunction {
                position: operation.invoke_position,
                index: operation.invoke_index,
                f,
                model: match model {
                    ModelKind::Register => "register",
                    ModelKind::Counter => "counter",
                },
                expected: match model {
                    ModelKind::Register => "read, write and cas",
                    ModelKind::Counter => "incr and read",
                },
            }),
        }
    }

    fn intern(&mut self, value: &Value) -> i64 {
        if value.is_null() {
            return 0;
        }
        // serde_json's map is ordered by key, so equal objects print the same text.
        let next = i64::try_from(self.values.len() + 1).expect("fewer than 2^63 distinct values");
        *self.values.entry(value.to_string()).or_insert(next)
    }
}

fn bad_value(operation: &Operation, expected: &'static str) -> HistoryError {
    // A read's value comes from its completion; every other value from the invocation.
    let (position, index) = match (operation.f, operation.complete_position, operation.complete_index) {
        (OpFunction::Read, Some(position), Some(index)) => (position, index),
        _ => (operation.invoke_position, operation.invoke_index),
    };
    HistoryError::BadValue { position, index, f: operation.f, expected, found: operation.value.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::Outcome;
    use serde_json::json;

    fn operation(f: OpFunction, value: Value) -> Operation {
        Operation {
            process: 0,
            key: None,
            f,
            value,
            outcome: Outcome::Ok,
            invoke_index: 0,
            invoke_time: 0,
            invoke_position: 0,
            complete_index: Some(1),
            complete_time: Some(1),
            complete_position: Some(1),
        }
    }

    #[test]
    fn equal_json_values_intern_to_the_same_state() {
        // Values are compared as JSON: equal strings and objects meet, null is the initial state.
        let mut encoder = Encoder::new(ModelKind::Register);
        let a = encoder.encode(&operation(OpFunction::Write, json!({"a": 1, "b": "x"})));
        let b = encoder.encode(&operation(OpFunction::Read, json!({"b": "x", "a": 1})));
        assert!(matches!((a, b), (Ok(Input::Write(x)), Ok(Input::Read(y))) if x == y && x != 0));
        let null = encoder.encode(&operation(OpFunction::Read, Value::Null));
        assert_eq!(null, Ok(Input::Read(INITIAL_STATE)));
    }

    #[test]
    fn cas_needs_a_pair_and_incr_an_integer() {
        // Malformed values are input errors that name what was expected.
        let mut register = Encoder::new(ModelKind::Register);
        let error =
            register.encode(&operation(OpFunction::Cas, json!(3))).expect_err("cas needs [expected, new]");
        assert!(error.to_string().contains("[expected, new]"), "{error}");
        let mut counter = Encoder::new(ModelKind::Counter);
        assert!(counter.encode(&operation(OpFunction::Incr, json!("1"))).is_err());
        assert!(counter.encode(&operation(OpFunction::Write, json!(1))).is_err());
        assert!(register.encode(&operation(OpFunction::Incr, json!(1))).is_err());
    }

    #[test]
    fn steps_follow_the_sequential_specification() {
        // A cas from the wrong value and a read of another value cannot happen.
        assert_eq!(Input::Cas(1, 2).step(1), Some(2));
        assert_eq!(Input::Cas(1, 2).step(3), None);
        assert_eq!(Input::Read(4).step(4), Some(4));
        assert_eq!(Input::Read(4).step(0), None);
        assert_eq!(Input::Incr(5).step(-2), Some(3));
        assert_eq!(Input::Incr(1).step(i64::MAX), None);
    }
}
