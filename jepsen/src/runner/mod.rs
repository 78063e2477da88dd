//! `jepsen run`: a test of real `redraft-server` processes under faults.
//!
//! ```text
//! cargo run --release -p jepsen -- run --nodes 5 --time-limit 60 --workload register \
//!     --nemesis partition,kill,pause,clock --rate 200 --concurrency 10
//! ```
//!
//! A run starts a cluster of server processes on loopback addresses 127.0.0.(10 + id), each with
//! its own data directory and log under the run's store directory, and a fault-injecting proxy in
//! front of each node's peer port ([`proxy`]). Clients drive a workload at a fixed rate and record
//! every operation ([`workload`]); the nemesis kills and restarts nodes, pauses and continues
//! them, cuts links between them and shifts their clocks, one fault at a time ([`faults`]). At the
//! time limit the clients stop, every fault is healed, the runner waits until every node serves
//! again, reads every key once more, stops the nodes, checks the history for linearizability and
//! writes the report:
//!
//! ```text
//! store/<test>/<time>/
//!   history.jsonl   every operation and nemesis action (DESIGN.md §6)
//!   results.json    the checker's result, as `jepsen check --json` prints it, plus "run": the
//!                   settings, operation counts, faults applied and recovery times
//!   report.html     the verdict, the run's figures, plots, violations, the nemesis's faults
//!   latency.svg, throughput.svg, timeline-N.svg
//!   run.log         what the runner printed, stamped with the wall-clock time
//!   redraft.toml    the settings every node ran with
//!   nodes/nN/       server.log (every start, with the runner's notes) and data/
//! store/latest, store/<test>/latest   links to the newest run
//! ```
//!
//! The runner sees the server only as a binary, its flags and its client protocol. The clock
//! nemesis needs a server built with the `fault-injection` feature, which reads a clock offset
//! from a file; without `--server-bin` the runner builds one itself with cargo, into its own
//! target directory (`target/jepsen-server`), so the ordinary release build stays a production
//! build.
//!
//! This is a harness on real time: it reads the real clock, and uses OS randomness only for a
//! default seed. Everything it chooses comes from the seed, which it prints; the timing of real
//! processes does not, so a run is repeatable in its schedule, not in its history.

pub mod cluster;
pub mod faults;
pub mod progress;
pub mod proxy;
pub mod resp;
pub mod workload;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;

pub use faults::Fault;
pub use workload::Workload;

use self::cluster::{Cluster, StartError};
use self::faults::{FaultRecord, NemesisLog, NemesisPlan};
use self::progress::Progress;
use self::proxy::ProxyStats;
use self::workload::{ClientPlan, KeySpace};
use crate::harness::Recorder;
use crate::history::{Event, HistoryWriter};
use crate::operation::{Operation, Outcome};
use crate::{check_operations, pair_operations, Budget, CheckResult, Report, Verdict};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Server processes, from 1.
    pub nodes: usize,
    /// How long the clients run, faults included.
    pub time_limit: Duration,
    /// What the clients do.
    pub workload: Workload,
    /// The faults to inject; empty for none.
    pub faults: Vec<Fault>,
    /// Faults start about this often.
    pub nemesis_interval: Duration,
    /// Operations per second, over all clients.
    pub rate: f64,
    /// Clients.
    pub concurrency: usize,
    /// The store directory: each run goes in `<store>/<test>/<time>/`.
    pub store: PathBuf,
    /// Decides the nemesis's schedule and the clients' choices.
    pub seed: u64,
    /// The `redraft-server` binary (see [`server_binary`]).
    pub server_bin: PathBuf,
    /// How long the cluster may take to serve at the start and after the final heal, and to
    /// answer the final reads.
    pub recovery_bound: Duration,
    /// How long a client waits for a reply before it records `info`.
    pub client_timeout: Duration,
}

