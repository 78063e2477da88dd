//! The timeline of a violation: the operations on the offending key around the checker's
//! evidence, one lane per process, one bar per operation from its invocation to its completion.
//!
//! The horizontal axis is the order of events in the history, not time to scale: each invocation
//! or completion shown gets one step, as in Knossos's `linear.svg`. Linearizability depends only
//! on that order, the checker uses it rather than `time`, and it keeps a 1 ms operation as
//! readable as a 10 s one. The time of every few events is printed underneath.
//!
//! Large histories are cut to a window: the evidence, [`CONTEXT_OPS`] operations of the key on
//! either side of it (by invocation), and any operation whose recorded interval overlaps that
//! span, at most [`TIMELINE_OPS_MAX`] in all, keeping those nearest the evidence.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::history::OpFunction;
use crate::nemesis::NemesisTimeline;
use crate::operation::{Operation, Outcome};
use crate::svg::{self, escape, num};

/// Operations of the key shown before the first and after the last operation of the evidence.
pub(crate) const CONTEXT_OPS: usize = 12;
/// The most operations one timeline shows; beyond a few hundred bars nobody reads a timeline.
pub(crate) const TIMELINE_OPS_MAX: usize = 300;

const LEFT: f64 = 70.0;
const RIGHT: f64 = 40.0;
const TOP: f64 = 70.0;
const BOTTOM: f64 = 46.0;
const LANE: f64 = 34.0;
const BAR: f64 = 14.0;
/// Labels use a monospace font so their width can be known without a layout engine.
const CHAR_WIDTH: f64 = 6.1;
/// Aim for a figure about this wide, within the step bounds below.
const WIDTH_TARGET: f64 = 1100.0;
const STEP_MIN: f64 = 12.0;
const STEP_MAX: f64 = 64.0;

/// A drawn timeline and what it left out.
pub(crate) struct Timeline {
    pub(crate) svg: String,
    /// How many of the key's operations are drawn.
    pub(crate) shown: usize,
}

