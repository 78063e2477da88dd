//! Peers that prove they hold the cluster secret: a handshake that makes a key for one
//! connection, and a tag on every frame after it.
//!
//! With a secret set (`--cluster-secret`), a client opens a connection with a [`KIND_HELLO`]
//! frame carrying a fresh nonce, and the server answers with a `KIND_HELLO` carrying its own.
//! Both derive the connection's key, `HMAC-SHA256(secret, LABEL || client nonce || server
//! nonce)`, and every frame after the handshake ends with a 32-byte tag,
//! `HMAC-SHA256(key, sender || sequence || the frame after its length prefix, tag excluded)`,
//! where `sender` says which end sent it and `sequence` counts that end's frames from 0.
//!
//! So a frame is accepted only from an end that holds the secret; it cannot be altered, moved
//! to the other direction, replayed, dropped or reordered within its connection (its sequence
//! number would not match), nor replayed into another connection (the server's nonce makes
//! each key new). The secret never crosses the wire. Every holder of the secret can speak for
//! any node id: the secret authenticates the cluster, not a node (mutual TLS names the node).
//! Bodies are not encrypted; TLS does that.
//!
//! [`KIND_HELLO`]: super::frame::KIND_HELLO

use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::frame::{Frame, Route};
use super::tls::PeerTls;

/// Bytes of each end's handshake nonce.
pub const NONCE_BYTES: usize = 32;
/// Bytes of the tag that ends every authenticated frame.
pub const TAG_BYTES: usize = 32;
/// The fewest bytes a cluster secret may have.
pub const SECRET_BYTES_MIN: usize = 16;
/// The most bytes a cluster secret may have.
pub const SECRET_BYTES_MAX: usize = 1024;

/// Binds the connection key to this protocol, so the secret's HMAC serves nothing else.
const LABEL: &[u8] = b"redraft peer connection key v1";

type HmacSha256 = Hmac<Sha256>;

/// The secret every node of a cluster holds. Its `Debug` form never shows it.
#[derive(Clone)]
pub struct ClusterSecret(Arc<[u8]>);

impl ClusterSecret {
    /// A secret of [`SECRET_BYTES_MIN`] to [`SECRET_BYTES_MAX`] bytes.
    ///
    /// # Errors
    /// A sentence saying what a secret must be.
    pub fn new(secret: &[u8]) -> Result<ClusterSecret, String> {
        if !(SECRET_BYTES_MIN..=SECRET_BYTES_MAX).contains(&secret.len()) {
            return Err(format!(
                "the cluster secret must be {SECRET_BYTES_MIN} to {SECRET_BYTES_MAX} bytes, not {}",
                secret.len()
            ));
        }
        Ok(ClusterSecret(secret.into()))
    }
}

impl fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

/// What both ends of a peer connection must share: the cluster's name and, when set, its
/// secret and its CA (mutual TLS, [`PeerTls`]); and where the nonces of this end's handshakes
/// come from (the operating system in production, the seeded generator in the simulator).
#[derive(Clone)]
pub struct PeerAuth {
    pub cluster: Arc<str>,
    pub secret: Option<ClusterSecret>,
    pub tls: Option<Arc<PeerTls>>,
    pub nonce: fn() -> [u8; NONCE_BYTES],
}

impl PeerAuth {
    /// A cluster without a secret or TLS: frames are checked for the cluster's name only.
    pub fn open(cluster: Arc<str>) -> PeerAuth {
        PeerAuth { cluster, secret: None, tls: None, nonce: || [0; NONCE_BYTES] }
    }
}

impl fmt::Debug for PeerAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerAuth")
            .field("cluster", &self.cluster)
            .field("secret", &self.secret)
            .field("tls", &self.tls)
            .finish()
    }
}

/// Which end of a connection sent a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum End {
    Client = 0,
    Server = 1,
}

/// One authenticated connection's key and frame counts, at one of its ends.
pub(super) struct Sealer {
    key: HmacSha256,
    this_end: End,
    sent: u64,
    received: u64,
}

impl Sealer {
    /// The key both ends derive from the secret and the two nonces.
    pub(super) fn new(
        secret: &ClusterSecret,
        client_nonce: &[u8],
        server_nonce: &[u8],
        this_end: End,
    ) -> Sealer {
        let mut derive = HmacSha256::new_from_slice(&secret.0).expect("HMAC takes a key of any length");
        derive.update(LABEL);
        derive.update(client_nonce);
        derive.update(server_nonce);
        let key = derive.finalize().into_bytes();
        Sealer {
            key: HmacSha256::new_from_slice(&key).expect("HMAC takes a key of any length"),
            this_end,
            sent: 0,
            received: 0,
        }
    }

    /// Appends the tag to `frame`, an encoded frame whose length prefix already counts
    /// [`TAG_BYTES`] more than it holds.
    pub(super) fn seal(&mut self, frame: &mut Vec<u8>) {
        let mut mac = self.start(self.this_end, self.sent);
        mac.update(&frame[4..]);
        frame.extend_from_slice(&mac.finalize().into_bytes());
        self.sent += 1;
    }

