//! The byte formats: log records, log entries and snapshots. Round trips, decoders fed arbitrary
//! bytes (never a panic), a log cut at every byte offset, corruption in the middle, and insta
//! snapshots that pin the exact bytes (a changed snapshot is a format change).

mod common;

use bytes::Bytes;
use common::Node;
use proptest::prelude::*;
use redraft_core::command::{Command, CommandName, Expiry, SetCommand, SetCondition, SetExpiry};
use redraft_core::entry::{AclChange, LogEntry, Payload, SessionRef, Watch, Write};
use redraft_core::record::{decode_all, encode_record, Problem, RecordDecoder, Tail, TornReason};
use redraft_core::snapshot::{write_snapshot, LogId, SnapshotError};
use redraft_core::snapshot_reader::SnapshotReader;
use redraft_core::Reply;
use redraft_core::{StateMachine, StateMachineConfig};
use std::num::NonZeroU64;

fn hex(bytes: &[u8]) -> String {
    bytes
        .chunks(16)
        .map(|c| c.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A core entry as a version byte and bincode: how it sits inside openraft's entry in a log
/// record. The bytes the server actually writes (the index prefix, the store's format version and
/// openraft's entry around this) are pinned in `server/tests/formats.rs`; the version here is
/// the store's current one (2: batches).
fn encode_entry(entry: &LogEntry) -> Vec<u8> {
    redraft_core::codec::encode_versioned(2, entry)
}

fn decode_entry(bytes: &[u8]) -> Result<LogEntry, redraft_core::codec::DecodeError> {
    redraft_core::codec::decode_versioned(2, bytes)
}

fn sample_entries() -> Vec<LogEntry> {
    vec![
        LogEntry::new(
            1_700_000_000_000,
            Payload::Command {
                session: Some(SessionRef { client_id: 42, sequence: NonZeroU64::new(7).unwrap() }),
                command: Command::Set(SetCommand {
                    name: CommandName::Set,
                    key: Bytes::from_static(b"user:1"),
                    value: Bytes::from_static(b"alice"),
                    condition: SetCondition::IfEqual(Box::new(Bytes::from_static(b"bob"))),
                    expiry: SetExpiry::Set(Expiry::InMs(10_000)),
                    get: true,
                }),
            },
        ),
        LogEntry::new(
            1_700_000_000_100,
            Payload::Transaction {
                session: None,
                watches: vec![Watch { key: Bytes::from_static(b"a"), token: 9 }],
                commands: vec![
                    Command::IncrBy { name: CommandName::Incr, key: Bytes::from_static(b"a"), delta: 1 },
                    Command::Get { key: Bytes::from_static(b"a") },
                ],
            },
        ),
        LogEntry::new(1_700_000_000_200, Payload::TimeAdvance),
        LogEntry::new(
            1_700_000_000_300,
            Payload::ExpireBatch { keys: vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")] },
        ),
        LogEntry::new(
            1_700_000_000_400,
            Payload::Batch {
                writes: vec![
                    Write::Command {
                        session: Some(SessionRef { client_id: 43, sequence: NonZeroU64::new(1).unwrap() }),
                        command: Command::Del {
                            name: CommandName::Del,
                            keys: vec![Bytes::from_static(b"a")],
                        },
                    },
                    Write::Transaction {
                        session: None,
                        watches: vec![],
                        commands: vec![Command::IncrBy {
                            name: CommandName::Incr,
                            key: Bytes::from_static(b"b"),
                            delta: 1,
                        }],
                    },
                ]
                .into(),
            },
        ),
    ]
}

fn sample_log() -> Vec<u8> {
    let mut log = Vec::new();
    for entry in sample_entries() {
        encode_record(&encode_entry(&entry), &mut log);
    }
    log
}

/// The record framing and entry encoding, byte for byte.
#[test]
fn log_record_bytes_are_pinned() {
    let mut one = Vec::new();
    encode_record(&encode_entry(&sample_entries()[0]), &mut one);
    insta::assert_snapshot!("log_record_set_ifeq", hex(&one));
    insta::assert_snapshot!("log_sample_bytes", hex(&sample_log()));
}

/// Every entry decodes back to itself.
#[test]
fn entries_round_trip_through_records() {
    let (records, tail) = decode_all(&sample_log(), 0).expect("a clean log decodes");
    assert_eq!(tail, Tail::Clean { end_offset: sample_log().len() as u64 });
    let decoded: Vec<LogEntry> = records.iter().map(|r| decode_entry(&r.payload).expect("decodes")).collect();
    assert_eq!(decoded, sample_entries());
}

/// Cutting the log at every byte offset recovers exactly the whole records before the cut and
/// reports the rest as a torn tail, never as corruption.
#[test]
fn log_cut_at_every_offset_recovers_whole_records() {
    let log = sample_log();
    let (full, _) = decode_all(&log, 0).expect("clean");
    let ends: Vec<u64> = full.iter().map(|r| r.offset + 8 + r.payload.len() as u64).collect();
    for cut in 0..=log.len() {
        let (records, tail) = decode_all(&log[..cut], 0).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let whole = ends.iter().filter(|&&end| end <= cut as u64).count();
        assert_eq!(records.len(), whole, "cut at {cut}");
        assert_eq!(records[..], full[..whole], "cut at {cut}");
        let valid_end = if whole == 0 { 0 } else { ends[whole - 1] };
        match tail {
            Tail::Clean { end_offset } => assert_eq!((end_offset, cut as u64), (valid_end, valid_end)),
            Tail::Torn { valid_end_offset, discarded_bytes, reason } => {
                assert_eq!(valid_end_offset, valid_end, "cut at {cut}");
                assert_eq!(valid_end_offset + discarded_bytes, cut as u64);
                assert_eq!(reason, TornReason::Incomplete);
            }
        }
    }
}

/// The same, fed one byte at a time through the streaming decoder.
#[test]
fn streaming_decoder_matches_whole_decoding_byte_by_byte() {
    let log = sample_log();
    let mut decoder = RecordDecoder::new(0);
    let mut records = Vec::new();
    for byte in &log {
        decoder.feed(std::slice::from_ref(byte));
        while let Some(record) = decoder.next_record().expect("clean") {
            records.push(record);
        }
    }
    assert_eq!(records, decode_all(&log, 0).expect("clean").0);
    assert_eq!(decoder.finish().expect("clean"), Tail::Clean { end_offset: log.len() as u64 });
}

/// A flipped byte in any record but the last is corruption, reported at that record's offset.
#[test]
fn corrupted_middle_is_refused_with_the_offset() {
    let log = sample_log();
    let (records, _) = decode_all(&log, 0).expect("clean");
    let last = records.last().expect("records").offset as usize;
    for position in 0..last {
        let mut bad = log.clone();
        bad[position] ^= 0x40;
        let holder = records.iter().rev().find(|r| r.offset as usize <= position).expect("a record holds it");
        match decode_all(&bad, 0) {
            Err(error) => assert_eq!(error.offset, holder.offset, "flip at {position}"),
            // A flipped length that points past the end looks exactly like a torn tail; the
            // module documents this one indistinguishable case.
            Ok((_, Tail::Torn { valid_end_offset, reason: TornReason::Incomplete, .. })) => {
                assert!(
                    position < holder.offset as usize + 4,
                    "only a length flip may look torn: {position}"
                );
                assert_eq!(valid_end_offset, holder.offset);
            }
            Ok(other) => panic!("flip at {position} went unnoticed: {other:?}"),
        }
    }
    let mut bad = log.clone();
    bad[records[1].offset as usize + 10] ^= 1;
    let error = decode_all(&bad, 0).expect_err("corrupt");
    assert_eq!(
        error.to_string(),
        format!("corrupt record at offset {}: {}", records[1].offset, error.problem)
    );
    assert!(matches!(error.problem, Problem::ChecksumMismatch { .. }));
}

/// A damaged last record, or one followed only by zeros (a zero-filled block), is a torn tail.
#[test]
fn damaged_last_record_or_zero_fill_is_a_torn_tail() {
    let log = sample_log();
    let (records, _) = decode_all(&log, 0).expect("clean");
    let last = records.last().expect("records").offset;
    let mut bad = log.clone();
    *bad.last_mut().expect("bytes") ^= 0xff;
    let (kept, tail) = decode_all(&bad, 0).expect("torn, not corrupt");
    assert_eq!(kept.len(), records.len() - 1);
    assert!(
        matches!(tail, Tail::Torn { valid_end_offset, reason: TornReason::Damaged(_), .. } if valid_end_offset == last)
    );

    let mut zeros = log.clone();
    zeros.extend_from_slice(&[0u8; 4096]);
    let (kept, tail) = decode_all(&zeros, 0).expect("torn, not corrupt");
    assert_eq!(kept.len(), records.len());
    assert_eq!(
        tail,
        Tail::Torn {
            valid_end_offset: log.len() as u64,
            discarded_bytes: 4096,
            reason: TornReason::Damaged(Problem::BadLength(0))
        }
    );
}

/// Stale garbage after the last whole record (a crash mid-append on a file system that does not
/// zero new blocks) is a torn tail when no valid record follows it; the same garbage with a
/// valid record after it is corruption at the garbage's offset.
#[test]
fn garbage_tail_is_torn_unless_a_valid_record_follows() {
    let log = sample_log();
    let (records, _) = decode_all(&log, 0).expect("clean");
    let garbage: Vec<u8> = (0..200u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 1).collect();
    let mut torn = log.clone();
    torn.extend_from_slice(&garbage);
    let (kept, tail) = decode_all(&torn, 0).expect("torn, not corrupt");
    assert_eq!(kept.len(), records.len());
    assert!(
        matches!(tail, Tail::Torn { valid_end_offset, discarded_bytes: 200, reason: TornReason::Damaged(_) } if valid_end_offset == log.len() as u64),
        "{tail:?}"
    );

    let mut corrupt = torn.clone();
    encode_record(b"a record after the garbage", &mut corrupt);
    let error = decode_all(&corrupt, 0).expect_err("a valid record follows the damage");
    assert_eq!(error.offset, log.len() as u64);
    // The streaming decoder, which cannot look that far ahead, refuses both.
    let mut streaming = RecordDecoder::new(0);
    streaming.feed(&torn);
    while let Ok(Some(_)) = streaming.next_record() {}
    assert!(streaming.finish().is_err());
}

fn populated_state() -> std::sync::Arc<StateMachine> {
    populated_state_node().sm
}

fn populated_state_node() -> Node {
    let mut node = Node::with_seed(3);
    node.run(&["SET", "alpha", "1"]);
    node.run(&["SET", "beta", "two", "PX", "5000"]);
    node.run(&["MSET", "gamma", "3", "delta", "\u{0}\u{1}"]);
    node.run(&["DEL", "gamma"]);
    node.append(Payload::Command {
        session: Some(SessionRef { client_id: 9, sequence: NonZeroU64::new(1).unwrap() }),
        command: Command::IncrBy { name: CommandName::Incr, key: Bytes::from_static(b"counter"), delta: 1 },
    });
    node
}

/// A snapshot's bytes are pinned, and reading it gives back the very state that was written.
#[test]
fn snapshot_round_trips_and_bytes_are_pinned() {
    let sm = populated_state();
    let frozen = sm.freeze();
    let last = Some(LogId { term: 2, node_id: 1, index: frozen.applied_index });
    let bytes = write_snapshot(Vec::new(), &frozen, last, Bytes::from_static(b"members")).expect("in memory");
    insta::assert_snapshot!("snapshot_bytes", hex(&bytes));
    let (header, read) = SnapshotReader::new(&bytes[..]).expect("header").read_all().expect("valid");
    assert_eq!(header.last_applied, last);
    assert_eq!(&header.membership[..], b"members");
    assert_eq!(read, frozen);

    let restored = StateMachine::new(StateMachineConfig { hash_seed: 99, ..StateMachineConfig::default() });
    restored.install(read);
    assert_eq!(restored.freeze().digest(), frozen.digest(), "another hash seed, the same state");
}

/// Hashes, lists and sets travel through a snapshot (format version 4, bytes pinned): a small one
/// of each, one with a TTL, and a hash, a list and a set each large enough to span several part
/// records. What comes back is the very state, under another hash seed too; a snapshot pinned
/// while the aggregates change (`pin.rs`) writes them as they were.
#[test]
fn aggregates_round_trip_through_snapshots() {
    let mut node = Node::with_seed(3);
    node.run(&["HSET", "h", "f1", "v1", "f2", "v2"]);
    node.run(&["RPUSH", "l", "a", "b", "a"]);
    node.run(&["SADD", "s", "x", "y"]);
    node.run(&["PEXPIRE", "s", "5000"]);
    node.run(&["ZADD", "z", "1.5", "one", "-inf", "low", "0.1", "tenth"]);
    let small = node.sm.freeze();
    let last = Some(LogId { term: 1, node_id: 1, index: small.applied_index });
    let bytes = write_snapshot(Vec::new(), &small, last, Bytes::new()).expect("in memory");
    insta::assert_snapshot!("snapshot_bytes_aggregates", hex(&bytes));
    let (_, read) = SnapshotReader::new(&bytes[..]).expect("header").read_all().expect("valid");
    assert_eq!(read, small);

    // 3,000 elements of 100 bytes: about 300 KB each, five or more part records.
    let element = |i: usize| format!("{i:0>100}");
    for chunk in (0..3000).collect::<Vec<_>>().chunks(500) {
        let mut hset = vec!["HSET".to_owned(), "big-h".to_owned()];
        let mut rpush = vec!["RPUSH".to_owned(), "big-l".to_owned()];
        let mut sadd = vec!["SADD".to_owned(), "big-s".to_owned()];
        let mut zadd = vec!["ZADD".to_owned(), "big-z".to_owned()];
        for i in chunk {
            hset.extend([element(*i), element(*i)]);
            rpush.push(element(*i));
            sadd.push(element(*i));
            zadd.extend([format!("{}", *i as f64 / 7.0), element(*i)]);
        }
        for command in [hset, rpush, sadd, zadd] {
            let args: Vec<&str> = command.iter().map(String::as_str).collect();
            assert!(!node.run(&args).is_error());
        }
    }
    let frozen = node.sm.freeze();
    let last = Some(LogId { term: 1, node_id: 1, index: frozen.applied_index });
    let bytes = write_snapshot(Vec::new(), &frozen, last, Bytes::new()).expect("in memory");
    let (_, read) = SnapshotReader::new(&bytes[..]).expect("header").read_all().expect("valid");
    assert_eq!(read, frozen);
    let restored = StateMachine::new(StateMachineConfig { hash_seed: 99, ..StateMachineConfig::default() });
    restored.install(read);
    assert_eq!(restored.freeze().digest(), frozen.digest(), "another hash seed, the same state");

    // Cut anywhere inside the parts, the snapshot is refused, never read short.
    for cut in [bytes.len() / 3, bytes.len() / 2, bytes.len() - 40] {
        assert!(SnapshotReader::new(&bytes[..cut]).and_then(|r| r.read_all()).is_err(), "cut at {cut}");
    }
}

/// A snapshot written before hashes, lists and sets (format version 3, the bytes this test
/// pinned then) still reads, to the same state.
#[test]
fn a_version_3_snapshot_still_reads() {
    let text = include_str!("fixtures/snapshot_v3.hex");
    let bytes: Vec<u8> = text.split_whitespace().map(|b| u8::from_str_radix(b, 16).expect("hex")).collect();
    let (_, read) =
        SnapshotReader::new(&bytes[..]).expect("header").read_all().expect("a valid version-3 snapshot");
    assert_eq!(read, populated_state().freeze());
}

/// A snapshot written before keys kept their create index (format version 2, the bytes this
/// test pinned then) still reads, to the same state: each key reads as created at its last
/// modification, which for this history is exact.
#[test]
fn a_version_2_snapshot_still_reads() {
    let text = include_str!("fixtures/snapshot_v2.hex");
    let bytes: Vec<u8> = text.split_whitespace().map(|b| u8::from_str_radix(b, 16).expect("hex")).collect();
    let (_, read) =
        SnapshotReader::new(&bytes[..]).expect("header").read_all().expect("a valid version-2 snapshot");
    assert_eq!(read, populated_state().freeze());
}

/// A snapshot written before users were replicated (format version 1, the bytes this test
/// pinned then) still reads, to the same state, with the users of a new store.
#[test]
fn a_version_1_snapshot_still_reads() {
    let text = include_str!("fixtures/snapshot_v1.hex");
    let bytes: Vec<u8> = text.split_whitespace().map(|b| u8::from_str_radix(b, 16).expect("hex")).collect();
    let (_, read) =
        SnapshotReader::new(&bytes[..]).expect("header").read_all().expect("a valid version-1 snapshot");
    let frozen = populated_state().freeze();
    assert_eq!(read, frozen);
    let restored = StateMachine::new(StateMachineConfig::default());
    restored.install(read);
    assert_eq!(*restored.users(), redraft_core::acl::Users::default());
}

/// Users changed through the log are in the snapshot and come back from it, with what each may
/// do; a store whose users never changed writes none (its snapshot is as before).
#[test]
fn users_travel_through_the_log_and_snapshots() {
    let mut node = populated_state_node();
    let set_user = |name: &str, rules: &str| Write::Acl {
        session: None,
        change: AclChange::SetUser {
            name: Bytes::copy_from_slice(name.as_bytes()),
            rules: rules.split(' ').map(|r| Bytes::copy_from_slice(r.as_bytes())).collect(),
        },
    };
    assert!(node.sm.freeze().users.is_empty());
    let replies = node.append_all(Payload::Batch {
        writes: vec![
            set_user("alice", "on >secret ~app:* +@read"),
            set_user("bob", "on >pw +nosuch"),
            Write::Acl {
                session: None,
                change: AclChange::DelUser { names: vec![Bytes::from_static(b"default")] },
            },
        ]
        .into(),
    });
    assert_eq!(replies[0], Reply::Ok);
    assert!(matches!(&replies[1], Reply::Error(e) if e.contains("'+nosuch'")), "{replies:?}");
    assert!(matches!(&replies[2], Reply::Error(e) if e.contains("cannot be removed")), "{replies:?}");
    let users = node.sm.users();
    assert!(users.authenticate(b"alice", b"secret").is_some());
    assert!(users.get("bob").is_none());

    let frozen = node.sm.freeze();
    assert_eq!(frozen.users.len(), 2, "alice and default");
    let bytes = write_snapshot(Vec::new(), &frozen, None, Bytes::new()).expect("in memory");
    let (_, read) = SnapshotReader::new(&bytes[..]).expect("header").read_all().expect("valid");
    let restored = StateMachine::new(StateMachineConfig::default());
    restored.install(read);
    assert_eq!(restored.users().list(), users.list());
    assert_eq!(restored.freeze().digest(), frozen.digest());
}

/// Two replicas with different hash seeds write byte-identical snapshots.
#[test]
fn snapshot_bytes_do_not_depend_on_the_hash_seed() {
    let write = |seed: u64| {
        let mut node = Node::with_seed(seed);
        for i in 0..200 {
            node.run(&["SET", &format!("key:{i}"), &i.to_string()]);
        }
        write_snapshot(Vec::new(), &node.sm.freeze(), None, Bytes::new()).expect("in memory")
    };
    assert_eq!(write(1), write(2));
}

/// Every truncation and every single flipped byte of a snapshot is an error, never a panic and
/// never a silently different state.
#[test]
fn damaged_snapshots_are_refused() {
    let sm = populated_state();
    let bytes = write_snapshot(Vec::new(), &sm.freeze(), None, Bytes::new()).expect("in memory");
    for cut in 0..bytes.len() {
        let result = SnapshotReader::new(&bytes[..cut]).and_then(|r| r.read_all());
        assert!(result.is_err(), "a snapshot cut at {cut} was accepted");
    }
    for position in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[position] ^= 0x10;
        let result = SnapshotReader::new(&bad[..]).and_then(|r| r.read_all());
        assert!(result.is_err(), "a flip at {position} was accepted");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        SnapshotReader::new(&longer[..]).and_then(|r| r.read_all()),
        Err(SnapshotError::TrailingBytes { .. })
    ));
}

proptest! {
    /// Arbitrary bytes never panic the record decoder, and whatever it returns is consistent.
    #[test]
    fn record_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok((records, tail)) = decode_all(&bytes, 0) {
            let end = match tail {
                Tail::Clean { end_offset } => end_offset,
                Tail::Torn { valid_end_offset, discarded_bytes, .. } => {
                    prop_assert_eq!(valid_end_offset + discarded_bytes, bytes.len() as u64);
                    valid_end_offset
                }
            };
            let consumed: u64 = records.iter().map(|r| 8 + r.payload.len() as u64).sum();
            prop_assert_eq!(consumed, end);
        }
    }

    /// Arbitrary bytes never panic the entry decoder or the snapshot reader.
    #[test]
    fn entry_and_snapshot_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_entry(&bytes);
        let mut with_version = vec![2u8];
        with_version.extend_from_slice(&bytes);
        let _ = decode_entry(&with_version);
        let mut snapshot = b"RDRFSNAP".to_vec();
        snapshot.extend_from_slice(&bytes);
        let _ = SnapshotReader::new(&snapshot[..]).and_then(|r| r.read_all());
    }

    /// Arbitrary argument lists never panic the command parser.
    #[test]
    fn command_parser_never_panics(
        name in proptest::sample::select(CommandName::ALL),
        args in proptest::collection::vec(
            prop_oneof![
                Just("EX".to_owned()), Just("PX".to_owned()), Just("NX".to_owned()), Just("XX".to_owned()),
                Just("GET".to_owned()), Just("KEEPTTL".to_owned()), Just("IFEQ".to_owned()), Just("GT".to_owned()),
                Just("LT".to_owned()), Just("MATCH".to_owned()), Just("COUNT".to_owned()), Just("TYPE".to_owned()),
                Just("REPLACE".to_owned()), Just("DB".to_owned()), Just("PERSIST".to_owned()),
                Just("-9223372036854775808".to_owned()), Just("9223372036854775807".to_owned()),
                "-?[0-9]{1,20}", ".{0,8}",
            ],
            0..8,
        ),
    ) {
        let mut argv = vec![Bytes::from(name.as_str())];
        argv.extend(args.into_iter().map(Bytes::from));
        if let Ok(command) = Command::parse(&argv) {
            // Whatever parses also applies without panicking.
            let mut node = Node::new();
            if command.is_write() {
                node.append(Payload::Command { session: None, command });
            } else {
                node.sm.read(&command);
            }
        }
    }

    /// Encoded entries decode to themselves, for random SET commands.
    #[test]
    fn random_entries_round_trip(
        key in proptest::collection::vec(any::<u8>(), 0..40),
        value in proptest::collection::vec(any::<u8>(), 0..200),
        stamp_ms in any::<u64>(),
        ms in any::<i64>(),
    ) {
        let entry = LogEntry::new(
            stamp_ms,
            Payload::Command {
                session: None,
                command: Command::Set(SetCommand {
                    name: CommandName::PSetEx,
                    key: key.into(),
                    value: value.into(),
                    condition: SetCondition::Always,
                    expiry: SetExpiry::Set(Expiry::AtMs(ms)),
                    get: false,
                }),
            },
        );
        let mut framed = Vec::new();
        encode_record(&encode_entry(&entry), &mut framed);
        let (records, _) = decode_all(&framed, 0).expect("clean");
        prop_assert_eq!(decode_entry(&records[0].payload).expect("decodes"), entry);
    }
}
