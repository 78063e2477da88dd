//! Reports drawn from hand-built histories: the page must outline exactly the checker's evidence,
//! every SVG must be well-formed XML, and nemesis faults must be shaded when the history has them.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::History;
use jepsen::{
    generate_history, pair_operations, Budget, CheckResult, GeneratorConfig, ModelKind, NemesisEvent, OpType,
    Operation, Report, Verdict,
};
use serde_json::{json, Value};

/// A stale read on `x` (write 1, write 2, read 1: evidence at op indexes 0, 2 and 4), with a
/// failed write and a never-answered read on `x` that are not evidence, and a valid key `y`.
fn stale_read() -> History {
    let mut h = History::new();
    h.wrote(0, "x", json!(1))
        .wrote(0, "x", json!(2))
        .saw(1, "x", json!(1))
        .write(2, "x", json!(3))
        .fail(2)
        .wrote(0, "y", json!(1))
        .read(3, "x");
    h
}

/// A partition from 25 to 45 ns, recorded twice each way as Jepsen does, and a clock skew.
fn partition() -> Vec<NemesisEvent> {
    let event = |time: u64, f: &str| NemesisEvent {
        index: 1000 + time,
        time,
        kind: OpType::Info,
        f: f.to_owned(),
        value: Value::Null,
    };
    vec![
        event(25, "start-partition"),
        event(27, "start-partition"),
        event(45, "stop-partition"),
        event(46, "stop-partition"),
        event(70, "clock-skew"),
    ]
}

fn checked(h: &History) -> (Vec<Operation>, CheckResult) {
    let operations = pair_operations(&h.ops).expect("test histories are well formed");
    let result = jepsen::check_operations(&operations, ModelKind::Register, &Budget::default())
        .expect("test histories fit the model");
    (operations, result)
}

fn parse(svg: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(svg).unwrap_or_else(|error| panic!("not well-formed XML: {error}\n{svg}"))
}

/// Elements named `name` whose `class` attribute is exactly `class`.
fn count(document: &roxmltree::Document<'_>, name: &str, class: &str) -> usize {
    document
        .descendants()
        .filter(|node| node.has_tag_name(name) && node.attribute("class") == Some(class))
        .count()
}

/// The `<svg>` elements embedded in the page, in order.
fn embedded_svgs(html: &str) -> Vec<&str> {
    html.match_indices("<svg ")
        .map(|(start, _)| {
            let end = html[start..].find("</svg>").expect("every <svg> is closed") + start + "</svg>".len();
            &html[start..end]
        })
        .collect()
}

