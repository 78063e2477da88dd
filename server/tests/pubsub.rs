//! Pub/sub against real processes: the same frames as a real `redis-server` for the same
//! session, messages published on any node of a cluster reaching the subscribers of every node
//! once each and in one order, keyspace notifications the same on every node, and redis-py's
//! and the `redis` crate's pub/sub.
#![cfg(not(madsim))]
// Real processes on real time: the determinism lint is for code that runs in simulation.
#![allow(clippy::disallowed_methods)]

mod common;

use common::cluster::Cluster;
use common::redis_server::RedisServer;
use common::{ServerProcess, SyncClient};
use redraft_net::resp::Frame;

/// One session of subscriber and publisher, every frame either sees, in order.
fn session(addr: &str) -> Vec<Frame> {
    let mut subscriber = SyncClient::connect(addr).expect("connect");
    let mut publisher = SyncClient::connect(addr).expect("connect");
    let mut seen = Vec::new();
    let read = |client: &mut SyncClient, count: usize, seen: &mut Vec<Frame>| {
        for _ in 0..count {
            seen.push(client.read_reply().expect("a frame"));
        }
    };
    subscriber.send(&["SUBSCRIBE", "news", "sport"]).expect("send");
    read(&mut subscriber, 2, &mut seen);
    subscriber.send(&["PSUBSCRIBE", "n*"]).expect("send");
    read(&mut subscriber, 1, &mut seen);
    for command in [
        &["PUBLISH", "news", "one"][..],
        &["PUBLISH", "nothing", "two"],
        &["PUBLISH", "weather", "three"],
        &["PUBSUB", "NUMSUB", "news", "weather"],
        &["PUBSUB", "NUMPAT"],
        &["PUBSUB", "CHANNELS", "s*"],
        &["PUBSUB", "NOPE"],
    ] {
        seen.push(publisher.call(command).expect("publisher"));
    }
    // "one" twice (channel and pattern), "two" once (pattern).
    read(&mut subscriber, 3, &mut seen);
    for command in [&["GET", "k"][..], &["PING"], &["PING", "hi"], &["SUBSCRIBE"]] {
        seen.push(subscriber.call(command).expect("subscriber"));
    }
    // (Redis lists channels in its hash table's order, so only one at a time is named here.)
    subscriber.send(&["UNSUBSCRIBE", "sport"]).expect("send");
    read(&mut subscriber, 1, &mut seen);
    subscriber.send(&["UNSUBSCRIBE"]).expect("send");
    read(&mut subscriber, 1, &mut seen);
    subscriber.send(&["PUNSUBSCRIBE", "n*", "other*"]).expect("send");
    read(&mut subscriber, 2, &mut seen);
    subscriber.send(&["UNSUBSCRIBE"]).expect("send");
    read(&mut subscriber, 1, &mut seen);
    seen.push(subscriber.call(&["GET", "k"]).expect("out of subscribed mode"));
    seen.push(publisher.call(&["PUBLISH", "news", "nobody"]).expect("publish"));
    seen
}

#[test]
fn a_pubsub_session_answers_as_redis_does() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let redraft = ServerProcess::start(dir.path(), &["--fsync", "no"]);
    let theirs = session(&redis.addr().to_string());
    let ours = session(&redraft.resp_addr);
    for (at, (ours, theirs)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(ours, theirs, "frame {at}");
    }
    assert_eq!(ours.len(), theirs.len());
}

/// Subscribers on every node of a 3-node cluster receive every message published through any
/// node, once each, all in the same order.
#[test]
fn messages_reach_the_subscribers_of_every_node_once_in_one_order() {
    let cluster = Cluster::start(3);
    let mut subscribers: Vec<SyncClient> = (1..=3).map(|id| cluster.client(id)).collect();
    for subscriber in &mut subscribers {
        subscriber.send(&["SUBSCRIBE", "events"]).expect("send");
        subscriber.read_reply().expect("confirmation");
    }
    let mut publishers: Vec<SyncClient> = (1..=3).map(|id| cluster.client(id)).collect();
    for n in 0..30 {
        let reply = publishers[n % 3].call(&["PUBLISH", "events", &format!("m{n}")]).expect("PUBLISH");
        assert!(matches!(reply, Frame::Integer(_)), "{reply:?}");
    }
    let mut orders = Vec::new();
    for subscriber in &mut subscribers {
        let mut got: Vec<String> = Vec::new();
        for _ in 0..30 {
            let Frame::Array(items) = subscriber.read_reply().expect("a message") else { panic!("a push") };
            got.push(format!("{:?}", items[2]));
        }
        let mut sorted = got.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 30, "every message once");
        orders.push(got);
    }
    assert!(orders.windows(2).all(|pair| pair[0] == pair[1]), "the nodes delivered in different orders");
}

