//! The peer transport: length-prefixed frames over the tokio alias's TCP, so the same code runs
//! on real sockets and inside the simulator (DESIGN.md §5).
//!
//! A frame is, as [`encode_frame`] writes it and [`parse_header`] reads it back:
//!
//! ```text
//! [len: u32 BE][kind: u8][cluster_len: u8][cluster id][from: u64 BE][to: u64 BE][body]
//! ```
//!
//! where `len` counts everything after itself. Every frame names its cluster, so a node of
//! another cluster is refused with a line that names both clusters instead of corrupting
//! anything, and its [`Route`]: the node that sent it and the node it is for (an answer's route
//! is the request's, reversed). Tools between peers (the jepsen runner's fault proxy) read the
//! route from the header with [`parse_header`] and never look into the body. A frame goes out in
//! one write on a socket with TCP_NODELAY: a length prefix written apart from its body costs
//! ~100 ms per call on real loopback (Nagle and delayed ACK), which the simulator cannot show.
//!
//! [`PeerClient`] keeps one connection to one address, sends one request at a time and waits for
//! its response within a deadline, drops the connection on any error and reconnects on the next
//! call, backing off ([`Backoff`]) while the address keeps refusing. [`serve`] accepts
//! connections and answers each connection's requests in order with a handler. Bodies are opaque
//! here; the server decides what they encode.

// `tokio::time::Instant` is the simulator's virtual clock under madsim (where it re-exports std's
// type, which the determinism lint names); it is never read for wall time here.
#![allow(clippy::disallowed_methods)]

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

pub use redraft_core::limits::CLUSTER_ID_BYTES_MAX;
use redraft_core::limits::PEER_FRAME_BYTES_MAX;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

/// A frame that carries a request or its answer.
pub const KIND_MESSAGE: u8 = 0;
/// The receiver refuses the connection; the body is the reason, in UTF-8.
pub const KIND_REFUSED: u8 = 1;

/// The bytes before the cluster id: the length, the kind and the cluster id's length.
const PREFIX_BYTES: usize = 4 + 2;
/// The bytes of the route, after the cluster id.
const ROUTE_BYTES: usize = 16;

/// The first wait after a failed attempt; it doubles up to [`BACKOFF_MAX`].
const BACKOFF_FIRST: Duration = Duration::from_millis(20);
/// The longest wait between attempts to a peer that keeps failing. openraft retries replication
/// after its own backoff; this one keeps votes and forwarded requests from hammering a dead
/// address, while a healed peer is reached again well inside an election timeout.
const BACKOFF_MAX: Duration = Duration::from_millis(320);

/// Who sends a frame to whom, by node id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    pub from: u64,
    pub to: u64,
}

impl Route {
    /// The route of the answer to a frame on this route.
    pub fn reversed(self) -> Route {
        Route { from: self.to, to: self.from }
    }
}

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

/// When to try an address again after failures: the wait starts at 20 ms and doubles with each
/// failure in a row, up to 320 ms; a success clears it. Used for connection attempts here and for
/// whole calls by the server's connection pool.
#[derive(Clone, Copy, Debug, Default)]
pub struct Backoff {
    failures: u32,
    retry_at: Option<Instant>,
}

impl Backoff {
    /// How long until the next attempt may be made, if it is not yet (`None`: try now).
    pub fn wait_left(&self, now: Instant) -> Option<Duration> {
        self.retry_at.filter(|at| *at > now).map(|at| at - now)
    }

    /// An attempt failed at `now`: the next waits twice as long as the last, up to the max.
    pub fn failed(&mut self, now: Instant) {
        let wait = BACKOFF_FIRST.saturating_mul(1 << self.failures.min(8)).min(BACKOFF_MAX);
        self.failures = self.failures.saturating_add(1);
        self.retry_at = Some(now + wait);
    }

    /// An attempt succeeded: the next failure waits the first interval again.
    pub fn succeeded(&mut self) {
        *self = Backoff::default();
    }
}

