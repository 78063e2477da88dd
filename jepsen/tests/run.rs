//! `jepsen run` against real `redraft-server` processes, run as the built command: a short run
//! of three nodes under partitions and kills comes out valid and leaves its history, results,
//! report, plots and node logs; so does a short run of list-append transactions, whose checker
//! finds no anomaly; and an interrupted run stops every process it started.
//!
//! The server is the workspace's debug binary, which `cargo test --workspace` builds for the
//! server's own tests (`target/debug/redraft-server`); `REDRAFT_SERVER_BIN` names another. When
//! neither exists (`cargo test -p jepsen` on a fresh checkout) the test builds one with cargo into
//! a target directory of its own, as the workspace's is locked by the cargo running the test.
#![cfg(not(madsim))]

use std::io::BufRead;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("REDRAFT_SERVER_BIN") {
        return PathBuf::from(path);
    }
    // This test runs from target/debug/deps/; the binaries are in target/debug/.
    let exe = std::env::current_exe().expect("the test knows its own path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("the test is in target/<profile>/deps");
    let built = profile_dir.join("redraft-server");
    if built.is_file() {
        return built;
    }
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("server-build");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    eprintln!("building redraft-server into {}", target.display());
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "-p", "redraft-server", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building redraft-server failed");
    target.join("debug").join("redraft-server")
}

/// A fresh store directory for one test.
fn store(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("jepsen-run-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn jepsen_run(store: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jepsen"));
    command.arg("run").args(args).arg("--server-bin").arg(server_binary()).arg("--store").arg(store);
    command
}

/// Whether something still listens at `addr`.
fn listening(addr: &str) -> bool {
    let addr = addr.parse().expect("host:port");
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
}

#[test]
fn a_short_run_under_partitions_and_kills_is_valid_and_leaves_its_report() {
    // Thirty seconds of registers on three nodes with a fault every five seconds; the nemesis
    // takes every chosen kind of fault once before repeating, so both kinds happen.
    let store = store("short");
    let output = jepsen_run(
        &store,
        &[
            "--nodes",
            "3",
            "--time-limit",
            "30",
            "--nemesis",
            "partition,kill",
            "--nemesis-interval",
            "5",
            "--rate",
            "100",
            "--concurrency",
            "6",
            "--seed",
            "7",
        ],
    )
    .output()
    .expect("jepsen runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.starts_with("valid: "), "{stdout}");
    assert!(stderr.contains("seed 7"), "the seed is printed: {stderr}");

    let dir = store.join("latest").canonicalize().expect("store/latest points at the run");
    assert!(dir.starts_with(store.join("register-partition+kill").canonicalize().expect("the test's dir")));
    for file in ["history.jsonl", "results.json", "report.html", "latency.svg", "throughput.svg", "run.log"] {
        assert!(dir.join(file).is_file(), "{file} is missing from {}", dir.display());
    }
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).expect("results.json"))
            .expect("results.json is JSON");
    assert_eq!(results["verdict"], "valid");
    let run = &results["run"];
    assert_eq!(run["seed"], 7);
    assert_eq!(run["recovered"], true, "{run}");
    assert!(run["operations"]["ok"].as_u64().expect("a count") > 0, "{run}");
    assert!(run["faults_applied"]["partition"].as_u64().unwrap_or(0) >= 1, "{run}");
    assert!(run["faults_applied"]["kill"].as_u64().unwrap_or(0) >= 1, "{run}");
    assert!(run["final_heal"]["all_nodes_serving_ms"].is_number(), "{run}");

    // The proxies recognised every sender in the real server's frames, and a partition held
    // some of their connections.
    let proxies = run["proxies"].as_object().expect("proxy counts");
    let mut held = 0;
    for (node, stats) in proxies {
        let senders = stats["connections_from"].as_object().expect("by sender");
        assert_eq!(senders.len(), 2, "{node} saw connections from both other nodes: {stats}");
        assert_eq!(stats["malformed"], 0, "{node}: {stats}");
        held += stats["held"].as_u64().expect("a count");
    }
    assert!(held > 0, "a partition dropped some requests: {proxies:?}");

    // The history has the faults in it, and reads back for `jepsen check`.
    let history = std::fs::File::open(dir.join("history.jsonl")).expect("history.jsonl");
    let events = jepsen::read_events(std::io::BufReader::new(history)).expect("the history reads back");
    let actions: Vec<&str> = events
        .iter()
        .filter_map(|event| match event {
            jepsen::Event::Nemesis(nemesis) => Some(nemesis.f.as_str()),
            jepsen::Event::Op(_) => None,
        })
        .collect();
    for action in ["start-partition", "stop-partition", "kill", "start", "heal"] {
        assert!(actions.contains(&action), "no {action} in {actions:?}");
    }

    // Every node has its log, a killed node's log shows its restart, and nothing still listens.
    let mut restarts = 0;
    for (node, addresses) in run["addresses"].as_object().expect("addresses") {
        let log = std::fs::read_to_string(dir.join("nodes").join(node).join("server.log")).expect("a log");
        assert!(log.contains("listening for Redis clients"), "{node}'s log shows its start");
        restarts += log.matches("restarted after SIGKILL").count();
        let resp = addresses["resp"].as_str().expect("an address");
        assert!(!listening(resp), "{node} still listens at {resp} after the run");
    }
    assert!(restarts >= 1, "a killed node was started again");
}

