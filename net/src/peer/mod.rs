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
//! here; the server decides what they encode. With a cluster secret, each connection starts with
//! a handshake and every frame carries a tag ([`auth`]); a peer that cannot prove it holds the
//! secret is refused, and the refusal is logged on both sides.

// `tokio::time::Instant` is the simulator's virtual clock under madsim (where it re-exports std's
// type, which the determinism lint names); it is never read for wall time here.
#![allow(clippy::disallowed_methods)]

pub mod auth;
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

pub use self::auth::{ClusterSecret, PeerAuth};
use self::auth::{End, Sealer, NONCE_BYTES, TAG_BYTES};
pub use self::backoff::Backoff;
pub use self::frame::{
    encode_frame, parse_header, read_frame, Frame, FrameError, FrameHeader, HeaderParse, Route, KIND_HELLO,
    KIND_MESSAGE, KIND_REFUSED,
};
use self::frame::{encode_frame_with_room, write_frame};

/// How long a peer has, after it connects, to send its first frame (its handshake, or its first
/// request without a secret) whole; a connection that stays silent longer is closed.
pub const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(10);
/// Most peer connections a node serves at once; more are closed as they come, with a log line.
/// A cluster needs a few per peer (the pool keeps up to `PEER_IDLE_CONNECTIONS_MAX` idle).
pub const PEER_CONNECTIONS_MAX: usize = 1024;

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
    /// The request is too large for a frame; it was not sent.
    #[error("a request to {addr} is too large to send: {source}")]
    TooLarge { addr: String, source: FrameError },
}

impl PeerError {
    /// Whether the request certainly did not reach the peer.
    pub fn certainly_not_sent(&self) -> bool {
        matches!(
            self,
            PeerError::Connect { .. }
                | PeerError::BackingOff { .. }
                | PeerError::Refused { .. }
                | PeerError::TooLarge { .. }
        )
    }
}

/// One connection to one peer address, used for one request at a time.
pub struct PeerClient {
    auth: PeerAuth,
    addr: String,
    connection: Option<Connection>,
    /// Connection attempts only: a call that fails on an open connection reconnects at once.
    backoff: Backoff,
}

/// An open connection, and its key when the cluster has a secret.
struct Connection {
    stream: TcpStream,
    sealer: Option<Sealer>,
}

impl PeerClient {
    /// A client for `addr` in the cluster `auth` names; it connects on its first call.
    pub fn new(auth: PeerAuth, addr: String) -> PeerClient {
        PeerClient { auth, addr, connection: None, backoff: Backoff::default() }
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
        let addr = self.addr.clone();
        let cluster = self.auth.cluster.clone();
        let io_error = |source| PeerError::Io { addr: addr.clone(), source };
        let connection = self.connect(route).await?;
        let frame = encode_sealed(KIND_MESSAGE, &cluster, route, body, connection.sealer.as_mut())
            .map_err(|source| PeerError::TooLarge { addr: addr.clone(), source })?;
        write_frame(&mut connection.stream, &frame).await.map_err(io_error)?;
        let mut response = read_answer(&mut connection.stream, &addr).await?;
        match response.kind {
            KIND_REFUSED => {
                Err(PeerError::Refused { addr, reason: String::from_utf8_lossy(&response.body).into_owned() })
            }
            KIND_MESSAGE if *response.cluster != *cluster => {
                Err(other_cluster(addr, &response.cluster, &cluster))
            }
            KIND_MESSAGE => {
                if let Some(sealer) = &mut connection.sealer {
                    sealer
                        .open(&mut response)
                        .map_err(|reason| PeerError::Protocol { addr: addr.clone(), reason })?;
                }
                if response.route != route.reversed() {
                    return Err(PeerError::Protocol {
                        addr,
                        reason: format!(
                            "an answer on route {:?} to a request on route {route:?}",
                            response.route
                        ),
                    });
                }
                Ok(response.body)
            }
            kind => Err(PeerError::Protocol { addr, reason: format!("unknown frame kind {kind}") }),
        }
    }

    async fn connect(&mut self, route: Route) -> Result<&mut Connection, PeerError> {
        if self.connection.is_none() {
            if let Some(retry_in) = self.backoff.wait_left(Instant::now()) {
                return Err(PeerError::BackingOff { addr: self.addr.clone(), retry_in });
            }
            let opened = match TcpStream::connect(&self.addr).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    handshake(&self.auth, &self.addr, stream, route).await
                }
                Err(source) => Err(PeerError::Connect { addr: self.addr.clone(), source }),
            };
            match opened {
                Ok(connection) => {
                    self.backoff.succeeded();
                    self.connection = Some(connection);
                }
                Err(error) => {
                    self.backoff.failed(Instant::now());
                    return Err(error);
                }
            }
        }
        Ok(self.connection.as_mut().expect("connected above"))
    }
}

