//! Turns a history's nemesis events into the intervals during which a fault was in force, for the
//! shading in reports. The events themselves, and how they are written, are in
//! [`crate::history`].
//!
//! Pairing follows Jepsen's `nemesis-intervals` (`jepsen.checker.perf`), with the action names
//! redraft's nemesis uses:
//!
//! | starts a fault | ends it | fault |
//! | --- | --- | --- |
//! | `start-X` | `stop-X` | `X` (`start-partition` starts `partition`) |
//! | `kill` | `start` | `kill` |
//! | `pause` | `resume` | `pause` |
//!
//! Within one fault, starts and stops pair in order (the first start with the first stop), as
//! Jepsen does; Jepsen writes each action twice (requested, then done), which this turns into two
//! overlapping intervals, and overlapping intervals of one fault are merged. A start without a
//! stop lasts to the end of the history. Any other action (`clock-skew`, `bump-clock`, a stop
//! with nothing to stop) is a [`NemesisMark`]: something that happened at an instant, drawn as a
//! line rather than a band. Which nodes a fault touched (the `value`) is not taken into account:
//! `kill n1`, `kill n2`, `start n1` leaves a `kill` interval open to the end.

use std::collections::{BTreeMap, VecDeque};

use crate::history::NemesisEvent;

/// A span of time during which a fault was in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NemesisInterval {
    /// The fault: `partition` for `start-partition`, `kill`, `pause`, and so on.
    pub fault: String,
    /// When the first event that started it was recorded, in nanoseconds.
    pub start_time: u64,
    /// When the last event that ended it was recorded; `None` when the history ends first.
    pub stop_time: Option<u64>,
}

/// A nemesis event that neither starts nor stops an interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NemesisMark {
    /// The event's `f`.
    pub f: String,
    /// When it was recorded, in nanoseconds.
    pub time: u64,
}

/// What a history's nemesis did, in drawable form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NemesisTimeline {
    /// Fault intervals, ordered by start time and then fault name.
    pub intervals: Vec<NemesisInterval>,
    /// Instantaneous actions, in time order.
    pub marks: Vec<NemesisMark>,
}

impl NemesisTimeline {
    /// Pairs up nemesis events as the module documentation describes. The events need not be
    /// sorted; they are taken in time order, and in the given order among equal times.
    pub fn from_events(events: &[NemesisEvent]) -> Self {
        let mut sorted: Vec<&NemesisEvent> = events.iter().collect();
        sorted.sort_by_key(|event| event.time);

        // Open starts per fault, oldest first. A BTreeMap keeps the output independent of hashing.
        let mut open: BTreeMap<&str, VecDeque<u64>> = BTreeMap::new();
        let mut intervals = Vec::new();
        let mut marks = Vec::new();
        for event in sorted {
            match role(&event.f) {
                Role::Start(fault) => open.entry(fault).or_default().push_back(event.time),
                Role::Stop(fault) => match open.get_mut(fault).and_then(VecDeque::pop_front) {
                    Some(start_time) => intervals.push(NemesisInterval {
                        fault: fault.to_owned(),
                        start_time,
                        stop_time: Some(event.time),
                    }),
                    None => marks.push(NemesisMark { f: event.f.clone(), time: event.time }),
                },
                Role::Mark => marks.push(NemesisMark { f: event.f.clone(), time: event.time }),
            }
        }
        for (fault, starts) in open {
            for start_time in starts {
                intervals.push(NemesisInterval { fault: fault.to_owned(), start_time, stop_time: None });
            }
        }
        Self { intervals: merge_overlapping(intervals), marks }
    }

    /// The distinct faults, in order of their first interval; reports give each its own colour.
    pub fn faults(&self) -> Vec<&str> {
        let mut faults: Vec<&str> = Vec::new();
        for interval in &self.intervals {
            if !faults.contains(&interval.fault.as_str()) {
                faults.push(&interval.fault);
            }
        }
        faults
    }

    /// Whether there is nothing to draw.
    pub fn is_empty(&self) -> bool {
        self.intervals.is_empty() && self.marks.is_empty()
    }
}