/// Encodes one frame into a single buffer, so it goes out in one write.
///
/// # Panics
/// If `cluster` is longer than [`CLUSTER_ID_BYTES_MAX`] (callers check ids at configuration).
pub fn encode_frame(kind: u8, cluster: &str, route: Route, body: &[u8]) -> Vec<u8> {
    assert!(cluster.len() <= CLUSTER_ID_BYTES_MAX, "cluster id longer than {CLUSTER_ID_BYTES_MAX} bytes");
    let len = 2 + cluster.len() + ROUTE_BYTES + body.len();
    let mut frame = Vec::with_capacity(4 + len);
    frame.extend_from_slice(&(len as u32).to_be_bytes());
    frame.push(kind);
    frame.push(cluster.len() as u8);
    frame.extend_from_slice(cluster.as_bytes());
    frame.extend_from_slice(&route.from.to_be_bytes());
    frame.extend_from_slice(&route.to.to_be_bytes());
    frame.extend_from_slice(body);
    frame
}

/// A frame's header: everything before its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub kind: u8,
    pub cluster: String,
    pub route: Route,
    /// The bytes of the header, length prefix included.
    pub header_bytes: usize,
    /// The bytes of the body that follows.
    pub body_bytes: usize,
}

/// What the first bytes of a frame say.
#[derive(Debug, PartialEq, Eq)]
pub enum HeaderParse {
    /// At least this many bytes in all are needed.
    NeedMore(usize),
    /// The header, complete.
    Found(FrameHeader),
    /// Not a frame of this protocol.
    Invalid(FrameError),
}

/// Reads a frame's header from the start of `head` (which may hold more bytes after it).
pub fn parse_header(head: &[u8]) -> HeaderParse {
    // The length first, alone: an oversized frame is refused before anything else is read.
    let Some(len) = head.first_chunk::<4>().map(|len| u32::from_be_bytes(*len) as usize) else {
        return HeaderParse::NeedMore(4);
    };
    if len > PEER_FRAME_BYTES_MAX {
        return HeaderParse::Invalid(FrameError::TooLarge(len));
    }
    if head.len() < PREFIX_BYTES {
        return HeaderParse::NeedMore(PREFIX_BYTES);
    }
    let (kind, cluster_len) = (head[4], head[5] as usize);
    let header_bytes = PREFIX_BYTES + cluster_len + ROUTE_BYTES;
    if 4 + len < header_bytes {
        return HeaderParse::Invalid(FrameError::TooShort(len));
    }
    if head.len() < header_bytes {
        return HeaderParse::NeedMore(header_bytes);
    }
    let Ok(cluster) = std::str::from_utf8(&head[PREFIX_BYTES..PREFIX_BYTES + cluster_len]) else {
        return HeaderParse::Invalid(FrameError::ClusterNotUtf8);
    };
    let id = |at: usize| u64::from_be_bytes(head[at..at + 8].try_into().expect("the slice is eight bytes"));
    let route = Route { from: id(PREFIX_BYTES + cluster_len), to: id(PREFIX_BYTES + cluster_len + 8) };
    HeaderParse::Found(FrameHeader {
        kind,
        cluster: cluster.to_owned(),
        route,
        header_bytes,
        body_bytes: 4 + len - header_bytes,
    })
}

/// A frame as read.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub kind: u8,
    pub cluster: String,
    pub route: Route,
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

impl PartialEq for FrameError {
    fn eq(&self, other: &FrameError) -> bool {
        match (self, other) {
            (FrameError::Io(a), FrameError::Io(b)) => a.kind() == b.kind(),
            (FrameError::TooLarge(a), FrameError::TooLarge(b))
            | (FrameError::TooShort(a), FrameError::TooShort(b)) => a == b,
            (FrameError::ClusterNotUtf8, FrameError::ClusterNotUtf8) => true,
            _ => false,
        }
    }
}

impl Eq for FrameError {}

