//! Expiry on time (DESIGN.md §3): a key reads as absent once its deadline has passed by the
//! serving node's clock, although the state's time moves only with entries. Here the node's
//! background duties (active expiry, idle time advances) are held off, so only the reads can
//! move time forward.
#![cfg(not(madsim))]
// Real time: the determinism lint is for code that runs in simulation.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use common::{bulk, ok, TestServer};
use redraft_net::resp::Frame;
use redraft_server::node::NodeOptions;
use redraft_server::resp::RespSettings;

async fn quiet_server() -> TestServer {
    let options =
        NodeOptions { duty_interval_ms: 600_000, time_advance_idle_ms: 600_000, ..TestServer::options() };
    TestServer::start_with_options(RespSettings::default(), options).await
}

/// Redis's `PSETEX k 100`, then GET 101 ms later: nil. So for every read of the key, alone or
/// with others, and for a read of the whole keyspace; a read of keys without a deadline writes
/// nothing.
#[tokio::test]
async fn a_key_reads_as_absent_once_its_deadline_has_passed() {
    let server = quiet_server().await;
    let mut client = server.client().await;
    assert_eq!(client.call(&["SET", "forever", "1"]).await, ok());
    let applied = server.node.state().applied_index();
    for _ in 0..3 {
        assert_eq!(client.call(&["GET", "forever"]).await, bulk("1"));
    }
    assert_eq!(server.node.state().applied_index(), applied, "reads of keys without a deadline wrote");

    let reads: [&[&str]; 5] =
        [&["GET", "k"], &["MGET", "forever", "k"], &["EXISTS", "k"], &["PTTL", "k"], &["KEYS", "k*"]];
    for read in reads {
        assert_eq!(client.call(&["PSETEX", "k", "100", "v"]).await, ok());
        assert_eq!(client.call(&["GET", "k"]).await, bulk("v"), "before its deadline");
        tokio::time::sleep(Duration::from_millis(101)).await;
        let expected = match read[0] {
            "GET" => Frame::Null,
            "MGET" => Frame::Array(vec![bulk("1"), Frame::Null]),
            "EXISTS" => Frame::Integer(0),
            "PTTL" => Frame::Integer(-2),
            _ => Frame::Array(Vec::new()),
        };
        assert_eq!(client.call(read).await, expected, "{read:?} 101 ms after PSETEX k 100");
    }
}
