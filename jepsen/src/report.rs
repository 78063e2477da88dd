//! Reports people would rather look at than read: from a history and the checker's result, a
//! directory holding
//!
//! - `report.html`, one self-contained page (inline CSS and SVG, no script, nothing fetched): the
//!   verdict, how the history was made when the runner says so
//!   ([`Report::with_run_summary`]), a row per key with its verdict, its `ok`/`fail`/`info`/pending counts and the search
//!   steps spent on it; for each invalid key the checker found evidence for, that evidence listed
//!   and drawn on a timeline of the key's operations around it (see [`crate::timeline`]); the two
//!   figures below; and the nemesis's faults;
//! - `latency.svg`: the latency of every completed operation over time, log scale, by operation
//!   and outcome, with the nemesis's faults shaded;
//! - `throughput.svg`: completed operations per second over time, likewise;
//! - `timeline-N.svg`: the timeline of the N-th violation (from 1), as drawn in the page;
//! - `results.json`: the [`CheckResult`] exactly as `jepsen check --json` prints it.
//!
//! Everything is a pure function of its inputs, so the same history gives the same bytes; the
//! time the check took appears only when the caller passes it in.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::checker::{CheckResult, KeyCheck, Verdict};
use crate::history::NemesisEvent;
use crate::nemesis::NemesisTimeline;
use crate::operation::{Operation, Outcome};
use crate::plot::{self, PlotData};
use crate::svg::{self, escape};
use crate::timeline;

/// Rows of the per-key table. Invalid and unknown keys come first, so only valid keys are left
/// out of a history with more keys than this.
const KEY_ROWS_MAX: usize = 200;

/// A report on one checked history. Build it with [`Report::new`], then render the parts or write
/// them all with [`Report::write_to`].
#[derive(Debug, Clone)]
pub struct Report<'a> {
    title: &'a str,
    operations: &'a [Operation],
    nemesis: NemesisTimeline,
    result: &'a CheckResult,
    check_elapsed: Option<Duration>,
    /// Rows describing how the history was made (`jepsen run` fills them), shown under the
    /// summary; empty for a history checked on its own.
    run_rows: Vec<(String, String)>,
    /// The earliest and latest time of any event, client or nemesis, in nanoseconds.
    start_ns: u64,
    end_ns: u64,
}

/// Why a report could not be written. The check itself is unaffected; the caller can only report
/// the path and the system's reason.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The output directory could not be created.
    #[error("cannot create the report directory {}: {source}", path.display())]
    CreateDirectory {
        /// The directory.
        path: PathBuf,
        /// What the system reported.
        #[source]
        source: io::Error,
    },
    /// A file of the report could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the system reported.
        #[source]
        source: io::Error,
    },
}

impl<'a> Report<'a> {
    /// A report titled `title` (the history's file name, say) on `operations`, as paired by
    /// [`crate::pair_operations`], the history's nemesis events, and the result of checking them.
    pub fn new(
        title: &'a str,
        operations: &'a [Operation],
        nemesis: &[NemesisEvent],
        result: &'a CheckResult,
    ) -> Self {
        let times = operations
            .iter()
            .flat_map(|operation| [Some(operation.invoke_time), operation.complete_time])
            .flatten()
            .chain(nemesis.iter().map(|event| event.time));
        let (start_ns, end_ns) =
            times.fold((u64::MAX, 0), |(start, end), time| (start.min(time), end.max(time)));
        Self {
            title,
            operations,
            nemesis: NemesisTimeline::from_events(nemesis),
            result,
            check_elapsed: None,
            run_rows: Vec::new(),
            start_ns: start_ns.min(end_ns),
            end_ns,
        }
    }

    /// Shows how long the check took. Left out by default so that reports are reproducible.
    pub fn with_check_elapsed(mut self, elapsed: Duration) -> Self {
        self.check_elapsed = Some(elapsed);
        self
    }

    /// Adds a table on how the history was made (the run's settings, faults, recovery times),
    /// shown under the summary as name and value rows, in the given order.
    pub fn with_run_summary(mut self, rows: Vec<(String, String)>) -> Self {
        self.run_rows = rows;
        self
    }

