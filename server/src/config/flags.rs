//! The command-line flags ([`Flags`]): each overrides the file and the environment. Only the
//! common settings have one; every setting has a file key and a `REDRAFT_*` variable.

use std::path::PathBuf;

use super::{ClientAuth, LogFormat, ServerConfig};
use crate::storage::fsync::FsyncPolicy;

/// The flags; each overrides the file and the environment. They are global, so that they may
/// follow a subcommand (`redraft-server restore FILE --data-dir D`).
#[derive(Clone, Debug, Default, clap::Parser)]
#[command(
    name = "redraft-server",
    version,
    about = "A replicated, durable, Redis-compatible key-value store"
)]
pub struct Flags {
    /// A TOML file of settings (also `REDRAFT_CONFIG`).
    #[arg(global = true, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(global = true, long)]
    pub node_id: Option<u64>,
    #[arg(global = true, long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where Redis clients connect [default: 127.0.0.1:6379].
    #[arg(global = true, long, value_name = "HOST:PORT")]
    pub resp_addr: Option<String>,
    /// Where /metrics, /healthz and /readyz are served [default: 127.0.0.1:7379].
    #[arg(global = true, long, value_name = "HOST:PORT")]
    pub http_addr: Option<String>,
    /// Where this node listens for peers [default: 127.0.0.1:16379].
    #[arg(global = true, long, value_name = "HOST:PORT")]
    pub raft_addr: Option<String>,
    /// The address peers reach this node at, when it differs from raft-addr (a proxy, NAT).
    #[arg(global = true, long, value_name = "HOST:PORT")]
    pub raft_advertise_addr: Option<String>,
    /// The initial cluster, this node included: `1=host:port,2=host:port,3=host:port` (Raft
    /// addresses), each optionally followed by `/resp-host:port`.
    #[arg(global = true, long, value_name = "ID=HOST:PORT,...")]
    pub peers: Option<String>,
    /// Start empty and wait to be added to a running cluster (`RAFT.ADD` on any member).
    #[arg(global = true, long)]
    pub join: bool,
    #[arg(global = true, long, value_name = "NAME")]
    pub cluster_id: Option<String>,
    /// The secret peers prove they hold (16 to 1024 bytes; the same on every node). Needed
    /// when raft-addr is not a loopback address. Better given as REDRAFT_CLUSTER_SECRET.
    #[arg(global = true, long, value_name = "SECRET")]
    pub cluster_secret: Option<String>,
    #[arg(global = true, long, value_enum)]
    pub fsync: Option<FsyncPolicy>,
    /// The default user's password (Redis's requirepass); better given as REDRAFT_REQUIREPASS.
    #[arg(global = true, long, value_name = "PASSWORD")]
    pub requirepass: Option<String>,
    /// yes (the default): refuse Redis clients from other hosts while the default user has no
    /// password; no: accept them.
    #[arg(global = true, long, value_name = "yes|no", value_parser = parse_yes_no)]
    pub protected_mode: Option<bool>,
    /// Serve Redis clients over TLS on this port of resp-addr's host (Redis's tls-port).
    #[arg(global = true, long, value_name = "PORT")]
    pub tls_port: Option<u16>,
    /// The server's certificate chain (PEM).
    #[arg(global = true, long, value_name = "FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// The server's private key (PEM).
    #[arg(global = true, long, value_name = "FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// The CA client certificates are checked against (PEM).
    #[arg(global = true, long, value_name = "FILE")]
    pub tls_ca_cert_file: Option<PathBuf>,
    /// Whether clients must present a certificate [default: yes].
    #[arg(global = true, long, value_enum)]
    pub tls_auth_clients: Option<ClientAuth>,
    /// Serve HTTPS on http-addr, with the tls-* certificates.
    #[arg(global = true, long)]
    pub http_tls: bool,
    /// The users file ACL SAVE writes and ACL LOAD reads; a new cluster starts with its users.
    #[arg(global = true, long, value_name = "FILE")]
    pub aclfile: Option<PathBuf>,
    /// Mutual TLS between peers: tls-cert-file names this node node-<id>.redraft, and peers
    /// show certificates from tls-ca-cert-file (Redis's tls-cluster).
    #[arg(global = true, long)]
    pub tls_cluster: bool,
    /// Serve leader reads under a lease instead of a quorum round per read batch; safe while
    /// clock rates differ by at most 10 % (off by default).
    #[arg(global = true, long)]
    pub read_lease: bool,
    /// Log one JSON object per line.
    #[arg(global = true, long)]
    pub json_logs: bool,
    /// A tracing filter such as `info` or `openraft=warn,info`.
    #[arg(global = true, long, value_name = "FILTER")]
    pub log_level: Option<String>,
    #[command(subcommand)]
    pub command: Option<Subcommand>,
}

