//! What the nemesis acts on ([`Chaos`]: the nodes, the network, the clients' node and the
//! history), and its actions on nodes and links: crash, pause, partition. Membership changes
//! are in `membership.rs`; which faults happen when is in [`super`] and `scenario.rs`.

use std::time::Duration;

use jepsen::harness::{plan_partition, Recorder};
use madsim::runtime::{Handle, NodeHandle};
use serde_json::{json, Value};

use crate::cluster::SimNode;
use crate::disk::SimDisk;

/// What the nemesis acts on: the nodes, the network, the clients' node (membership changes are
/// RESP commands, sent from it like any client's), and the history.
pub struct Chaos<'a> {
    /// The simulation.
    pub handle: &'a Handle,
    /// The server nodes.
    pub servers: &'a [SimNode],
    /// The clients' node.
    pub clients: &'a NodeHandle,
    /// The history.
    pub recorder: &'a Recorder,
}

impl Chaos<'_> {
    /// The position of the node that believes it leads, if one does.
    pub fn leader(&self) -> Option<usize> {
        self.servers.iter().position(|s| s.live.lock().as_ref().is_some_and(|node| node.is_leader()))
    }

    /// Whether a node leads and every node runs and may vote (none is catching up).
    pub fn all_caught_up(&self) -> bool {
        self.leader().is_some()
            && self.servers.iter().all(|s| s.live.lock().as_ref().is_some_and(|node| node.may_vote()))
    }

    pub fn names(&self, nodes: &[usize]) -> String {
        nodes.iter().map(|i| self.servers[*i].name.clone()).collect::<Vec<_>>().join(",")
    }

    /// Kills `nodes` at once, drops their unsynced writes (maybe tearing the last), and restarts
    /// them after `hold`.
    pub async fn crash(&self, nodes: &[usize], hold: Duration) {
        let mut lost = Vec::new();
        for &i in nodes {
            let server = &self.servers[i];
            self.handle.kill(server.handle.id());
            *server.live.lock() = None;
            lost.push(server.disk.crash(&mut madsim::rand::thread_rng(), true));
        }
        self.recorder.nemesis("kill", json!({ "nodes": self.names(nodes), "unsynced_bytes_lost": lost }));
        tokio::time::sleep(hold).await;
        self.recorder.nemesis("start", json!(self.names(nodes)));
        for &i in nodes {
            self.handle.restart(self.servers[i].handle.id());
        }
    }

    /// Kills `node` as [`Chaos::crash`] does and, while it is down, damages one of its files (a
    /// bit flips or the file becomes unreadable, in a log segment, a metadata copy or the
    /// snapshot: a disk that rotted at rest); restarts it after `hold`. The node must find the
    /// damage, keep what is intact and fetch the rest from the leader, without voting meanwhile.
    pub async fn crash_corrupting(&self, node: usize, hold: Duration) {
        self.crash_damaging(node, hold, "kill-corrupt", |disk| {
            let (file, damage) = disk.damage_at_rest(&mut madsim::rand::thread_rng()).unwrap_or_default();
            json!({ "file": file, "damage": damage })
        })
        .await;
    }

    /// Kills `node` as [`Chaos::crash`] does and loses the last sync of its newest log segment
    /// (a write the disk acknowledged and lost); restarts it after `hold`. The node must restore
    /// the entries from the synced mark's copy of its last batch, or, when the mark holds none
    /// (a batch too large for it), find that entries it reported durable are gone and not vote
    /// until it has them again.
    pub async fn crash_losing_sync(&self, node: usize, hold: Duration) {
        self.crash_damaging(node, hold, "kill-lose-sync", |disk| {
            let (file, synced_lost) = disk.lose_last_sync().unwrap_or_default();
            json!({ "file": file, "synced_bytes_lost": synced_lost })
        })
        .await;
    }

    /// Kills `node` as [`Chaos::crash`] does, applies `damage` to its disk while it is down,
    /// records `event` with what the damage returns, and restarts the node after `hold`.
    async fn crash_damaging(
        &self,
        node: usize,
        hold: Duration,
        event: &str,
        damage: impl FnOnce(&SimDisk) -> Value,
    ) {
        let server = &self.servers[node];
        self.handle.kill(server.handle.id());
        *server.live.lock() = None;
        let unsynced = server.disk.crash(&mut madsim::rand::thread_rng(), true);
        let mut detail = damage(&server.disk);
        detail["node"] = json!(server.name);
        detail["unsynced_bytes_lost"] = json!(unsynced);
        self.recorder.nemesis(event, detail);
        tokio::time::sleep(hold).await;
        self.recorder.nemesis("start", json!(server.name));
        self.handle.restart(server.handle.id());
    }

    /// Kills `nodes`; `damaged`, one of them, loses its whole log and snapshot (every read of
    /// them fails) or, with `lose_syncs`, what it synced since its disk remembered its log
    /// ([`crate::disk::SimDisk::remember_durable_log`]), and restarts at once; `cut` is mended;
    /// the others restart after `hold`.
    pub async fn crash_losing_one(
        &self,
        nodes: &[usize],
        damaged: usize,
        lose_syncs: bool,
        cut: &[(usize, usize)],
        hold: Duration,
    ) {
        for &i in nodes {
            self.handle.kill(self.servers[i].handle.id());
            *self.servers[i].live.lock() = None;
            self.servers[i].disk.crash(&mut madsim::rand::thread_rng(), true);
        }
        let disk = &self.servers[damaged].disk;
        let lost = if lose_syncs {
            json!({ "synced_bytes_lost": disk.lose_syncs_since_remembered() })
        } else {
            json!({ "unreadable": disk.lose_log_and_snapshot() })
        };
        self.recorder.nemesis(
            "kill-lose-log",
            json!({ "nodes": self.names(nodes), "damaged": self.servers[damaged].name, "lost": lost }),
        );
        self.handle.restart(self.servers[damaged].handle.id());
        self.mend(cut);
        tokio::time::sleep(hold).await;
        let rest: Vec<usize> = nodes.iter().copied().filter(|&i| i != damaged).collect();
        self.recorder.nemesis("start", json!(self.names(&rest)));
        for i in rest {
            self.handle.restart(self.servers[i].handle.id());
        }
    }

    /// Kills `nodes`, makes every log segment and snapshot of theirs unreadable, and restarts
    /// them after `hold`.
    pub async fn crash_losing_logs(&self, nodes: &[usize], hold: Duration) {
        for &i in nodes {
            self.handle.kill(self.servers[i].handle.id());
            *self.servers[i].live.lock() = None;
            self.servers[i].disk.crash(&mut madsim::rand::thread_rng(), true);
            self.servers[i].disk.lose_log_and_snapshot();
        }
        self.recorder.nemesis("kill-lose-logs", json!(self.names(nodes)));
        tokio::time::sleep(hold).await;
        self.recorder.nemesis("start", json!(self.names(nodes)));
        for &i in nodes {
            self.handle.restart(self.servers[i].handle.id());
        }
    }

    pub async fn pause(&self, node: usize, hold: Duration) {
        let server = &self.servers[node];
        self.recorder.nemesis("pause", json!(server.name));
        self.handle.pause(server.handle.id());
        tokio::time::sleep(hold).await;
        self.handle.resume(server.handle.id());
        self.recorder.nemesis("resume", json!(server.name));
    }

    pub fn cut(&self, shape: &str, cut: &[(usize, usize)]) {
        let net = madsim::net::NetSim::current();
        self.recorder.nemesis("start-partition", json!(shape));
        for (a, b) in cut {
            net.clog_link(self.servers[*a].handle.id(), self.servers[*b].handle.id());
        }
    }

    pub fn mend(&self, cut: &[(usize, usize)]) {
        let net = madsim::net::NetSim::current();
        for (a, b) in cut {
            net.unclog_link(self.servers[*a].handle.id(), self.servers[*b].handle.id());
        }
        self.recorder.nemesis("stop-partition", Value::Null);
    }

    pub async fn partition(&self, shape: &str, cut: &[(usize, usize)], hold: Duration) {
        self.cut(shape, cut);
        tokio::time::sleep(hold).await;
        self.mend(cut);
    }

    /// A partition of the server nodes, from the seed ([`plan_partition`]): its description and
    /// the directed links to cut (by position in `servers`).
    pub fn plan_partition(&self) -> (String, Vec<(usize, usize)>) {
        let servers = self.servers;
        let partition = plan_partition(&mut madsim::rand::thread_rng(), servers.len(), self.leader());
        (partition.describe(|i| servers[i].name.clone()), partition.links)
    }
}