/// Keyspace notifications come from applied entries: every node of a cluster publishes the
/// same events in the same order, whichever node took the writes, expiry included.
#[test]
fn every_node_publishes_the_same_keyspace_events_expiry_included() {
    let cluster = Cluster::start(3);
    let mut subscribers: Vec<SyncClient> = (1..=3)
        .map(|id| {
            let mut client = cluster.client(id);
            let reply =
                client.call(&["CONFIG", "SET", "notify-keyspace-events", "Egx$l"]).expect("CONFIG SET");
            assert_eq!(reply, Frame::Simple("OK".into()));
            assert_eq!(
                client.call(&["CONFIG", "GET", "notify-keyspace-events"]).expect("CONFIG GET"),
                Frame::Array(vec![common::bulk("notify-keyspace-events"), common::bulk("g$lxE")])
            );
            client.send(&["PSUBSCRIBE", "__key*__:*"]).expect("send");
            client.read_reply().expect("confirmation");
            client
        })
        .collect();
    let mut writers: Vec<SyncClient> = (1..=3).map(|id| cluster.client(id)).collect();
    let writes: [&[&str]; 5] = [
        &["SET", "session", "x", "PX", "300"],
        &["RPUSH", "jobs", "a"],
        &["HSET", "user", "name", "ada"],
        &["LPOP", "jobs"],
        &["INCR", "counter"],
    ];
    for (n, write) in writes.iter().enumerate() {
        writers[n % 3].call(write).expect("a write");
    }
    // HSET raises an `h` event, which this setting leaves out; `session` expires by itself.
    let expected: Vec<(String, String)> = [
        ("set", "session"),
        ("expire", "session"),
        ("rpush", "jobs"),
        ("lpop", "jobs"),
        ("del", "jobs"),
        ("incrby", "counter"),
        ("expired", "session"),
    ]
    .iter()
    .map(|(event, key)| (format!("__keyevent@0__:{event}"), (*key).to_owned()))
    .collect();
    for (node, subscriber) in subscribers.iter_mut().enumerate() {
        let got: Vec<(String, String)> = (0..expected.len())
            .map(|_| {
                let Frame::Array(items) = subscriber.read_reply().expect("an event") else {
                    panic!("a push")
                };
                let text = |frame: &Frame| match frame {
                    Frame::Bulk(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                    other => panic!("a bulk string: {other:?}"),
                };
                (text(&items[2]), text(&items[3]))
            })
            .collect();
        assert_eq!(got, expected, "node {}", node + 1);
    }
}

/// redis-py (RESP2 and RESP3) and the `redis` crate subscribe and receive.
#[test]
fn client_libraries_subscribe_and_receive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(dir.path(), &["--fsync", "no"]);
    let script = r#"
import sys, redis
for protocol in (2, 3):
    r = redis.Redis(host=sys.argv[1], port=int(sys.argv[2]), protocol=protocol, decode_responses=True)
    p = r.pubsub()
    p.subscribe("a")
    p.psubscribe("b*")
    assert p.get_message(timeout=1)["type"] == "subscribe"
    assert p.get_message(timeout=1)["type"] == "psubscribe"
    assert r.publish("a", "x") == 1 and r.publish("bee", "y") == 1
    got = [p.get_message(timeout=1) for _ in range(2)]
    assert [(m["type"], m["data"]) for m in got] == [("message", "x"), ("pmessage", "y")], got
    p.close()
print("ok")
"#;
    common::run_redis_py(script, &server.resp_addr);

    let client = redis::Client::open(format!("redis://{}/", server.resp_addr)).expect("url");
    let mut con = client.get_connection().expect("connect");
    let mut publisher = client.get_connection().expect("connect");
    let mut pubsub = con.as_pubsub();
    pubsub.subscribe("c").expect("SUBSCRIBE");
    let receivers: i64 = redis::cmd("PUBLISH").arg("c").arg("hello").query(&mut publisher).expect("PUBLISH");
    assert_eq!(receivers, 1);
    let message = pubsub.get_message().expect("a message");
    assert_eq!(
        (message.get_channel_name(), message.get_payload::<String>().expect("text")),
        ("c", "hello".to_owned())
    );
}
