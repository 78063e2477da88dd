//! The simulator's runs: every workload under every fault, on fixed regression seeds and on a
//! sweep of fresh seeds within a time budget, plus determinism checks (the same seed gives the
//! same history, byte for byte).
//!
//! - `MADSIM_TEST_SEED=S` runs seed S alone, in every test here (replay).
//! - `REDRAFT_SIM_BUDGET_SECS` bounds the sweep's wall time (default 60);
//!   `REDRAFT_SIM_SEEDS_MAX` bounds its seed count; `REDRAFT_SIM_VERBOSE=1` prints every seed.
//! - `named_scenarios` runs each named scenario (a fault script aimed at one bug class) on its
//!   workloads, on 3 and 5 nodes, on a few seeds; `REDRAFT_SIM_SCENARIO=name` runs one, and
//!   `REDRAFT_SIM_SCENARIO_SEEDS=n` runs seeds 1 to n instead.
//! - `REDRAFT_SIM_WORKLOAD=register|counter|ttl|transfer|pipeline|append` runs one workload only;
//!   `REDRAFT_SIM_NODES=1|3|5` one cluster size only; `REDRAFT_SIM_FAULTS=crash,partition,...`
//!   (or `none`) only those faults.
//! - `REDRAFT_SIM_READ_LEASE_MS=n` gives every node a read lease of n ms in every run, however
//!   unsafe (the simulator must catch a lease past its bound); without it, the
//!   `lease-reads-under-drift` scenario and every other block of 16 sweep seeds run with the
//!   safe lease, and everything else confirms reads with a quorum.
//! - A failing run prints its seed and the one-line command that replays it, and writes its
//!   history to `target/sim-failures/` for `jepsen check --report`.
#![cfg(madsim)]

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use madsim::runtime::Runtime;
use sim::config::{Fault, Scenario, SimConfig, Workload};
use sim::run::{run, RunReport};

/// Seeds that once found a bug, or that cover a scenario; each runs every workload.
/// - 844535930 (counter): a snapshot frozen after its log id made a restart apply entries twice.
/// - 370833348 (register, 3 nodes): a node whose accept loop madsim had stalled missed the
///   leader's new connections (one per read and per replication stream) for seconds after the
///   heal, kept standing for election, and the single final read failed. Links now reuse pooled
///   connections and final reads retry within the recovery bound.
/// - 71993694 (ttl, 5 nodes): a removed node that never learned it, far behind, kept standing for
///   election; a member that had not applied the removal either took each of its higher terms
///   and deposed every new leader, 160 terms in 20 s after the heal. A node told by a newer
///   membership that it is out now stops standing until its own log makes it a member again.
/// - 195186956 (register, 5 nodes): a crash just after a log segment rotated kept the new,
///   empty segment file and tore the old one's unsynced tail; the node refused to start ("torn
///   record in a segment that has successors"). A segment now starts only once the previous one
///   is synced.
/// - 81023226 (register, 3 nodes): a node whose log segment had a flipped bit kept the intact
///   prefix and, waiting to catch up, refused to vote for others, but stood for election itself
///   with its own vote; with one peer's it won, lacking committed entries, and overwrote them
///   (openraft's assertion `Some(log_id) <= self.committed()` fired on a node that had them). A
///   node that may not vote now does not stand either.
const REGRESSION_SEEDS: &[u64] =
    &[1, 2, 3, 4, 5, 844_535_930, 370_833_348, 71_993_694, 195_186_956, 81_023_226];

