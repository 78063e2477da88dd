//! Memory limits, against a real `redis-server`: `maxmemory` with Redis's `noeviction` (with the
//! limit below what either process uses, every command that may grow memory is refused with
//! Redis's OOM error, inside MULTI too, and everything else still runs), and the output limit
//! that closes a client whose replies would take too much. INFO memory says what the watch
//! history holds, and MEMORY USAGE what a string costs, near what Redis says.
//!
//! Needs `redis-server` (Debian's redis-server; ci/test installs it).
#![cfg(not(madsim))]

mod common;

use common::redis_server::RedisServer;
use common::{Client, TestServer};
use redraft_server::node::NodeOptions;
use redraft_server::resp::RespSettings;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_that_grow_memory_are_refused_past_maxmemory_as_redis_does() {
    let redis = RedisServer::start_with(&["--maxmemory", "1"]);
    let options = NodeOptions { maxmemory: 1, ..TestServer::options() };
    let redraft = TestServer::start_with_options(RespSettings::default(), options).await;
    // The node counts its memory on its duty pass, the first at start: wait for one more.
    tokio::time::sleep(std::time::Duration::from_millis(120)).await;
    let (mut theirs, mut ours) = (Client::connect(redis.addr()).await, redraft.client().await);
    for line in [
        "SET k v",
        "GET k",
        "INCR n",
        "APPEND k x",
        "MSET a 1 b 2",
        "DEL k",
        "EXPIRE k 10",
        "PING",
        "MULTI",
        "SET a 1",
        "GET a",
        "EXEC",
        "CONFIG GET maxmemory-policy",
    ] {
        let args: Vec<&str> = line.split(' ').collect();
        assert_eq!(ours.call(&args).await, theirs.call(&args).await, "{line}");
    }
}

/// A small request that asks for one big value many times (`MGET k k k ...`) once made a node
/// buffer gigabytes of replies. Past the output limit the connection is closed, as Redis closes
/// a client past its hard `client-output-buffer-limit`, and redraft does so before copying the
/// replies; below it, replies come back whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_past_its_output_limit_is_closed_as_redis_closes_it() {
    let redis = RedisServer::start_with(&["--client-output-buffer-limit", "normal 1mb 0 0"]);
    let settings = RespSettings { client_output_buffer_limit: 1024 * 1024, ..RespSettings::default() };
    let redraft = TestServer::start_with(settings).await;
    let value = "v".repeat(200 * 1024);
    for (name, addr) in [("redis", redis.addr()), ("redraft", redraft.addr)] {
        let mut client = Client::connect(addr).await;
        assert_eq!(client.call(&["SET", "k", &value]).await, common::ok(), "{name}");
        let fits = client.call(&["MGET", "k", "k", "k"]).await;
        assert!(matches!(&fits, redraft_net::resp::Frame::Array(items) if items.len() == 3), "{name}");
        client.send(&["MGET", "k", "k", "k", "k", "k", "k", "k"]).await;
        assert_eq!(client.read().await, None, "{name}: the connection is closed");
        let mut again = Client::connect(addr).await;
        assert_eq!(
            again.call(&["STRLEN", "k"]).await,
            redraft_net::resp::Frame::Integer(200 * 1024),
            "{name}"
        );
    }
}

/// INFO memory reports the watch history's window: every change applied is in it, each counted
/// as its key, its value and a fixed overhead, so a put and a delete add what they carry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_memory_reports_what_the_watch_history_holds() {
    let redraft = TestServer::start().await;
    let mut client = redraft.client().await;
    let history = |info: &redraft_net::resp::Frame| -> (u64, u64) {
        let text = match info {
            redraft_net::resp::Frame::Bulk(text) => String::from_utf8_lossy(text).into_owned(),
            other => panic!("INFO answers text, not {other:?}"),
        };
        let field = |name: &str| -> u64 {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .unwrap_or_else(|| panic!("INFO memory has {name}: {text}"))
                .trim()
                .parse()
                .expect("a number")
        };
        (field("watch_history_changes"), field("used_memory_watch_history"))
    };
    let before = history(&client.call(&["INFO", "memory"]).await);
    assert_eq!(client.call(&["SET", "history:key", &"v".repeat(1000)]).await, common::ok());
    let after_put = history(&client.call(&["INFO", "memory"]).await);
    assert_eq!(after_put.0, before.0 + 1, "one change more");
    let put = after_put.1 - before.1;
    assert!((1011..1011 + 256).contains(&put), "a put counts its key and value and a little more: {put}");
    assert_eq!(client.call(&["DEL", "history:key"]).await, redraft_net::resp::Frame::Integer(1));
    let after_delete = history(&client.call(&["INFO", "memory"]).await);
    assert_eq!(after_delete.0, after_put.0 + 1);
    let delete = after_delete.1 - after_put.1;
    assert!((11..11 + 256).contains(&delete), "a delete counts its key and a little more: {delete}");
}

/// MEMORY USAGE counts a string's bytes wherever the value is kept (inside the key's record, or
/// in a buffer of its own for a long one), within a factor of two of Redis's figure for the same
/// key and value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_usage_counts_a_string_as_redis_does() {
    let redis = RedisServer::start();
    let redraft = TestServer::start().await;
    let (mut theirs, mut ours) = (Client::connect(redis.addr()).await, redraft.client().await);
    for len in [16, 256, 257, 1000, 100_000] {
        let value = "v".repeat(len);
        let mut usage = Vec::new();
        for client in [&mut theirs, &mut ours] {
            assert_eq!(client.call(&["SET", "usage:key", &value]).await, common::ok());
            match client.call(&["MEMORY", "USAGE", "usage:key", "SAMPLES", "0"]).await {
                redraft_net::resp::Frame::Integer(bytes) => usage.push(bytes as f64),
                other => panic!("MEMORY USAGE answers an integer, not {other:?}"),
            }
        }
        let ratio = usage[1] / usage[0];
        assert!(
            (0.5..2.0).contains(&ratio),
            "{len}-byte value: redraft {} bytes, Redis {}",
            usage[1],
            usage[0]
        );
    }
}
