//! Accepting clients and framing their bytes: the accept loop, and per connection the loop that
//! reads, decodes every whole request buffered (pipelining), hands them to the [`Connection`]
//! and writes all their replies with one write.
//!
//! Limits are Redis's ([`RequestLimits`], `maxclients`): a violation gets Redis's error text and
//! closes that connection only. What a request does is in [`super::connection`].

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::BytesMut;
use redraft_core::limits::PIPELINE_REQUESTS_MAX;
use redraft_net::resp::{Frame, ProtocolError, RequestDecoder, RequestLimits};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::connection::Connection;
use super::server::RespServer;

/// Protected mode's answer to a client from another host while the default user needs no
/// password, as Redis words it (a client library recognises the DENIED code).
const DENIED: &[u8] = b"-DENIED redraft is running in protected mode because protected mode is enabled and no \
password is set for the default user. In this mode connections are only accepted from the loopback interface. \
If you want to connect from other computers, either 1) set a password for the default user (requirepass, or \
ACL SETUSER default on >password), or 2) start the server with protected-mode = false (REDRAFT_PROTECTED_MODE=0), \
making sure it is not reachable from the internet.\r\n";

/// How much a connection reads per call; a pipeline longer than this arrives over several reads.
const READ_BUFFER_BYTES: usize = 16 * 1024;

impl RespServer {
    /// Accepts connections until `stop` turns true; each connection runs in its own task and
    /// also ends when `stop` turns true.
    pub async fn serve(self: Arc<RespServer>, listener: TcpListener, stop: watch::Receiver<bool>) {
        let local = listener.local_addr().ok();
        let mut stop_accepting = stop.clone();
        while let Some((stream, peer)) = accept(&listener, &mut stop_accepting).await {
            let server = self.clone();
            let stop = stop.clone();
            tokio::spawn(async move { run_connection(server, stream, peer, local, stop).await });
        }
    }
}

