//! The bytes redraft actually writes, pinned with insta: a changed snapshot here is a change to a
//! format on disk or on the wire, to be reviewed like code and accepted only when it is meant.
//!
//! - The log as it lies in a segment file: each record `[len][crc32c]`, then the entry's log index
//!   (8 bytes, little endian), the storage format version, and openraft's entry in bincode (its
//!   log id, and a normal, blank or membership payload). Written through the very function the
//!   log store appends with.
//! - A peer frame as a node sends it: the transport's header (cluster, route) around a request
//!   in bincode, and an answer.
#![cfg(not(madsim))]

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU64;

use bytes::Bytes;
use openraft::raft::VoteRequest;
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Membership, Vote};
use redraft_core::command::{Command, CommandName};
use redraft_core::entry::{AclChange, LogEntry, Payload, SessionRef, Write};
use redraft_core::txn::{Compare, CompareOp, CompareTarget, Txn, TxnOp};
use redraft_core::Reply;
use redraft_net::peer::{encode_frame, Route, KIND_MESSAGE};
use redraft_server::addr::NodeAddr;
use redraft_server::error::NodeError;
use redraft_server::peer::message::{encode, PeerRequest, PeerResponse};
use redraft_server::raft_types::TypeConfig;
use redraft_server::storage::file_disk::{FileDisk, PREALLOCATE_BYTES_MIN};
use redraft_server::storage::log_store::{decode_entry, encode_entry};
use redraft_server::storage::segment_log::{SegmentLog, SEGMENT_BYTES_MAX_DEFAULT};

