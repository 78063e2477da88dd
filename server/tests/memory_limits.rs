//! Memory limits, against a real `redis-server`: `maxmemory` with Redis's `noeviction` (with the
//! limit below what either process uses, every command that may grow memory is refused with
//! Redis's OOM error, inside MULTI too, and everything else still runs), and the output limit
//! that closes a client whose replies would take too much.
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
