//! Edge cases of every command, checked against the replies Redis 7 gives (and Valkey 8.1 for
//! `SET ... IFEQ`). Each test drives a state machine the way a node does: parse, then apply
//! writes as log entries stamped with a clock, or read.

mod common;

use common::{array, bulk, err, Node};
use redraft_core::Reply::{self, Integer, Nil, Ok as OK};

fn s(text: &str) -> Reply {
    Reply::Status(text.to_owned())
}

const NOT_INT: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";

#[test]
fn get_and_set_basics() {
    let mut n = Node::new();
    assert_eq!(n.run(&["GET", "k"]), Nil);
    assert_eq!(n.run(&["SET", "k", "v"]), OK);
    assert_eq!(n.run(&["get", "k"]), bulk("v"));
    assert_eq!(n.run(&["GET"]), err("ERR wrong number of arguments for 'get' command"));
    assert_eq!(n.run(&["GET", "a", "b"]), err("ERR wrong number of arguments for 'get' command"));
    assert_eq!(n.run(&["SET", "k"]), err("ERR wrong number of arguments for 'set' command"));
}

#[test]
fn set_binary_safe_values_round_trip() {
    let mut n = Node::new();
    assert_eq!(n.run(&["SET", "k\0\u{1}", "a\r\nb\0"]), OK);
    assert_eq!(n.run(&["GET", "k\0\u{1}"]), bulk("a\r\nb\0"));
}

#[test]
fn set_options_follow_redis_rules() {
    let mut n = Node::new();
    assert_eq!(n.run(&["SET", "k", "v", "NX", "XX"]), err(SYNTAX));
    assert_eq!(n.run(&["SET", "k", "v", "XX", "NX"]), err(SYNTAX));
    assert_eq!(n.run(&["SET", "k", "v", "NX", "NX"]), OK);
    assert_eq!(n.run(&["SET", "k", "v", "EX", "10", "PX", "10"]), err(SYNTAX));
    assert_eq!(n.run(&["SET", "k", "v", "KEEPTTL", "EX", "10"]), err(SYNTAX));
    assert_eq!(n.run(&["SET", "k", "v", "EX"]), err(SYNTAX));
    assert_eq!(n.run(&["SET", "k", "v", "BOGUS"]), err(SYNTAX));
    assert_eq!(n.run(&["SET", "k", "v", "EX", "abc"]), err(NOT_INT));
    assert_eq!(n.run(&["SET", "k", "v", "EX", "0"]), err("ERR invalid expire time in 'set' command"));
    assert_eq!(n.run(&["SET", "k", "v", "PX", "-5"]), err("ERR invalid expire time in 'set' command"));
    assert_eq!(
        n.run(&["SET", "k", "v", "EX", "9223372036854775807"]),
        err("ERR invalid expire time in 'set' command")
    );
    // PX near i64::MAX overflows only once the state-machine time is added.
    assert_eq!(
        n.run(&["SET", "k", "v", "PX", "9223372036854775000"]),
        err("ERR invalid expire time in 'set' command")
    );
    assert_eq!(n.run(&["GET", "k"]), bulk("v"), "a refused SET changes nothing");
}

#[test]
fn set_nx_xx_and_get() {
    let mut n = Node::new();
    assert_eq!(n.run(&["SET", "k", "v1", "XX"]), Nil);
    assert_eq!(n.run(&["GET", "k"]), Nil);
    assert_eq!(n.run(&["SET", "k", "v1", "NX", "GET"]), Nil);
    assert_eq!(n.run(&["GET", "k"]), bulk("v1"));
    assert_eq!(n.run(&["SET", "k", "v2", "NX", "GET"]), bulk("v1"));
    assert_eq!(n.run(&["GET", "k"]), bulk("v1"));
    assert_eq!(n.run(&["SET", "k", "v3", "XX", "GET"]), bulk("v1"));
    assert_eq!(n.run(&["GET", "k"]), bulk("v3"));
    assert_eq!(n.run(&["SET", "k", "v4", "GET"]), bulk("v3"));
}

