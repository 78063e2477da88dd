//! Hashes, lists, sets and sorted sets as applications meet them: through the `redis` crate and
//! redis-py (RESP2 and RESP3), across a kill -9 and a restart from snapshot and log, and with
//! random pops that every replica of a cluster must agree on.
#![cfg(not(madsim))]
// Real processes on real time: the determinism lint is for code that runs in simulation.
#![allow(clippy::disallowed_methods)]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use common::cluster::Cluster;
use common::{ServerProcess, SyncClient};
use redraft_net::resp::Frame;

/// Every type through the `redis` crate's typed calls.
#[test]
fn the_redis_crate_uses_every_type() {
    use redis::Commands;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(dir.path(), &["--fsync", "no"]);
    let client = redis::Client::open(format!("redis://{}/", server.resp_addr)).expect("url");
    let mut con = client.get_connection().expect("connect");

    let _: () = con.hset_multiple("user:1", &[("name", "ada"), ("visits", "1")]).expect("HSET");
    let visits: i64 = con.hincr("user:1", "visits", 2).expect("HINCRBY");
    assert_eq!(visits, 3);
    let user: HashMap<String, String> = con.hgetall("user:1").expect("HGETALL");
    assert_eq!(user, HashMap::from([("name".into(), "ada".into()), ("visits".into(), "3".into())]));

    let _: () = con.rpush("jobs", &["a", "b", "c"]).expect("RPUSH");
    let first: String = con.lpop("jobs", None).expect("LPOP");
    let rest: Vec<String> = con.lrange("jobs", 0, -1).expect("LRANGE");
    assert_eq!((first.as_str(), rest), ("a", vec!["b".to_owned(), "c".to_owned()]));

    let _: () = con.sadd("tags", &["x", "y", "z"]).expect("SADD");
    let _: () = con.sadd("other", &["y", "w"]).expect("SADD");
    let common: HashSet<String> = con.sinter(&["tags", "other"]).expect("SINTER");
    assert_eq!(common, HashSet::from(["y".to_owned()]));

    let _: () = con.zadd_multiple("board", &[(10.5, "ann"), (3.0, "bob"), (7.0, "cy")]).expect("ZADD");
    let top: Vec<(String, f64)> = con.zrevrange_withscores("board", 0, 1).expect("ZREVRANGE");
    assert_eq!(top, vec![("ann".to_owned(), 10.5), ("cy".to_owned(), 7.0)]);
    let rank: Option<i64> = con.zrank("board", "bob").expect("ZRANK");
    assert_eq!(rank, Some(0));

    let error = con.lpush::<_, _, i64>("user:1", "x").expect_err("a hash is not a list");
    assert!(error.to_string().contains("WRONGTYPE"), "{error}");
}

/// redis-py, in RESP2 and in RESP3 (where HGETALL is a map, SMEMBERS a set, scores doubles).
#[test]
fn redis_py_uses_every_type_in_both_protocols() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(dir.path(), &["--fsync", "no"]);
    let script = r##"
import sys, redis
for protocol in (2, 3):
    r = redis.Redis(host=sys.argv[1], port=int(sys.argv[2]), protocol=protocol, decode_responses=True)
    r.flushall()
    r.hset("h", mapping={"a": "1", "b": "2"})
    assert r.hgetall("h") == {"a": "1", "b": "2"}, r.hgetall("h")
    r.lpush("l", "x", "y")
    assert r.lrange("l", 0, -1) == ["y", "x"]
    assert r.lmove("l", "l2", "RIGHT", "LEFT") == "x"
    r.sadd("s", "p", "q")
    assert r.smembers("s") == {"p", "q"}, r.smembers("s")
    r.zadd("z", {"m": 1.5, "n": 0.25})
    # redis-py gives pairs as tuples in RESP2 and lists in RESP3, against Redis as here.
    assert [tuple(p) for p in r.zrange("z", 0, -1, withscores=True)] == [("n", 0.25), ("m", 1.5)]
    assert r.zscore("z", "m") == 1.5
    popped = r.zpopmin("z")
    assert popped == ([("n", 0.25)] if protocol == 2 else ["n", 0.25]), popped
    assert r.type("h") == "hash" and r.type("z") == "zset"
    assert r.spop("s", 5) is not None and not r.exists("s")
    r.setbit("b", 7, 1)
    assert r.bitcount("b") == 1 and r.getbit("b", 7) == 1
    counters = r.bitfield("counters").incrby("u8", "#0", 250).overflow("SAT").incrby("u8", "#0", 10)
    assert counters.get("i4", 0).execute() == [250, 255, -1], "BITFIELD"
    assert r.bitfield_ro("counters", "u8", 0) == [255]