/// Draws the window of `key_operations` (the key's operations in invocation order) around
/// `evidence` (identified by invocation position).
pub(crate) fn draw(
    key_label: &str,
    key_operations: &[&Operation],
    evidence: &BTreeSet<usize>,
    nemesis: &NemesisTimeline,
) -> Timeline {
    let shown = select(key_operations, evidence);

    // Event positions shown, in history order, each with its time: the steps of the x axis.
    let mut events: BTreeMap<usize, u64> = BTreeMap::new();
    for operation in &shown {
        events.insert(operation.invoke_position, operation.invoke_time);
        if let (Some(position), Some(time)) = (operation.complete_position, operation.complete_time) {
            events.insert(position, time);
        }
    }
    let steps: Vec<(usize, u64)> = events.into_iter().collect();
    let step_of =
        |position: usize| steps.binary_search_by_key(&position, |&(p, _)| p).expect("every event is a step");
    let step = (WIDTH_TARGET / steps.len().max(1) as f64).clamp(STEP_MIN, STEP_MAX);
    let x_of = |step_index: usize| LEFT + (step_index as f64 + 0.5) * step;
    let plot_right = LEFT + steps.len() as f64 * step;
    // Operations with no `ok` or `fail` completion run past the last step, to show they never end.
    let open_end = plot_right + 24.0;

    let processes: BTreeSet<u64> = shown.iter().map(|operation| operation.process).collect();
    let lane_of: BTreeMap<u64, usize> =
        processes.iter().enumerate().map(|(lane, &process)| (process, lane)).collect();
    let width = open_end + RIGHT;
    let height = TOP + processes.len() as f64 * LANE + BOTTOM;

    let mut out = String::new();
    svg::open(&mut out, width, height, &format!("timeline of the violation on key {key_label}"));
    let _ = writeln!(
        out,
        r#"<text x="{}" y="16" font-size="13" font-weight="bold">Key {}: {} of {} operations, around the violation</text>"#,
        num(LEFT),
        escape(key_label),
        shown.len(),
        key_operations.len()
    );
    legend(&mut out);

    // Nemesis faults, as bands over the steps whose events fall inside them.
    let faults = nemesis.faults();
    for interval in &nemesis.intervals {
        let inside: Vec<usize> = (0..steps.len())
            .filter(|&index| {
                let time = steps[index].1;
                time >= interval.start_time && interval.stop_time.is_none_or(|stop| time <= stop)
            })
            .collect();
        let (Some(&first), Some(&last)) = (inside.first(), inside.last()) else { continue };
        let x0 = x_of(first) - step / 2.0;
        let x1 = if interval.stop_time.is_none() { open_end } else { x_of(last) + step / 2.0 };
        let rank =
            faults.iter().position(|&fault| fault == interval.fault).expect("faults lists every fault");
        let _ = writeln!(
            out,
            r##"<rect class="nemesis" data-fault="{fault}" x="{}" y="{}" width="{}" height="{}" fill="{}" fill-opacity="0.35"><title>nemesis: {fault}</title></rect><text x="{}" y="{}" font-size="10" fill="#555">{fault}</text>"##,
            num(x0),
            num(TOP - 8.0),
            num(x1 - x0),
            num(processes.len() as f64 * LANE + 8.0),
            svg::fault_colour(rank),
            num(x0 + 2.0),
            num(TOP - 11.0),
            fault = escape(&interval.fault),
        );
    }

    // Lanes.
    for (&process, &lane) in &lane_of {
        let y = TOP + lane as f64 * LANE;
        let _ = writeln!(
            out,
            r##"<line x1="{}" x2="{}" y1="{y}" y2="{y}" stroke="#eee"/><text x="{}" y="{}" text-anchor="end">process {process}</text>"##,
            num(LEFT),
            num(open_end),
            num(LEFT - 8.0),
            num(y + LANE - 10.0),
            y = num(y + LANE),
        );
    }

    // Time under every few steps, so ticks are at least 90 px apart.
    let every = ((90.0 / step).ceil() as usize).max(1);
    let axis_y = TOP + processes.len() as f64 * LANE + 6.0;
    let span = steps.last().map_or(0, |&(_, time)| time) - steps.first().map_or(0, |&(_, time)| time);
    let unit = svg::TimeUnit::for_span(span.max(1));
    for (index, &(position, time)) in steps.iter().enumerate().step_by(every) {
        let _ = writeln!(
            out,
            r##"<line x1="{x}" x2="{x}" y1="{}" y2="{}" stroke="#999"/><text x="{x}" y="{}" text-anchor="middle" font-size="10"><title>event {position}</title>{}</text>"##,
            num(TOP),
            num(axis_y),
            num(axis_y + 12.0),
            svg::compact(unit.convert(time)),
            x = num(x_of(index)),
        );
    }
    let which = if every == 1 { "each event".to_owned() } else { format!("one event in {every}") };
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}">time ({}) of {which}; bars are drawn in event order, not to scale</text>"#,
        num(LEFT),
        num(axis_y + 30.0),
        unit.name,
    );

    // Bars, then labels, lane by lane so a label knows where the next bar in its lane starts.
    for (&process, &lane) in &lane_of {
        let y = TOP + lane as f64 * LANE + LANE - BAR - 4.0;
        let in_lane: Vec<&&Operation> =
            shown.iter().filter(|operation| operation.process == process).collect();
        // Where the last label drawn in this lane ends; a label starting before it is left out.
        let mut label_free_x = f64::NEG_INFINITY;
        for (rank, operation) in in_lane.iter().enumerate() {
            let x0 = x_of(step_of(operation.invoke_position)) - 3.0;
            let closes = matches!(operation.outcome, Outcome::Ok | Outcome::Fail);
            let x1 = match operation.complete_position {
                Some(position) if closes => x_of(step_of(position)) + 3.0,
                _ => open_end,
            };
            let is_evidence = evidence.contains(&operation.invoke_position);
            // A read that did not return `ok` saw nothing; `read null` would claim it saw absent.
            let label = if operation.f == OpFunction::Read && operation.outcome != Outcome::Ok {
                operation.f.to_string()
            } else {
                format!("{} {}", operation.f, operation.value)
            };
            let next_x =
                in_lane.get(rank + 1).map_or(width, |next| x_of(step_of(next.invoke_position)) - 3.0);
            let room = ((next_x - x0 - 4.0) / CHAR_WIDTH).floor().max(0.0) as usize;
            // A label is cut to end before the next bar in its lane, except an evidence label,
            // which is what the figure is for: it stays whole and pushes out the labels it covers,
            // unless the next bar is evidence too. The hover text always has the whole label.
            let next_is_evidence =
                in_lane.get(rank + 1).is_some_and(|next| evidence.contains(&next.invoke_position));
            let mut shown_label =
                if is_evidence && !next_is_evidence { label.clone() } else { shorten(&label, room) };
            if x0 + 1.0 < label_free_x {
                shown_label.clear();
            } else if !shown_label.is_empty() {
                label_free_x = x0 + 1.0 + shown_label.chars().count() as f64 * CHAR_WIDTH + 4.0;
            }
            let (stroke, stroke_width) = if is_evidence { ("#000", "2.5") } else { ("#777", "0.6") };
            let class = if is_evidence { "op evidence" } else { "op" };
            let _ = writeln!(
                out,
                r#"<g class="{class}" data-process="{process}" data-invoke-index="{}" data-type="{outcome}"><title>{}</title><rect x="{}" y="{}" width="{}" height="{BAR}" rx="2" fill="{}" stroke="{stroke}" stroke-width="{stroke_width}"{}/>{}<text x="{}" y="{}" font-family="monospace" font-size="10"{}>{}</text></g>"#,
                operation.invoke_index,
                escape(&describe(operation)),
                num(x0),
                num(y),
                num((x1 - x0).max(2.0)),
                svg::outcome_fill(operation.outcome),
                if closes { "" } else { r#" stroke-dasharray="4 2""# },
                if closes { String::new() } else { arrow(open_end, y) },
                num(x0 + 1.0),
                num(y - 3.0),
                if is_evidence { r#" font-weight="bold""# } else { "" },
                escape(&shown_label),
                outcome = svg::outcome_name(operation.outcome),
            );
        }
    }
    out.push_str("</svg>\n");
    Timeline { svg: out, shown: shown.len() }
}

/// Picks the operations to draw, in invocation order; see the module documentation.
fn select<'a>(key_operations: &[&'a Operation], evidence: &BTreeSet<usize>) -> Vec<&'a Operation> {
    let evidence_ranks: Vec<usize> = key_operations
        .iter()
        .enumerate()
        .filter(|(_, operation)| evidence.contains(&operation.invoke_position))
        .map(|(rank, _)| rank)
        .collect();
    let (Some(&first), Some(&last)) = (evidence_ranks.first(), evidence_ranks.last()) else {
        return Vec::new();
    };
    let low = first.saturating_sub(CONTEXT_OPS);
    let high = (last + CONTEXT_OPS).min(key_operations.len() - 1);
    let window_start = key_operations[low].invoke_position;
    let evidence_end =
        evidence_ranks.iter().filter_map(|&rank| key_operations[rank].complete_position).max().unwrap_or(0);
    let window_end = key_operations[high].invoke_position.max(evidence_end);

    let mut candidates: Vec<(usize, &Operation)> = key_operations
        .iter()
        .enumerate()
        .filter(|(_, operation)| {
            operation.invoke_position <= window_end
                && operation.complete_position.unwrap_or(usize::MAX) >= window_start
        })
        .map(|(rank, &operation)| (rank, operation))
        .collect();
    if candidates.len() > TIMELINE_OPS_MAX {
        // Keep the evidence, then whatever is nearest to it in invocation order.
        let distance = |rank: usize| {
            evidence_ranks
                .iter()
                .map(|&evidence_rank| rank.abs_diff(evidence_rank))
                .min()
                .unwrap_or(usize::MAX)
        };
        candidates.sort_by_key(|&(rank, _)| (distance(rank), rank));
        candidates.truncate(TIMELINE_OPS_MAX);
        candidates.sort_by_key(|&(rank, _)| rank);
    }
    candidates.into_iter().map(|(_, operation)| operation).collect()
}

