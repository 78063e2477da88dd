//! `jepsen run`: a test of real `redraft-server` processes under faults.
//!
//! ```text
//! cargo run --release -p jepsen -- run --nodes 5 --time-limit 60 --workload register \
//!     --nemesis partition,kill,pause,clock --rate 200 --concurrency 10
//! ```
//!
//! (`--workload counter` for INCR and GET, `--workload append` for list-append transactions in
//! MULTI/EXEC checked for serializability: see [`append`].)
//!
//! A run starts a cluster of server processes on loopback addresses 127.0.0.(10 + id), each with
//! its own data directory and log under the run's store directory, and a fault-injecting proxy in
//! front of each node's peer port ([`proxy`]). Clients drive a workload at a fixed rate and record
//! every operation ([`workload`]); the nemesis kills and restarts nodes, pauses and continues
//! them, cuts links between them and shifts their clocks, one fault at a time ([`faults`]). At the
//! time limit the clients stop, every fault is healed, the runner waits until every node serves
//! again, reads every key once more, stops the nodes, checks the history for linearizability (or,
//! for the append workload, its transactions for isolation anomalies) and writes the report:
//!
//! ```text
//! store/<test>/<time>/
//!   history.jsonl   every operation and nemesis action (DESIGN.md §6)
//!   results.json    the checker's result, as `jepsen check --json` prints it, plus "run": the
//!                   settings, operation counts, faults applied and recovery times
//!   report.html     the verdict, the run's figures, plots, violations, the nemesis's faults
//!   latency.svg, throughput.svg, timeline-N.svg
//!   transactions.jsonl, cycle-N.svg, cycle-N.dot   (append: every transaction, each cycle found)
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
//! This module orchestrates a run; what the run found is put into words, `results.json` and the
//! report's Run table by `results.rs`, the settings are `config.rs`'s, and the history's
//! vocabulary (recorder, outcomes, partitions) is [`crate::harness`]'s, shared with the
//! simulator.
//!
//! This is a harness on real time: it reads the real clock, and uses OS randomness only for a
//! default seed. Everything it chooses comes from the seed, which it prints; the timing of real
//! processes does not, so a run is repeatable in its schedule, not in its history.

pub mod append;
pub mod cluster;
mod config;
mod disk_rot;
mod ending;
pub mod faults;
pub mod progress;
pub mod proxy;
pub mod resp;
mod results;
mod stamp;
pub mod workload;

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

pub use config::RunConfig;
pub use faults::Fault;
pub use workload::Workload;

use self::append::AppendState;
use self::cluster::{Cluster, StartError};
use self::faults::{NemesisLog, NemesisPlan};
use self::progress::Progress;
use self::results::{results_json, Finish, NodeAddresses, RunResults};
use self::stamp::utc_stamp;
use self::workload::{ClientPlan, KeySpace};
use crate::harness::Recorder;
use crate::history::{Event, HistoryWriter, NemesisEvent};
use crate::{check_operations, pair_operations, Budget, ModelKind, Report, Verdict};

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
    /// The recorded transactions cannot be checked (an element appended twice): a bug in the
    /// runner, not in the server.
    #[error("the runner recorded a malformed append history (a bug in the runner): {0}")]
    AppendHistory(#[from] crate::elle::HistoryError),
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
    let keys = KeySpace::new();
    let appends = Arc::new(AppendState::default());
    let log = faults::shared_log();
    tokio::pin!(interrupt);
    let executed = {
        let execution = execute(config, &dir, &recorder, &keys, &appends, &log, &progress);
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
    let nemesis: Vec<NemesisEvent> = events
        .iter()
        .filter_map(|event| if let Event::Nemesis(nemesis) = event { Some(nemesis.clone()) } else { None })
        .collect();
    let nemesis_log = std::mem::take(&mut *log.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    let ran = Ran { config, test, stamp, dir, recorder, progress, nemesis, nemesis_log, finish };
    match config.workload.model() {
        Some(model) => check_linearizable(ran, model, &events, interrupt.as_mut()).await,
        None => append::conclude(ran, &appends, interrupt.as_mut()).await,
    }
}

/// A run that went to the end, for its checker to conclude.
struct Ran<'a> {
    config: &'a RunConfig,
    test: String,
    stamp: String,
    dir: PathBuf,
    recorder: Arc<Recorder>,
    progress: Arc<Progress>,
    /// The nemesis's events, from the history.
    nemesis: Vec<NemesisEvent>,
    nemesis_log: NemesisLog,
    finish: Finish,
}

impl Ran<'_> {
    /// Whether every node served again after the final heal, and every key was read.
    fn recovered(&self) -> bool {
        self.finish.recovered.is_some() && self.finish.unread.is_empty()
    }

    /// The run's figures, from its operations (an append run's transactions, as operations).
    /// Takes the nemesis's log: call once.
    fn results(&mut self, operations: &[crate::Operation]) -> RunResults {
        let log = std::mem::take(&mut self.nemesis_log);
        RunResults::new(self.config, &self.test, &self.stamp, operations, &self.recorder, log, &self.finish)
    }

    /// Writes `results.json`.
    fn write_results(&self, json: &str) -> Result<(), RunError> {
        let path = self.dir.join("results.json");
        std::fs::write(&path, json).map_err(|source| RunError::Store { path, source })
    }
}