#[test]
fn a_short_append_run_under_partitions_kills_and_disk_rot_finds_no_anomaly() {
    // Fifteen seconds of list-append transactions (MULTI/EXEC, pipelined or not, and single
    // commands) on three nodes with a fault every four seconds: a partition, a kill, and a kill
    // with a bit flipped in the node's files at rest, each once.
    let store = store("append");
    let output = jepsen_run(
        &store,
        &[
            "--workload",
            "append",
            "--nodes",
            "3",
            "--time-limit",
            "15",
            "--nemesis",
            "partition,kill,corrupt",
            "--nemesis-interval",
            "4",
            "--rate",
            "100",
            "--concurrency",
            "6",
            "--seed",
            "11",
        ],
    )
    .output()
    .expect("jepsen runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.starts_with("valid: "), "{stdout}");

    let dir = store.join("latest").canonicalize().expect("store/latest points at the run");
    assert!(
        dir.starts_with(store.join("append-partition+kill+corrupt").canonicalize().expect("the test's dir"))
    );
    for file in
        ["history.jsonl", "transactions.jsonl", "results.json", "report.html", "latency.svg", "run.log"]
    {
        assert!(dir.join(file).is_file(), "{file} is missing from {}", dir.display());
    }
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).expect("results.json"))
            .expect("results.json is JSON");
    assert_eq!(results["verdict"], "valid", "{}", results["anomaly_counts"]);
    assert_eq!(results["anomalies"], serde_json::json!([]));
    // About 1,500 transactions are sent; most end ok, and about half of them read.
    assert!(results["ok_with_reads"].as_u64().expect("a count") >= 100, "{results}");
    assert!(results["ok_appends"].as_u64().expect("a count") >= 100, "{results}");
    let run = &results["run"];
    assert_eq!(run["workload"], "append");
    assert_eq!(run["recovered"], true, "{run}");
    assert!(run["operations"]["ok"].as_u64().expect("a count") >= 300, "{run}");
    assert!(run["faults_applied"]["partition"].as_u64().unwrap_or(0) >= 1, "{run}");
    assert!(run["faults_applied"]["kill"].as_u64().unwrap_or(0) >= 1, "{run}");
    assert!(run["faults_applied"]["corrupt"].as_u64().unwrap_or(0) >= 1, "{run}");

    // The transactions read back, their reads saw the appends, and they check the same again.
    let text = std::fs::read_to_string(dir.join("transactions.jsonl")).expect("transactions.jsonl");
    let transactions: Vec<jepsen::elle::Transaction> =
        text.lines().map(|line| serde_json::from_str(line).expect("a transaction")).collect();
    assert_eq!(Some(transactions.len() as u64), results["transaction_count"].as_u64());
    let longest = transactions
        .iter()
        .filter(|transaction| transaction.is_ok())
        .flat_map(|transaction| &transaction.ops)
        .filter_map(|op| match op {
            jepsen::elle::MicroOp::Read(_, Some(list)) => Some(list.len()),
            _ => None,
        })
        .max();
    assert!(longest.is_some_and(|length| length >= 10), "reads saw the lists grow: {longest:?}");
    assert!(jepsen::elle::check(&transactions).expect("checkable").valid);
}

#[test]
fn an_interrupted_run_stops_every_node_even_a_paused_one() {
    // Ctrl-C (SIGINT) while a node is stopped with SIGSTOP: the runner exits with 130, every
    // node is gone, the paused one included, and the history so far is written.
    let store = store("interrupted");
    let mut child = jepsen_run(
        &store,
        &[
            "--nodes",
            "3",
            "--time-limit",
            "60",
            "--nemesis",
            "pause",
            "--nemesis-interval",
            "2",
            "--seed",
            "3",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .expect("jepsen runs");
    let stderr = child.stderr.take().expect("piped");
    let mut addresses = Vec::new();
    let mut seen = Vec::new();
    // Kept open until the runner exits: it must not find its stderr closed.
    let mut lines = std::io::BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line.expect("UTF-8 output");
        // "  n1: clients 127.0.0.11:41367, peers via proxy ..."
        if let Some(rest) = line.trim_start().split_once(": clients ").map(|(_, rest)| rest) {
            addresses.push(rest.split(',').next().expect("an address").to_owned());
        }
        let paused = line.contains(" pause n");
        seen.push(line);
        if paused {
            break;
        }
    }
    assert_eq!(addresses.len(), 3, "three nodes started: {seen:#?}");
    // SAFETY: kill(2) on the child this test spawned and has not reaped.
    unsafe { libc::kill(libc::pid_t::try_from(child.id()).expect("a pid"), libc::SIGINT) };
    seen.extend(lines.map_while(Result::ok));
    let status = child.wait().expect("jepsen exits");
    assert_eq!(status.code(), Some(130), "{seen:#?}");
    for addr in &addresses {
        assert!(!listening(addr), "a node still listens at {addr} after the interrupt");
    }
    let dir = store.join("latest").canonicalize().expect("store/latest points at the run");
    let history = std::fs::read_to_string(dir.join("history.jsonl")).expect("the history so far");
    assert!(history.contains("\"f\":\"pause\""), "the pause is in the history");
}

#[test]
fn a_run_that_cannot_start_says_why_and_exits_69() {
    // The clock nemesis needs a fault-injection build; the debug binary is a production build,
    // so its nodes refuse to start, and the runner passes on their reason.
    let store = store("cannot-start");
    let output = jepsen_run(&store, &["--nodes", "1", "--time-limit", "5", "--nemesis", "clock"])
        .output()
        .expect("jepsen runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(69), "{stderr}");
    assert!(stderr.contains("could not be carried out"), "{stderr}");
    assert!(stderr.contains("built without the fault-injection feature"), "{stderr}");
}
