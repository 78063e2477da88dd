//! A node's Prometheus metrics, in a registry of its own (never the process-global one), so that
//! many nodes can share one simulation process (DESIGN.md §5).
//!
//! Command labels come from a fixed set (the names in core's command table, and `unknown`), so a
//! client cannot grow the number of series; see [`CommandLabel`]. Each label's counters and
//! histogram are looked up once and kept ([`CommandMetrics`]): a lookup by label values hashes
//! the values and takes a lock, which cost more than the rest of answering a pipelined GET.

use std::sync::OnceLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use redraft_core::spec::COMMANDS;

/// The `command` label of a request: its command's place in core's table
/// ([`redraft_core::spec`]) when the server knows it, `unknown` otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandLabel(usize);

impl CommandLabel {
    /// The label for a request whose first argument is `name`.
    pub fn of(name: &[u8]) -> CommandLabel {
        redraft_core::spec::position(name).map_or(CommandLabel::UNKNOWN, CommandLabel)
    }

    /// The label of a request the server does not know (found without a scan of the table).
    pub const UNKNOWN: CommandLabel = CommandLabel(COMMANDS.len());

    /// The data command the label names, if it names one.
    pub fn data_command(self) -> Option<redraft_core::CommandName> {
        COMMANDS.get(self.0).and_then(|spec| spec.data)
    }

    /// The label's text: the command's name as the table spells it, or `unknown`.
    pub fn name(self) -> &'static str {
        COMMANDS.get(self.0).map_or("unknown", |spec| spec.name)
    }
}

/// One command label's series, looked up on first use.
struct CommandSeries {
    ok: IntCounter,
    error: IntCounter,
    seconds: Histogram,
}

/// The series of every command label (the table's commands, then `unknown`).
struct CommandMetrics(Box<[OnceLock<CommandSeries>]>);