/// Without a secret, nothing; with one, the hello each way that makes the connection's key.
/// (A free function: a `&PeerClient` held across an await would need madsim's `TcpStream` to be
/// `Sync`, which it is not.)
async fn handshake(
    auth: &PeerAuth,
    addr: &str,
    mut stream: TcpStream,
    route: Route,
) -> Result<Connection, PeerError> {
    let Some(secret) = &auth.secret else { return Ok(Connection { stream, sealer: None }) };
    let addr = addr.to_owned();
    let nonce = (auth.nonce)();
    let hello = encode_frame(KIND_HELLO, &auth.cluster, route, &nonce).expect("a hello is small");
    write_frame(&mut stream, &hello).await.map_err(|source| PeerError::Io { addr: addr.clone(), source })?;
    let answer = read_answer(&mut stream, &addr).await?;
    match answer.kind {
        KIND_REFUSED => {
            Err(PeerError::Refused { addr, reason: String::from_utf8_lossy(&answer.body).into_owned() })
        }
        _ if *answer.cluster != *auth.cluster => Err(other_cluster(addr, &answer.cluster, &auth.cluster)),
        KIND_HELLO if answer.body.len() == NONCE_BYTES => {
            Ok(Connection { stream, sealer: Some(Sealer::new(secret, &nonce, &answer.body, End::Client)) })
        }
        kind => {
            Err(PeerError::Protocol { addr, reason: format!("a frame of kind {kind} where a hello was due") })
        }
    }
}

/// Reads the frame that answers a request.
async fn read_answer(stream: &mut TcpStream, addr: &str) -> Result<Frame, PeerError> {
    match read_frame(stream).await {
        Ok(Some(frame)) => Ok(frame),
        Ok(None) => Err(PeerError::Io {
            addr: addr.to_owned(),
            source: io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer closed the connection before answering",
            ),
        }),
        Err(FrameError::Io(source)) => Err(PeerError::Io { addr: addr.to_owned(), source }),
        Err(error) => Err(PeerError::Protocol { addr: addr.to_owned(), reason: error.to_string() }),
    }
}

fn other_cluster(addr: String, theirs: &str, ours: &str) -> PeerError {
    PeerError::Refused {
        addr,
        reason: format!("it answered for cluster {theirs:?}, this node is in cluster {ours:?}"),
    }
}

/// Tells a peer why its connection is refused (it is closed next).
async fn refuse(stream: &mut TcpStream, cluster: &str, route: Route, reason: &str) {
    if let Ok(refusal) = encode_frame(KIND_REFUSED, cluster, route, reason.as_bytes()) {
        let _ = write_frame(stream, &refusal).await;
    }
}

/// Encodes a frame, with its tag when the connection has a key.
fn encode_sealed(
    kind: u8,
    cluster: &str,
    route: Route,
    body: &[u8],
    sealer: Option<&mut Sealer>,
) -> Result<Vec<u8>, FrameError> {
    let room = if sealer.is_some() { TAG_BYTES } else { 0 };
    let mut frame = encode_frame_with_room(kind, cluster, route, body, room)?;
    if let Some(sealer) = sealer {
        sealer.seal(&mut frame);
    }
    Ok(frame)
}

/// Accepts peer connections until `stop` turns true, answering each connection's requests in
/// order with `handler`, which gets each frame's route and body. A frame from another cluster, a
/// peer without the cluster secret (when this node has one) or with another, and a frame whose
/// tag does not verify are each refused with a log line naming the sender's address, and that
/// connection is closed. At most [`PEER_CONNECTIONS_MAX`] connections are served at once.
pub async fn serve<H, F>(listener: TcpListener, auth: PeerAuth, handler: H, mut stop: watch::Receiver<bool>)
where
    H: Fn(Route, Vec<u8>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Vec<u8>> + Send + 'static,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(PEER_CONNECTIONS_MAX));
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
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "closed a peer connection: {PEER_CONNECTIONS_MAX} are open already");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let auth = auth.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                biased;
                _ = stop.changed() => {}
                () = serve_connection(stream, peer.to_string(), auth, handler) => {}
            }
            drop(slot);
        });
    }
}