/// Seeds the sweep found a bug with under one workload, size and set of faults, run as the sweep
/// ran them (other faults change the schedule, and the seed would no longer stand for its story).
/// - 688320085 (ttl, 3 nodes, crash, partition and pause): at the final restart the new leader
///   had loaded an older snapshot and not yet applied the entries after it (they apply once its
///   term's first entry commits); its duties collected keys from that state that those entries
///   had deleted, and proposed an expiry batch. The batch removed nothing, but its stamp moved
///   the state's time, so the state after the restart differed from the state before it. A
///   leader now leaves expiry and time to its duties only once it has applied an entry of its
///   own term.
/// - 813188381 (append, 5 nodes, every fault): a follower forwarded a transaction to the leader,
///   which appended it and replicated it to some followers, then lost its leadership; the new
///   leader's log truncated the entry there, and openraft answered the waiting write
///   `ForwardToLeader`, which the proposer read as "not applied". The follower gave up at its
///   deadline with `TRYAGAIN` (a certain failure), but a later leader that had the entry
///   committed it, and a read saw the element the client was told was never appended (G1a).
///   openraft gives the same answer for an entry refused before it was appended, so the
///   proposer now answers `UNKNOWN` for both: a forwarded write is sent again under its session
///   (applied at most once), and a leader's own client is told the outcome is unknown.
/// - 603918548 (ttl, 3 nodes, every fault): the membership nemesis removed n2 and was adding it
///   back, so the joint configuration's old half was n1 and n3; then n3 lost a synced write. A
///   damaged node rightly votes for no one until it has its entries again, but in a two-voter
///   configuration that left no majority, and no leader to send the entries: nothing was
///   elected for the 20 s the membership check allows after the heal. A damaged voter in a
///   configuration of two is beyond the fault model (as a damaged majority is); the nemesis now
///   damages a disk only when every voter configuration keeps a majority of intact disks
///   (`leaves_healthy_majorities` in `sim/src/nemesis/mod.rs`).
/// - 725553932 (ttl, 5 nodes, every fault): n1, the leader, built a snapshot through entry 299,
///   and openraft purged its log only up to 249 (it keeps entries behind a snapshot). After a
///   lost synced write and restarts, its log had a gap at the snapshot's end, and at start the
///   log drops the entries before such a gap that the snapshot covers (`segment_log.rs`), but
///   the purge point stayed at 249. That went unnoticed while one leader's term spanned the
///   log. Once a later term's entries followed, openraft searched (249, 345] for where leaders
///   changed, asked for entry 297, and the node refused to start: "try to get log at index 297
///   but got None". The log store now moves the purge point up to the snapshot when the entries
///   between are gone (`entries_gone_behind` in `server/src/storage/log_store.rs`).
const NARROW_REGRESSIONS: &[(u64, Workload, usize, &[Fault])] = &[
    (688_320_085, Workload::Ttl, 3, &[Fault::Crash, Fault::Pause, Fault::Partition]),
    (813_188_381, Workload::Append, 5, &Fault::ALL),
    (603_918_548, Workload::Ttl, 3, &Fault::ALL),
    (725_553_932, Workload::Ttl, 5, &Fault::ALL),
];

/// `REDRAFT_SIM_WORKLOAD=register|counter|ttl|transfer|pipeline|append` runs only that workload.
fn workload_override() -> Option<Workload> {
    let name = std::env::var("REDRAFT_SIM_WORKLOAD").ok()?;
    Workload::ALL.into_iter().find(|w| w.name() == name)
}

fn workloads() -> Vec<Workload> {
    workload_override().map_or_else(|| Workload::ALL.to_vec(), |w| vec![w])
}

/// `REDRAFT_SIM_NODES=n` runs only clusters of n nodes.
fn nodes_override() -> Option<usize> {
    std::env::var("REDRAFT_SIM_NODES").ok()?.parse().ok().filter(|n| [1, 3, 5].contains(n))
}

/// The cluster size a sweep seed runs, so that a replay of the seed runs the same one.
fn nodes_for(seed: u64) -> usize {
    nodes_override().unwrap_or([1, 3, 3, 5][((seed / 4) % 4) as usize])
}

/// The read lease `REDRAFT_SIM_READ_LEASE_MS` forces on every node, if set.
fn read_lease_override() -> Option<u64> {
    std::env::var("REDRAFT_SIM_READ_LEASE_MS").ok()?.parse().ok()
}

/// The read lease a sweep seed runs with, so that a replay of the seed runs the same one.
fn read_lease_for(seed: u64) -> u64 {
    let safe = sim::config::safe_read_lease_ms(sim::config::ELECTION_TIMEOUT_MS_MAX);
    read_lease_override().unwrap_or(if (seed / 16) % 2 == 1 { safe } else { 0 })
}