/// What the process does instead of running one node.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum Subcommand {
    /// Runs a local cluster on loopback for trying redraft: each node its own process with its
    /// own data directory. Ctrl-C stops them all.
    DevCluster {
        /// How many nodes.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=9))]
        nodes: u64,
        /// Node N serves Redis clients on BASE+N-1, HTTP on BASE+1000+N-1, and peers on
        /// BASE+10000+N-1.
        #[arg(long, value_name = "PORT", default_value_t = 6379)]
        base_port: u16,
        /// Node N keeps its data in DIR/node-N.
        #[arg(long, value_name = "DIR", default_value = "redraft-dev")]
        dir: PathBuf,
        /// Make a CA and node certificates under DIR/tls and use TLS everywhere: between the
        /// nodes (mutual), on a TLS port for Redis clients (BASE+2000+N-1) and on HTTP.
        #[arg(long)]
        tls: bool,
    },
    /// Makes --data-dir (empty or absent) the data directory of node --node-id of a new cluster
    /// (--peers, or this node alone) from a backup FILE (`redraft-cli snapshot save`); the
    /// new cluster gets a new --cluster-id unless one is given. Run once per node.
    Restore {
        /// The backup.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

fn parse_yes_no(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" => Ok(true),
        "no" | "false" | "0" => Ok(false),
        _ => Err(format!("expected yes or no, not {text:?}")),
    }
}

impl ServerConfig {
    pub(super) fn apply_flags(&mut self, flags: &Flags) {
        if let Some(v) = flags.node_id {
            self.node_id = v;
        }
        if let Some(v) = &flags.data_dir {
            self.data_dir = v.clone();
        }
        if let Some(v) = &flags.resp_addr {
            self.resp_addr = v.clone();
        }
        if let Some(v) = &flags.http_addr {
            self.http_addr = v.clone();
        }
        if let Some(v) = &flags.raft_addr {
            self.raft_addr = v.clone();
        }
        if let Some(v) = &flags.raft_advertise_addr {
            self.raft_advertise_addr = v.clone();
        }
        if let Some(v) = &flags.peers {
            self.peers = v.clone();
        }
        if flags.join {
            self.join = true;
        }
        if let Some(v) = &flags.cluster_id {
            self.cluster_id = v.clone();
        }
        if let Some(v) = &flags.cluster_secret {
            self.cluster_secret = v.clone();
        }
        if let Some(v) = flags.fsync {
            self.fsync = v;
        }
        if let Some(v) = &flags.requirepass {
            self.requirepass = v.clone();
        }
        if let Some(v) = flags.protected_mode {
            self.protected_mode = v;
        }
        if let Some(v) = flags.tls_port {
            self.tls_port = v;
        }
        if let Some(v) = &flags.tls_cert_file {
            self.tls_cert_file = v.clone();
        }
        if let Some(v) = &flags.tls_key_file {
            self.tls_key_file = v.clone();
        }
        if let Some(v) = &flags.tls_ca_cert_file {
            self.tls_ca_cert_file = v.clone();
        }
        if let Some(v) = flags.tls_auth_clients {
            self.tls_auth_clients = v;
        }
        if flags.http_tls {
            self.http_tls = true;
        }
        if flags.tls_cluster {
            self.tls_cluster = true;
        }
        if let Some(v) = &flags.aclfile {
            self.aclfile = v.clone();
        }
        if flags.read_lease {
            self.read_lease = true;
        }
        if flags.json_logs {
            self.log_format = LogFormat::Json;
        }
        if let Some(v) = &flags.log_level {
            self.log_level = v.clone();
        }
    }
}
