//! The peer transport: length-prefixed frames ([`frame`]: the cluster id and the route in the
//! header, an opaque body) over the tokio alias's TCP, so the same code runs on real sockets and
//! inside the simulator (DESIGN.md §5). A frame goes out in one write on a socket with
//! TCP_NODELAY: a length prefix written apart from its body costs ~100 ms per call on real
//! loopback (Nagle and delayed ACK), which the simulator cannot show.
//!
//! [`PeerClient`] keeps one connection to one address, sends one request at a time and waits for
//! its response within a deadline, drops the connection on any error and reconnects on the next
//! call, backing off ([`Backoff`]) while the address keeps refusing. [`serve`] accepts
//! connections and answers each connection's requests in order with a handler. Bodies are opaque
//! here; the server decides what they encode.

// `tokio::time::Instant` is the simulator's virtual clock under madsim (where it re-exports std's
// type, which the determinism lint names); it is never read for wall time here.
#![allow(clippy::disallowed_methods)]

mod backoff;
pub mod frame;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

pub use redraft_core::limits::CLUSTER_ID_BYTES_MAX;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

pub use self::backoff::Backoff;
use self::frame::write_frame;
pub use self::frame::{
    encode_frame, parse_header, read_frame, Frame, FrameError, FrameHeader, HeaderParse, Route, KIND_MESSAGE,
    KIND_REFUSED,
};

/// Whether `id` can name a cluster in a peer frame: 1 to [`CLUSTER_ID_BYTES_MAX`] bytes.
///
/// # Errors
/// A sentence saying what a cluster id must be.
pub fn check_cluster_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > CLUSTER_ID_BYTES_MAX {
        return Err(format!("the cluster id must be 1 to {CLUSTER_ID_BYTES_MAX} bytes, not {}", id.len()));
    }
    Ok(())
}

/// Why a call got no response.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// No connection could be made; the request was certainly not delivered.
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: String, source: io::Error },
    /// An earlier attempt failed moments ago; this one was not made.
    #[error("{addr} failed moments ago; retrying after {retry_in:?}")]
    BackingOff { addr: String, retry_in: Duration },
    /// The connection failed after the request may have been sent.
    #[error("connection to {addr} failed: {source}")]
    Io { addr: String, source: io::Error },
    /// No response arrived in time; the request may have been delivered.
    #[error("no response from {addr} within {timeout:?}")]
    Timeout { addr: String, timeout: Duration },
    /// The peer belongs to another cluster, or refused us for another reason it states.
    #[error("{addr} refused: {reason}")]
    Refused { addr: String, reason: String },
    /// The peer sent something that is not a frame of this protocol.
    #[error("{addr} broke the protocol: {reason}")]
    Protocol { addr: String, reason: String },
}

impl PeerError {
    /// Whether the request certainly did not reach the peer.
    pub fn certainly_not_sent(&self) -> bool {
        matches!(self, PeerError::Connect { .. } | PeerError::BackingOff { .. } | PeerError::Refused { .. })
    }
}

/// One connection to one peer address, used for one request at a time.
pub struct PeerClient {
    cluster: Arc<str>,
    addr: String,
    connection: Option<TcpStream>,
    /// Connection attempts only: a call that fails on an open connection reconnects at once.
    backoff: Backoff,
}

impl PeerClient {
    /// A client for `addr` in cluster `cluster`; it connects on its first call.
    pub fn new(cluster: Arc<str>, addr: String) -> PeerClient {
        PeerClient { cluster, addr, connection: None, backoff: Backoff::default() }
    }

    /// Sends `body` on `route` and waits up to `timeout` for the response body.
    ///
    /// # Errors
    /// [`PeerError`]; after any error the connection is dropped and the next call reconnects.
    pub async fn call(&mut self, route: Route, body: &[u8], timeout: Duration) -> Result<Vec<u8>, PeerError> {
        let result = match tokio::time::timeout(timeout, self.call_inner(route, body)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(PeerError::Timeout { addr: self.addr.clone(), timeout }),
        };
        if result.is_err() {
            self.connection = None;
        }
        result
    }

