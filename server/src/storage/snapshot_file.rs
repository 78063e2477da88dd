//! Snapshot files as operators handle them (`redraft-cli snapshot verify`, `redraft-server
//! restore`): checked, or copied with a new membership, record by record, never whole in memory.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};

use bytes::Bytes;
use openraft::{Membership, StoredMembership};
use redraft_core::codec;
use redraft_core::session::Session;
use redraft_core::snapshot::{SnapshotHeader, SnapshotItem, SnapshotWriter};
use redraft_core::snapshot_reader::{KeyOrItem, SnapshotReader};

use super::format::STORE_FORMAT_VERSION;
use super::state_machine_store::{membership_of, SnapshotRaftState};
use crate::addr::NodeAddr;

/// What a snapshot file holds, as `redraft-cli snapshot verify` and `restore` report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotSummary {
    /// The log index of the last entry it holds: its revision.
    pub revision: u64,
    pub keys: u64,
    pub sessions: u64,
    pub bytes: u64,
}

/// Reads a whole snapshot, checking every record's checksum, the counts and the stream's
/// checksum, and says what it holds; it holds one record at a time.
///
/// # Errors
/// Where the snapshot is damaged, naming the offset.
pub fn verify_snapshot(input: impl Read) -> Result<(SnapshotSummary, SnapshotHeader), String> {
    let mut input = Counted { inner: input, bytes: 0 };
    let (header, _) =
        SnapshotReader::new(&mut input).and_then(|r| r.read_in_chunks(drop)).map_err(|e| e.to_string())?;
    membership_of(&header)?;
    let summary = SnapshotSummary {
        revision: header.last_applied.map_or(0, |id| id.index),
        keys: header.key_count,
        sessions: header.session_count,
        bytes: input.bytes,
    };
    Ok((summary, header))
}

/// Copies the snapshot `input` to `output` with its membership replaced by `members`, all
/// voters, as of the snapshot's last entry: what a new cluster restored from a backup starts
/// from. Record by record: neither is ever whole in memory.
///
/// # Errors
/// The snapshot is damaged (naming the offset; `output` then holds a partial copy, which the
/// caller discards), holds no entry to restore from, or `output` fails.
pub fn with_membership<W: Write>(
    input: impl Read,
    output: W,
    members: BTreeMap<u64, NodeAddr>,
) -> Result<(SnapshotSummary, W), String> {
    let mut reader = SnapshotReader::new(input).map_err(|e| e.to_string())?;
    let header = reader.header().clone();
    let (last_applied, _old): SnapshotRaftState = membership_of(&header)?;
    let Some(last) = last_applied else {
        return Err("the snapshot is of an empty cluster: there is nothing to restore".into());
    };
    let voters = members.keys().copied().collect::<BTreeSet<u64>>();
    let membership = StoredMembership::new(Some(last), Membership::new(vec![voters], members));
    let extra = codec::encode_versioned(STORE_FORMAT_VERSION, &(last_applied, membership));
    let rewritten = SnapshotHeader { membership: Bytes::from(extra), ..header.clone() };
    let mut output = Counted { inner: output, bytes: 0 };
    let mut writer = SnapshotWriter::new(&mut output, &rewritten).map_err(|e| e.to_string())?;
    while let Some(item) = reader.next_key_or_item().map_err(|e| e.to_string())? {
        let written = match item {
            KeyOrItem::Key((key, entry)) => writer.write_key(&key, &entry),
            KeyOrItem::Item(SnapshotItem::Session { client_id, sequence, log_index, reply }) => {
                writer.write_session(client_id, &Session { sequence, log_index, reply })
            }
            KeyOrItem::Item(SnapshotItem::User { name, rules }) => writer.write_user(&name, &rules),
            KeyOrItem::Item(_) => unreachable!("keys come whole and the reader consumes the trailer"),
        };
        written.map_err(|e| e.to_string())?;
    }
    writer.finish().map_err(|e| e.to_string())?;
    let summary = SnapshotSummary {
        revision: last.index,
        keys: header.key_count,
        sessions: header.session_count,
        bytes: output.bytes,
    };
    Ok((summary, output.inner))
}

/// A reader or writer that counts the bytes through it.
struct Counted<T> {
    inner: T,
    bytes: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.bytes += read as u64;
        Ok(read)
    }
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