/// A run's configuration, with the faults `REDRAFT_SIM_FAULTS` names (all when unset).
fn config(workload: Workload, nodes: usize) -> SimConfig {
    let mut config = SimConfig::new(workload, nodes);
    config.read_lease_ms = read_lease_override().unwrap_or(0);
    if let Ok(names) = std::env::var("REDRAFT_SIM_FAULTS") {
        config.faults =
            Fault::ALL.into_iter().filter(|f| names.split(',').any(|n| n.trim() == f.name())).collect();
    }
    config
}

/// `faults` as `REDRAFT_SIM_FAULTS` names them.
fn fault_names(faults: &[Fault]) -> String {
    faults.iter().map(|f| f.name()).collect::<Vec<_>>().join(",")
}

fn replay_seed() -> Option<u64> {
    std::env::var("MADSIM_TEST_SEED").ok().and_then(|s| s.parse().ok())
}

/// What the tests print about a run.
struct Summary {
    operations: usize,
    infos: usize,
    faults: usize,
    virtual_secs: f64,
    /// Changes the watchers were handed, and how often they went on from another node.
    watched: usize,
    watch_moves: usize,
}

/// Runs one workload on one seed and returns its summary; panics with the seed and the replay
/// command when an invariant breaks or anything panics.
///
/// Every run gets a process of its own (this test binary again, told the seed, workload, size
/// and scenario), exactly as its replay command starts it: tokio seeds `select!`'s randomness,
/// which openraft uses, from a process-wide counter of threads, so a run inside a process that
/// already ran others would not replay. With `MADSIM_TEST_SEED` set (a replay, or such a child)
/// the run happens in this process.
fn run_seed(test: &str, seed: u64, config: SimConfig) -> Summary {
    try_run_seed(test, seed, config).unwrap_or_else(|failure| panic!("{failure}"))
}

/// [`run_seed`], with a failed run in a child process as an error rather than a panic (a run in
/// this process still panics).
fn try_run_seed(test: &str, seed: u64, config: SimConfig) -> Result<Summary, String> {
    if replay_seed().is_some() {
        let report = run_in_process(test, seed, config);
        println!(
            "SIM-SUMMARY ops={} info={} faults={} virtual={:.3} watched={} moves={}",
            report.operations,
            report.infos,
            report.faults,
            report.virtual_secs,
            report.watched,
            report.watch_moves
        );
        return Ok(Summary {
            operations: report.operations,
            infos: report.infos,
            faults: report.faults,
            virtual_secs: report.virtual_secs,
            watched: report.watched,
            watch_moves: report.watch_moves,
        });
    }
    let mut command = std::process::Command::new(std::env::current_exe().expect("the test binary"));
    command
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env("MADSIM_TEST_SEED", seed.to_string())
        .env("REDRAFT_SIM_WORKLOAD", config.workload.name())
        .env("REDRAFT_SIM_NODES", config.nodes.to_string())
        .env("REDRAFT_SIM_FAULTS", fault_names(&config.faults))
        .env_remove("REDRAFT_SIM_SCENARIO");
    if let Some(scenario) = config.scenario {
        command.env("REDRAFT_SIM_SCENARIO", scenario.name());
    }
    let output = command.output().expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().find_map(|l| l.split("SIM-SUMMARY ").nth(1));
    match line.filter(|_| output.status.success()) {
        Some(line) => {
            let field = |name: &str| -> f64 {
                line.split(' ')
                    .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
                    .unwrap_or(0.0)
            };
            Ok(Summary {
                operations: field("ops") as usize,
                infos: field("info") as usize,
                faults: field("faults") as usize,
                virtual_secs: field("virtual"),
                watched: field("watched") as usize,
                watch_moves: field("moves") as usize,
            })
        }
        None => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let reason = stderr
                .lines()
                .chain(stdout.lines())
                .filter(|l| {
                    l.starts_with("simulation ") || l.starts_with("history: ") || l.starts_with("replay: ")
                })
                .collect::<Vec<_>>()
                .join("\n");
            Err(format!("{test}: the run of seed {seed} failed ({}):\n{reason}", output.status))
        }
    }
}

