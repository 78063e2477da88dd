//! Loading a snapshot (the one a node finds when it starts, or one received from a leader and
//! already checked whole) on two threads: one reads and checks the
//! records while the other installs the keys already read, so a restart takes about the longer
//! of the two rather than their sum (for 1M keys each was about 0.35 s on the machine the
//! throughput issue measured). What is installed is exactly what [`SnapshotReader::read_all`]
//! reads; a snapshot found damaged, however late, leaves the state empty and the start fails.
//!
//! The simulator runs the same steps on one thread: madsim runs no system threads, and the two
//! orders install the same keys.

use std::io::Read;

use redraft_core::snapshot::{SnapshotError, SnapshotHeader};
use redraft_core::snapshot_reader::SnapshotReader;
use redraft_core::StateMachine;

/// Chunks of keys the reading thread may be ahead of the installing one.
#[cfg(not(madsim))]
const CHUNKS_AHEAD: usize = 16;

/// Reads the snapshot in `input` into `state`, replacing what it held.
///
/// # Errors
/// The snapshot is damaged; `state` is then empty.
pub(super) fn read_and_install(
    state: &StateMachine,
    input: impl Read + Send,
) -> Result<SnapshotHeader, SnapshotError> {
    let reader = SnapshotReader::new(input)?;
    let expected = usize::try_from(reader.header().key_count).unwrap_or(usize::MAX);
    let mut outcome = None;
    #[cfg(not(madsim))]
    std::thread::scope(|scope| {
        let (chunks, received) = std::sync::mpsc::sync_channel(CHUNKS_AHEAD);
        let reading = scope.spawn(move || {
            reader.read_in_chunks(|chunk| {
                // The installer takes every chunk until this thread is done.
                let _ = chunks.send(chunk);
            })
        });
        state.install_streamed(received.into_iter().flatten(), expected, || {
            let read = reading.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            keep_rest(read, &mut outcome)
        });
    });
    #[cfg(madsim)]
    {
        let mut keys = Vec::new();
        let read = reader.read_in_chunks(|chunk| keys.extend(chunk));
        state.install_streamed(keys, expected, || keep_rest(read, &mut outcome));
    }
    outcome.expect("install_streamed asks for the rest once")
}

/// Hands the state the rest of what was read, and keeps the header or the error for the caller.
fn keep_rest(
    read: Result<(SnapshotHeader, redraft_core::Frozen), SnapshotError>,
    outcome: &mut Option<Result<SnapshotHeader, SnapshotError>>,
) -> Option<redraft_core::Frozen> {
    match read {
        Ok((header, frozen)) => {
            *outcome = Some(Ok(header));
            Some(frozen)
        }
        Err(error) => {
            *outcome = Some(Err(error));
            None
        }
    }
}