    /// Checks the tag that ends `frame`'s body and takes it off.
    ///
    /// # Errors
    /// The tag is missing or does not verify.
    pub(super) fn open(&mut self, frame: &mut Frame) -> Result<(), String> {
        let Some(at) = frame.body.len().checked_sub(TAG_BYTES) else {
            return Err("a frame too short to carry its tag".into());
        };
        let other_end = match self.this_end {
            End::Client => End::Server,
            End::Server => End::Client,
        };
        let mut mac = self.start(other_end, self.received);
        mac.update(&header_bytes(frame.kind, &frame.cluster, frame.route));
        mac.update(&frame.body[..at]);
        mac.verify_slice(&frame.body[at..]).map_err(|_| {
            "a frame whose tag does not verify (another cluster secret, or altered, replayed or lost in \
             transit)"
                .to_owned()
        })?;
        frame.body.truncate(at);
        self.received += 1;
        Ok(())
    }

    fn start(&self, sender: End, sequence: u64) -> HmacSha256 {
        let mut mac = self.key.clone();
        mac.update(&[sender as u8]);
        mac.update(&sequence.to_be_bytes());
        mac
    }
}

/// A frame's bytes after its length prefix and before its body, as `encode_frame` writes them.
fn header_bytes(kind: u8, cluster: &str, route: Route) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(2 + cluster.len() + 16);
    bytes.push(kind);
    bytes.push(cluster.len() as u8);
    bytes.extend_from_slice(cluster.as_bytes());
    bytes.extend_from_slice(&route.from.to_be_bytes());
    bytes.extend_from_slice(&route.to.to_be_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::super::frame::{encode_frame_with_room, read_frame_sync, KIND_MESSAGE};
    use super::*;

    const ROUTE: Route = Route { from: 1, to: 2 };

    fn pair(client_secret: &[u8], server_secret: &[u8]) -> (Sealer, Sealer) {
        let (c, s) = ([1u8; NONCE_BYTES], [2u8; NONCE_BYTES]);
        let client = Sealer::new(&ClusterSecret::new(client_secret).unwrap(), &c, &s, End::Client);
        let server = Sealer::new(&ClusterSecret::new(server_secret).unwrap(), &c, &s, End::Server);
        (client, server)
    }

    fn sealed(sealer: &mut Sealer, body: &[u8]) -> Vec<u8> {
        let mut frame = encode_frame_with_room(KIND_MESSAGE, "c1", ROUTE, body, TAG_BYTES).unwrap();
        sealer.seal(&mut frame);
        frame
    }

    const SECRET: &[u8] = b"0123456789abcdef";

    /// Frames pass in order in both directions; a changed byte, a replay, a lost frame, a frame
    /// sent back to its sender, and another secret are each refused.
    #[test]
    fn tags_verify_in_order_and_nothing_else_does() {
        let (mut client, mut server) = pair(SECRET, SECRET);
        for round in 0..3u8 {
            let mut request = read_frame_sync(&sealed(&mut client, &[round; 5]));
            server.open(&mut request).expect("the request verifies");
            assert_eq!(request.body, vec![round; 5]);
            let mut answer = read_frame_sync(&sealed(&mut server, b"ok"));
            client.open(&mut answer).expect("the answer verifies");
            assert_eq!(answer.body, b"ok");
        }

        let (mut client, mut server) = pair(SECRET, SECRET);
        let first = sealed(&mut client, b"first");
        let mut altered = first.clone();
        let last = altered.len() - TAG_BYTES - 1;
        altered[last] ^= 1;
        assert!(server.open(&mut read_frame_sync(&altered)).is_err(), "an altered body");
        let mut rerouted = first.clone();
        rerouted[4 + 2 + 2 + 7] ^= 1; // the low byte of `from`
        assert!(server.open(&mut read_frame_sync(&rerouted)).is_err(), "an altered route");
        server.open(&mut read_frame_sync(&first)).expect("the original verifies");
        assert!(server.open(&mut read_frame_sync(&first)).is_err(), "a replay");
        let _lost = sealed(&mut client, b"second");
        assert!(server.open(&mut read_frame_sync(&sealed(&mut client, b"third"))).is_err(), "after a loss");

        let (mut client, _server) = pair(SECRET, SECRET);
        let reflected = sealed(&mut client, b"x");
        assert!(client.open(&mut read_frame_sync(&reflected)).is_err(), "reflected to its sender");

        let (mut client, mut server) = pair(SECRET, b"another secret of 16+");
        assert!(server.open(&mut read_frame_sync(&sealed(&mut client, b"x"))).is_err(), "another secret");
        let mut short = read_frame_sync(&encode_frame_with_room(KIND_MESSAGE, "c1", ROUTE, b"x", 0).unwrap());
        assert!(server.open(&mut short).is_err(), "no room for a tag");
    }

    #[test]
    fn secrets_are_bounded_and_never_printed() {
        assert!(ClusterSecret::new(b"short").is_err());
        assert!(ClusterSecret::new(&[b'x'; SECRET_BYTES_MAX + 1]).is_err());
        let secret = ClusterSecret::new(SECRET).unwrap();
        assert!(!format!("{secret:?}").contains("0123"));
    }
}