/// One run in a fresh runtime on a fresh thread of this process.
fn run_in_process(test: &str, seed: u64, config: SimConfig) -> RunReport {
    let workload = config.workload.name();
    let nodes = config.nodes;
    let config_faults = config.faults.clone();
    let scenario = config.scenario.map(|s| format!("REDRAFT_SIM_SCENARIO={} ", s.name())).unwrap_or_default();
    // A fresh thread per run: std's hash maps take their keys from per-thread state that madsim
    // seeds when the thread starts, so a second run on the same thread would hash differently.
    #[allow(clippy::disallowed_methods)] // The harness's own thread, outside the simulation.
    let result = std::thread::spawn(move || {
        let runtime = Runtime::with_seed_and_config(seed, madsim::Config::default());
        let _log = log_to_stderr();
        std::panic::catch_unwind(AssertUnwindSafe(|| runtime.block_on(run(config))))
    })
    .join()
    .unwrap_or_else(Err);
    let lease = read_lease_override().map_or(String::new(), |ms| format!("REDRAFT_SIM_READ_LEASE_MS={ms} "));
    let faults = if config_faults == Fault::ALL {
        String::new()
    } else {
        format!("REDRAFT_SIM_FAULTS={} ", fault_names(&config_faults))
    };
    let replay = format!(
        "MADSIM_TEST_SEED={seed} {lease}{faults}{scenario}REDRAFT_SIM_WORKLOAD={workload} REDRAFT_SIM_NODES={nodes} RUSTFLAGS=\"--cfg madsim\" CARGO_TARGET_DIR=target/madsim cargo test -p sim --test simulation {test} -- --nocapture"
    );
    match result {
        Ok(Ok(report)) => {
            if let Ok(path) = std::env::var("REDRAFT_SIM_HISTORY_OUT") {
                let file = std::fs::File::create(&path).expect("the history file can be written");
                jepsen::history::write_events(std::io::BufWriter::new(file), &report.history)
                    .expect("history written");
            }
            report
        }
        Ok(Err(failure)) => {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/sim-failures");
            let _ = std::fs::create_dir_all(&dir);
            let path = dir.join(format!("{test}-{workload}-{nodes}n-{seed}.jsonl"));
            if let Ok(file) = std::fs::File::create(&path) {
                let _ = jepsen::history::write_events(std::io::BufWriter::new(file), &failure.history);
            }
            for (ending, contents) in &failure.artefacts {
                let _ =
                    std::fs::write(dir.join(format!("{test}-{workload}-{nodes}n-{seed}.{ending}")), contents);
            }
            panic!(
                "simulation failed: workload {workload}, {nodes} nodes, seed {seed}: {}\nhistory: {}\nreplay: {replay}",
                failure.reason,
                path.display()
            );
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("simulation panicked: workload {workload}, {nodes} nodes, seed {seed}: {message}\nreplay: {replay}");
        }
    }
}

/// `REDRAFT_SIM_LOG=<filter>` (tracing's syntax, e.g. `info,openraft=debug`) prints the nodes'
/// logs for this thread's run, stamped with simulated time, without changing the run: the
/// subscriber is built on a thread of its own. Built on the run's thread (as it was), its hash
/// maps took that thread's std hash keys from the operating system before madsim could seed them
/// from the run's seed, so every hash map of the run iterated in another order and a run with
/// logs took another schedule than the same seed without (seed 603918548 could not be followed
/// in its logs); after the seeding, each map it made would still shift the keys of every later
/// one. `same_seed_same_history` holds this.
fn log_to_stderr() -> Option<tracing::subscriber::DefaultGuard> {
    let filter = std::env::var("REDRAFT_SIM_LOG").ok()?;
    #[allow(clippy::disallowed_methods)] // The harness's own thread, outside the simulation.
    let subscriber = std::thread::spawn(move || {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .finish()
    })
    .join()
    .expect("the log subscriber is built");
    Some(tracing::subscriber::set_default(subscriber))
}

/// Seeds every named scenario runs on. What they found:
/// - 1 (`damaged-voter`, counter, 3 nodes), after the proposer began waiting for each batch's
///   sync (which moved the schedule): n3 lost its log while n2 and it committed increments that
///   n1, cut off, never had. n2 restarted, was elected, and its first append reached n3 while
///   its commit index was still 0 (a restarted leader starts from what its state machine had
///   applied, here nothing, until its term's first entry commits). n3 took 0 as the index to
///   catch up to and voted again at once, without the entries; in the next round n2 went down
///   and n3's vote made n1 leader, and a reader saw the counter at 215 after 219. A damaged
///   node now takes the bar only from a commit of the leader's own term (`node/catch_up.rs`).
const SCENARIO_SEEDS: &[u64] = &[1, 2];