print("ok")
"##;
    common::run_redis_py(script, &server.resp_addr);
}

/// What each key holds, read back with the commands of its type.
fn contents(client: &mut SyncClient, keys: &[&str]) -> BTreeMap<String, Frame> {
    let read = |client: &mut SyncClient, key: &str| {
        let command: &[&str] = match client.call(&["TYPE", key]).expect("TYPE") {
            Frame::Simple(kind) if kind == "hash" => &["HGETALL", key],
            Frame::Simple(kind) if kind == "list" => &["LRANGE", key, "0", "-1"],
            Frame::Simple(kind) if kind == "set" => &["SMEMBERS", key],
            Frame::Simple(kind) if kind == "zset" => &["ZRANGE", key, "0", "-1", "WITHSCORES"],
            other => return other,
        };
        client.call(command).expect("read")
    };
    keys.iter().map(|key| ((*key).to_owned(), read(client, key))).collect()
}

/// Aggregates written before a snapshot and after it (in the log alone) come back whole after
/// kill -9, with their TTLs.
#[test]
fn aggregates_survive_kill_9_and_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = ["h", "l", "s", "z", "late-h", "late-z"];
    let before = {
        let server = ServerProcess::start(dir.path(), &["--fsync", "always"]);
        let mut client = server.client();
        for command in [
            &["HSET", "h", "f", "v", "g", "w"][..],
            &["RPUSH", "l", "1", "2", "3"],
            &["SADD", "s", "a", "b"],
            &["ZADD", "z", "1", "one", "2", "two"],
            &["EXPIRE", "h", "1000"],
            &["SAVE"],
            &["HDEL", "h", "g"],
            &["LPOP", "l"],
            &["SREM", "s", "a"],
            &["ZINCRBY", "z", "5", "one"],
            &["HSET", "late-h", "x", "y"],
            &["ZADD", "late-z", "0.1", "m"],
        ] {
            assert!(!matches!(client.call(command).expect("write"), Frame::Error(_)), "{command:?}");
        }
        let before = contents(&mut client, &keys);
        server.kill();
        before
    };
    let server = ServerProcess::start(dir.path(), &["--fsync", "always"]);
    let mut client = server.client();
    assert_eq!(contents(&mut client, &keys), before);
    let ttl = client.call(&["TTL", "h"]).expect("TTL");
    assert!(matches!(ttl, Frame::Integer(left) if left > 900), "{ttl:?}");
}

/// SPOP picks at random, through the log: every replica removes the same members, and the pops
/// answered are disjoint and exactly what went.
#[test]
fn random_pops_agree_on_every_replica() {
    let cluster = Cluster::start(3);
    let leader = cluster.leader();
    let mut client = cluster.client(leader);
    let members: Vec<String> = (0..60).map(|i| format!("m{i}")).collect();
    let mut sadd = vec!["SADD", "s"];
    sadd.extend(members.iter().map(String::as_str));
    client.call(&sadd).expect("SADD");
    let mut popped = BTreeSet::new();
    for _ in 0..5 {
        let Frame::Array(items) = client.call(&["SPOP", "s", "4"]).expect("SPOP") else { panic!("an array") };
        for item in items {
            assert!(popped.insert(format!("{item:?}")), "popped twice: {item:?}");
        }
    }
    assert_eq!(popped.len(), 20);
    let mut views = Vec::new();
    for id in 1..=3 {
        let mut client = cluster.client(id);
        let Frame::Array(mut left) = client.call(&["SMEMBERS", "s"]).expect("SMEMBERS") else {
            panic!("an array")
        };
        left.sort_by_key(|item| format!("{item:?}"));
        assert_eq!(left.len(), 40, "node {id}");
        assert!(
            left.iter().all(|item| !popped.contains(&format!("{item:?}"))),
            "node {id} kept a popped member"
        );
        views.push(left);
    }
    assert!(views.windows(2).all(|pair| pair[0] == pair[1]), "the replicas disagree");
    // The draws differ from one pop to the next: two SRANDMEMBERs of 10 out of 40 agreeing
    // entirely would be a fixed seed.
    let draws: BTreeSet<String> = (0..4)
        .map(|_| format!("{:?}", client.call(&["SRANDMEMBER", "s", "10"]).expect("SRANDMEMBER")))
        .collect();
    assert!(draws.len() > 1, "every draw was the same: {draws:?}");
}