/// The next connection, or `None` once `stop` turns true. A failed accept (out of file
/// descriptors and the like) is logged and retried: the listener itself is fine.
pub(super) async fn accept(
    listener: &TcpListener,
    stop: &mut watch::Receiver<bool>,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stop.changed() => return None,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok(accepted) => return Some(accepted),
            Err(error) => {
                tracing::warn!(%error, "accepting a Redis client's connection failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// Serves one client until it disconnects, breaks the protocol, sends QUIT, or `stop` turns
/// true. A slow or dead client stalls only this task; its memory is bounded by the request
/// limits and [`PIPELINE_REQUESTS_MAX`] replies.
async fn run_connection(
    server: Arc<RespServer>,
    stream: TcpStream,
    peer: SocketAddr,
    local: Option<SocketAddr>,
    stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    serve_client(server, stream, peer, local, stop).await;
}

/// [`run_connection`] on any byte stream: a plain socket, or one inside TLS.
pub(super) async fn serve_client<S: AsyncRead + AsyncWrite + Unpin>(
    server: Arc<RespServer>,
    mut stream: S,
    peer: SocketAddr,
    local: Option<SocketAddr>,
    mut stop: watch::Receiver<bool>,
) {
    let metrics = server.node.metrics().clone();
    if server.clients.len() >= server.settings.maxclients.load(Ordering::Relaxed) {
        metrics.connections_rejected.inc();
        let _ = stream.write_all(b"-ERR max number of clients reached\r\n").await;
        return;
    }
    if server.protected_mode_refuses(peer) {
        metrics.connections_rejected.inc();
        let _ = stream.write_all(DENIED).await;
        return;
    }
    let id = server.clients.register(peer, local, server.node.now_ms());
    metrics.connections.inc();
    metrics.connections_total.inc();
    let limits = RequestLimits {
        bulk_bytes_max: server.settings.proto_max_bulk_len.load(Ordering::Relaxed),
        ..RequestLimits::default()
    };
    let mut connection = Connection::new(server.clone(), id);
    let (gone, watching_gone) = watch::channel(false);
    connection.gone = watching_gone;
    let mut decoder = RequestDecoder::new(limits);
    let mut input = BytesMut::with_capacity(READ_BUFFER_BYTES);
    let mut output = BytesMut::new();
    'connection: loop {
        let mut requests = Vec::new();
        let mut broken: Option<ProtocolError> = None;
        while requests.len() < PIPELINE_REQUESTS_MAX {
            match decoder.decode(&mut input) {
                Ok(Some(args)) => requests.push(args),
                Ok(None) => break,
                Err(error) => {
                    broken = Some(error);
                    break;
                }
            }
        }
        let more_buffered = requests.len() == PIPELINE_REQUESTS_MAX;
        let pipelined = requests.len() > 1;
        if requests.iter().any(|args| redraft_core::spec::blocks(&args[0])) {
            // A blocking pop may wait long: the socket is read meanwhile (what arrives stays
            // buffered), so that a client that goes stops the wait before anything is popped
            // for it, as Redis unblocks a client that disconnects.
            let run = connection.run(requests, &mut output);
            tokio::pin!(run);
            let mut closed = false;
            loop {
                let room = input.len() < READ_BUFFER_BYTES * 4;
                tokio::select! {
                    biased;
                    _ = &mut run => break,
                    read = stream.read_buf(&mut input), if room && !closed => {
                        if matches!(read, Ok(0) | Err(_)) {
                            closed = true;
                            let _ = gone.send(true);
                        }
                    }
                }
            }
            if closed {
                break 'connection;
            }
        } else if !requests.is_empty() {
            connection.run(requests, &mut output).await;
        }
        if connection.dropped_replies {
            break;
        }
        if let Some(error) = &broken {
            tracing::debug!(client = id, %peer, %error, "protocol error; closing the connection");
            Frame::Error(error.reply_text().to_owned()).encode(connection.protocol, &mut output);
        }
        if !output.is_empty() {
            if crate::fault::buggify(0.01) {
                // Fault point: the connection fails mid-frame, after the requests applied.
                let _ = stream.write_all(&output[..output.len() / 2]).await;
                let _ = stream.flush().await;
                break;
            }
            // A pipeline's replies wait for the other connections ready now to be served (a
            // yield: tokio runs deferred tasks after the ready ones and a poll of the sockets),
            // so that the replies of one pass leave together, as Redis writes its replies after
            // a pass of its event loop. A client woken once per burst, not once per reply, costs
            // the kernel one wake-up of its CPU instead of many: the kernel's share of GET -P16
            // fell from 42 % to 34 % of the node's time (`perf record`), and GET -P16 rose 8 %
            // (`benches/compare/ab.sh`). A single request goes at once: there the extra pass
            // cost more than it saved.
            if pipelined {
                tokio::task::yield_now().await;
            }
            // One write for every reply of the pipeline; flush is free on a real socket and
            // needed on madsim's, which holds written bytes until flushed.
            if stream.write_all(&output).await.is_err() || stream.flush().await.is_err() {
                break;
            }
            output.clear();
        }
        if broken.is_some() || connection.closing {
            break;
        }
        if more_buffered {
            continue;
        }
        if input.capacity() - input.len() < READ_BUFFER_BYTES / 4 {
            input.reserve(READ_BUFFER_BYTES);
        }
        let subscribed = connection.subscribed();
        let read = tokio::select! {
            biased;
            _ = stop.changed() => break 'connection,
            read = stream.read_buf(&mut input) => read,
            // A subscribed connection is sent its messages as they come.
            delivered = connection.next_messages(&mut output), if subscribed => {
                if !delivered {
                    tracing::warn!(client = id, "subscriber closed: it fell too far behind the messages published");
                    break 'connection;
                }
                if stream.write_all(&output).await.is_err() || stream.flush().await.is_err() {
                    break 'connection;
                }
                output.clear();
                continue 'connection;
            }
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = stream.shutdown().await;
    server.clients.remove(id);
    server.pubsub.remove(id);
    metrics.connections.dec();
}
