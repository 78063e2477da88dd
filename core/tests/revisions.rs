//! Revisions, etcd-style transactions and the change stream (DESIGN.md §9): what the HTTP API
//! and watch are built on.

mod common;

use bytes::Bytes;
use common::Node;
use redraft_core::change::{Change, ChangeKind};
use redraft_core::key_range::KeyRange;
use redraft_core::txn::{Compare, CompareOp, CompareTarget, KeyValue, OpResult, Txn, TxnOp, TxnOutcome};
use redraft_core::types::Kind;
use redraft_core::{LogEntry, Payload, Write};

fn b(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

fn put(key: &str, value: &str) -> TxnOp {
    TxnOp::Put { key: b(key), value: b(value), ttl_ms: None, keep_ttl: false }
}

fn compare(key: &str, op: CompareOp, target: CompareTarget) -> Compare {
    Compare { key: b(key), op, target }
}

/// Applies `txn` as the next entry and reads its outcome back, with the changes it made.
fn run_txn(node: &mut Node, txn: &Txn) -> (TxnOutcome, Vec<Change>) {
    node.log_index += 1;
    let mut changes = Vec::new();
    let entry = LogEntry::new(
        node.clock_ms,
        Payload::Batch { writes: vec![Write::Txn { session: None, txn: txn.clone() }].into() },
    );
    let mut replies = node.sm.apply_recording(node.log_index, &entry, Some(&mut changes));
    let outcome = TxnOutcome::from_reply(replies.pop().expect("one reply"), txn).expect("a txn reply");
    (outcome, changes)
}

fn get(node: &Node, key: &str) -> Option<KeyValue> {
    node.sm.get_kv(key.as_bytes()).0
}

/// A key keeps its create revision while it lives and takes a new one once deleted or expired;
/// its modify revision is the entry of its last change, and reads are labelled with the applied
/// index.
#[test]
fn create_and_modify_revisions_follow_the_key() {
    let mut node = Node::new();
    node.run(&["SET", "k", "1"]); // 1
    node.run(&["SET", "other", "x"]); // 2
    node.run(&["SET", "k", "2"]); // 3
    let (kv, revision) = node.sm.get_kv(b"k");
    let kv = kv.expect("k lives");
    assert_eq!((kv.create_revision, kv.mod_revision, kv.ttl_ms, revision), (1, 3, -1, 3));
    node.run(&["APPEND", "k", "3"]); // 4
    assert_eq!(get(&node, "k").map(|kv| (kv.create_revision, kv.mod_revision)), Some((1, 4)));

    node.run(&["DEL", "k"]); // 5
    assert_eq!(get(&node, "k"), None);
    node.run(&["SET", "k", "again", "PX", "100"]); // 6
    let kv = get(&node, "k").expect("k lives");
    assert_eq!((kv.create_revision, kv.mod_revision, kv.ttl_ms), (6, 6, 100));

    node.advance_ms(100); // 7: k expired but still stored
    node.run(&["SET", "k", "reborn"]); // 8
    assert_eq!(get(&node, "k").map(|kv| (kv.create_revision, kv.mod_revision)), Some((8, 8)));

    // A snapshot keeps both revisions.
    let restored = redraft_core::StateMachine::new(redraft_core::StateMachineConfig::default());
    restored.install(node.sm.freeze());
    assert_eq!(restored.get_kv(b"k"), node.sm.get_kv(b"k"));
}

/// Each compare target holds exactly when it should, for live, absent and expiring keys, and
/// picks the branch; a failed transaction changes nothing and still reports its revision.
#[test]
fn compares_pick_the_branch() {
    let mut node = Node::new();
    node.run(&["SET", "a", "apple"]); // 1
    node.run(&["SET", "t", "x", "PX", "5000"]); // 2
    use CompareOp::*;
    use CompareTarget::*;
    let cases = [
        (compare("a", Equal, Value(b("apple"))), true),
        (compare("a", NotEqual, Value(b("apple"))), false),
        (compare("a", Greater, Value(b("app"))), true),
        (compare("a", Less, Value(b("b"))), true),
        (compare("missing", NotEqual, Value(b("x"))), false),
        (compare("a", Equal, ModRevision(1)), true),
        (compare("a", Less, ModRevision(1)), false),
        (compare("missing", Equal, ModRevision(0)), true),
        (compare("a", Equal, CreateRevision(1)), true),
        (compare("missing", Equal, CreateRevision(0)), true),
        (compare("a", Equal, Exists(true)), true),
        (compare("missing", Equal, Exists(false)), true),
        (compare("missing", NotEqual, Exists(false)), false),
        (compare("a", Greater, Exists(false)), false),
        (compare("a", Equal, TtlMs(-1)), true),
        (compare("missing", Equal, TtlMs(-2)), true),
        (compare("t", Greater, TtlMs(4000)), true),
        (compare("t", Less, TtlMs(4000)), false),
    ];
    for (c, holds) in cases {
        let txn =
            Txn { compares: vec![c.clone()], success: vec![put("s", "1")], failure: vec![put("f", "1")] };
        let before = node.log_index;
        let (outcome, _) = run_txn(&mut node, &txn);
        assert_eq!(outcome.succeeded, holds, "{c:?}");
        assert_eq!(outcome.revision, before + 1);
        assert_eq!(get(&node, if holds { "s" } else { "f" }).map(|kv| kv.mod_revision), Some(before + 1));
        node.run(&["DEL", "s", "f"]);
    }

    // All compares must hold; a failure branch that is empty changes nothing.
    let txn = Txn {
        compares: vec![compare("a", Equal, Exists(true)), compare("a", Equal, Value(b("pear")))],
        success: vec![put("a", "changed")],
        failure: vec![],
    };
    let (outcome, changes) = run_txn(&mut node, &txn);
    assert!(!outcome.succeeded && outcome.results.is_empty() && changes.is_empty());
    assert_eq!(get(&node, "a").map(|kv| kv.value), Some(b("apple")));
}

/// Operations apply in order inside one revision: a get sees the puts before it, a delete
/// counts only a live key, a put with `keep_ttl` keeps the TTL, and the outcome reads back.
#[test]
fn operations_apply_in_order_at_one_revision() {
    let mut node = Node::new();
    node.run(&["SET", "ttl", "v", "PX", "5000"]); // 1
    let txn = Txn {
        compares: vec![],
        success: vec![
            put("x", "1"),
            TxnOp::Get { key: b("x") },
            put("x", "2"),
            TxnOp::Delete { key: b("gone") },
            TxnOp::Put { key: b("ttl"), value: b("w"), ttl_ms: None, keep_ttl: true },
            TxnOp::Put { key: b("short"), value: b("s"), ttl_ms: Some(250), keep_ttl: false },
            TxnOp::Delete { key: b("x") },
            TxnOp::Get { key: b("x") },
        ],
        failure: vec![],
    };
    let (outcome, changes) = run_txn(&mut node, &txn);
    assert!(outcome.succeeded);
    assert_eq!(outcome.revision, 2);
    let x1 = KeyValue { value: b("1"), kind: Kind::String, create_revision: 2, mod_revision: 2, ttl_ms: -1 };
    assert_eq!(
        outcome.results,
        vec![
            OpResult::Put { created: true },
            OpResult::Get(Some(x1)),
            OpResult::Put { created: false },
            OpResult::Delete { deleted: 0 },
            OpResult::Put { created: false },
            OpResult::Put { created: true },
            OpResult::Delete { deleted: 1 },
            OpResult::Get(None),
        ]
    );
    assert_eq!(
        get(&node, "ttl").map(|kv| (kv.value, kv.ttl_ms, kv.create_revision)),
        Some((b("w"), 5000, 1))
    );
    assert_eq!(get(&node, "short").map(|kv| kv.ttl_ms), Some(250));
    // Every change of the entry, in order, at its revision.
    let kinds: Vec<(u64, String)> = changes.iter().map(|c| (c.revision, describe(&c.kind))).collect();
    let expected = [
        "put x=1 created 2",
        "put x=2 created 2",
        "put ttl=w created 1",
        "put short=s created 2",
        "delete x Client",
    ];
    assert_eq!(kinds, expected.iter().map(|e| (2, e.to_string())).collect::<Vec<_>>());
}

/// Keyspace events are recorded among the changes only while the state machine is told to
/// record them, each after the change it is about, as the HTTP API's writes raise SET's and
/// DEL's events.
#[test]
fn keyspace_events_are_recorded_only_when_asked_for() {
    let mut node = Node::new();
    let txn = |ops| Txn { compares: vec![], success: ops, failure: vec![] };
    let (_, changes) = run_txn(&mut node, &txn(vec![put("a", "1")]));
    assert_eq!(changes.iter().map(|c| describe(&c.kind)).collect::<Vec<_>>(), ["put a=1 created 1"]);
    node.sm.record_keyspace_events(true);
    let ops = vec![
        put("a", "2"),
        TxnOp::Put { key: b("b"), value: b("3"), ttl_ms: Some(100), keep_ttl: false },
        TxnOp::Delete { key: b("a") },
        TxnOp::Delete { key: b("missing") },
    ];
    let (_, changes) = run_txn(&mut node, &txn(ops));
    let expected = [
        "put a=2 created 1",
        "event set a",
        "put b=3 created 2",
        "event new b",
        "event set b",
        "event expire b",
        "delete a Client",
        "event del a",
    ];
    assert_eq!(changes.iter().map(|c| describe(&c.kind)).collect::<Vec<_>>(), expected);
    node.sm.record_keyspace_events(false);
    let (_, changes) = run_txn(&mut node, &txn(vec![put("a", "4")]));
    assert_eq!(changes.iter().map(|c| describe(&c.kind)).collect::<Vec<_>>(), ["put a=4 created 3"]);
}

fn describe(kind: &ChangeKind) -> String {
    match kind {
        ChangeKind::Put { key, value, create_revision, .. } => format!(
            "put {}={} created {create_revision}",
            String::from_utf8_lossy(key),
            String::from_utf8_lossy(value)
        ),
        ChangeKind::Update { key, kind, create_revision, .. } => {
            format!("update {} {} created {create_revision}", kind.as_str(), String::from_utf8_lossy(key))
        }
        ChangeKind::Delete { key, reason } => format!("delete {} {reason:?}", String::from_utf8_lossy(key)),
        ChangeKind::Flush => "flush".to_owned(),
        ChangeKind::Message { channel, .. } => format!("message on {}", String::from_utf8_lossy(channel)),
        ChangeKind::Event { event, key } => format!("event {} {}", event.name, String::from_utf8_lossy(key)),
    }
}

/// RESP writes, active expiry and FLUSHALL are recorded too, each with its reason; entries that
/// change no key record nothing.
#[test]
fn every_kind_of_change_is_recorded_with_its_reason() {
    let mut node = Node::new();
    let parser = Node::new();
    let apply = |node: &mut Node, payload: Payload| {
        node.log_index += 1;
        let mut changes = Vec::new();
        let entry = LogEntry::new(node.clock_ms, payload);
        node.sm.apply_recording(node.log_index, &entry, Some(&mut changes));
        changes.iter().map(|c| format!("{} {}", c.revision, describe(&c.kind))).collect::<Vec<_>>()
    };
    let write = |node: &Node, args: &[&str]| Payload::Batch {
        writes: vec![node.parse_write(args).expect("a write")].into(),
    };
    assert_eq!(
        apply(&mut node, write(&parser, &["MSET", "a", "1", "b", "2"])),
        ["1 put a=1 created 1", "1 put b=2 created 1"]
    );
    assert_eq!(apply(&mut node, write(&parser, &["SET", "e", "x", "PX", "10"])), ["2 put e=x created 2"]);
    assert_eq!(apply(&mut node, write(&parser, &["DEL", "a", "nothing"])), ["3 delete a Client"]);
    assert_eq!(apply(&mut node, write(&parser, &["SET", "b", "3", "NX"])), Vec::<String>::new());
    node.clock_ms += 10;
    assert_eq!(apply(&mut node, Payload::TimeAdvance), Vec::<String>::new());
    assert_eq!(apply(&mut node, Payload::ExpireBatch { keys: vec![b("e"), b("b")] }), ["6 delete e Expiry"]);
    assert_eq!(apply(&mut node, write(&parser, &["FLUSHALL"])), ["7 flush"]);
    // Without a buffer nothing is recorded and nothing changes in the replies.
    node.run(&["SET", "quiet", "1"]);
    assert_eq!(node.sm.list_range(&KeyRange::prefix(b""), None, 10).0.len(), 1);
}

/// A range page is in key order, bounded, resumable after its last key, and counted the same.
#[test]
fn ranges_list_and_count_live_keys_in_order() {
    let mut node = Node::new();
    for key in ["b/2", "a", "b/1", "b/3", "c", "b/\u{ff}"] {
        node.run(&["SET", key, "v"]);
    }
    node.run(&["SET", "b/0", "v", "PX", "1"]);
    node.advance_ms(1);
    let names = |page: &[(Bytes, KeyValue)]| {
        page.iter().map(|(k, _)| String::from_utf8_lossy(k).into_owned()).collect::<Vec<_>>()
    };
    let range = KeyRange::prefix(b"b/");
    let (page, more, revision) = node.sm.list_range(&range, None, 2);
    assert_eq!(
        (names(&page), more, revision),
        (vec!["b/1".to_owned(), "b/2".to_owned()], true, node.log_index)
    );
    let (page, more, _) = node.sm.list_range(&range, Some(b"b/2"), 2);
    assert_eq!((names(&page), more), (vec!["b/3".to_owned(), "b/\u{ff}".to_owned()], false));
    assert_eq!(node.sm.count_range(&range, None).0, 4);
    assert_eq!(node.sm.count_range(&range, Some(b"b/1")).0, 3);
    let between = KeyRange { start: b("a"), end: Some(b("b/2")) };
    assert_eq!(names(&node.sm.list_range(&between, None, 10).0), ["a", "b/1"]);
}

/// One write of the mixed-path property test: a put (with a TTL or not) or a delete of a key.
#[derive(Clone, Debug)]
enum Op {
    Put { key: u8, value: u8, ttl_ms: Option<u64> },
    Delete { key: u8 },
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        (0u8..6, any::<u8>(), proptest::option::of(1u64..50)).prop_map(|(key, value, ttl_ms)| Op::Put {
            key,
            value,
            ttl_ms
        }),
        (0u8..6).prop_map(|key| Op::Delete { key }),
    ]
}

