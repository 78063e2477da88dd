//! The production server process: real files, the system clock, RESP and HTTP listeners on real
//! sockets, and a clean stop on Ctrl-C or SIGTERM. The `redraft-server` binary only parses its
//! configuration and calls [`run`]; the simulator builds the same [`Node`] and [`RespServer`] on
//! its own seams instead.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::addr::NodeAddr;
use crate::config::{LogFormat, ServerConfig};
use crate::metrics::Metrics;
use crate::node::{Node, NodeOptions};
use crate::resp::{RespServer, RespSettings};
use crate::storage::file_disk::FileDisk;
use crate::storage::fsync::FsyncPolicy;

/// How long a stopping server waits for its listeners to finish.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(5);
const LOCK_FILE: &str = "LOCK";

/// Sets up logging as configured: readable lines, or JSON with `--json-logs`.
pub fn init_logging(config: &ServerConfig) {
    // openraft narrates every election at info; a node's own lines are what an operator reads.
    let level = if config.log_level.contains("openraft") {
        config.log_level.clone()
    } else {
        format!("openraft=warn,{}", config.log_level)
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr);
    let _ = match config.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The node options a configuration asks for.
pub fn node_options(config: &ServerConfig) -> NodeOptions {
    NodeOptions {
        node_id: config.node_id,
        addr: NodeAddr {
            raft_addr: config.advertised_raft_addr().to_owned(),
            resp_addr: config.resp_addr.clone(),
        },
        cluster_id: config.cluster_id.clone(),
        // `validate` has checked it already.
        cluster_secret: config.secret().unwrap_or_default(),
        requirepass: (!config.requirepass.is_empty()).then(|| config.requirepass.clone()),
        maxmemory: config.maxmemory,
        // `validate` has parsed them already.
        peers: config.peers().unwrap_or_default(),
        join: config.join,
        fsync: config.fsync,
        segment_bytes_max: config.segment_bytes_max,
        heartbeat_ms: config.heartbeat_ms,
        election_timeout_ms_min: config.election_timeout_ms_min,
        election_timeout_ms_max: config.election_timeout_ms_max,
        read_lease_ms: if config.read_lease {
            crate::node::safe_read_lease_ms(config.election_timeout_ms_max)
        } else {
            0
        },
        snapshot_entry_count: config.snapshot_entry_count,
        snapshot_log_bytes: config.snapshot_log_bytes,
        snapshot_log_keep_count: config.snapshot_log_keep_count,
        snapshot_install_timeout_ms: config.snapshot_install_timeout_ms,
        watch_history_changes: config.watch_history_changes,
        time_advance_idle_ms: config.time_advance_idle_ms,
        write_timeout_ms: config.write_timeout_ms,
        // SCAN's order is the only thing the seed shows; a per-process seed keeps hash flooding
        // from choosing which shard a client's keys land in.
        hash_seed: rand::random(),
        ..NodeOptions::default()
    }
}

/// Runs a server until Ctrl-C or SIGTERM.
///
/// # Errors
/// A message for the operator: the data directory is unusable or in use, the log is corrupt
/// (naming the file and offset), or an address cannot be bound.
pub async fn run(mut config: ServerConfig) -> Result<(), String> {
    // A restored data directory belongs to the cluster it was restored for (`restore.rs`).
    if let Some(recorded) = crate::restore::recorded_cluster_id(&config.data_dir, &config.cluster_id)? {
        config.cluster_id = recorded;
    }
    // Before anything opens a file: the limit decides how many clients fit.
    let maxclients = crate::open_files::fit_maxclients(config.maxclients)?;
    let dir = &config.data_dir;
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the data directory {}: {e}", dir.display()))?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .map_err(|e| format!("cannot open {}: {e}", dir.join(LOCK_FILE).display()))?;
    lock.try_lock()
        .map_err(|_| format!("the data directory {} is in use by another redraft-server", dir.display()))?;
    let disk =
        FileDisk::new(dir).map_err(|e| format!("cannot open the data directory {}: {e}", dir.display()))?;
    let disk = match config.fsync {
        FsyncPolicy::No => disk.without_preallocation(),
        FsyncPolicy::Everysec => disk,
        FsyncPolicy::Always => disk.without_write_back(),
    };
    let metrics = Arc::new(Metrics::new());
    let raft_listener = TcpListener::bind(&config.raft_addr)
        .await
        .map_err(|e| format!("cannot listen for peers on {}: {e}", config.raft_addr))?;
    let clock = crate::clock::process_clock()?;
    let files = crate::tls::TlsFiles {
        cert: &config.tls_cert_file,
        key: &config.tls_key_file,
        ca: (!config.tls_ca_cert_file.as_os_str().is_empty()).then_some(config.tls_ca_cert_file.as_path()),
        client_auth: config.tls_auth_clients,
    };
    let mut options = node_options(&config);
    if config.tls_cluster {
        options.peer_tls = Some(Arc::new(crate::tls::peer_tls(&files)?));
    }
    let node = Node::start(options, disk, clock, metrics).await.map_err(|e| format!("cannot start: {e}"))?;
    if let Some(flags) = redraft_core::keyspace_event::NotifyFlags::parse(&config.notify_keyspace_events) {
        node.set_keyspace_events(flags);
    }
    let resp = TcpListener::bind(&config.resp_addr)
        .await
        .map_err(|e| format!("cannot listen for Redis clients on {}: {e}", config.resp_addr))?;
    let acceptor =
        if config.tls_port != 0 || config.http_tls { Some(crate::tls::acceptor(&files)?) } else { None };
    let tls = match (config.tls_port, &acceptor) {
        (0, _) | (_, None) => None,
        (port, Some(acceptor)) => {
            let host = crate::addr::split_host_port(&config.resp_addr).map_or("127.0.0.1", |(host, _)| host);
            let addr = format!("{host}:{port}");
            let listener = TcpListener::bind(&addr)
                .await
                .map_err(|e| format!("cannot listen for Redis clients over TLS on {addr}: {e}"))?;
            Some((listener, acceptor.clone()))
        }
    };
    let http = match config.http_addr.as_str() {
        "" => None,
        addr => Some(
            TcpListener::bind(addr).await.map_err(|e| format!("cannot listen for HTTP on {addr}: {e}"))?,
        ),
    };
    let (stop, stopped) = watch::channel(false);
    let settings = RespSettings {
        maxclients: maxclients.into(),
        proto_max_bulk_len: config.proto_max_bulk_len.into(),
        data_dir: dir.display().to_string(),
        protected_mode: config.protected_mode,
        client_output_buffer_limit: usize::try_from(config.client_output_buffer_limit).unwrap_or(usize::MAX),
        aclfile: (!config.aclfile.as_os_str().is_empty()).then(|| config.aclfile.clone()),
    };
    let resp_addr = resp.local_addr().map_or_else(|_| config.resp_addr.clone(), |a| a.to_string());
    let http_addr = http.as_ref().and_then(|l| l.local_addr().ok()).map(|a| a.to_string());
    let raft_addr = raft_listener.local_addr().map_or_else(|_| config.raft_addr.clone(), |a| a.to_string());
    let peer_task = tokio::spawn(node.serve_peers(raft_listener, stopped.clone()));
    tokio::spawn(crate::disk_space::report(node.metrics().clone(), dir.clone(), stopped.clone()));
    let resp_server = RespServer::new(node.clone(), settings);
    let tls_addr = tls.as_ref().and_then(|(listener, _)| listener.local_addr().ok()).map(|a| a.to_string());
    let tls_task = tls.map(|(listener, acceptor)| {
        tokio::spawn(resp_server.clone().serve_tls(listener, acceptor, stopped.clone()))
    });
    let bootstrap = resp_server.clone();
    let resp_task = tokio::spawn(resp_server.serve(resp, stopped.clone()));
    let http_task = http.map(|listener| {
        let limits = crate::http::HttpLimits {
            tls: acceptor.filter(|_| config.http_tls),
            ..crate::http::HttpLimits::default()
        };
        tokio::spawn(crate::http::serve_with(listener, node.clone(), stopped.clone(), limits))
    });
    let recovery = node.recovery();
    tracing::info!(
        node_id = config.node_id,
        data_dir = %dir.display(),
        fsync = ?config.fsync,
        log_entries = recovery.entry_count,
        cluster_id = %config.cluster_id,
        "redraft {} listening for Redis clients on {resp_addr}{}{}, peers on {raft_addr}",
        env!("CARGO_PKG_VERSION"),
        tls_addr.map(|a| format!(", TLS on {a}")).unwrap_or_default(),
        http_addr.map(|a| format!(", HTTP on {a}")).unwrap_or_default(),
    );
    let ready = node
        .raft()
        .wait(Some(Duration::from_millis(node.options().leader_wait_ms)))
        .metrics(|m| m.current_leader.is_some(), "a leader is elected")
        .await;
    match ready {
        Ok(metrics) => tracing::info!(
            term = metrics.current_term,
            leader = metrics.current_leader,
            "ready: try `redis-cli -p {}`",
            port(&resp_addr)
        ),
        Err(error) => tracing::warn!(%error, "no leader yet; requests wait for one"),
    }
    tokio::spawn(async move {
        if let Some(reply) = crate::resp::bootstrap_from_acl_file(&bootstrap).await {
            tracing::info!(?reply, "a new cluster's users, from the ACL file");
        }
    });
    // A node whose Raft core stopped (a fatal error, a panic in the core or the apply path)
    // can serve nothing; it exits, non-zero, so that a supervisor restarts it, rather than stay
    // up answering TRYAGAIN.
    let failed = tokio::select! {
        () = wait_for_stop_signal() => None,
        why = node.raft_stopped() => Some(why),
    };
    match &failed {
        None => tracing::info!("stopping"),
        Some(why) => {
            tracing::error!("Raft has stopped ({why}); stopping the process for a supervisor to restart it")
        }
    }
    let _ = stop.send(true);
    let _ = tokio::time::timeout(STOP_GRACE, resp_task).await;
    if let Some(task) = tls_task {
        let _ = tokio::time::timeout(STOP_GRACE, task).await;
    }
    if let Some(task) = http_task {
        let _ = tokio::time::timeout(STOP_GRACE, task).await;
    }
    node.shutdown().await;
    let _ = tokio::time::timeout(STOP_GRACE, peer_task).await;
    drop(lock);
    tracing::info!("stopped");
    match failed {
        None => Ok(()),
        Some(why) => Err(format!("Raft has stopped: {why}")),
    }
}

pub(crate) fn port(addr: &str) -> &str {
    addr.rsplit(':').next().unwrap_or(addr)
}

pub(crate) async fn wait_for_stop_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        biased;
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match terminate.as_mut() {
                Some(signal) => { signal.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}
