//! The server processes of a run: where each node listens, its data directory and log under the
//! run's store directory, its peer proxy, and the signals the nemesis sends it (SIGKILL and a
//! restart, SIGSTOP and SIGCONT, a clock offset).
//!
//! Every process it starts it stops: [`Cluster::stop`] asks each node to stop (SIGTERM) and kills
//! the ones that do not, and dropping a [`Cluster`] (an interrupted run, a panic) sends SIGCONT
//! and SIGKILL to whatever is still running. Each node runs in a process group of its own, so a
//! Ctrl-C in the terminal reaches only the runner, which then stops the nodes in that order; and
//! on Linux each node is told to die with the runner (`PR_SET_PDEATHSIG`), for when the runner
//! itself is killed before it can clean up.
//!
//! The runner knows the server only as a binary and its flags (`redraft-server --help`): it
//! never links the server's code.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use super::proxy::{LinkCuts, PeerProxy, ProxyStats};
use super::resp::{Reply, RespClient};

/// The environment variable a fault-injection build of the server reads its clock offset from
/// (`server/src/clock.rs`).
const CLOCK_OFFSET_FILE_ENV: &str = "REDRAFT_CLOCK_OFFSET_FILE";
/// How long a node may take to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// The cluster id every node of a run is given.
const CLUSTER_ID: &str = "jepsen";
/// Settings for every node, beyond the flags: small segments and frequent snapshots, so that a
/// run crosses segment boundaries, compacts its log and sends snapshots to restarted nodes; and
/// a write timeout well under the clients' own, so that most slow writes get a definite
/// `UNKNOWN` from the server rather than a client timeout.
const NODE_CONFIG: &str = "# Written by `jepsen run` for every node of the run.
heartbeat-ms = 100
election-timeout-ms-min = 300
election-timeout-ms-max = 600
snapshot-entry-count = 1000
snapshot-log-keep-count = 100
segment-bytes-max = 262144
write-timeout-ms = 2000
";

/// Where one node lives.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Its Raft node id, from 1.
    pub id: u64,
    /// `n1`, `n2`, ...: how the history and the report name it.
    pub name: String,
    /// Where clients reach it.
    pub resp_addr: SocketAddr,
    /// Where it listens for peers.
    pub raft_addr: SocketAddr,
    /// Where its peers reach it: its proxy.
    pub proxy_addr: SocketAddr,
    /// Its directory under the run's: `data/`, `server.log` and the clock-offset file.
    pub dir: PathBuf,
}

impl NodeSpec {
    /// The node's log: everything the process writes, across restarts.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// Its data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn clock_offset_path(&self) -> PathBuf {
        self.dir.join("clock-offset-ms")
    }
}

/// Why a cluster could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A directory or file under the store could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The path.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// No free port or a proxy address could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the system said.
        source: io::Error,
    },
    /// The server binary could not be run.
    #[error("cannot run {}: {source}", bin.display())]
    Spawn {
        /// The binary.
        bin: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// A node exited during start-up.
    #[error("node {name} exited during start-up ({status}); the end of {}:\n{tail}", log.display())]
    Exited {
        /// The node.
        name: String,
        /// How it ended.
        status: ExitStatus,
        /// Its log.
        log: PathBuf,
        /// The last lines of its log.
        tail: String,
    },
    /// Not every node served a read in time.
    #[error("node {name} did not serve a read within {within:?}; see {}", log.display())]
    NotServing {
        /// The first node that did not.
        name: String,
        /// The bound.
        within: Duration,
        /// Its log.
        log: PathBuf,
    },
}

/// One running server process.
#[derive(Debug)]
struct Process {
    child: Child,
    /// Stopped with SIGSTOP and not yet continued.
    paused: bool,
}

/// The nodes of a run, their processes and their proxies.
#[derive(Debug)]
pub struct Cluster {
    bin: PathBuf,
    specs: Vec<NodeSpec>,
    /// The `--peers` every node is given: each node at its proxy.
    peers: String,
    config_path: PathBuf,
    /// Whether nodes get a clock-offset file (the clock nemesis; needs a fault-injection build).
    clock_offsets: bool,
    /// By position in `specs`; `None` while killed.
    processes: Vec<Option<Process>>,
    cuts: Arc<LinkCuts>,
    proxies: Vec<PeerProxy>,
}