#[test]
fn set_ifeq_compares_and_sets() {
    let mut n = Node::new();
    assert_eq!(n.run(&["SET", "k", "new", "IFEQ", "old"]), Nil, "IFEQ never creates a key");
    assert_eq!(n.run(&["EXISTS", "k"]), Integer(0));
    n.run(&["SET", "k", "old"]);
    assert_eq!(n.run(&["SET", "k", "new", "IFEQ", "other"]), Nil);
    assert_eq!(n.run(&["SET", "k", "new", "IFEQ", "old"]), OK);
    assert_eq!(n.run(&["GET", "k"]), bulk("new"));
    assert_eq!(n.run(&["SET", "k", "newer", "IFEQ", "new", "GET"]), bulk("new"));
    assert_eq!(n.run(&["SET", "k", "x", "IFEQ", "nope", "GET"]), bulk("newer"));
    assert_eq!(n.run(&["SET", "k", "v", "NX", "IFEQ", "a"]), err(SYNTAX));
    assert_eq!(n.run(&["SET", "k", "v", "IFEQ", "a", "XX"]), err(SYNTAX));
    assert_eq!(n.run(&["SET", "k", "v", "IFEQ"]), err(SYNTAX));
}

#[test]
fn set_ttl_options() {
    let mut n = Node::new();
    n.run(&["SET", "k", "v", "EX", "10"]);
    assert_eq!(n.run(&["TTL", "k"]), Integer(10));
    n.run(&["SET", "k", "v2", "KEEPTTL"]);
    assert_eq!(n.run(&["PTTL", "k"]), Integer(10_000));
    n.run(&["SET", "k", "v3"]);
    assert_eq!(n.run(&["TTL", "k"]), Integer(-1), "a plain SET discards the TTL");
    let at = (n.clock_ms + 5_000).to_string();
    n.run(&["SET", "k", "v", "PXAT", &at]);
    assert_eq!(n.run(&["PTTL", "k"]), Integer(5_000));
    assert_eq!(n.run(&["PEXPIRETIME", "k"]), Integer((n.clock_ms + 5_000) as i64));
    n.advance_ms(5_000);
    assert_eq!(n.run(&["GET", "k"]), Nil, "expired exactly at expire_at");
}

#[test]
fn setnx_setex_psetex_getset() {
    let mut n = Node::new();
    assert_eq!(n.run(&["SETNX", "k", "a"]), Integer(1));
    assert_eq!(n.run(&["SETNX", "k", "b"]), Integer(0));
    assert_eq!(n.run(&["SETEX", "k", "0", "v"]), err("ERR invalid expire time in 'setex' command"));
    assert_eq!(n.run(&["PSETEX", "k", "-1", "v"]), err("ERR invalid expire time in 'psetex' command"));
    assert_eq!(n.run(&["SETEX", "k", "x", "v"]), err(NOT_INT));
    assert_eq!(n.run(&["SETEX", "k", "100", "v"]), OK);
    assert_eq!(n.run(&["TTL", "k"]), Integer(100));
    assert_eq!(n.run(&["PSETEX", "k", "1500", "v"]), OK);
    assert_eq!(n.run(&["TTL", "k"]), Integer(2), "TTL rounds 1.5 s to the nearest second");
    assert_eq!(n.run(&["GETSET", "k", "w"]), bulk("v"));
    assert_eq!(n.run(&["TTL", "k"]), Integer(-1), "GETSET discards the TTL");
    assert_eq!(n.run(&["GETSET", "missing", "w"]), Nil);
}

#[test]
fn getdel_and_getex() {
    let mut n = Node::new();
    assert_eq!(n.run(&["GETDEL", "k"]), Nil);
    n.run(&["SET", "k", "v"]);
    assert_eq!(n.run(&["GETDEL", "k"]), bulk("v"));
    assert_eq!(n.run(&["EXISTS", "k"]), Integer(0));

    n.run(&["SET", "k", "v"]);
    assert_eq!(n.run(&["GETEX", "k"]), bulk("v"));
    assert_eq!(n.run(&["GETEX", "k", "EX", "10"]), bulk("v"));
    assert_eq!(n.run(&["TTL", "k"]), Integer(10));
    assert_eq!(n.run(&["GETEX", "k", "PERSIST"]), bulk("v"));
    assert_eq!(n.run(&["TTL", "k"]), Integer(-1));
    assert_eq!(n.run(&["GETEX", "k", "EX", "10", "PX", "10"]), err(SYNTAX));
    assert_eq!(n.run(&["GETEX", "k", "EX", "0"]), err("ERR invalid expire time in 'getex' command"));
    assert_eq!(n.run(&["GETEX", "k", "PXAT", "1"]), bulk("v"), "a time in the past returns the value");
    assert_eq!(n.run(&["EXISTS", "k"]), Integer(0), "and deletes the key");
    assert_eq!(n.run(&["GETEX", "missing", "EX", "10"]), Nil);
}

