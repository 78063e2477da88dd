//! The server's configuration, in rising precedence: embedded defaults, a TOML file
//! (`--config file.toml`), `REDRAFT_*` environment variables, and command-line flags
//! (DESIGN.md §7). Nothing at all is needed to start: the defaults run a single node on
//! 127.0.0.1:6379 with its data in `./redraft-data`.
//!
//! Every setting has one name: `kebab-case` in the file (`snapshot-entry-count = 50000`),
//! `REDRAFT_SNAKE_CASE` in the environment (`REDRAFT_SNAPSHOT_ENTRY_COUNT=50000`), and for the
//! common ones a flag (`--snapshot-entry-count` is not one; `--fsync` is).

use std::collections::BTreeMap;
use std::path::PathBuf;

use redraft_core::keyspace_event::NotifyFlags;
use redraft_core::limits::PROTO_MAX_BULK_LEN_RANGE;
use redraft_net::peer::ClusterSecret;
use serde::{Deserialize, Serialize};

use crate::addr::{is_host_port, is_loopback, NodeAddr};
use crate::storage::fsync::FsyncPolicy;

mod flags;

pub use self::flags::{Flags, Subcommand};

/// How the server logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Whether clients must present a certificate (Redis's `tls-auth-clients`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// A client certificate signed by the CA is required (Redis's default).
    Yes,
    /// No client certificate is asked for.
    No,
    /// A client certificate is checked if the client sends one.
    Optional,
}