/// Seeds on which `lease-reads-under-drift` found a hole in the lease with the safe length, each
/// run besides [`SCENARIO_SEEDS`] (the fixes changed the schedules, so they now stand for the
/// story rather than replay it):
/// - 10 (counter, 5 nodes): a follower that had acknowledged the leader's lease stood for
///   election after the shorter election timeout and voted for itself, which openraft's follower
///   lease does not stop; two leaders served leased reads at once and a reader saw 88 after 89.
///   With the lease on, a node's election timeout now starts at `election_timeout_ms_max`.
/// - 4 (counter, 3 nodes): a node's pre-vote took 140 ms; meanwhile the paused leader woke and
///   the node acknowledged its lease, then stood anyway on the silence it had measured before
///   asking. It now looks again after the pre-vote.
/// - 14 (counter, 5 nodes): two nodes that had fallen behind passed pre-votes (which did not
///   compare logs), stood, lost on their logs, and left higher terms that made them refuse the
///   leaders' entries: 20 s without a leader. A pre-vote now goes only to a log as up to date.
const LEASE_SCENARIO_SEEDS: &[u64] = &[4, 10, 14];

/// Each named scenario on its workloads, on 3 and 5 nodes.
#[test]
fn named_scenarios() {
    let only = std::env::var("REDRAFT_SIM_SCENARIO").ok();
    let seeds = replay_seed().map_or_else(
        || match std::env::var("REDRAFT_SIM_SCENARIO_SEEDS").ok().and_then(|n| n.parse::<u64>().ok()) {
            Some(count) => (1..=count).collect(),
            None => SCENARIO_SEEDS.to_vec(),
        },
        |s| vec![s],
    );
    let sizes = nodes_override().map_or_else(|| vec![3, 5], |n| vec![n]);
    for scenario in Scenario::ALL.into_iter().filter(|s| only.as_deref().is_none_or(|o| o == s.name())) {
        for &workload in scenario.workloads().iter().filter(|w| workload_override().is_none_or(|o| o == **w))
        {
            let lease_seeds = if scenario == Scenario::LeaseReadsUnderDrift && replay_seed().is_none() {
                LEASE_SCENARIO_SEEDS
            } else {
                &[]
            };
            for &nodes in &sizes {
                for &seed in seeds.iter().chain(lease_seeds) {
                    let mut config = SimConfig::scenario(scenario, workload, nodes);
                    config.read_lease_ms = read_lease_override().unwrap_or(config.read_lease_ms);
                    let report = run_seed("named_scenarios", seed, config);
                    summary(&format!("named_scenarios {}", scenario.name()), seed, workload, nodes, &report);
                }
            }
        }
    }
}

/// Beyond the fault model (`Scenario::DamagedMajority`): a majority loses its logs at once.
/// Acknowledged writes may be gone, and redraft must not serve as if they were not: every run
/// must fail, and its report must say why (nodes catching up that vote for no one), never pass.
#[test]
fn beyond_the_fault_model_is_reported() {
    let scenario = Scenario::DamagedMajority;
    if let Some(seed) = replay_seed() {
        let workload = workload_override().unwrap_or(Workload::Register);
        let nodes = nodes_override().unwrap_or(3);
        run_seed("beyond_the_fault_model_is_reported", seed, SimConfig::scenario(scenario, workload, nodes));
        return;
    }
    for seed in SCENARIO_SEEDS {
        for nodes in [3, 5] {
            let config = SimConfig::scenario(scenario, Workload::Register, nodes);
            let Err(message) = try_run_seed("beyond_the_fault_model_is_reported", *seed, config) else {
                panic!(
                    "seed {seed}, {nodes} nodes: a majority without its logs passed as if nothing was lost"
                );
            };
            assert!(
                message.contains("catching up: votes for no one"),
                "seed {seed}, {nodes} nodes: {message}"
            );
            println!("beyond_the_fault_model_is_reported: seed {seed}, {nodes} nodes, reported as expected");
        }
    }
}