    /// Writes `report.html`, `latency.svg`, `throughput.svg`, a `timeline-N.svg` per violation and
    /// `results.json` into `directory`, creating it (and its parents) when missing and replacing
    /// files of those names.
    ///
    /// # Errors
    ///
    /// [`ReportError`] naming the directory or file that could not be created or written.
    pub fn write_to(&self, directory: &Path) -> Result<(), ReportError> {
        std::fs::create_dir_all(directory)
            .map_err(|source| ReportError::CreateDirectory { path: directory.to_owned(), source })?;
        let write = |name: &str, contents: &str| {
            let path = directory.join(name);
            std::fs::write(&path, contents).map_err(|source| ReportError::Write { path, source })
        };
        write("report.html", &self.html())?;
        write("latency.svg", &standalone(&self.latency_svg()))?;
        write("throughput.svg", &standalone(&self.throughput_svg()))?;
        for (number, drawn) in self.timelines().iter().enumerate() {
            write(&format!("timeline-{}.svg", number + 1), &standalone(&drawn.svg))?;
        }
        write("results.json", &results_json(self.result))
    }

    /// The latency figure, as an `<svg>` element.
    pub fn latency_svg(&self) -> String {
        plot::latency_svg(&self.plot_data())
    }

    /// The throughput figure, as an `<svg>` element.
    pub fn throughput_svg(&self) -> String {
        plot::throughput_svg(&self.plot_data())
    }

    /// The whole page.
    pub fn html(&self) -> String {
        let mut out = String::new();
        let verdict = verdict_name(self.result.verdict);
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{verdict}: {title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n<p class=\"verdict {verdict}\">{verdict}</p>\n",
            title = escape(self.title),
        );
        self.summary(&mut out);
        self.run_table(&mut out);
        self.key_table(&mut out);
        self.violations(&mut out);
        out.push_str("<h2>Latency</h2>\n<figure>\n");
        out.push_str(&self.latency_svg());
        out.push_str("</figure>\n<h2>Throughput</h2>\n<figure>\n");
        out.push_str(&self.throughput_svg());
        out.push_str("</figure>\n");
        nemesis_table(&mut out, &self.nemesis);
        out.push_str("</body>\n</html>\n");
        out
    }

