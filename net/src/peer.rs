//! The peer transport: length-prefixed frames over the tokio alias's TCP, so the same code runs
//! on real sockets and inside the simulator (DESIGN.md §5).
//!
//! A frame is `[len: u32 BE][kind: u8][cluster_len: u8][cluster id][body]`, where `len` counts
//! everything after itself. Every frame names its cluster, so a node of another cluster is
//! refused with a line that names both clusters instead of corrupting anything. A frame goes out
//! in one write on a socket with TCP_NODELAY: a length prefix written apart from its body costs
//! ~100 ms per call on real loopback (Nagle and delayed ACK), which the simulator cannot show.
//!
//! [`PeerClient`] keeps one connection to one address, sends one request at a time and waits for
//! its response within a deadline, drops the connection on any error and reconnects on the next
//! call, backing off while the address keeps refusing. [`serve`] accepts connections and answers
//! each connection's requests in order with a handler. Bodies are opaque here; the server decides
//! what they encode.

// `tokio::time::Instant` is the simulator's virtual clock under madsim (where it re-exports std's
// type, which the determinism lint names); it is never read for wall time here.
#![allow(clippy::disallowed_methods)]

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use redraft_core::limits::PEER_FRAME_BYTES_MAX;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

/// A frame's kind.
const KIND_MESSAGE: u8 = 0;
/// The receiver refuses the connection; the body is the reason, in UTF-8.
const KIND_REFUSED: u8 = 1;
/// Longest cluster id a frame can carry.
pub const CLUSTER_ID_BYTES_MAX: usize = 255;

/// The first wait after a refused connection; it doubles up to [`BACKOFF_MAX`].
const BACKOFF_FIRST: Duration = Duration::from_millis(20);
/// The longest wait between connection attempts to a peer that keeps refusing. openraft retries
/// replication after its own backoff; this one keeps votes and forwarded requests from hammering
/// a dead address, while a healed peer is reached again well inside an election timeout.
const BACKOFF_MAX: Duration = Duration::from_millis(320);

/// Why a call got no response.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// No connection could be made; the request was certainly not delivered.
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: String, source: io::Error },
    /// An earlier connection attempt failed moments ago; this one was not made.
    #[error("{addr} refused a connection moments ago; retrying after {retry_in:?}")]
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

/// Encodes one frame into a single buffer, so it goes out in one write.
///
/// # Panics
/// If `cluster` is longer than [`CLUSTER_ID_BYTES_MAX`] (callers check ids at configuration).
pub fn encode_frame(kind: u8, cluster: &str, body: &[u8]) -> Vec<u8> {
    assert!(cluster.len() <= CLUSTER_ID_BYTES_MAX, "cluster id longer than {CLUSTER_ID_BYTES_MAX} bytes");
    let len = 2 + cluster.len() + body.len();
    let mut frame = Vec::with_capacity(4 + len);
    frame.extend_from_slice(&(len as u32).to_be_bytes());
    frame.push(kind);
    frame.push(cluster.len() as u8);
    frame.extend_from_slice(cluster.as_bytes());
    frame.extend_from_slice(body);
    frame
}

/// A frame as read.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub kind: u8,
    pub cluster: String,
    pub body: Vec<u8>,
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("a frame of {0} bytes is over the limit of {PEER_FRAME_BYTES_MAX}")]
    TooLarge(usize),
    #[error("a frame of {0} bytes is too short for its header")]
    TooShort(usize),
    #[error("the cluster id is not UTF-8")]
    ClusterNotUtf8,
}