/// Every metric a node exports.
pub struct Metrics {
    registry: Registry,
    /// Commands answered, by command name and result (`ok` or `error`).
    pub commands: IntCounterVec,
    /// Time from a command's arrival to its reply being ready, by command name.
    pub command_seconds: HistogramVec,
    command_series: CommandMetrics,
    /// Keys in the keyspace, expired ones not yet removed included (as DBSIZE counts).
    pub keys: IntGauge,
    /// Keys removed by active expiry batches this node applied.
    pub expired_keys: IntCounter,
    /// Starts that found the log damaged and cut it back to its intact prefix.
    pub log_damage_recoveries: IntCounter,
    /// Starts that found one copy of the log's metadata damaged and used the other.
    pub meta_damage_recoveries: IntCounter,
    /// Starts that found the snapshot damaged and fetched the state again from the leader.
    pub snapshot_damage_recoveries: IntCounter,
    /// Resident memory of the process, in bytes (0 where it cannot be read).
    pub memory_bytes: IntGauge,
    pub memory_allocated_bytes: IntGauge,
    /// Client connections open now.
    pub connections: IntGauge,
    /// Client connections accepted since start.
    pub connections_total: IntCounter,
    /// Client connections refused at `maxclients`.
    pub connections_rejected: IntCounter,
    /// Bytes of log records held on disk since the last purge.
    pub log_bytes: IntGauge,
    pub log_cache_bytes: IntGauge,
    /// Duration of each log sync.
    pub fsync_seconds: Histogram,
    /// Log syncs made.
    pub fsyncs: IntCounter,
    /// Appends made durable by one sync (group commit at work).
    pub appends_per_fsync: Histogram,
    /// Client writes in each batch entry the leader proposed (natural batching at work).
    pub batch_writes: Histogram,
    /// Snapshots built.
    pub snapshots: IntCounter,
    pub raft_term: IntGauge,
    pub raft_commit_index: IntGauge,
    pub raft_applied_index: IntGauge,
    /// The leader's node id, 0 when none is known.
    pub raft_leader: IntGauge,
    /// 1 on the leader, 0 elsewhere.
    pub raft_is_leader: IntGauge,
    /// On the leader, per follower: entries of the leader's log the follower has not matched.
    pub raft_replication_lag: IntGaugeVec,
    pub snapshot_seconds: Histogram,
    /// `maxmemory` (0: no limit), beside the allocated bytes it is compared with.
    pub maxmemory_bytes: IntGauge,
    /// Free and total bytes of the file system holding the data directory (production only).
    pub data_dir_free_bytes: IntGauge,
    pub data_dir_size_bytes: IntGauge,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh set of metrics in a fresh registry.
    pub fn new() -> Metrics {
        let registry = Registry::new_custom(Some("redraft".into()), None).expect("a valid prefix");
        let latency_buckets = prometheus::exponential_buckets(0.000_025, 2.0, 18).expect("valid buckets");
        let metrics = Metrics {
            commands: IntCounterVec::new(
                Opts::new("commands_total", "Commands answered, by command and result"),
                &["command", "result"],
            )
            .expect("valid metric"),
            command_seconds: HistogramVec::new(
                HistogramOpts::new("command_duration_seconds", "Command latency, by command")
                    .buckets(latency_buckets.clone()),
                &["command"],
            )
            .expect("valid metric"),
            command_series: CommandMetrics((0..=COMMANDS.len()).map(|_| OnceLock::new()).collect()),
            keys: gauge("keys", "Keys in the keyspace, expired ones not yet removed included"),
            expired_keys: counter("expired_keys_total", "Keys removed by active expiry"),
            log_damage_recoveries: counter(
                "log_damage_recoveries_total",
                "Starts that found the log damaged, kept its intact prefix and fetched the rest from the leader",
            ),
            snapshot_damage_recoveries: counter(
                "snapshot_damage_recoveries_total",
                "Starts that found the snapshot damaged, removed it and fetched the state again from the leader",
            ),
            meta_damage_recoveries: counter(
                "meta_damage_recoveries_total",
                "Starts that found one copy of the log's metadata (the vote) damaged and used the other",
            ),
            memory_bytes: gauge("memory_resident_bytes", "Resident memory of the process"),
            memory_allocated_bytes: gauge(
                "memory_allocated_bytes",
                "Bytes allocated and not freed, as the allocator counts them (INFO's used_memory)",
            ),
            connections: gauge("connections", "Client connections open"),
            connections_total: counter("connections_accepted_total", "Client connections accepted"),
            connections_rejected: counter(
                "connections_rejected_total",
                "Client connections refused at maxclients",
            ),
            log_bytes: gauge("log_bytes", "Bytes of log records held since the last purge"),
            log_cache_bytes: gauge("log_cache_bytes", "Bytes of log entries kept in memory"),
            fsync_seconds: Histogram::with_opts(
                HistogramOpts::new("log_fsync_duration_seconds", "Duration of a log sync")
                    .buckets(latency_buckets),
            )
            .expect("valid metric"),
            fsyncs: counter("log_fsyncs_total", "Log syncs"),
            appends_per_fsync: Histogram::with_opts(
                HistogramOpts::new("log_appends_per_fsync", "Appends made durable by one sync")
                    .buckets(prometheus::exponential_buckets(1.0, 2.0, 12).expect("valid buckets")),
            )
            .expect("valid metric"),
            batch_writes: Histogram::with_opts(
                HistogramOpts::new("batch_writes", "Client writes in each batch entry proposed")
                    .buckets(prometheus::exponential_buckets(1.0, 2.0, 13).expect("valid buckets")),
            )
            .expect("valid metric"),
            snapshots: counter("snapshots_total", "Snapshots built"),
            raft_term: gauge("raft_term", "The current Raft term"),
            raft_commit_index: gauge("raft_commit_index", "The highest log index known committed"),
            raft_applied_index: gauge("raft_applied_index", "The highest log index applied"),
            raft_leader: gauge("raft_leader", "The leader's node id, 0 when none is known"),
            raft_is_leader: gauge("raft_is_leader", "1 on the leader"),
            raft_replication_lag: IntGaugeVec::new(
                Opts::new(
                    "raft_replication_lag_entries",
                    "On the leader: entries of its log a follower has not matched, by follower",
                ),
                &["follower"],
            )
            .expect("valid metric"),
            snapshot_seconds: Histogram::with_opts(
                HistogramOpts::new("snapshot_duration_seconds", "Time to build a snapshot")
                    .buckets(prometheus::exponential_buckets(0.001, 4.0, 10).expect("valid buckets")),
            )
            .expect("valid metric"),
            maxmemory_bytes: gauge("maxmemory_bytes", "The maxmemory setting; 0 for no limit"),
            data_dir_free_bytes: gauge(
                "data_dir_free_bytes",
                "Bytes free (to this user) on the file system of the data directory",
            ),
            data_dir_size_bytes: gauge(
                "data_dir_size_bytes",
                "Size of the file system of the data directory",
            ),
            registry,
        };
        metrics.register_all();
        metrics
    }