/// Applies `op` as a RESP command (SET / SET PX / DEL) or as a one-operation transaction (the
/// HTTP API's), and returns the changes it made.
fn apply_op(node: &mut Node, op: &Op, as_txn: bool) -> Vec<Change> {
    let write = match (op, as_txn) {
        (Op::Put { key, value, ttl_ms }, true) => Write::Txn {
            session: None,
            txn: Txn {
                compares: vec![],
                success: vec![TxnOp::Put {
                    key: b(&format!("k{key}")),
                    value: b(&value.to_string()),
                    ttl_ms: *ttl_ms,
                    keep_ttl: false,
                }],
                failure: vec![],
            },
        },
        (Op::Delete { key }, true) => Write::Txn {
            session: None,
            txn: Txn {
                compares: vec![],
                success: vec![TxnOp::Delete { key: b(&format!("k{key}")) }],
                failure: vec![],
            },
        },
        (Op::Put { key, value, ttl_ms: Some(ttl) }, false) => node
            .parse_write(&["SET", &format!("k{key}"), &value.to_string(), "PX", &ttl.to_string()])
            .expect("a write"),
        (Op::Put { key, value, ttl_ms: None }, false) => {
            node.parse_write(&["SET", &format!("k{key}"), &value.to_string()]).expect("a write")
        }
        (Op::Delete { key }, false) => node.parse_write(&["DEL", &format!("k{key}")]).expect("a write"),
    };
    node.log_index += 1;
    let mut changes = Vec::new();
    let entry = LogEntry::new(node.clock_ms, Payload::Batch { writes: vec![write].into() });
    node.sm.apply_recording(node.log_index, &entry, Some(&mut changes));
    changes
}

