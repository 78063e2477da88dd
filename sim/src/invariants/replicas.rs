//! Every replica holds the same state once the log is quiet, and a crash and restart of every
//! node replays its log and snapshot to that very state (DESIGN.md §2: one write path, applied
//! alike everywhere).

use std::net::SocketAddr;
use std::time::Duration;

use madsim::runtime::{Handle, NodeHandle};
use redraft_net::resp::Frame;

use crate::client::{Outcome, SimClient, REQUEST_TIMEOUT};
use crate::cluster::{describe_nodes, SimNode};

/// After the clients stop and the log is quiet: every replica holds the same state (its digest
/// is equal, so every acknowledged write and every expiry is the same on all of them, whatever
/// their clocks did); and a crash and restart of every node replays the log and snapshot to that
/// very state.
pub async fn check_replicas_and_restart(
    handle: &Handle,
    servers: &[SimNode],
    clients: &NodeHandle,
) -> Result<(), String> {
    let before = quiet_states(servers).await?;
    super::changes::check_changes(servers, &before)?;
    let first = &before[0];
    for (server, state) in servers.iter().zip(&before).skip(1) {
        if state.digest() != first.digest() {
            return Err(format!(
                "replicas differ after healing: {} {}",
                servers[0].name,
                describe_difference(first, state, &server.name)
            ));
        }
    }
    // Every entry is synced by now, so a crash that keeps only durable bytes loses nothing.
    for server in servers {
        handle.kill(server.handle.id());
        *server.live.lock() = None;
        let lost = server.disk.crash(&mut madsim::rand::thread_rng(), false);
        if lost > 0 {
            return Err(format!(
                "{}: {lost} bytes were written but never synced after the log went quiet",
                server.name
            ));
        }
    }
    for server in servers {
        handle.restart(server.handle.id());
    }
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
    clients
        .spawn(async move {
            for addr in addrs {
                let mut client = SimClient::new(addr, REQUEST_TIMEOUT);
                let deadline = crate::now() + Duration::from_secs(20);
                loop {
                    let answer = client.call(&[b"DBSIZE"]).await;
                    if let Outcome::Reply(Frame::Integer(_)) = answer {
                        break;
                    }
                    if crate::now() > deadline {
                        return Err(format!("{addr} did not serve after the final restart: {answer:?}"));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| format!("the restart probe failed: {e}"))?
        .map_err(|e| format!("{e}; the nodes: {}", describe_nodes(servers)))?;
    let after = quiet_states(servers).await?;
    super::changes::check_changes(servers, &after).map_err(|e| format!("after the final restart: {e}"))?;
    for (server, state) in servers.iter().zip(&after) {
        if state.digest() != first.digest() {
            return Err(format!(
                "the state after a restart differs: before {}",
                describe_difference(first, state, &server.name)
            ));
        }
    }
    Ok(())
}

/// Waits until every node runs and no node has applied anything for a while with all at the
/// same index, then freezes each node's state.
async fn quiet_states(servers: &[SimNode]) -> Result<Vec<redraft_core::Frozen>, String> {
    let mut quiet_since = crate::now();
    let mut last: Vec<Option<u64>> = Vec::new();
    let waited = crate::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let applied: Vec<Option<u64>> =
            servers.iter().map(|s| s.live.lock().as_ref().map(|n| n.state().applied_index())).collect();
        let settled = applied.iter().all(|a| a.is_some() && *a == applied[0]);
        if applied != last || !settled {
            last = applied;
            quiet_since = crate::now();
        } else if quiet_since.elapsed() >= Duration::from_millis(1_500) {
            break;
        }
        if waited.elapsed() > Duration::from_secs(60) {
            return Err(format!("the replicas never settled at one applied index: {last:?}"));
        }
    }
    servers
        .iter()
        .map(|s| {
            s.live.lock().as_ref().map(|n| n.state().freeze()).ok_or(format!("{} is not running", s.name))
        })
        .collect()
}

fn describe_difference(before: &redraft_core::Frozen, after: &redraft_core::Frozen, name: &str) -> String {
    let keys = |f: &redraft_core::Frozen| {
        f.keys
            .iter()
            .map(|(k, e)| (k.clone(), e.value.clone(), e.expire_at_ms, e.mod_index))
            .collect::<Vec<_>>()
    };
    let marks: Vec<(usize, u64, u64)> = before
        .deletion_marks
        .iter()
        .zip(&after.deletion_marks)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| (i, *a, *b))
        .collect();
    format!(
        "digest {:#x} (applied {}, time {}, {} keys), {name} {:#x} (applied {}, time {}, {} keys); keys {:?} and {:?}; deletion marks that differ {:?}; sessions {} and {}",
        before.digest(), before.applied_index, before.time_ms, before.keys.len(),
        after.digest(), after.applied_index, after.time_ms, after.keys.len(),
        keys(before), keys(after), marks, before.sessions.len(), after.sessions.len()
    )
}