fn summary(test: &str, seed: u64, workload: Workload, nodes: usize, report: &Summary) {
    println!(
        "{test}: seed {seed} {:9} {nodes} nodes ops {:5} info {:4} faults {:3} virtual {:.1}s watched {:5} moves {}",
        workload.name(),
        report.operations,
        report.infos,
        report.faults,
        report.virtual_secs,
        report.watched,
        report.watch_moves
    );
}

/// Every workload under every fault on the regression seeds, on 1, 3 and 5 nodes.
#[test]
fn regression_seeds() {
    let seeds = replay_seed().map_or_else(|| REGRESSION_SEEDS.to_vec(), |s| vec![s]);
    let sizes = nodes_override().map_or_else(|| vec![1, 3, 5], |n| vec![n]);
    for seed in seeds {
        for &nodes in &sizes {
            for workload in workloads() {
                let report = run_seed("regression_seeds", seed, config(workload, nodes));
                summary("regression_seeds", seed, workload, nodes, &report);
            }
        }
    }
    if replay_seed().is_none() {
        for &(seed, workload, nodes, faults) in NARROW_REGRESSIONS {
            let config = SimConfig { faults: faults.to_vec(), ..SimConfig::new(workload, nodes) };
            let report = run_seed("seed_sweep", seed, sweep_config(seed, config));
            summary("regression_seeds", seed, workload, nodes, &report);
        }
    }
}

/// `config` as the sweep runs `seed`: runs with a lease get a reader per node, as the lease
/// scenario does.
fn sweep_config(seed: u64, config: SimConfig) -> SimConfig {
    let read_lease_ms = read_lease_for(seed);
    let readers = if read_lease_ms > 0 { config.nodes } else { 0 };
    SimConfig { read_lease_ms, readers, ..config }
}

