//! The `jepsen` command: `jepsen check history.jsonl` checks a recorded history for
//! linearizability, and with `--report DIR` also writes an HTML report with plots into `DIR`;
//! `jepsen run` runs real server processes under faults, records their history, checks it (for
//! linearizability, or with `--workload append` its transactions for isolation anomalies) and
//! writes the report into the store directory (see `jepsen::runner`). The checking, drawing and
//! running live in the library; this file parses arguments, reads the file and prints.
//!
//! Exit status: 0 valid, 1 invalid (for `--workload append`: any anomaly), 2 unknown (the budget ran out), 3 when the history cannot be
//! read or is malformed, 64 (`EX_USAGE`) for bad arguments, kept apart from 2 so a script
//! cannot mistake a typo for an inconclusive check, and 74 (`EX_IOERR`) when the verdict was
//! printed but the report could not be written. `jepsen run` adds 4 when the history is valid
//! but the cluster did not serve again after the final heal (or a key could not be read), 69
//! (`EX_UNAVAILABLE`) when the run could not be carried out (the server would not build or
//! start, the store could not be written; the message says which), and 130 when it was
//! interrupted (every node is stopped and the history so far is written).

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use jepsen::{
    check_operations, pair_operations, report, Budget, CheckResult, HistoryReader, ModelKind, NemesisEvent,
    Operation, Outcome, Report, UnknownReason, Verdict,
};

const EXIT_INVALID: u8 = 1;
const EXIT_UNKNOWN: u8 = 2;
const EXIT_UNREADABLE: u8 = 3;
const EXIT_USAGE: u8 = 64;
const EXIT_REPORT_UNWRITABLE: u8 = 74;
const EXIT_NOT_RECOVERED: u8 = 4;
const EXIT_NOT_CARRIED_OUT: u8 = 69;
const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, Parser)]
#[command(name = "jepsen", about = "Jepsen-style testing for redraft")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a JSON Lines history for linearizability, key by key.
    Check(CheckArgs),
    /// Run real redraft-server processes under faults, record the history, check it, and write
    /// history.jsonl, results.json, report.html, the plots and the node logs into
    /// STORE/<test>/<time>/ (with --workload append also transactions.jsonl and a cycle-N.svg
    /// per dependency cycle found).
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Server processes, on 127.0.0.11, 127.0.0.12, ...
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=20))]
    nodes: u64,
    /// Seconds the clients run, faults included.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    time_limit: u64,
    /// What the clients do: GET/SET/SET IFEQ on registers, INCR/GET on counters, or
    /// transactions of APPENDs and GETs in MULTI/EXEC on lists (append), checked for
    /// serializability and real-time order as Elle's list-append does.
    #[arg(long, value_enum, default_value_t = WorkloadArg::Register)]
    workload: WorkloadArg,
    /// Faults, comma-separated: partition (cut peer links at the runner's proxies), kill
    /// (SIGKILL and restart), pause (SIGSTOP and SIGCONT), clock (shift node clocks; needs a
    /// fault-injection build of the server), corrupt (SIGKILL, flip a bit in a log segment, the
    /// snapshot or a copy of the vote, restart; a minority of nodes, 3 or more); or none.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "partition,kill,pause,clock")]
    nemesis: Vec<NemesisArg>,
    /// Seconds between the starts of faults; each is held for 30% to 70% of it.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    nemesis_interval: f64,
    /// Operations per second, over all clients.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Clients, spread over the nodes.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1000))]
    concurrency: u64,
    /// Where runs are kept: each in STORE/<test>/<time>/, with STORE/latest pointing at the
    /// newest.
    #[arg(long, default_value = "store", value_name = "DIR")]
    store: PathBuf,
    /// Decides the nemesis's schedule and the clients' choices; printed, and random when absent.
    #[arg(long)]
    seed: Option<u64>,
    /// The redraft-server binary. When absent, the runner builds one with cargo: release, with
    /// the fault-injection feature, into target/jepsen-server.
    #[arg(long, value_name = "PATH")]
    server_bin: Option<PathBuf>,
    /// Seconds the cluster may take to serve at the start and after the final heal.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    recovery_time: u64,
    /// Seconds a client waits for a reply before it records the operation as info.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    client_timeout: f64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum WorkloadArg {
    Register,
    Counter,
    Append,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum NemesisArg {
    Partition,
    Kill,
    Pause,
    Clock,
    Corrupt,
    None,
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// The history file, one op per line (DESIGN.md §6).
    history: PathBuf,
    /// The object every key is.
    #[arg(long, value_enum, default_value_t = Model::Register)]
    model: Model,
    /// Search steps allowed per key before answering unknown.
    #[arg(long, default_value_t = Budget::default().steps_max.unwrap_or(u64::MAX))]
    steps_max: u64,
    /// Wall-clock limit for the whole check, in milliseconds; unlimited when absent.
    #[arg(long)]
    time_limit_ms: Option<u64>,
    /// Print the full result as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Also write a report into this directory, creating it if needed: report.html, latency.svg,
    /// throughput.svg, a timeline-N.svg per violation, and results.json (what --json prints).
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Model {
    Register,
    Counter,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() { ExitCode::from(EXIT_USAGE) } else { ExitCode::SUCCESS };
        }
    };
    match cli.command {
        Command::Check(args) => run_check(&args),
        Command::Run(args) => run_run(&args),
    }
}