#[test]
fn mget_mset_msetnx() {
    let mut n = Node::new();
    assert_eq!(n.run(&["MSET", "a", "1", "b"]), err("ERR wrong number of arguments for 'mset' command"));
    assert_eq!(n.run(&["MSET"]), err("ERR wrong number of arguments for 'mset' command"));
    assert_eq!(n.run(&["MSET", "a", "1", "b", "2", "a", "3"]), OK);
    assert_eq!(n.run(&["MGET", "a", "b", "c"]), Reply::Array(vec![bulk("3"), bulk("2"), Nil]));
    assert_eq!(n.run(&["MSETNX", "c", "1", "a", "9"]), Integer(0));
    assert_eq!(n.run(&["EXISTS", "c"]), Integer(0), "MSETNX sets all or nothing");
    assert_eq!(n.run(&["MSETNX", "c", "1", "d", "2"]), Integer(1));
    assert_eq!(n.run(&["MGET", "c", "d"]), array(&["1", "2"]));
}

#[test]
fn del_unlink_exists() {
    let mut n = Node::new();
    n.run(&["MSET", "a", "1", "b", "2"]);
    assert_eq!(n.run(&["EXISTS", "a", "a", "b", "zz"]), Integer(3), "duplicates count twice");
    assert_eq!(n.run(&["DEL", "a", "a", "zz"]), Integer(1));
    assert_eq!(n.run(&["UNLINK", "b"]), Integer(1));
    assert_eq!(n.run(&["DEL"]), err("ERR wrong number of arguments for 'del' command"));
    assert_eq!(n.run(&["DBSIZE"]), Integer(0));
}

#[test]
fn incr_family_integer_rules() {
    let mut n = Node::new();
    assert_eq!(n.run(&["INCR", "n"]), Integer(1));
    assert_eq!(n.run(&["INCRBY", "n", "41"]), Integer(42));
    assert_eq!(n.run(&["DECR", "n"]), Integer(41));
    assert_eq!(n.run(&["DECRBY", "n", "-9"]), Integer(50));
    assert_eq!(n.run(&["GET", "n"]), bulk("50"));
    assert_eq!(n.run(&["INCRBY", "n", "1.5"]), err(NOT_INT));
    assert_eq!(n.run(&["INCRBY", "n", "+1"]), err(NOT_INT));
    assert_eq!(n.run(&["DECRBY", "n", "-9223372036854775808"]), err("ERR decrement would overflow"));
    n.run(&["SET", "n", "9223372036854775807"]);
    assert_eq!(n.run(&["INCR", "n"]), err("ERR increment or decrement would overflow"));
    n.run(&["SET", "n", "-9223372036854775808"]);
    assert_eq!(n.run(&["DECR", "n"]), err("ERR increment or decrement would overflow"));
    for bad in ["abc", " 1", "1 ", "01", "", "1.0", "99999999999999999999"] {
        n.run(&["SET", "n", bad]);
        assert_eq!(n.run(&["INCR", "n"]), err(NOT_INT), "INCR of {bad:?}");
        assert_eq!(n.run(&["GET", "n"]), bulk(bad), "a refused INCR leaves {bad:?} alone");
    }
    n.run(&["SET", "t", "5", "EX", "100"]);
    n.run(&["INCR", "t"]);
    assert_eq!(n.run(&["TTL", "t"]), Integer(100), "INCR keeps the TTL");
}

