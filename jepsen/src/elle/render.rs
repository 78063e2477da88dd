//! Drawings of a cycle: Graphviz DOT text, and a small self-contained SVG of the transactions as
//! boxes in a row, joined by arrows labelled with each edge's kind and evidence, followed by the
//! explanation of each step.

use std::fmt::Write as _;

use super::anomaly::{Cycle, Dependency, EdgeKind};
use crate::svg::{escape, num, open};

/// A short label for an edge: its kind and the key and elements behind it.
pub fn edge_label(dependency: &Dependency) -> String {
    match *dependency {
        Dependency::WriteWrite { key, prior, element } => format!("ww key {key}: {prior} then {element}"),
        Dependency::WriteRead { key, element } => format!("wr key {key}: read up to {element}"),
        Dependency::ReadWrite { key, element, .. } => format!("rw key {key}: missed {element}"),
        Dependency::Realtime { completed, invoked } => format!("rt {completed} < {invoked}"),
    }
}

/// The cycle as a Graphviz digraph, one node per transaction and one labelled edge per step.
pub fn cycle_dot(cycle: &Cycle) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", cycle.name());
    out.push_str("  rankdir=LR;\n  node [shape=box];\n");
    for transaction in cycle.transactions() {
        let _ = writeln!(out, "  T{transaction};");
    }
    for step in &cycle.steps {
        let _ = writeln!(
            out,
            "  T{} -> T{} [label=\"{}\", color=\"{}\"];",
            step.from,
            step.to,
            edge_label(&step.dependency).replace('\\', "\\\\").replace('"', "\\\""),
            colour(step.dependency.kind()),
        );
    }
    out.push_str("}\n");
    out
}

const MARGIN: f64 = 20.0;
const BOX_WIDTH: f64 = 64.0;
const BOX_HEIGHT: f64 = 28.0;
const GAP: f64 = 180.0;
const TITLE_HEIGHT: f64 = 40.0;
const RETURN_DEPTH: f64 = 50.0;
const LINE_HEIGHT: f64 = 16.0;
/// A generous width per character of the 11-pixel sans-serif text, for sizing the figure.
const CHARACTER_WIDTH: f64 = 6.5;

/// The cycle as an SVG figure: its name, the transactions left to right with an arrow for each
/// step (the last one curving back underneath), then each step's explanation.
pub fn cycle_svg(cycle: &Cycle) -> String {
    let count = cycle.steps.len();
    let row_width = count as f64 * BOX_WIDTH + count.saturating_sub(1) as f64 * GAP;
    let longest_line = cycle.steps.iter().map(|step| step.explanation.chars().count()).max().unwrap_or(0);
    let width = 2.0 * MARGIN + row_width.max(longest_line as f64 * CHARACTER_WIDTH);
    let box_top = MARGIN + TITLE_HEIGHT;
    let box_bottom = box_top + BOX_HEIGHT;
    let text_top = box_bottom + RETURN_DEPTH + 2.0 * LINE_HEIGHT;
    let height = text_top + count as f64 * LINE_HEIGHT + MARGIN;
    let left = |index: usize| MARGIN + index as f64 * (BOX_WIDTH + GAP);
    let centre = |index: usize| left(index) + BOX_WIDTH / 2.0;

    let mut out = String::new();
    open(&mut out, width, height, &format!("{} dependency cycle", cycle.name()));
    out.push_str("<defs>\n");
    for kind in [EdgeKind::WriteWrite, EdgeKind::WriteRead, EdgeKind::ReadWrite, EdgeKind::Realtime] {
        let _ = writeln!(
            out,
            r#"<marker id="elle-{}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{}"/></marker>"#,
            kind.name(),
            colour(kind),
        );
    }
    out.push_str("</defs>\n");
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" font-size="14" font-weight="bold">{}</text>"#,
        num(MARGIN),
        num(MARGIN + 16.0),
        escape(cycle.name()),
    );

    for (index, step) in cycle.steps.iter().enumerate() {
        let _ = writeln!(
            out,
            r##"<rect x="{}" y="{}" width="{}" height="{}" rx="4" fill="#f7f7f7" stroke="#333"/><text x="{}" y="{}" text-anchor="middle">T{}</text>"##,
            num(left(index)),
            num(box_top),
            num(BOX_WIDTH),
            num(BOX_HEIGHT),
            num(centre(index)),
            num(box_top + BOX_HEIGHT / 2.0 + 4.0),
            step.from,
        );
        let kind = step.dependency.kind();
        let label = escape(&edge_label(&step.dependency));
        if index + 1 < count {
            // Straight to the next box, labelled above.
            let (x1, x2, y) = (left(index) + BOX_WIDTH, left(index + 1), box_top + BOX_HEIGHT / 2.0);
            let _ = writeln!(
                out,
                r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="1.5" marker-end="url(#elle-{name})"/><text x="{}" y="{}" text-anchor="middle" fill="{colour}">{label}</text>"#,
                num(x1),
                num(x2),
                num((x1 + x2) / 2.0),
                num(y - 8.0),
                y = num(y),
                colour = colour(kind),
                name = kind.name(),
            );
        } else {
            // Back from the last box to the first, underneath the row.
            let (x1, x2, y) = (centre(index), centre(0), box_bottom);
            let depth = y + RETURN_DEPTH;
            let _ = writeln!(
                out,
                r#"<path d="M{},{} C{},{} {},{} {},{}" fill="none" stroke="{colour}" stroke-width="1.5" marker-end="url(#elle-{name})"/><text x="{}" y="{}" text-anchor="middle" fill="{colour}">{label}</text>"#,
                num(x1),
                num(y),
                num(x1),
                num(depth),
                num(x2),
                num(depth),
                num(x2),
                num(y),
                num((x1 + x2) / 2.0),
                num(depth + 4.0),
                colour = colour(kind),
                name = kind.name(),
            );
        }
    }

    for (index, step) in cycle.steps.iter().enumerate() {
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}">{}</text>"#,
            num(MARGIN),
            num(text_top + index as f64 * LINE_HEIGHT),
            escape(&step.explanation),
        );
    }
    out.push_str("</svg>\n");
    out
}

/// The colour of each kind of edge.
fn colour(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::WriteWrite => "#d62728",
        EdgeKind::WriteRead => "#1f77b4",
        EdgeKind::ReadWrite => "#2ca02c",
        EdgeKind::Realtime => "#7f7f7f",
    }
}
