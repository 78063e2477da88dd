//! What a simulated run is told: the workload its clients run, the faults its nemesis may inject
//! (or a named scenario's script), how long it runs, and on how many nodes. Every other module
//! of the simulator reads these; this one reads none of them.

use std::time::Duration;

pub use redraft_server::node::safe_read_lease_ms;

/// The simulated nodes' longest election timeout (their shortest is half of it).
pub const ELECTION_TIMEOUT_MS_MAX: u64 = 300;

/// What clients do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// GET, SET and SET IFEQ on a few keys: a register per key.
    Register,
    /// INCR and GET on one key: a counter.
    Counter,
    /// SET PX on fresh keys and reads around their expiry, under skewed clocks.
    Ttl,
    /// MULTI/EXEC moving amounts between accounts; every read of all accounts sums the same.
    Transfer,
    /// The counter's operations, between pipelines of INCRs of each client's own key: writes
    /// from many connections share batch entries, and every client's replies must arrive in
    /// its own order across them.
    Pipeline,
    /// Transactions of APPENDs and GETs over a few keys (MULTI/EXEC, pipelined or not), checked
    /// as Elle checks list-append histories: cycles of dependencies, real-time order included.
    Append,
}

impl Workload {
    pub const ALL: [Workload; 6] = [
        Workload::Register,
        Workload::Counter,
        Workload::Ttl,
        Workload::Transfer,
        Workload::Pipeline,
        Workload::Append,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Register => "register",
            Workload::Counter => "counter",
            Workload::Ttl => "ttl",
            Workload::Transfer => "transfer",
            Workload::Pipeline => "pipeline",
            Workload::Append => "append",
        }
    }
}

/// A kind of fault the nemesis may inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Kill the node, drop its unsynced writes (maybe tearing the last), restart it later.
    Crash,
    /// Stop the node's tasks for a while (a GC pause, a stopped VM).
    Pause,
    /// Move the node's wall clock and change its drift.
    ClockSkew,
    /// Make fsync slow.
    SlowFsync,
    /// Cut the network between the clients and a node.
    ClientPartition,
    /// Partition the nodes: random halves, the leader alone, a bridge (two sides that only one
    /// node reaches both of), or one way (one side's messages to the other are lost, the other
    /// way they arrive).
    Partition,
    /// Make every message slow (5–150 ms instead of 1–10 ms).
    SlowNetwork,
    /// Lose 5–30 % of the packets on every link. Over TCP a lost packet is sent again after a
    /// backoff that doubles from 1 ms up to 10 s, so streams stall and reorder against each
    /// other, and a lost connection attempt fails the connect.
    LossyNetwork,
    /// Kill a node and, while it is down, damage one of its files at rest (a flipped bit, or a
    /// file every read of fails with EIO) in a log segment, a copy of the log's metadata or the
    /// snapshot; at most a minority of the nodes over a run (their disks only), so a majority's
    /// disks stay intact.
    DiskCorruption,
    /// Kill a node and lose the last sync of its newest log segment: a write the disk said was
    /// durable and then lost. Shares the minority budget of [`Fault::DiskCorruption`].
    LostSyncedWrite,
    /// Turn on the fault points in production code (dropped replies, connections failing
    /// mid-frame, delayed syncs).
    Buggify,
    /// Remove a node from the cluster (`RAFT.REMOVE` through another node), and add it back
    /// (`RAFT.ADD`) after a while; it may be the leader.
    Membership,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::Crash => "crash",
            Fault::Pause => "pause",
            Fault::ClockSkew => "clock",
            Fault::SlowFsync => "slow-fsync",
            Fault::ClientPartition => "client-partition",
            Fault::Partition => "partition",
            Fault::SlowNetwork => "slow-network",
            Fault::LossyNetwork => "lossy-network",
            Fault::DiskCorruption => "disk-corruption",
            Fault::LostSyncedWrite => "lost-synced-write",
            Fault::Buggify => "buggify",
            Fault::Membership => "membership",
        }
    }

    pub const ALL: [Fault; 12] = [
        Fault::Crash,
        Fault::Pause,
        Fault::ClockSkew,
        Fault::SlowFsync,
        Fault::ClientPartition,
        Fault::Partition,
        Fault::SlowNetwork,
        Fault::LossyNetwork,
        Fault::DiskCorruption,
        Fault::LostSyncedWrite,
        Fault::Buggify,
        Fault::Membership,
    ];
}

/// A named scenario: a fault script aimed at one bug class that Jepsen found in Redis-Raft or
/// etcd, instead of random faults. The invariants are the same as for every run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// The leader is cut from its peers while clients still reach it; a new leader takes writes.
    /// A read at the old leader must not return the old value.
    StaleReadAfterLeaderChange,
    /// The leader pauses past the election timeout and wakes up deposed; it must not serve a read
    /// from its stale state.
    DeposedLeaderAfterPause,
    /// A majority crashes at once, losing unsynced bytes; no acknowledged write may be lost.
    MajorityCrash,
    /// Nodes crash while snapshots are built, written and installed; logs and snapshots must
    /// agree on indexes after every restart.
    CrashDuringSnapshot,
    /// Nodes are removed and added back while the cluster is partitioned.
    MembershipChangeDuringPartition,
    /// Every clock is skewed and drifts while leaders change; TTL keys must expire identically
    /// on every replica, and no read may see an expired key again.
    TtlUnderClockSkew,
    /// Leaders serve reads under their read lease while their clocks drift (within the lease's
    /// bound) and they are isolated from their peers or paused; a lease must run out before
    /// another leader can take writes, or a read at the old leader comes back stale.
    LeaseReadsUnderDrift,
    /// A majority with a follower commits while the other nodes are cut off; then that majority
    /// goes down, the follower's disk loses its whole log and snapshot (unreadable), and it
    /// comes back first, with the nodes that never had the entries. It must not vote until it
    /// has them again: with its vote one of those nodes would lead and lose acknowledged writes.
    DamagedVoter,
    /// Beyond the fault model, never in [`Scenario::ALL`]: a majority loses its logs and
    /// snapshots at once. Writes only the lost nodes had acknowledged may be gone, so redraft
    /// must stop rather than serve without them, and say so: the damaged nodes wait to catch up
    /// and no leader can be elected until an operator steps in.
    DamagedMajority,
}

