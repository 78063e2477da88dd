//! Blocking pops against real processes: served in the order clients blocked, woken by writes
//! through any node, timing out with nothing taken, and never popping for a client that left.
#![cfg(not(madsim))]
// Real processes on real time: the determinism lint is for code that runs in simulation.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::Write as _;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::{bulk, ServerProcess, SyncClient};
use redraft_net::resp::Frame;

fn blocked_clients(client: &mut SyncClient) -> usize {
    let (Frame::Bulk(text) | Frame::Verbatim { text, .. }) = client.call(&["INFO", "clients"]).expect("INFO")
    else {
        panic!("INFO text")
    };
    let text = String::from_utf8_lossy(&text).into_owned();
    let line = text.lines().find_map(|l| l.strip_prefix("blocked_clients:")).expect("blocked_clients");
    line.trim().parse().expect("a number")
}

/// Waits until `count` clients are blocked on the server (or fails after 5 s).
fn wait_blocked(client: &mut SyncClient, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while blocked_clients(client) != count {
        assert!(Instant::now() < deadline, "{count} clients never blocked");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn blocked_clients_are_served_in_the_order_they_blocked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(dir.path(), &["--fsync", "no"]);
    let mut control = server.client();
    let mut waiters = Vec::new();
    for n in 0..3 {
        let addr = server.resp_addr.clone();
        waiters.push(thread::spawn(move || {
            let mut client = SyncClient::connect(&addr).expect("connect");
            client.call(&["BLPOP", "other", "q", "10"]).expect("BLPOP")
        }));
        wait_blocked(&mut control, n + 1);
    }
    assert_eq!(control.call(&["RPUSH", "q", "first", "second", "third"]).expect("RPUSH"), Frame::Integer(3));
    let served: Vec<Frame> = waiters.into_iter().map(|w| w.join().expect("waiter")).collect();
    let expected = |item: &str| Frame::Array(vec![bulk("q"), bulk(item)]);
    assert_eq!(served, vec![expected("first"), expected("second"), expected("third")]);
    assert_eq!(blocked_clients(&mut control), 0);
    assert_eq!(control.call(&["EXISTS", "q"]).expect("EXISTS"), Frame::Integer(0), "an emptied list goes");

    // The sorted-set and moving forms.
    let addr = server.resp_addr.clone();
    let waiter =
        thread::spawn(move || SyncClient::connect(&addr).expect("connect").call(&["BZPOPMAX", "z", "10"]));
    wait_blocked(&mut control, 1);
    control.call(&["ZADD", "z", "1", "low", "2", "high"]).expect("ZADD");
    let popped = waiter.join().expect("waiter").expect("BZPOPMAX");
    assert_eq!(popped, Frame::Array(vec![bulk("z"), bulk("high"), bulk("2")]));
    let addr = server.resp_addr.clone();
    let waiter = thread::spawn(move || {
        SyncClient::connect(&addr).expect("connect").call(&["BLMOVE", "src", "dst", "LEFT", "RIGHT", "10"])
    });
    wait_blocked(&mut control, 1);
    control.call(&["RPUSH", "src", "moved"]).expect("RPUSH");
    assert_eq!(waiter.join().expect("waiter").expect("BLMOVE"), bulk("moved"));
    assert_eq!(
        control.call(&["LRANGE", "dst", "0", "-1"]).expect("LRANGE"),
        Frame::Array(vec![bulk("moved")])
    );
}

#[test]
fn a_client_that_times_out_or_leaves_takes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(dir.path(), &["--fsync", "no"]);
    let mut control = server.client();

    let started = Instant::now();
    let reply = control.call(&["BLPOP", "q", "0.3"]).expect("BLPOP");
    assert_eq!(reply, Frame::NullArray);
    assert!(started.elapsed() >= Duration::from_millis(300), "returned after {:?}", started.elapsed());
    assert_eq!(
        control.call(&["BLMOVE", "q", "d", "LEFT", "LEFT", "0.05"]).expect("BLMOVE"),
        Frame::NullArray
    );

    // Inside MULTI a blocking pop does not block: it is one attempt.
    control.call(&["MULTI"]).expect("MULTI");
    control.call(&["BRPOP", "q", "0"]).expect("queued");
    assert_eq!(control.call(&["EXEC"]).expect("EXEC"), Frame::Array(vec![Frame::NullArray]));

    // A client blocked for ever that disconnects stops waiting: what arrives later stays.
    let mut raw = TcpStream::connect(&server.resp_addr).expect("connect");
    raw.write_all(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n").expect("send");
    wait_blocked(&mut control, 1);
    drop(raw);
    let deadline = Instant::now() + Duration::from_secs(5);
    while blocked_clients(&mut control) != 0 {
        assert!(Instant::now() < deadline, "the departed client is still blocked");
        thread::sleep(Duration::from_millis(10));
    }
    control.call(&["RPUSH", "q", "kept"]).expect("RPUSH");
    thread::sleep(Duration::from_millis(200));
    assert_eq!(control.call(&["LRANGE", "q", "0", "-1"]).expect("LRANGE"), Frame::Array(vec![bulk("kept")]));

    // A key of another type answers WRONGTYPE at once, as in Redis.
    control.call(&["SET", "s", "v"]).expect("SET");
    let reply = control.call(&["BLPOP", "s", "5"]).expect("BLPOP");
    assert!(matches!(reply, Frame::Error(ref e) if e.starts_with("WRONGTYPE")), "{reply:?}");
}

/// A client blocked on a follower is served by a push through the leader, and the element is
/// gone on every node.
#[test]
fn a_client_blocked_on_a_follower_is_served_by_a_push_through_the_leader() {
    let cluster = Cluster::start(3);
    let leader = cluster.leader();
    let follower = cluster.follower(leader);
    let mut waiter_client = cluster.client(follower);
    let mut follower_control = cluster.client(follower);
    let waiter = thread::spawn(move || waiter_client.call(&["BRPOP", "jobs", "10"]));
    wait_blocked(&mut follower_control, 1);
    cluster.client(leader).call(&["LPUSH", "jobs", "j1"]).expect("LPUSH");
    assert_eq!(waiter.join().expect("waiter").expect("BRPOP"), Frame::Array(vec![bulk("jobs"), bulk("j1")]));
    for id in 1..=3 {
        assert_eq!(cluster.client(id).call(&["LLEN", "jobs"]).expect("LLEN"), Frame::Integer(0), "node {id}");
    }
}

/// redis-py and the `redis` crate block and are served as against Redis.
#[test]
fn client_libraries_block_and_are_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(dir.path(), &["--fsync", "no"]);
    let script = r#"
import sys, threading, time, redis
r = redis.Redis(host=sys.argv[1], port=int(sys.argv[2]), decode_responses=True)
assert r.blpop(["none"], timeout=0.1) is None
def push():
    time.sleep(0.2)
    redis.Redis(host=sys.argv[1], port=int(sys.argv[2])).rpush("q", "hello")
threading.Thread(target=push).start()
assert r.blpop(["q"], timeout=5) == ("q", "hello"), "served"
r.zadd("z", {"m": 3})
assert r.bzpopmin("z", timeout=1) == ("z", "m", 3.0)
print("ok")
"#;
    common::run_redis_py(script, &server.resp_addr);

    use redis::Commands;
    let client = redis::Client::open(format!("redis://{}/", server.resp_addr)).expect("url");
    let mut con = client.get_connection().expect("connect");
    let none: Option<(String, String)> = con.brpop("empty", 0.1).expect("BRPOP");
    assert_eq!(none, None);
    let _: () = con.rpush("list", "x").expect("RPUSH");
    let got: Option<(String, String)> = con.brpop("list", 1.0).expect("BRPOP");
    assert_eq!(got, Some(("list".to_owned(), "x".to_owned())));
}
