//! Keyspace-wide behaviour: transactions with WATCH, client sessions, the SCAN guarantee under
//! concurrent change, prefix listing in key order, active expiry with stale heap entries, and
//! that replicas with different hash seeds stay identical.

mod common;

use std::collections::BTreeSet;
use std::num::NonZeroU64;

use bytes::Bytes;
use common::{bulk, Node};
use proptest::prelude::*;
use redraft_core::command::Command;
use redraft_core::entry::{Payload, SessionRef, Watch};
use redraft_core::key_range::KeyRange;
use redraft_core::reply::errors;
use redraft_core::Reply;

fn b(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

fn parse(args: &[&str]) -> Command {
    Command::parse(&args.iter().map(|a| b(a)).collect::<Vec<_>>()).expect("valid command")
}

fn exec(node: &mut Node, watches: Vec<Watch>, commands: &[&[&str]]) -> Reply {
    let commands = commands.iter().map(|c| parse(c)).collect();
    node.append(Payload::Transaction { session: None, watches, commands })
}

fn watch(node: &Node, key: &str) -> Watch {
    Watch { key: b(key), token: node.sm.watch_token(&b(key)) }
}

/// A transaction applies all its commands at once and replies with each one's reply, errors
/// included, as EXEC does.
#[test]
fn transaction_applies_every_command_in_order() {
    let mut n = Node::new();
    let commands: &[&[&str]] =
        &[&["SET", "a", "1"], &["INCR", "a"], &["SET", "s", "x"], &["INCR", "s"], &["GET", "a"]];
    let reply = exec(&mut n, vec![], commands);
    assert_eq!(
        reply,
        Reply::Array(vec![
            Reply::Ok,
            Reply::Integer(2),
            Reply::Ok,
            Reply::Error(errors::NOT_INTEGER.into()),
            bulk("2")
        ])
    );
}

/// EXEC returns nil when a watched key changed, and applies nothing.
#[test]
fn watch_aborts_exec_when_a_watched_key_moved() {
    let mut n = Node::new();
    n.run(&["SET", "a", "1"]);
    let w = watch(&n, "a");
    n.run(&["SET", "a", "1"]);
    assert_eq!(exec(&mut n, vec![w], &[&["SET", "b", "x"]]), Reply::NilArray);
    assert_eq!(n.run(&["EXISTS", "b"]), Reply::Integer(0));

    let w = watch(&n, "a");
    n.run(&["SET", "other", "1"]);
    assert_eq!(exec(&mut n, vec![w], &[&["SET", "b", "x"]]), Reply::Array(vec![Reply::Ok]));
}

/// WATCH on an absent key: creating it aborts, and so does creating and deleting it again.
#[test]
fn watch_on_absent_key_sees_create_and_delete() {
    let mut n = Node::new();
    let w = watch(&n, "ghost");
    n.run(&["SET", "ghost", "1"]);
    assert_eq!(exec(&mut n, vec![w], &[&["GET", "ghost"]]), Reply::NilArray);

    n.run(&["DEL", "ghost"]);
    let w = watch(&n, "ghost");
    n.run(&["SET", "ghost", "1"]);
    n.run(&["DEL", "ghost"]);
    assert_eq!(exec(&mut n, vec![w], &[&["GET", "ghost"]]), Reply::NilArray);

    let w = watch(&n, "ghost");
    assert_eq!(exec(&mut n, vec![w], &[&["GET", "ghost"]]), Reply::Array(vec![Reply::Nil]));
}

/// A watched key that expires before EXEC aborts it.
#[test]
fn watch_sees_expiry() {
    let mut n = Node::new();
    n.run(&["SET", "a", "1", "PX", "100"]);
    let w = watch(&n, "a");
    n.advance_ms(100);
    assert_eq!(exec(&mut n, vec![w], &[&["GET", "a"]]), Reply::NilArray);
}

/// Tokens and the outcome of EXEC are the same on replicas with different hash seeds.
#[test]
fn watch_tokens_agree_across_hash_seeds() {
    let mut one = Node::with_seed(1);
    let mut two = Node::with_seed(2);
    for node in [&mut one, &mut two] {
        for i in 0..100 {
            node.run(&["SET", &format!("k{i}"), "v"]);
        }
        for i in 0..100 {
            node.run(&["DEL", &format!("k{}", i * 7 % 100)]);
            node.run(&["SET", &format!("k{}", i * 3 % 100), "w"]);
        }
    }
    for i in 0..120 {
        let key = format!("k{i}");
        assert_eq!(one.sm.watch_token(&b(&key)), two.sm.watch_token(&b(&key)), "{key}");
    }
}

/// A retried write under the same session is answered from the table and applied once.
#[test]
fn retried_write_applies_once() {
    let mut n = Node::new();
    let incr = |seq| Payload::Command {
        session: Some(SessionRef { client_id: 5, sequence: NonZeroU64::new(seq).unwrap() }),
        command: parse(&["INCR", "n"]),
    };
    assert_eq!(n.append(incr(1)), Reply::Integer(1));
    assert_eq!(n.append(incr(1)), Reply::Integer(1), "the retry gets the first reply");
    assert_eq!(n.run(&["GET", "n"]), bulk("1"));
    assert_eq!(n.append(incr(2)), Reply::Integer(2));
    assert_eq!(n.append(incr(1)), Reply::Error(errors::STALE_SEQUENCE.into()));
    assert_eq!(n.run(&["GET", "n"]), bulk("2"));
    let stranger = Payload::Command {
        session: Some(SessionRef { client_id: 6, sequence: NonZeroU64::new(4).unwrap() }),
        command: parse(&["INCR", "n"]),
    };
    assert_eq!(n.append(stranger), Reply::Error(errors::SESSION_EXPIRED.into()));
    assert_eq!(n.run(&["GET", "n"]), bulk("2"));
}

/// Active expiry skips heap entries made stale by a TTL change or a rewrite, and the batch only
/// deletes keys still expired when it applies.
#[test]
fn active_expiry_ignores_stale_heap_entries() {
    let mut n = Node::new();
    n.run(&["SET", "a", "1", "PX", "100"]);
    n.run(&["PEXPIRE", "a", "10000"]);
    n.run(&["SET", "b", "1", "PX", "100"]);
    n.run(&["SET", "b", "2"]);
    n.run(&["SET", "c", "1", "PX", "100"]);
    n.advance_ms(200);
    assert_eq!(n.sm.collect_expired(n.clock_ms, 10), vec![b("c")]);
    // The key is written again between collection and the batch's apply.
    let keys = n.sm.collect_expired(n.clock_ms, 10);
    n.run(&["SET", "c", "fresh"]);
    assert_eq!(n.append(Payload::ExpireBatch { keys }), Reply::Integer(0));
    assert_eq!(n.run(&["GET", "c"]), bulk("fresh"));
    assert_eq!(n.run(&["DBSIZE"]), Reply::Integer(3));
}

/// A state installed from a snapshot (the bulk load) serves SCAN, active expiry, TTLs, deletes
/// and its key count exactly as the state it was frozen from, with another hash seed.
#[test]
fn an_installed_state_serves_scan_expiry_and_deletes_like_the_original() {
    let mut n = Node::new();
    for i in 0..500u64 {
        n.run(&["SET", &format!("k{i}"), &i.to_string()]);
    }
    for i in 0..50u64 {
        n.run(&["PEXPIRE", &format!("k{i}"), &(100 + i).to_string()]);
    }
    let frozen = n.sm.freeze();
    let mut m = Node::with_seed(7);
    m.clock_ms = n.clock_ms;
    m.log_index = n.log_index;
    m.sm.install(frozen.clone());
    assert_eq!(m.sm.freeze(), frozen);
    assert_eq!(m.run(&["DBSIZE"]), Reply::Integer(500));
    assert_eq!(m.run(&["PTTL", "k10"]), n.run(&["PTTL", "k10"]));
    let mut scanned = BTreeSet::new();
    let mut cursor = "0".to_owned();
    loop {
        let Reply::Array(page) = m.run(&["SCAN", &cursor, "COUNT", "37"]) else {
            panic!("SCAN replies an array")
        };
        let (Reply::Bulk(next), Reply::Array(keys)) = (&page[0], &page[1]) else { panic!("cursor and keys") };
        scanned.extend(keys.iter().map(|k| format!("{k:?}")));
        cursor = String::from_utf8(next.to_vec()).expect("decimal cursor");
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(scanned.len(), 500, "SCAN returns every installed key once");
    m.advance_ms(1_000);
    let mut expired = m.sm.collect_expired(m.clock_ms, 100);
    expired.sort();
    let mut expected: Vec<Bytes> = (0..50).map(|i| b(&format!("k{i}"))).collect();
    expected.sort();
    assert_eq!(expired, expected);
    assert_eq!(m.run(&["DEL", "k499", "k498"]), Reply::Integer(2));
    assert_eq!(m.run(&["DBSIZE"]), Reply::Integer(498));
}

/// The TTL heap stays bounded when one key's TTL is changed over and over.
#[test]
fn ttl_heap_compacts_stale_entries() {
    let mut n = Node::new();
    for i in 0..10_000u64 {
        n.run(&["PSETEX", "hot", &(100_000 + i).to_string(), "v"]);
    }
    n.advance_ms(200_000);
    assert_eq!(n.sm.collect_expired(n.clock_ms, 10), vec![b("hot")]);
}

/// Prefix listing pages in key order across shards, skips expired keys, and resumes after the
/// last key of a page.
#[test]
fn prefix_listing_pages_in_key_order() {
    let mut n = Node::new();
    let mut expected = Vec::new();
    for i in 0..50 {
        let key = format!("p/{i:03}");
        n.run(&["SET", &key, "v"]);
        expected.push(key);
    }
    n.run(&["SET", "p/expired", "v", "PX", "1"]);
    n.run(&["SET", "q/other", "v"]);
    n.run(&["SET", "p", "exact prefix is not below it"]);
    n.advance_ms(1);
    let mut got = Vec::new();
    let mut after: Option<Bytes> = None;
    loop {
        let (page, more, _) = n.sm.list_range(&KeyRange::prefix(b"p/"), after.as_deref(), 7);
        assert!(page.len() <= 7);
        got.extend(page.iter().map(|(k, _)| String::from_utf8(k.to_vec()).expect("utf8")));
        after = page.last().map(|(k, _)| k.clone());
        if !more {
            break;
        }
    }
    assert_eq!(got, expected);
}

#[derive(Clone, Debug)]
enum Change {
    Insert(u16),
    Delete(u16),
}

proptest! {
    /// SCAN's guarantee: a full iteration returns every key present from its start to its end,
    /// whatever keys are inserted and deleted between the calls, and never a key that was never
    /// there.
    #[test]
    fn scan_returns_every_key_present_throughout(
        initial in proptest::collection::btree_set(0u16..400, 0..200),
        changes in proptest::collection::vec(
            prop_oneof![(0u16..400).prop_map(Change::Insert), (0u16..400).prop_map(Change::Delete)],
            0..200,
        ),
        count in 1usize..20,
        seed in any::<u64>(),
    ) {
        let mut n = Node::with_seed(seed);
        for k in &initial {
            n.run(&["SET", &format!("k{k}"), "v"]);
        }
        let mut present: BTreeSet<u16> = initial.clone();
        let mut throughout: BTreeSet<u16> = initial.clone();
        let mut ever: BTreeSet<u16> = initial.clone();
        let mut returned = BTreeSet::new();
        let mut cursor = "0".to_owned();
        let mut changes = changes.into_iter();
        for _ in 0..10_000 {
            let Reply::Array(page) = n.run(&["SCAN", &cursor, "COUNT", &count.to_string()]) else { panic!("array") };
            let (Reply::Bulk(next), Reply::Array(keys)) = (&page[0], &page[1]) else { panic!("cursor, keys") };
            for key in keys {
                let Reply::Bulk(key) = key else { panic!("bulk") };
                returned.insert(std::str::from_utf8(&key[1..]).expect("utf8").parse::<u16>().expect("number"));
            }
            cursor = std::str::from_utf8(next).expect("utf8").to_owned();
            if cursor == "0" {
                break;
            }
            for change in changes.by_ref().take(3) {
                match change {
                    Change::Insert(k) => {
                        n.run(&["SET", &format!("k{k}"), "v"]);
                        present.insert(k);
                        ever.insert(k);
                    }
                    Change::Delete(k) => {
                        n.run(&["DEL", &format!("k{k}")]);
                        present.remove(&k);
                        throughout.remove(&k);
                    }
                }
            }
        }
        prop_assert_eq!(&cursor, "0", "the scan ends");
        let missing: Vec<_> = throughout.difference(&returned).collect();
        prop_assert!(missing.is_empty(), "keys present throughout but not returned: {:?}", missing);
        prop_assert!(returned.is_subset(&ever));
    }

    /// Two replicas with different hash seeds applying the same entries have the same digest.
    #[test]
    fn replicas_with_different_seeds_have_equal_digests(
        keys in proptest::collection::vec((0u16..50, any::<bool>()), 1..100),
        seed_one in any::<u64>(),
        seed_two in any::<u64>(),
    ) {
        let mut one = Node::with_seed(seed_one);
        let mut two = Node::with_seed(seed_two);
        for (k, delete) in keys {
            for node in [&mut one, &mut two] {
                if delete {
                    node.run(&["DEL", &format!("k{k}")]);
                } else {
                    node.run(&["SET", &format!("k{k}"), "v", "PX", "5000"]);
                }
            }
        }
        prop_assert_eq!(one.sm.freeze().digest(), two.sm.freeze().digest());
        prop_assert_eq!(one.run(&["KEYS", "*"]), two.run(&["KEYS", "*"]));
    }
}