    async fn call_inner(&mut self, route: Route, body: &[u8]) -> Result<Vec<u8>, PeerError> {
        let frame = encode_frame(KIND_MESSAGE, &self.cluster, route, body);
        let addr = self.addr.clone();
        let io_error = |source| PeerError::Io { addr: addr.clone(), source };
        let stream = self.connect().await?;
        write_frame(stream, &frame).await.map_err(io_error)?;
        let response = match read_frame(stream).await {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                return Err(io_error(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed the connection before answering",
                )))
            }
            Err(FrameError::Io(source)) => return Err(io_error(source)),
            Err(error) => return Err(PeerError::Protocol { addr, reason: error.to_string() }),
        };
        match response.kind {
            KIND_REFUSED => {
                Err(PeerError::Refused { addr, reason: String::from_utf8_lossy(&response.body).into_owned() })
            }
            KIND_MESSAGE if *response.cluster != *self.cluster => Err(PeerError::Refused {
                addr,
                reason: format!(
                    "it answered for cluster {:?}, this node is in cluster {:?}",
                    response.cluster, self.cluster
                ),
            }),
            KIND_MESSAGE if response.route != route.reversed() => Err(PeerError::Protocol {
                addr,
                reason: format!("an answer on route {:?} to a request on route {route:?}", response.route),
            }),
            KIND_MESSAGE => Ok(response.body),
            kind => Err(PeerError::Protocol { addr, reason: format!("unknown frame kind {kind}") }),
        }
    }

    async fn connect(&mut self) -> Result<&mut TcpStream, PeerError> {
        if self.connection.is_none() {
            if let Some(retry_in) = self.backoff.wait_left(Instant::now()) {
                return Err(PeerError::BackingOff { addr: self.addr.clone(), retry_in });
            }
            match TcpStream::connect(&self.addr).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    self.backoff.succeeded();
                    self.connection = Some(stream);
                }
                Err(source) => {
                    self.backoff.failed(Instant::now());
                    return Err(PeerError::Connect { addr: self.addr.clone(), source });
                }
            }
        }
        Ok(self.connection.as_mut().expect("connected above"))
    }
}

/// Accepts peer connections until `stop` turns true, answering each connection's requests in
/// order with `handler`, which gets each frame's route and body. A frame from another cluster is
/// refused with a log line naming both clusters and the sender's address, and that connection
/// is closed.
pub async fn serve<H, F>(
    listener: TcpListener,
    cluster: Arc<str>,
    handler: H,
    mut stop: watch::Receiver<bool>,
) where
    H: Fn(Route, Vec<u8>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Vec<u8>> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stop.changed() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accepting a peer connection failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let cluster = cluster.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                biased;
                _ = stop.changed() => {}
                () = serve_connection(stream, peer.to_string(), cluster, handler) => {}
            }
        });
    }
}

