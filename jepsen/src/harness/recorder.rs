//! The history being recorded (DESIGN.md §6), shared by a run's clients and its nemesis: every
//! operation as an `invoke` followed by `ok`, `fail` or `info`, and every nemesis action, each
//! numbered and stamped as it is recorded.
//!
//! The recorder reads the time from a clock its owner gives it, so that one recorder serves both
//! worlds: the simulator's clock is madsim's virtual one, the real-process runner's the real
//! monotonic clock. Nothing here touches tokio.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use serde_json::Value;

use super::outcome::Completion;
use crate::history::{Event, NemesisEvent, Op, OpFunction, OpType};

/// Operation counts by how they ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Completed with `ok`.
    pub ok: u64,
    /// Completed with `fail`.
    pub fail: u64,
    /// Completed with `info`.
    pub info: u64,
}

/// The history being recorded; times are nanoseconds since [`Recorder::begin`].
pub struct Recorder {
    /// Nanoseconds on a monotonic clock, from any fixed origin.
    clock: Box<dyn Fn() -> u64 + Send + Sync>,
    /// The clock's reading at time 0 of the history.
    start_ns: OnceLock<u64>,
    inner: Mutex<Recorded>,
}

#[derive(Debug, Default)]
struct Recorded {
    events: Vec<Event>,
    counts: Counts,
    /// Why operations did not end `ok`, as the client sorts them (see [`Recorder::tally`]).
    errors: BTreeMap<String, u64>,
}

impl Recorder {
    /// An empty history stamped by `clock`: nanoseconds on a monotonic clock, from any fixed
    /// origin. Time stands at 0 until [`Recorder::begin`].
    pub fn new(clock: impl Fn() -> u64 + Send + Sync + 'static) -> Arc<Recorder> {
        Arc::new(Recorder { clock: Box::new(clock), start_ns: OnceLock::new(), inner: Mutex::default() })
    }

    /// Makes now time 0 of the history; later calls change nothing.
    pub fn begin(&self) {
        let _ = self.start_ns.set((self.clock)());
    }

    /// Nanoseconds since the history began; 0 before.
    pub fn now_ns(&self) -> u64 {
        self.start_ns.get().map_or(0, |start_ns| (self.clock)().saturating_sub(*start_ns))
    }

    /// Records an operation's event: its invocation (`OpType::Invoke`) or its completion.
    pub fn op(&self, process: u64, kind: OpType, f: OpFunction, key: &str, value: Value) {
        let mut recorded = self.lock();
        // Numbered and stamped under the lock, so indexes and times rise together.
        let index = recorded.events.len() as u64;
        let time = self.now_ns();
        match kind {
            OpType::Invoke => {}
            OpType::Ok => recorded.counts.ok += 1,
            OpType::Fail => recorded.counts.fail += 1,
            OpType::Info => recorded.counts.info += 1,
        }
        recorded.events.push(Event::Op(Op {
            index,
            time,
            process,
            kind,
            f,
            key: Some(key.to_owned()),
            value,
        }));
    }

    /// Records how an operation ended, with `value` (what a read returned, or the operation's
    /// argument); returns the completion.
    pub fn finish(
        &self,
        process: u64,
        f: OpFunction,
        key: &str,
        value: Value,
        completion: Completion,
    ) -> Completion {
        self.op(process, completion.op_type(), f, key, value);
        completion
    }

    /// Records a nemesis action; returns its time.
    pub fn nemesis(&self, f: &str, value: Value) -> u64 {
        let mut recorded = self.lock();
        let index = recorded.events.len() as u64;
        let time = self.now_ns();
        recorded.events.push(Event::Nemesis(NemesisEvent {
            index,
            time,
            kind: OpType::Info,
            f: f.to_owned(),
            value,
        }));
        time
    }

    /// Counts one operation that did not end `ok`, under `why`: for instance the first word of
    /// the error reply, or how the connection failed.
    pub fn tally(&self, why: String) {
        *self.lock().errors.entry(why).or_default() += 1;
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        self.lock().counts
    }

    /// Why operations did not end `ok`, so far.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.lock().errors.clone()
    }

    /// A copy of the history so far.
    pub fn events(&self) -> Vec<Event> {
        self.lock().events.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Recorded> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder").field("start_ns", &self.start_ns).field("inner", &self.inner).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use serde_json::json;

    use super::*;

    /// Events are numbered in order and stamped from time 0 at `begin`; completions are counted
    /// by kind, and nemesis events return their time.
    #[test]
    fn events_are_numbered_and_stamped_from_begin() {
        let clock = Arc::new(AtomicU64::new(1_000));
        let recorder = Recorder::new({
            let clock = clock.clone();
            move || clock.load(Ordering::SeqCst)
        });
        assert_eq!(recorder.now_ns(), 0, "time stands still before begin");
        recorder.begin();
        clock.store(1_250, Ordering::SeqCst);
        recorder.op(3, OpType::Invoke, OpFunction::Write, "k", json!(1));
        clock.store(1_500, Ordering::SeqCst);
        assert_eq!(recorder.finish(3, OpFunction::Write, "k", json!(1), Completion::Info), Completion::Info);
        assert_eq!(recorder.nemesis("kill", json!("n1")), 500);
        recorder.begin();
        assert_eq!(recorder.now_ns(), 500, "a second begin changes nothing");

        let events = recorder.events();
        let stamps: Vec<(u64, u64)> = events
            .iter()
            .map(|event| match event {
                Event::Op(op) => (op.index, op.time),
                Event::Nemesis(nemesis) => (nemesis.index, nemesis.time),
            })
            .collect();
        assert_eq!(stamps, vec![(0, 250), (1, 500), (2, 500)]);
        assert!(matches!(&events[1], Event::Op(op) if op.kind == OpType::Info && op.process == 3));
        assert_eq!(recorder.counts(), Counts { ok: 0, fail: 0, info: 1 });
        recorder.tally("UNKNOWN".to_owned());
        assert_eq!(recorder.errors().get("UNKNOWN"), Some(&1));
    }
}