#[test]
fn incrbyfloat_rules() {
    let mut n = Node::new();
    n.run(&["SET", "f", "10.50"]);
    assert_eq!(n.run(&["INCRBYFLOAT", "f", "0.1"]), bulk("10.6"));
    assert_eq!(n.run(&["INCRBYFLOAT", "f", "-5"]), bulk("5.6"));
    n.run(&["SET", "f", "5.0e3"]);
    assert_eq!(n.run(&["INCRBYFLOAT", "f", "2.0e2"]), bulk("5200"));
    assert_eq!(n.run(&["INCRBYFLOAT", "g", "3"]), bulk("3"));
    assert_eq!(n.run(&["INCRBYFLOAT", "f", "abc"]), err("ERR value is not a valid float"));
    assert_eq!(n.run(&["INCRBYFLOAT", "f", "inf"]), err("ERR increment would produce NaN or Infinity"));
    assert_eq!(n.run(&["INCRBYFLOAT", "f", "nan"]), err("ERR value is not a valid float"));
    n.run(&["SET", "s", "hello"]);
    assert_eq!(n.run(&["INCRBYFLOAT", "s", "1"]), err("ERR value is not a valid float"));
    n.run(&["SET", "big", "1.7e308"]);
    assert_eq!(n.run(&["INCRBYFLOAT", "big", "1.7e308"]), err("ERR increment would produce NaN or Infinity"));
}

#[test]
fn append_strlen_getrange_setrange() {
    let mut n = Node::new();
    assert_eq!(n.run(&["APPEND", "k", "Hello"]), Integer(5));
    assert_eq!(n.run(&["APPEND", "k", " World"]), Integer(11));
    assert_eq!(n.run(&["STRLEN", "k"]), Integer(11));
    assert_eq!(n.run(&["STRLEN", "missing"]), Integer(0));
    assert_eq!(n.run(&["GETRANGE", "k", "0", "4"]), bulk("Hello"));
    assert_eq!(n.run(&["GETRANGE", "k", "-5", "-1"]), bulk("World"));
    assert_eq!(n.run(&["GETRANGE", "k", "a", "1"]), err(NOT_INT));
    assert_eq!(n.run(&["GETRANGE", "missing", "0", "-1"]), bulk(""));
    assert_eq!(n.run(&["SETRANGE", "k", "6", "Redis"]), Integer(11));
    assert_eq!(n.run(&["GET", "k"]), bulk("Hello Redis"));
    assert_eq!(n.run(&["SETRANGE", "pad", "3", "x"]), Integer(4));
    assert_eq!(n.run(&["GET", "pad"]), bulk("\0\0\0x"));
    assert_eq!(n.run(&["SETRANGE", "empty", "5", ""]), Integer(0));
    assert_eq!(n.run(&["EXISTS", "empty"]), Integer(0), "SETRANGE with nothing creates nothing");
    assert_eq!(n.run(&["SETRANGE", "k", "-1", "x"]), err("ERR offset is out of range"));
    assert_eq!(
        n.run(&["SETRANGE", "k", "536870912", "x"]),
        err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    );
}

#[test]
fn expire_conditions_and_errors() {
    let mut n = Node::new();
    assert_eq!(n.run(&["EXPIRE", "k", "10"]), Integer(0), "missing key");
    n.run(&["SET", "k", "v"]);
    assert_eq!(
        n.run(&["EXPIRE", "k", "10", "NX", "XX"]),
        err("ERR NX and XX, GT or LT options at the same time are not compatible")
    );
    assert_eq!(
        n.run(&["EXPIRE", "k", "10", "GT", "LT"]),
        err("ERR GT and LT options at the same time are not compatible")
    );
    assert_eq!(n.run(&["EXPIRE", "k", "10", "FOO"]), err("ERR Unsupported option FOO"));
    assert_eq!(n.run(&["EXPIRE", "k", "ten"]), err(NOT_INT));
    assert_eq!(
        n.run(&["EXPIRE", "k", "9223372036854775807"]),
        err("ERR invalid expire time in 'expire' command")
    );
    assert_eq!(n.run(&["EXPIRE", "k", "10", "XX"]), Integer(0), "XX needs a TTL");
    assert_eq!(n.run(&["EXPIRE", "k", "10", "GT"]), Integer(0), "no TTL is infinitely late");
    assert_eq!(n.run(&["EXPIRE", "k", "100", "LT"]), Integer(1), "LT sets a TTL where none is");
    assert_eq!(n.run(&["EXPIRE", "k", "50", "NX"]), Integer(0));
    assert_eq!(n.run(&["EXPIRE", "k", "200", "LT"]), Integer(0));
    assert_eq!(n.run(&["EXPIRE", "k", "200", "GT"]), Integer(1));
    assert_eq!(n.run(&["EXPIRE", "k", "100", "XX", "LT"]), Integer(1));
    assert_eq!(n.run(&["TTL", "k"]), Integer(100));
    assert_eq!(n.run(&["PEXPIRE", "k", "1500"]), Integer(1));
    assert_eq!(n.run(&["PTTL", "k"]), Integer(1500));
    let at = (n.clock_ms / 1000 + 30).to_string();
    assert_eq!(n.run(&["EXPIREAT", "k", &at]), Integer(1));
    assert_eq!(n.run(&["EXPIRETIME", "k"]), Integer((n.clock_ms / 1000 + 30) as i64));
    assert_eq!(n.run(&["EXPIRE", "k", "-1"]), Integer(1), "a negative TTL deletes");
    assert_eq!(n.run(&["EXISTS", "k"]), Integer(0));
    n.run(&["SET", "k", "v"]);
    assert_eq!(n.run(&["PEXPIREAT", "k", "0"]), Integer(1));
    assert_eq!(n.run(&["GET", "k"]), Nil);
}

