//! The `jepsen check` command, run as a built binary: its exit status says valid (0), invalid (1),
//! unknown (2) or unreadable (3), and its output names the key, the operations or the bad line.

use std::path::PathBuf;
use std::process::{Command, Output};

const WRITE_THEN_READ: &str = r#"{"index":0,"time":10,"process":0,"type":"invoke","f":"write","key":"k7","value":42}
{"index":1,"time":20,"process":0,"type":"ok","f":"write","key":"k7","value":42}
{"index":2,"time":30,"process":1,"type":"invoke","f":"read","key":"k7"}
"#;

fn history_file(name: &str, text: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}.jsonl"));
    std::fs::write(&path, text).expect("the target tmp dir is writable");
    path
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jepsen")).args(args).output().expect("the jepsen binary runs")
}

fn with_read(value: &str) -> String {
    format!(
        "{WRITE_THEN_READ}{{\"index\":3,\"time\":40,\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"key\":\"k7\",\"value\":{value}}}\n"
    )
}

#[test]
fn valid_history_exits_zero() {
    // A read that sees the completed write is valid.
    let path = history_file("valid", &with_read("42"));
    let output = run(&["check", path.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("valid"));
}

#[test]
fn invalid_history_exits_one_and_lists_the_operations() {
    // A lost write: the output names the key and prints both operations, one per line.
    let path = history_file("invalid", &with_read("null"));
    let output = run(&["check", path.to_str().expect("utf-8 path"), "--model", "register"]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("invalid: key k7"), "{stdout}");
    assert!(stdout.lines().any(|line| line.contains("process 0 write 42 ok")), "{stdout}");
    assert!(stdout.lines().any(|line| line.contains("process 1 read null ok")), "{stdout}");
}

#[test]
fn exhausted_budget_exits_two() {
    // One search step is not enough to decide, so the answer is unknown.
    let path = history_file("unknown", &with_read("42"));
    let output = run(&["check", path.to_str().expect("utf-8 path"), "--steps-max", "1"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("unknown"));
}

#[test]
fn malformed_line_exits_three_naming_the_line() {
    // A misspelt type on line 2 is reported with its line number.
    let text = WRITE_THEN_READ.replacen("\"ok\"", "\"okay\"", 1);
    let path = history_file("malformed", &text);
    let output = run(&["check", path.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 2"), "{stderr}");
    assert!(stderr.contains("okay"), "{stderr}");
}

#[test]
fn unpaired_completion_exits_three_naming_the_line() {
    // A completion for a process with nothing pending is reported at its line.
    let text = format!(
        "{WRITE_THEN_READ}{{\"index\":3,\"time\":40,\"process\":5,\"type\":\"ok\",\"f\":\"read\",\"key\":\"k7\"}}\n"
    );
    let path = history_file("unpaired", &text);
    let output = run(&["check", path.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 4"), "{stderr}");
    assert!(stderr.contains("process 5"), "{stderr}");
}

#[test]
fn missing_file_exits_three() {
    // A history that cannot be opened cannot be read.
    let output = run(&["check", "/nonexistent/history.jsonl"]);
    assert_eq!(output.status.code(), Some(3));
}

#[test]
fn counter_model_and_json_output() {
    // The counter model is selectable, and --json prints the structured result.
    let text = r#"{"index":0,"time":1,"process":0,"type":"invoke","f":"incr","key":"c","value":2}
{"index":1,"time":2,"process":0,"type":"ok","f":"incr","key":"c","value":2}
{"index":2,"time":3,"process":0,"type":"invoke","f":"read","key":"c"}
{"index":3,"time":4,"process":0,"type":"ok","f":"read","key":"c","value":2}
"#;
    let path = history_file("counter", text);
    let output = run(&["check", path.to_str().expect("utf-8 path"), "--model", "counter", "--json"]);
    assert_eq!(output.status.code(), Some(0));
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON output");
    assert_eq!(result["verdict"], "valid");
    assert_eq!(result["model"], "counter");
}

#[test]
fn bad_arguments_exit_sixty_four_not_two() {
    // A usage error must not look like an unknown verdict.
    let output = run(&["check"]);
    assert_eq!(output.status.code(), Some(64));
}

#[test]
fn report_flag_writes_the_report_and_keeps_the_exit_status() {
    // An invalid history with nemesis lines: check still exits 1, accepts the nemesis lines, and
    // writes the four report files, results.json being exactly what --json prints.
    let text = format!(
        "{{\"index\":10,\"time\":5,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"start-partition\"}}\n{}{{\"index\":11,\"time\":50,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"stop-partition\",\"value\":\"healed\"}}\n",
        with_read("null")
    );
    let path = history_file("report", &text);
    let directory = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-report");
    let _ = std::fs::remove_dir_all(&directory);
    let history = path.to_str().expect("utf-8 path");
    let output = run(&["check", history, "--report", directory.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("invalid: key k7"));
    for name in ["report.html", "latency.svg", "throughput.svg", "timeline-1.svg", "results.json"] {
        assert!(directory.join(name).is_file(), "{name} not written");
    }
    let latency = std::fs::read_to_string(directory.join("latency.svg")).expect("written");
    assert!(latency.contains(r#"<rect class="nemesis" data-fault="partition""#), "{latency}");

    let json = run(&["check", history, "--json"]);
    assert_eq!(json.status.code(), Some(1));
    let written = std::fs::read(directory.join("results.json")).expect("written");
    assert_eq!(String::from_utf8_lossy(&json.stdout), String::from_utf8_lossy(&written));
}

#[test]
fn unwritable_report_directory_exits_seventy_four_after_the_verdict() {
    // The verdict is printed; the report cannot be, and the exit status says so.
    let path = history_file("report-unwritable", &with_read("42"));
    let blocker = history_file("report-blocker", "not a directory");
    let directory = blocker.join("report");
    let output = run(&[
        "check",
        path.to_str().expect("utf-8 path"),
        "--report",
        directory.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(output.status.code(), Some(74));
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("valid"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot create the report directory"), "{stderr}");
}