/// The legend across the top.
fn legend(out: &mut String) {
    let mut x = LEFT;
    let y = 28.0;
    for (outcome, text) in [
        (Outcome::Ok, "ok"),
        (Outcome::Fail, "fail"),
        (Outcome::Info, "info or pending (may take effect any time later)"),
    ] {
        let _ = write!(
            out,
            r##"<rect x="{}" y="{}" width="18" height="10" rx="2" fill="{}" stroke="#777" stroke-width="0.6"/><text x="{}" y="{}">{}</text>"##,
            num(x),
            num(y),
            svg::outcome_fill(outcome),
            num(x + 24.0),
            num(y + 9.0),
            escape(text)
        );
        x += 24.0 + text.len() as f64 * 6.0 + 18.0;
    }
    let _ = writeln!(
        out,
        r##"<rect x="{}" y="{}" width="18" height="10" rx="2" fill="#fff" stroke="#000" stroke-width="2.5"/><text x="{}" y="{}" font-weight="bold">in the violation</text>"##,
        num(x),
        num(y),
        num(x + 24.0),
        num(y + 9.0)
    );
}

/// An arrowhead at the open end of a bar that never completed.
fn arrow(x: f64, y: f64) -> String {
    format!(r##"<path d="M{} {}l6 {}l-6 {}z" fill="#777"/>"##, num(x), num(y), num(BAR / 2.0), num(BAR / 2.0))
}

/// Cuts a label to `room` characters, marking the cut with an ellipsis.
fn shorten(label: &str, room: usize) -> String {
    if label.chars().count() <= room {
        return label.to_owned();
    }
    if room < 2 {
        return String::new();
    }
    let mut short: String = label.chars().take(room - 1).collect();
    short.push('…');
    short
}

/// The hover text of a bar.
fn describe(operation: &Operation) -> String {
    let mut text = format!(
        "process {} {} {} {}: invoked at op index {} (time {} ns)",
        operation.process,
        operation.f,
        operation.value,
        svg::outcome_name(operation.outcome),
        operation.invoke_index,
        operation.invoke_time
    );
    match (operation.complete_index, operation.complete_time) {
        (Some(index), Some(time)) => {
            let _ = write!(text, ", completed at op index {index} (time {time} ns)");
        }
        _ => text.push_str(", never completed"),
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `count` back-to-back ok writes by one process: operation `i` is invoked at position `2i`.
    fn sequential(count: usize) -> Vec<Operation> {
        (0..count)
            .map(|i| Operation {
                process: 0,
                key: Some("k".into()),
                f: OpFunction::Write,
                value: json!(i),
                outcome: Outcome::Ok,
                invoke_index: 2 * i as u64,
                invoke_time: 20 * i as u64,
                invoke_position: 2 * i,
                complete_index: Some(2 * i as u64 + 1),
                complete_time: Some(20 * i as u64 + 10),
                complete_position: Some(2 * i + 1),
            })
            .collect()
    }

    #[test]
    fn window_is_the_evidence_with_context_on_either_side() {
        // One evidence operation among sequential ones: it and CONTEXT_OPS either side.
        let operations = sequential(100);
        let all: Vec<&Operation> = operations.iter().collect();
        let shown = select(&all, &BTreeSet::from([2 * 50]));
        let ranks: Vec<usize> = shown.iter().map(|operation| operation.invoke_position / 2).collect();
        assert_eq!(ranks, (50 - CONTEXT_OPS..=50 + CONTEXT_OPS).collect::<Vec<_>>());
    }

    #[test]
    fn wide_windows_are_capped_and_keep_the_evidence() {
        // Evidence far apart would span 800 operations; the cap keeps both ends and those nearest.
        let operations = sequential(1000);
        let all: Vec<&Operation> = operations.iter().collect();
        let evidence = BTreeSet::from([2 * 100, 2 * 900]);
        let shown = select(&all, &evidence);
        assert_eq!(shown.len(), TIMELINE_OPS_MAX);
        assert!(shown.windows(2).all(|pair| pair[0].invoke_position < pair[1].invoke_position));
        for position in evidence {
            assert!(shown.iter().any(|operation| operation.invoke_position == position));
        }
        let timeline = draw("k", &all, &BTreeSet::from([2 * 100, 2 * 900]), &NemesisTimeline::default());
        assert_eq!(timeline.shown, TIMELINE_OPS_MAX);
        assert_eq!(timeline.svg.matches("<g class=\"op").count(), TIMELINE_OPS_MAX);
    }

    #[test]
    fn labels_are_cut_to_the_room_before_the_next_bar() {
        // Long labels end in an ellipsis; short ones, and very short rooms, are handled.
        assert_eq!(shorten("write 12345", 20), "write 12345");
        assert_eq!(shorten("write 12345", 6), "write…");
        assert_eq!(shorten("write 12345", 1), "");
    }
}
