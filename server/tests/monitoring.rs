//! The monitoring stack under `deploy/`, tested against a live cluster: a `dev-cluster` of three
//! nodes under load, scraped by Debian's real `prometheus` with the shipped configuration and
//! alert rules (targets and interval adjusted); every query of the Grafana dashboard, and every
//! alert expression without its threshold, must return data through Prometheus's HTTP API.
//! `promtool check rules` passes on the rules and `promtool check metrics` on a node's
//! `/metrics`.
//!
//! Needs `prometheus` and `promtool` (Debian's `prometheus` package; ci/test installs it),
//! `redis-cli` and `curl`.
#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)] // real processes on real time

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::free_port;

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("deploy").join(path)
}

/// Stops a child process with SIGTERM when dropped, then waits for it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(program: &str, args: &[&str], input: Option<&str>) -> (bool, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} runs (ci/test installs it): {e}"));
    if let Some(input) = input {
        use std::io::Write;
        child.stdin.take().expect("piped").write_all(input.as_bytes()).expect("write stdin");
    }
    let output = child.wait_with_output().expect("it finishes");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// The result vector of an instant query, from Prometheus's HTTP API.
fn query(prometheus: &str, expr: &str) -> Vec<serde_json::Value> {
    let url = format!("http://{prometheus}/api/v1/query");
    let (ok, body) =
        run("curl", &["-s", "-m", "5", "--data-urlencode", &format!("query={expr}"), &url], None);
    assert!(ok, "curl failed: {body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(body["status"], "success", "{expr}: {body}");
    body["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// An alert's expression without its threshold: what it compares must exist.
fn without_threshold(expr: &str) -> String {
    let expr = expr.trim();
    for op in ["==", "!=", ">=", "<=", ">", "<"] {
        if let Some((left, right)) = expr.rsplit_once(op) {
            if right.trim().parse::<f64>().is_ok() {
                return left.trim().to_owned();
            }
        }
    }
    panic!("the alert expression {expr:?} does not end with `<op> <number>`");
}

fn dashboard_queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(deploy("grafana/redraft.json")).expect("the dashboard");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("an expr").to_owned();
            queries.push((format!("panel {:?}", panel["title"].as_str().unwrap_or("?")), expr));
        }
    }
    queries
}

fn alert_queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(deploy("prometheus/alerts.yml")).expect("the alert rules");
    let mut queries = Vec::new();
    let mut name = String::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(alert) = line.strip_prefix("- alert:") {
            name = alert.trim().to_owned();
        } else if let Some(expr) = line.strip_prefix("expr:") {
            queries.push((format!("alert {name}"), without_threshold(expr)));
        }
    }
    queries
}

#[test]
fn every_dashboard_query_and_alert_expression_returns_data_from_a_live_cluster() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, text) =
        run("promtool", &["check", "rules", deploy("prometheus/alerts.yml").to_str().expect("utf-8")], None);
    assert!(ok, "promtool check rules: {text}");

    // Node N: Redis on BASE+N-1, HTTP on BASE+1000+N-1. maxmemory and frequent snapshots come
    // from the environment the nodes inherit, so that the memory alert and the snapshot panel
    // have data.
    let base =
        common::free_dev_cluster_base(40_000 + u16::try_from(std::process::id() % 5000).expect("small"));
    let _cluster = Running(
        Command::new(env!("CARGO_BIN_EXE_redraft-server"))
            .args(["dev-cluster", "--base-port", &base.to_string(), "--dir"])
            .arg(dir.path().join("cluster"))
            .env("REDRAFT_MAXMEMORY", "1073741824")
            .env("REDRAFT_SNAPSHOT_ENTRY_COUNT", "100")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("cluster.log")).expect("a log file"))
            .spawn()
            .expect("redraft-server runs"),
    );
    let port = base.to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while run("redis-cli", &["-p", &port, "SET", "ready", "1"], None).1.trim() != "OK" {
        let log = || std::fs::read_to_string(dir.path().join("cluster.log")).unwrap_or_default();
        assert!(Instant::now() < deadline, "the cluster never took a write:\n{}", log());
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut load = String::new();
    for i in 0..500 {
        load.push_str(&format!("SET key:{i} value-{i}\nGET key:{i}\n"));
    }
    load.push_str("INCR ready-not-a-number\nSET ready-not-a-number x\nINCR ready-not-a-number\n");
    let (ok, text) = run("redis-cli", &["-p", &port], Some(&load));
    assert!(ok && text.contains("ERR value is not an integer"), "{text}");

    let node_http = |n: u16| format!("127.0.0.1:{}", base + 1000 + n - 1);
    let (ok, metrics) = run("curl", &["-s", "-m", "5", &format!("http://{}/metrics", node_http(1))], None);
    assert!(ok && metrics.contains("redraft_raft_term"), "{metrics}");
    let (ok, text) = run("promtool", &["check", "metrics"], Some(&metrics));
    assert!(ok, "promtool check metrics: {text}");

    // The shipped configuration, scraping this cluster every second.
    let config = std::fs::read_to_string(deploy("prometheus/prometheus.yml")).expect("the config");
    let targets: Vec<String> = (1..=3).map(|n| format!("\"{}\"", node_http(n))).collect();
    let config = config
        .replace("\"127.0.0.1:7379\", \"127.0.0.1:7380\", \"127.0.0.1:7381\"", &targets.join(", "))
        .replace("scrape_interval: 5s", "scrape_interval: 1s");
    assert!(config.contains(&targets[0]), "the shipped config lists the dev-cluster's ports");
    std::fs::write(dir.path().join("prometheus.yml"), config).expect("write");
    std::fs::copy(deploy("prometheus/alerts.yml"), dir.path().join("alerts.yml")).expect("copy");
    let prometheus = format!("127.0.0.1:{}", free_port());
    let _prometheus = Running(
        Command::new("prometheus")
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
            .arg(format!("--web.listen-address={prometheus}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).expect("a log file"))
            .spawn()
            .expect("prometheus runs (apt-get install prometheus; ci/test installs it)"),
    );

    let ready = format!("http://{prometheus}/-/ready");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !run("curl", &["-sf", "-m", "2", &ready], None).0 {
        let log = || std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
        assert!(Instant::now() < deadline, "prometheus never became ready:\n{}", log());
        std::thread::sleep(Duration::from_millis(200));
    }
    let queries: Vec<(String, String)> = dashboard_queries().into_iter().chain(alert_queries()).collect();
    assert!(queries.len() >= 20, "{queries:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let empty: Vec<&(String, String)> =
            queries.iter().filter(|(_, expr)| query(&prometheus, expr).is_empty()).collect();
        if empty.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
            panic!("queries without data after 60 s: {empty:#?}\nprometheus log:\n{log}");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    // Every node was scraped, and a leader is known to all.
    let up = query(&prometheus, "up{job=\"redraft\"} == 1");
    assert_eq!(up.len(), 3, "{up:?}");
    let leaders = query(&prometheus, "redraft_raft_is_leader == 1");
    assert_eq!(leaders.len(), 1, "one leader: {leaders:?}");
}
