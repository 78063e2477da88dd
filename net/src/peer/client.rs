//! The calling end of the peer transport: [`PeerClient`] keeps one connection to one address,
//! sends one request at a time and waits for its response within a deadline, drops the
//! connection on any error and reconnects on the next call, backing off ([`Backoff`]) while the
//! address keeps refusing.

// `tokio::time::Instant` is the simulator's virtual clock under madsim (where it re-exports std's
// type, which the determinism lint names); it is never read for wall time here.
#![allow(clippy::disallowed_methods)]

use std::io;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use super::auth::{End, PeerAuth, Sealer, NONCE_BYTES};
use super::backoff::Backoff;
use super::frame::{encode_frame, read_frame, write_frame, Frame, FrameError, Route};
use super::frame::{KIND_HELLO, KIND_MESSAGE, KIND_REFUSED};
use super::stream::PeerStream;
use super::{encode_sealed, PeerError};

/// One connection to one peer address, used for one request at a time.
pub struct PeerClient {
    auth: PeerAuth,
    addr: String,
    connection: Option<Connection>,
    /// Connection attempts only: a call that fails on an open connection reconnects at once.
    backoff: Backoff,
}

/// An open connection: to which node id (with TLS, the one its certificate names), and its key
/// when the cluster has a secret.
struct Connection {
    stream: PeerStream,
    to: u64,
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
        if self.connection.as_ref().is_some_and(|connection| connection.to != route.to) {
            // Another node now answers at this address (with TLS, its certificate names the old one).
            self.connection = None;
        }
        if self.connection.is_none() {
            if let Some(retry_in) = self.backoff.wait_left(Instant::now()) {
                return Err(PeerError::BackingOff { addr: self.addr.clone(), retry_in });
            }
            let opened = match TcpStream::connect(&self.addr).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    open(&self.auth, &self.addr, stream, route).await
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

/// Makes a new TCP connection a peer connection: with TLS, the handshake that checks the peer's
/// certificate names node `route.to` (and shows ours); with a secret, the hello each way that
/// makes the connection's key. (A free function: a `&PeerClient` held across an await would
/// need madsim's `TcpStream` to be `Sync`, which it is not.)
async fn open(auth: &PeerAuth, addr: &str, stream: TcpStream, route: Route) -> Result<Connection, PeerError> {
    let mut stream = match &auth.tls {
        None => PeerStream::Plain(stream),
        Some(tls) => tls
            .connect(stream, route.to)
            .await
            .map_err(|source| PeerError::Tls { addr: addr.to_owned(), source })?,
    };
    let Some(secret) = &auth.secret else { return Ok(Connection { stream, to: route.to, sealer: None }) };
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
        KIND_HELLO if answer.body.len() == NONCE_BYTES => Ok(Connection {
            stream,
            to: route.to,
            sealer: Some(Sealer::new(secret, &nonce, &answer.body, End::Client)),
        }),
        kind => {
            Err(PeerError::Protocol { addr, reason: format!("a frame of kind {kind} where a hello was due") })
        }
    }
}

/// Reads the frame that answers a request.
async fn read_answer(stream: &mut PeerStream, addr: &str) -> Result<Frame, PeerError> {
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
