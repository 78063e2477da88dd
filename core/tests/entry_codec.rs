//! The hand-written entry encoder and decoder (`core/src/entry_encoder.rs`, `entry_decoder.rs`)
//! agree with bincode: the encoder writes bincode's bytes for any entry (SETs and lone puts, which
//! it writes itself, among writes it hands to bincode); the decoder decodes the same entry from
//! them, and errs where bincode errs, on truncated, extended and damaged bytes; and the count of
//! writes read from an entry's head alone (`write_count`) is the entry's.

use std::num::NonZeroU64;
use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;
use redraft_core::codec;
use redraft_core::command::{Command, CommandName, Expiry, SetCommand, SetCondition, SetExpiry};
use redraft_core::entry::{LogEntry, Payload, SessionRef, Watch, Write};
use redraft_core::entry_decoder::{decode_log_entry, write_count};
use redraft_core::entry_encoder::encode_log_entry;
use redraft_core::txn::{Compare, CompareOp, CompareTarget, Txn, TxnOp};

fn bytes() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..24),
        // Past 250 bytes a length takes three bytes.
        prop::collection::vec(any::<u8>(), 250..300),
    ]
    .prop_map(Bytes::from)
}

/// Integers of every varint width.
fn number() -> impl Strategy<Value = u64> {
    prop_oneof![0..=250u64, 251..=65_535u64, 65_536..=u64::from(u32::MAX), any::<u64>()]
}

fn session() -> impl Strategy<Value = Option<SessionRef>> {
    prop::option::of((number(), number()).prop_map(|(client_id, sequence)| SessionRef {
        client_id,
        sequence: NonZeroU64::new(sequence).unwrap_or(NonZeroU64::MIN),
    }))
}

fn set_command() -> impl Strategy<Value = Command> {
    let condition = prop_oneof![
        Just(SetCondition::Always),
        Just(SetCondition::IfAbsent),
        Just(SetCondition::IfPresent),
        bytes().prop_map(|b| SetCondition::IfEqual(Box::new(b))),
    ];
    let expiry = prop_oneof![
        Just(SetExpiry::Clear),
        Just(SetExpiry::Keep),
        Just(SetExpiry::Set(Expiry::Persist)),
        any::<i64>().prop_map(|ms| SetExpiry::Set(Expiry::InMs(ms))),
        any::<i64>().prop_map(|ms| SetExpiry::Set(Expiry::AtMs(ms))),
    ];
    let name = prop::sample::select(CommandName::ALL.to_vec());
    (name, bytes(), bytes(), condition, expiry, any::<bool>()).prop_map(
        |(name, key, value, condition, expiry, get)| {
            Command::Set(SetCommand { name, key, value, condition, expiry, get })
        },
    )
}

fn txn_op() -> impl Strategy<Value = TxnOp> {
    prop_oneof![
        (bytes(), bytes(), prop::option::of(number()), any::<bool>())
            .prop_map(|(key, value, ttl_ms, keep_ttl)| TxnOp::Put { key, value, ttl_ms, keep_ttl }),
        bytes().prop_map(|key| TxnOp::Delete { key }),
        bytes().prop_map(|key| TxnOp::Get { key }),
    ]
}

fn txn() -> impl Strategy<Value = Txn> {
    let compare = (bytes(), number()).prop_map(|(key, revision)| Compare {
        key,
        op: CompareOp::Equal,
        target: CompareTarget::ModRevision(revision),
    });
    prop_oneof![
        // The HTTP API's plain put, which the decoder reads itself.
        txn_op().prop_map(|op| Txn { compares: Vec::new(), success: vec![op], failure: Vec::new() }),
        (
            prop::collection::vec(compare, 0..2),
            prop::collection::vec(txn_op(), 0..3),
            prop::collection::vec(txn_op(), 0..2),
        )
            .prop_map(|(compares, success, failure)| Txn { compares, success, failure }),
    ]
}

fn write() -> impl Strategy<Value = Write> {
    let other_command = prop_oneof![
        prop::collection::vec(bytes(), 1..3).prop_map(|keys| Command::Del { name: CommandName::Del, keys }),
        (bytes(), any::<i64>()).prop_map(|(key, delta)| Command::IncrBy {
            name: CommandName::IncrBy,
            key,
            delta
        }),
    ];
    prop_oneof![
        4 => (session(), set_command()).prop_map(|(session, command)| Write::Command { session, command }),
        3 => (session(), txn()).prop_map(|(session, txn)| Write::Txn { session, txn }),
        1 => (session(), other_command).prop_map(|(session, command)| Write::Command { session, command }),
        1 => (session(), bytes(), set_command()).prop_map(|(session, key, command)| Write::Transaction {
            session,
            watches: vec![Watch { key, token: 7 }],
            commands: vec![command],
        }),
    ]
}