impl Cluster {
    /// Lays out `count` nodes under `run_dir/nodes/`, starts a proxy for each and then the
    /// server processes, and returns once the nodes have been started (see
    /// [`Cluster::wait_serving`]).
    ///
    /// # Errors
    /// [`StartError`]: a file that cannot be written, an address that cannot be bound, a binary
    /// that does not run.
    pub async fn start(
        bin: &Path,
        count: usize,
        run_dir: &Path,
        clock_offsets: bool,
    ) -> Result<Cluster, StartError> {
        let config_path = run_dir.join("redraft.toml");
        write_file(&config_path, NODE_CONFIG)?;
        let cuts = LinkCuts::new();
        let mut specs = Vec::with_capacity(count);
        let mut proxies = Vec::with_capacity(count);
        for id in 1..=count as u64 {
            let ip = node_ip(id);
            let resp_addr = free_port(ip)?;
            let raft_addr = free_port(ip)?;
            let listen = SocketAddr::new(ip, 0);
            let proxy = PeerProxy::start(listen, id, raft_addr, cuts.clone())
                .await
                .map_err(|source| StartError::Bind { addr: listen, source })?;
            let dir = run_dir.join("nodes").join(format!("n{id}"));
            std::fs::create_dir_all(&dir)
                .map_err(|source| StartError::Write { path: dir.clone(), source })?;
            specs.push(NodeSpec {
                id,
                name: format!("n{id}"),
                resp_addr,
                raft_addr,
                proxy_addr: proxy.addr(),
                dir,
            });
            proxies.push(proxy);
        }
        let peers: Vec<String> =
            specs.iter().map(|spec| format!("{}={}/{}", spec.id, spec.proxy_addr, spec.resp_addr)).collect();
        let mut cluster = Cluster {
            bin: bin.to_owned(),
            specs,
            peers: peers.join(","),
            config_path,
            clock_offsets,
            processes: (0..count).map(|_| None).collect(),
            cuts,
            proxies,
        };
        for index in 0..count {
            if clock_offsets {
                cluster.set_clock_offset(index, 0)?;
            }
            cluster.spawn(index, "start")?;
        }
        Ok(cluster)
    }

