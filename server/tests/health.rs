//! A node whose Raft core has stopped says so: `/healthz` fails and `Node::raft_stopped` (which
//! makes the server process exit for its supervisor) returns. The core is stopped here by a
//! shutdown; the other way it ends, a panic that leaves its last metrics saying it runs (and once
//! left `/healthz` saying ok), is `node::tests::a_core_that_ended_without_a_word_has_failed`.
#![cfg(not(madsim))]

mod common;

use std::time::Duration;

use common::{http_get, TestServer};
use tokio::net::TcpListener;
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_a_stopped_raft_core() {
    let server = TestServer::start().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("bound").to_string();
    let (_stop, stopped) = watch::channel(false);
    tokio::spawn(redraft_server::http::serve(listener, server.node.clone(), stopped));
    let get = |addr: String| tokio::task::spawn_blocking(move || http_get(&addr, "/healthz"));

    let (status, body) = get(addr.clone()).await.expect("joins");
    assert_eq!(status, 200, "{body}");
    assert!(server.node.raft_failure().is_none());

    let watcher = tokio::spawn({
        let node = server.node.clone();
        async move { node.raft_stopped().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!watcher.is_finished(), "Raft still runs");
    server.node.raft().shutdown().await.expect("the core stops");
    let why = tokio::time::timeout(Duration::from_secs(10), watcher)
        .await
        .expect("raft_stopped returns once the core stops")
        .expect("joins");
    assert!(why.contains("stopped"), "{why}");
    let (status, body) = get(addr).await.expect("joins");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("raft_stopped"), "{body}");
}
