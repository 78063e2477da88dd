//! The HTTP port's limits: a connection that sends no complete request headers in time is
//! closed, and connections past the cap are closed as they come, while the port keeps serving.
//! Before, any number of silent connections could be held open for ever.
#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)] // a real listener on real time

mod common;

use std::time::{Duration, Instant};

use common::TestServer;
use redraft_server::http::{serve_with, HttpLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Reads until the server closes the connection; returns what came, or `None` if it stayed open
/// for `wait`.
async fn until_closed(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 1024];
    let read = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(wait, read).await.ok()?;
    Some(String::from_utf8_lossy(&seen).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_surplus_http_connections_are_closed() {
    let server = TestServer::start().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("bound");
    let (_stop, stopped) = watch::channel(false);
    let limits = HttpLimits { connections_max: 2, header_timeout: Duration::from_millis(500), tls: None };
    tokio::spawn(serve_with(listener, server.node.clone(), stopped, limits));

    // Two connections that send half a request and stop: they take both slots.
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.expect("write");
        slow.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let mut third = TcpStream::connect(addr).await.expect("the kernel accepts");
    third.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    let reply = until_closed(&mut third, Duration::from_millis(400)).await;
    assert_eq!(reply.as_deref(), Some(""), "a third connection is closed unanswered");

    // The slow ones are closed once their headers are late (hyper answers 408 or just closes).
    for stream in &mut slow {
        let closed = until_closed(stream, Duration::from_secs(3)).await;
        assert!(closed.is_some(), "a connection that never finished its headers was kept");
    }
    assert!(started.elapsed() >= Duration::from_millis(300), "closed before the header timeout");

    // The port serves again.
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.expect("write");
    let reply = until_closed(&mut stream, Duration::from_secs(3)).await.expect("answered and closed");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}