/// Every setting of a server process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServerConfig {
    pub node_id: u64,
    pub data_dir: PathBuf,
    /// Where Redis clients connect.
    pub resp_addr: String,
    /// Where `/metrics`, `/healthz` and `/readyz` are served; empty to serve no HTTP.
    pub http_addr: String,
    /// Where this node listens for its peers' Raft transport.
    pub raft_addr: String,
    /// The address peers use to reach this node (what `peers` gives it), when it is not
    /// `raft_addr`: behind NAT, a proxy, or the fault-injecting proxy of `jepsen run`. Empty
    /// means `raft_addr`.
    pub raft_advertise_addr: String,
    /// The initial cluster, `id=raft-host:port[/resp-host:port],...`, this node included; empty
    /// for a cluster of one. Every node of a new cluster must be given the same list.
    pub peers: String,
    /// Start empty and wait to be added to an existing cluster (`RAFT.ADD` on any member).
    pub join: bool,
    /// Names the cluster; peers of another cluster are refused.
    pub cluster_id: String,
    /// The secret every node of the cluster holds (16 to 1024 bytes), with which peers prove
    /// themselves to each other (`redraft_net::peer::auth`); empty for none, which only a node
    /// whose `raft-addr` is a loopback address may run with. Prefer the environment
    /// (`REDRAFT_CLUSTER_SECRET`) or the file to the flag, which other users can see in `ps`.
    pub cluster_secret: String,
    pub fsync: FsyncPolicy,
    pub log_format: LogFormat,
    /// A tracing filter, e.g. `info` or `redraft_server=debug,openraft=warn`.
    pub log_level: String,
    pub maxclients: usize,
    pub proto_max_bulk_len: usize,
    /// The default user's password, as Redis's `requirepass`, whenever the replicated rules give
    /// that user none (`ACL SETUSER default >...` gives it one, on every node); empty for none.
    /// Prefer `REDRAFT_REQUIREPASS` to the flag, which other users can see in `ps`.
    pub requirepass: String,
    /// Refuse Redis clients from other hosts while the default user needs no password.
    pub protected_mode: bool,
    /// Refuse commands that grow memory while the process has more than this many bytes
    /// allocated (Redis's `maxmemory`); 0 for no limit.
    pub maxmemory: u64,
    /// What to do at `maxmemory`: only Redis's `noeviction` (refuse, with Redis's OOM error).
    pub maxmemory_policy: String,
    /// Which keyspace notifications this node publishes, in Redis's letters (`KEA`, `Elg`, ...);
    /// empty for none. `CONFIG SET notify-keyspace-events` changes it while the node runs.
    pub notify_keyspace_events: String,
    /// The most bytes of replies a Redis client may have waiting; a client past it is closed
    /// (Redis's hard `client-output-buffer-limit` for normal clients); 0 for no limit.
    pub client_output_buffer_limit: u64,
    /// A port on `resp-addr`'s host that serves Redis clients over TLS (Redis's `tls-port`);
    /// 0 for none.
    pub tls_port: u16,
    /// The server's certificate chain, PEM.
    pub tls_cert_file: PathBuf,
    /// The server's private key, PEM.
    pub tls_key_file: PathBuf,
    /// The CA that client certificates must be signed by, PEM; empty for none.
    pub tls_ca_cert_file: PathBuf,
    /// Whether Redis clients must present a certificate on the TLS port (and HTTP clients, with
    /// `http-tls`).
    pub tls_auth_clients: ClientAuth,
    /// Serve HTTPS instead of HTTP on `http-addr`, with the same certificates as `tls-port`.
    pub http_tls: bool,
    /// Redis's `aclfile`: where ACL SAVE writes the users and ACL LOAD reads them; a new cluster
    /// starts with its users. Empty for none.
    pub aclfile: PathBuf,
    /// Mutual TLS between peers (Redis's `tls-cluster`): the node's certificate (`tls-cert-file`)
    /// must name it `node-<id>.redraft` and allow server and client use, and peers must show
    /// certificates from `tls-ca-cert-file` (`redraft_net::peer::tls`).
    pub tls_cluster: bool,
    pub heartbeat_ms: u64,
    pub election_timeout_ms_min: u64,
    pub election_timeout_ms_max: u64,
    /// Serve leader reads locally under a lease shorter than the election timeout, instead of
    /// confirming each with a quorum: faster, but correct only while the nodes' clocks run at
    /// rates within 10 % of each other (`node/read_lease.rs`). Off by default.
    pub read_lease: bool,
    pub snapshot_entry_count: u64,
    pub snapshot_log_bytes: u64,
    /// Entries kept in the log behind a snapshot, for followers that lag a little; one further
    /// behind is sent the snapshot.
    pub snapshot_log_keep_count: u64,
    /// How long a leader waits for each chunk of a snapshot it sends; the last waits while the
    /// follower checks and installs the whole snapshot.
    pub snapshot_install_timeout_ms: u64,
    /// Most changes a node keeps for watchers to resume from (and most bytes: 64 MiB); a
    /// watcher that falls further behind is cut off with `compacted`.
    pub watch_history_changes: usize,
    pub segment_bytes_max: u64,
    pub time_advance_idle_ms: u64,
    pub write_timeout_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        let node = crate::node::NodeOptions::default();
        ServerConfig {
            node_id: 1,
            data_dir: PathBuf::from("redraft-data"),
            resp_addr: "127.0.0.1:6379".into(),
            http_addr: "127.0.0.1:7379".into(),
            raft_addr: "127.0.0.1:16379".into(),
            raft_advertise_addr: String::new(),
            peers: String::new(),
            join: false,
            cluster_id: crate::node::CLUSTER_ID_DEFAULT.into(),
            cluster_secret: String::new(),
            fsync: FsyncPolicy::Always,
            log_format: LogFormat::Text,
            log_level: "info".into(),
            maxclients: redraft_core::limits::MAXCLIENTS_DEFAULT,
            proto_max_bulk_len: redraft_core::limits::VALUE_BYTES_MAX,
            requirepass: String::new(),
            protected_mode: true,
            maxmemory: 0,
            maxmemory_policy: "noeviction".into(),
            notify_keyspace_events: String::new(),
            client_output_buffer_limit: redraft_core::limits::CLIENT_OUTPUT_BUFFER_LIMIT_DEFAULT as u64,
            tls_port: 0,
            tls_cert_file: PathBuf::new(),
            tls_key_file: PathBuf::new(),
            tls_ca_cert_file: PathBuf::new(),
            tls_auth_clients: ClientAuth::Yes,
            http_tls: false,
            tls_cluster: false,
            aclfile: PathBuf::new(),
            heartbeat_ms: node.heartbeat_ms,
            election_timeout_ms_min: node.election_timeout_ms_min,
            election_timeout_ms_max: node.election_timeout_ms_max,
            read_lease: false,
            snapshot_entry_count: node.snapshot_entry_count,
            snapshot_log_bytes: node.snapshot_log_bytes,
            snapshot_log_keep_count: node.snapshot_log_keep_count,
            snapshot_install_timeout_ms: node.snapshot_install_timeout_ms,
            watch_history_changes: node.watch_history_changes,
            segment_bytes_max: node.segment_bytes_max,
            time_advance_idle_ms: node.time_advance_idle_ms,
            write_timeout_ms: node.write_timeout_ms,
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("config file {path}: {message}")]
    File { path: String, message: String },
    #[error("environment variable {name}={value}: {message}")]
    Env { name: String, value: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl ServerConfig {
    /// Builds the configuration from the defaults, the file named by `--config` or
    /// `REDRAFT_CONFIG`, the environment `env`, and the flags.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, variable or setting that is wrong.
    pub fn load(flags: &Flags, env: &BTreeMap<String, String>) -> Result<ServerConfig, ConfigError> {
        let mut table = toml::Table::try_from(ServerConfig::default()).expect("the defaults serialize");
        let file = flags.config.clone().or_else(|| env.get("REDRAFT_CONFIG").map(PathBuf::from));
        if let Some(path) = file {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(&path)
                .map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
            let from_file: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::File {
                path: shown.clone(),
                message: e.to_string(),
            })?;
            // Check the file on its own first, so an error names the file rather than the merge.
            ServerConfig::deserialize(toml::Value::Table(from_file.clone()))
                .map_err(|e| ConfigError::File { path: shown, message: e.to_string() })?;
            table.extend(from_file);
        }
        let keys: Vec<String> = table.keys().cloned().collect();
        for key in keys {
            let name = format!("REDRAFT_{}", key.replace('-', "_").to_uppercase());
            let Some(value) = env.get(&name) else { continue };
            let typed = match &table[&key] {
                toml::Value::Integer(_) => {
                    value.trim().parse::<i64>().map(toml::Value::Integer).map_err(|e| e.to_string())
                }
                toml::Value::Boolean(_) => match value.trim() {
                    "true" | "1" | "yes" => Ok(toml::Value::Boolean(true)),
                    "false" | "0" | "no" | "" => Ok(toml::Value::Boolean(false)),
                    _ => Err("expected true or false".to_owned()),
                },
                _ => Ok(toml::Value::String(value.clone())),
            };
            let typed = typed.map_err(|message| ConfigError::Env {
                name: name.clone(),
                value: value.clone(),
                message,
            })?;
            table.insert(key, typed);
        }
        let mut config = ServerConfig::deserialize(toml::Value::Table(table)).map_err(|e| {
            ConfigError::Env { name: "REDRAFT_*".into(), value: String::new(), message: e.to_string() }
        })?;
        config.apply_flags(flags);
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.node_id == 0 {
            return Err(ConfigError::Invalid("node-id must be at least 1".into()));
        }
        if self.watch_history_changes == 0 {
            return Err(ConfigError::Invalid("watch-history-changes must be at least 1".into()));
        }
        if self.election_timeout_ms_min <= self.heartbeat_ms
            || self.election_timeout_ms_max <= self.election_timeout_ms_min
        {
            return Err(ConfigError::Invalid(format!(
                "need heartbeat-ms < election-timeout-ms-min < election-timeout-ms-max, got {} / {} / {}",
                self.heartbeat_ms, self.election_timeout_ms_min, self.election_timeout_ms_max
            )));
        }
        if (self.tls_port != 0 || self.http_tls)
            && (self.tls_cert_file.as_os_str().is_empty() || self.tls_key_file.as_os_str().is_empty())
        {
            return Err(ConfigError::Invalid(
                "tls-port and http-tls need tls-cert-file and tls-key-file".into(),
            ));
        }
        if self.tls_cluster
            && [&self.tls_cert_file, &self.tls_key_file, &self.tls_ca_cert_file]
                .iter()
                .any(|file| file.as_os_str().is_empty())
        {
            return Err(ConfigError::Invalid(
                "tls-cluster needs tls-cert-file and tls-key-file (this node's certificate, naming it \
                 node-<id>.redraft) and tls-ca-cert-file (the CA every node's certificate is signed by)"
                    .into(),
            ));
        }
        if self.maxmemory_policy != "noeviction" {
            return Err(ConfigError::Invalid(format!(
                "maxmemory-policy {:?} is not supported: redraft refuses writes at maxmemory (noeviction) and \
                 evicts nothing",
                self.maxmemory_policy
            )));
        }
        if NotifyFlags::parse(&self.notify_keyspace_events).is_none() {
            return Err(ConfigError::Invalid(format!(
                "notify-keyspace-events {:?} has a character that names no event class: use 'Ag$lshzxeKEtmdn'",
                self.notify_keyspace_events
            )));
        }
        if self.maxclients == 0 {
            return Err(ConfigError::Invalid("maxclients must be at least 1".into()));
        }
        if !PROTO_MAX_BULK_LEN_RANGE.contains(&self.proto_max_bulk_len) {
            return Err(ConfigError::Invalid(format!(
                "proto-max-bulk-len must be between {} and {} bytes (1mb and 512mb), not {}",
                PROTO_MAX_BULK_LEN_RANGE.start(),
                PROTO_MAX_BULK_LEN_RANGE.end(),
                self.proto_max_bulk_len
            )));
        }
        if !self.raft_advertise_addr.is_empty() && !is_host_port(&self.raft_advertise_addr) {
            return Err(ConfigError::Invalid(format!(
                "raft-advertise-addr {:?} is not host:port",
                self.raft_advertise_addr
            )));
        }
        redraft_net::peer::check_cluster_id(&self.cluster_id).map_err(ConfigError::Invalid)?;
        self.secret()?;
        if self.cluster_secret.is_empty() && !self.tls_cluster && !is_loopback(&self.raft_addr) {
            return Err(ConfigError::Invalid(format!(
                "raft-addr {} is not a loopback address, and anyone who reaches it could act as a peer: \
                 set cluster-secret (the same on every node; REDRAFT_CLUSTER_SECRET keeps it out of `ps`), \
                 or tls-cluster with node certificates",
                self.raft_addr
            )));
        }
        let peers = self.peers()?;
        if !peers.is_empty() {
            if self.join {
                return Err(ConfigError::Invalid(
                    "give either peers (to start a new cluster) or join (to be added to a running one), not both"
                        .into(),
                ));
            }
            let Some(own) = peers.get(&self.node_id) else {
                return Err(ConfigError::Invalid(format!(
                    "peers {:?} do not name this node (node-id {}); to join a running cluster, use join",
                    self.peers, self.node_id
                )));
            };
            if own.raft_addr != self.advertised_raft_addr() {
                let given =
                    if self.raft_advertise_addr.is_empty() { "raft-addr" } else { "raft-advertise-addr" };
                return Err(ConfigError::Invalid(format!(
                    "peers give node {} the Raft address {}, but {given} is {}",
                    self.node_id,
                    own.raft_addr,
                    self.advertised_raft_addr()
                )));
            }
            // A node listening on every interface (0.0.0.0:6379, as in a container) is reached by
            // its peers under a name of its own; the ports must still agree.
            let listens_everywhere = crate::addr::split_host_port(&self.resp_addr)
                .zip(crate::addr::split_host_port(&own.resp_addr))
                .is_some_and(|((host, port), (_, own_port))| {
                    matches!(host, "0.0.0.0" | "::" | "[::]") && port == own_port
                });
            if !own.resp_addr.is_empty() && own.resp_addr != self.resp_addr && !listens_everywhere {
                return Err(ConfigError::Invalid(format!(
                    "peers give node {} the RESP address {}, but resp-addr is {}",
                    self.node_id, own.resp_addr, self.resp_addr
                )));
            }
        }
        Ok(())
    }

    /// The cluster secret, if one is set.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a secret of the wrong length.
    pub fn secret(&self) -> Result<Option<ClusterSecret>, ConfigError> {
        if self.cluster_secret.is_empty() {
            return Ok(None);
        }
        ClusterSecret::new(self.cluster_secret.as_bytes()).map(Some).map_err(ConfigError::Invalid)
    }

    /// The Raft address peers use for this node: `raft_advertise_addr`, or else `raft_addr`.
    pub fn advertised_raft_addr(&self) -> &str {
        if self.raft_advertise_addr.is_empty() {
            &self.raft_addr
        } else {
            &self.raft_advertise_addr
        }
    }

    /// The initial cluster named by `peers`, by node id. A peer given without a RESP address
    /// has an empty one: every node must derive the very same membership from the list.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for an entry that is not `id=host:port[/host:port]`.
    pub fn peers(&self) -> Result<BTreeMap<u64, NodeAddr>, ConfigError> {
        let mut peers = BTreeMap::new();
        for entry in self.peers.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let parsed = entry.split_once('=').and_then(|(id, addrs)| {
                let id = id.trim().parse::<u64>().ok().filter(|id| *id > 0)?;
                let (raft, resp) = addrs.split_once('/').unwrap_or((addrs, ""));
                let (raft, resp) = (raft.trim(), resp.trim());
                (is_host_port(raft) && (resp.is_empty() || is_host_port(resp)))
                    .then(|| (id, NodeAddr { raft_addr: raft.to_owned(), resp_addr: resp.to_owned() }))
            });
            match parsed {
                Some((id, addr)) => {
                    if peers.insert(id, addr).is_some() {
                        return Err(ConfigError::Invalid(format!("peers name node {id} twice")));
                    }
                }
                None => {
                    return Err(ConfigError::Invalid(format!(
                        "peers entry {entry:?} is not id=host:port or id=host:port/host:port (ids start at 1)"
                    )))
                }
            }
        }
        Ok(peers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// No file, no environment, no flags: the embedded defaults.
    #[test]
    fn nothing_given_means_defaults() {
        let config = ServerConfig::load(&Flags::default(), &BTreeMap::new()).expect("defaults load");
        assert_eq!(config, ServerConfig::default());
        assert_eq!(config.resp_addr, "127.0.0.1:6379");
    }

    /// Each layer overrides the one below it: file < environment < flags.
    #[test]
    fn file_then_environment_then_flags() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("redraft.toml");
        std::fs::write(
            &path,
            "fsync = \"no\"\nmaxclients = 7\nresp-addr = \"127.0.0.1:1000\"\nnode-id = 3\n",
        )
        .expect("write");
        let flags =
            Flags { config: Some(path), resp_addr: Some("127.0.0.1:3000".into()), ..Flags::default() };
        let config = ServerConfig::load(
            &flags,
            &env(&[("REDRAFT_MAXCLIENTS", "9"), ("REDRAFT_RESP_ADDR", "127.0.0.1:2000")]),
        )
        .expect("loads");
        assert_eq!(config.fsync, FsyncPolicy::No, "from the file");
        assert_eq!(config.node_id, 3, "from the file");
        assert_eq!(config.maxclients, 9, "the environment beats the file");
        assert_eq!(config.resp_addr, "127.0.0.1:3000", "the flag beats both");
    }

    /// Mistakes name where they are.
    #[test]
    fn errors_name_the_file_the_variable_or_the_setting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "maxclient = 7\n").expect("write");
        let flags = Flags { config: Some(path), ..Flags::default() };
        let error = ServerConfig::load(&flags, &BTreeMap::new()).expect_err("unknown key").to_string();
        assert!(error.contains("bad.toml") && error.contains("maxclient"), "{error}");

        let error = ServerConfig::load(&Flags::default(), &env(&[("REDRAFT_MAXCLIENTS", "many")]))
            .expect_err("not a number")
            .to_string();
        assert!(error.contains("REDRAFT_MAXCLIENTS=many"), "{error}");

        let config =
            ServerConfig::load(&Flags::default(), &env(&[("REDRAFT_JOIN", "true")])).expect("a boolean");
        assert!(config.join);
        let error = ServerConfig::load(&Flags::default(), &env(&[("REDRAFT_JOIN", "maybe")]))
            .expect_err("not a boolean")
            .to_string();
        assert!(error.contains("REDRAFT_JOIN=maybe"), "{error}");

        let flags = Flags {
            peers: Some("1=127.0.0.1:16379,2=127.0.0.1:16380".into()),
            node_id: Some(3),
            ..Flags::default()
        };
        let error = ServerConfig::load(&flags, &BTreeMap::new()).expect_err("not this node").to_string();
        assert!(error.contains("node-id 3"), "{error}");
        let flags = Flags { peers: Some("1=127.0.0.1:9/127.0.0.1:6379".into()), ..Flags::default() };
        let error = ServerConfig::load(&flags, &BTreeMap::new()).expect_err("wrong raft address").to_string();
        assert!(error.contains("raft-addr is 127.0.0.1:16379"), "{error}");
        // Behind a proxy, peers name the advertised address, not the one listened on.
        let flags = Flags {
            peers: Some("1=127.0.0.1:9/127.0.0.1:6379".into()),
            raft_advertise_addr: Some("127.0.0.1:9".into()),
            ..Flags::default()
        };
        let config = ServerConfig::load(&flags, &BTreeMap::new()).expect("the advertised address matches");
        assert_eq!(
            (config.raft_addr.as_str(), config.advertised_raft_addr()),
            ("127.0.0.1:16379", "127.0.0.1:9")
        );
        let flags = Flags { raft_advertise_addr: Some("nowhere".into()), ..Flags::default() };
        let error = ServerConfig::load(&flags, &BTreeMap::new()).expect_err("not host:port").to_string();
        assert!(error.contains("raft-advertise-addr \"nowhere\""), "{error}");

        // Every source is validated alike: a bulk length CONFIG SET would refuse is refused here.
        for bad in ["0", "1048575", "536870913"] {
            let error = ServerConfig::load(&Flags::default(), &env(&[("REDRAFT_PROTO_MAX_BULK_LEN", bad)]))
                .expect_err("out of range")
                .to_string();
            assert!(error.contains("proto-max-bulk-len must be between 1048576 and 536870912"), "{error}");
        }
        let config =
            ServerConfig::load(&Flags::default(), &env(&[("REDRAFT_PROTO_MAX_BULK_LEN", "1048576")]))
                .expect("the smallest allowed");
        assert_eq!(config.proto_max_bulk_len, 1024 * 1024);

        let flags = Flags { peers: Some("1=a:1,x".into()), ..Flags::default() };
        let error = ServerConfig::load(&flags, &BTreeMap::new()).expect_err("bad peers").to_string();
        assert!(error.contains("\"x\""), "{error}");
    }

    /// A Raft address others can reach needs a cluster secret; a secret must be long enough.
    #[test]
    fn a_network_raft_address_needs_a_cluster_secret() {
        let flags = Flags { raft_addr: Some("0.0.0.0:16379".into()), ..Flags::default() };
        let error = ServerConfig::load(&flags, &BTreeMap::new()).expect_err("no secret").to_string();
        assert!(error.contains("raft-addr 0.0.0.0:16379 is not a loopback address"), "{error}");
        let secret = env(&[("REDRAFT_CLUSTER_SECRET", "a secret of the cluster")]);
        let config = ServerConfig::load(&flags, &secret).expect("a secret from the environment");
        assert!(config.secret().expect("valid").is_some());
        let error = ServerConfig::load(&Flags::default(), &env(&[("REDRAFT_CLUSTER_SECRET", "short")]))
            .expect_err("too short")
            .to_string();
        assert!(error.contains("16 to 1024 bytes"), "{error}");
        let config = ServerConfig::load(&Flags::default(), &BTreeMap::new()).expect("loopback needs none");
        assert!(config.secret().expect("valid").is_none());

        // Mutual TLS instead of a secret, once its three files are named.
        let tls = Flags { tls_cluster: true, ..flags.clone() };
        let error = ServerConfig::load(&tls, &BTreeMap::new()).expect_err("no certificates").to_string();
        assert!(error.contains("tls-cluster needs tls-cert-file"), "{error}");
        let files = env(&[
            ("REDRAFT_TLS_CERT_FILE", "node.pem"),
            ("REDRAFT_TLS_KEY_FILE", "node.key"),
            ("REDRAFT_TLS_CA_CERT_FILE", "ca.pem"),
        ]);
        let config = ServerConfig::load(&tls, &files).expect("mutual TLS");
        assert!(config.tls_cluster && config.secret().expect("valid").is_none());
    }

    /// In a container a node listens on every interface and its peers name it by host name:
    /// accepted when the ports agree; another port is still a mistake.
    #[test]
    fn a_node_listening_on_every_interface_is_named_by_its_peers() {
        let peers = "1=redraft-1:16379/redraft-1:6379,2=redraft-2:16379/redraft-2:6379";
        let flags = |resp: &str| Flags {
            node_id: Some(1),
            resp_addr: Some(resp.into()),
            raft_addr: Some("127.0.0.1:16379".into()),
            raft_advertise_addr: Some("redraft-1:16379".into()),
            peers: Some(peers.into()),
            ..Flags::default()
        };
        ServerConfig::load(&flags("0.0.0.0:6379"), &BTreeMap::new()).expect("the same port");
        let error = ServerConfig::load(&flags("0.0.0.0:6380"), &BTreeMap::new()).expect_err("another port");
        assert!(error.to_string().contains("the RESP address redraft-1:6379"), "{error}");
        let error = ServerConfig::load(&flags("127.0.0.1:6379"), &BTreeMap::new()).expect_err("another host");
        assert!(error.to_string().contains("but resp-addr is 127.0.0.1:6379"), "{error}");
    }

    /// The read lease is off unless asked for (flag or environment), and then the node gets the
    /// election timeout shortened by the drift bound, never the timeout itself.
    #[test]
    fn the_read_lease_is_off_by_default_and_shorter_than_the_election_timeout_when_on() {
        let config = ServerConfig::load(&Flags::default(), &BTreeMap::new()).expect("defaults");
        assert_eq!(crate::app::node_options(&config).read_lease_ms, 0);
        let config =
            ServerConfig::load(&Flags::default(), &env(&[("REDRAFT_READ_LEASE", "1")])).expect("a boolean");
        assert_eq!(crate::app::node_options(&config).read_lease_ms, 490);
        let flags = Flags { read_lease: true, ..Flags::default() };
        let config = ServerConfig::load(&flags, &env(&[("REDRAFT_ELECTION_TIMEOUT_MS_MAX", "1000")]))
            .expect("a flag and a timeout");
        assert_eq!(crate::app::node_options(&config).read_lease_ms, 818);
    }
}
