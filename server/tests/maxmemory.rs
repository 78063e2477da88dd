//! `maxmemory` with Redis's `noeviction`, against a real `redis-server`: with the limit below
//! what either process uses, every command that may grow memory is refused with Redis's OOM
//! error (inside MULTI too, which then aborts), and everything else still runs.
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