#[cfg(not(madsim))]
fn run_run(args: &RunArgs) -> ExitCode {
    use jepsen::runner::{self, Fault, RunConfig, RunError, Workload};

    let usage = |message: &str| {
        eprintln!("jepsen run: {message}");
        ExitCode::from(EXIT_USAGE)
    };
    if args.nemesis.contains(&NemesisArg::None) && args.nemesis.len() > 1 {
        return usage("--nemesis none cannot be combined with faults");
    }
    if !(args.rate > 0.0 && args.rate.is_finite()) {
        return usage("--rate must be a positive number of operations per second");
    }
    if !(args.nemesis_interval >= 1.0 && args.nemesis_interval.is_finite()) {
        return usage("--nemesis-interval must be at least 1 second");
    }
    if !(args.client_timeout > 0.0 && args.client_timeout.is_finite()) {
        return usage("--client-timeout must be a positive number of seconds");
    }
    let mut faults: Vec<Fault> = args
        .nemesis
        .iter()
        .filter_map(|nemesis| match nemesis {
            NemesisArg::Partition => Some(Fault::Partition),
            NemesisArg::Kill => Some(Fault::Kill),
            NemesisArg::Pause => Some(Fault::Pause),
            NemesisArg::Clock => Some(Fault::Clock),
            NemesisArg::Corrupt => Some(Fault::Corrupt),
            NemesisArg::None => None,
        })
        .collect();
    faults.sort_unstable();
    faults.dedup();
    let server_bin = match runner::server_binary(args.server_bin.as_deref()) {
        Ok(path) => path,
        Err(error) => {
            eprintln!("jepsen run: {error}");
            return ExitCode::from(EXIT_NOT_CARRIED_OUT);
        }
    };
    let config = RunConfig {
        nodes: args.nodes as usize,
        time_limit: Duration::from_secs(args.time_limit),
        workload: match args.workload {
            WorkloadArg::Register => Workload::Register,
            WorkloadArg::Counter => Workload::Counter,
            WorkloadArg::Append => Workload::Append,
        },
        faults,
        nemesis_interval: Duration::from_secs_f64(args.nemesis_interval),
        rate: args.rate,
        concurrency: args.concurrency as usize,
        store: args.store.clone(),
        seed: args.seed.unwrap_or_else(runner::fresh_seed),
        server_bin,
        recovery_bound: Duration::from_secs(args.recovery_time),
        client_timeout: Duration::from_secs_f64(args.client_timeout),
    };
    // One thread: the runner's work is light, the machine's cores are the servers', and the
    // nodes it spawns are tied to the thread that spawned them (see `runner::cluster`).
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("jepsen run: cannot start the async runtime: {error}");
            return ExitCode::from(EXIT_NOT_CARRIED_OUT);
        }
    };
    let outcome = runtime.block_on(runner::run(&config, stop_requested()));
    // An interrupted check may still be running on its thread; do not wait for it.
    runtime.shutdown_background();
    match outcome {
        Ok(summary) => {
            print!("{}", summary.text);
            match summary.verdict {
                Verdict::Invalid => ExitCode::from(EXIT_INVALID),
                Verdict::Unknown => ExitCode::from(EXIT_UNKNOWN),
                Verdict::Valid if !summary.recovered => ExitCode::from(EXIT_NOT_RECOVERED),
                Verdict::Valid => ExitCode::SUCCESS,
            }
        }
        Err(error @ RunError::Interrupted { .. }) => {
            eprintln!("jepsen run: {error}");
            ExitCode::from(EXIT_INTERRUPTED)
        }
        Err(error) => {
            eprintln!("jepsen run: the run could not be carried out: {error}");
            ExitCode::from(EXIT_NOT_CARRIED_OUT)
        }
    }
}

#[cfg(madsim)]
fn run_run(_: &RunArgs) -> ExitCode {
    eprintln!("jepsen run drives real processes; it is not built for the simulator");
    ExitCode::from(EXIT_NOT_CARRIED_OUT)
}

