//! An AppendEntries as it travels between peers: each client entry as its encoding, the bytes
//! the leader's log already holds ([`LogEntry::encoding`]), which the follower decodes once
//! (`core/src/entry_decoder.rs`) and writes to its own log as they came. Before, the leader sized and encoded every entry again for
//! every follower, and each follower encoded it again for its log: on the leader of three nodes
//! under pipelined SETs, a sixth of the instructions a write cost (`valgrind --tool=callgrind`).

use std::fmt;

use bytes::Bytes;
use openraft::raft::AppendEntriesRequest;
use openraft::{Entry, EntryPayload, LogId, Membership, Vote};
use redraft_core::codec::{self, DecodeError};
#[cfg(doc)]
use redraft_core::entry::LogEntry;
use redraft_core::entry_decoder::decode_log_entry;
use serde::{Deserialize, Serialize};

use crate::addr::NodeAddr;
use crate::raft_types::TypeConfig;
use crate::storage::format::{STORE_FORMAT_VERSION, STORE_FORMAT_VERSIONS_READ};

/// openraft's `AppendEntriesRequest`, with its entries encoded.
#[derive(Serialize, Deserialize)]
pub struct AppendFrame {
    vote: Vote<u64>,
    prev_log_id: Option<LogId<u64>>,
    leader_commit: Option<LogId<u64>>,
    /// The store format (`storage/format.rs`) the client entries are encoded in: a follower
    /// refuses one it cannot read, as it refuses such a log.
    format: u8,
    entries: Vec<FrameEntry>,
}

#[derive(Serialize, Deserialize)]
struct FrameEntry {
    log_id: LogId<u64>,
    payload: FramePayload,
}

#[derive(Serialize, Deserialize)]
enum FramePayload {
    Blank,
    /// A client entry's encoding ([`codec::encode_into`] of its [`LogEntry`]).
    Normal(Bytes),
    Membership(Membership<u64, NodeAddr>),
}

impl AppendFrame {
    /// The frame for `rpc`: each client entry's encoding is taken from the entry when it knows it
    /// (an entry fresh in the log store does), encoded otherwise.
    pub fn new(rpc: AppendEntriesRequest<TypeConfig>) -> AppendFrame {
        let entries = rpc
            .entries
            .into_iter()
            .map(|entry| FrameEntry {
                log_id: entry.log_id,
                payload: match entry.payload {
                    EntryPayload::Blank => FramePayload::Blank,
                    EntryPayload::Normal(data) => FramePayload::Normal(match data.encoding() {
                        Some(encoding) => encoding.clone(),
                        None => {
                            let mut out = Vec::new();
                            codec::encode_into(&data, &mut out);
                            Bytes::from(out)
                        }
                    }),
                    EntryPayload::Membership(membership) => FramePayload::Membership(membership),
                },
            })
            .collect();
        AppendFrame {
            vote: rpc.vote,
            prev_log_id: rpc.prev_log_id,
            leader_commit: rpc.leader_commit,
            format: STORE_FORMAT_VERSION,
            entries,
        }
    }

    pub fn vote(&self) -> Vote<u64> {
        self.vote
    }

    pub fn prev_log_id(&self) -> Option<LogId<u64>> {
        self.prev_log_id
    }

    pub fn leader_commit(&self) -> Option<LogId<u64>> {
        self.leader_commit
    }

    /// The last entry's log id, if it has entries.
    pub fn last_log_id(&self) -> Option<LogId<u64>> {
        self.entries.last().map(|entry| entry.log_id)
    }

    /// About how many bytes each entry takes in the frame, in order.
    pub fn entry_bytes(&self) -> impl Iterator<Item = usize> + '_ {
        self.entries.iter().map(|entry| match &entry.payload {
            FramePayload::Blank => LOG_ID_BYTES,
            FramePayload::Normal(encoding) => LOG_ID_BYTES + encoding.len(),
            FramePayload::Membership(membership) => {
                LOG_ID_BYTES
                    + usize::try_from(bincode::serialized_size(membership).unwrap_or(u64::MAX))
                        .unwrap_or(usize::MAX)
            }
        })
    }

    /// The request openraft sent, decoded.
    ///
    /// # Errors
    /// The entries are in a store format this build does not read, or malformed.
    pub fn into_request(self) -> Result<AppendEntriesRequest<TypeConfig>, DecodeError> {
        if !STORE_FORMAT_VERSIONS_READ.contains(&self.format) {
            return Err(DecodeError::UnsupportedVersion {
                found: self.format,
                oldest: *STORE_FORMAT_VERSIONS_READ.start(),
                newest: *STORE_FORMAT_VERSIONS_READ.end(),
            });
        }
        let entries = self
            .entries
            .into_iter()
            .map(|entry| {
                let payload = match entry.payload {
                    FramePayload::Blank => EntryPayload::Blank,
                    FramePayload::Normal(encoding) => {
                        let mut data = decode_log_entry(&encoding)?;
                        data.set_encoding(encoding);
                        EntryPayload::Normal(data)
                    }
                    FramePayload::Membership(membership) => EntryPayload::Membership(membership),
                };
                Ok(Entry { log_id: entry.log_id, payload })
            })
            .collect::<Result<_, DecodeError>>()?;
        Ok(AppendEntriesRequest {
            vote: self.vote,
            prev_log_id: self.prev_log_id,
            leader_commit: self.leader_commit,
            entries,
        })
    }
}