proptest::proptest! {
    /// A random mix of writes gives the same keys, revisions, TTLs and change stream whether each
    /// came as a RESP command or as an HTTP transaction, with time passing between them.
    #[test]
    fn resp_and_transactions_make_the_same_state_and_revisions(
        ops in proptest::collection::vec((op(), proptest::bool::ANY, 0u64..20), 1..60),
    ) {
        let (mut mixed, mut resp) = (Node::new(), Node::new());
        for (op, as_txn, wait_ms) in &ops {
            mixed.clock_ms += wait_ms;
            resp.clock_ms += wait_ms;
            let left = apply_op(&mut mixed, op, *as_txn);
            let right = apply_op(&mut resp, op, false);
            proptest::prop_assert_eq!(left, right, "{:?}", op);
        }
        for key in 0..6 {
            let key = format!("k{key}");
            proptest::prop_assert_eq!(mixed.sm.get_kv(key.as_bytes()), resp.sm.get_kv(key.as_bytes()), "{}", key);
        }
        proptest::prop_assert_eq!(mixed.sm.freeze().digest(), resp.sm.freeze().digest());
    }
}

/// What the change stream keeps is its own memory: a SET's key and value and a PUBLISH's channel
/// and message, given as slices of one buffer (as a request's arguments are slices of the buffer
/// it was read into), are recorded as copies, so the watch history never keeps that buffer alive.
#[test]
fn recorded_changes_do_not_share_the_buffer_their_write_came_from() {
    use redraft_core::command::{SetCommand, SetCondition, SetExpiry};
    use redraft_core::{Command, CommandName};
    let buffer = Bytes::from(vec![b'x'; 4096]);
    let read = buffer.as_ptr() as usize..buffer.as_ptr() as usize + buffer.len();
    let (key, value) = (buffer.slice(0..8), buffer.slice(100..164));
    let (channel, message) = (buffer.slice(200..210), buffer.slice(300..400));
    let set = Command::Set(SetCommand {
        name: CommandName::Set,
        key,
        value,
        condition: SetCondition::Always,
        expiry: SetExpiry::Clear,
        get: false,
    });
    let writes = vec![
        Write::Command { session: None, command: set },
        Write::Command { session: None, command: Command::Publish { channel, message } },
    ];
    let mut node = Node::new();
    node.log_index += 1;
    let mut changes = Vec::new();
    let entry = LogEntry::new(node.clock_ms, Payload::Batch { writes: writes.into() });
    node.sm.apply_recording(node.log_index, &entry, Some(&mut changes));
    let held: Vec<&Bytes> = changes
        .iter()
        .flat_map(|change| match &change.kind {
            ChangeKind::Put { key, value, .. } => vec![key, value],
            ChangeKind::Message { channel, message } => vec![channel, message],
            other => panic!("a put and a message, not {other:?}"),
        })
        .collect();
    assert_eq!(held.len(), 4, "{changes:?}");
    for bytes in held {
        assert!(!read.contains(&(bytes.as_ptr() as usize)), "{bytes:?} shares the write's buffer");
    }
}