impl RunConfig {
    /// The test's name: the workload and the faults, as in `register-partition+kill`.
    pub fn test_name(&self) -> String {
        let faults: Vec<&str> = self.faults.iter().map(|fault| fault.name()).collect();
        let faults = if faults.is_empty() { "none".to_owned() } else { faults.join("+") };
        format!("{}-{faults}", self.workload.name())
    }
}

/// Why a run could not be carried out, or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The store directory could not be made or written.
    #[error("cannot write {}: {source}", path.display())]
    Store {
        /// The directory or file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The server binary is missing or could not be built.
    #[error("{0}")]
    ServerBinary(String),
    /// The cluster did not start.
    #[error("the cluster did not start: {0}")]
    Start(#[from] StartError),
    /// The recorded history does not pair up: a bug in the runner, not in the server.
    #[error("the runner recorded a malformed history (a bug in the runner): {0}")]
    History(#[from] crate::HistoryError),
    /// The report could not be written; the history is in the run directory.
    #[error(transparent)]
    Report(#[from] crate::ReportError),
    /// Ctrl-C or SIGTERM: every process was stopped and the history so far written.
    #[error("interrupted; every node is stopped, and the history so far is in {}", dir.display())]
    Interrupted {
        /// The run directory.
        dir: PathBuf,
    },
}

/// What a finished run found.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The run directory.
    pub dir: PathBuf,
    /// The checker's verdict.
    pub verdict: Verdict,
    /// Whether every node served again after the final heal, and every key was read.
    pub recovered: bool,
    /// Lines for people: the verdict, the figures, where the report is.
    pub text: String,
}

/// Finds the server binary: `given`, or else a `fault-injection` release build made with cargo
/// in this crate's workspace, into `<target>/jepsen-server` (`<target>` is `CARGO_TARGET_DIR` or
/// the workspace's `target`). The build prints cargo's progress on stderr and takes a few minutes
/// the first time; afterwards it is quick.
///
/// # Errors
/// [`RunError::ServerBinary`] when `given` is not a file, the workspace is not where this
/// binary was built from, or the build fails.
pub fn server_binary(given: Option<&Path>) -> Result<PathBuf, RunError> {
    if let Some(path) = given {
        if !path.is_file() {
            return Err(RunError::ServerBinary(format!("--server-bin {} is not a file", path.display())));
        }
        return std::path::absolute(path)
            .map_err(|error| RunError::ServerBinary(format!("--server-bin {}: {error}", path.display())));
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new("."));
    let manifest = workspace.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(RunError::ServerBinary(format!(
            "this jepsen was built from {}, which is gone; give the server binary with --server-bin",
            workspace.display()
        )));
    }
    let target_root =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace.join("target"), PathBuf::from);
    let target_dir = std::path::absolute(target_root.join("jepsen-server"))
        .map_err(|error| RunError::ServerBinary(format!("cannot resolve the target directory: {error}")))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!(
        "jepsen run: building the server with the fault-injection feature (for the clock nemesis): \
         cargo build --release -p redraft-server --features fault-injection --target-dir {}",
        target_dir.display()
    );
    let status = std::process::Command::new(&cargo)
        .args(["build", "--release", "-p", "redraft-server", "--features", "fault-injection"])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .map_err(|error| {
            RunError::ServerBinary(format!("cannot run {}: {error}", cargo.to_string_lossy()))
        })?;
    if !status.success() {
        return Err(RunError::ServerBinary(format!(
            "building the server failed ({status}); see cargo's output above"
        )));
    }
    Ok(target_dir.join("release").join("redraft-server"))
}

