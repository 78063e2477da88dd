//! The `jepsen` command: `jepsen check history.jsonl` checks a recorded history for
//! linearizability, and with `--report DIR` also writes an HTML report with plots into `DIR`. The
//! checking and drawing live in the library; this file parses arguments, reads the file and
//! prints.
//!
//! Exit status: 0 valid, 1 invalid, 2 unknown (the budget ran out), 3 when the history cannot be
//! read or is malformed, 64 (`EX_USAGE`) for bad arguments, kept apart from 2 so a script
//! cannot mistake a typo for an inconclusive check, and 74 (`EX_IOERR`) when the verdict was
//! printed but the report could not be written.

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