/// Completes on Ctrl-C or SIGTERM.
#[cfg(not(madsim))]
async fn stop_requested() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = async {
            match terminate.as_mut() {
                Some(signal) => { signal.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

fn run_check(args: &CheckArgs) -> ExitCode {
    let (ops, lines, nemesis) = match read(&args.history) {
        Ok(read) => read,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(EXIT_UNREADABLE);
        }
    };
    let model = match args.model {
        Model::Register => ModelKind::Register,
        Model::Counter => ModelKind::Counter,
    };
    let budget = Budget {
        steps_max: Some(args.steps_max),
        time_limit: args.time_limit_ms.map(Duration::from_millis),
        ..Budget::default()
    };
    #[allow(clippy::disallowed_methods)] // An offline tool timing itself for the report.
    let started = Instant::now();
    let checked = pair_operations(&ops).and_then(|operations| {
        let result = check_operations(&operations, model, &budget)?;
        Ok((operations, result))
    });
    let elapsed = started.elapsed();
    let (operations, result) = match checked {
        Ok(checked) => checked,
        Err(error) => {
            let line = lines.get(error.position()).copied().unwrap_or(0);
            eprintln!("{}: line {line}: {error}", args.history.display());
            return ExitCode::from(EXIT_UNREADABLE);
        }
    };
    let mut out = io::stdout().lock();
    let printed = if args.json {
        out.write_all(report::results_json(&result).as_bytes())
    } else {
        print_result(&mut out, &result)
    };
    if let Err(error) = printed {
        eprintln!("cannot print the result: {error}");
    }
    if let Some(directory) = &args.report {
        let title = args
            .history
            .file_name()
            .map_or_else(|| args.history.display().to_string(), |name| name.to_string_lossy().into_owned());
        let report = Report::new(&title, &operations, &nemesis, &result).with_check_elapsed(elapsed);
        if let Err(error) = report.write_to(directory) {
            eprintln!("{error}");
            return ExitCode::from(EXIT_REPORT_UNWRITABLE);
        }
        eprintln!("report written to {}", directory.join("report.html").display());
    }
    match result.verdict {
        Verdict::Valid => ExitCode::SUCCESS,
        Verdict::Invalid => ExitCode::from(EXIT_INVALID),
        Verdict::Unknown => ExitCode::from(EXIT_UNKNOWN),
    }
}

/// The client ops of a history, the line number of each (for pointing at errors found later), and
/// its nemesis events.
type ReadHistory = (Vec<jepsen::Op>, Vec<usize>, Vec<NemesisEvent>);

fn read(path: &Path) -> Result<ReadHistory, String> {
    let file = File::open(path).map_err(|error| format!("cannot open {}: {error}", path.display()))?;
    let mut reader = HistoryReader::new(BufReader::new(file));
    let (mut ops, mut lines) = (Vec::new(), Vec::new());
    while let Some(op) = reader.next() {
        ops.push(op.map_err(|error| format!("{}: {error}", path.display()))?);
        lines.push(reader.line_number());
    }
    Ok((ops, lines, reader.take_nemesis()))
}

fn print_result(out: &mut impl Write, result: &CheckResult) -> io::Result<()> {
    match result.verdict {
        Verdict::Valid => writeln!(
            out,
            "valid: {} operations on {} keys ({} model)",
            result.operation_count, result.key_count, result.model
        ),
        Verdict::Invalid => {
            let Some(violation) = &result.violation else {
                return writeln!(out, "invalid");
            };
            writeln!(
                out,
                "invalid: key {}: these {} operations cannot be linearized, even if every other \
                 operation may take effect any time after its invocation or never ({}, from {} \
                 operations on the key):",
                key_name(violation.key.as_deref()),
                violation.operations.len(),
                if violation.minimal { "each is needed" } else { "shrinking stopped early" },
                violation.key_operation_count,
            )?;
            for operation in &violation.operations {
                writeln!(out, "  {}", describe(operation))?;
            }
            if result.invalid_keys.len() > 1 {
                let others: Vec<String> =
                    result.invalid_keys[1..].iter().map(|key| key_name(key.as_deref())).collect();
                writeln!(out, "also invalid: {}", others.join(", "))?;
            }
            Ok(())
        }
        Verdict::Unknown => {
            let keys: Vec<String> = result
                .unknown_keys
                .iter()
                .map(|unknown| {
                    let reason = match unknown.reason {
                        UnknownReason::StepsExhausted => "steps exhausted",
                        UnknownReason::CacheFull => "cache full",
                        UnknownReason::TimeLimit => "time limit",
                    };
                    format!("{} ({reason})", key_name(unknown.key.as_deref()))
                })
                .collect();
            writeln!(
                out,
                "unknown: the search budget ran out on {} of {} keys: {}",
                keys.len(),
                result.key_count,
                keys.join(", ")
            )
        }
    }
}

fn key_name(key: Option<&str>) -> String {
    key.map_or_else(|| "(none)".to_owned(), str::to_owned)
}

fn describe(operation: &Operation) -> String {
    let completion = match (operation.complete_index, operation.complete_time) {
        (Some(index), Some(time)) => format!(
            "op index {} to {index}, time {} to {time} ns",
            operation.invoke_index, operation.invoke_time
        ),
        _ => {
            format!("op index {}, time {} ns, never completed", operation.invoke_index, operation.invoke_time)
        }
    };
    let outcome = match operation.outcome {
        Outcome::Ok => "ok",
        Outcome::Fail => "fail",
        Outcome::Info => "info",
        Outcome::Pending => "pending",
    };
    format!("process {} {} {} {outcome} ({completion})", operation.process, operation.f, operation.value)
}