/// An entry that knows its encoding has the keys and values that encoding holds recorded as
/// slices of it, not copies: on the leader, whose log noted where it encoded the writes' strings
/// (held elsewhere), and on a follower, whose entry was decoded from the encoding. An entry whose changes would cover less than half of its encoding has them
/// copied, so that the history does not keep the rest of the encoding alive for them.
#[test]
fn recorded_changes_share_the_entrys_encoding_where_it_holds_them() {
    use redraft_core::command::{SetCommand, SetCondition, SetExpiry};
    use redraft_core::entry_decoder::decode_log_entry;
    use redraft_core::entry_encoder::encode_log_entry_placing;
    use redraft_core::{Command, CommandName};
    let set = |key: &str, value: &str, condition: SetCondition| Write::Command {
        session: None,
        command: Command::Set(SetCommand {
            name: CommandName::Set,
            key: b(key),
            value: b(value),
            condition,
            expiry: SetExpiry::Clear,
            get: false,
        }),
    };
    // As the leader's log encodes an entry, noting where its strings went.
    let encoded = |writes: Vec<Write>| {
        let mut entry = LogEntry::new(1, Payload::Batch { writes: writes.into() });
        let (mut out, mut placed) = (Vec::new(), Vec::new());
        encode_log_entry_placing(&entry, &mut out, &mut placed);
        entry.set_encoding_placed(Bytes::from(out), &placed);
        entry
    };
    let mut node = Node::new();
    let mut apply = |entry: &LogEntry| {
        node.log_index += 1;
        let mut changes = Vec::new();
        node.sm.apply_recording(node.log_index, entry, Some(&mut changes));
        changes
    };
    let held = |changes: &[Change]| -> Vec<Bytes> {
        let mut changes = changes.to_vec();
        changes
            .iter_mut()
            .flat_map(|change| change.kind.bytes_mut().map(|b| b.clone()).collect::<Vec<_>>())
            .collect()
    };
    let leader = encoded(vec![
        set("k1", "value-1", SetCondition::Always),
        set("k2", &"v".repeat(256), SetCondition::Always),
        set("k1", "value-3", SetCondition::Always),
    ]);
    let encoding = leader.encoding().expect("an encoding").clone();
    // A follower decodes what it receives and keeps the bytes as the entry's encoding.
    let mut follower = decode_log_entry(&encoding).expect("decodes");
    follower.set_encoding(encoding.clone());
    for entry in [&leader, &follower] {
        let changes = apply(entry);
        let held = held(&changes);
        assert_eq!(held.len(), 6, "{changes:?}");
        for bytes in held {
            assert!(encoding.as_ptr_range().contains(&bytes.as_ptr()), "{bytes:?} is a copy");
        }
    }
    // 40 SET NX of a key that exists change nothing; the one change made before them holds 4
    // bytes of about 1,300.
    let mut writes = vec![set("k3", "v3", SetCondition::Always)];
    writes.extend(vec![set("k1", &"n".repeat(20), SetCondition::IfAbsent); 40]);
    let sparse = encoded(writes);
    let changes = apply(&sparse);
    assert_eq!(held(&changes), vec![b("k3"), b("v3")]);
    let encoding = sparse.encoding().expect("an encoding");
    for bytes in held(&changes) {
        assert!(!encoding.as_ptr_range().contains(&bytes.as_ptr()), "{bytes:?} keeps a sparse encoding");
    }
}
