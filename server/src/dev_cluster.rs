//! `redraft-server dev-cluster`: a local cluster on loopback for trying redraft, each node its
//! own process with its own data directory, optionally with TLS everywhere (`--tls`).

use std::io::BufRead;
use std::path::Path;
use std::time::Duration;

use crate::app::{port as port_of, wait_for_stop_signal, STOP_GRACE};
use crate::config::ServerConfig;

/// Runs `nodes` server processes on loopback as one cluster until Ctrl-C or SIGTERM, prefixing
/// each line they log with its node id. Ports and directories follow the `dev-cluster` flags;
/// with `tls`, a new CA and certificates under `dir/tls` (`dev_certs.rs`), mutual TLS between
/// the nodes, a TLS port for Redis clients beside the plain one, and HTTPS.
///
/// # Errors
/// A message when a port range does not fit, certificates cannot be made, or a process cannot be
/// started.
pub async fn dev_cluster(
    config: &ServerConfig,
    nodes: u64,
    base_port: u16,
    dir: &Path,
    tls: bool,
) -> Result<(), String> {
    let port = |offset: u64, n: u64| -> Result<u16, String> {
        u16::try_from(u64::from(base_port) + offset + n - 1)
            .map_err(|_| format!("base port {base_port} leaves no room for {nodes} nodes"))
    };
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut addrs = Vec::new();
    for n in 1..=nodes {
        addrs.push((
            n,
            format!("127.0.0.1:{}", port(0, n)?),
            format!("127.0.0.1:{}", port(1000, n)?),
            format!("127.0.0.1:{}", port(10_000, n)?),
            port(2000, n)?,
        ));
    }
    let certs = if tls { Some(crate::dev_certs::write(&dir.join("tls"), 1..=nodes)?) } else { None };
    let peers: Vec<String> = addrs.iter().map(|(n, resp, _, raft, _)| format!("{n}={raft}/{resp}")).collect();
    let peers = peers.join(",");
    let mut children = Vec::new();
    for (n, resp, http, raft, tls_port) in &addrs {
        let data_dir = dir.join(format!("node-{n}"));
        let mut command = std::process::Command::new(&exe);
        command
            .args([
                "--node-id",
                &n.to_string(),
                "--resp-addr",
                resp,
                "--http-addr",
                http,
                "--raft-addr",
                raft,
            ])
            .args(["--peers", &peers, "--cluster-id", &config.cluster_id, "--log-level", &config.log_level])
            .arg("--fsync")
            .arg(format!("{:?}", config.fsync).to_lowercase())
            .arg("--data-dir")
            .arg(&data_dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if let Some(certs) = &certs {
            command
                .args(["--tls-cluster", "--http-tls", "--tls-port", &tls_port.to_string()])
                .arg("--tls-cert-file")
                .arg(certs.node_cert(*n))
                .arg("--tls-key-file")
                .arg(certs.node_key(*n))
                .arg("--tls-ca-cert-file")
                .arg(certs.ca());
        }
        if !config.cluster_secret.is_empty() {
            // The environment, not a flag: other users can read a process's arguments.
            command.env("REDRAFT_CLUSTER_SECRET", &config.cluster_secret);
        }
        let mut child = command.spawn().map_err(|e| format!("cannot start node {n}: {e}"))?;
        if let Some(stderr) = child.stderr.take() {
            let n = *n;
            // Plain threads: this is the launcher, not a node, and never runs in simulation.
            #[allow(clippy::disallowed_methods)]
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                    eprintln!("node {n} | {line}");
                }
            });
        }
        children.push((*n, child));
    }
    eprintln!("redraft dev cluster: {nodes} nodes on 127.0.0.1, data under {}/", dir.display());
    for (n, resp, http, raft, tls_port) in &addrs {
        match &certs {
            None => eprintln!("  node {n}: redis-cli -p {}    http://{http}/metrics    peers {raft}", port_of(resp)),
            Some(_) => eprintln!(
                "  node {n}: redis-cli -p {} (TLS: -p {tls_port})    https://{http}/metrics    peers {raft} (mutual TLS)",
                port_of(resp)
            ),
        }
    }
    if let Some(certs) = &certs {
        let (cert, key) = certs.client();
        eprintln!(
            "TLS: redis-cli --tls --cacert {} --cert {} --key {} -p {}",
            certs.ca().display(),
            cert.display(),
            key.display(),
            addrs[0].4
        );
        eprintln!(
            "     curl --cacert {} --cert {} --key {} https://{}/v1/cluster",
            certs.ca().display(),
            cert.display(),
            key.display(),
            addrs[0].2
        );
    }
    eprintln!("Any node takes reads and writes (followers pass them to the leader).");
    eprintln!("Try `redis-cli -p {} RAFT.INFO`. Ctrl-C stops every node.", port_of(&addrs[0].1));
    let exited = async {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            for (n, child) in &mut children {
                if let Ok(Some(status)) = child.try_wait() {
                    return (*n, status);
                }
            }
        }
    };
    let early = tokio::select! {
        biased;
        () = wait_for_stop_signal() => None,
        exited = exited => Some(exited),
    };
    if let Some((n, status)) = early {
        eprintln!("node {n} exited ({status}); stopping the others");
    }
    for (_, child) in &children {
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: kill(2) with a pid this process spawned and has not reaped yet.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    }
    let deadline = tokio::time::Instant::now() + STOP_GRACE * 2;
    for (n, child) in &mut children {
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                _ => {
                    eprintln!("node {n} did not stop in time; killing it");
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
            }
        }
    }
    match early {
        Some((n, _)) => Err(format!("node {n} exited early; see its lines above")),
        None => Ok(()),
    }
}
