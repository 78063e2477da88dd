//! A run's settings: what `jepsen run` was told, and how to say it again.

use std::path::PathBuf;
use std::time::Duration;

use super::faults::Fault;
use super::workload::Workload;

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

    /// The command line that runs the same test with the same seed.
    pub fn rerun_command(&self) -> String {
        let faults: Vec<&str> = self.faults.iter().map(|fault| fault.name()).collect();
        format!(
            "cargo run --release -p jepsen -- run --nodes {} --time-limit {} --workload {} --nemesis {} \
             --nemesis-interval {} --rate {} --concurrency {} --seed {}",
            self.nodes,
            self.time_limit.as_secs(),
            self.workload.name(),
            if faults.is_empty() { "none".to_owned() } else { faults.join(",") },
            self.nemesis_interval.as_secs_f64(),
            self.rate,
            self.concurrency,
            self.seed
        )
    }
}
