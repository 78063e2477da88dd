//! The little SVG a report needs, written by hand: escaping, number formatting, scales, ticks and
//! the colours shared by every figure. Output is plain text with fixed precision, so the same
//! history always gives the same bytes.

use std::fmt::Write as _;

use crate::history::OpFunction;
use crate::operation::Outcome;

/// Escapes text for use in SVG/HTML content and in double-quoted attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // XML 1.0 forbids most control characters even when escaped; JSON strings may hold
            // them, so they become a visible replacement instead of breaking the document.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Formats a coordinate with one decimal, dropping a trailing `.0`.
pub(crate) fn num(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    // -0.0 prints as "-0"; normalise it.
    let rounded = if rounded == 0.0 { 0.0 } else { rounded };
    let mut text = format!("{rounded:.1}");
    if text.ends_with(".0") {
        text.truncate(text.len() - 2);
    }
    text
}

/// Opens an `<svg>` element of the given pixel size. The caller appends content and `</svg>`.
pub(crate) fn open(out: &mut String, width: f64, height: f64, label: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11" role="img" aria-label="{label}">"#,
        w = num(width),
        h = num(height),
        label = escape(label),
    );
    out.push('\n');
}

/// A linear map from a data interval onto a pixel interval.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scale {
    pub(crate) domain: (f64, f64),
    pub(crate) range: (f64, f64),
}

impl Scale {
    pub(crate) fn map(&self, value: f64) -> f64 {
        let (d0, d1) = self.domain;
        let (r0, r1) = self.range;
        if d1 == d0 {
            return (r0 + r1) / 2.0;
        }
        r0 + (value - d0) / (d1 - d0) * (r1 - r0)
    }
}

/// A round step (1, 2 or 5 times a power of ten) near `span / count`.
pub(crate) fn nice_step(span: f64, count: usize) -> f64 {
    if span <= 0.0 || !span.is_finite() {
        return 1.0;
    }
    let raw = span / count.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// Round tick values covering `[low, high]`, about `count` of them.
pub(crate) fn ticks(low: f64, high: f64, count: usize) -> Vec<f64> {
    let step = nice_step(high - low, count);
    let first = (low / step).ceil();
    let last = (high / step).floor();
    if !(first.is_finite() && last.is_finite()) || last < first {
        return vec![low];
    }
    // Rounded to the step's precision, so 3 * 0.05 is 0.15 and not 0.15000000000000002.
    let precision = 10f64.powi((1.0 - step.log10().floor()).max(0.0) as i32);
    // Bounded: the step is at least (high - low) / count / 10, so there are at most ~10 * count.
    (first as i64..=last as i64).map(|i| (i as f64 * step * precision).round() / precision).collect()
}

/// Formats a tick value with as many decimals as its step needs.
pub(crate) fn tick_label(value: f64, step: f64) -> String {
    let decimals = if step >= 1.0 { 0 } else { (-step.log10().floor()) as usize };
    let text = format!("{value:.decimals$}");
    if text.starts_with('-') && text.trim_start_matches(['-', '0', '.']).is_empty() {
        text[1..].to_owned()
    } else {
        text
    }
}

/// A value with up to three decimals and no trailing zeros: `10`, `4.25`, `0.001`.
pub(crate) fn compact(value: f64) -> String {
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

/// The unit a time axis is labelled in, picked so the span reads as a few to a few thousand units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TimeUnit {
    pub(crate) name: &'static str,
    pub(crate) ns: f64,
}

impl TimeUnit {
    pub(crate) fn for_span(span_ns: u64) -> Self {
        match span_ns {
            0..2_000 => TimeUnit { name: "ns", ns: 1.0 },
            2_000..2_000_000 => TimeUnit { name: "µs", ns: 1e3 },
            2_000_000..2_000_000_000 => TimeUnit { name: "ms", ns: 1e6 },
            _ => TimeUnit { name: "s", ns: 1e9 },
        }
    }

    pub(crate) fn convert(self, ns: u64) -> f64 {
        ns as f64 / self.ns
    }
}

/// A duration in the largest unit that keeps it at 1 or more, with up to three decimals:
/// `250 ns`, `1.5 µs`, `12.034 ms`, `3 s`.
pub(crate) fn duration(ns: u64) -> String {
    let unit = match ns {
        0..1_000 => TimeUnit { name: "ns", ns: 1.0 },
        1_000..1_000_000 => TimeUnit { name: "µs", ns: 1e3 },
        1_000_000..1_000_000_000 => TimeUnit { name: "ms", ns: 1e6 },
        _ => TimeUnit { name: "s", ns: 1e9 },
    };
    format!("{} {}", compact(unit.convert(ns)), unit.name)
}

/// The colour of each operation, shared by every figure so a reader learns it once.
pub(crate) fn function_colour(f: OpFunction) -> &'static str {
    match f {
        OpFunction::Read => "#1f77b4",
        OpFunction::Write => "#ff7f0e",
        OpFunction::Cas => "#2ca02c",
        OpFunction::Incr => "#9467bd",
    }
}

/// The fill of an operation's bar on a timeline, by how it ended.
pub(crate) fn outcome_fill(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Ok => "#a6dba0",
        Outcome::Fail => "#f4a582",
        Outcome::Info | Outcome::Pending => "#fee08b",
    }
}

/// The name of an outcome as the history writes it.
pub(crate) fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Ok => "ok",
        Outcome::Fail => "fail",
        Outcome::Info => "info",
        Outcome::Pending => "pending",
    }
}

/// Light fills for nemesis faults, by the fault's order of first appearance; they repeat after
/// six faults, which real runs rarely mix.
pub(crate) fn fault_colour(rank: usize) -> &'static str {
    const COLOURS: [&str; 6] = ["#f4a6a6", "#a6c8f4", "#c9a6f4", "#a6f4c4", "#f4dca6", "#c8c8c8"];
    COLOURS[rank % COLOURS.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_control_characters() {
        // Keys and values are arbitrary JSON strings; none may break the document.
        assert_eq!(escape(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(escape("a\u{1}b"), "a\u{fffd}b");
    }

    #[test]
    fn numbers_have_one_decimal_at_most() {
        // Fixed precision keeps output byte-stable.
        assert_eq!(num(1.0), "1");
        assert_eq!(num(1.26), "1.3");
        assert_eq!(num(-0.01), "0");
    }

    #[test]
    fn ticks_are_round_and_inside_the_range() {
        // 0..1000 in about five steps gives multiples of 200.
        assert_eq!(ticks(0.0, 1000.0, 5), vec![0.0, 200.0, 400.0, 600.0, 800.0, 1000.0]);
        assert_eq!(ticks(0.13, 0.31, 4), vec![0.15, 0.2, 0.25, 0.3]);
        assert_eq!(tick_label(0.15, 0.05), "0.15");
        assert_eq!(TimeUnit::for_span(5_000_000).name, "ms");
        assert_eq!(duration(1_500), "1.5 µs");
        assert_eq!(duration(2_000_000_000), "2 s");
        assert_eq!(duration(0), "0 ns");
        assert_eq!(compact(10.0), "10");
        assert_eq!(compact(4.2504), "4.25");
    }
}