    fn register_all(&self) {
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(self.commands.clone()),
            Box::new(self.command_seconds.clone()),
            Box::new(self.keys.clone()),
            Box::new(self.expired_keys.clone()),
            Box::new(self.log_damage_recoveries.clone()),
            Box::new(self.meta_damage_recoveries.clone()),
            Box::new(self.snapshot_damage_recoveries.clone()),
            Box::new(self.memory_bytes.clone()),
            Box::new(self.memory_allocated_bytes.clone()),
            Box::new(self.connections.clone()),
            Box::new(self.connections_total.clone()),
            Box::new(self.connections_rejected.clone()),
            Box::new(self.log_bytes.clone()),
            Box::new(self.log_cache_bytes.clone()),
            Box::new(self.fsync_seconds.clone()),
            Box::new(self.fsyncs.clone()),
            Box::new(self.appends_per_fsync.clone()),
            Box::new(self.batch_writes.clone()),
            Box::new(self.snapshots.clone()),
            Box::new(self.raft_term.clone()),
            Box::new(self.raft_commit_index.clone()),
            Box::new(self.raft_applied_index.clone()),
            Box::new(self.raft_leader.clone()),
            Box::new(self.raft_is_leader.clone()),
            Box::new(self.raft_replication_lag.clone()),
            Box::new(self.snapshot_seconds.clone()),
            Box::new(self.maxmemory_bytes.clone()),
            Box::new(self.data_dir_free_bytes.clone()),
            Box::new(self.data_dir_size_bytes.clone()),
        ];
        for collector in collectors {
            self.registry.register(collector).expect("each metric is registered once");
        }
    }

    /// Records one answered command.
    pub fn observe_command(&self, command: CommandLabel, ok: bool, seconds: f64) {
        let series = self.command_series.0[command.0].get_or_init(|| {
            let name = command.name();
            CommandSeries {
                ok: self.commands.with_label_values(&[name, "ok"]),
                error: self.commands.with_label_values(&[name, "error"]),
                seconds: self.command_seconds.with_label_values(&[name]),
            }
        });
        if ok { &series.ok } else { &series.error }.inc();
        series.seconds.observe(seconds);
    }

    /// Records one log sync that made `appends` appends durable.
    pub fn observe_fsync(&self, seconds: f64, appends: usize) {
        self.fsyncs.inc();
        self.fsync_seconds.observe(seconds);
        self.appends_per_fsync.observe(appends as f64);
    }

    /// The registry in Prometheus's text format.
    pub fn render(&self) -> String {
        self.memory_bytes.set(resident_bytes() as i64);
        if let Some(allocated) = crate::allocator::allocated_bytes() {
            self.memory_allocated_bytes.set(allocated as i64);
        }
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("text encoding cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).expect("valid metric")
}

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("valid metric")
}

/// The process's resident set size, from `/proc/self/statm` on Linux; 0 elsewhere and in
/// simulation (where the host process's memory says nothing about a node).
pub fn resident_bytes() -> u64 {
    #[cfg(all(target_os = "linux", not(madsim)))]
    {
        let pages = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()));
        if let Some(pages) = pages {
            return pages * 4096;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use redraft_core::CommandName;

    use super::{CommandLabel, Metrics};

    fn command_label(name: &[u8]) -> &'static str {
        CommandLabel::of(name).name()
    }

    /// Every data command is labelled with its own name, whatever the case it was sent in, and
    /// a name the server does not know with `unknown`, so clients cannot create series.
    #[test]
    fn every_data_command_has_its_own_label() {
        for &name in CommandName::ALL {
            assert_eq!(command_label(name.as_str().to_ascii_uppercase().as_bytes()), name.as_str());
        }
        assert_eq!(command_label(b"PiNg"), "ping");
        assert_eq!(command_label(b"nosuchcommand"), "unknown");
    }

    /// The series kept per label are the registry's own: what is observed through them is what
    /// `/metrics` shows, under the right labels.
    #[test]
    fn observed_commands_show_in_the_rendered_metrics() {
        let metrics = Metrics::new();
        for _ in 0..3 {
            metrics.observe_command(CommandLabel::of(b"SET"), true, 0.001);
        }
        metrics.observe_command(CommandLabel::of(b"set"), false, 0.001);
        metrics.observe_command(CommandLabel::of(b"bogus"), false, 0.001);
        let text = metrics.render();
        assert!(text.contains("redraft_commands_total{command=\"set\",result=\"ok\"} 3"), "{text}");
        assert!(text.contains("redraft_commands_total{command=\"set\",result=\"error\"} 1"), "{text}");
        assert!(text.contains("redraft_commands_total{command=\"unknown\",result=\"error\"} 1"), "{text}");
        assert!(text.contains("redraft_command_duration_seconds_count{command=\"set\"} 4"), "{text}");
    }
}