/// What a log id takes in a frame (bincode's fixed-width integers: term, node, index).
const LOG_ID_BYTES: usize = 24;

impl fmt::Debug for AppendFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppendFrame")
            .field("vote", &self.vote)
            .field("prev_log_id", &self.prev_log_id)
            .field("leader_commit", &self.leader_commit)
            .field("format", &self.format)
            .field("entries", &self.entries.len())
            .field("last", &self.entries.last().map(|entry| entry.log_id))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use openraft::CommittedLeaderId;
    use redraft_core::command::Command;
    use redraft_core::entry::{LogEntry, Payload, Write};

    use super::*;
    use crate::peer::message::{decode, encode, PeerRequest};

    fn request(entries: Vec<Entry<TypeConfig>>) -> AppendEntriesRequest<TypeConfig> {
        AppendEntriesRequest {
            vote: Vote::new_committed(3, 1),
            prev_log_id: Some(LogId::new(CommittedLeaderId::new(3, 1), 9)),
            leader_commit: Some(LogId::new(CommittedLeaderId::new(2, 2), 8)),
            entries,
        }
    }

    fn set(index: u64, key: &str) -> Entry<TypeConfig> {
        let args =
            [Bytes::from_static(b"SET"), Bytes::copy_from_slice(key.as_bytes()), Bytes::from_static(b"v")];
        let write = Write::Command { session: None, command: Command::parse(&args).expect("a SET") };
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(3, 1), index),
            payload: EntryPayload::Normal(LogEntry::new(
                index,
                Payload::Batch { writes: Arc::new(vec![write]) },
            )),
        }
    }

    /// The request's fields, to compare (openraft's type has no `PartialEq`).
    type Fields = (Vote<u64>, Option<LogId<u64>>, Option<LogId<u64>>, Vec<Entry<TypeConfig>>);

    fn fields(rpc: AppendEntriesRequest<TypeConfig>) -> Fields {
        (rpc.vote, rpc.prev_log_id, rpc.leader_commit, rpc.entries)
    }

    fn through_the_wire(rpc: AppendEntriesRequest<TypeConfig>) -> AppendEntriesRequest<TypeConfig> {
        let body = encode(&PeerRequest::AppendFrame(AppendFrame::new(rpc)));
        match decode::<PeerRequest>(&body).expect("decodes") {
            PeerRequest::AppendFrame(frame) => frame.into_request().expect("readable"),
            other => panic!("not an append: {other:?}"),
        }
    }

    /// Every kind of entry arrives as it left, whether the leader knew its encoding or not, and
    /// a client entry arrives knowing its encoding, for the follower's log to copy.
    #[test]
    fn entries_arrive_as_sent_and_know_their_encoding() {
        let nodes = std::collections::BTreeMap::from([(1, NodeAddr::default()), (2, NodeAddr::default())]);
        let membership = Membership::new(vec![std::collections::BTreeSet::from([1, 2])], nodes);
        let mut known = set(12, "known");
        let EntryPayload::Normal(data) = &mut known.payload else { unreachable!() };
        let mut encoding = Vec::new();
        codec::encode_into(&*data, &mut encoding);
        data.set_encoding(Bytes::from(encoding));
        let sent = vec![
            Entry { log_id: LogId::new(CommittedLeaderId::new(3, 1), 10), payload: EntryPayload::Blank },
            set(11, "fresh"),
            known,
            Entry {
                log_id: LogId::new(CommittedLeaderId::new(3, 1), 13),
                payload: EntryPayload::Membership(membership),
            },
        ];
        let received = fields(through_the_wire(request(sent.clone())));
        assert_eq!(received, fields(request(sent.clone())));
        for (arrived, left) in received.3.iter().zip(&sent) {
            if let (EntryPayload::Normal(arrived), EntryPayload::Normal(left)) =
                (&arrived.payload, &left.payload)
            {
                let mut expected = Vec::new();
                codec::encode_into(left, &mut expected);
                assert_eq!(arrived.encoding().map(|b| b.to_vec()), Some(expected));
            }
        }
        assert_eq!(fields(through_the_wire(request(Vec::new()))), fields(request(Vec::new())), "a heartbeat");
    }

    /// A frame in a store format this build cannot read is refused with both versions named.
    #[test]
    fn a_newer_format_is_refused() {
        let mut frame = AppendFrame::new(request(vec![set(11, "k")]));
        frame.format = STORE_FORMAT_VERSION + 1;
        let error = frame.into_request().expect_err("refused").to_string();
        assert!(error.contains(&format!("format version {}", STORE_FORMAT_VERSION + 1)), "{error}");
    }
}
