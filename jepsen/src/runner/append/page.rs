//! The append run's report: `report.html`, one self-contained page with the verdict, the
//! checker's figures, the run's table, every anomaly explained with the transactions involved
//! (each cycle drawn), the latency and throughput figures and the nemesis's faults; beside it
//! `latency.svg`, `throughput.svg`, and for each cycle `cycle-N.svg` and `cycle-N.dot`, N being
//! the anomaly's number on the page.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use super::keys::key_name;
use crate::elle::{cycle_dot, cycle_svg, Anomaly, CheckResult, MicroOp, Outcome, Transaction};
use crate::history::NemesisEvent;
use crate::nemesis::NemesisTimeline;
use crate::operation::Operation;
use crate::plot::{self, PlotData};
use crate::report::{nemesis_table, standalone, STYLE};
use crate::svg::{self, escape};
use crate::ReportError;

/// Anomalies listed on the page, of each class (cycles, which are drawn, and the others);
/// `results.json` has them all.
const ANOMALIES_SHOWN: usize = 100;
/// Transactions listed under each anomaly.
const TRANSACTIONS_SHOWN: usize = 12;

const EXTRA_STYLE: &str = "
pre.explanation { white-space: pre-wrap; background: #f7f7f7; padding: 0.5em; }
ul.transactions { font-family: monospace; }
";

/// What the page shows.
#[derive(Debug)]
pub struct Page<'a> {
    /// The test and its start.
    pub title: &'a str,
    /// The checker's result.
    pub result: &'a CheckResult,
    /// The transactions, as checked (`Tn` is `transactions[n]`).
    pub transactions: &'a [Transaction],
    /// The same as operations, for the figures.
    pub operations: &'a [Operation],
    /// The nemesis's events.
    pub nemesis: &'a [NemesisEvent],
    /// The run's table.
    pub run_rows: Vec<(String, String)>,
    /// How long the check took.
    pub check_elapsed: Duration,
}

/// Writes the page and its figures into `dir`.
///
/// # Errors
/// [`ReportError::Write`] naming the file that could not be written.
pub fn write(dir: &Path, page: &Page<'_>) -> Result<(), ReportError> {
    let file = |name: &str, contents: &str| {
        let path = dir.join(name);
        std::fs::write(&path, contents).map_err(|source| ReportError::Write { path, source })
    };
    let nemesis = NemesisTimeline::from_events(page.nemesis);
    let times = page
        .operations
        .iter()
        .flat_map(|operation| [Some(operation.invoke_time), operation.complete_time])
        .flatten()
        .chain(page.nemesis.iter().map(|event| event.time));
    let (start_ns, end_ns) = times.fold((u64::MAX, 0), |(start, end), time| (start.min(time), end.max(time)));
    let data =
        PlotData { operations: page.operations, nemesis: &nemesis, start_ns: start_ns.min(end_ns), end_ns };
    let (latency, throughput) = (plot::latency_svg(&data), plot::throughput_svg(&data));
    file("latency.svg", &standalone(&latency))?;
    file("throughput.svg", &standalone(&throughput))?;
    for (number, anomaly) in selected(&page.result.anomalies, ANOMALIES_SHOWN) {
        if let Anomaly::Cycle(cycle) = anomaly {
            file(&format!("cycle-{number}.svg"), &standalone(&cycle_svg(cycle)))?;
            file(&format!("cycle-{number}.dot"), &cycle_dot(cycle))?;
        }
    }

    let mut out = String::new();
    let verdict = if page.result.valid { "valid" } else { "invalid" };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{verdict}: {title}</title>\n<style>{STYLE}{EXTRA_STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n<p class=\"verdict {verdict}\">{verdict}</p>\n",
        title = escape(page.title),
    );
    summary(&mut out, page, &nemesis, end_ns.saturating_sub(start_ns.min(end_ns)));
    if !page.run_rows.is_empty() {
        out.push_str("<h2>Run</h2>\n<table class=\"summary\">\n");
        for (name, value) in &page.run_rows {
            let _ = writeln!(out, "<tr><th>{}</th><td>{}</td></tr>", escape(name), escape(value));
        }
        out.push_str("</table>\n");
    }
    anomalies(&mut out, page);
    out.push_str("<h2>Latency</h2>\n<p class=\"note\">Each transaction: <em>read</em> if it only reads, <em>write</em> if it appends.</p>\n<figure>\n");
    out.push_str(&latency);
    out.push_str("</figure>\n<h2>Throughput</h2>\n<figure>\n");
    out.push_str(&throughput);
    out.push_str("</figure>\n");
    nemesis_table(&mut out, &nemesis);
    out.push_str("</body>\n</html>\n");
    file("report.html", &out)
}