async fn serve_connection<H, F>(mut stream: TcpStream, peer: String, auth: PeerAuth, handler: H)
where
    H: Fn(Route, Vec<u8>) -> F,
    F: Future<Output = Vec<u8>>,
{
    let cluster = &auth.cluster;
    let mut sealer: Option<Sealer> = None;
    let mut first = true;
    loop {
        let read = if first {
            match tokio::time::timeout(FIRST_FRAME_TIMEOUT, read_frame(&mut stream)).await {
                Ok(read) => read,
                Err(_elapsed) => {
                    tracing::warn!(%peer, "closed a peer connection that sent no frame within {FIRST_FRAME_TIMEOUT:?}");
                    return;
                }
            }
        } else {
            read_frame(&mut stream).await
        };
        let mut frame = match read {
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
        if *frame.cluster != **cluster {
            tracing::warn!(
                %peer,
                their_cluster = %frame.cluster,
                our_cluster = %cluster,
                "refused a peer of another cluster: it sent frames for cluster {:?}, this node is in {:?}",
                frame.cluster,
                cluster,
            );
            refuse(
                &mut stream,
                cluster,
                answer_route,
                &format!("this node is in cluster {cluster:?}, not {:?}", frame.cluster),
            )
            .await;
            return;
        }
        if std::mem::take(&mut first) {
            match (&auth.secret, frame.kind) {
                (Some(secret), KIND_HELLO) if frame.body.len() == NONCE_BYTES => {
                    let nonce = (auth.nonce)();
                    let hello =
                        encode_frame(KIND_HELLO, cluster, answer_route, &nonce).expect("a hello is small");
                    if write_frame(&mut stream, &hello).await.is_err() {
                        return;
                    }
                    sealer = Some(Sealer::new(secret, &frame.body, &nonce, End::Server));
                    continue;
                }
                (Some(_), _) => {
                    tracing::warn!(
                        %peer,
                        from = frame.route.from,
                        "refused a peer that did not prove it holds the cluster secret"
                    );
                    let reason = "this node requires the cluster secret: start every node with the same \
                                  --cluster-secret";
                    refuse(&mut stream, cluster, answer_route, reason).await;
                    return;
                }
                (None, KIND_HELLO) => {
                    tracing::warn!(%peer, from = frame.route.from, "refused a peer that offered a cluster secret this node does not have");
                    let reason =
                        "this node has no cluster secret: start every node with the same --cluster-secret, or none";
                    refuse(&mut stream, cluster, answer_route, reason).await;
                    return;
                }
                (None, _) => {}
            }
        }
        if let Some(sealer) = &mut sealer {
            if let Err(reason) = sealer.open(&mut frame) {
                tracing::warn!(%peer, from = frame.route.from, "refused a peer: {reason}");
                refuse(&mut stream, cluster, answer_route, &reason).await;
                return;
            }
        }
        if frame.kind != KIND_MESSAGE {
            tracing::warn!(%peer, kind = frame.kind, "closing a peer connection that sent an unknown frame kind");
            return;
        }
        let response = handler(frame.route, frame.body).await;
        let answer = match encode_sealed(KIND_MESSAGE, cluster, answer_route, &response, sealer.as_mut()) {
            Ok(answer) => answer,
            Err(error) => {
                // The request was handled: closing, not refusing, tells the caller so.
                tracing::warn!(%peer, %error, "an answer too large for a frame; closing the connection");
                return;
            }
        };
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
        tokio::spawn(serve(listener, PeerAuth::open(cluster.into()), handler, stopped));
        (addr, stop)
    }

    #[tokio::test]
    async fn calls_are_answered_over_one_connection_and_reconnect_after_a_restart() {
        let (addr, stop) = echo_server("c1").await;
        let mut client = PeerClient::new(PeerAuth::open("c1".into()), addr.clone());
        for _ in 0..3 {
            assert_eq!(client.call(ROUTE, b"abc", Duration::from_secs(5)).await.expect("answered"), b"cba");
        }
        let _ = stop.send(true);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(client.call(ROUTE, b"abc", Duration::from_secs(5)).await.is_err(), "the server is gone");
        // A new server on the same port: the client connects again after its backoff.
        let listener = TcpListener::bind(&addr).await.expect("rebind");
        let (_stop, stopped) = watch::channel(false);
        tokio::spawn(serve(
            listener,
            PeerAuth::open("c1".into()),
            |_: Route, b: Vec<u8>| async move { b },
            stopped,
        ));
        tokio::time::sleep(BACKOFF_MAX).await;
        assert_eq!(client.call(ROUTE, b"xyz", Duration::from_secs(5)).await.expect("reconnected"), b"xyz");
    }

    #[tokio::test]
    async fn a_node_of_another_cluster_is_refused_by_name() {
        let (addr, _stop) = echo_server("prod").await;
        let mut client = PeerClient::new(PeerAuth::open("staging".into()), addr);
        let error = client.call(ROUTE, b"abc", Duration::from_secs(5)).await.expect_err("refused");
        let text = error.to_string();
        assert!(text.contains("\"prod\"") && text.contains("\"staging\""), "{text}");
        assert!(error.certainly_not_sent());
    }

    /// A new nonce per call, as the server's generator gives (tests need no randomness).
    fn counting_nonce() -> [u8; NONCE_BYTES] {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let mut nonce = [0u8; NONCE_BYTES];
        nonce[..8].copy_from_slice(&NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_be_bytes());
        nonce
    }

    fn with_secret(cluster: &str, secret: Option<&[u8]>) -> PeerAuth {
        PeerAuth {
            cluster: cluster.into(),
            secret: secret.map(|s| ClusterSecret::new(s).expect("a valid secret")),
            nonce: counting_nonce,
        }
    }

    async fn echo_server_with(auth: PeerAuth) -> (String, watch::Sender<bool>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let (stop, stopped) = watch::channel(false);
        let handler = |_: Route, body: Vec<u8>| async move { body.into_iter().rev().collect::<Vec<u8>>() };
        tokio::spawn(serve(listener, auth, handler, stopped));
        (addr, stop)
    }

    const SECRET: &[u8] = b"a secret of the cluster";

    /// Peers with the same secret talk; a peer without it, with another, or offering one to a
    /// node that has none is refused before its request is handled.
    #[tokio::test]
    async fn only_peers_with_the_cluster_secret_are_answered() {
        let (addr, _stop) = echo_server_with(with_secret("c1", Some(SECRET))).await;
        let mut client = PeerClient::new(with_secret("c1", Some(SECRET)), addr.clone());
        for _ in 0..3 {
            assert_eq!(client.call(ROUTE, b"abc", Duration::from_secs(5)).await.expect("answered"), b"cba");
        }
        let refused = |client: PeerClient| async move {
            let mut client = client;
            let error = client.call(ROUTE, b"abc", Duration::from_secs(5)).await.expect_err("refused");
            assert!(error.certainly_not_sent(), "{error}");
            error.to_string()
        };
        let text = refused(PeerClient::new(with_secret("c1", None), addr.clone())).await;
        assert!(text.contains("requires the cluster secret"), "{text}");
        let text =
            refused(PeerClient::new(with_secret("c1", Some(b"another secret, 16+")), addr.clone())).await;
        assert!(text.contains("does not verify"), "{text}");

        let (open_addr, _stop) = echo_server_with(with_secret("c1", None)).await;
        let text = refused(PeerClient::new(with_secret("c1", Some(SECRET)), open_addr)).await;
        assert!(text.contains("has no cluster secret"), "{text}");
    }

    /// A hand-made request frame, sent raw to a node with a secret, is refused and not handled.
    #[tokio::test]
    async fn a_raw_frame_without_the_handshake_is_refused() {
        let handled = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let (_stop, stopped) = watch::channel(false);
        let seen = handled.clone();
        let handler = move |_: Route, body: Vec<u8>| {
            seen.store(true, std::sync::atomic::Ordering::SeqCst);
            async move { body }
        };
        tokio::spawn(serve(listener, with_secret("c1", Some(SECRET)), handler, stopped));
        let mut stream = TcpStream::connect(&addr).await.expect("connect");
        let frame = encode_frame(KIND_MESSAGE, "c1", ROUTE, b"write a key").expect("small");
        write_frame(&mut stream, &frame).await.expect("sent");
        let answer = read_frame(&mut stream).await.expect("reads").expect("a refusal");
        assert_eq!(answer.kind, KIND_REFUSED);
        assert!(read_frame(&mut stream).await.map_or(true, |f| f.is_none()), "then closed");
        assert!(!handled.load(std::sync::atomic::Ordering::SeqCst), "the request was handled");
    }

    #[tokio::test]
    async fn a_dead_address_backs_off_and_a_slow_peer_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        drop(listener);
        let mut client = PeerClient::new(PeerAuth::open("c".into()), addr);
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
        tokio::spawn(serve(listener, PeerAuth::open("c".into()), slow, stopped));
        let mut client = PeerClient::new(PeerAuth::open("c".into()), addr);
        let error = client.call(ROUTE, b"x", Duration::from_millis(100)).await.expect_err("times out");
        assert!(matches!(error, PeerError::Timeout { .. }) && !error.certainly_not_sent());
    }
}
