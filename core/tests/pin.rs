//! Pinned snapshots (`pin.rs`): written while the keyspace changes under them, they hold exactly
//! the state at the pin, byte for byte what a copy frozen at that moment writes, and the live
//! state goes on as if nothing were pinned.

mod common;

use bytes::Bytes;
use common::Node;
use redraft_core::pin::{pin, PinBroken};
use redraft_core::snapshot::write_snapshot;

/// Keys of every shape a record takes: short values (written in place when the length stays),
/// long shared ones, with and without TTLs, and hashes, lists and sets; and keys that share
/// their first 16 bytes.
fn populated() -> Node {
    let mut n = Node::new();
    for i in 0..20 {
        n.run(&["HSET", &format!("h{i}"), "f", "v", "g", &format!("{i}")]);
        n.run(&["RPUSH", &format!("l{i}"), "a", "b", "c"]);
        n.run(&["SADD", &format!("s{i}"), "x", "y", &format!("{i}")]);
        n.run(&["ZADD", &format!("z{i}"), "1", "a", "2.5", "b", &format!("{i}"), "c"]);
    }
    for i in 0..400 {
        let value = match i % 4 {
            0 => format!("v{i:04}"),
            1 => "x".repeat(300 + i),
            2 => format!("ttl{i:04}"),
            _ => String::new(),
        };
        let key = format!("k{i:04}");
        if i % 4 == 2 {
            n.run(&["SET", &key, &value, "PX", "100000"]);
        } else {
            n.run(&["SET", &key, &value]);
        }
    }
    // Keys alike in their first 16 bytes, which the snapshot's sort tells apart by the rest,
    // written out of order; one of them with a zero byte the others lack at the end.
    for i in (0..40).rev() {
        n.run(&["SET", &format!("a-long-key-prefix:{i:02}"), "v"]);
    }
    n.run(&["SET", "a-long-key-prefix:07\0", "v"]);
    n
}

/// Every kind of write a pinned record meets: overwritten in place and reallocated, TTL set and
/// cleared, deleted (DEL, GETDEL, RENAME, expiry), created and deleted again, an aggregate
/// changed in place, emptied, renamed, given a TTL and stored over, and the whole map flushed and
/// refilled.
fn churn(n: &mut Node) {
    n.run(&["HSET", "h0", "f", "changed"]);
    n.run(&["HDEL", "h1", "f", "g"]);
    n.run(&["HINCRBY", "h2", "g", "5"]);
    n.run(&["LPUSH", "l0", "z"]);
    n.run(&["LPOP", "l1", "3"]);
    n.run(&["LMOVE", "l2", "l3", "LEFT", "RIGHT"]);
    n.run(&["LMOVE", "l4", "l4", "LEFT", "RIGHT"]);
    n.run(&["SADD", "s0", "new"]);
    n.run(&["SREM", "s1", "x", "y", "1"]);
    n.run(&["SMOVE", "s2", "s3", "x"]);
    n.run(&["SINTERSTORE", "s4", "s5", "s6"]);
    n.run(&["RENAME", "h5", "h-renamed"]);
    n.run(&["RENAME", "l5", "l6"]);
    n.run(&["EXPIRE", "s7", "5"]);
    n.run(&["COPY", "h8", "h9", "REPLACE"]);
    n.run(&["ZADD", "z0", "9", "a"]);
    n.run(&["ZPOPMIN", "z1", "3"]);
    n.run(&["ZINCRBY", "z2", "1", "b"]);
    n.run(&["ZUNIONSTORE", "z3", "2", "z4", "s4"]);
    n.run(&["ZREMRANGEBYSCORE", "z5", "-inf", "2"]);
    for i in (0..400).step_by(3) {
        let key = format!("k{i:04}");
        n.run(&["SET", &key, &format!("w{i:04}")]);
        n.run(&["APPEND", &key, "more"]);
    }
    n.run(&["EXPIRE", "k0001", "5"]);
    n.run(&["PERSIST", "k0002"]);
    n.run(&["DEL", "k0004", "k0005"]);
    n.run(&["GETDEL", "k0008"]);
    n.run(&["RENAME", "k0010", "k9999"]);
    n.run(&["SET", "new", "one"]);
    n.run(&["DEL", "new"]);
    n.advance_ms(200_000);
    n.run(&["SET", "k0012", "again"]);
    n.run(&["FLUSHALL"]);
    n.run(&["SET", "k0000", "after the flush"]);
}

#[test]
fn a_pinned_snapshot_holds_the_state_at_the_pin_while_every_kind_of_write_goes_on() {
    let mut n = populated();
    let mut twin = populated();
    let expected = write_snapshot(Vec::new(), &n.sm.freeze(), None, Bytes::from_static(b"m")).unwrap();

    let pinned = pin(&n.sm).expect("no pin is held");
    assert!(pin(&n.sm).is_none(), "one pin at a time");
    churn(&mut n);
    churn(&mut twin);
    let written = pinned.write(Vec::new(), None, Bytes::from_static(b"m")).expect("written");
    assert!(written == expected, "the pinned snapshot differs from the state frozen at the pin");

    assert_eq!(n.sm.freeze(), twin.sm.freeze(), "the live state is as if nothing were pinned");
    let again = pin(&n.sm).expect("the pin ended with the write");
    let now = write_snapshot(Vec::new(), &n.sm.freeze(), None, Bytes::new()).unwrap();
    assert!(again.write(Vec::new(), None, Bytes::new()).unwrap() == now, "a pin of the new state");
}

#[test]
fn a_pin_dropped_unwritten_ends_and_frees_what_it_kept() {
    let mut n = populated();
    let before = n.sm.map().allocated_bytes();
    let pinned = pin(&n.sm).expect("no pin is held");
    churn(&mut n);
    assert!(n.sm.map().allocated_bytes() > before / 2, "the flushed records are kept while pinned");
    drop(pinned);
    assert!(n.sm.map().allocated_bytes() < before / 4, "and freed when the pin ends");
    assert!(pin(&n.sm).is_some(), "the pin ended");
}

#[test]
fn a_snapshot_installed_while_pinned_breaks_the_pin_instead_of_mixing_two_states() {
    let mut n = populated();
    let other = Node::new().sm.freeze();
    let pinned = pin(&n.sm).expect("no pin is held");
    n.sm.install(other);
    let error = pinned.write(Vec::new(), None, Bytes::new()).expect_err("the pin is broken");
    assert!(error.get_ref().is_some_and(|e| e.is::<PinBroken>()), "{error}");
    n.run(&["SET", "k", "v"]);
    assert!(pin(&n.sm).is_some(), "the pin ended");
}