async fn serve_connection<H, F>(mut stream: TcpStream, peer: String, cluster: Arc<str>, handler: H)
where
    H: Fn(Route, Vec<u8>) -> F,
    F: Future<Output = Vec<u8>>,
{
    loop {
        let frame = match read_frame(&mut stream).await {
            Ok(Some(frame)) => frame,
            Ok(None) => return,
            Err(FrameError::Io(error)) => {
                tracing::debug!(%peer, %error, "a peer connection failed");
                return;
            }
            Err(error) => {
                tracing::warn!(%peer, %error, "closing a peer connection that broke the protocol");
                return;
            }
        };
        let answer_route = frame.route.reversed();
        if *frame.cluster != *cluster {
            tracing::warn!(
                %peer,
                their_cluster = %frame.cluster,
                our_cluster = %cluster,
                "refused a peer of another cluster: it sent frames for cluster {:?}, this node is in {:?}",
                frame.cluster,
                cluster,
            );
            let reason = format!("this node is in cluster {cluster:?}, not {:?}", frame.cluster);
            let refusal = encode_frame(KIND_REFUSED, &cluster, answer_route, reason.as_bytes());
            let _ = write_frame(&mut stream, &refusal).await;
            return;
        }
        if frame.kind != KIND_MESSAGE {
            tracing::warn!(%peer, kind = frame.kind, "closing a peer connection that sent an unknown frame kind");
            return;
        }
        let response = handler(frame.route, frame.body).await;
        let answer = encode_frame(KIND_MESSAGE, &cluster, answer_route, &response);
        if let Err(error) = write_frame(&mut stream, &answer).await {
            tracing::debug!(%peer, %error, "a peer connection failed while answering");
            return;
        }
    }
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use super::backoff::BACKOFF_MAX;
    use super::*;

    const ROUTE: Route = Route { from: 1, to: 2 };

    async fn echo_server(cluster: &str) -> (String, watch::Sender<bool>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let (stop, stopped) = watch::channel(false);
        let handler = |_: Route, body: Vec<u8>| async move { body.into_iter().rev().collect::<Vec<u8>>() };
        tokio::spawn(serve(listener, cluster.into(), handler, stopped));
        (addr, stop)
    }

    #[tokio::test]
    async fn calls_are_answered_over_one_connection_and_reconnect_after_a_restart() {
        let (addr, stop) = echo_server("c1").await;
        let mut client = PeerClient::new("c1".into(), addr.clone());
        for _ in 0..3 {
            assert_eq!(client.call(ROUTE, b"abc", Duration::from_secs(5)).await.expect("answered"), b"cba");
        }
        let _ = stop.send(true);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(client.call(ROUTE, b"abc", Duration::from_secs(5)).await.is_err(), "the server is gone");
        // A new server on the same port: the client connects again after its backoff.
        let listener = TcpListener::bind(&addr).await.expect("rebind");
        let (_stop, stopped) = watch::channel(false);
        tokio::spawn(serve(listener, "c1".into(), |_: Route, b: Vec<u8>| async move { b }, stopped));
        tokio::time::sleep(BACKOFF_MAX).await;
        assert_eq!(client.call(ROUTE, b"xyz", Duration::from_secs(5)).await.expect("reconnected"), b"xyz");
    }

    #[tokio::test]
    async fn a_node_of_another_cluster_is_refused_by_name() {
        let (addr, _stop) = echo_server("prod").await;
        let mut client = PeerClient::new("staging".into(), addr);
        let error = client.call(ROUTE, b"abc", Duration::from_secs(5)).await.expect_err("refused");
        let text = error.to_string();
        assert!(text.contains("\"prod\"") && text.contains("\"staging\""), "{text}");
        assert!(error.certainly_not_sent());
    }

    #[tokio::test]
    async fn a_dead_address_backs_off_and_a_slow_peer_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        drop(listener);
        let mut client = PeerClient::new("c".into(), addr);
        assert!(matches!(
            client.call(ROUTE, b"x", Duration::from_secs(1)).await,
            Err(PeerError::Connect { .. })
        ));
        assert!(matches!(
            client.call(ROUTE, b"x", Duration::from_secs(1)).await,
            Err(PeerError::BackingOff { .. })
        ));

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let (_stop, stopped) = watch::channel(false);
        let slow = |_: Route, b: Vec<u8>| async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            b
        };
        tokio::spawn(serve(listener, "c".into(), slow, stopped));
        let mut client = PeerClient::new("c".into(), addr);
        let error = client.call(ROUTE, b"x", Duration::from_millis(100)).await.expect_err("times out");
        assert!(matches!(error, PeerError::Timeout { .. }) && !error.certainly_not_sent());
    }
}