fn hex(bytes: &[u8]) -> String {
    bytes
        .chunks(16)
        .map(|c| c.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn log_id(term: u64, index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

/// A first term's entries as a new cluster writes them: the membership, a blank, a client INCRBY
/// alone (as version 1 wrote client writes) and a batch of two clients' writes (version 2).
fn sample_entries() -> Vec<Entry<TypeConfig>> {
    let addr = |n: u16| NodeAddr {
        raft_addr: format!("127.0.0.1:{}", 16378 + n),
        resp_addr: format!("127.0.0.1:{}", 6378 + n),
    };
    let nodes = BTreeMap::from([(1, addr(1)), (2, addr(2))]);
    let membership = Membership::new(vec![BTreeSet::from([1, 2])], nodes);
    let incr = LogEntry::new(
        1_700_000_000_000,
        Payload::Command {
            session: Some(SessionRef { client_id: 42, sequence: NonZeroU64::new(7).unwrap() }),
            command: Command::IncrBy {
                name: CommandName::IncrBy,
                key: Bytes::from_static(b"visits"),
                delta: 5,
            },
        },
    );
    let batch = LogEntry::new(
        1_700_000_000_001,
        Payload::Batch {
            writes: vec![
                Write::Command {
                    session: None,
                    command: Command::Del { name: CommandName::Del, keys: vec![Bytes::from_static(b"a")] },
                },
                Write::Command {
                    session: Some(SessionRef { client_id: 43, sequence: NonZeroU64::new(1).unwrap() }),
                    command: Command::IncrBy {
                        name: CommandName::IncrBy,
                        key: Bytes::from_static(b"visits"),
                        delta: 1,
                    },
                },
            ]
            .into(),
        },
    );
    let acl = LogEntry::new(
        1_700_000_000_002,
        Payload::Batch {
            writes: vec![Write::Acl {
                session: None,
                change: AclChange::SetUser {
                    name: Bytes::from_static(b"app"),
                    rules: vec![
                        Bytes::from_static(b"on"),
                        Bytes::from_static(b">pw"),
                        Bytes::from_static(b"~app:*"),
                    ],
                },
            }]
            .into(),
        },
    );
    let txn = LogEntry::new(
        1_700_000_000_003,
        Payload::Batch {
            writes: vec![Write::Txn {
                session: Some(SessionRef { client_id: 44, sequence: NonZeroU64::new(1).unwrap() }),
                txn: Txn {
                    compares: vec![Compare {
                        key: Bytes::from_static(b"k"),
                        op: CompareOp::Equal,
                        target: CompareTarget::ModRevision(3),
                    }],
                    success: vec![TxnOp::Put {
                        key: Bytes::from_static(b"k"),
                        value: Bytes::from_static(b"v"),
                        ttl_ms: Some(1_000),
                        keep_ttl: false,
                    }],
                    failure: vec![TxnOp::Get { key: Bytes::from_static(b"k") }],
                },
            }]
            .into(),
        },
    );
    vec![
        Entry { log_id: log_id(1, 1), payload: EntryPayload::Membership(membership) },
        Entry { log_id: log_id(1, 2), payload: EntryPayload::Blank },
        Entry { log_id: log_id(1, 3), payload: EntryPayload::Normal(incr) },
        Entry { log_id: log_id(1, 4), payload: EntryPayload::Normal(batch) },
        Entry { log_id: log_id(1, 5), payload: EntryPayload::Normal(acl) },
        Entry { log_id: log_id(1, 6), payload: EntryPayload::Normal(txn) },
    ]
}

/// The INCRBY entry's payload as a version-1 build wrote it (the format version byte, then
/// openraft's entry), copied from this file's golden snapshot before version 2.
const VERSION_1_INCRBY: &str =
    "01 01 01 03 01 fd 00 68 e5 cf 8b 01 00 00 00 01 2a 07 0a 10 06 76 69 73 69 74 73 0a";

fn unhex(text: &str) -> Vec<u8> {
    text.split_whitespace().map(|b| u8::from_str_radix(b, 16).expect("hex")).collect()
}

/// A data directory written by a version-1 build still opens: its entries decode as they did.
/// A version this build does not know is refused with both versions named, never misread.
#[test]
fn entries_of_older_versions_are_still_read_and_unknown_versions_refused() {
    let old = unhex(VERSION_1_INCRBY);
    let decoded = decode_entry(&old.clone().into()).expect("a version-1 entry decodes");
    assert_eq!(decoded.log_id, sample_entries()[2].log_id);
    assert_eq!(format!("{:?}", decoded.payload), format!("{:?}", sample_entries()[2].payload));
    // A version-2 build wrote a batch exactly as this one does, but for the version byte.
    let mut version_2 = encode_entry(&sample_entries()[3]);
    version_2[0] = 2;
    let decoded = decode_entry(&version_2.into()).expect("a version-2 entry decodes");
    assert_eq!(format!("{:?}", decoded.payload), format!("{:?}", sample_entries()[3].payload));
    // And a version-3 build wrote an ACL change so (version 4 added transactions at the end).
    let mut version_3 = encode_entry(&sample_entries()[4]);
    version_3[0] = 3;
    let decoded = decode_entry(&version_3.into()).expect("a version-3 entry decodes");
    assert_eq!(format!("{:?}", decoded.payload), format!("{:?}", sample_entries()[4].payload));
    let mut newer = old.clone();
    newer[0] = 5;
    let error = decode_entry(&newer.into()).expect_err("version 5 is unknown").to_string();
    assert_eq!(error, "format version 5 is not supported (this build reads versions 1 to 4)");
}

/// Appends the sample entries as the log store does, syncs, and pins the segment file's bytes
/// as the closed log leaves them (while open, zeros follow them: `file_disk.rs`'s preallocation);
/// reopening reads every entry back.
#[tokio::test]
async fn the_log_on_disk_is_pinned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = FileDisk::new(dir.path()).expect("dir");
    let (mut log, _) = SegmentLog::open(disk.clone(), SEGMENT_BYTES_MAX_DEFAULT, None).await.expect("opens");
    for entry in sample_entries() {
        log.append(entry.log_id.index, &encode_entry(&entry)).await.expect("append");
    }
    log.sync().await.expect("sync");
    let segments = log.segment_names();
    assert_eq!(segments.len(), 1, "{segments:?}");
    let open_bytes = std::fs::read(dir.path().join(&segments[0])).expect("the segment file");
    drop(log);
    let bytes = std::fs::read(dir.path().join(&segments[0])).expect("the segment file");
    insta::assert_snapshot!("log_segment_bytes", format!("{}\n{}", segments[0], hex(&bytes)));
    assert!(open_bytes.len() as u64 >= PREALLOCATE_BYTES_MIN, "zeros ahead of the appends while open");
    assert!(open_bytes.starts_with(&bytes) && open_bytes[bytes.len()..].iter().all(|&b| b == 0));

    let (reopened, report) = SegmentLog::open(disk, SEGMENT_BYTES_MAX_DEFAULT, None).await.expect("reopens");
    assert!(report.torn_tail.is_none(), "{report:?}");
    let read: Vec<(u64, Vec<u8>)> = reopened
        .read(..)
        .expect("read")
        .into_iter()
        .map(|(index, payload)| (index, payload.to_vec()))
        .collect();
    let written: Vec<(u64, Vec<u8>)> =
        sample_entries().iter().map(|e| (e.log_id.index, encode_entry(e))).collect();
    assert_eq!(read, written);
}

/// A vote request from node 1 to node 2 and a forwarded write's answer, framed as a node sends
/// them: the route is in the header, the body is the request alone.
#[test]
fn a_peer_frame_is_pinned() {
    let vote = PeerRequest::Vote(VoteRequest::new(Vote::new(3, 1), Some(log_id(2, 17))));
    let frame =
        encode_frame(KIND_MESSAGE, "redraft", Route { from: 1, to: 2 }, &encode(&vote)).expect("small");
    insta::assert_snapshot!("peer_frame_vote", hex(&frame));
    let answer = PeerResponse::Write(vec![
        Ok(Reply::Ok),
        Err(NodeError::Unknown("no outcome within 10000 ms".into())),
    ]);
    let frame =
        encode_frame(KIND_MESSAGE, "redraft", Route { from: 2, to: 1 }, &encode(&answer)).expect("small");
    insta::assert_snapshot!("peer_frame_write_answer", hex(&frame));
}