#[test]
fn ttl_expiretime_persist_type() {
    let mut n = Node::new();
    assert_eq!(n.run(&["TTL", "k"]), Integer(-2));
    assert_eq!(n.run(&["PTTL", "k"]), Integer(-2));
    assert_eq!(n.run(&["EXPIRETIME", "k"]), Integer(-2));
    assert_eq!(n.run(&["TYPE", "k"]), s("none"));
    n.run(&["SET", "k", "v"]);
    assert_eq!(n.run(&["TTL", "k"]), Integer(-1));
    assert_eq!(n.run(&["PEXPIRETIME", "k"]), Integer(-1));
    assert_eq!(n.run(&["TYPE", "k"]), s("string"));
    assert_eq!(n.run(&["PERSIST", "k"]), Integer(0));
    n.run(&["EXPIRE", "k", "10"]);
    assert_eq!(n.run(&["PERSIST", "k"]), Integer(1));
    assert_eq!(n.run(&["TTL", "k"]), Integer(-1));
    assert_eq!(n.run(&["PERSIST", "missing"]), Integer(0));
}

#[test]
fn rename_renamenx_copy() {
    let mut n = Node::new();
    assert_eq!(n.run(&["RENAME", "a", "b"]), err("ERR no such key"));
    assert_eq!(n.run(&["RENAMENX", "a", "b"]), err("ERR no such key"));
    assert_eq!(n.run(&["RENAME", "a", "a"]), err("ERR no such key"));
    n.run(&["SET", "a", "1", "EX", "100"]);
    assert_eq!(n.run(&["RENAME", "a", "a"]), OK);
    assert_eq!(n.run(&["RENAMENX", "a", "a"]), Integer(0));
    assert_eq!(n.run(&["RENAME", "a", "b"]), OK);
    assert_eq!(n.run(&["TTL", "b"]), Integer(100), "RENAME carries the TTL");
    assert_eq!(n.run(&["EXISTS", "a"]), Integer(0));
    n.run(&["SET", "c", "3"]);
    assert_eq!(n.run(&["RENAMENX", "b", "c"]), Integer(0));
    assert_eq!(n.run(&["RENAME", "b", "c"]), OK);
    assert_eq!(n.run(&["GET", "c"]), bulk("1"));
    assert_eq!(n.run(&["TTL", "c"]), Integer(100), "the destination takes the source's TTL");

    assert_eq!(n.run(&["COPY", "c", "c"]), err("ERR source and destination objects are the same"));
    assert_eq!(n.run(&["COPY", "nope", "d"]), Integer(0));
    assert_eq!(n.run(&["COPY", "c", "d"]), Integer(1));
    assert_eq!(n.run(&["TTL", "d"]), Integer(100));
    n.run(&["SET", "c", "new"]);
    assert_eq!(n.run(&["COPY", "c", "d"]), Integer(0));
    assert_eq!(n.run(&["COPY", "c", "d", "REPLACE"]), Integer(1));
    assert_eq!(n.run(&["GET", "d"]), bulk("new"));
    assert_eq!(n.run(&["COPY", "c", "d", "DB", "1"]), err("ERR DB index is out of range"));
    assert_eq!(n.run(&["COPY", "c", "d", "DB", "x"]), err(NOT_INT));
    assert_eq!(n.run(&["COPY", "c", "d", "DB", "0", "REPLACE"]), Integer(1));
    assert_eq!(n.run(&["COPY", "c", "d", "BOGUS"]), err(SYNTAX));
}