    fn plot_data(&self) -> PlotData<'_> {
        PlotData {
            operations: self.operations,
            nemesis: &self.nemesis,
            start_ns: self.start_ns,
            end_ns: self.end_ns,
        }
    }

    fn summary(&self, out: &mut String) {
        let result = self.result;
        let mut counts = Counts::default();
        for operation in self.operations {
            counts.add(operation.outcome);
        }
        out.push_str("<table class=\"summary\">\n");
        let mut row = |name: &str, value: String| {
            let _ = writeln!(out, "<tr><th>{name}</th><td>{value}</td></tr>");
        };
        row("model", result.model.to_string());
        row(
            "operations",
            format!(
                "{} ({} ok, {} fail, {} info, {} pending)",
                self.operations.len(),
                counts.ok,
                counts.fail,
                counts.info,
                counts.pending
            ),
        );
        row(
            "operations searched",
            format!("{} (fails and unanswered reads are dropped)", result.operation_count),
        );
        row(
            "keys",
            format!(
                "{} ({} invalid, {} unknown)",
                result.key_count,
                result.invalid_keys.len(),
                result.unknown_keys.len()
            ),
        );
        row("search steps", result.steps.to_string());
        if let Some(elapsed) = self.check_elapsed {
            let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
            row("check time", svg::duration(nanos));
        }
        row(
            "history",
            format!(
                "{} to {} ({})",
                svg::duration(self.start_ns),
                svg::duration(self.end_ns),
                svg::duration(self.end_ns - self.start_ns)
            ),
        );
        row(
            "nemesis",
            if self.nemesis.is_empty() {
                "none recorded".to_owned()
            } else {
                format!(
                    "{} fault interval{}, {} other action{} (<a href=\"#nemesis\">below</a>)",
                    self.nemesis.intervals.len(),
                    plural(self.nemesis.intervals.len()),
                    self.nemesis.marks.len(),
                    plural(self.nemesis.marks.len())
                )
            },
        );
        out.push_str("</table>\n");
    }

    fn run_table(&self, out: &mut String) {
        if self.run_rows.is_empty() {
            return;
        }
        out.push_str("<h2>Run</h2>\n<table class=\"summary\">\n");
        for (name, value) in &self.run_rows {
            let _ = writeln!(out, "<tr><th>{}</th><td>{}</td></tr>", escape(name), escape(value));
        }
        out.push_str("</table>\n");
    }

    fn key_table(&self, out: &mut String) {
        let mut counts: BTreeMap<Option<&str>, Counts> = BTreeMap::new();
        for operation in self.operations {
            counts.entry(operation.key.as_deref()).or_default().add(operation.outcome);
        }
        let checks: BTreeMap<Option<&str>, &KeyCheck> =
            self.result.keys.iter().map(|check| (check.key.as_deref(), check)).collect();
        let anchors: BTreeMap<Option<&str>, usize> =
            self.result.violations().enumerate().map(|(number, v)| (v.key.as_deref(), number + 1)).collect();
        let verdict_of = |key: Option<&str>| -> Verdict {
            match checks.get(&key) {
                Some(check) => check.verdict,
                // A key whose operations all failed gives the search nothing to reject.
                None if self.result.invalid_keys.iter().any(|k| k.as_deref() == key) => Verdict::Invalid,
                None if self.result.unknown_keys.iter().any(|u| u.key.as_deref() == key) => Verdict::Unknown,
                None => Verdict::Valid,
            }
        };
        let mut rows: Vec<(Verdict, Option<&str>)> =
            counts.keys().map(|&key| (verdict_of(key), key)).collect();
        // Invalid first, then unknown, then valid; key order within each.
        rows.sort_by_key(|&(verdict, key)| (verdict_rank(verdict), key));
        let left_out = rows.len().saturating_sub(KEY_ROWS_MAX);

        out.push_str("<h2>Keys</h2>\n<table class=\"keys\">\n<tr><th>key</th><th>verdict</th><th>ok</th><th>fail</th><th>info</th><th>pending</th><th>searched</th><th>search steps</th></tr>\n");
        for &(verdict, key) in rows.iter().take(KEY_ROWS_MAX) {
            let count = &counts[&key];
            let name = escape(&key_name(key));
            let name = match anchors.get(&key) {
                Some(number) => format!("<a href=\"#violation-{number}\">{name}</a>"),
                None => name,
            };
            let (searched, steps) = checks.get(&key).map_or((String::from("0"), String::from("-")), |c| {
                (c.operation_count.to_string(), c.steps.to_string())
            });
            let _ = writeln!(
                out,
                "<tr class=\"{v}\"><td>{name}</td><td class=\"verdict-cell\">{v}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{searched}</td><td>{steps}</td></tr>",
                count.ok,
                count.fail,
                count.info,
                count.pending,
                v = verdict_name(verdict),
            );
        }
        out.push_str("</table>\n");
        if left_out > 0 {
            let _ = writeln!(
                out,
                "<p class=\"note\">{left_out} more valid key{} not listed.</p>",
                plural(left_out)
            );
        }
    }

    fn timelines(&self) -> Vec<timeline::Timeline> {
        self.result
            .violations()
            .map(|violation| {
                let key = violation.key.as_deref();
                let key_operations: Vec<&Operation> =
                    self.operations.iter().filter(|operation| operation.key.as_deref() == key).collect();
                let evidence: BTreeSet<usize> =
                    violation.operations.iter().map(|operation| operation.invoke_position).collect();
                timeline::draw(&key_name(key), &key_operations, &evidence, &self.nemesis)
            })
            .collect()
    }

    fn violations(&self, out: &mut String) {
        if self.result.invalid_keys.is_empty() {
            return;
        }
        out.push_str("<h2>Violations</h2>\n");
        let timelines = self.timelines();
        for ((number, violation), drawn) in self.result.violations().enumerate().zip(&timelines) {
            let key = escape(&key_name(violation.key.as_deref()));
            let _ = writeln!(
                out,
                "<section id=\"violation-{}\">\n<h3>Key {key}</h3>\n<p>These {} operations cannot be linearized, even if every other operation on the key may take effect at any time after its invocation, or never. {} They are outlined in black below, among {} of the key's {} operations.</p>\n<ol class=\"evidence\">",
                number + 1,
                violation.operations.len(),
                if violation.minimal {
                    "Each of them is needed: treating any one as unknown leaves a linearization."
                } else {
                    "Shrinking stopped early, so some of them may not be needed."
                },
                drawn.shown,
                self.operations.iter().filter(|operation| operation.key == violation.key).count(),
            );
            for operation in &violation.operations {
                let _ = writeln!(out, "<li>{}</li>", escape(&describe(operation)));
            }
            out.push_str("</ol>\n<div class=\"scroll\">\n");
            out.push_str(&drawn.svg);
            out.push_str("</div>\n</section>\n");
        }
        let with_evidence: BTreeSet<Option<&str>> =
            self.result.violations().map(|v| v.key.as_deref()).collect();
        let without: Vec<String> = self
            .result
            .invalid_keys
            .iter()
            .map(Option::as_deref)
            .filter(|key| !with_evidence.contains(key))
            .map(|key| escape(&key_name(key)))
            .collect();
        if !without.is_empty() {
            let _ = writeln!(
                out,
                "<p class=\"note\">Also invalid, without evidence (the checker shrinks at most <code>violations_max</code> keys): {}.</p>",
                without.join(", ")
            );
        }
    }
}