/// A seed for a run that was not given one: the system clock's nanoseconds.
pub fn fresh_seed() -> u64 {
    // The one use of the wall clock for randomness: a seed, printed so the run can be repeated.
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now();
    now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// Carries out a run: see the module documentation. `interrupt` ends the run early when it
/// completes (Ctrl-C): every process is stopped and the history so far is written.
///
/// # Errors
/// [`RunError`]: the run could not be carried out (the store, the binary, the cluster's start),
/// or was interrupted. A history the checker rejects is not an error: see
/// [`RunSummary::verdict`].
pub async fn run(config: &RunConfig, interrupt: impl Future<Output = ()>) -> Result<RunSummary, RunError> {
    let test = config.test_name();
    let (dir, stamp) = create_run_dir(&config.store, &test)?;
    let progress = Arc::new(Progress::new(config.time_limit, &dir.join("run.log")));
    progress.line(&format!(
        "jepsen run: {test}, {} nodes, {} s, seed {}; writing to {}",
        config.nodes,
        config.time_limit.as_secs(),
        config.seed,
        dir.display()
    ));
    let recorder = Recorder::new(monotonic_ns());
    let keys = KeySpace::new(config.workload);
    let log = faults::shared_log();
    tokio::pin!(interrupt);
    let executed = {
        let execution = execute(config, &dir, &recorder, &keys, &log, &progress);
        tokio::select! {
            biased;
            () = &mut interrupt => None,
            executed = execution => Some(executed),
        }
        // Leaving this block drops an unfinished execution, and with it the cluster, which
        // kills every process it started.
    };
    progress.finish();
    let events = recorder.events();
    write_history(&dir.join("history.jsonl"), &events)?;
    let finish = match executed {
        None => return Err(RunError::Interrupted { dir }),
        Some(finish) => finish?,
    };

    let ops: Vec<crate::Op> = events
        .iter()
        .filter_map(|event| if let Event::Op(op) = event { Some(op.clone()) } else { None })
        .collect();
    let nemesis: Vec<crate::NemesisEvent> = events
        .iter()
        .filter_map(|event| if let Event::Nemesis(nemesis) = event { Some(nemesis.clone()) } else { None })
        .collect();
    let operations = pair_operations(&ops)?;
    progress.line(&format!("jepsen run: checking {} operations", operations.len()));
    let checked_at = Instant::now();
    // On a thread of its own, so that Ctrl-C still ends a long check: the runtime's signal
    // handler, not the default one, receives it from now on.
    let model = config.workload.model();
    let checking = tokio::task::spawn_blocking(move || {
        let result = check_operations(&operations, model, &Budget::default());
        (operations, result)
    });
    let (operations, result) = tokio::select! {
        biased;
        () = &mut interrupt => return Err(RunError::Interrupted { dir }),
        checked = checking => checked.expect("the checker does not panic"),
    };
    let result = result?;
    let check_elapsed = checked_at.elapsed();

    let nemesis_log = std::mem::take(&mut *log.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    let results = RunResults::new(config, &test, &stamp, &operations, &recorder, nemesis_log, &finish);
    let title = format!("{test} {stamp}");
    Report::new(&title, &operations, &nemesis, &result)
        .with_check_elapsed(check_elapsed)
        .with_run_summary(results.rows(config))
        .write_to(&dir)?;
    let results_path = dir.join("results.json");
    std::fs::write(&results_path, results_json(&result, &results))
        .map_err(|source| RunError::Store { path: results_path, source })?;
    let recovered = finish.recovered.is_some() && finish.unread.is_empty();
    let text = results.text(&result, &dir);
    progress.log_only(&text);
    Ok(RunSummary { text, dir, verdict: result.verdict, recovered })
}

/// The history's clock: real monotonic nanoseconds since this call.
fn monotonic_ns() -> impl Fn() -> u64 + Send + Sync + 'static {
    let origin = Instant::now();
    move || u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// What [`execute`] hands back after a run that went to the end.
#[derive(Debug)]
struct Finish {
    /// When the final heal was recorded.
    heal_ns: u64,
    /// How long after the final heal every node served, if within the bound.
    recovered: Option<Duration>,
    /// Keys whose final read never succeeded.
    unread: Vec<String>,
    /// Nodes that had to be killed at the end because SIGTERM did not stop them.
    killed_at_stop: Vec<String>,
    addresses: BTreeMap<String, NodeAddresses>,
    proxies: Vec<(String, ProxyStats)>,
}

/// Starts the cluster, runs clients and nemesis to the time limit, heals, waits for recovery,
/// reads every key and stops the cluster.
async fn execute(
    config: &RunConfig,
    dir: &Path,
    recorder: &Arc<Recorder>,
    keys: &Arc<KeySpace>,
    log: &Mutex<NemesisLog>,
    progress: &Arc<Progress>,
) -> Result<Finish, RunError> {
    let clock = config.faults.contains(&Fault::Clock);
    let mut cluster = Cluster::start(&config.server_bin, config.nodes, dir, clock).await?;
    progress.line(&format!("jepsen run: started {} nodes; waiting until each serves a read", config.nodes));
    cluster.wait_serving(config.recovery_bound).await?;
    for spec in cluster.specs() {
        progress.line(&format!(
            "  {}: clients {}, peers via proxy {} to {}, log {}",
            spec.name,
            spec.resp_addr,
            spec.proxy_addr,
            spec.raft_addr,
            spec.log_path().display()
        ));
    }

    recorder.begin();
    let deadline = Instant::now() + config.time_limit;
    let addrs: Vec<_> = cluster.specs().iter().map(|spec| spec.resp_addr).collect();
    let plan = ClientPlan {
        workload: config.workload,
        addrs: addrs.clone(),
        concurrency: config.concurrency,
        rate: config.rate,
        timeout: config.client_timeout,
        seed: config.seed,
        deadline,
        placement: workload::Placement::new(config.concurrency, config.nodes),
    };
    // Tasks in a JoinSet are aborted when it is dropped, so an interrupted run leaves none.
    let mut clients = JoinSet::new();
    for index in 0..config.concurrency {
        clients.spawn(workload::client_loop(index, plan.clone(), recorder.clone(), keys.clone()));
    }
    let mut ticker = JoinSet::new();
    {
        let (recorder, progress, placement) = (recorder.clone(), progress.clone(), plan.placement.clone());
        ticker.spawn(async move {
            loop {
                progress.tick(
                    Duration::from_nanos(recorder.now_ns()),
                    recorder.counts(),
                    &placement.per_node(),
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }
    let nemesis = NemesisPlan {
        faults: config.faults.clone(),
        interval: config.nemesis_interval,
        seed: config.seed,
        deadline,
    };
    faults::run_nemesis(&mut cluster, &nemesis, recorder, log, progress).await;
    // The clients stop invoking at the deadline; wait for their last operations.
    while clients.join_next().await.is_some() {}

    let heal_ns = faults::heal_all(&mut cluster, recorder);
    progress.event(heal_ns, "final heal: links restored, every node running and continued, clocks true");
    progress.set_fault(Some("recovering".to_owned()));
    let recovered = faults::all_nodes_serving(&addrs, Instant::now() + config.recovery_bound).await;
    faults::reap(&mut cluster, recorder, log, progress);
    match recovered {
        Some(took) => {
            progress.event(recorder.now_ns(), &format!("every node serves again, {took:.1?} after the heal"))
        }
        None => progress.event(
            recorder.now_ns(),
            &format!(
                "NOT RECOVERED: some node did not serve within {:?} of the final heal",
                config.recovery_bound
            ),
        ),
    }
    let used = keys.used();
    progress.set_fault(Some(format!("reading {} keys", used.len())));
    let unread = workload::final_reads(
        config.workload,
        &used,
        &addrs,
        recorder,
        config.client_timeout,
        config.recovery_bound,
    )
    .await;
    if !unread.is_empty() {
        progress.line(&format!("jepsen run: no final read succeeded for {} keys: {unread:?}", unread.len()));
    }
    ticker.abort_all();
    let killed_at_stop = cluster.stop().await;
    let proxies = cluster.proxy_stats();
    let addresses = cluster
        .specs()
        .iter()
        .map(|spec| {
            let addresses = NodeAddresses {
                resp: spec.resp_addr.to_string(),
                proxy: spec.proxy_addr.to_string(),
                raft: spec.raft_addr.to_string(),
            };
            (spec.name.clone(), addresses)
        })
        .collect();
    Ok(Finish { heal_ns, recovered, unread, killed_at_stop, addresses, proxies })
}

/// Creates `<store>/<test>/<time>/` (with a suffix if that exists) and points the `latest` links
/// at it; returns it and the time stamp.
fn create_run_dir(store: &Path, test: &str) -> Result<(PathBuf, String), RunError> {
    // The store is named by the wall-clock time the run started, as Jepsen's is.
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now();
    let stamp = utc_stamp(now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()));
    let base = store.join(test);
    let mut name = stamp.clone();
    let mut suffix = 1;
    while base.join(&name).exists() {
        suffix += 1;
        name = format!("{stamp}-{suffix}");
    }
    let dir = base.join(&name);
    std::fs::create_dir_all(&dir).map_err(|source| RunError::Store { path: dir.clone(), source })?;
    // The links are a convenience: a file system without symbolic links still gets the run.
    for (link, target) in
        [(base.join("latest"), PathBuf::from(&name)), (store.join("latest"), Path::new(test).join(&name))]
    {
        let _ = std::fs::remove_file(&link);
        let _ = std::os::unix::fs::symlink(target, link);
    }
    Ok((dir, name))
}

/// The wall-clock time now, as the servers' logs write it (`2026-03-21T10:15:02.123Z`), for the
/// runner's own log.
fn wall_clock_text() -> String {
    // The runner's log is read beside the servers', which stamp lines with the wall clock.
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now();
    let since = now.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let stamp = utc_stamp(since.as_secs());
    format!(
        "{}-{}-{}T{}:{}:{}.{:03}Z",
        &stamp[0..4],
        &stamp[4..6],
        &stamp[6..8],
        &stamp[9..11],
        &stamp[11..13],
        &stamp[13..15],
        since.subsec_millis()
    )
}

/// `YYYYMMDDTHHMMSSZ` for seconds since the Unix epoch, in UTC.
fn utc_stamp(secs: u64) -> String {
    // Howard Hinnant's days-to-civil algorithm.
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z", rest / 3_600, rest % 3_600 / 60, rest % 60)
}

fn write_history(path: &Path, events: &[Event]) -> Result<(), RunError> {
    let store_error = |source| RunError::Store { path: path.to_owned(), source };
    let file = std::fs::File::create(path).map_err(store_error)?;
    let mut writer = HistoryWriter::new(io::BufWriter::new(file));
    for event in events {
        writer.write_event(event).map_err(|error| store_error(io::Error::other(error)))?;
    }
    writer.into_inner().map_err(|error| store_error(io::Error::other(error)))?;
    Ok(())
}

/// The checker's result with the run's figures under `"run"`: still readable as a
/// [`CheckResult`], which ignores the extra field.
fn results_json(result: &CheckResult, run: &impl Serialize) -> String {
    let mut value = serde_json::to_value(result).expect("a CheckResult always serializes");
    value["run"] = serde_json::to_value(run).expect("the run's results always serialize");
    let mut text = serde_json::to_string_pretty(&value).expect("a JSON value always serializes");
    text.push('\n');
    text
}

/// Operation counts by outcome.
#[derive(Debug, Default, Serialize)]
struct OperationCounts {
    total: usize,
    ok: usize,
    fail: usize,
    info: usize,
    /// Invoked and never completed (the run ended or was interrupted first); as `info`.
    pending: usize,
}

/// Milliseconds: how many values, their median and maximum.
#[derive(Debug, Default, Serialize)]
struct Spread {
    count: usize,
    median_ms: Option<f64>,
    max_ms: Option<f64>,
}

impl Spread {
    fn of(mut values: Vec<f64>) -> Spread {
        values.sort_by(f64::total_cmp);
        Spread {
            count: values.len(),
            median_ms: values.get(values.len() / 2).copied(),
            max_ms: values.last().copied(),
        }
    }

    fn text(&self) -> String {
        match (self.median_ms, self.max_ms) {
            (Some(median), Some(max)) => {
                format!("median {median:.0} ms, max {max:.0} ms (of {})", self.count)
            }
            _ => "-".to_owned(),
        }
    }
}

/// Recovery after the final heal.
#[derive(Debug, Serialize)]
struct FinalHeal {
    /// Seconds into the history.
    heal_s: f64,
    /// From the heal until every node answered a linearizable read; `None` if not within the
    /// recovery bound.
    all_nodes_serving_ms: Option<f64>,
    /// From the heal until the first operation invoked after it (a final read) completed `ok`.
    next_ok_ms: Option<f64>,
    /// Keys no final read succeeded for.
    unread_keys: Vec<String>,
}

/// The run's part of `results.json`.
#[derive(Debug, Serialize)]
struct RunResults {
    test: String,
    started: String,
    seed: u64,
    nodes: usize,
    workload: &'static str,
    nemesis: Vec<&'static str>,
    time_limit_s: f64,
    nemesis_interval_s: f64,
    rate: f64,
    concurrency: usize,
    server_bin: String,
    /// The length of the history, in seconds.
    duration_s: f64,
    operations: OperationCounts,
    /// Why operations did not end `ok`: the first word of the server's error, `connect`,
    /// `timeout` or `connection`, or `cas-not-equal` for a compare-and-set that found another
    /// value.
    errors: BTreeMap<String, u64>,
    faults_applied: BTreeMap<&'static str, usize>,
    faults: Vec<FaultRecord>,
    /// Over all faults: from each heal until every node served (where that happened before the
    /// next fault), and until the next `ok` operation.
    recovery_all_nodes_serving: Spread,
    recovery_next_ok: Spread,
    final_heal: FinalHeal,
    /// Whether the cluster served again after the final heal and every key was read.
    recovered: bool,
    unexpected_exits: Vec<(String, f64, String)>,
    killed_at_stop: Vec<String>,
    /// Where each node listened: clients, its proxy (its peers' address for it), Raft.
    addresses: BTreeMap<String, NodeAddresses>,
    proxies: BTreeMap<String, ProxyStats>,
}

/// Where one node listened.
#[derive(Debug, Clone, Serialize)]
struct NodeAddresses {
    resp: String,
    proxy: String,
    raft: String,
}

impl RunResults {
    fn new(
        config: &RunConfig,
        test: &str,
        stamp: &str,
        operations: &[Operation],
        recorder: &Recorder,
        log: NemesisLog,
        finish: &Finish,
    ) -> RunResults {
        let mut counts = OperationCounts { total: operations.len(), ..OperationCounts::default() };
        for operation in operations {
            match operation.outcome {
                Outcome::Ok => counts.ok += 1,
                Outcome::Fail => counts.fail += 1,
                Outcome::Info => counts.info += 1,
                Outcome::Pending => counts.pending += 1,
            }
        }
        let next_ok_ms = |heal_ns: u64| -> Option<f64> {
            operations
                .iter()
                .filter(|operation| operation.outcome.is_ok() && operation.invoke_time >= heal_ns)
                .filter_map(|operation| operation.complete_time)
                .min()
                .map(|time| (time - heal_ns) as f64 / 1e6)
        };
        let mut faults = log.faults;
        let mut faults_applied = BTreeMap::new();
        for record in &mut faults {
            record.next_ok_ms = record.heal_ns.and_then(next_ok_ms);
            *faults_applied.entry(record.fault).or_default() += 1;
        }
        let end_ns = operations.iter().filter_map(|operation| operation.complete_time).max().unwrap_or(0);
        RunResults {
            test: test.to_owned(),
            started: stamp.to_owned(),
            seed: config.seed,
            nodes: config.nodes,
            workload: config.workload.name(),
            nemesis: config.faults.iter().map(|fault| fault.name()).collect(),
            time_limit_s: config.time_limit.as_secs_f64(),
            nemesis_interval_s: config.nemesis_interval.as_secs_f64(),
            rate: config.rate,
            concurrency: config.concurrency,
            server_bin: config.server_bin.display().to_string(),
            duration_s: end_ns as f64 / 1e9,
            operations: counts,
            errors: recorder.errors(),
            faults_applied,
            recovery_all_nodes_serving: Spread::of(
                faults.iter().filter_map(|f| f.all_nodes_serving_ms).collect(),
            ),
            recovery_next_ok: Spread::of(faults.iter().filter_map(|f| f.next_ok_ms).collect()),
            faults,
            final_heal: FinalHeal {
                heal_s: finish.heal_ns as f64 / 1e9,
                all_nodes_serving_ms: finish.recovered.map(|took| took.as_secs_f64() * 1e3),
                next_ok_ms: next_ok_ms(finish.heal_ns),
                unread_keys: finish.unread.clone(),
            },
            recovered: finish.recovered.is_some() && finish.unread.is_empty(),
            unexpected_exits: log.unexpected_exits,
            killed_at_stop: finish.killed_at_stop.clone(),
            addresses: finish.addresses.clone(),
            proxies: finish.proxies.iter().cloned().collect(),
        }
    }

    /// The rows of the report's Run table.
    fn rows(&self, config: &RunConfig) -> Vec<(String, String)> {
        let mut rows = vec![
            ("test".to_owned(), format!("{} at {}", self.test, self.started)),
            (
                "settings".to_owned(),
                format!(
                    "{} nodes, {} workload, {} s, {} ops/s over {} clients, a fault every ~{} s",
                    self.nodes,
                    self.workload,
                    self.time_limit_s,
                    self.rate,
                    self.concurrency,
                    self.nemesis_interval_s
                ),
            ),
            ("seed".to_owned(), self.seed.to_string()),
            ("again, with the same schedule".to_owned(), rerun_command(config)),
            ("server".to_owned(), self.server_bin.clone()),
            (
                "operations".to_owned(),
                format!(
                    "{} ({} ok, {} fail, {} info, {} pending)",
                    self.operations.total,
                    self.operations.ok,
                    self.operations.fail,
                    self.operations.info,
                    self.operations.pending
                ),
            ),
            ("not ok, by reason".to_owned(), map_text(&self.errors)),
            ("faults applied".to_owned(), map_text(&self.faults_applied)),
            ("recovery: every node serves".to_owned(), self.recovery_all_nodes_serving.text()),
            ("recovery: next ok operation".to_owned(), self.recovery_next_ok.text()),
            (
                "final heal".to_owned(),
                format!(
                    "at {:.1} s; every node served after {}; first ok after {}; {} keys unread",
                    self.final_heal.heal_s,
                    ms_text(self.final_heal.all_nodes_serving_ms),
                    ms_text(self.final_heal.next_ok_ms),
                    self.final_heal.unread_keys.len()
                ),
            ),
        ];
        if !self.unexpected_exits.is_empty() {
            let exits: Vec<String> = self
                .unexpected_exits
                .iter()
                .map(|(node, at, status)| format!("{node} at {at:.1} s ({status})"))
                .collect();
            rows.push(("nodes that exited on their own".to_owned(), exits.join("; ")));
        }
        for record in &self.faults {
            rows.push((
                format!("{:.1} s {}", record.start_s, record.fault),
                format!(
                    "{}; healed at {}; every node served after {}; next ok after {}",
                    match &record.detail {
                        serde_json::Value::String(text) => text.clone(),
                        other => other.to_string(),
                    },
                    record.heal_s.map_or("-".to_owned(), |s| format!("{s:.1} s")),
                    ms_text(record.all_nodes_serving_ms),
                    ms_text(record.next_ok_ms)
                ),
            ));
        }
        rows
    }

    /// What the command prints at the end.
    fn text(&self, result: &CheckResult, dir: &Path) -> String {
        let mut out = String::new();
        let verdict = match result.verdict {
            Verdict::Valid => "valid",
            Verdict::Invalid => "INVALID",
            Verdict::Unknown => "unknown (the checker's budget ran out)",
        };
        let _ = writeln!(
            out,
            "{verdict}: {} operations on {} keys ({} model)",
            result.operation_count, result.key_count, result.model
        );
        if !result.invalid_keys.is_empty() {
            let keys: Vec<String> = result
                .invalid_keys
                .iter()
                .map(|key| key.clone().unwrap_or_else(|| "(none)".into()))
                .collect();
            let _ = writeln!(out, "  invalid keys: {}", keys.join(", "));
        }
        let counts = &self.operations;
        let _ = writeln!(
            out,
            "  operations: {} ({} ok, {} fail, {} info, {} pending) in {:.1} s",
            counts.total, counts.ok, counts.fail, counts.info, counts.pending, self.duration_s
        );
        let _ = writeln!(out, "  faults applied: {}", map_text(&self.faults_applied));
        let _ = writeln!(out, "  recovery, every node serves: {}", self.recovery_all_nodes_serving.text());
        let _ = writeln!(out, "  recovery, next ok operation: {}", self.recovery_next_ok.text());
        let _ = writeln!(
            out,
            "  final heal: every node served after {}{}",
            ms_text(self.final_heal.all_nodes_serving_ms),
            if self.recovered {
                String::new()
            } else {
                format!("; NOT RECOVERED, unread keys: {:?}", self.final_heal.unread_keys)
            }
        );
        if !self.unexpected_exits.is_empty() {
            let _ = writeln!(out, "  nodes that exited on their own: {:?}", self.unexpected_exits);
        }
        let _ = writeln!(out, "  report: {}", dir.join("report.html").display());
        out
    }
}

fn map_text<V: std::fmt::Display>(map: &BTreeMap<impl std::fmt::Display, V>) -> String {
    if map.is_empty() {
        return "none".to_owned();
    }
    map.iter().map(|(name, count)| format!("{name} {count}")).collect::<Vec<_>>().join(", ")
}

fn ms_text(ms: Option<f64>) -> String {
    ms.map_or_else(|| "- (not measured in time)".to_owned(), |ms| format!("{ms:.0} ms"))
}

/// The command line that runs the same test with the same seed.
fn rerun_command(config: &RunConfig) -> String {
    let faults: Vec<&str> = config.faults.iter().map(|fault| fault.name()).collect();
    format!(
        "cargo run --release -p jepsen -- run --nodes {} --time-limit {} --workload {} --nemesis {} \
         --nemesis-interval {} --rate {} --concurrency {} --seed {}",
        config.nodes,
        config.time_limit.as_secs(),
        config.workload.name(),
        if faults.is_empty() { "none".to_owned() } else { faults.join(",") },
        config.nemesis_interval.as_secs_f64(),
        config.rate,
        config.concurrency,
        config.seed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_utc_calendar_times() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        assert_eq!(utc_stamp(951_782_400), "20000229T000000Z");
        assert_eq!(utc_stamp(951_782_400 + 86_399), "20000229T235959Z");
        assert_eq!(utc_stamp(4_102_444_800), "21000101T000000Z");
    }

    #[test]
    fn results_json_reads_back_as_a_check_result() {
        // The run's figures ride along under "run" without breaking `jepsen check --json`'s shape.
        let result =
            crate::check(&[], crate::ModelKind::Register, &Budget::default()).expect("empty is fine");
        let text = results_json(&result, &serde_json::json!({ "seed": 7 }));
        let back: CheckResult = serde_json::from_str(&text).expect("the extra field is ignored");
        assert_eq!(back, result);
        let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(value["run"]["seed"], 7);
    }
}