fn entry() -> impl Strategy<Value = LogEntry> {
    let payload = prop_oneof![
        8 => prop::collection::vec(write(), 0..12).prop_map(|writes| Payload::Batch { writes: Arc::new(writes) }),
        1 => Just(Payload::TimeAdvance),
        1 => (session(), set_command()).prop_map(|(session, command)| Payload::Command { session, command }),
        1 => (session(), bytes(), prop::collection::vec(set_command(), 0..3)).prop_map(
            |(session, key, commands)| Payload::Transaction { session, watches: vec![Watch { key, token: 2 }], commands }
        ),
        1 => prop::collection::vec(bytes(), 0..4).prop_map(|keys| Payload::ExpireBatch { keys }),
    ];
    (number(), payload).prop_map(|(stamp_ms, payload)| LogEntry::new(stamp_ms, payload))
}

fn encoded(entry: &LogEntry) -> Vec<u8> {
    let mut bytes = Vec::new();
    codec::encode_into(entry, &mut bytes);
    bytes
}

/// What bincode makes of `bytes`, beside what the hand-written decoder makes of them.
fn both(bytes: &[u8]) -> (Option<LogEntry>, Option<LogEntry>) {
    (decode_log_entry(&Bytes::copy_from_slice(bytes)).ok(), codec::decode_part::<LogEntry>(bytes).ok())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encodes_every_entry_as_bincode_does(entry in entry()) {
        let mut ours = vec![7];
        encode_log_entry(&entry, &mut ours);
        prop_assert_eq!(ours[0], 7, "appended to what the buffer held");
        prop_assert_eq!(&ours[1..], &encoded(&entry)[..]);
    }

    #[test]
    fn decodes_every_entry_as_bincode_does(entry in entry()) {
        let bytes = Bytes::from(encoded(&entry));
        prop_assert_eq!(decode_log_entry(&bytes).expect("decodes"), entry);
    }

    #[test]
    fn counts_the_writes_of_every_entry_from_its_head(entry in entry()) {
        let expected = match &entry.payload {
            Payload::Batch { writes } => writes.len(),
            Payload::Command { .. } | Payload::Transaction { .. } => 1,
            Payload::ExpireBatch { keys } => keys.len(),
            Payload::TimeAdvance => 0,
        };
        prop_assert_eq!(write_count(&Bytes::from(encoded(&entry))).expect("a head"), expected);
    }

    #[test]
    fn errs_where_bincode_errs_on_damaged_bytes(entry in entry(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let bytes = encoded(&entry);
        let cut = at.index(bytes.len() + 1);
        let (ours, bincode) = both(&bytes[..cut]);
        prop_assert_eq!(ours, bincode, "cut at {} of {}", cut, bytes.len());
        let mut damaged = bytes.clone();
        if cut < damaged.len() {
            damaged[cut] = byte;
        }
        let (ours, bincode) = both(&damaged);
        prop_assert_eq!(ours, bincode, "byte {} set to {}", cut, byte);
        let mut extended = bytes;
        extended.push(byte);
        let (ours, bincode) = both(&extended);
        prop_assert_eq!(ours, bincode, "a byte appended");
    }
}

/// Short keys and values share the decoded bytes; a longer value is a copy, so that a value the
/// map keeps as it is does not keep a whole received buffer alive.
#[test]
fn short_strings_share_the_decoded_bytes_and_long_values_are_copies() {
    let set = |value: Vec<u8>| {
        let command = Command::Set(SetCommand {
            name: CommandName::Set,
            key: Bytes::from_static(b"key"),
            value: Bytes::from(value),
            condition: SetCondition::Always,
            expiry: SetExpiry::Clear,
            get: false,
        });
        Write::Command { session: None, command }
    };
    let writes = vec![set(vec![b'v'; 256]), set(vec![b'w'; 257])];
    let source = Bytes::from(encoded(&LogEntry::new(1, Payload::Batch { writes: Arc::new(writes) })));
    let decoded = decode_log_entry(&source).expect("decodes");
    let shares = |bytes: &Bytes| source.as_ptr_range().contains(&bytes.as_ptr());
    let Payload::Batch { writes } = &decoded.payload else { panic!("a batch") };
    let strings: Vec<(bool, bool)> = writes
        .iter()
        .map(|write| match write {
            Write::Command { command: Command::Set(set), .. } => (shares(&set.key), shares(&set.value)),
            other => panic!("a SET, not {other:?}"),
        })
        .collect();
    assert_eq!(strings, [(true, true), (true, false)]);
}
