//! Checks that the `--cfg madsim` build really runs inside the simulator: the workspace's `tokio`
//! alias must hand out madsim's virtual time and simulated network, or nothing the simulator
//! reports later could be trusted. Compiled only with `RUSTFLAGS="--cfg madsim"`.
#![cfg(madsim)]

use std::net::SocketAddr;
use std::time::Duration;

use madsim::runtime::Handle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An hour of `tokio::time::sleep` passes in virtual time: exactly an hour on the simulated clock,
/// far less on the wall clock.
#[madsim::test]
async fn tokio_alias_sleeps_in_virtual_time() {
    let wall = std::time::Instant::now();
    let start = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    let virtual_elapsed = start.elapsed();
    assert!(virtual_elapsed >= Duration::from_secs(3600), "virtual time moved {virtual_elapsed:?}");
    assert!(virtual_elapsed < Duration::from_secs(3601), "virtual time moved {virtual_elapsed:?}");
    // `std::time::Instant` is virtual too (madsim overrides the clock), so only the fact that
    // this test finishes at all shows that no real hour was slept.
    assert!(wall.elapsed() >= Duration::from_secs(3600));
}

/// Two simulated hosts talk over `tokio::net` through madsim's network, and a clogged link stops
/// the conversation: the network is the simulator's, not the host's.
#[madsim::test]
async fn tokio_alias_network_is_simulated() {
    let handle = Handle::current();
    let server_addr: SocketAddr = "10.0.0.1:7000".parse().expect("address");
    let server = handle.create_node().name("server").ip(server_addr.ip()).build();
    let client = handle.create_node().name("client").ip("10.0.0.2".parse().expect("ip")).build();
    server.spawn(async move {
        let listener = TcpListener::bind(server_addr).await.expect("bind in the simulation");
        loop {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut buffer = [0u8; 4];
            stream.read_exact(&mut buffer).await.expect("read");
            stream.write_all(&buffer).await.expect("write");
            stream.flush().await.expect("flush");
        }
    });
    let exchange = move || async move {
        let mut stream = TcpStream::connect(server_addr).await?;
        stream.write_all(b"ping").await?;
        stream.flush().await?;
        let mut buffer = [0u8; 4];
        stream.read_exact(&mut buffer).await?;
        Ok::<_, std::io::Error>(buffer)
    };
    let echoed = client
        .spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            exchange().await.expect("an echo over the simulated network")
        })
        .await
        .expect("client task");
    assert_eq!(&echoed, b"ping");

    let net = madsim::net::NetSim::current();
    net.clog_node(server.id());
    let blocked =
        client
            .spawn(async move {
                !matches!(tokio::time::timeout(Duration::from_secs(5), exchange()).await, Ok(Ok(_)))
            })
            .await
            .expect("client task");
    assert!(blocked, "a clogged node must not answer");
}