/// Checks a register or counter history for linearizability, key by key, and writes the report.
async fn check_linearizable(
    mut ran: Ran<'_>,
    model: ModelKind,
    events: &[Event],
    mut interrupt: std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Result<RunSummary, RunError> {
    let ops: Vec<crate::Op> = events
        .iter()
        .filter_map(|event| if let Event::Op(op) = event { Some(op.clone()) } else { None })
        .collect();
    let operations = pair_operations(&ops)?;
    ran.progress.line(&format!("jepsen run: checking {} operations", operations.len()));
    let checked_at = Instant::now();
    // On a thread of its own, so that Ctrl-C still ends a long check: the runtime's signal
    // handler, not the default one, receives it from now on.
    let checking = tokio::task::spawn_blocking(move || {
        let result = check_operations(&operations, model, &Budget::default());
        (operations, result)
    });
    let (operations, result) = tokio::select! {
        biased;
        () = &mut interrupt => return Err(RunError::Interrupted { dir: ran.dir }),
        checked = checking => checked.expect("the checker does not panic"),
    };
    let result = result?;
    let check_elapsed = checked_at.elapsed();

    let results = ran.results(&operations);
    let title = format!("{} {}", ran.test, ran.stamp);
    Report::new(&title, &operations, &ran.nemesis, &result)
        .with_check_elapsed(check_elapsed)
        .with_run_summary(results.rows(ran.config))
        .write_to(&ran.dir)?;
    ran.write_results(&results_json(&result, &results))?;
    let text = results.text(&result, &ran.dir);
    ran.progress.log_only(&text);
    Ok(RunSummary { text, recovered: ran.recovered(), dir: ran.dir, verdict: result.verdict })
}

/// The history's clock: real monotonic nanoseconds since this call.
fn monotonic_ns() -> impl Fn() -> u64 + Send + Sync + 'static {
    let origin = Instant::now();
    move || u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Starts the cluster, runs clients and nemesis to the time limit, heals, waits for recovery,
/// reads every key and stops the cluster.
async fn execute(
    config: &RunConfig,
    dir: &Path,
    recorder: &Arc<Recorder>,
    keys: &Arc<KeySpace>,
    appends: &Arc<AppendState>,
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
        appends: appends.clone(),
    };
    // Tasks in a JoinSet are aborted when it is dropped, so an interrupted run leaves none.
    let mut clients = JoinSet::new();
    for index in 0..config.concurrency {
        clients.spawn(workload::client_loop(index, plan.clone(), recorder.clone(), keys.clone()));
    }
    let mut ticker = JoinSet::new();
    {
        let (recorder, progress, placement) = (recorder.clone(), progress.clone(), plan.placement.clone());
        let (appends, append) = (appends.clone(), config.workload == Workload::Append);
        ticker.spawn(async move {
            loop {
                progress.tick(
                    Duration::from_nanos(recorder.now_ns()),
                    if append { appends.log.counts() } else { recorder.counts() },
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
    let (timeout, bound) = (config.client_timeout, config.recovery_bound);
    let unread = match config.workload.model() {
        Some(model) => {
            let used = keys.used();
            progress.set_fault(Some(format!("reading {} keys", used.len())));
            workload::final_reads(model, &used, &addrs, recorder, timeout, bound).await
        }
        None => {
            progress.set_fault(Some(format!("reading {} keys", appends.keys.used().len())));
            append::final_reads(appends, &addrs, recorder, workload::FINAL_READ_PROCESS, timeout, bound).await
        }
    };
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
