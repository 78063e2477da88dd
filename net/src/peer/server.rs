//! The answering end of the peer transport: [`serve`] accepts connections and answers each
//! connection's requests in order with a handler, after checking who sent them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::auth::{End, PeerAuth, Sealer, NONCE_BYTES};
use super::frame::{encode_frame, read_frame, write_frame, FrameError, Route};
use super::frame::{KIND_HELLO, KIND_MESSAGE, KIND_REFUSED};
use super::stream::PeerStream;
use super::tls::Presented;
use super::{encode_sealed, FIRST_FRAME_TIMEOUT, PEER_CONNECTIONS_MAX};

/// Accepts peer connections until `stop` turns true, answering each connection's requests in
/// order with `handler`, which gets each frame's route and body. A frame from another cluster, a
/// peer without the cluster secret (when this node has one) or with another, and a frame whose
/// tag does not verify are each refused with a log line naming the sender's address, and that
/// connection is closed. With TLS, a peer without a certificate from the cluster's CA is refused
/// in the handshake, and a frame whose `from` is not the node its certificate names is refused.
/// At most [`PEER_CONNECTIONS_MAX`] connections are served at once.
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

/// With TLS, the handshake (bounded by [`FIRST_FRAME_TIMEOUT`]) and the certificate chain the
/// peer showed; without, the plain stream.
async fn accept(stream: TcpStream, peer: &str, auth: &PeerAuth) -> Option<(PeerStream, Option<Presented>)> {
    let Some(tls) = &auth.tls else { return Some((PeerStream::Plain(stream), None)) };
    match tokio::time::timeout(FIRST_FRAME_TIMEOUT, tls.accept(stream)).await {
        Ok(Ok((stream, presented))) => Some((stream, Some(presented))),
        Ok(Err(error)) => {
            tracing::warn!(%peer, %error, "refused a peer: the TLS handshake failed (no valid certificate?)");
            None
        }
        Err(_elapsed) => {
            tracing::warn!(%peer, "closed a peer connection that did not finish its TLS handshake within {FIRST_FRAME_TIMEOUT:?}");
            None
        }
    }
}

async fn serve_connection<H, F>(stream: TcpStream, peer: String, auth: PeerAuth, handler: H)
where
    H: Fn(Route, Vec<u8>) -> F,
    F: Future<Output = Vec<u8>>,
{
    let Some((mut stream, presented)) = accept(stream, &peer, &auth).await else { return };
    let cluster = &auth.cluster;
    let mut sealer: Option<Sealer> = None;
    // With TLS, the node the peer's certificate was found to name.
    let mut identity: Option<u64> = None;
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
        if let (Some(tls), Some(presented)) = (&auth.tls, &presented) {
            let checked = match identity {
                Some(id) if id == frame.route.from => Ok(()),
                Some(id) => Err(format!(
                    "a frame from node {} on a connection whose certificate names node {id}",
                    frame.route.from
                )),
                None => tls.check(presented, frame.route.from),
            };
            if let Err(reason) = checked {
                tracing::warn!(%peer, from = frame.route.from, "refused a peer: {reason}");
                refuse(&mut stream, cluster, answer_route, &reason).await;
                return;
            }
            identity = Some(frame.route.from);
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

/// Tells a peer why its connection is refused (it is closed next).
async fn refuse(stream: &mut PeerStream, cluster: &str, route: Route, reason: &str) {
    if let Ok(refusal) = encode_frame(KIND_REFUSED, cluster, route, reason.as_bytes()) {
        let _ = write_frame(stream, &refusal).await;
    }
}