    /// Waits until every node answers a linearizable read (so a leader is elected and each node
    /// reaches it), within `within`.
    ///
    /// # Errors
    /// [`StartError::Exited`] when a node exits meanwhile, naming it and quoting its log;
    /// [`StartError::NotServing`] when one does not answer in time.
    pub async fn wait_serving(&mut self, within: Duration) -> Result<(), StartError> {
        let deadline = tokio::time::Instant::now() + within;
        for index in 0..self.specs.len() {
            let mut client = RespClient::new(self.specs[index].resp_addr, Duration::from_secs(1));
            loop {
                if let Some(status) = self.exited(index) {
                    let spec = &self.specs[index];
                    return Err(StartError::Exited {
                        name: spec.name.clone(),
                        status,
                        log: spec.log_path(),
                        tail: log_tail(&spec.log_path(), 20),
                    });
                }
                if let Ok(Reply::Bulk(_)) = client.call(&[b"GET", PROBE_KEY]).await {
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    let spec = &self.specs[index];
                    return Err(StartError::NotServing {
                        name: spec.name.clone(),
                        within,
                        log: spec.log_path(),
                    });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// The nodes, in id order.
    pub fn specs(&self) -> &[NodeSpec] {
        &self.specs
    }

    /// The links between nodes, which the partition nemesis cuts.
    pub fn cuts(&self) -> &LinkCuts {
        &self.cuts
    }

    /// Each proxy's counts, by node name.
    pub fn proxy_stats(&self) -> Vec<(String, ProxyStats)> {
        self.specs.iter().zip(&self.proxies).map(|(spec, proxy)| (spec.name.clone(), proxy.stats())).collect()
    }

    /// Whether the node at `index` has a process (it may be paused).
    pub fn is_running(&self, index: usize) -> bool {
        self.processes[index].is_some()
    }

    /// Whether the node at `index` is stopped with SIGSTOP.
    pub fn is_paused(&self, index: usize) -> bool {
        self.processes[index].as_ref().is_some_and(|process| process.paused)
    }

    /// SIGKILL: no clean shutdown, no final sync. Waits for the process to be gone.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut process) = self.processes[index].take() {
            let _ = process.child.kill();
            let _ = process.child.wait();
            self.proxies[index].set_upstream_up(false);
            self.note(index, "killed with SIGKILL");
        }
    }

    /// Starts the node's process again, on the same addresses and data; `why` goes in its log.
    ///
    /// # Errors
    /// [`StartError::Spawn`] when the binary cannot be run.
    pub fn restart(&mut self, index: usize, why: &str) -> Result<(), StartError> {
        if self.processes[index].is_none() {
            self.spawn(index, why)?;
        }
        Ok(())
    }

    /// SIGSTOP: the process stops wherever it is, sockets open.
    pub fn pause(&mut self, index: usize) {
        if let Some(process) = self.processes[index].as_mut().filter(|process| !process.paused) {
            signal(&process.child, libc::SIGSTOP);
            process.paused = true;
        }
    }

    /// SIGCONT for a paused node.
    pub fn resume(&mut self, index: usize) {
        if let Some(process) = self.processes[index].as_mut().filter(|process| process.paused) {
            signal(&process.child, libc::SIGCONT);
            process.paused = false;
        }
    }

    /// Shifts the node's clock (leader stamps, TTLs) by `offset_ms` from the system clock. Takes
    /// effect within 50 ms, also across restarts.
    ///
    /// # Errors
    /// [`StartError::Write`] when the offset file cannot be written.
    pub fn set_clock_offset(&self, index: usize, offset_ms: i64) -> Result<(), StartError> {
        let path = self.specs[index].clock_offset_path();
        // Written whole to a new file and renamed over the old, so the node never reads half.
        let partial = path.with_extension("partial");
        write_file(&partial, &format!("{offset_ms}\n"))?;
        std::fs::rename(&partial, &path).map_err(|source| StartError::Write { path, source })
    }

    /// Whether the clock nemesis is possible: the nodes were started with offset files.
    pub fn has_clock_offsets(&self) -> bool {
        self.clock_offsets
    }

    /// Nodes whose process ended without the runner killing it, with how each ended. Their
    /// slots are emptied, so [`Cluster::restart`] starts them again.
    pub fn reap_exited(&mut self) -> Vec<(usize, ExitStatus)> {
        let mut exited = Vec::new();
        for index in 0..self.processes.len() {
            if let Some(status) = self.exited(index) {
                self.processes[index] = None;
                self.proxies[index].set_upstream_up(false);
                self.note(index, &format!("exited on its own: {status}"));
                exited.push((index, status));
            }
        }
        exited
    }

    /// Stops every node: SIGCONT for paused ones, SIGTERM, and SIGKILL for any still running
    /// after a grace period. Returns the nodes that had to be killed.
    pub async fn stop(&mut self) -> Vec<String> {
        for process in self.processes.iter_mut().flatten() {
            if process.paused {
                signal(&process.child, libc::SIGCONT);
                process.paused = false;
            }
            signal(&process.child, libc::SIGTERM);
        }
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        let mut killed = Vec::new();
        for index in 0..self.processes.len() {
            let Some(mut process) = self.processes[index].take() else { continue };
            loop {
                match process.child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    _ => {
                        let _ = process.child.kill();
                        let _ = process.child.wait();
                        killed.push(self.specs[index].name.clone());
                        break;
                    }
                }
            }
        }
        killed
    }

    /// The exit status of the node's process, if it has ended.
    fn exited(&mut self, index: usize) -> Option<ExitStatus> {
        self.processes[index].as_mut().and_then(|process| process.child.try_wait().ok().flatten())
    }

    fn spawn(&mut self, index: usize, why: &str) -> Result<(), StartError> {
        let spec = &self.specs[index];
        let log_path = spec.log_path();
        self.note(index, &format!("{why}: {} --node-id {}", self.bin.display(), spec.id));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|source| StartError::Write { path: log_path.clone(), source })?;
        let log_err = log.try_clone().map_err(|source| StartError::Write { path: log_path, source })?;
        let mut command = Command::new(&self.bin);
        command
            .arg("--node-id")
            .arg(spec.id.to_string())
            .arg("--data-dir")
            .arg(spec.data_dir())
            .arg("--resp-addr")
            .arg(spec.resp_addr.to_string())
            .args(["--http-addr", ""])
            .arg("--raft-addr")
            .arg(spec.raft_addr.to_string())
            .arg("--raft-advertise-addr")
            .arg(spec.proxy_addr.to_string())
            .args(["--peers", &self.peers, "--cluster-id", CLUSTER_ID, "--log-level", "info"])
            .arg("--config")
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        // The run's settings are the ones above and in the config file, whatever the runner's
        // own environment says.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("REDRAFT_") {
                command.env_remove(name);
            }
        }
        if self.clock_offsets {
            command.env(CLOCK_OFFSET_FILE_ENV, spec.clock_offset_path());
        }
        detach_and_tie_to_runner(&mut command);
        let child = command.spawn().map_err(|source| StartError::Spawn { bin: self.bin.clone(), source })?;
        self.processes[index] = Some(Process { child, paused: false });
        self.proxies[index].set_upstream_up(true);
        Ok(())
    }

    /// Appends a line of the runner's own to the node's log, so the log shows what was done to
    /// the node and when.
    fn note(&self, index: usize, what: &str) {
        let path = self.specs[index].log_path();
        if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(file, "--- jepsen run: {} {what}", self.specs[index].name);
        }
    }
}

