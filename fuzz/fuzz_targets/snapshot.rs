//! The snapshot reader on any bytes, as a node reads a snapshot from disk or from a peer: it
//! never panics, and a snapshot it accepts installs into a state machine and writes back out to
//! bytes that read as the same state.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redraft_core::snapshot::write_snapshot;
use redraft_core::snapshot_reader::SnapshotReader;
use redraft_core::{StateMachine, StateMachineConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = SnapshotReader::new(data) else { return };
    let Ok((header, frozen)) = reader.read_all() else { return };
    let state = StateMachine::new(StateMachineConfig { shard_bits: 2, ..StateMachineConfig::default() });
    state.install(frozen.clone());
    let rewritten = write_snapshot(Vec::new(), &frozen, header.last_applied, header.membership.clone())
        .expect("in memory");
    let (_, again) = SnapshotReader::new(&rewritten[..]).expect("header").read_all().expect("reads back");
    assert_eq!(again, frozen);
});
