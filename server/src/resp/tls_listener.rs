//! Redis clients over TLS (Redis's `tls-port`): each accepted connection does its handshake
//! (within [`HANDSHAKE_TIMEOUT`], so a client that stalls in it holds nothing for long), then is
//! served as a plain one is ([`super::listener`]). Production only: the simulator's sockets
//! carry no TLS.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::listener::{accept, serve_client};
use super::server::RespServer;

/// How long a client has to complete its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl RespServer {
    /// Accepts TLS connections until `stop` turns true; each runs in its own task and also ends
    /// when `stop` turns true.
    pub async fn serve_tls(
        self: Arc<RespServer>,
        listener: TcpListener,
        tls: TlsAcceptor,
        stop: watch::Receiver<bool>,
    ) {
        let local = listener.local_addr().ok();
        let mut stop_accepting = stop.clone();
        while let Some((stream, peer)) = accept(&listener, &mut stop_accepting).await {
            let _ = stream.set_nodelay(true);
            let (server, tls, stop) = (self.clone(), tls.clone(), stop.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
                    Ok(Ok(stream)) => serve_client(server, stream, peer, local, stop).await,
                    Ok(Err(error)) => tracing::info!(%peer, %error, "a TLS handshake failed"),
                    Err(_) => tracing::info!(%peer, "a TLS handshake took longer than {HANDSHAKE_TIMEOUT:?}"),
                }
            });
        }
    }
}