/// Fresh seeds, round-robin over the workloads, until the wall-time budget is spent. Prints every
/// seed it used and the virtual seconds simulated per wall second.
#[test]
fn seed_sweep() {
    let budget = Duration::from_secs(
        std::env::var("REDRAFT_SIM_BUDGET_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60),
    );
    let seeds_max: usize =
        std::env::var("REDRAFT_SIM_SEEDS_MAX").ok().and_then(|s| s.parse().ok()).unwrap_or(usize::MAX);
    // The sweep measures wall time outside any simulation, so the real clock is right here.
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let first = replay_seed().unwrap_or_else(|| {
        #[allow(clippy::disallowed_methods)]
        let now = std::time::SystemTime::now();
        now.duration_since(std::time::UNIX_EPOCH).map_or(7, |d| d.as_nanos() as u64 % 1_000_000_000)
    });
    let mut virtual_secs = 0.0;
    let mut seeds = Vec::new();
    for (n, seed) in (first..).enumerate() {
        if n >= seeds_max || (n > 0 && (started.elapsed() >= budget || replay_seed().is_some())) {
            break;
        }
        // The workload follows from the seed, so that a replay of the seed runs the same one.
        let workload =
            workload_override().unwrap_or(Workload::ALL[(seed % Workload::ALL.len() as u64) as usize]);
        let nodes = nodes_for(seed);
        let config = sweep_config(seed, config(workload, nodes));
        let report = run_seed("seed_sweep", seed, config);
        if std::env::var("REDRAFT_SIM_VERBOSE").is_ok() || replay_seed().is_some() {
            summary("seed_sweep", seed, workload, nodes, &report);
        }
        virtual_secs += report.virtual_secs;
        seeds.push(seed);
    }
    let wall = started.elapsed().as_secs_f64();
    println!(
        "seed_sweep: {} seeds ({}..={}), {virtual_secs:.0} virtual s in {wall:.0} wall s = {:.1} virtual s per wall s",
        seeds.len(),
        seeds.first().unwrap_or(&0),
        seeds.last().unwrap_or(&0),
        virtual_secs / wall.max(1e-9)
    );
}

/// The same seed gives the same history, byte for byte, in two separate processes (a replay with
/// `MADSIM_TEST_SEED` is a new process), the second printing the nodes' logs
/// (`REDRAFT_SIM_LOG`): following a failure in its logs must not change it. Two runs inside one
/// process are not compared: tokio's own `select!` randomness, which openraft uses once unbiased,
/// draws from a process-wide counter.
#[test]
fn same_seed_same_history() {
    if std::env::var("REDRAFT_SIM_HISTORY_OUT").is_ok() {
        return; // A child run of this very test binary; the parent compares.
    }
    let seeds = replay_seed().map_or_else(|| vec![11, 12], |s| vec![s]);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/sim-determinism");
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    for seed in seeds {
        for workload in workloads() {
            let mut histories = Vec::new();
            for attempt in 0..2 {
                let out = dir.join(format!("{seed}-{}-{attempt}.jsonl", workload.name()));
                let mut child = std::process::Command::new(std::env::current_exe().expect("the test binary"));
                child
                    .args(["--exact", "regression_seeds", "--test-threads", "1", "-q"])
                    .env("MADSIM_TEST_SEED", seed.to_string())
                    .env("REDRAFT_SIM_WORKLOAD", workload.name())
                    .env("REDRAFT_SIM_NODES", "3")
                    .env("REDRAFT_SIM_HISTORY_OUT", &out)
                    .env_remove("REDRAFT_SIM_LOG")
                    .stdout(std::process::Stdio::null());
                if attempt == 1 {
                    child.env("REDRAFT_SIM_LOG", "debug").stderr(std::process::Stdio::null());
                }
                let status = child.status().expect("the test binary runs");
                assert!(status.success(), "seed {seed} {}: the child run failed", workload.name());
                histories.push(std::fs::read_to_string(&out).expect("the child wrote its history"));
            }
            let (a, b) = (&histories[0], &histories[1]);
            if a != b {
                let line = a.lines().zip(b.lines()).position(|(x, y)| x != y).unwrap_or(0);
                panic!(
                    "seed {seed} {}: two processes, the second printing its logs, gave different histories; first difference at line {line}:\n{}\n{}",
                    workload.name(),
                    a.lines().nth(line).unwrap_or(""),
                    b.lines().nth(line).unwrap_or("")
                );
            }
            println!(
                "same_seed_same_history: seed {seed} {}: {} identical lines",
                workload.name(),
                a.lines().count()
            );
        }
    }
}

/// The lease scenario catches a lease longer than its bound: with 900 ms (three election
/// timeouts), 3 nodes and the register workload, a leader cut off from its peers keeps serving
/// reads from its lease after the others elected a new leader and wrote, and the checker finds
/// the stale read. Were the lease never used, or the scenario unable to reach a leasing leader,
/// these runs would pass and so would every safe one, proving nothing. Seeds are tried in turn
/// until one catches it (seed 1 did until the snapshot changes of the operations issue moved
/// its schedule; which seed catches it depends on every timing in the node).
#[test]
fn a_lease_past_its_bound_is_caught() {
    if replay_seed().is_some() {
        return; // A child run of another test; this one starts its own child.
    }
    let mut outcomes = Vec::new();
    for seed in 1..=LEASE_SEEDS {
        let output = std::process::Command::new(std::env::current_exe().expect("the test binary"))
            .args(["--exact", "named_scenarios", "--nocapture", "--test-threads", "1"])
            .env("MADSIM_TEST_SEED", seed.to_string())
            .env("REDRAFT_SIM_READ_LEASE_MS", "900")
            .env("REDRAFT_SIM_SCENARIO", Scenario::LeaseReadsUnderDrift.name())
            .env("REDRAFT_SIM_WORKLOAD", Workload::Register.name())
            .env("REDRAFT_SIM_NODES", "3")
            .output()
            .expect("the test binary runs");
        let text = String::from_utf8_lossy(&output.stderr) + String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            assert!(
                text.contains("the history is not linearizable"),
                "seed {seed} failed for another reason:\n{text}"
            );
            println!("a_lease_past_its_bound_is_caught: a 900 ms lease read a stale value on seed {seed}, as it must");
            return;
        }
        outcomes.push(format!("seed {seed}: passed"));
    }
    panic!("a 900 ms lease passed the lease scenario on every seed tried: {outcomes:?}");
}

/// Seeds the broken lease is tried on before the test gives up.
const LEASE_SEEDS: u64 = 20;