/// Reads one frame; `Ok(None)` when the stream ends cleanly before a frame starts. The body is
/// read as it arrives: a claimed length costs memory only as its bytes come in.
///
/// # Errors
/// [`FrameError`] for an I/O failure, a stream cut inside a frame, or a frame that breaks the
/// format.
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Option<Frame>, FrameError> {
    let mut head = vec![0u8; PREFIX_BYTES];
    if reader.read(&mut head[..1]).await? == 0 {
        return Ok(None);
    }
    let mut have = 1;
    let header = loop {
        match parse_header(&head[..have]) {
            HeaderParse::Found(header) => break header,
            HeaderParse::Invalid(error) => return Err(error),
            HeaderParse::NeedMore(total) => {
                head.resize(total, 0);
                reader.read_exact(&mut head[have..total]).await?;
                have = total;
            }
        }
    };
    let mut body = Vec::with_capacity(header.body_bytes.min(64 * 1024));
    let read = reader.take(header.body_bytes as u64).read_to_end(&mut body).await?;
    if read < header.body_bytes {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the stream ended inside a frame").into());
    }
    Ok(Some(Frame { kind: header.kind, cluster: header.cluster, route: header.route, body }))
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
    use super::*;

    const ROUTE: Route = Route { from: 1, to: 2 };

    #[tokio::test]
    async fn frames_round_trip_and_cut_frames_are_errors() {
        let frame = encode_frame(KIND_MESSAGE, "c1", ROUTE, b"hello");
        let read = read_frame(&mut &frame[..]).await.expect("reads").expect("a frame");
        assert_eq!(
            read,
            Frame { kind: KIND_MESSAGE, cluster: "c1".into(), route: ROUTE, body: b"hello".to_vec() }
        );
        assert!(read_frame(&mut &[][..]).await.expect("clean end").is_none());
        for cut in 1..frame.len() {
            assert!(read_frame(&mut &frame[..cut]).await.is_err(), "a frame cut at {cut} must not read");
        }
        let huge = ((PEER_FRAME_BYTES_MAX + 1) as u32).to_be_bytes();
        assert!(matches!(read_frame(&mut &huge[..]).await, Err(FrameError::TooLarge(_))));
    }

    /// The header is read from any prefix that holds it, and every shorter prefix asks for more
    /// bytes, never more than the header has: a proxy reads exactly the header and no body.
    #[test]
    fn the_route_is_read_from_the_header_alone() {
        let frame = encode_frame(KIND_MESSAGE, "jepsen", Route { from: 3, to: 5 }, b"append entries");
        let header_bytes = 4 + 2 + "jepsen".len() + 16;
        let expected = FrameHeader {
            kind: KIND_MESSAGE,
            cluster: "jepsen".into(),
            route: Route { from: 3, to: 5 },
            header_bytes,
            body_bytes: b"append entries".len(),
        };
        assert_eq!(parse_header(&frame), HeaderParse::Found(expected.clone()));
        assert_eq!(parse_header(&frame[..header_bytes]), HeaderParse::Found(expected));
        for cut in 0..header_bytes {
            match parse_header(&frame[..cut]) {
                HeaderParse::NeedMore(total) => {
                    assert!(total > cut && total <= header_bytes, "{cut}: {total}")
                }
                other => panic!("a prefix of {cut} bytes: {other:?}"),
            }
        }
        let mut short = frame.clone();
        short[..4].copy_from_slice(&10u32.to_be_bytes());
        assert_eq!(parse_header(&short), HeaderParse::Invalid(FrameError::TooShort(10)));
    }

    /// The frame's bytes, pinned: changing them breaks every peer of another version and the
    /// jepsen runner's proxy, so a change here must be deliberate.
    #[test]
    fn a_frame_is_encoded_as_pinned() {
        let frame = encode_frame(KIND_MESSAGE, "c1", Route { from: 1, to: 258 }, b"body");
        insta::assert_snapshot!(hex(&frame), @"00 00 00 18 00 02 63 31 00 00 00 00 00 00 00 01 00 00 00 00 00 00 01 02 62 6f 64 79");
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
    }

    /// Waits double with each failure in a row up to the max, and a success starts over.
    #[test]
    fn backoff_doubles_to_its_max_and_a_success_clears_it() {
        let now = Instant::now();
        let mut backoff = Backoff::default();
        assert_eq!(backoff.wait_left(now), None);
        let mut waits = Vec::new();
        for _ in 0..7 {
            backoff.failed(now);
            waits.push(backoff.wait_left(now).expect("waiting").as_millis());
        }
        assert_eq!(waits, [20, 40, 80, 160, 320, 320, 320]);
        assert_eq!(backoff.wait_left(now + BACKOFF_MAX), None);
        backoff.succeeded();
        backoff.failed(now);
        assert_eq!(backoff.wait_left(now), Some(BACKOFF_FIRST));
    }

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
