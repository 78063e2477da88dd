//! The nemesis's membership changes: a node removed from the cluster (`RAFT.REMOVE`) and added
//! back (`RAFT.ADD`), sent as RESP commands from the clients' node like any client's, and the
//! final restore that makes every node a voter again before the replicas are compared.

use std::net::SocketAddr;
use std::time::Duration;

use redraft_net::resp::Frame;
use serde_json::json;
use tokio::time::Instant;

use super::chaos::Chaos;
use crate::client::{Outcome, SimClient};
use crate::cluster::{node_addr, MEMBERSHIP_SETTLE};

/// How long a membership change may take before the nemesis gives up on it (and the final heal
/// retries it).
const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(5);

impl Chaos<'_> {
    /// Sends one membership command from the clients' node, to each other node in turn (one may
    /// be cut off, or removed), until `accept` likes the reply or [`MEMBERSHIP_TIMEOUT`] passes;
    /// returns the last reply. The commands are idempotent, so a retry after an unknown outcome
    /// is safe.
    async fn membership_command(&self, target: usize, args: Vec<String>, accept: fn(&str) -> bool) -> String {
        let others: Vec<SocketAddr> =
            self.servers.iter().enumerate().filter(|(i, _)| *i != target).map(|(_, s)| s.addr).collect();
        self.clients
            .spawn(async move {
                let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
                let deadline = crate::now() + MEMBERSHIP_TIMEOUT;
                for attempt in 0.. {
                    let mut client = SimClient::new(others[attempt % others.len()], Duration::from_secs(3));
                    let reply = match client.call(&args).await {
                        Outcome::Reply(Frame::Simple(text) | Frame::Error(text)) => text,
                        other => format!("{other:?}"),
                    };
                    if accept(&reply) || crate::now() >= deadline {
                        return reply;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                unreachable!("the loop returns")
            })
            .await
            .unwrap_or_else(|e| format!("the membership task failed: {e}"))
    }

    /// Removes node `node` from the cluster, asking the others. Whatever the reply, the node may
    /// be out now (an unknown outcome), so the caller adds it back later in any case.
    pub async fn remove_member(&self, node: usize) {
        let id = (node + 1).to_string();
        self.recorder.nemesis("remove-member", json!(self.servers[node].name));
        let reply = self
            .membership_command(node, vec!["RAFT.REMOVE".into(), id], |r| {
                r.ends_with(" removed") || r.ends_with("is not a member")
            })
            .await;
        self.recorder.nemesis("removed-member", json!({ "node": self.servers[node].name, "reply": reply }));
    }

    /// Adds back every node the leader does not count as a voter, until the leader's membership
    /// is settled (not a joint one), has every node as a voter, and every node agrees it is a
    /// member, for longer than a change in flight can still land ([`MEMBERSHIP_SETTLE`]); within
    /// `bound`.
    pub async fn restore_membership(&self, bound: Duration) -> Result<(), String> {
        let deadline = crate::now() + bound;
        let mut settled_since: Option<Instant> = None;
        let mut joint_since: Option<Instant> = None;
        loop {
            let view = self.leader().and_then(|l| {
                let node = self.servers[l].live.lock().clone()?;
                let membership = node.raft().metrics().borrow().membership_config.clone();
                let joint = membership.membership().get_joint_config().len() > 1;
                let voters: Vec<u64> = membership.membership().voter_ids().collect();
                Some((joint, voters))
            });
            let members_agree = || {
                self.servers.iter().all(|s| s.live.lock().as_ref().is_some_and(|n| n.check_member().is_ok()))
            };
            match view {
                Some((false, voters)) if voters.len() == self.servers.len() && members_agree() => {
                    let since = *settled_since.get_or_insert_with(crate::now);
                    if since.elapsed() > MEMBERSHIP_SETTLE + Duration::from_secs(1) {
                        return Ok(());
                    }
                }
                Some((false, voters)) => {
                    settled_since = None;
                    for node in 0..self.servers.len() {
                        if !voters.contains(&(node as u64 + 1)) {
                            self.add_member(node).await;
                        }
                    }
                }
                // A joint membership left behind by a change whose second step was dropped:
                // another change from the joint one finishes it.
                Some((true, _))
                    if joint_since.get_or_insert_with(crate::now).elapsed() > MEMBERSHIP_SETTLE =>
                {
                    settled_since = None;
                    joint_since = None;
                    for node in 0..self.servers.len() {
                        self.add_member(node).await;
                    }
                }
                _ => settled_since = None,
            }
            if crate::now() >= deadline {
                let states: Vec<String> = self
                    .servers
                    .iter()
                    .map(|s| match s.live.lock().as_ref().map(|n| n.check_member()) {
                        Some(Ok(())) => format!("{} member", s.name),
                        Some(Err(e)) => format!("{} {}", s.name, e.reply_text()),
                        None => format!("{} down", s.name),
                    })
                    .collect();
                return Err(format!(
                    "the membership did not settle with every node a voter within {bound:?} after healing: {states:?}; the nodes: {}",
                    crate::cluster::describe_nodes(self.servers)
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Adds node `node` back as a voter (a no-op for a voter), asking the others; returns
    /// whether it is a voter now.
    pub async fn add_member(&self, node: usize) -> bool {
        let id = (node as u64) + 1;
        let addr = node_addr(id);
        self.recorder.nemesis("add-member", json!(self.servers[node].name));
        let reply = self
            .membership_command(
                node,
                vec!["RAFT.ADD".into(), id.to_string(), addr.raft_addr, addr.resp_addr],
                |r| r.ends_with("added as a voter"),
            )
            .await;
        self.recorder.nemesis("added-member", json!({ "node": self.servers[node].name, "reply": reply }));
        reply.ends_with("added as a voter")
    }
}