#[test]
fn keys_scan_dbsize_flush() {
    let mut n = Node::new();
    for key in ["user:1", "user:2", "user:10", "order:1", "x"] {
        n.run(&["SET", key, "v"]);
    }
    n.run(&["SET", "gone", "v", "PX", "10"]);
    n.advance_ms(10);
    assert_eq!(n.run(&["KEYS", "user:*"]), array(&["user:1", "user:10", "user:2"]));
    assert_eq!(n.run(&["KEYS", "user:?"]), array(&["user:1", "user:2"]));
    assert_eq!(n.run(&["KEYS", "*"]), array(&["order:1", "user:1", "user:10", "user:2", "x"]));
    assert_eq!(n.run(&["DBSIZE"]), Integer(6), "DBSIZE counts expired keys not yet removed, like Redis");

    assert_eq!(n.run(&["SCAN", "abc"]), err("ERR invalid cursor"));
    assert_eq!(n.run(&["SCAN", "-1"]), err("ERR invalid cursor"));
    assert_eq!(n.run(&["SCAN", "0", "COUNT", "0"]), err(SYNTAX));
    assert_eq!(n.run(&["SCAN", "0", "COUNT"]), err(SYNTAX));
    assert_eq!(n.run(&["SCAN", "0", "TYPE", "foo"]), err("ERR unknown type name 'foo'"));
    let mut cursor = "0".to_owned();
    let mut seen = Vec::new();
    loop {
        let Reply::Array(page) = n.run(&["SCAN", &cursor, "MATCH", "user:*", "COUNT", "1"]) else {
            panic!("SCAN replies with an array")
        };
        let (Reply::Bulk(next), Reply::Array(keys)) = (&page[0], &page[1]) else { panic!("cursor and keys") };
        seen.extend(keys.iter().cloned());
        cursor = String::from_utf8(next.to_vec()).expect("cursor is decimal");
        if cursor == "0" {
            break;
        }
    }
    seen.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(Reply::Array(seen), array(&["user:1", "user:10", "user:2"]));
    let Reply::Array(page) = n.run(&["SCAN", "0", "TYPE", "list", "COUNT", "1000"]) else { panic!() };
    assert_eq!(page[1], Reply::Array(vec![]), "only strings exist");

    assert_eq!(n.run(&["FLUSHALL", "FOO"]), err(SYNTAX));
    assert_eq!(n.run(&["FLUSHDB", "ASYNC"]), OK);
    assert_eq!(n.run(&["DBSIZE"]), Integer(0));
    assert_eq!(n.run(&["DBSIZE", "x"]), err("ERR wrong number of arguments for 'dbsize' command"));
}

#[test]
fn unknown_commands_are_reported_as_redis_does() {
    let mut n = Node::new();
    assert_eq!(
        n.run(&["FOO", "a", "b"]),
        err("ERR unknown command 'FOO', with args beginning with: 'a' 'b' ")
    );
}

#[test]
fn oversized_keys_are_refused_with_the_limit() {
    let mut n = Node::new();
    let key = "k".repeat(redraft_core::limits::KEY_BYTES_MAX + 1);
    assert_eq!(n.run(&["SET", &key, "v"]), err("ERR key is 65537 bytes, the limit is 65536"));
    assert_eq!(n.run(&["DBSIZE"]), Integer(0));
}

/// Every command runs on the path its spec's `write` flag sends it down: a read-only command is
/// served by `StateMachine::read`, which panics on a command that `exec::read` does not handle,
/// and a write goes through the log. Each is sent with the fewest arguments its arity allows, all
/// "1", which every command accepts.
#[test]
fn every_command_runs_on_the_path_its_spec_names() {
    for &name in redraft_core::CommandName::ALL {
        let arg_count = usize::try_from(name.spec().arity.unsigned_abs()).expect("arities are small");
        let mut args = vec![name.as_str()];
        args.resize(arg_count, "1");
        let reply = Node::new().run(&args);
        assert!(
            !matches!(&reply, Reply::Error(text) if text.contains("wrong number")),
            "{args:?}: {reply:?}"
        );
    }
}
