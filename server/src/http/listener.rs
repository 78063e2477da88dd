//! Accepting HTTP (or HTTPS) connections with limits axum's own `serve` does not set: at most
//! [`HttpLimits::connections_max`] at once (more are closed as they come, with a log line), and
//! a deadline for each request's headers (which is also how long an idle keep-alive connection
//! may wait for its next request), so a client that opens connections and sends nothing, or a
//! header a byte at a time, cannot hold them.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::node::Node;

/// Limits on HTTP connections, and TLS when it is on.
#[derive(Clone)]
pub struct HttpLimits {
    pub connections_max: usize,
    /// How long a request's headers may take to arrive, the first request's from the connection
    /// on, each later one's from the end of the response before it.
    pub header_timeout: Duration,
    /// Serve HTTPS with this acceptor; its handshake must finish within `header_timeout` too.
    pub tls: Option<TlsAcceptor>,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits { connections_max: 1024, header_timeout: Duration::from_secs(10), tls: None }
    }
}

/// Serves the routes with the default limits until `stop` turns true.
///
/// # Errors
/// Never, today; the signature keeps room for a listener that fails for good.
pub async fn serve(
    listener: TcpListener,
    node: Arc<Node>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    serve_with(listener, node, stop, HttpLimits::default()).await
}

/// Serves the routes with `limits` until `stop` turns true; open connections end then too.
///
/// # Errors
/// Never, today; the signature keeps room for a listener that fails for good.
pub async fn serve_with(
    listener: TcpListener,
    node: Arc<Node>,
    mut stop: watch::Receiver<bool>,
    limits: HttpLimits,
) -> std::io::Result<()> {
    let service = super::service(node);
    let slots = Arc::new(Semaphore::new(limits.connections_max));
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            _ = stop.changed() => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: the listener itself is fine.
                    tracing::warn!(%error, "accepting an HTTP connection failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "closed an HTTP connection: {} are open already", limits.connections_max);
            continue;
        };
        let service = TowerToHyperService::new(service.clone());
        let (mut stop, timeout, tls) = (stop.clone(), limits.header_timeout, limits.tls.clone());
        tokio::spawn(async move {
            let serve = async {
                match tls {
                    None => serve_connection(stream, service, timeout).await,
                    Some(tls) => match tokio::time::timeout(timeout, tls.accept(stream)).await {
                        Ok(Ok(stream)) => serve_connection(stream, service, timeout).await,
                        Ok(Err(error)) => tracing::info!(%peer, %error, "an HTTPS handshake failed"),
                        Err(_) => tracing::info!(%peer, "an HTTPS handshake took longer than {timeout:?}"),
                    },
                }
            };
            tokio::select! {
                biased;
                _ = stop.changed() => {}
                () = serve => {}
            }
            drop(slot);
        });
    }
}

/// Serves HTTP/1.1 on one connection, plain or inside TLS.
async fn serve_connection<S>(
    stream: S,
    service: TowerToHyperService<super::Service>,
    header_timeout: Duration,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(stream), service)
        // A watch may become a WebSocket (`watch.rs`); it then leaves this connection's slot.
        .with_upgrades();
    if let Err(error) = connection.await {
        tracing::debug!(%error, "an HTTP connection ended with an error");
    }
}
