//! The performance figures of a report, as standalone SVG: latency of every completed operation
//! over time, and completed operations per second, both with the nemesis's faults shaded behind
//! them as in Jepsen's `jepsen.checker.perf`. The operation timelines of violations are drawn in
//! [`crate::timeline`]; the page that holds everything in [`crate::report`].

use std::collections::HashSet;
use std::fmt::Write as _;

use crate::history::OpFunction;
use crate::nemesis::NemesisTimeline;
use crate::operation::{Operation, Outcome};
use crate::svg::{self, escape, num, Scale, TimeUnit};

/// What both figures draw from.
pub(crate) struct PlotData<'a> {
    pub(crate) operations: &'a [Operation],
    pub(crate) nemesis: &'a NemesisTimeline,
    /// The earliest and latest time in the history, client or nemesis, in nanoseconds.
    pub(crate) start_ns: u64,
    pub(crate) end_ns: u64,
}

/// The size and margins of a figure; the plot area is what the margins leave.
const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 440.0;
const LEFT: f64 = 72.0;
/// Room for the legend.
const RIGHT: f64 = 190.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 48.0;

/// Every operation a figure may show, in drawing order; colours come from [`svg::function_colour`].
const FUNCTIONS: [OpFunction; 4] = [OpFunction::Read, OpFunction::Write, OpFunction::Cas, OpFunction::Incr];
/// Outcomes of completed operations in drawing order: rarer kinds are drawn last, on top.
const OUTCOMES: [Outcome; 3] = [Outcome::Ok, Outcome::Info, Outcome::Fail];

/// How many buckets the throughput figure aims for; the bucket width is the round number of
/// nanoseconds nearest `span / THROUGHPUT_BUCKETS`.
const THROUGHPUT_BUCKETS: usize = 100;