/// Reads one frame; `Ok(None)` when the stream ends cleanly before a frame starts. The body is
/// read as it arrives: a claimed length costs memory only as its bytes come in.
///
/// # Errors
/// [`FrameError`] for an I/O failure, a stream cut inside a frame, or a frame that breaks the
/// format.
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Option<Frame>, FrameError> {
    let mut len = [0u8; 4];
    if reader.read(&mut len[..1]).await? == 0 {
        return Ok(None);
    }
    reader.read_exact(&mut len[1..]).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > PEER_FRAME_BYTES_MAX {
        return Err(FrameError::TooLarge(len));
    }
    if len < 2 {
        return Err(FrameError::TooShort(len));
    }
    let mut head = [0u8; 2];
    reader.read_exact(&mut head).await?;
    let [kind, cluster_len] = head;
    if 2 + cluster_len as usize > len {
        return Err(FrameError::TooShort(len));
    }
    let mut cluster = vec![0u8; cluster_len as usize];
    reader.read_exact(&mut cluster).await?;
    let cluster = String::from_utf8(cluster).map_err(|_| FrameError::ClusterNotUtf8)?;
    let body_len = len - 2 - cluster_len as usize;
    let mut body = Vec::with_capacity(body_len.min(64 * 1024));
    let read = reader.take(body_len as u64).read_to_end(&mut body).await?;
    if read < body_len {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the stream ended inside a frame").into());
    }
    Ok(Some(Frame { kind, cluster, body }))
}

async fn write_frame<W: AsyncWrite + Unpin>(writer: &mut W, frame: &[u8]) -> io::Result<()> {
    writer.write_all(frame).await?;
    writer.flush().await
}

/// One connection to one peer address, used for one request at a time.
pub struct PeerClient {
    cluster: Arc<str>,
    addr: String,
    connection: Option<TcpStream>,
    failed_connects: u32,
    next_attempt: Option<Instant>,
}

impl PeerClient {
    /// A client for `addr` in cluster `cluster`; it connects on its first call.
    pub fn new(cluster: Arc<str>, addr: String) -> PeerClient {
        PeerClient { cluster, addr, connection: None, failed_connects: 0, next_attempt: None }
    }

    /// The address this client calls.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends `body` and waits up to `timeout` for the response body.
    ///
    /// # Errors
    /// [`PeerError`]; after any error the connection is dropped and the next call reconnects.
    pub async fn call(&mut self, body: &[u8], timeout: Duration) -> Result<Vec<u8>, PeerError> {
        let result = match tokio::time::timeout(timeout, self.call_inner(body)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(PeerError::Timeout { addr: self.addr.clone(), timeout }),
        };
        if result.is_err() {
            self.connection = None;
        }
        result
    }

    async fn call_inner(&mut self, body: &[u8]) -> Result<Vec<u8>, PeerError> {
        let frame = encode_frame(KIND_MESSAGE, &self.cluster, body);
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
            KIND_MESSAGE if *response.cluster == *self.cluster => Ok(response.body),
            KIND_MESSAGE => Err(PeerError::Refused {
                addr,
                reason: format!(
                    "it answered for cluster {:?}, this node is in cluster {:?}",
                    response.cluster, self.cluster
                ),
            }),
            kind => Err(PeerError::Protocol { addr, reason: format!("unknown frame kind {kind}") }),
        }
    }

    async fn connect(&mut self) -> Result<&mut TcpStream, PeerError> {
        if self.connection.is_none() {
            let now = Instant::now();
            if let Some(at) = self.next_attempt.filter(|at| *at > now) {
                return Err(PeerError::BackingOff { addr: self.addr.clone(), retry_in: at - now });
            }
            match TcpStream::connect(&self.addr).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    self.failed_connects = 0;
                    self.next_attempt = None;
                    self.connection = Some(stream);
                }
                Err(source) => {
                    let wait =
                        BACKOFF_FIRST.saturating_mul(1 << self.failed_connects.min(8)).min(BACKOFF_MAX);
                    self.failed_connects = self.failed_connects.saturating_add(1);
                    self.next_attempt = Some(Instant::now() + wait);
                    return Err(PeerError::Connect { addr: self.addr.clone(), source });
                }
            }
        }
        Ok(self.connection.as_mut().expect("connected above"))
    }
}