#[test]
fn page_outlines_exactly_the_evidence_of_a_stale_read() {
    // The timeline in the page marks the three evidence operations and no other; the failed
    // write and the pending read are drawn but not marked.
    let h = stale_read();
    let (operations, result) = checked(&h);
    assert_eq!(result.verdict, Verdict::Invalid);
    let html = Report::new("stale-read.jsonl", &operations, &[], &result).html();
    assert!(html.contains(r#"<p class="verdict invalid">invalid</p>"#), "{html}");
    assert!(html.contains(r##"<tr class="invalid"><td><a href="#violation-1">x</a></td>"##), "{html}");
    assert!(html.contains(r#"<tr class="valid"><td>y</td>"#), "{html}");

    let svgs = embedded_svgs(&html);
    let timeline = parse(svgs[0]);
    let marked = |class: &str| -> Vec<(String, String)> {
        timeline
            .descendants()
            .filter(|node| node.has_tag_name("g") && node.attribute("class") == Some(class))
            .map(|node| {
                let index = node.attribute("data-invoke-index").expect("bars carry their op index");
                let kind = node.attribute("data-type").expect("bars carry their type");
                (index.to_owned(), kind.to_owned())
            })
            .collect()
    };
    let evidence = marked("op evidence");
    assert_eq!(
        evidence,
        vec![("0".into(), "ok".into()), ("2".into(), "ok".into()), ("4".into(), "ok".into())]
    );
    assert_eq!(
        marked("op"),
        vec![("6".to_owned(), "fail".to_owned()), ("10".to_owned(), "pending".to_owned())]
    );
    // The labels carry f and value, and the key of another key's op is not drawn.
    let labels: BTreeSet<&str> = timeline.descendants().filter_map(|node| node.text()).collect();
    for label in ["write 1", "write 2", "read 1", "write 3"] {
        assert!(labels.contains(label), "{label} missing from {labels:?}");
    }
}

#[test]
fn figures_are_well_formed_and_shade_the_nemesis() {
    // With a partition and a clock skew recorded, each figure has one shaded interval (Jepsen's
    // doubled events merge) and one action line; without them, none.
    let h = stale_read();
    let (operations, result) = checked(&h);
    let nemesis = partition();
    let report = Report::new("stale-read.jsonl", &operations, &nemesis, &result);
    for svg in [report.latency_svg(), report.throughput_svg()] {
        let document = parse(&svg);
        assert_eq!(count(&document, "rect", "nemesis"), 1, "{svg}");
        assert_eq!(count(&document, "line", "nemesis-mark"), 1, "{svg}");
        let shading = document
            .descendants()
            .find(|node| node.attribute("class") == Some("nemesis"))
            .expect("counted above");
        assert_eq!(shading.attribute("data-fault"), Some("partition"));
    }
    // The timeline shades the steps inside the partition too.
    let html = report.html();
    assert_eq!(count(&parse(embedded_svgs(&html)[0]), "rect", "nemesis"), 1);

    let quiet = Report::new("stale-read.jsonl", &operations, &[], &result);
    for svg in [quiet.latency_svg(), quiet.throughput_svg()] {
        let document = parse(&svg);
        assert_eq!(count(&document, "rect", "nemesis"), 0, "{svg}");
        assert_eq!(count(&document, "line", "nemesis-mark"), 0, "{svg}");
    }
}

#[test]
fn latency_points_follow_operations_and_outcomes() {
    // Every completed operation is a point in the series of its f and outcome; the pending read
    // has no latency and no point.
    let h = stale_read();
    let (operations, result) = checked(&h);
    let svg = Report::new("t", &operations, &[], &result).latency_svg();
    let document = parse(&svg);
    let series: Vec<(String, String, usize)> = document
        .descendants()
        .filter(|node| node.attribute("class") == Some("points"))
        .map(|node| {
            let attribute = |name| node.attribute(name).expect("series are labelled").to_owned();
            (attribute("data-f"), attribute("data-type"), node.children().filter(|c| c.is_element()).count())
        })
        .collect();
    assert_eq!(
        series,
        vec![
            ("read".to_owned(), "ok".to_owned(), 1),
            ("write".to_owned(), "ok".to_owned(), 3),
            ("write".to_owned(), "fail".to_owned(), 1),
        ]
    );
}

#[test]
fn large_histories_draw_fewer_points_than_operations() {
    // 20,000 operations over a few milliseconds: points on the same pixel of the same series are
    // drawn once, so the figure has fewer points than operations but still every series.
    let config =
        GeneratorConfig { processes: 10, keys: 10, operations: 20_000, ..GeneratorConfig::default() };
    let ops = generate_history(&config);
    let operations = pair_operations(&ops).expect("generated histories are well formed");
    let result =
        jepsen::check_operations(&operations, ModelKind::Register, &Budget::default()).expect("fits");
    let svg = Report::new("generated", &operations, &[], &result).latency_svg();
    let document = parse(&svg);
    let points: usize = document
        .descendants()
        .filter(|node| node.attribute("class") == Some("points"))
        .map(|node| node.children().filter(|child| child.is_element()).count())
        .sum();
    let completed = operations.iter().filter(|operation| operation.complete_time.is_some()).count();
    assert!(points > 0 && points < completed, "{points} points for {completed} completed operations");
    let series = document.descendants().filter(|node| node.attribute("class") == Some("points")).count();
    assert_eq!(series, 9, "read, write and cas, each ok, info and fail");
}

#[test]
fn write_to_creates_the_directory_and_every_file() {
    // The report directory is created with its parents; the SVG files carry an XML declaration
    // and parse; results.json is the serialized result.
    let h = stale_read();
    let (operations, result) = checked(&h);
    let directory = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-write-to").join("nested");
    let _ = std::fs::remove_dir_all(&directory);
    Report::new("stale-read.jsonl", &operations, &partition(), &result)
        .write_to(&directory)
        .expect("the target tmp dir is writable");
    for name in ["latency.svg", "throughput.svg", "timeline-1.svg"] {
        let text = std::fs::read_to_string(directory.join(name)).expect("written");
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg "), "{name}");
        parse(&text);
    }
    let html = std::fs::read_to_string(directory.join("report.html")).expect("written");
    assert!(html.starts_with("<!DOCTYPE html>"));
    let json = std::fs::read_to_string(directory.join("results.json")).expect("written");
    let back: CheckResult = serde_json::from_str(&json).expect("results.json is a CheckResult");
    assert_eq!(back, result);
}

#[test]
fn valid_history_has_no_violation_section() {
    // Nothing to draw but the figures when every key is valid.
    let mut h = History::new();
    h.wrote(0, "x", json!(1)).saw(1, "x", json!(1));
    let (operations, result) = checked(&h);
    let html = Report::new("valid.jsonl", &operations, &[], &result).html();
    assert!(html.contains(r#"<p class="verdict valid">valid</p>"#));
    assert!(!html.contains("Violations"));
    assert_eq!(embedded_svgs(&html).len(), 2, "latency and throughput only");
}

#[test]
fn untrusted_text_is_escaped() {
    // Keys and values come from the history file; markup in them must not reach the page as
    // markup.
    let mut h = History::new();
    h.wrote(0, "<b>&key", json!("</svg><script>")).saw(1, "<b>&key", json!("x"));
    let (operations, result) = checked(&h);
    let report = Report::new("<title>", &operations, &[], &result);
    let html = report.html();
    assert!(!html.contains("<script>") && !html.contains("<b>"), "{html}");
    for svg in embedded_svgs(&html) {
        parse(svg);
    }
}

#[test]
fn a_run_table_appears_only_when_given_and_is_escaped() {
    // `jepsen run` adds rows on how the history was made; a history checked on its own has none.
    let mut h = History::new();
    h.wrote(0, "x", json!(1)).saw(1, "x", json!(1));
    let (operations, result) = checked(&h);
    let plain = Report::new("valid.jsonl", &operations, &[], &result).html();
    assert!(!plain.contains("<h2>Run</h2>"));
    let rows = vec![
        ("seed".to_owned(), "7".to_owned()),
        ("faults <applied>".to_owned(), "kill 2 & more".to_owned()),
    ];
    let html = Report::new("valid.jsonl", &operations, &[], &result).with_run_summary(rows).html();
    let run = html.find("<h2>Run</h2>").expect("a Run section");
    assert!(run < html.find("<h2>Keys</h2>").expect("a Keys section"), "the Run table comes before the keys");
    assert!(html.contains("<tr><th>seed</th><td>7</td></tr>"), "{html}");
    assert!(html.contains("<tr><th>faults &lt;applied&gt;</th><td>kill 2 &amp; more</td></tr>"), "{html}");
}

#[test]
fn small_report_page_is_stable() {
    // The whole page for the stale read with a partition, pinned byte for byte: any change to
    // the page's format shows up here for review.
    let h = stale_read();
    let (operations, result) = checked(&h);
    let html = Report::new("stale-read.jsonl", &operations, &partition(), &result).html();
    insta::assert_snapshot!(html);
}

#[test]
fn empty_history_still_renders() {
    // No operations and no nemesis: a valid page and two well-formed, empty figures.
    let result =
        jepsen::check_operations(&[], ModelKind::Register, &Budget::default()).expect("nothing to reject");
    let report = Report::new("empty.jsonl", &[], &[], &result);
    assert!(report.html().contains(r#"<p class="verdict valid">valid</p>"#));
    for svg in [report.latency_svg(), report.throughput_svg()] {
        assert!(parse(&svg).descendants().any(|node| node.text() == Some("no completed operations")));
    }
}
