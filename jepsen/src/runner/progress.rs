//! What a run shows while it runs, on stderr: a progress bar with the operation counts and the
//! fault in force when stderr is a terminal, and a plain line every ten seconds otherwise (CI
//! logs, files). Nemesis actions are printed as lines of their own either way, and every line
//! also goes to the run's `run.log`, stamped with the wall-clock time the servers' logs use, so
//! the two can be read side by side.

use std::fs::File;
use std::io::{IsTerminal, Write as _};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::harness::Counts;

/// How often a plain line is printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// The run's display.
#[derive(Debug)]
pub struct Progress {
    /// `None` when stderr is not a terminal.
    bar: Option<ProgressBar>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// `run.log`, when it could be created.
    log: Option<File>,
    fault: Option<String>,
    /// When the last plain line was printed.
    last_plain: Option<Duration>,
}

impl Progress {
    /// A display for a run of `time_limit`, that also writes its lines to `log`; a bar only
    /// when stderr is a terminal.
    pub fn new(time_limit: Duration, log: &Path) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(time_limit.as_secs()), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} s  {msg}")
                    .expect("the template is valid")
                    .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let log = super::cluster::append(log).ok();
        Progress { bar, state: Mutex::new(State { log, ..State::default() }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes lines to `run.log` only.
    pub fn log_only(&self, text: &str) {
        if let Some(log) = self.lock().log.as_mut() {
            let stamp = super::stamp::wall_clock_text();
            for line in text.lines() {
                let _ = writeln!(log, "{stamp} {line}");
            }
        }
    }

    /// Prints a line, above the bar if there is one, and logs it.
    pub fn line(&self, text: &str) {
        self.log_only(text);
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    /// Prints something that happened `time_ns` into the run.
    pub fn event(&self, time_ns: u64, text: &str) {
        self.line(&format!("{:>8.1} s  {text}", time_ns as f64 / 1e9));
    }

    /// Shows the fault in force, or none.
    pub fn set_fault(&self, fault: Option<String>) {
        self.lock().fault = fault;
    }

    /// Updates the bar (or prints a plain line when one is due).
    /// `clients_per_node` says how many clients talk to each node, in node order.
    pub fn tick(&self, elapsed: Duration, counts: Counts, clients_per_node: &[usize]) {
        let mut state = self.lock();
        let fault = state.fault.clone().unwrap_or_else(|| "no fault".to_owned());
        let spread: Vec<String> = clients_per_node.iter().map(usize::to_string).collect();
        let summary = format!(
            "ok {} fail {} info {}  |  clients per node {}  |  {fault}",
            counts.ok,
            counts.fail,
            counts.info,
            spread.join("/")
        );
        match &self.bar {
            Some(bar) => {
                bar.set_position(elapsed.as_secs().min(bar.length().unwrap_or(u64::MAX)));
                bar.set_message(summary);
            }
            None => {
                let due = state.last_plain.is_none_or(|last| elapsed >= last + PLAIN_EVERY);
                if due {
                    state.last_plain = Some(elapsed);
                    drop(state);
                    self.line(&format!("{:>8.1} s  {summary}", elapsed.as_secs_f64()));
                }
            }
        }
    }

    /// Removes the bar, leaving the printed lines.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