/// Latency of every completed operation against its invocation time, on a log scale in
/// milliseconds. Points that would land on the same pixel as an earlier point of the same series
/// are drawn once, which keeps a 100,000-operation figure small without hiding any outlier.
pub(crate) fn latency_svg(data: &PlotData<'_>) -> String {
    let mut out = String::new();
    svg::open(&mut out, WIDTH, HEIGHT, "latency of completed operations over time");
    let x = time_scale(data);

    let latency_ms = |operation: &Operation| -> Option<f64> {
        let complete = operation.complete_time?;
        Some(complete.saturating_sub(operation.invoke_time) as f64 / 1e6)
    };
    let completed = || data.operations.iter().filter(|operation| operation.outcome != Outcome::Pending);
    let positive = completed().filter_map(latency_ms).filter(|&ms| ms > 0.0);
    let (min_ms, max_ms) =
        positive.fold((f64::INFINITY, 0.0f64), |(low, high), ms| (low.min(ms), high.max(ms)));
    // Whole decades around the data, the top one strictly above the largest latency so timeouts
    // (often a round number) are not drawn on the frame. No positive latency gives 1 µs to 1 ms.
    let low_decade = if min_ms.is_finite() { min_ms.log10().floor() as i32 } else { -3 };
    let high_decade = if max_ms > 0.0 { (max_ms.log10().floor() as i32 + 1).max(low_decade + 1) } else { 0 };
    let y = Scale { domain: (f64::from(low_decade), f64::from(high_decade)), range: (HEIGHT - BOTTOM, TOP) };

    title(&mut out, "Latency of completed operations (log scale; zero is drawn at the bottom)");
    draw_nemesis(&mut out, data, &x);
    for decade in low_decade..=high_decade {
        let py = y.map(f64::from(decade));
        let label = if decade < 0 {
            format!("{:.*}", decade.unsigned_abs() as usize, 10f64.powi(decade))
        } else {
            format!("{}", 10u64.pow(decade.unsigned_abs()))
        };
        grid_line_y(&mut out, py, &label);
    }
    axis_label_y(&mut out, "latency (ms)");
    draw_time_axis(&mut out, data, &x);

    let mut drawn: HashSet<(usize, i64, i64)> = HashSet::new();
    let mut present_functions = [false; FUNCTIONS.len()];
    let mut present_outcomes = [false; OUTCOMES.len()];
    for (outcome_rank, &outcome) in OUTCOMES.iter().enumerate() {
        for (function_rank, &f) in FUNCTIONS.iter().enumerate() {
            let series = outcome_rank * FUNCTIONS.len() + function_rank;
            let mut points = String::new();
            for operation in completed().filter(|operation| operation.f == f && operation.outcome == outcome)
            {
                let Some(ms) = latency_ms(operation) else { continue };
                let px = x.map(operation.invoke_time as f64);
                let log = if ms > 0.0 { ms.log10() } else { f64::from(low_decade) };
                let py = y.map(log.max(f64::from(low_decade)));
                if !drawn.insert((series, px.round() as i64, py.round() as i64)) {
                    continue;
                }
                marker(&mut points, outcome, px, py);
            }
            if points.is_empty() {
                continue;
            }
            present_functions[function_rank] = true;
            present_outcomes[outcome_rank] = true;
            let colour = svg::function_colour(f);
            let paint = match outcome {
                Outcome::Ok => format!(r#"fill="{colour}""#),
                _ => format!(r#"fill="none" stroke="{colour}" stroke-width="1.2""#),
            };
            let _ = writeln!(
                out,
                r#"<g class="points" data-f="{f}" data-type="{}" {paint}>{points}</g>"#,
                svg::outcome_name(outcome)
            );
        }
    }
    finish(out, &present_functions, &present_outcomes, data.nemesis, Legend::marker)
}

/// Completed operations per second, by operation and outcome, counted in fixed-width buckets of
/// completion time. The last bucket may be partial and then reads low.
pub(crate) fn throughput_svg(data: &PlotData<'_>) -> String {
    let mut out = String::new();
    svg::open(&mut out, WIDTH, HEIGHT, "completed operations per second over time");
    let x = time_scale(data);
    let span_ns = data.end_ns - data.start_ns;
    let bucket_ns = (svg::nice_step(span_ns as f64, THROUGHPUT_BUCKETS) as u64).max(1);
    let bucket_count = usize::try_from(span_ns / bucket_ns).expect("about THROUGHPUT_BUCKETS buckets") + 1;

    // counts[outcome][function][bucket]
    let mut counts = vec![vec![vec![0u64; bucket_count]; FUNCTIONS.len()]; OUTCOMES.len()];
    for operation in data.operations {
        let (Some(outcome_rank), Some(complete)) =
            (OUTCOMES.iter().position(|&o| o == operation.outcome), operation.complete_time)
        else {
            continue;
        };
        let function_rank =
            FUNCTIONS.iter().position(|&f| f == operation.f).expect("FUNCTIONS lists every f");
        let bucket = usize::try_from((complete.saturating_sub(data.start_ns)) / bucket_ns)
            .expect("within the span")
            .min(bucket_count - 1);
        counts[outcome_rank][function_rank][bucket] += 1;
    }
    let per_second = 1e9 / bucket_ns as f64;
    let max_rate = counts.iter().flatten().flatten().copied().max().unwrap_or(0) as f64 * per_second;
    let step = svg::nice_step(max_rate.max(1.0), 5);
    let y_max = (max_rate / step).ceil().max(1.0) * step;
    let y = Scale { domain: (0.0, y_max), range: (HEIGHT - BOTTOM, TOP) };

    title(&mut out, &format!("Completed operations per second, in buckets of {}", svg::duration(bucket_ns)));
    draw_nemesis(&mut out, data, &x);
    for tick in svg::ticks(0.0, y_max, 5) {
        grid_line_y(&mut out, y.map(tick), &si(tick));
    }
    axis_label_y(&mut out, "operations/s");
    draw_time_axis(&mut out, data, &x);

    let mut present_functions = [false; FUNCTIONS.len()];
    let mut present_outcomes = [false; OUTCOMES.len()];
    for (outcome_rank, &outcome) in OUTCOMES.iter().enumerate() {
        for (function_rank, &f) in FUNCTIONS.iter().enumerate() {
            let series = &counts[outcome_rank][function_rank];
            if series.iter().all(|&count| count == 0) {
                continue;
            }
            present_functions[function_rank] = true;
            present_outcomes[outcome_rank] = true;
            let points: Vec<String> = series
                .iter()
                .enumerate()
                .map(|(bucket, &count)| {
                    let middle = data.start_ns as f64 + (bucket as f64 + 0.5) * bucket_ns as f64;
                    format!("{},{}", num(x.map(middle)), num(y.map(count as f64 * per_second)))
                })
                .collect();
            let _ = writeln!(
                out,
                r#"<polyline class="rate" data-f="{f}" data-type="{}" fill="none" stroke="{}" stroke-width="1.5"{} points="{}"/>"#,
                svg::outcome_name(outcome),
                svg::function_colour(f),
                dash(outcome),
                points.join(" ")
            );
        }
    }
    finish(out, &present_functions, &present_outcomes, data.nemesis, Legend::line)
}

fn time_scale(data: &PlotData<'_>) -> Scale {
    Scale { domain: (data.start_ns as f64, data.end_ns as f64), range: (LEFT, WIDTH - RIGHT) }
}

fn title(out: &mut String, text: &str) {
    let _ = writeln!(
        out,
        r#"<text x="{}" y="18" font-size="13" font-weight="bold">{}</text>"#,
        num(LEFT),
        escape(text)
    );
}

fn no_data(out: &mut String, text: &str) {
    let _ = writeln!(
        out,
        r##"<text x="{}" y="{}" text-anchor="middle" fill="#666">{}</text>"##,
        num((LEFT + WIDTH - RIGHT) / 2.0),
        num((TOP + HEIGHT - BOTTOM) / 2.0),
        escape(text)
    );
}

/// A horizontal grid line with its label on the left.
fn grid_line_y(out: &mut String, py: f64, label: &str) {
    let _ = writeln!(
        out,
        r##"<line x1="{l}" x2="{r}" y1="{y}" y2="{y}" stroke="#ddd"/><text x="{tx}" y="{ty}" text-anchor="end">{label}</text>"##,
        l = num(LEFT),
        r = num(WIDTH - RIGHT),
        y = num(py),
        tx = num(LEFT - 6.0),
        ty = num(py + 4.0),
        label = escape(label),
    );
}

fn axis_label_y(out: &mut String, text: &str) {
    let middle = (TOP + HEIGHT - BOTTOM) / 2.0;
    let _ = writeln!(
        out,
        r#"<text transform="translate(16 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
        num(middle),
        escape(text)
    );
}

/// The time axis along the bottom, in a unit that suits the history's length.
fn draw_time_axis(out: &mut String, data: &PlotData<'_>, x: &Scale) {
    let bottom = HEIGHT - BOTTOM;
    let _ = writeln!(
        out,
        r##"<line x1="{}" x2="{}" y1="{b}" y2="{b}" stroke="#333"/><line x1="{l}" x2="{l}" y1="{}" y2="{b}" stroke="#333"/>"##,
        num(LEFT),
        num(WIDTH - RIGHT),
        num(TOP),
        b = num(bottom),
        l = num(LEFT),
    );
    let unit = TimeUnit::for_span(data.end_ns - data.start_ns);
    let (low, high) = (unit.convert(data.start_ns), unit.convert(data.end_ns));
    let step = svg::nice_step(high - low, 8);
    for tick in svg::ticks(low, high, 8) {
        let px = x.map(tick * unit.ns);
        let _ = writeln!(
            out,
            r##"<line x1="{x}" x2="{x}" y1="{b}" y2="{}" stroke="#333"/><text x="{x}" y="{}" text-anchor="middle">{}</text>"##,
            num(bottom + 4.0),
            num(bottom + 16.0),
            svg::tick_label(tick, step),
            x = num(px),
            b = num(bottom),
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">time ({})</text>"#,
        num((LEFT + WIDTH - RIGHT) / 2.0),
        num(HEIGHT - 10.0),
        unit.name
    );
}

/// Shades each fault interval across the plot area and draws instantaneous actions as lines.
fn draw_nemesis(out: &mut String, data: &PlotData<'_>, x: &Scale) {
    let faults = data.nemesis.faults();
    let clamp = |time: u64| x.map(time.clamp(data.start_ns, data.end_ns) as f64);
    for interval in &data.nemesis.intervals {
        let rank =
            faults.iter().position(|&fault| fault == interval.fault).expect("faults lists every fault");
        let (x0, x1) = (clamp(interval.start_time), clamp(interval.stop_time.unwrap_or(data.end_ns)));
        let until = match interval.stop_time {
            Some(stop) => format!("to {stop} ns"),
            None => "to the end of the history".to_owned(),
        };
        let _ = writeln!(
            out,
            r#"<rect class="nemesis" data-fault="{fault}" x="{}" y="{}" width="{}" height="{}" fill="{}" fill-opacity="0.45"><title>{fault} from {} ns {until}</title></rect>"#,
            num(x0),
            num(TOP),
            num((x1 - x0).max(1.0)),
            num(HEIGHT - BOTTOM - TOP),
            svg::fault_colour(rank),
            interval.start_time,
            fault = escape(&interval.fault),
        );
    }
    for mark in &data.nemesis.marks {
        let px = clamp(mark.time);
        let _ = writeln!(
            out,
            r##"<line class="nemesis-mark" x1="{x}" x2="{x}" y1="{}" y2="{}" stroke="#555" stroke-dasharray="3 3"><title>{f} at {} ns</title></line><text x="{}" y="{}" font-size="9" fill="#555">{f}</text>"##,
            num(TOP),
            num(HEIGHT - BOTTOM),
            mark.time,
            num(px + 3.0),
            num(TOP + 10.0),
            f = escape(&mark.f),
            x = num(px),
        );
    }
}

/// Appends the marker of one latency point: a dot for `ok`, a hollow diamond for `info` (the
/// client gave up; the latency is how long it waited), a cross for `fail`.
fn marker(out: &mut String, outcome: Outcome, px: f64, py: f64) {
    let _ = match outcome {
        Outcome::Ok => write!(out, r#"<circle cx="{}" cy="{}" r="1.8"/>"#, num(px), num(py)),
        Outcome::Info | Outcome::Pending => {
            write!(out, r#"<path d="M{} {}l3 3l-3 3l-3-3z"/>"#, num(px), num(py - 3.0))
        }
        Outcome::Fail => write!(out, r#"<path d="M{} {}l5 5m0-5l-5 5"/>"#, num(px - 2.5), num(py - 2.5)),
    };
}

/// The dash pattern of a throughput line, by outcome.
fn dash(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Ok => "",
        Outcome::Info | Outcome::Pending => r#" stroke-dasharray="2 2""#,
        Outcome::Fail => r#" stroke-dasharray="6 3""#,
    }
}

/// A rate with a metric suffix: 950, 12k, 1.5M, 2G.
fn si(value: f64) -> String {
    let (scaled, suffix) = if value >= 1e9 {
        (value / 1e9, "G")
    } else if value >= 1e6 {
        (value / 1e6, "M")
    } else if value >= 1e3 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    let text = format!("{scaled:.1}");
    format!("{}{suffix}", text.strip_suffix(".0").unwrap_or(&text))
}

/// The legend column at the right of a figure.
struct Legend {
    out: String,
    y: f64,
}

impl Legend {
    const X: f64 = WIDTH - RIGHT + 18.0;

    fn new() -> Self {
        Self { out: String::from("<g class=\"legend\">\n"), y: TOP + 4.0 }
    }

    fn finish(self) -> String {
        self.out + "</g>\n"
    }

    fn heading(&mut self, text: &str) {
        let _ = writeln!(
            self.out,
            r#"<text x="{}" y="{}" font-weight="bold">{}</text>"#,
            num(Self::X),
            num(self.y + 10.0),
            escape(text)
        );
        self.y += 18.0;
    }

    fn entry_text(&mut self, text: &str) {
        let _ = writeln!(
            self.out,
            r#"<text x="{}" y="{}">{}</text>"#,
            num(Self::X + 22.0),
            num(self.y + 10.0),
            escape(text)
        );
        self.y += 16.0;
    }

    fn swatch(&mut self, colour: &str, text: &str) {
        let _ = write!(
            self.out,
            r#"<rect x="{}" y="{}" width="14" height="10" fill="{colour}"/>"#,
            num(Self::X),
            num(self.y + 1.0)
        );
        self.entry_text(text);
    }

    fn marker(&mut self, outcome: Outcome) {
        let paint = match outcome {
            Outcome::Ok => r##"fill="#333""##,
            _ => r##"fill="none" stroke="#333" stroke-width="1.2""##,
        };
        let mut shape = String::new();
        marker(&mut shape, outcome, Self::X + 7.0, self.y + 6.0);
        let _ = write!(self.out, "<g {paint}>{shape}</g>");
        self.entry_text(svg::outcome_name(outcome));
    }

    fn line(&mut self, outcome: Outcome) {
        let _ = write!(
            self.out,
            r##"<line x1="{}" x2="{}" y1="{y}" y2="{y}" stroke="#333" stroke-width="1.5"{}/>"##,
            num(Self::X),
            num(Self::X + 16.0),
            dash(outcome),
            y = num(self.y + 6.0),
        );
        self.entry_text(svg::outcome_name(outcome));
    }

    fn nemesis(&mut self, nemesis: &NemesisTimeline) {
        if nemesis.is_empty() {
            return;
        }
        self.heading("nemesis");
        for (rank, fault) in nemesis.faults().into_iter().enumerate() {
            let _ = write!(
                self.out,
                r#"<rect x="{}" y="{}" width="14" height="10" fill="{}" fill-opacity="0.45"/>"#,
                num(Self::X),
                num(self.y + 1.0),
                svg::fault_colour(rank)
            );
            self.entry_text(fault);
        }
        if !nemesis.marks.is_empty() {
            let _ = write!(
                self.out,
                r##"<line x1="{x}" x2="{x}" y1="{}" y2="{}" stroke="#555" stroke-dasharray="3 3"/>"##,
                num(self.y),
                num(self.y + 12.0),
                x = num(Self::X + 7.0),
            );
            self.entry_text("other action");
        }
    }
}

/// Ends a plot: the empty-plot notice if nothing completed, then the legend of the operations and
/// outcomes present (each outcome drawn by `outcome_key`) and the nemesis faults.
fn finish(
    mut out: String,
    present_functions: &[bool; FUNCTIONS.len()],
    present_outcomes: &[bool; OUTCOMES.len()],
    nemesis: &NemesisTimeline,
    outcome_key: fn(&mut Legend, Outcome),
) -> String {
    if !present_outcomes.contains(&true) {
        no_data(&mut out, "no completed operations");
    }
    let mut legend = Legend::new();
    legend.heading("operation");
    for (rank, &f) in FUNCTIONS.iter().enumerate() {
        if present_functions[rank] {
            legend.swatch(svg::function_colour(f), &f.to_string());
        }
    }
    legend.heading("outcome");
    for (rank, &outcome) in OUTCOMES.iter().enumerate() {
        if present_outcomes[rank] {
            outcome_key(&mut legend, outcome);
        }
    }
    legend.nemesis(nemesis);
    out.push_str(&legend.finish());
    out.push_str("</svg>\n");
    out
}