/// What an action does to the intervals.
enum Role<'a> {
    Start(&'a str),
    Stop(&'a str),
    Mark,
}

fn role(f: &str) -> Role<'_> {
    if let Some(fault) = f.strip_prefix("start-") {
        return Role::Start(fault);
    }
    if let Some(fault) = f.strip_prefix("stop-") {
        return Role::Stop(fault);
    }
    match f {
        "kill" => Role::Start("kill"),
        "start" => Role::Stop("kill"),
        "pause" => Role::Start("pause"),
        "resume" => Role::Stop("pause"),
        _ => Role::Mark,
    }
}

/// Merges intervals of the same fault that overlap or touch, and sorts the result by start time
/// and then fault.
fn merge_overlapping(mut intervals: Vec<NemesisInterval>) -> Vec<NemesisInterval> {
    intervals.sort_by(|a, b| (&a.fault, a.start_time).cmp(&(&b.fault, b.start_time)));
    let mut merged: Vec<NemesisInterval> = Vec::with_capacity(intervals.len());
    for interval in intervals {
        if let Some(last) = merged.last_mut() {
            // `None` is the end of the history, later than any time.
            let last_stop = last.stop_time.unwrap_or(u64::MAX);
            if last.fault == interval.fault && interval.start_time <= last_stop {
                last.stop_time = match (last.stop_time, interval.stop_time) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
                continue;
            }
        }
        merged.push(interval);
    }
    merged.sort_by(|a, b| (a.start_time, &a.fault).cmp(&(b.start_time, &b.fault)));
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::OpType;
    use serde_json::Value;

    fn event(time: u64, f: &str) -> NemesisEvent {
        NemesisEvent { index: time, time, kind: OpType::Info, f: f.to_owned(), value: Value::Null }
    }

    fn interval(fault: &str, start_time: u64, stop_time: Option<u64>) -> NemesisInterval {
        NemesisInterval { fault: fault.to_owned(), start_time, stop_time }
    }

    #[test]
    fn jepsen_double_events_make_one_interval() {
        // Jepsen records each action when requested and when done: start, start, stop, stop. The
        // two overlapping pairs merge into one band from the first start to the last stop.
        let events = [
            event(10, "start-partition"),
            event(12, "start-partition"),
            event(50, "stop-partition"),
            event(53, "stop-partition"),
        ];
        let timeline = NemesisTimeline::from_events(&events);
        assert_eq!(timeline.intervals, vec![interval("partition", 10, Some(53))]);
        assert!(timeline.marks.is_empty());
    }

    #[test]
    fn kill_start_and_pause_resume_pair_and_unmatched_run_to_the_end() {
        // kill ends at start, pause at resume; a second partition that is never stopped is open.
        let events = [
            event(5, "kill"),
            event(9, "start"),
            event(20, "pause"),
            event(30, "resume"),
            event(40, "start-partition"),
        ];
        let timeline = NemesisTimeline::from_events(&events);
        assert_eq!(
            timeline.intervals,
            vec![
                interval("kill", 5, Some(9)),
                interval("pause", 20, Some(30)),
                interval("partition", 40, None)
            ]
        );
        assert_eq!(timeline.faults(), vec!["kill", "pause", "partition"]);
    }

    #[test]
    fn other_actions_and_stray_stops_are_marks() {
        // A clock skew is an instant, and so is a stop with nothing to stop.
        let events = [event(7, "clock-skew"), event(8, "stop-partition"), event(9, "start")];
        let timeline = NemesisTimeline::from_events(&events);
        assert!(timeline.intervals.is_empty());
        let marks: Vec<&str> = timeline.marks.iter().map(|mark| mark.f.as_str()).collect();
        assert_eq!(marks, vec!["clock-skew", "stop-partition", "start"]);
    }

    #[test]
    fn separate_faults_are_not_merged() {
        // Two faults that overlap in time stay two intervals, and two partitions apart stay apart.
        let events = [
            event(1, "start-partition"),
            event(2, "kill"),
            event(3, "stop-partition"),
            event(4, "start"),
            event(10, "start-partition"),
            event(11, "stop-partition"),
        ];
        let timeline = NemesisTimeline::from_events(&events);
        assert_eq!(
            timeline.intervals,
            vec![
                interval("partition", 1, Some(3)),
                interval("kill", 2, Some(4)),
                interval("partition", 10, Some(11)),
            ]
        );
    }
}