impl Scenario {
    pub const ALL: [Scenario; 8] = [
        Scenario::StaleReadAfterLeaderChange,
        Scenario::DeposedLeaderAfterPause,
        Scenario::MajorityCrash,
        Scenario::CrashDuringSnapshot,
        Scenario::MembershipChangeDuringPartition,
        Scenario::TtlUnderClockSkew,
        Scenario::LeaseReadsUnderDrift,
        Scenario::DamagedVoter,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::StaleReadAfterLeaderChange => "stale-read-after-leader-change",
            Scenario::DeposedLeaderAfterPause => "deposed-leader-after-pause",
            Scenario::MajorityCrash => "majority-crash",
            Scenario::CrashDuringSnapshot => "crash-during-snapshot",
            Scenario::MembershipChangeDuringPartition => "membership-change-during-partition",
            Scenario::TtlUnderClockSkew => "ttl-under-clock-skew",
            Scenario::LeaseReadsUnderDrift => "lease-reads-under-drift",
            Scenario::DamagedVoter => "damaged-voter",
            Scenario::DamagedMajority => "damaged-majority",
        }
    }

    /// The workloads that expose the scenario's bug class.
    pub fn workloads(self) -> &'static [Workload] {
        match self {
            Scenario::StaleReadAfterLeaderChange
            | Scenario::DeposedLeaderAfterPause
            | Scenario::LeaseReadsUnderDrift
            | Scenario::DamagedVoter
            | Scenario::DamagedMajority => &[Workload::Register, Workload::Counter],
            Scenario::MajorityCrash | Scenario::CrashDuringSnapshot => {
                &[Workload::Counter, Workload::Transfer]
            }
            Scenario::MembershipChangeDuringPartition => &[Workload::Register, Workload::Transfer],
            Scenario::TtlUnderClockSkew => &[Workload::Ttl],
        }
    }
}

/// How to run.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub workload: Workload,
    pub faults: Vec<Fault>,
    /// Virtual time the clients run for, faults included.
    pub duration: Duration,
    pub clients: usize,
    /// Clients that only read (`workload::reader_loop`), spread over the nodes like the others.
    pub readers: usize,
    /// Watchers following every change through the nodes' watch streams
    /// (`workload::watch`): the even ones watch every key from the first revision, the odd ones
    /// the keys starting with `r` from a third of the way into the run.
    pub watchers: usize,
    /// Server nodes: 1, 3 or 5.
    pub nodes: usize,
    /// After healing, the node must serve again within this much virtual time.
    pub recovery_bound: Duration,
    /// A named scenario's fault script instead of random faults from `faults`.
    pub scenario: Option<Scenario>,
    /// Every node's read lease (`NodeOptions::read_lease_ms`); 0 confirms every read with a
    /// quorum.
    pub read_lease_ms: u64,
    /// Appends and entries of at least this many bytes take the large-value paths
    /// (`NodeOptions::large_append_bytes`). Random runs lower it to a few hundred bytes, so that
    /// appends kept in flight across openraft's timeouts and a busy leader's word that it is alive
    /// run under every fault; the lease scenario keeps the node's default, whose timing its
    /// check of an unsafe lease is tuned to.
    pub large_append_bytes: usize,
}

impl SimConfig {
    /// A run of `workload` on `nodes` nodes under every fault.
    pub fn new(workload: Workload, nodes: usize) -> SimConfig {
        SimConfig {
            workload,
            faults: Fault::ALL.to_vec(),
            duration: Duration::from_secs(15),
            clients: 5,
            readers: 0,
            watchers: 2,
            nodes,
            recovery_bound: Duration::from_secs(20),
            scenario: None,
            read_lease_ms: 0,
            large_append_bytes: 256,
        }
    }

    /// A run of `workload` on `nodes` nodes under a named scenario.
    pub fn scenario(scenario: Scenario, workload: Workload, nodes: usize) -> SimConfig {
        // Each membership change may wait out a partition, so that scenario runs longer to make
        // several of them.
        let duration = match scenario {
            Scenario::MembershipChangeDuringPartition => Duration::from_secs(40),
            _ => Duration::from_secs(15),
        };
        // A leasing leader cut off from its peers answers reads only while its lease holds; a
        // reader on every node keeps asking it all that time.
        let (read_lease_ms, readers) = match scenario {
            Scenario::LeaseReadsUnderDrift => (safe_read_lease_ms(ELECTION_TIMEOUT_MS_MAX), nodes),
            _ => (0, 0),
        };
        let large_append_bytes = match scenario {
            Scenario::LeaseReadsUnderDrift => redraft_core::limits::APPEND_DETACHED_BYTES_MIN,
            _ => 256,
        };
        SimConfig {
            scenario: Some(scenario),
            duration,
            read_lease_ms,
            readers,
            large_append_bytes,
            ..SimConfig::new(workload, nodes)
        }
    }
}
