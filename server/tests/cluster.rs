//! Clusters of real `redraft-server` processes on loopback: writes through followers, a killed
//! leader replaced within a few election timeouts, every acknowledged write on every node after
//! restarts, a fourth node caught up by snapshot, a member removed, a whole-cluster restart, and
//! a paused follower that comes back without deposing the leader (pre-vote).
//!
//! Needs `redis-cli` (Debian's redis-tools; ci/test installs it).
#![cfg(not(madsim))]
// Real processes on real time: the determinism lint is for code that runs in simulation.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::cluster::{text, write_keys, Cluster, CONFIG};
use common::{bulk, http_get, http_request, ok};
use redraft_net::peer::{PeerAuth, PeerError};
use redraft_net::resp::Frame;
use redraft_server::config::ClientAuth;
use redraft_server::dev_certs::DevCertificates;
use redraft_server::peer::message::{PeerRequest, PeerResponse};
use redraft_server::peer::pool::{CallError, PeerPool};
use redraft_server::tls::TlsFiles;

/// Three nodes: writes through a follower; the leader killed with SIGKILL and a new one serving
/// within a few election timeouts; the old leader restarted and caught up; then every node
/// stopped and restarted; every acknowledged write is read back through every node each time.
#[test]
fn three_nodes_survive_a_killed_leader_and_a_whole_cluster_restart() {
    let mut cluster = Cluster::start(3);
    let leader = cluster.leader();
    let follower = cluster.follower(leader);
    let mut acked = write_keys(&cluster, follower, "a", 300);
    assert_eq!(acked.len(), 300, "with every node up, every write through a follower is acknowledged");

    // redis-cli works against a follower, unchanged.
    let port = cluster.addrs[&follower].0.rsplit(':').next().expect("port").to_owned();
    let output = std::process::Command::new("redis-cli")
        .args(["-p", &port, "SET", "via-cli", "yes"])
        .output()
        .expect("redis-cli runs (apt-get install redis-tools; ci/test installs it)");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "OK");
    acked.insert("via-cli".into(), "yes".into());

    cluster.nodes.remove(&leader).expect("the leader runs").kill();
    let killed_at = Instant::now();
    let survivor = cluster.follower(leader);
    let mut client = cluster.client(survivor);
    let reply = loop {
        let reply = client.call(&["SET", "after-kill", "1"]).expect("SET");
        if reply == ok() || killed_at.elapsed() > Duration::from_secs(15) {
            break reply;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let failover = killed_at.elapsed();
    assert_eq!(reply, ok(), "no new leader took a write within 15 s of the kill");
    eprintln!("a write succeeded {} ms after the leader was killed", failover.as_millis());
    acked.insert("after-kill".into(), "1".into());
    let new_leader = cluster.leader();
    assert_ne!(new_leader, leader, "the killed node cannot lead");
    acked.extend(write_keys(&cluster, survivor, "b", 200));

    cluster.start_node(leader, false);
    cluster.leader();
    cluster.assert_everywhere(&acked);

    for (_, node) in std::mem::take(&mut cluster.nodes) {
        assert_eq!(node.stop(), Some(0), "a clean stop");
    }
    for id in 1..=3 {
        cluster.start_node(id, false);
    }
    cluster.leader();
    cluster.assert_everywhere(&acked);
}

/// Pre-vote: a follower stopped for many election timeouts (SIGSTOP) comes back without
/// deposing the leader that the others kept following; without pre-vote it would stand for
/// election with a higher term at once, and the leader would step down when it saw that term.
#[test]
fn a_paused_follower_comes_back_without_deposing_the_leader() {
    let cluster = Cluster::start(3);
    let leader = cluster.leader();
    let term = cluster.info(leader)["term"].clone();
    let follower = cluster.follower(leader);
    let pid = cluster.nodes[&follower].child.id().to_string();
    let signal = |name: &str| {
        let status = std::process::Command::new("kill").args([name, &pid]).status().expect("kill runs");
        assert!(status.success(), "kill {name} {pid}");
    };
    signal("-STOP");
    // Ten election timeouts; the other two keep a leader and take writes meanwhile.
    std::thread::sleep(Duration::from_secs(4));
    let during = write_keys(&cluster, leader, "paused", 20);
    assert_eq!(during.len(), 20, "the leader and the other follower are a quorum");
    signal("-CONT");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(cluster.leader(), leader, "the leader was deposed");
    let info = cluster.info(follower);
    assert_eq!(info["term"], term, "the resumed follower's term moved: {info:?}");
    assert_eq!(cluster.info(leader)["term"], term, "the leader's term moved");
    cluster.assert_everywhere(&during);
}

/// A fourth node joins a cluster whose log is already compacted, so it catches up by snapshot;
/// it serves reads and writes; then a member is removed, learns it, and the other three go on.
/// Membership goes through each of its interfaces: HTTP to add, redraft-cli to remove and show,
/// RESP for the rest.
#[test]
fn a_fourth_node_catches_up_by_snapshot_and_a_member_is_removed() {
    let mut cluster = Cluster::start(3);
    let leader = cluster.leader();
    // A user, created through a follower: users are replicated state, in the snapshot below.
    let reply =
        cluster.client(cluster.follower(leader)).call(&["ACL", "SETUSER", "app", "on", ">pw", "~k*", "+get"]);
    assert_eq!(reply.expect("ACL SETUSER"), ok());
    let mut acked = write_keys(&cluster, cluster.follower(leader), "k", 600);
    assert_eq!(acked.len(), 600);
    // The log is compacted behind a snapshot.
    let deadline = Instant::now() + Duration::from_secs(20);
    while cluster.info(leader)["purged_index"] == "0" {
        assert!(Instant::now() < deadline, "the leader never compacted its log: {:?}", cluster.info(leader));
        std::thread::sleep(Duration::from_millis(50));
    }

    cluster.start_node(4, true);
    let (resp4, raft4) = cluster.addrs[&4].clone();
    let follower_http = cluster.nodes[&cluster.follower(leader)].http_addr.clone();
    let add = format!(r#"{{"id": 4, "raft_addr": "{raft4}", "resp_addr": "{resp4}"}}"#);
    let (status, body) = http_request(&follower_http, "POST", "/v1/cluster/members", Some(&add));
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["result"], "node 4 added as a voter", "{body}");
    // The node's own view follows its state machine within moments.
    let deadline = Instant::now() + Duration::from_secs(10);
    let info = loop {
        let info = cluster.info(4);
        if info["role"] == "follower" || Instant::now() > deadline {
            break info;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(info["role"], "follower", "{info:?}");
    assert_ne!(info["snapshot_index"], "0", "node 4 was caught up by a snapshot: {info:?}");
    let (status, body) = http_get(&cluster.nodes[&4].http_addr, "/v1/cluster");
    assert_eq!(status, 200, "{body}");
    let view: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!((view["node_id"].as_u64(), view["role"].as_str()), (Some(4), Some("follower")), "{view}");
    assert_eq!(view["members"].as_array().map(Vec::len), Some(4), "{view}");
    let leader_info = cluster.info(cluster.leader());
    assert_eq!(leader_info["members"], "4", "{leader_info:?}");
    cluster.assert_everywhere(&acked);
    // Node 4 has the user from the snapshot, and enforces its rules.
    let mut app = cluster.client(4);
    assert_eq!(app.call(&["AUTH", "app", "pw"]).expect("AUTH"), ok());
    assert_eq!(app.call(&["GET", "k1"]).expect("GET"), bulk(&acked["k1"]));
    let denied = app.call(&["SET", "k1", "x"]).expect("SET");
    assert_eq!(denied, Frame::Error("NOPERM this user has no permissions to run the 'set' command".into()));
    acked.extend(write_keys(&cluster, 4, "n", 50));

    // Remove a follower that is not node 4, asking node 4 through redraft-cli.
    let leader = cluster.leader();
    let removed = *cluster.nodes.keys().find(|id| **id != leader && **id != 4).expect("a follower");
    let port4 = cluster.nodes[&4].port();
    let (code, out, err) = cli(&port4, &["cluster", "remove", &removed.to_string()]);
    assert_eq!((code, out.as_str()), (Some(0), format!("node {removed} removed\n").as_str()), "{err}");
    // The removed node, still running, learns it (from its log, or from the members it asks for
    // votes) and refuses to serve, saying why.
    let deadline = Instant::now() + Duration::from_secs(10);
    let reply = loop {
        let reply = cluster.client(removed).call(&["GET", "k1"]).expect("GET");
        if text(&reply).starts_with("REMOVED") || Instant::now() > deadline {
            break reply;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(text(&reply).starts_with(&format!("REMOVED node {removed} was removed")), "{reply:?}");
    assert_eq!(cluster.info(removed)["role"], "removed");
    cluster.nodes.remove(&removed).expect("running").stop();
    let info = cluster.info(cluster.leader());
    assert_eq!(info["members"], "3", "{info:?}");
    assert!(!info.contains_key(&format!("member{removed}")), "{info:?}");
    let (code, out, err) = cli(&port4, &["cluster", "status"]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("node 4 is follower; leader: node"), "{out}");
    assert!(lines[1].starts_with("ID  ROLE"), "{out}");
    assert_eq!(lines.len(), 5, "a summary, a header and three members: {out}");
    acked.extend(write_keys(&cluster, 4, "m", 50));
    cluster.assert_everywhere(&acked);

    // Bad membership requests are refused with a reason and change nothing.
    let mut client = cluster.client(4);
    let reply = client.call(&["RAFT.REMOVE", "99"]).expect("RAFT.REMOVE");
    assert_eq!(text(&reply), "ERR node 99 is not a member");
    let reply = client.call(&["RAFT.ADD", "5", "nowhere", "127.0.0.1:1"]).expect("RAFT.ADD");
    assert!(text(&reply).starts_with("ERR usage: RAFT.ADD"), "{reply:?}");
    let http4 = cluster.nodes[&4].http_addr.clone();
    let (status, body) = http_request(&http4, "DELETE", "/v1/cluster/members/99", None);
    assert_eq!((status, json_code(&body)), (400, "invalid".into()), "{body}");
    let (status, body) = http_request(&http4, "DELETE", "/v1/cluster/members/zero", None);
    assert_eq!((status, json_code(&body)), (400, "bad_request".into()), "{body}");
    let bad = r#"{"id": 5, "raft_addr": "nowhere", "resp_addr": "127.0.0.1:1"}"#;
    let (status, body) = http_request(&http4, "POST", "/v1/cluster/members", Some(bad));
    assert_eq!((status, json_code(&body)), (400, "bad_request".into()), "{body}");
    let (status, body) = http_request(&http4, "POST", "/v1/cluster/members", Some("{"));
    assert_eq!((status, json_code(&body)), (400, "bad_request".into()), "{body}");
    let (code, _, err) = cli(&port4, &["cluster", "remove", "99"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("node 99 is not a member"), "{err}");
    let (code, _, err) = cli(&port4, &["cluster", "add", "5"]);
    assert_eq!(code, Some(2));
    assert!(err.starts_with("usage: redraft-cli"), "{err}");
    assert_eq!(cluster.info(4)["members"], "3");
}

/// Runs redraft-cli against a port; returns its exit code, standard output and standard error.
fn cli(port: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_redraft-cli"))
        .args(["-p", port])
        .args(args)
        .output()
        .expect("redraft-cli runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn json_code(body: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    value["code"].as_str().unwrap_or_default().to_owned()
}

/// A node given another cluster's id is refused by the others, and the cluster goes on.
#[test]
fn a_node_of_another_cluster_is_refused() {
    let mut cluster = Cluster::start(3);
    let leader = cluster.leader();
    let stranger = cluster.follower(leader);
    cluster.nodes.remove(&stranger).expect("running").stop();
    // The same node restarted under another cluster id: its peers refuse it, so it never learns
    // of a leader, and the two others keep serving.
    let config = cluster.dir.path().join("other.toml");
    std::fs::write(&config, format!("{CONFIG}cluster-id = \"other\"\n")).expect("write");
    cluster.config = config;
    cluster.start_node(stranger, false);
    let acked = write_keys(&cluster, leader, "s", 20);
    assert_eq!(acked.len(), 20);
    let mut client = cluster.client(stranger);
    let reply = client.call(&["GET", "s1"]).expect("GET");
    assert!(matches!(&reply, Frame::Error(_)), "the stranger must not serve the cluster's data: {reply:?}");
}

/// With a cluster secret the nodes work as before; a node restarted with another secret is
/// refused by its peers, which log why, and the cluster goes on without it.
#[test]
fn a_node_without_the_cluster_secret_is_refused() {
    let secret = "cluster-secret = \"the secret of this cluster\"\n";
    let mut cluster = Cluster::start_with(3, secret);
    let leader = cluster.leader();
    let acked = write_keys(&cluster, cluster.follower(leader), "a", 20);
    cluster.assert_everywhere(&acked);

    let stranger = cluster.follower(leader);
    cluster.nodes.remove(&stranger).expect("running").stop();
    let config = cluster.dir.path().join("other.toml");
    std::fs::write(&config, format!("{CONFIG}cluster-secret = \"a guess at the secret\"\n")).expect("write");
    cluster.config = config;
    cluster.start_node(stranger, false);
    let acked = write_keys(&cluster, leader, "b", 20);
    assert_eq!(acked.len(), 20);
    let reply = cluster.client(stranger).call(&["GET", "b1"]).expect("GET");
    assert!(matches!(&reply, Frame::Error(_)), "the stranger must not serve the cluster's data: {reply:?}");

    // The stranger stands for election, so both others hear from it and refuse it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused_by = |id: u64| {
        let log =
            std::fs::read_to_string(cluster.dir.path().join(format!("node-{id}.log"))).unwrap_or_default();
        log.lines().any(|line| line.contains("refused a peer") && line.contains("does not verify"))
    };
    while !refused_by(leader) {
        assert!(Instant::now() < deadline, "the leader never logged refusing the stranger");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until node `id`'s log has a line containing every one of `parts`.
fn wait_for_log_line(cluster: &Cluster, id: u64, parts: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let path = cluster.dir.path().join(format!("node-{id}.log"));
    loop {
        let log = std::fs::read_to_string(&path).unwrap_or_default();
        if log.lines().any(|line| parts.iter().all(|part| line.contains(part))) {
            return;
        }
        assert!(Instant::now() < deadline, "node {id} never logged a line with {parts:?}:\n{log}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One ReadIndex request to node `to` at `addr`, as node `from` with the certificate `cert`
/// (and its key) from `certs`, trusting the CA of `trusted`.
fn call_as(
    from: u64,
    certs: &DevCertificates,
    trusted: &DevCertificates,
    to: u64,
    addr: &str,
) -> Result<PeerResponse, CallError> {
    let (cert, key, ca) = (certs.node_cert(from), certs.node_key(from), trusted.ca());
    let files = TlsFiles { cert: &cert, key: &key, ca: Some(&ca), client_auth: ClientAuth::Yes };
    let tls = redraft_server::tls::peer_tls(&files).expect("usable certificates");
    let auth = PeerAuth { tls: Some(std::sync::Arc::new(tls)), ..PeerAuth::open("redraft".into()) };
    let pool = PeerPool::new(auth, from);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(pool.call(to, addr, PeerRequest::ReadIndex, Duration::from_secs(5)))
}

/// Peers over mutual TLS (`tls-cluster`, with the certificates `dev-cluster --tls` makes):
/// writes through a follower reach every node; a process with a good certificate for a node
/// that is not a member is refused, and so is one whose certificate is from another CA, each
/// logged by the leader; a fourth node added through an admin call is answered and catches up.
#[test]
fn peers_over_mutual_tls_answer_only_members_with_certificates_from_the_cluster_ca() {
    let certs_dir = tempfile::tempdir().expect("tempdir");
    let certs = redraft_server::dev_certs::write(&certs_dir.path().join("tls"), 1..=4).expect("certificates");
    let other = redraft_server::dev_certs::write(&certs_dir.path().join("other"), [4]).expect("another CA");
    let mut cluster = Cluster::start_full(3, "", Some(certs.clone()));
    let leader = cluster.leader();
    let acked = write_keys(&cluster, cluster.follower(leader), "t", 50);
    assert_eq!(acked.len(), 50, "every write through a follower is acknowledged over TLS");
    cluster.assert_everywhere(&acked);

    let raft = cluster.addrs[&leader].1.clone();
    match call_as(4, &certs, &certs, leader, &raft) {
        Err(CallError::Refused(reason)) => assert!(reason.contains("node 4 is not a member"), "{reason}"),
        other => panic!("a non-member must be refused: {other:?}"),
    }
    wait_for_log_line(&cluster, leader, &["refused a peer", "names node 4, which is not a member"]);
    match call_as(4, &other, &certs, leader, &raft) {
        Err(CallError::Peer(PeerError::Tls { .. } | PeerError::Io { .. })) => {}
        other => panic!("a certificate from another CA must fail the handshake: {other:?}"),
    }
    wait_for_log_line(&cluster, leader, &["refused a peer", "TLS handshake failed"]);

    cluster.start_node(4, true);
    let (resp4, raft4) = cluster.addrs[&4].clone();
    let reply = cluster.client(leader).call(&["RAFT.ADD", "4", &raft4, &resp4]).expect("RAFT.ADD");
    assert_eq!(text(&reply), "node 4 added as a voter");
    cluster.assert_everywhere(&acked);
}
