//! Mutual TLS between peers, with rustls (ring as its crypto). Production only: the simulator's
//! sockets carry no TLS, and there [`PeerTls`] is a type with no values.
//!
//! Every node holds a certificate signed by the cluster's CA that names it [`node_name`]
//! (`node-<id>.redraft`, as a DNS subject alternative name) and is good for both server and client
//! authentication: a node calling node 3 accepts only a certificate naming node 3; a node
//! answering accepts only a client certificate from the CA, and then only frames whose `from` is
//! the node that certificate names (so one node cannot speak for another). Whether that node is
//! a member is the server's question (`server/src/peer/service.rs`). A wildcard certificate
//! (`*.redraft`) would name every node: do not issue one.

use std::fmt;

/// The domain under which node certificates name nodes.
pub const NODE_NAME_DOMAIN: &str = "redraft";

/// The name node `id`'s certificate carries: `node-<id>.redraft`.
pub fn node_name(id: u64) -> String {
    format!("node-{id}.{NODE_NAME_DOMAIN}")
}

#[cfg(not(madsim))]
pub use self::real::PeerTls;
#[cfg(not(madsim))]
pub(super) use self::real::Presented;

/// The simulator's stand-in: no peer TLS can be configured there.
#[cfg(madsim)]
pub enum PeerTls {}

/// The simulator's stand-in for a presented certificate chain: there is none.
#[cfg(madsim)]
pub(super) enum Presented {}

#[cfg(madsim)]
impl PeerTls {
    pub(super) async fn connect(
        &self,
        _stream: tokio::net::TcpStream,
        _to: u64,
    ) -> std::io::Result<super::stream::PeerStream> {
        match *self {}
    }

    pub(super) async fn accept(
        &self,
        _stream: tokio::net::TcpStream,
    ) -> std::io::Result<(super::stream::PeerStream, Presented)> {
        match *self {}
    }

    pub(super) fn check(&self, _presented: &Presented, _from: u64) -> Result<(), String> {
        match *self {}
    }
}

impl fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PeerTls(..)")
    }
}

#[cfg(not(madsim))]
mod real {
    use std::io;
    use std::sync::Arc;

    use rustls::client::danger::ServerCertVerifier;
    use rustls::client::WebPkiServerVerifier;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
    use rustls::server::WebPkiClientVerifier;
    use rustls::{ClientConfig, RootCertStore, ServerConfig};
    use tokio::net::TcpStream;
    use tokio_rustls::{TlsAcceptor, TlsConnector};

    use super::node_name;
    use crate::peer::stream::PeerStream;

    /// A node's side of mutual TLS with its peers.
    pub struct PeerTls {
        connector: TlsConnector,
        acceptor: TlsAcceptor,
        /// Checks that a certificate from the CA names a given node.
        names: Arc<WebPkiServerVerifier>,
    }

    /// The certificate chain a peer showed in its handshake, leaf first.
    pub struct Presented(Vec<CertificateDer<'static>>);

    impl PeerTls {
        /// TLS for a node whose certificate `chain` (leaf first) and `key` are given, in a
        /// cluster whose CA certificates are `ca`.
        ///
        /// # Errors
        /// A sentence saying which part is unusable.
        pub fn new(
            chain: Vec<CertificateDer<'static>>,
            key: PrivateKeyDer<'static>,
            ca: Vec<CertificateDer<'static>>,
        ) -> Result<PeerTls, String> {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut roots = RootCertStore::empty();
            for cert in ca {
                roots.add(cert).map_err(|e| format!("a CA certificate is unusable: {e}"))?;
            }
            let roots = Arc::new(roots);
            let clients = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .map_err(|e| format!("the CA certificates cannot check peers: {e}"))?;
            let server = ServerConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS: {e}"))?
                .with_client_cert_verifier(clients)
                .with_single_cert(chain.clone(), key.clone_key())
                .map_err(|e| format!("the node's certificate and key do not make a certificate: {e}"))?;
            let client = ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS: {e}"))?
                .with_root_certificates(roots.clone())
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("the node's certificate and key do not make a certificate: {e}"))?;
            let names = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| format!("the CA certificates cannot check peers: {e}"))?;
            Ok(PeerTls {
                connector: TlsConnector::from(Arc::new(client)),
                acceptor: TlsAcceptor::from(Arc::new(server)),
                names,
            })
        }

        /// The client's handshake on a new connection to node `to`: its certificate must be from
        /// the CA and name `to`.
        pub(in crate::peer) async fn connect(&self, stream: TcpStream, to: u64) -> io::Result<PeerStream> {
            let name = ServerName::try_from(node_name(to))
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let stream = self.connector.connect(name, stream).await?;
            Ok(PeerStream::Tls(Box::new(stream.into())))
        }

        /// The server's handshake on a connection a peer opened: it must show a certificate from
        /// the CA, which is returned for [`PeerTls::check`].
        pub(in crate::peer) async fn accept(&self, stream: TcpStream) -> io::Result<(PeerStream, Presented)> {
            let stream = self.acceptor.accept(stream).await?;
            let chain = stream.get_ref().1.peer_certificates().unwrap_or_default();
            let presented = Presented(chain.iter().map(|cert| cert.clone().into_owned()).collect());
            Ok((PeerStream::Tls(Box::new(stream.into())), presented))
        }

        /// Whether the certificate a peer showed names node `from`.
        pub(in crate::peer) fn check(&self, presented: &Presented, from: u64) -> Result<(), String> {
            let Some((leaf, intermediates)) = presented.0.split_first() else {
                return Err("the peer showed no certificate".into());
            };
            let name = ServerName::try_from(node_name(from)).map_err(|e| e.to_string())?;
            self.names
                .verify_server_cert(leaf, intermediates, &name, &[], UnixTime::now())
                .map(|_| ())
                .map_err(|e| format!("its certificate does not name node {from} ({}): {e}", node_name(from)))
        }
    }
}