impl Drop for Cluster {
    /// Kills whatever is still running: the path of an interrupted or failed run.
    fn drop(&mut self) {
        for process in self.processes.iter_mut().flatten() {
            if process.paused {
                signal(&process.child, libc::SIGCONT);
            }
            let _ = process.child.kill();
            let _ = process.child.wait();
        }
    }
}

/// The key the runner reads to see whether a node serves; the workloads never touch it.
pub const PROBE_KEY: &[u8] = b"jepsen-probe";

/// Node `id` lives on 127.0.0.(10 + id): its own loopback address, so its log lines and
/// sockets are easy to tell apart. Linux routes all of 127.0.0.0/8 to the loopback interface.
fn node_ip(id: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 10 + id as u8))
}

/// A port on `ip` that is free now. The server binds it moments later; another process taking
/// it in between makes that node's start fail with a message naming the address.
fn free_port(ip: IpAddr) -> Result<SocketAddr, StartError> {
    let probe = SocketAddr::new(ip, 0);
    let listener =
        std::net::TcpListener::bind(probe).map_err(|source| StartError::Bind { addr: probe, source })?;
    listener.local_addr().map_err(|source| StartError::Bind { addr: probe, source })
}

fn write_file(path: &Path, contents: &str) -> Result<(), StartError> {
    std::fs::write(path, contents).map_err(|source| StartError::Write { path: path.to_owned(), source })
}

fn signal(child: &Child, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) on a child this process spawned and has not reaped, so the pid is still
        // that child's.
        unsafe { libc::kill(pid, signal) };
    }
}

/// Puts the child in a process group of its own, and on Linux asks the kernel to kill it when
/// the thread that spawned it (the runner's only runtime thread) ends.
fn detach_and_tie_to_runner(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
    #[cfg(target_os = "linux")]
    // SAFETY: the closure runs between fork and exec and calls only prctl(2), which is
    // async-signal-safe, and allocates nothing.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The last `lines` lines of a log, for error messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Opens a file for appending, creating it; for the runner's own logs.
pub fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}