/// The section listing the nemesis's faults and other actions, with its `nemesis` anchor.
pub(crate) fn nemesis_table(out: &mut String, nemesis: &NemesisTimeline) {
    out.push_str("<h2 id=\"nemesis\">Nemesis</h2>\n");
    if nemesis.is_empty() {
        out.push_str("<p class=\"note\">The history records no nemesis events.</p>\n");
        return;
    }
    out.push_str(
        "<table class=\"nemesis\">\n<tr><th>fault or action</th><th>from</th><th>to</th><th>for</th></tr>\n",
    );
    for interval in &nemesis.intervals {
        let (to, length) = match interval.stop_time {
            Some(stop) => (svg::duration(stop), svg::duration(stop - interval.start_time)),
            None => ("end of history".to_owned(), "-".to_owned()),
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{to}</td><td>{length}</td></tr>",
            escape(&interval.fault),
            svg::duration(interval.start_time)
        );
    }
    for mark in &nemesis.marks {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>-</td><td>-</td></tr>",
            escape(&mark.f),
            svg::duration(mark.time)
        );
    }
    out.push_str("</table>\n");
}

/// The result as `jepsen check --json` prints it: pretty JSON and a final newline.
pub fn results_json(result: &CheckResult) -> String {
    let mut text = serde_json::to_string_pretty(result).expect("a CheckResult always serializes");
    text.push('\n');
    text
}

/// Operation counts by outcome.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    ok: usize,
    fail: usize,
    info: usize,
    pending: usize,
}

impl Counts {
    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Fail => self.fail += 1,
            Outcome::Info => self.info += 1,
            Outcome::Pending => self.pending += 1,
        }
    }
}

/// An `<svg>` element as a file of its own.
pub(crate) fn standalone(svg: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{svg}")
}

fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Valid => "valid",
        Verdict::Invalid => "invalid",
        Verdict::Unknown => "unknown",
    }
}

fn verdict_rank(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Invalid => 0,
        Verdict::Unknown => 1,
        Verdict::Valid => 2,
    }
}

fn key_name(key: Option<&str>) -> String {
    key.map_or_else(|| "(none)".to_owned(), str::to_owned)
}

fn plural(count: usize) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

/// One operation of the evidence, in the words the `check` command prints.
fn describe(operation: &Operation) -> String {
    let when = match (operation.complete_index, operation.complete_time) {
        (Some(index), Some(time)) => format!(
            "op index {} to {index}, time {} to {}",
            operation.invoke_index,
            svg::duration(operation.invoke_time),
            svg::duration(time)
        ),
        _ => format!(
            "op index {}, time {}, never completed",
            operation.invoke_index,
            svg::duration(operation.invoke_time)
        ),
    };
    format!(
        "process {} {} {} {} ({when})",
        operation.process,
        operation.f,
        operation.value,
        svg::outcome_name(operation.outcome)
    )
}

/// The pages' style sheet, shared with the append workload's report.
pub(crate) const STYLE: &str = "
body { font-family: sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.4em; word-break: break-all; }
.verdict { display: inline-block; font-size: 1.6em; font-weight: bold; padding: 0.2em 0.8em; border-radius: 0.3em; }
.verdict.valid { background: #a6dba0; }
.verdict.invalid { background: #f4a582; }
.verdict.unknown { background: #fee08b; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
table.keys td:nth-child(n+3) { text-align: right; font-variant-numeric: tabular-nums; }
tr.invalid .verdict-cell { background: #f4a582; font-weight: bold; }
tr.unknown .verdict-cell { background: #fee08b; }
.note { color: #555; }
ol.evidence { font-family: monospace; }
.scroll { overflow-x: auto; border: 1px solid #ddd; }
figure { margin: 0; overflow-x: auto; }
";