/// Accepts peer connections until `stop` turns true, answering each connection's requests in
/// order with `handler`. A frame from another cluster is refused with a log line naming both
/// clusters and the sender's address, and that connection is closed.
pub async fn serve<H, F>(
    listener: TcpListener,
    cluster: Arc<str>,
    handler: H,
    mut stop: watch::Receiver<bool>,
) where
    H: Fn(Vec<u8>) -> F + Clone + Send + Sync + 'static,
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
    H: Fn(Vec<u8>) -> F,
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
            let _ = write_frame(&mut stream, &encode_frame(KIND_REFUSED, &cluster, reason.as_bytes())).await;
            return;
        }
        if frame.kind != KIND_MESSAGE {
            tracing::warn!(%peer, kind = frame.kind, "closing a peer connection that sent an unknown frame kind");
            return;
        }
        let response = handler(frame.body).await;
        if let Err(error) = write_frame(&mut stream, &encode_frame(KIND_MESSAGE, &cluster, &response)).await {
            tracing::debug!(%peer, %error, "a peer connection failed while answering");
            return;
        }
    }
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_cut_frames_are_errors() {
        let frame = encode_frame(KIND_MESSAGE, "c1", b"hello");
        let read = read_frame(&mut &frame[..]).await.expect("reads").expect("a frame");
        assert_eq!(read, Frame { kind: KIND_MESSAGE, cluster: "c1".into(), body: b"hello".to_vec() });
        assert!(read_frame(&mut &[][..]).await.expect("clean end").is_none());
        for cut in 1..frame.len() {
            assert!(read_frame(&mut &frame[..cut]).await.is_err(), "a frame cut at {cut} must not read");
        }
        let huge = ((PEER_FRAME_BYTES_MAX + 1) as u32).to_be_bytes();
        assert!(matches!(read_frame(&mut &huge[..]).await, Err(FrameError::TooLarge(_))));
    }

    async fn echo_server(cluster: &str) -> (String, watch::Sender<bool>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let (stop, stopped) = watch::channel(false);
        let handler = |body: Vec<u8>| async move { body.into_iter().rev().collect::<Vec<u8>>() };
        tokio::spawn(serve(listener, cluster.into(), handler, stopped));
        (addr, stop)
    }

    #[tokio::test]
    async fn calls_are_answered_over_one_connection_and_reconnect_after_a_restart() {
        let (addr, stop) = echo_server("c1").await;
        let mut client = PeerClient::new("c1".into(), addr.clone());
        for _ in 0..3 {
            assert_eq!(client.call(b"abc", Duration::from_secs(5)).await.expect("answered"), b"cba");
        }
        let _ = stop.send(true);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(client.call(b"abc", Duration::from_secs(5)).await.is_err(), "the server is gone");
        // A new server on the same port: the client connects again after its backoff.
        let listener = TcpListener::bind(&addr).await.expect("rebind");
        let (_stop, stopped) = watch::channel(false);
        tokio::spawn(serve(listener, "c1".into(), |b: Vec<u8>| async move { b }, stopped));
        tokio::time::sleep(BACKOFF_MAX).await;
        assert_eq!(client.call(b"xyz", Duration::from_secs(5)).await.expect("reconnected"), b"xyz");
    }

    #[tokio::test]
    async fn a_node_of_another_cluster_is_refused_by_name() {
        let (addr, _stop) = echo_server("prod").await;
        let mut client = PeerClient::new("staging".into(), addr);
        let error = client.call(b"abc", Duration::from_secs(5)).await.expect_err("refused");
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
        assert!(matches!(client.call(b"x", Duration::from_secs(1)).await, Err(PeerError::Connect { .. })));
        assert!(matches!(client.call(b"x", Duration::from_secs(1)).await, Err(PeerError::BackingOff { .. })));

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let (_stop, stopped) = watch::channel(false);
        let slow = |b: Vec<u8>| async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            b
        };
        tokio::spawn(serve(listener, "c".into(), slow, stopped));
        let mut client = PeerClient::new("c".into(), addr);
        let error = client.call(b"x", Duration::from_millis(100)).await.expect_err("times out");
        assert!(matches!(error, PeerError::Timeout { .. }) && !error.certainly_not_sent());
    }
}
