//! A cluster of real `redraft-server` processes on loopback, for the cluster tests
//! (`cluster.rs`, `large_values.rs`).

// Real processes on real time.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use redraft_net::resp::Frame;
use redraft_server::dev_certs::DevCertificates;

use super::{bulk, free_port, ok, ServerProcess, SyncClient};

/// Raft timings for loopback tests, and frequent snapshots so that the log is compacted.
pub const CONFIG: &str = "heartbeat-ms = 50
election-timeout-ms-min = 200
election-timeout-ms-max = 400
snapshot-entry-count = 200
snapshot-log-keep-count = 50
write-timeout-ms = 5000
";

pub fn text(frame: &Frame) -> String {
    match frame {
        Frame::Bulk(bytes) | Frame::Verbatim { text: bytes, .. } => {
            String::from_utf8_lossy(bytes).into_owned()
        }
        Frame::Simple(text) | Frame::Error(text) => text.clone(),
        other => format!("{other:?}"),
    }
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    /// Node id to (RESP address, Raft address).
    pub addrs: BTreeMap<u64, (String, String)>,
    pub peers: String,
    pub nodes: BTreeMap<u64, ServerProcess>,
    /// With mutual TLS between the nodes, their certificates.
    pub tls: Option<DevCertificates>,
}

impl Cluster {
    /// Starts nodes 1..=count as a new cluster.
    pub fn start(count: u64) -> Cluster {
        Cluster::start_with(count, "")
    }

    /// Starts nodes 1..=count as a new cluster, with `settings` added to every node's config.
    pub fn start_with(count: u64, settings: &str) -> Cluster {
        Cluster::start_full(count, settings, None)
    }

    /// Starts nodes 1..=count as a new cluster with `settings` and, when given, mutual TLS with
    /// the certificates `tls`.
    pub fn start_full(count: u64, settings: &str, tls: Option<DevCertificates>) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("redraft.toml");
        // A key in `settings` replaces the same key in CONFIG.
        let key = |line: &str| line.split('=').next().unwrap_or_default().trim().to_owned();
        let overridden: Vec<String> = settings.lines().map(key).collect();
        let base: String = CONFIG
            .lines()
            .filter(|line| !overridden.contains(&key(line)))
            .map(|line| format!("{line}\n"))
            .collect();
        std::fs::write(&config, format!("{base}{settings}")).expect("write the config");
        let addrs: BTreeMap<u64, (String, String)> = (1..=count)
            .map(|id| (id, (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()))))
            .collect();
        let peers: Vec<String> =
            addrs.iter().map(|(id, (resp, raft))| format!("{id}={raft}/{resp}")).collect();
        let mut cluster = Cluster { dir, config, addrs, peers: peers.join(","), nodes: BTreeMap::new(), tls };
        for id in 1..=count {
            cluster.start_node(id, false);
        }
        cluster
    }

    pub fn start_node(&mut self, id: u64, join: bool) {
        let (resp, raft) = self
            .addrs
            .entry(id)
            .or_insert_with(|| (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port())))
            .clone();
        let data_dir = self.dir.path().join(format!("node-{id}"));
        let id_text = id.to_string();
        let config = self.config.display().to_string();
        let mut args =
            vec!["--node-id", &id_text, "--resp-addr", &resp, "--raft-addr", &raft, "--config", &config];
        if join {
            args.push("--join");
        } else {
            args.extend(["--peers", &self.peers]);
        }
        let files = self.tls.as_ref().map(|certs| {
            [certs.node_cert(id), certs.node_key(id), certs.ca()].map(|path| path.display().to_string())
        });
        if let Some([cert, key, ca]) = &files {
            args.extend([
                "--tls-cluster",
                "--tls-cert-file",
                cert,
                "--tls-key-file",
                key,
                "--tls-ca-cert-file",
                ca,
            ]);
        }
        let process = ServerProcess::try_start_until(&data_dir, &args, "listening for Redis clients")
            .unwrap_or_else(|failure| panic!("node {id} did not start: {}", failure.log));
        self.nodes.insert(id, process);
    }

    /// The last `lines` lines node `id` logged after it was ready, for a failure's message.
    pub fn log_tail(&self, id: u64, lines: usize) -> String {
        let path = self.dir.path().join(format!("node-{id}.log"));
        let log = std::fs::read_to_string(&path).unwrap_or_else(|e| format!("({}: {e})", path.display()));
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub fn client(&self, id: u64) -> SyncClient {
        SyncClient::connect(&self.addrs[&id].0).expect("connect")
    }

    pub fn info(&self, id: u64) -> BTreeMap<String, String> {
        let frame = self.client(id).call(&["RAFT.INFO"]).expect("RAFT.INFO");
        text(&frame)
            .lines()
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// Waits until a running node says it leads, and every running node agrees.
    pub fn leader(&self) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let views: Vec<(u64, BTreeMap<String, String>)> =
                self.nodes.keys().map(|id| (*id, self.info(*id))).collect();
            let leaders: Vec<u64> =
                views.iter().filter(|(_, info)| info["role"] == "leader").map(|(id, _)| *id).collect();
            if let [leader] = leaders[..] {
                if views.iter().all(|(_, info)| info["leader"] == leader.to_string()) {
                    return leader;
                }
            }
            assert!(Instant::now() < deadline, "no agreed leader within 20 s: {views:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn follower(&self, leader: u64) -> u64 {
        *self.nodes.keys().find(|id| **id != leader).expect("a follower")
    }

    /// Every key has its value when read through every running node. Reads are linearizable
    /// (a follower asks the leader for the read index and reads its own state), so this checks
    /// each node's own copy.
    pub fn assert_everywhere(&self, acked: &BTreeMap<String, String>) {
        for id in self.nodes.keys() {
            let mut client = self.client(*id);
            for (key, value) in acked {
                let got = client.call(&["GET", key]).expect("GET");
                if got != bulk(value) {
                    let again = client.call(&["GET", key]).expect("GET");
                    let views: Vec<_> = self.nodes.keys().map(|n| (*n, self.info(*n))).collect();
                    for n in self.nodes.keys() {
                        let log = self.dir.path().join(format!("node-{n}.log"));
                        let text = std::fs::read_to_string(&log).unwrap_or_default();
                        let tail: Vec<&str> = text
                            .lines()
                            .filter(|l| {
                                l.contains("WARN") || l.contains("ERROR") || l.contains("redraft_server")
                            })
                            .collect();
                        eprintln!(
                            "node {n} log ({}):\n{}",
                            log.display(),
                            tail[tail.len().saturating_sub(15)..].join("\n")
                        );
                    }
                    panic!("node {id} lost the acknowledged write {key}={value}: read {got:?}, then {again:?}; views {views:#?}");
                }
            }
        }
    }
}

/// Writes `count` keys through `node` one at a time and returns those acknowledged.
pub fn write_keys(cluster: &Cluster, node: u64, prefix: &str, count: usize) -> BTreeMap<String, String> {
    let mut client = cluster.client(node);
    let mut acked = BTreeMap::new();
    for i in 0..count {
        let (key, value) = (format!("{prefix}{i}"), format!("v{i}"));
        if client.call(&["SET", &key, &value]).expect("SET") == ok() {
            acked.insert(key, value);
        }
    }
    acked
}