fn summary(out: &mut String, page: &Page<'_>, nemesis: &NemesisTimeline, span_ns: u64) {
    let result = page.result;
    let count = |outcome| page.transactions.iter().filter(|t| t.outcome == outcome).count();
    let keys: BTreeSet<u64> = page.transactions.iter().flat_map(|t| t.ops.iter().map(MicroOp::key)).collect();
    out.push_str("<table class=\"summary\">\n");
    let mut row = |name: &str, value: String| {
        let _ = writeln!(out, "<tr><th>{name}</th><td>{value}</td></tr>");
    };
    row("checker", "list-append, after Elle: dependency cycles and impossible reads".to_owned());
    row(
        "transactions",
        format!(
            "{} ({} ok, {} fail, {} info), one a line in <a href=\"transactions.jsonl\">transactions.jsonl</a> (T<i>n</i> is line <i>n</i> + 1)",
            page.transactions.len(),
            count(Outcome::Ok),
            count(Outcome::Fail),
            count(Outcome::Info) + count(Outcome::Pending),
        ),
    );
    row("keys", keys.len().to_string());
    row("dependency edges", result.edge_count.to_string());
    row(
        "anomalies",
        if result.valid {
            "none: strictly serializable as far as the checker can tell".to_owned()
        } else {
            format!(
                "{} (<a href=\"#anomalies\">below</a>); {}",
                result.anomalies.len(),
                if result.serializable {
                    "serializable, but not strictly: each cycle needs real-time order"
                } else {
                    "not serializable"
                }
            )
        },
    );
    if result.search_exhausted {
        row("cycle search", "ran out of steps: a G2 reported may hide a G-single".to_owned());
    }
    let nanos = u64::try_from(page.check_elapsed.as_nanos()).unwrap_or(u64::MAX);
    row("check time", svg::duration(nanos));
    row("history", svg::duration(span_ns));
    row(
        "nemesis",
        format!(
            "{} fault intervals, {} other actions (<a href=\"#nemesis\">below</a>)",
            nemesis.intervals.len(),
            nemesis.marks.len()
        ),
    );
    out.push_str("</table>\n");
}

fn anomalies(out: &mut String, page: &Page<'_>) {
    let all = &page.result.anomalies;
    if all.is_empty() {
        return;
    }
    out.push_str("<h2 id=\"anomalies\">Anomalies</h2>\n");
    let shown = selected(all, ANOMALIES_SHOWN);
    for &(number, anomaly) in &shown {
        let _ = writeln!(
            out,
            "<section id=\"anomaly-{number}\">\n<h3>{number}. {}</h3>\n<pre class=\"explanation\">{}</pre>",
            escape(anomaly.name()),
            escape(&explain(anomaly))
        );
        if let Anomaly::Cycle(cycle) = anomaly {
            out.push_str("<div class=\"scroll\">\n");
            out.push_str(&cycle_svg(cycle));
            let _ = writeln!(
                out,
                "</div>\n<p><a href=\"cycle-{number}.svg\">cycle-{number}.svg</a>, <a href=\"cycle-{number}.dot\">cycle-{number}.dot</a></p>"
            );
        }
        out.push_str("<ul class=\"transactions\">\n");
        let involved = anomaly.transactions();
        for &position in involved.iter().take(TRANSACTIONS_SHOWN) {
            let _ =
                writeln!(out, "<li>{}</li>", escape(&describe(position, page.transactions.get(position))));
        }
        if involved.len() > TRANSACTIONS_SHOWN {
            let _ = writeln!(out, "<li>... {} more</li>", involved.len() - TRANSACTIONS_SHOWN);
        }
        out.push_str("</ul>\n</section>\n");
    }
    if all.len() > shown.len() {
        let _ = writeln!(
            out,
            "<p class=\"note\">{} more anomalies in results.json.</p>",
            all.len() - shown.len()
        );
    }
}

/// An anomaly in words, without its name in front.
pub(super) fn explain(anomaly: &Anomaly) -> String {
    match anomaly {
        Anomaly::Cycle(cycle) => cycle.explain(),
        other => other.explain(),
    }
}

/// The anomalies to show, numbered from 1 by their place among all of them: the first `each`
/// cycles and the first `each` others, so that a flood of read anomalies (which the checker lists
/// first) does not hide the cycles.
pub(super) fn selected(anomalies: &[Anomaly], each: usize) -> Vec<(usize, &Anomaly)> {
    let (mut cycles, mut others) = (0, 0);
    let mut shown = Vec::new();
    for (index, anomaly) in anomalies.iter().enumerate() {
        let count = if matches!(anomaly, Anomaly::Cycle(_)) { &mut cycles } else { &mut others };
        if *count < each {
            *count += 1;
            shown.push((index + 1, anomaly));
        }
    }
    shown
}

/// One transaction in words: `T12: process 3, ok, 1.2 s to 1.3 s: append 5 to append:3; read
/// append:3 = [1, 5]`.
fn describe(position: usize, transaction: Option<&Transaction>) -> String {
    let Some(transaction) = transaction else {
        return format!("T{position}: not in the history");
    };
    let steps: Vec<String> = transaction
        .ops
        .iter()
        .map(|op| match op {
            MicroOp::Append(key, element) => format!("append {element} to {}", key_name(*key)),
            MicroOp::Read(key, Some(list)) => format!("read {} = {list:?}", key_name(*key)),
            MicroOp::Read(key, None) if transaction.is_ok() => format!("read {} = nil", key_name(*key)),
            MicroOp::Read(key, None) => format!("read {} = ?", key_name(*key)),
        })
        .collect();
    format!(
        "T{position}: process {}, {}, {} to {}: {}",
        transaction.process,
        svg::outcome_name(transaction.outcome),
        svg::duration(transaction.invoke),
        svg::duration(transaction.complete),
        steps.join("; ")
    )
}
